package legacy

import (
	"bufio"
	"context"
	"encoding/json"
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
)

// Options configure a Server. Zero durations and sizes take the defaults
// named below (the product's configuration sets them explicitly).
type Options struct {
	Path             string        // "/socket.io/"; the server answers under Path+"1/"
	Transports       []string      // ordered: "websocket", "xhr-polling" (or "polling"), "jsonp-polling"; others are ignored
	HeartbeatTimeout time.Duration // announced in the handshake (whole seconds); default 60s
	CloseTimeout     time.Duration // announced in the handshake (whole seconds); default 60s
	// HeartbeatInterval is how often a WebSocket client gets a heartbeat;
	// default 25s, and never more than half of HeartbeatTimeout.
	HeartbeatInterval time.Duration
	// PollDuration is how long a poll waits before it is ended with a
	// noop; default 20s, and never more than half of CloseTimeout (the
	// client gives up on a poll after its close timeout).
	PollDuration time.Duration
	MaxPayload   int64 // largest POST body or WebSocket message; default 1e6
	// CORSOrigins are the allowed Origin values; "*" allows any. An allowed
	// Origin is echoed back, with credentials; a handshake or WebSocket from
	// another is refused (403). Requests without Origin always pass.
	CORSOrigins  []string
	QueueLimit   int           // packets waiting per socket; beyond it the socket is closed; default 1024
	WriteTimeout time.Duration // every network write has this deadline; default 10s
	Logger       *slog.Logger  // default: discard
	// Poller, when set, waits for idle WebSockets to become readable, so
	// that an idle socket holds no reader goroutine. The caller owns it.
	Poller *netpoll.Poller
}

// Defaults, as the 0.9 server had them where it had them.
const (
	defaultHeartbeatTimeout  = 60 * time.Second
	defaultCloseTimeout      = 60 * time.Second
	defaultHeartbeatInterval = 25 * time.Second
	defaultPollDuration      = 20 * time.Second
	defaultMaxPayload        = 1_000_000
	defaultQueueLimit        = 1024
	defaultWriteTimeout      = 10 * time.Second
	// handshakeTTL is how long a handshake waits for its transport (the
	// 0.9 server collected unused handshakes after 30 s).
	handshakeTTL = 30 * time.Second
	// lingerTime keeps a socket the client closed reachable for its last
	// poll, which races the POST that closed it.
	lingerTime = time.Second
	// wsReadBuffer is small: idle sockets are the common case.
	wsReadBuffer    = 256
	writeBufferSize = 4096
)

// Transport names, as in the handshake and the URLs.
const (
	TransportWebSocket = "websocket"
	TransportXHR       = "xhr-polling"
	TransportJSONP     = "jsonp-polling"
)

// Handler receives the sockets' life.
type Handler interface {
	// Connect is called when the socket's transport first connects; nil
	// sends `1::`, an error refuses the socket (an "unauthorized" error
	// packet, then `0::`).
	Connect(s *Socket) error
	// Event is an event from the client (a plain message arrives as the
	// event "message" with the text as a JSON string); ack is nil unless
	// the client asked for data in its acknowledgement.
	Event(s *Socket, name string, args []json.RawMessage, ack func(args ...any) error)
	// Disconnect is called exactly once per connected socket, with one of:
	// "client namespace disconnect" (the client's `0::` or ?disconnect),
	// "server namespace disconnect" (Socket.Disconnect), "transport close",
	// "transport error", "heartbeat timeout", "close timeout",
	// "parse error", "slow client", "server shutting down".
	Disconnect(s *Socket, reason string)
}

// Stats counts connected sockets.
type Stats struct {
	Sockets   int // all connected sockets
	WebSocket int // by transport
	XHR       int
	JSONP     int
}

// Server serves protocol 1; it is an http.Handler for Options.Path+"1/".
type Server struct {
	opts       Options
	h          Handler
	log        *slog.Logger
	prefix     string // Path+"1/"
	handshake  string // ":hb:close:transports" after the sid
	transports [3]bool

	// sockets holds the handshaken and connected sockets, and closed
	// polling ones for lingerTime so their racing last poll finds them.
	sockets *sessions.Table[*Socket]

	cors    wire.Origins // opts.CORSOrigins
	byKind  [4]atomic.Int64
	writers sync.Pool
}

// NewServer returns a Server handing sockets to h.
func NewServer(opts Options, h Handler) *Server {
	if opts.Path == "" {
		opts.Path = "/socket.io/"
	}
	if !strings.HasSuffix(opts.Path, "/") {
		opts.Path += "/"
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = defaultHeartbeatTimeout
	}
	if opts.CloseTimeout <= 0 {
		opts.CloseTimeout = defaultCloseTimeout
	}
	if opts.HeartbeatInterval <= 0 {
		opts.HeartbeatInterval = defaultHeartbeatInterval
	}
	opts.HeartbeatInterval = min(opts.HeartbeatInterval, opts.HeartbeatTimeout/2)
	if opts.PollDuration <= 0 {
		opts.PollDuration = defaultPollDuration
	}
	opts.PollDuration = min(opts.PollDuration, opts.CloseTimeout/2)
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = defaultMaxPayload
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = defaultQueueLimit
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.Transports == nil {
		opts.Transports = []string{TransportWebSocket, TransportXHR, TransportJSONP}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts: opts, h: h, log: log,
		cors:    wire.Origins(opts.CORSOrigins),
		prefix:  opts.Path + "1/",
		sockets: sessions.New[*Socket](),
	}
	var names []string
	for _, t := range opts.Transports {
		if t == "polling" {
			// The modern name the configuration accepts for XHR polling.
			t = TransportXHR
		}
		k := kindOf(t)
		if k == kindNone || s.transports[k-1] {
			continue
		}
		s.transports[k-1] = true
		names = append(names, t)
	}
	s.handshake = ":" + seconds(opts.HeartbeatTimeout) + ":" + seconds(opts.CloseTimeout) + ":" + strings.Join(names, ",")
	s.writers.New = func() any { return bufio.NewWriterSize(nil, writeBufferSize) }
	return s
}

// seconds rounds up to whole seconds, at least 1: the handshake's unit.
func seconds(d time.Duration) string {
	return strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10)
}

type transportKind uint8

const (
	kindNone transportKind = iota
	kindWebSocket
	kindXHR
	kindJSONP
)

var kindNames = [...]string{"", TransportWebSocket, TransportXHR, TransportJSONP}

func kindOf(name string) transportKind {
	switch name {
	case TransportWebSocket:
		return kindWebSocket
	case TransportXHR:
		return kindXHR
	case TransportJSONP:
		return kindJSONP
	}
	return kindNone
}

func (srv *Server) enabled(k transportKind) bool { return k != kindNone && srv.transports[k-1] }

// Stats counts the connected sockets by transport.
func (srv *Server) Stats() Stats {
	st := Stats{
		WebSocket: int(srv.byKind[kindWebSocket].Load()),
		XHR:       int(srv.byKind[kindXHR].Load()),
		JSONP:     int(srv.byKind[kindJSONP].Load()),
	}
	st.Sockets = st.WebSocket + st.XHR + st.JSONP
	return st
}

// Shutdown refuses new handshakes and disconnects every socket with `0::`
// ("server shutting down"). It returns when all are gone; when ctx ends
// first, the rest are closed at once and ctx's error is returned.
func (srv *Server) Shutdown(ctx context.Context) error {
	list, drained := srv.sockets.Close()
	for _, s := range list {
		s.shutdown()
	}
	select {
	case <-drained:
		return nil
	case <-ctx.Done():
		list = srv.sockets.List()
		for _, s := range list {
			s.closeNow(reasonShutdown)
		}
		return fmt.Errorf("legacy: shutdown: %d sockets did not take their disconnect packet: %w", len(list), ctx.Err())
	}
}

func (srv *Server) lookup(id string) *Socket {
	s, _ := srv.sockets.Lookup(id)
	return s
}

// remove drops a finished socket; called with s.mu held.
func (srv *Server) remove(s *Socket, linger bool) {
	srv.sockets.Remove(s.id, s)
	if linger {
		srv.sockets.Linger(s.id, s, lingerTime)
	}
}

func (srv *Server) unlinger(s *Socket) { srv.sockets.Unlinger(s.id, s) }

// jsonpIndex keeps the digits of a JSONP index (at most 10), the only
// characters that reach the script.
func jsonpIndex(v string) (string, bool) {
	if v == "" || len(v) > 10 {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
	}
	return v, true
}

// ServeHTTP answers requests under Options.Path+"1/":
//
//	1/                          handshake (GET or POST; ?jsonp=N for JSONP)
//	1/<transport>/<sid>         transport requests
//	1//<sid>/?disconnect=1      the client's synchronous disconnect
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, srv.prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodOptions {
		srv.cors.Preflight(w, r, "GET, POST")
		return
	}
	q := r.URL.Query()
	if rest == "" {
		srv.serveHandshake(w, r, q.Get("jsonp"))
		return
	}
	transport, sid, _ := strings.Cut(strings.TrimSuffix(rest, "/"), "/")
	if sid == "" || strings.Contains(sid, "/") {
		http.NotFound(w, r)
		return
	}
	if _, ok := q["disconnect"]; ok {
		// Forced disconnection (the spec's endpoint; the 0.9 client sends
		// it on page unload): always 200.
		if s := srv.lookup(sid); s != nil {
			s.closeNow(reasonClientDisconnect)
		}
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	k := kindOf(transport)
	if !srv.enabled(k) {
		srv.cors.SetCORS(w, r)
		srv.writeText(w, http.StatusNotFound, "legacy: transport "+strconv.Quote(transport)+" not enabled")
		return
	}
	s := srv.lookup(sid)
	switch k {
	case kindWebSocket:
		srv.serveWebSocket(w, r, s)
	default:
		switch r.Method {
		case http.MethodGet:
			srv.servePoll(w, r, s, k)
		case http.MethodPost:
			srv.servePost(w, r, s, k)
		default:
			srv.writeText(w, http.StatusMethodNotAllowed, "legacy: method not allowed")
		}
	}
}

// serveHandshake answers `sid:heartbeat:close:transports`.
func (srv *Server) serveHandshake(w http.ResponseWriter, r *http.Request, jsonp string) {
	j, isJSONP := jsonpIndex(jsonp)
	fail := func(status int, msg string) {
		if isJSONP {
			// The 0.9 client's JSONP handshake takes an Error.
			b := wire.AppendJSString(nil, []byte(msg), true)
			writeScript(w, srv.opts.WriteTimeout, "io.j["+j+"](new Error("+string(b)+"));")
			return
		}
		srv.cors.SetCORS(w, r)
		srv.writeText(w, status, msg)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		fail(http.StatusMethodNotAllowed, "handshake bad method")
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !srv.cors.Allowed(origin) {
		fail(http.StatusForbidden, "handshake bad origin")
		return
	}
	s := &Socket{srv: srv, id: wire.NewID(), state: stateHandshaken}
	// The timer is armed before the socket is visible, as Shutdown may
	// close it as soon as it is.
	s.mu.Lock()
	s.armCloseLocked(handshakeTTL)
	s.mu.Unlock()
	if !srv.sockets.Add(s.id, s) {
		s.mu.Lock()
		s.stopCloseLocked()
		s.mu.Unlock()
		fail(http.StatusServiceUnavailable, "handshake error: server shutting down")
		return
	}

	hs := s.id + srv.handshake
	if isJSONP {
		b := wire.AppendJSString(nil, []byte(hs), true)
		writeScript(w, srv.opts.WriteTimeout, "io.j["+j+"]("+string(b)+");")
		return
	}
	srv.cors.SetCORS(w, r)
	srv.writeText(w, http.StatusOK, hs)
}

func (srv *Server) writeText(w http.ResponseWriter, status int, body string) {
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(srv.opts.WriteTimeout))
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write([]byte(body))
}

// writeScript answers a JSONP handshake with a script.
func writeScript(w http.ResponseWriter, timeout time.Duration, body string) {
	w.Header().Set("X-XSS-Protection", "0")
	wire.WritePoll(w, "text/javascript; charset=UTF-8", []byte(body), timeout)
}
