package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// rawWebSocketClient connects over Engine.IO v4 WebSocket, authenticates as user id, and then
// never reads again: the slow consumer.
func rawWebSocketClient(t *testing.T, clientURL string, id int, hash string) func() {
	t.Helper()
	url := "ws" + strings.TrimPrefix(clientURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	conn, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	// The server may send its open packet right behind the handshake: it is then in br.
	var rw io.ReadWriter = conn
	if br != nil {
		rw = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	read := func() string {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		data, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatalf("raw client: %v", err)
		}
		return string(data)
	}
	if open := read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	wsutil.WriteClientText(conn, []byte("40"))
	if connect := read(); !strings.HasPrefix(connect, "40{") {
		t.Fatalf("connect reply %q", connect)
	}
	wsutil.WriteClientText(conn, []byte(fmt.Sprintf(`421["auth",%d,%q]`, id, hash)))
	if ack := read(); ack != `431[{"ok":true}]` {
		t.Fatalf("auth ack %q", ack)
	}
	return func() { conn.Close() }
}

// rawPollingClient does the same over Engine.IO v4 polling, then never polls again.
func rawPollingClient(t *testing.T, clientURL string, id int, hash string) {
	t.Helper()
	base := clientURL + "/socket.io/?EIO=4&transport=polling"
	get := func(url string) string {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return string(data)
	}
	post := func(url, body string) {
		resp, err := http.Post(url, "text/plain", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	open := get(base)
	i := strings.Index(open, `"sid":"`)
	if i < 0 {
		t.Fatalf("open %q", open)
	}
	sid := open[i+7 : i+7+strings.Index(open[i+7:], `"`)]
	url := base + "&sid=" + sid
	post(url, "40")
	if connect := get(url); !strings.HasPrefix(connect, "40{") {
		t.Fatalf("connect reply %q", connect)
	}
	post(url, fmt.Sprintf(`421["auth",%d,%q]`, id, hash))
	if ack := get(url); ack != `431[{"ok":true}]` {
		t.Fatalf("auth ack %q", ack)
	}
}

// rss reads a process's resident memory in bytes.
func rss(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// TestSlowClientIsCut: a client that stops reading is disconnected when its queue fills or a
// write misses its deadline; the server's memory stays flat meanwhile, another client's
// latency is unaffected, and what the slow client missed stays recoverable.
func TestSlowClientIsCut(t *testing.T) {
	for _, transport := range []string{"websocket", "polling"} {
		t.Run(transport, func(t *testing.T) {
			s := startServer(t, "", "delivery: { queueSize: 64, writeTimeout: 1000 },")
			s.mustAdmin("/user/register", `{"userId":1,"hash":"slow"}`)
			s.mustAdmin("/user/register", `{"userId":2,"hash":"fast"}`)
			fast := startClient(t, "fast", clientSpec{URL: s.clientURL, Auth: []any{2, "fast"}, Ack: true, Opts: map[string]any{"transports": []string{"websocket"}}})
			fast.waitEvent("auth-ack", 10*time.Second)

			// The fast client's latency before any slow client.
			latency := func(n int) time.Duration {
				var worst time.Duration
				for i := 0; i < n; i++ {
					before := len(fast.messages())
					start := time.Now()
					s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":2,"message":"ping %d"}`, i))
					waitFor(t, 5*time.Second, "the fast client's message", func() bool { return len(fast.messages()) > before })
					worst = max(worst, time.Since(start))
				}
				return worst
			}
			baseline := latency(20)

			if transport == "websocket" {
				closeSlow := rawWebSocketClient(t, s.clientURL, 1, "slow")
				defer closeSlow()
			} else {
				rawPollingClient(t, s.clientURL, 1, "slow")
			}
			s.waitSessions(2)
			memBefore := rss(t, s.cmd.Process.Pid)
			big := strings.Repeat("x", 64<<10)
			sent := 0
			for sessions := 2; sessions == 2 && sent < 2000; sent++ {
				s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":1,"message":%q}`, big))
				if sent%50 == 49 {
					_, st := s.getJSON("/stats")
					sessions = int(st["sessions"].(float64))
				}
			}
			waitFor(t, 15*time.Second, "the slow client to be cut", func() bool {
				_, st := s.getJSON("/stats")
				return st["sessions"] == float64(1)
			})
			memAfter := rss(t, s.cmd.Process.Pid)
			during := latency(20)
			t.Logf("cut after %d messages of 64 KiB; RSS %d MiB → %d MiB; fast client's worst latency %v before, %v after",
				sent, memBefore>>20, memAfter>>20, baseline, during)
			if grown := memAfter - memBefore; grown > 64<<20 {
				t.Errorf("RSS grew by %d MiB while a client did not read", grown>>20)
			}
			if during > baseline+500*time.Millisecond {
				t.Errorf("the fast client's latency went from %v to %v", baseline, during)
			}
			if !strings.Contains(s.out.String(), "slow client") {
				t.Errorf("the cut is not logged as a slow client:\n%s", s.out)
			}
		})
	}
}
