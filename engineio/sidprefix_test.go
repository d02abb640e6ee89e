package engineio

import (
	"strings"
	"testing"
)

// TestSIDPrefix: with a prefix (a cluster node's id), every session id starts with it and keeps
// a random part of full length; the session works as any other.
func TestSIDPrefix(t *testing.T) {
	opts := testOptions()
	opts.SIDPrefix = "n0de1."
	ts := startServer(t, opts)
	seen := map[string]bool{}
	for range 3 {
		sid := ts.handshakeV4()
		rest, ok := strings.CutPrefix(sid, "n0de1.")
		if !ok || len(rest) < 20 || seen[rest] {
			t.Fatalf("sid %q: want the prefix and a fresh random part", sid)
		}
		seen[rest] = true
		if r := ts.do("POST", "EIO=4&transport=polling&sid="+sid, "text/plain", "4hello"); r.status != 200 || r.body != "ok" {
			t.Fatalf("POST with a prefixed sid: %d %q", r.status, r.body)
		}
	}
}
