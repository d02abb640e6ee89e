// A scriptable socket.io client for the end-to-end tests. It takes one JSON argument:
//   {lib: "v4"|"v3"|"v2"|"v1", url, opts: {...io options}, auth: [userId, hash] | null, ack: bool,
//    blockMs: n}
// blockMs keeps the event loop busy for n ms after the first connect: an application still
// starting up, which reads nothing meanwhile.
// and prints one JSON line per thing that happens (connect, auth-ack, event, disconnect,
// connect_error, reconnect...). It reads JSON commands on stdin:
//   {"cmd":"emit","event":"x","args":[...],"ack":true}  {"cmd":"disconnect"}  {"cmd":"connect"}
//   {"cmd":"close-transport"}  {"cmd":"close-on-next-event"}  {"cmd":"block","ms":n}  {"cmd":"exit"}
// block keeps the event loop busy for n ms (a frozen tab, a suspended app), after printing
// {"type":"blocking"}: the client neither reads nor polls meanwhile.
// close-on-next-event closes the transport in the tick the next event packet is decoded, before
// socket.io-client hands it to the socket (it defers that by a tick): the window in which a
// network cut makes socket.io-client buffer an event it will emit after reconnecting. It prints
// {"type":"armed"} once set.
const spec = JSON.parse(process.argv[2]);
const libs = { v4: "socket.io-client", v3: "socket.io-client-v3", v2: "socket.io-client-v2", v1: "socket.io-client-v1" };
const io = require(libs[spec.lib || "v4"]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const opts = Object.assign({ reconnectionDelay: 100, reconnectionDelayMax: 300 }, spec.opts || {});
if ((spec.lib === "v2" || spec.lib === "v1") && opts.transports === undefined) opts.transports = ["polling", "websocket"];
const socket = io.connect(spec.url, opts);
const engine = () => (socket.io && socket.io.engine) || (socket.io && socket.io.engine);

let connects = 0;
socket.on("connect", () => {
  const transport = engine() && engine().transport ? engine().transport.name : "";
  out({ type: "connect", id: socket.id, recovered: !!socket.recovered, transport });
  if (spec.auth) {
    const args = ["auth", spec.auth[0], spec.auth[1]];
    if (spec.ack) args.push((res) => out({ type: "auth-ack", res }));
    socket.emit(...args);
  }
  if (++connects === 1 && spec.blockMs) {
    const until = Date.now() + spec.blockMs;
    while (Date.now() < until);
  }
});
socket.on("connect_error", (err) => out({ type: "connect_error", message: err && err.message, data: err && err.data }));
socket.on("error", (err) => out({ type: "error", message: String(err && (err.message || err)) }));
socket.on("disconnect", (reason) => out({ type: "disconnect", reason }));
const onAny = (event, ...args) => {
  if (["connect", "disconnect", "connect_error", "error"].includes(event)) return;
  out({ type: "event", event, args, transport: engine() && engine().transport ? engine().transport.name : "" });
};
if (socket.onAny) socket.onAny(onAny);
else {
  // socket.io-client 2.x and 1.x have no onAny: wrap the packet dispatch instead.
  const orig = socket.onevent;
  socket.onevent = function (packet) {
    const args = packet.data || [];
    onAny(...args);
    return orig.call(this, packet);
  };
}
if (engine()) engine().on && engine().on("upgrade", (t) => out({ type: "upgrade", transport: t && t.name }));
socket.io.on && socket.io.on("open", () => {
  const e = engine();
  if (e && e.on) e.on("upgrade", (t) => out({ type: "upgrade", transport: t && t.name }));
});

let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, i);
    buf = buf.slice(i + 1);
    if (!line.trim()) continue;
    const c = JSON.parse(line);
    if (c.cmd === "emit") {
      const args = [c.event, ...(c.args || [])];
      if (c.ack) args.push((...res) => out({ type: "ack", event: c.event, res }));
      socket.emit(...args);
    } else if (c.cmd === "disconnect") socket.disconnect();
    else if (c.cmd === "connect") socket.connect();
    else if (c.cmd === "close-transport") engine().close();
    else if (c.cmd === "close-on-next-event") {
      // The manager's own "decoded" listener runs first and defers the packet by a tick.
      const onDecoded = (p) => {
        if (p.type !== 2) return;
        socket.io.decoder.off("decoded", onDecoded);
        engine().close();
      };
      socket.io.decoder.on("decoded", onDecoded);
      out({ type: "armed" });
    }
    else if (c.cmd === "block") {
      out({ type: "blocking" }); // stdout is a pipe: written before the loop starts
      const until = Date.now() + c.ms;
      while (Date.now() < until);
    }
    else if (c.cmd === "exit") process.exit(0);
  }
});
process.stdin.on("end", () => process.exit(0));
out({ type: "started" });
