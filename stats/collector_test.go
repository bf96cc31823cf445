package stats

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files")

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

func TestRecordFlushTotalsAreExact(t *testing.T) {
	c := NewCollector([]string{"login", "cart"}, t0, Options{Shards: 3})
	want := NewHistogram()
	wantSvc := NewHistogram()
	rng := rand.New(rand.NewPCG(1, 2))
	for sec := 0; sec < 5; sec++ {
		for i := 0; i < 200; i++ {
			d := ms(rng.Float64() * 50)
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, d, d/2)
			v, _ := micros(d)
			want.RecordValue(v)
			w, _ := micros(d / 2)
			wantSvc.RecordValue(w)
			c.Shard(i).RecordIteration(Success, ClassNone, d)
		}
		c.Shard(0).RecordStep(1, 503, ClassHTTPStatus, AssertStatus, ms(3), ms(3))
		c.Shard(1).RecordStep(1, 0, ClassConnectionRefused, AssertNone, ms(1), ms(1))
		c.Shard(2).RecordIteration(Failure, ClassHTTPStatus, ms(4))
		c.Shard(0).RecordDropped(2)
		c.Shard(1).RecordLag(ms(0.3))
		c.Flush(at(float64(sec + 1)))
	}
	s := c.Totals()
	assert.True(t, want.Equals(s.Steps[0].Latency), "corrected latency equals a histogram fed the same values")
	assert.True(t, wantSvc.Equals(s.Steps[0].Service))
	assert.Equal(t, IterationCounts{Success: 1000, Failure: 5, Dropped: 10}, s.Iterations)
	assert.Equal(t, int64(5), s.IterationErrors[ClassHTTPStatus])
	assert.Equal(t, int64(10), s.IterationErrors[ClassDropped])
	assert.Equal(t, map[int]int64{503: 5, 0: 5}, s.Steps[1].Status)
	assert.Equal(t, int64(5), s.Steps[1].Errors[ClassConnectionRefused])
	assert.Equal(t, int64(5), s.Steps[1].Assertions[AssertStatus])
	assert.Equal(t, int64(10), s.Steps[1].Count())
	assert.Equal(t, int64(5), s.Lag.TotalCount())
	assert.Equal(t, t0, s.Start)
	assert.Equal(t, at(5), s.End)
	assert.Equal(t, IterationCounts{Success: 1000, Failure: 5, Dropped: 10}, c.Counts())

	series := c.Series()
	require.Len(t, series, 5)
	assert.Equal(t, 1.0, series[1].T)
	assert.Equal(t, 201.0, series[1].Rate, "completed iterations per second")
	assert.Equal(t, 3.0, series[1].Errors, "failed and dropped iterations per second")
	assert.Greater(t, series[1].P99, series[1].P50)
}

func TestClampsAreCounted(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{})
	c.Shard(0).RecordStep(0, 200, ClassNone, AssertNone, 2*time.Hour, -time.Second)
	c.Shard(0).RecordStep(0, 999, ClassNone, AssertNone, 0, 0)
	c.Flush(at(1))
	s := c.Totals()
	assert.Equal(t, int64(2), s.Clamped, "above 1 h and below 0 are clamped and counted; 0 µs is merely the floor")
	assert.True(t, s.Steps[0].Latency.ValuesAreEquivalent(MaxValue, s.Steps[0].Latency.Max()), "clamped to 1 h")
	assert.Equal(t, int64(1), s.Steps[0].Status[0], "an impossible status code is counted as none")
}

func TestWindowsIncludeExactlyTheirSlots(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{WindowSlot: 10 * time.Second, WindowRetention: time.Minute})
	// One iteration per second for 95 s; iteration k records k+1 ms.
	for sec := 0; sec < 95; sec++ {
		c.Shard(sec).RecordIteration(Success, ClassNone, ms(float64(sec+1)))
		c.Shard(sec).RecordStep(0, 200, ClassNone, AssertNone, ms(float64(sec+1)), ms(1))
		c.Flush(at(float64(sec + 1)))
	}
	now := at(95)
	// The flush at t = k+1 s carries iteration k (k+1 ms) into slot
	// floor(t/10 s). A window includes every slot that ends after its start,
	// so the slot holding the start is in.
	for _, tc := range []struct {
		d        time.Duration
		count    int64
		minV     int64 // µs
		startSec float64
	}{
		{5 * time.Second, 6, 90000, 90},   // from 90 s: slot 9 (flushes 90..95)
		{10 * time.Second, 16, 80000, 80}, // from 85 s: slots 8, 9
		{30 * time.Second, 36, 60000, 60}, // from 65 s: slots 6..9
		{time.Hour, 66, 30000, 30},        // the ring keeps 6 closed slots + the open one: slots 3..9
	} {
		s := c.Window(now, tc.d)
		assert.Equal(t, tc.count, s.Iterations.Success, "Window(%v) iterations", tc.d)
		assert.Equal(t, tc.count, s.Steps[0].Latency.TotalCount(), "Window(%v) step samples", tc.d)
		assert.True(t, s.Iteration.ValuesAreEquivalent(tc.minV, s.Iteration.Min()), "Window(%v) min %d, want %d", tc.d, s.Iteration.Min(), tc.minV)
		assert.Equal(t, at(tc.startSec), s.Start, "Window(%v) start", tc.d)
		assert.Equal(t, now, s.End)
	}
	since := c.WindowSince(now, at(62))
	assert.Equal(t, int64(36), since.Iterations.Success, "slots 6..9: flushes 60..95")
	assert.Equal(t, 60*time.Second, c.Retention())
}

func TestWindowsWithoutRetentionAreEmpty(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{})
	c.Shard(0).RecordIteration(Success, ClassNone, ms(1))
	c.Flush(at(1))
	assert.Zero(t, c.Window(at(1), time.Minute).Iterations.Total())
	assert.Zero(t, c.Retention())
}

func TestMemoryStaysBounded(t *testing.T) {
	c := NewCollector([]string{"a", "b"}, t0, Options{SeriesCap: 100, WindowRetention: 24 * time.Hour})
	assert.LessOrEqual(t, len(c.ring), MaxSlots+1, "a long retention widens the slot instead of growing the ring")
	assert.Equal(t, 2*time.Minute, c.slot)
	for sec := 0; sec < 40000; sec++ {
		if sec%7 == 0 {
			c.Shard(sec).RecordIteration(Success, ClassNone, ms(float64(sec%90+1)))
		}
		c.Flush(at(float64(sec + 1)))
	}
	assert.Less(t, len(c.Series()), 100, "the series never exceeds its cap")
	assert.Equal(t, int64(40000/7+1), c.Counts().Success)
	s := c.Series()
	assert.InDelta(t, 1.0/7, s[len(s)/2].Rate, 0.02, "downsampled points keep the rate")
}

func TestSnapshotMergeIsExact(t *testing.T) {
	steps := []string{"login", "cart"}
	all := NewCollector(steps, t0, Options{})
	parts := []*Collector{NewCollector(steps, t0, Options{}), NewCollector(steps, t0, Options{}), NewCollector(steps, t0, Options{})}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 3000; i++ {
		d := ms(rng.ExpFloat64() * 20)
		st, code, cl := i%2, 200, ClassNone
		if i%50 == 0 {
			code, cl = 500, ClassHTTPStatus
		}
		for _, c := range []*Collector{all, parts[i%3]} {
			c.Shard(i).RecordStep(st, code, cl, AssertNone, d, d/3)
			c.Shard(i).RecordIteration(Success, ClassNone, d)
		}
	}
	for _, c := range append(parts, all) {
		c.Flush(at(10))
	}
	merged := parts[0].Totals()
	for _, p := range parts[1:] {
		require.NoError(t, merged.Merge(p.Totals()))
	}
	whole := all.Totals()
	assert.True(t, whole.Iteration.Equals(merged.Iteration))
	for i := range steps {
		assert.True(t, whole.Steps[i].Latency.Equals(merged.Steps[i].Latency), "step %s latency", steps[i])
		assert.True(t, whole.Steps[i].Service.Equals(merged.Steps[i].Service), "step %s service", steps[i])
		assert.Equal(t, whole.Steps[i].Status, merged.Steps[i].Status)
		assert.Equal(t, whole.Steps[i].Errors, merged.Steps[i].Errors)
	}
	assert.Equal(t, whole.Iterations, merged.Iterations)
	assert.Error(t, merged.Merge(NewSnapshot([]string{"other", "cart"})), "different steps do not merge")

	// Through reports and their encoded histograms: the same.
	var reps []*Report
	for _, p := range parts {
		r, err := NewReport(p.Totals(), p.Series(), ReportMeta{Scenario: "s", TargetRate: 10})
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, json.NewEncoder(&buf).Encode(r))
		back, err := ReadReport(&buf)
		require.NoError(t, err)
		reps = append(reps, back)
	}
	m, err := MergeReports(reps...)
	require.NoError(t, err)
	single, err := NewReport(whole, nil, ReportMeta{Scenario: "s"})
	require.NoError(t, err)
	assert.Equal(t, single.Latency, m.Latency, "top-level latency recomputed from the merged histogram")
	assert.Equal(t, single.Steps[0].Latency, m.Steps[0].Latency)
	assert.Equal(t, single.Steps[1].StatusCodes, m.Steps[1].StatusCodes)
	assert.Equal(t, single.Iterations, m.Iterations)
	assert.Equal(t, 30.0, m.Rate.Target, "target rates of the slices add up")
	assert.Equal(t, 3, m.Merged)
	ms0, err := m.Snapshot()
	require.NoError(t, err)
	assert.True(t, whole.Steps[0].Latency.Equals(ms0.Steps[0].Latency), "the merged report's hdr equals one run's histogram")
}

func TestReportGolden(t *testing.T) {
	c := NewCollector([]string{"login", "cart"}, t0, Options{})
	for i := 0; i < 100; i++ {
		c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, ms(float64(i%10+1)), ms(float64(i%10+1)/2))
		if i%25 == 0 {
			c.Shard(i).RecordStep(1, 503, ClassHTTPStatus, AssertStatus, ms(7), ms(6))
			c.Shard(i).RecordIteration(Failure, ClassHTTPStatus, ms(20))
			continue
		}
		c.Shard(i).RecordStep(1, 200, ClassNone, AssertNone, ms(3), ms(2))
		c.Shard(i).RecordIteration(Success, ClassNone, ms(float64(i%10+5)))
		c.Shard(i).RecordLag(ms(0.2))
	}
	c.Flush(at(1))
	c.Shard(0).RecordDropped(1)
	c.Flush(at(2))
	r, err := NewReport(c.Totals(), c.Series(), ReportMeta{
		Scenario: "checkout", Profile: map[string]any{"model": "open"}, TargetRate: 50, LagP99Ms: 0.2,
	})
	require.NoError(t, err)
	r.SLOs = append(r.SLOs, SLOResult{Expr: "p99<300ms", Observed: 14, Pass: true})
	r.Verdict = "pass"
	got, err := json.MarshalIndent(r, "", "  ")
	require.NoError(t, err)
	golden := "testdata/report.golden.json"
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, got, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))

	// The SPEC §7 keys are all there.
	var m map[string]any
	require.NoError(t, json.Unmarshal(got, &m))
	for _, k := range []string{"schema", "scenario", "profile", "start", "end", "duration_s", "rate", "iterations", "generator", "latency", "steps", "series", "slos", "verdict"} {
		assert.Contains(t, m, k)
	}
	step := m["steps"].([]any)[1].(map[string]any)
	for _, k := range []string{"name", "count", "latency", "service", "status_codes", "errors", "hdr"} {
		assert.Contains(t, step, k)
	}
	assert.True(t, strings.HasPrefix(step["hdr"].(map[string]any)["latency"].(string), "HISTF"), "standard compressed encoding")
}

func TestReadReportRejectsBadInput(t *testing.T) {
	good, err := NewReport(NewSnapshot([]string{"a"}), nil, ReportMeta{Scenario: "x"})
	require.NoError(t, err)
	enc, _ := json.Marshal(good)
	for name, in := range map[string]string{
		"empty":       "",
		"not json":    "{{",
		"truncated":   string(enc[:len(enc)/2]),
		"schema":      strings.Replace(string(enc), ReportSchema, "k6.summary/v1", 1),
		"bad base64":  strings.Replace(string(enc), `"HISTF`, `"!!!HISTF`, 1),
		"bad counts":  strings.Replace(string(enc), `"total":0`, `"total":5`, 1),
		"bad class":   strings.Replace(string(enc), `"errors":{}`, `"errors":{"gremlins":1}`, 1),
		"bad status":  strings.Replace(string(enc), `"status_codes":{}`, `"status_codes":{"abc":1}`, 1),
		"corrupt hdr": strings.Replace(string(enc), `"hdr":"HISTF`, `"hdr":"HISTFAAAAAA`, 1),
	} {
		_, err := ReadReport(strings.NewReader(in))
		assert.Error(t, err, name)
	}
	_, err = ReadReport(bytes.NewReader(enc))
	assert.NoError(t, err)
}

func FuzzReadReport(f *testing.F) {
	good, _ := NewReport(NewSnapshot([]string{"a"}), nil, ReportMeta{Scenario: "x"})
	enc, _ := json.Marshal(good)
	f.Add(string(enc))
	f.Add(`{"schema":"canary.report/v1","steps":[{"name":"a","hdr":{"latency":"HISTFAAAACB42pNpmSzMwMDAyQABzFCaEUwzghgAGx8BEA=="}}]}`)
	f.Add("{}")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ReadReport(strings.NewReader(s))
		if err != nil {
			return
		}
		if _, err := MergeReports(r, r); err != nil {
			t.Fatalf("a report that reads must merge with itself: %v", err)
		}
	})
}

func TestHdrLogReadsBack(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewHdrLog(&buf, t0)
	require.NoError(t, err)
	c := NewCollector([]string{"login"}, t0, Options{OnInterval: func(iv Interval) {
		require.NoError(t, log.Write(iv))
	}})
	for sec := 0; sec < 3; sec++ {
		for i := 0; i < 10; i++ {
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, ms(float64(sec+1)), ms(0.5))
		}
		c.Flush(at(float64(sec + 1)))
	}
	assert.Contains(t, buf.String(), "#[StartTime:")
	r := hdrhistogram.NewHistogramLogReader(&buf)
	var tags []string
	var total int64
	for {
		h, err := r.NextIntervalHistogram()
		require.NoError(t, err)
		if h == nil {
			break
		}
		tags = append(tags, h.Tag())
		total += h.TotalCount()
	}
	assert.Equal(t, []string{"login", "login.service", "login", "login.service", "login", "login.service"}, tags)
	assert.Equal(t, int64(60), total)
}

func TestConcurrentRecordAndFlush(t *testing.T) {
	c := NewCollector([]string{"a"}, t0, Options{WindowRetention: time.Minute, Shards: 4})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				c.Shard(g).RecordStep(0, 200, ClassNone, AssertNone, ms(1), ms(1))
				c.Shard(g).RecordIteration(Success, ClassNone, ms(1))
			}
		}(g)
	}
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
		}
	}()
	wg.Wait()
	close(stop)
	<-flushed
	c.Flush(at(1e6))
	assert.Equal(t, int64(16000), c.Counts().Success, "nothing is lost while flushing")
	assert.Equal(t, int64(16000), c.Totals().Steps[0].Latency.TotalCount())
}

func BenchmarkRecordStep(b *testing.B) {
	c := NewCollector([]string{"a", "b"}, t0, Options{})
	sh := c.Shard(0)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sh.RecordStep(i&1, 200, ClassNone, AssertNone, ms(3), ms(2))
	}
}

func BenchmarkRecordStepParallel(b *testing.B) {
	c := NewCollector([]string{"a", "b"}, t0, Options{})
	var worker sync.Mutex
	n := 0
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		worker.Lock()
		sh := c.Shard(n)
		n++
		worker.Unlock()
		for i := 0; pb.Next(); i++ {
			sh.RecordStep(i&1, 200, ClassNone, AssertNone, ms(3), ms(2))
		}
	})
}

func BenchmarkFlush(b *testing.B) {
	c := NewCollector([]string{"a", "b", "c", "d"}, t0, Options{WindowRetention: time.Hour})
	b.ReportAllocs()
	sec := 0
	for b.Loop() {
		for i := 0; i < 1000; i++ {
			c.Shard(i).RecordStep(i%4, 200, ClassNone, AssertNone, ms(float64(i%50)), ms(1))
			c.Shard(i).RecordIteration(Success, ClassNone, ms(float64(i%50)))
		}
		sec++
		c.Flush(at(float64(sec)))
	}
}

func BenchmarkWindow(b *testing.B) {
	c := NewCollector([]string{"a", "b", "c", "d"}, t0, Options{WindowRetention: time.Hour})
	for sec := 1; sec <= 3600; sec++ {
		for i := 0; i < 20; i++ {
			c.Shard(i).RecordStep(i%4, 200, ClassNone, AssertNone, ms(float64(i*3%70)), ms(1))
			c.Shard(i).RecordIteration(Success, ClassNone, ms(float64(i*3%70)))
		}
		c.Flush(at(float64(sec)))
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Window(at(3600), 5*time.Minute)
	}
}
