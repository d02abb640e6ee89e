package push

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Snapshot is the hub's durable state: registrations (the hash only as its SHA-256, so the
// state file never holds a secret), kept messages, and the sessions that may resume. Live
// sessions are saved as resumable, so that clients can recover after a restart or a crash.
type Snapshot struct {
	Seq       uint64           `json:"seq"`
	SavedAt   time.Time        `json:"savedAt"`
	Users     []SnapshotUser   `json:"users"`
	Resumable []SnapshotResume `json:"resumable"`
}

// SnapshotUser is one registration and what is kept for it.
type SnapshotUser struct {
	ID       string            `json:"id"`
	HashSum  []byte            `json:"hashSha256"`
	Pruned   uint64            `json:"pruned,omitempty"`
	Messages []SnapshotMessage `json:"messages,omitempty"`
}

// SnapshotMessage is one kept message.
type SnapshotMessage struct {
	Seq       uint64          `json:"seq"`
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	At        time.Time       `json:"at"`
	Delivered bool            `json:"delivered,omitempty"`
}

// SnapshotResume is a session that may resume.
type SnapshotResume struct {
	PID     string    `json:"pid"`
	UserID  string    `json:"userId"`
	Offset  uint64    `json:"offset"`
	Expires time.Time `json:"expires"`
}

// Changes counts the hub's changes: a caller that saved at one count need not save again until
// it moves.
func (h *Hub) Changes() uint64 { return h.changes.Load() }

// Snapshot captures the hub's durable state.
func (h *Hub) Snapshot() Snapshot {
	now := h.opts.Now()
	snap := Snapshot{SavedAt: now}
	h.mu.RLock()
	users := make([]*user, 0, len(h.users))
	for _, u := range h.users {
		users = append(users, u)
	}
	h.mu.RUnlock()
	sort.Slice(users, func(i, j int) bool { return users[i].id < users[j].id })
	for _, u := range users {
		u.sendMu.Lock()
		su := SnapshotUser{ID: u.id, HashSum: append([]byte(nil), u.hashSum[:]...), Pruned: u.pruned}
		for _, e := range u.log {
			su.Messages = append(su.Messages, SnapshotMessage{Seq: e.m.Seq, Event: e.m.Event, Data: e.m.Data, At: e.m.at, Delivered: e.delivered})
		}
		gone := u.gone
		u.sendMu.Unlock()
		if !gone {
			snap.Users = append(snap.Users, su)
		}
	}
	h.resumeMu.Lock()
	for pid, r := range h.resume {
		snap.Resumable = append(snap.Resumable, SnapshotResume{PID: pid, UserID: r.user.id, Offset: r.offset, Expires: r.expires})
	}
	if h.opts.RecoveryWindow > 0 {
		for pid, b := range h.live {
			snap.Resumable = append(snap.Resumable, SnapshotResume{PID: pid, UserID: b.user.id, Offset: b.startAt, Expires: now.Add(h.opts.RecoveryWindow)})
		}
	}
	h.resumeMu.Unlock()
	sort.Slice(snap.Resumable, func(i, j int) bool { return snap.Resumable[i].PID < snap.Resumable[j].PID })
	// The sequence is read last: every message above was numbered at or below it.
	snap.Seq = h.seq.Load()
	return snap
}

// seqRestartGap is added to the saved sequence on restore. Sends after the last save of a
// crashed process were numbered past the saved sequence and may have reached clients, which
// then present those offsets; new messages must number above them, or a recovering client
// would skip them as already seen.
const seqRestartGap = 1 << 24

// Restore loads a snapshot into an empty hub (at start). Messages and resume records that
// expired meanwhile are dropped by the next Sweep.
func (h *Hub) Restore(snap Snapshot) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.users) > 0 {
		return fmt.Errorf("push: restore: the hub already has %d users", len(h.users))
	}
	for _, su := range snap.Users {
		if _, err := CheckUserID(su.ID); err != nil {
			return fmt.Errorf("push: restore: user %q: %w", su.ID, err)
		}
		if len(su.HashSum) != sha256.Size {
			return fmt.Errorf("push: restore: user %q: hash digest of %d bytes, want %d", su.ID, len(su.HashSum), sha256.Size)
		}
		u := &user{id: su.ID, pruned: su.Pruned}
		copy(u.hashSum[:], su.HashSum)
		u.sessions.Store(new([]*Binding))
		for _, sm := range su.Messages {
			// Not necessarily increasing: the log is in the order the user got them.
			if sm.Seq == 0 || sm.Seq > snap.Seq {
				return fmt.Errorf("push: restore: user %q: message sequence %d is not within 1..%d (the saved sequence)", su.ID, sm.Seq, snap.Seq)
			}
			if !json.Valid(sm.Data) {
				return fmt.Errorf("push: restore: user %q: message %d is not valid JSON", su.ID, sm.Seq)
			}
			m := &Message{Seq: sm.Seq, Event: sm.Event, Data: sm.Data, at: sm.At}
			u.log = append(u.log, logEntry{m: m, delivered: sm.Delivered})
			u.logBytes += int64(len(sm.Data))
		}
		h.users[su.ID] = u
	}
	h.resumeMu.Lock()
	for _, r := range snap.Resumable {
		if u := h.users[r.UserID]; u != nil && r.PID != "" {
			h.resume[r.PID] = resumeRecord{user: u, offset: r.Offset, expires: r.Expires}
		}
	}
	h.resumeMu.Unlock()
	h.seq.Store(snap.Seq + seqRestartGap)
	return nil
}
