package legacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pushinator/pushinator/internal/wsframe"
)

// Errors returned by Socket.Send.
var (
	// ErrClosed means the socket is closed or closing.
	ErrClosed = errors.New("legacy: socket closed")
	// ErrSlowClient means the queue limit was reached; the socket is closed.
	ErrSlowClient = errors.New("legacy: slow client: queue limit reached")
)

// Disconnect reasons given to Handler.Disconnect. The two deliberate ones
// are the socket.io names the gateway already knows.
const (
	reasonClientDisconnect = "client namespace disconnect" // `0::` from the client, or ?disconnect
	reasonServerDisconnect = "server namespace disconnect" // Socket.Disconnect
	reasonTransportClose   = "transport close"
	reasonTransportError   = "transport error"
	reasonHeartbeatTimeout = "heartbeat timeout"
	reasonCloseTimeout     = "close timeout"
	reasonParseError       = "parse error"
	reasonSlowClient       = "slow client"
	reasonShutdown         = "server shutting down"
	reasonDropped          = "forced close" // Socket.Drop
)

type socketState uint8

const (
	stateHandshaken socketState = iota // no transport yet
	stateConnecting                    // Handler.Connect is running
	stateConnected
	stateClosing // `0::` is queued; waiting for it to be written
	stateClosed
)

// Socket is one protocol-1 client, from its handshake on.
type Socket struct {
	srv    *Server
	id     string
	remote string // set before Connect, then constant

	// hmu serializes handler calls: Connect, Event, Disconnect.
	hmu sync.Mutex
	// pmu serializes the packets of concurrent POSTs.
	pmu sync.Mutex

	mu         sync.Mutex
	state      socketState
	kind       transportKind // fixed by the first transport request
	connected  bool          // Connect succeeded: Disconnect is owed
	counted    bool          // counted in Server.byKind
	inHandler  bool          // an Event call is running
	owed       bool          // finished during an Event or a WebSocket write: whichever ends last calls Disconnect
	reason     string
	queue      []outPacket
	unwritten  uint64        // mark of the first packet dropped unwritten; see Unwritten
	final      []byte        // what a poll of a finished socket gets
	pollWake   chan struct{} // the waiting poll's wake-up, nil when none waits
	pollGen    uint64        // bumped by each poll; an older poll that sees it changed ends
	ws         *wsframe.Conn
	flushing   bool // a WebSocket flusher goroutine runs
	awaitingHB bool // a heartbeat is out; the client's answer is due
	// closeAfterConnect is the reason of a Disconnect (or shutdown) asked
	// for while Connect ran.
	closeAfterConnect string
	closeTimer        genTimer // the close timeout (see armCloseLocked)
	hbTimer           genTimer // the next WebSocket heartbeat
	data              any
}

// ID is the session id of the handshake.
func (s *Socket) ID() string { return s.id }

// RemoteAddr is the client's address, from the request that connected it.
func (s *Socket) RemoteAddr() string { return s.remote }

// Transport is "websocket", "xhr-polling" or "jsonp-polling".
func (s *Socket) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return kindNames[s.kind]
}

// SetData attaches application data to the socket.
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data is what SetData attached.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Send queues p. It never blocks on the network. Beyond the queue limit
// the socket is closed ("slow client"; Handler.Disconnect runs on another
// goroutine, so a caller holding its own locks cannot deadlock) and
// ErrSlowClient is returned.
func (s *Socket) Send(p *Packet) error {
	s.mu.Lock()
	if s.state != stateConnected && s.state != stateConnecting {
		s.mu.Unlock()
		return fmt.Errorf("legacy: send: sid %q: %w", s.id, ErrClosed)
	}
	if !s.enqueueLocked(outPacket{data: p.data, mark: p.mark}) {
		fire := s.finishLocked(reasonSlowClient, nil)
		s.mu.Unlock()
		if fire {
			go s.fireDisconnect()
		}
		return fmt.Errorf("legacy: send: sid %q: %w", s.id, ErrSlowClient)
	}
	s.mu.Unlock()
	return nil
}

// Disconnect sends `0::`, then closes the socket; Handler.Disconnect gets
// "server namespace disconnect".
func (s *Socket) Disconnect() { s.closeGraceful(reasonServerDisconnect) }

// Drop ends the socket without `0::`, which a 0.9 client takes as final ("booted"): a
// waiting poll is told the session is unknown with the advice to reconnect, a WebSocket is
// closed, and the client reconnects by itself. For a refusal that is not final. Handler.Disconnect
// gets "forced close".
func (s *Socket) Drop() {
	s.mu.Lock()
	fire := s.finishLocked(reasonDropped, rawNotHandshaken)
	s.mu.Unlock()
	s.afterFinish(fire)
}

// enqueueLocked appends a packet within the queue limit and makes the
// transport write it; false when the limit is reached.
func (s *Socket) enqueueLocked(p outPacket) bool {
	if len(s.queue) >= s.srv.opts.QueueLimit {
		return false
	}
	s.queue = append(s.queue, p)
	if s.state != stateConnecting {
		s.kickLocked()
	}
	return true
}

// kickLocked makes the transport write the queue: it wakes the waiting
// poll, or starts the WebSocket flusher.
func (s *Socket) kickLocked() {
	if s.kind == kindWebSocket {
		if s.ws != nil && !s.flushing && len(s.queue) > 0 {
			s.flushing = true
			go s.flushWS(s.ws)
		}
		return
	}
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
}

// closeGraceful queues `0::` behind what is queued; the socket finishes
// when it is written, or after CloseTimeout.
func (s *Socket) closeGraceful(reason string) {
	s.mu.Lock()
	switch s.state {
	case stateConnected:
	case stateHandshaken:
		// Nobody to tell.
		fire := s.finishLocked(reason, nil)
		s.mu.Unlock()
		s.afterFinish(fire)
		return
	case stateConnecting:
		// Inside Connect: once `1::` is queued, `0::` follows it.
		s.closeAfterConnect = reason
		s.mu.Unlock()
		return
	default:
		s.mu.Unlock()
		return
	}
	s.state = stateClosing
	s.reason = reason
	// Beyond the limit by one at most: the goodbye is worth it.
	s.queue = append(s.queue, outPacket{data: rawDisconnect})
	s.armCloseLocked(s.srv.opts.CloseTimeout)
	s.kickLocked()
	s.mu.Unlock()
}

// shutdown tells the client the server is going away: `0::` on its
// WebSocket or waiting poll. A polling client between two polls is not
// waited for (its next poll finds no server), nor is a handshake.
func (s *Socket) shutdown() {
	s.mu.Lock()
	if s.state == stateHandshaken || (s.state == stateConnected && s.kind != kindWebSocket && s.pollWake == nil) {
		fire := s.finishLocked(reasonShutdown, rawDisconnect)
		s.mu.Unlock()
		s.afterFinish(fire)
		return
	}
	s.mu.Unlock()
	s.closeGraceful(reasonShutdown)
}

// closeNow finishes the socket at once; a waiting poll gets `0::`.
func (s *Socket) closeNow(reason string) {
	s.mu.Lock()
	fire := s.finishLocked(reason, rawDisconnect)
	s.mu.Unlock()
	s.afterFinish(fire)
}

// finishLocked ends the socket: it leaves the server, its timers stop, its
// WebSocket closes, a waiting poll is answered with final (nil: the error
// packet of an unknown session). It reports whether the caller must call
// Handler.Disconnect (through afterFinish or fireDisconnect) once s.mu
// is released.
func (s *Socket) finishLocked(reason string, final []byte) (fire bool) {
	if s.state == stateClosed {
		return false
	}
	if s.state != stateClosing || s.reason == "" {
		s.reason = reason
	}
	s.state = stateClosed
	s.final = final
	s.droppedLocked(s.queue, false)
	s.queue = nil
	s.closeTimer.stop()
	s.hbTimer.stop()
	if s.pollWake != nil {
		select {
		case s.pollWake <- struct{}{}:
		default:
		}
	}
	if s.ws != nil {
		go s.ws.Shutdown(s.srv.opts.WriteTimeout)
		s.ws = nil
	}
	if s.counted {
		s.counted = false
		s.srv.byKind[s.kind].Add(-1)
	}
	// A socket the client closed keeps answering its racing poll.
	s.srv.remove(s, final != nil && s.kind != kindWebSocket && s.pollWake == nil)
	if !s.connected {
		return false
	}
	if s.inHandler || s.flushing {
		// Disconnect must follow the Event under way, and the WebSocket
		// write under way, whose result says what it wrote (Unwritten).
		s.owed = true
		return false
	}
	s.connected = false
	return true
}

// owedLocked reports whether the caller, ending an Event or a WebSocket
// write, must call Disconnect now: it was owed and nothing else is under
// way that would.
func (s *Socket) owedLocked() bool {
	if !s.owed || s.inHandler || s.flushing {
		return false
	}
	s.owed, s.connected = false, false
	return true
}

// Unwritten is the mark (Packet.SetMark) of the first packet, in the order
// they were sent, that the socket took but never handed to its connection:
// still queued when it closed, or in a write that failed; every marked
// packet sent after it was not written either. 0: none. Final when
// Handler.Disconnect is called.
func (s *Socket) Unwritten() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unwritten
}

// droppedLocked notes packets that will never be written. inFlight: they
// were taken from the queue for a write before anything still queued,
// which may have been dropped already.
func (s *Socket) droppedLocked(pkts []outPacket, inFlight bool) {
	if m := firstMark(pkts); m != 0 && (inFlight || s.unwritten == 0) {
		s.unwritten = m
	}
}

// afterFinish calls Handler.Disconnect if finishLocked said so.
func (s *Socket) afterFinish(fire bool) {
	if fire {
		s.fireDisconnect()
	}
}

func (s *Socket) fireDisconnect() {
	s.hmu.Lock()
	defer s.hmu.Unlock()
	s.mu.Lock()
	reason := s.reason
	s.mu.Unlock()
	s.srv.h.Disconnect(s, reason)
}

// armCloseLocked (re)starts the close timer: the handshake's wait for a
// transport, the wait for the next poll, or the wait for `0::` to go out.
func (s *Socket) armCloseLocked(d time.Duration) { s.closeTimer.arm(d, s.onCloseTimer) }

func (s *Socket) stopCloseLocked() { s.closeTimer.stop() }

func (s *Socket) onCloseTimer(gen uint64) {
	s.mu.Lock()
	if gen != s.closeTimer.gen || s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	fire := s.finishLocked(reasonCloseTimeout, nil)
	s.mu.Unlock()
	s.afterFinish(fire)
}

// armHeartbeatLocked schedules the next WebSocket heartbeat.
func (s *Socket) armHeartbeatLocked(d time.Duration) { s.hbTimer.arm(d, s.onHeartbeatTimer) }

// onHeartbeatTimer sends a heartbeat, or, when the last one is still
// unanswered, drops the client.
func (s *Socket) onHeartbeatTimer(gen uint64) {
	s.mu.Lock()
	if gen != s.hbTimer.gen || s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	var fire bool
	switch {
	case s.awaitingHB:
		fire = s.finishLocked(reasonHeartbeatTimeout, nil)
	case !s.enqueueLocked(outPacket{data: rawHeartbeat}):
		fire = s.finishLocked(reasonSlowClient, nil)
	default:
		s.awaitingHB = true
		s.armHeartbeatLocked(s.srv.opts.HeartbeatTimeout)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
}

// connect runs Handler.Connect when the first transport request arrives
// (with s.mu held on entry and on return). It reports false when the socket
// is refused or gone; the queue then holds what the client is told.
func (s *Socket) connectLocked(kind transportKind, remote string) bool {
	s.kind = kind
	s.remote = remote
	s.state = stateConnecting
	s.stopCloseLocked()
	// `1::` goes first, whatever Connect sends.
	s.queue = append(s.queue, outPacket{data: rawConnect})
	s.mu.Unlock()

	s.hmu.Lock()
	err := s.srv.h.Connect(s)
	s.mu.Lock()
	if s.state != stateConnecting {
		// Closed during Connect (a Send beyond the limit).
		s.hmu.Unlock()
		return false
	}
	if err != nil {
		s.hmu.Unlock()
		s.srv.log.Debug("legacy: connect refused", "sid", s.id, "remote", remote, "err", err)
		s.state = stateClosing
		s.reason = "refused"
		s.queue = []outPacket{{data: rawUnauthorized}, {data: rawDisconnect}}
		s.armCloseLocked(s.srv.opts.CloseTimeout)
		return false
	}
	s.connected = true
	s.counted = true
	s.state = stateConnected
	s.srv.byKind[kind].Add(1)
	s.hmu.Unlock()
	if s.closeAfterConnect == "" && s.srv.sockets.Closing() {
		// Shutdown began while Connect ran and could not tell this socket.
		s.closeAfterConnect = reasonShutdown
	}
	if s.closeAfterConnect != "" {
		s.state = stateClosing
		s.reason = s.closeAfterConnect
		s.queue = append(s.queue, outPacket{data: rawDisconnect})
		s.armCloseLocked(s.srv.opts.CloseTimeout)
		return true
	}
	if kind == kindWebSocket {
		s.armHeartbeatLocked(s.srv.opts.HeartbeatInterval)
	}
	return true
}

// deliver runs fn (an Event call) unless the socket is closed, one at a
// time; a finish during fn is completed by Disconnect after it.
func (s *Socket) deliver(fn func()) {
	s.hmu.Lock()
	s.mu.Lock()
	if s.state == stateClosed || !s.connected {
		s.mu.Unlock()
		s.hmu.Unlock()
		return
	}
	s.inHandler = true
	s.mu.Unlock()
	fn()
	s.mu.Lock()
	s.inHandler = false
	owed := s.owedLocked()
	reason := s.reason
	s.mu.Unlock()
	if owed {
		s.srv.h.Disconnect(s, reason)
	}
	s.hmu.Unlock()
}

// inbound is a packet from the client, read and checked.
type inbound struct {
	p    packet
	name string            // the event's name; "message" for messages
	args []json.RawMessage // the event's arguments; the message as one
}

// readPacket decodes a client packet and, for messages and events, what
// they carry: a packet that passes is one act can take.
func readPacket(raw []byte) (inbound, error) {
	p, err := decodePacket(raw)
	if err != nil {
		return inbound{}, err
	}
	in := inbound{p: p}
	if p.endpoint != "" {
		return in, nil
	}
	switch p.typ {
	case ptMessage:
		arg, _ := json.Marshal(string(p.data))
		in.name, in.args = "message", []json.RawMessage{arg}
	case ptJSON:
		if !json.Valid(p.data) {
			return in, fmt.Errorf("%w: json message: invalid JSON", errPacket)
		}
		in.name, in.args = "message", []json.RawMessage{json.RawMessage(p.data)}
	case ptEvent:
		ev, err := decodeEvent(p.data)
		if err != nil {
			return in, err
		}
		in.name, in.args = ev.Name, ev.Args
	}
	return in, nil
}

// handlePacket reads and acts on one packet from the client. It returns
// errStop when the socket is closed, and the decoding error (after closing
// the socket) for a packet it cannot read.
func (s *Socket) handlePacket(raw []byte) error {
	in, err := readPacket(raw)
	if err != nil {
		s.parseError(err)
		return err
	}
	return s.act(in)
}

// act carries out a client packet; errStop once the socket is closed.
func (s *Socket) act(in inbound) error {
	p := in.p
	if p.endpoint != "" {
		// Only the main endpoint exists: a connect to another is refused
		// with "unauthorized" (the client emits 'connect_failed' there).
		if p.typ == ptConnect {
			ep := p.endpoint
			if i := strings.IndexByte(ep, '?'); i >= 0 {
				ep = ep[:i]
			}
			s.sendControl([]byte("7::" + ep + ":" + reasonUnauthorized))
		} else {
			s.srv.log.Debug("legacy: packet for unknown endpoint dropped", "sid", s.id, "endpoint", p.endpoint, "type", string(p.typ))
		}
		return s.alive()
	}
	switch p.typ {
	case ptDisconnect:
		s.closeNow(reasonClientDisconnect)
		return errStop
	case ptHeartbeat:
		s.mu.Lock()
		if s.state == stateConnected && s.kind == kindWebSocket {
			s.awaitingHB = false
			s.armHeartbeatLocked(s.srv.opts.HeartbeatInterval)
		}
		s.mu.Unlock()
	case ptMessage, ptJSON, ptEvent:
		if in.name == "disconnect" && p.typ == ptEvent {
			// Reserved, as the 0.9 server's blacklist had it: a client
			// cannot fake its own disconnection.
			break
		}
		s.dispatch(p, in.name, in.args)
	}
	// connect (to the main endpoint: already connected), ack (the server
	// asks for none), error and noop carry nothing to act on.
	return s.alive()
}

// alive returns errStop once the socket is closed.
func (s *Socket) alive() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state == stateClosed {
		return errStop
	}
	return nil
}

// dispatch calls Handler.Event with the ack the packet asks for: a plain
// id is acknowledged at once (as the 0.9 server did), an id with '+' is
// answered by the application.
func (s *Socket) dispatch(p packet, name string, args []json.RawMessage) {
	var ack func(args ...any) error
	switch {
	case p.id != "" && p.ackData:
		var once sync.Once
		ack = func(args ...any) error {
			err := fmt.Errorf("legacy: ack %s: sid %q: already sent", p.id, s.id)
			once.Do(func() {
				b, e := appendAck(make([]byte, 0, 16), p.id, args)
				if e != nil {
					err = fmt.Errorf("legacy: ack %s: sid %q: %w", p.id, s.id, e)
					return
				}
				err = s.Send(&Packet{data: b})
			})
			return err
		}
	case p.id != "":
		s.sendControl([]byte("6:::" + p.id))
	}
	s.deliver(func() { s.srv.h.Event(s, name, args, ack) })
}

// sendControl queues a server-made packet (ack, error).
func (s *Socket) sendControl(b []byte) {
	s.mu.Lock()
	if s.state != stateConnected {
		s.mu.Unlock()
		return
	}
	var fire bool
	if !s.enqueueLocked(outPacket{data: b}) {
		fire = s.finishLocked(reasonSlowClient, nil)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
}

// parseError closes the socket after a packet it cannot read.
func (s *Socket) parseError(err error) {
	s.mu.Lock()
	fire := false
	if s.state != stateClosed {
		s.srv.log.Debug("legacy: closing socket after invalid packet", "sid", s.id, "err", err)
		fire = s.finishLocked(reasonParseError, rawDisconnect)
	}
	s.mu.Unlock()
	s.afterFinish(fire)
}

// genTimer is a restartable timer, used under the socket's lock. A timer
// that fired just as it was stopped or rearmed still runs its function:
// the function compares its generation with gen (under the lock) to tell
// it is stale.
type genTimer struct {
	gen uint64
	t   *time.Timer
}

// arm (re)starts the timer: fire(gen) runs after d.
func (g *genTimer) arm(d time.Duration, fire func(gen uint64)) {
	g.stop()
	gen := g.gen
	g.t = time.AfterFunc(d, func() { fire(gen) })
}

// stop cancels the timer and makes a firing under way stale.
func (g *genTimer) stop() {
	g.gen++
	if g.t != nil {
		g.t.Stop()
	}
}
