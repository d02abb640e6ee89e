package e2e

// A Go service as a client: github.com/zishang520/socket.io/clients/socket/v3 (socket.io v5
// over Engine.IO v4; a test-only dependency, its version in go.mod) runs the README flow.

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zishang520/socket.io/clients/engine/v3/transports"
	sio "github.com/zishang520/socket.io/clients/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// goClient is one Go socket.io client and what it has seen.
type goClient struct {
	socket   *sio.Socket
	connect  chan string // the transport at connect
	authAck  chan []any
	messages chan []any
	mu       sync.Mutex
	errs     []string
	retries  []string
}

// startGoClient connects with the given transports; auth, when set, goes in the handshake;
// emitAuth sends the README's auth event after connect.
func startGoClient(t *testing.T, url string, transportNames []string, auth map[string]any, emitAuth []any) *goClient {
	t.Helper()
	opts := sio.DefaultOptions()
	set := types.NewSet[transports.TransportCtor]()
	for _, name := range transportNames {
		switch name {
		case "websocket":
			set.Add(transports.WebSocket)
		case "polling":
			set.Add(transports.Polling)
		}
	}
	opts.SetTransports(set)
	// v3.0.6's Manager subscribes to its engine's "open" after starting it, so now and then
	// (often under -race) it misses a connection that did open and waits for its connect
	// timeout: a short timeout and reconnection recover from that, as an application would.
	opts.SetTimeout(2 * time.Second)
	opts.SetReconnection(true)
	opts.SetReconnectionDelay(100)
	opts.SetReconnectionDelayMax(300)
	opts.SetForceNew(true) // one Manager per client: no sharing between subtests
	// Connect only once the handlers are on: unlike JavaScript's, these events come from
	// other goroutines and could fire before On.
	opts.SetAutoConnect(false)
	if auth != nil {
		opts.SetAuth(auth)
	}
	c := &goClient{connect: make(chan string, 4), authAck: make(chan []any, 4), messages: make(chan []any, 16)}
	socket, err := sio.Connect(url, opts)
	if err != nil {
		t.Fatalf("go socket.io client: connect %s: %v", url, err)
	}
	c.socket = socket
	socket.On("connect", func(...any) {
		name := ""
		if e := socket.Io().Engine(); e != nil && e.Transport() != nil {
			name = e.Transport().Name()
		}
		c.connect <- name
		if emitAuth != nil {
			// authenticate
			socket.Emit("auth", append(emitAuth, func(res []any, err error) {
				if err != nil {
					c.fail("auth ack: " + err.Error())
				}
				c.authAck <- res
			})...)
		}
	})
	// A connect_error here is the library's missed "open" (above), which it retries: logged,
	// not failed; a refusal from the server would show as no connect or no acknowledgement.
	socket.On("connect_error", func(args ...any) { c.retry(fmt.Sprint(args...)) })
	socket.On("message", func(args ...any) { c.messages <- args })
	t.Cleanup(func() { socket.Disconnect() })
	socket.Connect()
	return c
}

func (c *goClient) fail(s string) {
	c.mu.Lock()
	c.errs = append(c.errs, s)
	c.mu.Unlock()
}

func (c *goClient) retry(s string) {
	c.mu.Lock()
	c.retries = append(c.retries, s)
	c.mu.Unlock()
}

func (c *goClient) errors() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.errs, "; ")
}

func receive[T any](t *testing.T, c *goClient, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatalf("the Go client saw no %s within 30 s (errors: %s)", what, c.errors())
		panic("unreachable")
	}
}

func TestGoClient(t *testing.T) {
	cases := []struct {
		name       string
		transports []string
		client     string // extra client config
		handshake  bool   // auth in the handshake instead of the auth event
		final      string // transport the server counts once settled
	}{
		{"websocket", []string{"websocket"}, "", false, "websocket"},
		{"websocket handshake auth", []string{"websocket"}, "", true, "websocket"},
		{"polling handshake auth", []string{"polling"}, "", true, "polling"},
		// This client sends over polling only between two long polls (its writes queue behind
		// the pending GET), so the auth event waits for the next server ping: a short
		// pingInterval keeps that wait short.
		{"polling", []string{"polling"}, "pingInterval: 500,", false, "polling"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.client, "")
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("server log:\n%s", s.out)
				}
			})
			s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
			var c *goClient
			if tc.handshake {
				c = startGoClient(t, s.clientURL, tc.transports, map[string]any{"userId": 5, "hash": "xxx1234"}, nil)
			} else {
				c = startGoClient(t, s.clientURL, tc.transports, nil, []any{5, "xxx1234"})
			}
			got := receive(t, c, c.connect, "connect")
			if got != tc.transports[0] {
				t.Fatalf("connected over %q, want %s", got, tc.transports[0])
			}
			if !tc.handshake {
				if res := receive(t, c, c.authAck, "auth acknowledgement"); jsonString(res) != `[{"ok":true}]` {
					t.Fatalf("auth ack %s", jsonString(res))
				}
			}
			// (A connection the library gave up on may linger on the server until its close.)
			waitFor(t, 30*time.Second, "the server to count the Go client's "+tc.final+" session", func() bool {
				return s.stat("sessions") == 1 && s.stat("connections.byTransport."+tc.final) >= 1
			})

			out := s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			if out["delivered"] != float64(1) {
				t.Fatalf("send: %v", out)
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":{"title":"Hi","unread":3}}`)
			for _, want := range []string{`"example message"`, `{"title":"Hi","unread":3}`} {
				args := receive(t, c, c.messages, "message")
				if len(args) == 0 {
					t.Fatal("message event without arguments")
				}
				got, _ := json.Marshal(args[0])
				if string(got) != want {
					t.Fatalf("message %s, want %s (all arguments %s)", got, want, jsonString(args))
				}
			}
			if e := c.errors(); e != "" {
				t.Fatalf("client errors: %s", e)
			}
			c.mu.Lock()
			if len(c.retries) > 0 {
				t.Logf("the client retried its connection %d times: %v", len(c.retries), c.retries)
			}
			c.mu.Unlock()
		})
	}
}
