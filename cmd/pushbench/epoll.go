package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// The receiving side of the bench must cost the machine as little as possible: on two cores
// it competes with the server it measures. A goroutine per connection costs two read
// syscalls per push (the data, then EAGAIN before parking) plus a wake-up; a level-triggered
// epoll costs one read per push and one epoll_wait per batch of ready connections. So after
// its handshake, a WebSocket client's socket leaves Go's poller for one of a few epoll loops.
//
// On loopback the server's write runs the receiving side too: it queues the data on the
// client's socket and, if a loop sleeps in epoll_wait, wakes that thread, on the server's
// CPU time. Across a real network the server never pays for that wake-up, and a NIC
// coalesces interrupts. With -coalesce a loop that finds nothing ready sleeps instead of
// waiting in epoll_wait, so that a busy run's writes find nobody to wake and each loop
// takes what arrived meanwhile in one epoll_wait.

const epollBatch = 256

// epollSet is a few epoll loops, each owning a share of the connections, each on its own
// goroutine (blocked in epoll_wait on its own thread) until close.
type epollSet struct {
	loops []*epollLoop
	mu    sync.Mutex
	next  int
	wg    sync.WaitGroup
}

type epollLoop struct {
	epfd    int
	nap     time.Duration // -coalesce; 0: block in epoll_wait
	stopped atomic.Bool
	mu      sync.Mutex
	conns   map[int32]*epollConn
	buf     []byte
}

// epollConn is one client's socket and its partial frame.
type epollConn struct {
	c       *client
	fd      int
	pending []byte // bytes of an incomplete frame
	frag    []byte // a fragmented message being assembled
	onPush  func(*client, receipt)
	mu      sync.Mutex // writes (pongs) against stop
	closed  bool
}

// epollWaitMs bounds each epoll_wait, so that a loop sees close within this time.
const epollWaitMs = 200

func newEpollSet(n int, nap time.Duration) (*epollSet, error) {
	s := &epollSet{}
	for range max(n, 1) {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("pushbench: epoll_create1: %w", err)
		}
		l := &epollLoop{epfd: epfd, nap: nap, conns: map[int32]*epollConn{}, buf: make([]byte, 64<<10)}
		s.loops = append(s.loops, l)
		s.wg.Go(l.run)
	}
	return s, nil
}

// close ends the loops once their connections are closed (call it after closing them).
func (s *epollSet) close() {
	for _, l := range s.loops {
		l.stopped.Store(true)
	}
	s.wg.Wait()
	for _, l := range s.loops {
		syscall.Close(l.epfd)
	}
}

// adopt takes conn's socket away from Go's poller (a dup of the descriptor; conn is closed)
// and reads it in an epoll loop. leftover is what the handshake reader had already buffered.
func (s *epollSet) adopt(c *client, conn net.Conn, leftover []byte, onPush func(*client, receipt)) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return errors.New("pushbench: not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var dupErr error
	if err := raw.Control(func(f uintptr) { fd, dupErr = syscall.Dup(int(f)) }); err != nil {
		return err
	}
	if dupErr != nil {
		return fmt.Errorf("pushbench: dup: %w", dupErr)
	}
	conn.Close() // removes it from Go's poller; the dup keeps the socket open
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return err
	}
	s.mu.Lock()
	l := s.loops[s.next%len(s.loops)]
	s.next++
	s.mu.Unlock()
	ec := &epollConn{c: c, fd: fd, onPush: onPush}
	c.stop = ec.stop
	if len(leftover) > 0 {
		if err := ec.parse(append([]byte(nil), leftover...)); err != nil {
			ec.stop()
		}
	}
	l.mu.Lock()
	l.conns[int32(fd)] = ec
	l.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		l.mu.Lock()
		delete(l.conns, int32(fd))
		l.mu.Unlock()
		syscall.Close(fd)
		return fmt.Errorf("pushbench: epoll_ctl: %w", err)
	}
	return nil
}

// stop shuts the socket down; its loop then reads the end, closes it and ends the client.
func (ec *epollConn) stop() {
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if !ec.closed {
		syscall.Shutdown(ec.fd, syscall.SHUT_RDWR)
	}
}

func (l *epollLoop) run() {
	events := make([]syscall.EpollEvent, epollBatch)
	wait, nap := epollWaitMs, syscall.NsecToTimespec(l.nap.Nanoseconds())
	if l.nap > 0 {
		wait = 0
	}
	for !l.stopped.Load() {
		n, err := syscall.EpollWait(l.epfd, events, wait)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			panic(fmt.Sprintf("pushbench: epoll_wait: %v", err))
		}
		if n == 0 && l.nap > 0 {
			syscall.Nanosleep(&nap, nil) // blocks this loop's thread, as epoll_wait would
			continue
		}
		for _, ev := range events[:n] {
			l.mu.Lock()
			ec := l.conns[ev.Fd]
			l.mu.Unlock()
			if ec != nil {
				l.ready(ec)
			}
		}
	}
}

// ready reads what the socket has (one read: the epoll is level-triggered, so anything left
// comes back in the next round) and handles the complete frames.
func (l *epollLoop) ready(ec *epollConn) {
	n, err := syscall.Read(ec.fd, l.buf)
	switch {
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
		return
	case err != nil:
		l.drop(ec, err)
		return
	case n == 0:
		l.drop(ec, errors.New("connection closed"))
		return
	}
	data := l.buf[:n]
	if len(ec.pending) > 0 {
		ec.pending = append(ec.pending, data...)
		data = ec.pending
	}
	if err := ec.parse(data); err != nil {
		l.drop(ec, err)
	}
}

func (l *epollLoop) drop(ec *epollConn, why error) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, ec.fd, nil)
	l.mu.Lock()
	delete(l.conns, int32(ec.fd))
	l.mu.Unlock()
	ec.mu.Lock()
	ec.closed = true
	syscall.Close(ec.fd)
	ec.mu.Unlock()
	ec.c.err = why
	close(ec.c.closed)
}

// parse handles every complete frame in pending (server frames are not masked, but a
// masked one is handled all the same).
func (ec *epollConn) parse(p []byte) error {
	for len(p) >= 2 {
		fin, op := p[0]&0x80 != 0, ws.OpCode(p[0]&0x0f)
		masked := p[1]&0x80 != 0
		hdr := 2
		switch p[1] & 0x7f {
		case 126:
			hdr = 4
		case 127:
			hdr = 10
		}
		if masked {
			hdr += 4
		}
		if len(p) < hdr {
			break // the header is not all here yet
		}
		length := uint64(p[1] & 0x7f)
		switch length {
		case 126:
			length = uint64(binary.BigEndian.Uint16(p[2:]))
		case 127:
			length = binary.BigEndian.Uint64(p[2:])
		}
		if length > 1<<24 {
			return fmt.Errorf("frame of %d bytes", length)
		}
		if uint64(len(p)) < uint64(hdr)+length {
			break // the payload is not all here yet
		}
		payload := p[hdr : hdr+int(length)]
		if masked {
			ws.Cipher(payload, [4]byte(p[hdr-4:hdr]), 0)
		}
		p = p[hdr+int(length):]
		if err := ec.frame(fin, op, payload); err != nil {
			return err
		}
	}
	// Keep only the incomplete rest; most reads end on a frame boundary and keep nothing.
	if len(p) == 0 && cap(ec.pending) > 4096 {
		ec.pending = nil
	}
	ec.pending = append(ec.pending[:0], p...)
	return nil
}

func (ec *epollConn) frame(fin bool, op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpClose:
		return errors.New("server closed the WebSocket")
	case ws.OpPing:
		return ec.write(ws.NewPongFrame(append([]byte(nil), payload...)))
	case ws.OpPong:
		return nil
	case ws.OpContinuation:
		ec.frag = append(ec.frag, payload...)
		if !fin {
			return nil
		}
		payload, ec.frag = ec.frag, nil
	default:
		if !fin {
			ec.frag = append(ec.frag[:0], payload...)
			return nil
		}
	}
	return ec.packet(payload)
}

// packet handles one Engine.IO packet.
func (ec *epollConn) packet(p []byte) error {
	switch {
	case len(p) == 1 && p[0] == '2':
		return ec.write(ws.NewTextFrame([]byte("3")))
	case len(p) >= 2 && p[0] == '4' && p[1] == '2':
		ec.c.pushed(p, time.Now().UnixNano(), ec.onPush)
	case len(p) >= 2 && p[0] == '4' && p[1] == '1', len(p) > 0 && p[0] == '1':
		return errors.New("disconnected by the server")
	}
	return nil
}

// write sends a small frame; the socket's buffer is empty or nearly so (the client only ever
// writes pongs), so a short write means the connection is broken.
func (ec *epollConn) write(f ws.Frame) error {
	f = ws.MaskFrameInPlace(f)
	b := make([]byte, 0, ws.HeaderSize(f.Header)+len(f.Payload))
	w := byteWriter{b}
	if err := ws.WriteHeader(&w, f.Header); err != nil {
		return err
	}
	b = append(w.b, f.Payload...)
	ec.mu.Lock()
	defer ec.mu.Unlock()
	if ec.closed {
		return nil
	}
	n, err := syscall.Write(ec.fd, b)
	if err != nil || n != len(b) {
		return fmt.Errorf("pong write: %d of %d bytes: %v", n, len(b), err)
	}
	return nil
}

type byteWriter struct{ b []byte }

func (w *byteWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}
