package loadgen

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// instant answers every request at once: the benchmark measures canary's
// own cost per iteration, not the network's.
type instant struct{}

func (instant) Do(_ context.Context, req *transport.Request, resp *transport.Response) error {
	resp.Status = 200
	resp.Body = append(resp.Body[:0], "ok"...)
	return nil
}

func job(t testing.TB, withMetrics bool) (*ScenarioJob, *stats.Collector) {
	t.Helper()
	sc, err := scenario.Parse("s.yaml", []byte("name: b\nsteps:\n  - {name: get, request: {url: \"http://127.0.0.1:1/\"}, expect: {status: 200}}\n"), scenario.LoadOptions{})
	require.NoError(t, err)
	col := stats.NewCollector(sc.StepNames(), time.Now(), stats.Options{})
	j := &ScenarioJob{Runner: scenario.NewRunner(sc, instant{}), Stats: col}
	if withMetrics {
		exp, err := metrics.NewExporter(prometheus.NewRegistry())
		require.NoError(t, err)
		m, err := exp.AddCheck("b", metrics.CheckOptions{Steps: sc.StepNames(), Methods: sc.Methods()})
		require.NoError(t, err)
		j.Also = m
	}
	return j, col
}

func TestScenarioJobRecordsEverything(t *testing.T) {
	j, col := job(t, true)
	due := time.Now().Add(-50 * time.Millisecond)
	for i := 0; i < 10; i++ {
		j.Iterate(context.Background(), Iteration{Number: uint64(i), Worker: i, Due: due})
	}
	j.Dropped(3, 4)
	j.Lag(1, time.Millisecond)
	col.Flush(time.Now())
	s := col.Totals()
	assert.Equal(t, stats.IterationCounts{Success: 10, Dropped: 4}, s.Iterations)
	assert.Equal(t, int64(10), s.Steps[0].Latency.TotalCount())
	// 3 significant digits: the histogram may report 50 ms as low as 49.95 ms.
	assert.GreaterOrEqual(t, s.Steps[0].Latency.Min(), int64(49950), "corrected latency counts from the due time (µs)")
	assert.Less(t, s.Steps[0].Service.Max(), int64(50000), "service latency does not")
	assert.Equal(t, int64(1), s.Lag.TotalCount())
}

// counting is a stats.Recorder that counts its calls.
type counting struct {
	steps, iterations, lags atomic.Int64
	dropped                 atomic.Uint64
}

func (c *counting) RecordStep(int, int, stats.ErrorClass, stats.Assertion, time.Duration, time.Duration) {
	c.steps.Add(1)
}
func (c *counting) RecordIteration(stats.Outcome, stats.ErrorClass, time.Duration) {
	c.iterations.Add(1)
}
func (c *counting) RecordLag(time.Duration) { c.lags.Add(1) }
func (c *counting) RecordDropped(n uint64)  { c.dropped.Add(n) }

// Also sees exactly what the collector sees.
func TestScenarioJobFeedsAlso(t *testing.T) {
	j, col := job(t, false)
	also := &counting{}
	j.Also = also
	for i := 0; i < 7; i++ {
		j.Iterate(context.Background(), Iteration{Number: uint64(i), Worker: i, Due: time.Now()})
	}
	j.Dropped(2, 5)
	j.Lag(0, time.Millisecond)
	j.Lag(5, time.Millisecond)
	col.Flush(time.Now())
	s := col.Totals()
	assert.Equal(t, s.Steps[0].Latency.TotalCount(), also.steps.Load())
	assert.Equal(t, s.Iterations.Success+s.Iterations.Failure, also.iterations.Load())
	assert.Equal(t, uint64(s.Iterations.Dropped), also.dropped.Load())
	assert.Equal(t, s.Lag.TotalCount(), also.lags.Load())
	assert.Equal(t, int64(7), also.iterations.Load())
}

// BenchmarkIteration is the per-request hot path of a one-step scenario:
// run the step, check it, record corrected and service latency, status,
// class and the iteration — over an instant fake transport.
func BenchmarkIteration(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "stats"
		if withMetrics {
			name = "stats+prometheus"
		}
		b.Run(name, func(b *testing.B) {
			j, _ := job(b, withMetrics)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				w := 0
				for pb.Next() {
					w++
					j.Iterate(context.Background(), Iteration{Number: uint64(w), Worker: w, Due: time.Now()})
				}
			})
		})
	}
}
