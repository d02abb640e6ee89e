package gateway

import (
	"encoding/json"
	"errors"

	"github.com/pushinator/pushinator/legacy"
	"github.com/pushinator/pushinator/push"
)

// Legacy returns the handler for socket.io 0.9 clients (protocol 1), which authenticate with
// the auth event like the original's and receive pushes as the original sent them: a message
// packet holding the message's JSON text (`socket.send(JSON.stringify(message))`), or an event
// for a custom event name. They cannot recover a session: their messages wait in the buffer
// like those of any user without a live session.
func (g *Gateway) Legacy() legacy.Handler { return legacyHandler{g} }

type legacyHandler struct{ g *Gateway }

// legacyClient is a socket.io 0.9 socket.
type legacyClient struct{ s *legacy.Socket }

func (c legacyClient) send(m *push.Message, _ bool) error {
	p, _ := m.Encoded(formLegacy, encodeLegacy).(*legacy.Packet)
	if p == nil {
		return errLegacyEncode
	}
	return c.s.Send(p)
}

func (c legacyClient) disconnect()        { c.s.Disconnect() }
func (c legacyClient) drop()              { c.s.Drop() }
func (c legacyClient) remoteAddr() string { return c.s.RemoteAddr() }
func (c legacyClient) transport() string  { return c.s.Transport() }
func (c legacyClient) unwritten() uint64  { return c.s.Unwritten() }

var errLegacyEncode = errors.New("gateway: message could not be encoded for a socket.io 0.9 client")

func encodeLegacy(m *push.Message) any {
	var p *legacy.Packet
	if m.Event == "message" {
		p = legacy.EncodeMessage(m.Data)
	} else {
		var err error
		if p, err = legacy.EncodeEvent(m.Event, m.Data); err != nil {
			return nil
		}
	}
	p.SetMark(m.Seq)
	return p
}

func (h legacyHandler) Connect(s *legacy.Socket) error {
	c := &conn{g: h.g, s: legacyClient{s}, ready: true}
	s.SetData(c)
	c.mu.Lock()
	c.armAuthTimerLocked()
	c.mu.Unlock()
	return nil
}

func (h legacyHandler) Event(s *legacy.Socket, name string, args []json.RawMessage, ack func(args ...any) error) {
	s.Data().(*conn).event(name, args, ack)
}

func (h legacyHandler) Disconnect(s *legacy.Socket, reason string) {
	if c, ok := s.Data().(*conn); ok {
		c.closed(reason)
	}
}
