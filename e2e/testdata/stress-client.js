// Many users' sockets in one process, for the delivery proofs. Argument (JSON):
//   {url, users: [{id, hash, transports}], closeEveryMs}
// Every closeEveryMs a random connected socket has its transport closed by the client.
// Prints {"type":"ready"} once every socket authenticated, and on the stdin command "report"
// prints {"type":"report", received: {id: [messages...]}, late: {id: [indexes...]},
// connects: {id: n}, recovered: {id: n}}.
//
// "late" holds the indexes (in received) of what socket.io-client emitted from its receive
// buffer. An event it decoded just before its connection closed reaches the socket a tick
// later (Manager.ondecoded defers it), finds it disconnected, is buffered, and is emitted at
// the next connect, after the CONNECT that asked to recover from the offset before it. The
// server then rightly replays it, so the client sees it twice; marking it lets the test tell
// this client-side duplicate from one the server made.
const { io } = require("socket.io-client");
const spec = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const received = {}, late = {}, connects = {}, recovered = {}, sockets = [];
let authed = 0;
for (const u of spec.users) {
  received[u.id] = [];
  late[u.id] = [];
  connects[u.id] = 0;
  recovered[u.id] = 0;
  const socket = io(spec.url, { forceNew: true, transports: u.transports, reconnectionDelay: 50, reconnectionDelayMax: 200 });
  let first = true;
  // From "disconnect" to "connect", events come from the client's receive buffer (onconnect
  // emits them before the connect event).
  let buffered = false;
  socket.on("disconnect", () => { buffered = true; });
  socket.on("connect", () => {
    buffered = false;
    connects[u.id]++;
    if (socket.recovered) recovered[u.id]++;
    socket.emit("auth", u.id, u.hash, (res) => {
      if (!res || !res.ok) out({ type: "auth-failed", id: u.id, res });
      if (first) {
        first = false;
        if (++authed === spec.users.length) out({ type: "ready" });
      }
    });
  });
  socket.on("message", (m) => {
    if (buffered) late[u.id].push(received[u.id].length);
    received[u.id].push(m);
  });
  sockets.push(socket);
}
if (spec.closeEveryMs > 0) {
  setInterval(() => {
    const s = sockets[Math.floor(Math.random() * sockets.length)];
    if (s.connected && s.io.engine) s.io.engine.close();
  }, spec.closeEveryMs);
}
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (line === "report") out({ type: "report", received, late, connects, recovered });
    if (line === "exit") process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
