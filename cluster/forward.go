// Package cluster forwards a polling request to the node that holds its Engine.IO session, so
// that a cluster needs no sticky sessions: the session id starts with the id of the node that
// issued it ("<node>.<random>"), and each node publishes its client address (in Redis).
//
// Guarantees: a request without a sid, with a sid of this node, or with a sid of a node that is
// not alive is served here (the engine then answers an unknown sid as usual, and the client
// reconnects); a request is forwarded at most once (a forwarded request carries a header, and a
// node never forwards such a request again), so two nodes that disagree cannot loop.
package cluster

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// ForwardedHeader marks a request one node forwarded to another.
const ForwardedHeader = "X-Pushinator-Forwarded-By"

// SIDSeparator ends the node id at the start of a session id.
const SIDSeparator = "."

// addrTTL is how long a node's address is trusted before it is looked up again.
const addrTTL = 5 * time.Second

// Options configure a Forwarder.
type Options struct {
	Self string // this node's id
	// Lookup returns the client address ("host:port") of a live node, "" for a node that is
	// not alive.
	Lookup func(nodeID string) (string, error)
	// Timeout bounds a forwarded request until the owner's response headers: a long-poll
	// answers within the ping interval.
	Timeout time.Duration
	// BodyTimeout bounds reading a forwarded request's body from the client, as the owner
	// bounds a POST it serves itself; zero means no bound.
	BodyTimeout time.Duration
	Logger      *slog.Logger
}

// Forwarder is an http.Handler in front of the Engine.IO server.
type Forwarder struct {
	next  http.Handler
	opts  Options
	proxy *httputil.ReverseProxy

	mu    sync.Mutex
	addrs map[string]cachedAddr
}

type cachedAddr struct {
	addr string
	at   time.Time
}

type targetKey struct{}

// New returns a Forwarder that serves this node's requests with next.
func New(next http.Handler, opts Options) *Forwarder {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Forwarder{next: next, opts: opts, addrs: make(map[string]cachedAddr)}
	transport := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		ResponseHeaderTimeout: opts.Timeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   64,
	}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			addr, _ := pr.In.Context().Value(targetKey{}).(string)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = addr
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Set(ForwardedHeader, opts.Self)
			pr.SetXForwarded()
		},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			opts.Logger.Info("forwarding a client request to its node failed", "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte(`{"code":1,"message":"Session ID unknown"}`))
		},
	}
	return f
}

// ServeHTTP forwards a request for another node's session, or serves it here.
func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	node, ok := f.owner(r)
	if !ok {
		f.next.ServeHTTP(w, r)
		return
	}
	addr := f.lookup(node)
	if addr == "" {
		f.next.ServeHTTP(w, r)
		return
	}
	if r.Body != http.NoBody && f.opts.BodyTimeout > 0 {
		// The proxy streams the body on: a client that stalls in it would otherwise hold
		// this request, and one on the owner, for as long as it likes.
		http.NewResponseController(w).SetReadDeadline(time.Now().Add(f.opts.BodyTimeout))
	}
	ctx := context.WithValue(r.Context(), targetKey{}, addr)
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// owner is the node named by the request's sid, when it is another node and the request was
// not forwarded already.
func (f *Forwarder) owner(r *http.Request) (string, bool) {
	if r.Header.Get(ForwardedHeader) != "" {
		return "", false
	}
	sid := r.URL.Query().Get("sid")
	node, _, ok := strings.Cut(sid, SIDSeparator)
	if !ok || node == "" || node == f.opts.Self {
		return "", false
	}
	return node, true
}

func (f *Forwarder) lookup(node string) string {
	now := time.Now()
	f.mu.Lock()
	c, ok := f.addrs[node]
	f.mu.Unlock()
	if ok && now.Sub(c.at) < addrTTL {
		return c.addr
	}
	addr, err := f.opts.Lookup(node)
	if err != nil {
		f.opts.Logger.Debug("node address lookup failed", "node", node, "err", err)
		return c.addr // the last known one, if any: better than refusing the client
	}
	f.mu.Lock()
	if len(f.addrs) > 1024 { // node ids change with every restart: keep the map bounded
		clear(f.addrs)
	}
	f.addrs[node] = cachedAddr{addr: addr, at: now}
	f.mu.Unlock()
	return addr
}
