package legacy

import (
	"os"
	"runtime"
	"testing"
)

// BenchmarkSend measures Socket.Send of a shared packet: with the queue's
// backing array reused, a send allocates nothing.
func BenchmarkSend(b *testing.B) {
	srv := NewServer(Options{QueueLimit: 1 << 20}, newRecorder())
	s := &Socket{srv: srv, id: "bench", state: stateConnected, kind: kindXHR}
	p := EncodeMessage([]byte(`{"hello":"world"}`))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Send(p); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			s.mu.Lock()
			s.queue = s.queue[:0]
			s.mu.Unlock()
		}
	}
}

// TestMeasureIdleWebSockets reports the memory and goroutines an idle
// WebSocket socket holds (client side included). Run with
// LEGACY_MEASURE=1 go test -run MeasureIdle -v ./legacy
func TestMeasureIdleWebSockets(t *testing.T) {
	if os.Getenv("LEGACY_MEASURE") == "" {
		t.Skip("a measurement, not a test: set LEGACY_MEASURE=1")
	}
	const n = 1000
	srv, ts := startServer(t, Options{}, newRecorder())
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]*wsClient, 0, n)
	for i := 0; i < n; i++ {
		c := dialWS(t, ts.URL, handshake(t, ts.URL))
		readWS(t, c)
		conns = append(conns, c)
	}
	waitUntil(t, func() bool { return srv.Stats().WebSocket == n }, "all connected")
	// The flushers that wrote `1::` end; each socket keeps its reader.
	waitUntil(t, func() bool { return runtime.NumGoroutine()-g0 <= n }, "flushers ended")
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("%d idle websocket sockets: %.0f heap bytes and %.2f goroutines each",
		n, float64(after.HeapAlloc-before.HeapAlloc)/n, float64(runtime.NumGoroutine()-g0)/n)
}
