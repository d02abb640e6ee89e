// The original pushinator's client flow with the real socket.io-client 0.9.16, in Node.
// Argument (JSON): {url, transport, userId, hash, ack, reconnect}. Prints JSON lines: connect, auth-ack,
// message (the raw data the 0.9 client hands to on('message')), event, disconnect, blocking.
const io = require("socket.io-client-v09");
const spec = JSON.parse(process.argv[2]);
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
// The client loses its transports option in Node (its option merge skips the key "0"):
// the global list is what a socket starts from.
if (spec.transport) io.transports = [spec.transport];

var socket = io.connect(spec.url, { "force new connection": true, reconnect: !!spec.reconnect, "reconnection delay": 100 });
socket.on("connect", function () {
  out({ type: "connect", transport: socket.socket.transport.name });
  if (spec.ack) socket.emit("auth", spec.userId, spec.hash, function (res) { out({ type: "auth-ack", res: res }); });
  else socket.emit("auth", spec.userId, spec.hash);
});
socket.on("message", function (message) { out({ type: "message", message: message }); });
socket.on("news", function (data) { out({ type: "event", event: "news", args: [data] }); });
socket.on("disconnect", function (reason) { out({ type: "disconnect", reason: reason }); });
socket.on("error", function (e) { out({ type: "error", message: String(e) }); });
// Commands on stdin, one JSON line each: {"cmd":"block","ms":n} keeps the event loop busy for
// n ms (a frozen tab) after printing {"type":"blocking"}: the client neither reads nor polls.
let buf = "";
process.stdin.on("data", (d) => {
  buf += d;
  let i;
  while ((i = buf.indexOf("\n")) >= 0) {
    const c = JSON.parse(buf.slice(0, i) || "{}");
    buf = buf.slice(i + 1);
    if (c.cmd === "block") {
      out({ type: "blocking" }); // stdout is a pipe: written before the loop starts
      const until = Date.now() + c.ms;
      while (Date.now() < until);
    }
  }
});
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
