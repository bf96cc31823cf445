// Package membound holds tests and fuzz targets to a memory budget: a call
// that allocates more than its budget fails, and one that keeps allocating
// is stopped before it takes the machine with it. Only tests import it.
package membound

import (
	"fmt"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/canaryproj/canary/internal/clock"
)

// allocsMetric is the cumulative count of bytes allocated on the heap. It
// is read without stopping the world (runtime.ReadMemStats would), so a
// fuzz target can afford it on every input.
const allocsMetric = "/gc/heap/allocs:bytes"

// MiB is a budget unit.
const MiB = 1 << 20

// poll is how often the watchdog looks while fn runs. A runaway parser
// allocates a few GB/s at most on one core: it gets a few MB past the kill
// line before it is stopped.
const poll = time.Millisecond

// Check calls fn and fails t when fn allocates more than budget bytes on
// the heap (everything allocated while fn runs counts, freed or not, so
// garbage counts too). While fn runs, a watchdog panics once allocations
// pass twice the budget: that ends the process — the only way to stop a
// call from outside — and a fuzzing run records the input as a crasher
// instead of letting the worker swap the machine or meet the OOM killer.
//
// Nothing else may allocate meanwhile: do not use it in parallel tests.
func Check(t testing.TB, budget uint64, fn func()) {
	t.Helper()
	start := allocated()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		watch(start, 2*budget, stop)
	}()
	func() {
		defer func() {
			close(stop)
			wg.Wait()
		}()
		fn()
	}()
	if used := allocated() - start; used > budget {
		t.Fatalf("allocated %s for one call, more than its budget of %s", size(used), size(budget))
	}
}

// watch panics when allocations since start pass limit, until stop closes.
func watch(start, limit uint64, stop <-chan struct{}) {
	tick := clock.Real().NewTicker(poll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C():
			if used := allocated() - start; used > limit {
				panic(fmt.Sprintf("membound: still running after allocating %s (the kill line is twice the budget, %s): this input exhausts memory", size(used), size(limit)))
			}
		}
	}
}

func allocated() uint64 {
	s := []metrics.Sample{{Name: allocsMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func size(b uint64) string {
	return fmt.Sprintf("%.1f MiB", float64(b)/MiB)
}
