// Package redisengine is the cluster engine: several pushinator nodes share users, kept
// messages and resume records in one Redis server and act as one service. It implements
// push.Engine, so the gateway and the admin API drive it like the memory hub.
//
// Guarantees (the memory engine's, cluster-wide):
//   - a message is appended to each recipient's log atomically with its sequence number (one
//     Lua script per send: INCR, ZADD, the "kept" mark and the PUBLISH run as one step), so
//     every node sees sends in one order and numbers only grow;
//   - a send reaches every live session of its users on every node: it is published once per
//     node holding sessions of the recipients (each node subscribes to its own channel and a
//     broadcast channel on ONE connection), and encoded once per node, not per recipient;
//   - a message to a registered user with no live session on any node is kept (bounded in
//     count, bytes and age) and delivered, in order, on that user's next authentication on any
//     node; /user/send reports it as buffered;
//   - a session that drops — also when its node dies (kill -9) — can resume on any node within
//     the recovery window and gets every logged message after its offset exactly once and in
//     order: replay and live delivery are ordered by the sequence number, and a session never
//     takes a number at or below the last one it got;
//   - when Redis is out of reach, connected sessions stay connected; calls that need Redis fail
//     with push.ErrUnavailable (admin answers 503) instead of pretending; the node retries with
//     backoff, logs once per change of state, and when Redis is back it re-counts its sessions
//     there and replays to them what was logged meanwhile.
//
// A node that dies without releasing its sessions (kill -9) loses its subscription at once:
// from then on a send to a user whose sessions were all there is kept for the user's next
// authentication and reported buffered; the node's session counts are forgotten when its
// heartbeat expires (3 s).
//
// Limits: the scripts compute key names, so Redis must be a single server (or a primary with
// replicas), not Redis Cluster. A message published to a node just before it died, and not yet
// written to its clients, reaches them only through recovery (socket.io-client >= 4.6).
package redisengine

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/push"
)

// Timing of the node's link with Redis.
const (
	heartbeatInterval = time.Second
	heartbeatTTL      = 3 * heartbeatInterval // a node silent this long is dead to the others
	callTimeout       = 2 * time.Second       // every Redis call; then the caller gets a 503
	backoffMin        = 250 * time.Millisecond
	backoffMax        = 5 * time.Second
	liveRecordTTL     = 24 * time.Hour // a live session's pid record; refreshed on resume
	seqGap            = 1 << 20        // added when Redis lost the sequence (restart without persistence)
	maxPending        = 10000          // deliveries held for one session during its attach round trip
	sweepEvery        = 5              // heartbeats between two sweeps of expired messages
	sweepBatch        = 500            // users pruned per sweep
)

// Options configure a Node.
type Options struct {
	Addr, Password string
	DB             int
	TLS            *tls.Config // nil: plain TCP
	Prefix         string      // of every key and channel, e.g. "pushinator:"
	NodeID         string      // unique among live nodes; random when empty
	ClientAddr     string      // host:port where other nodes reach this node's client port (forwarding)

	BufferSize         int
	BufferBytes        int64
	BufferTTL          time.Duration
	RecoveryWindow     time.Duration
	MaxSessionsPerUser int
	Logger             *slog.Logger
}

// Node is one pushinator process of a cluster. It is safe for concurrent use.
type Node struct {
	opts Options
	rdb  *redis.Client
	log  *slog.Logger

	mu     sync.RWMutex
	users  map[string][]*binding // user id -> this node's live sessions (copy-on-write lists)
	owners map[string]*binding   // owner token -> live session here (for a takeover's kick)
	serial atomic.Uint64         // numbers this node's bindings (owner tokens)
	maxSeq atomic.Uint64         // highest sequence number this node has seen
	up     atomic.Bool           // Redis answered the last call
	// synced is false after a failure seen on the link or a re-subscription: before the
	// next script, the node re-counts its sessions, lifts the sequence and replays (resync).
	synced   atomic.Bool
	resyncMu sync.Mutex
	// paused is true from a failure of the subscription until it is back: sessions hold
	// (pending) what they are handed, since what was published meanwhile is replayed first.
	paused    atomic.Bool
	resyncNow chan struct{} // wakes the heartbeat loop to resync at once
	subReady  chan struct{} // closed when the subscription is first confirmed

	counters counters
}

type counters struct {
	sent, delivered, authOK, authFailed, recovered, notRecovered atomic.Uint64
}

var _ push.Engine = (*Node)(nil)

// New connects to Redis and checks that it answers. Run must then be called for the node to
// receive messages and be seen by the others.
func New(ctx context.Context, opts Options) (*Node, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.NodeID == "" {
		var b [5]byte
		rand.Read(b[:])
		opts.NodeID = hex.EncodeToString(b[:])
	}
	n := &Node{
		opts:      opts,
		log:       opts.Logger.With("node", opts.NodeID),
		users:     make(map[string][]*binding),
		owners:    make(map[string]*binding),
		subReady:  make(chan struct{}),
		resyncNow: make(chan struct{}, 1),
	}
	n.rdb = redis.NewClient(&redis.Options{
		Addr: opts.Addr, Password: opts.Password, DB: opts.DB, TLSConfig: opts.TLS,
		DialTimeout: callTimeout, ReadTimeout: callTimeout, WriteTimeout: callTimeout,
		PoolTimeout: callTimeout, MaxRetries: 1,
		MinRetryBackoff: 50 * time.Millisecond, MaxRetryBackoff: 200 * time.Millisecond,
		// No RESP3 client-side caching or maintenance notifications: plain commands only.
		Protocol: 2,
		// Named so that an operator's CLIENT LIST tells which node each connection is; a Redis
		// that refuses CLIENT SETNAME (a restricted ACL user, some managed services) is used
		// all the same.
		OnConnect: func(ctx context.Context, cn *redis.Conn) error {
			cn.ClientSetName(ctx, "pushinator-"+opts.NodeID)
			return nil
		},
	})
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	if err := n.rdb.Ping(cctx).Err(); err != nil {
		n.rdb.Close()
		return nil, fmt.Errorf("redisengine: %s: %w", opts.Addr, err)
	}
	n.up.Store(true)
	n.synced.Store(true)
	return n, nil
}

// ID is the node's id: it prefixes the Engine.IO session ids this node issues.
func (n *Node) ID() string { return n.opts.NodeID }

// Run keeps the node's subscription and heartbeat until ctx ends, then closes the Redis
// connections. The first heartbeat (other nodes then count this node's sessions) and the first
// session wait until the subscription is confirmed, so that no message published for this
// node before it listens is lost.
func (n *Node) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.subscribe(ctx) }()
	go func() { defer wg.Done(); n.heartbeat(ctx) }()
	wg.Wait()
	// Leave at once rather than after heartbeatTTL: sends stop counting this node's sessions.
	dctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	n.rdb.Del(dctx, n.key("node:"+n.opts.NodeID))
	cancel()
	return n.rdb.Close()
}

func (n *Node) key(s string) string { return n.opts.Prefix + s }

// unavailable wraps a Redis failure so that callers answer 503.
func (n *Node) unavailable(op string, err error) error {
	n.setUp(false, err)
	return fmt.Errorf("redisengine: %s: redis %s: %w (%v)", op, n.opts.Addr, push.ErrUnavailable, err)
}

// setUp records the link's state and logs once per change. A failure also marks the node
// for a resync.
func (n *Node) setUp(up bool, err error) {
	if !up {
		n.synced.Store(false)
	}
	if n.up.Swap(up) == up {
		return
	}
	if up {
		n.log.Info("redis reachable again: cluster state shared again", "addr", n.opts.Addr)
		return
	}
	n.log.Warn("redis unreachable: connected clients stay served; admin calls that need it answer 503 until it is back",
		"addr", n.opts.Addr, "err", err)
}

// ready resyncs first when the link failed since the last resync; callers of scripts use it so
// that no number is handed out below what the nodes have seen.
func (n *Node) ready(op string) error {
	select {
	case <-n.subReady:
	default:
		t := time.NewTimer(callTimeout)
		defer t.Stop()
		select {
		case <-n.subReady:
		case <-t.C:
			return fmt.Errorf("redisengine: %s: not subscribed to redis %s yet: %w", op, n.opts.Addr, push.ErrUnavailable)
		}
	}
	if n.synced.Load() {
		return nil
	}
	if !n.up.Load() {
		// Down since the last call: answer at once rather than after a timeout; the heartbeat
		// retries with backoff and resyncs when Redis is back.
		return fmt.Errorf("redisengine: %s: redis %s: %w", op, n.opts.Addr, push.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*callTimeout)
	defer cancel()
	if err := n.resync(ctx); err != nil {
		return n.fail(op, err)
	}
	return nil
}

// isRedisErr tells a failure of the link (retry later) from a reply (a bug or a script error).
func isRedisErr(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil)
}

func (n *Node) callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), callTimeout)
}

func (n *Node) now() string { return fmt.Sprint(time.Now().UnixMilli()) }

// bounds are the buffer ARGVs every script that logs takes.
func (n *Node) bounds() []any {
	size := n.opts.BufferSize
	return []any{size, n.opts.BufferBytes, n.opts.BufferTTL.Milliseconds(), n.opts.RecoveryWindow.Milliseconds()}
}

func (n *Node) seen(seq uint64) {
	for {
		cur := n.maxSeq.Load()
		if seq <= cur || n.maxSeq.CompareAndSwap(cur, seq) {
			return
		}
	}
}
