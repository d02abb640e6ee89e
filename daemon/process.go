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

// startedBy reports whether process pid had started by t, give or take startSlack. A
// pidfile is written by its process after it starts: a process that started later than its
// pidfile was written was given a reused pid (another pushinator, say, of another config).
// When /proc cannot tell, it says yes, as before.
func startedBy(pid int, t time.Time) bool {
	start, ok := processStart(pid)
	return !ok || !start.After(t.Add(startSlack))
}

// startSlack covers the rounding of the boot time (whole seconds) and of the start time
// (clock ticks).
const startSlack = 2 * time.Second

// processStart reads when pid started: the boot time (/proc/stat btime) plus its start time
// in clock ticks since boot (/proc/PID/stat, field 22; USER_HZ is 100 on Linux).
func processStart(pid int) (time.Time, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return time.Time{}, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return time.Time{}, false
	}
	fields := strings.Fields(string(b[i+1:])) // field 3 (state) onwards
	if len(fields) < 20 {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseInt(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	stat, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(stat), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(boot, 0).Add(time.Duration(ticks) * 10 * time.Millisecond), true
		}
	}
	return time.Time{}, false
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
