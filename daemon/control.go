package daemon

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// State is the answer of Status: an LSB exit code and the line to print.
type State struct {
	Code    int    // StatusRunning, StatusDead, StatusNotRunning or StatusUnknown
	PID     int    // the pid in the pidfile, 0 if none could be read
	Message string // "pushinator is running (pid N)" and the like
}

// lookup reads pidfile and tells whether it names a live pushinator (one running exe).
// err is non-nil when there is no usable pid (missing file wraps fs.ErrNotExist; a file
// without a pid wraps errBadPIDFile).
func lookup(pidfile, exe string) (pid int, running bool, err error) {
	pid, err = readPIDFile(pidfile)
	if err != nil {
		return 0, false, err
	}
	running = alive(pid) && runsExe(pid, exe)
	if running {
		if fi, err := os.Stat(pidfile); err == nil && !startedBy(pid, fi.ModTime()) {
			running = false // a pushinator that started after the pidfile was written
		}
	}
	return pid, running, nil
}

// Status says whether the pushinator named by pidfile runs, with LSB codes.
func Status(pidfile string) State {
	exe, err := ownExecutable()
	if err != nil {
		return State{Code: StatusUnknown, Message: fmt.Sprintf("%s status is unknown: %v", Name, err)}
	}
	return status(pidfile, exe)
}

func status(pidfile, exe string) State {
	pid, running, err := lookup(pidfile, exe)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return State{Code: StatusNotRunning, Message: Name + " is not running"}
	case errors.Is(err, errBadPIDFile):
		return State{Code: StatusDead, Message: Name + " is dead but pidfile exists"}
	case err != nil:
		return State{Code: StatusUnknown, Message: fmt.Sprintf("%s status is unknown: %v", Name, err)}
	case running:
		return State{Code: StatusRunning, PID: pid, Message: fmt.Sprintf("%s is running (pid %d)", Name, pid)}
	default:
		return State{Code: StatusDead, PID: pid, Message: Name + " is dead but pidfile exists"}
	}
}

// StopResult says what Stop found and did.
type StopResult struct {
	PID        int  // the pid in the pidfile, 0 if none
	WasRunning bool // a live pushinator was signalled
	Killed     bool // it ignored SIGTERM for the whole timeout and was sent SIGKILL
}

// Stop sends SIGTERM to the pushinator named by pidfile, waits up to timeout (0 means
// DefaultStopTimeout) for it to exit, then removes the pidfile if it still names it.
// Escalation: past the timeout it sends SIGKILL and waits a further 5 s; the result says
// Killed. Not running is not an error: a stale or garbage pidfile is removed and Stop
// returns WasRunning false. It fails when the process cannot be signalled (another user's)
// or survives SIGKILL.
func Stop(pidfile string, timeout time.Duration) (StopResult, error) {
	exe, err := ownExecutable()
	if err != nil {
		return StopResult{}, fmt.Errorf("daemon: stop: %w", err)
	}
	return stop(pidfile, exe, timeout)
}

func stop(pidfile, exe string, timeout time.Duration) (StopResult, error) {
	if timeout <= 0 {
		timeout = DefaultStopTimeout
	}
	pid, running, err := lookup(pidfile, exe)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return StopResult{}, nil
	case errors.Is(err, errBadPIDFile):
		return StopResult{}, removeStale(pidfile)
	case err != nil:
		return StopResult{}, fmt.Errorf("daemon: stop: %w", err)
	case !running:
		return StopResult{PID: pid}, removeIfNames(pidfile, pid)
	}

	// os.FindProcess holds a pidfd on Linux: the signals below reach this very process even
	// if it exits and its pid is reused meanwhile.
	p, err := os.FindProcess(pid)
	if err != nil {
		return StopResult{PID: pid}, fmt.Errorf("daemon: stop: pid %d: %w", pid, err)
	}
	defer p.Release()
	res := StopResult{PID: pid, WasRunning: true}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return res, fmt.Errorf("daemon: stop: SIGTERM to pid %d: %w", pid, err)
	}
	if !waitExit(p, pid, timeout) {
		res.Killed = true
		if err := p.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return res, fmt.Errorf("daemon: stop: pid %d still running %v after SIGTERM; SIGKILL: %w", pid, timeout, err)
		}
		if !waitExit(p, pid, killWait) {
			return res, fmt.Errorf("daemon: stop: pid %d survives SIGKILL", pid)
		}
	}
	// A graceful shutdown removes its own pidfile; this covers a crash or SIGKILL.
	return res, removeIfNames(pidfile, pid)
}

// waitExit polls until process p (pid) has exited or timeout passes.
func waitExit(p *os.Process, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if exited(p, pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
}

// exited: the pidfd says it is gone, or it is a zombie nobody reaped yet (when the caller
// is its parent, as in tests, or init does not reap) whose threads have all gone, so its
// ports are free for the start of a restart.
func exited(p *os.Process, pid int) bool {
	if err := p.Signal(syscall.Signal(0)); err != nil {
		return true
	}
	state, ok := procState(pid)
	return !ok || (state == 'Z' || state == 'X') && !dying(pid)
}

// removeStale removes a pidfile that holds no pid: only an empty one (a pid it held would
// have been read); any other content may be a file the configured path names by mistake.
func removeStale(pidfile string) error {
	if err := claimable(pidfile); err != nil {
		return fmt.Errorf("daemon: pidfile %s: %w", pidfile, err)
	}
	if err := os.Remove(pidfile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("daemon: stale pidfile %s: %w", pidfile, err)
	}
	return nil
}
