package e2e

// Foreground logging as an operator reads it on stdout: one line per event, debug lines only
// with log.debug (switchable with SIGHUP), and never a hash or a token.

import (
	"fmt"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startForeground runs `pushinator -c conf` for setup s and waits until the admin port
// answers /health (with the token, if any).
func startForeground(t *testing.T, s *setup, token string) *server {
	t.Helper()
	srv := &server{t: t, adminURL: s.adminURL, clientURL: s.clientURL, configPath: s.conf, out: &syncBuffer{}, exited: make(chan struct{})}
	srv.cmd = exec.Command(binary, "-c", s.conf)
	srv.cmd.Stdout, srv.cmd.Stderr = srv.out, srv.out
	if err := srv.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { srv.exitErr = srv.cmd.Wait(); close(srv.exited) }()
	t.Cleanup(srv.stop)
	waitFor(t, 10*time.Second, "the admin port to answer /health", func() bool {
		select {
		case <-srv.exited:
			t.Fatalf("pushinator exited during start: %v\n%s", srv.exitErr, srv.out)
		default:
		}
		code, _ := adminCall(srv.adminURL, "GET", "/health", "", token)
		return code == 200
	})
	return srv
}

// adminCall makes one admin request with an optional bearer token; code 0 on network error.
func adminCall(base, method, path, body, token string) (int, string) {
	req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

// logLine is slog's text format: time, level, message, attributes.
var logLine = regexp.MustCompile(`^time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=("([^"\\]|\\.)*"|\S+)( \S+=("([^"\\]|\\.)*"|\S*))*$`)

// waitLog waits until the server's output contains substr, and returns the output.
func (s *server) waitLog(substr string) string {
	s.t.Helper()
	var out string
	waitFor(s.t, 10*time.Second, fmt.Sprintf("%q in the log", substr), func() bool {
		out = s.out.String()
		return strings.Contains(out, substr)
	})
	return out
}

// hup sends SIGHUP and waits for the n-th "reloaded" line, which says debug=want. Lines
// logged before the signal are then in the output (one ordered pipe).
func (s *server) hup(n int, want bool) string {
	s.t.Helper()
	s.cmd.Process.Signal(syscall.SIGHUP)
	var out string
	waitFor(s.t, 10*time.Second, fmt.Sprintf("reload #%d in the log", n), func() bool {
		out = s.out.String()
		return strings.Count(out, `msg=reloaded`) >= n
	})
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "msg=reloaded") {
			if !strings.Contains(lines[i], fmt.Sprintf("debug=%t", want)) {
				s.t.Fatalf("reload line %q, want debug=%t", lines[i], want)
			}
			break
		}
	}
	return out
}

func TestForegroundLogging(t *testing.T) {
	const (
		token     = "tok-SECRET-4242"
		hash      = "hash-SECRET-7777"
		wrongHash = "wrong-SECRET-8888"
	)
	conf := confOpts{top: "bogusKey: 1,", admin: fmt.Sprintf("token: '%s'", token)}
	s := newSetup(t, conf)
	srv := startForeground(t, s, token)
	srv.waitLog("pushinator started")

	admin := func(path, body string, want int) {
		t.Helper()
		if code, out := adminCall(s.adminURL, "POST", path, body, token); code != want {
			t.Fatalf("admin %s: %d %s, want %d", path, code, out, want)
		}
	}
	admin("/user/register", fmt.Sprintf(`{"userId":5,"hash":%q}`, hash), 200)
	// Things that get logged with secrets close by: a wrong token, a bad body, wrong hashes.
	if code, _ := adminCall(s.adminURL, "POST", "/user/register", `{"userId":6,"hash":"x"}`, "not-"+token); code != 401 {
		t.Fatalf("a wrong token got %d", code)
	}
	admin("/user/register", fmt.Sprintf(`{"userId":5,"hash":%q`, hash), 400)
	admin("/user/register", fmt.Sprintf(`{"userId":[1],"hash":%q}`, hash), 400)
	// Wait for the disconnect, not the ack: socket.io-client 4 drops an ack that arrives in
	// the same polling payload as the close packet (see the report).
	bad := startClient(t, "bad", clientSpec{URL: s.clientURL, Auth: []any{5, wrongHash}, Ack: true, Opts: map[string]any{"reconnection": false}})
	bad.waitEvent("disconnect", 15*time.Second)
	badHS := startClient(t, "bad handshake", clientSpec{URL: s.clientURL, Opts: map[string]any{"reconnection": false, "auth": map[string]any{"userId": 5, "hash": wrongHash}}})
	badHS.waitEvent("connect_error", 15*time.Second)
	c := authedClient(t, "good", s.clientURL, 5, hash, map[string]any{"transports": []string{"websocket"}})
	admin("/user/send", `{"userId":5,"message":"m"}`, 200)
	c.waitEvent("event", 10*time.Second)

	probe := func(name string) {
		c.send(map[string]any{"cmd": "emit", "event": name, "ack": true})
		c.waitEvent("ack", 10*time.Second)
	}
	probe("probe-off-1")
	out := srv.hup(1, false)
	if strings.Contains(out, "level=DEBUG") {
		t.Fatalf("debug lines with log.debug false:\n%s", out)
	}

	// SIGHUP with log.debug switched on, then off again.
	conf.debug = true
	s.write(conf)
	srv.hup(2, true)
	probe("probe-on")
	out = srv.hup(3, true)
	if !regexp.MustCompile(`level=DEBUG msg="ignoring client event" event=probe-on`).MatchString(out) {
		t.Fatalf("no debug line for the probe with log.debug true:\n%s", out)
	}
	conf.debug = false
	s.write(conf)
	srv.hup(4, false)
	probe("probe-off-2")
	out = srv.hup(5, false)
	if strings.Contains(out, "event=probe-off-2") || strings.Contains(out, "event=probe-off-1") {
		t.Fatalf("debug lines after switching log.debug off:\n%s", out)
	}

	srv.stop()
	out = srv.out.String()
	for _, want := range []string{
		"level=WARN", `unknown key \"bogusKey\"`, // warnings reach the log too
		"auth refused", "admin request refused", "msg=\"shutting down\"", `msg="pushinator stopped"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if strings.Contains(out, "SECRET") {
		t.Errorf("a hash or token reached the log:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !logLine.MatchString(line) {
			t.Errorf("not one slog text line: %q", line)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", out)
	}
}

// TestForegroundSIGINT: Ctrl-C in a terminal stops the server gracefully: clients get an
// Engine.IO close, the pidfile goes, exit 0.
func TestForegroundSIGINT(t *testing.T) {
	s := newSetup(t, confOpts{})
	srv := startForeground(t, s, "")
	s.pid() // the foreground server writes the pidfile too: status and stop work on it
	srv.mustAdmin("/user/register", `{"userId":1,"hash":"h"}`)
	c := authedClient(t, "c", s.clientURL, 1, "h", map[string]any{"transports": []string{"polling"}, "reconnection": false})
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", srv.cmd.Process.Pid))

	start := time.Now()
	srv.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-srv.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGINT")
	}
	t.Logf("exit %v after SIGINT", time.Since(start))
	if srv.exitErr != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", srv.exitErr, srv.out)
	}
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "transport close" {
		t.Fatalf("the client saw %v, want \"transport close\"", ev)
	}
	s.noPIDFile()
	if out := srv.out.String(); !strings.Contains(out, `msg="shutting down" signal=interrupt`) {
		t.Fatalf("log:\n%s", out)
	}
}

// TestSIGTERMWithAbandonedSession: a polling client that vanished without closing (its
// session waits for a poll that never comes) must not hold up the shutdown nor turn it into
// a failure: exit 0, within the bound, while the live client still gets its close.
func TestSIGTERMWithAbandonedSession(t *testing.T) {
	s := newSetup(t, confOpts{})
	srv := startForeground(t, s, "")
	resp, err := http.Get(s.clientURL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("handshake: %d", resp.StatusCode)
	}
	srv.mustAdmin("/user/register", `{"userId":1,"hash":"h"}`)
	c := authedClient(t, "live", s.clientURL, 1, "h", map[string]any{"transports": []string{"polling"}, "reconnection": false})

	start := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-srv.exited:
	case <-time.After(15 * time.Second):
		t.Fatal("no exit within 15 s of SIGTERM")
	}
	took := time.Since(start)
	t.Logf("exit %v after SIGTERM", took)
	if srv.exitErr != nil {
		t.Fatalf("exit after SIGTERM with an abandoned session: %v\n%s", srv.exitErr, srv.out)
	}
	if took > 8*time.Second {
		t.Errorf("shutdown took %v", took)
	}
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "transport close" {
		t.Fatalf("the live client saw %v, want \"transport close\"", ev)
	}
	s.noPIDFile()
}
