package legacy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that records what happens, for the tests.
type recorder struct {
	mu     sync.Mutex
	log    []string
	notify chan struct{}
	// onEvent, when set, answers events; by default "auth" is acked with
	// {"ok":true} and followed by a pushed message, "echo" echoes.
	onEvent    func(s *Socket, name string, args []json.RawMessage, ack func(...any) error)
	connectErr error
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(line string) {
	r.mu.Lock()
	r.log = append(r.log, line)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

func (r *recorder) Connect(s *Socket) error {
	r.add("connect " + s.Transport())
	return r.connectErr
}

func (r *recorder) Event(s *Socket, name string, args []json.RawMessage, ack func(...any) error) {
	a, _ := json.Marshal(args)
	r.add("event " + name + " " + string(a))
	if r.onEvent != nil {
		r.onEvent(s, name, args, ack)
		return
	}
	switch name {
	case "auth":
		if ack != nil {
			ack(map[string]any{"ok": true})
		}
		s.Send(EncodeMessage([]byte(`{"hello":"world","user":` + string(args[0]) + `}`)))
	case "echo":
		if ack != nil {
			ack(args[0])
		}
	}
}

func (r *recorder) Disconnect(s *Socket, reason string) { r.add("disconnect " + reason) }

// lines returns a copy of the log.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

// waitFor waits until the log has a line starting with prefix.
func (r *recorder) waitFor(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		for _, l := range r.lines() {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		select {
		case <-r.notify:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %q in the handler's log: %q", prefix, r.lines())
		}
	}
}

// count counts the log lines starting with prefix.
func (r *recorder) count(prefix string) int {
	n := 0
	for _, l := range r.lines() {
		if strings.HasPrefix(l, prefix) {
			n++
		}
	}
	return n
}

// startServer serves srv's protocol at /socket.io/1/ on a loopback port.
func startServer(t *testing.T, opts Options, h Handler) (*Server, *httptest.Server) {
	t.Helper()
	if opts.Path == "" {
		opts.Path = "/socket.io/"
	}
	if opts.CORSOrigins == nil {
		opts.CORSOrigins = []string{"*"}
	}
	srv := NewServer(opts, h)
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		ts.Close()
	})
	return srv, ts
}

// nodeModules finds e2e/node/node_modules relative to this package, and
// fails (never skips) when node or the 0.9 client is missing.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "e2e", "node", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "socket.io-client-v09", "package.json")); err != nil {
		t.Fatalf("socket.io-client 0.9.16 is not installed in %s (%v): run `npm ci --prefix e2e/node`", dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (%v): the 0.9 client tests need Node.js, then `npm ci --prefix e2e/node`", err)
	}
	return dir
}

// runClient runs testdata/client09.js and returns its JSON lines.
func runClient(t *testing.T, url, scenario, transport string, env ...string) []map[string]any {
	t.Helper()
	mods := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "client09.js"), url, scenario, transport)
	cmd.Env = append(os.Environ(), append(env, "NODE_PATH="+mods)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s over %s: %v\nstdout:\n%s\nstderr:\n%s", scenario, transport, err, stdout.String(), stderr.String())
	}
	var out []map[string]any
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("node printed %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func find(lines []map[string]any, key string) (any, bool) {
	for _, l := range lines {
		if v, ok := l[key]; ok {
			return v, true
		}
	}
	return nil, false
}

var clientTransports = []string{TransportWebSocket, TransportXHR}

// The 0.9 client authenticates with an ack, receives a pushed message as
// the JSON text, and sees the server's disconnect.
func TestClient09AuthMessageDisconnect(t *testing.T) {
	for _, tr := range clientTransports {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			rec.onEvent = func(s *Socket, name string, args []json.RawMessage, ack func(...any) error) {
				if name != "auth" {
					return
				}
				ack(map[string]any{"ok": true})
				s.Send(EncodeMessage([]byte(`{"text":"héllo 😀","n":1}`)))
				s.Disconnect()
			}
			_, ts := startServer(t, Options{}, rec)
			out := runClient(t, ts.URL, "auth", tr)

			if v, _ := find(out, "connect"); v != tr {
				t.Errorf("client connected over %v, want %s (%v)", v, tr, out)
			}
			if v, _ := find(out, "ack"); !jsonEqual(v, map[string]any{"ok": true}) {
				t.Errorf("ack = %v, want {ok:true}", v)
			}
			if v, _ := find(out, "message"); v != `{"text":"héllo 😀","n":1}` {
				t.Errorf("message = %#v, want the JSON text as a string", v)
			}
			if v, _ := find(out, "disconnect"); v != "booted" {
				t.Errorf("client disconnect reason = %v, want booted", v)
			}
			if l := rec.waitFor(t, "event auth"); l != `event auth [5,"x"]` {
				t.Errorf("handler got %q", l)
			}
			rec.waitFor(t, "connect "+tr)
			if l := rec.waitFor(t, "disconnect"); l != "disconnect server namespace disconnect" {
				t.Errorf("handler got %q", l)
			}
		})
	}
}

// Heartbeats (WebSocket) and polls ended with a noop (polling) keep an
// idle client connected well past the heartbeat and close timeouts.
func TestClient09IdlePastTimeouts(t *testing.T) {
	for _, tr := range clientTransports {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			// Timeouts of 2 s leave a loaded machine (CI runs this under -race beside
			// other packages) room for a late poll; idling 5 s still spans several.
			_, ts := startServer(t, Options{
				HeartbeatTimeout:  2 * time.Second,
				HeartbeatInterval: 500 * time.Millisecond,
				CloseTimeout:      2 * time.Second,
			}, rec)
			out := runClient(t, ts.URL, "idle", tr, "IDLE_MS=5000")
			if v, ok := find(out, "disconnect"); ok {
				t.Fatalf("client disconnected while idle: %v", v)
			}
			if v, _ := find(out, "ack"); v != "still here" {
				t.Errorf("echo ack = %v after idling", v)
			}
			if n := rec.count("disconnect heartbeat timeout") + rec.count("disconnect close timeout"); n != 0 {
				t.Errorf("server timed the client out: %q", rec.lines())
			}
			rec.waitFor(t, "disconnect client namespace disconnect")
		})
	}
}

// Several clients in one process ('force new connection') each get their
// own socket and message.
func TestClient09Multi(t *testing.T) {
	for _, tr := range clientTransports {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			_, ts := startServer(t, Options{}, rec)
			out := runClient(t, ts.URL, "multi", tr)
			got := map[float64]string{}
			for _, l := range out {
				got[l["client"].(float64)] = l["message"].(string)
			}
			for i := 0; i < 3; i++ {
				want := `{"hello":"world","user":` + string(rune('0'+i)) + `}`
				if got[float64(i)] != want {
					t.Errorf("client %d got %q, want %q", i, got[float64(i)], want)
				}
			}
		})
	}
}

// A client's own disconnect reaches Handler.Disconnect as deliberate.
func TestClient09Leave(t *testing.T) {
	for _, tr := range clientTransports {
		t.Run(tr, func(t *testing.T) {
			rec := newRecorder()
			srv, ts := startServer(t, Options{}, rec)
			runClient(t, ts.URL, "leave", tr)
			rec.waitFor(t, "disconnect client namespace disconnect")
			waitUntil(t, func() bool { return srv.Stats().Sockets == 0 }, "no socket left open")
			if n := rec.count("disconnect"); n != 1 {
				t.Errorf("Disconnect called %d times: %q", n, rec.lines())
			}
		})
	}
}

// Another namespace is refused: the client's namespace emits connect_failed.
func TestClient09OtherNamespaceRefused(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{}, rec)
	out := runClient(t, ts.URL, "namespace", TransportWebSocket)
	if v, _ := find(out, "connect_failed"); v != "unauthorized" {
		t.Errorf("connect_failed = %v, want unauthorized", v)
	}
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The client tries the transports in the order the handshake announces
// them, which is the configured order.
func TestClient09FollowsTransportOrder(t *testing.T) {
	for _, order := range [][]string{
		{TransportXHR, TransportWebSocket},
		{TransportWebSocket, TransportXHR},
	} {
		t.Run(strings.Join(order, ","), func(t *testing.T) {
			rec := newRecorder()
			_, ts := startServer(t, Options{Transports: order}, rec)
			out := runClient(t, ts.URL, "leave", "")
			if v, _ := find(out, "connect"); v != order[0] {
				t.Errorf("client connected over %v, want %s", v, order[0])
			}
			rec.waitFor(t, "connect "+order[0])
		})
	}
}

// The browser build of the 0.9 client over jsonp-polling (a small DOM in a
// vm context): JSONP handshake, polls, form POSTs, ack, message, disconnect.
func TestClient09JSONPBrowserBuild(t *testing.T) {
	rec := newRecorder()
	rec.onEvent = func(s *Socket, name string, args []json.RawMessage, ack func(...any) error) {
		if name != "auth" {
			return
		}
		ack(map[string]any{"ok": true})
		s.Send(EncodeMessage([]byte("{\"text\":\"</script> \u2028 😀\"}")))
		s.Disconnect()
	}
	_, ts := startServer(t, Options{Transports: []string{TransportJSONP}}, rec)
	mods := nodeModules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "jsonp09.js"), ts.URL)
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node jsonp09.js: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("node printed %q: %v", line, err)
		}
		out = append(out, m)
	}
	if v, _ := find(out, "connect"); v != TransportJSONP {
		t.Errorf("connected over %v (%v)", v, out)
	}
	if v, _ := find(out, "ack"); !jsonEqual(v, map[string]any{"ok": true}) {
		t.Errorf("ack = %v", v)
	}
	if v, _ := find(out, "message"); v != "{\"text\":\"</script> \u2028 😀\"}" {
		t.Errorf("message = %q", v)
	}
	if v, _ := find(out, "disconnect"); v != "booted" {
		t.Errorf("disconnect = %v", v)
	}
	if l := rec.waitFor(t, "event auth"); l != `event auth [5,"x\n\"y\""]` {
		t.Errorf("handler got %q", l)
	}
	rec.waitFor(t, "disconnect server namespace disconnect")
}
