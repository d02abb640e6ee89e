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
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
	h.handle("/user/send", post, h.serveSend)
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
func (h *Handler) route(path string, methods []string, fn func(*http.Request, body) (map[string]any, error)) {
	h.handle(path, methods, func(w http.ResponseWriter, r *http.Request) {
		var body body
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
	route, pattern := h.mux.Handler(r)
	if pattern == "" {
		h.reply(w, r, "", http.StatusNotFound, map[string]any{"error": "Not Found"})
		return
	}
	route.ServeHTTP(w, r)
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
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) (body, error) {
	if n := r.ContentLength; n > 0 && n <= h.opts.MaxBodyBytes {
		// The common case: exactly the declared length (net/http ends the body there), read
		// into one buffer of that size.
		data := make([]byte, n)
		if _, err := io.ReadFull(r.Body, data); err != nil {
			return nil, errorf(http.StatusBadRequest, "Could not read the request body")
		}
		return decodeBody(data)
	}
	var buf bytes.Buffer
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

// body is a JSON object body's members in order. A body has a handful of members: a slice
// searched from its end (the last of repeated keys wins, as in a decoded map) costs a
// fraction of a map on a path taken once per message.
type body []member

type member struct {
	key string
	val json.RawMessage
}

// get returns the value of key; nil when absent.
func (b body) get(key string) json.RawMessage {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i].key == key {
			return b[i].val
		}
	}
	return nil
}

// has reports whether key is a member.
func (b body) has(key string) bool { return b.get(key) != nil }

// decodeBody parses a body that must be one JSON object. Its members' values are slices of
// data, checked once here (the endpoints copy what they keep).
func decodeBody(data []byte) (body, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return body{}, nil
	}
	data = validUTF8(data)
	b := make(body, 0, 4)
	if !json.Valid(data) || !jsontext.Members(data, func(k string, v []byte) { b = append(b, member{k, v}) }) {
		return nil, errorf(http.StatusBadRequest, "Not A JSON Body")
	}
	return b, nil
}

// validUTF8 returns data with each byte that is not part of a UTF-8 sequence replaced by
// U+FFFD, as the original server's JSON.parse of the body read as UTF-8 did, and as
// encoding/json decodes a string. Messages go to WebSocket clients in text frames, which
// must be UTF-8: one stray byte would make every client it reaches drop the connection,
// and come back to be sent it again. Valid data is returned as is.
func validUTF8(data []byte) []byte {
	if utf8.Valid(data) {
		return data
	}
	out := make([]byte, 0, len(data)+len(data)/2)
	for len(data) > 0 {
		r, n := utf8.DecodeRune(data)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, data[:n]...)
		}
		data = data[n:]
	}
	return out
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
	body["status"] = status
	data, err := encodeReply(body)
	if err != nil { // only plain values go in, so this is a programming error
		h.opts.Logger.Error("admin reply not encodable", "path", path, "err", err)
		status, data = http.StatusInternalServerError, []byte(`{"error":"Internal Server Error","status":500}`)
	}
	h.write(w, r, path, status, data)
}

// write sends a reply's JSON text (data has room for the newline it appends) and counts it.
func (h *Handler) write(w http.ResponseWriter, r *http.Request, path string, status int, data []byte) {
	h.requests.add(path, status)
	header := w.Header()
	header["Content-Type"] = []string{"application/json"}
	header["Cache-Control"] = []string{"no-store"}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(append(data, '\n'))
	}
}

// encodeReply writes body as json.Marshal does (keys sorted, HTML characters escaped). The
// values of the frequent replies (numbers, plain strings, lists of them) are written
// directly; anything else, or a string that needs escaping, goes through json.Marshal.
func encodeReply(body map[string]any) ([]byte, error) {
	var keyArray [8]string
	if len(body) > len(keyArray) {
		return json.Marshal(body)
	}
	keys := keyArray[:0]
	for k := range body {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 64+16*len(keys))
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var ok bool
		if b, ok = appendPlainString(b, k); !ok {
			return json.Marshal(body)
		}
		b = append(b, ':')
		switch v := body[k].(type) {
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case string:
			b, ok = appendPlainString(b, v)
		case []string:
			if v == nil {
				b = append(b, "null"...)
				break
			}
			b = append(b, '[')
			for j := 0; j < len(v) && ok; j++ {
				if j > 0 {
					b = append(b, ',')
				}
				b, ok = appendPlainString(b, v[j])
			}
			b = append(b, ']')
		default:
			ok = false
		}
		if !ok {
			return json.Marshal(body)
		}
	}
	return append(b, '}'), nil
}

// appendPlainString appends s quoted when JSON writes it as it is: printable ASCII without
// quotes, backslashes or the characters json.Marshal escapes for HTML.
func appendPlainString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
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
