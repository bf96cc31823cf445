package run

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func load(t *testing.T, url string) *scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse("s.yaml", []byte(fmt.Sprintf(`name: t
steps:
  - name: get
    request: {url: "%s/?i={{ iteration }}", timeout: 10s}
    expect: {status: 200}
`, url)), scenario.LoadOptions{})
	require.NoError(t, err)
	return s
}

func flags(t *testing.T, f profiles.Flags) *profiles.Profile {
	t.Helper()
	p, err := profiles.FromFlags(f)
	require.NoError(t, err)
	return p
}

// counter is a target that counts requests and the iteration numbers seen.
type counter struct {
	n    atomic.Int64
	mu   sync.Mutex
	seen map[int]int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	if i, err := strconv.Atoi(r.URL.Query().Get("i")); err == nil {
		c.mu.Lock()
		c.seen[i]++
		c.mu.Unlock()
	}
}

// The rate, counted by the target: 200/s for 10 s is 2,000 iterations, each
// sent once. Counts, not timings: on a busy machine the generator starts
// them late (its lag, and whether that saturates it, is the saturation
// rule's business, tested in slo and by TestJudgeAppliesTheSaturationRule),
// but it starts every one, and the report counts the schedule's rate.
func TestOpenModelRateCountedByTarget(t *testing.T) {
	c := &counter{seen: map[int]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	lag := time.Minute // however late, nothing is dropped
	out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Rate: "200/s", Duration: 10 * time.Second, MaxLag: &lag})})
	require.NoError(t, err)
	assert.Equal(t, int64(2000), c.n.Load(), "requests the target counted")
	assert.Len(t, c.seen, 2000, "distinct iterations the target saw")
	for i, n := range c.seen {
		require.Equal(t, 1, n, "iteration %d reached the target more than once", i)
	}
	assert.Equal(t, int64(2000), out.Report.Iterations.Total, "the schedule of 200/s × 10 s")
	assert.Equal(t, int64(2000), out.Report.Iterations.Success)
	assert.Equal(t, 200.0, out.Report.Rate.Achieved, "2,000 completed over the profile's 10 s")
	assert.Equal(t, 200.0, out.Report.Rate.Target)
	assert.Equal(t, int64(2000), out.Report.Generator.Due)
	assert.Equal(t, slo.Pass, out.Judgement.Verdict, "no SLOs and no failure: pass")
}

// A profile shorter than one iteration's slot still runs the iteration due
// at 0: its rate is measured over the time that iteration needs of the
// schedule (it read 1,000,000,000/s for --duration 1ns), and a run a little
// longer than a whole number of slots reads the schedule's rate.
func TestShortRunsReadTheirRate(t *testing.T) {
	for _, tc := range []struct {
		name       string
		duration   time.Duration
		iterations int64
		achieved   float64
	}{
		{"shorter than a slot", time.Nanosecond, 1, 10},
		{"a part of a slot over", 1050 * time.Millisecond, 11, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{seen: map[int]int{}}
			srv := httptest.NewServer(c)
			defer srv.Close()
			lag := time.Minute
			out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Rate: "10/s", Duration: tc.duration, MaxLag: &lag})})
			require.NoError(t, err)
			assert.Equal(t, tc.iterations, out.Report.Iterations.Total)
			assert.Equal(t, tc.achieved, out.Report.Rate.Achieved)
			assert.Equal(t, 10.0, out.Report.Rate.Target)
		})
	}
}

// A target that stalls for a second with every slot busy: the iterations
// due meanwhile wait for a slot, and their corrected latency shows the
// stall although their service latency does not (coordinated omission).
// The bounds are relative to what was measured, so that a busy machine,
// which slows every request, changes nothing.
func TestStallShowsInCorrectedLatency(t *testing.T) {
	var stallUntil atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if until := time.Unix(0, stallUntil.Load()); time.Now().Before(until) {
			time.Sleep(time.Until(until))
		}
	}))
	defer srv.Close()
	lag := time.Minute
	p := flags(t, profiles.Flags{Rate: "200/s", Duration: 5 * time.Second, MaxInflight: 4, MaxLag: &lag})
	time.AfterFunc(2*time.Second, func() { stallUntil.Store(time.Now().Add(time.Second).UnixNano()) })
	out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: p})
	require.NoError(t, err)
	st := out.Report.Steps[0]
	assert.Equal(t, int64(1000), st.Count)
	assert.Zero(t, out.Report.Iterations.Dropped)
	// About 200 of 1,000 iterations (20 %) were due during the stall and
	// waited up to a second for a slot: the corrected p99 counts that
	// wait; the service p99 does not (only the 4 requests in flight, 0.4 %,
	// saw the stall from their send).
	assert.GreaterOrEqual(t, st.Latency.P99, 700.0, "corrected p99 (ms) shows the 1 s stall")
	assert.Less(t, st.Service.P99+500, st.Latency.P99, "service p99 (ms) %.1f does not show it (corrected %.1f)", st.Service.P99, st.Latency.P99)
	assert.Less(t, st.Service.P90, st.Latency.P90, "service p90 below corrected p90")
}

// An iteration later than max_lag when a slot frees is dropped, and
// counted as a failure: the first request holds the only slot for a
// second, so at least the 44 due from 20 to 880 ms are more than 100 ms
// late by then (the loaded machine may add more; the exact count, on a
// fake clock, is loadgen's TestOpenModelDropsIterationsLaterThanMaxLag).
func TestDropsBeyondMaxLagAreCounted(t *testing.T) {
	var first atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			time.Sleep(time.Second) // holds the only slot
		}
	}))
	defer srv.Close()
	lag := 100 * time.Millisecond
	p := flags(t, profiles.Flags{Rate: "50/s", Duration: 2 * time.Second, MaxInflight: 1, MaxLag: &lag})
	out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: p})
	require.NoError(t, err)
	it := out.Report.Iterations
	assert.Equal(t, int64(100), it.Total, "every due iteration ran or was dropped")
	assert.GreaterOrEqual(t, it.Dropped, int64(44), "iterations more than 100 ms late while the slot was held")
	assert.Equal(t, it.Total, it.Success+it.Failure+it.Dropped)
	assert.Equal(t, slo.Fail, out.Judgement.Verdict, "dropped iterations are failures")
	assert.Contains(t, strings.Join(out.Judgement.Reasons, "\n"), "iterations failed")
}

func TestSegmentsTogetherAreTheWhole(t *testing.T) {
	c := &counter{seen: map[int]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	whole := flags(t, profiles.Flags{Rate: "300/s", Duration: 2 * time.Second})
	sc := load(t, srv.URL)
	var wg sync.WaitGroup
	reports := make([]*stats.Report, 3)
	for i := 0; i < 3; i++ {
		seg, err := whole.Segment(i, 3)
		require.NoError(t, err)
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := Run(context.Background(), Options{Scenario: sc, Profile: seg})
			if assert.NoError(t, err) {
				reports[i] = out.Report
			}
		}(i)
	}
	wg.Wait()
	assert.Equal(t, int64(600), c.n.Load(), "the segments together send the whole schedule")
	assert.Len(t, c.seen, 600, "iteration numbers are disjoint")
	for i := 0; i < 600; i++ {
		assert.Equal(t, 1, c.seen[i], "iteration %d", i)
	}
	merged, err := stats.MergeReports(reports...)
	require.NoError(t, err)
	assert.Equal(t, int64(600), merged.Iterations.Total)
	assert.InDelta(t, 300, merged.Rate.Target, 1e-9)
	procs := runtime.GOMAXPROCS(0)
	assert.Equal(t, procs, reports[0].Generator.CPUs, "a report names the CPUs its generator ran on")
	assert.Equal(t, 3*procs, merged.Generator.CPUs, "a merged report sums its parts' CPUs")
	h0, _ := stats.DecodeHistogram(reports[0].Steps[0].HDR.Latency)
	for _, r := range reports[1:] {
		h, _ := stats.DecodeHistogram(r.Steps[0].HDR.Latency)
		h0.Merge(h)
	}
	hm, err := stats.DecodeHistogram(merged.Steps[0].HDR.Latency)
	require.NoError(t, err)
	assert.True(t, h0.Equals(hm), "the merged report's histogram is exactly the segments' histograms merged")
}

func TestClosedModelAndIterations(t *testing.T) {
	c := &counter{seen: map[int]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{VUs: 4, Duration: time.Second})})
	require.NoError(t, err)
	assert.Positive(t, out.Report.Iterations.Success)
	assert.Equal(t, out.Report.Iterations.Total, c.n.Load())

	c2 := &counter{seen: map[int]int{}}
	srv2 := httptest.NewServer(c2)
	defer srv2.Close()
	out, err = Run(context.Background(), Options{Scenario: load(t, srv2.URL), Profile: flags(t, profiles.Flags{Iterations: 37, VUs: 5})})
	require.NoError(t, err)
	assert.Equal(t, int64(37), c2.n.Load())
	assert.Len(t, c2.seen, 37)
	assert.Equal(t, slo.Pass, out.Judgement.Verdict)
}

func TestSLOsAndAbort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	}))
	defer srv.Close()
	sc := load(t, srv.URL)
	objs := func(exprs ...string) []slo.Objective {
		var out []slo.Objective
		for _, e := range exprs {
			o, err := slo.ParseExpr(e)
			require.NoError(t, err)
			out = append(out, o)
		}
		return out
	}
	p := flags(t, profiles.Flags{Iterations: 20, VUs: 2})
	out, err := Run(context.Background(), Options{Scenario: sc, Profile: p, SLOs: objs("p99<5ms")})
	require.NoError(t, err)
	assert.Equal(t, slo.Fail, out.Judgement.Verdict)
	assert.Equal(t, "p99<5ms", out.Report.SLOs[0].Expr)
	assert.False(t, out.Report.SLOs[0].Pass)
	assert.Greater(t, out.Report.SLOs[0].Observed, 20.0, "observed in ms")
	out, err = Run(context.Background(), Options{Scenario: sc, Profile: p, SLOs: objs("p99<1s", "success>=100%")})
	require.NoError(t, err)
	assert.Equal(t, slo.Pass, out.Judgement.Verdict)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err = Run(ctx, Options{Scenario: sc, Profile: flags(t, profiles.Flags{Rate: "10/s", Duration: time.Minute}), Grace: time.Second})
	require.NoError(t, err)
	assert.True(t, out.Result.Aborted)
	assert.Equal(t, slo.Inconclusive, out.Judgement.Verdict, "an aborted run is inconclusive")
	assert.Equal(t, "inconclusive", out.Report.Verdict)
	assert.True(t, out.Report.Aborted, "the report says it was cut short")
}
