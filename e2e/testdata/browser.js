// Drives Debian's chromium (headless) with playwright-core for the browser tests. It never
// downloads a browser: it launches /usr/bin/chromium (or $PUSHINATOR_CHROMIUM).
//
//   node browser.js USER_DATA_DIR
//
// Commands arrive on stdin, one JSON object a line, each with an id; every command gets one
// reply line on stdout: {"type":"reply","id":N,"ok":true,"value":…} or {…,"ok":false,"error":…}.
// Pages are named, so a test can hold a client page and the status page at once.
//   {"cmd":"open","page":"p","url":"…","routes":{"https://cdn…/socket.io.min.js":"/abs/file.js"}}
//   {"cmd":"waitFor","page":"p","expr":"JS expression","timeout":ms}  value: the expression's value
//   {"cmd":"eval","page":"p","expr":"JS expression"}
//   {"cmd":"screenshot","page":"p","path":"/abs/file.png"}
//   {"cmd":"close","page":"p"}, {"cmd":"quit"}
// Console lines, page errors and refused requests are reported as events too, for the
// test's failure messages.
const readline = require('readline');
const { chromium } = require('playwright-core');

const userDataDir = process.argv[2];
const executablePath = process.env.PUSHINATOR_CHROMIUM || '/usr/bin/chromium';

function out(obj) { process.stdout.write(JSON.stringify(obj) + '\n'); }

// Only loopback is reachable here (and a test must not depend on anything else): every
// request elsewhere is refused, unless a route serves it from a local file.
function isLoopback(url) {
  try {
    const host = new URL(url).hostname;
    return host === '127.0.0.1' || host === 'localhost' || host === '[::1]';
  } catch (e) {
    return url.startsWith('data:') || url.startsWith('about:');
  }
}

async function main() {
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 760 },
    timeout: 60000,
  });
  const pages = new Map();

  async function open(name, url, routes) {
    if (pages.has(name)) await pages.get(name).close();
    const page = await context.newPage();
    pages.set(name, page);
    page.on('console', (m) => out({ type: 'console', page: name, level: m.type(), text: m.text() }));
    page.on('pageerror', (e) => out({ type: 'pageerror', page: name, text: String(e) }));
    // Later routes take precedence in playwright: the catch-all goes first.
    await page.route('**/*', (route) => {
      const u = route.request().url();
      if (isLoopback(u)) return route.fallback();
      out({ type: 'blocked', page: name, url: u });
      return route.abort('blockedbyclient');
    });
    for (const [pattern, file] of Object.entries(routes || {})) {
      await page.route(pattern, (route) => {
        out({ type: 'routed', page: name, url: route.request().url(), file });
        return route.fulfill({ path: file, contentType: 'application/javascript; charset=utf-8' });
      });
    }
    // Not 'load': a JSONP long poll started during load holds the load event back.
    await page.goto(url, { waitUntil: 'domcontentloaded' });
    return page.url();
  }

  function page(name) {
    const p = pages.get(name || 'main');
    if (!p) throw new Error(`no page named ${name}`);
    return p;
  }

  async function run(cmd) {
    switch (cmd.cmd) {
      case 'open': return open(cmd.page || 'main', cmd.url, cmd.routes);
      case 'waitFor': {
        // A function, not a string: playwright would eval() a string inside the page on every
        // poll, which the status page's Content-Security-Policy (rightly) forbids.
        const predicate = new Function(`return (${cmd.expr});`);
        const handle = await page(cmd.page).waitForFunction(predicate, null, { timeout: cmd.timeout || 10000, polling: 50 });
        return handle.jsonValue();
      }
      case 'eval': return page(cmd.page).evaluate(cmd.expr);
      case 'screenshot': await page(cmd.page).screenshot({ path: cmd.path, fullPage: true }); return cmd.path;
      case 'close': await page(cmd.page).close(); pages.delete(cmd.page || 'main'); return true;
      case 'quit': await context.close(); return true;
      default: throw new Error(`unknown command ${cmd.cmd}`);
    }
  }

  out({ type: 'ready', version: context.browser() ? context.browser().version() : '' });
  const rl = readline.createInterface({ input: process.stdin });
  // One command at a time, in order: the test waits for each reply anyway.
  let chain = Promise.resolve();
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      let cmd;
      try { cmd = JSON.parse(line); } catch (e) { out({ type: 'reply', ok: false, error: `bad command: ${line}` }); return; }
      try {
        const value = await run(cmd);
        out({ type: 'reply', id: cmd.id, ok: true, value: value === undefined ? null : value });
      } catch (e) {
        out({ type: 'reply', id: cmd.id, ok: false, error: String(e && e.message || e) });
      }
      if (cmd.cmd === 'quit') process.exit(0);
    });
  });
  // The test went away (its stdin closed): take the browser down with us.
  rl.on('close', () => { chain.then(() => context.close()).finally(() => process.exit(0)); });
}

main().catch((e) => {
  out({ type: 'fatal', error: String(e && e.stack || e) });
  process.exit(1);
});
