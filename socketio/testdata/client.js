'use strict';
// Drives the test server with a real socket.io client and checks what the
// client sees. Usage: node client.js URL v4|v3|v2 websocket|polling|default|jsonp
// Prints "ok <scenario>" per scenario; exits 1 with the reason on failure.
const [, , url, version, mode] = process.argv;
const lib = { v4: 'socket.io-client', v3: 'socket.io-client-v3', v2: 'socket.io-client-v2' }[version];
if (!lib) throw new Error('unknown client version ' + version);
if (mode === 'jsonp') require('./jsonp-shim.js');
const io = require(lib);
const isV2 = version === 'v2';

function opts(extra) {
  const o = { forceNew: true, reconnectionDelay: 50, reconnectionDelayMax: 100, timeout: 5000 };
  if (mode === 'websocket') o.transports = ['websocket'];
  if (mode === 'polling') o.transports = ['polling'];
  if (mode === 'jsonp') { o.transports = ['polling']; o.forceJSONP = true; }
  return Object.assign(o, extra);
}

const sockets = [];
function connect(path, extra) {
  const s = io(url + path, opts(extra));
  sockets.push(s);
  return s;
}

function once(emitter, ev) {
  return new Promise((resolve) => emitter.once(ev, (...args) => resolve(args)));
}

function within(promise, what, ms = 5000) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), ms); });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

function eq(got, want, what) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

function emitWithAck(s, ...args) {
  return within(new Promise((resolve) => s.emit(...args, (...reply) => resolve(reply))), 'ack of ' + args[0]);
}

const expectedTransport = { websocket: 'websocket', polling: 'polling', default: 'websocket', jsonp: 'jsonp' }[mode];

const scenarios = {
  // Everything a connected socket does, then a client-side disconnect.
  async basic() {
    const auth = { token: 't1' };
    const s = connect('/', isV2 ? {} : { auth });
    const [welcome] = await within(once(s, 'welcome'), 'welcome');
    eq(welcome.protocol, isV2 ? 4 : 5, 'socket.io protocol');
    eq(welcome.auth, isV2 ? null : auth, 'auth payload seen by Connect');
    if (!isV2) eq(welcome.id, s.id, 'socket id');
    if (!s.connected) throw new Error('welcome before connect');

    const echo = once(s, 'echo');
    s.emit('echo', 1, '2', { 3: [true] }, 'é<&>');
    eq(await within(echo, 'echo'), [1, '2', { 3: [true] }, 'é<&>'], 'server event echoing a client event');

    eq(await emitWithAck(s, 'ack', 'a', { b: null }), ['a', { b: null }], 'ack from the server');

    s.on('question', (q, answer) => answer('answer to ' + q));
    const answer = once(s, 'answer');
    s.emit('ask', 'q1');
    eq(await within(answer, 'answer'), ['answer to q1'], 'client ack of a server event');

    eq(await emitWithAck(s, 'binary', Buffer.from([1, 2, 3]), { nested: Buffer.alloc(5) }, 'x'),
      [[3, 5], 'x'], 'binary event: attachment lengths');

    if (mode === 'default' && s.io.engine.transport.name !== 'websocket') {
      await within(once(s.io.engine, 'upgrade'), 'upgrade to websocket');
    }
    eq(await emitWithAck(s, 'transport'), [expectedTransport], 'transport seen by the server');

    const disc = once(s, 'disconnect');
    s.disconnect();
    eq((await disc)[0], 'io client disconnect', 'disconnect reason');
  },

  // socket.disconnect() on the server: the client must not reconnect.
  // Over polling this needs the Engine.IO close packet in a poll response of
  // its own, after the one carrying the DISCONNECT (the official server waits
  // for "drain"): socket.io-client 4.x handles decoded packets on the next
  // tick, so a close packet in the same payload wins and it reports
  // "transport close" (and reconnects) instead of "io server disconnect".
  async serverDisconnect() {
    const s = connect('/');
    await within(once(s, 'welcome'), 'welcome');
    const disc = once(s, 'disconnect');
    s.emit('disconnect-me');
    eq((await within(disc, 'disconnect'))[0], 'io server disconnect', 'disconnect reason');
    s.close();
  },

  // The server drops the Engine.IO session: the client reconnects by itself
  // and gets a new socket.
  async reconnect() {
    const s = connect('/');
    const [first] = await within(once(s, 'welcome'), 'welcome');
    const disc = once(s, 'disconnect');
    const again = new Promise((resolve) => s.on('welcome', (w) => { if (w.id !== first.id) resolve(w); }));
    s.emit('drop-transport');
    eq((await within(disc, 'disconnect'))[0], 'transport close', 'disconnect reason');
    await within(again, 'welcome after reconnecting');
    eq(await emitWithAck(s, 'ack', 'still here'), ['still here'], 'ack after reconnecting');
    s.disconnect();
  },

  // Connect refuses the socket: connect_error with the message (v2: "error").
  async refused() {
    const s = connect('/', isV2 ? { query: { refuse: 'not allowed' } } : { auth: { refuse: 'not allowed' } });
    if (isV2) {
      eq(await within(once(s, 'error'), 'error'), ['not allowed'], 'error');
    } else {
      const [err] = await within(once(s, 'connect_error'), 'connect_error');
      eq(err.message, 'not allowed', 'connect_error message');
    }
    if (s.connected) throw new Error('refused socket is connected');
    s.close();
  },

  // Connection state recovery (socket.io-client >= 4.6): the server sets a
  // pid in the CONNECT reply; events end with an offset; after a drop the
  // client presents both and the server resumes the same session.
  async recovery() {
    if (version !== 'v4') return;
    const s = connect('/', { auth: { recover: true } });
    await within(once(s, 'welcome'), 'welcome');
    eq(s.recovered, false, 'recovered on first connect');
    const first = once(s, 'news');
    s.emit('news-please');
    eq(await within(first, 'news'), ['first', 'o-1'], 'news');
    const missed = once(s, 'news');
    s.emit('drop-transport');
    eq(await within(missed, 'news after reconnecting'), ['missed since o-1', 'o-2'], 'news after recovery');
    eq(s.recovered, true, 'recovered after reconnecting');
    s.disconnect();
  },

  // Only "/" exists.
  async namespace() {
    const s = connect('/admin');
    if (isV2) {
      eq(await within(once(s, 'error'), 'error'), ['Invalid namespace'], 'error');
    } else {
      const [err] = await within(once(s, 'connect_error'), 'connect_error');
      eq(err.message, 'Invalid namespace', 'connect_error message');
    }
    s.close();
  },
};

(async () => {
  const only = process.env.SCENARIOS ? process.env.SCENARIOS.split(',') : Object.keys(scenarios);
  for (const name of only) {
    try {
      await scenarios[name]();
    } catch (e) {
      console.log(`FAIL ${name}: ${e && e.stack || e}`);
      process.exit(1);
    }
    console.log('ok ' + name);
  }
  // Let the last close packets leave before exiting.
  for (const s of sockets) s.close();
  setTimeout(() => process.exit(0), 100);
})();
