package legacy

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pushinator/pushinator/internal/wire"
)

func msDuration(ms int) time.Duration { return time.Duration(ms) * time.Millisecond }

func TestDecodePacket(t *testing.T) {
	tests := []struct {
		in   string
		want packet
		err  bool
	}{
		{in: "0::", want: packet{typ: ptDisconnect}},
		{in: "0::/chat", want: packet{typ: ptDisconnect, endpoint: "/chat"}},
		{in: "1::", want: packet{typ: ptConnect}},
		{in: "1::/test:?my=param", want: packet{typ: ptConnect, endpoint: "/test", data: []byte("?my=param")}},
		{in: "2::", want: packet{typ: ptHeartbeat}},
		{in: "2:::", want: packet{typ: ptHeartbeat, data: []byte{}}},
		{in: "3:::hello", want: packet{typ: ptMessage, data: []byte("hello")}},
		{in: "3:1::blabla", want: packet{typ: ptMessage, id: "1", data: []byte("blabla")}},
		{in: "3:::a:b:c", want: packet{typ: ptMessage, data: []byte("a:b:c")}},
		{in: "4:1::{\"a\":\"b\"}", want: packet{typ: ptJSON, id: "1", data: []byte(`{"a":"b"}`)}},
		{in: `5:1+::{"name":"auth","args":[5,"x"]}`, want: packet{typ: ptEvent, id: "1", ackData: true, data: []byte(`{"name":"auth","args":[5,"x"]}`)}},
		{in: `5:::{"name":"a"}`, want: packet{typ: ptEvent, data: []byte(`{"name":"a"}`)}},
		{in: "6:::4", want: packet{typ: ptAck, data: []byte("4")}},
		{in: `6:::4+["A","B"]`, want: packet{typ: ptAck, data: []byte(`4+["A","B"]`)}},
		{in: "7:::1+0", want: packet{typ: ptError, data: []byte("1+0")}},
		{in: "8::", want: packet{typ: ptNoop}},
		{in: "", err: true},
		{in: "0", err: true},
		{in: "0:", err: true},
		{in: "9::", err: true},
		{in: "a::", err: true},
		{in: "3:x::", err: true},
		{in: "3:+::", err: true},
		{in: "3:1+x::", err: true},
		{in: "3:12345678901234567::", err: true},
		{in: "33::", err: true},
	}
	for _, tt := range tests {
		got, err := decodePacket([]byte(tt.in))
		if tt.err {
			if err == nil {
				t.Errorf("decodePacket(%q) = %+v, want an error", tt.in, got)
			} else if !errors.Is(err, errPacket) {
				t.Errorf("decodePacket(%q) error %v does not wrap errPacket", tt.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodePacket(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodePacket(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestDecodeEvent(t *testing.T) {
	tests := []struct {
		in   string
		name string
		args string
		err  bool
	}{
		{in: `{"name":"auth","args":[5,"x"]}`, name: "auth", args: `[5,"x"]`},
		{in: `{"name":"a"}`, name: "a", args: `null`},
		{in: `{"name":"a","args":[]}`, name: "a", args: `[]`},
		{in: `{"name":"a","args":[{"k":[1,2]},null]}`, name: "a", args: `[{"k":[1,2]},null]`},
		{in: `{"name":1}`, err: true},
		{in: `{"name":"a","args":{}}`, err: true},
		{in: `not json`, err: true},
		{in: ``, err: true},
	}
	for _, tt := range tests {
		ev, err := decodeEvent([]byte(tt.in))
		if tt.err {
			if err == nil {
				t.Errorf("decodeEvent(%q) = %+v, want an error", tt.in, ev)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodeEvent(%q): %v", tt.in, err)
			continue
		}
		args, _ := json.Marshal(ev.Args)
		if ev.Name != tt.name || string(args) != tt.args {
			t.Errorf("decodeEvent(%q) = %q %s, want %q %s", tt.in, ev.Name, args, tt.name, tt.args)
		}
	}
}

func TestAppendPayload(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"1::"}, "1::"},
		{[]string{"1::", "3:::hi"}, "\ufffd3\ufffd1::\ufffd6\ufffd3:::hi"},
		{[]string{"3:::😀", "8::"}, "\ufffd6\ufffd3:::😀\ufffd3\ufffd8::"},
		{[]string{"3:::\ufffd"}, "3:::\ufffd"},
	}
	for _, tt := range tests {
		var pkts []outPacket
		for _, p := range tt.in {
			pkts = append(pkts, outPacket{data: []byte(p)})
		}
		if got := string(appendPayload(nil, pkts)); got != tt.want {
			t.Errorf("appendPayload(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "2::", want: []string{"2::"}},
		{in: "\ufffd3\ufffd2::", want: []string{"2::"}},
		{in: "\ufffd3\ufffd2::\ufffd9\ufffd3:::hello", want: []string{"2::", "3:::hello"}},
		{in: "\ufffd6\ufffd3:::😀\ufffd3\ufffd8::", want: []string{"3:::😀", "8::"}},
		{in: "\ufffd5\ufffd3:::\ufffd", want: []string{"3:::\ufffd"}}, // U+FFFD inside a packet
		{in: "\ufffd5\ufffd3:::😀", err: true},                         // the length splits a surrogate pair
		{in: "\ufffd9\ufffd2::", err: true},                           // shorter than announced
		{in: "\ufffd\ufffd2::", err: true},                            // no length
		{in: "\ufffd3x\ufffd2::", err: true},
		{in: "\ufffd3\ufffd2::x", err: true}, // trailing bytes outside a frame
		{in: "\ufffd12345678901\ufffd", err: true},
		{in: "\ufffd3", err: true},
		{in: "\ufffd", err: true},
	}
	for _, tt := range tests {
		var got []string
		err := decodePayload([]byte(tt.in), func(p []byte) error {
			got = append(got, string(p))
			return nil
		})
		if tt.err {
			if err == nil {
				t.Errorf("decodePayload(%q) = %q, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("decodePayload(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("decodePayload(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDecodePayloadStopsAtError(t *testing.T) {
	stop := errors.New("stop")
	n := 0
	err := decodePayload([]byte("\ufffd3\ufffd2::\ufffd3\ufffd2::"), func([]byte) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("got %v after %d packets, want stop after 1", err, n)
	}
}

func TestEncodeMessage(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"a":1}`, `3:::{"a":1}`},
		{``, `3:::`},
		{"line\nbreak", "3:::line\nbreak"},
		{"héllo 😀", "3:::héllo 😀"},
		{"a\xffb\xc3", "3:::a\ufffdb\ufffd"},
	}
	for _, tt := range tests {
		if got := EncodeMessage([]byte(tt.in)).String(); got != tt.want {
			t.Errorf("EncodeMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncodeEvent(t *testing.T) {
	tests := []struct {
		name string
		args []any
		want string
	}{
		{"message", []any{"hi"}, `5:::{"name":"message","args":["hi"]}`},
		{"news", nil, `5:::{"name":"news"}`},
		{"m", []any{json.RawMessage(`{"a": 1}`), 2, nil}, `5:::{"name":"m","args":[{"a":1},2,null]}`},
		{"<tag>", []any{"&"}, `5:::{"name":"\u003ctag\u003e","args":["\u0026"]}`},
	}
	for _, tt := range tests {
		p, err := EncodeEvent(tt.name, tt.args...)
		if err != nil {
			t.Errorf("EncodeEvent(%q): %v", tt.name, err)
			continue
		}
		if p.String() != tt.want {
			t.Errorf("EncodeEvent(%q, %v) = %s, want %s", tt.name, tt.args, p, tt.want)
		}
	}
	if _, err := EncodeEvent("bad", func() {}); err == nil {
		t.Error("EncodeEvent with a func argument: no error")
	}
	if _, err := EncodeEvent("bad", json.RawMessage(`{`)); err == nil {
		t.Error("EncodeEvent with invalid raw JSON: no error")
	}
}

func TestAppendAck(t *testing.T) {
	tests := []struct {
		id   string
		args []any
		want string
	}{
		{"1", []any{map[string]any{"ok": true}}, `6:::1+[{"ok":true}]`},
		{"12", nil, `6:::12+[]`},
		{"3", []any{"a", 1}, `6:::3+["a",1]`},
	}
	for _, tt := range tests {
		b, err := appendAck(nil, tt.id, tt.args)
		if err != nil || string(b) != tt.want {
			t.Errorf("appendAck(%s, %v) = %s, %v; want %s", tt.id, tt.args, b, err, tt.want)
		}
	}
}

func TestHandshakeSeconds(t *testing.T) {
	for _, tt := range []struct {
		ms   int
		want string
	}{{60000, "60"}, {1000, "1"}, {1500, "2"}, {10, "1"}} {
		if got := seconds(msDuration(tt.ms)); got != tt.want {
			t.Errorf("seconds(%dms) = %s, want %s", tt.ms, got, tt.want)
		}
	}
}

// encodePacket is the inverse of decodePacket, for the fuzz round trip.
func encodePacket(p packet) []byte {
	b := []byte{p.typ, ':'}
	b = append(b, p.id...)
	if p.ackData {
		b = append(b, '+')
	}
	b = append(b, ':')
	b = append(b, p.endpoint...)
	if p.data != nil {
		b = append(b, ':')
		b = append(b, p.data...)
	}
	return b
}

// framed frames every packet, even a single one.
func framed(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		b = append(b, frameMark...)
		b = strconv.AppendInt(b, int64(wire.UTF16Len(p)), 10)
		b = append(b, frameMark...)
		b = append(b, p...)
	}
	return b
}

func FuzzDecodePacket(f *testing.F) {
	for _, s := range []string{"0::", "1::/test:?a=b", "2::", "3:1::hi", `5:1+::{"name":"a","args":[1]}`, "6:::4+[1]", "7:::1+0", "8::", "3:::a:b", "9::", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := decodePacket(in)
		if err != nil {
			return
		}
		if out := encodePacket(p); !bytes.Equal(out, in) {
			t.Fatalf("decodePacket(%q) re-encodes as %q", in, out)
		}
		if p.typ == ptEvent {
			ev, err := decodeEvent(p.data)
			if err == nil {
				args := make([]any, len(ev.Args))
				for i, a := range ev.Args {
					args[i] = a
				}
				if _, err := EncodeEvent(ev.Name, args...); err != nil {
					t.Fatalf("an event decoded from %q does not encode: %v", in, err)
				}
			}
		}
	})
}

func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"2::", "\ufffd3\ufffd2::\ufffd9\ufffd3:::hello", "\ufffd6\ufffd3:::😀", "\ufffd5\ufffd3:::😀", "\ufffd", "\ufffd3\ufffd2::x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var pkts [][]byte
		if err := decodePayload(in, func(p []byte) error {
			pkts = append(pkts, p)
			return nil
		}); err != nil {
			return
		}
		// Framing what was decoded, then decoding it, gives it back.
		var again [][]byte
		if err := decodePayload(framed(pkts), func(p []byte) error {
			again = append(again, p)
			return nil
		}); err != nil && len(pkts) > 0 {
			t.Fatalf("the framed packets of %q do not decode: %v", in, err)
		}
		if len(pkts) > 0 && !reflect.DeepEqual(again, pkts) {
			t.Fatalf("round trip of %q: %q, then %q", in, pkts, again)
		}
		// appendPayload's output decodes to the same packets when none of
		// them could pass for framing.
		if len(pkts) > 1 {
			var third [][]byte
			if err := decodePayload(appendPayload(nil, outPackets(pkts)), func(p []byte) error {
				third = append(third, p)
				return nil
			}); err != nil || !reflect.DeepEqual(third, pkts) {
				t.Fatalf("appendPayload round trip of %q: %q, %v", in, third, err)
			}
		}
	})
}

func FuzzReadPacket(f *testing.F) {
	for _, s := range []string{`5:1+::{"name":"auth","args":[5,"x"]}`, `5:::{"name":"a"}`, "3:7::hi", `4:::{"a":[1]}`, "4:::{", "1::/chat:?x=1", `5:::{"name":"a","args":[null,{}]}`, `5:::{"name":1}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := readPacket(in)
		if err != nil {
			if !errors.Is(err, errPacket) {
				t.Fatalf("readPacket(%q): error %v does not wrap errPacket", in, err)
			}
			return
		}
		for _, a := range r.args {
			if !json.Valid(a) {
				t.Fatalf("readPacket(%q): argument %q is not JSON", in, a)
			}
		}
		isMessage := r.p.typ == ptMessage || r.p.typ == ptJSON
		if isMessage && r.p.endpoint == "" && (r.name != "message" || len(r.args) != 1) {
			t.Fatalf("readPacket(%q) = %q %q, want the message as one argument", in, r.name, r.args)
		}
	})
}

func FuzzDecodeJSONPForm(f *testing.F) {
	for _, s := range []string{`d=%222%3A%3A%22`, "d=%22%5Cufffd3%5Cufffd2%3A%3A%22", "d=notjson", "x=1", "d=%22a%22&d=%22b%22", "%zz"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		payload, err := decodeJSONPForm(in)
		if err != nil {
			return
		}
		// What the 0.9 client would post for this payload decodes the same.
		d, _ := json.Marshal(string(payload))
		again, err := decodeJSONPForm([]byte("d=" + url.QueryEscape(string(d))))
		if err != nil || !bytes.Equal(again, payload) && utf8.Valid(payload) {
			t.Fatalf("decodeJSONPForm(%q) = %q; re-posted: %q, %v", in, payload, again, err)
		}
	})
}

func outPackets(pkts [][]byte) []outPacket {
	out := make([]outPacket, len(pkts))
	for i, p := range pkts {
		out[i].data = p
	}
	return out
}
