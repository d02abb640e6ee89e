package engineio

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeModules finds the npm clients (e2e/node), relative to this package.
func nodeModules(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "e2e", "node", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "engine.io-client")); err != nil {
		t.Fatalf("npm clients missing (%v): run `npm ci --prefix e2e/node` at the repository root", err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node not found (%v): install Node.js 20 and run `npm ci --prefix e2e/node`", err)
	}
	return dir
}

// TestNodeClients drives the official engine.io-client 6.x (socket.io-client
// 4.8), 4.x (socket.io-client 3.1) and 3.x (socket.io-client 2.5) against an echo server: messages
// both ways, and heartbeats keeping the session open for several intervals.
func TestNodeClients(t *testing.T) {
	modules := nodeModules(t)
	tests := []struct {
		name          string
		version       string
		transports    []string
		upgrade       bool
		forceJSONP    bool
		wantTransport string
	}{
		{"v6 websocket", "6", []string{"websocket"}, false, false, "websocket"},
		{"v6 polling", "6", []string{"polling"}, false, false, "polling"},
		{"v6 upgrade", "6", []string{"polling", "websocket"}, true, false, "websocket"},
		{"v4 websocket", "4", []string{"websocket"}, false, false, "websocket"},
		{"v4 upgrade", "4", []string{"polling", "websocket"}, true, false, "websocket"},
		{"v3 websocket", "3", []string{"websocket"}, false, false, "websocket"},
		{"v3 polling", "3", []string{"polling"}, false, false, "polling"},
		{"v3 upgrade", "3", []string{"polling", "websocket"}, true, false, "websocket"},
		{"v3 jsonp", "3", []string{"polling"}, false, true, "polling"},
		{"v3 jsonp upgrade", "3", []string{"polling", "websocket"}, true, true, "websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := testOptions()
			o.MaxPayload = 1e6
			o.CORSOrigins = []string{"*"}
			// 300 ms pings, but a timeout with room for a loaded machine
			// (the clients give up after interval + timeout without one).
			o.PingTimeout = time.Second
			rec := newRecorder()
			srv := NewServer(o, rec)
			hs := httptest.NewServer(srv)
			defer hs.Close()
			cfg, _ := json.Marshal(map[string]any{
				"version":         tt.version,
				"url":             hs.URL,
				"path":            o.Path,
				"transports":      tt.transports,
				"upgrade":         tt.upgrade,
				"forceJSONP":      tt.forceJSONP,
				"messages":        5,
				"aliveMs":         1500, // five ping intervals
				"expectTransport": tt.wantTransport,
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "client.js"), string(cfg))
			cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node client: %v\n%s", err, out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			var res struct {
				OK         bool
				Transport  string
				Heartbeats int
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil || !res.OK {
				t.Fatalf("node client: %v\n%s", err, out)
			}
			if res.Heartbeats < 3 {
				t.Errorf("only %d heartbeats in 1.5 s", res.Heartbeats)
			}
			select {
			case r := <-rec.closes:
				if !strings.HasSuffix(r, " transport close") {
					t.Errorf("close = %q", r)
				}
			case <-ctx.Done():
				t.Error("no OnClose after the client closed")
			}
		})
	}
}
