//go:build pprof

// Profiling build: `go build -tags pprof` serves net/http/pprof on the
// address in PUSHINATOR_PPROF (e.g. 127.0.0.1:6060), so the server can be
// profiled under the benchmark (go tool pprof http://127.0.0.1:6060/debug/pprof/profile).
// Release builds do not contain it.

package main

import (
	"log"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("PUSHINATOR_PPROF")
	if addr == "" {
		return
	}
	go func() {
		// Lives as long as the process; it only answers profiling requests.
		log.Println("pprof:", http.ListenAndServe(addr, nil))
	}()
}
