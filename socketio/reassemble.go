package socketio

import "bytes"

// reassembler turns the Engine.IO messages of one session into packets: a
// BINARY_EVENT or BINARY_ACK is followed by exactly as many binary messages as
// it announces, and only then is the packet complete.
//
// Its memory is bounded: at most max attachments (each no larger than the
// Engine.IO maxPayload) are held, and a packet whose attachments never come
// is dropped with the session that owns the reassembler. It is not safe for
// concurrent use; Engine.IO delivers one session's messages sequentially.
type reassembler struct {
	max     int     // attachment limit for a packet
	pending *packet // binary packet waiting for attachments, or nil
}

// feed takes one Engine.IO message. It returns the completed packet, nil when
// more attachments are awaited, or an error when the message breaks the
// protocol (after which the session must be closed). data is not retained.
func (r *reassembler) feed(data []byte, binary bool) (*packet, error) {
	if !binary {
		if r.pending != nil {
			return nil, invalid("text message while waiting for %d more attachments of %s",
				r.pending.attachments-len(r.pending.binary), r.pending.typ)
		}
		p, err := decodePacket(data, r.max)
		if err != nil {
			return nil, err
		}
		if p.attachments > 0 {
			p.binary = make([][]byte, 0, p.attachments)
			r.pending = &p
			return nil, nil
		}
		return &p, nil
	}
	if r.pending == nil {
		return nil, invalid("binary message without a binary packet to attach it to")
	}
	p := r.pending
	p.binary = append(p.binary, bytes.Clone(data))
	if len(p.binary) < p.attachments {
		return nil, nil
	}
	r.pending = nil
	return p, nil
}

// waiting reports how many attachments the pending packet still needs.
func (r *reassembler) waiting() int {
	if r.pending == nil {
		return 0
	}
	return r.pending.attachments - len(r.pending.binary)
}
