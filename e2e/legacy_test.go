package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// TestOriginalClients: the original's socket.io 0.9 clients on the same port as modern ones,
// over WebSocket and XHR polling: auth, pushes exactly as the original sent them (the JSON
// text of the message), refusal of a wrong hash, and counting by protocol in /stats.
func TestOriginalClients(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	for _, transport := range []string{"websocket", "xhr-polling"} {
		t.Run(transport, func(t *testing.T) {
			arg, _ := json.Marshal(map[string]any{"url": s.clientURL, "transport": transport, "userId": 5, "hash": "xxx1234", "ack": true})
			c := startNode(t, "0.9 "+transport, "testdata/client09.js", string(arg))
			if ev := c.waitEvent("connect", 10*time.Second); ev["transport"] != transport {
				t.Fatalf("connected over %v, want %s", ev["transport"], transport)
			}
			if ack := c.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
				t.Fatalf("auth ack %v", ack)
			}
			modern := startClient(t, "modern", clientSpec{URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true})
			modern.waitEvent("auth-ack", 10*time.Second)
			_, st := s.getJSON("/stats")
			if p := st["connections"].(map[string]any)["byProtocol"].(map[string]any); p["EIO1"] != float64(1) {
				t.Fatalf("stats by protocol %v, want one protocol-1 (0.9) connection", p)
			}
			out := s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			if out["delivered"] != float64(2) {
				t.Fatalf("send: %v", out)
			}
			if ev := c.waitEvent("message", 5*time.Second); ev["message"] != `"example message"` {
				t.Fatalf("the 0.9 client got %q, want the JSON text %q, as the original sent it", ev["message"], `"example message"`)
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":{"a":1}}`)
			if ev := c.waitEvent("message", 5*time.Second); ev["message"] != `{"a":1}` {
				t.Fatalf("object message: %q", ev["message"])
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":"n","event":"news"}`)
			if ev := c.waitEvent("event", 5*time.Second); jsonString(ev["args"]) != `["n"]` {
				t.Fatalf("custom event: %v", ev)
			}
			if m := modern.messages(); len(m) != 2 || m[0] != "example message" {
				t.Fatalf("the modern client got %v", m)
			}
			bad, _ := json.Marshal(map[string]any{"url": s.clientURL, "transport": transport, "userId": 5, "hash": "wrong", "ack": true})
			b := startNode(t, "0.9 wrong hash", "testdata/client09.js", string(bad))
			if ack := b.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"error":"unauthorized","ok":false}` {
				t.Fatalf("wrong hash: ack %v", ack)
			}
			b.waitEvent("disconnect", 10*time.Second)
		})
	}
}

// TestUnwrittenKeptWhenAnOriginalClientFreezes: a socket.io 0.9 client on XHR polling freezes
// and stops polling; its socket dies of the close timeout with what was sent meanwhile
// unwritten, and the client, thawed, reconnects and gets it as kept messages. Only what went
// out in the poll it had open when it froze may be lost with that poll.
func TestUnwrittenKeptWhenAnOriginalClientFreezes(t *testing.T) {
	const n = 40
	s := startServer(t, "pingInterval: 300, pingTimeout: 300", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
	arg, _ := json.Marshal(map[string]any{"url": s.clientURL, "transport": "xhr-polling", "userId": 5, "hash": "h", "ack": true, "reconnect": true})
	c := startNode(t, "0.9 freezes", "testdata/client09.js", string(arg))
	c.waitEvent("auth-ack", 10*time.Second)
	c.send(map[string]any{"cmd": "block", "ms": 2500})
	c.waitEvent("blocking", 10*time.Second)
	for i := range n {
		s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":5,"message":%d}`, i))
	}
	var got []string
	waitFor(t, 30*time.Second, fmt.Sprintf("message %d", n-1), func() bool {
		got = got[:0]
		for _, ev := range c.all() {
			if ev["type"] == "message" {
				got = append(got, ev["message"].(string))
			}
		}
		return len(got) > 0 && got[len(got)-1] == fmt.Sprint(n-1)
	})
	var first int
	fmt.Sscan(got[0], &first)
	for i, m := range got {
		if m != fmt.Sprint(first+i) {
			t.Fatalf("got %q: not every message from %d to %d once, in order", got, first, n-1)
		}
	}
	if first > 10 {
		t.Fatalf("got messages %d to %d only", first, n-1)
	}
}
