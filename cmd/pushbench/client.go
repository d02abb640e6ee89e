package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Client-side deadlines. The server pings every pingInterval (25 s by default on both servers),
// so an idle connection sees a frame at least that often; readIdle is well above it.
const (
	handshakeTimeout = 20 * time.Second
	readIdle         = 120 * time.Second
	writeTimeout     = 10 * time.Second
	readBufferSize   = 1024 // a push is ~150 bytes; a bigger frame grows the payload buffer only
)

// receipt is one pushed message as a client saw it.
type receipt struct {
	Seq  int64 // the "s" field of the message (-1 when absent)
	Sent int64 // the "t" field: unix nanoseconds when it was (meant to be) sent
	At   int64 // unix nanoseconds when the frame was read
}

// client is one socket.io client authenticated as a user, over either transport.
type client struct {
	user     int64
	received atomic.Int64
	notify   chan struct{} // gets a token (cap 1) after each push: the round-trip proof waits on it
	closed   chan struct{} // closed when the client's goroutine has ended
	err      error         // why it ended; read after closed is closed
	stop     func()        // ends the connection; the goroutine then ends
}

func newClient(user int64) *client {
	return &client{user: user, notify: make(chan struct{}, 1), closed: make(chan struct{})}
}

// pushed handles one socket.io packet that is an event: counts it, reports it, wakes a proof.
func (c *client) pushed(p []byte, at int64, onPush func(*client, receipt)) {
	c.received.Add(1)
	if onPush != nil {
		onPush(c, receipt{Seq: intField(p, `"s":`), Sent: intField(p, `"t":`), At: at})
	}
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Close ends the client and waits for its goroutine.
func (c *client) Close() {
	c.stop()
	<-c.closed
}

// wsClient is a client over WebSocket (Engine.IO v4). Its reader goroutine is its only user
// after dial returns; it ends when the connection closes.
type wsClient struct {
	*client
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

// dialer opens client connections from several loopback source addresses, so that more than
// one address's worth of ephemeral ports (about 28,000) can be used against one server port.
type dialer struct {
	ep     *epollSet // reads the connections after their handshake; nil: a goroutine each
	target string    // host:port
	srcs   []*net.TCPAddr
	next   atomic.Uint64
}

func newDialer(target string, nsrc, first int) *dialer {
	d := &dialer{target: target}
	for i := range max(nsrc, 1) {
		d.srcs = append(d.srcs, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(max(first, 1)+i))})
	}
	return d
}

// dial connects, does the Engine.IO and socket.io handshakes and emits auth; onPush is called
// from the reader goroutine for every pushed event.
func (d *dialer) dial(ctx context.Context, user int64, hash string, onPush func(*client, receipt)) (*client, error) {
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	src := d.srcs[d.next.Add(1)%uint64(len(d.srcs))]
	wd := ws.Dialer{
		ReadBufferSize: readBufferSize,
		Timeout:        handshakeTimeout,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: src}
			return nd.DialContext(ctx, network, addr)
		},
	}
	conn, br, _, err := wd.Dial(ctx, "ws://"+d.target+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, fmt.Errorf("pushbench: dial %s from %s: %w", d.target, src.IP, err)
	}
	c := &wsClient{client: newClient(user), conn: conn}
	c.stop = func() { conn.Close() }
	if br != nil && br.Buffered() > 0 {
		c.r = bufio.NewReaderSize(io.MultiReader(br, conn), readBufferSize)
	} else {
		if br != nil {
			ws.PutReader(br)
		}
		c.r = bufio.NewReaderSize(conn, readBufferSize)
	}
	fail := func(what string, err error) (*client, error) {
		conn.Close()
		return nil, fmt.Errorf("pushbench: user %d: %s: %w", user, what, err)
	}
	conn.SetDeadline(time.Now().Add(handshakeTimeout))
	p, err := c.readPacket()
	if err != nil || len(p) == 0 || p[0] != '0' {
		return fail("open packet", errOr(err, p))
	}
	if err := c.write([]byte("40")); err != nil {
		return fail("CONNECT", err)
	}
	for {
		p, err = c.readPacket()
		if err != nil {
			return fail("CONNECT reply", err)
		}
		if string(p) == "2" { // a ping may come first on a slow start
			if err := c.write([]byte("3")); err != nil {
				return fail("pong", err)
			}
			continue
		}
		break
	}
	if !bytes.HasPrefix(p, []byte("40")) {
		return fail("CONNECT reply", errOr(nil, p))
	}
	auth := fmt.Appendf(nil, `42["auth",%d,%s]`, user, strconv.Quote(hash))
	if err := c.write(auth); err != nil {
		return fail("auth", err)
	}
	conn.SetDeadline(time.Time{})
	if d.ep != nil {
		leftover, _ := c.r.Peek(c.r.Buffered())
		if err := d.ep.adopt(c.client, conn, leftover, onPush); err != nil {
			return fail("epoll", err)
		}
		return c.client, nil
	}
	go c.readLoop(onPush)
	return c.client, nil
}

func errOr(err error, p []byte) error {
	if err != nil {
		return err
	}
	if len(p) > 80 {
		p = p[:80]
	}
	return fmt.Errorf("unexpected packet %q", p)
}

// readPacket returns the next text or binary message's payload (valid until the next call),
// answering WebSocket pings and failing on a close frame.
func (c *wsClient) readPacket() ([]byte, error) {
	c.buf = c.buf[:0]
	for {
		h, err := ws.ReadHeader(c.r)
		if err != nil {
			return nil, err
		}
		if h.Length > 1<<24 {
			return nil, fmt.Errorf("frame of %d bytes", h.Length)
		}
		start := len(c.buf)
		c.buf = slices.Grow(c.buf, int(h.Length))[:start+int(h.Length)]
		if _, err := io.ReadFull(c.r, c.buf[start:]); err != nil {
			return nil, err
		}
		if h.Masked {
			ws.Cipher(c.buf[start:], h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpClose:
			return nil, errors.New("server closed the WebSocket")
		case ws.OpPing:
			pl := append([]byte(nil), c.buf[start:]...)
			c.buf = c.buf[:start]
			if err := c.writeFrame(ws.NewPongFrame(pl)); err != nil {
				return nil, err
			}
			continue
		case ws.OpPong:
			c.buf = c.buf[:start]
			continue
		}
		if h.Fin {
			return c.buf, nil
		}
	}
}

func (c *wsClient) write(p []byte) error { return c.writeFrame(ws.NewTextFrame(p)) }

func (c *wsClient) writeFrame(f ws.Frame) error {
	c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	return ws.WriteFrame(c.conn, ws.MaskFrameInPlace(f))
}

// readLoop answers Engine.IO pings and reports pushes until the connection ends.
func (c *wsClient) readLoop(onPush func(*client, receipt)) {
	defer close(c.closed)
	var deadlineSet time.Time
	for {
		// Moving the deadline on every frame would cost a timer update per push; every few
		// seconds keeps it within readIdle of the last frame all the same.
		if now := time.Now(); now.Sub(deadlineSet) > 5*time.Second {
			c.conn.SetReadDeadline(now.Add(readIdle))
			deadlineSet = now
		}
		p, err := c.readPacket()
		if err != nil {
			c.err = err
			c.conn.Close()
			return
		}
		switch {
		case len(p) == 1 && p[0] == '2':
			if err := c.write([]byte("3")); err != nil {
				c.err = err
				c.conn.Close()
				return
			}
		case bytes.HasPrefix(p, []byte("42")):
			c.pushed(p, time.Now().UnixNano(), onPush)
		case bytes.HasPrefix(p, []byte("41")), len(p) > 0 && p[0] == '1':
			c.err = errors.New("disconnected by the server")
			c.conn.Close()
			return
		}
	}
}

// intField finds `"key":123` in p; -1 when absent. The bench's own messages put s and t first,
// so this scan is short and needs no JSON decoder.
func intField(p []byte, key string) int64 {
	i := bytes.Index(p, []byte(key))
	if i < 0 {
		return -1
	}
	var n int64
	found := false
	for _, b := range p[i+len(key):] {
		if b < '0' || b > '9' {
			break
		}
		n = n*10 + int64(b-'0')
		found = true
	}
	if !found {
		return -1
	}
	return n
}
