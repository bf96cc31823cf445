package stats

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/require"
)

// traffic is a synthetic check measured on a fake clock: perSec iterations
// complete in each second (k-1, k], evenly spread, and the flush at k s
// closes the second. Iteration j's latency is drawn from a log-normal
// (median 60 ms, a long tail, at most 2 s) by a hash of j; one in ten
// fails with a 503. Everything about iteration j follows from j, so a
// test can count exactly what any span holds without keeping the samples.
type traffic struct {
	perSec int64
	seed   uint64 // another check's traffic
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// done is when iteration j completed, since t0.
func (tr traffic) done(j int64) time.Duration {
	k, i := j/tr.perSec+1, j%tr.perSec
	return time.Duration(k)*time.Second - time.Duration((2*i+1)*int64(time.Second)/(2*tr.perSec))
}

func (tr traffic) latency(j int64) time.Duration {
	u1 := (float64(splitmix(uint64(j)+tr.seed<<40)>>11) + 0.5) / (1 << 53)
	u2 := float64(splitmix(uint64(j)^0xabcdef+tr.seed<<40)>>11) / (1 << 53)
	z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
	return min(time.Duration(float64(60*time.Millisecond)*math.Exp(0.6*z)), 2*time.Second)
}

func (tr traffic) start(j int64) time.Duration { return tr.done(j) - tr.latency(j) }
func (tr traffic) fails(j int64) bool          { return j%10 == 3 }

// record records iteration j: two steps (the first takes its whole latency,
// the second half of it), the iteration, and a small generator lag.
func (tr traffic) record(c *Collector, j int64) {
	sh := c.Shard(int(j))
	d := tr.latency(j)
	status, class, o := 200, ClassNone, Success
	if tr.fails(j) {
		status, class, o = 503, ClassHTTPStatus, Failure
	}
	sh.RecordLag(time.Duration(j%997) * time.Microsecond)
	sh.RecordStep(0, status, class, AssertNone, d, d*4/5)
	sh.RecordStep(1, status, class, AssertNone, d/2, d*2/5)
	sh.RecordIteration(o, class, d)
}

// run records the seconds from+1 .. to, flushing every `every` seconds
// (from and to multiples of it). A collector flushes every second; every
// 16 s makes long stretches of fake time cheaper to simulate without
// changing what tiers of 16 s slots and wider hold, since their slots are
// aligned on the same multiples.
func (tr traffic) run(c *Collector, from, to, every int64) {
	for k := from + every; k <= to; k += every {
		for j := (k - every) * tr.perSec; j < k*tr.perSec; j++ {
			tr.record(c, j)
		}
		c.Flush(t0.Add(time.Duration(k) * time.Second))
	}
}

// fastForward records from+1 .. to, flushing every second only where it
// matters at the end: data that will be older than 12 h then is flushed
// every 1024 s, older than 1.5 h every 128 s, older than 12 min every 16 s
// (see run: by then it is in tiers whose slots are at least that wide).
func (tr traffic) fastForward(c *Collector, from, to int64) {
	for _, st := range []struct{ every, age int64 }{{1024, 12 * 3600}, {128, 5400}, {16, 720}} {
		until := (to - st.age) / st.every * st.every
		aligned := (from + st.every - 1) / st.every * st.every
		if until <= aligned {
			continue
		}
		tr.run(c, from, aligned, 1)
		tr.run(c, aligned, until, st.every)
		from = until
	}
	tr.run(c, from, to, 1)
}

// completedIn lists the iterations that completed in (a, b].
func (tr traffic) completedIn(a, b time.Duration) (first, end int64) {
	// Iterations complete in order, perSec in each whole second.
	first = max(int64(a/time.Second)*tr.perSec, 0)
	for first > 0 && tr.done(first-1) > a {
		first--
	}
	for tr.done(first) <= a {
		first++
	}
	end = first
	for tr.done(end) <= b {
		end++
	}
	return first, end
}

// requireCounts checks that s holds exactly iterations first..end-1.
func (tr traffic) requireCounts(t *testing.T, s *Snapshot, first, end int64, what string) {
	t.Helper()
	var failed int64
	for j := first; j < end; j++ {
		if tr.fails(j) {
			failed++
		}
	}
	n := end - first
	require.Equal(t, IterationCounts{Success: n - failed, Failure: failed}, s.Iterations, "%s: iterations", what)
	require.Equal(t, failed, s.IterationErrors[ClassHTTPStatus], "%s: failed iterations by class", what)
	for i := range 2 { // the steps traffic records
		st := &s.Steps[i]
		require.Equal(t, clean(map[int]int64{200: n - failed, 503: failed}), clean(st.Status), "%s: step %d status codes", what, i)
		require.Equal(t, n-failed, st.Errors[ClassNone], "%s: step %d errors", what, i)
		require.Equal(t, failed, st.Errors[ClassHTTPStatus], "%s: step %d errors", what, i)
		require.Equal(t, n, st.Latency.TotalCount(), "%s: step %d latencies", what, i)
	}
	require.Equal(t, n, s.Lag.TotalCount(), "%s: lag samples", what)
}

func clean(m map[int]int64) map[int]int64 {
	out := map[int]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// tolerance is how far a window of w may be off.
func tolerance(w time.Duration) time.Duration { return max(time.Second, w/50) }

// A window over W counts what happened within W of now to within
// max(1 s, 2 % of W), for W from 5 s to 30 days: its span, its counts
// (exact, at every age), and its latency quantiles (exact for recent slots,
// within the coarser tiers' precision for old ones).
func TestWindowsAreExact(t *testing.T) {
	days := int64(30)
	if testing.Short() || raceEnabled {
		days = 1 // windows up to 6 h; the 30 days take 4 s, 100 s under the race detector
	}
	tr := traffic{perSec: 2}
	c := NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: 30 * 24 * time.Hour, Shards: 1, SeriesCap: 1 << 17})
	windows := []time.Duration{5 * time.Second, time.Minute, 5 * time.Minute, time.Hour, 6 * time.Hour, 30 * 24 * time.Hour}
	// Judge at several moments, so that window edges fall at different
	// phases of their slots. Every second is flushed, but on the way to
	// the 30th day (see fastForward).
	end := days * 86400
	var last int64
	for _, step := range []struct {
		to, every int64
		judge     bool
	}{
		{7 * 3600, 1, true}, {7*3600 + 1, 1, true}, {7*3600 + 37, 1, true}, {7*3600 + 1000, 1, true},
		{end + 1, 0, true}, {end + 4097, 1, true},
	} {
		if step.every == 0 {
			tr.fastForward(c, last, step.to)
		} else {
			tr.run(c, last, step.to, step.every)
		}
		last = step.to
		if !step.judge {
			continue
		}
		now := step.to
		end := time.Duration(now) * time.Second
		for _, w := range windows {
			if time.Duration(now)*time.Second < w {
				continue // longer than the collector has run
			}
			s := c.Window(t0.Add(end), w)
			what := "window " + w.String() + " at " + (end).String()
			require.Equal(t, t0.Add(end), s.End, what)
			span := s.End.Sub(s.Start)
			require.InDelta(t, float64(w), float64(span), float64(tolerance(w)), "%s: span %v", what, span)
			its, from := c.WindowCounts(t0.Add(end), w)
			require.Equal(t, s.Iterations, its, "%s: WindowCounts", what)
			require.Equal(t, s.Start, from, "%s: WindowCounts' start", what)
			first, stop := tr.completedIn(s.Start.Sub(t0), end)
			tr.requireCounts(t, s, first, stop, what)
			// What it counts started within W of now, to the tolerance
			// (by completion: a sample reaches back by its latency).
			for j := first; j < min(stop, first+2*tr.perSec*int64(tolerance(w)/time.Second)); j++ {
				require.GreaterOrEqual(t, tr.start(j), end-w-tolerance(w), "%s: iteration %d started at %v", what, j, tr.start(j))
			}
			for j := first - 1; j >= 0 && tr.start(j) >= end-w+tolerance(w); j-- {
				t.Fatalf("%s: iteration %d started at %v, within the window, but is not counted", what, j, tr.start(j))
			}
			// Quantiles, against the exact histogram of what it counts.
			exact := NewHistogram()
			for j := first; j < stop; j++ {
				v, _ := micros(tr.latency(j))
				require.NoError(t, exact.RecordValue(v))
			}
			got := s.Steps[0].Latency
			if span <= 90*time.Minute {
				requireSameHistogram(t, exact, got, "%s: step latency", what)
			}
			for _, q := range []float64{50, 90, 99, 99.9} {
				want, have := float64(exact.ValueAtQuantile(q)), float64(got.ValueAtQuantile(q))
				require.InEpsilon(t, want, have, 0.017, "%s: p%v %v µs, exactly %v µs", what, q, have, want)
			}
		}
	}
	if days == 30 {
		b := c.win.bytes()
		t.Logf("2 steps at 2/s, 30 d: the windows hold %d bytes (%.0f KiB) in %d tiers", b, float64(b)/1024, len(c.win.tiers))
		require.Less(t, b, 1<<20, "a check's windows over 30 days stay under 1 MiB")
	}
}

// since=T counts no sample that started before T, not even one that was in
// flight across T, at any age of T; and it misses only what the slot T
// falls in holds (plus, after a sample slower than the slots are wide, up
// to its completion).
func TestWindowSinceExcludesEarlierStarts(t *testing.T) {
	tr := traffic{perSec: 2}
	const hours = 8
	end := int64(hours * 3600)
	ages := []time.Duration{3300 * time.Millisecond, 50500 * time.Millisecond, 10*time.Minute + 300*time.Millisecond,
		2*time.Hour + 700*time.Millisecond, 7 * time.Hour}
	// A third step, "probe", holds one request per T: it started 300 ms
	// before T and completed 200 ms after it.
	c := NewCollector([]string{"login", "cart", "probe"}, t0, Options{WindowRetention: hours * time.Hour, Shards: 1})
	probes := map[int64]bool{}
	for _, a := range ages {
		at := time.Duration(end)*time.Second - a + 200*time.Millisecond
		probes[int64((at+time.Second-1)/time.Second)] = true
	}
	for k := int64(1); k <= end; k++ {
		for j := (k - 1) * tr.perSec; j < k*tr.perSec; j++ {
			tr.record(c, j)
		}
		if probes[k] {
			c.Shard(0).RecordStep(2, 418, ClassHTTPStatus, AssertStatus, 500*time.Millisecond, 500*time.Millisecond)
		}
		c.Flush(t0.Add(time.Duration(k) * time.Second))
	}
	now := t0.Add(time.Duration(end) * time.Second)
	for i, a := range ages {
		t.Run("T "+a.String()+" ago", func(t *testing.T) {
			T := now.Add(-a)
			s := c.WindowSince(now, T)
			// The probes of the younger Ts (ages before this one) started
			// after T; its own, and the older ones, before.
			require.Equal(t, int64(i), s.Steps[2].Status[418], "probes: only those that started after T")
			require.False(t, s.Start.Before(T), "the span starts at %v, before T %v", s.Start, T)
			first, stop := tr.completedIn(s.Start.Sub(t0), now.Sub(t0))
			tr.requireCounts(t, s, first, stop, "since")
			for j := first; j < stop; j++ {
				require.GreaterOrEqual(t, tr.start(j), T.Sub(t0), "iteration %d started before T", j)
			}
			// What it misses: at most the slot T falls in (a 64th of its
			// age, at least a second) and the latencies after it.
			require.LessOrEqual(t, s.Start.Sub(T), max(time.Second, a/32)+2*time.Second, "covered from %v", s.Start)

			w := c.Window(now, a+a/20+5*time.Second)
			require.Equal(t, int64(i+1), w.Steps[2].Status[418], "a window reaching back past T counts its probe")
		})
	}
}

func TestWindowsWithoutRetentionAreEmpty(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{})
	c.Shard(0).RecordIteration(Success, ClassNone, ms(1))
	c.Flush(at(1))
	require.Zero(t, c.Window(at(1), time.Minute).Iterations.Total())
	require.Zero(t, c.Retention())
}

func TestWindowRetention(t *testing.T) {
	for _, tc := range []struct {
		retention time.Duration
		tiers     int
	}{
		{time.Minute, 1},
		{5 * time.Minute, 3},
		{time.Hour, 7},
		{6 * time.Hour, 10},
		{30 * 24 * time.Hour, 17},
	} {
		c := NewCollector([]string{"s"}, t0, Options{WindowRetention: tc.retention})
		require.GreaterOrEqual(t, c.Retention(), tc.retention)
		require.Len(t, c.win.tiers, tc.tiers, "retention %v", tc.retention)
	}
}

// A check that paused (no flush for hours) resumes with windows that hold
// only what is still within the retention, and an empty stretch between.
func TestWindowsAfterAPause(t *testing.T) {
	tr := traffic{perSec: 2}
	c := NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: time.Hour, Shards: 1})
	tr.run(c, 0, 600, 1)
	c.Flush(at(3 * 3600)) // nothing for 2 h 50 min
	tr.run(c, 3*3600, 3*3600+60, 1)
	now := at(3*3600 + 60)
	s := c.Window(now, time.Hour)
	first, stop := tr.completedIn(3*time.Hour, now.Sub(t0))
	tr.requireCounts(t, s, first, stop, "the last hour")
	require.InDelta(t, float64(time.Hour), float64(s.End.Sub(s.Start)), float64(tolerance(time.Hour)))

	s = c.Window(now, 10*time.Hour)
	require.Equal(t, s.Iterations.Total(), stop-first, "older slots are gone")
	// Each tier holds at most one slot more than its share of the
	// retention: 127 s in all, here.
	require.LessOrEqual(t, now.Sub(s.Start), c.Retention()+128*time.Second, "no further back than the tiers hold")
}

// The encoding round-trips, and coarser precision merges neighbours.
func TestSlotEncoding(t *testing.T) {
	var d, back slotData
	d.reset(2)
	d.used = true
	d.its = IterationCounts{Success: 5, Failure: 2, Dropped: 1}
	d.iterErr[ClassHTTPStatus], d.iterErr[ClassDropped] = 2, 1
	d.clamped = 3
	for _, v := range []uint64{1, 2047, 2048, 2049, 100_000, 3_600_000_000} {
		d.iter = addBucket(d.iter, quantize(v, fullBits), 2)
	}
	d.steps[1].errors[ClassNone] = 4
	d.steps[1].asserts[AssertStatus] = 1
	d.steps[1].status = []codeCount{{0, 1}, {200, 3}, {599, 1}}
	d.steps[1].latency = []bucket{{10, 1}, {5000, 3}}
	b := encodeSlot(nil, &d)
	require.NoError(t, decodeSlot(b, &back, 2))
	require.Equal(t, d.its, back.its)
	require.Equal(t, d.iterErr, back.iterErr)
	require.Equal(t, d.iter, back.iter)
	require.Equal(t, d.steps[1].status, back.steps[1].status)
	require.Equal(t, d.steps[1].latency, back.steps[1].latency)
	require.Empty(t, back.steps[0].status, "an unused step stays empty")
	for cut := 1; cut < len(b); cut++ {
		require.Error(t, decodeSlot(b[:cut], &back, 2), "a slot cut at %d bytes", cut)
	}

	for _, bits := range []uint{fullBits, 8, 6} {
		for _, v := range []uint64{1, 63, 64, 65, 1000, 2047, 2048, 123_456, 3_600_000_000} {
			k := quantize(v, bits)
			lo, w := bucketRange(k, bits)
			require.True(t, lo <= v && v < lo+w, "%d at %d bits: bucket %d..%d", v, bits, lo, lo+w)
			require.LessOrEqual(t, float64(w), math.Max(1, float64(lo)/float64(uint64(1)<<(bits-1))), "%d at %d bits: width %d", v, bits, w)
			if bits == fullBits {
				h := NewHistogram()
				require.NoError(t, h.RecordValue(int64(v)))
				require.True(t, h.ValuesAreEquivalent(int64(v), representative(k, bits)), "%d: the HdrHistogram's own bucket", v)
			}
		}
	}
}

// BenchmarkWindows30Days fills 20 checks' windows (2 steps at 2/s each,
// different traffic for each) with 30 days of fake time and reports the
// bytes they hold per check: window-bytes as the windows count them (their
// slots' encoded data and rings), heap-bytes as the Go heap shrinks when
// they are let go.
func BenchmarkWindows30Days(b *testing.B) {
	const checks, days = 20, 30
	for range b.N {
		cs := make([]*Collector, checks)
		for i := range cs {
			cs[i] = NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: days * 24 * time.Hour, Shards: 1})
			traffic{perSec: 2, seed: uint64(i)}.fastForward(cs[i], 0, days*86400)
		}
		var held int
		for _, c := range cs {
			held += c.win.bytes()
		}
		var with, without runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&with)
		for _, c := range cs {
			c.win = nil
		}
		runtime.GC()
		runtime.ReadMemStats(&without)
		b.ReportMetric(float64(held)/checks, "window-bytes/check")
		b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/checks, "heap-bytes/check")
		runtime.KeepAlive(cs)
	}
}

// requireSameSnapshot fails unless two snapshots hold the same span and
// measurements.
func requireSameSnapshot(t *testing.T, want, got *Snapshot, what string) {
	t.Helper()
	require.Equal(t, want.Start, got.Start, "%s: start", what)
	require.Equal(t, want.End, got.End, "%s: end", what)
	require.Equal(t, want.Iterations, got.Iterations, "%s: iterations", what)
	require.Equal(t, want.IterationErrors, got.IterationErrors, "%s: iteration errors", what)
	require.Equal(t, want.Clamped, got.Clamped, "%s: clamped", what)
	requireSameHistogram(t, want.Iteration, got.Iteration, "%s: iteration", what)
	requireSameHistogram(t, want.Lag, got.Lag, "%s: lag", what)
	require.Len(t, got.Steps, len(want.Steps), what)
	for i := range want.Steps {
		w, g := want.Steps[i], got.Steps[i]
		require.Equal(t, w.Name, g.Name, what)
		require.Equal(t, w.Errors, g.Errors, "%s: step %s errors", what, w.Name)
		require.Equal(t, w.Assertions, g.Assertions, "%s: step %s assertions", what, w.Name)
		require.Equal(t, clean(w.Status), clean(g.Status), "%s: step %s status", what, w.Name)
		requireSameHistogram(t, w.Latency, g.Latency, "%s: step %s latency", what, w.Name)
		requireSameHistogram(t, w.Service, g.Service, "%s: step %s service", what, w.Name)
	}
}

// WindowInto writes what Window returns into a snapshot it reuses, whatever
// that snapshot held before (another collector's window, other steps,
// histograms of other bounds), and allocates nothing when the snapshot
// fits.
func TestWindowInto(t *testing.T) {
	tr := traffic{perSec: 5}
	c := NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: time.Hour, Shards: 2})
	tr.run(c, 0, 900, 1)
	other := NewCollector([]string{"a", "b", "c"}, t0, Options{WindowRetention: time.Hour, Shards: 1})
	traffic{perSec: 3, seed: 7}.run(other, 0, 300, 1)
	now := at(900)

	for _, tc := range []struct {
		name  string
		reuse func() *Snapshot
	}{
		{name: "nil", reuse: func() *Snapshot { return nil }},
		{name: "the same window", reuse: func() *Snapshot { return c.Window(now, 5*time.Minute) }},
		{name: "another collector's, more steps", reuse: func() *Snapshot { return other.Window(at(300), time.Minute) }},
		{name: "fewer steps", reuse: func() *Snapshot { return NewSnapshot([]string{"x"}) }},
		{name: "no steps, no histograms", reuse: func() *Snapshot { return &Snapshot{} }},
		{name: "other bounds", reuse: func() *Snapshot {
			s := NewSnapshot([]string{"login", "cart"})
			s.Steps[1].Latency = hdrhistogram.New(1, 1000, 2)
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, d := range []time.Duration{10 * time.Second, 5 * time.Minute, time.Hour} {
				got := c.WindowInto(tc.reuse(), now, d)
				requireSameSnapshot(t, c.Window(now, d), got, d.String())
				require.Equal(t, MaxValue, got.Steps[1].Latency.HighestTrackableValue(), "canary's bounds")
			}
		})
	}

	t.Run("allocations", func(t *testing.T) {
		s := c.WindowInto(nil, now, time.Hour)
		allocs := testing.AllocsPerRun(20, func() {
			s = c.WindowInto(s, now, time.Hour)
			s = c.WindowInto(s, now, time.Minute)
		})
		require.Zero(t, allocs)
	})
}

// BenchmarkUptime30Days reads 30 days of a check's iteration counts (2
// steps at 2/s) with WindowCounts, and with a whole Window for comparison.
func BenchmarkUptime30Days(b *testing.B) {
	c := NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: 30 * 24 * time.Hour, Shards: 1})
	traffic{perSec: 2}.fastForward(c, 0, 30*86400)
	now := t0.Add(30 * 24 * time.Hour)
	b.Run("counts", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if its, _ := c.WindowCounts(now, 30*24*time.Hour); its.Total() == 0 {
				b.Fatal("no iterations")
			}
		}
	})
	b.Run("window", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if s := c.Window(now, 30*24*time.Hour); s.Iterations.Total() == 0 {
				b.Fatal("no iterations")
			}
		}
	})
}

// Windows hands each window over exactly as Window returns it, from one
// walk of the slots, whatever the order of the durations asked for (and
// repeated ones), past the retention, and without windows at all.
func TestWindows(t *testing.T) {
	tr := traffic{perSec: 2}
	c := NewCollector([]string{"login", "cart"}, t0, Options{WindowRetention: 7 * 24 * time.Hour, Shards: 1})
	tr.fastForward(c, 0, 3*86400+1234)
	none := NewCollector([]string{"login", "cart"}, t0, Options{Shards: 1})
	tr.run(none, 0, 60, 1)
	now := at(3*86400 + 1234)

	for _, tc := range []struct {
		name string
		c    *Collector
		ds   []time.Duration
		now  time.Time
	}{
		{name: "a policy's windows", c: c, now: now,
			ds: []time.Duration{5 * time.Minute, time.Hour, 30 * time.Minute, 6 * time.Hour, 3 * 24 * time.Hour, 2 * time.Hour}},
		{name: "repeated, a second, past the retention", c: c, now: now,
			ds: []time.Duration{30 * 24 * time.Hour, time.Second, time.Hour, time.Hour, 90 * time.Second}},
		{name: "longer than the collector has run", c: c, now: now, ds: []time.Duration{4 * 24 * time.Hour, 24 * time.Hour}},
		{name: "now between flushes", c: c, now: now.Add(700 * time.Millisecond), ds: []time.Duration{time.Second, 10 * time.Minute}},
		{name: "no windows", c: none, now: at(60), ds: []time.Duration{time.Minute, time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[time.Duration]*Snapshot{}
			for _, d := range tc.ds {
				want[d] = tc.c.Window(tc.now, d)
			}
			var got []time.Duration
			// visit may not call the collector: want is read beforehand.
			s := tc.c.Windows(nil, tc.now, tc.ds, func(d time.Duration, s *Snapshot) {
				got = append(got, d)
				requireSameSnapshot(t, want[d], s, d.String())
			})
			require.NotNil(t, s)
			sorted := slices.Clone(tc.ds)
			slices.Sort(sorted)
			require.Equal(t, sorted, got, "every window, from the shortest")
		})
	}
}
