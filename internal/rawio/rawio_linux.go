//go:build linux

package rawio

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

// Write writes b to the non-blocking descriptor fd once: it returns what the
// socket took, or the error (syscall.EAGAIN when its buffer is full). fd must
// stay open during the call: call it from syscall.RawConn.Write.
func Write(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_WRITE, fd, b) }

// Read reads into b from the non-blocking descriptor fd once: 0 and no error
// at the end of the stream, syscall.EAGAIN when nothing is there. fd must stay
// open during the call: call it from syscall.RawConn.Read.
func Read(fd uintptr, b []byte) (int, error) { return call(syscall.SYS_READ, fd, b) }

// call makes the read or write system call trap on fd and b, again when a
// signal interrupted it.
func call(trap, fd uintptr, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	for {
		n, _, errno := syscall.RawSyscall(trap, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		default:
			return 0, errno
		}
	}
}

// Listener wraps ln so that the TCP connections it accepts are Conns.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c, nil
	}
	return NewConn(tc)
}

// Conn is a *net.TCPConn whose Read and Write make raw system calls. Every
// other method (deadlines, Close, CloseWrite, SyscallConn, addresses) is the
// TCPConn's own.
type Conn struct {
	*net.TCPConn
	rc syscall.RawConn

	// A Read's arguments and results, under rmu, and the function RawConn
	// calls, bound once: a Read allocates nothing. The same for Write.
	rmu    sync.Mutex
	rbuf   []byte
	rn     int
	rerr   error
	readFD func(fd uintptr) bool

	wmu     sync.Mutex
	wbuf    []byte
	wn      int
	werr    error
	writeFD func(fd uintptr) bool
}

// NewConn wraps c.
func NewConn(c *net.TCPConn) (*Conn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, err
	}
	conn := &Conn{TCPConn: c, rc: rc}
	conn.readFD, conn.writeFD = conn.readSome, conn.writeAll
	return conn, nil
}

// Read reads what is there, waiting in Go's poller (under the read deadline)
// while nothing is.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rbuf, c.rn, c.rerr = b, 0, nil
	err := c.rc.Read(c.readFD)
	n, rerr := c.rn, c.rerr
	c.rbuf = nil // the caller's buffer is not kept
	switch {
	case err != nil:
		return 0, c.opError("read", err)
	case rerr != nil:
		return 0, c.opError("read", os.NewSyscallError("read", rerr))
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// readSome reads once into rbuf; false (wait) when nothing is there.
func (c *Conn) readSome(fd uintptr) bool {
	c.rn, c.rerr = Read(fd, c.rbuf)
	return c.rerr != syscall.EAGAIN
}

// Write writes all of b, waiting in Go's poller (under the write deadline)
// while the socket's buffer is full.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf, c.wn, c.werr = b, 0, nil
	err := c.rc.Write(c.writeFD)
	n, werr := c.wn, c.werr
	c.wbuf = nil
	switch {
	case err != nil:
		return n, c.opError("write", err)
	case werr != nil:
		return n, c.opError("write", werr)
	}
	return n, nil
}

// writeAll writes wbuf; false (wait) when the socket's buffer is full.
func (c *Conn) writeAll(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		n, err := Write(fd, c.wbuf[c.wn:])
		switch {
		case err == syscall.EAGAIN:
			return false
		case err != nil:
			c.werr = os.NewSyscallError("write", err)
			return true
		case n == 0:
			c.werr = io.ErrShortWrite
			return true
		}
		c.wn += n
	}
	return true
}

// opError is the error a *net.TCPConn returns for the same failure: net/http
// tells a client that went away from a broken request by the "read" Op, and
// timeouts by net.Error.
func (c *Conn) opError(op string, err error) error {
	if oe, ok := err.(*net.OpError); ok { // RawConn's own, Op "raw-read" or "raw-write"
		// Made for this call alone: net/http's aborted background read ends in one for
		// every request, so it is renamed rather than wrapped again.
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
