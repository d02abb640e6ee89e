package socketio

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// msg is one Engine.IO message as the session hands it over.
type msg struct {
	data   string
	binary bool
}

func text(s string) msg { return msg{s, false} }
func bin(s string) msg  { return msg{s, true} }
func (m msg) b() []byte { return []byte(m.data) }

func TestReassembler(t *testing.T) {
	tests := []struct {
		name string
		in   []msg
		// want lists, per message, the completed packet's event name or
		// ack id ("" when the message completed nothing).
		want    []string
		binary  [][]byte // attachments of the last completed packet
		wantErr string   // error expected on the last message
	}{
		{
			name: "plain event",
			in:   []msg{text(`2["a"]`)},
			want: []string{"a"},
		},
		{
			name:   "one attachment",
			in:     []msg{text(`51-["up",{"_placeholder":true,"num":0}]`), bin("\x01\x02\x03")},
			want:   []string{"", "up"},
			binary: [][]byte{{1, 2, 3}},
		},
		{
			name:   "two attachments then a plain event",
			in:     []msg{text(`52-["m",{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`), bin("a"), bin("bc"), text(`2["next"]`)},
			want:   []string{"", "", "m", "next"},
			binary: nil,
		},
		{
			name:   "empty attachment",
			in:     []msg{text(`51-["e",{"_placeholder":true,"num":0}]`), bin("")},
			want:   []string{"", "e"},
			binary: [][]byte{{}},
		},
		{
			name:    "text while waiting for attachments",
			in:      []msg{text(`52-["m",{"_placeholder":true,"num":0}]`), bin("a"), text(`2["m"]`)},
			want:    []string{"", ""},
			wantErr: "text message while waiting for 1 more attachments",
		},
		{
			name:    "binary with nothing to attach to",
			in:      []msg{bin("abc")},
			wantErr: "binary message without a binary packet",
		},
		{
			name:    "binary after a completed packet",
			in:      []msg{text(`51-["m"]`), bin("a"), bin("b")},
			want:    []string{"", "m"},
			wantErr: "binary message without a binary packet",
		},
		{
			name:    "lying attachment count",
			in:      []msg{text(`5999-["m"]`)},
			wantErr: "too many attachments",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := reassembler{max: DefaultMaxAttachments}
			var last *packet
			for i, m := range tt.in {
				in := m.b()
				p, err := r.feed(in, m.binary)
				for j := range in { // the session reuses its buffer
					in[j] = 0xff
				}
				if i == len(tt.in)-1 && tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, errInvalidPacket) {
						t.Fatalf("message %d: error %v, want %q", i, err, tt.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				got := ""
				if p != nil {
					got = p.name
					last = p
				}
				if got != tt.want[i] {
					t.Errorf("message %d completed %q, want %q", i, got, tt.want[i])
				}
			}
			if tt.binary != nil && !reflect.DeepEqual(last.binary, tt.binary) {
				t.Errorf("attachments %q, want %q", last.binary, tt.binary)
			}
			if r.waiting() != 0 {
				t.Errorf("still waiting for %d attachments", r.waiting())
			}
		})
	}
}

// A packet announcing the limit holds at most that many attachments; one
// more message is refused, not stored.
func TestReassemblerBound(t *testing.T) {
	r := reassembler{max: 2}
	if _, err := r.feed([]byte(`53-["m"]`), false); err == nil {
		t.Fatal("3 attachments accepted with a limit of 2")
	}
	if _, err := r.feed([]byte(`52-["m"]`), false); err != nil {
		t.Fatal(err)
	}
	if r.waiting() != 2 {
		t.Fatalf("waiting %d, want 2", r.waiting())
	}
	r.feed([]byte("a"), true)
	p, err := r.feed([]byte("b"), true)
	if err != nil || p == nil || len(p.binary) != 2 || cap(p.binary) != 2 {
		t.Fatalf("got %+v, %v", p, err)
	}
}
