package redisengine

import (
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/pushinator/pushinator/push"
)

// FuzzDecodeEntry: a log entry from Redis never panics the node, and a well-formed one comes
// back as written.
func FuzzDecodeEntry(f *testing.F) {
	for _, s := range []string{
		`1764200000000:7:{"seq":3,"event":"message","data":"hello"}`,
		`1:2:{"seq":18446744073709551615,"event":"x","data":{"a":[1,2]}}`,
		`::{}`, `1:2`, ``, `1:2:{"seq":-1}`, `1:2:{"data":`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := decodeEntry(s)
		if err != nil {
			return
		}
		if m.Data != nil && !json.Valid(m.Data) {
			t.Fatalf("%q: invalid data %q accepted", s, m.Data)
		}
	})
}

// FuzzDispatch: whatever arrives on the node's channels, dispatch neither panics nor delivers
// to a user the message does not name, and never delivers a sequence number twice.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		`{"seq":1,"users":["5"],"event":"message","data":"x"}`,
		`{"seq":2,"all":true,"event":"message","data":{"a":1}}`,
		`{"op":"kick","owner":"n:1"}`, `{"op":"unregister","user":"5"}`, `{"op":"disconnect","user":"6"}`,
		`{"seq":1,"users":["6"],"data":1}`, `{"seq":"x"}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		n := &Node{users: map[string][]*binding{}, owners: map[string]*binding{}, log: slog.New(slog.DiscardHandler)}
		five, six := &fakeSession{}, &fakeSession{}
		b5 := &binding{userID: "5", owner: "n:1", sess: five, ready: true}
		b6 := &binding{userID: "6", owner: "n:2", sess: six, ready: true}
		n.users["5"], n.users["6"] = []*binding{b5}, []*binding{b6}
		n.owners["n:1"], n.owners["n:2"] = b5, b6
		n.dispatch(payload)
		n.dispatch(payload) // the same again: a duplicate
		var w wireMessage
		json.Unmarshal(payload, &w)
		for id, s := range map[string]*fakeSession{"5": five, "6": six} {
			named := w.All
			for _, u := range w.Users {
				named = named || u == id
			}
			if got := len(s.seqs); got > 1 || got == 1 && (!named || w.Op != "") {
				t.Fatalf("%q: user %s got %v", payload, id, s.seqs)
			}
		}
	})
}

var _ push.Session = (*fakeSession)(nil)
