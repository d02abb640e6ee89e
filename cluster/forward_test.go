package cluster

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// node is a fake node: its handler answers with its name and whether the request was forwarded.
func node(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name+" "+r.Header.Get(ForwardedHeader))
	})
}

func TestForwarding(t *testing.T) {
	var addrs = map[string]string{}
	lookup := func(id string) (string, error) { return addrs[id], nil }
	a := httptest.NewServer(New(node("A"), Options{Self: "na", Lookup: lookup, Timeout: time.Second}))
	defer a.Close()
	b := httptest.NewServer(New(node("B"), Options{Self: "nb", Lookup: lookup, Timeout: time.Second}))
	defer b.Close()
	addrs["na"] = strings.TrimPrefix(a.URL, "http://")
	addrs["nb"] = strings.TrimPrefix(b.URL, "http://")
	// nc points back at a: a request forwarded there is not forwarded again.
	addrs["nc"] = addrs["na"]

	for _, tc := range []struct {
		server, query, want string
	}{
		{a.URL, "EIO=4&transport=polling", "A "},            // handshake: served here
		{a.URL, "EIO=4&transport=polling&sid=na.xyz", "A "}, // own session
		{a.URL, "EIO=4&transport=polling&sid=nb.xyz", "B na"},
		{b.URL, "EIO=4&transport=polling&sid=na.xyz", "A nb"},
		{a.URL, "EIO=4&transport=polling&sid=nz.xyz", "A "}, // unknown node: served here, the engine says unknown sid
		{a.URL, "EIO=4&transport=polling&sid=noseparator", "A "},
		{b.URL, "EIO=4&transport=polling&sid=nc.xyz", "A nb"}, // forwarded once, then served
	} {
		resp, err := http.Get(tc.server + "/socket.io/?" + tc.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != tc.want {
			t.Errorf("%s?%s: got %q, want %q", tc.server, tc.query, body, tc.want)
		}
	}
}

func TestForwardingToADeadNode(t *testing.T) {
	lookup := func(id string) (string, error) { return "127.0.0.1:1", nil } // nobody listens
	a := httptest.NewServer(New(node("A"), Options{Self: "na", Lookup: lookup, Timeout: time.Second}))
	defer a.Close()
	resp, err := http.Get(a.URL + "/socket.io/?EIO=4&transport=polling&sid=nb.x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
}

// A client that stalls in a forwarded POST's body is cut after BodyTimeout, on both nodes,
// as the owner cuts a POST it serves itself.
func TestForwardedBodyThatStalls(t *testing.T) {
	ownerDone := make(chan error, 1)
	owner := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		ownerDone <- err
	}))
	defer owner.Close()
	lookup := func(string) (string, error) { return strings.TrimPrefix(owner.URL, "http://"), nil }
	a := httptest.NewServer(New(node("A"), Options{Self: "na", Lookup: lookup, Timeout: time.Minute, BodyTimeout: 200 * time.Millisecond}))
	defer a.Close()

	c, err := net.Dial("tcp", strings.TrimPrefix(a.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /socket.io/?EIO=4&transport=polling&sid=nb.x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n4hello")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	io.Copy(io.Discard, c) // the answer, if any, then the end of the connection
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the stalled body held the request %v", waited)
	}
	select {
	case err := <-ownerDone:
		if err == nil {
			t.Fatal("the owner read a whole body that never came")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the owner still waits for the body")
	}
}
