package legacy_test

import (
	"encoding/json"
	"log"
	"net/http"
	"time"

	"github.com/pushinator/pushinator/legacy"
)

// greeter answers the original pushinator's `auth` event and pushes one
// message, as `socket.send(JSON.stringify(message))` did.
type greeter struct{}

func (greeter) Connect(s *legacy.Socket) error { return nil }

func (greeter) Event(s *legacy.Socket, name string, args []json.RawMessage, ack func(...any) error) {
	if name != "auth" {
		return
	}
	if ack != nil {
		ack(map[string]any{"ok": true})
	}
	s.Send(legacy.EncodeMessage([]byte(`{"hello":"world"}`)))
}

func (greeter) Disconnect(s *legacy.Socket, reason string) {
	log.Printf("%s left over %s: %s", s.ID(), s.Transport(), reason)
}

func Example() {
	srv := legacy.NewServer(legacy.Options{
		Path:             "/socket.io/",
		Transports:       []string{"websocket", "xhr-polling", "jsonp-polling"},
		HeartbeatTimeout: 60 * time.Second,
		CloseTimeout:     60 * time.Second,
		CORSOrigins:      []string{"*"},
	}, greeter{})
	mux := http.NewServeMux()
	// socket.io 0.9 clients ask for /socket.io/1/...; modern clients for
	// /socket.io/?EIO=... (another handler).
	mux.Handle("/socket.io/1/", srv)
	_ = mux
}
