'use strict';
// A minimal DOM for engine.io-client 3.x's JSONP transport in Node: a
// <script> element loads its src with an HTTP GET and runs the answer
// (`___eio[n]("...")`); a <form> posts its textarea as `d=` and then fires
// the iframe's onload, which is all polling-jsonp.js uses.
const http = require('http');
const vm = require('vm');

function element(tag) {
  const el = {
    tagName: tag.toUpperCase(), style: {}, children: [], parentNode: null,
    setAttribute() {},
    appendChild(child) { child.parentNode = el; el.children.push(child); return child; },
    removeChild(child) { child.parentNode = null; el.children = el.children.filter((c) => c !== child); },
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
        if (script.onerror) script.onerror(new Error('jsonp poll: HTTP ' + res.statusCode));
        return;
      }
      vm.runInThisContext(body);
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

const head = element('head');
const origAppend = head.appendChild;
head.appendChild = (child) => {
  origAppend(child);
  if (child.tagName === 'SCRIPT') load(child);
  return child;
};

global.document = {
  head,
  body: element('body'),
  createElement(tag) {
    if (tag.startsWith('<iframe')) throw new Error('no IE here');
    return element(tag);
  },
  getElementsByTagName() { return []; },
};
