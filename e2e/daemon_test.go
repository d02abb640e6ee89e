package e2e

// Daemon mode through the real binary: pushinator start|stop|restart|status as an init script
// or an operator runs them, with the pidfile, the LSB status codes, signals and syslog.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// setup is one config file in a temp dir with its own pidfile and free loopback ports.
type setup struct {
	t                     *testing.T
	dir, conf, pidfile    string
	adminPort, clientPort int
	adminURL, clientURL   string
}

// confOpts is what varies between the configs the tests write.
type confOpts struct {
	debug  bool
	admin  string // extra keys of the admin section
	client string // extra keys of the client section
	log    string // extra keys of the log section (syslog)
	top    string // extra top-level keys
	scheme string // "https" when client has useSSL
}

// newSetup writes a config and makes sure no daemon started from it outlives the test.
func newSetup(t *testing.T, o confOpts) *setup {
	t.Helper()
	dir := t.TempDir()
	s := &setup{t: t, dir: dir, conf: filepath.Join(dir, "pushinator.conf"), pidfile: filepath.Join(dir, "pushinator.pid"),
		adminPort: freePort(t), clientPort: freePort(t)}
	scheme := o.scheme
	if scheme == "" {
		scheme = "http"
	}
	s.adminURL = fmt.Sprintf("http://127.0.0.1:%d", s.adminPort)
	s.clientURL = fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.clientPort)
	s.write(o)
	t.Cleanup(s.cleanup)
	return s
}

// write (re)writes the config with the same pidfile and ports.
func (s *setup) write(o confOpts) {
	s.t.Helper()
	cfg := fmt.Sprintf(`module.exports = {
	pidfile: '%s',
	admin: { host: '127.0.0.1', port: %d, %s },
	client: { host: '127.0.0.1', port: %d, %s },
	log: { debug: %t, %s },
	%s
}
`, s.pidfile, s.adminPort, o.admin, s.clientPort, o.client, o.debug, o.log, o.top)
	// Write then rename: a SIGHUP never reads half a file.
	tmp := s.conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(cfg), 0o600); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.conf); err != nil {
		s.t.Fatal(err)
	}
}

// cleanup stops the daemon like an operator would, then kills whatever still runs from this
// config (a test that failed half-way), and fails the test if something had to be killed.
func (s *setup) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, binary, "stop", "-c", s.conf).Run()
	for _, pid := range daemonsOf(s.conf) {
		syscall.Kill(pid, syscall.SIGKILL)
		s.t.Errorf("pid %d (pushinator -c %s) was still running after `pushinator stop`; killed it", pid, s.conf)
	}
}

// run runs the binary with args and returns its stdout, stderr and exit code.
func (s *setup) run(args ...string) (stdout, stderr string, code int) {
	s.t.Helper()
	return runBinary(s.t, args...)
}

func runBinary(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runBinaryIn(t, "", args...)
}

// runBinaryIn runs the binary in directory dir ("" for the test's own).
func runBinaryIn(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		code = exit.ExitCode()
	default:
		t.Fatalf("pushinator %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, &out, &errOut)
	}
	return out.String(), errOut.String(), code
}

// mustRun runs a command that must exit with want.
func (s *setup) mustRun(want int, args ...string) (stdout, stderr string) {
	s.t.Helper()
	stdout, stderr, code := s.run(args...)
	if code != want {
		s.t.Fatalf("pushinator %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout, stderr
}

// start runs `pushinator start` and returns the daemon's pid, checking what start promises:
// exit 0, a pidfile naming a live process, both ports listening at once.
func (s *setup) start() int {
	s.t.Helper()
	out, _ := s.mustRun(0, "start", "-c", s.conf)
	pid := s.pid()
	if want := fmt.Sprintf("pushinator started (pid %d)", pid); !strings.Contains(out, want) {
		s.t.Fatalf("start said %q, want %q", out, want)
	}
	if !processAlive(pid) {
		s.t.Fatalf("start returned 0 but pid %d from the pidfile is not running", pid)
	}
	// No polling: start returns only once both ports listen.
	for _, port := range []int{s.adminPort, s.clientPort} {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 2*time.Second)
		if err != nil {
			s.t.Fatalf("start returned 0 but port %d does not accept: %v", port, err)
		}
		c.Close()
	}
	return pid
}

// pid reads the pidfile, which must exist.
func (s *setup) pid() int {
	s.t.Helper()
	b, err := os.ReadFile(s.pidfile)
	if err != nil {
		s.t.Fatalf("pidfile: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		s.t.Fatalf("pidfile holds %q, want a pid", b)
	}
	return pid
}

// status runs `pushinator status` and checks it printed exactly one line.
func (s *setup) status() (line string, code int) {
	s.t.Helper()
	out, errOut, code := s.run("status", "-c", s.conf)
	if strings.Count(out, "\n") != 1 || errOut != "" {
		s.t.Fatalf("status printed %q (stderr %q), want one line", out, errOut)
	}
	return strings.TrimSpace(out), code
}

func (s *setup) wantStatus(code int, line string) {
	s.t.Helper()
	got, c := s.status()
	if c != code || got != line {
		s.t.Fatalf("status: %q exit %d, want %q exit %d", got, c, line, code)
	}
}

func (s *setup) noPIDFile() {
	s.t.Helper()
	if b, err := os.ReadFile(s.pidfile); err == nil {
		s.t.Fatalf("pidfile %s still exists (%q)", s.pidfile, b)
	}
}

// adminPost posts to the daemon's admin API and returns the status and body.
func (s *setup) adminPost(path, body string) (int, string) {
	s.t.Helper()
	resp, err := http.Post(s.adminURL+path, "application/json", strings.NewReader(body))
	if err != nil {
		s.t.Fatalf("admin %s: %v", path, err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func (s *setup) mustAdmin(path, body string) string {
	s.t.Helper()
	code, out := s.adminPost(path, body)
	if code != 200 {
		s.t.Fatalf("admin %s %s: %d %s", path, body, code, out)
	}
	return out
}

// processAlive: some thread of pid has not exited. The main thread of a Go program killed
// by a signal can be a zombie while its other threads still hold its ports.
func processAlive(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return false
	}
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X' {
			return true
		}
	}
	return false
}

// mainThreadAlive: the main thread of pid is there and not a zombie.
func mainThreadAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// sessionOf reads the session id of pid from /proc/PID/stat (field 6).
func sessionOf(pid int) int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid pgrp session ...
	if len(f) < 4 {
		return 0
	}
	sid, _ := strconv.Atoi(f[3])
	return sid
}

// waitGone waits until pid has exited.
func waitGone(t *testing.T, pid int, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("pid %d to exit", pid), func() bool { return !processAlive(pid) })
}

// daemonsOf lists the live processes running our binary with this config file: what a test
// must never leave behind.
func daemonsOf(conf string) []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[0] != binary || !processAlive(pid) {
			continue
		}
		for _, a := range args[1:] {
			if a == conf {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// authedClient starts a socket.io client that authenticates as user/hash and waits for the
// ack. reconnection stays on: socket.io clients go to the next instance by themselves.
func authedClient(t *testing.T, name, url string, user int, hash string, opts map[string]any) *client {
	t.Helper()
	c := startClient(t, name, clientSpec{URL: url, Auth: []any{user, hash}, Ack: true, Opts: opts})
	if ack := c.waitEvent("auth-ack", 15*time.Second); jsonString(ack["res"]) != `{"ok":true}` {
		t.Fatalf("client %s: auth ack %v", name, ack)
	}
	return c
}

// wantPush sends message to user through the admin API and waits for client c to get it.
func wantPush(t *testing.T, s *setup, c *client, user int, message string) {
	t.Helper()
	out := s.mustAdmin("/user/send", fmt.Sprintf(`{"userId":%d,"message":%q}`, user, message))
	if !strings.Contains(out, `"delivered":1`) {
		t.Fatalf("send %q: %s, want delivered 1", message, out)
	}
	for {
		ev := c.waitEvent("event", 10*time.Second)
		if ev["event"] == "message" && ev["args"].([]any)[0] == message {
			return
		}
	}
}

func TestDaemonLifecycle(t *testing.T) {
	s := newSetup(t, confOpts{})
	s.wantStatus(3, "pushinator is not running")
	pid := s.start()
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", pid))

	// A daemon: its own session, working directory "/", stdio on /dev/null (no syslog
	// configured: it logs nowhere), and the pidfile's directory holds no leftover temp file.
	if sid := sessionOf(pid); sid != pid {
		t.Errorf("the daemon's session is %d, want its own (%d): it did not detach", sid, pid)
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != "/" {
		t.Errorf("the daemon runs in %q, want /", cwd)
	}
	for fd := 0; fd <= 2; fd++ {
		if target, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%d", pid, fd)); target != "/dev/null" {
			t.Errorf("the daemon's fd %d is %q, want /dev/null", fd, target)
		}
	}
	if entries, _ := os.ReadDir(s.dir); len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the pidfile's directory holds %v, want only the config and the pidfile", names)
	}

	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	// Polling only: a proper Engine.IO close reaches a polling client as "transport close",
	// a dropped connection as "transport error".
	c := authedClient(t, "c", s.clientURL, 5, "xxx1234", map[string]any{"transports": []string{"polling"}, "reconnection": false})
	wantPush(t, s, c, 5, "hello from the daemon")

	out, _ := s.mustRun(0, "stop", "-c", s.conf)
	if want := fmt.Sprintf("pushinator stopped (pid %d)", pid); strings.TrimSpace(out) != want {
		t.Fatalf("stop said %q, want %q", out, want)
	}
	if processAlive(pid) {
		t.Fatalf("stop returned but pid %d still runs", pid)
	}
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "transport close" {
		t.Fatalf("the client saw %v at stop, want reason \"transport close\" (an Engine.IO close)", ev)
	}
	s.noPIDFile()
	s.wantStatus(3, "pushinator is not running")
}

func TestDaemonStartTwice(t *testing.T) {
	s := newSetup(t, confOpts{})
	pid := s.start()
	_, errOut := s.mustRun(1, "start", "-c", s.conf)
	if !strings.Contains(errOut, fmt.Sprintf("pushinator: start: already running (pid %d)\n", pid)) {
		t.Fatalf("second start said %q, want it to say already running (pid %d)", errOut, pid)
	}
	if got := s.pid(); got != pid || !processAlive(pid) {
		t.Fatalf("after the refused start the pidfile names %d (alive %v), want the first daemon %d", got, processAlive(pid), pid)
	}
	if pids := daemonsOf(s.conf); len(pids) != 1 {
		t.Fatalf("daemons running: %v, want only %d", pids, pid)
	}
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", pid))
	s.mustRun(0, "stop", "-c", s.conf)
}

func TestDaemonStalePIDFile(t *testing.T) {
	s := newSetup(t, confOpts{})

	// kill -9: nothing removes the pidfile.
	pid := s.start()
	syscall.Kill(pid, syscall.SIGKILL)
	// What ps shows: gone or <defunct>. Its last threads may still hold the ports for a few
	// milliseconds; start must cope.
	waitFor(t, 5*time.Second, "the main thread to die", func() bool { return !mainThreadAlive(pid) })
	pid2 := s.start()
	if pid2 == pid {
		t.Fatalf("start after kill -9 reused pid %d", pid)
	}
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", pid2))
	syscall.Kill(pid2, syscall.SIGKILL)
	waitGone(t, pid2, 5*time.Second)
	s.wantStatus(1, "pushinator is dead but pidfile exists")
	s.start()
	s.mustRun(0, "stop", "-c", s.conf)

	// The pid of another program (a reused pid): not ours, never signalled, never blocks start.
	other := exec.Command("sleep", "60")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	os.WriteFile(s.pidfile, []byte(strconv.Itoa(other.Process.Pid)+"\n"), 0o644)
	s.wantStatus(1, "pushinator is dead but pidfile exists")
	pid3 := s.start()
	if pid3 == other.Process.Pid {
		t.Fatal("the pidfile still names the other program")
	}
	s.mustRun(0, "stop", "-c", s.conf)
	if !processAlive(other.Process.Pid) {
		t.Fatal("start or stop signalled the other program named by the stale pidfile")
	}

	// The pid of another pushinator (another config) that started after this pidfile was
	// written: a reused pid, not this instance. Neither blocked by it nor signalling it.
	b := newSetup(t, confOpts{})
	pidB := b.start()
	t.Cleanup(func() { syscall.Kill(pidB, syscall.SIGKILL) })
	os.WriteFile(s.pidfile, []byte(strconv.Itoa(pidB)+"\n"), 0o644)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(s.pidfile, old, old)
	s.wantStatus(1, "pushinator is dead but pidfile exists")
	pid4 := s.start()
	if pid4 == pidB {
		t.Fatal("the pidfile still names the other instance")
	}
	s.mustRun(0, "stop", "-c", s.conf)
	os.WriteFile(s.pidfile, []byte(strconv.Itoa(pidB)+"\n"), 0o644)
	os.Chtimes(s.pidfile, old, old)
	s.mustRun(0, "stop", "-c", s.conf)
	if !processAlive(pidB) {
		t.Fatal("stop of one instance killed another instance named by its stale pidfile")
	}
	b.mustRun(0, "stop", "-c", b.conf)

	// An empty pidfile is stale too.
	os.WriteFile(s.pidfile, []byte("\n"), 0o644)
	s.wantStatus(1, "pushinator is dead but pidfile exists")
	s.start()
	s.mustRun(0, "stop", "-c", s.conf)
	s.noPIDFile()

	// Other content: the path may name somebody's file by mistake. start and stop say so and
	// leave it as it is.
	os.WriteFile(s.pidfile, []byte("not a pid\n"), 0o644)
	s.wantStatus(1, "pushinator is dead but pidfile exists")
	for _, cmd := range []string{"start", "stop"} {
		if _, errOut := s.mustRun(1, cmd, "-c", s.conf); !strings.Contains(errOut, "holds something other than a pid") {
			t.Fatalf("%s over a file that is not a pidfile: %s", cmd, errOut)
		}
	}
	if b, _ := os.ReadFile(s.pidfile); string(b) != "not a pid\n" {
		t.Fatalf("the file was changed: %q", b)
	}
}

func TestDaemonStartOnTakenPort(t *testing.T) {
	for _, which := range []string{"admin", "client"} {
		t.Run(which, func(t *testing.T) {
			s := newSetup(t, confOpts{})
			port := s.adminPort
			if which == "client" {
				port = s.clientPort
			}
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			start := time.Now()
			_, errOut := s.mustRun(1, "start", "-c", s.conf)
			want := fmt.Sprintf("pushinator: start: %s port: listen tcp 127.0.0.1:%d: bind: address already in use", which, port)
			if !strings.Contains(errOut, want) {
				t.Fatalf("start on a taken %s port said %q, want it to contain %q", which, errOut, want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("start took %v to report the taken port", d)
			}
			s.noPIDFile()
			if pids := daemonsOf(s.conf); len(pids) != 0 {
				t.Fatalf("a failed start left processes %v", pids)
			}
			s.wantStatus(3, "pushinator is not running")
		})
	}
}

func TestDaemonStartInvalidConfig(t *testing.T) {
	s := newSetup(t, confOpts{top: "delivery: { bufferSize: 'lots' },"})
	out, errOut := s.mustRun(1, "start", "-c", s.conf)
	want := fmt.Sprintf("config: %s:6: delivery.bufferSize: expected", s.conf)
	if !strings.Contains(errOut, want) || out != "" {
		t.Fatalf("start with a bad config said %q / %q, want stderr to contain %q", out, errOut, want)
	}
	s.noPIDFile()
	if pids := daemonsOf(s.conf); len(pids) != 0 {
		t.Fatalf("a failed start left processes %v", pids)
	}
	// Syslog asked for but unreachable: the daemon would log into the void, so it refuses.
	sock := filepath.Join(s.dir, "nobody.sock")
	s.write(confOpts{log: fmt.Sprintf("syslog: { enable: true, address: 'unixgram:%s' }", sock)})
	_, errOut = s.mustRun(1, "start", "-c", s.conf)
	if !strings.Contains(errOut, "syslog") || !strings.Contains(errOut, sock) {
		t.Fatalf("start with an unreachable syslog said %q, want the syslog address named", errOut)
	}
	s.noPIDFile()
}

func TestDaemonStopWhenNotRunning(t *testing.T) {
	s := newSetup(t, confOpts{})
	out, _ := s.mustRun(0, "stop", "-c", s.conf)
	if strings.TrimSpace(out) != "pushinator is not running" {
		t.Fatalf("stop said %q", out)
	}
	// A pidfile left by a crash is cleaned up by stop too.
	os.WriteFile(s.pidfile, []byte("999999\n"), 0o644) // above any pid_max default
	s.mustRun(0, "stop", "-c", s.conf)
	s.noPIDFile()
	s.wantStatus(3, "pushinator is not running")
}

func TestDaemonRestartKeepsWorking(t *testing.T) {
	s := newSetup(t, confOpts{})
	pid := s.start()
	s.mustAdmin("/user/register", `{"userId":7,"hash":"seven"}`)
	// The client keeps its default reconnection: it must find the new instance by itself.
	c := authedClient(t, "c", s.clientURL, 7, "seven", map[string]any{"transports": []string{"websocket"}})
	wantPush(t, s, c, 7, "before restart")

	out, _ := s.mustRun(0, "restart", "-c", s.conf)
	pid2 := s.pid()
	if pid2 == pid || processAlive(pid) {
		t.Fatalf("restart: pid %d → %d, old alive %v", pid, pid2, processAlive(pid))
	}
	if !strings.Contains(out, fmt.Sprintf("pushinator stopped (pid %d)", pid)) || !strings.Contains(out, fmt.Sprintf("pushinator started (pid %d)", pid2)) {
		t.Fatalf("restart said %q", out)
	}
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", pid2))
	if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "transport close" {
		t.Fatalf("the client saw %v at restart, want \"transport close\"", ev)
	}
	// Registrations live in memory (no state file): register again. The client may have
	// come back before that and been refused; then it connects again.
	s.mustAdmin("/user/register", `{"userId":7,"hash":"seven"}`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ack := c.waitEvent("auth-ack", 15*time.Second)
		if jsonString(ack["res"]) == `{"ok":true}` {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client never authenticated with the restarted server: %v", ack)
		}
		c.waitEvent("disconnect", 5*time.Second)
		c.send(map[string]any{"cmd": "connect"})
	}
	wantPush(t, s, c, 7, "after restart")

	// restart when not running starts it.
	s.mustRun(0, "stop", "-c", s.conf)
	s.mustRun(0, "restart", "-c", s.conf)
	s.wantStatus(0, fmt.Sprintf("pushinator is running (pid %d)", s.pid()))
	s.mustRun(0, "stop", "-c", s.conf)
	s.noPIDFile()
}

// TestDaemonSIGTERM: a daemon killed by an init system (SIGTERM, not `pushinator stop`)
// shuts down gracefully and removes its own pidfile.
func TestDaemonSIGTERM(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			s := newSetup(t, confOpts{})
			pid := s.start()
			s.mustAdmin("/user/register", `{"userId":1,"hash":"h"}`)
			c := authedClient(t, "c", s.clientURL, 1, "h", map[string]any{"transports": []string{"polling"}, "reconnection": false})
			start := time.Now()
			syscall.Kill(pid, sig)
			waitGone(t, pid, 10*time.Second)
			t.Logf("exited %v after %v", time.Since(start), sig)
			if ev := c.waitEvent("disconnect", 5*time.Second); ev["reason"] != "transport close" {
				t.Fatalf("the client saw %v, want \"transport close\"", ev)
			}
			s.noPIDFile()
			s.wantStatus(3, "pushinator is not running")
		})
	}
}

// syslogReceiver is a unixgram socket standing in for syslogd.
type syslogReceiver struct {
	t    *testing.T
	path string
	msgs chan string
	conn *net.UnixConn
	done chan struct{} // closed when the reading goroutine ends
}

func newSyslogReceiver(t *testing.T) *syslogReceiver {
	t.Helper()
	// Socket paths are limited to 108 bytes: t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "pslog")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &syslogReceiver{t: t, path: filepath.Join(dir, "log.sock"), msgs: make(chan string, 1000)}
	r.listen()
	t.Cleanup(r.close)
	return r
}

func (r *syslogReceiver) listen() {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: r.path, Net: "unixgram"})
	if err != nil {
		r.t.Fatal(err)
	}
	r.conn, r.done = conn, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case r.msgs <- string(buf[:n]):
			default:
				r.t.Errorf("syslog receiver: more than %d unread messages", cap(r.msgs))
			}
		}
	}(r.done)
}

func (r *syslogReceiver) close() {
	r.conn.Close()
	<-r.done
	os.Remove(r.path)
}

// restart is syslogd restarting: a new socket at the same path.
func (r *syslogReceiver) restart() {
	r.close()
	r.listen()
}

// syslogLine is one message as log/syslog sends it: "<PRI>TIMESTAMP [HOST ]TAG[PID]: MSG";
// an RFC 3164 timestamp pads a day below 10 with a space ("Dec  7").
var syslogLine = regexp.MustCompile(`^<(\d+)>\S+( +\S+)*? (\S+)\[(\d+)\]: (.*?)\n?$`)

type syslogMsg struct {
	facility, severity int
	tag                string
	pid                int
	text               string
}

// next returns the next message whose text contains substr; the others are returned too.
func (r *syslogReceiver) next(substr string) (syslogMsg, []syslogMsg) {
	r.t.Helper()
	var skipped []syslogMsg
	timeout := time.After(10 * time.Second)
	for {
		select {
		case raw := <-r.msgs:
			m := syslogLine.FindStringSubmatch(raw)
			if m == nil {
				r.t.Fatalf("syslog message %q is not in the syslog format", raw)
			}
			pri, _ := strconv.Atoi(m[1])
			pid, _ := strconv.Atoi(m[4])
			msg := syslogMsg{facility: pri / 8, severity: pri % 8, tag: m[3], pid: pid, text: m[5]}
			if strings.Contains(msg.text, substr) {
				return msg, skipped
			}
			skipped = append(skipped, msg)
		case <-timeout:
			r.t.Fatalf("timed out waiting for a syslog message containing %q; got %v", substr, skipped)
		}
	}
}

const (
	facilityLocal3 = 19
	severityDebug  = 7
	severityInfo   = 6
)

// TestDaemonSyslogAndSIGHUP: a daemon logs to syslog with the configured tag and facility;
// SIGHUP with log.debug toggled in the config turns debug lines on and off.
func TestDaemonSyslogAndSIGHUP(t *testing.T) {
	r := newSyslogReceiver(t)
	logSection := fmt.Sprintf("syslog: { enable: true, tag: 'pushtest', facility: 'LOG_LOCAL3', address: 'unixgram:%s' }", r.path)
	s := newSetup(t, confOpts{log: logSection})
	pid := s.start()

	started, _ := r.next("pushinator started")
	if started.tag != "pushtest" || started.pid != pid || started.facility != facilityLocal3 || started.severity != severityInfo {
		t.Fatalf("start message %+v, want tag pushtest, pid %d, facility local3 (19), severity info (6)", started, pid)
	}

	// A probe: an unknown event with an ack is logged at debug before the ack is sent.
	s.mustAdmin("/user/register", `{"userId":3,"hash":"secret-hash-333"}`)
	c := authedClient(t, "c", s.clientURL, 3, "secret-hash-333", map[string]any{"transports": []string{"websocket"}})
	probe := func(name string) {
		c.send(map[string]any{"cmd": "emit", "event": name, "ack": true})
		c.waitEvent("ack", 10*time.Second)
	}
	hup := func(wantDebug bool) []syslogMsg {
		syscall.Kill(pid, syscall.SIGHUP)
		m, before := r.next("reloaded")
		if !strings.Contains(m.text, fmt.Sprintf("debug=%t", wantDebug)) {
			t.Fatalf("reload message %q, want debug=%t", m.text, wantDebug)
		}
		return before
	}
	hasDebug := func(msgs []syslogMsg, text string) bool {
		for _, m := range msgs {
			if m.severity == severityDebug && strings.Contains(m.text, text) {
				return true
			}
		}
		return false
	}

	probe("probe-off-1")
	if before := hup(false); hasDebug(before, "probe-off-1") {
		t.Fatalf("debug lines logged with log.debug false: %v", before)
	}

	s.write(confOpts{debug: true, log: logSection})
	hup(true)
	probe("probe-on")
	before := hup(true)
	for _, m := range before {
		t.Logf("syslog: %+v", m)
	}
	if !hasDebug(before, "probe-on") {
		t.Fatalf("no debug line for the probe after SIGHUP with log.debug true: %v", before)
	}

	s.write(confOpts{debug: false, log: logSection})
	hup(false)
	probe("probe-off-2")
	before = hup(false)
	if hasDebug(before, "probe-off-2") {
		t.Fatalf("debug lines still logged after SIGHUP with log.debug false: %v", before)
	}
	if !processAlive(pid) {
		t.Fatal("the daemon died of SIGHUP")
	}
	wantPush(t, s, c, 3, "still serving after SIGHUP")

	// A config broken meanwhile: the reload is refused with the reason, the server runs on.
	os.WriteFile(s.conf, []byte("module.exports = { log: { debug: 'maybe' } }"), 0o600)
	syscall.Kill(pid, syscall.SIGHUP)
	if m, _ := r.next("config not reloaded"); m.severity != 3 || !strings.Contains(m.text, s.conf+":1: log.debug") {
		t.Fatalf("reload of a broken config logged %+v, want an error naming the file and key", m)
	}
	s.write(confOpts{debug: false, log: logSection})
	wantPush(t, s, c, 3, "still serving after a refused reload")

	// syslogd restarts (log rotation, upgrade): after SIGHUP the messages reach the new one.
	r.restart()
	hup(false)

	s.mustRun(0, "stop", "-c", s.conf)
	stopped, all := r.next("pushinator stopped")
	if stopped.pid != pid {
		t.Fatalf("stop message %+v", stopped)
	}
	for _, m := range all {
		if strings.Contains(m.text, "secret-hash-333") {
			t.Fatalf("a hash reached syslog: %q", m.text)
		}
	}
}

// TestDaemonSIGTERMFinishesAdminRequests: an admin request in flight when SIGTERM comes is
// answered; meanwhile the admin port stops accepting new connections.
func TestDaemonSIGTERMFinishesAdminRequests(t *testing.T) {
	s := newSetup(t, confOpts{})
	pid := s.start()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	body := `{"userId":5,"hash":"late"}`
	// Expect: 100-continue makes the server say when the handler starts reading the body:
	// from then on the request is in flight.
	fmt.Fprintf(conn, "POST /user/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", len(body))
	br := bufio.NewReader(conn)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 100") {
		t.Fatalf("want 100 Continue, got %q %v", line, err)
	}
	br.ReadString('\n') // the blank line after 100 Continue

	syscall.Kill(pid, syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the admin port to stop accepting", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.adminPort), time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if !processAlive(pid) {
		t.Fatal("the daemon exited with an admin request in flight")
	}
	io.WriteString(conn, body)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	reply, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(reply), `"result":"OK"`) {
		t.Fatalf("the request in flight got %d %s", resp.StatusCode, reply)
	}
	waitGone(t, pid, 10*time.Second)
	s.noPIDFile()
}

// TestDaemonRestartWithBrokenConfig: restart checks the new config before it stops anything,
// so a typo does not take the service down.
func TestDaemonRestartWithBrokenConfig(t *testing.T) {
	s := newSetup(t, confOpts{})
	pid := s.start()
	s.write(confOpts{top: "admin: { port: 'oops' },"})
	_, errOut := s.mustRun(1, "restart", "-c", s.conf)
	if !strings.Contains(errOut, "not stopping the running server") || !strings.Contains(errOut, s.conf+":") {
		t.Fatalf("restart with a broken config said %q", errOut)
	}
	// (status needs the config, which names the pidfile: look at the process itself.)
	if !processAlive(pid) || s.pid() != pid {
		t.Fatal("restart with a broken config stopped the server")
	}
	resp, err := http.Get(s.adminURL + "/health")
	if err != nil {
		t.Fatalf("the server does not answer after a refused restart: %v", err)
	}
	resp.Body.Close()
	s.write(confOpts{})
	s.mustRun(0, "restart", "-c", s.conf)
	if s.pid() == pid {
		t.Fatal("restart with the repaired config did not restart")
	}
	s.mustRun(0, "stop", "-c", s.conf)
}

// TestDaemonRelativePIDFile: the daemon runs in "/", so a relative pidfile is refused before
// anything starts rather than written where status and stop would not look.
func TestDaemonRelativePIDFile(t *testing.T) {
	s := newSetup(t, confOpts{top: "pidfile: 'pushinator.pid',"})
	_, errOut := s.mustRun(1, "start", "-c", s.conf)
	if !strings.Contains(errOut, `pidfile "pushinator.pid" must be an absolute path`) {
		t.Fatalf("start with a relative pidfile said %q", errOut)
	}
	if pids := daemonsOf(s.conf); len(pids) != 0 {
		t.Fatalf("processes left: %v", pids)
	}
}

// TestDaemonStopEscalates: a daemon that does not react to SIGTERM (here: stopped with
// SIGSTOP) is killed after the bounded wait, and stop says so.
func TestDaemonStopEscalates(t *testing.T) {
	s := newSetup(t, confOpts{})
	pid := s.start()
	syscall.Kill(pid, syscall.SIGSTOP)
	start := time.Now()
	out, _ := s.mustRun(0, "stop", "-c", s.conf)
	took := time.Since(start)
	t.Logf("stop took %v", took)
	if want := fmt.Sprintf("pushinator (pid %d) ignored SIGTERM and was killed", pid); strings.TrimSpace(out) != want {
		t.Fatalf("stop said %q, want %q", out, want)
	}
	if took < 14*time.Second || took > 25*time.Second {
		t.Errorf("stop took %v, want the 15 s bound", took)
	}
	if processAlive(pid) {
		t.Fatal("the daemon survived stop")
	}
	s.noPIDFile()
	s.wantStatus(3, "pushinator is not running")
}
