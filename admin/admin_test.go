package admin

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushinator/pushinator/push"
)

func newTestServer(t *testing.T, opts Options) (*httptest.Server, *push.Hub) {
	t.Helper()
	hub := push.NewHub(push.Options{BufferSize: 10, BufferTTL: time.Minute, RecoveryWindow: time.Minute})
	if opts.MaxBodyBytes == 0 {
		opts.MaxBodyBytes = 1 << 10
	}
	srv := httptest.NewServer(New(hub, opts))
	t.Cleanup(srv.Close)
	return srv, hub
}

// call sends one request the way curl -d does (form Content-Type) and decodes the JSON reply.
func call(t *testing.T, srv *httptest.Server, method, path, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, got, data)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: reply is not JSON: %q", method, path, data)
	}
	if out["status"] != float64(resp.StatusCode) {
		t.Fatalf("%s %s: status field %v, HTTP %d", method, path, out["status"], resp.StatusCode)
	}
	return resp.StatusCode, out
}

func TestReplies(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	for _, tc := range []struct {
		method, path, body string
		status             int
		field, want        string // a field of the reply and its JSON
	}{
		{"POST", "/user/register", `{"userId":5,"hash":"xxx1234"}`, 200, "result", `"OK"`},
		{"POST", "/user/register", `{"userId":"6","hash":"h"}`, 200, "result", `"OK"`},
		{"POST", "/user/register", `{"userId":5}`, 400, "error", `"Missing userId or hash in data"`},
		{"POST", "/user/register", `{"hash":"x"}`, 400, "error", `"Missing userId or hash in data"`},
		{"POST", "/user/register", `{"userId":true,"hash":"x"}`, 400, "error", `"userId: userId must be a number or a non-empty string"`},
		{"POST", "/user/register", `{"userId":5,"hash":""}`, 400, "error", `"Missing userId or hash in data"`},
		{"POST", "/user/register", `not json`, 400, "error", `"Not A JSON Body"`},
		{"POST", "/user/register", `[1,2]`, 400, "error", `"Not A JSON Body"`},
		{"POST", "/user/register", `{"userId":5,"hash":"` + strings.Repeat("x", 2000) + `"}`, 413, "error", `"Request body larger than the limit"`},
		{"GET", "/user/register", ``, 405, "error", `"Method Not Allowed"`},
		{"POST", "/nope", `{}`, 404, "error", `"Not Found"`},
		{"POST", "/user/send", `{"userId":5,"message":"example message"}`, 200, "buffered", `1`},
		{"POST", "/user/send", `{"userId":5}`, 400, "error", `"Missing userId or message in data"`},
		{"POST", "/user/send", `{"userId":5,"message":null}`, 400, "error", `"Missing userId or message in data"`},
		{"POST", "/user/send", `{"userId":99,"message":1}`, 200, "unknownUsers", `["99"]`},
		{"POST", "/user/send", `{"userIds":[5,"6",5],"message":{"a":1}}`, 200, "buffered", `2`},
		{"POST", "/user/send", `{"userIds":[],"message":1}`, 400, "error", `"userIds must be a non-empty array of numbers or strings"`},
		{"POST", "/user/send", `{"userId":5,"message":1,"event":"connect"}`, 400, "error", `"event \"connect\" is reserved by socket.io"`},
		{"POST", "/user/send", `{"userId":5,"message":1,"event":"news"}`, 200, "result", `"OK"`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a"},{"userIds":[5,"6"],"message":{"b":2},"event":"news"}]}`, 200, "buffered", `3`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a"},{"userIds":[99,5],"message":1},{"userId":99,"message":2}]}`, 200, "unknownUsers", `["99"]`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a"}]}`, 200, "messages", `1`},
		{"POST", "/user/send", `{"messages":[]}`, 400, "error", `"messages must be a non-empty array of objects"`},
		{"POST", "/user/send", `{"messages":{"userId":5}}`, 400, "error", `"messages must be a non-empty array of objects"`},
		{"POST", "/user/send", `{"messages":[null]}`, 400, "error", `"messages[0]: not an object"`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a"},{"userId":5}]}`, 400, "error", `"messages[1]: Missing userId or message in data"`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a","event":"connect"}]}`, 400, "error", `"messages[0]: event \"connect\" is reserved by socket.io"`},
		{"POST", "/user/send", `{"messages":[{"messages":[]}]}`, 400, "error", `"messages[0]: messages cannot nest"`},
		{"POST", "/user/send", `{"messages":[{"userId":5,"message":"a"}],"userId":5}`, 400, "error", `"Give messages or userId, not both"`},
		{"POST", "/broadcast", `{"message":"hi"}`, 200, "delivered", `0`},
		{"POST", "/broadcast", `{}`, 400, "error", `"Missing message in data"`},
		{"POST", "/user/list", ``, 200, "users", `["5","6"]`},
		{"POST", "/user/disconnect", `{"userId":5}`, 200, "disconnected", `0`},
		{"POST", "/user/disconnect", `{"userId":77}`, 404, "error", `"Unknown userId"`},
		{"POST", "/user/unregister", `{"userId":"6"}`, 200, "result", `"OK"`},
		{"POST", "/user/list", ``, 200, "users", `["5"]`},
		{"GET", "/health", ``, 200, "result", `"OK"`},
		{"POST", "/health", ``, 405, "error", `"Method Not Allowed"`},
		{"GET", "/stats", ``, 200, "users", `1`},
	} {
		status, out := call(t, srv, tc.method, tc.path, tc.body)
		got, _ := json.Marshal(out[tc.field])
		if status != tc.status || string(got) != tc.want {
			t.Errorf("%s %s %.60s: got %d %s=%s, want %d %s", tc.method, tc.path, tc.body, status, tc.field, got, tc.status, tc.want)
		}
	}
}

func TestToken(t *testing.T) {
	srv, _ := newTestServer(t, Options{Token: "s3cret"})
	if status, _ := call(t, srv, "GET", "/health", ""); status != 401 {
		t.Fatalf("no token: %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/health", "", "Authorization", "Bearer wrong"); status != 401 {
		t.Fatalf("wrong token: %d, want 401", status)
	}
	if status, _ := call(t, srv, "GET", "/health", "", "Authorization", "Bearer s3cret"); status != 200 {
		t.Fatalf("right token: %d, want 200", status)
	}
}

func TestMetrics(t *testing.T) {
	srv, _ := newTestServer(t, Options{Connections: func() Connections {
		return Connections{Total: 3, ByTransport: map[string]int{"websocket": 2, "polling": 1}, ByProtocol: map[int]int{3: 1, 4: 2}}
	}})
	call(t, srv, "POST", "/user/register", `{"userId":1,"hash":"h"}`)
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	text := string(data)
	for _, want := range []string{
		"# TYPE pushinator_connections gauge",
		`pushinator_connections{transport="websocket"} 2`,
		`pushinator_connections{transport="polling"} 1`,
		`pushinator_connections_by_protocol{protocol="3"} 1`,
		"pushinator_users 1",
		`pushinator_admin_requests_total{path="/user/register",code="200"} 1`,
		"# TYPE pushinator_deliveries_total counter",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
}

// FuzzAdminBody drives every JSON endpoint with arbitrary bodies: the reply is always JSON with
// a matching status, never a 500 or a panic.
func FuzzAdminBody(f *testing.F) {
	for _, s := range []string{`{"userId":5,"hash":"x"}`, `{"userId":5,"message":{"a":[1,2]}}`,
		`{"userIds":[1,"2"],"message":"m","event":"e"}`, `{"userId":1e400}`, `nul`, `{"userId":"\ud800"}`, ``,
		`{"messages":[{"userId":1,"message":"a"},{"userIds":[2,1],"message":{"b":[]},"event":"e"}]}`, `{"messages":[null,{}]}`} {
		f.Add("/user/send", s)
		f.Add("/user/register", s)
	}
	hub := push.NewHub(push.Options{BufferSize: 2, BufferTTL: time.Minute})
	h := New(hub, Options{MaxBodyBytes: 1 << 12})
	f.Fuzz(func(t *testing.T, path, body string) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.URL.Path = "/" + strings.TrimLeft(path, "/")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: status %d", path, body, rec.Code)
		}
		if rec.Code == 301 || rec.Code == 307 { // the mux cleaning an odd path
			return
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out["status"] != float64(rec.Code) {
			t.Fatalf("%s %q: reply %d %q", path, body, rec.Code, rec.Body.String())
		}
	})
}

// Many messages in one request: all are checked before the first is sent, so a bad one
// sends nothing; a good request sends each, in order.
func TestSendManyMessages(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	call(t, srv, "POST", "/user/register", `{"userId":1,"hash":"h"}`)
	sent := func() float64 {
		_, out := call(t, srv, "GET", "/stats", "")
		return out["messages"].(map[string]any)["sent"].(float64)
	}
	if status, out := call(t, srv, "POST", "/user/send", `{"messages":[{"userId":1,"message":"a"},{"userId":1,"message":"b"},{"userId":1}]}`); status != 400 {
		t.Fatalf("a batch with a bad message: %d %v, want 400", status, out)
	}
	if n := sent(); n != 0 {
		t.Fatalf("a refused batch sent %v messages, want 0", n)
	}
	status, out := call(t, srv, "POST", "/user/send", `{"messages":[{"userId":1,"message":"a"},{"userId":1,"message":"b"},{"userIds":[1,2],"message":"c"}]}`)
	if status != 200 || out["messages"] != float64(3) || out["buffered"] != float64(3) {
		t.Fatalf("batch of 3: %d %v", status, out)
	}
	if n := sent(); n != 3 {
		t.Fatalf("sent %v messages, want 3", n)
	}
}

// A body is read whatever its framing: a declared length, chunked, or too short for the length
// it declares (a clear 400, not a hang).
func TestBodyFraming(t *testing.T) {
	srv, _ := newTestServer(t, Options{})
	addr := strings.TrimPrefix(srv.URL, "http://")
	body := `{"userId":5,"hash":"xxx1234"}`
	for _, tc := range []struct {
		name, request string
		status        int
	}{
		{"content-length", "POST /user/register HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 200},
		{"chunked", "POST /user/register HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
			strconv.FormatInt(10, 16) + "\r\n" + body[:10] + "\r\n" + strconv.FormatInt(int64(len(body)-10), 16) + "\r\n" + body[10:] + "\r\n0\r\n\r\n", 200},
		{"shorter than declared", "POST /user/register HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + body, 400},
		// curl asks before sending a body over 1 KB; the body follows the interim 100 here.
		{"expect 100-continue", "POST /user/register HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, tc.request)
			c.(*net.TCPConn).CloseWrite() // the short body ends here
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err == nil && resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(br, nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				got, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, got, tc.status)
			}
		})
	}
}

// recordingSession keeps the data of what it is delivered.
type recordingSession struct{ got []string }

func (s *recordingSession) Deliver(m *push.Message) error {
	s.got = append(s.got, string(m.Data))
	return nil
}
func (s *recordingSession) Disconnect(string) {}

// A number beyond a float64 reaches clients as null, as the original's JavaScript sent the
// Infinity it parsed: a client with a strict decoder (Go's) would refuse the whole packet.
func TestSendOverflowingNumbers(t *testing.T) {
	srv, hub := newTestServer(t, Options{})
	call(t, srv, "POST", "/user/register", `{"userId":5,"hash":"h"}`)
	s := &recordingSession{}
	if _, err := hub.Authenticate("5", "h", s, ""); err != nil {
		t.Fatal(err)
	}
	for _, body := range []string{
		`{"userId":5,"message":{"n":1e400,"m":[-2E+999,1e308,1e-400],"s":"1e400"}}`,
		`{"userId":5,"message":1e999}`,
		`{"messages":[{"userId":5,"message":[1e400]}]}`,
	} {
		if status, out := call(t, srv, "POST", "/user/send", body); status != 200 || out["delivered"] != float64(1) {
			t.Fatalf("send %s: %d %v", body, status, out)
		}
	}
	want := []string{`{"n":null,"m":[null,1e308,1e-400],"s":"1e400"}`, `null`, `[null]`}
	if strings.Join(s.got, " ") != strings.Join(want, " ") {
		t.Fatalf("delivered %q, want %q", s.got, want)
	}
}
