package socketio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pushinator/pushinator/engineio"
	"github.com/pushinator/pushinator/internal/jsontext"
)

// Packet is an encoded socket.io packet, ready to be sent to any number of
// sockets. Its bytes are computed once by EncodeEvent and shared, never
// modified, by every Send.
type Packet struct {
	text        []byte   // the packet's text message
	attachments [][]byte // binary messages that follow it, for []byte arguments
	// msgs are the Engine.IO messages to send: text, then attachments. Built
	// once so that a send to many sessions allocates nothing per session.
	msgs []engineio.Message
	one  [1]engineio.Message // msgs' array when there are no attachments
	// jsonAt is where the JSON arguments of an event or ack start in text (0: no
	// arguments to rewrite); asciiMsgs are msgs with that JSON in ASCII, made on
	// first use (see msgsFor).
	jsonAt    int
	asciiMsgs atomic.Pointer[[]engineio.Message]
}

func newPacket(text []byte, attachments [][]byte) *Packet {
	p := &Packet{text: text, attachments: attachments}
	p.msgs = p.one[:0]
	if len(attachments) > 0 {
		p.msgs = make([]engineio.Message, 0, 1+len(attachments))
	}
	p.msgs = append(p.msgs, engineio.Message{Data: text})
	for _, a := range attachments {
		p.msgs = append(p.msgs, engineio.Message{Data: a, Binary: true})
	}
	return p
}

// SetMark numbers p's Engine.IO messages (engineio.Message.Mark) so that a
// session that ends without writing them says so (Socket.Unwritten). Call
// it before p is sent.
func (p *Packet) SetMark(mark uint64) {
	for i := range p.msgs {
		p.msgs[i].Mark = mark
	}
}

// msgsFor returns the Engine.IO messages that carry p over a session of Engine.IO
// protocol eio on transport. Engine.IO v3 polling gets the JSON in ASCII, each other
// character written as a \u escape, which every JSON parser reads back the same:
// socket.io-client 1.x decodes every v3 polling packet as UTF-8 once more (its servers
// encoded them so), and garbles or refuses UTF-8 text, as it does with the official 2.x
// server; 2.x clients read both. WebSocket frames stay UTF-8 (only 1.0.x, of 2014,
// decodes those again too).
func (p *Packet) msgsFor(eio int, transport string) []engineio.Message {
	if eio != 3 || p.jsonAt == 0 || transport == "websocket" {
		return p.msgs
	}
	if m := p.asciiMsgs.Load(); m != nil {
		return *m
	}
	msgs := p.msgs
	if !isASCII(p.text[p.jsonAt:]) {
		msgs = append([]engineio.Message(nil), p.msgs...)
		msgs[0].Data = asciiJSON(p.text, p.jsonAt)
	}
	p.asciiMsgs.Store(&msgs)
	return msgs
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// asciiJSON returns text with each character beyond ASCII from index from on written as
// a JSON \u escape (a surrogate pair beyond U+FFFF). From there text must be JSON, whose
// characters beyond ASCII can only be in strings.
func asciiJSON(text []byte, from int) []byte {
	const hex = "0123456789abcdef"
	esc := func(out []byte, r rune) []byte {
		return append(out, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	out := make([]byte, 0, len(text)+len(text)/2)
	out = append(out, text[:from]...)
	for _, r := range string(text[from:]) {
		switch {
		case r < utf8.RuneSelf:
			out = append(out, byte(r))
		case r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			out = esc(esc(out, r1), r2)
		default:
			out = esc(out, r)
		}
	}
	return out
}

// String returns the text form of the packet, for logs and tests.
func (p *Packet) String() string { return string(p.text) }

// ValidJSON is JSON text the caller has already checked: EncodeEvent writes it
// without checking it again (compacted if it is not compact). Text that is not
// valid JSON makes a packet the client cannot parse.
type ValidJSON []byte

// EncodeEvent encodes an EVENT packet for the main namespace, to be sent with
// Socket.Send to as many sockets as needed. Each argument is encoded with
// encoding/json (HTML characters are not escaped; a json.RawMessage is used
// as is, once checked; a ValidJSON as is), except a top-level []byte, which
// travels as a binary attachment the way the official clients send Buffers.
func EncodeEvent(event string, args ...any) (*Packet, error) {
	if err := checkEventName(event); err != nil {
		return nil, err
	}
	return encodeEvent(event, 0, false, args)
}

func checkEventName(event string) error {
	if reservedEvents[event] {
		return fmt.Errorf("socketio: encode event %q: reserved event name", event)
	}
	return nil
}

// encodeEvent encodes an EVENT (or BINARY_EVENT), with an ack id when hasID.
func encodeEvent(event string, id uint64, hasID bool, args []any) (*Packet, error) {
	var e encoder
	e.start(typeEvent, id, hasID, len(event), args)
	e.buf = append(e.buf, '[')
	if err := e.value(event); err != nil {
		return nil, fmt.Errorf("socketio: encode event %q: %w", event, err)
	}
	for i, a := range args {
		e.buf = append(e.buf, ',')
		if err := e.arg(a); err != nil {
			return nil, fmt.Errorf("socketio: encode event %q: argument %d: %w", event, i, err)
		}
	}
	e.buf = append(e.buf, ']')
	return e.packet(), nil
}

// encodeAck encodes the ACK (or BINARY_ACK) answering the packet with this id.
func encodeAck(id uint64, args []any) (*Packet, error) {
	var e encoder
	e.start(typeAck, id, true, 0, args)
	e.buf = append(e.buf, '[')
	for i, a := range args {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.arg(a); err != nil {
			return nil, fmt.Errorf("socketio: encode ack %d: argument %d: %w", id, i, err)
		}
	}
	e.buf = append(e.buf, ']')
	return e.packet(), nil
}

// connectReply encodes the answer to an accepted CONNECT: `0` in protocol v4,
// `0{"sid":…}` (with "pid" when set) in v5.
func connectReply(protocol int, sid, pid string) *Packet {
	if protocol == 4 {
		return newPacket([]byte("0"), nil)
	}
	var v = struct {
		SID string `json:"sid"`
		PID string `json:"pid,omitempty"`
	}{sid, pid}
	b, _ := json.Marshal(v) // two strings cannot fail
	return newPacket(append([]byte("0"), b...), nil)
}

// connectError encodes a CONNECT_ERROR for namespace nsp: `4{"message":…}`
// in protocol v5, `4"message"` in v4 (what socket.io-client 2.x expects).
func connectError(protocol int, nsp, message string) *Packet {
	var b []byte
	if protocol == 4 {
		b, _ = json.Marshal(message)
	} else {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{message})
	}
	text := []byte("4")
	if nsp != "/" {
		text = append(append(text, nsp...), ',')
	}
	return newPacket(append(text, b...), nil)
}

// disconnectPacket is the DISCONNECT of the main namespace.
func disconnectPacket() *Packet { return newPacket([]byte("1"), nil) }

// encoder builds one packet: the header is written first, which needs the
// attachment count, so it is counted before the payload is encoded.
type encoder struct {
	buf         []byte
	attachments [][]byte
	jsonAt      int // where the header ends
}

func (e *encoder) packet() *Packet {
	p := newPacket(e.buf, e.attachments)
	p.jsonAt = e.jsonAt
	return p
}

// start allocates the buffer (room for the usual packet: one allocation) and
// writes the header. extra is the room the caller's own values need.
func (e *encoder) start(typ packetType, id uint64, hasID bool, extra int, args []any) {
	size, n := 32+extra, 0
	for _, a := range args {
		switch x := a.(type) {
		case []byte:
			n++
		case json.RawMessage:
			size += len(x)
		case ValidJSON:
			size += len(x)
		case string:
			size += len(x) + 2
		default:
			size += 16
		}
	}
	e.buf = make([]byte, 0, size)
	if n > 0 {
		typ += typeBinaryEvent - typeEvent // EVENT→BINARY_EVENT, ACK→BINARY_ACK
		e.attachments = make([][]byte, 0, n)
	}
	e.buf = append(e.buf, '0'+byte(typ))
	if n > 0 {
		e.buf = strconv.AppendInt(e.buf, int64(n), 10)
		e.buf = append(e.buf, '-')
	}
	if hasID {
		e.buf = strconv.AppendUint(e.buf, id, 10)
	}
	e.jsonAt = len(e.buf)
}

func (e *encoder) arg(a any) error {
	if b, ok := a.([]byte); ok {
		e.buf = append(e.buf, `{"_placeholder":true,"num":`...)
		e.buf = strconv.AppendInt(e.buf, int64(len(e.attachments)), 10)
		e.buf = append(e.buf, '}')
		e.attachments = append(e.attachments, b)
		return nil
	}
	return e.value(a)
}

func (e *encoder) value(v any) error {
	// What a push carries (an event name, an offset, a checked message) is written
	// directly when encoding/json would write it unchanged: it would cost more than the
	// rest of the send.
	switch x := v.(type) {
	case string:
		if needsNoEscape(x) {
			e.buf = append(e.buf, '"')
			e.buf = append(e.buf, x...)
			e.buf = append(e.buf, '"')
			return nil
		}
	case json.RawMessage:
		if jsontext.IsCompact(x) && json.Valid(x) {
			e.buf = append(e.buf, x...)
			return nil
		}
	case ValidJSON:
		if jsontext.IsCompact(x) {
			e.buf = append(e.buf, x...)
		} else {
			e.buf = append(e.buf, jsontext.Compact(x)...)
		}
		return nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	e.buf = append(e.buf, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...) // Encode ends every value with '\n'
	return nil
}

// needsNoEscape reports whether s is ASCII that encoding/json writes as it is (HTML
// characters are not escaped here).
func needsNoEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
