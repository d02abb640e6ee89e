// Package legacy serves socket.io 0.7–0.9 clients: socket.io protocol 1,
// the protocol of the original pushinator, at Options.Path+"1/" on the
// same port as the modern server.
//
// A Server is an http.Handler. It answers the handshake
// (`sid:heartbeatTimeout:closeTimeout:transports`, plain or JSONP) and
// carries packets over WebSocket (RFC 6455), XHR long-polling and JSONP
// polling, the transports the configuration enables, announced in its
// order. Only the main endpoint "" exists: connecting to another is
// answered with an "unauthorized" error packet.
//
// Liveness follows the 0.9 server: on WebSocket the server sends a
// heartbeat every heartbeat interval and drops a client that does not
// answer within HeartbeatTimeout; on polling a client that does not come
// back for its next poll within CloseTimeout is dropped, and a poll with
// nothing to say is ended with a noop before the client's own close
// timeout would fire.
//
// Guarantees:
//   - Socket.Send never blocks on the network: packets go to a bounded
//     per-socket queue; a client that cannot keep up (queue limit or a
//     missed write deadline) is disconnected ("slow client").
//   - Packets of one socket reach the client in the order they were sent.
//   - Handler calls of one socket run one at a time: Connect, then Event in
//     packet order, then Disconnect exactly once for every socket whose
//     Connect succeeded (and never for the others), after the last Event.
//   - Every network write has a deadline; POST bodies and WebSocket
//     messages are bounded by MaxPayload.
//   - A Packet is encoded once and its bytes shared, never modified, when
//     sent to many sockets.
package legacy
