// Drives the real socket.io-client 0.9.16 against the server under test.
// Usage: node client09.js <url> <scenario> [transport]
// Prints one JSON line per observation on stdout; exits 0 when the scenario
// completed, 1 (with a reason on stderr) otherwise.
'use strict';
const client = require('socket.io-client-v09');

const [url, scenario, transport = ''] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(1); };
setTimeout(() => fail('scenario ' + scenario + ' timed out'), 15000).unref();

// The transports option is lost in Node: the client's deep merge skips the
// key '0' once it has seen `secure: false` ('0' == false). The global list
// is what a Socket starts from, so set that.
// An empty transport keeps the client's defaults, so the server's order
// decides.
if (transport) client.transports = [transport];

function connect() {
  return client.connect(url, {
    'force new connection': true,
    reconnect: false,
    'try multiple transports': false,
  });
}

const scenarios = {
  // auth with an ack, then a pushed message, then the server disconnects.
  auth() {
    const s = connect();
    s.on('error', (e) => out({ error: String(e) }));
    s.on('connect', () => {
      out({ connect: s.socket.transport.name });
      s.emit('auth', 5, 'x', (res) => out({ ack: res }));
    });
    s.on('message', (m) => out({ message: m }));
    s.on('disconnect', (reason) => { out({ disconnect: reason }); process.exit(0); });
  },
  // stay idle past the heartbeat/close timeout, then check the link works.
  idle() {
    const s = connect();
    let disconnected = false;
    s.on('disconnect', (reason) => { disconnected = true; out({ disconnect: reason }); });
    s.on('connect', () => {
      out({ connect: s.socket.transport.name });
      setTimeout(() => {
        if (disconnected) fail('disconnected while idle');
        s.emit('echo', 'still here', (res) => {
          out({ ack: res });
          s.removeAllListeners('disconnect');
          s.disconnect();
          // Give a polling client's POST time to leave before exiting.
          setTimeout(() => process.exit(0), 300);
        });
      }, Number(process.env.IDLE_MS || 2500));
    });
  },
  // several clients in one process, each gets its own message.
  multi() {
    const n = 3;
    let done = 0;
    for (let i = 0; i < n; i++) {
      const s = connect();
      s.on('connect', () => s.emit('auth', i, 'x', () => {}));
      s.on('message', (m) => {
        out({ client: i, message: m });
        s.disconnect();
        // Give a polling client's POST time to leave before exiting.
        if (++done === n) setTimeout(() => process.exit(0), 300);
      });
    }
  },
  // the client disconnects itself.
  leave() {
    const s = connect();
    s.on('connect', () => {
      out({ connect: s.socket.transport.name });
      s.emit('auth', 1, 'x', () => {
        s.disconnect();
        out({ left: true });
        // Give a polling client's POST time to leave before exiting.
        setTimeout(() => process.exit(0), 300);
      });
    });
  },
  // a namespace other than the main one is refused.
  namespace() {
    const s = connect();
    s.on('connect', () => {
      const chat = s.of('/chat');
      chat.on('connect_failed', (r) => { out({ connect_failed: r }); process.exit(0); });
      chat.on('connect', () => fail('connected to /chat'));
    });
  },
};

if (!scenarios[scenario]) fail('unknown scenario ' + scenario);
scenarios[scenario]();
