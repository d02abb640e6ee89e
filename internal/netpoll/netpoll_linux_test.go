//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pushinator/pushinator/internal/tcptest"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	return tcptest.Pair(t, nil)
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func expectCall(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: ready was not called", what)
	}
}

// expectNoCall checks that ready was not called. Another connection's
// event, sent after everything before, is waited for first: the Poller has
// dispatched what came before it, so no sleeping for an absence.
func expectNoCall(t *testing.T, p *Poller, calls <-chan struct{}, what string) {
	t.Helper()
	server, client := tcpPair(t)
	sentinel := make(chan struct{}, 1)
	w, err := p.Register(server, func() { sentinel <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Remove()
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("x"))
	expectCall(t, sentinel, what+": sentinel")
	select {
	case <-calls:
		t.Fatalf("%s: ready was called", what)
	default:
	}
}

func TestReadyWhenDataArrives(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	calls := make(chan struct{}, 10)
	w, err := p.Register(server, func() { calls <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	expectNoCall(t, p, calls, "armed, nothing sent")
	client.Write([]byte("hello"))
	expectCall(t, calls, "after a write")
	buf := make([]byte, 16)
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// One call per Arm: more data without Arm calls nothing; the next
	// Arm with data already waiting calls at once.
	client.Write([]byte("again"))
	expectNoCall(t, p, calls, "data without Arm")
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	expectCall(t, calls, "Arm with data waiting")
}

func TestReadyWhenPeerCloses(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	calls := make(chan struct{}, 1)
	w, _ := p.Register(server, func() { calls <- struct{}{} })
	w.Arm()
	client.Close()
	expectCall(t, calls, "peer closed")
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after peer close: %v, want EOF", err)
	}
}

func TestRemoveStopsCalls(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	calls := make(chan struct{}, 1)
	w, _ := p.Register(server, func() { calls <- struct{}{} })
	w.Arm()
	w.Remove()
	if p.Waiting() != 0 {
		t.Fatalf("Waiting = %d after Remove, want 0", p.Waiting())
	}
	if err := w.Arm(); !errors.Is(err, ErrRemoved) {
		t.Fatalf("Arm after Remove: %v, want ErrRemoved", err)
	}
	client.Write([]byte("x"))
	expectNoCall(t, p, calls, "removed waiter")
	w.Remove() // twice is harmless
}

// A descriptor number freed by one connection and reused by the next must
// not wake the first connection's waiter.
func TestClosedConnectionDoesNotWakeItsSuccessor(t *testing.T) {
	p := newPoller(t)
	for i := 0; i < 50; i++ {
		server, client := tcpPair(t)
		stale := make(chan struct{}, 1)
		w, _ := p.Register(server, func() { stale <- struct{}{} })
		w.Arm()
		w.Remove()
		server.Close()
		client.Close()

		server2, client2 := tcpPair(t)
		fresh := make(chan struct{}, 1)
		w2, _ := p.Register(server2, func() { fresh <- struct{}{} })
		w2.Arm()
		client2.Write([]byte("x"))
		expectCall(t, fresh, "successor")
		expectNoCall(t, p, stale, "closed connection")
		w2.Remove()
	}
}

func TestUnsupportedConnection(t *testing.T) {
	p := newPoller(t)
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := p.Register(a, func() {}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Register(net.Pipe): %v, want ErrUnsupported", err)
	}
}

// Many connections, each armed again after every call: every write gets
// exactly its own call.
func TestManyConnections(t *testing.T) {
	p := newPoller(t)
	const n, rounds = 200, 5
	type conn struct {
		server, client net.Conn
		w              *Waiter
		calls          chan struct{}
	}
	conns := make([]*conn, n)
	for i := range conns {
		s, c := tcpPair(t)
		cn := &conn{server: s, client: c, calls: make(chan struct{}, rounds+1)}
		var err error
		cn.w, err = p.Register(s, func() { cn.calls <- struct{}{} })
		if err != nil {
			t.Fatal(err)
		}
		if err := cn.w.Arm(); err != nil {
			t.Fatal(err)
		}
		conns[i] = cn
	}
	buf := make([]byte, 8)
	for r := 0; r < rounds; r++ {
		for _, cn := range conns {
			cn.client.Write([]byte{byte(r)})
		}
		for i, cn := range conns {
			expectCall(t, cn.calls, fmt.Sprintf("connection %d round %d", i, r))
			if k, err := cn.server.Read(buf); err != nil || k != 1 || buf[0] != byte(r) {
				t.Fatalf("connection %d round %d: read %v %v", i, r, buf[:k], err)
			}
			cn.w.Arm()
		}
	}
	if got := p.Waiting(); got != n {
		t.Fatalf("Waiting = %d, want %d", got, n)
	}
}

func TestCloseEndsPoller(t *testing.T) {
	p, err := New()
	if err != nil {
		t.Fatal(err)
	}
	server, _ := tcpPair(t)
	calls := make(chan struct{}, 1)
	w, _ := p.Register(server, func() { calls <- struct{}{} })
	w.Arm()
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	// Removing after Close must not touch a descriptor number the epoll
	// instance no longer owns.
	w.Remove()
	if p.Waiting() != 0 {
		t.Fatalf("Waiting = %d after Remove, want 0", p.Waiting())
	}
}
