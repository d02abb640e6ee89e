// Package wsframe is the server side of RFC 6455 WebSocket connections as
// both push protocols (Engine.IO and socket.io 0.9) use them: the upgrade,
// unmasked frame headers, deadline-bounded writes under one write lock,
// reading whole messages with control frames answered and fragments
// assembled, and parking idle connections in a netpoll.Poller.
//
// Guarantees:
//   - Every write has the deadline its caller passes; writes on one Conn
//     never interleave, and nothing follows a close frame.
//   - Shutdown never waits on a write under way: it sends its close frame
//     only when the connection is free, and closes the connection anyway.
//   - Reader never holds more than maxPayload bytes of one message, and
//     what it holds grows with the bytes that arrived, not with what a
//     frame header claims; the buffers the upgrade left behind are dropped; a Reader parked in a
//     netpoll.Poller holds no buffer at all, and no goroutine waits on it.
//   - A Conn leaves its Poller before its descriptor is closed.
//   - TryWrite never blocks and never takes the write deadline's timer;
//     it writes nothing while another write holds the connection.
package wsframe

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/pushinator/pushinator/internal/netpoll"
	"github.com/pushinator/pushinator/internal/rawio"
)

// Close frames a server sends (unmasked): 1000 normal closure, 1002
// protocol error, 1007 invalid data (text that is not UTF-8), 1009 message
// too big.
const (
	CloseNormal      = "\x88\x02\x03\xe8"
	CloseProtocol    = "\x88\x02\x03\xea"
	CloseInvalidData = "\x88\x02\x03\xef"
	CloseTooBig      = "\x88\x02\x03\xf1"
)

// Opcodes of the frames a server writes.
const (
	OpText   byte = 0x1
	OpBinary byte = 0x2
	OpPong   byte = 0xa
)

// Conn is one server-side WebSocket connection. Frames are written under
// one lock, so a flusher and a reader answering control frames may write
// concurrently.
type Conn struct {
	conn net.Conn
	raw  syscall.RawConn // nil when conn has no descriptor of its own (TLS)
	wmu  sync.Mutex

	// TryWrite's state, under wmu: the bytes and how many went, and
	// writeSome bound to c once, so that a push allocates nothing.
	tryBuf    []byte
	tryN      int
	writeSome func(fd uintptr) bool
	// closeSent, under wmu: a close frame went out, and nothing may follow
	// it (RFC 6455 5.5.1).
	closeSent bool
	// written counts, under wmu, the bytes the socket took in a
	// WriteBuffered call (see countingConn).
	written int64

	// The connection's place in a netpoll.Poller while its Reader is
	// parked; it must leave the Poller before the descriptor is closed.
	pmu        sync.Mutex
	waiter     *netpoll.Waiter
	closed     bool
	unpollable bool // Register failed (TLS): read with a goroutine
}

// IsUpgradeRequest reports whether r asks for a WebSocket.
func IsUpgradeRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Upgrade completes the WebSocket handshake and returns the connection
// and the source its frames are read from. The hijacked buffers are
// dropped (only bytes already read past the request are kept), so the
// connection holds no HTTP-sized buffer. It reports false, with the
// response already written or the connection closed, when the handshake
// fails.
func Upgrade(w http.ResponseWriter, r *http.Request) (*Conn, io.Reader, bool) {
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return nil, nil, false
	}
	var src io.Reader = conn
	if rw != nil && rw.Reader.Buffered() > 0 {
		pre := make([]byte, rw.Reader.Buffered())
		io.ReadFull(rw.Reader, pre)
		src = &prefixReader{pre: pre, r: conn}
	}
	return NewConn(conn), src, true
}

// NewConn wraps an established WebSocket connection (tests, or a caller
// that did its own handshake).
func NewConn(conn net.Conn) *Conn {
	c := &Conn{conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	return c
}

// TryWrite writes what the socket takes of b at once, never waiting, and
// returns how many bytes that was: all of b for a push to a client that
// keeps up; fewer (a frame may be cut) when the socket's buffer is full;
// 0 when another write is under way, the connection has no descriptor of
// its own, or it failed. The caller writes the rest the ordinary way,
// which also reports any error.
func (c *Conn) TryWrite(b []byte) int {
	if c.raw == nil || !c.wmu.TryLock() {
		return 0
	}
	defer c.wmu.Unlock()
	if c.closeSent {
		return 0
	}
	if c.writeSome == nil {
		c.writeSome = c.writeFD
	}
	c.tryBuf, c.tryN = b, 0
	if err := c.raw.Write(c.writeSome); err != nil && c.tryN == 0 {
		// The deadline of an earlier write has passed (it stays set on
		// the connection): clear it and try once more.
		c.conn.SetWriteDeadline(time.Time{})
		c.raw.Write(c.writeSome)
	}
	n := c.tryN
	c.tryBuf = nil // not kept: b is the caller's (pooled) buffer
	return n
}

// writeFD writes tryBuf to fd until it is written or the socket is full.
func (c *Conn) writeFD(fd uintptr) bool {
	for c.tryN < len(c.tryBuf) {
		k, err := rawio.Write(fd, c.tryBuf[c.tryN:])
		if err != nil || k <= 0 {
			break
		}
		c.tryN += k
	}
	return true // never wait: EAGAIN leaves the rest to the caller
}

// prefixReader replays bytes the HTTP server read past the upgrade request.
type prefixReader struct {
	pre []byte
	r   io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.r.Read(b)
}

// Close closes the connection without a close frame.
func (c *Conn) Close() error {
	c.leavePoller()
	return c.conn.Close()
}

// leavePoller takes the connection out of its Poller for good.
func (c *Conn) leavePoller() {
	c.pmu.Lock()
	w := c.waiter
	c.waiter, c.closed = nil, true
	c.pmu.Unlock()
	if w != nil {
		w.Remove()
	}
}

// waitReadable arms the connection's Waiter (registering it with resume
// the first time); false when the caller must read by itself.
func (c *Conn) waitReadable(p *netpoll.Poller, resume func()) bool {
	c.pmu.Lock()
	if c.closed || c.unpollable {
		c.pmu.Unlock()
		return false
	}
	if c.waiter == nil {
		w, err := p.Register(c.conn, resume)
		if err != nil {
			c.unpollable = true
			c.pmu.Unlock()
			return false
		}
		c.waiter = w
	}
	w := c.waiter
	c.pmu.Unlock()
	// No read is under way while parked: drop the deadline's timer.
	c.conn.SetReadDeadline(time.Time{})
	return w.Arm() == nil
}

// Shutdown sends a normal close frame if no write is under way, then
// closes.
func (c *Conn) Shutdown(timeout time.Duration) {
	c.leavePoller()
	if c.wmu.TryLock() {
		if !c.closeSent {
			c.closeSent = true
			c.conn.SetWriteDeadline(time.Now().Add(timeout))
			io.WriteString(c.conn, CloseNormal)
		}
		c.wmu.Unlock()
	}
	c.conn.Close()
}

// errCloseSent is what writes return once a close frame went out.
var errCloseSent = errors.New("wsframe: write after the close frame")

// WriteRaw writes pre-encoded frames within timeout.
func (c *Conn) WriteRaw(b []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return errCloseSent
	}
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.conn.Write(b)
	return err
}

// writeClose sends a close frame unless one went out already; nothing is
// written after it.
func (c *Conn) writeClose(frame string, timeout time.Duration) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return
	}
	c.closeSent = true
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	io.WriteString(c.conn, frame)
}

// WriteBuffered writes what fn writes to bw, all within timeout: bw is
// pointed at the connection for the call and detached after it, so a
// pooled writer can serve many connections. It returns how many bytes the
// socket took: on an error, everything before that offset was handed to
// the kernel and nothing after it was.
func (c *Conn) WriteBuffered(bw *bufio.Writer, timeout time.Duration, fn func(*bufio.Writer)) (int64, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closeSent {
		return 0, errCloseSent
	}
	c.written = 0
	bw.Reset((*countingConn)(c))
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	fn(bw)
	err := bw.Flush()
	bw.Reset(nil)
	n := c.written
	if err != nil {
		// A frame may be cut: whatever followed it, a close frame too,
		// would be read as the rest of its payload.
		c.closeSent = true
	}
	return n, err
}

// countingConn is a Conn as WriteBuffered's writer sees it: its writes go
// to the connection and count what the socket took, so a failed write says
// how far it got (a field of the Conn rather than a wrapper of its own: no
// allocation per write, and 8 bytes per connection).
type countingConn Conn

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.conn.Write(b)
	c.written += int64(n)
	return n, err
}

// AppendHeader appends a final, unmasked frame header for n payload bytes.
func AppendHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return append(dst, 126, byte(n>>8), byte(n))
	default:
		return append(dst, 127, byte(n>>56), byte(n>>48), byte(n>>40), byte(n>>32),
			byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// FrameSize is how many bytes a frame of n payload bytes takes: the header
// AppendHeader appends, then the payload.
func FrameSize(n int) int64 {
	switch {
	case n < 126:
		return int64(n) + 2
	case n <= 0xffff:
		return int64(n) + 4
	}
	return int64(n) + 10
}

// WriteHeader writes the header AppendHeader appends. Byte by byte: a
// header array passed to Write would escape to the heap.
func WriteHeader(bw *bufio.Writer, op byte, n int) {
	bw.WriteByte(0x80 | op)
	switch {
	case n < 126:
		bw.WriteByte(byte(n))
	case n <= 0xffff:
		bw.WriteByte(126)
		bw.WriteByte(byte(n >> 8))
		bw.WriteByte(byte(n))
	default:
		bw.WriteByte(127)
		for shift := 56; shift >= 0; shift -= 8 {
			bw.WriteByte(byte(n >> shift))
		}
	}
}
