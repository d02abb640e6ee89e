package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushinator/pushinator/engineio"
)

// nodeModules returns the npm clients' directory, failing the test (not
// skipping it) when node or the clients are missing.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "e2e", "node", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (%v): install Node.js 20, then run `npm ci --prefix e2e/node`", err)
	}
	for _, m := range []string{"socket.io-client", "socket.io-client-v3", "socket.io-client-v2"} {
		if _, err := os.Stat(filepath.Join(dir, m, "package.json")); err != nil {
			t.Fatalf("npm client %s missing (%v): run `npm ci --prefix e2e/node` in the repository root", m, err)
		}
	}
	return dir
}

// demo is the Handler the real clients talk to: it echoes, answers acks,
// refuses CONNECT when asked to, and records what it saw.
type demo struct {
	mu          sync.Mutex
	disconnects map[*Socket][]string // every connected socket → its Disconnect reasons
}

func (d *demo) Connect(s *Socket, payload json.RawMessage) error {
	var auth struct {
		Refuse  string `json:"refuse"`
		Recover bool   `json:"recover"`
		PID     string `json:"pid"`
		Offset  string `json:"offset"`
	}
	if payload != nil {
		if err := json.Unmarshal(payload, &auth); err != nil {
			return err
		}
	}
	if es := s.Engine(); auth.Refuse == "" && es.HandshakeRequest() != nil {
		// Protocol v4 (socket.io-client 2.x) has no CONNECT payload; its
		// query travels on the handshake, available during OpenSession.
		auth.Refuse = es.HandshakeRequest().URL.Query().Get("refuse")
	}
	if auth.Refuse != "" {
		return errors.New(auth.Refuse)
	}
	s.SetData(payload)
	switch {
	case auth.PID != "":
		s.SetPID(auth.PID) // recovered: same pid, missed events follow
	case auth.Recover:
		s.SetPID("pid-" + s.ID())
	}
	return nil
}

func (d *demo) Connected(s *Socket) {
	d.mu.Lock()
	d.disconnects[s] = []string{}
	d.mu.Unlock()
	payload, _ := s.Data().(json.RawMessage)
	var auth struct {
		PID    string `json:"pid"`
		Offset string `json:"offset"`
	}
	if payload != nil {
		json.Unmarshal(payload, &auth)
	}
	if auth.PID != "" {
		s.Emit("news", "missed since "+auth.Offset, "o-2")
		return
	}
	s.Emit("welcome", map[string]any{"id": s.ID(), "protocol": s.Protocol(), "auth": payload})
}

func (d *demo) Event(s *Socket, name string, args []json.RawMessage, ack Ack) {
	anyArgs := make([]any, len(args))
	for i, a := range args {
		anyArgs[i] = a
	}
	switch name {
	case "echo":
		s.Emit("echo", anyArgs...)
	case "ack":
		ack(anyArgs...)
	case "ask":
		s.EmitWithAck("question", func(reply []json.RawMessage, err error) {
			if err == nil {
				r := make([]any, len(reply))
				for i, a := range reply {
					r[i] = a
				}
				s.Emit("answer", r...)
			}
		}, anyArgs...)
	case "binary":
		var lens []int
		for _, a := range s.Attachments() {
			lens = append(lens, len(a))
		}
		ack(lens, args[len(args)-1])
	case "news-please":
		s.Emit("news", "first", "o-1")
	case "transport":
		ack(s.Engine().Transport())
	case "disconnect-me":
		s.Disconnect()
	case "drop-transport":
		s.Engine().Close()
	}
}

func (d *demo) Disconnect(s *Socket, reason string) {
	d.mu.Lock()
	d.disconnects[s] = append(d.disconnects[s], reason)
	d.mu.Unlock()
}

// reasons waits until every connected socket has had its Disconnect, then
// returns the reasons; it fails on a socket disconnected twice.
func (d *demo) reasons(t *testing.T) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d.mu.Lock()
		var all []string
		pending := 0
		for s, r := range d.disconnects {
			switch len(r) {
			case 0:
				pending++
			case 1:
				all = append(all, r[0])
			default:
				t.Errorf("socket %s disconnected %d times: %q", s.ID(), len(r), r)
			}
		}
		d.mu.Unlock()
		if pending == 0 {
			slices.Sort(all)
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connected sockets never got Disconnect", pending)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
}

// startServer runs engineio+socketio on 127.0.0.1:0 and returns its URL.
func startServer(t *testing.T, h Handler, opts Options) string {
	t.Helper()
	sio := NewServer(opts, h)
	eio := engineio.NewServer(engineio.Options{
		Path:               "/socket.io/",
		PingInterval:       2 * time.Second,
		PingTimeout:        2 * time.Second,
		Polling:            true,
		JSONP:              true,
		WebSocket:          true,
		UpgradeToWebSocket: true,
		AllowEIO3:          true,
		CORSOrigins:        []string{"*"},
	}, sio)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: eio, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		hs.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		eio.Shutdown(ctx)
		hs.Shutdown(ctx)
		<-served
	})
	return "http://" + ln.Addr().String()
}

func TestRealClients(t *testing.T) {
	modules := nodeModules(t)
	tests := []struct {
		client string
		modes  []string
	}{
		{"v4", []string{"websocket", "polling", "default"}},
		{"v3", []string{"websocket", "polling", "default"}},
		{"v2", []string{"websocket", "polling", "default", "jsonp"}},
	}
	for _, tt := range tests {
		for _, mode := range tt.modes {
			t.Run(tt.client+"/"+mode, func(t *testing.T) {
				d := &demo{disconnects: map[*Socket][]string{}}
				url := startServer(t, d, Options{ConnectTimeout: 5 * time.Second})
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "client.js"), url, tt.client, mode)
				cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("node client.js %s %s: %v\n%s", tt.client, mode, err, out)
				}
				for _, sc := range []string{"basic", "serverDisconnect", "reconnect", "refused", "namespace", "recovery"} {
					if !strings.Contains(string(out), "ok "+sc+"\n") {
						t.Errorf("scenario %s did not pass:\n%s", sc, out)
					}
				}
				got := d.reasons(t)
				want := []string{
					"client namespace disconnect", // basic
					"client namespace disconnect", // reconnect, second socket
					"forced close",                // reconnect: the server closed the Engine.IO session
					"server namespace disconnect", // serverDisconnect
				}
				if tt.client == "v4" {
					// recovery: dropped by the server, then the recovered
					// socket disconnects.
					want = append(want, "forced close", "client namespace disconnect")
				}
				if tt.client == "v2" {
					// The v2 namespace scenario connects "/" implicitly
					// before refusing "/admin"; the client then closes.
					want = append(want, "transport close")
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("Disconnect reasons\n got %q\nwant %q", got, want)
				}
			})
		}
	}
}

// conformance is the server of the official protocol test suite, on "/"
// only: it sends "auth" with the CONNECT payload, echoes "message" as
// "message-back" and acks "message-with-ack", attachments included.
type conformance struct{}

func (conformance) Connect(s *Socket, payload json.RawMessage) error {
	if payload == nil {
		payload = json.RawMessage(`{}`)
	}
	s.SetData(payload)
	return nil
}

func (conformance) Connected(s *Socket) { s.Emit("auth", s.Data()) }

func (conformance) Event(s *Socket, name string, args []json.RawMessage, ack Ack) {
	// Top-level placeholders go back out as binary attachments.
	out := make([]any, len(args))
	for i, a := range args {
		var ph struct {
			Placeholder bool `json:"_placeholder"`
			Num         int  `json:"num"`
		}
		if firstByte(a) == '{' && json.Unmarshal(a, &ph) == nil && ph.Placeholder {
			out[i] = s.Attachments()[ph.Num]
		} else {
			out[i] = a
		}
	}
	switch name {
	case "message":
		s.Emit("message-back", out...)
	case "message-with-ack":
		ack(out...)
	}
}

func (conformance) Disconnect(*Socket, string) {}

func TestProtocolSuite(t *testing.T) {
	modules := nodeModules(t)
	url := startServer(t, conformance{}, Options{ConnectTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "protocol.js"), url)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node protocol.js: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
