// Package admin is the admin HTTP API: the application registers users and sends them
// messages; operators read health, stats and metrics. It speaks JSON over net/http and knows
// nothing of transports: everything it does goes through the Service interface.
//
// Every reply is JSON with a "status" field equal to the HTTP status. Bodies are JSON whatever
// the Content-Type, because the original's documented calls use `curl -d`, which sends them as
// form data.
package admin

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pushinator/pushinator/internal/jsontext"
	"github.com/pushinator/pushinator/push"
)

// Service is what the admin API drives; every push.Engine (the memory *push.Hub, the Redis
// engine) satisfies it. A call failing with push.ErrUnavailable is answered 503.
type Service interface {
	Register(userID, hash string) error
	Unregister(userID string) (bool, error)
	DisconnectUser(userID string) (int, bool, error)
	Users() ([]string, error)
	Send(userIDs []string, event string, data json.RawMessage) (push.SendResult, error)
	Broadcast(event string, data json.RawMessage) (int, error)
	Stats() push.Stats
}

// Connections counts open client connections; main fills it from the Engine.IO server.
type Connections struct {
	Total       int
	ByTransport map[string]int // "websocket", "polling", "jsonp"
	ByProtocol  map[int]int    // Engine.IO protocol version: 3, 4
}

// Options configure the handler.
type Options struct {
	Token        string // when set, every request needs "Authorization: Bearer <Token>"
	MaxBodyBytes int64  // larger bodies get 413
	Logger       *slog.Logger
	Connections  func() Connections // nil: no connection figures
	Node         string             // the node's name in stats ("" for a single node)
}

// Handler serves the admin API.
type Handler struct {
	svc      Service
	opts     Options
	tokenSum [sha256.Size]byte
	started  time.Time
	mux      *http.ServeMux
	requests requestCounter
}

// New returns the admin API over svc.
func New(svc Service, opts Options) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{svc: svc, opts: opts, started: time.Now(), mux: http.NewServeMux()}
	if opts.Token != "" {
		h.tokenSum = sha256.Sum256([]byte(opts.Token))
	}
	post := []string{http.MethodPost}
	get := []string{http.MethodGet, http.MethodHead}
	h.route("/user/register", post, h.register)
	h.route("/user/send", post, h.send)
	h.route("/user/list", append(post, get...), h.list)
	h.route("/user/unregister", post, h.unregister)
	h.route("/user/disconnect", post, h.disconnect)
	h.route("/broadcast", post, h.broadcast)
	h.route("/health", get, h.health)
	h.route("/stats", get, h.stats)
	h.handle("/metrics", get, h.writeMetrics)
	h.mux.HandleFunc("/{$}", h.statusPage) // "/" itself, not every path
	return h
}

// apiError is a failed request: its status and the message the client reads.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, msg string) error { return &apiError{status: status, msg: msg} }

// route registers a JSON endpoint: fn returns the reply's fields or an error.
func (h *Handler) route(path string, methods []string, fn func(*http.Request, map[string]json.RawMessage) (map[string]any, error)) {
	h.handle(path, methods, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]json.RawMessage
		if r.Method == http.MethodPost {
			var err error
			if body, err = h.readBody(w, r); err != nil {
				h.fail(w, r, path, err)
				return
			}
		}
		out, err := fn(r, body)
		if err != nil {
			h.fail(w, r, path, err)
			return
		}
		if out == nil {
			out = map[string]any{}
		}
		out["result"] = "OK"
		h.reply(w, r, path, http.StatusOK, out)
	})
}

// handle registers a path for some methods; any other method gets 405.
func (h *Handler) handle(path string, methods []string, fn http.HandlerFunc) {
	h.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
		for _, m := range methods {
			if r.Method == m {
				fn(w, r)
				return
			}
		}
		w.Header().Set("Allow", strings.Join(methods, ", "))
		h.reply(w, r, path, http.StatusMethodNotAllowed, map[string]any{"error": "Method Not Allowed"})
	})
}

// ServeHTTP checks the token, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Token != "" && !h.authorized(r) && !isStatusPage(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="pushinator"`)
		h.reply(w, r, "", http.StatusUnauthorized, map[string]any{"error": "Unauthorized"})
		return
	}
	if _, pattern := h.mux.Handler(r); pattern == "" {
		h.reply(w, r, "", http.StatusNotFound, map[string]any{"error": "Not Found"})
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(auth) < len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	return subtle.ConstantTimeCompare(sum[:], h.tokenSum[:]) == 1
}

// readBody reads a JSON object body of any Content-Type. An empty body is an empty object,
// so that the reply names the missing fields.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (map[string]json.RawMessage, error) {
	var buf bytes.Buffer
	if n := r.ContentLength; n > 0 && n <= h.opts.MaxBodyBytes {
		// One buffer of the body's length: ReadFrom keeps MinRead bytes free, and
		// grows (doubling) only when they are not.
		buf.Grow(int(n) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	data := buf.Bytes()
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errorf(http.StatusRequestEntityTooLarge, "Request body larger than the limit")
		}
		return nil, errorf(http.StatusBadRequest, "Could not read the request body")
	}
	return decodeBody(data)
}

// decodeBody parses a body that must be one JSON object. Its members' values are slices of
// data, checked once here (the endpoints copy what they keep).
func decodeBody(data []byte) (map[string]json.RawMessage, error) {
	body := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(data)) == 0 {
		return body, nil
	}
	if !json.Valid(data) || !jsontext.Members(data, func(k string, v []byte) { body[k] = v }) {
		return nil, errorf(http.StatusBadRequest, "Not A JSON Body")
	}
	return body, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, path string, err error) {
	var ae *apiError
	if errors.Is(err, push.ErrUnavailable) {
		// Nothing was done: say so, never "OK" (the cluster's Redis is out of reach).
		ae = &apiError{status: http.StatusServiceUnavailable, msg: "Service Unavailable: " + err.Error()}
		h.opts.Logger.Warn("admin request not served", "path", r.URL.Path, "err", err)
	} else if !errors.As(err, &ae) {
		ae = &apiError{status: http.StatusInternalServerError, msg: "Internal Server Error"}
		h.opts.Logger.Error("admin request failed", "path", r.URL.Path, "err", err)
	} else {
		h.opts.Logger.Info("admin request refused", "path", r.URL.Path, "status", ae.status, "error", ae.msg, "remote", r.RemoteAddr)
	}
	h.reply(w, r, path, ae.status, map[string]any{"error": ae.msg})
}

func (h *Handler) reply(w http.ResponseWriter, r *http.Request, path string, status int, body map[string]any) {
	h.requests.add(path, status)
	body["status"] = status
	data, err := json.Marshal(body)
	if err != nil { // only plain values go in, so this is a programming error
		h.opts.Logger.Error("admin reply not encodable", "path", path, "err", err)
		status, data = http.StatusInternalServerError, []byte(`{"error":"Internal Server Error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(data, '\n'))
	}
}

// requestCounter counts admin requests by path and status for /metrics. Paths are the routed
// ones only ("" for anything else), so a scan of random URLs cannot grow it.
type requestCounter struct {
	mu sync.Mutex
	n  map[requestKey]uint64
}

type requestKey struct {
	path   string
	status int
}

func (c *requestCounter) add(path string, status int) {
	c.mu.Lock()
	if c.n == nil {
		c.n = make(map[requestKey]uint64)
	}
	c.n[requestKey{path, status}]++
	c.mu.Unlock()
}

func (c *requestCounter) snapshot() map[requestKey]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[requestKey]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
