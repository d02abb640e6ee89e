package sessions

import (
	"testing"
	"time"
)

type sess struct{ id string }

func TestTable(t *testing.T) {
	tb := New[*sess]()
	a, b := &sess{"a"}, &sess{"b"}
	if !tb.Add("a", a) || !tb.Add("b", b) {
		t.Fatal("Add refused before Close")
	}
	if v, ok := tb.Lookup("a"); !ok || v != a {
		t.Fatalf("Lookup(a) = %v %v", v, ok)
	}
	if _, ok := tb.Lookup("x"); ok {
		t.Fatal("Lookup(x) found something")
	}
	// A stale session under a reused id is not removed.
	if tb.Remove("a", &sess{"a"}) {
		t.Fatal("Remove of another session under a succeeded")
	}
	if len(tb.List()) != 2 {
		t.Fatalf("List = %v", tb.List())
	}

	list, drained := tb.Close()
	if len(list) != 2 || !tb.Closing() {
		t.Fatalf("Close: %v, closing %v", list, tb.Closing())
	}
	if tb.Add("c", &sess{"c"}) {
		t.Fatal("Add accepted after Close")
	}
	if !tb.Remove("a", a) || tb.Remove("a", a) {
		t.Fatal("Remove(a) twice")
	}
	select {
	case <-drained:
		t.Fatal("drained with b still live")
	default:
	}
	tb.Remove("b", b)
	<-drained
	if _, again := tb.Close(); again != drained {
		t.Fatal("a second Close gives another channel")
	}
}

func TestCloseEmpty(t *testing.T) {
	list, drained := New[*sess]().Close()
	if len(list) != 0 {
		t.Fatal(list)
	}
	<-drained
}

func TestLinger(t *testing.T) {
	tb := New[*sess]()
	a := &sess{"a"}
	tb.Add("a", a)
	tb.Remove("a", a)
	tb.Linger("a", a, time.Hour)
	if v, ok := tb.Lookup("a"); !ok || v != a {
		t.Fatal("a lingering session is not found")
	}
	// A live session under the id wins over a lingering one.
	a2 := &sess{"a"}
	tb.Add("a", a2)
	if v, _ := tb.Lookup("a"); v != a2 {
		t.Fatal("Lookup prefers the lingering session")
	}
	tb.Remove("a", a2)
	tb.Unlinger("a", a2) // not the lingering one: no effect
	if v, ok := tb.Lookup("a"); !ok || v != a {
		t.Fatal("Unlinger of another session dropped a")
	}
	tb.Unlinger("a", a)
	if _, ok := tb.Lookup("a"); ok {
		t.Fatal("found after Unlinger")
	}

	// The linger ends by itself.
	b := &sess{"b"}
	tb.Linger("b", b, time.Millisecond)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := tb.Lookup("b"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("linger did not end")
		}
		time.Sleep(time.Millisecond)
	}
}
