package stats

import (
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkRecordStep is the per-request cost of recording a step and its
// iteration from many goroutines: corrected and service latency, status,
// class, and the iteration's latency and outcome.
func BenchmarkRecordStep(b *testing.B) {
	for _, rate := range []float64{0, 1e6} {
		name := "lazy"
		if rate > 0 {
			name = "dense"
		}
		b.Run(name, func(b *testing.B) {
			c := NewCollector([]string{"a"}, t0, Options{Rate: rate})
			var worker atomic.Int64
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				sh := c.Shard(int(worker.Add(1)))
				d := 800 * time.Microsecond
				for pb.Next() {
					d += 7 * time.Microsecond
					if d > 50*time.Millisecond {
						d = 800 * time.Microsecond
					}
					sh.RecordStep(0, 200, ClassNone, AssertNone, d, d/2)
					sh.RecordIteration(Success, ClassNone, d)
				}
			})
		})
	}
}

// BenchmarkFlush is the once-a-second merge of every shard into the
// totals, the series and (with windows) the window ring, after a second
// of 5,000 iterations spread over the shards.
func BenchmarkFlush(b *testing.B) {
	for _, windows := range []bool{false, true} {
		name := "no-windows"
		o := Options{Rate: 5000}
		if windows {
			name = "windows"
			o.WindowRetention = time.Hour
		}
		b.Run(name, func(b *testing.B) {
			c := NewCollector([]string{"a", "b"}, t0, o)
			now := t0
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				for w := 0; w < 5000; w++ {
					d := time.Duration(500+w%20000) * time.Microsecond
					sh := c.Shard(w)
					sh.RecordStep(w%2, 200, ClassNone, AssertNone, d, d/3)
					sh.RecordIteration(Success, ClassNone, d)
				}
				now = now.Add(time.Second)
				b.StartTimer()
				c.Flush(now)
			}
		})
	}
}

// BenchmarkWindow is a 5-minute window query over a full hour of windows,
// as the daemon evaluates an SLO.
func BenchmarkWindow(b *testing.B) {
	c := NewCollector([]string{"a"}, t0, Options{WindowRetention: time.Hour})
	now := t0
	for s := 0; s < 3600; s++ {
		for w := 0; w < 50; w++ {
			d := time.Duration(500+(s*50+w)%30000) * time.Microsecond
			c.Shard(w).RecordStep(0, 200, ClassNone, AssertNone, d, d/3)
			c.Shard(w).RecordIteration(Success, ClassNone, d)
		}
		now = now.Add(time.Second)
		c.Flush(now)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if w := c.Window(now, 5*time.Minute); w.Iterations.Success == 0 {
			b.Fatal("empty window")
		}
	}
}
