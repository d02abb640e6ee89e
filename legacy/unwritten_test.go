package legacy

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws/wsutil"
)

func marked(text string, mark uint64) *Packet {
	p := EncodeMessage([]byte(text))
	p.SetMark(mark)
	return p
}

// A polling client that stops polling: what the socket took after its last poll was never
// written, and Unwritten says from where.
func TestUnwrittenPolling(t *testing.T) {
	rec := newRecorder()
	got := make(chan *Socket, 1)
	rec.onEvent = func(s *Socket, _ string, _ []json.RawMessage, _ func(...any) error) { got <- s }
	_, ts := startServer(t, Options{CloseTimeout: 300 * time.Millisecond, PollDuration: 20 * time.Second}, rec)
	u := ts.URL + "/socket.io/1/xhr-polling/" + handshake(t, ts.URL)
	do(t, "GET", u, "")
	do(t, "POST", u, "3:::x")
	s := <-got
	s.Send(marked("1", 1))
	if _, _, body := do(t, "GET", u, ""); body != "3:::1" {
		t.Fatalf("poll: %q", body)
	}
	s.Send(EncodeMessage([]byte("unmarked")))
	s.Send(marked("2", 2))
	s.Send(marked("3", 3))
	rec.waitFor(t, "disconnect close timeout")
	if got := s.Unwritten(); got != 2 {
		t.Errorf("Unwritten = %d, want 2", got)
	}
}

// A WebSocket client that stops reading is cut as slow. Every message before Unwritten
// reached its socket, whole, and none from it did: the client, reading what its socket holds
// afterwards, gets exactly those.
func TestUnwrittenWebSocketSlowClient(t *testing.T) {
	rec := newRecorder()
	got := make(chan *Socket, 1)
	rec.onEvent = func(s *Socket, _ string, _ []json.RawMessage, _ func(...any) error) { got <- s }
	_, ts := startServer(t, Options{QueueLimit: 300, WriteTimeout: 300 * time.Millisecond}, rec)
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	if p := readWS(t, conn); p != "1::" {
		t.Fatalf("first packet %q", p)
	}
	wsutil.WriteClientText(conn, []byte("3:::x"))
	s := <-got
	body := func(i int) string {
		return fmt.Sprintf("%06d", i) + strings.Repeat(string(rune('a'+i%26)), 3000)
	}
	sent := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; ; i++ {
		if err := s.Send(marked(body(i), uint64(i))); err != nil {
			break
		}
		sent = i
		if time.Now().After(deadline) {
			t.Fatalf("still open after %d messages unread", i)
		}
		if i%100 == 0 {
			time.Sleep(5 * time.Millisecond) // let the flusher hit the full socket
		}
	}
	rec.waitFor(t, "disconnect slow client")
	u := int(s.Unwritten())
	if u < 1 || u > sent {
		t.Fatalf("Unwritten = %d after %d messages taken", u, sent)
	}
	n := 0
	for {
		p := readWS(t, conn)
		if !strings.HasPrefix(p, "3:::") {
			break
		}
		n++
		if want := "3:::" + body(n); p != want {
			t.Fatalf("message %d: got %.20q… (%d bytes), want %.20q…", n, p, len(p), want)
		}
	}
	if n != u-1 {
		t.Errorf("the client read messages 1 to %d; Unwritten = %d (of %d taken)", n, u, sent)
	}
}
