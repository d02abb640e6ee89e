package engineio

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/pushinator/pushinator/internal/wsframe"
)

// Errors returned by Session.Send.
var (
	// ErrClosed means the session is closed or closing.
	ErrClosed = errors.New("engineio: session closed")
	// ErrSlowClient means the queue limit was reached; the session is closed.
	ErrSlowClient = errors.New("engineio: slow client: queue limit reached")
)

type transportKind uint8

const (
	kindPolling transportKind = iota
	kindJSONP
	kindWebSocket
)

func (k transportKind) String() string {
	switch k {
	case kindJSONP:
		return "jsonp"
	case kindWebSocket:
		return "websocket"
	}
	return "polling"
}

type sessionState uint8

const (
	stateOpen    sessionState = iota
	stateClosing              // a close packet is queued; waiting for it to be written
	stateClosed
)

// Session is one Engine.IO connection, across transports.
type Session struct {
	srv    *Server
	h      SessionHandler
	req    *http.Request // only during OpenSession
	id     string
	remote string
	proto  uint8 // 3 or 4

	// dmu serializes handler calls (OnMessage, OnClose); see deliver.
	dmu sync.Mutex

	mu            sync.Mutex
	state         sessionState
	kind          transportKind
	b64           bool // v3 polling client that cannot take binary payloads
	upgrading     bool // the probe was answered; polling answers noop when idle
	polling       bool // a GET is in flight
	posting       bool // a POST is in flight
	flushing      bool // a WebSocket flusher goroutine is running
	awaitingPong  bool
	onCloseCalled bool
	final         byte // closed polling: the packet a waiting GET gets ('1' or '6')
	reason        string
	queue         []packet
	unwritten     uint64        // mark of the first packet dropped unwritten; see Unwritten
	pollWake      chan struct{} // non-nil while a GET waits for packets
	ws            *wsframe.Conn // the WebSocket carrying the session
	probe         *wsframe.Conn // a WebSocket being probed for the upgrade
	timer         *time.Timer   // heartbeat, then close timeout
	due           int64         // when timer is meant to fire, nanoseconds since srv.epoch
}

// ID is the session id, sent to the client in the open packet.
func (s *Session) ID() string { return s.id }

// Protocol is the Engine.IO protocol version: 3 or 4.
func (s *Session) Protocol() int { return int(s.proto) }

// Transport is "polling", "jsonp" or "websocket"; it changes on upgrade.
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kind.String()
}

// RemoteAddr is the client's address as seen on the handshake request.
func (s *Session) RemoteAddr() string { return s.remote }

// HandshakeRequest is the handshake request; valid only during OpenSession.
func (s *Session) HandshakeRequest() *http.Request { return s.req }

// Send queues message packets. It never blocks on the network. Beyond the
// queue limit the session is closed ("slow client") and ErrSlowClient is
// returned.
func (s *Session) Send(msgs ...Message) error {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return fmt.Errorf("engineio: send: sid %q: %w", s.id, ErrClosed)
	}
	if len(s.queue)+len(msgs) > s.srv.opts.QueueLimit {
		fire := s.finishLocked("slow client", ptClose)
		s.mu.Unlock()
		s.afterFinish(fire)
		return fmt.Errorf("engineio: send: sid %q: %w", s.id, ErrSlowClient)
	}
	for _, m := range msgs {
		s.queue = append(s.queue, packet{typ: ptMessage, binary: m.Binary, data: m.Data, mark: m.Mark})
	}
	s.kickLocked()
	s.mu.Unlock()
	return nil
}

// Unwritten is the Mark of the first message, in the order they were
// sent, that the session took but never handed to its connection: still
// queued when it closed, or not written (or only in part) by a write that
// failed; every marked message sent after it was not written either.
// 0: none. What a socket took may still be lost with the connection; what
// it never took certainly was. Final when OnClose is called.
func (s *Session) Unwritten() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unwritten
}

// droppedLocked notes packets that will never be written. inFlight: they
// were taken from the queue for a write before anything still queued,
// which may have been dropped already.
func (s *Session) droppedLocked(pkts []packet, inFlight bool) {
	if m := firstMark(pkts); m != 0 && (inFlight || s.unwritten == 0) {
		s.unwritten = m
	}
}

// firstMark is the first non-zero mark in pkts (0: none).
func firstMark(pkts []packet) uint64 {
	for _, p := range pkts {
		if p.mark != 0 {
			return p.mark
		}
	}
	return 0
}

// Close sends a close packet, then closes the session; OnClose gets
// "forced close".
func (s *Session) Close() { s.closeGraceful("forced close") }

// closeGraceful queues a close packet behind what is queued; the session
// ends when it is written, or after a timeout.
func (s *Session) closeGraceful(reason string) {
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.reason = reason
	s.queue = append(s.queue, packet{typ: ptClose})
	s.armLocked(s.srv.opts.PingTimeout + s.srv.opts.WriteTimeout)
	s.kickLocked()
	s.mu.Unlock()
}

// closeNow ends the session at once. A waiting GET is answered with final.
func (s *Session) closeNow(reason string, final byte) {
	s.mu.Lock()
	fire := s.finishLocked(reason, final)
	s.mu.Unlock()
	s.afterFinish(fire)
}

// enqueueLocked queues a control packet, within the queue limit.
// It reports false when the session was closed for it (the caller must
// then call afterFinish with fire).
func (s *Session) enqueueLocked(p packet) (fire, ok bool) {
	if s.state != stateOpen {
		return false, false
	}
	if len(s.queue) >= s.srv.opts.QueueLimit {
		return s.finishLocked("slow client", ptClose), false
	}
	s.queue = append(s.queue, p)
	s.kickLocked()
	return false, true
}

// kickLocked makes the current transport write the queue: it wakes a
// waiting GET, or starts the WebSocket flusher.
func (s *Session) kickLocked() {
	if s.kind == kindWebSocket {
		if s.ws != nil && !s.flushing && len(s.queue) > 0 {
			if s.writeNowLocked() {
				return
			}
			s.flushing = true
			go s.flushWS(s.ws)
		}
		return
	}
	s.wakePollLocked()
}

func (s *Session) wakePollLocked() {
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
}

// finishLocked closes the session: it leaves the server, its timer stops,
// its connections close. It reports whether the caller must call OnClose
// (through afterFinish) once s.mu is released.
func (s *Session) finishLocked(reason string, final byte) (fire bool) {
	if s.state == stateClosed {
		return false
	}
	if s.state == stateOpen || s.reason == "" {
		s.reason = reason
	}
	s.state = stateClosed
	s.final = final
	s.droppedLocked(s.queue, false)
	s.queue = nil
	if s.timer != nil {
		s.timer.Stop()
	}
	s.wakePollLocked()
	if s.ws != nil {
		go s.ws.Shutdown(s.srv.opts.WriteTimeout)
		s.ws = nil
	}
	if s.probe != nil {
		go s.probe.Shutdown(s.srv.opts.WriteTimeout)
		s.probe = nil
	}
	s.srv.remove(s)
	s.srv.log.Debug("engineio: session closed", "sid", s.id, "transport", s.kind.String(), "protocol", s.proto, "reason", s.reason)
	if final == ptNoop && s.kind != kindWebSocket && !s.polling {
		// The client closed in a POST while its GET is still on the way
		// (they race on separate connections): that GET gets the noop.
		s.srv.linger(s)
	}
	return s.onCloseDueLocked()
}

// onCloseDueLocked reports whether the caller must call OnClose (through
// afterFinish) once s.mu is released: the session is closed and OnClose
// was not called, and nobody else will call it. OnClose must follow the
// last OnMessage: if a delivery is under way (possibly the caller itself,
// closing from OnMessage), deliver calls OnClose when it returns. It must
// also follow the WebSocket flusher's last write, whose failure tells
// which packets never left (Unwritten): the flusher calls it when it ends.
func (s *Session) onCloseDueLocked() bool {
	if s.state != stateClosed || s.onCloseCalled || s.flushing {
		return false
	}
	if s.dmu.TryLock() {
		s.onCloseCalled = true
		return true
	}
	return false
}

// afterFinish calls OnClose if finishLocked said so; s.mu must be free.
func (s *Session) afterFinish(fire bool) {
	if fire && s.h == nil {
		// Closed during OpenSession (Send beyond the queue limit): open
		// calls OnClose once the handler exists.
		s.mu.Lock()
		s.onCloseCalled = false
		s.mu.Unlock()
		s.dmu.Unlock()
		return
	}
	if fire {
		s.h.OnClose(s.reason)
		s.dmu.Unlock()
		s.srv.onCloseOwed.Add(-1)
	}
}

// deliver hands one message to the handler, one at a time per session.
func (s *Session) deliver(data []byte, binary bool) {
	s.dmu.Lock()
	// Deferred, so that a panicking handler does not leave dmu locked.
	defer s.endDelivery()
	s.mu.Lock()
	closed := s.state == stateClosed
	s.mu.Unlock()
	if !closed {
		s.h.OnMessage(data, binary)
	}
}

// endDelivery releases dmu, or calls OnClose first if the session closed
// during the delivery.
func (s *Session) endDelivery() {
	s.mu.Lock()
	fire := s.state == stateClosed && !s.onCloseCalled && !s.flushing
	if fire {
		s.onCloseCalled = true
	} else {
		s.dmu.Unlock()
	}
	s.mu.Unlock()
	s.afterFinish(fire)
}

// armLocked (re)starts the session timer.
func (s *Session) armLocked(d time.Duration) {
	s.due = s.srv.now() + int64(d)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
}

// overdueLocked reports whether the heartbeat has already failed, though
// the timer may not have run yet (late on a loaded machine): a request
// arriving then must find the session gone, as the client would expect.
func (s *Session) overdueLocked() bool {
	if s.state != stateOpen {
		return false
	}
	due := s.due
	if s.proto == 4 && !s.awaitingPong {
		due += int64(s.srv.opts.PingTimeout)
	}
	return s.srv.now() >= due
}

// startHeartbeatLocked: v4 servers ping every PingInterval; v3 servers
// wait PingInterval+PingTimeout for the client's ping.
func (s *Session) startHeartbeatLocked() {
	if s.proto == 4 {
		s.armLocked(s.srv.opts.PingInterval)
	} else {
		s.armLocked(s.srv.opts.PingInterval + s.srv.opts.PingTimeout)
	}
}

func (s *Session) onTimer() {
	s.mu.Lock()
	if s.state == stateClosed || s.srv.now() < s.due {
		// Stopped, or reset after it fired: stale.
		s.mu.Unlock()
		return
	}
	var fire bool
	switch {
	case s.state == stateClosing:
		fire = s.finishLocked(s.reason, ptClose)
	case s.proto == 4 && !s.awaitingPong:
		s.awaitingPong = true
		// Counted from when the ping was due, not from a late timer, so a
		// loaded machine does not stretch the timeout.
		s.due += int64(s.srv.opts.PingTimeout)
		s.timer.Reset(max(0, time.Duration(s.due-s.srv.now())))
		fire, _ = s.enqueueLocked(packet{typ: ptPing})
	default:
		fire = s.finishLocked("ping timeout", ptClose)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
}

// handlePacket acts on one packet from the client (any transport).
// It reports false when the session is closed.
func (s *Session) handlePacket(p packet) bool {
	switch p.typ {
	case ptMessage:
		if s.proto == 3 {
			// v3: any packet shows the client is alive.
			s.mu.Lock()
			if s.state == stateOpen {
				s.startHeartbeatLocked()
			}
			s.mu.Unlock()
		}
		s.deliver(p.data, p.binary)
	case ptPing:
		s.mu.Lock()
		if s.proto == 3 && s.state == stateOpen {
			s.startHeartbeatLocked()
		}
		// The pong echoes the ping's data (v3 clients may send "2probe").
		fire, _ := s.enqueueLocked(packet{typ: ptPong, data: p.data})
		s.mu.Unlock()
		s.afterFinish(fire)
	case ptPong:
		s.mu.Lock()
		if s.proto == 4 && s.awaitingPong && s.state == stateOpen {
			s.awaitingPong = false
			s.armLocked(s.srv.opts.PingInterval)
		}
		s.mu.Unlock()
	case ptClose:
		s.closeNow("transport close", ptNoop)
		return false
	}
	// open, upgrade and noop from the client carry nothing to act on.
	s.mu.Lock()
	open := s.state != stateClosed
	s.mu.Unlock()
	return open
}
