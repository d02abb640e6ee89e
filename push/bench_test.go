package push

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

type benchSession struct{ n int }

func (s *benchSession) Deliver(*Message) error { s.n++; return nil }
func (s *benchSession) Disconnect(string)      {}

// BenchmarkSendOne is the hot path: one send to one user with one live session.
func BenchmarkSendOne(b *testing.B) {
	h := NewHub(Options{BufferSize: 100, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	h.Register("u", "h")
	if _, err := h.Authenticate("u", "h", &benchSession{}, "pid"); err != nil {
		b.Fatal(err)
	}
	data := json.RawMessage(`{"hello":"world"}`)
	ids := []string{"u"}
	b.ReportAllocs()
	for b.Loop() {
		h.Send(ids, "message", data)
	}
}

// BenchmarkBroadcast1000 is a broadcast to 1000 users with one session each.
func BenchmarkBroadcast1000(b *testing.B) {
	h := NewHub(Options{BufferSize: 100, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	for i := range 1000 {
		id := strconv.Itoa(i)
		h.Register(id, "h")
		if _, err := h.Authenticate(id, "h", &benchSession{}, ""); err != nil {
			b.Fatal(err)
		}
	}
	data := json.RawMessage(`{"hello":"world"}`)
	b.ReportAllocs()
	for b.Loop() {
		h.Broadcast("message", data)
	}
}
