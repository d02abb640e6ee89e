package socketio

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name  string
		event string
		args  []any
		want  string
		atts  [][]byte
	}{
		{"no args", "ping", nil, `2["ping"]`, nil},
		{"string", "message", []any{"hi"}, `2["message","hi"]`, nil},
		{"raw object", "message", []any{json.RawMessage(`{"a": [1, 2]}`)}, `2["message",{"a":[1,2]}]`, nil},
		{"raw string", "message", []any{json.RawMessage(`"x"`)}, `2["message","x"]`, nil},
		{"several", "m", []any{1, "2", map[string]any{"3": []bool{true}}}, `2["m",1,"2",{"3":[true]}]`, nil},
		{"html is not escaped", "m", []any{"<b>&</b>"}, `2["m","<b>&</b>"]`, nil},
		{"unicode", "é", []any{"日本"}, `2["é","日本"]`, nil},
		{"nil", "m", []any{nil}, `2["m",null]`, nil},
		{"binary", "file", []any{"name", []byte{1, 2, 3}}, `51-["file","name",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3}}},
		{"two binaries", "f", []any{[]byte{1}, []byte{}}, `52-["f",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1}, {}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeEvent(tt.event, tt.args...)
			if err != nil {
				t.Fatalf("EncodeEvent: %v", err)
			}
			if p.String() != tt.want {
				t.Errorf("EncodeEvent = %s, want %s", p, tt.want)
			}
			if !reflect.DeepEqual(p.attachments, tt.atts) {
				t.Errorf("attachments = %v, want %v", p.attachments, tt.atts)
			}
			// What we encode, we (and the official parser) decode.
			r := reassembler{max: DefaultMaxAttachments}
			got, err := r.feed(p.text, false)
			for _, a := range p.attachments {
				if err != nil {
					break
				}
				got, err = r.feed(a, true)
			}
			if err != nil || got == nil {
				t.Fatalf("decoding our own packet: %v, %v", got, err)
			}
			if got.name != tt.event || len(got.args) != len(tt.args) {
				t.Errorf("decoded %+v", got)
			}
		})
	}
}

func TestEncodeEventErrors(t *testing.T) {
	tests := []struct {
		name  string
		event string
		args  []any
		want  string
	}{
		{"reserved", "connect", nil, `socketio: encode event "connect": reserved event name`},
		{"reserved disconnect", "disconnect", nil, "reserved event name"},
		{"func", "m", []any{1, func() {}}, `socketio: encode event "m": argument 1: json: unsupported type: func()`},
		{"NaN", "m", []any{math.NaN()}, "argument 0: json: unsupported value: NaN"},
		{"bad raw", "m", []any{json.RawMessage(`{`)}, "argument 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodeEvent(tt.event, tt.args...)
			if err == nil {
				t.Fatalf("EncodeEvent = %s, want error", p)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEncodeControlPackets(t *testing.T) {
	ack := func(id uint64, args ...any) string {
		p, err := encodeAck(id, args)
		if err != nil {
			t.Fatal(err)
		}
		return p.String()
	}
	ev := func(id uint64, args ...any) string {
		p, err := encodeEvent("e", id, true, args)
		if err != nil {
			t.Fatal(err)
		}
		return p.String()
	}
	tests := []struct{ got, want string }{
		{connectReply(5, "abc", "").String(), `0{"sid":"abc"}`},
		{connectReply(5, "abc", "p1").String(), `0{"sid":"abc","pid":"p1"}`},
		{connectReply(4, "abc", "p1").String(), `0`},
		{connectError(5, "/", "not authorized").String(), `4{"message":"not authorized"}`},
		{connectError(4, "/", `say "no"`).String(), `4"say \"no\""`},
		{connectError(5, "/random", "Invalid namespace").String(), `4/random,{"message":"Invalid namespace"}`},
		{connectError(4, "/random", "Invalid namespace").String(), `4/random,"Invalid namespace"`},
		{disconnectPacket().String(), `1`},
		{ack(456, 1, "2", map[string][]bool{"3": {false}}), `3456[1,"2",{"3":[false]}]`},
		{ack(0), `30[]`},
		{ack(789, []byte{1}, []byte{2}), `62-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`},
		{ev(3, "x"), `23["e","x"]`},
		{ev(4, []byte{1}), `51-4["e",{"_placeholder":true,"num":0}]`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}

var benchSink any

func BenchmarkEncodeEvent(b *testing.B) {
	msg := json.RawMessage(`{"title":"New message","body":"Hello, how are you today?","id":123456,"tags":["a","b"]}`)
	b.ReportAllocs()
	for b.Loop() {
		p, err := EncodeEvent("message", msg, "1234567")
		if err != nil {
			b.Fatal(err)
		}
		benchSink = p
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	in := []byte(`2["message",{"title":"New message","body":"Hello, how are you today?","id":123456,"tags":["a","b"]}]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p, err := decodePacket(in, DefaultMaxAttachments)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = p.args
	}
}

func BenchmarkDecodeAckedEvent(b *testing.B) {
	in := []byte(`212["auth",5,"xxx1234"]`)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		p, err := decodePacket(in, DefaultMaxAttachments)
		if err != nil {
			b.Fatal(err)
		}
		benchSink = p.args
	}
}

// nopSession accepts every packet and keeps nothing.
type nopSession struct{}

func (nopSession) ID() string               { return "nop" }
func (nopSession) Protocol() int            { return 4 }
func (nopSession) SendPacket(*Packet) error { return nil }
func (nopSession) Close()                   {}

// BenchmarkSendShared measures the per-socket cost of a push encoded once.
func BenchmarkSendShared(b *testing.B) {
	srv := NewServer(Options{ConnectTimeout: -1}, &recorder{})
	s := srv.open(nopSession{}, nil)
	s.onMessage([]byte("0"), false)
	p, err := EncodeEvent("message", json.RawMessage(`{"text":"hello"}`))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Send(p); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzEncodeEvent: the direct writing of strings and compact JSON, and of ValidJSON, gives
// exactly what encoding/json (HTML characters unescaped) gives; invalid JSON is refused.
func FuzzEncodeEvent(f *testing.F) {
	f.Add("message", `{"title":"New message","tags":["a","b"]}`, "1234")
	f.Add("news", ` { "a" : 1 } `, "")
	f.Add("é\u2028<>&", `"\u2028<b>"`, "x\"y\\")
	f.Add("m", `{"a":`, "\x7f\x00")
	f.Fuzz(func(t *testing.T, event, data, offset string) {
		if reservedEvents[event] {
			return
		}
		p, err := EncodeEvent(event, json.RawMessage(data), offset)
		if !json.Valid([]byte(data)) {
			if err == nil {
				t.Fatalf("EncodeEvent with invalid JSON %q gave %s", data, p)
			}
			return
		}
		var want strings.Builder
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.Encode([]any{event, json.RawMessage(data), offset})
		if err != nil || p.String() != "2"+strings.TrimSuffix(want.String(), "\n") {
			t.Fatalf("EncodeEvent(%q, %q, %q) = %v, %v; encoding/json gives 2%s", event, data, offset, p, err, want.String())
		}
		if v, err := EncodeEvent(event, ValidJSON(data), offset); err != nil || v.String() != p.String() {
			t.Fatalf("EncodeEvent(%q, ValidJSON(%q), %q) = %v, %v; want %v", event, data, offset, v, err, p)
		}
		// Engine.IO v3 polling: the same values, in ASCII; other transports and protocols:
		// the packet's own text.
		ascii := p.msgsFor(3, "polling")[0].Data
		var got, want2 any
		if !isASCII(ascii) || ascii[0] != '2' || json.Unmarshal(ascii[1:], &got) != nil || json.Unmarshal(p.text[1:], &want2) != nil || !reflect.DeepEqual(got, want2) {
			t.Fatalf("the v3 polling form of %s is %s", p, ascii)
		}
		if &p.msgsFor(3, "websocket")[0] != &p.msgs[0] || &p.msgsFor(4, "polling")[0] != &p.msgs[0] {
			t.Fatalf("a v3 WebSocket or v4 session does not get the packet's own text")
		}
	})
}

func TestASCIIForm(t *testing.T) {
	p, _ := EncodeEvent("message", ValidJSON(`{"t":"héllo — 世界 🎉\u00e9","n":1}`), "7")
	want := `2["message",{"t":"h\u00e9llo \u2014 \u4e16\u754c \ud83c\udf89\u00e9","n":1},"7"]`
	if got := string(p.msgsFor(3, "polling")[0].Data); got != want {
		t.Fatalf("v3 polling form: %s, want %s", got, want)
	}
	if got := string(p.msgsFor(3, "jsonp")[0].Data); got != want {
		t.Fatalf("v3 JSONP form: %s, want %s", got, want)
	}
	plain, _ := EncodeEvent("message", "ascii")
	if &plain.msgsFor(3, "polling")[0] != &plain.msgs[0] {
		t.Fatal("an ASCII packet was copied")
	}
}
