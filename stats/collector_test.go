package stats

import (
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRecordFlushTotalsAreExact(t *testing.T) {
	c := NewCollector([]string{"login", "cart"}, t0, Options{Shards: 3})
	var lat, svc, its, lags []time.Duration
	rng := rand.New(rand.NewPCG(1, 2))
	for sec := range 5 {
		for i := range 200 {
			d := ms(rng.ExpFloat64() * 30)
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, d, d/2)
			lat, svc = append(lat, d), append(svc, d/2)
			c.Shard(i).RecordIteration(Success, ClassNone, d+ms(1))
			its = append(its, d+ms(1))
		}
		c.Shard(0).RecordStep(1, 503, ClassHTTPStatus, AssertStatus, ms(3), ms(3))
		c.Shard(1).RecordStep(1, 0, ClassConnectionRefused, AssertNone, ms(1), ms(1))
		c.Shard(2).RecordIteration(Failure, ClassHTTPStatus, ms(4))
		its = append(its, ms(4))
		c.Shard(0).RecordDropped(2)
		c.Shard(1).RecordIteration(Dropped, ClassNone, time.Hour) // no latency: it never ran
		c.Shard(1).RecordLag(ms(0.3 * float64(sec+1)))
		lags = append(lags, ms(0.3*float64(sec+1)))
		c.Flush(at(float64(sec + 1)))
	}
	s := c.Totals()
	requireSameHistogram(t, fed(t, lat...), s.Steps[0].Latency, "login corrected latency")
	requireSameHistogram(t, fed(t, svc...), s.Steps[0].Service, "login service latency")
	requireSameHistogram(t, fed(t, its...), s.Iteration, "iteration latency")
	requireSameHistogram(t, fed(t, lags...), s.Lag, "generator lag")
	want := fed(t, lat...)
	for _, q := range []float64{0, 50, 90, 99, 99.9, 100} {
		assert.Equal(t, want.ValueAtQuantile(q), s.Steps[0].Latency.ValueAtQuantile(q), "p%v", q)
	}
	assert.Equal(t, IterationCounts{Success: 1000, Failure: 5, Dropped: 15}, s.Iterations)
	assert.Equal(t, int64(5), s.IterationErrors[ClassHTTPStatus])
	assert.Equal(t, int64(15), s.IterationErrors[ClassDropped])
	assert.Equal(t, map[int]int64{200: 1000}, s.Steps[0].Status)
	assert.Equal(t, map[int]int64{503: 5, 0: 5}, s.Steps[1].Status)
	assert.Equal(t, int64(5), s.Steps[1].Errors[ClassConnectionRefused])
	assert.Equal(t, int64(5), s.Steps[1].Errors[ClassHTTPStatus])
	assert.Equal(t, int64(5), s.Steps[1].Assertions[AssertStatus])
	assert.Zero(t, s.Steps[1].Assertions[AssertNone], "passing requests are not assertion failures")
	assert.Equal(t, int64(10), s.Steps[1].Count())
	assert.Equal(t, t0, s.Start)
	assert.Equal(t, at(5), s.End)
	assert.Equal(t, s.Iterations, c.Counts())
	assert.Zero(t, s.Clamped)

	// Totals is as of the last Flush: later records wait for the next one.
	c.Shard(0).RecordIteration(Success, ClassNone, ms(1))
	assert.Equal(t, int64(1000), c.Totals().Iterations.Success)
	c.Flush(at(6))
	assert.Equal(t, int64(1001), c.Totals().Iterations.Success)
}

func TestRecordStepBoundsItsInputs(t *testing.T) {
	for _, tc := range []struct {
		name       string
		step       int
		status     int
		class      ErrorClass
		assertion  Assertion
		wantStatus int
		wantClass  ErrorClass
		recorded   bool
	}{
		{name: "ok", status: 200, class: ClassNone, wantStatus: 200, wantClass: ClassNone, recorded: true},
		{name: "lowest status", status: 100, wantStatus: 100, recorded: true},
		{name: "highest status", status: 599, wantStatus: 599, recorded: true},
		{name: "below 100 is none", status: 99, wantStatus: 0, recorded: true},
		{name: "600 is none", status: 600, wantStatus: 0, recorded: true},
		{name: "negative status is none", status: -5, wantStatus: 0, recorded: true},
		{name: "unknown class is other", status: 200, class: NumErrorClasses + 3, wantStatus: 200, wantClass: ClassOther, recorded: true},
		{name: "unknown assertion is not counted", status: 500, class: ClassAssertion, assertion: NumAssertions + 1, wantStatus: 500, wantClass: ClassAssertion, recorded: true},
		{name: "step past the end", step: 2, status: 200},
		{name: "negative step", step: -1, status: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector([]string{"a", "b"}, t0, Options{Shards: 1})
			c.Shard(0).RecordStep(tc.step, tc.status, tc.class, tc.assertion, ms(2), ms(1))
			c.Flush(at(1))
			s := c.Totals()
			var n int64
			for _, st := range s.Steps {
				n += st.Count() + st.Latency.TotalCount()
				assert.Zero(t, st.Assertions, "assertions")
			}
			if !tc.recorded {
				assert.Zero(t, n, "nothing recorded for step %d", tc.step)
				return
			}
			st := s.Steps[tc.step]
			assert.Equal(t, map[int]int64{tc.wantStatus: 1}, st.Status)
			assert.Equal(t, int64(1), st.Errors[tc.wantClass])
			assert.Equal(t, int64(1), st.Latency.TotalCount())
		})
	}
}

func TestClampsAreCounted(t *testing.T) {
	for _, tc := range []struct {
		name    string
		d       time.Duration
		want    int64 // µs recorded
		clamped bool
	}{
		{"negative", -time.Second, MinValue, true},
		{"zero", 0, MinValue, true},
		{"below a microsecond", 999 * time.Nanosecond, MinValue, true},
		{"one microsecond", time.Microsecond, 1, false},
		{"truncated to microseconds", 1999 * time.Nanosecond, 1, false},
		{"one hour", time.Hour, MaxValue, false},
		{"past one hour", time.Hour + time.Microsecond, MaxValue, true},
		{"a day", 24 * time.Hour, MaxValue, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector([]string{"s"}, t0, Options{Shards: 1})
			c.Shard(0).RecordStep(0, 200, ClassNone, AssertNone, tc.d, time.Millisecond)
			c.Shard(0).RecordIteration(Success, ClassNone, tc.d)
			c.Shard(0).RecordLag(tc.d)
			c.Flush(at(1))
			s := c.Totals()
			for name, h := range map[string]interface{ Max() int64 }{"step": s.Steps[0].Latency, "iteration": s.Iteration, "lag": s.Lag} {
				assert.True(t, s.Iteration.ValuesAreEquivalent(tc.want, h.Max()), "%s: %v recorded as %d µs, want %d", name, tc.d, h.Max(), tc.want)
			}
			want := int64(0)
			if tc.clamped {
				want = 3
			}
			assert.Equal(t, want, s.Clamped, "%v clamped in the step, iteration and lag histograms", tc.d)
		})
	}
}

func TestSeriesPointsAreExact(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{})
	// Flushes at 1, 2, 2.5 and 4.5 s: 10, 0, 5 and 30 iterations, 1 in 5
	// failed, one dropped per flush; latencies from k+1 ms in flush k.
	flushes := []struct {
		at float64
		n  int
	}{{1, 10}, {2, 0}, {2.5, 5}, {4.5, 30}}
	for k, f := range flushes {
		var ds []time.Duration
		for i := range f.n {
			d := ms(float64(k+1) + float64(i)/10)
			ds = append(ds, d)
			o := Success
			if i%5 == 4 {
				o = Failure
			}
			c.Shard(i).RecordIteration(o, ClassTimeout, d)
		}
		c.Shard(0).RecordDropped(1)
		c.Flush(at(f.at))
		pts := c.Series()
		require.Len(t, pts, k+1, "a point per flush")
		p := pts[k]
		prev := 0.0
		if k > 0 {
			prev = flushes[k-1].at
		}
		span := f.at - prev
		assert.Equal(t, prev, p.T, "flush %d: t is where its interval starts", k)
		assert.InDelta(t, float64(f.n)/span, p.Rate, 1e-3, "flush %d: completed iterations over %v s", k, span)
		assert.InDelta(t, float64(f.n/5+1)/span, p.Errors, 1e-3, "flush %d: failed and dropped iterations per second", k)
		if f.n == 0 {
			assert.Zero(t, p.P50, "flush %d: no iterations, no percentiles", k)
			continue
		}
		h := fed(t, ds...)
		assert.Equal(t, Millis(h.ValueAtQuantile(50)), p.P50, "flush %d p50", k)
		assert.Equal(t, Millis(h.ValueAtQuantile(99)), p.P99, "flush %d p99", k)
	}
}

func TestSeriesDownsamplingKeepsRatesExact(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{SeriesCap: 8})
	// Flush k completes k+1 iterations; flushes are unevenly spaced so
	// that averaging the rates of merged points would be wrong.
	now := 0.0
	var ends []float64
	for k := range 37 {
		for range k + 1 {
			c.Shard(k).RecordIteration(Success, ClassNone, ms(float64(k+1)))
		}
		now += 0.5 + float64(k%3)*0.5
		ends = append(ends, now)
		c.Flush(at(now))
	}
	pts := c.Series()
	require.Less(t, len(pts), 8, "the series stays under its cap")
	require.Greater(t, len(pts), 2)
	assert.Equal(t, 0.0, pts[0].T)
	for i, p := range pts[:len(pts)-1] { // the last point's end is not in the series
		next := pts[i+1].T
		var done int // iterations of the flushes the point covers: those ending in (p.T, next]
		for k, e := range ends {
			if e > p.T && e <= next {
				done += k + 1
			}
		}
		assert.InDelta(t, float64(done)/(next-p.T), p.Rate, 1e-3, "point %d at %v s over %v s", i, p.T, next-p.T)
	}
}

func TestMemoryStaysBounded(t *testing.T) {
	const seconds = 100_000
	c := NewCollector([]string{"a", "b"}, t0, Options{SeriesCap: 100, WindowRetention: time.Hour, Shards: 1})
	var tiers []int
	for _, tr := range c.win.tiers {
		tiers = append(tiers, len(tr.ring))
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var peak int
	for sec := 1; sec <= seconds; sec++ {
		if sec%7 == 0 {
			d := ms(rng.ExpFloat64() * 50)
			c.Shard(sec).RecordIteration(Success, ClassNone, d)
			c.Shard(sec).RecordStep(sec%2, 200+sec%3, ClassNone, AssertNone, d, d/2)
		}
		c.Flush(at(float64(sec)))
		if sec%10_000 == 0 {
			peak = max(peak, c.win.bytes())
		}
	}
	assert.Less(t, len(c.Series()), 100, "the series never exceeds its cap")
	for i, tr := range c.win.tiers {
		assert.Len(t, tr.ring, tiers[i], "tier %d's ring never grows", i)
	}
	assert.Equal(t, int64(seconds/7), c.Counts().Success)
	// A downsampled point's rate is its exact count over its span: here,
	// the multiples of 7 among the flushes it covers.
	s := c.Series()
	mid, next := s[len(s)/2], s[len(s)/2+1]
	covered := int(next.T)/7 - int(mid.T)/7
	assert.InDelta(t, float64(covered)/(next.T-mid.T), mid.Rate, 0.0005, "point at %v s over %v s", mid.T, next.T-mid.T)
	t.Logf("windows: %d tiers, at most %d bytes", len(tiers), peak)
	assert.Less(t, peak, 64<<10, "an hour of windows at 1/7 s stays small")
}

func TestShardsAllocateOnlyWhenUsed(t *testing.T) {
	c := NewCollector([]string{"a", "b", "c"}, t0, Options{Shards: 64})
	dense := func() (n int) {
		count := func(iv *interval) {
			for _, r := range []*recorder{&iv.iter, &iv.lag} {
				if r.dense != nil {
					n++
				}
			}
			for i := range iv.steps {
				for _, r := range []*recorder{&iv.steps[i].latency, &iv.steps[i].service} {
					if r.dense != nil {
						n++
					}
				}
			}
		}
		for i := range c.shards {
			count(c.shards[i].cur)
		}
		count(c.spare)
		return n
	}
	assert.Zero(t, dense(), "a new collector holds no dense histograms")

	// A light check: a few requests a second from one worker.
	var want []time.Duration
	for sec := 1; sec <= 50; sec++ {
		for i := range 5 {
			d := ms(float64(sec) + float64(i))
			c.Shard(0).RecordStep(1, 200, ClassNone, AssertNone, d, d)
			c.Shard(0).RecordIteration(Success, ClassNone, d)
			want = append(want, d)
		}
		c.Flush(at(float64(sec)))
	}
	assert.Zero(t, dense(), "a few values an interval stay in the recorders' buffers")
	requireSameHistogram(t, fed(t, want...), c.Totals().Steps[1].Latency, "light step")

	// Heavy traffic on one worker: that shard's interval, and the spare it
	// rotates with, need dense histograms for the step it records.
	for sec := 51; sec <= 60; sec++ {
		for i := range recorderBuf * 3 {
			d := ms(float64(i%50) + 0.5)
			c.Shard(0).RecordStep(1, 200, ClassNone, AssertNone, d, d)
			want = append(want, d)
		}
		c.Flush(at(float64(sec)))
	}
	assert.Equal(t, 4, dense(), "step b's latency and service in the busy shard's interval and the spare")
	requireSameHistogram(t, fed(t, want...), c.Totals().Steps[1].Latency, "buffered and dense values together")
}

func TestConcurrentRecordAndFlush(t *testing.T) {
	c := NewCollector([]string{"a", "b"}, t0, Options{WindowRetention: time.Minute, Shards: 4})
	const goroutines, each = 8, 2000
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh := c.Shard(g)
			for i := range each {
				sh.RecordStep(i%2, 200, ClassNone, AssertNone, ms(float64(i%20+1)), ms(1))
				sh.RecordIteration(Success, ClassNone, ms(float64(i%20+1)))
				sh.RecordLag(ms(0.1))
				if i%100 == 0 {
					sh.RecordDropped(1)
				}
			}
		}()
	}
	stop := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		for sec := 1; ; sec++ {
			select {
			case <-stop:
				return
			default:
			}
			c.Flush(at(float64(sec)))
			_ = c.Window(at(float64(sec)), time.Minute)
			_ = c.Totals()
			_ = c.Series()
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	c.Flush(at(1e6))
	s := c.Totals()
	assert.Equal(t, IterationCounts{Success: goroutines * each, Dropped: goroutines * each / 100}, s.Iterations, "nothing is lost while flushing")
	assert.Equal(t, int64(goroutines*each/2), s.Steps[0].Latency.TotalCount())
	assert.Equal(t, int64(goroutines*each), s.Lag.TotalCount())
}

func TestSnapshotMergeIsExact(t *testing.T) {
	steps := []string{"login", "cart"}
	const n = 4
	all := NewCollector(steps, t0, Options{})
	parts := make([]*Collector, n)
	for i := range parts {
		parts[i] = NewCollector(steps, t0.Add(time.Duration(i)*time.Second), Options{})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 4000 {
		d := ms(rng.ExpFloat64() * 20)
		st, code, cl, as := i%2, 200, ClassNone, AssertNone
		if i%50 == 0 {
			code, cl, as = 500, ClassHTTPStatus, AssertStatus
		}
		for _, c := range []*Collector{all, parts[i%n]} {
			c.Shard(i).RecordStep(st, code, cl, as, d, d/3)
			c.Shard(i).RecordIteration(Success, ClassNone, d)
			c.Shard(i).RecordLag(d / 100)
		}
	}
	for i, c := range parts {
		c.Flush(at(10 + float64(i)))
	}
	all.Flush(at(13))
	merged := parts[0].Totals()
	for _, p := range parts[1:] {
		require.NoError(t, merged.Merge(p.Totals()))
	}
	whole := all.Totals()
	requireSameHistogram(t, whole.Iteration, merged.Iteration, "iterations")
	requireSameHistogram(t, whole.Lag, merged.Lag, "lag")
	for i, name := range steps {
		requireSameHistogram(t, whole.Steps[i].Latency, merged.Steps[i].Latency, "step %s latency", name)
		requireSameHistogram(t, whole.Steps[i].Service, merged.Steps[i].Service, "step %s service", name)
		assert.Equal(t, whole.Steps[i].Status, merged.Steps[i].Status, "step %s status", name)
		assert.Equal(t, whole.Steps[i].Errors, merged.Steps[i].Errors, "step %s errors", name)
		assert.Equal(t, whole.Steps[i].Assertions, merged.Steps[i].Assertions, "step %s assertions", name)
	}
	assert.Equal(t, whole.Iterations, merged.Iterations)
	assert.Equal(t, t0, merged.Start, "the earliest start")
	assert.Equal(t, at(13), merged.End, "the latest end")

	for name, other := range map[string]*Snapshot{
		"other step names": NewSnapshot([]string{"other", "cart"}),
		"fewer steps":      NewSnapshot([]string{"login"}),
	} {
		assert.Error(t, merged.Clone().Merge(other), name)
	}
	c := merged.Clone()
	require.NoError(t, c.Merge(merged))
	assert.Equal(t, 2*merged.Iteration.TotalCount(), c.Iteration.TotalCount(), "a clone is independent of its original")
	assert.Equal(t, whole.Iteration.TotalCount(), merged.Iteration.TotalCount())
}

// TestNoTotals: a collector without totals keeps its windows and series as
// exact as one with them, and its totals stay empty.
func TestNoTotals(t *testing.T) {
	opts := Options{Shards: 2, WindowRetention: time.Hour}
	with := NewCollector([]string{"a", "b"}, t0, opts)
	opts.NoTotals = true
	without := NewCollector([]string{"a", "b"}, t0, opts)
	rng := rand.New(rand.NewPCG(7, 8))
	for sec := 1; sec <= 3*recentFlushes; sec++ {
		for i := range 5 {
			d := ms(rng.ExpFloat64() * 40)
			o, class := Success, ClassNone
			if i == 4 && sec%3 == 0 {
				o, class = Failure, ClassHTTPStatus
			}
			for _, c := range []*Collector{with, without} {
				c.Shard(i).RecordStep(i%2, 200, ClassNone, AssertNone, d, d/2)
				c.Shard(i).RecordIteration(o, class, d)
				c.Shard(i).RecordLag(d / 100)
			}
		}
		with.Flush(at(float64(sec)))
		without.Flush(at(float64(sec)))
	}
	now := at(float64(3 * recentFlushes))
	for _, w := range []time.Duration{time.Minute, time.Hour} {
		a, b := with.Window(now, w), without.Window(now, w)
		assert.Equal(t, a.Iterations, b.Iterations, "window %v", w)
		requireSameHistogram(t, a.Iteration, b.Iteration, "window iteration latency")
		requireSameHistogram(t, a.Lag, b.Lag, "window lag")
		requireSameHistogram(t, a.Steps[1].Service, b.Steps[1].Service, "window service latency")
	}
	assert.Equal(t, with.Series(), without.Series())
	assert.Equal(t, int64(3*recentFlushes*5), with.Counts().Total())
	assert.Zero(t, without.Counts().Total())
	assert.Zero(t, without.Totals().Iteration.TotalCount())
}
