package engineio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/pushinator/pushinator/internal/netpoll"
)

// recorder is a Handler that echoes every message (unless quiet) and
// reports sessions, messages and closes on channels.
type recorder struct {
	quiet    bool
	opened   chan *Session
	messages chan string
	closes   chan string // "<sid> <reason>"

	mu      sync.Mutex
	closed  map[string]int
	onOpen  func(*Session)
	lastMsg map[string]bool
}

func newRecorder() *recorder {
	return &recorder{
		opened:   make(chan *Session, 10000),
		messages: make(chan string, 10000),
		closes:   make(chan string, 10000),
		closed:   make(map[string]int),
	}
}

type recSession struct {
	r *recorder
	s *Session
}

func (r *recorder) OpenSession(s *Session) SessionHandler {
	if r.onOpen != nil {
		r.onOpen(s)
	}
	r.opened <- s
	return &recSession{r: r, s: s}
}

func (rs *recSession) OnMessage(data []byte, binary bool) {
	rs.r.mu.Lock()
	n := rs.r.closed[rs.s.ID()]
	rs.r.mu.Unlock()
	if n > 0 {
		panic("OnMessage after OnClose")
	}
	if string(data) == "panic!" {
		panic("test handler panics")
	}
	if !rs.r.quiet {
		rs.s.Send(Message{Data: bytes.Clone(data), Binary: binary})
	}
	rs.r.messages <- string(data)
}

func (rs *recSession) OnClose(reason string) {
	rs.r.mu.Lock()
	rs.r.closed[rs.s.ID()]++
	n := rs.r.closed[rs.s.ID()]
	rs.r.mu.Unlock()
	if n > 1 {
		panic("OnClose twice")
	}
	rs.r.closes <- rs.s.ID() + " " + reason
}

func testOptions() Options {
	return Options{
		Path:               "/engine.io/",
		PingInterval:       300 * time.Millisecond,
		PingTimeout:        200 * time.Millisecond,
		MaxPayload:         1000,
		Polling:            true,
		JSONP:              true,
		WebSocket:          true,
		UpgradeToWebSocket: true,
		AllowEIO3:          true,
		CORSOrigins:        []string{"http://good.example"},
		QueueLimit:         100,
		WriteTimeout:       2 * time.Second,
	}
}

// slowPing keeps heartbeats out of tests about something else.
func slowPing(o Options) Options {
	o.PingInterval = 20 * time.Second
	o.PingTimeout = 20 * time.Second
	return o
}

type testServer struct {
	t    *testing.T
	srv  *Server
	rec  *recorder
	http *httptest.Server
	url  string // http://127.0.0.1:port/engine.io/
}

// startServer serves with a netpoll.Poller, as pushinator does on Linux:
// idle WebSockets park between messages.
func startServer(t *testing.T, opts Options) *testServer {
	t.Helper()
	if p, err := netpoll.New(); err == nil {
		opts.Poller = p
		t.Cleanup(func() { p.Close() }) // after the server's cleanup (LIFO)
	}
	return startServerGoroutines(t, opts)
}

// bothReaders runs a WebSocket test with parked readers (the Poller) and
// with a goroutine per WebSocket.
func bothReaders(t *testing.T, test func(*testing.T, func(*testing.T, Options) *testServer)) {
	t.Run("poller", func(t *testing.T) { test(t, startServer) })
	t.Run("goroutines", func(t *testing.T) { test(t, startServerGoroutines) })
}

// startServerGoroutines serves with opts as given: without a Poller, a
// goroutine reads each WebSocket.
func startServerGoroutines(t *testing.T, opts Options) *testServer {
	t.Helper()
	rec := newRecorder()
	srv := NewServer(opts, rec)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		// Polling sessions without a GET in flight would wait for one:
		// do not hold the test for them.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		srv.Shutdown(ctx)
		hs.CloseClientConnections()
		hs.Close()
	})
	return &testServer{t: t, srv: srv, rec: rec, http: hs, url: hs.URL + opts.Path}
}

type response struct {
	status int
	header http.Header
	body   string
}

func (ts *testServer) do(method, query, ctype, body string, hdr ...string) response {
	ts.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, ts.url+"?"+query, strings.NewReader(body))
	if err != nil {
		ts.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		ts.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		ts.t.Fatalf("%s %s: read: %v", method, query, err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

type openPacket struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   *int     `json:"maxPayload"`
}

func parseOpen(t *testing.T, s string) openPacket {
	t.Helper()
	if !strings.HasPrefix(s, "0{") {
		t.Fatalf("open packet = %q", s)
	}
	var op openPacket
	if err := json.Unmarshal([]byte(s[1:]), &op); err != nil {
		t.Fatalf("open packet %q: %v", s, err)
	}
	if len(op.SID) < 20 {
		t.Fatalf("sid %q too short", op.SID)
	}
	return op
}

// handshakeV4 opens a v4 polling session and returns its sid.
func (ts *testServer) handshakeV4() string {
	ts.t.Helper()
	r := ts.do("GET", "EIO=4&transport=polling", "", "")
	if r.status != 200 {
		ts.t.Fatalf("handshake: %d %s", r.status, r.body)
	}
	return parseOpen(ts.t, r.body).SID
}

func TestHandshakeErrors(t *testing.T) {
	ts := startServer(t, testOptions())
	sid := ts.handshakeV4()
	noPolling := testOptions()
	noPolling.Polling = false
	noPolling.JSONP = false
	ts2 := startServer(t, noPolling)
	noEIO3 := testOptions()
	noEIO3.AllowEIO3 = false
	ts3 := startServer(t, noEIO3)
	noJSONP := testOptions()
	noJSONP.JSONP = false
	ts4 := startServer(t, noJSONP)

	tests := []struct {
		name   string
		ts     *testServer
		method string
		query  string
		hdr    []string
		status int
		code   int
	}{
		{"no transport", ts, "GET", "EIO=4", nil, 400, 0},
		{"unknown transport", ts, "GET", "EIO=4&transport=abc", nil, 400, 0},
		{"polling disabled", ts2, "GET", "EIO=4&transport=polling", nil, 400, 0},
		{"unknown sid", ts, "GET", "EIO=4&transport=polling&sid=nope", nil, 400, 1},
		{"handshake by POST", ts, "POST", "EIO=4&transport=polling", nil, 400, 2},
		{"handshake by PUT", ts, "PUT", "EIO=4&transport=polling", nil, 400, 2},
		{"PUT on a session", ts, "PUT", "EIO=4&transport=polling&sid=" + sid, nil, 400, 3},
		{"websocket without upgrade", ts, "GET", "EIO=4&transport=websocket", nil, 400, 3},
		{"jsonp disabled", ts4, "GET", "EIO=3&transport=polling&j=0", nil, 400, 3},
		{"missing EIO", ts, "GET", "transport=polling", nil, 400, 5},
		{"bad EIO", ts, "GET", "EIO=abc&transport=polling", nil, 400, 5},
		{"EIO 5", ts, "GET", "EIO=5&transport=polling", nil, 400, 5},
		{"EIO 3 not allowed", ts3, "GET", "EIO=3&transport=polling", nil, 400, 5},
		{"forbidden websocket origin", ts, "GET", "EIO=4&transport=websocket",
			[]string{"Origin", "http://evil.example", "Upgrade", "websocket", "Connection", "Upgrade"}, 403, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.ts.t = t
			r := tt.ts.do(tt.method, tt.query, "", "", tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", r.status, tt.status, r.body)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			want := fmt.Sprintf(`{"code":%d,"message":%q}`, tt.code, errMessage(tt.code))
			if r.body != want {
				t.Errorf("body = %s, want %s", r.body, want)
			}
		})
	}
	ts.t = t
	if r := ts.do("GET", "EIO=4&transport=polling", "", ""); r.status != 200 {
		t.Fatalf("handshake after errors: %d", r.status)
	}
	res, err := http.Get(ts.http.URL + "/other/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("other path: %d, want 404", res.StatusCode)
	}
}

func TestPollingV4(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	r := ts.do("GET", "EIO=4&transport=polling", "", "")
	op := parseOpen(t, r.body)
	if op.MaxPayload == nil || *op.MaxPayload != 1000 || op.PingInterval != 20000 || op.PingTimeout != 20000 ||
		len(op.Upgrades) != 1 || op.Upgrades[0] != "websocket" {
		t.Fatalf("open packet: %s", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	q := "EIO=4&transport=polling&sid=" + op.SID
	post := ts.do("POST", q, "text/plain;charset=UTF-8", "4hello\x1ebAQIDBA==\x1e4h\u00e9\U0001F600")
	if post.status != 200 || post.body != "ok" {
		t.Fatalf("POST: %d %q", post.status, post.body)
	}
	get := ts.do("GET", q, "", "")
	if want := "4hello\x1ebAQIDBA==\x1e4h\u00e9\U0001F600"; get.body != want {
		t.Fatalf("GET = %q, want %q", get.body, want)
	}
	for _, want := range []string{"hello", "\x01\x02\x03\x04", "h\u00e9\U0001F600"} {
		if got := <-ts.rec.messages; got != want {
			t.Errorf("OnMessage %q, want %q", got, want)
		}
	}
	if st := ts.srv.Stats(); st.Polling != 1 || st.EIO4 != 1 || st.Sessions != 1 {
		t.Errorf("Stats = %+v", st)
	}
	// A client close: the session ends, its sid is refused afterwards.
	ts.do("POST", q, "text/plain", "1")
	if c := <-ts.rec.closes; c != op.SID+" transport close" {
		t.Errorf("close = %q", c)
	}
	if r := ts.do("GET", q, "", ""); r.body != "6" {
		t.Errorf("GET racing the close = %d %q, want the noop", r.status, r.body)
	}
	if r := ts.do("GET", q, "", ""); r.status != 400 {
		t.Errorf("GET after close = %d", r.status)
	}
}

func TestPollingParseError(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.do("POST", q, "text/plain", "abc"); r.status != 400 {
		t.Fatalf("bad packet: %d", r.status)
	}
	if c := <-ts.rec.closes; c != sid+" parse error" {
		t.Errorf("close = %q", c)
	}
}

func TestPollingV3String(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	r := ts.do("GET", "EIO=3&transport=polling&b64=1", "", "")
	i := strings.IndexByte(r.body, ':')
	if i < 0 {
		t.Fatalf("handshake %q", r.body)
	}
	op := parseOpen(t, r.body[i+1:])
	if op.MaxPayload != nil {
		t.Errorf("v3 open packet has maxPayload: %s", r.body)
	}
	if r.body[:i] != fmt.Sprint(len(r.body)-i-1) {
		t.Errorf("length prefix of %q", r.body)
	}
	q := "EIO=3&transport=polling&b64=1&sid=" + op.SID
	// "é" is one UTF-16 unit, the emoji two.
	body := "6:4hello10:b4AQIDBA==5:4h\u00e9\U0001F600"
	if p := ts.do("POST", q, "text/plain;charset=UTF-8", body); p.status != 200 {
		t.Fatalf("POST: %d %s", p.status, p.body)
	}
	if g := ts.do("GET", q, "", ""); g.body != body {
		t.Fatalf("GET = %q, want %q", g.body, body)
	}
	// v3: the client pings, the server answers at once.
	ts.do("POST", q, "text/plain", "1:2")
	if g := ts.do("GET", q, "", ""); g.body != "1:3" {
		t.Fatalf("pong = %q", g.body)
	}
}

func TestPollingV3Binary(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	r := ts.do("GET", "EIO=3&transport=polling", "", "")
	op := parseOpen(t, r.body[strings.IndexByte(r.body, ':')+1:])
	q := "EIO=3&transport=polling&sid=" + op.SID
	// A binary packet (1, length 5 = type + 4 bytes) and a string one.
	payload := []byte{1, 5, 0xff, 4, 1, 2, 3, 4, 0, 6, 0xff}
	payload = append(payload, "4hello"...)
	if p := ts.do("POST", q, "application/octet-stream", string(payload)); p.status != 200 {
		t.Fatalf("POST: %d %s", p.status, p.body)
	}
	g := ts.do("GET", q, "", "")
	if g.header.Get("Content-Type") != "application/octet-stream" || g.body != string(payload) {
		t.Fatalf("GET = %s %q, want %q", g.header.Get("Content-Type"), g.body, payload)
	}
}

func TestJSONP(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	r := ts.do("GET", "EIO=3&transport=polling&j=7", "", "")
	if !strings.HasPrefix(r.body, `___eio[7]("`) || !strings.HasSuffix(r.body, `");`) {
		t.Fatalf("JSONP handshake %q", r.body)
	}
	var payload string
	if err := json.Unmarshal([]byte(r.body[len(`___eio[7](`):len(r.body)-2]), &payload); err != nil {
		t.Fatal(err)
	}
	op := parseOpen(t, payload[strings.IndexByte(payload, ':')+1:])
	q := "EIO=3&transport=polling&j=7&sid=" + op.SID
	// The client escapes newlines as \n inside the form field.
	form := url.Values{"d": {`12:4line\nbreak"`}}.Encode()
	p := ts.do("POST", q, "application/x-www-form-urlencoded", form)
	if p.status != 200 || p.body != "ok" {
		t.Fatalf("POST: %d %q", p.status, p.body)
	}
	if got := <-ts.rec.messages; got != "line\nbreak\"" {
		t.Errorf("OnMessage %q", got)
	}
	g := ts.do("GET", q, "", "")
	if want := `___eio[7]("12:4line\nbreak\"");`; g.body != want {
		t.Fatalf("GET = %s, want %s", g.body, want)
	}
	if st := ts.srv.Stats(); st.JSONP != 1 || st.EIO3 != 1 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestCORS(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	r := ts.do("GET", "EIO=4&transport=polling", "", "", "Origin", "http://good.example")
	if r.header.Get("Access-Control-Allow-Origin") != "http://good.example" ||
		r.header.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: headers %v", r.header)
	}
	r = ts.do("GET", "EIO=4&transport=polling", "", "", "Origin", "http://evil.example")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("disallowed origin: %d, headers %v", r.status, r.header)
	}
	r = ts.do("OPTIONS", "EIO=4&transport=polling", "", "", "Origin", "http://good.example",
		"Access-Control-Request-Headers", "content-type")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "http://good.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Methods"), "POST") ||
		r.header.Get("Access-Control-Allow-Headers") != "content-type" {
		t.Errorf("preflight: %d %v", r.status, r.header)
	}
	any := testOptions()
	any.CORSOrigins = []string{"*"}
	ts2 := startServer(t, any)
	r = ts2.do("GET", "EIO=4&transport=polling", "", "", "Origin", "http://x.example")
	if r.header.Get("Access-Control-Allow-Origin") != "http://x.example" {
		t.Errorf("*: headers %v", r.header)
	}
}

func TestPostTooLarge(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	if r := ts.do("POST", q, "text/plain", "4"+strings.Repeat("x", 1000)); r.status != 413 {
		t.Fatalf("POST over MaxPayload: %d", r.status)
	}
	if c := <-ts.rec.closes; !strings.HasPrefix(c, sid) {
		t.Errorf("close = %q", c)
	}
	if r := ts.do("GET", q, "", ""); r.status != 400 {
		t.Errorf("GET after 413: %d", r.status)
	}
}

func TestConcurrentGet(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	first := make(chan response, 1)
	go func() { first <- ts.do("GET", q, "", "") }()
	// Wait until the first GET is parked on the session.
	s := waitSession(t, ts.srv, sid)
	waitFor(t, "first GET parked", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.pollWake != nil
	})
	if r := ts.do("GET", q, "", ""); r.status != 400 {
		t.Errorf("second GET: %d", r.status)
	}
	if r := <-first; r.status != 200 || r.body != "1" {
		t.Errorf("first GET: %d %q, want the close packet", r.status, r.body)
	}
	if c := <-ts.rec.closes; c != sid+" transport error" {
		t.Errorf("close = %q", c)
	}
	if r := ts.do("GET", q, "", ""); r.status != 400 {
		t.Errorf("GET after close: %d", r.status)
	}
}

func waitSession(t *testing.T, srv *Server, sid string) *Session {
	t.Helper()
	var s *Session
	waitFor(t, "session "+sid, func() bool { s = srv.lookup(sid); return s != nil })
	return s
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestSlowClient(t *testing.T) {
	o := slowPing(testOptions())
	o.QueueLimit = 5
	ts := startServer(t, o)
	sid := ts.handshakeV4()
	s := <-ts.rec.opened
	for i := 0; i < 5; i++ {
		if err := s.Send(Message{Data: []byte("x")}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	if err := s.Send(Message{Data: []byte("x")}); !errors.Is(err, ErrSlowClient) {
		t.Fatalf("send over the limit: %v", err)
	}
	if c := <-ts.rec.closes; c != sid+" slow client" {
		t.Errorf("close = %q", c)
	}
	if err := s.Send(Message{Data: []byte("x")}); !errors.Is(err, ErrClosed) {
		t.Errorf("send after close: %v", err)
	}
}

// wsClient is a test WebSocket client.
type wsClient struct {
	t    *testing.T
	conn net.Conn
	rw   io.ReadWriter
}

func dialWS(t *testing.T, ts *testServer, query string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(ts.url, "http") + "?" + query
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close() })
	var r io.Reader = conn
	if br != nil {
		r = br
	}
	return &wsClient{t: t, conn: conn, rw: struct {
		io.Reader
		io.Writer
	}{r, conn}}
}

func (c *wsClient) send(op ws.OpCode, s string) {
	c.t.Helper()
	if err := wsutil.WriteClientMessage(c.conn, op, []byte(s)); err != nil {
		c.t.Fatalf("ws write: %v", err)
	}
}

// read returns the next data frame; err on close.
func (c *wsClient) read() (string, ws.OpCode, error) {
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, op, err := wsutil.ReadServerData(c.rw)
	return string(b), op, err
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	got, _, err := c.read()
	if err != nil || got != want {
		c.t.Fatalf("ws read = %q, %v; want %q", got, err, want)
	}
}

func TestWebSocketV4(t *testing.T) {
	bothReaders(t, testWebSocketV4)
}

func testWebSocketV4(t *testing.T, startServer func(*testing.T, Options) *testServer) {
	ts := startServer(t, slowPing(testOptions()))
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	open, _, err := c.read()
	if err != nil {
		t.Fatal(err)
	}
	op := parseOpen(t, open)
	if len(op.Upgrades) != 0 || op.MaxPayload == nil {
		t.Errorf("open packet %s", open)
	}
	c.send(ws.OpText, "4hello")
	c.expect("4hello")
	c.send(ws.OpBinary, "\x01\x02\x03")
	if got, opc, _ := c.read(); got != "\x01\x02\x03" || opc != ws.OpBinary {
		t.Fatalf("binary echo %q %v", got, opc)
	}
	if st := ts.srv.Stats(); st.WebSocket != 1 || st.EIO4 != 1 {
		t.Errorf("Stats = %+v", st)
	}
	// A frame over MaxPayload: close 1009.
	c.send(ws.OpText, "4"+strings.Repeat("x", 1000))
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if f, err := ws.ReadFrame(c.rw); err != nil || f.Header.OpCode != ws.OpClose {
		t.Errorf("read after oversized frame: %v %v", f.Header.OpCode, err)
	} else if code, _ := ws.ParseCloseFrameData(f.Payload); code != ws.StatusMessageTooBig {
		t.Errorf("close code %d, want 1009", code)
	}
	if r := <-ts.rec.closes; !strings.HasPrefix(r, op.SID+" transport error") {
		t.Errorf("close = %q", r)
	}
}

func TestHeartbeatV4(t *testing.T) {
	ts := startServer(t, testOptions())
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	open, _, _ := c.read()
	sid := parseOpen(t, open).SID
	start := time.Now()
	for i := 0; i < 4; i++ {
		c.expect("2")
		c.send(ws.OpText, "3")
	}
	if time.Since(start) < 4*300*time.Millisecond*9/10 {
		t.Errorf("4 pings in %v", time.Since(start))
	}
	select {
	case r := <-ts.rec.closes:
		t.Fatalf("closed while answering pings: %s", r)
	default:
	}
	c.expect("2") // not answered
	if r := <-ts.rec.closes; r != sid+" ping timeout" {
		t.Errorf("close = %q", r)
	}
}

func TestHeartbeatV3(t *testing.T) {
	ts := startServer(t, testOptions())
	r := ts.do("GET", "EIO=3&transport=polling&b64=1", "", "")
	sid := parseOpen(t, r.body[strings.IndexByte(r.body, ':')+1:]).SID
	q := "EIO=3&transport=polling&b64=1&sid=" + sid
	start := time.Now()
	for time.Since(start) < 1500*time.Millisecond {
		if p := ts.do("POST", q, "text/plain", "1:2"); p.status != 200 {
			t.Fatalf("ping POST: %d", p.status)
		}
		if g := ts.do("GET", q, "", ""); g.body != "1:3" {
			t.Fatalf("pong: %d %q", g.status, g.body)
		}
		time.Sleep(250 * time.Millisecond) // the client's ping interval
	}
	// No more pings: closed after PingInterval+PingTimeout.
	if r := <-ts.rec.closes; r != sid+" ping timeout" {
		t.Errorf("close = %q", r)
	}
}

func TestHeartbeatV4Polling(t *testing.T) {
	ts := startServer(t, testOptions())
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	for i := 0; i < 3; i++ {
		if g := ts.do("GET", q, "", ""); g.body != "2" {
			t.Fatalf("GET %d = %q", i, g.body)
		}
		ts.do("POST", q, "text/plain", "3")
	}
	if r := <-ts.rec.closes; r != sid+" ping timeout" {
		t.Errorf("close = %q", r)
	}
	if g := ts.do("GET", q, "", ""); g.status != 400 {
		t.Errorf("GET after ping timeout: %d", g.status)
	}
}

// TestUpgradeUnderStream sends a numbered stream while the client polls,
// probes, and upgrades; every message must arrive once, in order.
func TestUpgradeUnderStream(t *testing.T) {
	const n = 400
	ts := startServer(t, slowPing(testOptions()))
	ts.srv.opts.QueueLimit = n + 10
	stop := make(chan struct{})
	defer close(stop)
	ts.rec.onOpen = func(s *Session) {
		go func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for i := 0; i < n; i++ {
				select {
				case <-tick.C:
				case <-stop:
					return
				}
				if err := s.Send(Message{Data: []byte(fmt.Sprint(i))}); err != nil {
					return
				}
			}
		}()
	}
	r := ts.do("GET", "EIO=4&transport=polling", "", "")
	body := r.body
	sid := parseOpen(t, strings.Split(body, "\x1e")[0]).SID
	q := "EIO=4&transport=polling&sid=" + sid
	var got []string
	collect := func(payload string) (noops int) {
		for _, p := range strings.Split(payload, "\x1e") {
			switch {
			case strings.HasPrefix(p, "4"):
				got = append(got, p[1:])
			case p == "6":
				noops++
			}
		}
		return noops
	}
	collect(strings.Join(strings.Split(body, "\x1e")[1:], "\x1e"))
	for i := 0; i < 5; i++ {
		collect(ts.do("GET", q, "", "").body)
	}
	// Probe while a GET is in flight, as the real client does.
	pollDone := make(chan response, 1)
	go func() { pollDone <- ts.do("GET", q, "", "") }()
	c := dialWS(t, ts, "EIO=4&transport=websocket&sid="+sid)
	c.send(ws.OpText, "2probe")
	c.expect("3probe")
	// Pause: the in-flight GET ends (with packets or a noop); then upgrade.
	collect((<-pollDone).body)
	c.send(ws.OpText, "5")
	for len(got) < n {
		m, _, err := c.read()
		if err != nil {
			t.Fatalf("after %d messages: %v", len(got), err)
		}
		collect(m)
	}
	for i, m := range got {
		if m != fmt.Sprint(i) {
			t.Fatalf("message %d = %q (of %d)", i, m, len(got))
		}
	}
	if st := ts.srv.Stats(); st.WebSocket != 1 || st.Polling != 0 {
		t.Errorf("Stats after upgrade = %+v", st)
	}
	if g := ts.do("GET", q, "", ""); g.status != 400 {
		t.Errorf("polling after upgrade: %d", g.status)
	}
}

func TestUpgradeNoopReleasesPoll(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	sid := ts.handshakeV4()
	q := "EIO=4&transport=polling&sid=" + sid
	c := dialWS(t, ts, "EIO=4&transport=websocket&sid="+sid)
	c.send(ws.OpText, "2probe")
	c.expect("3probe")
	if g := ts.do("GET", q, "", ""); g.body != "6" {
		t.Fatalf("GET during upgrade = %q", g.body)
	}
	c.send(ws.OpText, "5")
	c.send(ws.OpText, "4hi")
	c.expect("4hi")
	// A second WebSocket for the same sid is closed.
	c2 := dialWS(t, ts, "EIO=4&transport=websocket&sid="+sid)
	if _, _, err := c2.read(); err == nil {
		t.Error("second WebSocket not closed")
	}
}

func TestSessionClose(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	s := <-ts.rec.opened
	s.Send(Message{Data: []byte("bye")})
	s.Close()
	c.expect("4bye")
	c.expect("1")
	if r := <-ts.rec.closes; r != s.ID()+" forced close" {
		t.Errorf("close = %q", r)
	}
	// Polling: the pending GET gets the close packet.
	sid := ts.handshakeV4()
	s = <-ts.rec.opened
	s.Close()
	if g := ts.do("GET", "EIO=4&transport=polling&sid="+sid, "", ""); g.body != "1" {
		t.Errorf("GET after Close = %q", g.body)
	}
	if r := <-ts.rec.closes; r != sid+" forced close" {
		t.Errorf("close = %q", r)
	}
}

func TestShutdown(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	sid := ts.handshakeV4()
	poll := make(chan response, 1)
	go func() { poll <- ts.do("GET", "EIO=4&transport=polling&sid="+sid, "", "") }()
	s := waitSession(t, ts.srv, sid)
	waitFor(t, "GET parked", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.pollWake != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	c.expect("1")
	if r := <-poll; r.body != "1" {
		t.Errorf("poll during shutdown = %q", r.body)
	}
	for i := 0; i < 2; i++ {
		if r := <-ts.rec.closes; !strings.HasSuffix(r, " server shutting down") {
			t.Errorf("close = %q", r)
		}
	}
	if r := ts.do("GET", "EIO=4&transport=polling", "", ""); r.status != 503 {
		t.Errorf("handshake after shutdown: %d", r.status)
	}
	if st := ts.srv.Stats(); st.Sessions != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestHandlerPanicEndsSession(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	open, _, _ := c.read()
	sid := parseOpen(t, open).SID
	c.send(ws.OpText, "4panic!")
	if r := <-ts.rec.closes; r != sid+" transport error" {
		t.Errorf("close = %q", r)
	}
	// The server still serves.
	ts.handshakeV4()
}

func TestSharedDataUntouched(t *testing.T) {
	ts := startServer(t, slowPing(testOptions()))
	ts.rec.quiet = true
	shared := []byte("shared é payload")
	orig := bytes.Clone(shared)
	c4 := dialWS(t, ts, "EIO=4&transport=websocket")
	c4.read()
	c3 := dialWS(t, ts, "EIO=3&transport=websocket")
	c3.read()
	r := ts.do("GET", "EIO=3&transport=polling", "", "")
	sid3 := parseOpen(t, r.body[strings.IndexByte(r.body, ':')+1:]).SID
	var sessions []*Session
	for i := 0; i < 3; i++ {
		sessions = append(sessions, <-ts.rec.opened)
	}
	for _, s := range sessions {
		if err := s.Send(Message{Data: shared}, Message{Data: shared, Binary: true}); err != nil {
			t.Fatal(err)
		}
	}
	c4.expect("4" + string(orig))
	c4.expect(string(orig))
	c3.expect("4" + string(orig))
	c3.expect("\x04" + string(orig))
	g := ts.do("GET", "EIO=3&transport=polling&sid="+sid3, "", "")
	if g.header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("v3 polling with a binary message: %s", g.header.Get("Content-Type"))
	}
	if !bytes.Equal(shared, orig) {
		t.Fatalf("Message.Data modified: %q", shared)
	}
}

// TestWriteDeadlineClosesSlowClient: a WebSocket client that stops reading
// is disconnected when a write misses WriteTimeout.
func TestWriteDeadlineClosesSlowClient(t *testing.T) {
	o := slowPing(testOptions())
	o.WriteTimeout = 200 * time.Millisecond
	o.QueueLimit = 100000
	ts := startServer(t, o)
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	s := <-ts.rec.opened
	big := bytes.Repeat([]byte("x"), 64<<10)
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if err := s.Send(Message{Data: big}); err != nil {
			break // closed
		}
		select {
		case r := <-ts.rec.closes:
			if r != s.ID()+" slow client" {
				t.Fatalf("close = %q", r)
			}
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("still open after %d MiB unread", i/16)
		}
		if i%64 == 63 {
			time.Sleep(10 * time.Millisecond) // let the flusher hit the full socket
		}
	}
	if r := <-ts.rec.closes; r != s.ID()+" slow client" {
		t.Fatalf("close = %q", r)
	}
}

// TestConcurrentCloses races sends, server closes and client closes over
// many sessions: every session gets exactly one OnClose and no OnMessage
// after it (the recorder panics otherwise).
func TestConcurrentCloses(t *testing.T) {
	const n = 40
	ts := startServer(t, slowPing(testOptions()))
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		c := dialWS(t, ts, "EIO=4&transport=websocket")
		c.read()
		s := <-ts.rec.opened
		wg.Add(3)
		go func() { // the server sends
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if s.Send(Message{Data: []byte("m")}) != nil {
					return
				}
			}
		}()
		go func() { // the client sends, then closes (some of them)
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if wsutil.WriteClientMessage(c.conn, ws.OpText, []byte("4x")) != nil {
					return
				}
			}
			if i%2 == 0 {
				wsutil.WriteClientMessage(c.conn, ws.OpText, []byte("1"))
			}
		}()
		go func() { // the server closes
			defer wg.Done()
			s.Close()
		}()
		go io.Copy(io.Discard, c.conn)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		select {
		case <-ts.rec.closes:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d sessions closed", i, n)
		}
	}
	waitFor(t, "no sessions", func() bool { return ts.srv.Stats().Sessions == 0 })
}

func TestWebSocketFragmentsAndControlFrames(t *testing.T) {
	bothReaders(t, testWebSocketFragmentsAndControlFrames)
}

func testWebSocketFragmentsAndControlFrames(t *testing.T, startServer func(*testing.T, Options) *testServer) {
	ts := startServer(t, slowPing(testOptions()))
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	for _, f := range []ws.Frame{
		ws.NewFrame(ws.OpText, false, []byte("4he")),
		ws.NewPingFrame([]byte("p")), // control frames may come between fragments
		ws.NewFrame(ws.OpContinuation, true, []byte("llo")),
	} {
		if err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(f)); err != nil {
			t.Fatal(err)
		}
	}
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ws.ReadFrame(c.rw)
	if err != nil || f.Header.OpCode != ws.OpPong || string(f.Payload) != "p" {
		t.Fatalf("pong: %+v %q %v", f.Header, f.Payload, err)
	}
	c.expect("4hello")
	// The close handshake: the server answers and the session ends.
	ws.WriteFrame(c.conn, ws.MaskFrameInPlace(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	if r := <-ts.rec.closes; !strings.HasSuffix(r, " transport close") {
		t.Errorf("close = %q", r)
	}
}

// TestLongPollOutlivesServerReadTimeout: an http.Server ReadTimeout
// shorter than the poll must not end it.
func TestLongPollOutlivesServerReadTimeout(t *testing.T) {
	o := testOptions()
	o.PingInterval = 600 * time.Millisecond
	o.PingTimeout = 5 * time.Second // not under test: only a late GET on a loaded machine would trip it
	rec := newRecorder()
	srv := NewServer(o, rec)
	hs := httptest.NewUnstartedServer(srv)
	hs.Config.ReadTimeout = 200 * time.Millisecond
	hs.Start()
	defer hs.Close()
	ts := &testServer{t: t, srv: srv, rec: rec, http: hs, url: hs.URL + o.Path}
	sid := ts.handshakeV4()
	if g := ts.do("GET", "EIO=4&transport=polling&sid="+sid, "", ""); g.body != "2" {
		t.Fatalf("long poll = %d %q, want the ping", g.status, g.body)
	}
}

// A client that stops reading fills the socket's buffers: pushes written
// at once from Send get cut mid-frame, and the flusher must finish each cut
// frame before the next. When the client reads again, every message
// arrives whole and in order.
func TestWebSocketCutWritesArriveWhole(t *testing.T) {
	bothReaders(t, testWebSocketCutWritesArriveWhole)
}

func testWebSocketCutWritesArriveWhole(t *testing.T, startServer func(*testing.T, Options) *testServer) {
	o := slowPing(testOptions())
	o.QueueLimit = 1 << 20
	o.WriteTimeout = 30 * time.Second
	ts := startServer(t, o)
	ts.rec.quiet = true
	c := dialWS(t, ts, "EIO=4&transport=websocket")
	c.read()
	s := <-ts.rec.opened
	// Beyond what loopback socket buffers hold (a few MiB each way), in
	// messages small enough to be written at once from Send.
	const n, size = 6000, 3000
	body := func(i int) string {
		return fmt.Sprintf("%06d", i) + strings.Repeat(string(rune('a'+i%26)), size-6)
	}
	sent := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := s.Send(Message{Data: []byte(body(i))}); err != nil {
				sent <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		sent <- nil
	}()
	// Wait until the socket is full (a flusher is needed), then read.
	waitFor(t, "a write cut short", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.flushing
	})
	for i := 0; i < n; i++ {
		got, _, err := c.read()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if want := "4" + body(i); got != want {
			t.Fatalf("message %d: got %.20q… (%d bytes), want %.20q… (%d bytes)", i, got, len(got), want, len(want))
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}
