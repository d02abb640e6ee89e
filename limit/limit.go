// Package limit is admission control for the client port: a cap on open connections and a
// per-IP rate of new Engine.IO sessions. Both are off unless configured, since either can
// refuse legitimate traffic (many users behind one NAT share an IP).
//
// Guarantees: a refused connection or handshake gets a clear HTTP answer (503 or 429), never a
// silent drop; the per-IP table is bounded, so a scan from many addresses cannot grow it
// without limit.
package limit

import (
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Listener wraps a listener so that at most max connections are open at once. Connections
// beyond the cap are answered with a 503 and closed right away, so that clients (and load
// balancers) see a clear refusal and retry elsewhere.
type Listener struct {
	net.Listener
	max      int64
	open     atomic.Int64
	refusing atomic.Int64 // refusals being answered now
}

// maxRefusing bounds the goroutines answering refusals; past it a connection is just closed.
const maxRefusing = 256

// refuse answers c with a 503 once its request has arrived (an answer before the request
// confuses HTTP clients), in its own goroutine so that the accept loop never waits, and
// within a second whatever the client does.
func (l *Listener) refuse(c net.Conn) {
	if l.refusing.Add(1) > maxRefusing {
		l.refusing.Add(-1)
		c.Close()
		return
	}
	go func() {
		defer l.refusing.Add(-1)
		defer c.Close()
		c.SetDeadline(time.Now().Add(time.Second))
		buf := make([]byte, 4096)
		var got []byte
		for !strings.Contains(string(got), "\r\n\r\n") && len(got) < 16<<10 {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				return
			}
		}
		c.Write([]byte(refusal))
	}()
}

// NewListener caps ln at max open connections (max <= 0: no cap).
func NewListener(ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &Listener{Listener: ln, max: int64(max)}
}

// refusal is what a connection over the cap reads: plain HTTP, which every client understands.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nConnection: close\r\nRetry-After: 5\r\nContent-Length: 55\r\n\r\n" +
	`{"code":503,"message":"Server at connection capacity"}` + "\n"

// Accept returns the next connection within the cap.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refuse(c)
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

// Open reports the connections open now.
func (l *Listener) Open() int { return int(l.open.Load()) }

type countedConn struct {
	net.Conn
	l    *Listener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// SyscallConn is the descriptor of the connection underneath: without it a capped WebSocket
// could not be parked in the server's epoll set, nor written to without a goroutine, and
// each idle one would cost twice the memory.
func (c *countedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

// maxTrackedIPs bounds the handshake limiter's table; when full, the oldest window is
// forgotten first (a fresh IP then starts with a full allowance, which errs on serving).
const maxTrackedIPs = 100_000

// Handshakes limits new Engine.IO sessions (requests without a sid) per client IP per second.
type Handshakes struct {
	next   http.Handler
	perSec int
	now    func() time.Time

	mu  sync.Mutex
	ips map[string]*window
}

type window struct {
	start time.Time
	n     int
}

// NewHandshakes wraps next; perSec <= 0 returns next unchanged.
func NewHandshakes(next http.Handler, perSec int) http.Handler {
	if perSec <= 0 {
		return next
	}
	return &Handshakes{next: next, perSec: perSec, now: time.Now, ips: make(map[string]*window)}
}

func (h *Handshakes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("sid") == "" && r.Method != http.MethodOptions && !h.allow(IP(r.RemoteAddr)) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		w.Write([]byte(`{"code":429,"message":"Too many handshakes from this address"}` + "\n"))
		return
	}
	h.next.ServeHTTP(w, r)
}

func (h *Handshakes) allow(ip string) bool {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	win := h.ips[ip]
	if win == nil || now.Sub(win.start) >= time.Second {
		if win == nil && len(h.ips) >= maxTrackedIPs {
			h.evictLocked(now)
		}
		h.ips[ip] = &window{start: now, n: 1}
		return true
	}
	win.n++
	return win.n <= h.perSec
}

// evictLocked forgets windows that are over; if none is, an arbitrary one.
func (h *Handshakes) evictLocked(now time.Time) {
	for ip, w := range h.ips {
		if now.Sub(w.start) >= time.Second {
			delete(h.ips, ip)
		}
	}
	for ip := range h.ips {
		if len(h.ips) < maxTrackedIPs {
			break
		}
		delete(h.ips, ip)
	}
}

// Failures counts failed authentications per client IP and says when an IP has failed too
// often: a guesser is then refused at once for the rest of the window, whatever it sends.
type Failures struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu  sync.Mutex
	ips map[string]*window
}

// NewFailures allows max failures per IP per window; max <= 0 never blocks.
func NewFailures(max int, per time.Duration) *Failures {
	return &Failures{max: max, window: per, now: time.Now, ips: make(map[string]*window)}
}

// Blocked reports whether ip failed too often in the current window.
func (f *Failures) Blocked(ip string) bool {
	if f == nil || f.max <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.ips[ip]
	return w != nil && f.now().Sub(w.start) < f.window && w.n >= f.max
}

// Fail records a failure from ip.
func (f *Failures) Fail(ip string) {
	if f == nil || f.max <= 0 {
		return
	}
	now := f.now()
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.ips[ip]
	if w == nil || now.Sub(w.start) >= f.window {
		if w == nil && len(f.ips) >= maxTrackedIPs {
			for k, v := range f.ips {
				if now.Sub(v.start) >= f.window || len(f.ips) >= maxTrackedIPs {
					delete(f.ips, k)
				}
			}
		}
		f.ips[ip] = &window{start: now, n: 1}
		return
	}
	w.n++
}

// IP returns the address part of a remote address ("1.2.3.4:5678" → "1.2.3.4").
func IP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return remoteAddr
	}
	return host
}
