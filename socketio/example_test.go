package socketio_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/pushinator/pushinator/engineio"
	"github.com/pushinator/pushinator/socketio"
)

// A push to many sockets encodes the event once.
func ExampleEncodeEvent() {
	p, err := socketio.EncodeEvent("message", json.RawMessage(`{"text":"hello"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(p)
	// for _, s := range sockets { s.Send(p) }

	// Output: 2["message",{"text":"hello"}]
}

// greeter accepts clients that present a token and answers "hello" events.
type greeter struct{}

func (greeter) Connect(s *socketio.Socket, payload json.RawMessage) error {
	var auth struct{ Token string }
	if payload != nil {
		json.Unmarshal(payload, &auth)
	}
	if auth.Token == "" && s.Protocol() == 5 {
		return errors.New("unauthorized") // the client gets connect_error
	}
	return nil
}

func (greeter) Connected(s *socketio.Socket) { s.Emit("welcome", s.ID()) }

func (greeter) Event(s *socketio.Socket, name string, args []json.RawMessage, ack socketio.Ack) {
	if name == "hello" && ack != nil {
		ack("hi")
	}
}

func (greeter) Disconnect(s *socketio.Socket, reason string) {}

func ExampleNewServer() {
	sio := socketio.NewServer(socketio.Options{}, greeter{})
	eio := engineio.NewServer(engineio.Options{
		Path:      "/socket.io/",
		Polling:   true,
		WebSocket: true,
	}, sio)
	http.Handle("/socket.io/", eio)
	// http.ListenAndServe("127.0.0.1:9601", nil)
}
