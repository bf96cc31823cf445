package loadgen

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/canaryproj/canary/internal/clock"
)

// otherClock is the real clock under another type, which the engine does
// not recognise as real: it sleeps on the clock's timers, not on precise
// ones.
type otherClock struct{ clock.Clock }

// BenchmarkOpenModelLag runs the open model at 5,000/s for a second with
// an empty job and reports the generator's lag (due → start) and the
// process's CPU time per iteration: with the precise timers the real clock
// gets, and with the clock's own timers. An empty job leaves the pacing's
// own cost: one wake-up per iteration for the precise timers, a few
// iterations per wake-up for the clock's. It measures wall-clock
// behaviour: compare the two on one quiet machine.
func BenchmarkOpenModelLag(b *testing.B) {
	for _, tt := range []struct {
		name  string
		clock clock.Clock
	}{
		{"precise", clock.Real()},
		{"clock-timers", otherClock{clock.Real()}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			var lags []time.Duration
			cpu0, cpuOK := processCPU()
			for b.Loop() {
				rec := &recorder{}
				_, err := Run(context.Background(), Options{
					Model: Open, Plan: constPlan{rate: 5000, dur: time.Second}, MaxInflight: 100, MaxLag: time.Second,
					Monitor: rec, Clock: tt.clock, Job: JobFunc(func(context.Context, Iteration) {}),
				})
				if err != nil {
					b.Fatal(err)
				}
				lags = append(lags, rec.lags...)
			}
			if cpu1, ok := processCPU(); ok && cpuOK && len(lags) > 0 {
				b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(len(lags)), "cpu-µs/iteration")
			}
			slices.Sort(lags)
			q := func(p float64) float64 { return float64(lags[int(p*float64(len(lags)-1))]) / float64(time.Microsecond) }
			b.ReportMetric(q(0.5), "lag-p50-µs")
			b.ReportMetric(q(0.99), "lag-p99-µs")
			b.ReportMetric(q(0.999), "lag-p99.9-µs")
		})
	}
}
