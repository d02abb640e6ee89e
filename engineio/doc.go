// Package engineio is an Engine.IO server for protocol versions 3 and 4.
//
// A Server is an http.Handler mounted at one path. It performs the
// handshake, keeps sessions, and carries packets over HTTP long-polling
// (XHR), JSONP polling (v3 clients) and WebSocket, including the upgrade
// from polling to WebSocket with its probe. It runs the heartbeat in the
// direction the protocol asks for (v4: server pings; v3: client pings).
//
// Guarantees:
//   - Session.Send never blocks on the network: packets go to a bounded
//     per-session queue; a client that cannot keep up (queue limit or a
//     missed write deadline) is disconnected with reason "slow client".
//   - Packets of one session reach the client in the order they were
//     queued, across the polling to WebSocket upgrade, without loss or
//     duplication.
//   - SessionHandler.OnMessage calls of one session are sequential;
//     OnClose is called exactly once, after the last OnMessage.
//   - Message.Data is never modified, so one slice may be sent to many
//     sessions.
//   - An idle WebSocket session holds one reader goroutine and no write
//     buffer; writes run in a goroutine that exists only while the queue
//     is not empty.
//
// Close reasons given to SessionHandler.OnClose follow the official server:
// "transport close" (the client closed), "transport error", "ping timeout",
// "forced close" (Session.Close), "parse error", plus "slow client" (queue
// limit or a missed write deadline) and "server shutting down".
package engineio
