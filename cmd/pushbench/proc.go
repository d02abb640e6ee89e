package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat; it is 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procSample is what the kernel says about a server process at one instant.
type procSample struct {
	CPU time.Duration // user + system time of all its threads
	RSS int64         // resident set, bytes (VmRSS)
}

// sampleProcs sums the samples of several processes (the nodes of a cluster).
func sampleProcs(pids []int) (procSample, error) {
	var sum procSample
	for _, pid := range pids {
		s, err := sampleProc(pid)
		if err != nil {
			return sum, err
		}
		sum.CPU += s.CPU
		sum.RSS += s.RSS
	}
	return sum, nil
}

// sampleProc reads /proc/PID/stat and /proc/PID/status.
func sampleProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("pushbench: server pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("pushbench: /proc/%d/stat: no ')' in %q", pid, stat)
	}
	f := bytes.Fields(stat[i+1:])
	// After ')': state is field 3, so utime (14) and stime (15) are at 11 and 12.
	if len(f) < 13 {
		return s, fmt.Errorf("pushbench: /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("pushbench: /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	s.CPU = time.Duration(ut+st) * clockTick

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("pushbench: server pid %d: %w", pid, err)
	}
	for _, line := range bytes.Split(status, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(v) // "12345 kB"
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(string(f[0]), 10, 64)
				if err != nil {
					return s, fmt.Errorf("pushbench: /proc/%d/status: VmRSS %q", pid, v)
				}
				s.RSS = kb << 10
			}
		}
	}
	return s, nil
}

// selfCPU is this process's user + system time, children included (the -procs workers).
func selfCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}
