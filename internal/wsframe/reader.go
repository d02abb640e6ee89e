package wsframe

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
	"github.com/pushinator/pushinator/internal/netpoll"
)

// Errors Reader.Next ends with besides the connection's own.
var (
	// ErrTooBig: a message exceeded maxPayload; a 1009 close frame was sent.
	ErrTooBig = errors.New("wsframe: message too big")
	// ErrPeerClosed: the client sent a close frame; it was answered.
	ErrPeerClosed = errors.New("wsframe: closed by the client")
	// ErrProtocol: a frame RFC 6455 says must fail the connection: not
	// masked, reserved bits set (no extension is negotiated), an unknown
	// opcode, a control frame fragmented or over 125 bytes, a continuation
	// without a message or a new message before the last one's end, an
	// invalid close frame. A 1002 close frame was sent.
	ErrProtocol = errors.New("wsframe: protocol error")
	// ErrInvalidUTF8: a text message or a close reason that is not UTF-8;
	// a 1007 close frame was sent.
	ErrInvalidUTF8 = errors.New("wsframe: text is not UTF-8")
)

// directRead is the payload size up to which a frame is read into a slice
// of its full length at once; a longer one grows as its bytes arrive, so a
// header claiming a large payload reserves nothing by itself.
const directRead = 4096

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
		if errors.Is(err, ws.ErrHeaderLengthMSB) {
			return 0, nil, r.fail(ErrProtocol) // a 64-bit length with its top bit set
		}
		if err != nil {
			return 0, nil, err
		}
		if err := checkHeader(h); err != nil {
			return 0, nil, r.fail(err)
		}
		if h.Length > r.maxPayload || int64(len(r.frag))+h.Length > r.maxPayload {
			c.writeClose(CloseTooBig, r.writeTimeout)
			return 0, nil, ErrTooBig
		}
		payload, err := r.readPayload(h.Length)
		if err != nil {
			return 0, nil, err
		}
		ws.Cipher(payload, h.Mask, 0)
		op := h.OpCode
		switch op {
		case ws.OpPing:
			c.WriteRaw(append(AppendHeader(nil, OpPong, len(payload)), payload...), r.writeTimeout)
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			if err := checkClose(payload); err != nil {
				return 0, nil, r.fail(err)
			}
			c.writeClose(CloseNormal, r.writeTimeout)
			return 0, nil, ErrPeerClosed
		case ws.OpContinuation:
			if !r.inFrag {
				return 0, nil, r.fail(ErrProtocol)
			}
			r.frag = append(r.frag, payload...)
			if !h.Fin {
				continue
			}
			payload, op = r.frag, r.fragOp
			r.frag, r.inFrag = nil, false
		case ws.OpText, ws.OpBinary:
			if r.inFrag {
				return 0, nil, r.fail(ErrProtocol)
			}
			if !h.Fin {
				r.frag, r.fragOp, r.inFrag = payload, op, true
				continue
			}
		}
		if op == ws.OpText && !utf8.Valid(payload) {
			return 0, nil, r.fail(ErrInvalidUTF8)
		}
		return op, payload, nil
	}
}

// checkHeader refuses what RFC 6455 says must fail the connection before
// the payload is read.
func checkHeader(h ws.Header) error {
	switch {
	case !h.Masked, h.Rsv != 0:
		return ErrProtocol
	case h.OpCode.IsControl():
		if h.OpCode != ws.OpPing && h.OpCode != ws.OpPong && h.OpCode != ws.OpClose {
			return ErrProtocol
		}
		if !h.Fin || h.Length > 125 {
			return ErrProtocol
		}
	case h.OpCode != ws.OpContinuation && h.OpCode != ws.OpText && h.OpCode != ws.OpBinary:
		return ErrProtocol
	}
	return nil
}

// checkClose validates a close frame's body (RFC 6455 5.5.1, 7.4): empty,
// or a status code a peer may send followed by a UTF-8 reason.
func checkClose(body []byte) error {
	if len(body) == 0 {
		return nil
	}
	if len(body) == 1 {
		return ErrProtocol
	}
	code := int(body[0])<<8 | int(body[1])
	valid := code >= 1000 && code <= 1003 || code >= 1007 && code <= 1011 || code >= 3000 && code <= 4999
	if !valid {
		return ErrProtocol
	}
	if !utf8.Valid(body[2:]) {
		return ErrInvalidUTF8
	}
	return nil
}

// fail sends the close frame err calls for and returns err.
func (r *Reader) fail(err error) error {
	frame := CloseProtocol
	if err == ErrInvalidUTF8 {
		frame = CloseInvalidData
	}
	r.c.writeClose(frame, r.writeTimeout)
	return err
}

// readPayload reads n bytes (n is at most maxPayload). Beyond directRead the
// slice grows with what arrives, so that memory follows the bytes a client
// really sent.
func (r *Reader) readPayload(n int64) ([]byte, error) {
	if n <= directRead {
		payload := make([]byte, n)
		if _, err := io.ReadFull(r.br, payload); err != nil {
			return nil, err
		}
		return payload, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, directRead))
	got, err := io.CopyN(buf, r.br, n)
	if err == io.EOF && got < n {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
