package engineio

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/pushinator/pushinator/internal/wire"
)

// servePoll answers a polling GET: at once when packets are queued,
// otherwise when one is queued, the session closes or the upgrade needs
// the poll to end. Everything queued goes in one response.
func (srv *Server) servePoll(w http.ResponseWriter, r *http.Request, s *Session, rq request) {
	s.mu.Lock()
	if s.polling {
		// Only one GET at a time: the official server closes the session,
		// answering the first GET with a close packet.
		s.refuseUnlock(w, "transport error", errBadRequest)
		return
	}
	if s.state == stateClosed {
		final := s.final
		s.mu.Unlock()
		srv.unlinger(s)
		if final == ptNoop {
			// A closed session's racing GET (see Server.linger).
			srv.writePayload(w, []packet{{typ: ptNoop}}, s.proto, s.kind, s.b64, rq.j)
			return
		}
		writeError(w, errUnknownSID)
		return
	}
	if s.overdueLocked() {
		s.refuseUnlock(w, "ping timeout", errUnknownSID)
		return
	}
	s.polling = true
	// A long poll outlives a typical http.Server ReadTimeout, whose expiry
	// would cancel the request's context: bound the wait by the heartbeat
	// instead (a v4 ping or the v3 ping timeout ends it before this).
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(
		2*(srv.opts.PingInterval+srv.opts.PingTimeout) + srv.opts.WriteTimeout))
	var (
		wake     chan struct{}
		noopDue  bool
		noopWait *time.Timer
	)
	for len(s.queue) == 0 && s.state != stateClosed && !(s.upgrading && noopDue) && s.kind != kindWebSocket {
		if wake == nil {
			wake = make(chan struct{}, 1)
		}
		var noopC <-chan time.Time
		if s.upgrading {
			if noopWait == nil {
				noopWait = time.NewTimer(upgradeNoopDelay)
				defer noopWait.Stop()
			}
			noopC = noopWait.C
		}
		s.pollWake = wake
		s.mu.Unlock()
		select {
		case <-wake:
		case <-noopC:
			noopDue = true
		case <-r.Context().Done():
			// The client went away mid-poll: the official server treats it
			// as a transport error.
			s.mu.Lock()
			s.pollWake = nil
			s.polling = false
			fire := s.finishLocked("transport error", ptClose)
			s.mu.Unlock()
			s.afterFinish(fire)
			return
		}
		s.mu.Lock()
		s.pollWake = nil
	}
	var (
		pkts []packet
		fire bool
	)
	switch {
	case s.state == stateClosed:
		pkts = []packet{{typ: s.final}}
	case s.kind == kindWebSocket:
		// Upgraded while this GET waited: a client that paused polling has
		// none in flight, so this one is stray.
		s.polling = false
		s.mu.Unlock()
		writeError(w, errBadRequest)
		return
	case len(s.queue) == 0:
		// Upgrading: end this poll cleanly.
		pkts = []packet{{typ: ptNoop}}
	case s.state == stateClosing && len(s.queue) > 1:
		// The close packet is the last one queued. Like the official server, send what
		// is before it now and the close packet in the next response: socket.io clients
		// handle decoded packets on a later tick, so a close in the same payload would
		// beat an ack or a DISCONNECT sent just before it.
		n := len(s.queue) - 1
		pkts = append([]packet(nil), s.queue[:n]...)
		s.queue = append(s.queue[:0], s.queue[n])
	default:
		pkts, s.queue = s.queue, nil
		if s.state == stateClosing {
			// Only the close packet is left, and it goes now.
			fire = s.finishLocked(s.reason, ptClose)
		}
	}
	// Cleared before the response is written: the client may send its
	// next GET as soon as it has read this one.
	s.polling = false
	kind, b64 := s.kind, s.b64
	s.mu.Unlock()
	s.afterFinish(fire)
	if err := srv.writePayload(w, pkts, s.proto, kind, b64, rq.j); err != nil {
		// A payload is read whole or not at all: none of it reached the client.
		s.mu.Lock()
		s.droppedLocked(pkts, true)
		fire = s.finishLocked("transport error", ptClose)
		s.mu.Unlock()
		s.afterFinish(fire)
	}
}

// writePayload encodes packets for the session's protocol and transport.
func (srv *Server) writePayload(w http.ResponseWriter, pkts []packet, proto uint8, kind transportKind, b64 bool, j string) error {
	bp := srv.bodies.Get().(*[]byte)
	defer srv.putBody(bp)
	body := (*bp)[:0]
	ctype := "text/plain; charset=UTF-8"
	switch {
	case kind == kindJSONP:
		raw := appendV3StringPayload(nil, pkts)
		body = appendJSONP(body, j, raw)
		ctype = "text/javascript; charset=UTF-8"
	case proto == 4:
		body = appendV4Payload(body, pkts)
	case !b64 && hasBinary(pkts):
		body = appendV3BinaryPayload(body, pkts)
		ctype = "application/octet-stream"
	default:
		body = appendV3StringPayload(body, pkts)
	}
	*bp = body
	return wire.WritePoll(w, ctype, body, srv.opts.WriteTimeout)
}

// servePost takes a polling POST: a payload of packets from the client.
func (srv *Server) servePost(w http.ResponseWriter, r *http.Request, s *Session) {
	s.mu.Lock()
	if s.posting {
		s.refuseUnlock(w, "transport error", errBadRequest)
		return
	}
	if s.state == stateClosed || s.overdueLocked() {
		s.refuseUnlock(w, "ping timeout", errUnknownSID)
		return
	}
	s.posting = true
	kind := s.kind
	s.mu.Unlock()
	done := func() {
		s.mu.Lock()
		s.posting = false
		s.mu.Unlock()
	}

	body, err := wire.ReadBody(w, r, srv.opts.MaxPayload, srv.opts.WriteTimeout)
	if err != nil {
		done()
		s.closeNow("transport error", ptClose)
		if errors.Is(err, wire.ErrTooLarge) {
			http.Error(w, "payload too large", http.StatusRequestEntityTooLarge)
		} else {
			writeError(w, errBadRequest)
		}
		return
	}
	if kind == kindJSONP {
		body, err = decodeJSONPForm(body)
	}
	if err == nil {
		err = s.decodePayload(body, kind != kindJSONP && r.Header.Get("Content-Type") == "application/octet-stream")
	}
	done()
	if err != nil && !errors.Is(err, errStop) {
		s.closeNow("parse error", ptClose)
		writeError(w, errBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Header().Set("Content-Length", "2")
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(srv.opts.WriteTimeout))
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "ok")
}

// errStop ends payload decoding once the session is closed.
var errStop = errors.New("engineio: session closed while decoding")

// decodePayload acts on each packet of a POST body.
func (s *Session) decodePayload(body []byte, binary bool) error {
	fn := func(p packet) error {
		if !s.handlePacket(p) {
			return errStop
		}
		return nil
	}
	switch {
	case s.proto == 4:
		return decodeV4Payload(body, fn)
	case binary || (len(body) > 0 && body[0] <= 1):
		return decodeV3BinaryPayload(body, fn)
	default:
		return decodeV3StringPayload(body, fn)
	}
}

// putBody recycles a response buffer unless it grew large: one big
// payload must not pin its memory in the pool.
func (srv *Server) putBody(bp *[]byte) {
	if cap(*bp) <= maxPooledBody {
		*bp = (*bp)[:0]
		srv.bodies.Put(bp)
	}
}

// refuseUnlock closes s for reason and answers the request with the
// error code. The caller holds s.mu; refuseUnlock releases it before
// anything is written or a handler is called.
func (s *Session) refuseUnlock(w http.ResponseWriter, reason string, code int) {
	fire := s.finishLocked(reason, ptClose)
	s.mu.Unlock()
	s.afterFinish(fire)
	writeError(w, code)
}
