package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestHostileClients throws what an attacker (or a broken client) sends at the client port,
// one kind at a time. After each: a legitimate client still gets its push, and the server's
// goroutines and heap come back near where they were.
func TestHostileClients(t *testing.T) {
	requireNode(t)
	s := startServer(t, "pingInterval: 1000, pingTimeout: 1000, authTimeout: 2000", "")
	s.mustAdmin("/user/register", `{"userId":1,"hash":"legit"}`)
	legit := startClient(t, "legit", clientSpec{URL: s.clientURL, Auth: []any{1, "legit"}, Ack: true, Opts: map[string]any{"transports": []string{"websocket"}}})
	legit.waitEvent("auth-ack", 10*time.Second)
	host := strings.TrimPrefix(s.clientURL, "http://")
	base := s.clientURL + "/socket.io/"

	_, st := s.getJSON("/stats")
	proc := st["process"].(map[string]any)
	goroutines0, heap0 := proc["goroutines"].(float64), proc["heapInuseBytes"].(float64)
	pushes := 0
	healthy := func(t *testing.T) {
		t.Helper()
		pushes++
		want := fmt.Sprintf("still here %d", pushes)
		s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":1,"message":%q}`, want))
		waitFor(t, 10*time.Second, "the legitimate client's push", func() bool {
			m := legit.messages()
			return len(m) > 0 && m[len(m)-1] == want
		})
		var g, h float64
		waitFor(t, 20*time.Second, "goroutines and heap back near their baseline", func() bool {
			_, st := s.getJSON("/stats")
			p := st["process"].(map[string]any)
			g, h = p["goroutines"].(float64), p["heapInuseBytes"].(float64)
			return g <= goroutines0+5 && h <= heap0+32<<20
		})
		t.Logf("goroutines %v (baseline %v), heap %.1f MiB (baseline %.1f MiB)", g, goroutines0, h/(1<<20), heap0/(1<<20))
	}
	rawPost := func(url, contentType string, body []byte) int {
		resp, err := http.Post(url, contentType, bytes.NewReader(body))
		if err != nil {
			return -1
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	rawGet := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return -1, err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(data)
	}
	// pollingSession opens a session and returns its URL.
	pollingSession := func(t *testing.T, eio int) string {
		t.Helper()
		status, open := rawGet(fmt.Sprintf("%s?EIO=%d&transport=polling", base, eio))
		i := strings.Index(open, `"sid":"`)
		if status != 200 || i < 0 {
			t.Fatalf("handshake: %d %q", status, open)
		}
		sid := open[i+7 : i+7+strings.Index(open[i+7:], `"`)]
		return fmt.Sprintf("%s?EIO=%d&transport=polling&sid=%s", base, eio, sid)
	}
	dialWS := func(t *testing.T, query string) (net.Conn, io.ReadWriter) {
		t.Helper()
		conn, br, _, err := ws.Dial(context.Background(), "ws://"+host+"/socket.io/?"+query)
		if err != nil {
			t.Fatal(err)
		}
		var rw io.ReadWriter = conn
		if br != nil {
			rw = struct {
				io.Reader
				io.Writer
			}{io.MultiReader(br, conn), conn}
		}
		return conn, rw
	}

	t.Run("garbage bytes", func(t *testing.T) {
		for i := 0; i < 50; i++ {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, 1+rand.IntN(4096))
			for j := range junk {
				junk[j] = byte(rand.IntN(256))
			}
			c.Write(junk)
			// The server answers 400 and closes; junk without a line end waits for the
			// header timeout, which "requests that never finish" checks.
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			io.Copy(io.Discard, c)
			c.Close()
		}
		healthy(t)
	})
	t.Run("truncated and invalid packets over polling", func(t *testing.T) {
		for _, body := range []string{"4", "42[", `42["auth"`, "4\x1e", "\x1e\x1e", "9", "b", "bAAA=", "40/nope", "451-[", "2probe", "6", "5",
			"4\xff\xfe\xfd", `42["\xff\xfe"]`, "1", strings.Repeat("\x1e", 1000)} {
			url := pollingSession(t, 4)
			rawPost(url, "text/plain;charset=UTF-8", []byte(body))
		}
		healthy(t)
	})
	t.Run("absurd v3 length prefixes", func(t *testing.T) {
		for _, body := range []string{"99999999999999999999:4x", "5:4", "1:", ":", "3:40\x00", "-1:4", "2:4x2:4", "\x00\x09\x09\xff4hello",
			"\x01\x99\x99\x99\x99\x99\x99\x99\xff4", "\x00\xff4", "4:4é"} {
			url := pollingSession(t, 3)
			rawPost(url, "application/octet-stream", []byte(body))
			rawPost(url, "text/plain", []byte(body))
		}
		healthy(t)
	})
	t.Run("binary attachment counts that lie", func(t *testing.T) {
		for _, p := range []string{`451-["x",{"_placeholder":true,"num":0}]`, `4999999999-["x"]`, `452-["x",{"_placeholder":true,"num":7}]`, `45-1-["x"]`} {
			conn, rw := dialWS(t, "EIO=4&transport=websocket")
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			wsutil.ReadServerText(rw)
			wsutil.WriteClientText(conn, []byte("40"))
			wsutil.ReadServerText(rw)
			wsutil.WriteClientText(conn, []byte(p))
			// The server drops the connection (or waits for attachments that never come, until
			// the connection ends); either way it must not keep anything afterwards.
			conn.Close()
		}
		healthy(t)
	})
	t.Run("invalid UTF-8 over WebSocket", func(t *testing.T) {
		conn, rw := dialWS(t, "EIO=4&transport=websocket")
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		wsutil.ReadServerText(rw)
		wsutil.WriteClientText(conn, []byte("4\xff\xfe"))
		wsutil.WriteClientText(conn, []byte("40\xc3\x28"))
		conn.Close()
		healthy(t)
	})
	// A byte outside UTF-8 in a message would make a WebSocket text frame every client drops
	// (and comes back to be sent again, for as long as recovery lasts): it becomes U+FFFD, as
	// the original server's JSON.parse made it, and the client stays.
	t.Run("a message that is not UTF-8", func(t *testing.T) {
		s.mustAdmin("/user/send", "{\"userId\":1,\"message\":\"bad \xc3\x28 \xff\"}")
		waitFor(t, 10*time.Second, "the mended message", func() bool {
			m := legit.messages()
			return len(m) > 0 && m[len(m)-1] == "bad \ufffd( \ufffd"
		})
		if n := legit.count("disconnect"); n != 0 {
			t.Errorf("the client was disconnected %d times", n)
		}
		healthy(t)
	})
	t.Run("thousands of bogus sids", func(t *testing.T) {
		for i := 0; i < 2000; i++ {
			sid := fmt.Sprintf("bogus%016x", rand.Uint64())
			if status, _ := rawGet(base + "?EIO=4&transport=polling&sid=" + sid); status != 400 {
				t.Fatalf("unknown sid: %d, want 400", status)
			}
		}
		healthy(t)
	})
	t.Run("upgrade races", func(t *testing.T) {
		for i := 0; i < 20; i++ {
			url := pollingSession(t, 4)
			sid := url[strings.Index(url, "sid=")+4:]
			var wg sync.WaitGroup
			for j := 0; j < 2; j++ { // two upgrades of one session at once
				wg.Add(1)
				go func() {
					defer wg.Done()
					conn, _, _, err := ws.Dial(context.Background(), "ws://"+host+"/socket.io/?EIO=4&transport=websocket&sid="+sid)
					if err != nil {
						return
					}
					conn.SetDeadline(time.Now().Add(2 * time.Second))
					wsutil.WriteClientText(conn, []byte("2probe"))
					wsutil.WriteClientText(conn, []byte("5"))
					conn.Close()
				}()
			}
			wg.Wait()
			// And an upgrade of a session that is gone.
			rawPost(url, "text/plain", []byte("1"))
			if conn, _, _, err := ws.Dial(context.Background(), "ws://"+host+"/socket.io/?EIO=4&transport=websocket&sid="+sid); err == nil {
				conn.Close()
			}
		}
		healthy(t)
	})
	t.Run("ping floods", func(t *testing.T) {
		for _, eio := range []int{3, 4} {
			conn, rw := dialWS(t, fmt.Sprintf("EIO=%d&transport=websocket", eio))
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			wsutil.ReadServerText(rw)
			go io.Copy(io.Discard, rw) // read whatever comes back
			for i := 0; i < 10000; i++ {
				if wsutil.WriteClientText(conn, []byte("2")) != nil {
					break
				}
			}
			conn.Close()
		}
		healthy(t)
	})
	t.Run("connect and disconnect storms", func(t *testing.T) {
		var wg sync.WaitGroup
		for w := 0; w < 10; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					conn, _, _, err := ws.Dial(context.Background(), "ws://"+host+"/socket.io/?EIO=4&transport=websocket")
					if err == nil {
						wsutil.WriteClientText(conn, []byte("40"))
						conn.Close()
					}
					rawGet(base + "?EIO=4&transport=polling")
				}
			}()
		}
		wg.Wait()
		healthy(t)
	})
	// The protocol lets a client leave "/" and connect again on the same connection (the
	// official server allows it, and so do we): each round is a new socket, and nothing of
	// the old ones stays behind. The last one still gets its pushes.
	t.Run("leaving and joining again on one connection", func(t *testing.T) {
		conn, rw := dialWS(t, "EIO=4&transport=websocket")
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(60 * time.Second))
		// next returns the next socket.io packet, answering the server's pings.
		next := func() string {
			for {
				m, err := wsutil.ReadServerText(rw)
				if err != nil {
					t.Fatalf("connection ended: %v", err)
				}
				if string(m) == "2" {
					wsutil.WriteClientText(conn, []byte("3"))
					continue
				}
				return string(m)
			}
		}
		next() // Engine.IO open
		for i := 0; i < 500; i++ {
			wsutil.WriteClientText(conn, []byte(`40{"userId":1,"hash":"legit"}`))
			if m := next(); !strings.HasPrefix(m, `40{"sid":`) {
				t.Fatalf("round %d: CONNECT answered %q", i, m)
			}
			wsutil.WriteClientText(conn, []byte("41"))
		}
		wsutil.WriteClientText(conn, []byte(`40{"userId":1,"hash":"legit"}`))
		if m := next(); !strings.HasPrefix(m, `40{"sid":`) {
			t.Fatalf("last CONNECT answered %q", m)
		}
		s.mustAdmin("/user/send", `{"userId":1,"message":"to the last socket"}`)
		if m := next(); !strings.HasPrefix(m, `42["message","to the last socket"`) {
			t.Fatalf("push after joining again: %q", m)
		}
		wsutil.WriteClientText(conn, []byte("41"))
		healthy(t)
	})
	// The pid of a session (its recovery token) with another user's credentials: the
	// credentials win; the session stays with its user, untouched.
	t.Run("another user's pid with one's own credentials", func(t *testing.T) {
		s.mustAdmin("/user/register", `{"userId":"ra","hash":"ha"}`)
		s.mustAdmin("/user/register", `{"userId":"rb","hash":"hb"}`)
		type rawClient struct {
			conn net.Conn
			rw   io.ReadWriter
		}
		next := func(c rawClient) string {
			for {
				m, err := wsutil.ReadServerText(c.rw)
				if err != nil {
					t.Fatalf("connection ended: %v", err)
				}
				if string(m) != "2" {
					return string(m)
				}
				wsutil.WriteClientText(c.conn, []byte("3"))
			}
		}
		login := func(payload string) (rawClient, string) {
			conn, rw := dialWS(t, "EIO=4&transport=websocket")
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			c := rawClient{conn, rw}
			next(c) // Engine.IO open
			wsutil.WriteClientText(conn, []byte("40"+payload))
			reply := next(c)
			var r struct{ PID string }
			if !strings.HasPrefix(reply, "40{") || json.Unmarshal([]byte(reply[2:]), &r) != nil || r.PID == "" {
				t.Fatalf("CONNECT %s answered %q", payload, reply)
			}
			return c, r.PID
		}
		a, pidA := login(`{"userId":"ra","hash":"ha"}`)
		defer a.conn.Close()
		b, pidB := login(`{"userId":"rb","hash":"hb","pid":"` + pidA + `","offset":"0"}`)
		defer b.conn.Close()
		if pidB == pidA {
			t.Fatal("user rb's credentials resumed user ra's session")
		}
		s.mustAdmin("/user/send", `{"userId":"rb","message":"for rb"}`)
		if m := next(b); !strings.HasPrefix(m, `42["message","for rb"`) {
			t.Fatalf("rb's connection got %q, want rb's message", m)
		}
		s.mustAdmin("/user/send", `{"userId":"ra","message":"for ra"}`)
		if m := next(a); !strings.HasPrefix(m, `42["message","for ra"`) {
			t.Fatalf("ra's connection got %q, want ra's message (not a disconnect)", m)
		}
	})
	t.Run("5 MB bodies", func(t *testing.T) {
		big := bytes.Repeat([]byte("4"), 5<<20)
		if status := rawPost(pollingSession(t, 4), "text/plain", big); status != 413 {
			t.Errorf("5 MB polling POST: %d, want 413", status)
		}
		if status := rawPost(s.adminURL+"/user/send", "application/json", big); status != 413 {
			t.Errorf("5 MB admin body: %d, want 413", status)
		}
		conn, rw := dialWS(t, "EIO=4&transport=websocket")
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		wsutil.ReadServerText(rw)
		wsutil.WriteClientText(conn, big)
		conn.Close()
		healthy(t)
	})
	t.Run("requests that never finish", func(t *testing.T) {
		var conns []net.Conn
		for i := 0; i < 50; i++ {
			c, err := net.Dial("tcp", host)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\nX-Slow: "))
			conns = append(conns, c)
		}
		healthy(t) // served while they hang
		// The header timeout closes them.
		for _, c := range conns {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			start := time.Now()
			io.Copy(io.Discard, c)
			if time.Since(start) > 25*time.Second {
				t.Fatal("a request that never finished was never closed")
			}
			c.Close()
		}
		healthy(t)
	})
}

// TestLimits: each optional limit refuses politely beyond its bound.
func TestLimits(t *testing.T) {
	requireNode(t)
	s := startServer(t, "", "limits: { maxConnections: 3, maxSessionsPerUser: 1, handshakesPerSecondPerIP: 1000 },")
	s.mustAdmin("/user/register", `{"userId":1,"hash":"h"}`)
	first := startClient(t, "first", clientSpec{URL: s.clientURL, Auth: []any{1, "h"}, Ack: true, Opts: map[string]any{"transports": []string{"websocket"}}})
	if ack := first.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
		t.Fatalf("first session: %v", ack)
	}
	second := startClient(t, "second", clientSpec{URL: s.clientURL, Auth: []any{1, "h"}, Ack: true, Opts: map[string]any{"transports": []string{"websocket"}, "reconnection": false}})
	if ack := second.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"error":"too many sessions for this user","ok":false}` {
		t.Fatalf("second session of the user: %v", ack)
	}
	second.waitEvent("disconnect", 5*time.Second)

	// maxConnections: 3 open; the 4th gets a 503.
	host := strings.TrimPrefix(s.clientURL, "http://")
	var held []net.Conn
	for len(held) < 2 {
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	waitFor(t, 5*time.Second, "a 503 beyond the connection cap", func() bool {
		resp, err := http.Get(s.clientURL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 503
	})
	for _, c := range held {
		c.Close()
	}

	// handshakesPerSecondPerIP
	s2 := startServer(t, "", "limits: { handshakesPerSecondPerIP: 5 },")
	refused := 0
	for i := 0; i < 20; i++ {
		resp, err := http.Get(s2.clientURL + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == 429 {
			refused++
		}
	}
	if refused < 10 {
		t.Fatalf("%d of 20 handshakes in a burst refused, want at least 10 with a limit of 5/s", refused)
	}
}

// TestAuthFailuresPerIP: an address that keeps failing is refused at once, even with the
// right hash, for the rest of the minute; other users of the server are not affected.
func TestAuthFailuresPerIP(t *testing.T) {
	requireNode(t)
	s := startServer(t, "", "limits: { authFailuresPerMinutePerIP: 3 },")
	s.mustAdmin("/user/register", `{"userId":1,"hash":"right"}`)
	for i := 0; i < 3; i++ {
		c := startClient(t, fmt.Sprint("guess ", i), clientSpec{URL: s.clientURL, Auth: []any{1, fmt.Sprint("guess", i)}, Ack: true,
			Opts: map[string]any{"transports": []string{"websocket"}, "reconnection": false}})
		if ack := c.waitEvent("auth-ack", 10*time.Second); jsonString(ack["res"]) != `{"error":"unauthorized","ok":false}` {
			t.Fatalf("guess %d: %v", i, ack)
		}
	}
	c := startClient(t, "right after guesses", clientSpec{URL: s.clientURL, Auth: []any{1, "right"}, Ack: true,
		Opts: map[string]any{"transports": []string{"websocket"}, "reconnection": false}})
	ack := c.waitEvent("auth-ack", 10*time.Second)
	if res, _ := ack["res"].(map[string]any); res["ok"] != false || !strings.Contains(fmt.Sprint(res["error"]), "too many failed") {
		t.Fatalf("after 3 failures from the address: %v", ack)
	}
}

// TestAdminPortWarnsAndTimesOut: an admin port beyond loopback without a token is warned about
// at start, and a request that never finishes on the admin port is closed too.
func TestAdminPortWarnsAndTimesOut(t *testing.T) {
	adminPort, clientPort := freePort(t), freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`{"pidfile":%q,"admin":{"host":"0.0.0.0","port":%d},"client":{"host":"127.0.0.1","port":%d}}`, dir+"/pid", adminPort, clientPort)
	os.WriteFile(dir+"/p.conf", []byte(cfg), 0o600)
	s := startWithConfig(t, dir+"/p.conf", fmt.Sprintf("http://127.0.0.1:%d", adminPort), fmt.Sprintf("http://127.0.0.1:%d", clientPort))
	if !strings.Contains(s.out.String(), "admin port listens beyond loopback without admin.token") {
		t.Fatalf("no warning for an open admin port:\n%s", s.out)
	}
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("POST /user/send HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"userId\":"))
	c.SetReadDeadline(time.Now().Add(45 * time.Second))
	start := time.Now()
	data, _ := io.ReadAll(c)
	if time.Since(start) > 40*time.Second {
		t.Fatal("an admin request that never finished was never closed")
	}
	t.Logf("closed after %v with %q", time.Since(start).Round(time.Second), firstLine(string(data)))
	s.mustAdmin("/user/register", `{"userId":1,"hash":"h"}`)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
