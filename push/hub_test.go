package push

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
	"weak"
)

// fakeSession records what the hub delivers to it.
type fakeSession struct {
	mu     sync.Mutex
	got    []string
	seqs   []uint64
	closed string
	fail   bool
}

func (s *fakeSession) Deliver(m *Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("slow")
	}
	s.got = append(s.got, string(m.Data))
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

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestHub() (*Hub, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	return NewHub(Options{BufferSize: 3, BufferBytes: 1 << 20, BufferTTL: time.Minute,
		RecoveryWindow: 2 * time.Minute, Now: c.now}), c
}

func msg(s string) json.RawMessage { return json.RawMessage(fmt.Sprintf("%q", s)) }

func TestParseUserID(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`5`, "5", true}, {`"5"`, "5", true}, {`5.0`, "5", true}, {`-0`, "0", true},
		{`1.5`, "1.5", true}, {`"abc"`, "abc", true}, {`1e21`, "1e+21", true},
		{`""`, "", false}, {`null`, "", false}, {`true`, "", false}, {`[5]`, "", false},
		{`{"a":1}`, "", false}, {``, "", false}, {`"\u0000x"`, "\x00x", true},
	} {
		got, err := ParseUserID(json.RawMessage(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseUserID(%s) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestAuthenticateAndIsolation(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "xxx1234")
	h.Register("6", "other")
	if _, err := h.Authenticate("5", "wrong", &fakeSession{}, ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong hash: got %v, want ErrUnauthorized", err)
	}
	if _, err := h.Authenticate("7", "xxx1234", &fakeSession{}, ""); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("unknown user: got %v, want ErrUnauthorized", err)
	}
	a1, a2, b := &fakeSession{}, &fakeSession{}, &fakeSession{}
	for _, x := range []struct {
		id, hash string
		s        *fakeSession
	}{{"5", "xxx1234", a1}, {"5", "xxx1234", a2}, {"6", "other", b}} {
		if _, err := h.Authenticate(x.id, x.hash, x.s, ""); err != nil {
			t.Fatal(err)
		}
	}
	res, _ := h.Send([]string{"5"}, "message", msg("for five"))
	if res.Delivered != 2 || res.Buffered != 0 {
		t.Fatalf("send: %+v, want 2 delivered", res)
	}
	if got := b.messages(); len(got) != 0 {
		t.Fatalf("user 6 got user 5's message: %v", got)
	}
	if !reflect.DeepEqual(a1.messages(), []string{`"for five"`}) || !reflect.DeepEqual(a2.messages(), []string{`"for five"`}) {
		t.Fatalf("sessions of 5 got %v and %v", a1.messages(), a2.messages())
	}
	// Re-registering replaces the hash and keeps the sessions.
	h.Register("5", "newhash")
	if _, err := h.Authenticate("5", "xxx1234", &fakeSession{}, ""); err == nil {
		t.Fatal("old hash still accepted after re-register")
	}
	if res, _ := h.Send([]string{"5"}, "message", msg("again")); res.Delivered != 2 {
		t.Fatalf("after re-register: %+v, want the 2 live sessions kept", res)
	}
	if ok, _ := h.Unregister("5"); !ok || a1.closed == "" || a2.closed == "" {
		t.Fatalf("unregister did not disconnect the sessions: %q %q", a1.closed, a2.closed)
	}
}

func TestBufferDeliveredInOrderOnAuth(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	for _, m := range []string{"a", "b", "c", "d"} {
		if res, _ := h.Send([]string{"5"}, "message", msg(m)); res.Buffered != 1 {
			t.Fatalf("send %s: %+v, want buffered", m, res)
		}
	}
	s := &fakeSession{}
	if _, err := h.Authenticate("5", "h", s, ""); err != nil {
		t.Fatal(err)
	}
	// BufferSize is 3: the oldest was dropped and counted.
	if got, want := s.messages(), []string{`"b"`, `"c"`, `"d"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := h.Stats(); st.MessagesDropped != 1 || st.Kept != 0 {
		t.Fatalf("stats %+v: want 1 dropped, 0 kept", st)
	}
	// A second session does not get them again.
	s2 := &fakeSession{}
	h.Authenticate("5", "h", s2, "")
	if got := s2.messages(); len(got) != 0 {
		t.Fatalf("second session got already delivered messages %v", got)
	}
}

func TestBufferExpires(t *testing.T) {
	h, c := newTestHub()
	h.Register("5", "h")
	h.Send([]string{"5"}, "message", msg("old"))
	c.t = c.t.Add(2 * time.Minute)
	h.Send([]string{"5"}, "message", msg("new"))
	s := &fakeSession{}
	h.Authenticate("5", "h", s, "")
	if got, want := s.messages(), []string{`"new"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if st := h.Stats(); st.MessagesExpired != 1 {
		t.Fatalf("expired = %d, want 1", st.MessagesExpired)
	}
}

func TestResume(t *testing.T) {
	h, c := newTestHub()
	h.Register("5", "h")
	s := &fakeSession{}
	b, _ := h.Authenticate("5", "h", s, "pid-1")
	h.Send([]string{"5"}, "message", msg("1"))
	h.Send([]string{"5"}, "message", msg("2"))
	h.Release(b, true, Unwritten{})
	h.Send([]string{"5"}, "message", msg("3"))

	// The client received "1" only: it names that offset and gets 2 and 3.
	offset := fmt.Sprint(s.seqs[0])
	s2 := &fakeSession{}
	b2, err := h.Resume("pid-1", offset, "", s2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s2.messages(), []string{`"2"`, `"3"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed with %v, want %v", got, want)
	}
	// A client that received nothing names no offset and gets everything since it attached.
	h.Release(b2, true, Unwritten{})
	s3 := &fakeSession{}
	if _, err := h.Resume("pid-1", "", "", s3); err != nil {
		t.Fatal(err)
	}
	if got, want := s3.messages(), []string{`"2"`, `"3"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("offset-less resume got %v, want %v", got, want)
	}
	_ = c
}

func TestResumeFailsWhenMessagesWereDropped(t *testing.T) {
	h, c := newTestHub()
	h.Register("5", "h")
	s := &fakeSession{}
	b, _ := h.Authenticate("5", "h", s, "p")
	h.Send([]string{"5"}, "message", msg("seen"))
	h.Release(b, true, Unwritten{})
	for i := 0; i < 4; i++ { // more than BufferSize while away
		h.Send([]string{"5"}, "message", msg(fmt.Sprint(i)))
	}
	if _, err := h.Resume("p", fmt.Sprint(s.seqs[0]), "", &fakeSession{}); !errors.Is(err, ErrCannotRecover) {
		t.Fatalf("resume over a gap: %v, want ErrCannotRecover", err)
	}
	// And a resume after the window fails.
	b2, _ := h.Authenticate("5", "h", &fakeSession{}, "q")
	h.Release(b2, true, Unwritten{})
	c.t = c.t.Add(3 * time.Minute)
	if _, err := h.Resume("q", "", "", &fakeSession{}); !errors.Is(err, ErrCannotRecover) {
		t.Fatalf("resume after the window: %v", err)
	}
}

func TestFailingSessionMeansBuffered(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	h.Authenticate("5", "h", &fakeSession{fail: true}, "")
	if res, _ := h.Send([]string{"5"}, "message", msg("x")); res.Delivered != 0 || res.Buffered != 1 {
		t.Fatalf("%+v: a message no session took must be kept", res)
	}
}

// TestConcurrentSendAndAttach runs sends, attaches and releases together under -race and
// checks that every session sees its messages in increasing order, each once.
func TestConcurrentSendAndAttach(t *testing.T) {
	h := NewHub(Options{BufferSize: 1000, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	h.Register("u", "h")
	var wg sync.WaitGroup
	sessions := make([]*fakeSession, 8)
	for i := range sessions {
		sessions[i] = &fakeSession{}
		wg.Add(1)
		go func(s *fakeSession) {
			defer wg.Done()
			b, err := h.Authenticate("u", "h", s, "")
			if err != nil {
				t.Error(err)
				return
			}
			h.Release(b, false, Unwritten{})
		}(sessions[i])
	}
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h.Send([]string{"u"}, "message", msg(fmt.Sprint(i)))
		}(i)
	}
	wg.Wait()
	for _, s := range sessions {
		for i := 1; i < len(s.seqs); i++ {
			if s.seqs[i] <= s.seqs[i-1] {
				t.Fatalf("out of order or duplicated: %v", s.seqs)
			}
		}
	}
}

// A resume that names a user (the client sent credentials with its pid) continues only that
// user's session, dropped or live; another user's stays as it was.
func TestResumeOnlyByItsUser(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	h.Register("6", "h6")
	dropped, _ := h.Authenticate("5", "h", &fakeSession{}, "dropped")
	h.Release(dropped, true, Unwritten{})
	h.Send([]string{"5"}, "message", msg("while away"))
	if _, err := h.Resume("dropped", "", "6", &fakeSession{}); !errors.Is(err, ErrCannotRecover) {
		t.Fatalf("user 6 resuming user 5's session: %v, want ErrCannotRecover", err)
	}
	back := &fakeSession{}
	if _, err := h.Resume("dropped", "", "5", back); err != nil {
		t.Fatalf("user 5 resuming its own session after the refusal: %v", err)
	}
	if got, want := back.messages(), []string{`"while away"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed with %v, want %v", got, want)
	}

	live := &fakeSession{}
	h.Authenticate("5", "h", live, "live")
	if _, err := h.Resume("live", "", "6", &fakeSession{}); !errors.Is(err, ErrCannotRecover) {
		t.Fatalf("user 6 taking over user 5's live session: %v, want ErrCannotRecover", err)
	}
	if live.closed != "" {
		t.Fatalf("the live session was closed: %q", live.closed)
	}
	h.Send([]string{"5"}, "message", msg("still live"))
	if got := live.messages(); len(got) == 0 || got[len(got)-1] != `"still live"` {
		t.Fatalf("the live session got %v", got)
	}
}

// A client whose connection died without the server noticing comes back on a new connection:
// the new one takes the session over, and the old one is closed.
func TestResumeTakesOverALiveSession(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	old := &fakeSession{}
	b, _ := h.Authenticate("5", "h", old, "p")
	h.Send([]string{"5"}, "message", msg("1"))
	h.Send([]string{"5"}, "message", msg("2")) // lost in the dead connection
	fresh := &fakeSession{}
	if _, err := h.Resume("p", fmt.Sprint(old.seqs[0]), "", fresh); err != nil {
		t.Fatal(err)
	}
	if old.closed == "" {
		t.Fatal("the old connection was not closed")
	}
	if got, want := fresh.messages(), []string{`"2"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	h.Send([]string{"5"}, "message", msg("3"))
	if got := old.messages(); len(got) != 2 {
		t.Fatalf("the replaced connection still gets messages: %v", got)
	}
	// The old connection's late release must not make the pid resumable again.
	h.Release(b, true, Unwritten{})
	if st := h.Stats(); st.Resumable != 0 || st.Sessions != 1 {
		t.Fatalf("after the stale release: %+v", st)
	}
}

// A full log drops its oldest entry on each send; its array must stay bounded, and what it
// dropped must not stay reachable through it.
func TestFullLogStaysBounded(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	sess := &weakSession{}
	h.Authenticate("5", "h", sess, "")
	u := h.user("5")
	for i := 0; i < 1000; i++ {
		h.Send([]string{"5"}, "message", msg(fmt.Sprint(i)))
		if got := len(u.log); got > h.opts.BufferSize {
			t.Fatalf("after send %d the log holds %d messages, over the buffer size %d", i, got, h.opts.BufferSize)
		}
		if c := cap(u.log); c > 2*h.opts.BufferSize+8 {
			t.Fatalf("after send %d the log's array has room for %d entries, over twice the buffer size", i, c)
		}
	}
	if got := u.log[len(u.log)-1].m.Data; string(got) != `"999"` {
		t.Fatalf("the log ends with %s, want the last message", got)
	}
	runtime.GC()
	live := 0
	for _, w := range sess.got {
		if w.Value() != nil {
			live++
		}
	}
	if live > h.opts.BufferSize {
		t.Fatalf("%d messages are still reachable after a GC, want at most the %d the log keeps", live, h.opts.BufferSize)
	}
}

// weakSession keeps what it is delivered only weakly, so that a test can see what the hub
// still holds.
type weakSession struct{ got []weak.Pointer[Message] }

func (s *weakSession) Deliver(m *Message) error { s.got = append(s.got, weak.Make(m)); return nil }
func (s *weakSession) Disconnect(string)        {}

// A user with more sessions than one goroutine writes (the hub then spreads the writes over
// the cores) still gets every message exactly once on every session, in one order that is
// the same everywhere and keeps each sender's own order, while two senders race. A
// broadcast to many users reaches every session once and counts each.
func TestLargeFanoutKeepsOrderOnEverySession(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	h := NewHub(Options{BufferSize: 10, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	h.Register("venue", "h")
	sessions := make([]*fakeSession, 2000)
	for i := range sessions {
		sessions[i] = &fakeSession{}
		if _, err := h.Authenticate("venue", "h", sessions[i], ""); err != nil {
			t.Fatal(err)
		}
	}
	const perSender = 40
	var wg sync.WaitGroup
	for _, sender := range []string{"a", "b"} {
		wg.Go(func() {
			for i := range perSender {
				res, err := h.Send([]string{"venue"}, "message", msg(fmt.Sprintf("%s%02d", sender, i)))
				if err != nil || res.Delivered != len(sessions) {
					t.Errorf("send %s%02d: %+v, %v; want %d delivered", sender, i, res, err, len(sessions))
				}
			}
		})
	}
	wg.Wait()
	first := sessions[0].messages()
	if len(first) != 2*perSender {
		t.Fatalf("session 0 got %d messages, want %d: %v", len(first), 2*perSender, first)
	}
	next := map[byte]int{}
	for _, m := range first {
		sender, n := m[1], 0
		fmt.Sscanf(m[2:4], "%d", &n)
		if n != next[sender] {
			t.Fatalf("sender %c's messages out of order on session 0: %v", sender, first)
		}
		next[sender]++
	}
	for i, s := range sessions {
		if got := s.messages(); !reflect.DeepEqual(got, first) {
			t.Fatalf("session %d got %v, session 0 got %v", i, got, first)
		}
	}

	for i := range 1000 {
		id := fmt.Sprintf("user%d", i)
		h.Register(id, "h")
		if _, err := h.Authenticate(id, "h", &fakeSession{}, ""); err != nil {
			t.Fatal(err)
		}
	}
	n, err := h.Broadcast("message", msg("all"))
	if err != nil || n != len(sessions)+1000 {
		t.Fatalf("broadcast reached %d sessions (%v), want %d", n, err, len(sessions)+1000)
	}
	for i, s := range sessions {
		if got := s.messages(); len(got) != 2*perSender+1 || got[len(got)-1] != `"all"` {
			t.Fatalf("session %d after the broadcast: %v", i, got)
		}
	}
}

// FuzzParseUserID: the fast paths for plain strings and integers give what decoding the
// value with encoding/json and writing it as JavaScript's String() does.
func FuzzParseUserID(f *testing.F) {
	for _, s := range []string{`5`, `"5"`, `5.0`, `-0`, `0`, `-5`, `05`, `1.5`, `"abc"`, `1e21`, `123456789012345`,
		`1234567890123456`, `9007199254740993`, `""`, `"\u0041"`, `"a\"b"`, "\"\xff\"", "\"\x01\"", `"é"`, ` 7 `, `-`, `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ParseUserID(json.RawMessage(in))
		want, wantErr := referenceParseUserID(json.RawMessage(in))
		if got != want || (err == nil) != (wantErr == nil) {
			t.Fatalf("ParseUserID(%q) = %q, %v; the reference gives %q, %v", in, got, err, want, wantErr)
		}
	})
}

// referenceParseUserID is ParseUserID without its fast paths.
func referenceParseUserID(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "", ErrInvalidUserID
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", ErrInvalidUserID
		}
		return CheckUserID(s)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return "", ErrInvalidUserID
		}
		return jsNumberString(f), nil
	}
	return "", ErrInvalidUserID
}

// encodingSession encodes each message it gets, as the gateway does, and counts the encodings.
type encodingSession struct {
	mu      sync.Mutex
	encoded *int // shared by the sessions of one test
	got     []string
}

func (s *encodingSession) Deliver(m *Message) error {
	v := m.Encoded(0, func(m *Message) any {
		s.mu.Lock()
		*s.encoded++
		s.mu.Unlock()
		return "packet:" + string(m.Data)
	})
	s.mu.Lock()
	s.got = append(s.got, v.(string))
	s.mu.Unlock()
	return nil
}

func (s *encodingSession) Disconnect(string) {}

// A one-user message is encoded once for all of the user's sessions, and its encoding is not
// kept in the recovery log; a resumed session gets it encoded again, correctly.
func TestOneUserMessageDropsItsEncoding(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	encoded := 0
	a, b := &encodingSession{encoded: &encoded}, &encodingSession{encoded: &encoded}
	ba, err := h.Authenticate("5", "h", a, "pid-a")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Authenticate("5", "h", b, "pid-b"); err != nil {
		t.Fatal(err)
	}
	h.Send([]string{"5"}, "message", msg("one"))
	if encoded != 1 || len(a.got) != 1 || len(b.got) != 1 {
		t.Fatalf("two sessions of one user: %d encodings, got %q and %q; want 1 encoding, one packet each", encoded, a.got, b.got)
	}
	logged := h.user("5").log[0].m
	if logged.forms.Load() != nil {
		t.Fatal("the logged one-user message still holds its encoding")
	}

	h.Release(ba, true, Unwritten{})
	h.Send([]string{"5"}, "message", msg("two")) // missed by a
	resumed := &encodingSession{encoded: &encoded}
	if _, err := h.Resume("pid-a", FormatOffset(logged), "", resumed); err != nil {
		t.Fatal(err)
	}
	if want := []string{`packet:"two"`}; !reflect.DeepEqual(resumed.got, want) {
		t.Fatalf("resumed session got %q, want %q", resumed.got, want)
	}
}

// A message to several users is encoded once for all of them and keeps its encoding: a mass
// reconnect replays it to each.
func TestManyUserMessageKeepsItsEncoding(t *testing.T) {
	h, _ := newTestHub()
	encoded := 0
	for _, id := range []string{"5", "6", "7"} {
		h.Register(id, "h")
		if _, err := h.Authenticate(id, "h", &encodingSession{encoded: &encoded}, ""); err != nil {
			t.Fatal(err)
		}
	}
	h.Send([]string{"5", "6", "7"}, "message", msg("all"))
	h.Broadcast("message", msg("everyone"))
	if encoded != 2 {
		t.Fatalf("%d encodings for 2 messages to 3 users", encoded)
	}
	for _, id := range []string{"5", "6", "7"} {
		for _, e := range h.user(id).log {
			if e.m.forms.Load() == nil {
				t.Fatalf("user %s: the logged message %s lost its shared encoding", id, e.m.Data)
			}
		}
	}
}

// Encoded and dropEncoded race freely: every caller gets the message's encoding.
func TestEncodedWhileDropped(t *testing.T) {
	m := &Message{Data: json.RawMessage(`"x"`)}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				if v := m.Encoded(1, func(m *Message) any { return string(m.Data) }); v != `"x"` {
					t.Errorf("Encoded = %v", v)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 2000 {
			m.dropEncoded()
		}
	})
	wg.Wait()
}
