package legacy

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/pushinator/pushinator/internal/wire"
)

// Packet types of protocol 1, as ASCII digits on the wire.
const (
	ptDisconnect = '0'
	ptConnect    = '1'
	ptHeartbeat  = '2'
	ptMessage    = '3'
	ptJSON       = '4'
	ptEvent      = '5'
	ptAck        = '6'
	ptError      = '7'
	ptNoop       = '8'
)

// Error packet reasons and advice, as indexes the 0.9 client looks up.
const (
	reasonTransportNotSupported = "0"
	reasonNotHandshaken         = "1"
	reasonUnauthorized          = "2"
	adviceReconnect             = "0"
)

// Packets the server sends often, encoded once.
var (
	rawConnect    = []byte("1::")
	rawHeartbeat  = []byte("2::")
	rawDisconnect = []byte("0::")
	rawNoop       = []byte("8::")
	// rawNotHandshaken tells a client its session is unknown; the advice
	// makes the 0.9 client reconnect with a new handshake.
	rawNotHandshaken = []byte("7:::" + reasonNotHandshaken + "+" + adviceReconnect)
	// rawUnauthorized refuses the connection; the 0.9 client emits
	// 'connect_failed' and does not reconnect.
	rawUnauthorized = []byte("7:::" + reasonUnauthorized)
)

// maxAckIDLen bounds a packet id: the 0.9 client counts acks from 1.
const maxAckIDLen = 16

// errPacket is wrapped by every decoding error.
var errPacket = errors.New("legacy: invalid packet")

// Packet is an encoded packet, built once and sent to any number of
// sockets. Its bytes are never modified.
type Packet struct {
	data []byte
	mark uint64 // see SetMark
}

// SetMark numbers the packet so that a socket that ends without writing it
// says so (Socket.Unwritten). Call it before p is sent.
func (p *Packet) SetMark(mark uint64) { p.mark = mark }

// outPacket is one packet in a socket's queue: its bytes, and the mark of
// the Packet it came from (0 for the socket's own packets).
type outPacket struct {
	data []byte
	mark uint64
}

// firstMark is the first non-zero mark in pkts (0: none).
func firstMark(pkts []outPacket) uint64 {
	for _, p := range pkts {
		if p.mark != 0 {
			return p.mark
		}
	}
	return 0
}

// String is the packet as sent, e.g. `3:::{"a":1}`.
func (p *Packet) String() string { return string(p.data) }

// EncodeMessage returns the message packet `3:::text`, which the 0.9
// client hands to socket.on('message') as a string. Invalid UTF-8 is
// replaced by U+FFFD byte by byte, so the length the polling framing
// announces is the length the client decodes.
func EncodeMessage(text []byte) *Packet {
	b := make([]byte, 0, 4+len(text))
	b = append(b, "3:::"...)
	return &Packet{data: appendValidUTF8(b, text)}
}

// EncodeEvent returns the event packet `5:::{"name":..,"args":[..]}`.
// Arguments are encoded with encoding/json (a json.RawMessage is kept as
// it is, once validated).
func EncodeEvent(name string, args ...any) (*Packet, error) {
	b, err := appendEventJSON(append(make([]byte, 0, 64), "5:::"...), name, args)
	if err != nil {
		return nil, fmt.Errorf("legacy: encode event %q: %w", name, err)
	}
	return &Packet{data: b}, nil
}

func appendEventJSON(b []byte, name string, args []any) ([]byte, error) {
	n, err := json.Marshal(name)
	if err != nil {
		return nil, err
	}
	b = append(b, `{"name":`...)
	b = append(b, n...)
	if len(args) > 0 {
		a, err := json.Marshal(args)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"args":`...)
		b = append(b, a...)
	}
	return append(b, '}'), nil
}

// appendAck appends `6:::id+[args]`, the answer to a data ack request.
func appendAck(b []byte, id string, args []any) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	a, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	b = append(b, "6:::"...)
	b = append(b, id...)
	b = append(b, '+')
	return append(b, a...), nil
}

// appendValidUTF8 appends s, each byte of an invalid sequence replaced by
// U+FFFD (the way utf8.DecodeRune reads it).
func appendValidUTF8(dst, s []byte) []byte {
	if utf8.Valid(s) {
		return append(dst, s...)
	}
	for len(s) > 0 {
		r, n := utf8.DecodeRune(s)
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[:n]...)
		}
		s = s[n:]
	}
	return dst
}

// packet is a decoded packet from a client.
type packet struct {
	typ      byte   // ptDisconnect..ptNoop
	id       string // message id (digits), "" when none
	ackData  bool   // the id was followed by '+': the application answers the ack
	endpoint string
	data     []byte // aliases the input
}

// decodePacket parses `type:id[+]:endpoint[:data]`. The id is digits; the
// endpoint runs to the next ':'; the data is the rest, unparsed.
func decodePacket(b []byte) (packet, error) {
	var p packet
	if len(b) < 3 || b[0] < ptDisconnect || b[0] > ptNoop || b[1] != ':' {
		return p, fmt.Errorf("%w: bad type or missing ':'", errPacket)
	}
	p.typ = b[0]
	i := 2
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i-start > maxAckIDLen {
		return p, fmt.Errorf("%w: id longer than %d digits", errPacket, maxAckIDLen)
	}
	p.id = string(b[start:i])
	if i < len(b) && b[i] == '+' {
		if p.id == "" {
			return p, fmt.Errorf("%w: '+' without an id", errPacket)
		}
		p.ackData = true
		i++
	}
	if i >= len(b) || b[i] != ':' {
		return p, fmt.Errorf("%w: missing ':' after the id", errPacket)
	}
	i++
	start = i
	for i < len(b) && b[i] != ':' {
		i++
	}
	p.endpoint = string(b[start:i])
	if i < len(b) {
		p.data = b[i+1:]
	}
	return p, nil
}

// event is the JSON of an event packet.
type event struct {
	Name string            `json:"name"`
	Args []json.RawMessage `json:"args"`
}

// decodeEvent parses an event packet's data. A missing args is no
// arguments, as for the 0.9 client.
func decodeEvent(data []byte) (event, error) {
	var ev event
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("%w: event: %v", errPacket, err)
	}
	for _, a := range ev.Args {
		if a == nil {
			return ev, fmt.Errorf("%w: event: null argument slot", errPacket)
		}
	}
	return ev, nil
}

// Framing of several packets in one polling body: U+FFFD, the length of
// the packet in UTF-16 code units (JavaScript's String.length), U+FFFD,
// the packet.
const frameMark = "\uFFFD"

// maxFrameDigits bounds the length field of a frame.
const maxFrameDigits = 10

// appendPayload frames packets for one polling response: a single packet
// goes as it is.
func appendPayload(dst []byte, pkts []outPacket) []byte {
	if len(pkts) == 1 {
		return append(dst, pkts[0].data...)
	}
	for _, p := range pkts {
		dst = append(dst, frameMark...)
		dst = strconv.AppendInt(dst, int64(wire.UTF16Len(p.data)), 10)
		dst = append(dst, frameMark...)
		dst = append(dst, p.data...)
	}
	return dst
}

// decodePayload splits a polling body into packets and calls fn with
// each; it stops at fn's first error. A body that does not start with
// U+FFFD is one packet.
func decodePayload(b []byte, fn func([]byte) error) error {
	if len(b) < len(frameMark) || string(b[:len(frameMark)]) != frameMark {
		return fn(b)
	}
	for len(b) > 0 {
		if len(b) < len(frameMark) || string(b[:len(frameMark)]) != frameMark {
			return fmt.Errorf("%w: payload: expected U+FFFD", errPacket)
		}
		b = b[len(frameMark):]
		i, n := 0, 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i == maxFrameDigits {
				return fmt.Errorf("%w: payload: length too long", errPacket)
			}
			n = n*10 + int(b[i]-'0')
			i++
		}
		if i == 0 || len(b[i:]) < len(frameMark) || string(b[i:i+len(frameMark)]) != frameMark {
			return fmt.Errorf("%w: payload: bad length", errPacket)
		}
		b = b[i+len(frameMark):]
		end, units := wire.UTF16Cut(b, n)
		if units < n {
			return fmt.Errorf("%w: payload: packet shorter than its length %d", errPacket, n)
		}
		if units != n {
			return fmt.Errorf("%w: payload: length %d splits a character", errPacket, n)
		}
		if err := fn(b[:end]); err != nil {
			return err
		}
		b = b[end:]
	}
	return nil
}
