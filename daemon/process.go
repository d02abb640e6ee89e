package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// alive reports whether pid is a process that has not exited: kill(pid, 0) finds it (EPERM
// means it exists but belongs to another user) and it has not finished dying (see dying).
// A process that is dying gets up to dyingWait to finish, so that a start right after
// kill -9 finds its ports free rather than saying "already running".
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	state, ok := procState(pid)
	if !ok {
		// No /proc entry: it exited between the two looks.
		return false
	}
	if state != 'Z' && state != 'X' {
		return true
	}
	deadline := time.Now().Add(dyingWait)
	for dying(pid) {
		if time.Now().After(deadline) {
			return true
		}
		time.Sleep(pollInterval)
	}
	return false
}

// dyingWait bounds how long alive waits for the last threads of a dying process: the kernel
// tears them down in milliseconds.
const dyingWait = time.Second

// dying reports whether pid, whose main thread has exited (a zombie waiting to be reaped),
// still has other threads on their way out. A multi-threaded program killed by a signal
// (a Go program after kill -9) shows its main thread as a zombie while the other threads
// still hold its files: its listening sockets are only closed when the last thread is gone.
// Saying "not running" before that would let start fail on "address already in use".
func dying(pid int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	self := strconv.Itoa(pid)
	for _, t := range tasks {
		if t.Name() == self {
			continue
		}
		if state, ok := statState(dir + "/" + t.Name() + "/stat"); ok && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// procState returns the state letter from /proc/PID/stat ("pid (comm) S ...").
func procState(pid int) (byte, bool) {
	return statState("/proc/" + strconv.Itoa(pid) + "/stat")
}

func statState(path string) (byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')') // comm may itself contain ") "
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}

// runsExe reports whether process pid runs the executable exe. It reads /proc/PID/exe
// (" (deleted)" after the binary was replaced by an upgrade still counts as ours); when that
// link cannot be read (another user's process) it compares the base name of argv[0].
func runsExe(pid int, exe string) bool {
	want := canonical(exe)
	dir := "/proc/" + strconv.Itoa(pid)
	if got, err := os.Readlink(dir + "/exe"); err == nil {
		return canonical(strings.TrimSuffix(got, " (deleted)")) == want
	}
	b, err := os.ReadFile(dir + "/cmdline")
	if err != nil || len(b) == 0 {
		return false
	}
	argv0, _, _ := bytes.Cut(b, []byte{0})
	return filepath.Base(string(argv0)) == filepath.Base(want)
}

func canonical(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	return filepath.Clean(path)
}

// ownExecutable is the executable that counts as "pushinator" for Stop and Status.
func ownExecutable() (string, error) {
	return os.Executable()
}
