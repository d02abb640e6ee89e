// Package sessions is the table of live sessions by id that both push
// servers (Engine.IO and socket.io 0.9) keep: it refuses new sessions once
// shutdown begins, tells when the last one has left, and keeps a closed
// session reachable for a short while so the client's last poll, racing
// the request that closed it, still finds it.
//
// Guarantees: all methods are safe for concurrent use and never call
// back into the caller, so they may be called with the caller's own
// session lock held.
package sessions

import (
	"sync"
	"time"
)

// Table holds sessions of type T (a pointer) by id.
type Table[T comparable] struct {
	mu        sync.Mutex
	live      map[string]T
	lingering map[string]T
	closing   bool
	drained   chan struct{} // closed when the last session leaves after Close
}

// New returns an empty table.
func New[T comparable]() *Table[T] {
	return &Table[T]{live: make(map[string]T), lingering: make(map[string]T)}
}

// Add registers v under id; false when the table is closing.
func (t *Table[T]) Add(id string, v T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closing {
		return false
	}
	t.live[id] = v
	return true
}

// Remove drops v if it is still the session under id, and reports whether
// it was.
func (t *Table[T]) Remove(id string, v T) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.live[id] != v {
		return false
	}
	delete(t.live, id)
	if t.closing && len(t.live) == 0 && t.drained != nil {
		close(t.drained)
	}
	return true
}

// Lookup finds the session under id, live or lingering.
func (t *Table[T]) Lookup(id string) (T, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.live[id]; ok {
		return v, true
	}
	v, ok := t.lingering[id]
	return v, ok
}

// Linger keeps a closed v reachable by Lookup for d.
func (t *Table[T]) Linger(id string, v T, d time.Duration) {
	t.mu.Lock()
	t.lingering[id] = v
	t.mu.Unlock()
	time.AfterFunc(d, func() { t.Unlinger(id, v) })
}

// Unlinger ends v's linger early (its last poll came).
func (t *Table[T]) Unlinger(id string, v T) {
	t.mu.Lock()
	if t.lingering[id] == v {
		delete(t.lingering, id)
	}
	t.mu.Unlock()
}

// Closing reports whether Close was called.
func (t *Table[T]) Closing() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closing
}

// Close refuses further Adds and returns the live sessions and a channel
// closed once none is left.
func (t *Table[T]) Close() ([]T, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closing = true
	if t.drained == nil {
		t.drained = make(chan struct{})
		if len(t.live) == 0 {
			close(t.drained)
		}
	}
	return t.listLocked(), t.drained
}

// List returns the live sessions.
func (t *Table[T]) List() []T {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.listLocked()
}

func (t *Table[T]) listLocked() []T {
	list := make([]T, 0, len(t.live))
	for _, v := range t.live {
		list = append(list, v)
	}
	return list
}
