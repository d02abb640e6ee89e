package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// errBadPIDFile says the pidfile exists but does not hold a pid.
var errBadPIDFile = errors.New("does not hold a pid")

// errNotRegular says the pidfile's path names something other than a file (a device, a
// FIFO, a directory): it is neither read, nor replaced, nor removed.
var errNotRegular = errors.New("is not a regular file; choose another pidfile")

// errNotOurs says the pidfile's path names a file with other content: it is neither replaced
// nor removed, since the configured path may be a mistake that names someone's file.
var errNotOurs = errors.New("holds something other than a pid; remove it if it is a stale pidfile, or choose another pidfile")

// checkRegular returns errNotRegular unless path is missing or a regular file (a symbolic
// link is replaced or removed itself, never its target).
func checkRegular(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode().IsRegular() || fi.Mode()&os.ModeSymlink != 0 {
		return nil // a missing file, or an error the caller's own call reports
	}
	return errNotRegular
}

// claimable reports whether path may be replaced or removed: missing, or a regular file that
// holds a pid or nothing but white space.
func claimable(path string) error {
	if err := checkRegular(path); err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := ParsePID(b); err != nil && len(bytes.TrimSpace(b)) > 0 {
		return errNotOurs
	}
	return nil
}

// ParsePID reads the content of a pidfile: a positive decimal number, surrounding white
// space allowed (pidfiles written by hand or by other tools end with a newline or not).
func ParsePID(b []byte) (int, error) {
	s := bytes.TrimSpace(b)
	if len(s) == 0 || len(s) > 10 {
		return 0, errBadPIDFile
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errBadPIDFile
		}
	}
	pid, err := strconv.Atoi(string(s))
	if err != nil || pid <= 0 || pid > 1<<22 { // 1<<22 is Linux's PID_MAX_LIMIT
		return 0, errBadPIDFile
	}
	return pid, nil
}

// readPIDFile returns the pid in path; an error wrapping fs.ErrNotExist if there is no file.
func readPIDFile(path string) (int, error) {
	if err := checkRegular(path); err != nil { // a FIFO would block the read for ever
		return 0, fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	pid, err := ParsePID(b)
	if err != nil {
		return 0, fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	return pid, nil
}

// writePIDFile writes pid to path atomically: readers see the old file or the whole new one.
func writePIDFile(path string, pid int) error {
	if err := claimable(path); err != nil {
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := fmt.Fprintf(tmp, "%d\n", pid); err != nil {
		tmp.Close()
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	return nil
}

// removeIfNames removes path only if it still names pid, so a pidfile written meanwhile by
// a new instance survives. A missing file is not an error.
func removeIfNames(path string, pid int) error {
	got, err := readPIDFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return err
	case got != pid:
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("daemon: pidfile %s: %w", path, err)
	}
	return nil
}

// RemovePIDFile removes the pidfile if it holds this process's pid (call it last on
// shutdown). It does nothing when pidfile is "" or names another process.
func RemovePIDFile(pidfile string) error {
	if pidfile == "" {
		return nil
	}
	return removeIfNames(pidfile, os.Getpid())
}
