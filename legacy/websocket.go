package legacy

import (
	"bufio"
	"errors"
	"net/http"
	"os"

	"github.com/pushinator/pushinator/internal/wsframe"
)

// writePackets writes each packet as one text frame (the transport has its
// own framing), through a pooled buffer, within WriteTimeout. On an error
// it returns the index of the first packet not wholly written.
func (srv *Server) writePackets(c *wsframe.Conn, pkts []outPacket) (int, error) {
	bw := srv.writers.Get().(*bufio.Writer)
	n, err := c.WriteBuffered(bw, srv.opts.WriteTimeout, func(bw *bufio.Writer) {
		for _, p := range pkts {
			wsframe.WriteHeader(bw, wsframe.OpText, len(p.data))
			bw.Write(p.data)
		}
	})
	srv.writers.Put(bw)
	if err == nil {
		return len(pkts), nil
	}
	var end int64
	for i, p := range pkts {
		end += wsframe.FrameSize(len(p.data))
		if end > n {
			return i, err
		}
	}
	return len(pkts), err
}

// serveWebSocket connects a handshaken socket over WebSocket. A session
// that is unknown or taken gets the "client not handshaken" error packet
// on the WebSocket, so the 0.9 client handshakes again.
func (srv *Server) serveWebSocket(w http.ResponseWriter, r *http.Request, s *Socket) {
	if !wsframe.IsUpgradeRequest(r) {
		srv.writeText(w, http.StatusBadRequest, "legacy: websocket: not an upgrade request")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !srv.cors.Allowed(origin) {
		srv.writeText(w, http.StatusForbidden, "legacy: websocket: origin not allowed")
		return
	}
	c, src, ok := wsframe.Upgrade(w, r)
	if !ok {
		return
	}
	refuse := func() {
		b := wsframe.AppendHeader(make([]byte, 0, 16), wsframe.OpText, len(rawNotHandshaken))
		c.WriteRaw(append(b, rawNotHandshaken...), srv.opts.WriteTimeout)
		c.Shutdown(srv.opts.WriteTimeout)
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
	// The client's first message wakes a fresh reader (or a fresh
	// goroutine waits for it), so the HTTP server's stack is released.
	rd := c.NewReader(src, wsReadBuffer, s.srv.opts.MaxPayload, s.srv.opts.WriteTimeout)
	var resume func()
	resume = func() { s.readWS(c, rd, resume) }
	if !rd.Park(s.srv.opts.Poller, resume) {
		go resume()
	}
}

// flushWS writes the queue to c until it is empty, then ends: no goroutine
// waits on an idle socket's queue.
func (s *Socket) flushWS(c *wsframe.Conn) {
	for {
		s.mu.Lock()
		if s.ws != c || s.state == stateClosed {
			s.flushing = false
			fire := s.owedLocked()
			s.mu.Unlock()
			s.afterFinish(fire)
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
		if i, err := s.srv.writePackets(c, pkts); err != nil {
			reason := reasonTransportError
			if errors.Is(err, os.ErrDeadlineExceeded) {
				reason = reasonSlowClient
			}
			s.mu.Lock()
			s.flushing = false
			s.droppedLocked(pkts[i:], true)
			var fire bool
			if s.ws == c {
				fire = s.finishLocked(reason, nil)
			} else {
				fire = s.owedLocked()
			}
			s.mu.Unlock()
			s.afterFinish(fire)
			c.Close()
			return
		}
	}
}

// readWS reads frames until the connection ends, or parks in the
// server's Poller between messages (resume runs it again), and hands each
// message to the socket as one packet.
func (s *Socket) readWS(c *wsframe.Conn, rd *wsframe.Reader, resume func()) {
	opts := &s.srv.opts
	// The client speaks at least every heartbeat: a silent connection is
	// dead well before this (the heartbeat timer acts first).
	idle := opts.HeartbeatInterval + opts.HeartbeatTimeout + opts.WriteTimeout
	// Protocol 1 is text; a binary message is read as its bytes.
	for {
		_, payload, err := rd.Next(idle)
		if err != nil {
			s.wsGone(c, readErrReason(err))
			return
		}
		if s.handlePacket(payload) != nil {
			// Finishing the socket closes c (after a close frame).
			return
		}
		if rd.Park(opts.Poller, resume) {
			return
		}
	}
}

// readErrReason is the disconnect reason for the error that ended a read.
func readErrReason(err error) string {
	if wsframe.Closed(err) {
		return reasonTransportClose
	}
	return reasonTransportError
}

// wsGone ends the socket carried by c (if it still is) and closes c.
func (s *Socket) wsGone(c *wsframe.Conn, reason string) {
	s.mu.Lock()
	var fire bool
	if s.ws == c {
		fire = s.finishLocked(reason, nil)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
	c.Close()
}
