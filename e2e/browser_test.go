package e2e

// A real browser: Debian's chromium, headless, driven by playwright-core (testdata/browser.js),
// runs the README flow with socket.io-client's own browser bundles, the examples/ page and the
// admin status page. .ci/run installs chromium; without it these tests fail, they never skip.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// browserWait bounds each wait for a page: generous, since chromium on two busy cores can
// take seconds for what usually takes milliseconds.
const browserWait = 30 * time.Second

// chromiumPath is the browser the tests drive: Debian's package, never a downloaded build.
func chromiumPath() string {
	if p := os.Getenv("PUSHINATOR_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browser is one chromium run by testdata/browser.js.
type browser struct {
	t    *testing.T
	node *client
	next int
}

// startBrowser launches chromium with a fresh user-data dir; it fails (not skips) the test
// when chromium or playwright-core is missing.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	requireNode(t)
	if _, err := exec.LookPath(chromiumPath()); err != nil {
		t.Fatalf("chromium is not installed (%v): the browser tests need Debian's chromium, "+
			"`apt-get install -y chromium` (.ci/run does it)", err)
	}
	if _, err := os.Stat(filepath.Join(nodeModules, "playwright-core")); err != nil {
		t.Fatalf("playwright-core is missing: run `npm ci --prefix e2e/node` (%v)", err)
	}
	b := &browser{t: t, node: startNode(t, "chromium", "testdata/browser.js", t.TempDir())}
	// Registered after startNode's cleanup, so it runs first: chromium closes cleanly before
	// node is killed, and no browser process outlives the test.
	t.Cleanup(func() {
		b.node.send(map[string]any{"cmd": "quit", "id": -1})
		done := make(chan struct{})
		go func() { b.node.cmd.Process.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("chromium did not quit within 15 s")
		}
	})
	ready := b.waitNode("ready", 60*time.Second)
	if ready["type"] == "fatal" {
		t.Fatalf("chromium did not start: %v", ready["error"])
	}
	return b
}

// waitNode waits for an event of type typ, or a fatal error of the driver.
func (b *browser) waitNode(typ string, timeout time.Duration) map[string]any {
	b.t.Helper()
	c := b.node
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		for c.seen < len(c.events) {
			ev := c.events[c.seen]
			c.seen++
			if ev["type"] == typ || ev["type"] == "fatal" {
				c.mu.Unlock()
				return ev
			}
		}
		c.mu.Unlock()
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %v waiting for the browser driver's %q; it said %v; stderr: %s", timeout, typ, b.log(), c.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// log is what the pages said (console, errors, refused requests), for failure messages.
func (b *browser) log() string {
	var lines []string
	for _, ev := range b.node.all() {
		switch ev["type"] {
		case "console", "pageerror", "blocked", "routed", "fatal":
			data, _ := json.Marshal(ev)
			lines = append(lines, string(data))
		}
	}
	return strings.Join(lines, "\n")
}

// do runs one driver command and returns its value; a failed command fails the test.
func (b *browser) do(cmd map[string]any, timeout time.Duration) any {
	b.t.Helper()
	b.next++
	cmd["id"] = b.next
	b.node.send(cmd)
	reply := b.waitNode("reply", timeout+10*time.Second)
	if reply["type"] == "fatal" {
		b.t.Fatalf("browser driver died: %v", reply["error"])
	}
	if reply["id"] != float64(b.next) {
		b.t.Fatalf("browser driver replied to %v, want %d: %v", reply["id"], b.next, reply)
	}
	if reply["ok"] != true {
		b.t.Fatalf("browser %s %v: %v\npage log:\n%s", cmd["cmd"], cmd["expr"], reply["error"], b.log())
	}
	return reply["value"]
}

func (b *browser) open(page, u string, routes map[string]string) {
	b.t.Helper()
	b.do(map[string]any{"cmd": "open", "page": page, "url": u, "routes": routes}, 30*time.Second)
}

// waitFor waits until the JavaScript expression is truthy in the page and returns its value.
func (b *browser) waitFor(page, expr string, timeout time.Duration) any {
	b.t.Helper()
	return b.do(map[string]any{"cmd": "waitFor", "page": page, "expr": expr, "timeout": timeout.Milliseconds()}, timeout)
}

func (b *browser) eval(page, expr string) any {
	b.t.Helper()
	return b.do(map[string]any{"cmd": "eval", "page": page, "expr": expr}, 10*time.Second)
}

func (b *browser) screenshot(page, path string) {
	b.t.Helper()
	b.do(map[string]any{"cmd": "screenshot", "page": page, "path": path}, 20*time.Second)
	// PUSHINATOR_SCREENSHOTS=dir keeps a copy, to look at what the test saw.
	if dir := os.Getenv("PUSHINATOR_SCREENSHOTS"); dir != "" {
		if data, err := os.ReadFile(path); err == nil {
			os.WriteFile(filepath.Join(dir, filepath.Base(path)), data, 0o644)
		}
	}
}

// bundles are socket.io-client's own browser builds, as a web page would load them.
func bundles(t *testing.T) map[string]string {
	t.Helper()
	b := map[string]string{
		"v4": filepath.Join(nodeModules, "socket.io-client", "dist", "socket.io.min.js"),
		"v2": filepath.Join(nodeModules, "socket.io-client-v2", "dist", "socket.io.js"),
		"v1": filepath.Join(nodeModules, "socket.io-client-v1", "dist", "socket.io.js"),
	}
	for name, path := range b {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("the socket.io-client %s browser bundle is missing: run `npm ci --prefix e2e/node` (%v)", name, err)
		}
	}
	return b
}

// pageServer serves the test pages on loopback, on another port than pushinator's client
// port: polling is then cross-origin, as it is for most sites (CORS is exercised too).
func pageServer(t *testing.T) *httptest.Server {
	t.Helper()
	bundle := bundles(t)
	readme, err := os.ReadFile("testdata/browser-readme.html")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readme/{client}", func(w http.ResponseWriter, r *http.Request) {
		client := r.PathValue("client")
		if _, ok := bundle[client]; !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(strings.Replace(string(readme), "{{BUNDLE}}", "/bundle/"+client+".js", 1)))
	})
	mux.HandleFunc("GET /bundle/{file}", func(w http.ResponseWriter, r *http.Request) {
		path, ok := bundle[strings.TrimSuffix(r.PathValue("file"), ".js")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/javascript; charset=utf-8")
		http.ServeFile(w, r, path)
	})
	// examples/ exactly as shipped.
	mux.Handle("GET /examples/", http.StripPrefix("/examples/", http.FileServer(http.Dir("../examples"))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// stat reads one number from /stats by a dotted path ("connections.byTransport.websocket").
func (s *server) stat(path string) float64 {
	s.t.Helper()
	_, st := s.getJSON("/stats")
	var v any = st
	for _, k := range strings.Split(path, ".") {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	n, _ := v.(float64)
	return n
}

// The README flow in chromium with socket.io-client's browser bundles, over each transport
// the bundle has; the test reads the messages from the page.
func TestBrowserReadmeFlow(t *testing.T) {
	b := startBrowser(t)
	pages := pageServer(t)
	cases := []struct {
		name    string
		client  string
		opts    string
		history string // the transports the page went through
		server  string // the transport the server counts in the end
	}{
		{"4.x websocket", "v4", `{"transports":["websocket"]}`, "websocket", "websocket"},
		{"4.x polling", "v4", `{"transports":["polling"]}`, "polling", "polling"},
		{"4.x polling upgraded", "v4", `{}`, "polling,websocket", "websocket"},
		{"2.x websocket", "v2", `{"transports":["websocket"]}`, "websocket", "websocket"},
		{"2.x xhr polling", "v2", `{"transports":["polling"]}`, "polling", "polling"},
		{"2.x jsonp polling", "v2", `{"transports":["polling"],"forceJSONP":true}`, "polling", "jsonp"},
		{"2.x polling upgraded", "v2", `{}`, "polling,websocket", "websocket"},
		{"1.x websocket", "v1", `{"transports":["websocket"]}`, "websocket", "websocket"},
		{"1.x xhr polling", "v1", `{"transports":["polling"]}`, "polling", "polling"},
		{"1.x jsonp polling", "v1", `{"transports":["polling"],"forceJSONP":true}`, "polling", "jsonp"},
		{"1.x polling upgraded", "v1", `{}`, "polling,websocket", "websocket"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			s := startServer(t, "", "")
			s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
			q := url.Values{"url": {s.clientURL}, "userId": {"5"}, "hash": {"xxx1234"}, "opts": {tc.opts}}
			b.open("main", pages.URL+"/readme/"+tc.client+"?"+q.Encode(), nil)
			b.waitFor("main", `document.getElementById('status').dataset.state === 'authenticated'`, browserWait)
			last := tc.history[strings.LastIndex(tc.history, ",")+1:]
			b.waitFor("main", fmt.Sprintf(`document.getElementById('transport').textContent === %q`, last), browserWait)
			if got := b.eval("main", `document.getElementById('transport').dataset.history`); got != tc.history {
				t.Fatalf("the page went through the transports %v, want %s", got, tc.history)
			}
			waitFor(t, browserWait, "the server to count the browser's "+tc.server+" connection", func() bool {
				return s.stat("connections.byTransport."+tc.server) == 1 && s.stat("connections.total") == 1
			})

			out := s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			if out["delivered"] != float64(1) {
				t.Fatalf("send: %v, want delivered 1", out)
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":{"title":"Hi","unread":3}}`)
			s.mustAdmin("/user/send", `{"userId":5,"message":"héllo — 世界 🎉"}`)
			got := b.waitFor("main", `(function () {
				var li = document.querySelectorAll('#messages li');
				return li.length >= 3 && Array.prototype.map.call(li, function (e) { return e.textContent; });
			})()`, browserWait)
			want := []any{"example message", `{"title":"Hi","unread":3}`, "héllo — 世界 🎉"}
			if jsonString(got) != jsonString(want) {
				t.Fatalf("the page shows %v, want %v", got, want)
			}
			b.do(map[string]any{"cmd": "close", "page": "main"}, 10*time.Second)
		})
	}
}

// examples/client.html, served as it is; its CDN <script src> is answered with the local
// socket.io-client bundle (the test machine has no internet).
func TestBrowserExamplePage(t *testing.T) {
	b := startBrowser(t)
	pages := pageServer(t)
	html, err := os.ReadFile("../examples/client.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<script src="(https://[^"]+)"`).FindSubmatch(html)
	if m == nil {
		t.Fatal("examples/client.html loads no socket.io bundle from a CDN any more: update this test")
	}
	cdn := string(m[1])
	for _, transports := range []string{"websocket", "polling"} {
		t.Run(transports, func(t *testing.T) {
			b.t = t
			s := startServer(t, "", "")
			s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
			q := url.Values{"url": {s.clientURL}, "userId": {"5"}, "hash": {"xxx1234"}, "transports": {transports}}
			b.open("example", pages.URL+"/examples/client.html?"+q.Encode(), map[string]string{cdn: bundles(t)["v4"]})
			status := b.waitFor("example", `document.getElementById('status').dataset.state === 'authenticated' && document.getElementById('status').textContent`, browserWait)
			if status != "authenticated as user 5" {
				t.Fatalf("status %v", status)
			}
			waitFor(t, browserWait, "the server to count a "+transports+" connection", func() bool {
				return s.stat("connections.byTransport."+transports) == 1
			})
			s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			got := b.waitFor("example", `document.querySelector('li.message') && document.querySelector('li.message').textContent`, browserWait)
			if got != "example message" {
				t.Fatalf("the example page shows %v", got)
			}
			if !strings.Contains(b.log(), `"routed"`) {
				t.Fatalf("the CDN script was not served from the local bundle:\n%s", b.log())
			}
		})
	}
}

// The admin status page in chromium: it shows the live figures, updates them in place after
// a send, and asks for the token when admin.token is set.
func TestBrowserStatusPage(t *testing.T) {
	b := startBrowser(t)
	pages := pageServer(t)
	s := startServer(t, "", "")
	s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
	s.mustAdmin("/user/register", `{"userId":6,"hash":"yyy"}`)

	b.open("status", s.adminURL+"/?interval=500", nil)
	text := func(id string) string { return fmt.Sprintf(`document.getElementById(%q).textContent`, id) }
	b.waitFor("status", `document.getElementById('state').dataset.state === 'live'`, browserWait)
	if got := b.eval("status", text("users")); got != "2" {
		t.Fatalf("status page users %v, want 2", got)
	}
	if got := b.eval("status", text("connections")); got != "0" {
		t.Fatalf("status page connections %v, want 0", got)
	}

	// A browser client over WebSocket and a Node client over polling.
	q := url.Values{"url": {s.clientURL}, "userId": {"5"}, "hash": {"xxx1234"}, "opts": {`{"transports":["websocket"]}`}}
	b.open("client", pages.URL+"/readme/v4?"+q.Encode(), nil)
	b.waitFor("client", `document.getElementById('status').dataset.state === 'authenticated'`, browserWait)
	node := startClient(t, "node-polling", clientSpec{URL: s.clientURL, Opts: map[string]any{"transports": []string{"polling"}}, Auth: []any{6, "yyy"}, Ack: true})
	node.waitEvent("auth-ack", browserWait)

	b.waitFor("status", `[`+text("connections")+`, `+text("sessions")+`, `+text("t-websocket")+`, `+text("t-polling")+`].join() === '2,2,1,1'`, browserWait)
	sentBefore := b.eval("status", text("m-sent"))
	if sentBefore != "0" {
		t.Fatalf("messages sent before any send: %v", sentBefore)
	}
	// The rate shows for one refresh: record every value it takes, so that a slow poll of the
	// test cannot miss it.
	b.eval("status", `window.rates = []; new MutationObserver(function () {
		window.rates.push(document.getElementById('rate-sent').textContent);
	}).observe(document.getElementById('rate-sent'), { childList: true, characterData: true, subtree: true }); true`)
	for i := range 5 {
		s.mustAdmin("/user/send", fmt.Sprintf(`{"userIds":[5,6],"message":"m%d"}`, i))
	}
	// The counters move in place, and the rate shows the sends.
	b.waitFor("status", text("m-sent")+` === '5' && `+text("m-delivered")+` === '10'`, browserWait)
	rate := b.waitFor("status", `window.rates.filter(function (r) { return parseFloat(r) > 0; })[0]`, browserWait)
	if r, err := strconv.ParseFloat(rate.(string), 64); err != nil || r <= 0 {
		t.Fatalf("send rate %v", rate)
	}
	b.waitFor("client", `document.querySelectorAll('#messages li').length === 5`, browserWait)
	b.screenshot("status", filepath.Join(t.TempDir(), "status.png"))
	if blocked := b.log(); strings.Contains(blocked, `"blocked"`) {
		t.Fatalf("the status page asked for something off this machine:\n%s", blocked)
	}

	t.Run("token", func(t *testing.T) {
		b.t = t
		dir := t.TempDir()
		adminPort, clientPort := freePort(t), freePort(t)
		cfg := fmt.Sprintf(`{ "pidfile": %q, "admin": { "host": "127.0.0.1", "port": %d, "token": "s3cret" }, "client": { "host": "127.0.0.1", "port": %d } }`,
			filepath.Join(dir, "pushinator.pid"), adminPort, clientPort)
		path := filepath.Join(dir, "pushinator.conf")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		adminURL := fmt.Sprintf("http://127.0.0.1:%d", adminPort)
		ts := &server{t: t, adminURL: adminURL, clientURL: fmt.Sprintf("http://127.0.0.1:%d", clientPort), configPath: path, out: &syncBuffer{}, exited: make(chan struct{})}
		ts.cmd = exec.Command(binary, "-c", path)
		ts.cmd.Stdout, ts.cmd.Stderr = ts.out, ts.out
		if err := ts.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { ts.exitErr = ts.cmd.Wait(); close(ts.exited) }()
		t.Cleanup(ts.stop)
		waitFor(t, browserWait, "the admin port to listen", func() bool {
			resp, err := http.Get(adminURL + "/")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})

		b.open("status", adminURL+"/?interval=500", nil)
		b.waitFor("status", `document.getElementById('state').dataset.state === 'unauthorized' && document.getElementById('auth').dataset.open !== undefined`, browserWait)
		b.eval("status", `document.getElementById('token').value = 'wrong'; document.getElementById('auth').requestSubmit()`)
		b.waitFor("status", `document.getElementById('state').textContent === 'the admin token was refused'`, browserWait)
		b.eval("status", `document.getElementById('token').value = 's3cret'; document.getElementById('auth').requestSubmit()`)
		b.waitFor("status", `document.getElementById('state').dataset.state === 'live' && document.getElementById('auth').dataset.open === undefined`, browserWait)
		if got := b.eval("status", text("users")); got != "0" {
			t.Fatalf("users %v", got)
		}
		if got := b.eval("status", `sessionStorage.getItem('pushinator.adminToken')`); got != "s3cret" {
			t.Fatalf("token kept as %v", got)
		}
	})
}

// The original's clients in a browser: examples/client.html with socket.io-client 0.9.16's own
// browser bundle in place of the modern one, against a server offering each transport in turn
// (the 0.9 client takes the server's order). The push arrives as the original sent it: the
// JSON text of the message.
func TestBrowserOriginalClient(t *testing.T) {
	bundle := filepath.Join(nodeModules, "socket.io-client-v09", "dist", "socket.io.js")
	if _, err := os.Stat(bundle); err != nil {
		t.Fatalf("the socket.io-client 0.9 browser bundle is missing: run `npm ci --prefix e2e/node` (%v)", err)
	}
	b := startBrowser(t)
	pages := pageServer(t)
	html, err := os.ReadFile("../examples/client.html")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<script src="(https://[^"]+)"`).FindSubmatch(html)
	if m == nil {
		t.Fatal("examples/client.html loads no socket.io bundle from a CDN any more: update this test")
	}
	for _, tc := range []struct{ configured, transport string }{
		{"'websocket', 'xhr-polling'", "websocket"},
		{"'xhr-polling', 'websocket'", "polling"},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			b.t = t
			s := startServer(t, "socketIoTransports: ["+tc.configured+"]", "")
			s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
			q := url.Values{"url": {s.clientURL}, "userId": {"5"}, "hash": {"xxx1234"}}
			b.open("original", pages.URL+"/examples/client.html?"+q.Encode(), map[string]string{string(m[1]): bundle})
			status := b.waitFor("original", `document.getElementById('status').dataset.state === 'authenticated' && document.getElementById('status').textContent`, browserWait)
			if status != "authenticated as user 5" {
				t.Fatalf("status %v", status)
			}
			waitFor(t, browserWait, "the server to count a protocol-1 "+tc.transport+" connection", func() bool {
				return s.stat("connections.byProtocol.EIO1") == 1 && s.stat("connections.byTransport."+tc.transport) == 1
			})
			s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			got := b.waitFor("original", `document.querySelector('li.message') && document.querySelector('li.message').textContent`, browserWait)
			if got != `"example message"` {
				t.Fatalf("the page shows %v, want the JSON text the original sent", got)
			}
		})
	}
}
