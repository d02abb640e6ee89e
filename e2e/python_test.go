package e2e

// The Python socket.io client (python-socketio from Debian's python3-socketio, with
// python3-websocket and python3-requests for its transports) runs the README flow.

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// debianPython is Debian's interpreter, whose dist-packages hold python3-socketio: a python3
// earlier in PATH (pyenv, a virtualenv) would not see it.
const debianPython = "/usr/bin/python3"

// requirePythonSocketIO fails (not skips) the test when the client is missing: CI installs it.
func requirePythonSocketIO(t *testing.T) {
	t.Helper()
	out, err := exec.Command(debianPython, "-c", "import socketio, websocket, requests").CombinedOutput()
	if err != nil {
		t.Fatalf("the Python socket.io client is missing (%v: %s): "+
			"`apt-get install -y python3-socketio python3-websocket python3-requests` (.ci/run does it)", err, out)
	}
}

// startPython runs testdata/python-client.py; its JSON lines become the client's events.
func startPython(t *testing.T, url, userID, hash, transport, handler string) *client {
	t.Helper()
	requirePythonSocketIO(t)
	cmd := exec.Command(debianPython, "testdata/python-client.py", url, userID, hash, transport, handler)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1")
	// Closing stdin makes the script disconnect and exit.
	return startProcess(t, "python-"+transport, cmd, 10*time.Second)
}

func TestPythonClient(t *testing.T) {
	cases := []struct {
		name      string
		transport string // python-socketio's transports option
		final     string // the transport the server counts
		handler   string
		top       string // extra config
		wantArgs  int    // arguments the message handler gets
	}{
		// Recovery on (the default): each push carries its offset as a last argument.
		{"websocket", "websocket", "websocket", "varargs", "", 2},
		{"polling", "polling", "polling", "varargs", "", 2},
		// python-socketio's default: polling, upgraded to WebSocket while connecting.
		{"polling upgraded", "polling,websocket", "websocket", "varargs", "", 2},
		// Recovery off: the plain one-argument handler of python-socketio's docs.
		{"websocket recovery off", "websocket", "websocket", "one-arg", "delivery: { recoveryWindow: 0 },", 1},
		{"polling recovery off", "polling", "polling", "one-arg", "delivery: { recoveryWindow: 0 },", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, "", tc.top)
			s.mustAdmin("/user/register", `{"userId":5,"hash":"xxx1234"}`)
			c := startPython(t, s.clientURL, "5", "xxx1234", tc.transport, tc.handler)
			if v := c.waitEvent("versions", 30*time.Second); v["socketio"] == "" {
				t.Fatalf("versions: %v", v)
			}
			if ev := c.waitEvent("connect", 30*time.Second); !strings.Contains(tc.transport, ev["transport"].(string)) {
				t.Fatalf("connected over %v, want %s", ev["transport"], tc.transport)
			}
			if ev := c.waitEvent("auth-ack", 30*time.Second); jsonString(ev["res"]) != `{"ok":true}` {
				t.Fatalf("auth ack %v", ev["res"])
			}
			waitFor(t, 30*time.Second, "the server to count the Python client's "+tc.final+" connection", func() bool {
				return s.stat("connections.byTransport."+tc.final) == 1 && s.stat("connections.total") == 1 && s.stat("sessions") == 1
			})

			out := s.mustAdmin("/user/send", `{"userId":5,"message":"example message"}`)
			if out["delivered"] != float64(1) {
				t.Fatalf("send: %v", out)
			}
			s.mustAdmin("/user/send", `{"userId":5,"message":{"title":"Hi","unread":3}}`)
			for _, want := range []string{`"example message"`, `{"title":"Hi","unread":3}`} {
				ev := c.waitEvent("event", 30*time.Second)
				args := ev["args"].([]any)
				if jsonString(args[0]) != want || len(args) != tc.wantArgs {
					t.Fatalf("message handler got %s, want %s and %d arguments; stderr: %s", jsonString(args), want, tc.wantArgs, c.stderr)
				}
			}
			if c.stderr.String() != "" {
				t.Fatalf("the Python client complained: %s", c.stderr)
			}
		})
	}
}
