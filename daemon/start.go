package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// StartOptions says what Start runs.
type StartOptions struct {
	Exe     string        // program to run; "" means this executable (os.Executable)
	Args    []string      // its arguments without argv[0], e.g. {"-c", "/etc/pushinator.conf"}; paths must be absolute (the child runs in "/")
	Env     []string      // extra environment entries ("K=V") on top of this process's
	PIDFile string        // the pidfile the child will write (from the config); required
	Timeout time.Duration // how long to wait for the child's report; 0 means DefaultStartTimeout
}

// Start runs the program as a detached daemon and waits until it reports ready. It returns
// the daemon's pid. It fails, leaving neither pidfile nor process behind, when a live
// pushinator already holds the pidfile (wrapping ErrAlreadyRunning), when the child reports
// an error (its text is in the error), exits, or does not report within the timeout.
// A stale pidfile is removed first.
func Start(opts StartOptions) (int, error) {
	if opts.PIDFile == "" {
		return 0, errors.New("daemon: start: no pidfile configured (stop and status need one)")
	}
	pidfile, err := filepath.Abs(opts.PIDFile)
	if err != nil {
		return 0, fmt.Errorf("daemon: start: pidfile %s: %w", opts.PIDFile, err)
	}
	exe := opts.Exe
	if exe == "" {
		if exe, err = ownExecutable(); err != nil {
			return 0, fmt.Errorf("daemon: start: %w", err)
		}
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultStartTimeout
	}

	pid, running, err := lookup(pidfile, exe)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case errors.Is(err, errBadPIDFile):
		if err := removeStale(pidfile); err != nil {
			return 0, fmt.Errorf("daemon: start: %w", err)
		}
	case err != nil:
		return 0, fmt.Errorf("daemon: start: %w", err)
	case running:
		return 0, fmt.Errorf("daemon: start: %w (pid %d)", ErrAlreadyRunning, pid)
	default:
		if err := removeIfNames(pidfile, pid); err != nil {
			return 0, fmt.Errorf("daemon: start: stale %w", err)
		}
	}

	cmd, report, err := spawn(exe, opts)
	if err != nil {
		return 0, err
	}
	defer report.Close()
	child := cmd.Process.Pid

	msg, err := readReport(report, timeout)
	switch {
	case err == nil && msg == readyMessage:
		if got, err := readPIDFile(pidfile); err != nil || got != child {
			_ = cmd.Process.Signal(syscall.SIGTERM) // it runs fine, but stop and status could not find it
			abort(cmd, pidfile)
			return 0, fmt.Errorf("daemon: start: %s reported ready but pidfile %s does not name pid %d (is the configured pidfile relative?)", Name, pidfile, child)
		}
		// The daemon lives on, reparented to init when we exit.
		_ = cmd.Process.Release()
		return child, nil
	case err == nil && strings.HasPrefix(msg, errorPrefix):
		abort(cmd, pidfile)
		return 0, fmt.Errorf("daemon: start: %s", strings.TrimPrefix(msg, errorPrefix))
	case err == nil && msg == "":
		status := abort(cmd, pidfile)
		return 0, fmt.Errorf("daemon: start: %s exited before it was ready (%s)", Name, status)
	case err == nil:
		abort(cmd, pidfile)
		return 0, fmt.Errorf("daemon: start: unexpected report from %s: %q", Name, msg)
	case errors.Is(err, os.ErrDeadlineExceeded):
		_ = cmd.Process.Kill() // it had its time; no grace
		abort(cmd, pidfile)
		return 0, fmt.Errorf("daemon: start: %s did not report ready within %v; killed it", Name, timeout)
	default:
		abort(cmd, pidfile)
		return 0, fmt.Errorf("daemon: start: reading the child's report: %w", err)
	}
}

// spawn starts exe detached: new session, "/" as working directory, /dev/null as stdio,
// the marker in its environment and the write end of a pipe as fd 3. It returns the read end.
func spawn(exe string, opts StartOptions) (*exec.Cmd, *os.File, error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: start: %w", err)
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, fmt.Errorf("daemon: start: pipe: %w", err)
	}
	defer w.Close() // the child has its copy; ours must go so EOF comes when the child's does

	cmd := exec.Command(exe, opts.Args...)
	cmd.Dir = "/"
	cmd.Env = append(childEnv(os.Environ()), opts.Env...)
	cmd.Env = append(cmd.Env, envMarker+"="+markerPending)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, devnull
	cmd.ExtraFiles = []*os.File{w} // fd 3 == readyFD
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		return nil, nil, fmt.Errorf("daemon: start: %w", err)
	}
	return cmd, r, nil
}

// childEnv drops a marker inherited from our own environment (a daemon that runs
// "pushinator start" must not make its child think the pipe is already used).
func childEnv(env []string) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, envMarker+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// readReport reads the child's whole report (up to EOF, which comes when the child closes
// fd 3 or dies) within timeout.
func readReport(r *os.File, timeout time.Duration) (string, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxReport))
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(b), "\n"), nil
}

// abort makes sure a child that did not become ready is gone and left no pidfile. A child
// that reported an error, or got SIGTERM, exits by itself; one that does not gets SIGKILL
// after a short grace.
// It returns how the child ended.
func abort(cmd *exec.Cmd, pidfile string) string {
	done := make(chan struct{})
	go func() { // ends when the child is reaped, which SIGKILL below guarantees
		_ = cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	_ = removeIfNames(pidfile, cmd.Process.Pid)
	return cmd.ProcessState.String()
}
