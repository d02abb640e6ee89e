package socketio

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSession stands in for an Engine.IO session: it records what is sent
// and whether it was closed. Like the real one, it refuses sends once closed.
type fakeSession struct {
	proto int

	mu      sync.Mutex
	sent    []string
	packets []*Packet
	closed  bool
	done    chan struct{} // closed by Close
	// overflow makes the next SendPacket close the session the way
	// engineio does on queue overflow: OnClose on the sender's goroutine.
	overflow func()
}

func newFake(proto int) *fakeSession { return &fakeSession{proto: proto, done: make(chan struct{})} }

func (f *fakeSession) ID() string    { return "eio-sid" }
func (f *fakeSession) Protocol() int { return f.proto }

func (f *fakeSession) SendPacket(p *Packet) error {
	f.mu.Lock()
	if fn := f.overflow; fn != nil {
		f.overflow = nil
		f.closed = true
		close(f.done)
		f.mu.Unlock()
		fn()
		return errors.New("engineio: send: slow client")
	}
	defer f.mu.Unlock()
	if f.closed {
		return errors.New("engineio: send: session closed")
	}
	f.sent = append(f.sent, string(p.text))
	for _, a := range p.attachments {
		f.sent = append(f.sent, fmt.Sprintf("<binary %x>", a))
	}
	f.packets = append(f.packets, p)
	return nil
}

func (f *fakeSession) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.done)
	}
}

func (f *fakeSession) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// takeSent returns what was sent since the last call.
func (f *fakeSession) takeSent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sent
	f.sent = nil
	return s
}

// recorder is a Handler that logs its calls and lets a test decide.
type recorder struct {
	mu      sync.Mutex
	calls   []string
	refuse  func(payload json.RawMessage) error
	onConn  func(s *Socket)
	onEvent func(s *Socket, name string, args []json.RawMessage, ack Ack)
}

func (r *recorder) log(format string, a ...any) {
	r.mu.Lock()
	r.calls = append(r.calls, fmt.Sprintf(format, a...))
	r.mu.Unlock()
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

func (r *recorder) Connect(s *Socket, payload json.RawMessage) error {
	r.log("Connect %s", payload)
	if r.onConn != nil {
		r.onConn(s)
	}
	if r.refuse != nil {
		return r.refuse(payload)
	}
	return nil
}

func (r *recorder) Connected(s *Socket) { r.log("Connected") }

func (r *recorder) Event(s *Socket, name string, args []json.RawMessage, ack Ack) {
	r.log("Event %s %s ack=%v", name, joinRaw(args), ack != nil)
	if r.onEvent != nil {
		r.onEvent(s, name, args, ack)
	}
}

func (r *recorder) Disconnect(s *Socket, reason string) { r.log("Disconnect %s", reason) }

func joinRaw(args []json.RawMessage) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = string(a)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func newSocket(t *testing.T, proto int, h Handler, opts Options) (*Socket, *fakeSession) {
	t.Helper()
	if opts.ConnectTimeout == 0 {
		opts.ConnectTimeout = -1 // tests that want it set it
	}
	f := newFake(proto)
	s := NewServer(opts, h).open(f, nil)
	return s, f
}

// feed hands text messages to the socket as the Engine.IO session would.
func feed(s *Socket, msgs ...string) {
	for _, m := range msgs {
		s.onMessage([]byte(m), false)
	}
}

func expect[T any](t *testing.T, what string, got, want []T) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func TestConnectV5(t *testing.T) {
	tests := []struct {
		name     string
		refuse   func(json.RawMessage) error
		pid      string
		in       []string
		wantSent func(id string) []string
		calls    []string
	}{
		{
			name:     "no payload",
			in:       []string{"0"},
			wantSent: func(id string) []string { return []string{`0{"sid":"` + id + `"}`} },
			calls:    []string{"Connect ", "Connected"},
		},
		{
			name:     "auth payload",
			in:       []string{`0{"token":"123"}`},
			wantSent: func(id string) []string { return []string{`0{"sid":"` + id + `"}`} },
			calls:    []string{`Connect {"token":"123"}`, "Connected"},
		},
		{
			name:     "pid for recovery",
			pid:      "private",
			in:       []string{"0"},
			wantSent: func(id string) []string { return []string{`0{"sid":"` + id + `","pid":"private"}`} },
			calls:    []string{"Connect ", "Connected"},
		},
		{
			name:     "refused",
			refuse:   func(json.RawMessage) error { return errors.New("unauthorized") },
			in:       []string{`0{"userId":1}`},
			wantSent: func(string) []string { return []string{`4{"message":"unauthorized"}`} },
			calls:    []string{`Connect {"userId":1}`},
		},
		{
			name: "invalid namespace",
			in:   []string{`0/admin,{"a":1}`, "0/random"},
			wantSent: func(string) []string {
				return []string{`4/admin,{"message":"Invalid namespace"}`, `4/random,{"message":"Invalid namespace"}`}
			},
		},
		{
			name: "second CONNECT is ignored",
			in:   []string{"0", "0"},
			wantSent: func(id string) []string {
				return []string{`0{"sid":"` + id + `"}`}
			},
			calls: []string{"Connect ", "Connected"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{refuse: tt.refuse}
			if tt.pid != "" {
				h.onConn = func(s *Socket) { s.SetPID(tt.pid) }
			}
			s, f := newSocket(t, 4, h, Options{})
			if s.Protocol() != 5 {
				t.Errorf("Protocol() = %d, want 5", s.Protocol())
			}
			feed(s, tt.in...)
			expect(t, "sent", f.takeSent(), tt.wantSent(s.ID()))
			expect(t, "calls", h.take(), tt.calls)
			if f.isClosed() {
				t.Error("session closed")
			}
		})
	}
}

func TestRefusedThenAccepted(t *testing.T) {
	n := 0
	h := &recorder{refuse: func(json.RawMessage) error {
		n++
		if n == 1 {
			return errors.New("try again")
		}
		return nil
	}}
	s, f := newSocket(t, 4, h, Options{})
	feed(s, "0", `2["early"]`)
	expect(t, "sent", f.takeSent(), []string{`4{"message":"try again"}`})
	if !f.isClosed() {
		t.Fatal("an event before a successful CONNECT must close the session")
	}
	s.onClose("forced close")
	expect(t, "calls", h.take(), []string{"Connect "}) // no Disconnect: never connected

	s, f = newSocket(t, 4, h, Options{})
	n = 0
	feed(s, "0", `0{"again":true}`, `2["x"]`)
	expect(t, "sent", f.takeSent(), []string{`4{"message":"try again"}`, `0{"sid":"` + s.ID() + `"}`})
	expect(t, "calls", h.take(), []string{"Connect ", `Connect {"again":true}`, "Connected", "Event x [] ack=false"})
}

func TestConnectV4(t *testing.T) {
	h := &recorder{}
	s, f := newSocket(t, 3, h, Options{})
	if s.Protocol() != 4 {
		t.Errorf("Protocol() = %d, want 4", s.Protocol())
	}
	expect(t, "sent on open", f.takeSent(), []string{"0"})
	expect(t, "calls on open", h.take(), []string{"Connect ", "Connected"})

	// A client CONNECT for "/" is accepted without a second reply; other
	// namespaces are refused the v4 way (a string).
	feed(s, "0", "0/?x=1", "0/admin?token=1,", `2["hi",1]`)
	expect(t, "sent", f.takeSent(), []string{`4/admin,"Invalid namespace"`})
	expect(t, "calls", h.take(), []string{"Event hi [1] ack=false"})

	h2 := &recorder{refuse: func(json.RawMessage) error { return errors.New(`bad "user"`) }}
	_, f2 := newSocket(t, 3, h2, Options{})
	expect(t, "refused", f2.takeSent(), []string{`4"bad \"user\""`})
}

func connected(t *testing.T, proto int, h *recorder) (*Socket, *fakeSession) {
	t.Helper()
	s, f := newSocket(t, proto, h, Options{})
	if proto == 4 {
		feed(s, "0")
	}
	f.takeSent()
	h.take()
	return s, f
}

func TestEventsAndAcks(t *testing.T) {
	h := &recorder{}
	var acks []error
	h.onEvent = func(s *Socket, name string, args []json.RawMessage, ack Ack) {
		if ack != nil {
			acks = append(acks, ack("ok", len(args)), ack("twice"))
		}
	}
	s, f := connected(t, 4, h)
	feed(s,
		`2["message",1,"2",{"3":[true]}]`,
		`2456["message-with-ack",1,"2",{"3":[false]}]`,
		`20["zero"]`,
		`2/other,["ignored"]`,
		`2[7,"n"]`,
	)
	expect(t, "calls", h.take(), []string{
		`Event message [1,"2",{"3":[true]}] ack=false`,
		`Event message-with-ack [1,"2",{"3":[false]}] ack=true`,
		`Event zero [] ack=true`,
		`Event 7 ["n"] ack=false`,
	})
	expect(t, "sent", f.takeSent(), []string{`3456["ok",3]`, `30["ok",0]`})
	if len(acks) != 4 || acks[0] != nil || acks[1] == nil || !strings.Contains(acks[1].Error(), "already sent") {
		t.Errorf("ack results %v: want nil then an 'already sent' error", acks)
	}
}

func TestBinaryEvent(t *testing.T) {
	h := &recorder{}
	h.onEvent = func(s *Socket, name string, args []json.RawMessage, ack Ack) {
		var n []int
		for _, a := range s.Attachments() {
			n = append(n, len(a))
		}
		ack(n, s.Attachments()[1])
	}
	s, f := connected(t, 4, h)
	feed(s, `52-9["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	expect(t, "calls before attachments", h.take(), nil)
	s.onMessage([]byte{1, 2, 3}, true)
	s.onMessage([]byte{4, 5}, true)
	expect(t, "calls", h.take(), []string{`Event up [{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}] ack=true`})
	expect(t, "sent", f.takeSent(), []string{`61-9[[3,2],{"_placeholder":true,"num":0}]`, "<binary 0405>"})
	if s.Attachments() != nil {
		t.Error("attachments kept after the event")
	}
}

func TestProtocolErrors(t *testing.T) {
	tests := []struct {
		name  string
		proto int
		in    []msg
	}{
		{"unknown type", 4, []msg{text("9")}},
		{"invalid payload", 4, []msg{text("2{}")}},
		{"invalid ack id", 4, []msg{text(`2abc["m"]`)}},
		{"reserved event", 4, []msg{text(`2["disconnect"]`)}},
		{"CONNECT_ERROR from client", 4, []msg{text(`4{"message":"x"}`)}},
		{"lying attachment count", 4, []msg{text(`5100-["m"]`)}},
		{"text instead of attachment", 4, []msg{text(`51-["m"]`), text(`2["m"]`)}},
		{"stray binary", 4, []msg{bin("x")}},
		{"v4 invalid payload", 3, []msg{text("2{}")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &recorder{}
			s, f := connected(t, tt.proto, h)
			for _, m := range tt.in {
				s.onMessage(m.b(), m.binary)
			}
			if !f.isClosed() {
				t.Fatal("session not closed")
			}
			feed(s, `2["after"]`) // the session may deliver what was in flight
			s.onClose("forced close")
			expect(t, "calls", h.take(), []string{"Disconnect parse error"})
			if err := s.Emit("x"); !errors.Is(err, ErrClosed) {
				t.Errorf("Emit after close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestEventBeforeConnect(t *testing.T) {
	for _, in := range []string{`2["m"]`, `31[]`, "1"} {
		h := &recorder{}
		s, f := newSocket(t, 4, h, Options{})
		feed(s, in)
		if !f.isClosed() {
			t.Errorf("%s before CONNECT did not close the session", in)
		}
		s.onClose("forced close")
		expect(t, "calls", h.take(), nil)
	}
}

func TestDisconnects(t *testing.T) {
	// The client leaves "/" and the session stays open, as with the
	// official server: the client may connect again on it, to a new socket.
	t.Run("client, then again", func(t *testing.T) {
		for _, proto := range []int{3, 4} {
			h := &recorder{}
			s, f := connected(t, proto, h)
			next := s.onMessage([]byte("1"), false)
			expect(t, "calls", h.take(), []string{"Disconnect client namespace disconnect"})
			if f.isClosed() {
				t.Fatalf("protocol %d: session closed by the client's DISCONNECT", proto)
			}
			if next == s {
				t.Fatalf("protocol %d: the disconnected socket takes the next message", proto)
			}
			if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
				t.Errorf("Emit on the disconnected socket = %v, want ErrClosed", err)
			}
			if err := next.Emit("early"); !errors.Is(err, ErrNotConnected) {
				t.Errorf("Emit before the new CONNECT = %v, want ErrNotConnected", err)
			}
			next = next.onMessage([]byte(`0{"again":1}`), false)
			want := `0{"sid":"` + next.ID() + `"}`
			if proto == 3 {
				want = "0"
			}
			expect(t, "sent", f.takeSent(), []string{want})
			if next.ID() == s.ID() {
				t.Error("the new socket has the old socket's id")
			}
			feed(next, `2["x"]`)
			next.onClose("transport close")
			payload := `{"again":1}`
			if proto == 3 {
				payload = "" // protocol v4 has no CONNECT payload
			}
			expect(t, "calls", h.take(), []string{"Connect " + payload, "Connected", "Event x [] ack=false", "Disconnect transport close"})
		}
	})
	t.Run("client, then nothing", func(t *testing.T) {
		h := &recorder{}
		s, f := newSocket(t, 4, h, Options{ConnectTimeout: 50 * time.Millisecond})
		feed(s, "0")
		next := s.onMessage([]byte("1"), false)
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Fatal("a session left without a socket was not closed after the connect timeout")
		}
		next.onClose("forced close")
		expect(t, "calls", h.take(), []string{"Connect ", "Connected", "Disconnect client namespace disconnect"})
	})
	t.Run("transport", func(t *testing.T) {
		for _, reason := range []string{"transport close", "ping timeout", "transport error"} {
			h := &recorder{}
			s, _ := connected(t, 4, h)
			s.onClose(reason)
			expect(t, "calls", h.take(), []string{"Disconnect " + reason})
			if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
				t.Errorf("Emit after close = %v, want ErrClosed", err)
			}
		}
	})
	t.Run("server", func(t *testing.T) {
		for _, proto := range []int{3, 4} {
			h := &recorder{}
			s, f := connected(t, proto, h)
			s.Disconnect()
			s.Disconnect()
			expect(t, "sent", f.takeSent(), []string{"1"})
			if !f.isClosed() {
				t.Error("session left open")
			}
			if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
				t.Errorf("Emit after Disconnect = %v, want ErrClosed", err)
			}
			feed(s, `2["in flight"]`)
			s.onClose("forced close")
			expect(t, "calls", h.take(), []string{"Disconnect server namespace disconnect"})
		}
	})
	// Drop: the session closes with no DISCONNECT (which would keep the client away).
	t.Run("drop", func(t *testing.T) {
		h := &recorder{}
		s, f := connected(t, 4, h)
		s.Drop()
		s.Drop()
		expect(t, "sent", f.takeSent(), nil)
		if !f.isClosed() {
			t.Error("session left open")
		}
		s.onClose("forced close")
		expect(t, "calls", h.take(), []string{"Disconnect forced close"})
	})
	t.Run("drop, from Connect", func(t *testing.T) {
		h := &recorder{onConn: func(s *Socket) { s.Drop() }}
		s, f := newSocket(t, 4, h, Options{})
		feed(s, `0{"userId":1}`)
		expect(t, "sent", f.takeSent(), nil) // neither CONNECT nor CONNECT_ERROR
		if !f.isClosed() {
			t.Error("session left open")
		}
		s.onClose("forced close")
		expect(t, "calls", h.take(), []string{`Connect {"userId":1}`})
	})
	t.Run("server, from Connect", func(t *testing.T) {
		h := &recorder{onConn: func(s *Socket) { s.Disconnect() }}
		s, f := newSocket(t, 4, h, Options{})
		feed(s, "0")
		expect(t, "sent", f.takeSent(), nil)
		s.onClose("forced close")
		expect(t, "calls", h.take(), []string{"Connect "})
	})
}

func TestSendBeforeConnected(t *testing.T) {
	var err error
	h := &recorder{onConn: func(s *Socket) { err = s.Emit("early") }}
	s, f := newSocket(t, 4, h, Options{})
	feed(s, "0")
	if !errors.Is(err, ErrNotConnected) {
		t.Errorf("Emit during Connect = %v, want ErrNotConnected", err)
	}
	expect(t, "sent", f.takeSent(), []string{`0{"sid":"` + s.ID() + `"}`})
}

func TestEmitWithAck(t *testing.T) {
	h := &recorder{}
	s, f := connected(t, 4, h)
	var replies []string
	reply := func(args []json.RawMessage, err error) {
		replies = append(replies, fmt.Sprintf("%s %v", joinRaw(args), err))
	}
	if err := s.EmitWithAck("q", reply, 1); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitWithAck("r", reply); err != nil {
		t.Fatal(err)
	}
	if err := s.EmitWithAck("connect", reply); err == nil {
		t.Error("reserved event name accepted")
	}
	expect(t, "sent", f.takeSent(), []string{`20["q",1]`, `21["r"]`})
	feed(s, `30["a",{"b":2}]`, `30["again"]`, `399[]`)
	expect(t, "replies", replies, []string{`["a",{"b":2}] <nil>`})
	s.onClose("transport close")
	if len(replies) != 2 || !strings.HasSuffix(replies[1], "socket closed") {
		t.Errorf("pending ack after close: %q", replies)
	}
	if err := s.EmitWithAck("q", reply); !errors.Is(err, ErrClosed) {
		t.Errorf("EmitWithAck after close = %v", err)
	}
}

func TestEmitWithAckBound(t *testing.T) {
	s, _ := connected(t, 4, &recorder{})
	nop := func([]json.RawMessage, error) {}
	for i := range maxPendingAcks {
		if err := s.EmitWithAck("q", nop); err != nil {
			t.Fatalf("ack %d: %v", i, err)
		}
	}
	if err := s.EmitWithAck("q", nop); err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("ack beyond the bound: %v", err)
	}
	feed(s, "30[]")
	if err := s.EmitWithAck("q", nop); err != nil {
		t.Fatalf("after one answer: %v", err)
	}
}

func TestConnectTimeout(t *testing.T) {
	for _, tc := range []struct {
		name   string
		proto  int
		refuse bool
	}{
		{"v5 without CONNECT", 4, false},
		{"v5 refused", 4, true},
		{"v4 refused", 3, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &recorder{}
			if tc.refuse {
				h.refuse = func(json.RawMessage) error { return errors.New("no") }
			}
			s, f := newSocket(t, tc.proto, h, Options{ConnectTimeout: 10 * time.Millisecond})
			if tc.proto == 4 && tc.refuse {
				feed(s, "0")
			}
			select {
			case <-f.done:
			case <-time.After(5 * time.Second):
				t.Fatal("session not closed after the connect timeout")
			}
			s.onClose("forced close")
			if tc.refuse {
				expect(t, "calls", h.take(), []string{"Connect "})
			} else {
				expect(t, "calls", h.take(), nil)
			}
		})
	}
	t.Run("connected in time", func(t *testing.T) {
		s, f := newSocket(t, 4, &recorder{}, Options{ConnectTimeout: time.Hour})
		feed(s, "0")
		s.connectTimedOut() // a timer that fired while CONNECT was handled
		if f.isClosed() {
			t.Fatal("connected socket closed by the connect timeout")
		}
	})
}

// One encoded packet is shared by every socket it is sent to.
func TestSendSharesBytes(t *testing.T) {
	p, err := EncodeEvent("message", json.RawMessage(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	var fakes []*fakeSession
	for range 3 {
		s, f := connected(t, 4, &recorder{})
		if err := s.Send(p); err != nil {
			t.Fatal(err)
		}
		fakes = append(fakes, f)
	}
	for _, f := range fakes {
		if len(f.packets) != 2 || f.packets[1] != p || &f.packets[1].text[0] != &p.text[0] {
			t.Fatal("packet copied or re-encoded per socket")
		}
	}
}

// Send, Emit and Disconnect race with the session's own close; run with -race.
func TestConcurrentSendAndClose(t *testing.T) {
	for range 20 {
		h := &recorder{}
		s, _ := connected(t, 4, h)
		p, _ := EncodeEvent("m", 1)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for range 50 {
					switch i {
					case 0:
						s.Send(p)
					case 1:
						s.Emit("e", "x")
					case 2:
						s.EmitWithAck("a", func([]json.RawMessage, error) {}, 1)
					default:
						s.SetData(i)
						s.Data()
					}
				}
			})
		}
		wg.Go(func() { s.Disconnect() })
		wg.Go(func() { feed(s, `2["x"]`, "30[]") })
		wg.Wait()
		s.onClose("forced close")
		calls := h.take()
		if n := strings.Count(strings.Join(calls, "\n"), "Disconnect"); n != 1 {
			t.Fatalf("Disconnect called %d times: %q", n, calls)
		}
	}
}

// An application that holds its own lock around Send, and takes it again in
// Disconnect, must not deadlock when that Send closes the session.
func TestCloseInsideSend(t *testing.T) {
	var appMu sync.Mutex
	gone := make(chan string, 1)
	h := &lockingHandler{mu: &appMu, gone: gone}
	s, f := newSocket(t, 4, h, Options{})
	feed(s, "0")
	f.mu.Lock()
	f.overflow = func() { s.onClose("slow client") }
	f.mu.Unlock()

	appMu.Lock()
	err := s.Emit("m", 1)
	appMu.Unlock()
	if err == nil {
		t.Error("Emit into an overflowing session succeeded")
	}
	select {
	case reason := <-gone:
		if reason != "slow client" {
			t.Errorf("Disconnect reason %q, want slow client", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Disconnect never came (deadlock?)")
	}
	if err := s.Emit("m"); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after close = %v, want ErrClosed", err)
	}
}

type lockingHandler struct {
	mu   *sync.Mutex
	gone chan string
}

func (h *lockingHandler) Connect(*Socket, json.RawMessage) error        { return nil }
func (h *lockingHandler) Connected(*Socket)                             {}
func (h *lockingHandler) Event(*Socket, string, []json.RawMessage, Ack) {}
func (h *lockingHandler) Disconnect(s *Socket, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gone <- reason
}
