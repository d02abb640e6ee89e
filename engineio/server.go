package engineio

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushinator/pushinator/internal/netpoll"
	"github.com/pushinator/pushinator/internal/sessions"
	"github.com/pushinator/pushinator/internal/wire"
	"github.com/pushinator/pushinator/internal/wsframe"
)

// Options configure a Server. Zero durations and sizes take the defaults
// named below (the product's configuration sets them all explicitly).
type Options struct {
	Path               string        // URL path the server answers, "/socket.io/"
	PingInterval       time.Duration // default 25s
	PingTimeout        time.Duration // default 20s
	MaxPayload         int64         // largest packet (WebSocket) or payload (polling POST) a client may send; default 1e6
	Polling            bool          // XHR long-polling
	JSONP              bool          // JSONP polling (Engine.IO v3 clients, `j` query parameter)
	WebSocket          bool
	UpgradeToWebSocket bool // offer "websocket" in the handshake's upgrades (polling sessions)
	AllowEIO3          bool
	CORSOrigins        []string      // allowed Origin values; "*" allows any (echoed back, with credentials)
	QueueLimit         int           // packets waiting to be written per session; beyond it the session is closed; default 1024
	WriteTimeout       time.Duration // every network write has this deadline; default 10s
	Logger             *slog.Logger  // default: discard
	// SIDPrefix starts every session id (a cluster node's id and a separator, so that any node
	// can tell which one holds a session); the rest stays random and unpredictable.
	SIDPrefix string
	// Poller, when set, waits for idle WebSockets to become readable, so
	// that an idle session holds no reader goroutine (its stack is most of
	// an idle session's memory). The caller owns it and closes it after
	// Shutdown. Nil: a goroutine reads each WebSocket.
	Poller *netpoll.Poller
}

// Defaults for zero Options fields, as the official server has them.
const (
	defaultPingInterval = 25 * time.Second
	defaultPingTimeout  = 20 * time.Second
	defaultMaxPayload   = 1_000_000
	defaultQueueLimit   = 1024
	defaultWriteTimeout = 10 * time.Second
	// upgradeTimeout bounds the probe: a WebSocket that does not complete
	// the upgrade in this time is dropped (the official value).
	upgradeTimeout = 10 * time.Second
	// lingerTime is how long a session closed by the client's POST waits
	// for the GET that raced it.
	lingerTime = time.Second
	// upgradeNoopDelay is how long a poll waits, once the probe is
	// answered, before it ends with a noop (the official server checks
	// every 100 ms), so a client completing the upgrade at once finds
	// polling refused.
	upgradeNoopDelay = 100 * time.Millisecond
	// wsReadBuffer is the per-connection read buffer: small, because idle
	// sessions are the common case; larger frames are read straight through.
	wsReadBuffer = 256
	// writeBufferSize is the pooled buffer frames are written through.
	writeBufferSize = 4096
	// maxPooledBody is the largest polling response buffer kept for reuse.
	maxPooledBody = 64 << 10
)

// Handler accepts new sessions.
type Handler interface {
	// OpenSession is called once per accepted handshake, before any message of that session.
	OpenSession(s *Session) SessionHandler
}

// SessionHandler receives one session's messages.
type SessionHandler interface {
	OnMessage(data []byte, binary bool) // sequential per session; data is not retained after return
	OnClose(reason string)              // exactly once, after the last OnMessage
}

// Stats counts open sessions.
type Stats struct {
	Sessions  int // all open sessions
	Polling   int // by transport
	JSONP     int
	WebSocket int
	EIO3      int // by protocol
	EIO4      int
}

// Server is an Engine.IO server; it is an http.Handler for Options.Path.
type Server struct {
	opts  Options
	h     Handler
	log   *slog.Logger
	epoch time.Time

	// sessions holds the open sessions, and polling sessions the client
	// closed by a POST until their racing GET collects the noop or
	// lingerTime passes.
	sessions *sessions.Table[*Session]

	byKind  [3]atomic.Int64
	byProto [2]atomic.Int64 // [0] v3, [1] v4
	// onCloseOwed counts registered sessions whose OnClose has not returned yet: Shutdown
	// waits for it, so that handlers have dealt with every session before the caller saves
	// what they left.
	onCloseOwed atomic.Int64

	cors    wire.Origins // opts.CORSOrigins
	writers sync.Pool    // *bufio.Writer of writeBufferSize
	bodies  sync.Pool    // *[]byte: polling response bodies
}

// NewServer returns a Server that hands new sessions to h.
func NewServer(opts Options, h Handler) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = defaultPingInterval
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = defaultPingTimeout
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = defaultMaxPayload
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = defaultQueueLimit
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Path == "" {
		opts.Path = "/engine.io/"
	}
	if !strings.HasSuffix(opts.Path, "/") {
		// As the official server does: clients always add the slash.
		opts.Path += "/"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, h: h, log: log, epoch: time.Now(), cors: wire.Origins(opts.CORSOrigins), sessions: sessions.New[*Session]()}
	s.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufferSize) }
	s.bodies.New = func() any { b := make([]byte, 0, writeBufferSize); return &b }
	return s
}

func (srv *Server) now() int64 { return int64(time.Since(srv.epoch)) }

// Stats counts the open sessions by transport and protocol.
func (srv *Server) Stats() Stats {
	st := Stats{
		Polling:   int(srv.byKind[kindPolling].Load()),
		JSONP:     int(srv.byKind[kindJSONP].Load()),
		WebSocket: int(srv.byKind[kindWebSocket].Load()),
		EIO3:      int(srv.byProto[0].Load()),
		EIO4:      int(srv.byProto[1].Load()),
	}
	st.Sessions = st.Polling + st.JSONP + st.WebSocket
	return st
}

// Shutdown refuses new sessions and closes each open one with a close
// packet ("server shutting down"). It returns when all are closed, or with
// ctx's error when ctx ends first.
func (srv *Server) Shutdown(ctx context.Context) error {
	list, drained := srv.sessions.Close()
	for _, s := range list {
		s.closeGraceful("server shutting down")
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = fmt.Errorf("engineio: shutdown: %d sessions still open: %w", srv.Stats().Sessions, ctx.Err())
		// Their clients did not come for the close packet: end the sessions now, so that
		// the handlers learn what each never wrote (Unwritten) while it can still be kept.
		for _, s := range list {
			s.closeNow("server shutting down", ptClose)
		}
	}
	// OnClose may still be running (or a flusher's failed write may be about to call it).
	deadline := time.Now().Add(onCloseWait)
	for srv.onCloseOwed.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return err
}

// onCloseWait bounds Shutdown's wait for the handlers' OnClose calls.
const onCloseWait = 2 * time.Second

// register adds a new session; false when the server is shutting down.
func (srv *Server) register(s *Session) bool {
	if !srv.sessions.Add(s.id, s) {
		return false
	}
	srv.onCloseOwed.Add(1)
	srv.byKind[s.kind].Add(1)
	srv.byProto[s.proto-3].Add(1)
	return true
}

// remove drops a closed session; called with s.mu held.
func (srv *Server) remove(s *Session) {
	if srv.sessions.Remove(s.id, s) {
		srv.byKind[s.kind].Add(-1)
		srv.byProto[s.proto-3].Add(-1)
	}
}

func (srv *Server) lookup(id string) *Session {
	s, _ := srv.sessions.Lookup(id)
	return s
}

// linger keeps a closed polling session reachable for one last GET.
func (srv *Server) linger(s *Session) { srv.sessions.Linger(s.id, s, lingerTime) }

func (srv *Server) unlinger(s *Session) { srv.sessions.Unlinger(s.id, s) }

// Handshake and request errors, as the official server sends them.
const (
	errTransportUnknown = 0
	errUnknownSID       = 1
	errBadHandshake     = 2
	errBadRequest       = 3
	errForbidden        = 4
	errUnsupportedProto = 5
)

// errMessage is the message the official server sends with code.
func errMessage(code int) string {
	switch code {
	case errTransportUnknown:
		return "Transport unknown"
	case errUnknownSID:
		return "Session ID unknown"
	case errBadHandshake:
		return "Bad handshake method"
	case errForbidden:
		return "Forbidden"
	case errUnsupportedProto:
		return "Unsupported protocol version"
	}
	return "Bad request"
}

func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	writeJSONError(w, status, code, errMessage(code))
}

func writeJSONError(w http.ResponseWriter, status, code int, msg string) {
	b := make([]byte, 0, 64)
	b = append(b, `{"code":`...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, `,"message":`...)
	b = strconv.AppendQuote(b, msg)
	b = append(b, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// request is the Engine.IO part of a request's query.
type request struct {
	eio       int    // 3 or 4; 0 when missing or invalid
	transport string // "polling" or "websocket" as sent
	sid       string
	jsonp     bool   // the j parameter is present
	j         string // its digits
	b64       bool
}

// parseQuery reads the Engine.IO query parameters.
func parseQuery(q map[string][]string) request {
	get := func(k string) (string, bool) {
		v, ok := q[k]
		if !ok || len(v) == 0 {
			return "", ok
		}
		return v[0], true
	}
	var rq request
	switch v, _ := get("EIO"); v {
	case "3":
		rq.eio = 3
	case "4":
		rq.eio = 4
	}
	rq.transport, _ = get("transport")
	rq.sid, _ = get("sid")
	if j, ok := get("j"); ok {
		rq.jsonp = true
		// Only digits reach the response (the official server does the same).
		digits := make([]byte, 0, len(j))
		for i := 0; i < len(j) && len(digits) < 10; i++ {
			if j[i] >= '0' && j[i] <= '9' {
				digits = append(digits, j[i])
			}
		}
		rq.j = string(digits)
	}
	if b, ok := get("b64"); ok && b != "" && b != "0" && b != "false" {
		rq.b64 = true
	}
	return rq
}

// ServeHTTP answers Engine.IO requests at Options.Path.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != srv.opts.Path {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodOptions {
		srv.cors.Preflight(w, r, "GET,HEAD,PUT,PATCH,POST,DELETE")
		return
	}
	rq := parseQuery(r.URL.Query())
	isWS := rq.transport == "websocket"
	if !isWS {
		srv.cors.SetCORS(w, r)
	}

	var kind transportKind
	switch {
	case rq.transport == "polling" && rq.jsonp:
		if !srv.opts.JSONP {
			writeError(w, errBadRequest)
			return
		}
		kind = kindJSONP
	case rq.transport == "polling":
		if !srv.opts.Polling {
			writeError(w, errTransportUnknown)
			return
		}
		kind = kindPolling
	case isWS && srv.opts.WebSocket:
		kind = kindWebSocket
	default:
		writeError(w, errTransportUnknown)
		return
	}

	if rq.sid != "" {
		s := srv.lookup(rq.sid)
		if s == nil {
			writeError(w, errUnknownSID)
			return
		}
		if isWS {
			srv.serveUpgrade(w, r, s)
			return
		}
		s.mu.Lock()
		cur := s.kind
		s.mu.Unlock()
		if cur != kind {
			writeError(w, errBadRequest)
			return
		}
		switch r.Method {
		case http.MethodGet:
			srv.servePoll(w, r, s, rq)
		case http.MethodPost:
			srv.servePost(w, r, s)
		default:
			writeError(w, errBadRequest)
		}
		return
	}

	if r.Method != http.MethodGet {
		writeError(w, errBadHandshake)
		return
	}
	if isWS && !wsframe.IsUpgradeRequest(r) {
		writeError(w, errBadRequest)
		return
	}
	if rq.eio == 0 || (rq.eio == 3 && !srv.opts.AllowEIO3) || (kind == kindJSONP && rq.eio != 3) {
		writeError(w, errUnsupportedProto)
		return
	}
	if isWS {
		if origin := r.Header.Get("Origin"); origin != "" && !srv.cors.Allowed(origin) {
			writeError(w, errForbidden)
			return
		}
	}
	if srv.sessions.Closing() {
		writeJSONError(w, http.StatusServiceUnavailable, errBadRequest, "Server shutting down")
		return
	}
	s := &Session{
		srv:    srv,
		id:     srv.opts.SIDPrefix + wire.NewID(),
		remote: r.RemoteAddr,
		proto:  uint8(rq.eio),
		kind:   kind,
		b64:    rq.b64 || kind == kindJSONP,
	}
	if isWS {
		srv.handshakeWebSocket(w, r, s)
		return
	}
	s.queue = append(s.queue, packet{typ: ptOpen, data: srv.openPacket(s)})
	if !srv.open(s, r) {
		writeJSONError(w, http.StatusServiceUnavailable, errBadRequest, "Server shutting down")
		return
	}
	// The handshake GET is the session's first poll.
	srv.servePoll(w, r, s, rq)
}

// open runs OpenSession and registers the session; false when the server
// is shutting down.
func (srv *Server) open(s *Session, r *http.Request) bool {
	s.req = r
	h := srv.h.OpenSession(s)
	s.req = nil
	s.mu.Lock()
	s.h = h
	if s.state == stateClosed {
		reason := s.reason
		s.onCloseCalled = true
		s.mu.Unlock()
		h.OnClose(reason)
		return false
	}
	if !srv.register(s) {
		s.state = stateClosed
		s.mu.Unlock()
		h.OnClose("server shutting down")
		return false
	}
	s.startHeartbeatLocked()
	s.mu.Unlock()
	return true
}

// openPacket is the open packet's JSON.
func (srv *Server) openPacket(s *Session) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `{"sid":"`...)
	b = append(b, s.id...)
	b = append(b, `","upgrades":[`...)
	if s.kind != kindWebSocket && srv.opts.WebSocket && srv.opts.UpgradeToWebSocket {
		b = append(b, `"websocket"`...)
	}
	b = append(b, `],"pingInterval":`...)
	b = strconv.AppendInt(b, srv.opts.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, srv.opts.PingTimeout.Milliseconds(), 10)
	if s.proto == 4 {
		b = append(b, `,"maxPayload":`...)
		b = strconv.AppendInt(b, srv.opts.MaxPayload, 10)
	}
	return append(b, '}')
}
