package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readme is the original's documented flow: its config file verbatim, its curl calls, and its
// client snippet (here socket.io-client 4.x in Node).
func TestOriginalREADME(t *testing.T) {
	requireNode(t)
	seed, err := os.ReadFile("../config/testdata/seed.conf")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pushinator.conf")
	// The seed config names /tmp/pushinator.pid; keep the file verbatim but run it from a
	// copy so a developer's own server is not disturbed more than the fixed ports require.
	os.WriteFile(path, seed, 0o600)
	s := startWithConfig(t, path, "http://127.0.0.1:9600", "http://127.0.0.1:9601")

	curl := func(url, body string) string {
		out, err := exec.Command("curl", "-s", url, "-d", body).Output()
		if err != nil {
			t.Fatalf("curl %s: %v", url, err)
		}
		return string(out)
	}
	if got := curl("http://127.0.0.1:9600/user/register", `{"userId":5,"hash":"xxx1234"}`); !strings.Contains(got, `"result":"OK"`) {
		t.Fatalf("register: %s", got)
	}
	c := startNode(t, "readme", "testdata/readme-client.js")
	c.waitEvent("connect", 10*time.Second)
	s.waitSessions(1)
	if got := curl("http://127.0.0.1:9600/user/send", `{"userId":5,"message":"example message"}`); !strings.Contains(got, `"delivered":1`) {
		t.Fatalf("send: %s", got)
	}
	ev := c.waitEvent("message", 5*time.Second)
	if ev["message"] != "example message" {
		t.Fatalf("the client got %v, want \"example message\"", ev)
	}
	_ = s
}

func TestMessagesReachTheirUserOnly(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	s.mustAdmin("/user/register", `{"userId":"6","hash":"other"}`)
	a1 := startClient(t, "a1", clientSpec{URL: s.clientURL, Auth: []any{5, "xxx1234"}, Ack: true})
	a2 := startClient(t, "a2", clientSpec{Lib: "v2", URL: s.clientURL, Auth: []any{"5", "xxx1234"}, Ack: true}) // "5" is user 5
	b := startClient(t, "b", clientSpec{Lib: "v3", URL: s.clientURL, Auth: []any{6, "other"}, Ack: true})
	for _, c := range []*client{a1, a2, b} {
		if ack := c.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
			t.Fatalf("%s: auth ack %v", c.name, ack)
		}
	}
	out := s.mustAdmin("/user/send", `{"userId":"5","message":{"text":"hi","n":[1,2]}}`)
	if out["delivered"] != float64(2) {
		t.Fatalf("send to user 5: %v, want delivered 2", out)
	}
	s.mustAdmin("/user/send", `{"userId":6,"message":"for six"}`)
	for _, c := range []*client{a1, a2} {
		ev := c.waitEvent("event", 5*time.Second)
		if ev["event"] != "message" || jsonString(ev["args"].([]any)[0]) != `{"n":[1,2],"text":"hi"}` {
			t.Fatalf("%s got %v, want the object message", c.name, ev)
		}
	}
	if ev := b.waitEvent("event", 5*time.Second); jsonString(ev["args"].([]any)[0]) != `"for six"` {
		t.Fatalf("user 6 got %v", ev)
	}
	// Isolation: user 6 never saw user 5's message, nor 5 user 6's.
	time.Sleep(0) // nothing to wait for: the messages above were delivered after the earlier ones
	if got := b.messages(); len(got) != 1 {
		t.Fatalf("user 6 got %v, want only its own message", got)
	}
	if got := a1.messages(); len(got) != 1 {
		t.Fatalf("user 5 got %v, want only its own message", got)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	for _, tc := range []struct {
		name, transport string
		auth            []any
	}{
		{"wrong hash", "websocket", []any{5, "nope"}},
		{"wrong hash", "polling", []any{5, "nope"}},
		{"unknown user", "websocket", []any{77, "xxx1234"}},
		{"unknown user", "polling", []any{77, "xxx1234"}},
		{"no hash", "polling", []any{5}},
	} {
		c := startClient(t, tc.name+" over "+tc.transport, clientSpec{URL: s.clientURL, Auth: tc.auth, Ack: true,
			Opts: map[string]any{"transports": []string{tc.transport}, "reconnection": false}})
		ack := c.waitEvent("auth-ack", 10*time.Second)
		if jsonString(ack["res"]) != `{"error":"unauthorized","ok":false}` {
			t.Fatalf("%s: ack %v", tc.name, ack)
		}
		if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "io server disconnect" {
			t.Fatalf("%s: disconnect %v", tc.name, ev)
		}
	}
	if !strings.Contains(s.out.String(), "auth refused") {
		t.Fatalf("auth failures are not logged:\n%s", s.out)
	}
	if strings.Contains(s.out.String(), "nope") || strings.Contains(s.out.String(), "xxx1234") {
		t.Fatalf("a hash appears in the log:\n%s", s.out)
	}
	// A message to user 5 reaches nobody: none of them authenticated.
	if out := s.mustAdmin("/user/send", `{"userId":5,"message":"x"}`); out["delivered"] != float64(0) {
		t.Fatalf("send after failed auths: %v", out)
	}
}

func TestHandshakeAuth(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	ok := startClient(t, "ok", clientSpec{URL: s.clientURL, Opts: map[string]any{"auth": map[string]any{"userId": 5, "hash": "xxx1234"}}})
	ok.waitEvent("connect", 10*time.Second)
	s.mustAdmin("/user/send", `{"userId":5,"message":"via handshake"}`)
	if ev := ok.waitEvent("event", 5*time.Second); ev["args"].([]any)[0] != "via handshake" {
		t.Fatalf("got %v", ev)
	}
	bad := startClient(t, "bad", clientSpec{URL: s.clientURL, Opts: map[string]any{"auth": map[string]any{"userId": 5, "hash": "wrong"}, "reconnection": false}})
	if ev := bad.waitEvent("connect_error", 10*time.Second); ev["message"] != "unauthorized" {
		t.Fatalf("connect_error %v, want message unauthorized", ev)
	}
}

func TestAuthTimeoutClosesIdleConnections(t *testing.T) {
	s := startServer(t, "authTimeout: 500", "")
	c := startClient(t, "idle", clientSpec{URL: s.clientURL, Opts: map[string]any{"reconnection": false}})
	c.waitEvent("connect", 10*time.Second)
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "io server disconnect" {
		t.Fatalf("disconnect %v", ev)
	}
}

func TestReRegisterKeepsSessionsUnregisterDropsThem(t *testing.T) {
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"one"}`)
	c := startClient(t, "c", clientSpec{URL: s.clientURL, Auth: []any{5, "one"}, Ack: true, Opts: map[string]any{"reconnection": false}})
	c.waitEvent("auth-ack", 10*time.Second)
	s.mustAdmin("/user/register", `{"userId":5,"hash":"two"}`)
	s.mustAdmin("/user/send", `{"userId":5,"message":"still here"}`)
	if ev := c.waitEvent("event", 5*time.Second); ev["args"].([]any)[0] != "still here" {
		t.Fatalf("got %v", ev)
	}
	s.mustAdmin("/user/unregister", `{"userId":5}`)
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "io server disconnect" {
		t.Fatalf("disconnect %v", ev)
	}
	if status, _ := s.admin("/user/disconnect", `{"userId":5}`); status != 404 {
		t.Fatalf("disconnect after unregister: %d", status)
	}
}

func TestCustomEventBroadcastAndMultiSend(t *testing.T) {
	s := startServer(t, "", "")
	clients := authenticatedUsers(t, s, 3)
	if out := s.mustAdmin("/user/send", `{"userIds":[1,2],"message":"pair","event":"news"}`); out["delivered"] != float64(2) {
		t.Fatalf("multi send: %v", out)
	}
	for _, c := range clients[:2] {
		if ev := c.waitEvent("event", 5*time.Second); ev["event"] != "news" || ev["args"].([]any)[0] != "pair" {
			t.Fatalf("%s got %v", c.name, ev)
		}
	}
	if out := s.mustAdmin("/broadcast", `{"message":"all"}`); out["delivered"] != float64(3) {
		t.Fatalf("broadcast: %v", out)
	}
	for _, c := range clients {
		ev := c.waitEvent("event", 5*time.Second)
		if ev["event"] != "message" || ev["args"].([]any)[0] != "all" {
			t.Fatalf("%s got %v", c.name, ev)
		}
	}
	if got := clients[2].messages(); len(got) != 1 {
		t.Fatalf("user 3 got %v, want only the broadcast", got)
	}
}

// TestManyMessagesInOneRequest: {"messages":[...]} from curl-style HTTP reaches real clients,
// each message to its users, one user's messages in the order listed, pretty-printed JSON as
// the value the client parses.
func TestManyMessagesInOneRequest(t *testing.T) {
	s := startServer(t, "", "")
	clients := authenticatedUsers(t, s, 2)
	out := s.mustAdmin("/user/send", `{"messages": [
		{"userId": 1, "message": "first"},
		{"userId": 2, "message": {"n": 1, "text": "a b"}},
		{"userIds": [1, 2], "message": [1, 2, 3], "event": "news"},
		{"userId": 1, "message": "last"}
	]}`)
	if out["messages"] != float64(4) || out["delivered"] != float64(5) {
		t.Fatalf("reply %v, want 4 messages and 5 deliveries", out)
	}
	want := [][]string{
		{`message "first"`, `news [1,2,3]`, `message "last"`},
		{`message {"n":1,"text":"a b"}`, `news [1,2,3]`},
	}
	for i, c := range clients {
		var got []string
		waitFor(t, 5*time.Second, fmt.Sprintf("user %d's messages", i+1), func() bool {
			got = nil
			for _, ev := range c.all() {
				if ev["type"] == "event" {
					got = append(got, fmt.Sprintf("%s %s", ev["event"], jsonString(ev["args"].([]any)[0])))
				}
			}
			return len(got) >= len(want[i])
		})
		if strings.Join(got, " | ") != strings.Join(want[i], " | ") {
			t.Errorf("user %d got %q, want %q", i+1, got, want[i])
		}
	}
}

// authenticatedUsers registers users 1..n (hash "h<id>") and connects one authenticated
// socket.io v4 client for each.
func authenticatedUsers(t *testing.T, s *server, n int) []*client {
	var clients []*client
	for i := 1; i <= n; i++ {
		s.mustAdmin("/user/register", fmt.Sprintf(`{"userId":%d,"hash":"h%d"}`, i, i))
		c := startClient(t, fmt.Sprint(i), clientSpec{URL: s.clientURL, Auth: []any{i, fmt.Sprintf("h%d", i)}, Ack: true})
		c.waitEvent("auth-ack", 10*time.Second)
		clients = append(clients, c)
	}
	return clients
}

// TestEveryClientGetsText: every socket.io-client generation, on each of its transports, gets
// text beyond ASCII as sent, kept for it while it was away and live. socket.io-client 1.x
// decodes Engine.IO v3 polling packets as UTF-8 a second time (what its servers sent): it
// refuses or garbles UTF-8 text, with the official 2.x server too, so v3 polling carries the
// JSON in ASCII (\u escapes), which every client reads back the same.
func TestEveryClientGetsText(t *testing.T) {
	const text = "héllo — 世界 🎉 \u2028"
	message := map[string]any{"t": text, "n": 1}
	for _, tc := range []struct {
		lib        string
		transports []string
	}{
		{"v1", []string{"polling"}}, {"v1", []string{"websocket"}}, {"v1", []string{"polling", "websocket"}},
		{"v2", []string{"polling"}}, {"v2", []string{"websocket"}}, {"v2", []string{"polling", "websocket"}},
		{"v3", []string{"polling"}}, {"v3", []string{"websocket"}},
		{"v4", []string{"polling"}}, {"v4", []string{"websocket"}}, {"v4", []string{"polling", "websocket"}},
	} {
		t.Run(tc.lib+" "+strings.Join(tc.transports, ","), func(t *testing.T) {
			s := startServer(t, "", "")
			s.mustAdmin("/user/register", `{"userId":5,"hash":"h"}`)
			body := fmt.Sprintf(`{"userId":5,"message":%s}`, jsonString(message))
			if out := s.mustAdmin("/user/send", body); out["buffered"] != float64(1) {
				t.Fatalf("send while away: %v", out)
			}
			c := startClient(t, "client", clientSpec{Lib: tc.lib, URL: s.clientURL, Auth: []any{5, "h"}, Ack: true,
				Opts: map[string]any{"transports": tc.transports}})
			if ack := c.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
				t.Fatalf("auth ack %v", ack)
			}
			waitFor(t, 5*time.Second, "the kept message", func() bool { return len(c.messages()) >= 1 || c.count("disconnect") > 0 })
			if out := s.mustAdmin("/user/send", body); out["delivered"] != float64(1) {
				t.Fatalf("live send: %v", out)
			}
			waitFor(t, 5*time.Second, "the live message", func() bool { return len(c.messages()) >= 2 || c.count("disconnect") > 0 })
			if got, want := jsonString(c.messages()), jsonString([]any{message, message}); got != want || c.count("disconnect") > 0 {
				t.Fatalf("got %s (%d disconnects), want %s", got, c.count("disconnect"), want)
			}
		})
	}
}
