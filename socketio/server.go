package socketio

import (
	"encoding/json"
	"log/slog"
	"time"
)

// DefaultConnectTimeout is how long a session may stay without a connected
// socket when Options.ConnectTimeout is zero: the official server's default.
const DefaultConnectTimeout = 45 * time.Second

// Options configure a Server.
type Options struct {
	// ConnectTimeout closes an Engine.IO session that has no connected socket
	// this long after it opened, or after its client's DISCONNECT: a v5
	// client that never sends CONNECT, any client whose CONNECT was refused,
	// one that left and did not come back. Zero means DefaultConnectTimeout;
	// a negative value disables it.
	ConnectTimeout time.Duration
	// MaxAttachments limits the attachments one binary packet may announce.
	// Zero means DefaultMaxAttachments.
	MaxAttachments int
	// Logger receives debug lines about refused packets; nil discards them.
	Logger *slog.Logger
}

// Handler is the application's side of the socket.io server. Its methods for
// one socket are called one at a time, in the order the packets arrived; the
// methods of different sockets run concurrently.
type Handler interface {
	// Connect decides whether a socket may connect. payload is the client's
	// CONNECT payload (the v3+ client's `auth` option), nil when there is none
	// and always nil in protocol v4. A non-nil error refuses the socket with a
	// CONNECT_ERROR carrying err.Error() as its message.
	Connect(s *Socket, payload json.RawMessage) error
	// Connected is called once the CONNECT reply is queued: the socket may send.
	Connected(s *Socket)
	// Event delivers an EVENT. args are the arguments after the event name and
	// may be kept. ack is nil unless the client asked for an acknowledgement.
	// For a binary event, Socket.Attachments holds the attachments while Event
	// runs.
	Event(s *Socket, name string, args []json.RawMessage, ack Ack)
	// Disconnect is called exactly once for every socket whose Connect
	// succeeded, after its other callbacks, with the reason: "client
	// namespace disconnect", "server namespace disconnect", "parse error" or
	// the Engine.IO close reason ("transport close", "ping timeout", "slow
	// client", …). It never runs inside a Send, Emit or Disconnect call of
	// the application, so it may take locks held around those calls.
	Disconnect(s *Socket, reason string)
}

// Ack answers an event the client sent with an acknowledgement callback. It
// may be called once, from any goroutine; a second call returns an error.
type Ack func(args ...any) error

// Server is the socket.io layer over an Engine.IO server: it is the
// engineio.Handler, and gives every Engine.IO session one Socket of the main
// namespace at a time.
type Server struct {
	h              Handler
	connectTimeout time.Duration
	maxAttachments int
	log            *slog.Logger
}

// NewServer returns a socket.io server that reports to h.
func NewServer(opts Options, h Handler) *Server {
	srv := &Server{h: h, connectTimeout: opts.ConnectTimeout, maxAttachments: opts.MaxAttachments, log: opts.Logger}
	if srv.connectTimeout == 0 {
		srv.connectTimeout = DefaultConnectTimeout
	}
	if srv.maxAttachments <= 0 {
		srv.maxAttachments = DefaultMaxAttachments
	}
	if srv.log == nil {
		srv.log = slog.New(slog.DiscardHandler)
	}
	return srv
}
