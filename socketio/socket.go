package socketio

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushinator/pushinator/engineio"
)

var (
	// ErrClosed is returned by sends on a socket that is disconnected or
	// being disconnected.
	ErrClosed = errors.New("socket closed")
	// ErrNotConnected is returned by sends before the socket is connected
	// (during Handler.Connect, or after a refused CONNECT).
	ErrNotConnected = errors.New("socket not connected")
)

// maxPendingAcks bounds the acknowledgements a socket waits for at once
// (EmitWithAck), so a client that never answers cannot grow the map.
const maxPendingAcks = 256

// transport is what a Socket needs from its Engine.IO session; the session
// adapter implements it over *engineio.Session, tests fake it.
type transport interface {
	ID() string    // Engine.IO session id, for logs
	Protocol() int // Engine.IO protocol: 3 or 4
	// SendPacket queues the packet's messages without blocking on the network.
	SendPacket(p *Packet) error
	// Close closes the session; the session then reports OnClose.
	Close()
}

type state int

const (
	stateConnecting state = iota // no CONNECT accepted yet
	stateConnected               // Connect succeeded; Disconnect is owed
	stateClosed                  // Disconnect was called, or the session is gone
)

// Socket is the main-namespace socket of one Engine.IO session. Its methods
// are safe for concurrent use unless they say otherwise.
type Socket struct {
	srv      *Server
	t        transport
	id       string
	protocol int               // socket.io protocol: 4 or 5
	engine   *engineio.Session // nil in unit tests
	follows  bool              // another socket had the session before: see Unwritten

	// sending counts sends under way outside the session's message
	// goroutine; see onClose.
	sending atomic.Int32

	// Owned by the session's message goroutine (OnMessage, OnClose).
	asm         reassembler
	attachments [][]byte
	timer       *time.Timer

	mu      sync.Mutex
	state   state
	closing bool   // the server asked the session to close; nothing more is sent
	reason  string // given to Handler.Disconnect instead of the Engine.IO reason
	pid     string
	data    any
	acks    map[uint64]func([]json.RawMessage, error)
	nextAck uint64
}

// open creates the socket of a new Engine.IO session. In protocol v4 the
// main namespace is connected at once, as socket.io-client 2.x expects.
func (srv *Server) open(t transport, engine *engineio.Session) *Socket {
	s := srv.waiting(t, engine)
	if s.protocol == 4 {
		s.connect(nil)
	}
	return s
}

// waiting creates a socket that waits for the client's CONNECT, closing the
// session if none succeeds within the connect timeout.
func (srv *Server) waiting(t transport, engine *engineio.Session) *Socket {
	s := &Socket{srv: srv, t: t, id: newID(), protocol: 5, engine: engine}
	s.asm.max = srv.maxAttachments
	if t.Protocol() == 3 {
		s.protocol = 4
	}
	if srv.connectTimeout > 0 {
		s.timer = time.AfterFunc(srv.connectTimeout, s.connectTimedOut)
	}
	return s
}

// newID returns a random socket id, distinct from the Engine.IO session id
// (the official server does the same since v3), in the same 20-character form.
func newID() string {
	var b [15]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ID returns the socket id sent to the client in the CONNECT reply.
func (s *Socket) ID() string { return s.id }

// Protocol returns the socket.io protocol: 5, or 4 for Engine.IO v3 clients.
func (s *Socket) Protocol() int { return s.protocol }

// SetPID sets the private id sent in the v5 CONNECT reply, which a client
// with connection state recovery presents to resume. Call it during Connect.
func (s *Socket) SetPID(pid string) {
	s.mu.Lock()
	s.pid = pid
	s.mu.Unlock()
}

// SetData attaches application data to the socket (the user it belongs to).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData stored, or nil.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Attachments returns the binary attachments of the event or acknowledgement
// being handled: the arguments hold {"_placeholder":true,"num":i} where
// attachment i was. Only valid inside Handler.Event or an EmitWithAck
// callback, and only from that goroutine; nil otherwise.
func (s *Socket) Attachments() [][]byte { return s.attachments }

// Send queues an encoded packet for the client.
func (s *Socket) Send(p *Packet) error {
	if err := s.sendable(); err != nil {
		return err
	}
	if err := s.sendPacket(p); err != nil {
		return fmt.Errorf("socketio: socket %q: send: %w", s.id, err)
	}
	return nil
}

// sendPacket hands a packet to the session, counting the send for onClose.
func (s *Socket) sendPacket(p *Packet) error {
	s.sending.Add(1)
	defer s.sending.Add(-1)
	return s.t.SendPacket(p)
}

func (s *Socket) sendable() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing || s.state == stateClosed:
		return fmt.Errorf("socketio: socket %q: %w", s.id, ErrClosed)
	case s.state != stateConnected:
		return fmt.Errorf("socketio: socket %q: %w", s.id, ErrNotConnected)
	}
	return nil
}

// Emit encodes and sends one event to this socket. To send the same event
// to many sockets, encode it once with EncodeEvent and use Send.
func (s *Socket) Emit(event string, args ...any) error {
	p, err := EncodeEvent(event, args...)
	if err != nil {
		return err
	}
	return s.Send(p)
}

// EmitWithAck sends an event asking the client to acknowledge it. If it
// returns nil, reply is called exactly once: with the client's answer, or
// with ErrClosed when the socket goes away first. reply runs on the socket's
// message goroutine, like the Handler methods, and must not block.
func (s *Socket) EmitWithAck(event string, reply func(args []json.RawMessage, err error), args ...any) error {
	if err := checkEventName(event); err != nil {
		return err
	}
	if err := s.sendable(); err != nil {
		return err
	}
	s.mu.Lock()
	if len(s.acks) >= maxPendingAcks {
		s.mu.Unlock()
		return fmt.Errorf("socketio: socket %q: emit %q: %d acknowledgements pending", s.id, event, maxPendingAcks)
	}
	if s.acks == nil {
		s.acks = make(map[uint64]func([]json.RawMessage, error))
	}
	id := s.nextAck
	s.nextAck++
	s.acks[id] = reply
	s.mu.Unlock()

	p, err := encodeEvent(event, id, true, args)
	if err == nil {
		err = s.Send(p)
	}
	if err != nil {
		s.mu.Lock()
		_, mine := s.acks[id]
		delete(s.acks, id)
		s.mu.Unlock()
		if !mine {
			return nil // the socket closed meanwhile and has called reply
		}
		return err
	}
	return nil
}

// Disconnect sends a DISCONNECT, then closes the Engine.IO session, like the
// official server's socket.disconnect(true). Handler.Disconnect follows with
// the reason "server namespace disconnect". It may be called at any time.
func (s *Socket) Disconnect() {
	connected, ok := s.startClosing("server namespace disconnect")
	if !ok {
		return
	}
	if connected {
		s.sendPacket(disconnectPacket()) // the session may be gone; Close handles that
	}
	s.t.Close()
}

// Drop closes the Engine.IO session without a DISCONNECT packet: the client sees its
// connection lost and reconnects by itself, as after a network cut, where a DISCONNECT (or a
// refused CONNECT) would tell it to stay away. For a refusal that is not final ("retry
// later"). Handler.Disconnect follows, with the reason "forced close", if the socket was
// connected; called from Handler.Connect, the socket is neither answered nor connected.
func (s *Socket) Drop() {
	if _, ok := s.startClosing(""); ok {
		s.t.Close()
	}
}

// startClosing marks the socket closing, with the reason Handler.Disconnect will get ("":
// the Engine.IO session's own), unless it is closing or closed already (ok false). connected
// says whether the socket was connected.
func (s *Socket) startClosing(reason string) (connected, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.state == stateClosed {
		return false, false
	}
	s.closing, s.reason = true, reason
	return s.state == stateConnected, true
}

// connectTimedOut closes a session that has no connected socket in time.
func (s *Socket) connectTimedOut() {
	s.mu.Lock()
	late := s.state == stateConnecting && !s.closing
	if late {
		s.closing = true
	}
	s.mu.Unlock()
	if late {
		s.srv.log.Debug("socketio: no CONNECT in time, closing", "sid", s.t.ID(), "timeout", s.srv.connectTimeout)
		s.t.Close()
	}
}

// onMessage handles one Engine.IO message; called sequentially. It returns
// the socket for the session's next message: s, or a new socket after the
// client disconnected s.
func (s *Socket) onMessage(data []byte, binary bool) *Socket {
	s.mu.Lock()
	gone := s.closing || s.state == stateClosed
	s.mu.Unlock()
	if gone {
		return s
	}
	p, err := s.asm.feed(data, binary)
	if err != nil {
		s.fail(err)
		return s
	}
	if p == nil {
		return s
	}
	return s.handle(p)
}

func (s *Socket) handle(p *packet) *Socket {
	if p.typ == typeConnect {
		s.onConnect(p)
		return s
	}
	if p.nsp != "/" {
		// Like the official server: a packet for a namespace without a
		// socket is dropped (the client was told "Invalid namespace").
		s.srv.log.Debug("socketio: packet for unknown namespace dropped", "sid", s.t.ID(), "nsp", p.nsp, "type", p.typ)
		return s
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st != stateConnected {
		s.fail(fmt.Errorf("%w: %s before CONNECT", errInvalidPacket, p.typ))
		return s
	}
	switch p.typ {
	case typeDisconnect:
		return s.onClientDisconnect()
	case typeEvent, typeBinaryEvent:
		var ack Ack
		if p.hasID {
			ack = s.ackFunc(p.id)
		}
		s.attachments = p.binary
		s.srv.h.Event(s, p.name, p.args, ack)
		s.attachments = nil
	case typeAck, typeBinaryAck:
		s.mu.Lock()
		reply := s.acks[p.id]
		delete(s.acks, p.id)
		s.mu.Unlock()
		if reply == nil {
			s.srv.log.Debug("socketio: ack for no pending event dropped", "sid", s.t.ID(), "id", p.id)
			return s
		}
		s.attachments = p.binary
		reply(p.args, nil)
		s.attachments = nil
	default: // CONNECT_ERROR goes from server to client only
		s.fail(fmt.Errorf("%w: %s from a client", errInvalidPacket, p.typ))
	}
	return s
}

func (s *Socket) onConnect(p *packet) {
	name := p.nsp
	if s.protocol == 4 {
		// socket.io-client 2.x puts the namespace's query after the name.
		name, _, _ = strings.Cut(name, "?")
	}
	if name != "/" {
		s.t.SendPacket(connectError(s.protocol, name, "Invalid namespace"))
		return
	}
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	if st == stateConnected {
		// Already connected (always so in v4, where "/" is connected
		// implicitly): nothing to do, and no second reply.
		return
	}
	payload := p.data
	if s.protocol == 4 {
		payload = nil // v4 CONNECT has no payload (connecting again after a DISCONNECT)
	}
	s.connect(payload)
}

// connect asks the Handler and answers the client.
func (s *Socket) connect(payload json.RawMessage) {
	if err := s.srv.h.Connect(s, payload); err != nil {
		s.t.SendPacket(connectError(s.protocol, "/", err.Error()))
		return
	}
	s.mu.Lock()
	pid, closing := s.pid, s.closing
	s.mu.Unlock()
	if closing { // Connect called Disconnect or Drop, or the connect timeout fired
		return
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	if err := s.t.SendPacket(connectReply(s.protocol, s.id, pid)); err != nil {
		return // the session is closing; OnClose follows, and we never connected
	}
	s.mu.Lock()
	s.state = stateConnected
	s.mu.Unlock()
	s.srv.h.Connected(s)
}

func (s *Socket) ackFunc(id uint64) Ack {
	var sent atomic.Bool
	return func(args ...any) error {
		if !sent.CompareAndSwap(false, true) {
			return fmt.Errorf("socketio: socket %q: ack %d: already sent", s.id, id)
		}
		p, err := encodeAck(id, args)
		if err != nil {
			sent.Store(false) // nothing was sent; the caller may try other args
			return fmt.Errorf("socketio: socket %q: %w", s.id, err)
		}
		return s.Send(p)
	}
}

// onClientDisconnect handles the client's DISCONNECT of "/" and returns the
// socket that takes the session's next messages. Like the official server,
// the Engine.IO session stays open (the protocol lets the client connect
// again on it; the official clients close it themselves), but the connect
// timeout starts again, so a session without a socket does not linger.
func (s *Socket) onClientDisconnect() *Socket {
	s.finish("client namespace disconnect")
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing { // Disconnect raced with it: the session is closing anyway
		return s
	}
	next := s.srv.waiting(s.t, s.engine)
	next.follows = true
	return next
}

// fail closes the session after a protocol violation, as the official
// server does ("parse error").
func (s *Socket) fail(err error) {
	s.srv.log.Debug("socketio: closing session after invalid packet", "sid", s.t.ID(), "err", err)
	if _, ok := s.startClosing("parse error"); ok {
		s.t.Close()
	}
}

// onClose handles the end of the Engine.IO session; called once, last.
//
// A send that overflows the session's queue closes the session, and the
// session then calls OnClose on the sender's goroutine, inside Send. The
// application may hold its own locks around Send (a delivery loop over a
// user's sockets) that its Disconnect needs; so when a send is under way,
// Handler.Disconnect runs on a goroutine of its own, which ends with it.
// Nothing else of this socket runs after OnClose, so callbacks stay
// sequential.
func (s *Socket) onClose(reason string) {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.sending.Load() > 0 {
		go s.finish(reason)
		return
	}
	s.finish(reason)
}

// finish moves the socket to its final state and owes the Handler its one
// Disconnect call if the socket was connected; pending acks get ErrClosed.
func (s *Socket) finish(reason string) {
	s.mu.Lock()
	connected := s.state == stateConnected
	s.state = stateClosed
	if s.reason != "" {
		reason = s.reason
	}
	acks := s.acks
	s.acks = nil
	s.mu.Unlock()
	if connected {
		s.srv.h.Disconnect(s, reason)
	}
	closed := fmt.Errorf("socketio: socket %q: %w", s.id, ErrClosed)
	for _, reply := range acks {
		reply(nil, closed)
	}
}
