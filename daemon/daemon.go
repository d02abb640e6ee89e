// Package daemon runs pushinator as a classic Unix daemon and controls it through its
// pidfile: start, stop, status (LSB exit codes), and the signals the running server obeys.
//
// Go cannot fork, so Start re-executes the program as a child in a new session (setsid),
// with stdin/stdout/stderr on /dev/null, working directory "/", the environment marker
// PUSHINATOR_DAEMON and a pipe on file descriptor 3. The child sets itself up (config, log,
// listening sockets) and calls Ready: on success Ready writes the pidfile atomically (temp
// file + rename in the same directory) and then reports "ready" on the pipe; on failure it
// reports the error text. Start returns only when the child has reported, or failed to
// report in time.
//
// Guarantees:
//   - Start returns nil only once the child has bound its ports and written the pidfile;
//     otherwise it returns the child's own error and leaves no pidfile and no child behind;
//   - a pidfile counts as "running" only if it names a live process whose executable is
//     ours (/proc/PID/exe, or /proc/PID/cmdline when exe cannot be read): a stale pidfile
//     (process gone, zombie, or pid reused by another program) never blocks Start, and
//     Stop never signals a process that is not pushinator;
//   - a pidfile is only ever removed when it is stale, or names the process that removes it
//     or the process Stop just saw exit;
//   - Stop waits, bounded, for the process to exit; past the bound it sends SIGKILL (the
//     same policy as start-stop-daemon --retry TERM/15/KILL/5) and says so.
//
// Process inspection uses /proc: this package is for Linux.
package daemon

import (
	"errors"
	"time"
)

// Name is how the status lines call the program.
const Name = "pushinator"

const (
	// envMarker is set in the child's environment by Start: "1" until the child has
	// reported on the pipe, then "reported" (so a second Ready never writes to fd 3,
	// which by then may be another file).
	envMarker      = "PUSHINATOR_DAEMON"
	markerPending  = "1"
	markerReported = "reported"

	// readyFD is the child's end of the readiness pipe: ExtraFiles[0] is fd 3.
	readyFD = 3

	readyMessage = "ready"
	errorPrefix  = "error: "

	// maxReport bounds what the parent reads from the pipe and the child writes to it
	// (well under a pipe buffer, so the child's write never blocks).
	maxReport = 4096
)

const (
	// DefaultStartTimeout is how long Start waits for the child to report: binding two
	// ports and loading a state file take milliseconds; 10 s leaves room for a slow disk.
	DefaultStartTimeout = 10 * time.Second
	// DefaultStopTimeout is how long Stop waits after SIGTERM: a graceful shutdown closes
	// every client and flushes state.
	DefaultStopTimeout = 15 * time.Second
	// killWait is how long Stop waits after SIGKILL, which cannot be caught.
	killWait = 5 * time.Second
	// pollInterval is how often Stop looks whether the process has exited.
	pollInterval = 20 * time.Millisecond
)

// ErrAlreadyRunning is returned (wrapped, with the pid) by Start and Ready when the pidfile
// names a live pushinator.
var ErrAlreadyRunning = errors.New("already running")

// LSB status codes (init-functions: status_of_proc).
const (
	StatusRunning    = 0 // program is running
	StatusDead       = 1 // program is dead and the pidfile exists
	StatusNotRunning = 3 // program is not running
	StatusUnknown    = 4 // status cannot be determined (e.g. pidfile unreadable)
)
