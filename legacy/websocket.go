package legacy

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
	closeFrameNormal = "\x88\x02\x03\xe8"
	closeFrameTooBig = "\x88\x02\x03\xf1"
	wsOpText         = 0x1
	wsOpPong         = 0xa
)

// wsConn is one WebSocket connection. Frames are written under wmu: by the
// socket's flusher, or by the reader for control frames.
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

// writePackets writes each packet as one text frame (the transport has its
// own framing), through a pooled buffer, within WriteTimeout.
func (c *wsConn) writePackets(srv *Server, pkts [][]byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	bw := srv.writers.Get().(*bufio.Writer)
	bw.Reset(c.conn)
	c.conn.SetWriteDeadline(time.Now().Add(srv.opts.WriteTimeout))
	var hdr [10]byte
	for _, p := range pkts {
		bw.Write(appendFrameHeader(hdr[:0], wsOpText, len(p)))
		bw.Write(p)
	}
	err := bw.Flush()
	bw.Reset(nil)
	srv.writers.Put(bw)
	return err
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

// serveWebSocket connects a handshaken socket over WebSocket. A session
// that is unknown or taken gets the "client not handshaken" error packet
// on the WebSocket, so the 0.9 client handshakes again.
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, s *Socket) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		srv.writeText(w, http.StatusBadRequest, "legacy: websocket: not an upgrade request")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !srv.originAllowed(origin) {
		srv.writeText(w, http.StatusForbidden, "legacy: websocket: origin not allowed")
		return
	}
	conn, rw, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		if conn != nil {
			conn.Close()
		}
		return
	}
	c := &wsConn{conn: conn}
	// The hijacked buffers are dropped (only bytes already read past the
	// request are kept), so an idle socket holds no HTTP-sized buffer.
	var src io.Reader = conn
	if rw != nil && rw.Reader.Buffered() > 0 {
		pre := make([]byte, rw.Reader.Buffered())
		io.ReadFull(rw.Reader, pre)
		src = &prefixReader{pre: pre, r: conn}
	}
	refuse := func() {
		b := appendFrameHeader(make([]byte, 0, 16), wsOpText, len(rawNotHandshaken))
		c.writeRaw(append(b, rawNotHandshaken...), srv.opts.WriteTimeout)
		c.shutdown(srv.opts.WriteTimeout)
	}
	if s == nil {
		refuse()
		return
	}
	s.mu.Lock()
	if s.state != stateHandshaken {
		s.mu.Unlock()
		refuse()
		return
	}
	s.connectLocked(kindWebSocket, r.RemoteAddr)
	if s.state == stateClosed {
		s.mu.Unlock()
		refuse()
		return
	}
	// Connected, or refused with the packets that say so queued.
	s.ws = c
	s.kickLocked()
	s.mu.Unlock()
	// A fresh goroutine reads, so the HTTP server's stack is released.
	go s.readWS(c, src)
}

// flushWS writes the queue to c until it is empty, then ends: no goroutine
// waits on an idle socket's queue.
func (s *Socket) flushWS(c *wsConn) {
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
				fire = s.finishLocked(s.reason, nil)
			}
			s.mu.Unlock()
			s.afterFinish(fire)
			return
		}
		s.queue = nil
		s.mu.Unlock()
		if err := c.writePackets(s.srv, pkts); err != nil {
			reason := reasonTransportError
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = reasonSlowClient
			}
			s.mu.Lock()
			var fire bool
			if s.ws == c {
				fire = s.finishLocked(reason, nil)
			}
			s.flushing = false
			s.mu.Unlock()
			s.afterFinish(fire)
			c.conn.Close()
			return
		}
	}
}

// readWS reads frames until the connection ends and hands each message to
// the socket as one packet.
func (s *Socket) readWS(c *wsConn, src io.Reader) {
	opts := &s.srv.opts
	// The client speaks at least every heartbeat: a silent connection is
	// dead well before this (the heartbeat timer acts first).
	idle := opts.HeartbeatInterval + opts.HeartbeatTimeout + opts.WriteTimeout
	br := bufio.NewReaderSize(src, wsReadBuffer)
	var (
		frag   []byte // a fragmented message being assembled
		inFrag bool
	)
	for {
		c.conn.SetReadDeadline(time.Now().Add(idle))
		h, err := ws.ReadHeader(br)
		if err != nil {
			s.wsGone(c, readErrReason(err))
			return
		}
		if h.Length > opts.MaxPayload || int64(len(frag))+h.Length > opts.MaxPayload {
			c.writeRaw([]byte(closeFrameTooBig), opts.WriteTimeout)
			s.wsGone(c, reasonTransportError)
			return
		}
		payload := make([]byte, h.Length)
		if _, err := io.ReadFull(br, payload); err != nil {
			s.wsGone(c, readErrReason(err))
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
		}
		switch h.OpCode {
		case ws.OpPing:
			if len(payload) <= 125 {
				c.writeRaw(append(appendFrameHeader(nil, wsOpPong, len(payload)), payload...), opts.WriteTimeout)
			}
			continue
		case ws.OpPong:
			continue
		case ws.OpClose:
			c.writeRaw([]byte(closeFrameNormal), opts.WriteTimeout)
			s.wsGone(c, reasonTransportClose)
			return
		case ws.OpContinuation:
			if !inFrag {
				s.wsGone(c, reasonTransportError)
				return
			}
			frag = append(frag, payload...)
			if !h.Fin {
				continue
			}
			payload, frag, inFrag = frag, nil, false
		case ws.OpText, ws.OpBinary:
			// Protocol 1 is text; a binary frame is read as its bytes.
			if inFrag {
				s.wsGone(c, reasonTransportError)
				return
			}
			if !h.Fin {
				frag, inFrag = payload, true
				continue
			}
		default:
			s.wsGone(c, reasonTransportError)
			return
		}
		if s.handlePacket(payload) != nil {
			// Finishing the socket closes c (after a close frame).
			return
		}
	}
}

func readErrReason(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return reasonTransportClose
	}
	return reasonTransportError
}

// wsGone ends the socket carried by c (if it still is) and closes c.
func (s *Socket) wsGone(c *wsConn, reason string) {
	s.mu.Lock()
	var fire bool
	if s.ws == c {
		fire = s.finishLocked(reason, nil)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
	c.conn.Close()
}
