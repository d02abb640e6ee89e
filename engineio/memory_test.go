package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestIdleWebSocketMemory measures what an idle WebSocket session costs the
// server: heap and stacks in use after N sessions are open and idle, less
// before, divided by N. The clients run in a child process so that their
// memory is not counted.
func TestIdleWebSocketMemory(t *testing.T) {
	if os.Getenv("ENGINEIO_MEMORY_CLIENT") != "" {
		t.Skip("child process")
	}
	n := 2000
	if testing.Short() {
		n = 200
	}
	o := slowPing(testOptions())
	ts := startServer(t, o)
	ts.rec.quiet = true

	before := inUse()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestMemoryClients$")
	cmd.Env = append(os.Environ(), "ENGINEIO_MEMORY_CLIENT="+strconv.Itoa(n),
		"ENGINEIO_MEMORY_URL=ws"+strings.TrimPrefix(ts.url, "http")+"?EIO=4&transport=websocket")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("client process: %q %v", line, err)
	}
	waitFor(t, "sessions open", func() bool { return ts.srv.Stats().WebSocket == n })
	// Parked in the Poller, an idle session holds no goroutine (once the
	// readers of the first packets have ended).
	waitFor(t, "no goroutine per session", func() bool { return runtime.NumGoroutine() < 50 })
	after := inUse()
	per := float64(after-before) / float64(n)
	t.Logf("idle WebSocket session: %.0f bytes (heap+stack in use, %d sessions, %d goroutines)", per, n, runtime.NumGoroutine())
	// About 1.3 KB measured (Session, socket, Reader and Waiter state);
	// a goroutine per session would add its stack, 4 KiB or more.
	if per > 3072 {
		t.Errorf("idle WebSocket session costs %.0f bytes, want at most 3 KiB", per)
	}
}

func inUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}

// TestMemoryClients is the child process of TestIdleWebSocketMemory: it
// opens the sessions, says "ready", and holds them until stdin closes.
func TestMemoryClients(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("ENGINEIO_MEMORY_CLIENT"))
	if n == 0 {
		t.Skip("run by TestIdleWebSocketMemory")
	}
	u := os.Getenv("ENGINEIO_MEMORY_URL")
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, br, _, err := ws.Dial(ctx, u)
		cancel()
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		var r io.Reader = conn
		if br != nil {
			r = br
		}
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := wsutil.ReadServerData(struct {
			io.Reader
			io.Writer
		}{r, conn}); err != nil {
			t.Fatalf("open packet %d: %v", i, err)
		}
		conns = append(conns, conn)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
}
