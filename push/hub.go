// Package push keeps users, their secret hashes and their live sessions, and delivers messages
// to them. It knows nothing of HTTP or wire formats: sessions are reached through the Session
// interface, and a Message carries its encoded forms once the first session computed them.
//
// Guarantees:
//   - every live session of a user gets every message sent to that user, in send order;
//   - a message to a registered user with no live session is kept (bounded in count, bytes and
//     age) and delivered, in order, when a session of that user authenticates;
//   - a session that drops can resume within the recovery window and gets every message after
//     the offset it names, exactly once and in order, or is told it cannot recover;
//   - sessions of different users never see each other's messages.
package push

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushinator/pushinator/internal/fanout"
)

// Errors returned by Hub methods.
var (
	ErrUnauthorized    = errors.New("unauthorized")
	ErrTooManySessions = errors.New("too many sessions for this user")
	ErrCannotRecover   = errors.New("session cannot be recovered")
	ErrInvalidHash     = errors.New("hash must be a non-empty string")
	// ErrReservedUserID: an engine cannot store this userId (the Redis engine's keys of one
	// user are named after its id plus ":log", ":kept" and ":nodes").
	ErrReservedUserID = errors.New(`userId must not end in ":log", ":kept" or ":nodes" with the Redis engine (those name another user's keys)`)
	// ErrUnavailable is returned (wrapped) by an engine whose shared store is out of reach:
	// the call did nothing, and the caller must not report success.
	ErrUnavailable = errors.New("the shared store is unavailable")
)

// Engine is where users, kept messages and resume records live and how a send reaches the
// sessions. *Hub is the memory engine (one process); redisengine shares all of it between
// nodes. The gateway and the admin API work with either.
//
// Calls that change or read shared state return an error wrapping ErrUnavailable when the
// engine's store is out of reach; the memory engine never fails them.
type Engine interface {
	Register(userID, hash string) error
	Unregister(userID string) (bool, error)
	DisconnectUser(userID string) (int, bool, error)
	Users() ([]string, error)
	// Send and Broadcast take data that is valid JSON (the caller checked it): it reaches
	// clients as it is, unchecked.
	Send(userIDs []string, event string, data json.RawMessage) (SendResult, error)
	Broadcast(event string, data json.RawMessage) (int, error)
	Stats() Stats

	Authenticate(userID, hash string, sess Session, pid string) (*Binding, error)
	// Resume fails with ErrCannotRecover, and leaves the session as it was, when userID is
	// not empty and the session is another user's.
	Resume(pid, offset, userID string, sess Session) (*Binding, error)
	// Release ends a session. lost names the messages it took but never wrote: those no
	// live session of the user was offered are kept for its next session, as if sent while
	// it was away, or handed to the live sessions that came after them.
	Release(b *Binding, resumable bool, lost Unwritten)
	CheckHash(userID, hash string) bool
}

var _ Engine = (*Hub)(nil)

// Session is a live, authenticated connection of a user, as the hub sees it.
type Session interface {
	// Deliver queues m for the session. It must not block on the network. An error means the
	// session is gone or too slow; the hub then counts the message as not delivered to it.
	Deliver(m *Message) error
	// Disconnect closes the session (unregister, admin disconnect). It may be called with hub
	// locks held, so it must not call back into the hub synchronously.
	Disconnect(reason string)
}

// Unwritten is what a session took (Deliver returned nil) but never wrote to its connection:
// the message numbered From and those after it, in the order the session got them, up to the
// one numbered To. The zero value is none.
type Unwritten struct{ From, To uint64 }

// Options bound what the hub keeps per user.
type Options struct {
	BufferSize         int           // messages kept per user for absent sessions and recovery
	BufferBytes        int64         // bytes of message data kept per user
	BufferTTL          time.Duration // how long a message nobody received is kept
	RecoveryWindow     time.Duration // how long a dropped session can resume; 0 disables recovery
	MaxSessionsPerUser int           // 0: no limit
	Now                func() time.Time
}

// Message is one send: the same value goes to every recipient, so whatever encodes it does so
// once and caches the result with Encoded.
type Message struct {
	// Seq increases with every send on this hub and names the message in recovery offsets.
	// Two sends to one user may reach it in the other order (each is numbered before it
	// takes the user's lock), so recovery follows the user's log, not the numbers.
	Seq   uint64
	Event string          // socket.io event name, "message" unless the sender chose another
	Data  json.RawMessage // the value as the sender gave it; valid JSON, checked where it came in
	at    time.Time
	forms atomic.Pointer[encodedForms] // nil until a session asks; see dropEncoded
}

// MessageForms is how many distinct encodings of one message a hub's users may need (e.g. with
// and without a recovery offset).
const MessageForms = 3

type encodedForms [MessageForms]encodedForm

type encodedForm struct {
	once sync.Once
	v    any
}

// Encoded returns the message's encoded form number form, computing it with encode the first
// time any session asks (again after dropEncoded). encode must not keep m.
func (m *Message) Encoded(form int, encode func(*Message) any) any {
	fs := m.forms.Load()
	for fs == nil {
		m.forms.CompareAndSwap(nil, new(encodedForms)) // or another session's went first
		fs = m.forms.Load()                            // nil only if dropped meanwhile
	}
	f := &fs[form]
	f.once.Do(func() { f.v = encode(m) })
	return f.v
}

// dropEncoded lets the encoded forms go. A message logged for recovery outlives its send by
// minutes; a one-user message's encoding was needed only by that user's sessions at the send,
// and it was as large as the message's own data (40 % of a full log's memory). A later replay
// encodes again. A caller still holding a form keeps it.
func (m *Message) dropEncoded() { m.forms.Store(nil) }

// Binding is one session attached to one user. The caller keeps it and hands it back to
// Release when the session ends.
type Binding struct {
	userID  string
	user    *user // memory engine
	state   any   // other engines
	sess    Session
	pid     string
	startAt uint64 // the message an offset-less resume starts after (see user.owedAfter)
	// offeredAfter: the session was offered every message logged after this one (a fresh
	// session: what was in the log when it attached and no session had got, then what
	// came); it may get what came before it late (keepUnwritten). 0 for a recovered
	// session, whose client has everything up to its offset and was replayed the rest: no
	// message is numbered 0, so nothing comes before it.
	offeredAfter uint64
}

// UserID is the user the binding belongs to.
func (b *Binding) UserID() string { return b.userID }

// NewBinding is for engines other than Hub: it binds sess to userID under the recovery id pid;
// state is the engine's own.
func NewBinding(userID string, sess Session, pid string, state any) *Binding {
	return &Binding{userID: userID, sess: sess, pid: pid, state: state}
}

// State is what the engine that made the binding with NewBinding keeps in it.
func (b *Binding) State() any { return b.state }

// PID is the binding's recovery id ("" when the session cannot recover).
func (b *Binding) PID() string { return b.pid }

// Hub is the set of registered users and their sessions. It is safe for concurrent use.
type Hub struct {
	opts    Options
	seq     atomic.Uint64
	changes atomic.Uint64 // bumped by every change a snapshot would see

	mu    sync.RWMutex
	users map[string]*user

	resumeMu sync.Mutex
	resume   map[string]resumeRecord // pid -> a dropped session that may come back
	live     map[string]*Binding     // pid -> the live session holding it

	counters counters
}

type resumeRecord struct {
	user    *user
	offset  uint64 // the binding's startAt (used when the client names no offset)
	expires time.Time
}

type counters struct {
	sent, delivered, buffered, dropped, expired atomic.Uint64
	authOK, authFailed, recovered, notRecovered atomic.Uint64
}

// user is one registration. sendMu orders sends, attach-and-flush and the log; sessMu guards
// only the copy-on-write session list, so that a session closing while a send holds sendMu
// (a slow client cut inside Deliver) can still detach.
type user struct {
	id string

	sendMu   sync.Mutex
	hashSum  [sha256.Size]byte
	log      []logEntry
	logBytes int64
	pruned   uint64 // Seq of the last entry dropped from log (see owedAfter)
	gone     bool   // unregistered

	sessMu   sync.Mutex
	sessions atomic.Pointer[[]*Binding]
}

type logEntry struct {
	m         *Message
	delivered bool // reached at least one session
	// handedOver: a session that never wrote it ended and it was kept or delivered late
	// (keepUnwritten); later ends of sessions that never wrote it either leave it be.
	handedOver bool
}

// NewHub returns an empty hub.
func NewHub(opts Options) *Hub {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Hub{opts: opts, users: make(map[string]*user), resume: make(map[string]resumeRecord), live: make(map[string]*Binding)}
}

// Register creates the user or replaces its hash. Live sessions stay connected.
func (h *Hub) Register(userID, hash string) error {
	if hash == "" {
		return ErrInvalidHash
	}
	sum := sha256.Sum256([]byte(hash))
	h.mu.Lock()
	u := h.users[userID]
	if u == nil {
		u = &user{id: userID}
		u.sessions.Store(new([]*Binding))
		h.users[userID] = u
	}
	h.mu.Unlock()
	u.sendMu.Lock()
	u.hashSum = sum
	u.sendMu.Unlock()
	h.changes.Add(1)
	return nil
}

// Unregister removes the user, drops what was kept for it and disconnects its sessions.
// It reports whether the user existed.
func (h *Hub) Unregister(userID string) (bool, error) {
	h.mu.Lock()
	u := h.users[userID]
	delete(h.users, userID)
	h.mu.Unlock()
	if u == nil {
		return false, nil
	}
	h.changes.Add(1)
	u.sendMu.Lock()
	u.gone = true
	u.log, u.logBytes = nil, 0
	u.sendMu.Unlock()
	for _, b := range *u.sessions.Load() {
		b.sess.Disconnect("unregistered")
	}
	return true, nil
}

// DisconnectUser closes every live session of the user and returns how many there were.
func (h *Hub) DisconnectUser(userID string) (int, bool, error) {
	u := h.user(userID)
	if u == nil {
		return 0, false, nil
	}
	list := *u.sessions.Load()
	for _, b := range list {
		b.sess.Disconnect("disconnected by the application")
	}
	return len(list), true, nil
}

// Users lists the registered user ids, sorted.
func (h *Hub) Users() ([]string, error) {
	h.mu.RLock()
	ids := make([]string, 0, len(h.users))
	for id := range h.users {
		ids = append(ids, id)
	}
	h.mu.RUnlock()
	sort.Strings(ids)
	return ids, nil
}

func (h *Hub) user(id string) *user {
	h.mu.RLock()
	u := h.users[id]
	h.mu.RUnlock()
	return u
}

// checkHash compares in constant time (sha256 first, so that the length does not leak either).
func (u *user) checkHash(hash string) bool {
	sum := sha256.Sum256([]byte(hash))
	u.sendMu.Lock()
	want := u.hashSum
	gone := u.gone
	u.sendMu.Unlock()
	return !gone && subtle.ConstantTimeCompare(sum[:], want[:]) == 1
}

// Authenticate checks the hash and attaches sess to the user; messages kept while the user had
// no session are delivered to it first, in order. pid names the session for a later Resume
// ("" when the client cannot recover).
func (h *Hub) Authenticate(userID, hash string, sess Session, pid string) (*Binding, error) {
	u := h.user(userID)
	if u == nil || !u.checkHash(hash) {
		h.counters.authFailed.Add(1)
		return nil, ErrUnauthorized
	}
	b, err := h.attach(u, sess, pid, 0, false)
	if err != nil {
		return nil, err
	}
	h.counters.authOK.Add(1)
	return b, nil
}

// Resume attaches sess as the continuation of the dropped session pid: it gets every kept
// message after offset ("" means the client received nothing since it attached). It fails with
// ErrCannotRecover when the session is unknown, expired, messages it missed were dropped, or
// userID is not empty and names another user than the session's (a client that presents
// credentials with the pid: they decide whose session it may be).
func (h *Hub) Resume(pid, offset, userID string, sess Session) (*Binding, error) {
	now := h.opts.Now()
	h.resumeMu.Lock()
	rec, dropped := h.resume[pid]
	// The client may come back before the server noticed its old connection died (a network
	// cut is seen only at the next heartbeat): the new connection takes the session over.
	var stale *Binding
	var owner *user
	if dropped {
		owner = rec.user
	} else if stale = h.live[pid]; stale != nil {
		owner = stale.user
	}
	if owner == nil || userID != "" && owner.id != userID {
		h.resumeMu.Unlock()
		h.counters.notRecovered.Add(1)
		return nil, ErrCannotRecover
	}
	if dropped {
		delete(h.resume, pid)
	} else {
		delete(h.live, pid)
		rec = resumeRecord{user: stale.user, offset: stale.startAt, expires: now}
	}
	h.resumeMu.Unlock()
	if stale != nil {
		h.detach(stale)
		stale.sess.Disconnect("replaced by a resumed connection")
	}
	if now.After(rec.expires) {
		h.counters.notRecovered.Add(1)
		return nil, ErrCannotRecover
	}
	from := rec.offset
	if offset != "" {
		n, err := parseOffset(offset)
		if err != nil || n > h.seq.Load() {
			h.counters.notRecovered.Add(1)
			return nil, ErrCannotRecover
		}
		from = n
	}
	b, err := h.attach(rec.user, sess, pid, from, true)
	if err != nil {
		h.counters.notRecovered.Add(1)
		return nil, err
	}
	h.counters.recovered.Add(1)
	return b, nil
}

// attach adds sess to u and replays what it is owed: for a resume, every kept message after
// from; otherwise the messages no session received.
func (h *Hub) attach(u *user, sess Session, pid string, from uint64, resume bool) (*Binding, error) {
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	if u.gone {
		return nil, ErrUnauthorized
	}
	h.pruneLocked(u, h.opts.Now())
	owedFrom, owedAbove := 0, uint64(0)
	if resume {
		var ok bool
		if owedFrom, owedAbove, ok = u.owedAfter(from); !ok {
			return nil, ErrCannotRecover
		}
	}
	// startAt is what an offset-less resume of this session starts after: everything it is
	// about to be sent here, and everything sent to the user from now on.
	b := &Binding{userID: u.id, user: u, sess: sess, pid: pid, startAt: u.lastBefore(len(u.log))}
	if resume {
		b.startAt = from
	} else {
		b.offeredAfter = b.startAt
		if i := u.firstUndelivered(); i >= 0 {
			b.startAt = u.lastBefore(i)
		}
	}
	u.sessMu.Lock()
	old := *u.sessions.Load()
	if h.opts.MaxSessionsPerUser > 0 && len(old) >= h.opts.MaxSessionsPerUser {
		u.sessMu.Unlock()
		return nil, ErrTooManySessions
	}
	list := make([]*Binding, len(old), len(old)+1)
	copy(list, old)
	list = append(list, b)
	u.sessions.Store(&list)
	u.sessMu.Unlock()
	if pid != "" {
		h.resumeMu.Lock()
		h.live[pid] = b
		h.resumeMu.Unlock()
	}
	h.changes.Add(1)

	for i := range u.log {
		e := &u.log[i]
		if resume && (i < owedFrom || e.m.Seq <= owedAbove) {
			// The client's offset says it has this one: it is no longer kept for anyone
			// (it may have been, by a session that never wrote it: keepUnwritten).
			e.delivered = true
			continue
		}
		if !resume && e.delivered {
			continue
		}
		if sess.Deliver(e.m) == nil {
			e.delivered = true
			h.counters.delivered.Add(1)
		}
	}
	return b, nil
}

// firstUndelivered is the index of the first log entry no session got; -1: none.
func (u *user) firstUndelivered() int {
	for i, e := range u.log {
		if !e.delivered {
			return i
		}
	}
	return -1
}

// lastBefore names the message before log entry i, in the user's order: the entry before it,
// else the last one dropped (0 if none ever was).
func (u *user) lastBefore(i int) uint64 {
	if i > 0 {
		return u.log[i-1].m.Seq
	}
	return u.pruned
}

// owedAfter says what a session that got the user's messages up to the one numbered seq is
// owed: the log entries from index from, those numbered above above. The log holds them in
// the order the user's sessions got them, which is not always the numbers' order, so a
// message the log holds is found and what follows it is owed. A number the log does not hold
// (the last one dropped, 0 before any send, one sent just before a crash that the saved state
// missed) owes what is numbered above it; ok is false when the log dropped some of that.
func (u *user) owedAfter(seq uint64) (from int, above uint64, ok bool) {
	if i := u.indexOf(seq); i >= 0 {
		return i + 1, 0, true
	}
	return 0, seq, seq >= u.pruned
}

// Release detaches a binding's session. When resumable, the session may come back with Resume
// within the recovery window. What it never wrote (lost) reaches the user (see keepUnwritten)
// as long as the log still holds it (the recovery window).
func (h *Hub) Release(b *Binding, resumable bool, lost Unwritten) {
	h.detach(b)
	h.changes.Add(1)
	if lost.From != 0 {
		h.keepUnwritten(b.user, lost)
	}
	if b.pid == "" {
		return
	}
	h.resumeMu.Lock()
	defer h.resumeMu.Unlock()
	if h.live[b.pid] != b {
		return // taken over by a resumed connection, which now owns the pid
	}
	delete(h.live, b.pid)
	if resumable && h.opts.RecoveryWindow > 0 {
		h.resume[b.pid] = resumeRecord{user: b.user, offset: b.startAt, expires: h.opts.Now().Add(h.opts.RecoveryWindow)}
	}
}

// keepUnwritten gets the messages of lost that no live session of the user was offered to the
// user: with no session live, they are kept for the next one (marked not delivered); live
// sessions that attached after them (the same client back before the server saw its old
// connection die) get them now, after what they already got.
func (h *Hub) keepUnwritten(u *user, lost Unwritten) {
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	if u.gone {
		return
	}
	end := u.indexOf(lost.To)
	// From may have been dropped from the log already (-1); what follows it is still there.
	start := max(u.indexOf(lost.From), 0)
	// Many sessions of a user may end at once with the same messages unwritten (a venue's
	// screens losing the network): the first end hands them over, the others find them so.
	for start <= end && u.log[start].handedOver {
		start++
	}
	live := *u.sessions.Load()
	if start > end || len(live) > 0 && !u.anyAttachedSince(live, start) {
		return // the common case: every live session was there before them
	}
	kept, delivered := 0, 0
	if len(live) == 0 {
		for i := start; i <= end; i++ {
			e := &u.log[i]
			if e.delivered && !e.handedOver {
				e.delivered = false
				kept++
			}
			e.handedOver = true
		}
	}
	for _, b := range live {
		// b was offered what followed the message it attached after (-1: not in the log,
		// so everything in it followed; always so for a recovered session).
		last := min(end, u.indexOf(b.offeredAfter))
		for i := start; i <= last; i++ {
			if e := &u.log[i]; !e.handedOver && b.sess.Deliver(e.m) == nil {
				delivered++
			}
		}
	}
	if len(live) > 0 {
		for i := start; i <= end; i++ {
			u.log[i].handedOver = true
		}
	}
	h.counters.buffered.Add(uint64(kept))
	h.counters.delivered.Add(uint64(delivered))
	if kept > 0 {
		h.changes.Add(1)
	}
}

// anyAttachedSince reports whether a live session that did not recover attached after log
// entry start, cheaply: a user may have thousands of sessions, and many of them may end at
// once, each with messages it never wrote.
func (u *user) anyAttachedSince(live []*Binding, start int) bool {
	since := make(map[uint64]bool, len(u.log)-start)
	for _, e := range u.log[start:] {
		since[e.m.Seq] = true
	}
	for _, b := range live {
		if since[b.offeredAfter] {
			return true
		}
	}
	return false
}

// indexOf is the index of the log entry of the message numbered seq; -1: not in the log.
func (u *user) indexOf(seq uint64) int {
	for i := len(u.log) - 1; i >= 0; i-- {
		if u.log[i].m.Seq == seq {
			return i
		}
	}
	return -1
}

// detach removes a binding from its user's live sessions.
func (h *Hub) detach(b *Binding) {
	u := b.user
	u.sessMu.Lock()
	defer u.sessMu.Unlock()
	old := *u.sessions.Load()
	for i, x := range old {
		if x == b {
			list := make([]*Binding, 0, len(old)-1)
			list = append(list, old[:i]...)
			list = append(list, old[i+1:]...)
			u.sessions.Store(&list)
			return
		}
	}
}

// SendResult says what became of one send.
type SendResult struct {
	Delivered int      // sessions that got the message now
	Buffered  int      // users with no live session for whom it was kept
	Unknown   []string // user ids that are not registered
}

// Send delivers one message to every live session of each user, keeping it for users with no
// live session. The message is shared: encoded once for all recipients.
func (h *Hub) Send(userIDs []string, event string, data json.RawMessage) (SendResult, error) {
	var res SendResult
	m := h.newMessage(event, data)
	for _, id := range userIDs {
		u := h.user(id)
		if u == nil {
			res.Unknown = append(res.Unknown, id)
			continue
		}
		n, kept := h.deliver(u, m, true)
		res.Delivered += n
		if kept {
			res.Buffered++
		}
	}
	if len(userIDs) == 1 {
		// Many users' sessions share one encoding (and a mass reconnect would replay it to
		// each of them): only a one-user message drops it once delivered.
		m.dropEncoded()
	}
	h.counters.sent.Add(1)
	return res, nil
}

// Broadcast delivers one message to every live session of every user. Users with no live
// session do not keep it: a broadcast is for whoever is there.
func (h *Hub) Broadcast(event string, data json.RawMessage) (int, error) {
	m := h.newMessage(event, data)
	h.mu.RLock()
	users := make([]*user, 0, len(h.users))
	for _, u := range h.users {
		users = append(users, u)
	}
	h.mu.RUnlock()
	total := fanout.Sum(users, broadcastOf{h, m}, broadcastTo)
	h.counters.sent.Add(1)
	return total, nil
}

// deliverTo hands m to one session and counts it if the session took it.
func deliverTo(b *Binding, m *Message) int {
	if b.sess.Deliver(m) == nil {
		return 1
	}
	return 0
}

type broadcastOf struct {
	h *Hub
	m *Message
}

// broadcastTo delivers a broadcast to one user's sessions and counts those reached.
func broadcastTo(u *user, b broadcastOf) int {
	n, _ := b.h.deliver(u, b.m, false)
	return n
}

func (h *Hub) newMessage(event string, data json.RawMessage) *Message {
	h.changes.Add(1)
	return &Message{Seq: h.seq.Add(1), Event: event, Data: data, at: h.opts.Now()}
}

// deliver hands m to u's sessions and logs it for recovery; keep says whether a user with no
// session keeps it. It reports the sessions reached and whether it was kept for later.
func (h *Hub) deliver(u *user, m *Message, keep bool) (int, bool) {
	u.sendMu.Lock()
	defer u.sendMu.Unlock()
	if u.gone {
		return 0, false
	}
	// A user with thousands of sessions (one account on every screen of a venue) gets them
	// written from every core; sendMu is held until all are, which keeps the next message
	// behind this one on every session.
	n := fanout.Sum(*u.sessions.Load(), m, deliverTo)
	h.counters.delivered.Add(uint64(n))
	if n == 0 && !keep {
		return 0, false
	}
	if h.opts.BufferSize > 0 {
		u.log = append(u.log, logEntry{m: m, delivered: n > 0})
		u.logBytes += int64(len(m.Data))
		h.pruneLocked(u, m.at) // the message was stamped just now
	}
	if n == 0 {
		h.counters.buffered.Add(1)
		return 0, true
	}
	return n, false
}

// pruneLocked drops what is over the count or byte bound (oldest first) and what is too old
// at now.
func (h *Hub) pruneLocked(u *user, now time.Time) {
	drop := 0
	for drop < len(u.log) {
		e := u.log[drop]
		age := now.Sub(e.m.at)
		over := len(u.log)-drop > h.opts.BufferSize ||
			(h.opts.BufferBytes > 0 && u.logBytes > h.opts.BufferBytes)
		expiredUndelivered := !e.delivered && age > h.opts.BufferTTL
		expiredDelivered := e.delivered && age > h.opts.RecoveryWindow
		if !over && !expiredUndelivered && !expiredDelivered {
			break
		}
		if !e.delivered {
			if over {
				h.counters.dropped.Add(1)
			} else {
				h.counters.expired.Add(1)
			}
		}
		u.logBytes -= int64(len(e.m.Data))
		u.pruned = e.m.Seq
		drop++
	}
	if drop > 0 {
		h.changes.Add(1)
		// Dropped from the front in place: a full log drops one entry per send, and copying
		// the rest each time cost more than the send itself. append moves the live entries
		// to a new array once the old one's end is reached, so the array stays under about
		// twice the log; cleared entries free their messages meanwhile.
		clear(u.log[:drop])
		u.log = u.log[drop:]
		if len(u.log) == 0 {
			u.log = nil
		}
	}
}

// Sweep drops expired messages and resume records. The owner calls it periodically (see Run).
func (h *Hub) Sweep() {
	h.mu.RLock()
	users := make([]*user, 0, len(h.users))
	for _, u := range h.users {
		users = append(users, u)
	}
	h.mu.RUnlock()
	now := h.opts.Now()
	for _, u := range users {
		u.sendMu.Lock()
		h.pruneLocked(u, now)
		u.sendMu.Unlock()
	}
	h.resumeMu.Lock()
	for pid, r := range h.resume {
		if now.After(r.expires) {
			delete(h.resume, pid)
		}
	}
	h.resumeMu.Unlock()
}

// CheckHash reports whether hash is the user's current hash (in constant time).
func (h *Hub) CheckHash(userID, hash string) bool {
	u := h.user(userID)
	return u != nil && u.checkHash(hash)
}
