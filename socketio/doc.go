// Package socketio speaks the socket.io protocol on top of Engine.IO sessions:
// protocol v5 for Engine.IO v4 clients (socket.io-client 3.x and 4.x) and
// protocol v4 for Engine.IO v3 clients (socket.io-client 2.x).
//
// Only the main namespace "/" exists; a CONNECT to any other namespace is
// answered with a CONNECT_ERROR "Invalid namespace". A client that leaves "/"
// (DISCONNECT) keeps its Engine.IO session, as with the official server, and
// may connect again on it: that makes a new Socket.
//
// Guarantees:
//   - Handler callbacks for one socket run one at a time, in packet order.
//   - Handler.Disconnect is called exactly once for every socket whose Connect
//     succeeded, and never for the others.
//   - Socket.Send, Emit and Disconnect may be called from any goroutine at any
//     time; after the socket is gone they return ErrClosed instead of panicking.
//   - Input is validated like the official parser; a packet it would refuse
//     closes the Engine.IO session ("parse error"). A binary packet may
//     announce at most Options.MaxAttachments attachments, and a
//     half-received one is dropped with its session, so a lying client
//     cannot make the server allocate or wait.
//   - A Packet is encoded once (EncodeEvent) and its bytes are shared, never
//     copied or modified, when it is sent to many sockets.
//
// Per-socket application data lives on the socket (SetData, Data). For
// connection state recovery the application sets the private id of the
// CONNECT reply with SetPID during Connect, finds the client's "pid" and
// "offset" in the CONNECT payload, and appends the offset as the last
// argument of the events it sends.
package socketio
