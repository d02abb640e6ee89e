package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pushinator/pushinator/internal/redistest"
)

// TestBufferedUntilAuthenticated: messages to a registered user with no session are kept and
// delivered in order when a session authenticates.
func TestBufferedUntilAuthenticated(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	for i := 1; i <= 3; i++ {
		out := s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":"m%d"}`, i))
		if out["buffered"] != float64(1) || out["delivered"] != float64(0) {
			t.Fatalf("send %d: %v, want buffered", i, out)
		}
	}
	c := startClient(t, "late", clientSpec{URL: s.clientURL, Auth: []any{5, "h"}, Ack: true})
	c.waitEvent("auth-ack", 10*time.Second)
	waitFor(t, 5*time.Second, "3 messages", func() bool { return len(c.messages()) == 3 })
	if got := jsonString(c.messages()); got != `["m1","m2","m3"]` {
		t.Fatalf("got %s", got)
	}
}

// TestConnectionStateRecovery: a session whose transport drops comes back within the window and
// gets what it missed, exactly once and in order, with socket.recovered true.
func TestConnectionStateRecovery(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	for _, tc := range []struct {
		name, transport string
		before          int // messages received before the drop
	}{
		{"websocket", "websocket", 1},
		{"polling", "polling", 2},
		{"websocket, nothing received before the drop", "websocket", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startClient(t, tc.name, clientSpec{URL: s.clientURL, Auth: []any{5, "h"}, Ack: true,
				Opts: map[string]any{"transports": []string{tc.transport}}})
			c.waitEvent("auth-ack", 10*time.Second)
			var want []string
			for i := 0; i < tc.before; i++ {
				m := fmt.Sprintf("before-%d", i)
				want = append(want, m)
				s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":%q}`, m))
			}
			waitFor(t, 5*time.Second, "the first messages", func() bool { return len(c.messages()) == tc.before })
			c.send(map[string]any{"cmd": "close-transport"})
			c.waitEvent("disconnect", 5*time.Second)
			for i := 0; i < 3; i++ {
				m := fmt.Sprintf("missed-%d", i)
				want = append(want, m)
				s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":%q}`, m))
			}
			if ev := c.waitEvent("connect", 10*time.Second); ev["recovered"] != true {
				t.Fatalf("reconnected with %v, want recovered", ev)
			}
			waitFor(t, 5*time.Second, fmt.Sprintf("%d messages", len(want)), func() bool { return len(c.messages()) >= len(want) })
			s.mustAdmin("/user/send", `{"userId":5,"message":"after"}`)
			want = append(want, "after")
			waitFor(t, 5*time.Second, "the message after recovery", func() bool { return len(c.messages()) >= len(want) })
			if got := jsonString(c.messages()); got != jsonString(want) {
				t.Fatalf("got %s, want %s", got, jsonString(want))
			}
			c.send(map[string]any{"cmd": "disconnect"})
			c.waitEvent("disconnect", 5*time.Second)
		})
	}
}

// TestRecoveryOffsetNamesClientDuplicate: socket.io-client 4.x decodes an event, hands it to
// the socket a tick later, and, if the connection closed in between, buffers it and emits it
// after reconnecting, while its recovery offset did not count it, so the server replays it
// too. Nothing is lost, and both copies carry the same offset, so a handler that drops an
// offset it has seen (as the README says) gets every message exactly once.
func TestRecoveryOffsetNamesClientDuplicate(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	c := startClient(t, "client", clientSpec{URL: s.clientURL, Auth: []any{5, "h"}, Ack: true,
		Opts: map[string]any{"transports": []string{"websocket"}}})
	c.waitEvent("auth-ack", 10*time.Second)
	s.mustAdmin("/user/send", `{"userId":5,"message":"m1"}`)
	waitFor(t, 5*time.Second, "m1", func() bool { return len(c.messages()) == 1 })
	c.send(map[string]any{"cmd": "close-on-next-event"})
	c.waitEvent("armed", 10*time.Second)
	s.mustAdmin("/user/send", `{"userId":5,"message":"m2"}`)
	if ev := c.waitEvent("connect", 10*time.Second); ev["recovered"] != true {
		t.Fatalf("reconnected with %v, want recovered", ev)
	}
	c.waitEvent("auth-ack", 10*time.Second)
	s.mustAdmin("/user/send", `{"userId":5,"message":"m3"}`)
	var raw, deduped []string
	waitFor(t, 5*time.Second, "m3", func() bool {
		raw, deduped = nil, nil
		seen := map[string]bool{}
		for _, ev := range c.all() {
			if ev["type"] != "event" || ev["event"] != "message" {
				continue
			}
			args := ev["args"].([]any)
			if len(args) != 2 {
				t.Fatalf("message event with arguments %v, want (message, offset)", args)
			}
			m, offset := fmt.Sprint(args[0]), fmt.Sprint(args[1])
			raw = append(raw, m)
			if !seen[offset] {
				seen[offset] = true
				deduped = append(deduped, m)
			}
		}
		return len(raw) > 0 && raw[len(raw)-1] == "m3"
	})
	t.Logf("the client emitted %v", raw)
	if got := strings.Join(deduped, " "); got != "m1 m2 m3" {
		t.Fatalf("deduplicated by offset the client got %q (raw %v), want \"m1 m2 m3\"", got, raw)
	}
}

// restart stops s (SIGTERM, or SIGKILL when crash) and starts the same config on the same ports.
func (s *server) restart(crash bool) *server {
	s.t.Helper()
	if crash {
		s.cmd.Process.Kill()
		<-s.exited
	} else {
		s.stop()
	}
	return startWithConfig(s.t, s.configPath, s.adminURL, s.clientURL)
}

// TestStateFileSurvivesRestart: registrations, kept messages and recoverable sessions survive a
// graceful restart and a crash (kill -9) once the state was saved (at most 1 s after a change).
func TestStateFileSurvivesRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(fmt.Sprintf("crash=%v", crash), func(t *testing.T) {
			statePath := t.TempDir() + "/state.json"
			s := startServer(t, "", fmt.Sprintf("storage: { path: %q },", statePath))
			s.mustAdmin("/user/register", `{"userId":5,"hash":"h5"}`)
			s.mustAdmin("/user/register", `{"userId":6,"hash":"h6"}`)
			s.mustAdmin("/user/send", `{"userId":6,"message":"kept for six"}`)
			c := startClient(t, "five", clientSpec{URL: s.clientURL, Auth: []any{5, "h5"}, Ack: true,
				Opts: map[string]any{"transports": []string{"websocket"}, "reconnectionDelay": 50, "reconnectionDelayMax": 100}})
			c.waitEvent("auth-ack", 10*time.Second)
			s.mustAdmin("/user/send", `{"userId":5,"message":"m1"}`)
			waitFor(t, 5*time.Second, "m1", func() bool { return len(c.messages()) == 1 })
			if crash {
				waitFor(t, 5*time.Second, "the state file to hold the session", func() bool {
					data, _ := os.ReadFile(statePath)
					return strings.Contains(string(data), `"resumable":[{`) && strings.Contains(string(data), `kept for six`)
				})
			}
			s = s.restart(crash)
			if ev := c.waitEvent("connect", 15*time.Second); ev["recovered"] != true {
				t.Fatalf("after the restart the client reconnected with %v, want recovered", ev)
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":"m2"}`)
			waitFor(t, 5*time.Second, "m2", func() bool { return len(c.messages()) == 2 })
			if got := jsonString(c.messages()); got != `["m1","m2"]` {
				t.Fatalf("user 5 got %s", got)
			}
			six := startClient(t, "six", clientSpec{URL: s.clientURL, Auth: []any{6, "h6"}, Ack: true})
			if ack := six.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
				t.Fatalf("the registration did not survive: %v", ack)
			}
			waitFor(t, 5*time.Second, "the kept message", func() bool { return len(six.messages()) == 1 })
			if got := jsonString(six.messages()); got != `["kept for six"]` {
				t.Fatalf("user 6 got %s", got)
			}
		})
	}
}

func TestCorruptStateFileStopsTheStart(t *testing.T) {
	statePath := t.TempDir() + "/state.json"
	os.WriteFile(statePath, []byte(`{"format":"pushinator-state","vers`), 0o600)
	cfg := t.TempDir() + "/p.conf"
	os.WriteFile(cfg, []byte(fmt.Sprintf(`{"pidfile":%q,"admin":{"host":"127.0.0.1","port":%d},"client":{"host":"127.0.0.1","port":%d},"storage":{"path":%q}}`,
		t.TempDir()+"/pid", freePort(t), freePort(t), statePath)), 0o600)
	out, err := exec.Command(binary, "-c", cfg).CombinedOutput()
	if code := processExitCode(err); code != 1 || !strings.Contains(string(out), "not a pushinator state file") {
		t.Fatalf("exit %d, output %q; want exit 1 naming the corrupt file", code, out)
	}
}

func processExitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestReplayBeyondTheQueue: a client busy for a moment after connecting (an application still
// starting up) is replayed more kept messages than delivery.queueSize, more than the socket
// buffers hold: it gets them all, once and in order, on its first connection. The replay does
// not make it a slow client (it was cut, and a client without recovery lost what was queued).
func TestReplayBeyondTheQueue(t *testing.T) {
	const n = 300
	pad := strings.Repeat("x", 64<<10)
	for _, tc := range []struct {
		name string
		spec clientSpec
	}{
		{"socket.io-client 2.x, auth event", clientSpec{Lib: "v2", Auth: []any{5, "h"},
			Opts: map[string]any{"transports": []string{"websocket"}}}},
		{"socket.io-client 4.x, handshake auth", clientSpec{
			Opts: map[string]any{"transports": []string{"websocket"}, "auth": map[string]any{"userId": 5, "hash": "h"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", fmt.Sprintf("delivery: { queueSize: 16, bufferSize: %d, bufferBytes: 100000000 },", n))
			s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
			for i := range n {
				if out := s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":{"n":%d,"pad":%q}}`, i, pad)); out["buffered"] != float64(1) {
					t.Fatalf("send %d: %v, want buffered", i, out)
				}
			}
			spec := tc.spec
			spec.URL, spec.BlockMs = s.clientURL, 1500
			c := startClient(t, "busy at start", spec)
			waitFor(t, 60*time.Second, fmt.Sprintf("%d kept messages", n), func() bool {
				return len(c.messages()) >= n || c.count("disconnect") > 0
			})
			got := c.messages()
			for i, m := range got {
				if obj, _ := m.(map[string]any); i >= n || obj["n"] != float64(i) {
					t.Fatalf("message %d of %d is number %v (connects %d, disconnects %d)", i, len(got), obj["n"], c.count("connect"), c.count("disconnect"))
				}
			}
			if len(got) != n || c.count("connect") != 1 || c.count("disconnect") != 0 {
				t.Fatalf("got %d of %d messages, %d connects, %d disconnects", len(got), n, c.count("connect"), c.count("disconnect"))
			}
		})
	}
}

// TestUnwrittenKeptWhenAClientFreezes: a socket.io-client 2.x on polling freezes (a busy tab, a
// suspended app) and stops polling; the server takes the messages sent meanwhile into the
// session's queue, and the session then dies of its heartbeat with them unwritten. The client
// cannot recover a session (2.x has no recovery), so those messages are kept for the user's
// next login: the client, thawed, reconnects and gets them. Only what went out in the poll it
// had open when it froze may be lost with that poll.
func TestUnwrittenKeptWhenAClientFreezes(t *testing.T) {
	onBothEngines(t, "pingInterval: 300, pingTimeout: 300", testUnwrittenKeptWhenAClientFreezes)
}

// onBothEngines runs test with the memory engine (node and sender the same server), then with
// two nodes on Redis, the client on one, the admin calls on the other.
func onBothEngines(t *testing.T, clientExtra string, test func(t *testing.T, node, sender *server)) {
	t.Run("memory engine", func(t *testing.T) {
		s := startServer(t, clientExtra, "")
		test(t, s, s)
	})
	t.Run("redis engine, sent through another node", func(t *testing.T) {
		addr := redistest.Addr(t)
		prefix := redistest.Prefix(t, addr, "pushinator-e2e")
		test(t, startServer(t, clientExtra, redisEngine(addr, prefix)), startServer(t, clientExtra, redisEngine(addr, prefix)))
	})
}

func testUnwrittenKeptWhenAClientFreezes(t *testing.T, node, sender *server) {
	const n = 40
	sender.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	c := startClient(t, "freezes", clientSpec{Lib: "v2", URL: node.clientURL, Auth: []any{5, "h"}, Ack: true,
		Opts: map[string]any{"transports": []string{"polling"}}})
	c.waitEvent("auth-ack", 10*time.Second)
	c.send(map[string]any{"cmd": "block", "ms": 2500})
	c.waitEvent("blocking", 10*time.Second)
	for i := range n {
		sender.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":%d}`, i))
	}
	waitForTheRest(t, c, n)
	if c.count("disconnect") == 0 {
		t.Fatalf("the client never noticed its session died: %v", c.all())
	}
}

// TestUnwrittenReachesTheClientBackFirst: a socket.io-client 2.x on polling loses its network
// and comes back on a new connection before the server's heartbeat shows the old one dead.
// What was sent in between went to the old session only, and most of it was never written
// there: when the old session dies, the new one gets it, after what it already got.
func TestUnwrittenReachesTheClientBackFirst(t *testing.T) {
	// The server sees the old connection dead 3 to 6 s after the cut; the client is back after
	// 1.5 s; the sends take well under that.
	onBothEngines(t, "pingInterval: 3000, pingTimeout: 3000", unwrittenReachesTheClientBackFirst)
}

// unwrittenReachesTheClientBackFirst runs the scenario until the old session outlived the
// client's return: now and then the client's goodbye on the cut (a close packet) gets through
// as the network goes down, and the old session ends at once; then what it never wrote is
// kept and the client gets it on its login, which is not what this test is for.
func unwrittenReachesTheClientBackFirst(t *testing.T, node, sender *server) {
	for attempt := 1; ; attempt++ {
		before := strings.Count(node.out.String(), `reason="ping timeout"`)
		testUnwrittenReachesTheClientBackFirst(t, node, sender, attempt)
		if strings.Count(node.out.String(), `reason="ping timeout"`) > before {
			return
		}
		if attempt == 3 {
			t.Fatal("the old session never outlived the client's return")
		}
	}
}

func testUnwrittenReachesTheClientBackFirst(t *testing.T, node, sender *server, user int) {
	const n = 40
	sender.mustAdmin("/user/register", fmt.Sprintf(`{"userId":%d,"hash":"h"}`, user))
	proxy := startProxy(t, strings.TrimPrefix(node.clientURL, "http://"), 0)
	c := startClient(t, "back first", clientSpec{Lib: "v2", URL: proxy.url(), Auth: []any{user, "h"}, Ack: true,
		Opts: map[string]any{"transports": []string{"polling"}, "reconnectionDelay": 1500, "reconnectionDelayMax": 1500,
			"randomizationFactor": 0}})
	c.waitEvent("auth-ack", 10*time.Second)
	proxy.networkDown()
	for i := range n {
		sender.mustAdmin("/user/send", fmt.Sprintf(`{"userId":%d,"message":%d}`, user, i))
	}
	if c.count("connect") != 1 {
		t.Fatal("the client came back before the sends: this tests nothing")
	}
	proxy.networkUp()
	waitForTheRest(t, c, n)
	c.send(map[string]any{"cmd": "exit"})
}

// waitForTheRest waits until the client got message n-1 of the numbers 0 to n-1 and checks
// that it got each from some first one on, once and in order. Only the first few may be
// missing: what went out in the poll open when the client froze or lost its network (the
// first message, and any sent before the server wrote it), which the client never read.
func waitForTheRest(t *testing.T, c *client, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("message %d", n-1), func() bool {
		got := c.messages()
		return len(got) > 0 && got[len(got)-1] == float64(n-1)
	})
	got := c.messages()
	first := int(got[0].(float64))
	for i, m := range got {
		if m != float64(first+i) {
			t.Fatalf("got %v: not every message from %d to %d once, in order", got, first, n-1)
		}
	}
	if first > 10 {
		t.Fatalf("got messages %d to %d only", first, n-1)
	}
}

// TestUnwrittenKeptAcrossAGracefulRestart: a socket.io-client 2.x on polling is frozen when
// the server stops (SIGTERM). It never comes for its close packet, so at the end of the
// shutdown's wait for clients its session ends with what was sent meanwhile unwritten; that is
// kept and saved in the state file, and the client, thawed, gets it from the restarted server.
func TestUnwrittenKeptAcrossAGracefulRestart(t *testing.T) {
	const n = 40
	statePath := t.TempDir() + "/state.json"
	s := startServer(t, "pingInterval: 20000, pingTimeout: 20000", fmt.Sprintf("storage: { path: %q },", statePath))
	s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	c := startClient(t, "frozen at the stop", clientSpec{Lib: "v2", URL: s.clientURL, Auth: []any{5, "h"}, Ack: true,
		Opts: map[string]any{"transports": []string{"polling"}, "reconnectionDelay": 200, "reconnectionDelayMax": 200}})
	c.waitEvent("auth-ack", 10*time.Second)
	// Frozen beyond the shutdown's 5 s wait for clients.
	c.send(map[string]any{"cmd": "block", "ms": 8000})
	c.waitEvent("blocking", 10*time.Second)
	for i := range n {
		s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":%d}`, i))
	}
	s.restart(false)
	waitForTheRest(t, c, n)
}
