package daemon

import (
	"errors"
	"fmt"
	"os"
)

// IsDaemonChild reports whether this process was started by Start (and should log to
// syslog or nowhere rather than stdout). It stays true after Ready.
func IsDaemonChild() bool {
	v := os.Getenv(envMarker)
	return v == markerPending || v == markerReported
}

// Ready ends the start-up of the server, in a daemon child and in the foreground alike.
// Call it once the ports are bound (startErr nil) or as soon as start-up failed (startErr
// is the reason, e.g. a config error or "address already in use").
//
// With startErr nil and a pidfile configured, it refuses to run when the pidfile names
// another live pushinator (ErrAlreadyRunning), else writes the pidfile atomically with this
// process's pid. In the foreground too: `pushinator status` and `stop` then work for a
// server run by systemd or by hand.
//
// In a daemon child it then reports to the waiting `pushinator start`: "ready", or the
// error, which that command prints. Only the first call reports; later calls just do the
// pidfile part.
//
// It returns startErr, or the pidfile error: when non-nil, the server must exit non-zero.
func Ready(pidfile string, startErr error) error {
	if startErr == nil && pidfile != "" {
		startErr = claimPIDFile(pidfile)
	}
	if os.Getenv(envMarker) == markerPending {
		_ = os.Setenv(envMarker, markerReported)
		if err := report(startErr); err != nil && startErr == nil {
			// Nobody waits for us any more (start timed out and killed... or the pipe is
			// gone): running on unannounced would leave a daemon `start` said failed.
			_ = RemovePIDFile(pidfile)
			return err
		}
	}
	return startErr
}

func claimPIDFile(pidfile string) error {
	exe, err := ownExecutable()
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	pid, running, err := lookup(pidfile, exe)
	if err == nil && running && pid != os.Getpid() {
		return fmt.Errorf("daemon: %w (pid %d, pidfile %s)", ErrAlreadyRunning, pid, pidfile)
	}
	return writePIDFile(pidfile, os.Getpid())
}

// report writes the outcome on fd 3 and closes it.
func report(startErr error) error {
	f := os.NewFile(readyFD, "daemon-report")
	if f == nil {
		return errors.New("daemon: report: no fd 3")
	}
	defer f.Close()
	msg := readyMessage
	if startErr != nil {
		msg = errorPrefix + startErr.Error()
		if len(msg) > maxReport-1 {
			msg = msg[:maxReport-1]
		}
	}
	if _, err := f.WriteString(msg + "\n"); err != nil {
		return fmt.Errorf("daemon: report to the starting command: %w", err)
	}
	return nil
}
