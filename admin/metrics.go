package admin

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"time"
)

// promWriter collects the exposition text.
type promWriter struct{ bytes.Buffer }

func (p *promWriter) family(name, typ, help string) {
	fmt.Fprintf(p, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p *promWriter) sample(name string, value float64, labels ...string) {
	p.WriteString(name)
	if len(labels) > 0 {
		p.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				p.WriteByte(',')
			}
			fmt.Fprintf(p, "%s=%s", labels[i], strconv.Quote(labels[i+1]))
		}
		p.WriteByte('}')
	}
	p.WriteByte(' ')
	p.WriteString(strconv.FormatFloat(value, 'g', -1, 64))
	p.WriteByte('\n')
}

// writeMetrics writes the Prometheus text exposition format (version 0.0.4) by hand: a dozen
// families do not justify the client library.
func (h *Handler) writeMetrics(w http.ResponseWriter, r *http.Request) {
	var p promWriter
	st := h.svc.Stats()

	if h.opts.Connections != nil {
		c := h.opts.Connections()
		p.family("pushinator_connections", "gauge", "Open client connections by transport.")
		for _, t := range sortedKeys(c.ByTransport) {
			p.sample("pushinator_connections", float64(c.ByTransport[t]), "transport", t)
		}
		p.family("pushinator_connections_by_protocol", "gauge", "Open client connections by Engine.IO protocol version.")
		for _, v := range sortedKeys(c.ByProtocol) {
			p.sample("pushinator_connections_by_protocol", float64(c.ByProtocol[v]), "protocol", strconv.Itoa(v))
		}
	}
	p.family("pushinator_sessions", "gauge", "Authenticated client sessions.")
	p.sample("pushinator_sessions", float64(st.Sessions))
	p.family("pushinator_users", "gauge", "Registered users.")
	p.sample("pushinator_users", float64(st.Users))
	p.family("pushinator_messages_kept", "gauge", "Messages kept for users with no live session.")
	p.sample("pushinator_messages_kept", float64(st.Kept))
	p.family("pushinator_messages_sent_total", "counter", "Sends and broadcasts accepted by the admin API.")
	p.sample("pushinator_messages_sent_total", float64(st.MessagesSent))
	p.family("pushinator_deliveries_total", "counter", "Messages handed to a client session.")
	p.sample("pushinator_deliveries_total", float64(st.Deliveries))
	p.family("pushinator_messages_buffered_total", "counter", "Messages kept because the user had no live session.")
	p.sample("pushinator_messages_buffered_total", float64(st.MessagesKept))
	p.family("pushinator_messages_dropped_total", "counter", "Kept messages dropped before delivery, by reason.")
	p.sample("pushinator_messages_dropped_total", float64(st.MessagesDropped), "reason", "overflow")
	p.sample("pushinator_messages_dropped_total", float64(st.MessagesExpired), "reason", "expired")
	p.family("pushinator_auth_total", "counter", "Client authentications by result.")
	p.sample("pushinator_auth_total", float64(st.AuthOK), "result", "success")
	p.sample("pushinator_auth_total", float64(st.AuthFailed), "result", "failure")
	p.family("pushinator_recoveries_total", "counter", "Connection state recoveries by result.")
	p.sample("pushinator_recoveries_total", float64(st.Recovered), "result", "recovered")
	p.sample("pushinator_recoveries_total", float64(st.NotRecovered), "result", "not_recovered")

	p.family("pushinator_admin_requests_total", "counter", "Admin API requests by path and HTTP status.")
	reqs := h.requests.snapshot()
	keys := make([]requestKey, 0, len(reqs))
	for k := range reqs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].path != keys[j].path {
			return keys[i].path < keys[j].path
		}
		return keys[i].status < keys[j].status
	})
	for _, k := range keys {
		path := k.path
		if path == "" {
			path = "other"
		}
		p.sample("pushinator_admin_requests_total", float64(reqs[k]), "path", path, "code", strconv.Itoa(k.status))
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	p.family("pushinator_goroutines", "gauge", "Goroutines in the server process.")
	p.sample("pushinator_goroutines", float64(runtime.NumGoroutine()))
	p.family("pushinator_heap_inuse_bytes", "gauge", "Bytes of heap in use.")
	p.sample("pushinator_heap_inuse_bytes", float64(ms.HeapInuse))
	p.family("pushinator_uptime_seconds", "gauge", "Seconds since the server started.")
	p.sample("pushinator_uptime_seconds", time.Since(h.started).Seconds())

	h.requests.add("/metrics", http.StatusOK)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(p.Bytes())
	}
}

func sortedKeys[K string | int, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
