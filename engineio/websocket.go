package engineio

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// Server-sent close frames (unmasked): 1000 normal closure, 1009 message
// too big.
const (
	closeFrameNormal      = "\x88\x02\x03\xe8"
	closeFrameTooBig      = "\x88\x02\x03\xf1"
	wsOpText         byte = 0x1
	wsOpBinary       byte = 0x2
	wsOpPong         byte = 0xa
)

// wsConn is one WebSocket connection. Frames are written under wmu: by the
// session's flusher, or by the reader for control frames and the probe.
type wsConn struct {
	conn net.Conn
	wmu  sync.Mutex
}

// shutdown sends a close frame if no write is under way, then closes.
func (c *wsConn) shutdown(timeout time.Duration) {
	if c.wmu.TryLock() {
		c.conn.SetWriteDeadline(time.Now().Add(timeout))
		io.WriteString(c.conn, closeFrameNormal)
		c.wmu.Unlock()
	}
	c.conn.Close()
}

// writeRaw writes pre-encoded frames.
func (c *wsConn) writeRaw(b []byte, timeout time.Duration) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := c.conn.Write(b)
	return err
}

func isWebSocketRequest(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// appendFrameHeader appends a final, unmasked frame header.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
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

// writeFrame writes p as one frame: text frames carry "<type><data>"; v4
// binary frames the raw data; v3 binary frames a leading 0x04 byte. The
// data is written as is, never copied into a new slice or modified.
func writeFrame(bw *bufio.Writer, p packet, proto uint8) {
	op, n, prefix, pb := wsOpText, 1+len(p.data), true, p.typ
	if p.binary {
		op = wsOpBinary
		if proto == 4 {
			n, prefix = len(p.data), false
		} else {
			pb = p.typ - '0'
		}
	}
	// Byte by byte: a header array passed to Write would escape to the heap.
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
	if prefix {
		bw.WriteByte(pb)
	}
	bw.Write(p.data)
}

// writePackets writes packets through a pooled buffer, within WriteTimeout.
func (c *wsConn) writePackets(srv *Server, pkts []packet, proto uint8) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	bw := srv.writers.Get().(*bufio.Writer)
	bw.Reset(c.conn)
	c.conn.SetWriteDeadline(time.Now().Add(srv.opts.WriteTimeout))
	for _, p := range pkts {
		writeFrame(bw, p, proto)
	}
	err := bw.Flush()
	bw.Reset(nil)
	srv.writers.Put(bw)
	return err
}

// flushWS writes the queue to c until it is empty, then ends: no goroutine
// waits on an idle session's queue.
func (s *Session) flushWS(c *wsConn) {
	for {
		s.mu.Lock()
		if s.ws != c || s.state == stateClosed {
			s.flushing = false
			s.mu.Unlock()
			return
		}
		pkts := s.queue
		if len(pkts) == 0 {
			s.flushing = false
			var fire bool
			if s.state == stateClosing {
				fire = s.finishLocked(s.reason, ptClose)
			}
			s.mu.Unlock()
			s.afterFinish(fire)
			return
		}
		s.queue = nil
		s.mu.Unlock()
		if err := c.writePackets(s.srv, pkts, s.proto); err != nil {
			reason := "transport error"
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = "slow client"
			}
			s.mu.Lock()
			var fire bool
			if s.ws == c {
				fire = s.finishLocked(reason, ptClose)
			}
			s.flushing = false
			s.mu.Unlock()
			s.afterFinish(fire)
			c.conn.Close()
			return
		}
	}
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

// upgradeConn completes the WebSocket handshake. The hijacked buffers are
// dropped (only bytes already read past the request are kept), so the
// session holds no HTTP-sized buffer.
func upgradeConn(w http.ResponseWriter, r *http.Request) (*wsConn, io.Reader, bool) {
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
	return &wsConn{conn: conn}, src, true
}

// handshakeWebSocket opens a session whose first transport is WebSocket.
func (srv *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, s *Session) {
	c, src, ok := upgradeConn(w, r)
	if !ok {
		return
	}
	s.queue = append(s.queue, packet{typ: ptOpen, data: srv.openPacket(s)})
	if !srv.open(s, r) {
		c.shutdown(srv.opts.WriteTimeout)
		return
	}
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		c.shutdown(srv.opts.WriteTimeout)
		return
	}
	s.ws = c
	s.kickLocked()
	s.mu.Unlock()
	// A fresh goroutine reads, so the HTTP server's large stack is released.
	go s.readWS(c, src, false)
}

// serveUpgrade takes a WebSocket for an existing session: the probe of an
// upgrade from polling.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	if !srv.opts.UpgradeToWebSocket || !isWebSocketRequest(r) {
		writeError(w, errBadRequest)
		return
	}
	c, src, ok := upgradeConn(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.state != stateOpen || s.kind == kindWebSocket || s.probe != nil || s.upgrading {
		// Already upgraded or upgrading: the official server accepts the
		// WebSocket and closes it.
		s.mu.Unlock()
		c.shutdown(srv.opts.WriteTimeout)
		return
	}
	s.probe = c
	s.mu.Unlock()
	go s.readWS(c, src, true)
}

// readWS reads frames until the connection ends. While probing it runs
// the upgrade; afterwards it feeds the session.
func (s *Session) readWS(c *wsConn, src io.Reader, probing bool) {
	defer func() {
		// As net/http does for handlers: a panic (in a SessionHandler)
		// ends this session, not the process.
		if r := recover(); r != nil {
			s.srv.log.Error("engineio: panic in websocket reader", "sid", s.id, "panic", r)
			s.closeNow("transport error", ptClose)
			c.conn.Close()
		}
	}()
	opts := &s.srv.opts
	br := bufio.NewReaderSize(src, wsReadBuffer)
	var (
		frag   []byte // a fragmented message being assembled
		fragOp ws.OpCode
	)
	for {
		d := 2 * (opts.PingInterval + opts.PingTimeout)
		if probing {
			d = upgradeTimeout
		}
		c.conn.SetReadDeadline(time.Now().Add(d))
		h, err := ws.ReadHeader(br)
		if err != nil {
			s.wsGone(c, probing, readErrReason(err))
			return
		}
		if h.Length > opts.MaxPayload || int64(len(frag))+h.Length > opts.MaxPayload {
			c.writeRaw([]byte(closeFrameTooBig), opts.WriteTimeout)
			s.wsGone(c, probing, "transport error")
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			s.wsGone(c, probing, readErrReason(err))
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		op := h.OpCode
		switch op {
		case ws.OpPing:
			if len(payload) <= 125 {
				c.writeRaw(append(appendFrameHeader(nil, wsOpPong, len(payload)), payload...), opts.WriteTimeout)
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			c.writeRaw([]byte(closeFrameNormal), opts.WriteTimeout)
			s.wsGone(c, probing, "transport close")
			return
		case ws.OpContinuation:
			if frag == nil {
				s.wsGone(c, probing, "transport error")
				return
			}
			frag = append(frag, payload...)
			if !h.Fin {
				continue
			}
			payload, op, frag = frag, fragOp, nil
		case ws.OpText, ws.OpBinary:
			if !h.Fin {
				frag, fragOp = payload, op
				continue
			}
		default:
			s.wsGone(c, probing, "transport error")
			return
		}
		p, err := s.decodeFrame(op, payload)
		if err != nil {
			if probing {
				s.wsGone(c, true, "")
			} else {
				s.closeNow("parse error", ptClose)
				c.conn.Close()
			}
			return
		}
		if probing {
			var alive bool
			if probing, alive = s.probePacket(c, p); !alive {
				return
			}
			continue
		}
		if !s.handlePacket(p) {
			return
		}
	}
}

func readErrReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return "transport close"
	}
	return "transport error"
}

func (s *Session) decodeFrame(op ws.OpCode, payload []byte) (packet, error) {
	if op == ws.OpText {
		if s.proto == 4 {
			return decodeV4Packet(payload)
		}
		return decodeV3Packet(payload)
	}
	if s.proto == 4 {
		return packet{typ: ptMessage, binary: true, data: payload}, nil
	}
	if len(payload) == 0 || payload[0] > ptNoop-'0' {
		return packet{}, errParse
	}
	return packet{typ: payload[0] + '0', binary: true, data: payload[1:]}, nil
}

// wsGone handles the end of a WebSocket: a failed probe leaves the session
// on polling; the session's own WebSocket ending closes the session.
func (s *Session) wsGone(c *wsConn, probing bool, reason string) {
	s.mu.Lock()
	var fire bool
	if probing {
		if s.probe == c {
			s.probe = nil
			s.upgrading = false
		}
	} else if s.ws == c {
		fire = s.finishLocked(reason, ptClose)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
	c.conn.Close()
}

// probePacket runs the upgrade on the probing WebSocket: "2probe" is
// answered "3probe" and the pending poll is released with a noop; "5"
// moves the session (and its queue) to this WebSocket. It reports whether
// the connection is still probing and whether it is still alive.
func (s *Session) probePacket(c *wsConn, p packet) (probing, alive bool) {
	switch {
	case p.typ == ptPing && string(p.data) == "probe":
		var frame [16]byte
		b := appendFrameHeader(frame[:0], wsOpText, 6)
		b = append(b, "3probe"...)
		if err := c.writeRaw(b, s.srv.opts.WriteTimeout); err != nil {
			s.wsGone(c, true, "")
			return false, false
		}
		s.mu.Lock()
		if s.probe == c && s.state != stateClosed {
			s.upgrading = true
			s.wakePollLocked()
		}
		s.mu.Unlock()
		return true, true
	case p.typ == ptUpgrade:
		s.mu.Lock()
		if s.probe != c || s.state == stateClosed {
			s.mu.Unlock()
			c.conn.Close()
			return false, false
		}
		s.probe = nil
		s.upgrading = false
		s.srv.byKind[s.kind].Add(-1)
		s.srv.byKind[kindWebSocket].Add(1)
		s.kind = kindWebSocket
		s.ws = c
		s.wakePollLocked() // a poll still waiting ends with a noop
		s.kickLocked()
		s.mu.Unlock()
		return false, true
	default:
		s.wsGone(c, true, "")
		return false, false
	}
}
