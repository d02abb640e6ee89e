package engineio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// frameSize must match what writeFrame writes, or a failed write would
// hand back the wrong messages.
func TestFrameSize(t *testing.T) {
	for _, n := range []int{0, 1, 124, 125, 126, 127, 0xfffe, 0xffff, 0x10000, 0x10001} {
		data := []byte(strings.Repeat("x", n))
		for _, p := range []packet{{typ: ptMessage, data: data}, {typ: ptMessage, binary: true, data: data}, {framed: true, data: data}} {
			for _, proto := range []uint8{3, 4} {
				if got, want := frameSize(p, proto), int64(len(appendFrame(nil, p, proto))); got != want {
					t.Errorf("%d bytes, binary %v, framed %v, v%d: frameSize %d, frame %d", n, p.binary, p.framed, proto, got, want)
				}
			}
		}
	}
}

// A polling client that stops polling: what the session took after the
// last GET was never written, and Unwritten says from where.
func TestUnwrittenPolling(t *testing.T) {
	ts := startServer(t, testOptions()) // short heartbeat: the session dies of it
	ts.rec.quiet = true
	sid := ts.handshakeV4()
	s := <-ts.rec.opened
	q := "EIO=4&transport=polling&sid=" + sid
	for i := uint64(1); i <= 3; i++ {
		s.Send(Message{Data: []byte(fmt.Sprint(i)), Mark: i})
	}
	if r := ts.do("GET", q, "", ""); r.status != 200 || r.body != "41\x1e42\x1e43" {
		t.Fatalf("GET: %d %q", r.status, r.body)
	}
	s.Send(Message{Data: []byte("unmarked")})
	for i := uint64(4); i <= 6; i++ {
		s.Send(Message{Data: []byte(fmt.Sprint(i)), Mark: i})
	}
	select {
	case c := <-ts.rec.closes:
		if c != sid+" ping timeout" {
			t.Fatalf("close = %q", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the session outlived its heartbeat")
	}
	if got := s.Unwritten(); got != 4 {
		t.Errorf("Unwritten = %d, want 4", got)
	}
}

// A session closed with everything written reports nothing unwritten.
func TestUnwrittenNone(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	ts.rec.quiet = true
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	s := <-ts.rec.opened
	s.Send(Message{Data: []byte("a"), Mark: 1})
	c.expect("4a")
	c.conn.Close()
	<-ts.rec.closes
	if got := s.Unwritten(); got != 0 {
		t.Errorf("Unwritten = %d, want 0", got)
	}
}

// A WebSocket client that stops reading is cut as slow. Every message
// before Unwritten reached its socket, whole, and none from it did: the
// client, reading what its socket holds afterwards, gets exactly those.
func TestUnwrittenWebSocketSlowClient(t *testing.T) {
	bothReaders(t, testUnwrittenWebSocketSlowClient)
}

func testUnwrittenWebSocketSlowClient(t *testing.T, startServer func(*testing.T, Options) *testServer) {
	o := slowPing(testOptions())
	o.QueueLimit = 300
	o.WriteTimeout = 300 * time.Millisecond
	ts := startServer(t, o)
	ts.rec.quiet = true
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	s := <-ts.rec.opened
	const size = 3000
	body := func(i int) string {
		return fmt.Sprintf("%06d", i) + strings.Repeat(string(rune('a'+i%26)), size-6)
	}
	sent := 0
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; ; i++ {
		if err := s.Send(Message{Data: []byte(body(i)), Mark: uint64(i)}); err != nil {
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
	select {
	case r := <-ts.rec.closes:
		if r != s.ID()+" slow client" {
			t.Fatalf("close = %q", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no OnClose")
	}
	u := int(s.Unwritten())
	if u < 1 || u > sent {
		t.Fatalf("Unwritten = %d after %d messages taken", u, sent)
	}
	got := 0
	for {
		m, _, err := c.read()
		if err != nil {
			break
		}
		got++
		if want := "4" + body(got); m != want {
			t.Fatalf("message %d: got %.20q… (%d bytes), want %.20q…", got, m, len(m), want)
		}
	}
	if got != u-1 {
		t.Errorf("the client read messages 1 to %d; Unwritten = %d (of %d taken)", got, u, sent)
	}
}

// A shutdown whose close packet a client never comes for (it stopped polling) ends the
// session before returning, with OnClose called and Unwritten set: its handler can keep
// what was never written while there is still a process to keep it.
func TestShutdownEndsSessionsThatDidNotComeBack(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	ts.rec.quiet = true
	sid := ts.handshakeV4()
	s := <-ts.rec.opened
	s.Send(Message{Data: []byte("never polled for"), Mark: 7})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline: the client never came", err)
	}
	select {
	case r := <-ts.rec.closes:
		if r != sid+" server shutting down" {
			t.Errorf("close = %q", r)
		}
	default:
		t.Fatal("Shutdown returned before the session's OnClose")
	}
	if got := s.Unwritten(); got != 7 {
		t.Errorf("Unwritten = %d, want 7", got)
	}
}
