package engineio

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/pushinator/pushinator/internal/wire"
)

// Packet types, as the character that starts an encoded packet.
const (
	ptOpen    byte = '0'
	ptClose   byte = '1'
	ptPing    byte = '2'
	ptPong    byte = '3'
	ptMessage byte = '4'
	ptUpgrade byte = '5'
	ptNoop    byte = '6'
)

// v4 polling payloads separate packets with the record separator.
const recordSeparator = 0x1e

// errParse is returned by every decoder for input that is not a valid
// packet or payload; the session is then closed with "parse error".
var errParse = errors.New("engineio: parse error")

// packet is one Engine.IO packet. data is never modified: for messages it
// is the caller's Message.Data, shared with other sessions.
type packet struct {
	typ    byte
	binary bool // a binary message: data is raw bytes
	framed bool // WebSocket bytes already framed: the rest of a write the socket cut short
	data   []byte
	mark   uint64 // Message.Mark; for framed bytes, the first mark among what they hold
}

// Message is one Engine.IO message. Data is shared by every session it is
// sent to and is never modified.
type Message struct {
	Data   []byte
	Binary bool
	// Mark, when not 0, is the caller's number for the message: a session that ends
	// without writing it reports it through Session.Unwritten, so the caller can keep
	// what never left.
	Mark uint64
}

// decodeV4Packet decodes one v4 packet from its text form ("4hello",
// "bAQID" for binary). data aliases s unless the packet is binary.
func decodeV4Packet(s []byte) (packet, error) {
	if len(s) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", errParse)
	}
	if s[0] == 'b' {
		b, err := decodeBase64(s[1:])
		if err != nil {
			return packet{}, err
		}
		return packet{typ: ptMessage, binary: true, data: b}, nil
	}
	if s[0] < ptOpen || s[0] > ptNoop {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", errParse, s[0])
	}
	return packet{typ: s[0], data: s[1:]}, nil
}

// decodeV4Payload calls fn for each packet of a v4 polling payload.
func decodeV4Payload(body []byte, fn func(packet) error) error {
	for {
		i := indexByte(body, recordSeparator)
		part := body
		if i >= 0 {
			part = body[:i]
		}
		p, err := decodeV4Packet(part)
		if err != nil {
			return err
		}
		if err := fn(p); err != nil {
			return err
		}
		if i < 0 {
			return nil
		}
		body = body[i+1:]
	}
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

func decodeBase64(s []byte) ([]byte, error) {
	// Sized for the unpadded form, which may need more room than the padded
	// one ("00" decodes to one byte unpadded, to nothing padded).
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		// Some encoders drop the padding.
		n, err = base64.RawStdEncoding.Decode(out, s)
		if err != nil {
			return nil, fmt.Errorf("%w: bad base64: %w", errParse, err)
		}
	}
	return out[:n], nil
}

// appendV4Packet appends the text form of p.
func appendV4Packet(dst []byte, p packet) []byte {
	if p.binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = append(dst, p.typ)
	return append(dst, p.data...)
}

// appendV4Payload appends a v4 polling payload: packets joined by 0x1e.
func appendV4Payload(dst []byte, pkts []packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = appendV4Packet(dst, p)
	}
	return dst
}

// appendV3StringPacket appends one packet of a v3 string payload:
// "<len>:<packet>", len in UTF-16 code units; binary as "b4<base64>".
func appendV3StringPacket(dst []byte, p packet) []byte {
	if p.binary {
		n := 2 + base64.StdEncoding.EncodedLen(len(p.data))
		dst = strconv.AppendInt(dst, int64(n), 10)
		dst = append(dst, ':', 'b', p.typ)
		return base64.StdEncoding.AppendEncode(dst, p.data)
	}
	dst = strconv.AppendInt(dst, int64(1+wire.UTF16Len(p.data)), 10)
	dst = append(dst, ':', p.typ)
	return append(dst, p.data...)
}

func appendV3StringPayload(dst []byte, pkts []packet) []byte {
	for _, p := range pkts {
		dst = appendV3StringPacket(dst, p)
	}
	return dst
}

// appendV3BinaryPayload appends a v3 binary payload (octet-stream): per
// packet a 0 (string) or 1 (binary) byte, the length as one byte per decimal
// digit, 0xFF, then the packet (UTF-8 text, or the type byte 4 and the data).
func appendV3BinaryPayload(dst []byte, pkts []packet) []byte {
	for _, p := range pkts {
		n := 1 + len(p.data)
		if p.binary {
			dst = append(dst, 1)
		} else {
			dst = append(dst, 0)
		}
		start := len(dst)
		dst = strconv.AppendInt(dst, int64(n), 10)
		for i := start; i < len(dst); i++ {
			dst[i] -= '0'
		}
		dst = append(dst, 0xff)
		if p.binary {
			dst = append(dst, p.typ-'0')
		} else {
			dst = append(dst, p.typ)
		}
		dst = append(dst, p.data...)
	}
	return dst
}

// hasBinary reports whether any packet is binary: only then does a v3
// server use the binary payload encoding.
func hasBinary(pkts []packet) bool {
	for _, p := range pkts {
		if p.binary {
			return true
		}
	}
	return false
}

// decodeV3Packet decodes one v3 packet of a string payload or text frame.
func decodeV3Packet(s []byte) (packet, error) {
	if len(s) == 0 {
		return packet{}, fmt.Errorf("%w: empty packet", errParse)
	}
	if s[0] == 'b' {
		if len(s) < 2 || s[1] < ptOpen || s[1] > ptNoop {
			return packet{}, fmt.Errorf("%w: bad binary packet", errParse)
		}
		b, err := decodeBase64(s[2:])
		if err != nil {
			return packet{}, err
		}
		return packet{typ: s[1], binary: true, data: b}, nil
	}
	if s[0] < ptOpen || s[0] > ptNoop {
		return packet{}, fmt.Errorf("%w: unknown packet type %q", errParse, s[0])
	}
	return packet{typ: s[0], data: s[1:]}, nil
}

// decodeV3StringPayload calls fn for each packet of a v3 string payload,
// "<len>:<packet>..." with len counted in UTF-16 code units.
func decodeV3StringPayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", errParse)
	}
	for len(body) > 0 {
		colon := indexByte(body, ':')
		if colon <= 0 || colon > 10 {
			return fmt.Errorf("%w: bad length prefix", errParse)
		}
		n, err := strconv.Atoi(string(body[:colon]))
		if err != nil || n < 0 {
			return fmt.Errorf("%w: bad length prefix", errParse)
		}
		rest := body[colon+1:]
		i, units := wire.UTF16Cut(rest, n)
		if units != n {
			return fmt.Errorf("%w: length prefix %d exceeds payload", errParse, n)
		}
		if n > 0 {
			p, err := decodeV3Packet(rest[:i])
			if err != nil {
				return err
			}
			if err := fn(p); err != nil {
				return err
			}
		}
		body = rest[i:]
	}
	return nil
}

// decodeV3BinaryPayload calls fn for each packet of a v3 binary payload.
func decodeV3BinaryPayload(body []byte, fn func(packet) error) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty payload", errParse)
	}
	for len(body) > 0 {
		isBinary := body[0] == 1
		if body[0] > 1 {
			return fmt.Errorf("%w: bad binary payload marker %d", errParse, body[0])
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > 10 {
				return fmt.Errorf("%w: bad binary payload length", errParse)
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) || n > len(body)-i-1 {
			return fmt.Errorf("%w: bad binary payload length", errParse)
		}
		content := body[i+1 : i+1+n]
		body = body[i+1+n:]
		var p packet
		if isBinary {
			if n == 0 || content[0] > ptNoop-'0' {
				return fmt.Errorf("%w: bad binary packet", errParse)
			}
			p = packet{typ: content[0] + '0', binary: true, data: content[1:]}
		} else {
			var err error
			if p, err = decodeV3Packet(content); err != nil {
				return err
			}
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}

// decodeJSONPForm extracts the payload of a JSONP POST: the urlencoded form
// field d, where the client escaped each newline as the two characters \n
// (an escaped backslash before n is kept as is).
func decodeJSONPForm(body []byte) ([]byte, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("%w: bad form body: %w", errParse, err)
	}
	d, ok := vals["d"]
	if !ok || len(d) == 0 {
		return nil, fmt.Errorf("%w: form field d missing", errParse)
	}
	s := d[0]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'n' {
				out = append(out, s[i:i+3]...)
				i += 2
				continue
			}
			if i+1 < len(s) && s[i+1] == 'n' {
				out = append(out, '\n')
				i++
				continue
			}
		}
		out = append(out, s[i])
	}
	return out, nil
}

// appendJSONP wraps a v3 string payload for the JSONP transport:
// ___eio[<index>]("<payload>");
func appendJSONP(dst []byte, index string, payload []byte) []byte {
	dst = append(dst, "___eio["...)
	dst = append(dst, index...)
	dst = append(dst, "]("...)
	dst = wire.AppendJSString(dst, payload, false)
	return append(dst, ");"...)
}
