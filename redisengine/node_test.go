package redisengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/internal/redistest"
	"github.com/pushinator/pushinator/push"
)

func startNode(t *testing.T, addr, prefix string, opt func(*Options)) (*Node, context.CancelFunc) {
	t.Helper()
	o := Options{Addr: addr, Prefix: prefix, BufferSize: 100, BufferTTL: time.Minute, RecoveryWindow: time.Minute, ClientAddr: "127.0.0.1:1"}
	if opt != nil {
		opt(&o)
	}
	n, err := New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	// Seen by the others once its heartbeat is in.
	waitFor(t, "the node's heartbeat", func() bool { a, _ := n.NodeAddr(n.ID()); return a != "" })
	return n, stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type fakeSession struct {
	mu     sync.Mutex
	got    []string
	seqs   []uint64
	closed string
	refuse bool // Deliver fails, as for a session that is closing
}

func (s *fakeSession) Deliver(m *push.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refuse {
		return errors.New("session closed")
	}
	var v string
	json.Unmarshal(m.Data, &v)
	s.got = append(s.got, v)
	s.seqs = append(s.seqs, m.Seq)
	return nil
}

func (s *fakeSession) Disconnect(reason string) {
	s.mu.Lock()
	s.closed = reason
	s.mu.Unlock()
}

func (s *fakeSession) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func (s *fakeSession) waitMessages(t *testing.T, want ...string) {
	t.Helper()
	waitFor(t, "messages "+jsonString(want), func() bool { return jsonString(s.messages()) == jsonString(want) })
	time.Sleep(50 * time.Millisecond) // a duplicate would arrive right behind
	if got := s.messages(); jsonString(got) != jsonString(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

func msg(s string) json.RawMessage { return json.RawMessage(jsonString(s)) }

func TestSendReachesAnotherNode(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	if err := a.Register("5", "secret"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Authenticate("5", "wrong", &fakeSession{}, ""); !errors.Is(err, push.ErrUnauthorized) {
		t.Fatalf("wrong hash: %v", err)
	}
	s := &fakeSession{}
	if _, err := b.Authenticate("5", "secret", s, "pid-1"); err != nil {
		t.Fatal(err)
	}
	res, err := a.Send([]string{"5", "6"}, "message", msg("hello"))
	if err != nil || res.Delivered != 1 || res.Buffered != 0 || jsonString(res.Unknown) != `["6"]` {
		t.Fatalf("send: %+v %v", res, err)
	}
	s.waitMessages(t, "hello")
	n, err := a.Broadcast("message", msg("all"))
	if err != nil || n != 1 {
		t.Fatalf("broadcast: %d %v", n, err)
	}
	s.waitMessages(t, "hello", "all")
	users, err := b.Users()
	if err != nil || jsonString(users) != `["5"]` {
		t.Fatalf("users %v %v", users, err)
	}
	// Node b's figures arrive with its next heartbeat.
	waitFor(t, "cluster stats", func() bool {
		st := a.Stats()
		return st.Scope == "cluster" && st.Users == 1 && st.Sessions == 1 && st.MessagesSent == 2 && st.AuthOK == 1 && st.AuthFailed == 1
	})
	if ok, err := a.CheckHash("5", "secret"), error(nil); !ok || err != nil {
		t.Fatal("CheckHash")
	}
	cnt, ok, err := a.DisconnectUser("5")
	if err != nil || !ok || cnt != 1 {
		t.Fatalf("disconnect: %d %v %v", cnt, ok, err)
	}
	waitFor(t, "the session closed by node b", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.closed != "" })
}

// TestBufferedAcrossNodes: a message to a user with no session on any node is kept and
// delivered, in order, on the next authentication on another node.
func TestBufferedAcrossNodes(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("7", "h")
	for _, m := range []string{"one", "two", "three"} {
		res, err := a.Send([]string{"7"}, "message", msg(m))
		if err != nil || res.Buffered != 1 || res.Delivered != 0 {
			t.Fatalf("send %s: %+v %v", m, res, err)
		}
	}
	if st := a.Stats(); st.Kept != 3 || st.MessagesKept != 3 {
		t.Fatalf("stats %+v", st)
	}
	s := &fakeSession{}
	bd, err := b.Authenticate("7", "h", s, "")
	if err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"7"}, "message", msg("four"))
	s.waitMessages(t, "one", "two", "three", "four")
	// Delivered: a second session does not get them again.
	s2 := &fakeSession{}
	if _, err := a.Authenticate("7", "h", s2, ""); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Kept != 0 {
		t.Fatalf("kept after delivery: %+v", st)
	}
	b.Release(bd, false, push.Unwritten{})
	a.Send([]string{"7"}, "message", msg("five"))
	s2.waitMessages(t, "five")
	if got := s.messages(); len(got) != 4 {
		t.Fatalf("released session got %v", got)
	}
}

// TestResumeOnAnotherNodeAfterItsNodeDied: a session whose node dies without releasing it
// resumes on another node and gets every message after its offset, exactly once, in order.
func TestResumeOnAnotherNodeAfterItsNodeDied(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, stopB := startNode(t, addr, prefix, nil)
	a.Register("9", "h")
	s := &fakeSession{}
	if _, err := b.Authenticate("9", "h", s, "pid-9"); err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"9"}, "message", msg("m1"))
	s.waitMessages(t, "m1")
	offset := uitoa(s.seqs[0])
	stopB() // gone without releasing its session (as after kill -9)
	a.Send([]string{"9"}, "message", msg("m2"))
	a.Send([]string{"9"}, "message", msg("m3"))
	s2 := &fakeSession{}
	if _, err := a.Resume("pid-9", offset, "", s2); err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"9"}, "message", msg("m4"))
	s2.waitMessages(t, "m2", "m3", "m4")
	// Credentials of another user with the pid resume nothing, and leave the session live.
	a.Register("8", "h8")
	if _, err := a.Resume("pid-9", offset, "8", &fakeSession{}); !errors.Is(err, push.ErrCannotRecover) {
		t.Fatalf("user 8 resuming user 9's session: %v, want ErrCannotRecover", err)
	}
	a.Send([]string{"9"}, "message", msg("m5"))
	s2.waitMessages(t, "m2", "m3", "m4", "m5")
	if _, err := a.Resume("unknown", "", "", &fakeSession{}); !errors.Is(err, push.ErrCannotRecover) {
		t.Fatalf("unknown pid: %v", err)
	}
}

// subscribers is how many connections listen on node's channel.
func subscribers(t *testing.T, rdb *redis.Client, node *Node) int64 {
	t.Helper()
	ch := node.key("node:" + node.ID())
	r, err := rdb.PubSubNumSub(context.Background(), ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return r[ch]
}

// TestSendToADeadNodesSessionIsKept: a node killed without releasing its sessions keeps its
// heartbeat for up to 3 s, but its subscription ends at once. A send meanwhile to a user whose
// only session was there is reported buffered and kept, and a fresh session of the user (a
// client without recovery reconnecting elsewhere) gets it; a broadcast is still logged for
// the dead session's recovery.
func TestSendToADeadNodesSessionIsKept(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	a, _ := startNode(t, addr, prefix, nil)
	b, stopB := startNode(t, addr, prefix, nil)
	a.Register("9", "h")
	s := &fakeSession{}
	if _, err := b.Authenticate("9", "h", s, "pid-9"); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Send([]string{"9"}, "message", msg("m1")); err != nil || res.Delivered != 1 {
		t.Fatalf("send to a live session on b: %+v, %v", res, err)
	}
	s.waitMessages(t, "m1")
	offset := uitoa(s.seqs[0])
	beat := b.key("node:" + b.ID())
	figures := rdb.Get(context.Background(), beat).Val()
	stopB() // gone without releasing its session (as after kill -9)
	// Its heartbeat stays, as a killed node's does until it expires (a stopped node deletes it).
	if err := rdb.Set(context.Background(), beat, figures, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b's subscription to end", func() bool { return subscribers(t, rdb, b) == 0 })
	if res, err := a.Send([]string{"9"}, "message", msg("m2")); err != nil || res.Delivered != 0 || res.Buffered != 1 {
		t.Fatalf("send to the dead node's session: %+v, %v, want buffered", res, err)
	}
	if _, err := a.Broadcast("message", msg("b1")); err != nil {
		t.Fatal(err)
	}
	fresh := &fakeSession{}
	if _, err := a.Authenticate("9", "h", fresh, ""); err != nil {
		t.Fatal(err)
	}
	fresh.waitMessages(t, "m2")
	// The dead session's client, back with recovery, gets the send and the broadcast.
	resumed := &fakeSession{}
	if _, err := a.Resume("pid-9", offset, "9", resumed); err != nil {
		t.Fatal(err)
	}
	resumed.waitMessages(t, "m2", "b1")
}

// TestSubscriptionLossThenReplay: a live node whose subscription drops has its sessions'
// messages kept meanwhile (those of users with no session elsewhere); when it subscribes again
// it replays them to those sessions before anything published after its return, and they stop
// being kept, so that the user's next session does not get them a second time. A user with a
// session on another node too gets them on both, in order.
func TestSubscriptionLossThenReplay(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := context.Background()
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("7", "h")
	a.Register("8", "h")
	only, onB, onA := &fakeSession{}, &fakeSession{}, &fakeSession{}
	for _, x := range []struct {
		node *Node
		user string
		s    *fakeSession
	}{{b, "7", only}, {b, "8", onB}, {a, "8", onA}} {
		if _, err := x.node.Authenticate(x.user, "h", x.s, ""); err != nil {
			t.Fatal(err)
		}
	}
	sessions := []*fakeSession{only, onB, onA}
	a.Send([]string{"7", "8"}, "message", msg("m1"))
	for _, s := range sessions {
		s.waitMessages(t, "m1")
	}
	// Cut b's subscription connection (named after the node) until a send falls in the gap
	// before b subscribes again.
	for attempt := 0; ; attempt++ {
		if attempt == 20 {
			t.Fatal("no send fell between the cut of b's subscription and its return")
		}
		clients, err := rdb.ClientList(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(clients, "\n") {
			if strings.Contains(line, " name=pushinator-"+b.ID()+" ") && !strings.Contains(line, " sub=0 ") {
				id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
				rdb.Do(ctx, "CLIENT", "KILL", "ID", id)
			}
		}
		waitFor(t, "b's subscription to end", func() bool { return subscribers(t, rdb, b) == 0 })
		res, err := a.Send([]string{"7", "8"}, "message", msg("m2"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Buffered == 1 {
			break
		}
		for _, s := range sessions { // b was back already: delivered live; try again
			s.waitMessages(t, "m1", "m2")
			s.mu.Lock()
			s.got = s.got[:1]
			s.mu.Unlock()
		}
	}
	// Published as soon as b listens again, likely before its resync: it must come after m2.
	waitFor(t, "b's subscription to return", func() bool { return subscribers(t, rdb, b) == 1 })
	a.Send([]string{"7", "8"}, "message", msg("m3"))
	for _, s := range sessions {
		s.waitMessages(t, "m1", "m2", "m3")
	}
	next := &fakeSession{}
	if _, err := a.Authenticate("7", "h", next, ""); err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"7"}, "message", msg("m4"))
	next.waitMessages(t, "m4")
}

// TestSendToASessionClosingMeanwhileIsKept: a session that closes between a send (which
// counted it) and the message's arrival on its node does not take it; its user had no other
// session, so the message is kept for the next authentication, as the memory engine keeps a
// message no session took. A user with a session elsewhere that got it keeps nothing.
func TestSendToASessionClosingMeanwhileIsKept(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("6", "h")
	a.Register("7", "h")
	closing := &fakeSession{}
	if _, err := b.Authenticate("6", "h", closing, ""); err != nil {
		t.Fatal(err)
	}
	onB, onA := &fakeSession{}, &fakeSession{}
	if _, err := b.Authenticate("7", "h", onB, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate("7", "h", onA, ""); err != nil {
		t.Fatal(err)
	}
	closing.mu.Lock()
	closing.refuse = true
	closing.mu.Unlock()
	onB.mu.Lock()
	onB.refuse = true
	onB.mu.Unlock()
	if res, err := a.Send([]string{"6", "7"}, "message", msg("m1")); err != nil || res.Delivered != 3 {
		t.Fatalf("send: %+v, %v; want the three sessions counted", res, err)
	}
	onA.waitMessages(t, "m1")
	next := &fakeSession{}
	waitFor(t, "m1 kept for user 6", func() bool {
		n, _ := a.rdb.ZCard(context.Background(), a.key("u:6:kept")).Result()
		return n == 1
	})
	if _, err := a.Authenticate("6", "h", next, ""); err != nil {
		t.Fatal(err)
	}
	next.waitMessages(t, "m1")
	if n, _ := a.rdb.ZCard(context.Background(), a.key("u:7:kept")).Result(); n != 0 {
		t.Fatalf("user 7, whose session on a got m1, has %d kept", n)
	}
}

// TestSendRacingDisconnectIsKept: /user/disconnect uncounts the user's sessions on every
// node at once, so a send right after it keeps the message for the user's next session
// instead of publishing it to sessions about to close (it was lost when they were on two
// nodes). Their release later leaves a newer session's count alone.
func TestSendRacingDisconnectIsKept(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("9", "h")
	onA, onB := &fakeSession{}, &fakeSession{}
	pa, err := a.Authenticate("9", "h", onA, "")
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Authenticate("9", "h", onB, "")
	if err != nil {
		t.Fatal(err)
	}
	if n, found, err := a.DisconnectUser("9"); n != 2 || !found || err != nil {
		t.Fatalf("DisconnectUser = %d, %v, %v; want the 2 sessions", n, found, err)
	}
	// Sent before the sessions are closed and released.
	if res, err := a.Send([]string{"9"}, "message", msg("m1")); err != nil || res.Buffered != 1 || res.Delivered != 0 {
		t.Fatalf("send after the disconnect: %+v, %v; want buffered", res, err)
	}
	waitFor(t, "both sessions to be told to close", func() bool {
		onA.mu.Lock()
		defer onA.mu.Unlock()
		onB.mu.Lock()
		defer onB.mu.Unlock()
		return onA.closed != "" && onB.closed != ""
	})
	// A new session on b, before the old ones are released: it gets the kept message, and
	// the old sessions' releases do not uncount it.
	fresh := &fakeSession{}
	if _, err := b.Authenticate("9", "h", fresh, ""); err != nil {
		t.Fatal(err)
	}
	a.Release(pa, false, push.Unwritten{})
	b.Release(pb, false, push.Unwritten{})
	if res, err := a.Send([]string{"9"}, "message", msg("m2")); err != nil || res.Delivered != 1 {
		t.Fatalf("send to the new session: %+v, %v; want delivered", res, err)
	}
	fresh.waitMessages(t, "m1", "m2")
	if got := onA.messages(); len(got) != 0 {
		t.Fatalf("a disconnected session got %v", got)
	}
}

// A userId ending in ":log", ":kept" or ":nodes" would name another user's key (user "8:log"
// is user 8's log): it cannot be registered, and using it touches no key of user 8.
func TestUserIDsThatNameAnotherUsersKeys(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	a.Register("8", "h")
	s := &fakeSession{}
	if _, err := a.Authenticate("8", "h", s, "pid-8"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, id := range []string{"8:log", "8:kept", "8:nodes"} {
		if err := a.Register(id, "h"); !errors.Is(err, push.ErrReservedUserID) {
			t.Fatalf("Register(%q) = %v, want ErrReservedUserID", id, err)
		}
		if _, err := a.Authenticate(id, "h", &fakeSession{}, ""); !errors.Is(err, push.ErrUnauthorized) {
			t.Fatalf("Authenticate(%q) = %v, want ErrUnauthorized", id, err)
		}
		if a.CheckHash(id, "h") {
			t.Fatalf("CheckHash(%q) = true", id)
		}
		if found, err := a.Unregister(id); found || err != nil {
			t.Fatalf("Unregister(%q) = %v, %v", id, found, err)
		}
		if _, found, err := a.DisconnectUser(id); found || err != nil {
			t.Fatalf("DisconnectUser(%q) = %v, %v", id, found, err)
		}
		res, err := a.Send([]string{"8", id}, "message", msg("to 8 and "+id))
		if err != nil || res.Delivered != 1 || jsonString(res.Unknown) != jsonString([]string{id}) {
			t.Fatalf("Send to 8 and %q: %+v, %v", id, res, err)
		}
		want = append(want, "to 8 and "+id)
		s.waitMessages(t, want...)
	}
}

// TestReleasedSessionResumes: a session released as resumable comes back on another node.
func TestReleasedSessionResumes(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("3", "h")
	s := &fakeSession{}
	bd, err := b.Authenticate("3", "h", s, "pid-3")
	if err != nil {
		t.Fatal(err)
	}
	b.Release(bd, true, push.Unwritten{})
	res, _ := a.Send([]string{"3"}, "message", msg("while away"))
	if res.Buffered != 1 {
		t.Fatalf("send while away: %+v", res)
	}
	s2 := &fakeSession{}
	if _, err := a.Resume("pid-3", "", "", s2); err != nil {
		t.Fatal(err)
	}
	s2.waitMessages(t, "while away")
	if st := a.Stats(); st.Kept != 0 || st.Recovered != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnregisterClosesSessionsEverywhere(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("4", "h")
	s := &fakeSession{}
	if _, err := b.Authenticate("4", "h", s, ""); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Unregister("4"); !ok || err != nil {
		t.Fatalf("unregister %v %v", ok, err)
	}
	waitFor(t, "the session closed", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.closed == "unregistered" })
	if ok, _ := a.Unregister("4"); ok {
		t.Fatal("unregistered twice")
	}
	if _, err := b.Authenticate("4", "h", &fakeSession{}, ""); !errors.Is(err, push.ErrUnauthorized) {
		t.Fatalf("auth after unregister: %v", err)
	}
}

func TestBufferBounds(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, func(o *Options) { o.BufferSize = 2 })
	a.Register("1", "h")
	for _, m := range []string{"a", "b", "c"} {
		a.Send([]string{"1"}, "message", msg(m))
	}
	if st := a.Stats(); st.MessagesDropped != 1 || st.Kept != 2 {
		t.Fatalf("stats %+v", st)
	}
	s := &fakeSession{}
	a.Authenticate("1", "h", s, "")
	s.waitMessages(t, "b", "c")
}

// TestSweepExpiresKeptMessages: a message kept for a user nobody sends to or connects as any
// more expires after bufferTTL and leaves the kept count, as in the memory engine.
func TestSweepExpiresKeptMessages(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, func(o *Options) { o.BufferTTL = 50 * time.Millisecond })
	a.Register("1", "h")
	a.Send([]string{"1"}, "message", msg("short-lived"))
	if st := a.Stats(); st.Kept != 1 {
		t.Fatalf("stats %+v", st)
	}
	waitFor(t, "the sweep to expire it", func() bool {
		a.sweep(context.Background(), "0")
		st := a.Stats()
		return st.Kept == 0 && st.MessagesExpired == 1
	})
	s := &fakeSession{}
	if _, err := a.Authenticate("1", "h", s, ""); err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"1"}, "message", msg("fresh"))
	s.waitMessages(t, "fresh")
}

// TestResumeWhileSending: a session hops between two nodes (dropped, resumed on the other one
// with its last offset) while both nodes send to it; put together, its connections got every
// message exactly once, in send order.
func TestResumeWhileSending(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	const total = 300
	// The log holds every message: this test is about hops racing sends, not about a
	// session that fell further behind than the log reaches (under -race the nodes'
	// pub/sub readers can lag the unthrottled sender by more than the default 100).
	keepAll := func(o *Options) { o.BufferSize = total }
	a, _ := startNode(t, addr, prefix, keepAll)
	b, _ := startNode(t, addr, prefix, keepAll)
	nodes := []*Node{a, b}
	a.Register("u", "h")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range total {
			// One sender: the send order is the order the user must see.
			if _, err := nodes[i%2].Send([]string{"u"}, "message", msg(fmt.Sprint(i))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var sessions []*fakeSession
	s := &fakeSession{}
	bd, err := a.Authenticate("u", "h", s, "hop")
	if err != nil {
		t.Fatal(err)
	}
	sessions = append(sessions, s)
	for hop := 1; ; hop++ {
		select {
		case <-done:
		default:
			time.Sleep(5 * time.Millisecond) // let some messages arrive on this connection
			nodes[(hop+1)%2].Release(bd, true, push.Unwritten{})
			offset := ""
			if s.mu.Lock(); len(s.seqs) > 0 {
				offset = uitoa(s.seqs[len(s.seqs)-1])
			}
			s.mu.Unlock()
			s = &fakeSession{}
			if bd, err = nodes[hop%2].Resume("hop", offset, "", s); err != nil {
				t.Fatalf("hop %d: %v", hop, err)
			}
			sessions = append(sessions, s)
			continue
		}
		break
	}
	var want []string
	for i := range total {
		want = append(want, fmt.Sprint(i))
	}
	waitFor(t, "every message", func() bool {
		n := 0
		for _, s := range sessions {
			n += len(s.messages())
		}
		return n >= total
	})
	var got []string
	for _, s := range sessions {
		got = append(got, s.messages()...)
	}
	if jsonString(got) != jsonString(want) {
		t.Fatalf("over %d connections got %d messages: %v", len(sessions), len(got), got)
	}
	t.Logf("%d messages over %d connections on two nodes", total, len(sessions))
}

// What a session took but never wrote (a polling client that stopped polling) is kept for the
// user's next session when it was the user's last one, on whichever node that comes; while
// another session of the user is live, that one got it and nothing is kept.
func TestUnwrittenIsKept(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("5", "h")

	other := &fakeSession{}
	bo, _ := b.Authenticate("5", "h", other, "")
	s := &fakeSession{}
	bs, _ := a.Authenticate("5", "h", s, "")
	for _, m := range []string{"1", "2", "3"} {
		a.Send([]string{"5"}, "message", msg(m))
	}
	s.waitMessages(t, "1", "2", "3")
	other.waitMessages(t, "1", "2", "3")
	a.Release(bs, false, push.Unwritten{From: s.seqs[1], To: s.seqs[2]})
	next := &fakeSession{}
	bn, _ := b.Authenticate("5", "h", next, "") // kept messages are handed over before it returns
	if got := next.messages(); len(got) != 0 {
		t.Fatalf("with another session live, the next one got %v", got)
	}

	b.Release(bn, false, push.Unwritten{})
	b.Release(bo, false, push.Unwritten{From: other.seqs[1], To: other.seqs[2]})
	last := &fakeSession{}
	if _, err := a.Authenticate("5", "h", last, ""); err != nil {
		t.Fatal(err)
	}
	last.waitMessages(t, "2", "3")
}

// The same client back on another node before its old session was seen dead: the new session
// gets what the old one never wrote and it was not offered, late; a session that recovered
// got it by its replay and gets nothing twice.
func TestUnwrittenReachesASessionThatCameBackFirst(t *testing.T) {
	addr := redistest.Addr(t)
	prefix := redistest.Prefix(t, addr, "pushinator-test")
	a, _ := startNode(t, addr, prefix, nil)
	b, _ := startNode(t, addr, prefix, nil)
	a.Register("5", "h")
	old := &fakeSession{}
	bOld, _ := a.Authenticate("5", "h", old, "")
	for _, m := range []string{"written", "unwritten 1", "unwritten 2"} {
		a.Send([]string{"5"}, "message", msg(m))
	}
	old.waitMessages(t, "written", "unwritten 1", "unwritten 2")
	old.mu.Lock()
	seqs := append([]uint64(nil), old.seqs...)
	old.mu.Unlock()
	back := &fakeSession{}
	b.Authenticate("5", "h", back, "")
	recovered := &fakeSession{}
	bRec, _ := b.Authenticate("5", "h", recovered, "pid-r")
	b.Release(bRec, true, push.Unwritten{})
	recovered = &fakeSession{}
	if _, err := a.Resume("pid-r", fmt.Sprint(seqs[0]), "5", recovered); err != nil {
		t.Fatal(err)
	}
	a.Send([]string{"5"}, "message", msg("after"))
	back.waitMessages(t, "after")
	a.Release(bOld, false, push.Unwritten{From: seqs[1], To: seqs[2]})
	back.waitMessages(t, "after", "unwritten 1", "unwritten 2")
	recovered.waitMessages(t, "unwritten 1", "unwritten 2", "after")
}

// A session of the user ends with messages it never wrote, which a client on another device
// got and has recovered past: they must not reach that client again, late to its recovered
// session or kept for its later login.
func TestUnwrittenThatARecoveredClientHas(t *testing.T) {
	for _, liveAtRelease := range []bool{true, false} {
		addr := redistest.Addr(t)
		prefix := redistest.Prefix(t, addr, "pushinator-test")
		a, _ := startNode(t, addr, prefix, nil)
		a.Register("5", "h")
		other := &fakeSession{}
		bOther, _ := a.Authenticate("5", "h", other, "q")
		s1 := &fakeSession{}
		b1, _ := a.Authenticate("5", "h", s1, "p")
		for _, m := range []string{"1", "2", "3"} {
			a.Send([]string{"5"}, "message", msg(m))
		}
		s1.waitMessages(t, "1", "2", "3")
		other.waitMessages(t, "1", "2", "3")
		s1.mu.Lock()
		seqs := append([]uint64(nil), s1.seqs...)
		s1.mu.Unlock()
		a.Release(b1, true, push.Unwritten{})
		s2 := &fakeSession{}
		b2, err := a.Resume("p", fmt.Sprint(seqs[2]), "5", s2)
		if err != nil {
			t.Fatal(err)
		}
		if !liveAtRelease {
			a.Release(b2, true, push.Unwritten{})
		}
		a.Release(bOther, false, push.Unwritten{From: seqs[1], To: seqs[2]})
		// Published after what the release published, so anything late comes before it.
		a.Send([]string{"5"}, "message", msg("x"))
		s3 := s2
		if !liveAtRelease {
			s3 = &fakeSession{}
			if _, err := a.Resume("p", fmt.Sprint(seqs[2]), "5", s3); err != nil {
				t.Fatal(err)
			}
		}
		s3.waitMessages(t, "x")
		next := &fakeSession{}
		a.Authenticate("5", "h", next, "")
		a.Send([]string{"5"}, "message", msg("4"))
		next.waitMessages(t, "4") // anything kept would come before it
		s3.waitMessages(t, "x", "4")
	}
}

// Many sessions of a user end with the same messages unwritten: the first end hands them over,
// and the others must not hand them over again, whether the first delivered them late to a
// session that came after them or kept them for a login that came meanwhile.
func TestUnwrittenOfManySessionsHandedOverOnce(t *testing.T) {
	for _, backBeforeTheEnds := range []bool{true, false} {
		addr := redistest.Addr(t)
		prefix := redistest.Prefix(t, addr, "pushinator-test")
		a, _ := startNode(t, addr, prefix, nil)
		b, _ := startNode(t, addr, prefix, nil)
		a.Register("5", "h")
		var olds []*push.Binding
		var first *fakeSession
		for range 3 {
			s := &fakeSession{}
			bd, _ := a.Authenticate("5", "h", s, "")
			olds = append(olds, bd)
			first = s
		}
		for _, m := range []string{"1", "2"} {
			a.Send([]string{"5"}, "message", msg(m))
		}
		first.waitMessages(t, "1", "2")
		first.mu.Lock()
		lost := push.Unwritten{From: first.seqs[0], To: first.seqs[1]}
		first.mu.Unlock()
		back := &fakeSession{}
		if backBeforeTheEnds {
			b.Authenticate("5", "h", back, "")
		}
		for i, bd := range olds {
			a.Release(bd, false, lost)
			if i == 0 && !backBeforeTheEnds {
				b.Authenticate("5", "h", back, "") // gets them as kept
			}
		}
		// Published after anything the ends published, so anything late comes before it.
		a.Send([]string{"5"}, "message", msg("after"))
		back.waitMessages(t, "1", "2", "after")
	}
}
