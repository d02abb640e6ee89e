package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pushinator/pushinator/admin"
	"github.com/pushinator/pushinator/config"
	"github.com/pushinator/pushinator/engineio"
	"github.com/pushinator/pushinator/gateway"
	"github.com/pushinator/pushinator/push"
	"github.com/pushinator/pushinator/socketio"
)

// TestServeProfiled runs pushinator's parts, wired as main wires them with the default config,
// in this process under the CPU profiler, so that pushbench (another process) can load it and
// `go tool pprof` can read where the server's time and memory go. pushinator itself has no
// pprof endpoint. It is a tool, not a check, so it runs only when asked:
//
//	PUSHBENCH_SERVE=ADMINPORT,CLIENTPORT PUSHBENCH_PROFILE_DIR=/tmp/prof \
//	  go test -run TestServeProfiled -timeout 0 ./cmd/pushbench
//
// It serves until SIGINT/SIGTERM or PUSHBENCH_SERVE_FOR (a duration) and then writes
// cpu.pprof and heap.pprof (the heap at the end, and heap-peak.pprof on SIGUSR1, taken while
// the connections are open, with memstats-peakN.txt), and prints its pid as "pid N" to stdout.
// PUSHBENCH_MEMPROFILERATE=1 makes the heap profiles exact.
func TestServeProfiled(t *testing.T) {
	spec := os.Getenv("PUSHBENCH_SERVE")
	if spec == "" {
		t.Skip("set PUSHBENCH_SERVE=ADMINPORT,CLIENTPORT to run a profiled in-process pushinator")
	}
	ports := strings.Split(spec, ",")
	if len(ports) != 2 {
		t.Fatalf("PUSHBENCH_SERVE=%q: want ADMINPORT,CLIENTPORT", spec)
	}
	if r := os.Getenv("PUSHBENCH_MEMPROFILERATE"); r != "" {
		// 1 records every allocation: exact per-connection figures for the idle heap.
		n, err := strconv.Atoi(r)
		if err != nil {
			t.Fatalf("PUSHBENCH_MEMPROFILERATE: %v", err)
		}
		runtime.MemProfileRate = n
	}
	dir := os.Getenv("PUSHBENCH_PROFILE_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	srv := startServer(t, ports[0], ports[1])
	defer srv.shutdown()

	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("pid %d\n", os.Getpid())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if s := os.Getenv("PUSHBENCH_SERVE_FOR"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("PUSHBENCH_SERVE_FOR: %v", err)
		}
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	peaks := 0
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-usr1:
			peaks++
			writeHeap(t, filepath.Join(dir, "heap-peak"+strconv.Itoa(peaks)+".pprof"))
			writeMemStats(t, filepath.Join(dir, "memstats-peak"+strconv.Itoa(peaks)+".txt"))
		}
	}
	pprof.StopCPUProfile()
	cpu.Close()
	writeHeap(t, filepath.Join(dir, "heap.pprof"))
}

// testServer is pushinator's parts wired as main wires them, with the default config
// (authTimeout off), on two loopback listeners.
type testServer struct {
	admin, client string // host:port
	shutdown      func()
}

func startServer(t testing.TB, adminPort, clientPort string) *testServer {
	cfg := config.Default()
	cfg.Client.AuthTimeout = 0
	d := cfg.Delivery
	hub := push.NewHub(push.Options{BufferSize: d.BufferSize, BufferBytes: d.BufferBytes, BufferTTL: d.BufferTTL, RecoveryWindow: d.RecoveryWindow})
	gw := gateway.New(hub, gateway.Options{Recovery: d.RecoveryWindow > 0})
	sio := socketio.NewServer(socketio.Options{ConnectTimeout: socketio.DefaultConnectTimeout}, gw)
	c := cfg.Client
	eng := engineio.NewServer(engineio.Options{
		Path: c.Path, PingInterval: c.PingInterval, PingTimeout: c.PingTimeout, MaxPayload: c.MaxPayload,
		AllowEIO3: c.AllowEIO3, CORSOrigins: c.CORSOrigins, QueueLimit: d.QueueSize, WriteTimeout: d.WriteTimeout,
		WebSocket: true, Polling: true, JSONP: true, UpgradeToWebSocket: true,
	}, sio)
	mux := http.NewServeMux()
	mux.Handle(c.Path, eng)
	clientSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	adminSrv := &http.Server{Handler: admin.New(hub, admin.Options{MaxBodyBytes: cfg.Admin.MaxBodyBytes}), ReadHeaderTimeout: 10 * time.Second}
	listen := func(port string) net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	aln, cln := listen(adminPort), listen(clientPort)
	done := make(chan struct{}, 2)
	go func() { adminSrv.Serve(aln); done <- struct{}{} }()
	go func() { clientSrv.Serve(cln); done <- struct{}{} }()
	return &testServer{
		admin: aln.Addr().String(), client: cln.Addr().String(),
		shutdown: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			eng.Shutdown(ctx)
			clientSrv.Shutdown(ctx)
			adminSrv.Shutdown(ctx)
			<-done
			<-done
		},
	}
}

func writeHeap(t *testing.T, path string) {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
}

// writeMemStats records where the process's memory is (heap, goroutine stacks, runtime) and
// how many goroutines run, which the heap profile alone does not show.
func writeMemStats(t *testing.T, path string) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	text := fmt.Sprintf("goroutines %d\nHeapInuse %d\nHeapAlloc %d\nHeapObjects %d\nStackInuse %d\nSys %d\nMSpanInuse %d\nGCSys %d\nOtherSys %d\n",
		runtime.NumGoroutine(), m.HeapInuse, m.HeapAlloc, m.HeapObjects, m.StackInuse, m.Sys, m.MSpanInuse, m.GCSys, m.OtherSys)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path + ".goroutines")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pprof.Lookup("goroutine").WriteTo(f, 1)
}
