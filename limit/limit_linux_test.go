//go:build linux

package limit

import (
	"net"
	"testing"
	"time"

	"github.com/pushinator/pushinator/internal/netpoll"
	"github.com/pushinator/pushinator/internal/tcptest"
)

// A connection under the cap is still one the server's epoll set can park: it offers the
// descriptor underneath, and readiness reaches the Poller through it.
func TestCappedConnectionCanBeParked(t *testing.T) {
	poller, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	defer poller.Close()
	server, client := tcptest.Pair(t, func(ln net.Listener) net.Listener { return NewListener(ln, 10) })

	ready := make(chan struct{}, 1)
	w, err := poller.Register(server, func() { ready <- struct{}{} })
	if err != nil {
		t.Fatalf("a capped connection cannot be registered: %v", err)
	}
	defer w.Remove()
	if err := w.Arm(); err != nil {
		t.Fatal(err)
	}
	client.Write([]byte("x"))
	select {
	case <-ready:
	case <-time.After(5 * time.Second):
		t.Fatal("the client's bytes never woke the poller")
	}
	var b [1]byte
	if n, err := server.Read(b[:]); n != 1 || b[0] != 'x' {
		t.Fatalf("read after the wake-up: %d %v", n, err)
	}
}
