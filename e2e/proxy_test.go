package e2e

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// cuttingProxy forwards loopback TCP connections to a target and cuts random ones, as a
// network would: both sides see the connection end abruptly.
type cuttingProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]net.Conn
	cuts   int
	done   chan struct{}
	wg     sync.WaitGroup
}

// startCuttingProxy listens on loopback and, every cutEvery, cuts one random open connection.
func startCuttingProxy(t *testing.T, target string, cutEvery time.Duration) *cuttingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttingProxy{ln: ln, target: target, conns: map[net.Conn]net.Conn{}, done: make(chan struct{})}
	p.wg.Add(2)
	go p.accept()
	go p.cutLoop(cutEvery)
	t.Cleanup(p.close)
	return p
}

func (p *cuttingProxy) addr() string { return p.ln.Addr().String() }

func (p *cuttingProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c] = s
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *cuttingProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *cuttingProxy) cutLoop(every time.Duration) {
	defer p.wg.Done()
	if every <= 0 {
		return
	}
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

func (p *cuttingProxy) cutCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cuts
}

func (p *cuttingProxy) close() {
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for c, s := range p.conns {
		c.Close()
		s.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
