package e2e

import (
	"fmt"
	"testing"
	"time"
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
