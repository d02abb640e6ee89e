'use strict';
// The Socket.IO part of the official protocol test suite
// (socketio/socket.io-protocol, test-suite/test-suite.js), rewritten for a
// server with the main namespace only, over a raw WebSocket.
// Usage: node protocol.js URL. Prints "ok <test>" per test; exits 1 on failure.
const WebSocket = require('ws');
const WS_URL = process.argv[2].replace('http', 'ws') + '/socket.io/?EIO=4&transport=websocket';

function open() {
  const ws = new WebSocket(WS_URL);
  const queue = [];
  const waiters = [];
  let closed = false;
  ws.on('message', (data, isBinary) => {
    const m = isBinary ? Uint8Array.from(data) : data.toString();
    if (m === '2') { ws.send('3'); return; } // answer pings, hide them
    const w = waiters.shift();
    if (w) w.resolve(m); else queue.push(m);
  });
  ws.on('close', () => { closed = true; for (const w of waiters.splice(0)) w.reject(new Error('closed')); });
  ws.on('error', () => {});
  return {
    ws,
    send: (m) => ws.send(m),
    next(what) {
      if (queue.length) return Promise.resolve(queue.shift());
      if (closed) return Promise.reject(new Error('closed while waiting for ' + what));
      return within(new Promise((resolve, reject) => waiters.push({ resolve, reject })), what);
    },
    closed: () => closed ? Promise.resolve() : within(new Promise((r) => ws.on('close', r)), 'close'),
  };
}

function within(p, what, ms = 5000) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out waiting for ' + what)), ms); });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

function eq(got, want, what) {
  const g = JSON.stringify(got instanceof Uint8Array ? Array.from(got) : got);
  const w = JSON.stringify(want instanceof Uint8Array ? Array.from(want) : want);
  if (g !== w) throw new Error(`${what}: got ${g}, want ${w}`);
}

async function connected() {
  const c = open();
  const handshake = await c.next('Engine.IO handshake');
  if (!handshake.startsWith('0')) throw new Error('bad handshake ' + handshake);
  c.send('40');
  await c.next('Socket.IO handshake');
  await c.next('"auth" packet');
  return c;
}

const tests = {
  async 'should allow connection to the main namespace'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('40');
    const data = await c.next('Socket.IO handshake');
    if (!data.startsWith('40')) throw new Error('got ' + data);
    const handshake = JSON.parse(data.substring(2));
    eq(Object.keys(handshake), ['sid'], 'handshake keys');
    eq(typeof handshake.sid, 'string', 'sid');
    eq(await c.next('auth packet'), '42["auth",{}]', 'auth packet');
    c.ws.close();
  },
  async 'should allow connection to the main namespace with a payload'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('40{"token":"123"}');
    const data = await c.next('Socket.IO handshake');
    eq(Object.keys(JSON.parse(data.substring(2))), ['sid'], 'handshake keys');
    eq(await c.next('auth packet'), '42["auth",{"token":"123"}]', 'auth packet');
    c.ws.close();
  },
  async 'should disallow connection to an unknown namespace'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('40/random');
    eq(await c.next('CONNECT_ERROR'), '44/random,{"message":"Invalid namespace"}', 'reply');
    c.ws.close();
  },
  async 'should disallow connection with an invalid handshake'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('4abc');
    await c.closed();
  },
  async 'should close the connection if no handshake is received'() {
    const c = open();
    await c.closed();
  },
  async 'should send a plain-text packet'() {
    const c = await connected();
    c.send('42["message",1,"2",{"3":[true]}]');
    eq(await c.next('message-back'), '42["message-back",1,"2",{"3":[true]}]', 'echo');
    c.ws.close();
  },
  async 'should send a packet with binary attachments'() {
    const c = await connected();
    c.send('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.send(Uint8Array.from([1, 2, 3]));
    c.send(Uint8Array.from([4, 5, 6]));
    eq(await c.next('packet'), '452-["message-back",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', 'packet');
    eq(await c.next('attachment 0'), Uint8Array.from([1, 2, 3]), 'attachment 0');
    eq(await c.next('attachment 1'), Uint8Array.from([4, 5, 6]), 'attachment 1');
    c.ws.close();
  },
  async 'should send a plain-text packet with an ack'() {
    const c = await connected();
    c.send('42456["message-with-ack",1,"2",{"3":[false]}]');
    eq(await c.next('ack'), '43456[1,"2",{"3":[false]}]', 'ack');
    c.ws.close();
  },
  async 'should send a packet with binary attachments and an ack'() {
    const c = await connected();
    c.send('452-789["message-with-ack",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    c.send(Uint8Array.from([1, 2, 3]));
    c.send(Uint8Array.from([4, 5, 6]));
    eq(await c.next('packet'), '462-789[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]', 'packet');
    eq(await c.next('attachment 0'), Uint8Array.from([1, 2, 3]), 'attachment 0');
    eq(await c.next('attachment 1'), Uint8Array.from([4, 5, 6]), 'attachment 1');
    c.ws.close();
  },
  async 'should close the connection upon invalid format (unknown packet type)'() {
    const c = await connected();
    c.send('4abc');
    await c.closed();
  },
  async 'should close the connection upon invalid format (invalid payload format)'() {
    const c = await connected();
    c.send('42{}');
    await c.closed();
  },
  async 'should close the connection upon invalid format (invalid ack id)'() {
    const c = await connected();
    c.send('42abc["message-with-ack",1,"2",{"3":[false]}]');
    await c.closed();
  },
  // The official suite checks that the session outlives a DISCONNECT (a ping
  // follows); here the client also connects again on it, to a new socket.
  async 'should disconnect from the main namespace'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('40');
    const first = JSON.parse((await c.next('Socket.IO handshake')).substring(2)).sid;
    await c.next('"auth" packet');
    c.send('41');
    c.send('40{"again":true}');
    const data = await c.next('second Socket.IO handshake');
    if (!data.startsWith('40')) throw new Error('got ' + data);
    const second = JSON.parse(data.substring(2)).sid;
    if (second === first) throw new Error('the second socket has the first one\'s id');
    eq(await c.next('auth packet'), '42["auth",{"again":true}]', 'auth packet');
    c.ws.close();
  },
  // Not in the official suite: a main-namespace-only server refuses events
  // before CONNECT.
  async 'should close the connection upon an event before CONNECT'() {
    const c = open();
    await c.next('Engine.IO handshake');
    c.send('42["message"]');
    await c.closed();
  },
  async 'should close the connection upon a lying attachment count'() {
    const c = await connected();
    c.send('4511-["message"]');
    await c.closed();
  },
};

(async () => {
  for (const [name, fn] of Object.entries(tests)) {
    try {
      await fn();
    } catch (e) {
      console.log(`FAIL ${name}: ${e && e.stack || e}`);
      process.exit(1);
    }
    console.log('ok ' + name);
  }
  process.exit(0);
})();
