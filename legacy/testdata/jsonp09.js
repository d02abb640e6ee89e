// Drives the browser build of socket.io-client 0.9.16 (dist/socket.io.js)
// over jsonp-polling, in a vm context with just enough of a DOM: a page on
// another origin and no XMLHttpRequest, so the client handshakes with a
// <script> tag too; <script> elements load their src with an HTTP GET and
// run the answer (`io.j[N]("...")`); a <form> posts its textarea as `d=`
// and then fires its iframe's onload.
// Usage: node jsonp09.js <url>
// Prints one JSON line per observation, like client09.js's auth scenario.
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const vm = require('vm');

const [url] = process.argv.slice(2);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const fail = (msg) => { process.stderr.write(msg + '\n'); process.exit(1); };
setTimeout(() => fail('jsonp scenario timed out'), 15000).unref();

const dist = path.join(path.dirname(require.resolve('socket.io-client-v09/package.json')), 'dist', 'socket.io.js');
let context;

function element(tag) {
  const el = {
    tagName: tag.toUpperCase(), style: {}, children: [], parentNode: null,
    setAttribute() {},
    appendChild(child) { child.parentNode = el; el.children.push(child); return child; },
    removeChild(child) { child.parentNode = null; el.children = el.children.filter((c) => c !== child); },
    insertBefore(child) {
      el.appendChild(child);
      if (child.tagName === 'SCRIPT') load(child);
      return child;
    },
  };
  if (tag === 'form') el.submit = () => submit(el);
  return el;
}

function load(script) {
  http.get(script.src, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => {
      if (res.statusCode !== 200) {
        if (script.onerror) script.onerror(new Error('HTTP ' + res.statusCode));
        return;
      }
      vm.runInContext(body, context);
    });
  }).on('error', (e) => { if (script.onerror) script.onerror(e); });
}

function submit(form) {
  const area = form.children.find((c) => c.name === 'd');
  const body = 'd=' + encodeURIComponent(area.value);
  const req = http.request(form.action, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': Buffer.byteLength(body) },
  }, (res) => {
    res.resume();
    res.on('end', () => {
      const iframe = form.children.find((c) => c.tagName === 'IFRAME');
      if (iframe && iframe.onload) iframe.onload();
    });
  });
  req.on('error', () => {});
  req.end(body);
}

const html = element('html');
const anchor = element('script');
html.appendChild(anchor);
context = vm.createContext({
  setTimeout, clearTimeout, setInterval, clearInterval, console,
  location: { protocol: 'http:', hostname: 'page.example', port: '80', host: 'page.example', href: 'http://page.example/' },
  document: {
    domain: 'page.example',
    documentElement: { style: {} },
    body: element('body'),
    createElement(tag) {
      if (tag.startsWith('<')) throw new Error('not IE');
      return element(tag);
    },
    getElementsByTagName(tag) { return tag === 'script' ? [anchor] : []; },
  },
});
vm.runInContext(fs.readFileSync(dist, 'utf8'), context, { filename: dist });

const io = context.io;
io.transports = ['jsonp-polling'];
const s = io.connect(url, { 'force new connection': true, reconnect: false });
s.on('error', (e) => out({ error: String(e) }));
s.on('connect', () => {
  out({ connect: s.socket.transport.name });
  s.emit('auth', 5, 'x\n"y"', (res) => out({ ack: res }));
});
s.on('message', (m) => out({ message: m }));
s.on('disconnect', (reason) => { out({ disconnect: reason }); process.exit(0); });
