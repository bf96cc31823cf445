package loadgen

import (
	"context"
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
		j.Observer = m
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
