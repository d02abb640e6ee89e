package engineio

import (
	"bufio"
	"bytes"
	"io"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestV4Payload(t *testing.T) {
	tests := []struct {
		name string
		pkts []packet
		wire string
	}{
		{"one text", []packet{{typ: ptMessage, data: []byte("hello")}}, "4hello"},
		{"ping", []packet{{typ: ptPing}}, "2"},
		{"batch", []packet{{typ: ptMessage, data: []byte("a")}, {typ: ptMessage, binary: true, data: []byte{1, 2, 3, 4}}, {typ: ptNoop}}, "4a\x1ebAQIDBA==\x1e6"},
		{"empty message", []packet{{typ: ptMessage, data: []byte{}}}, "4"},
		{"utf8", []packet{{typ: ptMessage, data: []byte("é😀")}}, "4é😀"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendV4Payload(nil, tt.pkts)); got != tt.wire {
				t.Fatalf("encode = %q, want %q", got, tt.wire)
			}
			var back []packet
			if err := decodeV4Payload([]byte(tt.wire), func(p packet) error { back = append(back, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if !samePackets(back, tt.pkts) {
				t.Fatalf("decode = %+v, want %+v", back, tt.pkts)
			}
		})
	}
	for _, bad := range []string{"", "abc", "7", "4a\x1e", "b!!!", "\x1e4a"} {
		if err := decodeV4Payload([]byte(bad), func(packet) error { return nil }); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}

func samePackets(a, b []packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].typ != b[i].typ || a[i].binary != b[i].binary || !bytes.Equal(a[i].data, b[i].data) {
			return false
		}
	}
	return true
}

func TestV3StringPayload(t *testing.T) {
	tests := []struct {
		name string
		pkts []packet
		wire string
	}{
		{"one text", []packet{{typ: ptMessage, data: []byte("hello")}}, "6:4hello"},
		{"utf16 units", []packet{{typ: ptMessage, data: []byte("é😀")}}, "4:4é😀"},
		{"binary", []packet{{typ: ptMessage, binary: true, data: []byte{1, 2, 3, 4}}}, "10:b4AQIDBA=="},
		{"batch", []packet{{typ: ptPong, data: []byte("probe")}, {typ: ptNoop}}, "6:3probe1:6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendV3StringPayload(nil, tt.pkts)); got != tt.wire {
				t.Fatalf("encode = %q, want %q", got, tt.wire)
			}
			var back []packet
			if err := decodeV3StringPayload([]byte(tt.wire), func(p packet) error { back = append(back, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if !samePackets(back, tt.pkts) {
				t.Fatalf("decode = %+v, want %+v", back, tt.pkts)
			}
		})
	}
	for _, bad := range []string{"", "6:4hell", "x:4", ":4", "2:9x", "99999999999:4", "3:b9x"} {
		if err := decodeV3StringPayload([]byte(bad), func(packet) error { return nil }); err == nil {
			t.Errorf("decode %q: no error", bad)
		}
	}
}

func TestV3BinaryPayload(t *testing.T) {
	pkts := []packet{
		{typ: ptMessage, binary: true, data: []byte{1, 2, 3}},
		{typ: ptMessage, data: []byte("héllo")},
	}
	want := []byte{1, 4, 0xff, 4, 1, 2, 3, 0, 7, 0xff, '4', 'h', 0xc3, 0xa9, 'l', 'l', 'o'}
	got := appendV3BinaryPayload(nil, pkts)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode = %v, want %v", got, want)
	}
	var back []packet
	if err := decodeV3BinaryPayload(got, func(p packet) error { back = append(back, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if !samePackets(back, pkts) {
		t.Fatalf("decode = %+v", back)
	}
	for _, bad := range [][]byte{{}, {2}, {0, 1}, {0, 5, 0xff, '4'}, {1, 0, 0xff}, {0, 10, 0xff}} {
		if err := decodeV3BinaryPayload(bad, func(packet) error { return nil }); err == nil {
			t.Errorf("decode %v: no error", bad)
		}
	}
}

func TestJSONPForm(t *testing.T) {
	tests := []struct{ field, want string }{
		{`4plain`, "4plain"},
		{`4a\nb`, "4a\nb"},
		{`4a\\nb`, `4a\\nb`}, // an escaped backslash before n stays
		{"4é", "4é"},
	}
	for _, tt := range tests {
		got, err := decodeJSONPForm([]byte(url.Values{"d": {tt.field}}.Encode()))
		if err != nil || string(got) != tt.want {
			t.Errorf("decode %q = %q, %v; want %q", tt.field, got, err, tt.want)
		}
	}
	if _, err := decodeJSONPForm([]byte("x=1")); err == nil {
		t.Error("missing d: no error")
	}
	if got := string(appendJSONP(nil, "3", []byte("1:\"\\\n\u2028\x01"))); got != `___eio[3]("1:\"\\\n\u2028\u0001");` {
		t.Errorf("JSONP = %s", got)
	}
}

func TestWriteFrame(t *testing.T) {
	long := strings.Repeat("x", 70000)
	tests := []struct {
		name  string
		p     packet
		proto uint8
		want  string
	}{
		{"text", packet{typ: ptMessage, data: []byte("hi")}, 4, "\x81\x034hi"},
		{"ping", packet{typ: ptPing}, 4, "\x81\x012"},
		{"v4 binary", packet{typ: ptMessage, binary: true, data: []byte{1, 2}}, 4, "\x82\x02\x01\x02"},
		{"v3 binary", packet{typ: ptMessage, binary: true, data: []byte{1, 2}}, 3, "\x82\x03\x04\x01\x02"},
		{"16-bit length", packet{typ: ptMessage, data: []byte(long[:200])}, 4, "\x81\x7e\x00\xc9" + "4" + long[:200]},
		{"64-bit length", packet{typ: ptMessage, data: []byte(long)}, 4, "\x81\x7f\x00\x00\x00\x00\x00\x01\x11\x71" + "4" + long},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		bw := bufio.NewWriter(&b)
		writeFrame(bw, tt.p, tt.proto)
		bw.Flush()
		if b.String() != tt.want {
			t.Errorf("%s: frame %q..., want %q...", tt.name, trunc(b.String()), trunc(tt.want))
		}
	}
}

func trunc(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

func TestParseQuery(t *testing.T) {
	q, _ := url.ParseQuery("EIO=3&transport=polling&sid=abc&j=1x2&b64=1")
	rq := parseQuery(q)
	if rq.eio != 3 || rq.transport != "polling" || rq.sid != "abc" || !rq.jsonp || rq.j != "12" || !rq.b64 {
		t.Errorf("parseQuery = %+v", rq)
	}
	q, _ = url.ParseQuery("EIO=4&transport=websocket")
	if rq := parseQuery(q); rq.eio != 4 || rq.jsonp || rq.b64 {
		t.Errorf("parseQuery = %+v", rq)
	}
}

// Fuzz targets: decoders must never panic, and what they accept must
// re-encode to something that decodes to the same packets.

func FuzzDecodeV4Packet(f *testing.F) {
	for _, s := range []string{"4hello", "2", "2probe", "bAQID", "b", "6", "9", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeV4Packet(b)
		if err != nil {
			return
		}
		p2, err := decodeV4Packet(appendV4Packet(nil, p))
		if err != nil || !samePackets([]packet{p}, []packet{p2}) {
			t.Fatalf("round trip of %q: %+v vs %+v (%v)", b, p, p2, err)
		}
	})
}

func FuzzDecodeV4Payload(f *testing.F) {
	for _, s := range []string{"4hello\x1ebAQIDBA==", "4a\x1e4b\x1e4c", "\x1e", "3", "4\x1e"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkts []packet
		if decodeV4Payload(b, func(p packet) error { pkts = append(pkts, p); return nil }) != nil {
			return
		}
		var back []packet
		if err := decodeV4Payload(appendV4Payload(nil, pkts), func(p packet) error { back = append(back, p); return nil }); err != nil || !samePackets(pkts, back) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
	})
}

func FuzzDecodeV3StringPayload(f *testing.F) {
	for _, s := range []string{"6:4hello", "4:4é😀", "10:b4AQIDBA==1:6", "0:", "1:", "3:abc", "2:4\xff"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkts []packet
		if decodeV3StringPayload(b, func(p packet) error { pkts = append(pkts, p); return nil }) != nil || len(pkts) == 0 {
			return
		}
		if !utf8.Valid(b) {
			return // invalid bytes re-count differently; the client never sends them
		}
		var back []packet
		if err := decodeV3StringPayload(appendV3StringPayload(nil, pkts), func(p packet) error { back = append(back, p); return nil }); err != nil || !samePackets(pkts, back) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
	})
}

func FuzzDecodeV3BinaryPayload(f *testing.F) {
	f.Add([]byte{1, 4, 0xff, 4, 1, 2, 3, 0, 6, 0xff, '4', 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0, 1, 0xff, '2'})
	f.Add([]byte{1, 0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var pkts []packet
		if decodeV3BinaryPayload(b, func(p packet) error { pkts = append(pkts, p); return nil }) != nil {
			return
		}
		var back []packet
		if err := decodeV3BinaryPayload(appendV3BinaryPayload(nil, pkts), func(p packet) error { back = append(back, p); return nil }); err != nil || !samePackets(pkts, back) {
			t.Fatalf("round trip of %v: %v", b, err)
		}
	})
}

func FuzzDecodeJSONPForm(f *testing.F) {
	for _, s := range []string{"d=6%3A4hello", `d=4a\nb`, `d=4a\\nb`, "d=%zz", "x=1", "d="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := decodeJSONPForm(b)
		if err != nil {
			return
		}
		decodeV3StringPayload(out, func(packet) error { return nil })
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"EIO=4&transport=polling", "EIO=3&transport=polling&j=0&b64=1&sid=x", "j=%00", "EIO"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		rq := parseQuery(q)
		if rq.eio != 0 && rq.eio != 3 && rq.eio != 4 {
			t.Fatalf("eio %d", rq.eio)
		}
		for _, c := range rq.j {
			if c < '0' || c > '9' {
				t.Fatalf("j %q reaches the response", rq.j)
			}
		}
	})
}

// Benchmarks: encoding one shared message for one session must not
// allocate.

func BenchmarkWriteFrame(b *testing.B) {
	msg := packet{typ: ptMessage, data: []byte(`42["push",{"title":"hello","body":"a message of typical size"}]`)}
	bw := bufio.NewWriterSize(io.Discard, writeBufferSize)
	b.ReportAllocs()
	for b.Loop() {
		writeFrame(bw, msg, 4)
		bw.Flush()
	}
}

func BenchmarkPollingPayloadV4(b *testing.B) {
	pkts := []packet{{typ: ptMessage, data: []byte(`42["push",{"title":"hello","body":"a message of typical size"}]`)}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendV4Payload(buf[:0], pkts)
	}
}

func BenchmarkPollingPayloadV3(b *testing.B) {
	pkts := []packet{{typ: ptMessage, data: []byte(`42["push",{"title":"hello","body":"a message of typical size é"}]`)}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendV3StringPayload(buf[:0], pkts)
	}
}
