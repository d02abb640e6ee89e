package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// packetType is the first character of every socket.io packet.
type packetType byte

const (
	typeConnect      packetType = 0
	typeDisconnect   packetType = 1
	typeEvent        packetType = 2
	typeAck          packetType = 3
	typeConnectError packetType = 4
	typeBinaryEvent  packetType = 5
	typeBinaryAck    packetType = 6
)

var typeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

func (t packetType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// DefaultMaxAttachments is the largest attachment count a binary packet may
// announce unless Options say otherwise: the official parser's default.
const DefaultMaxAttachments = 10

// maxAckID is the largest ack id accepted: ids are JavaScript numbers on the
// client, exact only up to 2^53-1, so a larger one could not be answered.
const maxAckID = 1<<53 - 1

// reservedEvents may not be sent by a client: they have a meaning of their
// own on both sides (the official parser refuses them too).
var reservedEvents = map[string]bool{
	"connect":        true,
	"connect_error":  true,
	"disconnect":     true,
	"disconnecting":  true,
	"newListener":    true,
	"removeListener": true,
}

// errInvalidPacket is wrapped by every protocol violation of a client.
var errInvalidPacket = errors.New("invalid packet")

// packet is a decoded packet received from a client.
type packet struct {
	typ         packetType
	attachments int    // announced by BINARY_EVENT and BINARY_ACK
	nsp         string // "/" when the packet names none
	id          uint64 // valid when hasID
	hasID       bool
	// name is the event name of EVENT and BINARY_EVENT: a string, or the
	// literal of a number (the official parser allows numbers).
	name string
	// args are the EVENT arguments after the name, or the ACK arguments.
	args []json.RawMessage
	// data is the CONNECT or CONNECT_ERROR payload; nil when absent.
	data json.RawMessage
	// binary holds the attachments of a reassembled binary packet, in
	// placeholder order.
	binary [][]byte
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errInvalidPacket, fmt.Sprintf(format, a...))
}

// decodePacket parses the text form of a packet:
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// with the checks of the official parser (socket.io-parser 4.2): a known type,
// 1..maxAttachments attachments for binary types, digits for the ack id, and a
// payload that is JSON of the right shape for the type. Unlike the official
// parser it also refuses an EVENT without payload (there is no event name),
// placeholders that point outside the announced attachments and ack ids that
// JavaScript cannot represent. The result does not alias s.
func decodePacket(s []byte, maxAttachments int) (packet, error) {
	var p packet
	if len(s) == 0 {
		return p, invalid("empty packet")
	}
	if s[0] < '0' || s[0] > '6' {
		return p, invalid("unknown packet type %q", s[0])
	}
	p.typ = packetType(s[0] - '0')
	i := 1

	if p.typ == typeBinaryEvent || p.typ == typeBinaryAck {
		start := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start || i == len(s) || s[i] != '-' {
			return p, invalid("%s: attachment count must be digits followed by '-'", p.typ)
		}
		if i-start > 3 { // more digits than any allowed count; avoids overflow too
			return p, invalid("%s: too many attachments", p.typ)
		}
		n, _ := strconv.Atoi(string(s[start:i]))
		if n < 1 {
			return p, invalid("%s: attachment count %d", p.typ, n)
		}
		if n > maxAttachments {
			return p, invalid("%s: too many attachments (%d > %d)", p.typ, n, maxAttachments)
		}
		p.attachments = n
		i++ // the '-'
	}

	p.nsp = "/"
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.nsp = string(s[start:i])
		if i < len(s) {
			i++ // the ','
		}
	}

	if i < len(s) && isDigit(s[i]) {
		var id uint64
		for i < len(s) && isDigit(s[i]) {
			id = id*10 + uint64(s[i]-'0')
			if id > maxAckID {
				return p, invalid("%s: ack id too large", p.typ)
			}
			i++
		}
		p.id, p.hasID = id, true
	}

	payload := s[i:]
	if err := p.setPayload(payload); err != nil {
		return p, err
	}
	return p, nil
}

// setPayload checks that the payload has the shape the packet type requires
// and stores it.
func (p *packet) setPayload(payload []byte) error {
	if len(payload) == 0 {
		switch p.typ {
		case typeEvent, typeBinaryEvent:
			return invalid("%s: no payload (an event needs a name)", p.typ)
		case typeConnectError:
			return invalid("%s: no payload", p.typ)
		}
		return nil
	}
	first := firstByte(payload)
	if (first != '[' || (p.typ != typeEvent && p.typ != typeBinaryEvent && p.typ != typeAck && p.typ != typeBinaryAck)) && !json.Valid(payload) {
		// Arrays of events and acks are checked by json.Unmarshal below;
		// everything else is checked here, before its shape.
		return invalid("%s: payload is not JSON", p.typ)
	}
	switch p.typ {
	case typeConnect:
		if first != '{' {
			return invalid("%s: payload must be an object", p.typ)
		}
		p.data = bytes.Clone(payload)
	case typeDisconnect:
		return invalid("%s: unexpected payload", p.typ)
	case typeConnectError:
		if first != '{' && first != '"' {
			return invalid("%s: payload must be an object or a string", p.typ)
		}
		p.data = bytes.Clone(payload)
	case typeEvent, typeBinaryEvent:
		if first != '[' {
			return invalid("%s: payload must be an array", p.typ)
		}
		var all []json.RawMessage
		if err := json.Unmarshal(payload, &all); err != nil {
			return invalid("%s: payload is not JSON: %v", p.typ, err)
		}
		if len(all) == 0 {
			return invalid("%s: no event name", p.typ)
		}
		switch firstByte(all[0]) {
		case '"':
			if name, ok := plainString(all[0]); ok {
				p.name = name
			} else if err := json.Unmarshal(all[0], &p.name); err != nil {
				return invalid("%s: event name: %v", p.typ, err)
			}
			if reservedEvents[p.name] {
				return invalid("%s: reserved event name %q", p.typ, p.name)
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			p.name = string(all[0])
		default:
			return invalid("%s: event name must be a string or a number", p.typ)
		}
		p.args = all[1:]
	case typeAck, typeBinaryAck:
		if first != '[' {
			return invalid("%s: payload must be an array", p.typ)
		}
		if err := json.Unmarshal(payload, &p.args); err != nil {
			return invalid("%s: payload is not JSON: %v", p.typ, err)
		}
		if p.args == nil {
			p.args = []json.RawMessage{}
		}
	}
	if p.attachments > 0 {
		for _, a := range p.args {
			if err := checkPlaceholders(a, p.attachments); err != nil {
				return invalid("%s: %v", p.typ, err)
			}
		}
	}
	return nil
}

// checkPlaceholders walks a JSON value of a binary packet and checks that
// every placeholder ({"_placeholder":true,"num":N}) names an attachment that
// will exist, as the official reconstructor does.
func checkPlaceholders(raw json.RawMessage, n int) error {
	switch firstByte(raw) {
	case '{', '[':
	default:
		return nil // scalars hold no placeholders; skip the generic decode
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return err
	}
	return walkPlaceholders(v, n)
}

func walkPlaceholders(v any, n int) error {
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if err := walkPlaceholders(e, n); err != nil {
				return err
			}
		}
	case map[string]any:
		if v["_placeholder"] == true {
			num, ok := v["num"].(json.Number)
			if !ok {
				return errors.New("placeholder without a numeric num")
			}
			k, err := strconv.ParseInt(string(num), 10, 64)
			if err != nil || k < 0 || k >= int64(n) {
				return fmt.Errorf("placeholder num %s outside 0..%d", num, n-1)
			}
			return nil
		}
		for _, e := range v {
			if err := walkPlaceholders(e, n); err != nil {
				return err
			}
		}
	}
	return nil
}

// plainString returns the value of a JSON string with no escapes, without
// the general decoder: event names almost always are such strings.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	body := raw[1 : len(raw)-1]
	for _, c := range body {
		if c == '\\' || c == '"' || c < 0x20 || c >= 0x80 {
			return "", false
		}
	}
	return string(body), true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// firstByte returns the first non-whitespace byte of a JSON text, or 0.
func firstByte(b []byte) byte {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return c
	}
	return 0
}
