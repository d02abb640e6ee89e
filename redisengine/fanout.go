package redisengine

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/internal/fanout"
	"github.com/pushinator/pushinator/push"
)

// wireMessage is what the scripts publish: a message for some users of this node (Users), for
// everyone (All), or a command (Op) every node acts on.
type wireMessage struct {
	Seq   uint64          `json:"seq"`
	Users []string        `json:"users"`
	Alone []string        `json:"alone"` // of Users, those with live sessions on this node only
	All   bool            `json:"all"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
	Op    string          `json:"op"`
	User  string          `json:"user"`
	Owner string          `json:"owner"`
	// Entries are log entries ("at:len:{json}") of an "unwritten" op: what a session of User
	// that ended never wrote; Seq is then the cluster's sequence at that end.
	Entries []string `json:"entries"`
}

// subscribe receives the node's channel and the broadcast channel on one connection until ctx
// ends. go-redis re-dials and re-subscribes after an error; a message published while the
// subscription was down is not lost: from the error on, the node's sessions hold what they are
// handed (pause), and the resync that follows replays the logs to each, then what it held.
func (n *Node) subscribe(ctx context.Context) {
	ps := n.rdb.Subscribe(ctx, n.key("node:"+n.opts.NodeID), n.key("all"))
	go func() { <-ctx.Done(); ps.Close() }() // unblocks Receive
	backoff := backoffMin
	broken, subscribed := false, false
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, 2*heartbeatInterval)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check the link (the reply comes back through Receive).
				pctx, cancel := n.callCtx()
				if perr := ps.Ping(pctx); perr != nil && ctx.Err() == nil {
					broken = true
					n.pause()
				}
				cancel()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			broken = true
			n.pause()
			n.setUp(false, err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, backoffMax)
			continue
		}
		backoff = backoffMin
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Channel == n.key("node:"+n.opts.NodeID) && !subscribed {
				subscribed = true
				close(n.subReady)
			}
			if broken && m.Channel == n.key("node:"+n.opts.NodeID) {
				broken = false
				// Messages published meanwhile are only in the logs: resync now.
				n.paused.Store(false)
				n.synced.Store(false)
				select {
				case n.resyncNow <- struct{}{}:
				default:
				}
			}
		case *redis.Message:
			n.dispatch([]byte(m.Payload))
		}
	}
}

// dispatch decodes one published message once and hands the same *push.Message to every
// local session it is for (encoded once per node by the first session's gateway).
func (n *Node) dispatch(payload []byte) {
	var w wireMessage
	if err := json.Unmarshal(payload, &w); err != nil {
		n.log.Warn("ignoring an undecodable cluster message", "err", err)
		return
	}
	switch w.Op {
	case "kick":
		n.mu.RLock()
		b := n.owners[w.Owner]
		n.mu.RUnlock()
		if b != nil {
			b.sess.Disconnect("replaced by a resumed connection")
		}
		return
	case "unwritten":
		msgs := decodeEntries(toAny(w.Entries))
		n.mu.RLock()
		list := n.users[w.User]
		n.mu.RUnlock()
		for _, b := range list {
			n.counters.delivered.Add(uint64(b.late(msgs, w.Seq)))
		}
		return
	case "unregister", "disconnect":
		reason := "unregistered"
		if w.Op == "disconnect" {
			reason = "disconnected by the application"
		}
		n.mu.RLock()
		list := n.users[w.User]
		n.mu.RUnlock()
		for _, b := range list {
			b.sess.Disconnect(reason)
		}
		return
	}
	n.seen(w.Seq)
	m := &push.Message{Seq: w.Seq, Event: w.Event, Data: w.Data}
	// The sessions to reach, in one slice so that a broadcast spreads over the cores whatever
	// its users' session counts; one user's list as it is (lists are copy-on-write, never
	// changed in place).
	n.mu.RLock()
	var bindings []*binding
	var alone [][]*binding // the sessions here of each of w.Alone
	switch {
	case w.All:
		for _, l := range n.users {
			bindings = append(bindings, l...)
		}
	case len(w.Users) == 1:
		bindings = n.users[w.Users[0]]
		if len(w.Alone) == 1 {
			alone = [][]*binding{bindings}
		}
	default:
		for _, id := range w.Users {
			bindings = append(bindings, n.users[id]...)
		}
		for _, id := range w.Alone {
			alone = append(alone, n.users[id])
		}
	}
	n.mu.RUnlock()
	// This goroutine is the only one delivering, and Sum returns when every session has the
	// message: the next message stays behind it.
	delivered := fanout.Sum(bindings, m, deliverTo)
	n.counters.delivered.Add(uint64(delivered))
	// A one-user message that a session here took needs no look at who took it.
	if len(alone) > 0 && (len(w.Users) > 1 || delivered == 0) {
		n.keepUntaken(m, w.Alone, alone)
	}
}

// keepUntaken marks m kept for those of users (whose sessions were all on this node when it
// was sent) that none of their sessions here (sessions[i] are users[i]'s, those m was handed
// to) took: they closed in the meantime (an application's disconnect, a slow client cut, a
// dropped connection), and the user's next authentication gets it, as when a send finds no
// session at all.
func (n *Node) keepUntaken(m *push.Message, users []string, sessions [][]*binding) {
	var untaken []any
	for i, id := range users {
		if !slices.ContainsFunc(sessions[i], (*binding).open) {
			untaken = append(untaken, id)
		}
	}
	if len(untaken) == 0 {
		return
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	args := append([]any{n.opts.Prefix, n.now(), m.Seq}, untaken...)
	if err := keepScript.Run(ctx, n.rdb, nil, args...).Err(); err != nil {
		n.log.Warn("a message whose sessions closed before it reached them could not be kept", "seq", m.Seq, "err", err)
	}
}

// deliverTo hands m to one binding and counts it if the session took it.
func deliverTo(b *binding, m *push.Message) int {
	if b.deliver(m) {
		return 1
	}
	return 0
}

// heartbeat publishes the node's address and figures every second and watches the link;
// after a failure it retries with backoff and resyncs once Redis answers.
func (n *Node) heartbeat(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-n.subReady:
	}
	backoff := backoffMin
	beats, cursor := 0, "0"
	t := time.NewTimer(0) // the first beat at once
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-n.resyncNow:
		}
		var err error
		if n.synced.Load() {
			err = n.beat(ctx)
		} else {
			err = n.resync(ctx)
		}
		if err != nil {
			n.setUp(false, err)
			t.Reset(backoff)
			backoff = min(2*backoff, backoffMax)
			continue
		}
		n.setUp(true, nil)
		backoff = backoffMin
		if beats++; beats%sweepEvery == 0 {
			cursor = n.sweep(ctx, cursor)
		}
		t.Reset(heartbeatInterval)
	}
}

// sweep prunes the next slice of users and returns the cursor to go on from.
func (n *Node) sweep(ctx context.Context, cursor string) string {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	args := []any{n.opts.Prefix, n.now(), cursor, sweepBatch}
	next, err := sweepScript.Run(cctx, n.rdb, nil, append(args, n.bounds()...)...).Text()
	if err != nil {
		n.log.Debug("sweep", "err", err)
		return cursor
	}
	return next
}

func (n *Node) beat(ctx context.Context) error {
	data, _ := json.Marshal(n.figures())
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	_, err := n.rdb.Pipelined(cctx, func(p redis.Pipeliner) error {
		p.Set(cctx, n.key("node:"+n.opts.NodeID), data, heartbeatTTL)
		p.SAdd(cctx, n.key("nodes"), n.opts.NodeID)
		return nil
	})
	return err
}

// resync runs after the link came back: it re-counts this node's sessions in Redis (which
// may have restarted empty), keeps the sequence above what the node saw, and replays to each
// session what its user's log holds past the last message it got (published while the
// subscription was down).
func (n *Node) resync(ctx context.Context) error {
	n.resyncMu.Lock()
	defer n.resyncMu.Unlock()
	if n.synced.Load() {
		return nil // done by another caller meanwhile
	}
	n.mu.RLock()
	counts := make(map[string]int, len(n.users))
	bindings := make(map[string][]*binding, len(n.users))
	for id, l := range n.users {
		counts[id] = len(l)
		bindings[id] = l
	}
	n.mu.RUnlock()
	cctx, cancel := context.WithTimeout(ctx, 4*callTimeout)
	defer cancel()
	// Each user's sessions here are replayed what the log holds past the lowest last message
	// one of them got; the presence script unmarks those entries as kept, since they reach a
	// session now (they were kept if the subscription's loss made the sessions look gone).
	froms := make(map[string]uint64, len(bindings))
	for id, list := range bindings {
		from := ^uint64(0)
		for _, b := range list {
			b.mu.Lock()
			from = min(from, b.last)
			b.mu.Unlock()
		}
		froms[id] = from
	}
	args := []any{n.opts.Prefix, n.now(), n.opts.NodeID, n.maxSeq.Load(), seqGap}
	for id, c := range counts {
		args = append(args, id, c, froms[id])
	}
	if err := presenceScript.Run(cctx, n.rdb, nil, args...).Err(); err != nil {
		return err
	}
	// The heartbeat after the presence: a node that sees this one alive sees its sessions.
	if err := n.beat(ctx); err != nil {
		return err
	}
	replayed := 0
	for id, list := range bindings {
		from := froms[id]
		entries, err := n.rdb.ZRangeByScore(cctx, n.key("u:"+id+":log"), &redis.ZRangeBy{Min: "(" + uitoa(from), Max: "+inf"}).Result()
		if err != nil {
			return err
		}
		replay := decodeEntries(toAny(entries))
		for _, b := range list {
			replayed += b.resume(replay, &n.paused)
		}
	}
	n.counters.delivered.Add(uint64(replayed))
	n.synced.Store(true)
	n.setUp(true, nil)
	n.log.Info("cluster state resynchronised", "sessions", len(counts), "replayed", replayed)
	return nil
}

// pause makes this node's sessions hold what they are handed from now on: the subscription
// failed, and messages published meanwhile will be replayed from the logs first (resync).
func (n *Node) pause() {
	n.paused.Store(true)
	n.mu.RLock()
	defer n.mu.RUnlock()
	for _, list := range n.users {
		for _, b := range list {
			b.mu.Lock()
			b.ready = false
			b.mu.Unlock()
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
