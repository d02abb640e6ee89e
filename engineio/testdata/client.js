// Drives a real engine.io-client against the Go test server.
// Usage: node client.js '<json config>'
//   {version: "6"|"4"|"3", url, path, transports, upgrade, forceJSONP,
//    messages, aliveMs, expectTransport}
// It sends messages (text and binary), expects each echoed, stays open for
// aliveMs (heartbeats must keep it alive), sends once more, then closes.
// Prints one JSON line with the outcome; exits 1 on failure.
"use strict";

const cfg = JSON.parse(process.argv[2]);

function fail(msg) {
  console.log(JSON.stringify({ ok: false, error: String(msg) }));
  process.exit(1);
}
setTimeout(() => fail("timeout"), cfg.timeoutMs || 20000).unref();

if (cfg.forceJSONP) installDOMShim();

let socket;
if (cfg.version === "6") {
  const { Socket } = require("engine.io-client");
  socket = new Socket(cfg.url, {
    path: cfg.path,
    transports: cfg.transports,
    upgrade: cfg.upgrade,
  });
} else {
  // 4: engine.io-client 4.x of socket.io-client 3.1; 3: engine.io-client
  // 3.x (Engine.IO v3) of socket.io-client 2.x.
  const owner = cfg.version === "4" ? "socket.io-client-v3" : "socket.io-client-v2";
  let eio;
  try {
    // By absolute path: the owner's package "exports" hide its node_modules.
    const path = require("path");
    const fs = require("fs");
    const dirs = (process.env.NODE_PATH || "").split(path.delimiter).filter(Boolean);
    const dir = dirs.map((d) => path.join(d, owner, "node_modules", "engine.io-client")).find((d) => fs.existsSync(d));
    if (!dir) throw new Error("not in NODE_PATH " + process.env.NODE_PATH);
    eio = require(dir);
  } catch (e) {
    fail(`engine.io-client ${cfg.version}.x not found under ${owner}: ${e.message}`);
  }
  socket = eio(cfg.url, {
    path: cfg.path,
    transports: cfg.transports,
    upgrade: cfg.upgrade,
    forceJSONP: !!cfg.forceJSONP,
  });
}

let heartbeats = 0;
socket.on("ping", () => heartbeats++); // v3: the client pings
socket.on("heartbeat", () => heartbeats++);
socket.on("upgradeError", (e) => console.error("upgradeError:", e && e.message));
socket.on("error", (e) => fail("error: " + (e && e.message ? e.message : e)));
let closedByUs = false;
socket.on("close", (reason) => {
  if (!closedByUs) fail("closed: " + reason);
});

const expected = [];
let upgraded = false;
const upgradedP = new Promise((resolve) => socket.on("upgrade", () => { upgraded = true; resolve(); }));
let waiter = null;
socket.on("message", (data) => {
  const got = typeof data === "string" ? data : "bin:" + Buffer.from(data).toString("hex");
  const want = expected.shift();
  if (got !== want) fail(`echo: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  if (expected.length === 0 && waiter) { const w = waiter; waiter = null; w(); }
});

function sendAll(n, tag) {
  return new Promise((resolve) => {
    waiter = resolve;
    for (let i = 0; i < n; i++) {
      const text = `${tag}-${i} é😀 \n"quote"`;
      expected.push(text);
      socket.send(text);
    }
    if (!cfg.forceJSONP) {
      expected.push("bin:00010203ff");
      socket.send(Buffer.from([0, 1, 2, 3, 255]));
    }
  });
}

socket.on("open", async () => {
  try {
    await sendAll(cfg.messages || 5, "a");
    if (cfg.upgrade) await upgradedP;
    await new Promise((r) => setTimeout(r, cfg.aliveMs || 0));
    await sendAll(2, "b");
    const transport = socket.transport.name;
    if (cfg.expectTransport && transport !== cfg.expectTransport) {
      fail(`transport ${transport}, want ${cfg.expectTransport}`);
    }
    closedByUs = true;
    socket.close();
    console.log(JSON.stringify({ ok: true, transport, upgraded, heartbeats }));
    setTimeout(() => process.exit(0), 50);
  } catch (e) {
    fail(e);
  }
});

// installDOMShim gives engine.io-client 3.x's JSONP transport the few DOM
// pieces it uses: <script src> (GET, then run the response) and a form
// POST into a hidden iframe.
function installDOMShim() {
  const http = require("http");
  const vm = require("vm");
  const fetchText = (url, opts, body) =>
    new Promise((resolve, reject) => {
      const req = http.request(url, opts, (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (data += c));
        res.on("end", () => resolve({ status: res.statusCode, data }));
      });
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  const node = (tag) => ({
    tagName: tag,
    style: {},
    children: [],
    parentNode: null,
    setAttribute() {},
    appendChild(c) { c.parentNode = this; this.children.push(c); if (c.tagName === "script") load(c); return c; },
    insertBefore(c) { return this.appendChild(c); },
    removeChild(c) { c.parentNode = null; this.children = this.children.filter((x) => x !== c); },
    submit() { submit(this); },
  });
  const load = (script) => {
    fetchText(script.src, { method: "GET" })
      .then((r) => {
        if (r.status !== 200) throw new Error("jsonp GET " + r.status + " " + r.data);
        if (script.parentNode) vm.runInThisContext(r.data);
      })
      .catch((e) => script.onerror && script.onerror(e));
  };
  const submit = (form) => {
    const area = form.children.find((c) => c.tagName === "textarea");
    const body = new URLSearchParams({ d: area.value }).toString();
    const iframe = form.children.find((c) => c.tagName === "iframe");
    fetchText(form.action, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" } }, body)
      .then((r) => {
        if (r.status !== 200 || r.data !== "ok") throw new Error("jsonp POST " + r.status + " " + r.data);
        if (iframe && iframe.onload) iframe.onload();
      })
      .catch((e) => fail(e));
  };
  const body = node("body");
  global.document = {
    body,
    head: body,
    createElement(tag) {
      if (tag.startsWith("<")) throw new Error("no HTML parsing");
      return node(tag);
    },
    getElementsByTagName() { return []; },
  };
}
