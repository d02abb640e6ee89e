package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var decodeSeeds = []string{
	"0", `0{"token":"123"}`, "0/admin,", "0/admin?x=1,", "1", "1/admin,",
	`2["hello"]`, `2["message",1,"2",{"3":[true]}]`, `2456["m",1]`, `2/admin,7["x"]`,
	`312["ok",{"a":null}]`, `4{"message":"no"}`, `4"no"`, `2[42]`,
	`51-["ev",{"_placeholder":true,"num":0}]`, `52-789["m",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
	`62-/admin,3[{"_placeholder":true,"num":1}]`, `5999-["m"]`, `2abc["m"]`, `42{}`, `2["connect"]`,
	`39007199254740992[]`, `51-["ev",{"_placeholder":true,"num":0.5}]`,
}

// FuzzDecodePacket checks that the decoder never panics, that what it accepts
// has the shape the rest of the package relies on, and that an accepted
// EVENT re-encodes to a packet that decodes to the same event.
func FuzzDecodePacket(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodePacket(in, DefaultMaxAttachments)
		if err != nil {
			return
		}
		if p.typ > typeBinaryAck || p.nsp == "" || p.nsp[0] != '/' {
			t.Fatalf("accepted %q as %+v", in, p)
		}
		isBinary := p.typ == typeBinaryEvent || p.typ == typeBinaryAck
		if isBinary != (p.attachments > 0) || p.attachments > DefaultMaxAttachments {
			t.Fatalf("accepted %q with %d attachments", in, p.attachments)
		}
		if p.id > maxAckID {
			t.Fatalf("accepted ack id %d", p.id)
		}
		for _, a := range p.args {
			if !json.Valid(a) {
				t.Fatalf("argument %q of %q is not JSON", a, in)
			}
		}
		if p.typ != typeEvent || p.nsp != "/" {
			return
		}
		args := make([]any, len(p.args))
		for i, a := range p.args {
			args[i] = a
		}
		q, err := encodeEvent(p.name, p.id, p.hasID, args)
		if err != nil {
			t.Fatalf("re-encoding %q: %v", in, err)
		}
		p2, err := decodePacket(q.text, DefaultMaxAttachments)
		if err != nil {
			t.Fatalf("re-encoded %q as %q, which does not decode: %v", in, q.text, err)
		}
		if p2.name != p.name || p2.id != p.id || len(p2.args) != len(p.args) {
			t.Fatalf("round trip of %q: %+v != %+v", in, p2, p)
		}
		for i := range p.args {
			var c1, c2 bytes.Buffer
			json.Compact(&c1, p.args[i])
			json.Compact(&c2, p2.args[i])
			if !bytes.Equal(c1.Bytes(), c2.Bytes()) {
				t.Fatalf("round trip of %q: argument %d %s != %s", in, i, c2.Bytes(), c1.Bytes())
			}
		}
	})
}

// FuzzReassembler feeds a packet followed by messages cut from a second input;
// binary-flag bits come from a third. It must never panic, never hold more
// than the limit, and never complete a packet with the wrong attachment count.
func FuzzReassembler(f *testing.F) {
	f.Add([]byte(`52-["m",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), []byte("a|bc|2[\"x\"]"), uint16(0b011))
	f.Add([]byte(`51-["up",{"_placeholder":true,"num":0}]`), []byte("\x01\x02"), uint16(0b1))
	f.Add([]byte(`2["a"]`), []byte(`2["b"]|3["c"]`), uint16(0))
	f.Add([]byte(`61-4[{"_placeholder":true,"num":0}]`), []byte("x|y"), uint16(0b11))
	f.Fuzz(func(t *testing.T, first, rest []byte, binaryBits uint16) {
		r := reassembler{max: DefaultMaxAttachments}
		msgs := append([][]byte{first}, bytes.Split(rest, []byte("|"))...)
		for i, m := range msgs {
			binary := i > 0 && binaryBits&(1<<(i-1)) != 0
			p, err := r.feed(m, binary)
			if err != nil {
				return // the session would be closed here
			}
			if r.waiting() > DefaultMaxAttachments {
				t.Fatalf("waiting for %d attachments", r.waiting())
			}
			if p != nil && len(p.binary) != p.attachments {
				t.Fatalf("completed %+v with %d of %d attachments", p, len(p.binary), p.attachments)
			}
		}
	})
}

// FuzzSocket drives a socket with arbitrary messages (cut at '|', binary
// where bits say so) and checks the promises to the Handler: no panic,
// Disconnect exactly once when Connected was called and never otherwise,
// and nothing sent after the session was closed.
func FuzzSocket(f *testing.F) {
	f.Add(false, []byte(`0|2["a",1]|212["b"]|1`), uint16(0))
	f.Add(false, []byte(`0{"x":1}|51-["up",{"_placeholder":true,"num":0}]|\x01|30[]`), uint16(0b100))
	f.Add(true, []byte(`0/admin?x=1,|2["a"]|2{}`), uint16(0))
	f.Add(false, []byte(`2["early"]|0`), uint16(0))
	f.Add(true, []byte(`52-["m",{"_placeholder":true,"num":1}]|a|2["x"]`), uint16(0b10))
	f.Fuzz(func(t *testing.T, v3 bool, in []byte, bits uint16) {
		proto := 4
		if v3 {
			proto = 3
		}
		h := &recorder{}
		h.onEvent = func(s *Socket, name string, args []json.RawMessage, ack Ack) {
			if ack != nil {
				ack(len(args), s.Attachments())
			}
			if name == "bye" {
				s.Disconnect()
			}
			s.EmitWithAck("q", func([]json.RawMessage, error) {})
		}
		s, fk := newSocket(t, proto, h, Options{})
		for i, m := range bytes.Split(in, []byte("|")) {
			if fk.isClosed() {
				break // a real session delivers nothing more once closed
			}
			s.onMessage(m, i < 16 && bits&(1<<i) != 0)
		}
		s.onClose("transport close")
		connected, disconnected := 0, 0
		for _, c := range h.take() {
			switch {
			case c == "Connected":
				connected++
			case strings.HasPrefix(c, "Disconnect "):
				disconnected++
			}
		}
		if connected > 1 || disconnected != connected {
			t.Fatalf("Connected %d times, Disconnect %d times", connected, disconnected)
		}
		if err := s.Emit("late"); !errors.Is(err, ErrClosed) {
			t.Fatalf("Emit after close: %v", err)
		}
	})
}
