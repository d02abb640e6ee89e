package cluster

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// FuzzOwner: the node named by any sid is this node's neighbour or nobody, never this node,
// and a forwarded request is never forwarded again.
func FuzzOwner(f *testing.F) {
	for _, s := range []string{"na.abc", "nb.abc", "noseparator", ".x", "nb.", "nb.x.y", "", "%2e"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, sid string, forwarded bool) {
		fw := New(http.NotFoundHandler(), Options{Self: "na", Lookup: func(string) (string, error) { return "", nil }})
		r := &http.Request{URL: &url.URL{RawQuery: "EIO=4&transport=polling&sid=" + url.QueryEscape(sid)}, Header: http.Header{}}
		if forwarded {
			r.Header.Set(ForwardedHeader, "nb")
		}
		node, ok := fw.owner(r)
		if !ok {
			return
		}
		if forwarded || node == "na" || node == "" || !strings.HasPrefix(sid, node+SIDSeparator) {
			t.Fatalf("sid %q (forwarded %v) goes to node %q", sid, forwarded, node)
		}
	})
}
