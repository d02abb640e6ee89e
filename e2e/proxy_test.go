package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpProxy forwards loopback TCP connections to a target the test can change (a load balancer
// moving clients to another node), and can cut connections as a network would: both sides see
// the connection end abruptly.
type tcpProxy struct {
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	target   string
	conns    map[net.Conn]net.Conn // client side -> server side
	silenced map[net.Conn]bool     // client sides cut without the server side seeing it
	down     bool                  // new connections are closed at once
	cuts     int
	accepted int // connections forwarded so far
}

// startProxy listens on loopback and forwards to target; with cutEvery > 0 it cuts one random
// open connection every cutEvery.
func startProxy(t *testing.T, target string, cutEvery time.Duration) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}, silenced: map[net.Conn]bool{}, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	if cutEvery > 0 {
		p.wg.Add(1)
		go p.cutLoop(cutEvery)
	}
	t.Cleanup(p.close)
	return p
}

func (p *tcpProxy) addr() string { return p.ln.Addr().String() }
func (p *tcpProxy) url() string  { return "http://" + p.addr() }

// switchTo sends new connections to target from now on.
func (p *tcpProxy) switchTo(target string) {
	p.mu.Lock()
	p.target = target
	p.mu.Unlock()
}

func (p *tcpProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		target, down := p.target, p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", target, 2*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.down { // went down during the dial
			p.mu.Unlock()
			c.Close()
			s.Close()
			continue
		}
		p.conns[c] = s
		p.accepted++
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s, c)
		go p.pipe(s, c, c)
	}
}

// pipe copies one direction; key is the client side, under which the pair is filed.
func (p *tcpProxy) pipe(dst, src, key net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.silenced[key] {
		// The server side stays open and unread until close: the server sees nothing.
		key.Close()
		return
	}
	dst.Close()
	src.Close()
	delete(p.conns, key)
}

// networkDown cuts every open connection on the client's side only, as a network that goes
// away under a client does: the client sees its connections end, the server sees nothing
// until its heartbeat says so; new connections fail until networkUp.
func (p *tcpProxy) networkDown() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		p.silenced[c] = true
		c.Close()
	}
}

func (p *tcpProxy) networkUp() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

func (p *tcpProxy) cutLoop(every time.Duration) {
	defer p.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			var victims [][2]net.Conn
			for c, s := range p.conns {
				victims = append(victims, [2]net.Conn{c, s})
			}
			if len(victims) > 0 {
				v := victims[rand.IntN(len(victims))]
				v[0].Close()
				v[1].Close()
				p.cuts++
			}
			p.mu.Unlock()
		}
	}
}

func (p *tcpProxy) acceptedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *tcpProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

// cutAll closes every open connection.
func (p *tcpProxy) cutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, s := range p.conns {
		c.Close()
		s.Close()
	}
}

func (p *tcpProxy) close() {
	close(p.done)
	p.ln.Close()
	p.cutAll()
	p.wg.Wait()
}
