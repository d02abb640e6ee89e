// Package gateway binds socket.io sockets to push users: it authenticates a socket (the
// original's `auth` event, or the v3+ handshake `auth` payload), resumes a dropped session
// (socket.io connection state recovery), closes sockets that never authenticate, and turns
// pushes into socket.io events.
//
// Guarantees: a socket receives pushes only once it authenticated; pushes reach it in send
// order, including those replayed on authentication or resume; a failed authentication is
// answered (when the client asked for an acknowledgement) before the socket is disconnected.
package gateway

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/pushinator/pushinator/limit"
	"github.com/pushinator/pushinator/push"
	"github.com/pushinator/pushinator/socketio"
)

// AuthEvent is the event a client emits with (userId, hash), as in the original.
const AuthEvent = "auth"

// Options configure a Gateway.
type Options struct {
	AuthTimeout time.Duration // close sockets not authenticated by then; 0: never
	Recovery    bool          // offer connection state recovery to socket.io v5 clients
	// Failures counts failed authentications per client IP and refuses an IP that failed too
	// often; nil: no per-IP limit (each failure still costs its connection).
	Failures *limit.Failures
	Logger   *slog.Logger
}

// failureDelay is how long a failed authentication waits before it is answered: nothing for a
// client that mistyped, but it caps each connection's guessing rate, and a guesser's
// connection is cut after its first failure anyway.
const failureDelay = 200 * time.Millisecond

var errTooManyFailures = errors.New("too many failed authentications from this address; try again later")

// Gateway is the socketio.Handler of pushinator.
type Gateway struct {
	hub  push.Engine
	opts Options
	log  *slog.Logger
}

// New returns a gateway delivering hub's messages (the memory *push.Hub or a cluster engine).
func New(hub push.Engine, opts Options) *Gateway {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Gateway{hub: hub, opts: opts, log: log}
}

// Message forms in push.Message's cache: with the recovery offset as last argument, or not,
// and the socket.io 0.9 (protocol 1) packet.
const (
	formPlain = iota
	formWithOffset
	formLegacy
)

// client is the connection a conn delivers to: a socket.io socket, or a socket.io 0.9 one.
type client interface {
	send(m *push.Message, withOffset bool) error
	disconnect()
	// drop closes the connection so that the client comes back by itself (its reconnection
	// logic), for a refusal that is not final: the cluster's store is out of reach.
	drop()
	remoteAddr() string
	transport() string
	// unwritten is the number of the first message the connection took but never wrote
	// (0: none); final once the client's disconnect is reported.
	unwritten() uint64
}

// conn is one socket as the hub sees it (a push.Session).
type conn struct {
	g *Gateway
	s client

	mu        sync.Mutex
	ready     bool            // the CONNECT reply is out: deliveries go straight to the socket
	pending   []*push.Message // deliveries before that, flushed by Connected in order
	binding   *push.Binding
	pid       string // recovery id; "" for clients that cannot recover (protocol v4)
	authTimer *time.Timer
	isClosed  bool
	// last is the number of the last message the socket took, for what the hub keeps of
	// what it never wrote (push.Unwritten); switched: the socket changed users, and what
	// it never wrote may be the other user's, so nothing is handed back.
	last     uint64
	switched bool
}

// Deliver queues m on the socket; before the CONNECT reply is out it waits in pending.
func (c *conn) Deliver(m *push.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.isClosed {
		return socketio.ErrClosed
	}
	if !c.ready {
		c.pending = append(c.pending, m)
		c.last = m.Seq
		return nil
	}
	err := c.send(m)
	if err == nil {
		c.last = m.Seq
	}
	return err
}

func (c *conn) send(m *push.Message) error { return c.s.send(m, c.pid != "") }

// sioClient is a socket.io (protocol v4/v5) socket.
type sioClient struct{ s *socketio.Socket }

func (c sioClient) send(m *push.Message, withOffset bool) error {
	form := formPlain
	if withOffset {
		form = formWithOffset
	}
	p, _ := m.Encoded(form, encode(form)).(*socketio.Packet)
	if p == nil {
		return errors.New("gateway: message could not be encoded")
	}
	return c.s.Send(p)
}

func (c sioClient) disconnect()        { c.s.Disconnect() }
func (c sioClient) drop()              { c.s.Drop() }
func (c sioClient) remoteAddr() string { return c.s.Engine().RemoteAddr() }
func (c sioClient) transport() string  { return c.s.Engine().Transport() }
func (c sioClient) unwritten() uint64  { return c.s.Unwritten() }

func encode(form int) func(*push.Message) any {
	return func(m *push.Message) any {
		var p *socketio.Packet
		var err error
		data := socketio.ValidJSON(m.Data) // checked where it came in (push.Message)
		if form == formWithOffset {
			p, err = socketio.EncodeEvent(m.Event, data, push.FormatOffset(m))
		} else {
			p, err = socketio.EncodeEvent(m.Event, data)
		}
		if err != nil {
			return nil
		}
		p.SetMark(m.Seq)
		return p
	}
}

// Disconnect closes the socket (unregister, admin disconnect, slow client).
func (c *conn) Disconnect(string) { c.s.disconnect() }

// connectPayload is what a v5 client may send with CONNECT: handshake auth and the recovery
// fields the official client adds.
type connectPayload struct {
	UserID json.RawMessage `json:"userId"`
	Hash   json.RawMessage `json:"hash"`
	PID    string          `json:"pid"`
	Offset string          `json:"offset"`
}

var (
	errUnauthorized = errors.New("unauthorized")
	// errUnavailable is what a client is told when the cluster's store is out of reach: its
	// credentials were not checked, so "unauthorized" would be a lie.
	errUnavailable = errors.New("service unavailable, retry later")
)

// Connect resumes or authenticates the socket when its CONNECT payload says so.
func (g *Gateway) Connect(s *socketio.Socket, payload json.RawMessage) error {
	c := &conn{g: g, s: sioClient{s}}
	var p connectPayload
	if len(payload) > 0 {
		// A payload that is not an object of this shape carries no auth: the socket then
		// has to use the auth event, like the original's clients.
		_ = json.Unmarshal(payload, &p)
	}
	recoverable := g.opts.Recovery && s.Protocol() >= 5
	if recoverable && p.PID != "" {
		if b, ok := g.resume(p, c); ok {
			c.binding, c.pid = b, p.PID
			s.SetPID(p.PID)
			s.SetData(c)
			g.log.Debug("session recovered", "user", b.UserID(), "remote", c.s.remoteAddr())
			return nil
		}
	}
	if recoverable {
		c.pid = newPID()
		s.SetPID(c.pid)
	}
	if len(p.UserID) > 0 {
		if err := c.authenticate(p.UserID, p.Hash); errors.Is(err, errUnavailable) {
			// A CONNECT_ERROR would be final for socket.io-client: dropped, it comes back by
			// itself, with backoff, until the store answers again.
			s.Drop()
			return nil
		} else if err != nil {
			return err
		}
	}
	s.SetData(c)
	return nil
}

// resume continues the session p.PID on c. socket.io-client sends its auth along with the
// pid: a userId there decides whose session it may be (another user's is not resumed, and
// the client logs in afresh with what it sent).
func (g *Gateway) resume(p connectPayload, c *conn) (*push.Binding, bool) {
	user := ""
	if len(p.UserID) > 0 {
		id, err := push.ParseUserID(p.UserID)
		if err != nil {
			return nil, false // the login that follows refuses it
		}
		user = id
	}
	b, err := g.hub.Resume(p.PID, p.Offset, user, c)
	return b, err == nil
}

// Connected flushes what the hub delivered before the CONNECT reply, then arms the auth timer.
func (g *Gateway) Connected(s *socketio.Socket) {
	c := s.Data().(*conn)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ready = true
	for _, m := range c.pending {
		c.send(m)
	}
	c.pending = nil
	c.armAuthTimerLocked()
}

// armAuthTimerLocked closes the connection if it has not authenticated within the timeout.
func (c *conn) armAuthTimerLocked() {
	g := c.g
	if c.binding != nil || g.opts.AuthTimeout <= 0 {
		return
	}
	c.authTimer = time.AfterFunc(g.opts.AuthTimeout, func() {
		c.mu.Lock()
		authed := c.binding != nil
		c.mu.Unlock()
		if !authed {
			g.log.Info("closing a connection that did not authenticate in time", "remote", c.s.remoteAddr())
			c.s.disconnect()
		}
	})
}

// Event handles the auth event; pushinator's clients send nothing else it acts on.
func (g *Gateway) Event(s *socketio.Socket, name string, args []json.RawMessage, ack socketio.Ack) {
	if ack == nil { // a nil socketio.Ack must stay a nil func, not a func holding nil
		s.Data().(*conn).event(name, args, nil)
		return
	}
	s.Data().(*conn).event(name, args, ack)
}

// event handles a client event of either kind of socket; ack is nil when none was asked.
func (c *conn) event(name string, args []json.RawMessage, ack func(args ...any) error) {
	if name != AuthEvent {
		c.g.log.Debug("ignoring client event", "event", name, "remote", c.s.remoteAddr())
		if ack != nil {
			ack(map[string]any{"ok": false, "error": "unknown event"})
		}
		return
	}
	var userID, hash json.RawMessage
	if len(args) > 0 {
		userID = args[0]
	}
	if len(args) > 1 {
		hash = args[1]
	}
	if err := c.authenticate(userID, hash); err != nil {
		unavailable := errors.Is(err, errUnavailable) // not the client's fault: it may come back
		if !unavailable {
			time.Sleep(failureDelay)
		}
		if ack != nil {
			ack(map[string]any{"ok": false, "error": err.Error()})
		}
		if unavailable {
			c.s.drop() // the client reconnects by itself and sends auth again
		} else {
			c.s.disconnect()
		}
		return
	}
	if ack != nil {
		ack(map[string]any{"ok": true})
	}
}

// authenticate binds the socket to the user, or fails with the reason the client is told.
func (c *conn) authenticate(rawID, rawHash json.RawMessage) error {
	g := c.g
	remote := c.s.remoteAddr()
	ip := limit.IP(remote)
	if g.opts.Failures.Blocked(ip) {
		g.log.Info("auth refused: too many failures from this address", "remote", remote)
		return errTooManyFailures
	}
	err := c.checkAndBind(rawID, rawHash, remote)
	if errors.Is(err, errUnauthorized) {
		g.opts.Failures.Fail(ip)
	}
	return err
}

// checkAndBind does authenticate's work once the address may try.
func (c *conn) checkAndBind(rawID, rawHash json.RawMessage, remote string) error {
	g := c.g
	id, err := push.ParseUserID(rawID)
	if err != nil {
		g.log.Info("auth refused: bad userId", "remote", remote)
		return errUnauthorized
	}
	hash, ok := push.ParseHash(rawHash)
	if !ok {
		g.log.Info("auth refused: bad hash", "user", id, "remote", remote)
		return errUnauthorized
	}
	c.mu.Lock()
	old := c.binding
	c.mu.Unlock()
	if old != nil && old.UserID() == id {
		// Already bound (a resumed session re-sending auth on reconnect): only check the hash.
		if !g.hub.CheckHash(id, hash) {
			g.log.Info("auth refused: wrong hash", "user", id, "remote", remote)
			return errUnauthorized
		}
		return nil
	}
	b, err := g.hub.Authenticate(id, hash, c, c.pid)
	if err != nil {
		g.log.Info("auth refused", "user", id, "remote", remote, "reason", err)
		if errors.Is(err, push.ErrTooManySessions) {
			return err
		}
		if errors.Is(err, push.ErrUnavailable) {
			return errUnavailable
		}
		return errUnauthorized
	}
	c.mu.Lock()
	c.binding = b
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	c.switched = c.switched || old != nil
	c.mu.Unlock()
	if old != nil { // the socket switched users
		g.hub.Release(old, false, push.Unwritten{})
	}
	g.log.Debug("authenticated", "user", id, "remote", remote, "transport", c.s.transport())
	return nil
}

// Disconnect releases the socket's binding; a dropped (not deliberately closed) session may
// resume within the recovery window.
func (g *Gateway) Disconnect(s *socketio.Socket, reason string) {
	if c, ok := s.Data().(*conn); ok {
		c.closed(reason)
	}
}

// closed ends the conn: its binding is released, resumable unless the close was deliberate.
func (c *conn) closed(reason string) {
	c.mu.Lock()
	c.isClosed = true
	var lost push.Unwritten
	if !c.switched {
		// What the socket wrote, it wrote in order; what waited for the CONNECT reply
		// came after all of it.
		from := c.s.unwritten()
		if from == 0 && len(c.pending) > 0 {
			from = c.pending[0].Seq
		}
		if from != 0 {
			lost = push.Unwritten{From: from, To: c.last}
		}
	}
	c.pending = nil
	b := c.binding
	if c.authTimer != nil {
		c.authTimer.Stop()
	}
	c.mu.Unlock()
	if b != nil {
		deliberate := reason == "client namespace disconnect" || reason == "server namespace disconnect"
		c.g.hub.Release(b, !deliberate, lost)
	}
}

func newPID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
