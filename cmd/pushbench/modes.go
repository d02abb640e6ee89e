package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runIdle measures the server's memory per idle authenticated connection: RSS after N
// connections (each proven by a push round trip) minus RSS before, over N.
func runIdle(ctx context.Context, o options) (*result, error) {
	if slices.Contains(o.pids, 0) {
		return nil, fmt.Errorf("pushbench: idle needs -pid (the server's RSS is the figure)")
	}
	a := newAdminClient(o.admin, o.inflight)
	users := userRange(o.base, o.n)
	if err := registerAll(ctx, a, o, users); err != nil {
		return nil, err
	}
	// Let the registration garbage settle, so that "before" holds the users but no clients.
	sleep(ctx, time.Second)
	before, err := sampleProcs(o.pids)
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	procs := max(o.procs, 1)
	var hold []func() // releases each worker's connections
	defer func() {
		for _, release := range hold {
			release()
		}
	}()
	if procs == 1 {
		clients, closeAll, err := connectAll(ctx, o, users, nil)
		if err != nil {
			return nil, err
		}
		hold = append(hold, closeAll)
		if err := proveEach(ctx, a, o, clients); err != nil {
			return nil, err
		}
	} else {
		per := (o.n + procs - 1) / procs
		var wg sync.WaitGroup
		errs := make([]error, procs)
		releases := make([]func(), procs)
		for p := range procs {
			lo, hi := p*per, min((p+1)*per, o.n)
			if lo >= hi {
				continue
			}
			wg.Go(func() {
				w := o
				w.client = o.clients[p%len(o.clients)]
				releases[p], errs[p] = startChild(ctx, w, o.base+int64(lo), hi-lo, 1+p*o.srcaddrs)
			})
		}
		wg.Wait()
		for _, r := range releases {
			if r != nil {
				hold = append(hold, r)
			}
		}
		for _, err := range errs {
			if err != nil {
				return nil, err
			}
		}
	}
	ready := time.Since(t0)
	sleep(ctx, o.settle)
	after, err := sampleProcs(o.pids)
	if err != nil {
		return nil, err
	}
	r := newResult(o)
	r.set("connections", o.n, "authenticated, each proven by a push round trip")
	if len(o.pids) > 1 {
		r.set("server_processes", len(o.pids), "RSS summed over them")
	}
	r.set("transport", o.transport, "")
	r.set("connect_and_prove", ready.Seconds(), "s")
	r.set("rss_before", float64(before.RSS)/(1<<20), "MiB")
	r.set("rss_after", float64(after.RSS)/(1<<20), "MiB")
	r.set("kib_per_connection", float64(after.RSS-before.RSS)/1024/float64(o.n), "KiB")
	return r, ctx.Err()
}

// startChild re-executes this binary as a worker holding n connections for users
// [base, base+n); it returns once the worker reports them all proven. release closes the
// worker's stdin (it then closes its connections and exits) and waits for it.
func startChild(ctx context.Context, o options, base int64, n, srcFirst int) (release func(), err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-child", "-mode", "idle",
		"-admin", o.admin, "-client", o.client, "-base", strconv.FormatInt(base, 10),
		"-n", strconv.Itoa(n), "-hash", o.hash, "-inflight", strconv.Itoa(o.inflight),
		"-srcaddrs", strconv.Itoa(o.srcaddrs), "-srcfirst", strconv.Itoa(srcFirst),
		"-dialers", strconv.Itoa(o.dialers), "-transport", o.transport)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pushbench: starting a worker: %w", err)
	}
	release = func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok || !strings.HasPrefix(line, "READY ") {
			release()
			return nil, fmt.Errorf("pushbench: worker for users %d+%d failed (%q)", base, n, line)
		}
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	return release, nil
}

// runChild is a -procs worker: connect, prove each connection, say READY, hold them until
// stdin closes.
func runChild(ctx context.Context, o options, stdin io.Reader, stdout io.Writer) error {
	a := newAdminClient(o.admin, o.inflight)
	clients, closeAll, err := connectAll(ctx, o, userRange(o.base, o.n), nil)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := proveEach(ctx, a, o, clients); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "READY %d\n", len(clients))
	io.Copy(io.Discard, stdin)
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runOne2One: users with one connection each; sends to one user at a time, round robin,
// either as fast as -inflight requests allow or at -rate per second (open loop, each message
// stamped with its scheduled time so queueing in the bench counts as latency).
func runOne2One(ctx context.Context, o options) (*result, error) {
	return runSends(ctx, o, 1, false)
}

// runBatch: like one2one, but each request sends one message to -batch users.
func runBatch(ctx context.Context, o options) (*result, error) {
	return runSends(ctx, o, max(o.batch, 1), false)
}

// runMessages: like one2one, but each request carries -batch messages, each to its own user.
func runMessages(ctx context.Context, o options) (*result, error) {
	return runSends(ctx, o, max(o.batch, 1), true)
}

func runSends(ctx context.Context, o options, batch int, separate bool) (*result, error) {
	a := newAdminClient(o.admin, o.inflight)
	users := userRange(o.base, o.users)
	if err := registerAll(ctx, a, o, users); err != nil {
		return nil, err
	}
	var lat latencies
	var measuring atomic.Bool
	var received atomic.Int64
	onPush := func(c *client, rc receipt) {
		if rc.Seq >= 0 && measuring.Load() {
			received.Add(1)
			lat.add(c.user, time.Duration(rc.At-rc.Sent))
		}
	}
	clients, closeAll, err := connectAll(ctx, o, users, onPush)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	if err := proveEach(ctx, a, o, clients); err != nil {
		return nil, err
	}

	var next atomic.Int64 // round robin over users
	send := func(ctx context.Context, sent time.Time) (int, error) {
		k := next.Add(int64(batch)) - int64(batch)
		msg := message(k, sent, o.size)
		if batch == 1 {
			rep, err := a.send(ctx, users[k%int64(len(users))], msg)
			return rep.Delivered, err
		}
		ids := make([]int64, batch)
		for i := range ids {
			ids[i] = users[(k+int64(i))%int64(len(users))]
		}
		if separate {
			rep, err := a.sendMessages(ctx, ids, msg)
			return rep.Delivered, err
		}
		rep, err := a.sendMany(ctx, ids, msg)
		return rep.Delivered, err
	}

	if o.warmup > 0 {
		if _, _, err := load(ctx, o, send, o.warmup); err != nil {
			return nil, err
		}
		sleep(ctx, 500*time.Millisecond)
	}
	lat.reset()
	received.Store(0)
	measuring.Store(true)
	m, err := startMeter(o.pid)
	if err != nil {
		return nil, err
	}
	requests, delivered, err := load(ctx, o, send, o.duration)
	if err != nil {
		return nil, err
	}
	sendTime := time.Since(m.start)
	// The measured interval ends when the last delivery has been read (or 10 s later).
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < delivered && time.Now().Before(deadline) {
		sleep(ctx, time.Millisecond)
	}
	if err := m.stop(); err != nil {
		return nil, err
	}
	measuring.Store(false)
	got := received.Load()
	sorted := lat.sorted()

	r := newResult(o)
	r.set("users", len(users), "one connection each")
	if batch > 1 {
		r.set("users_per_request", batch, "")
	}
	if o.rate > 0 {
		r.set("offered_rate", o.rate, "requests/s")
	} else {
		r.set("inflight", o.inflight, "requests")
	}
	r.set("requests", requests, "")
	r.set("requests_per_s", float64(requests)/sendTime.Seconds(), "/s")
	r.set("delivered", delivered, "server's count")
	r.set("received", got, "")
	r.set("deliveries_per_s", float64(got)/m.Elapsed.Seconds(), "/s")
	r.set("p50_ms", ms(percentile(sorted, 50)), "ms send → receipt")
	r.set("p99_ms", ms(percentile(sorted, 99)), "ms")
	r.set("max_ms", ms(percentile(sorted, 100)), "ms")
	m.report(r, "request", requests)
	if m.pid > 0 && got > 0 {
		r.set("server_us_per_delivery", us(m.ServerCP)/float64(got), "µs")
	}
	if got > 0 {
		r.set("bench_us_per_delivery", us(m.SelfCPU)/float64(got), "µs")
	}
	if got < delivered {
		return r, fmt.Errorf("pushbench: %d of %d deliveries not received", delivered-got, delivered)
	}
	return r, ctx.Err()
}

// load issues sends for d: closed loop with -inflight workers, or open loop at -rate.
func load(ctx context.Context, o options, send func(context.Context, time.Time) (int, error), d time.Duration) (requests, delivered int64, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	end := time.Now().Add(d)
	var reqs, dels atomic.Int64
	var wg sync.WaitGroup
	var schedule chan time.Time
	if o.rate > 0 {
		schedule = make(chan time.Time, 1<<16)
		wg.Go(func() {
			defer close(schedule)
			start := time.Now()
			interval := time.Duration(float64(time.Second) / o.rate)
			for i := int64(0); ; i++ {
				at := start.Add(time.Duration(i) * interval)
				if at.After(end) {
					return
				}
				if w := time.Until(at); w > 0 {
					sleep(ctx, w)
				}
				select {
				case schedule <- at:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	for range o.inflight {
		wg.Go(func() {
			for ctx.Err() == nil {
				var sent time.Time
				if schedule != nil {
					at, ok := <-schedule
					if !ok {
						return
					}
					sent = at
				} else {
					sent = time.Now()
					if sent.After(end) {
						return
					}
				}
				n, err := send(ctx, sent)
				if err != nil {
					cancel(err)
					return
				}
				reqs.Add(1)
				dels.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && err != context.Canceled {
		return 0, 0, err
	}
	return reqs.Load(), dels.Load(), ctx.Err()
}

// runFanout: one user with N sessions (or, for broadcast, N users with one session each);
// messages sent one at a time, each waited for until every session has read it. The figure is
// the time from the send to the last session's receipt.
func runFanout(ctx context.Context, o options, broadcast bool) (*result, error) {
	a := newAdminClient(o.admin, o.inflight)
	var users []int64
	if broadcast {
		users = userRange(o.base, o.n)
	} else {
		users = make([]int64, o.n)
		for i := range users {
			users[i] = o.base
		}
	}
	distinct := users[:1] // fan-out: one user
	if broadcast {
		distinct = users
	}
	if err := registerAll(ctx, a, o, distinct); err != nil {
		return nil, err
	}
	type seqState struct {
		count atomic.Int64
		last  atomic.Int64
		done  chan struct{}
	}
	seqs := make([]seqState, o.sends)
	for i := range seqs {
		seqs[i].done = make(chan struct{})
	}
	want := int64(o.n)
	onPush := func(_ *client, rc receipt) {
		if rc.Seq < 0 || rc.Seq >= int64(len(seqs)) {
			return
		}
		s := &seqs[rc.Seq]
		for {
			l := s.last.Load()
			if rc.At <= l || s.last.CompareAndSwap(l, rc.At) {
				break
			}
		}
		if s.count.Add(1) == want {
			close(s.done)
		}
	}
	clients, closeAll, err := connectAll(ctx, o, users, onPush)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	if broadcast {
		err = proveEach(ctx, a, o, clients)
	} else {
		err = proveShared(ctx, a, clients, func() error {
			_, err := a.send(ctx, o.base, message(-1, time.Now(), 40))
			return err
		})
	}
	if err != nil {
		return nil, err
	}

	m, err := startMeter(o.pid)
	if err != nil {
		return nil, err
	}
	lasts := make([]time.Duration, 0, o.sends)
	var received int64
	incomplete := 0
	for k := range o.sends {
		t0 := time.Now()
		msg := message(int64(k), t0, o.size)
		if broadcast {
			_, err = a.broadcast(ctx, msg)
		} else {
			_, err = a.send(ctx, o.base, msg)
		}
		if err != nil {
			return nil, err
		}
		s := &seqs[k]
		t := time.NewTimer(30 * time.Second)
		select {
		case <-s.done:
		case <-t.C:
			incomplete++
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
		t.Stop()
		received += s.count.Load()
		lasts = append(lasts, time.Duration(s.last.Load()-t0.UnixNano()))
	}
	if err := m.stop(); err != nil {
		return nil, err
	}
	slices.Sort(lasts)
	r := newResult(o)
	if broadcast {
		r.set("sessions", o.n, "users with one session each")
	} else {
		r.set("sessions", o.n, "of one user")
	}
	r.set("sends", o.sends, "one at a time")
	r.set("received", received, "")
	r.set("deliveries_per_s", float64(received)/m.Elapsed.Seconds(), "/s")
	r.set("last_receipt_p50_ms", ms(percentile(lasts, 50)), "ms send → last session's receipt")
	r.set("last_receipt_p99_ms", ms(percentile(lasts, 99)), "ms")
	m.report(r, "delivery", received)
	if m.pid > 0 && received > 0 {
		// What the machine spent per delivery, whichever side paid: on loopback the TCP
		// acknowledgement's work moves between server and load generator with the send pace.
		r.set("machine_us_per_delivery", us(m.ServerCP+m.SelfCPU)/float64(received), "µs server + load generator")
	}
	if incomplete > 0 {
		return r, fmt.Errorf("pushbench: %d sends did not reach all %d sessions within 30 s", incomplete, o.n)
	}
	return r, ctx.Err()
}
