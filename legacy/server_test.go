package legacy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

func do(t *testing.T, method, u, body string, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading: %v", method, u, err)
	}
	return res.StatusCode, res.Header, string(b)
}

// handshake returns a new session id.
func handshake(t *testing.T, base string) string {
	t.Helper()
	code, _, body := do(t, "GET", base+"/socket.io/1/?t=1", "")
	if code != 200 {
		t.Fatalf("handshake: %d %q", code, body)
	}
	sid, _, _ := strings.Cut(body, ":")
	return sid
}

var handshakeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{20}:(\d+):(\d+):([a-z,-]*)$`)

func TestHandshake(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // heartbeat:close:transports
	}{
		{"defaults", Options{}, "60:60:websocket,xhr-polling,jsonp-polling"},
		{"configured order, unknown dropped", Options{
			Transports:       []string{"xhr-polling", "flashsocket", "websocket", "htmlfile", "xhr-polling"},
			HeartbeatTimeout: 15 * time.Second, CloseTimeout: 10 * time.Second,
		}, "15:10:xhr-polling,websocket"},
		{"polling is xhr-polling", Options{Transports: []string{"polling", "websocket"}}, "60:60:xhr-polling,websocket"},
		{"sub-second timeouts round up", Options{
			Transports: []string{"jsonp-polling"}, HeartbeatTimeout: 300 * time.Millisecond, CloseTimeout: 1500 * time.Millisecond,
		}, "1:2:jsonp-polling"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ts := startServer(t, tt.opts, newRecorder())
			for _, method := range []string{"GET", "POST"} {
				code, hdr, body := do(t, method, ts.URL+"/socket.io/1/?t=123", "")
				m := handshakeRE.FindStringSubmatch(body)
				if code != 200 || m == nil {
					t.Fatalf("%s handshake: %d %q", method, code, body)
				}
				if got := strings.Join(m[1:], ":"); got != tt.want {
					t.Errorf("%s handshake announces %q, want %q", method, got, tt.want)
				}
				if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
					t.Errorf("Content-Type %q", ct)
				}
			}
		})
	}
}

func TestHandshakeJSONP(t *testing.T) {
	_, ts := startServer(t, Options{}, newRecorder())
	code, hdr, body := do(t, "GET", ts.URL+"/socket.io/1/?t=1&jsonp=3", "")
	m := regexp.MustCompile(`^io\.j\[3\]\("([A-Za-z0-9_-]{20}):60:60:websocket,xhr-polling,jsonp-polling"\);$`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("JSONP handshake: %d %q", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/javascript") {
		t.Errorf("Content-Type %q", ct)
	}
	// Anything but digits is not a JSONP index: a plain answer.
	_, _, body = do(t, "GET", ts.URL+"/socket.io/1/?t=1&jsonp=alert(1)", "")
	if !handshakeRE.MatchString(body) {
		t.Errorf("handshake with a bad jsonp index: %q", body)
	}
}

func TestHandshakeCORS(t *testing.T) {
	_, ts := startServer(t, Options{CORSOrigins: []string{"http://app.example"}}, newRecorder())
	code, hdr, _ := do(t, "GET", ts.URL+"/socket.io/1/?t=1", "", "Origin", "http://app.example")
	if code != 200 || hdr.Get("Access-Control-Allow-Origin") != "http://app.example" || hdr.Get("Access-Control-Allow-Credentials") != "true" {
		t.Errorf("allowed origin: %d, headers %v", code, hdr)
	}
	code, hdr, body := do(t, "GET", ts.URL+"/socket.io/1/?t=1", "", "Origin", "http://evil.example")
	if code != 403 || body != "handshake bad origin" || hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused origin: %d %q %v", code, body, hdr)
	}
	code, _, body = do(t, "GET", ts.URL+"/socket.io/1/?t=1&jsonp=0", "", "Origin", "http://evil.example")
	if code != 200 || body != `io.j[0](new Error("handshake bad origin"));` {
		t.Errorf("refused origin over JSONP: %d %q", code, body)
	}
}

func TestUnknownSession(t *testing.T) {
	_, ts := startServer(t, Options{}, newRecorder())
	base := ts.URL + "/socket.io/1/"
	if code, _, body := do(t, "GET", base+"xhr-polling/nope?t=1", ""); code != 200 || body != "7:::1+0" {
		t.Errorf("xhr poll: %d %q, want the client-not-handshaken error packet", code, body)
	}
	if code, _, body := do(t, "GET", base+"jsonp-polling/nope?t=1&i=4", ""); code != 200 || body != `io.j[4]("7:::1+0");` {
		t.Errorf("jsonp poll: %d %q", code, body)
	}
	if code, _, _ := do(t, "POST", base+"xhr-polling/nope?t=1", "2::"); code != 404 {
		t.Errorf("xhr post: %d, want 404", code)
	}
	conn := dialWS(t, ts.URL, "nope")
	if got := readWS(t, conn); got != "7:::1+0" {
		t.Errorf("websocket: %q", got)
	}
}

func TestDisabledTransport(t *testing.T) {
	_, ts := startServer(t, Options{Transports: []string{"websocket"}}, newRecorder())
	sid := handshake(t, ts.URL)
	if code, _, _ := do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, ""); code != 404 {
		t.Errorf("xhr-polling when only websocket is enabled: %d, want 404", code)
	}
	if code, _, _ := do(t, "GET", ts.URL+"/socket.io/1/flashsocket/"+sid, ""); code != 404 {
		t.Errorf("flashsocket: %d, want 404", code)
	}
}

// An XHR polling session, by hand: connect, an event with an ack, a plain
// message with an automatic ack, framing of several packets, the noop at
// the end of the poll duration, a CORS answer.
func TestXHRPolling(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{CloseTimeout: 2 * time.Second, PollDuration: 300 * time.Millisecond}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid + "?t=2"
	if code, hdr, body := do(t, "GET", u, "", "Origin", "http://x.example"); code != 200 || body != "1::" ||
		hdr.Get("Access-Control-Allow-Origin") != "http://x.example" || hdr.Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("first poll: %d %q %v", code, body, hdr)
	}
	rec.waitFor(t, "connect xhr-polling")

	payload := frame(`5:1+::{"name":"echo","args":["é"]}`, "3:7::hi😀", "2::")
	if code, _, body := do(t, "POST", u, payload); code != 200 || body != "1" {
		t.Fatalf("post: %d %q", code, body)
	}
	if l := rec.waitFor(t, "event echo"); l != `event echo ["é"]` {
		t.Errorf("handler got %q", l)
	}
	if l := rec.waitFor(t, "event message"); l != `event message ["hi😀"]` {
		t.Errorf("handler got %q", l)
	}
	want := frame(`6:::1+["é"]`, "6:::7")
	if code, _, body := do(t, "GET", u, ""); code != 200 || body != want {
		t.Errorf("poll after post: %d %q, want %q", code, body, want)
	}
	start := time.Now()
	if code, _, body := do(t, "GET", u, ""); code != 200 || body != "8::" {
		t.Errorf("idle poll: %d %q, want a noop", code, body)
	} else if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("idle poll answered after %v, want the poll duration", d)
	}
}

func TestJSONPPolling(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/jsonp-polling/" + sid + "?t=2&i=2"
	if code, hdr, body := do(t, "GET", u, ""); code != 200 || body != `io.j[2]("1::");` || !strings.HasPrefix(hdr.Get("Content-Type"), "text/javascript") {
		t.Fatalf("first poll: %d %q %v", code, body, hdr)
	}
	d, _ := json.Marshal(frame(`5:1+::{"name":"echo","args":["<\n>"]}`, "2::"))
	form := url.Values{"d": {string(d)}}.Encode()
	if code, _, body := do(t, "POST", u, form, "Content-Type", "application/x-www-form-urlencoded"); code != 200 || body != "1" {
		t.Fatalf("post: %d %q", code, body)
	}
	rec.waitFor(t, "event echo")
	// The payload is a JSON string (the ack's own JSON escaped < and >).
	if code, _, body := do(t, "GET", u, ""); code != 200 || body != `io.j[2]("6:::1+[\"\\u003c\\n\\u003e\"]");` {
		t.Errorf("poll: %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", u, "d=notjson"); code != 400 {
		t.Errorf("bad form: %d, want 400", code)
	}
	if l := rec.waitFor(t, "disconnect"); l != "disconnect parse error" {
		t.Errorf("handler got %q", l)
	}
}

// A message sent to many sockets is encoded once and framed per poll.
func TestQueuedMessagesFramed(t *testing.T) {
	rec := newRecorder()
	var sock *Socket
	got := make(chan *Socket, 1)
	rec.onEvent = func(s *Socket, name string, _ []json.RawMessage, _ func(...any) error) { got <- s }
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid
	do(t, "GET", u, "")
	do(t, "POST", u, "3:::hello")
	sock = <-got
	p := EncodeMessage([]byte(`{"a":"😀"}`))
	for range 2 {
		if err := sock.Send(p); err != nil {
			t.Fatal(err)
		}
	}
	want := "\ufffd14\ufffd3:::{\"a\":\"😀\"}\ufffd14\ufffd3:::{\"a\":\"😀\"}"
	if _, _, body := do(t, "GET", u, ""); body != want {
		t.Errorf("poll: %q, want %q", body, want)
	}
}

func TestCloseTimeout(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{CloseTimeout: 300 * time.Millisecond}, rec)
	sid := handshake(t, ts.URL)
	do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, "")
	start := time.Now()
	rec.waitFor(t, "disconnect close timeout")
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("closed after %v, before the close timeout", d)
	}
	if _, _, body := do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, ""); body != "7:::1+0" {
		t.Errorf("poll after the close timeout: %q", body)
	}
}

func TestForcedDisconnectQuery(t *testing.T) {
	rec := newRecorder()
	srv, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, "")
	// The 0.9 client's disconnectSync leaves the transport out.
	if code, _, _ := do(t, "GET", ts.URL+"/socket.io/1//"+sid+"/?disconnect=1", ""); code != 200 {
		t.Errorf("disconnect: %d", code)
	}
	rec.waitFor(t, "disconnect client namespace disconnect")
	if n := srv.Stats().Sockets; n != 0 {
		t.Errorf("%d sockets open", n)
	}
}

func TestConnectRefused(t *testing.T) {
	rec := newRecorder()
	rec.connectErr = errors.New("no")
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid
	if _, _, body := do(t, "GET", u, ""); body != "\ufffd5\ufffd7:::2\ufffd3\ufffd0::" {
		t.Errorf("refused poll: %q", body)
	}
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	if a, b := readWS(t, conn), readWS(t, conn); a != "7:::2" || b != "0::" {
		t.Errorf("refused websocket: %q %q", a, b)
	}
	if n := rec.count("disconnect"); n != 0 {
		t.Errorf("Disconnect called for refused sockets: %q", rec.lines())
	}
}

func TestSlowClient(t *testing.T) {
	rec := newRecorder()
	got := make(chan *Socket, 1)
	rec.onEvent = func(s *Socket, _ string, _ []json.RawMessage, _ func(...any) error) { got <- s }
	_, ts := startServer(t, Options{QueueLimit: 3}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid
	do(t, "GET", u, "")
	do(t, "POST", u, "3:::x")
	s := <-got
	p := EncodeMessage([]byte("m"))
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		err = s.Send(p)
	}
	if !errors.Is(err, ErrSlowClient) {
		t.Fatalf("Send beyond the queue limit: %v", err)
	}
	rec.waitFor(t, "disconnect slow client")
	if err := s.Send(p); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after close: %v", err)
	}
}

func TestPostTooLarge(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{MaxPayload: 100}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid
	do(t, "GET", u, "")
	if code, _, _ := do(t, "POST", u, "3:::"+strings.Repeat("x", 100)); code != 413 {
		t.Errorf("oversized post: %d, want 413", code)
	}
	rec.waitFor(t, "disconnect transport error")
}

func TestParseErrorClosesSocket(t *testing.T) {
	for _, body := range []string{"9::", `5:::{"name":`, "4:::{", "\ufffd9\ufffd2::"} {
		rec := newRecorder()
		_, ts := startServer(t, Options{}, rec)
		sid := handshake(t, ts.URL)
		u := ts.URL + "/socket.io/1/xhr-polling/" + sid
		do(t, "GET", u, "")
		if code, _, _ := do(t, "POST", u, body); code != 400 {
			t.Errorf("post %q: %d, want 400", body, code)
		}
		rec.waitFor(t, "disconnect parse error")
	}
}

func TestReservedDisconnectEventDropped(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/xhr-polling/" + sid
	do(t, "GET", u, "")
	do(t, "POST", u, frame(`5:::{"name":"disconnect"}`, `5:::{"name":"after"}`))
	rec.waitFor(t, "event after")
	if n := rec.count("event disconnect"); n != 0 {
		t.Errorf("the reserved event reached the handler: %q", rec.lines())
	}
}

// wsClient is a raw WebSocket client; reads go through the buffer the
// dialer may have filled past the handshake response.
type wsClient struct {
	net.Conn
	r io.Reader
}

func (c *wsClient) Read(b []byte) (int, error) { return c.r.Read(b) }

func dialWS(t *testing.T, base, sid string) *wsClient {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/socket.io/1/websocket/" + sid
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wsClient{Conn: conn, r: conn}
	if br != nil {
		c.r = br
	}
	return c
}

// readWS reads one text message; "" when the server closed.
func readWS(t *testing.T, conn *wsClient) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := wsutil.ReadServerText(conn)
	if err != nil {
		return ""
	}
	return string(b)
}

// frame frames packets as a polling payload.
func frame(pkts ...string) string {
	var b [][]byte
	for _, p := range pkts {
		b = append(b, []byte(p))
	}
	return string(framed(b))
}

func TestWebSocketHeartbeatTimeout(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{HeartbeatTimeout: time.Second, HeartbeatInterval: 200 * time.Millisecond}, rec)
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	if got := readWS(t, conn); got != "1::" {
		t.Fatalf("first packet %q", got)
	}
	// Answer one heartbeat, then stay silent.
	if got := readWS(t, conn); got != "2::" {
		t.Fatalf("second packet %q, want a heartbeat", got)
	}
	wsutil.WriteClientText(conn, []byte("2::"))
	if got := readWS(t, conn); got != "2::" {
		t.Fatalf("packet %q, want another heartbeat", got)
	}
	start := time.Now()
	if got := readWS(t, conn); got != "" {
		t.Errorf("packet %q after an unanswered heartbeat, want the close", got)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("closed %v after the heartbeat, before the heartbeat timeout", d)
	}
	rec.waitFor(t, "disconnect heartbeat timeout")
}

func TestWebSocketMessageTooLarge(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{MaxPayload: 64}, rec)
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	readWS(t, conn)
	wsutil.WriteClientText(conn, []byte("3:::"+strings.Repeat("x", 64)))
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	fr, err := ws.ReadFrame(conn)
	if err != nil || fr.Header.OpCode != ws.OpClose || len(fr.Payload) < 2 || int(fr.Payload[0])<<8|int(fr.Payload[1]) != 1009 {
		t.Errorf("after an oversized message: %+v %v, want close 1009", fr.Header, err)
	}
	rec.waitFor(t, "disconnect transport error")
}

func TestWebSocketTakenSession(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	conn := dialWS(t, ts.URL, sid)
	readWS(t, conn)
	second := dialWS(t, ts.URL, sid)
	if got := readWS(t, second); got != "7:::1+0" {
		t.Errorf("second websocket on a session: %q", got)
	}
	// The first is unharmed.
	wsutil.WriteClientText(conn, []byte(`5:1+::{"name":"echo","args":[1]}`))
	if got := readWS(t, conn); got != "6:::1+[1]" {
		t.Errorf("ack %q", got)
	}
}

func TestShutdown(t *testing.T) {
	rec := newRecorder()
	srv, ts := startServer(t, Options{}, rec)
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	readWS(t, conn)
	sid := handshake(t, ts.URL)
	do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, "") // connected, between polls
	handshake(t, ts.URL)                                     // never connected
	waitUntil(t, func() bool { return srv.Stats() == Stats{Sockets: 2, WebSocket: 1, XHR: 1} }, "two sockets connected")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(ctx)
	}()
	if got := readWS(t, conn); got != "0::" {
		t.Errorf("websocket got %q on shutdown, want 0::", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := rec.count("disconnect server shutting down"); n != 2 {
		t.Errorf("%d disconnects for the shutdown: %q", n, rec.lines())
	}
	if code, _, _ := do(t, "GET", ts.URL+"/socket.io/1/?t=1", ""); code != 503 {
		t.Errorf("handshake after shutdown: %d, want 503", code)
	}
}

// Text pushed to a JSONP client cannot end its script.
func TestJSONPEscapesScript(t *testing.T) {
	rec := newRecorder()
	got := make(chan *Socket, 1)
	rec.onEvent = func(s *Socket, _ string, _ []json.RawMessage, _ func(...any) error) { got <- s }
	_, ts := startServer(t, Options{}, rec)
	sid := handshake(t, ts.URL)
	u := ts.URL + "/socket.io/1/jsonp-polling/" + sid + "?i=0"
	do(t, "GET", u, "")
	do(t, "POST", u, "d="+url.QueryEscape(`"3:::x"`))
	(<-got).Send(EncodeMessage([]byte("</script>\u2028&")))
	if _, _, body := do(t, "GET", u, ""); body != `io.j[0]("3:::\u003c/script\u003e\u2028\u0026");` {
		t.Errorf("poll: %s", body)
	}
}

// Sends, a server Disconnect and the client going away, all at once:
// Disconnect is called exactly once and nothing races.
func TestDisconnectExactlyOnceUnderRaces(t *testing.T) {
	for i := 0; i < 20; i++ {
		rec := newRecorder()
		got := make(chan *Socket, 1)
		rec.onEvent = func(s *Socket, _ string, _ []json.RawMessage, _ func(...any) error) { got <- s }
		_, ts := startServer(t, Options{QueueLimit: 50}, rec)
		conn := dialWS(t, ts.URL, handshake(t, ts.URL))
		readWS(t, conn)
		wsutil.WriteClientText(conn, []byte("3:::go"))
		s := <-got
		p := EncodeMessage([]byte("x"))
		done := make(chan struct{})
		for g := 0; g < 4; g++ {
			go func() {
				defer func() { done <- struct{}{} }()
				for k := 0; k < 100; k++ {
					if s.Send(p) != nil {
						return
					}
				}
			}()
		}
		go func() { s.Disconnect(); done <- struct{}{} }()
		go func() { conn.Close(); done <- struct{}{} }()
		for range 6 {
			<-done
		}
		rec.waitFor(t, "disconnect")
		waitUntil(t, func() bool { return s.Send(p) != nil }, "the socket closed")
		if n := rec.count("disconnect"); n != 1 {
			t.Fatalf("Disconnect called %d times: %q", n, rec.lines())
		}
	}
}

// Socket.Disconnect inside Connect: the client gets `1::` then `0::`.
type disconnectInConnect struct{ *recorder }

func (d disconnectInConnect) Connect(s *Socket) error {
	d.recorder.Connect(s)
	s.Disconnect()
	return nil
}

func TestDisconnectDuringConnect(t *testing.T) {
	rec := newRecorder()
	_, ts := startServer(t, Options{}, disconnectInConnect{rec})
	sid := handshake(t, ts.URL)
	if _, _, body := do(t, "GET", ts.URL+"/socket.io/1/xhr-polling/"+sid, ""); body != frame("1::", "0::") {
		t.Errorf("poll: %q", body)
	}
	rec.waitFor(t, "disconnect server namespace disconnect")
	conn := dialWS(t, ts.URL, handshake(t, ts.URL))
	if a, b := readWS(t, conn), readWS(t, conn); a != "1::" || b != "0::" {
		t.Errorf("websocket: %q %q", a, b)
	}
	waitUntil(t, func() bool { return rec.count("disconnect") == 2 }, "both disconnected")
}
