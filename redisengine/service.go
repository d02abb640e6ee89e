package redisengine

import (
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/push"
)

// Register creates the user or replaces its hash, for every node. Live sessions stay.
func (n *Node) Register(userID, hash string) error {
	if err := n.ready("register"); err != nil {
		return err
	}
	if hash == "" {
		return push.ErrInvalidHash
	}
	if !storable(userID) {
		return push.ErrReservedUserID
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	_, err := n.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, n.key("u:"+userID), "hash", hashHex(hash))
		p.SAdd(ctx, n.key("users"), userID)
		return nil
	})
	if err != nil {
		return n.fail("register", err)
	}
	n.setUp(true, nil)
	return nil
}

// storable reports whether userID can name a user in Redis: a user's keys are u:<id> and
// u:<id> plus ":log", ":kept" and ":nodes", so an id ending in one of those would be another
// user's key (user "8:log" would be user 8's log).
func storable(userID string) bool {
	return !strings.HasSuffix(userID, ":log") && !strings.HasSuffix(userID, ":kept") && !strings.HasSuffix(userID, ":nodes")
}

// Unregister removes the user and what is kept for it; every node closes its sessions.
func (n *Node) Unregister(userID string) (bool, error) {
	if err := n.ready("unregister"); err != nil {
		return false, err
	}
	if !storable(userID) {
		return false, nil // never registered
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	v, err := unregisterScript.Run(ctx, n.rdb, nil, n.opts.Prefix, n.now(), userID).Int()
	if err != nil {
		return false, n.fail("unregister", err)
	}
	return v == 1, nil
}

// DisconnectUser closes the user's sessions on every node and returns how many were live.
func (n *Node) DisconnectUser(userID string) (int, bool, error) {
	if err := n.ready("disconnect"); err != nil {
		return 0, false, err
	}
	if !storable(userID) {
		return 0, false, nil // never registered
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	v, err := disconnectScript.Run(ctx, n.rdb, nil, n.opts.Prefix, n.now(), userID).Int()
	if err != nil {
		return 0, false, n.fail("disconnect", err)
	}
	if v < 0 {
		return 0, false, nil
	}
	return v, true, nil
}

// Users lists the registered user ids of the whole cluster, sorted.
func (n *Node) Users() ([]string, error) {
	if err := n.ready("users"); err != nil {
		return nil, err
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	ids, err := n.rdb.SMembers(ctx, n.key("users")).Result()
	if err != nil {
		return nil, n.fail("users", err)
	}
	sort.Strings(ids)
	return ids, nil
}

// Send logs the message for each user and publishes it to the nodes holding their sessions.
// Delivered counts the live sessions it was published to, cluster-wide.
func (n *Node) Send(userIDs []string, event string, data json.RawMessage) (push.SendResult, error) {
	if err := n.ready("send"); err != nil {
		return push.SendResult{}, err
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	var out push.SendResult
	args := []any{n.opts.Prefix, n.now(), event, string(data)}
	args = append(args, n.bounds()...)
	nargs := len(args)
	for _, id := range userIDs {
		if storable(id) {
			args = append(args, id)
		} else {
			out.Unknown = append(out.Unknown, id) // never registered
		}
	}
	if len(args) == nargs {
		return out, nil
	}
	res, err := sendScript.Run(ctx, n.rdb, nil, args...).Slice()
	if err != nil {
		return push.SendResult{}, n.fail("send", err)
	}
	n.setUp(true, nil)
	out.Delivered, out.Buffered = int(toUint(res[0])), int(toUint(res[1]))
	n.seen(toUint(res[2]))
	if list, ok := res[3].([]any); ok {
		for _, id := range list {
			s, _ := id.(string)
			out.Unknown = append(out.Unknown, s)
		}
	}
	n.counters.sent.Add(1)
	return out, nil
}

// Broadcast publishes the message to every node; users with a live session log it for
// recovery, users with none do not keep it.
func (n *Node) Broadcast(event string, data json.RawMessage) (int, error) {
	if err := n.ready("broadcast"); err != nil {
		return 0, err
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	args := []any{n.opts.Prefix, n.now(), event, string(data)}
	args = append(args, n.bounds()...)
	res, err := broadcastScript.Run(ctx, n.rdb, nil, args...).Slice()
	if err != nil {
		return 0, n.fail("broadcast", err)
	}
	n.setUp(true, nil)
	n.seen(toUint(res[1]))
	n.counters.sent.Add(1)
	return int(toUint(res[0])), nil
}

// nodeFigures is what a node publishes in its heartbeat: its address for forwarding and its
// counters, which Stats sums over the live nodes.
type nodeFigures struct {
	Addr         string `json:"addr"`
	Sessions     int    `json:"sessions"`
	Sent         uint64 `json:"sent"`
	Delivered    uint64 `json:"delivered"`
	AuthOK       uint64 `json:"authOK"`
	AuthFailed   uint64 `json:"authFailed"`
	Recovered    uint64 `json:"recovered"`
	NotRecovered uint64 `json:"notRecovered"`
}

func (n *Node) figures() nodeFigures {
	f := nodeFigures{
		Addr:         n.opts.ClientAddr,
		Sent:         n.counters.sent.Load(),
		Delivered:    n.counters.delivered.Load(),
		AuthOK:       n.counters.authOK.Load(),
		AuthFailed:   n.counters.authFailed.Load(),
		Recovered:    n.counters.recovered.Load(),
		NotRecovered: n.counters.notRecovered.Load(),
	}
	n.mu.RLock()
	for _, l := range n.users {
		f.Sessions += len(l)
	}
	n.mu.RUnlock()
	return f
}

// Stats sums the figures of every live node (scope "cluster"); counters of nodes that died
// are gone with them. When Redis is out of reach it reports this node's own (scope "node").
func (n *Node) Stats() push.Stats {
	local := n.figures()
	st := push.Stats{
		Sessions: local.Sessions, MessagesSent: local.Sent, Deliveries: local.Delivered,
		AuthOK: local.AuthOK, AuthFailed: local.AuthFailed, Recovered: local.Recovered,
		NotRecovered: local.NotRecovered, Scope: "node",
	}
	if !n.up.Load() {
		return st
	}
	ctx, cancel := n.callCtx()
	defer cancel()
	pipe := n.rdb.Pipeline()
	users := pipe.SCard(ctx, n.key("users"))
	counters := pipe.HGetAll(ctx, n.key("stats"))
	nodes := pipe.SMembers(ctx, n.key("nodes"))
	if _, err := pipe.Exec(ctx); err != nil {
		n.fail("stats", err)
		return st
	}
	keys := make([]string, 0, len(nodes.Val()))
	for _, id := range nodes.Val() {
		keys = append(keys, n.key("node:"+id))
	}
	var beats []any
	if len(keys) > 0 {
		var err error
		if beats, err = n.rdb.MGet(ctx, keys...).Result(); err != nil {
			n.fail("stats", err)
			return st
		}
	}
	cl := push.Stats{Users: int(users.Val()), Scope: "cluster"}
	for i, b := range beats {
		s, ok := b.(string)
		if !ok {
			n.rdb.SRem(ctx, n.key("nodes"), nodes.Val()[i]) // a node gone for good
			continue
		}
		var f nodeFigures
		if nodes.Val()[i] == n.opts.NodeID {
			f = local // fresher than the last heartbeat
		} else if json.Unmarshal([]byte(s), &f) != nil {
			continue
		}
		cl.Sessions += f.Sessions
		cl.MessagesSent += f.Sent
		cl.Deliveries += f.Delivered
		cl.AuthOK += f.AuthOK
		cl.AuthFailed += f.AuthFailed
		cl.Recovered += f.Recovered
		cl.NotRecovered += f.NotRecovered
	}
	c := counters.Val()
	num := func(k string) uint64 { v, _ := strconv.ParseInt(c[k], 10, 64); return uint64(max(v, 0)) }
	cl.Kept = int(num("kept"))
	cl.MessagesKept, cl.MessagesDropped, cl.MessagesExpired = num("buffered"), num("dropped"), num("expired")
	return cl
}

// NodeAddr is the client address node published in its heartbeat ("" when the node is not
// alive): where a request for one of its sessions is forwarded.
func (n *Node) NodeAddr(nodeID string) (string, error) {
	ctx, cancel := n.callCtx()
	defer cancel()
	s, err := n.rdb.Get(ctx, n.key("node:"+nodeID)).Result()
	if err != nil {
		if errors.Is(err, redis.Nil) {
			return "", nil
		}
		return "", n.fail("node address", err)
	}
	var f nodeFigures
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return "", nil
	}
	return f.Addr, nil
}
