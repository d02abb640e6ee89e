//go:build unix && !linux

package rawio

import (
	"net"
	"syscall"
)

// Write writes b to fd once with an ordinary system call.
func Write(fd uintptr, b []byte) (int, error) {
	n, err := syscall.Write(int(fd), b)
	if n < 0 {
		n = 0
	}
	return n, err
}

// Read reads into b from fd once with an ordinary system call.
func Read(fd uintptr, b []byte) (int, error) {
	n, err := syscall.Read(int(fd), b)
	if n < 0 {
		n = 0
	}
	return n, err
}

// Listener returns ln: the raw calls are for Linux only.
func Listener(ln net.Listener) net.Listener { return ln }
