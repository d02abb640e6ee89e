package wsframe

import (
	"bufio"
	"errors"
	"io"
	"net"
	"time"

	"github.com/gobwas/ws"
	"github.com/pushinator/pushinator/internal/netpoll"
)

// Errors Reader.Next ends with besides the connection's own.
var (
	// ErrTooBig: a message exceeded maxPayload; a 1009 close frame was sent.
	ErrTooBig = errors.New("wsframe: message too big")
	// ErrPeerClosed: the client sent a close frame; it was answered.
	ErrPeerClosed = errors.New("wsframe: closed by the client")
	// ErrProtocol: a continuation without a message, a new message
	// before the last one's end, or an unknown opcode (RFC 6455 5.4:
	// the connection must fail).
	ErrProtocol = errors.New("wsframe: protocol error")
)

// Closed reports whether err from Reader.Next means the client went away
// (it closed, or the connection ended) rather than misbehaved or timed
// out.
func Closed(err error) bool {
	return errors.Is(err, ErrPeerClosed) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// Reader reads a client's messages from one Conn. It is used by one
// goroutine.
type Reader struct {
	c            *Conn
	src          io.Reader
	bufSize      int
	br           *bufio.Reader // nil while parked (see Park)
	maxPayload   int64
	writeTimeout time.Duration
	frag         []byte // a fragmented message being assembled
	fragOp       ws.OpCode
	inFrag       bool
}

// NewReader reads from src (as Upgrade returned it) through a buffer of
// bufSize bytes; a message longer than maxPayload ends the connection;
// control answers are written within writeTimeout.
func (c *Conn) NewReader(src io.Reader, bufSize int, maxPayload int64, writeTimeout time.Duration) *Reader {
	return &Reader{c: c, src: src, bufSize: bufSize, maxPayload: maxPayload, writeTimeout: writeTimeout}
}

// Park hands the reading of the connection to p, when nothing read is
// left unprocessed: resume then runs in a new goroutine once the
// connection has bytes to read or has ended, and the caller must stop
// reading. Parked, the Reader holds no buffer and no goroutine waits on
// the connection. Park reports false when the caller must go on reading
// itself: p is nil, bytes are buffered, or the connection cannot be
// polled (TLS) or is closing. resume is kept from the first call on.
func (r *Reader) Park(p *netpoll.Poller, resume func()) bool {
	if p == nil || (r.br != nil && r.br.Buffered() > 0) {
		return false
	}
	if pr, ok := r.src.(*prefixReader); ok && len(pr.pre) > 0 {
		return false
	}
	// Dropped before arming: the resumed reader may start at once.
	br := r.br
	r.br = nil
	if !r.c.waitReadable(p, resume) {
		r.br = br
		return false
	}
	return true
}

// Next returns the next whole text or binary message, its opcode being
// ws.OpText or ws.OpBinary. Each frame must arrive within idle. Pings are
// answered with pongs, pongs ignored. After an error the Reader is done;
// the caller closes the Conn.
func (r *Reader) Next(idle time.Duration) (ws.OpCode, []byte, error) {
	c := r.c
	if r.br == nil {
		r.br = bufio.NewReaderSize(r.src, r.bufSize)
	}
	for {
		c.conn.SetReadDeadline(time.Now().Add(idle))
		h, err := ws.ReadHeader(r.br)
		if err != nil {
			return 0, nil, err
		}
		if h.Length > r.maxPayload || int64(len(r.frag))+h.Length > r.maxPayload {
			c.WriteRaw([]byte(CloseTooBig), r.writeTimeout)
			return 0, nil, ErrTooBig
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(r.br, payload); err != nil {
			return 0, nil, err
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		op := h.OpCode
		switch op {
		case ws.OpPing:
			if len(payload) <= 125 {
				c.WriteRaw(append(AppendHeader(nil, OpPong, len(payload)), payload...), r.writeTimeout)
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			c.WriteRaw([]byte(CloseNormal), r.writeTimeout)
			return 0, nil, ErrPeerClosed
		case ws.OpContinuation:
			if !r.inFrag {
				return 0, nil, ErrProtocol
			}
			r.frag = append(r.frag, payload...)
			if !h.Fin {
				continue
			}
			payload, op = r.frag, r.fragOp
			r.frag, r.inFrag = nil, false
		case ws.OpText, ws.OpBinary:
			if r.inFrag {
				return 0, nil, ErrProtocol
			}
			if !h.Fin {
				r.frag, r.fragOp, r.inFrag = payload, op, true
				continue
			}
		default:
			return 0, nil, ErrProtocol
		}
		return op, payload, nil
	}
}
