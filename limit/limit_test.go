package limit

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestListenerRefusesBeyondTheCap(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	capped := NewListener(ln, 2).(*Listener)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
	go srv.Serve(capped)
	defer srv.Close()

	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	deadline := time.Now().Add(5 * time.Second)
	for capped.Open() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "capacity") {
		t.Fatalf("over the cap: %d %s", resp.StatusCode, body)
	}
	for _, c := range held {
		c.Close()
	}
	// Once they are closed, connections are served again.
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("connections are still refused after the others closed")
}

func TestHandshakesPerIP(t *testing.T) {
	now := time.Unix(0, 0)
	h := NewHandshakes(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), 2).(*Handshakes)
	h.now = func() time.Time { return now }
	do := func(query, ip string) int {
		r := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling"+query, nil)
		r.RemoteAddr = ip + ":1234"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	for i, want := range []int{200, 200, 429} {
		if got := do("", "1.1.1.1"); got != want {
			t.Fatalf("handshake %d: %d, want %d", i, got, want)
		}
	}
	if got := do("&sid=abc", "1.1.1.1"); got != 200 {
		t.Fatalf("a request of an existing session is not a handshake: %d", got)
	}
	if got := do("", "2.2.2.2"); got != 200 {
		t.Fatalf("another IP: %d", got)
	}
	now = now.Add(time.Second)
	if got := do("", "1.1.1.1"); got != 200 {
		t.Fatalf("next second: %d", got)
	}
}

func TestFailures(t *testing.T) {
	now := time.Unix(0, 0)
	f := NewFailures(3, time.Minute)
	f.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if f.Blocked("1.1.1.1") {
			t.Fatalf("blocked after %d failures", i)
		}
		f.Fail("1.1.1.1")
	}
	if !f.Blocked("1.1.1.1") || f.Blocked("2.2.2.2") {
		t.Fatal("3 failures do not block that IP alone")
	}
	now = now.Add(time.Minute)
	if f.Blocked("1.1.1.1") {
		t.Fatal("still blocked after the window")
	}
	if IP("[::1]:80") != "::1" || IP("1.2.3.4:5") != "1.2.3.4" {
		t.Fatal("IP")
	}
}
