package daemon

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain doubles as the daemon under test: started by Start (marker in the environment),
// the test binary acts as a tiny server instead of running the tests.
func TestMain(m *testing.M) {
	if IsDaemonChild() {
		os.Exit(fakeServer(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeServer behaves like pushinator's main: bind, Ready, serve until SIGTERM, remove the
// pidfile. Flags make it misbehave in the ways Start and Stop must survive.
func fakeServer(args []string) int {
	fs := flag.NewFlagSet("fake", flag.ContinueOnError)
	pidfile := fs.String("pidfile", "", "")
	listen := fs.String("listen", "127.0.0.1:0", "")
	reloads := fs.String("reloads", "", "file that gets a line per SIGHUP")
	crash := fs.Bool("crash", false, "exit 2 before Ready")
	hang := fs.Bool("hang", false, "never call Ready")
	ignoreTerm := fs.Bool("ignore-term", false, "ignore SIGTERM and SIGINT")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *crash {
		return 2
	}
	sigs := CatchSignals()
	ln, err := net.Listen("tcp", *listen)
	if *hang {
		select {} // killed by Start's timeout
	}
	if err := Ready(*pidfile, err); err != nil {
		return 1
	}
	defer ln.Close()
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
		for { // blocks in the netpoller until SIGKILL
			c, err := ln.Accept()
			if err != nil {
				return 1
			}
			c.Close()
		}
	}
	sigs.Wait(context.Background(), func() {
		f, err := os.OpenFile(*reloads, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, "reload")
			f.Close()
		}
	})
	if err := RemovePIDFile(*pidfile); err != nil {
		return 1
	}
	return 0
}

// fixture is one test's pidfile and the daemons it started, stopped at the end.
type fixture struct {
	t       *testing.T
	dir     string
	pidfile string
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	f := &fixture{t: t, dir: dir, pidfile: filepath.Join(dir, "run", "pushinator.pid")}
	if err := os.Mkdir(filepath.Join(dir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := Stop(f.pidfile, 5*time.Second); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return f
}

func (f *fixture) start(extra ...string) (int, error) {
	args := append([]string{"-pidfile", f.pidfile, "-reloads", filepath.Join(f.dir, "reloads")}, extra...)
	return Start(StartOptions{Args: args, PIDFile: f.pidfile})
}

func (f *fixture) mustStart(extra ...string) int {
	f.t.Helper()
	pid, err := f.start(extra...)
	if err != nil {
		f.t.Fatalf("Start: %v", err)
	}
	return pid
}

func (f *fixture) wantStatus(code int, msg string) State {
	f.t.Helper()
	st := Status(f.pidfile)
	if st.Code != code || st.Message != msg {
		f.t.Fatalf("Status = %d %q, want %d %q", st.Code, st.Message, code, msg)
	}
	return st
}

func (f *fixture) wantNoPIDFile() {
	f.t.Helper()
	if _, err := os.Stat(f.pidfile); !errors.Is(err, os.ErrNotExist) {
		f.t.Fatalf("pidfile left behind (stat: %v)", err)
	}
	// and no temp file either
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(f.pidfile), "*")); len(m) != 0 {
		f.t.Fatalf("files left in the pidfile's directory: %v", m)
	}
}

func (f *fixture) pidInFile() int {
	f.t.Helper()
	pid, err := readPIDFile(f.pidfile)
	if err != nil {
		f.t.Fatal(err)
	}
	return pid
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStartStatusStop(t *testing.T) {
	f := newFixture(t)
	f.wantStatus(StatusNotRunning, "pushinator is not running")

	pid := f.mustStart()
	if got := f.pidInFile(); got != pid {
		t.Fatalf("pidfile holds %d, Start returned %d", got, pid)
	}
	st := f.wantStatus(StatusRunning, fmt.Sprintf("pushinator is running (pid %d)", pid))
	if st.PID != pid {
		t.Errorf("Status.PID = %d", st.PID)
	}

	// Detached: its own session, "/" as working directory, stdio on /dev/null.
	proc := "/proc/" + strconv.Itoa(pid)
	stat, _ := os.ReadFile(proc + "/stat")
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if sid := fields[3]; sid != strconv.Itoa(pid) {
		t.Errorf("session id %s, want %d (setsid)", sid, pid)
	}
	if cwd, _ := os.Readlink(proc + "/cwd"); cwd != "/" {
		t.Errorf("cwd %q, want /", cwd)
	}
	for _, fd := range []string{"0", "1", "2"} {
		if target, _ := os.Readlink(proc + "/fd/" + fd); target != os.DevNull {
			t.Errorf("fd %s -> %q, want /dev/null", fd, target)
		}
	}
	if _, err := os.Readlink(proc + "/fd/3"); err == nil {
		t.Errorf("fd 3 (the report pipe) still open in the daemon")
	}

	// SIGHUP reloads and does not stop it.
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload", func() bool {
		b, _ := os.ReadFile(filepath.Join(f.dir, "reloads"))
		return string(b) == "reload\n"
	})
	f.wantStatus(StatusRunning, fmt.Sprintf("pushinator is running (pid %d)", pid))

	res, err := Stop(f.pidfile, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res != (StopResult{PID: pid, WasRunning: true}) {
		t.Errorf("Stop = %+v", res)
	}
	if alive(pid) {
		t.Error("daemon still alive after Stop")
	}
	f.wantStatus(StatusNotRunning, "pushinator is not running")
	f.wantNoPIDFile()
}

func TestStartTwice(t *testing.T) {
	f := newFixture(t)
	pid := f.mustStart()
	_, err := f.start()
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), fmt.Sprintf("already running (pid %d)", pid)) {
		t.Fatalf("second Start: %v", err)
	}
	if got := f.pidInFile(); got != pid {
		t.Fatalf("pidfile now holds %d, want %d", got, pid)
	}
	f.wantStatus(StatusRunning, fmt.Sprintf("pushinator is running (pid %d)", pid))
}

func TestKill9ThenStatusThenStart(t *testing.T) {
	f := newFixture(t)
	pid := f.mustStart()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the daemon to die", func() bool { return !alive(pid) })
	st := f.wantStatus(StatusDead, "pushinator is dead but pidfile exists")
	if st.PID != pid {
		t.Errorf("Status.PID = %d, want %d", st.PID, pid)
	}

	pid2 := f.mustStart() // the stale pidfile does not block
	if pid2 == pid || f.pidInFile() != pid2 {
		t.Fatalf("new pid %d, pidfile %d, old %d", pid2, f.pidInFile(), pid)
	}
	f.wantStatus(StatusRunning, fmt.Sprintf("pushinator is running (pid %d)", pid2))
}

// TestPIDFileNamesAnotherProgram: a pid reused by an unrelated live process is stale: it
// neither blocks Start nor gets signalled by Stop.
func TestPIDFileNamesAnotherProgram(t *testing.T) {
	f := newFixture(t)
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleep.Process.Kill(); sleep.Wait() }()
	other := sleep.Process.Pid
	if err := os.WriteFile(f.pidfile, []byte(strconv.Itoa(other)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	f.wantStatus(StatusDead, "pushinator is dead but pidfile exists")
	res, err := Stop(f.pidfile, time.Second)
	if err != nil || res.WasRunning {
		t.Fatalf("Stop = %+v, %v", res, err)
	}
	f.wantNoPIDFile()
	if !alive(other) {
		t.Fatal("Stop killed an unrelated process")
	}

	if err := os.WriteFile(f.pidfile, []byte(strconv.Itoa(other)), 0o644); err != nil {
		t.Fatal(err)
	}
	pid := f.mustStart()
	if f.pidInFile() != pid {
		t.Fatal("stale pidfile not replaced")
	}
	if _, err := Stop(f.pidfile, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !alive(other) {
		t.Fatal("unrelated process gone")
	}
}

func TestStartChildFails(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	f := newFixture(t)
	_, err = f.start("-listen", taken.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.HasPrefix(err.Error(), "daemon: start: listen tcp") {
		t.Fatalf("Start with the port taken: %v", err)
	}
	f.wantNoPIDFile()
	f.wantStatus(StatusNotRunning, "pushinator is not running")
}

func TestStartChildExitsEarly(t *testing.T) {
	f := newFixture(t)
	_, err := f.start("-crash")
	if err == nil || err.Error() != "daemon: start: pushinator exited before it was ready (exit status 2)" {
		t.Fatalf("Start: %v", err)
	}
	f.wantNoPIDFile()
}

func TestStartTimeout(t *testing.T) {
	f := newFixture(t)
	begin := time.Now()
	_, err := Start(StartOptions{Args: []string{"-pidfile", f.pidfile, "-hang"}, PIDFile: f.pidfile, Timeout: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "did not report ready within 300ms") {
		t.Fatalf("Start: %v", err)
	}
	if d := time.Since(begin); d > 4*time.Second {
		t.Errorf("Start took %v", d)
	}
	f.wantNoPIDFile()
}

// TestStartPIDFileElsewhere: a child that writes its pidfile somewhere else than where
// start looks (a relative pidfile resolved from "/") would be a daemon nobody can stop.
func TestStartPIDFileElsewhere(t *testing.T) {
	f := newFixture(t)
	elsewhere := filepath.Join(f.dir, "elsewhere.pid")
	_, err := f.start("-pidfile", elsewhere)
	if err == nil || !strings.Contains(err.Error(), "reported ready but pidfile "+f.pidfile+" does not name pid") {
		t.Fatalf("Start: %v", err)
	}
	f.wantNoPIDFile()
	waitFor(t, "the child to remove its pidfile on SIGTERM", func() bool {
		_, err := os.Stat(elsewhere)
		return errors.Is(err, os.ErrNotExist)
	})
}

// An empty pidfile is replaced; one with other content is left alone, since the configured
// path may name somebody's file by mistake (it once named /dev/null, which stop deleted).
func TestStartOverGarbagePIDFile(t *testing.T) {
	f := newFixture(t)
	os.WriteFile(f.pidfile, []byte(" \n"), 0o644)
	pid := f.mustStart()
	if f.pidInFile() != pid {
		t.Fatal("empty pidfile not replaced")
	}
	if _, err := Stop(f.pidfile, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	os.WriteFile(f.pidfile, []byte("somebody's notes\n"), 0o644)
	if _, err := f.start(); err == nil || !strings.Contains(err.Error(), "holds something other than a pid") {
		t.Fatalf("Start over a file that is not a pidfile: %v", err)
	}
	if b, _ := os.ReadFile(f.pidfile); string(b) != "somebody's notes\n" {
		t.Fatalf("the file was changed: %q", b)
	}
	os.Remove(f.pidfile)
}

// A pidfile path naming a FIFO (or a device, or a directory) is never read, replaced or
// removed: reading a FIFO would block, replacing /dev/null breaks the machine.
func TestPIDFileThatIsNotAFile(t *testing.T) {
	f := newFixture(t)
	if err := syscall.Mkfifo(f.pidfile, 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.pidfile)
	if _, err := f.start(); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Start: %v", err)
	}
	if _, err := Stop(f.pidfile, time.Second); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Stop: %v", err)
	}
	if st := Status(f.pidfile); st.Code != StatusUnknown {
		t.Fatalf("Status: %+v, want unknown", st)
	}
	if err := writePIDFile(f.pidfile, os.Getpid()); err == nil {
		t.Fatal("the foreground server's pidfile write replaced a FIFO")
	}
	if fi, err := os.Lstat(f.pidfile); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO is gone or replaced: %v %v", fi, err)
	}
}

func TestStatusUnknown(t *testing.T) {
	dir := t.TempDir() // a directory where the pidfile should be: unreadable as a pidfile
	st := Status(dir)
	if st.Code != StatusUnknown || !strings.HasPrefix(st.Message, "pushinator status is unknown: daemon: pidfile "+dir) {
		t.Fatalf("Status = %+v", st)
	}
	if _, err := Stop(dir, time.Second); err == nil {
		t.Fatal("Stop on an unreadable pidfile succeeded")
	}
	if _, err := Start(StartOptions{PIDFile: dir}); err == nil {
		t.Fatal("Start on an unreadable pidfile succeeded")
	}
}

// TestConcurrentStarts: two `pushinator start` at once with the same config: one daemon
// runs, the other command fails, and the pidfile names the one that runs.
func TestConcurrentStarts(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	f := newFixture(t)
	type result struct {
		pid int
		err error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			pid, err := f.start("-listen", addr)
			results <- result{pid, err}
		}()
	}
	a, b := <-results, <-results
	if (a.err == nil) == (b.err == nil) {
		t.Fatalf("want exactly one success: %+v, %+v", a, b)
	}
	won, lost := a, b
	if a.err != nil {
		won, lost = b, a
	}
	if !errors.Is(lost.err, ErrAlreadyRunning) && !strings.Contains(lost.err.Error(), "address already in use") {
		t.Fatalf("loser's error: %v", lost.err)
	}
	if f.pidInFile() != won.pid {
		t.Fatalf("pidfile holds %d, winner is %d", f.pidInFile(), won.pid)
	}
	f.wantStatus(StatusRunning, fmt.Sprintf("pushinator is running (pid %d)", won.pid))
}

func TestStartWithoutPIDFile(t *testing.T) {
	if _, err := Start(StartOptions{}); err == nil || !strings.Contains(err.Error(), "no pidfile") {
		t.Fatalf("Start: %v", err)
	}
}

func TestStopNotRunning(t *testing.T) {
	f := newFixture(t)
	res, err := Stop(f.pidfile, time.Second)
	if err != nil || res != (StopResult{}) {
		t.Fatalf("Stop without pidfile = %+v, %v", res, err)
	}

	os.WriteFile(f.pidfile, []byte("\n"), 0o644)
	f.wantStatus(StatusDead, "pushinator is dead but pidfile exists")
	if res, err := Stop(f.pidfile, time.Second); err != nil || res.WasRunning {
		t.Fatalf("Stop with an empty pidfile = %+v, %v", res, err)
	}
	f.wantNoPIDFile()
	os.WriteFile(f.pidfile, []byte("not a pid\n"), 0o644)
	if _, err := Stop(f.pidfile, time.Second); err == nil || !strings.Contains(err.Error(), "holds something other than a pid") {
		t.Fatalf("Stop with a file that is not a pidfile: %v", err)
	}
	os.Remove(f.pidfile)

	// The pid of a process that has exited.
	c := exec.Command("true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.pidfile, []byte(strconv.Itoa(c.Process.Pid)), 0o644)
	if res, err := Stop(f.pidfile, time.Second); err != nil || res.WasRunning || res.PID != c.Process.Pid {
		t.Fatalf("Stop with a dead pid = %+v, %v", res, err)
	}
	f.wantNoPIDFile()
}

// TestStopEscalates: a daemon that ignores SIGTERM gets SIGKILL once the timeout is over.
func TestStopEscalates(t *testing.T) {
	f := newFixture(t)
	pid := f.mustStart("-ignore-term")
	begin := time.Now()
	res, err := Stop(f.pidfile, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res != (StopResult{PID: pid, WasRunning: true, Killed: true}) {
		t.Fatalf("Stop = %+v", res)
	}
	if d := time.Since(begin); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if alive(pid) {
		t.Fatal("still alive")
	}
	f.wantNoPIDFile()
}

// TestReadyInForeground: outside a daemon child Ready writes the pidfile (and refuses when a
// live pushinator holds it); RemovePIDFile removes only our own.
func TestReadyInForeground(t *testing.T) {
	f := newFixture(t)
	if IsDaemonChild() {
		t.Fatal("the test process thinks it is a daemon child")
	}
	if err := Ready("", nil); err != nil {
		t.Fatalf("Ready without pidfile: %v", err)
	}
	boom := errors.New("config: x")
	if err := Ready(f.pidfile, boom); err != boom {
		t.Fatalf("Ready(err) = %v", err)
	}
	f.wantNoPIDFile()

	if err := Ready(f.pidfile, nil); err != nil {
		t.Fatal(err)
	}
	if f.pidInFile() != os.Getpid() {
		t.Fatal("pidfile does not hold our pid")
	}
	if err := Ready(f.pidfile, nil); err != nil { // our own pid in it is fine
		t.Fatal(err)
	}
	if err := RemovePIDFile(f.pidfile); err != nil {
		t.Fatal(err)
	}
	f.wantNoPIDFile()

	// A daemon runs: the foreground server must not take its pidfile.
	pid := f.mustStart()
	err := Ready(f.pidfile, nil)
	if !errors.Is(err, ErrAlreadyRunning) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", pid)) {
		t.Fatalf("Ready with a daemon running: %v", err)
	}
	if err := RemovePIDFile(f.pidfile); err != nil || f.pidInFile() != pid {
		t.Fatalf("RemovePIDFile removed another process's pidfile (%v)", err)
	}
}

func TestSignalsReloadAndContext(t *testing.T) {
	sigs := CatchSignals()
	// Sent before Wait runs: held, not lost, and not fatal.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	reloaded := make(chan struct{})
	done := make(chan os.Signal, 1)
	go func() {
		done <- sigs.Wait(ctx, func() { reloaded <- struct{}{} })
	}()
	select {
	case <-reloaded:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload on SIGHUP")
	}
	cancel()
	if sig := <-done; sig != nil {
		t.Fatalf("Wait = %v, want nil on cancel", sig)
	}
	// After Wait, SIGHUP is ignored: this must not kill the test.
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

func TestParsePID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"123\n", 123}, {"  42  ", 42}, {"1", 1}, {"4194304", 4194304},
		{"", 0}, {"\n", 0}, {"0", 0}, {"-5", 0}, {"+5", 0}, {"12 34", 0}, {"4194305", 0},
		{"99999999999999999999", 0}, {"0x10", 0}, {"١٢", 0},
	} {
		got, err := ParsePID([]byte(c.in))
		if c.want == 0 {
			if err == nil {
				t.Errorf("ParsePID(%q) = %d, want an error", c.in, got)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ParsePID(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func FuzzParsePID(f *testing.F) {
	for _, s := range []string{"123\n", " 7 ", "", "0", "-1", "4194304", "4194305", "1e3"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pid, err := ParsePID(b)
		if err != nil {
			return
		}
		if pid <= 0 || pid > 1<<22 {
			t.Fatalf("ParsePID(%q) = %d", b, pid)
		}
		// what we accept, we write back the same way
		again, err := ParsePID([]byte(strconv.Itoa(pid) + "\n"))
		if err != nil || again != pid {
			t.Fatalf("round trip of %d: %d, %v", pid, again, err)
		}
	})
}

func TestWritePIDFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.pid")
	if err := os.WriteFile(p, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writePIDFile(p, 4242); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "4242\n" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("pidfile %q mode %v", b, fi.Mode())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Fatalf("temp files left: %v", m)
	}
	if err := writePIDFile(filepath.Join(dir, "missing", "p.pid"), 1); err == nil || !strings.Contains(err.Error(), "daemon: pidfile ") {
		t.Fatalf("write into a missing dir: %v", err)
	}
}

// BenchmarkStartStop measures a full `start` (spawn, bind, pidfile, report) plus `stop`
// (SIGTERM, graceful exit, pidfile gone).
func BenchmarkStartStop(b *testing.B) {
	pidfile := filepath.Join(b.TempDir(), "p.pid")
	for b.Loop() {
		if _, err := Start(StartOptions{Args: []string{"-pidfile", pidfile}, PIDFile: pidfile}); err != nil {
			b.Fatal(err)
		}
		if _, err := Stop(pidfile, 5*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// A process that started after the pidfile was written is not the one that wrote it.
func TestStartedBy(t *testing.T) {
	start, ok := processStart(os.Getpid())
	if !ok {
		t.Fatal("no start time for this process in /proc")
	}
	if start.After(time.Now()) || time.Since(start) > time.Hour {
		t.Fatalf("this process started at %v, now is %v", start, time.Now())
	}
	if !startedBy(os.Getpid(), time.Now()) {
		t.Error("this process had not started by now")
	}
	if startedBy(os.Getpid(), start.Add(-time.Minute)) {
		t.Error("this process had started a minute before it started")
	}
}
