package slo

import (
	"math"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// snapshot builds a snapshot: n iterations of which bad failed, each with
// step "login" at loginMs and the whole iteration at loginMs+10.
func snapshot(n, bad int64, loginMs func(i int64) float64) *stats.Snapshot {
	s := stats.NewSnapshot([]string{"login"})
	for i := int64(0); i < n; i++ {
		v := int64(loginMs(i) * 1000)
		s.Steps[0].Latency.RecordValue(v)
		s.Steps[0].Service.RecordValue(v / 2)
		s.Steps[0].Errors[stats.ClassNone]++
		s.Iteration.RecordValue(v + 10000)
		if i < bad {
			s.Iterations.Failure++
		} else {
			s.Iterations.Success++
		}
	}
	return s
}

func must(t *testing.T, expr string) Objective {
	t.Helper()
	o, err := ParseExpr(expr)
	require.NoError(t, err)
	return o
}

func TestJudge(t *testing.T) {
	// 1000 iterations: login takes i/10 ms (0..99.9 ms), 12 failed.
	snap := snapshot(1000, 12, func(i int64) float64 { return float64(i) / 10 })
	in := Input{Snapshot: snap, Duration: 10 * time.Second, Window: "5m", MinSamples: 50}
	for _, tc := range []struct {
		name    string
		objs    []string
		verdict Verdict
		reasons []string
	}{
		{"all pass", []string{"p99(login)<100ms", "success>=98%", "rps>=90"}, Pass, nil},
		{"latency fails", []string{"p99(login)<50ms"}, Fail, []string{"p99 of login 98.94ms >= 50ms over 5m, n=1000"}},
		{"errors fail", []string{"errors<1%"}, Fail, []string{"errors 1.2% >= 1% over 5m, n=1000"}},
		{"iteration latency", []string{"p50(iteration)<60ms"}, Pass, nil},
		{"iteration latency fails", []string{"p50(iteration)<55ms"}, Fail, []string{"p50 of the iteration 59.9ms >= 55ms over 5m, n=1000"}},
		{"every request's latency", []string{"p50<55ms"}, Pass, nil},
		{"service latency", []string{"p99(login, service)<50ms"}, Pass, nil},
		{"unknown step has no data", []string{"p99(nope)<1s"}, Inconclusive, []string{"p99(nope) has no data", "p99(nope): no data over 5m"}},
		{"no SLOs: any failure fails", nil, Fail, []string{"12 of 1000 iterations failed (no SLOs given: any failure fails)"}},
	} {
		var objs []Objective
		for _, e := range tc.objs {
			objs = append(objs, must(t, e))
		}
		j := Judge(objs, in)
		assert.Equal(t, tc.verdict, j.Verdict, tc.name)
		if tc.reasons != nil {
			assert.Equal(t, tc.reasons, j.Reasons, tc.name)
		}
		assert.Equal(t, int64(1000), j.Samples)
	}
}

func TestJudgeInconclusiveRules(t *testing.T) {
	snap := snapshot(1000, 500, func(int64) float64 { return 1 })
	objs := []Objective{must(t, "success>=99%")}
	j := Judge(objs, Input{Snapshot: snap, Duration: time.Second, Window: "5m", Aborted: true})
	assert.Equal(t, Inconclusive, j.Verdict)

	j = Judge(objs, Input{Snapshot: snapshot(30, 0, func(int64) float64 { return 1 }), Duration: time.Second, Window: "5m", MinSamples: 50})
	assert.Equal(t, Inconclusive, j.Verdict)
	assert.Equal(t, "30 iterations over 5m, fewer than min_samples 50", j.Reasons[0])

	j = Judge(nil, Input{Snapshot: stats.NewSnapshot([]string{"a"}), Window: "5m"})
	assert.Equal(t, Inconclusive, j.Verdict, "no iterations at all")
}

func TestBurnRate(t *testing.T) {
	// 1% failed against a 99.5% objective: twice the budget rate.
	snap := snapshot(1000, 10, func(i int64) float64 { return float64(i % 100) })
	b, ok := BurnRate(must(t, "success>=99.5%"), snap)
	require.True(t, ok)
	assert.InDelta(t, 2.0, b, 1e-9)
	// Latency: 20 of each 100 are at 80..99 ms, i.e. > 79.5 ms: 20% slow
	// against p99's 1% budget → 20.
	b, ok = BurnRate(must(t, "p99(login)<79.5ms"), snap)
	require.True(t, ok)
	assert.InDelta(t, 20.0, b, 1e-9)
	_, ok = BurnRate(must(t, "rps>=1"), snap)
	assert.False(t, ok, "rps has no budget")
	_, ok = BurnRate(must(t, "success>=99%"), stats.NewSnapshot([]string{"login"}))
	assert.False(t, ok, "no data")
}

func TestEvaluateRPSAndMean(t *testing.T) {
	snap := snapshot(100, 0, func(int64) float64 { return 5 })
	r := Evaluate(must(t, "rps>=9"), Input{Snapshot: snap, Duration: 10 * time.Second})
	assert.True(t, r.Pass)
	assert.Equal(t, 10.0, r.Observed)
	r = Evaluate(must(t, "mean(login)<6ms"), Input{Snapshot: snap})
	assert.True(t, r.Pass)
	assert.InDelta(t, 0.005, r.Observed, 0.00001)
	r = Evaluate(must(t, "max(login)<1ms"), Input{Snapshot: snap})
	assert.False(t, r.Pass)
	r = Evaluate(must(t, "success>=1%"), Input{})
	assert.False(t, r.Evaluated)
	assert.True(t, math.IsNaN(r.Observed))
	assert.Equal(t, "n/a", r.ObservedText())
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		5 * time.Minute: "5m", time.Hour: "1h", 90 * time.Second: "1m30s", 6*time.Hour + 30*time.Minute: "6h30m", 0: "0s", 45 * time.Second: "45s",
	} {
		assert.Equal(t, want, FormatDuration(in), "FormatDuration(%v)", in)
	}
}

// distributionCount is CountAtOrBelow as a walk over every bucket.
func distributionCount(bars []hdrhistogram.Bar, seconds float64) int64 {
	limit := int64(math.Round(seconds * 1e6))
	var n int64
	for _, b := range bars {
		if b.To <= limit {
			n += b.Count
		}
	}
	return n
}

// CountAtOrBelow agrees with a walk over every bucket, at bucket edges and
// between them, and allocates nothing.
func TestCountAtOrBelow(t *testing.T) {
	skewed := stats.NewHistogram()
	x := uint64(1)
	for range 20000 {
		x = x*6364136223846793005 + 1442695040888963407
		us := int64(200 * math.Exp(float64(x>>11)/(1<<53)*9)) // 200 µs .. 1.6 s
		require.NoError(t, skewed.RecordValue(us))
	}
	one := stats.NewHistogram()
	require.NoError(t, one.RecordValues(250_000, 7))
	for _, tc := range []struct {
		name string
		h    *hdrhistogram.Histogram
	}{
		{"empty", stats.NewHistogram()},
		{"one bucket", one},
		{"log-uniform 200us..1.6s", skewed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			limits := []float64{0, 1e-6, 0.0002, 0.001, 0.01, 0.1, 0.2499, 0.25, 0.250001, 0.2502, 0.25025, 1, 1.6, 3600}
			bars := tc.h.Distribution()
			for i, b := range bars { // the edges of every 50th bucket, if it holds values
				if b.Count > 0 && i%50 == 0 {
					limits = append(limits, float64(b.To)/1e6, float64(b.To-1)/1e6, float64(b.To+1)/1e6)
				}
			}
			for _, s := range limits {
				require.Equal(t, distributionCount(bars, s), CountAtOrBelow(tc.h, s), "CountAtOrBelow(%s, %gs)", tc.name, s)
			}
			require.Zero(t, testing.AllocsPerRun(10, func() { CountAtOrBelow(tc.h, 0.1) }))
		})
	}
}
