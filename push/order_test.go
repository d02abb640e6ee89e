package push

import (
	"encoding/json"
	"reflect"
	"strconv"
	"sync"
	"testing"
)

// crossedSends numbers two messages and delivers them to u in the other order, as two admin
// requests racing for the user's lock do (each send is numbered before it takes the lock).
func crossedSends(h *Hub, id string) (first, second *Message) {
	u := h.user(id)
	early := h.newMessage("message", msg("early"))
	late := h.newMessage("message", msg("late"))
	h.deliver(u, late, true)
	h.deliver(u, early, true)
	return late, early
}

// A client that got the later-numbered message first resumes after it and is owed the other
// one; the numbers alone would say it has seen both.
func TestResumeFollowsTheUsersOrder(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	s := &fakeSession{}
	b, _ := h.Authenticate("5", "h", s, "p")
	first, second := crossedSends(h, "5")
	if got, want := s.messages(), []string{`"late"`, `"early"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("live session got %v, want %v", got, want)
	}
	h.Release(b, true, Unwritten{})

	// It got only the first of the two.
	s2 := &fakeSession{}
	b2, err := h.Resume("p", FormatOffset(first), "", s2)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s2.messages(), []string{`"early"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed after %q: got %v, want %v", first.Data, got, want)
	}
	// It got both: nothing is owed.
	h.Release(b2, true, Unwritten{})
	s3 := &fakeSession{}
	if _, err := h.Resume("p", FormatOffset(second), "", s3); err != nil {
		t.Fatal(err)
	}
	if got := s3.messages(); len(got) != 0 {
		t.Fatalf("resumed after both: got %v again", got)
	}
}

// A session that attached between the numbering and the delivery of a send is owed it on an
// offset-less resume.
func TestOffsetlessResumeAfterCrossedSends(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	u := h.user("5")
	b0, _ := h.Authenticate("5", "h", &fakeSession{}, "")
	h.Send([]string{"5"}, "message", msg("before")) // delivered: not owed to anyone later
	h.Release(b0, false, Unwritten{})
	numbered := h.newMessage("message", msg("numbered before attach"))
	b, _ := h.Authenticate("5", "h", &fakeSession{fail: true}, "p")
	h.deliver(u, numbered, true)
	h.Release(b, true, Unwritten{})
	s := &fakeSession{}
	if _, err := h.Resume("p", "", "", s); err != nil {
		t.Fatal(err)
	}
	if got, want := s.messages(), []string{`"numbered before attach"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("offset-less resume got %v, want %v", got, want)
	}
}

// Concurrent sends to one user must not make the saved state unreadable: the server refused
// to start with "message sequence out of order".
func TestCrossedSendsSaveAndRestore(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	crossedSends(h, "5")
	snap := h.Snapshot()
	h2, _ := newTestHub()
	if err := h2.Restore(roundTrip(t, snap)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	s := &fakeSession{}
	if _, err := h2.Authenticate("5", "h", s, ""); err != nil {
		t.Fatal(err)
	}
	if got, want := s.messages(), []string{`"late"`, `"early"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after restore the kept messages came as %v, want %v", got, want)
	}
}

// The same through real concurrent sends: the state saved during them restores, and the log
// keeps the order the user's sessions got.
func TestConcurrentSendsToOneUserRestore(t *testing.T) {
	h := NewHub(Options{BufferSize: 1 << 20, BufferBytes: 1 << 30, BufferTTL: 1 << 62, RecoveryWindow: 1 << 62})
	h.Register("5", "h")
	s := &fakeSession{}
	h.Authenticate("5", "h", s, "")
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				h.Send([]string{"5"}, "message", json.RawMessage(strconv.Itoa(i)))
			}
		}()
	}
	wg.Wait()
	h2 := NewHub(Options{BufferSize: 1 << 20, BufferBytes: 1 << 30, BufferTTL: 1 << 62, RecoveryWindow: 1 << 62})
	snap := h.Snapshot()
	if err := h2.Restore(roundTrip(t, snap)); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var seqs []uint64
	for _, e := range h2.user("5").log {
		seqs = append(seqs, e.m.Seq)
	}
	if !reflect.DeepEqual(seqs, s.seqs) {
		t.Fatalf("restored log is not in the order the session got the messages")
	}
}

func roundTrip(t *testing.T, snap Snapshot) Snapshot {
	t.Helper()
	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var out Snapshot
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// What a session took but never wrote is kept for the user's next session when no other
// session of the user is live, from the first message it did not write to the last it took,
// in the order it got them.
func TestUnwrittenIsKeptForTheNextSession(t *testing.T) {
	h, _ := newTestHub()
	h.opts.BufferSize = 10
	h.Register("5", "h")
	s := &fakeSession{}
	b, _ := h.Authenticate("5", "h", s, "")
	h.Send([]string{"5"}, "message", msg("written"))
	first, second := crossedSends(h, "5") // got "late", then "early"
	h.Release(b, false, Unwritten{From: first.Seq, To: second.Seq})
	s2 := &fakeSession{}
	h.Authenticate("5", "h", s2, "")
	if got, want := s2.messages(), []string{`"late"`, `"early"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("next session got %v, want %v", got, want)
	}
	if st := h.Stats(); st.MessagesKept != 2 {
		t.Errorf("messagesBuffered = %d, want 2", st.MessagesKept)
	}
}

// Another live session of the user got the messages too: nothing is kept.
func TestUnwrittenWithAnotherSessionLive(t *testing.T) {
	h, _ := newTestHub()
	h.Register("5", "h")
	other := &fakeSession{}
	h.Authenticate("5", "h", other, "")
	b, _ := h.Authenticate("5", "h", &fakeSession{}, "")
	h.Send([]string{"5"}, "message", msg("m"))
	seq := other.seqs[0]
	h.Release(b, false, Unwritten{From: seq, To: seq})
	next := &fakeSession{}
	h.Authenticate("5", "h", next, "")
	if got := next.messages(); len(got) != 0 {
		t.Fatalf("a new session got %v, which a live session had", got)
	}
}

// The first unwritten message was dropped from the log (over bufferSize): what the log still
// holds of the rest is kept.
func TestUnwrittenPartlyDropped(t *testing.T) {
	h, _ := newTestHub() // bufferSize 3
	h.Register("5", "h")
	s := &fakeSession{}
	b, _ := h.Authenticate("5", "h", s, "")
	for i := range 5 {
		h.Send([]string{"5"}, "message", msg(strconv.Itoa(i)))
	}
	h.Release(b, false, Unwritten{From: s.seqs[0], To: s.seqs[4]})
	next := &fakeSession{}
	h.Authenticate("5", "h", next, "")
	if got, want := next.messages(), []string{`"2"`, `"3"`, `"4"`}; !reflect.DeepEqual(got, want) {
		t.Fatalf("next session got %v, want %v", got, want)
	}
}

// The same client back before the server saw its old connection die (its heartbeat shows it
// later than the client's): the new session gets what the old one never wrote and it was not
// offered, late, after what it already got; a session that recovered got it by its replay.
func TestUnwrittenReachesASessionThatCameBackFirst(t *testing.T) {
	h, _ := newTestHub()
	h.opts.BufferSize = 10
	h.Register("5", "h")
	old := &fakeSession{}
	bOld, _ := h.Authenticate("5", "h", old, "p")
	for _, m := range []string{"written", "unwritten 1", "unwritten 2"} {
		h.Send([]string{"5"}, "message", msg(m))
	}
	back := &fakeSession{}
	h.Authenticate("5", "h", back, "")
	recovered := &fakeSession{}
	if _, err := h.Resume("p", FormatOffset(&Message{Seq: old.seqs[0]}), "5", recovered); err != nil {
		t.Fatal(err)
	}
	h.Send([]string{"5"}, "message", msg("after"))
	h.Release(bOld, true, Unwritten{From: old.seqs[1], To: old.seqs[2]})
	if got, want := back.messages(), []string{`"after"`, `"unwritten 1"`, `"unwritten 2"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("the session back first got %v, want %v", got, want)
	}
	if got, want := recovered.messages(), []string{`"unwritten 1"`, `"unwritten 2"`, `"after"`}; !reflect.DeepEqual(got, want) {
		t.Errorf("the recovered session got %v, want %v", got, want)
	}
}

// A recovering client took its old session over and recovered what that one never wrote, then
// dropped and recovered again; when the old session's end comes at last (a polling session
// closes only once its close packet is fetched, or after a timeout), its unwritten messages
// must not reach the client again: not late to its recovered session, nor kept for a later
// login once it recovered past them.
func TestUnwrittenOfASessionTakenOverByRecovery(t *testing.T) {
	for _, liveAtRelease := range []bool{true, false} {
		h, _ := newTestHub()
		h.opts.BufferSize = 10
		h.Register("5", "h")
		old := &fakeSession{}
		bOld, _ := h.Authenticate("5", "h", old, "p")
		for _, m := range []string{"1", "2", "3"} {
			h.Send([]string{"5"}, "message", msg(m))
		}
		// The client got "1" only and recovers: the old session is taken over.
		s1 := &fakeSession{}
		b1, err := h.Resume("p", FormatOffset(&Message{Seq: old.seqs[0]}), "5", s1)
		if err != nil {
			t.Fatal(err)
		}
		h.Release(b1, true, Unwritten{})
		s2 := &fakeSession{}
		b2, err := h.Resume("p", FormatOffset(&Message{Seq: s1.seqs[1]}), "5", s2)
		if err != nil {
			t.Fatal(err)
		}
		if !liveAtRelease {
			h.Release(b2, true, Unwritten{})
		}
		h.Release(bOld, true, Unwritten{From: old.seqs[1], To: old.seqs[2]})
		s3 := &fakeSession{}
		if !liveAtRelease {
			if _, err := h.Resume("p", FormatOffset(&Message{Seq: s1.seqs[1]}), "5", s3); err != nil {
				t.Fatal(err)
			}
		}
		next := &fakeSession{}
		h.Authenticate("5", "h", next, "")
		if got := append(append(s2.messages(), s3.messages()...), next.messages()...); len(got) != 0 {
			t.Fatalf("session live at the old one's end: %v; after recovering past them, the client got %v again", liveAtRelease, got)
		}
	}
}

// Many sessions of a user end with the same messages unwritten (screens that lost the network
// together): the first end hands them over, and the others must not hand them over again,
// whether the first delivered them late or kept them for a login that came meanwhile.
func TestUnwrittenOfManySessionsHandedOverOnce(t *testing.T) {
	for _, backBeforeTheEnds := range []bool{true, false} {
		h, _ := newTestHub()
		h.opts.BufferSize = 10
		h.Register("5", "h")
		var olds []*Binding
		var first *fakeSession
		for range 3 {
			s := &fakeSession{}
			b, _ := h.Authenticate("5", "h", s, "")
			olds = append(olds, b)
			first = s
		}
		for _, m := range []string{"1", "2"} {
			h.Send([]string{"5"}, "message", msg(m))
		}
		lost := Unwritten{From: first.seqs[0], To: first.seqs[1]}
		back := &fakeSession{}
		if backBeforeTheEnds {
			h.Authenticate("5", "h", back, "")
		}
		for i, b := range olds {
			h.Release(b, false, lost)
			if i == 0 && !backBeforeTheEnds {
				h.Authenticate("5", "h", back, "") // gets them as kept
			}
		}
		if got, want := back.messages(), []string{`"1"`, `"2"`}; !reflect.DeepEqual(got, want) {
			t.Fatalf("back before the ends: %v; got %v, want %v once", backBeforeTheEnds, got, want)
		}
	}
}
