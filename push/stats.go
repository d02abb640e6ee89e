package push

import (
	"errors"
	"strconv"
)

// FormatOffset is the recovery offset a client is given with message m.
func FormatOffset(m *Message) string { return strconv.FormatUint(m.Seq, 10) }

func parseOffset(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("push: offset: not a message sequence number")
	}
	return n, nil
}

// Stats is a snapshot of the hub's state and counters since start.
type Stats struct {
	Users           int    `json:"users"`
	Sessions        int    `json:"sessions"`         // authenticated live sessions
	Resumable       int    `json:"resumable"`        // dropped sessions that may still resume
	Kept            int    `json:"kept"`             // messages kept for users with no live session
	MessagesSent    uint64 `json:"messagesSent"`     // sends and broadcasts accepted
	Deliveries      uint64 `json:"deliveries"`       // messages handed to a session
	MessagesKept    uint64 `json:"messagesBuffered"` // messages kept for a later session: none was live, or it never wrote them
	MessagesDropped uint64 `json:"messagesDropped"`  // kept messages dropped by the count or byte bound
	MessagesExpired uint64 `json:"messagesExpired"`  // kept messages dropped by age
	AuthOK          uint64 `json:"authSucceeded"`
	AuthFailed      uint64 `json:"authFailed"`
	Recovered       uint64 `json:"recovered"`
	NotRecovered    uint64 `json:"notRecovered"`
	// Scope is "cluster" when the figures cover every node of a cluster engine, "node" when
	// they are this process's only; "" for the memory engine (one node is the whole service).
	Scope string `json:"scope,omitempty"`
}

// Stats counts users, sessions and kept messages; it walks every user, so it is meant for a
// monitoring request, not a hot path.
func (h *Hub) Stats() Stats {
	s := Stats{
		MessagesSent:    h.counters.sent.Load(),
		Deliveries:      h.counters.delivered.Load(),
		MessagesKept:    h.counters.buffered.Load(),
		MessagesDropped: h.counters.dropped.Load(),
		MessagesExpired: h.counters.expired.Load(),
		AuthOK:          h.counters.authOK.Load(),
		AuthFailed:      h.counters.authFailed.Load(),
		Recovered:       h.counters.recovered.Load(),
		NotRecovered:    h.counters.notRecovered.Load(),
	}
	h.mu.RLock()
	s.Users = len(h.users)
	users := make([]*user, 0, len(h.users))
	for _, u := range h.users {
		users = append(users, u)
	}
	h.mu.RUnlock()
	for _, u := range users {
		s.Sessions += len(*u.sessions.Load())
		u.sendMu.Lock()
		for _, e := range u.log {
			if !e.delivered {
				s.Kept++
			}
		}
		u.sendMu.Unlock()
	}
	h.resumeMu.Lock()
	s.Resumable = len(h.resume)
	h.resumeMu.Unlock()
	return s
}
