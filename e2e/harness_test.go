// Package e2e drives the real pushinator binary on real ports with the official socket.io
// clients from npm (e2e/node), curl and plain HTTP, as a user would.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the pushinator built once for the whole run.
var binary string

// nodeModules is where .ci/run (npm ci --prefix e2e/node) installs the test clients.
var nodeModules string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pushinator-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "pushinator")
	build := exec.Command("go", "build", "-o", binary, "..")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building pushinator:", err)
		os.Exit(1)
	}
	nodeModules, _ = filepath.Abs("node/node_modules")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireNode fails (not skips) the test when the npm clients are missing: CI installs them.
func requireNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not installed: the end-to-end tests need Node.js and `npm ci --prefix e2e/node`")
	}
	if _, err := os.Stat(filepath.Join(nodeModules, "socket.io-client")); err != nil {
		t.Fatalf("the npm test clients are missing: run `npm ci --prefix e2e/node` (%v)", err)
	}
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t *testing.T) int {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if _, taken := portsHandedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
}

// portsHandedOut is every port freePort returned in this test process. The kernel may offer
// a port it just offered again once its listener is closed, which once gave a server the same
// admin and client port (CI: "35075 is both admin.port and client.port"). Ports are the
// process's, so this set is too.
var portsHandedOut sync.Map

// server is one running pushinator.
type server struct {
	t          *testing.T
	cmd        *exec.Cmd
	adminURL   string
	clientURL  string
	configPath string
	out        *syncBuffer
	exited     chan struct{}
	exitErr    error
}

// syncBuffer collects the server's output for assertions while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serverConfig is the JS-style config the tests start from: pidfile, admin and client ports,
// extra client keys, extra top-level keys.
const serverConfig = `module.exports = {
	pidfile: '%s',
	admin: { host: '127.0.0.1', port: %d },
	client: { host: '127.0.0.1', port: %d, %s },
	log: { debug: true },
	%s
}
`

// startServer runs pushinator with the given extra client and top-level config text and waits
// until /health answers.
func startServer(t *testing.T, clientExtra, topExtra string) *server {
	t.Helper()
	adminPort, clientPort := freePort(t), freePort(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(serverConfig, filepath.Join(dir, "pushinator.pid"), adminPort, clientPort, clientExtra, topExtra)
	path := filepath.Join(dir, "pushinator.conf")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	scheme := "http"
	if strings.Contains(clientExtra, "useSSL: true") {
		scheme = "https"
	}
	return startWithConfig(t, path, fmt.Sprintf("http://127.0.0.1:%d", adminPort), fmt.Sprintf("%s://127.0.0.1:%d", scheme, clientPort))
}

func startWithConfig(t *testing.T, path, adminURL, clientURL string) *server {
	t.Helper()
	s := &server{t: t, adminURL: adminURL, clientURL: clientURL, configPath: path, out: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(binary, "-c", path)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.stop)
	waitFor(t, 10*time.Second, "the admin port to answer /health", func() bool {
		select {
		case <-s.exited:
			t.Fatalf("pushinator exited during start: %v\n%s", s.exitErr, s.out)
		default:
		}
		resp, err := http.Get(s.adminURL + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop() {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.exitErr != nil {
			s.t.Errorf("pushinator exited with %v after SIGTERM\n%s", s.exitErr, s.out)
		}
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		s.t.Errorf("pushinator did not exit within 15 s of SIGTERM\n%s", s.out)
	}
}

// admin posts body to the admin API and returns the status and decoded reply.
func (s *server) admin(path, body string) (int, map[string]any) {
	s.t.Helper()
	resp, err := http.Post(s.adminURL+path, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		s.t.Fatalf("admin %s: reply is not JSON: %q", path, data)
	}
	return resp.StatusCode, out
}

// mustAdmin is admin for calls that must succeed.
func (s *server) mustAdmin(path, body string) map[string]any {
	s.t.Helper()
	status, out := s.admin(path, body)
	if status != 200 {
		s.t.Fatalf("admin %s %s: %d %v", path, body, status, out)
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client is one node process running testdata/client.js.
type client struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	events []map[string]any
	stderr *syncBuffer
	seen   int // events consumed by next()
}

// clientSpec is client.js's argument.
type clientSpec struct {
	Lib  string         `json:"lib,omitempty"`
	URL  string         `json:"url"`
	Opts map[string]any `json:"opts,omitempty"`
	Auth []any          `json:"auth,omitempty"`
	Ack  bool           `json:"ack,omitempty"`
	// BlockMs keeps the client's event loop busy that long after its first connect.
	BlockMs int `json:"blockMs,omitempty"`
}

func startClient(t *testing.T, name string, spec clientSpec) *client {
	t.Helper()
	requireNode(t)
	arg, _ := json.Marshal(spec)
	return startNode(t, name, "testdata/client.js", string(arg))
}

// startNode runs a node script whose stdout is JSON lines.
func startNode(t *testing.T, name, script string, args ...string) *client {
	t.Helper()
	requireNode(t)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nodeModules, "NODE_TLS_REJECT_UNAUTHORIZED=0", "NODE_NO_WARNINGS=1")
	return startProcess(t, name, cmd, 0)
}

// startProcess runs a client program whose stdout is JSON lines, each becoming one of the
// client's events. At the end of the test its stdin is closed; it gets grace to exit by
// itself, then it is killed.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, grace time.Duration) *client {
	t.Helper()
	c := &client{t: t, name: name, cmd: cmd, stderr: &syncBuffer{}}
	c.cmd.Stderr = c.stderr
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var ev map[string]any
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				ev = map[string]any{"type": "stdout", "line": sc.Text()}
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { c.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(grace):
			c.cmd.Process.Kill()
			<-done
		}
	})
	return c
}

func (c *client) send(cmd map[string]any) {
	data, _ := json.Marshal(cmd)
	c.stdin.Write(append(data, '\n'))
}

func (c *client) all() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.events...)
}

// waitEvent waits for the next event (after those already consumed) of the given type and
// returns it; events of other types in between are consumed too.
func (c *client) waitEvent(typ string, timeout time.Duration) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for c.seen < len(c.events) {
			ev := c.events[c.seen]
			c.seen++
			if ev["type"] == typ {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for client %s to see %q; it saw %v; stderr: %s", timeout, c.name, typ, c.all(), c.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// messages returns the arguments of every "message" event the client has seen so far.
func (c *client) messages() []any {
	var out []any
	for _, ev := range c.all() {
		if ev["type"] == "event" && ev["event"] == "message" {
			args := ev["args"].([]any)
			out = append(out, args[0])
		}
	}
	return out
}

// count returns how many events of a type the client has seen.
func (c *client) count(typ string) int {
	n := 0
	for _, ev := range c.all() {
		if ev["type"] == typ {
			n++
		}
	}
	return n
}

func jsonString(v any) string {
	data, _ := json.Marshal(v)
	return string(data)
}

// waitSessions waits until the server counts n authenticated sessions.
func (s *server) waitSessions(n int) {
	s.t.Helper()
	waitFor(s.t, 10*time.Second, fmt.Sprintf("%d authenticated sessions", n), func() bool {
		resp, err := http.Get(s.adminURL + "/stats")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct{ Sessions int }
		json.NewDecoder(resp.Body).Decode(&st)
		return st.Sessions == n
	})
}

// getJSON GETs an admin path and decodes the reply.
func (s *server) getJSON(path string) (int, map[string]any) {
	s.t.Helper()
	resp, err := http.Get(s.adminURL + path)
	if err != nil {
		s.t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
