package socketio

import "github.com/pushinator/pushinator/engineio"

// OpenSession makes the Server an engineio.Handler: every Engine.IO session
// gets one Socket at a time. In protocol v4 the socket is connected right here
// (Handler.Connect and Connected run before OpenSession returns), so the
// handshake request is available to them through Engine().HandshakeRequest().
func (srv *Server) OpenSession(es *engineio.Session) engineio.SessionHandler {
	return &sessionHandler{srv.open(engineSession{es}, es)}
}

// Engine returns the Engine.IO session carrying the socket (transport,
// remote address, handshake request during OpenSession).
func (s *Socket) Engine() *engineio.Session { return s.engine }

// Unwritten is the mark (Packet.SetMark) of the first packet the socket
// took but never wrote to its connection; 0: none. Final once the
// Handler's Disconnect is called for a session that ended. A socket that
// followed another on its session reports none: the mark may be the
// other's.
func (s *Socket) Unwritten() uint64 {
	if s.engine == nil || s.follows {
		return 0
	}
	return s.engine.Unwritten()
}

// sessionHandler receives the session's messages for its current Socket
// (a new one after the client disconnects and connects again), keeping
// OnMessage and OnClose off the Socket's exported surface. The session
// serializes OnMessage and OnClose, so s needs no lock.
type sessionHandler struct{ s *Socket }

func (h *sessionHandler) OnMessage(data []byte, binary bool) { h.s = h.s.onMessage(data, binary) }
func (h *sessionHandler) OnClose(reason string)              { h.s.onClose(reason) }

// engineSession adapts *engineio.Session to transport.
type engineSession struct{ *engineio.Session }

func (e engineSession) SendPacket(p *Packet) error {
	if e.Protocol() == 3 {
		return e.Send(p.msgsFor(3, e.Transport())...)
	}
	return e.Send(p.msgs...)
}
