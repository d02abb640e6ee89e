package engineio

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/gobwas/ws"
	"github.com/pushinator/pushinator/internal/wsframe"
)

// writeFrame writes p as one frame: text frames carry "<type><data>"; v4
// binary frames the raw data; v3 binary frames a leading 0x04 byte. The
// data is written as is, never copied into a new slice or modified.
func writeFrame(bw *bufio.Writer, p packet, proto uint8) {
	if p.framed {
		bw.Write(p.data)
		return
	}
	op, n, prefix, pb := frameOf(p, proto)
	wsframe.WriteHeader(bw, op, n)
	if prefix {
		bw.WriteByte(pb)
	}
	bw.Write(p.data)
}

// appendFrame appends the frame writeFrame writes.
func appendFrame(dst []byte, p packet, proto uint8) []byte {
	if p.framed {
		return append(dst, p.data...)
	}
	op, n, prefix, pb := frameOf(p, proto)
	dst = wsframe.AppendHeader(dst, op, n)
	if prefix {
		dst = append(dst, pb)
	}
	return append(dst, p.data...)
}

// frameOf is p's frame: opcode, payload length, and the byte before the
// data, if any.
func frameOf(p packet, proto uint8) (op byte, n int, prefix bool, pb byte) {
	op, n, prefix, pb = wsframe.OpText, 1+len(p.data), true, p.typ
	if p.binary {
		op = wsframe.OpBinary
		if proto == 4 {
			n, prefix = len(p.data), false
		} else {
			pb = p.typ - '0'
		}
	}
	return op, n, prefix, pb
}

// writeNowLocked writes the queue from the caller's goroutine if the
// socket takes it without waiting: a push to a client that keeps up, the
// common case, then costs one write system call and neither a goroutine
// nor a deadline timer. What the socket does not take stays at the head
// of the queue, framed, for the flusher. It reports whether the queue is
// now empty. Small queues only: the frames are built in one pooled buffer.
func (s *Session) writeNowLocked() bool {
	if s.state != stateOpen {
		return false // the flusher finishes a closing session
	}
	size := 0
	for _, p := range s.queue {
		size += len(p.data) + 2 + 8
	}
	if size > writeBufferSize {
		return false
	}
	bp := s.srv.bodies.Get().(*[]byte)
	buf := (*bp)[:0]
	for _, p := range s.queue {
		buf = appendFrame(buf, p, s.proto)
	}
	n := s.ws.TryWrite(buf)
	switch {
	case n == len(buf):
		s.queue = nil
	case n > 0:
		s.queue = []packet{{framed: true, data: bytes.Clone(buf[n:]), mark: firstMark(s.queue[firstUnwritten(s.queue, s.proto, int64(n)):])}}
	}
	*bp = buf
	s.srv.bodies.Put(bp)
	return n == len(buf)
}

// frameSize is how many bytes writeFrame writes for p: header, then the
// payload (prefix byte included).
func frameSize(p packet, proto uint8) int64 {
	if p.framed {
		return int64(len(p.data))
	}
	_, n, _, _ := frameOf(p, proto)
	return wsframe.FrameSize(n)
}

// firstUnwritten is the index of the first packet of pkts whose frame is
// not wholly within the first written bytes of their frames.
func firstUnwritten(pkts []packet, proto uint8, written int64) int {
	var end int64
	for i, p := range pkts {
		end += frameSize(p, proto)
		if end > written {
			return i
		}
	}
	return len(pkts)
}

// writePackets writes packets through a pooled buffer, within WriteTimeout.
// On an error it returns the index of the first packet not wholly written.
func (srv *Server) writePackets(c *wsframe.Conn, pkts []packet, proto uint8) (int, error) {
	bw := srv.writers.Get().(*bufio.Writer)
	n, err := c.WriteBuffered(bw, srv.opts.WriteTimeout, func(bw *bufio.Writer) {
		for _, p := range pkts {
			writeFrame(bw, p, proto)
		}
	})
	srv.writers.Put(bw)
	if err != nil {
		return firstUnwritten(pkts, proto, n), err
	}
	return len(pkts), nil
}

// flushWS writes the queue to c until it is empty, then ends: no goroutine
// waits on an idle session's queue. A session closed meanwhile calls
// OnClose from here, once the last write said what it wrote.
func (s *Session) flushWS(c *wsframe.Conn) {
	for {
		s.mu.Lock()
		if s.ws != c || s.state == stateClosed {
			s.flushing = false
			fire := s.onCloseDueLocked()
			s.mu.Unlock()
			s.afterFinish(fire)
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
		if i, err := s.srv.writePackets(c, pkts, s.proto); err != nil {
			reason := "transport error"
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = "slow client"
			}
			s.mu.Lock()
			s.flushing = false
			s.droppedLocked(pkts[i:], true)
			var fire bool
			if s.ws == c {
				fire = s.finishLocked(reason, ptClose)
			} else {
				fire = s.onCloseDueLocked()
			}
			s.mu.Unlock()
			s.afterFinish(fire)
			c.Close()
			return
		}
	}
}

// handshakeWebSocket opens a session whose first transport is WebSocket.
func (srv *Server) handshakeWebSocket(w http.ResponseWriter, r *http.Request, s *Session) {
	c, src, ok := wsframe.Upgrade(w, r)
	if !ok {
		return
	}
	s.queue = append(s.queue, packet{typ: ptOpen, data: srv.openPacket(s)})
	if !srv.open(s, r) {
		c.Shutdown(srv.opts.WriteTimeout)
		return
	}
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		c.Shutdown(srv.opts.WriteTimeout)
		return
	}
	s.ws = c
	s.kickLocked()
	s.mu.Unlock()
	// The client's first packet wakes a fresh reader (or a fresh goroutine
	// waits for it), so the HTTP server's large stack is released.
	if r := s.newWSReader(c, src, false); !r.rd.Park(srv.opts.Poller, r.resume) {
		go r.run()
	}
}

// serveUpgrade takes a WebSocket for an existing session: the probe of an
// upgrade from polling.
func (srv *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	if !srv.opts.UpgradeToWebSocket || !wsframe.IsUpgradeRequest(r) {
		writeError(w, errBadRequest)
		return
	}
	c, src, ok := wsframe.Upgrade(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	if s.state != stateOpen || s.kind == kindWebSocket || s.probe != nil || s.upgrading {
		// Already upgraded or upgrading: the official server accepts the
		// WebSocket and closes it.
		s.mu.Unlock()
		c.Shutdown(srv.opts.WriteTimeout)
		return
	}
	s.probe = c
	s.mu.Unlock()
	go s.newWSReader(c, src, true).run()
}

// wsReader reads one WebSocket's frames. While probing it runs the
// upgrade; afterwards it feeds the session. Between messages it parks the
// connection in the server's Poller (when there is one): run ends, and
// resume runs it again once the client sends.
type wsReader struct {
	s       *Session
	c       *wsframe.Conn
	rd      *wsframe.Reader
	probing bool
	resume  func() // r.run, made once
}

func (s *Session) newWSReader(c *wsframe.Conn, src io.Reader, probing bool) *wsReader {
	opts := &s.srv.opts
	r := &wsReader{s: s, c: c, probing: probing}
	r.rd = c.NewReader(src, wsReadBuffer, opts.MaxPayload, opts.WriteTimeout)
	r.resume = r.run
	return r
}

// run reads frames until the connection ends or parks.
func (r *wsReader) run() {
	s, c := r.s, r.c
	defer func() {
		// As net/http does for handlers: a panic (in a SessionHandler)
		// ends this session, not the process.
		if v := recover(); v != nil {
			s.srv.log.Error("engineio: panic in websocket reader", "sid", s.id, "panic", v)
			s.closeNow("transport error", ptClose)
			c.Close()
		}
	}()
	opts := &s.srv.opts
	for {
		d := 2 * (opts.PingInterval + opts.PingTimeout)
		if r.probing {
			d = upgradeTimeout
		}
		op, payload, err := r.rd.Next(d)
		if err != nil {
			s.wsGone(c, r.probing, readErrReason(err))
			return
		}
		p, err := s.decodeFrame(op, payload)
		if err != nil {
			if r.probing {
				s.wsGone(c, true, "")
			} else {
				s.closeNow("parse error", ptClose)
				c.Close()
			}
			return
		}
		if r.probing {
			var alive bool
			if r.probing, alive = s.probePacket(c, p); !alive {
				return
			}
			continue
		}
		if !s.handlePacket(p) {
			return
		}
		if r.rd.Park(opts.Poller, r.resume) {
			return
		}
	}
}

// readErrReason is the close reason for the error that ended a read.
func readErrReason(err error) string {
	if wsframe.Closed(err) {
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
func (s *Session) wsGone(c *wsframe.Conn, probing bool, reason string) {
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
	c.Close()
}

// probePacket runs the upgrade on the probing WebSocket: "2probe" is
// answered "3probe" and the pending poll is released with a noop; "5"
// moves the session (and its queue) to this WebSocket. It reports whether
// the connection is still probing and whether it is still alive.
func (s *Session) probePacket(c *wsframe.Conn, p packet) (probing, alive bool) {
	switch {
	case p.typ == ptPing && string(p.data) == "probe":
		var frame [16]byte
		b := wsframe.AppendHeader(frame[:0], wsframe.OpText, 6)
		b = append(b, "3probe"...)
		if err := c.WriteRaw(b, s.srv.opts.WriteTimeout); err != nil {
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
			c.Close()
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
