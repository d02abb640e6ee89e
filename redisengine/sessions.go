package redisengine

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/push"
)

// binding is one live session on this node.
type binding struct {
	userID, pid string
	owner       string // this node and serial: tells a resumed taker from the original in Redis
	sess        push.Session
	pb          *push.Binding

	mu      sync.Mutex
	ready   bool            // attached in Redis and replayed: deliveries go straight through
	pending []*push.Message // live deliveries that raced the attach round trip
	last    uint64          // highest sequence handed to sess; lower or equal ones are duplicates
	startAt uint64
	// offeredAfter: the session was offered every message numbered above it (what came
	// before, it may get late: see late); 0 for a resumed session, whose client has what it
	// was not replayed.
	offeredAfter uint64
	gen          string // the user's disconnect generation when the session attached
	closed       bool
	failed       bool // the session refused a delivery: it is closing
}

// open reports whether the session still takes deliveries: a message handed to it was
// delivered, is pending, or had been.
func (b *binding) open() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.closed && !b.failed
}

// deliver hands m to the session unless it already got it (sequence order is delivery order).
func (b *binding) deliver(m *push.Message) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	if !b.ready {
		if len(b.pending) < maxPending {
			b.pending = append(b.pending, m)
		}
		return false
	}
	if m.Seq <= b.last {
		return false
	}
	b.last = m.Seq
	return b.handOver(m)
}

// handOver delivers m to the session and notes a refusal. b.mu is held.
func (b *binding) handOver(m *push.Message) bool {
	if b.sess.Deliver(m) != nil {
		b.failed = true
		return false
	}
	return true
}

func (b *binding) setOfferedAfter(seq uint64) {
	b.mu.Lock()
	b.offeredAfter = seq
	b.mu.Unlock()
}

// late delivers what another session of the user took but never wrote, when this one came
// after it (it was not offered it), and before that session's end at the sequence at (one
// that came later is as one that logged in after it): out of order, after what it already
// got. It counts those it took.
func (b *binding) late(ms []*push.Message, at uint64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || len(ms) == 0 || b.offeredAfter > at || b.offeredAfter < ms[0].Seq {
		return 0 // ms is in sequence order: a session there before the first had them all
	}
	n := 0
	for _, m := range ms {
		if m.Seq <= b.offeredAfter && b.sess.Deliver(m) == nil {
			n++
		}
	}
	return n
}

// start replays what the attach script returned, then the live deliveries that came during
// it, all in sequence order; from then on deliveries go straight through (unless the node's
// subscription failed meanwhile: then they wait for the resync).
func (b *binding) start(replay []*push.Message, seqNow uint64, paused *atomic.Bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.handOverNewer(replay)
	// Anything numbered up to seqNow that is not in the replay was meant for the user's
	// sessions before this one attached.
	b.last = max(b.last, seqNow)
	return n + b.flushLocked(paused)
}

// resume replays what the user's log holds past what the session got, then what it held
// while the node's subscription was down, in sequence order (resync).
func (b *binding) resume(replay []*push.Message, paused *atomic.Bool) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.handOverNewer(replay) + b.flushLocked(paused)
}

// handOverNewer delivers, in order, the messages of ms (in sequence order) past the last
// one the session got, and counts those it took. b.mu is held.
func (b *binding) handOverNewer(ms []*push.Message) int {
	n := 0
	for _, m := range ms {
		if m.Seq > b.last {
			b.last = m.Seq
			if b.handOver(m) {
				n++
			}
		}
	}
	return n
}

// flushLocked delivers what the session holds past its last message and lets deliveries
// through, unless the node's subscription is down. b.mu is held.
func (b *binding) flushLocked(paused *atomic.Bool) int {
	n := b.handOverNewer(b.pending)
	b.pending, b.ready = nil, !paused.Load()
	return n
}

func hashHex(hash string) string {
	sum := sha256.Sum256([]byte(hash))
	return hex.EncodeToString(sum[:])
}

// add makes b receive this node's deliveries for its user (not yet ready: they wait).
func (n *Node) add(b *binding) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.users[b.userID]
	list := make([]*binding, len(old), len(old)+1)
	copy(list, old)
	n.users[b.userID] = append(list, b)
	n.owners[b.owner] = b
}

func (n *Node) remove(b *binding) {
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.users[b.userID]
	list := make([]*binding, 0, len(old))
	for _, x := range old {
		if x != b {
			list = append(list, x)
		}
	}
	if len(list) == 0 {
		delete(n.users, b.userID)
	} else {
		n.users[b.userID] = list
	}
	delete(n.owners, b.owner)
}

func (n *Node) newBinding(userID, pid string, sess push.Session) *binding {
	b := &binding{userID: userID, pid: pid, sess: sess, owner: n.opts.NodeID + ":" + strconv.FormatUint(n.serial.Add(1), 10)}
	b.pb = push.NewBinding(userID, sess, pid, b)
	return b
}

// Authenticate checks the hash in Redis and attaches sess; the messages kept for the user on
// any node are delivered to it first, in order.
func (n *Node) Authenticate(userID, hash string, sess push.Session, pid string) (*push.Binding, error) {
	if err := n.ready("authenticate"); err != nil {
		n.counters.authFailed.Add(1)
		return nil, err
	}
	if !storable(userID) {
		n.counters.authFailed.Add(1)
		return nil, push.ErrUnauthorized // never registered
	}
	b := n.newBinding(userID, pid, sess)
	n.add(b)
	ctx, cancel := n.callCtx()
	defer cancel()
	args := []any{n.opts.Prefix, n.now(), n.opts.NodeID, userID, hashHex(hash), pid, b.owner}
	args = append(args, n.bounds()...)
	args = append(args, n.opts.MaxSessionsPerUser, liveRecordTTL.Milliseconds())
	res, err := attachScript.Run(ctx, n.rdb, nil, args...).Slice()
	if err != nil {
		n.remove(b)
		n.counters.authFailed.Add(1)
		return nil, n.fail("authenticate", err)
	}
	switch res[0] {
	case "unauthorized":
		n.remove(b)
		n.counters.authFailed.Add(1)
		return nil, push.ErrUnauthorized
	case "toomany":
		n.remove(b)
		n.counters.authFailed.Add(1)
		return nil, push.ErrTooManySessions
	}
	n.setUp(true, nil)
	seqNow, startAt := toUint(res[1]), toUint(res[2])
	b.startAt = startAt
	b.setOfferedAfter(seqNow) // the kept messages before it are in the replay
	b.gen, _ = res[3].(string)
	replay := decodeEntries(res[4:])
	n.counters.delivered.Add(uint64(b.start(replay, seqNow, &n.paused)))
	n.counters.authOK.Add(1)
	n.seen(seqNow)
	return b.pb, nil
}

// Resume attaches sess as the continuation of the session pid, which may have lived on any
// node: it gets every logged message after offset, exactly once and in order. A wantUser
// that is not empty must be the session's user.
func (n *Node) Resume(pid, offset, wantUser string, sess push.Session) (*push.Binding, error) {
	if err := n.ready("resume"); err != nil {
		n.counters.notRecovered.Add(1)
		return nil, err
	}
	if offset != "" {
		if _, err := strconv.ParseUint(offset, 10, 64); err != nil {
			n.counters.notRecovered.Add(1)
			return nil, push.ErrCannotRecover
		}
	}
	// File the session under its user before the script, so that no live delivery between the
	// script and the filing is missed; the record names the user.
	ctx, cancel := n.callCtx()
	defer cancel()
	userID, err := n.rdb.HGet(ctx, n.key("pid:"+pid), "user").Result()
	if err != nil {
		n.counters.notRecovered.Add(1)
		if err == redis.Nil {
			return nil, push.ErrCannotRecover
		}
		return nil, n.fail("resume", err)
	}
	if wantUser != "" && userID != wantUser {
		// The client presented another user's credentials: the session stays as it was.
		n.counters.notRecovered.Add(1)
		return nil, push.ErrCannotRecover
	}
	b := n.newBinding(userID, pid, sess)
	n.add(b)
	args := []any{n.opts.Prefix, n.now(), n.opts.NodeID, pid, offset, b.owner}
	args = append(args, n.bounds()...)
	args = append(args, n.opts.MaxSessionsPerUser, liveRecordTTL.Milliseconds())
	res, err := resumeScript.Run(ctx, n.rdb, nil, args...).Slice()
	if err != nil {
		n.remove(b)
		n.counters.notRecovered.Add(1)
		return nil, n.fail("resume", err)
	}
	switch res[0] {
	case "cannot":
		n.remove(b)
		n.counters.notRecovered.Add(1)
		return nil, push.ErrCannotRecover
	case "toomany":
		n.remove(b)
		n.counters.notRecovered.Add(1)
		return nil, push.ErrTooManySessions
	}
	n.setUp(true, nil)
	seqNow, from := toUint(res[1]), toUint(res[2])
	if got, _ := res[3].(string); got != userID {
		// The record was replaced between the two calls (a pid is random: never in practice).
		n.remove(b)
		return nil, push.ErrCannotRecover
	}
	b.startAt = from
	// offeredAfter stays 0: the client has what it was not replayed, and gets nothing late.
	b.last = from
	b.gen, _ = res[4].(string)
	replay := decodeEntries(res[5:])
	n.counters.delivered.Add(uint64(b.start(replay, seqNow, &n.paused)))
	n.counters.recovered.Add(1)
	n.seen(seqNow)
	return b.pb, nil
}

// Release uncounts the session; a dropped one may resume on any node within the window.
func (n *Node) Release(pb *push.Binding, resumable bool, lost push.Unwritten) {
	b, ok := pb.State().(*binding)
	if !ok {
		return
	}
	b.mu.Lock()
	b.closed = true
	b.pending = nil
	b.mu.Unlock()
	n.remove(b)
	if !n.up.Load() {
		// Not waiting for a timeout per session: the resync when Redis is back re-counts this
		// node's sessions, and the pid record stays resumable (taken over on resume).
		return
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	res := "0"
	if resumable {
		res = "1"
	}
	err := releaseScript.Run(ctx, n.rdb, nil, n.opts.Prefix, n.now(), n.opts.NodeID, b.userID, b.pid, b.owner,
		res, n.opts.RecoveryWindow.Milliseconds(), b.startAt, b.gen, lost.From, lost.To).Err()
	if err != nil {
		// The count is corrected when Redis is back (presence re-count).
		n.log.Debug("release not recorded in redis", "user", b.userID, "err", err)
		n.fail("release", err)
	}
}

// CheckHash compares in constant time with the hash registered in Redis.
func (n *Node) CheckHash(userID, hash string) bool {
	if !storable(userID) {
		return false
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	want, err := n.rdb.HGet(ctx, n.key("u:"+userID), "hash").Result()
	if err != nil {
		return false
	}
	got := hashHex(hash)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// fail tells a Redis that did not answer (503) from one that refused (a bug: 500).
func (n *Node) fail(op string, err error) error {
	if isRedisErr(err) && !strings.HasPrefix(err.Error(), "LOADING") && !strings.HasPrefix(err.Error(), "READONLY") {
		n.log.Error("redis refused a call", "op", op, "err", err)
		return fmt.Errorf("redisengine: %s: %w", op, err)
	}
	return n.unavailable(op, err)
}

// wireEntry is a logged message as the scripts encode it (after the "at:len:" prefix).
type wireEntry struct {
	Seq   uint64          `json:"seq"`
	Event string          `json:"event"`
	Data  json.RawMessage `json:"data"`
}

func decodeEntries(raw []any) []*push.Message {
	out := make([]*push.Message, 0, len(raw))
	for _, r := range raw {
		s, _ := r.(string)
		m, err := decodeEntry(s)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

// decodeEntry parses "at:len:{json}".
func decodeEntry(s string) (*push.Message, error) {
	_, rest, ok := strings.Cut(s, ":")
	if ok {
		_, rest, ok = strings.Cut(rest, ":")
	}
	if !ok {
		return nil, errors.New("redisengine: log entry without its at:len: prefix")
	}
	var e wireEntry
	if err := json.Unmarshal([]byte(rest), &e); err != nil {
		return nil, fmt.Errorf("redisengine: log entry: %w", err)
	}
	return &push.Message{Seq: e.Seq, Event: e.Event, Data: e.Data}, nil
}

func toUint(v any) uint64 {
	switch x := v.(type) {
	case int64:
		if x > 0 {
			return uint64(x)
		}
	case string:
		u, _ := strconv.ParseUint(x, 10, 64)
		return u
	}
	return 0
}

func uitoa(u uint64) string { return strconv.FormatUint(u, 10) }

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
