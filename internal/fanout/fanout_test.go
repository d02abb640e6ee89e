package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every item is visited exactly once and the results add up, whatever the size: below the
// split, at it, and with chunks that do not divide evenly.
func TestSumVisitsEveryItemOnce(t *testing.T) {
	for _, n := range []int{0, 1, minChunk - 1, 2 * minChunk, 2*minChunk + 1, 10_007} {
		items := make([]int, n)
		for i := range items {
			items[i] = i
		}
		seen := make([]int32, n)
		var mu sync.Mutex
		got := Sum(items, seen, func(i int, seen []int32) int {
			mu.Lock()
			seen[i]++
			mu.Unlock()
			return i % 3
		})
		want := 0
		for i := range n {
			want += i % 3
			if seen[i] != 1 {
				t.Fatalf("n=%d: item %d visited %d times", n, i, seen[i])
			}
		}
		if got != want {
			t.Fatalf("n=%d: sum %d, want %d", n, got, want)
		}
	}
}

// A large delivery runs on more than one goroutine when there is more than one core, and
// has finished everywhere when Sum returns.
func TestSumSpreadsLargeDeliveries(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	items := make([]int, 4*minChunk)
	var (
		inFlight, done atomic.Int32
		once           sync.Once
	)
	overlapped := make(chan struct{})
	// Each call waits until two calls are in flight at once, or the deadline: run one
	// after another, the first call waits it out and the test fails.
	deadline := time.Now().Add(5 * time.Second)
	Sum(items, 0, func(int, int) int {
		if inFlight.Add(1) >= 2 {
			once.Do(func() { close(overlapped) })
		}
		select {
		case <-overlapped:
		case <-time.After(time.Until(deadline)):
		}
		inFlight.Add(-1)
		done.Add(1)
		return 1
	})
	if n := done.Load(); int(n) != len(items) {
		t.Fatalf("%d of %d items done when Sum returned", n, len(items))
	}
	select {
	case <-overlapped:
	default:
		t.Fatalf("a delivery to %d sessions never had two writes in flight at once", len(items))
	}
}

// A small delivery allocates nothing: the 1:1 send path calls Sum once per message.
func TestSumSmallAllocatesNothing(t *testing.T) {
	items := make([]*int, 3)
	allocs := testing.AllocsPerRun(100, func() {
		Sum(items, 7, func(p *int, a int) int { return a })
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per small Sum", allocs)
	}
}
