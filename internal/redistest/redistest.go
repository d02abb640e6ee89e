// Package redistest finds the Redis server the tests use and gives each test its own key
// prefix. The rule: PUSHINATOR_REDIS_ADDR names it, and then it must answer (CI starts one);
// without it, a Redis answering on 127.0.0.1:6379 is used, and with none the test is skipped
// with a message saying how to run it.
package redistest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Addr returns the Redis address for t, or fails or skips t as the package doc says.
func Addr(t testing.TB) string {
	t.Helper()
	if addr := os.Getenv("PUSHINATOR_REDIS_ADDR"); addr != "" {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("PUSHINATOR_REDIS_ADDR=%s does not answer: %v", addr, err)
		}
		c.Close()
		return addr
	}
	c, err := net.DialTimeout("tcp", "127.0.0.1:6379", 500*time.Millisecond)
	if err != nil {
		t.Skip("no Redis: set PUSHINATOR_REDIS_ADDR or run redis-server on 127.0.0.1:6379 (.ci/run does) to run the Redis tests")
	}
	c.Close()
	return "127.0.0.1:6379"
}

// Prefix returns a key prefix of t alone (label names the test suite in it); the keys under it
// are deleted when t ends.
func Prefix(t testing.TB, addr, label string) string {
	var b [6]byte
	rand.Read(b[:])
	prefix := label + ":" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, _ := c.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			c.Del(ctx, keys...)
		}
	})
	return prefix
}
