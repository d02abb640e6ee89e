package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	proofTimeout = 20 * time.Second       // a connection's push round trip, retries included
	proofRetry   = 200 * time.Millisecond // resend when the server had not bound the session yet
)

// parallel runs f(i) for i in [0,n) on workers goroutines and returns the first error.
func parallel(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return err
	}
	return ctx.Err()
}

func registerAll(ctx context.Context, a *adminClient, o options, users []int64) error {
	return parallel(ctx, len(users), o.inflight, func(ctx context.Context, i int) error {
		return a.register(ctx, users[i], o.hash)
	})
}

// connectAll opens one authenticated connection per entry of users (a user may repeat), over
// o.transport, from o.srcaddrs source addresses starting at 127.0.0.(o.srcFirst). closeAll
// ends them all and whatever reads them.
func connectAll(ctx context.Context, o options, users []int64, onPush func(*client, receipt)) (clients []*client, closeAll func(), err error) {
	d := newDialer(o.client, o.srcaddrs, o.srcFirst)
	dial := d.dial
	switch o.transport {
	case "websocket":
		if !o.goReader {
			if d.ep, err = newEpollSet(runtime.GOMAXPROCS(0), o.coalesce); err != nil {
				return nil, nil, err
			}
		}
	case "polling":
		dial = newPoller(o.client, d, len(users)+o.inflight).dial
	default:
		return nil, nil, fmt.Errorf("pushbench: unknown -transport %q", o.transport)
	}
	clients = make([]*client, len(users))
	closeAll = func() {
		for _, c := range clients {
			if c != nil {
				c.stop()
			}
		}
		for _, c := range clients {
			if c != nil {
				<-c.closed
			}
		}
		if d.ep != nil {
			d.ep.close()
		}
	}
	err = parallel(ctx, len(users), o.dialers, func(ctx context.Context, i int) error {
		c, err := dial(ctx, users[i], o.hash, onPush)
		clients[i] = c
		return err
	})
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return clients, closeAll, nil
}

// proveEach checks every connection with its own push round trip: a send to its user, retried
// until the server has bound the session (the auth event has no reply to wait for on the
// Node server), until this connection reads a push. Every connection must be its user's only
// one.
func proveEach(ctx context.Context, a *adminClient, o options, clients []*client) error {
	return parallel(ctx, len(clients), o.inflight, func(ctx context.Context, i int) error {
		c := clients[i]
		deadline := time.Now().Add(proofTimeout)
		for time.Now().Before(deadline) {
			select {
			case <-c.notify: // drop a token from an earlier push
			default:
			}
			if _, err := a.send(ctx, c.user, message(-1, time.Now(), 40)); err != nil {
				return err
			}
			t := time.NewTimer(proofRetry)
			select {
			case <-c.notify:
				t.Stop()
				return nil
			case <-c.closed:
				t.Stop()
				return fmt.Errorf("pushbench: user %d: connection closed before its push round trip: %v", c.user, c.err)
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		return fmt.Errorf("pushbench: user %d: no push round trip within %v", c.user, proofTimeout)
	})
}

// proveShared checks that all clients, sessions of one user, get one send.
func proveShared(ctx context.Context, a *adminClient, clients []*client, send func() error) error {
	deadline := time.Now().Add(proofTimeout)
	for time.Now().Before(deadline) {
		before := make([]int64, len(clients))
		for i, c := range clients {
			before[i] = c.received.Load()
		}
		if err := send(); err != nil {
			return err
		}
		// Poll with a deadline: the count of sessions that saw a push only grows.
		wait := time.Now().Add(2 * time.Second)
		for time.Now().Before(wait) {
			missing := 0
			for i, c := range clients {
				if c.received.Load() == before[i] {
					missing++
				}
			}
			if missing == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return fmt.Errorf("pushbench: not every session got a push within %v", proofTimeout)
}

func userRange(base int64, n int) []int64 {
	u := make([]int64, n)
	for i := range u {
		u[i] = base + int64(i)
	}
	return u
}

// latencies collects receipt delays from many reader goroutines (sharded locks).
type latencies struct {
	shards [64]struct {
		mu sync.Mutex
		d  []time.Duration
	}
}

func (l *latencies) add(key int64, d time.Duration) {
	s := &l.shards[uint64(key)%uint64(len(l.shards))]
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

func (l *latencies) reset() {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		s.d = s.d[:0]
		s.mu.Unlock()
	}
}

func (l *latencies) sorted() []time.Duration {
	var all []time.Duration
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		all = append(all, s.d...)
		s.mu.Unlock()
	}
	slices.Sort(all)
	return all
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p / 100 * float64(len(sorted)-1))
	return sorted[i]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// meter reads the server's and this process's CPU time around a measured interval.
type meter struct {
	pid      int
	start    time.Time
	srv      procSample
	self     time.Duration
	Elapsed  time.Duration
	ServerCP time.Duration
	SelfCPU  time.Duration
}

func startMeter(pid int) (*meter, error) {
	m := &meter{pid: pid, start: time.Now(), self: selfCPU()}
	if pid > 0 {
		s, err := sampleProc(pid)
		if err != nil {
			return nil, err
		}
		m.srv = s
	}
	return m, nil
}

func (m *meter) stop() error {
	m.Elapsed = time.Since(m.start)
	m.SelfCPU = selfCPU() - m.self
	if m.pid > 0 {
		s, err := sampleProc(m.pid)
		if err != nil {
			return err
		}
		m.ServerCP = s.CPU - m.srv.CPU
	}
	return nil
}

// report adds the CPU figures, per unit of work (a message or a delivery) as well.
func (m *meter) report(r *result, perWhat string, count int64) {
	r.set("elapsed", m.Elapsed.Seconds(), "s")
	if m.pid > 0 {
		r.set("server_cpu", m.ServerCP.Seconds(), "s")
		r.set("server_cores", m.ServerCP.Seconds()/m.Elapsed.Seconds(), "cores")
		if count > 0 {
			r.set("server_us_per_"+perWhat, us(m.ServerCP)/float64(count), "µs")
		}
	}
	r.set("bench_cpu", m.SelfCPU.Seconds(), "s")
	if count > 0 {
		// The load generator shares the machine: what it spends per unit bounds the rates
		// and latencies of every server it drives.
		r.set("bench_us_per_"+perWhat, us(m.SelfCPU)/float64(count), "µs")
	}
}
