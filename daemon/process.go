package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// alive reports whether pid is a process that has not exited: kill(pid, 0) finds it (EPERM
// means it exists but belongs to another user) and it is not a zombie waiting to be reaped.
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
	return state != 'Z' && state != 'X'
}

// procState returns the state letter from /proc/PID/stat ("pid (comm) S ...").
func procState(pid int) (byte, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
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
