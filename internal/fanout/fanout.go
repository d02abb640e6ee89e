// Package fanout spreads one delivery over the machine's cores. A message for 10,000
// sessions costs 10,000 socket writes; made one after another by the sending goroutine,
// the last session waits for all the others while the other cores idle.
package fanout

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// minChunk is the fewest items worth a goroutine of their own: an item is a socket write
// (microseconds each), starting a goroutine costs about one.
const minChunk = 256

// Sum calls fn(item, arg) for every item and returns the sum of the results. Below
// 2×minChunk items, or on one core, it runs the calls in order on the caller's goroutine.
// Above, it splits items into contiguous chunks, at most one per core, runs them at once
// (the caller runs the first) and returns when every chunk is done, so that what the caller
// does next (the next message to the same sessions) cannot overtake any of them.
//
// fn must be safe to call from several goroutines at once for different items. It is a
// plain function with its argument passed beside it, not a closure, so that the common
// small call allocates nothing.
func Sum[T, A any](items []T, arg A, fn func(T, A) int) int {
	if len(items) < 2*minChunk {
		return run(items, arg, fn) // before GOMAXPROCS, which takes the scheduler's lock
	}
	workers := min(runtime.GOMAXPROCS(0), len(items)/minChunk)
	if workers <= 1 {
		return run(items, arg, fn)
	}
	size := (len(items) + workers - 1) / workers
	var (
		wg    sync.WaitGroup
		total atomic.Int64
	)
	for lo := size; lo < len(items); lo += size {
		chunk := items[lo:min(lo+size, len(items))]
		wg.Go(func() { total.Add(int64(run(chunk, arg, fn))) })
	}
	own := run(items[:size], arg, fn)
	wg.Wait()
	return own + int(total.Load())
}

func run[T, A any](items []T, arg A, fn func(T, A) int) int {
	sum := 0
	for _, it := range items {
		sum += fn(it, arg)
	}
	return sum
}
