package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoMessageLostUnderDisconnects is the delivery proof: 10,000 numbered messages to 100
// users while their connections are cut by the network (a proxy closing random TCP
// connections) and closed by the clients themselves, over WebSocket, polling and the
// polling→WebSocket upgrade. Every client must end with every one of its messages, exactly
// once and in order.
func TestNoMessageLostUnderDisconnects(t *testing.T) {
	if testing.Short() {
		t.Skip("the delivery proof takes a while; it runs in the full suite (make test)")
	}
	const users, perUser = 100, 100
	s := startServer(t, "", "delivery: { bufferSize: 1000 },")
	proxy := startCuttingProxy(t, strings.TrimPrefix(s.clientURL, "http://"), 40*time.Millisecond)

	var specs []map[string]any
	for i := 1; i <= users; i++ {
		s.mustAdmin("/user/register", fmt.Sprintf(`{"userId":%d,"hash":"h%d"}`, i, i))
		transports := [][]string{{"websocket"}, {"polling"}, {"polling", "websocket"}}[i%3]
		specs = append(specs, map[string]any{"id": i, "hash": fmt.Sprintf("h%d", i), "transports": transports})
	}
	arg, _ := json.Marshal(map[string]any{"url": "http://" + proxy.addr(), "users": specs, "closeEveryMs": 50})
	c := startNode(t, "stress", "testdata/stress-client.js", string(arg))
	c.waitEvent("ready", 60*time.Second)

	// Each user's messages are sent in order by one worker; users are spread over workers.
	const workers = 8
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for n := 1; n <= perUser; n++ {
				for u := 1 + w; u <= users; u += workers {
					status, out := s.admin("/user/send", fmt.Sprintf(`{"userId":%d,"message":%d}`, u, n))
					if status != 200 {
						t.Errorf("send %d to %d: %d %v", n, u, status, out)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	t.Logf("sent %d messages in %v while %d connections were cut", users*perUser, time.Since(start).Round(time.Millisecond), proxy.cutCount())

	var report struct {
		Received  map[string][]int
		Connects  map[string]int
		Recovered map[string]int
	}
	complete := func() bool {
		c.stdin.Write([]byte("report\n"))
		ev := c.waitEvent("report", 10*time.Second)
		data, _ := json.Marshal(ev)
		json.Unmarshal(data, &report)
		for u := 1; u <= users; u++ {
			if len(report.Received[fmt.Sprint(u)]) < perUser {
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(90 * time.Second)
	for !complete() {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	reconnects, recovered := 0, 0
	for u := 1; u <= users; u++ {
		id := fmt.Sprint(u)
		got := report.Received[id]
		reconnects += report.Connects[id] - 1
		recovered += report.Recovered[id]
		ok := len(got) == perUser
		for i := 0; ok && i < perUser; i++ {
			ok = got[i] == i+1
		}
		if !ok {
			t.Errorf("user %d (%v) got %d messages, want 1..%d in order exactly once: %v", u, specs[u-1]["transports"], len(got), perUser, got)
		}
	}
	t.Logf("%d reconnections, %d recovered, %d cuts by the proxy", reconnects, recovered, proxy.cutCount())
	if reconnects < 50 {
		t.Errorf("only %d reconnections: the test did not disturb the connections enough to prove anything", reconnects)
	}
}
