package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMessageCarriesSeqAndTime(t *testing.T) {
	sent := time.Unix(1700000000, 123456789)
	for _, size := range []int{0, 40, 100, 1000} {
		m := message(42, sent, size)
		if !json.Valid(m) {
			t.Fatalf("size %d: not JSON: %s", size, m)
		}
		if size >= 60 && len(m) != size {
			t.Errorf("size %d: got %d bytes", size, len(m))
		}
		// As the client sees it, inside the event packet (with a recovery offset after it).
		pkt := append(append([]byte(`42["message",`), m...), `,"offset-7"]`...)
		if s, ts := intField(pkt, `"s":`), intField(pkt, `"t":`); s != 42 || ts != sent.UnixNano() {
			t.Errorf("size %d: s=%d t=%d", size, s, ts)
		}
	}
}

func TestIntField(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{`{"s":7}`, 7},
		{`{"s":-1}`, -1}, // the proof messages: no sequence
		{`{"x":1}`, -1},
		{`{"s":}`, -1},
		{`{"s":12,"t":3}`, 12},
		{``, -1},
	} {
		if got := intField([]byte(tc.in), `"s":`); got != tc.want {
			t.Errorf("intField(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func FuzzIntField(f *testing.F) {
	f.Add([]byte(`42["message",{"s":1,"t":2}]`))
	f.Add([]byte(`"s":99999999999999999999`))
	f.Add([]byte(`"s":`))
	f.Fuzz(func(t *testing.T, p []byte) {
		got := intField(p, `"s":`)
		i := bytes.Index(p, []byte(`"s":`))
		if i < 0 {
			if got != -1 {
				t.Fatalf("no key, got %d", got)
			}
			return
		}
		digits := p[i+4:]
		n := 0
		for n < len(digits) && digits[n] >= '0' && digits[n] <= '9' {
			n++
		}
		if want, err := strconv.ParseInt(string(digits[:n]), 10, 64); err == nil && got != want {
			t.Fatalf("%q: got %d, want %d", p, got, want)
		}
	})
}

func TestReportTable(t *testing.T) {
	in := strings.Join([]string{
		`not json: a line of the table`,
		`{"server":"pushinator","tag":"fanout","server_us_per_delivery":5,"last_receipt_p50_ms":60,"deliveries_per_s":100000,"bench_us_per_delivery":8}`,
		`{"server":"node","tag":"fanout","server_us_per_delivery":35,"last_receipt_p50_ms":350,"deliveries_per_s":27000,"bench_us_per_delivery":6.5}`,
		`{"server":"pushinator","tag":"idle","kib_per_connection":7.5,"connections":19500}`,
		`{"server":"node","tag":"idle","kib_per_connection":14,"connections":19500}`,
		`{"server":"pushinator","tag":"batch","deliveries_per_s":50000}`,
		`{"server":"node","tag":"one2one#1","deliveries_per_s":13500}`,
		`{"server":"node","tag":"one2one#2","deliveries_per_s":99999}`,
		`{"server":"node","tag":"one2one#3","deliveries_per_s":1000}`,
	}, "\n")
	var out bytes.Buffer
	if err := report(strings.NewReader(in), &out, "pushinator", "node"); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // row → its last column
		"fan-out server CPU per delivery": "yes", // 5/35 = 0.14 ≤ 1/6
		"fan-out last receipt p50":        "yes", // 60/350 = 0.17 ≤ 1/5
		"idle WebSocket session memory":   "NO",  // 7.5 > 6 KiB
		"idle sessions proven":            "yes",
		"batch (userIds) deliveries/s":    "NO", // 50000/13500 = 3.7 < 5
	}
	for _, line := range strings.Split(out.String(), "\n") {
		for label, met := range want {
			if strings.HasPrefix(line, label) {
				f := strings.Fields(line)
				if f[len(f)-1] != met {
					t.Errorf("row %q: met %q, want %q", line, f[len(f)-1], met)
				}
				delete(want, label)
			}
		}
	}
	for label := range want {
		t.Errorf("no row %q in\n%s", label, out.String())
	}
	// A row without a goal: both figures and their ratio.
	if !regexp.MustCompile(`fan-out load generator CPU per delivery +8\.00 µs +6\.50 µs +1\.231`).MatchString(out.String()) {
		t.Errorf("no load generator row with 8.00 µs, 6.50 µs and 1.231 in\n%s", out.String())
	}
	var fig bytes.Buffer
	if err := printFigure(strings.NewReader(in), &fig, "node/one2one/deliveries_per_s"); err != nil || strings.TrimSpace(fig.String()) != "13500" {
		t.Errorf("printFigure = %q, %v", fig.String(), err)
	}
	if err := printFigure(strings.NewReader(in), &fig, "node/none/x"); err == nil {
		t.Error("printFigure of a missing figure: no error")
	}
}

// TestModesAgainstPushinator runs every mode, small, against pushinator's parts in this
// process: every send must reach every session it was meant for, as the server counted.
func TestModesAgainstPushinator(t *testing.T) {
	srv := startServer(t, "0", "0")
	defer srv.shutdown()
	base := options{
		admin: srv.admin, client: srv.client, pid: os.Getpid(), name: "pushinator",
		inflight: 4, size: 100, srcaddrs: 2, srcFirst: 1, hash: "h", dialers: 8,
		duration: 300 * time.Millisecond, warmup: 100 * time.Millisecond, settle: 10 * time.Millisecond,
		transport: "websocket",
	}
	next := int64(1000)
	run := func(name string, mut func(*options), f func(context.Context, options) (*result, error), check func(*testing.T, map[string]any)) {
		t.Run(name, func(t *testing.T) {
			o := base
			o.mode, o.tag, o.base = name, name, next
			next += 1000
			mut(&o)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			res, err := f(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			var table, line bytes.Buffer
			res.print(&table, &line)
			var got map[string]any
			if err := json.Unmarshal(line.Bytes(), &got); err != nil {
				t.Fatalf("JSON line %q: %v", line.String(), err)
			}
			if got["tag"] != name || got["server"] != "pushinator" {
				t.Errorf("JSON line %s", line.String())
			}
			check(t, got)
		})
	}
	sameCount := func(t *testing.T, got map[string]any) {
		if got["received"] != got["delivered"] || got["received"].(float64) == 0 {
			t.Errorf("received %v, server delivered %v", got["received"], got["delivered"])
		}
	}
	run("one2one", func(o *options) { o.users = 20 }, runOne2One, sameCount)
	run("one2one-rate", func(o *options) { o.users = 20; o.rate = 500 }, runOne2One, sameCount)
	run("batch", func(o *options) { o.users = 20; o.batch = 5 }, runBatch, sameCount)
	fanout := func(t *testing.T, got map[string]any) {
		if got["received"].(float64) != 20*5 {
			t.Errorf("received %v, want 100", got["received"])
		}
	}
	run("fanout", func(o *options) { o.n = 20; o.sends = 5 }, func(ctx context.Context, o options) (*result, error) { return runFanout(ctx, o, false) }, fanout)
	run("broadcast", func(o *options) { o.n = 20; o.sends = 5 }, func(ctx context.Context, o options) (*result, error) { return runFanout(ctx, o, true) }, fanout)
	// -coalesce: the epoll loops nap instead of blocking; every push still arrives.
	run("fanout-coalesced", func(o *options) { o.n = 20; o.sends = 5; o.coalesce = time.Millisecond }, func(ctx context.Context, o options) (*result, error) { return runFanout(ctx, o, false) }, fanout)
	idle := func(t *testing.T, got map[string]any) {
		if got["connections"].(float64) != 20 {
			t.Errorf("connections %v", got["connections"])
		}
	}
	run("idle", func(o *options) { o.n = 20 }, runIdle, idle)
	run("idle-polling", func(o *options) { o.n = 20; o.transport = "polling" }, runIdle, idle)
}

// TestAdminClientReconnects: Node answers chunked and closes a kept-alive connection after
// 5 s idle; the next request on it must go out again on a new connection.
func TestAdminClientReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			go func() {
				defer conn.Close()
				r := bufio.NewReader(conn)
				req, err := http.ReadRequest(r)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				// One chunked reply, then the server drops the connection as if idle.
				io.WriteString(conn, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"+
					"10\r\n{\"status\":200,\"d\r\n"+"f\r\nelivered\":3}   \r\n0\r\n\r\n")
			}()
		}
	}()
	a := newAdminClient(ln.Addr().String(), 1)
	for i := range 3 {
		rep, err := a.send(context.Background(), 1, []byte(`"x"`))
		if err != nil || rep.Delivered != 3 {
			t.Fatalf("request %d: %+v, %v", i, rep, err)
		}
	}
	if n := accepted.Load(); n != 3 {
		t.Errorf("%d connections, want 3 (one per request)", n)
	}
}

// -freeports hands out distinct ports below the ephemeral range, each free to listen on.
func TestFreePortsBelowEphemeralRange(t *testing.T) {
	var out bytes.Buffer
	if err := freePorts(&out, 8); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range strings.Fields(out.String()) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 10000 || n >= ephemeralLow() || seen[p] {
			t.Fatalf("port %q in %q: want distinct ports in [10000, %d)", p, out.String(), ephemeralLow())
		}
		seen[p] = true
		ln, err := net.Listen("tcp", "127.0.0.1:"+p)
		if err != nil {
			t.Fatalf("port %s is not free: %v", p, err)
		}
		ln.Close()
	}
	if len(seen) != 8 {
		t.Fatalf("%d ports, want 8: %q", len(seen), out.String())
	}
}

// A user with more sessions than one goroutine writes (the server then writes from every
// core) gets every message on every session exactly once and in send order, though the sends
// go out back to back without waiting for any receipt. Real sockets, the server in this
// process (so that -race watches its parallel writes).
func TestLargeFanoutInOrderOnEverySession(t *testing.T) {
	srv := startServer(t, "0", "0")
	defer srv.shutdown()
	o := options{admin: srv.admin, client: srv.client, inflight: 2, srcaddrs: 2, srcFirst: 1,
		hash: "h", dialers: 32, transport: "websocket", base: 900_000}
	const sessions, sends = 600, 20
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a := newAdminClient(o.admin, o.inflight)
	if err := registerAll(ctx, a, o, []int64{o.base}); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		got   = map[*client][]int64{}
		total atomic.Int64
		all   = make(chan struct{})
	)
	onPush := func(c *client, rc receipt) {
		if rc.Seq < 0 {
			return // a proof that the session is attached
		}
		mu.Lock()
		got[c] = append(got[c], rc.Seq)
		mu.Unlock()
		if total.Add(1) == sessions*sends {
			close(all)
		}
	}
	users := make([]int64, sessions)
	for i := range users {
		users[i] = o.base
	}
	clients, closeAll, err := connectAll(ctx, o, users, onPush)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll()
	// A client emits auth without waiting for its answer: proven attached, as the modes do.
	if err := proveShared(ctx, a, clients, func() error {
		_, err := a.send(ctx, o.base, message(-1, time.Now(), 40))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for k := range sends {
		reply, err := a.send(ctx, o.base, message(int64(k), time.Now(), 40))
		if err != nil || reply.Delivered != sessions {
			t.Fatalf("send %d: %+v, %v; want %d delivered", k, reply, err, sessions)
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		t.Fatalf("%d of %d receipts before the deadline", total.Load(), sessions*sends)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, c := range clients {
		seqs := got[c]
		ok := len(seqs) == sends
		for k := 0; ok && k < sends; k++ {
			ok = seqs[k] == int64(k)
		}
		if !ok {
			t.Fatalf("session %d received %v, want 0..%d in order", i, seqs, sends-1)
		}
	}
}
