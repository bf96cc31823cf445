package stats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeriesSplitsFailuresByClassAndStep(t *testing.T) {
	c := NewCollector([]string{"login", "cart"}, t0, Options{})
	// Two flushes, the second over half a second: 20 iterations of login
	// then cart; in the second, 2 fail on cart with 503 and 1 times out,
	// and 3 are dropped.
	var login, cart [2][]time.Duration
	for k, end := range []float64{1, 1.5} {
		for i := range 20 {
			d := ms(float64(10*(k+1) + i))
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, d, d)
			login[k] = append(login[k], d)
			class, status, o := ClassNone, 200, Success
			if k == 1 && i < 2 {
				class, status, o = ClassHTTPStatus, 503, Failure
			}
			if k == 1 && i == 2 {
				class, status, o = ClassTimeout, 0, Failure
			}
			c.Shard(i).RecordStep(1, status, class, AssertNone, 2*d, d)
			cart[k] = append(cart[k], 2*d)
			c.Shard(i).RecordIteration(o, class, 3*d)
		}
		if k == 1 {
			c.Shard(0).RecordDropped(3)
		}
		c.Flush(at(end))
	}
	pts := c.Series()
	require.Len(t, pts, 2)
	assert.Nil(t, pts[0].ErrorsByClass, "no failures, no classes")
	assert.Equal(t, map[string]float64{"http_status": 4, "timeout": 2, "dropped": 6}, pts[1].ErrorsByClass, "per second over 0.5 s")
	assert.InDelta(t, 12, pts[1].Errors, 1e-9, "the classes add up to the failures")
	for k, p := range pts {
		span := []float64{1, 0.5}[k]
		require.Len(t, p.Steps, 2, "point %d", k)
		for i, ds := range [][]time.Duration{login[k], cart[k]} {
			h := fed(t, ds...)
			assert.Equal(t, StepPoint{Rate: 20 / span, P50: Millis(h.ValueAtQuantile(50)), P99: Millis(h.ValueAtQuantile(99))}, p.Steps[i], "point %d step %d", k, i)
		}
	}
}

func TestSeriesDownsamplingKeepsClassesAndStepsExact(t *testing.T) {
	c := NewCollector([]string{"s"}, t0, Options{SeriesCap: 6})
	// Flush k (one second each) has k+1 requests of k+1 ms, and k%3
	// failed iterations of class eof.
	for k := range 23 {
		for i := range k + 1 {
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, ms(float64(k+1)), ms(1))
			o, class := Success, ClassNone
			if i < k%3 {
				o, class = Failure, ClassEOF
			}
			c.Shard(i).RecordIteration(o, class, ms(1))
		}
		c.Flush(at(float64(k + 1)))
	}
	pts := c.Series()
	require.Greater(t, len(pts), 2)
	require.Less(t, len(pts), 6, "the series stays under its cap")
	for i, p := range pts[:len(pts)-1] {
		from, to := int(p.T), int(pts[i+1].T) // the flushes k in [from, to)
		var reqs, eofs float64
		for k := from; k < to; k++ {
			reqs += float64(k + 1)
			eofs += float64(k % 3)
		}
		span := float64(to - from)
		require.Len(t, p.Steps, 1)
		assert.InDelta(t, reqs/span, p.Steps[0].Rate, 1e-3, "point %d: requests over %v s", i, span)
		assert.InDelta(t, eofs/span, p.ErrorsByClass["eof"], 1e-3, "point %d: eof failures over %v s", i, span)
		// A point's p50 is exact or a weighted mean of exact ones,
		// depending on when it was merged: within its values' range.
		assert.True(t, p.Steps[0].P50 >= float64(from+1) && p.Steps[0].P50 <= float64(to)*1.001, "point %d: p50 %v ms outside %d..%d ms", i, p.Steps[0].P50, from+1, to)
		assert.InDelta(t, float64(to), p.Steps[0].P99, 0.01*float64(to), "point %d: p99 is the worst of the merged points (%d ms)", i, to)
	}
}

func TestSeriesStepsAreBounded(t *testing.T) {
	names := make([]string, MaxSeriesSteps+5)
	for i := range names {
		names[i] = fmt.Sprintf("step%d", i)
	}
	c := NewCollector(names, t0, Options{})
	for i := range names {
		c.Shard(i).RecordStep(i, 200, ClassNone, AssertNone, ms(1), ms(1))
	}
	c.Flush(at(1))
	pts := c.Series()
	require.Len(t, pts, 1)
	assert.Len(t, pts[0].Steps, MaxSeriesSteps, "only the first steps are in the series")
	r, err := NewReport(c.Totals(), pts, ReportMeta{Scenario: "many"})
	require.NoError(t, err)
	assert.Len(t, r.Steps, MaxSeriesSteps+5, "every step is in the totals")
	assert.NoError(t, r.check())
}

// degradingReport is a report whose series has failures and step points.
func degradingReport(t *testing.T, start time.Time, seed uint64) *Report {
	t.Helper()
	c := NewCollector([]string{"login", "cart"}, start, Options{})
	rng := rand.New(rand.NewPCG(seed, 1))
	for sec := range 6 {
		for i := range 30 {
			d := ms(5 + rng.ExpFloat64()*float64(5*(1+sec/3)))
			c.Shard(i).RecordStep(0, 200, ClassNone, AssertNone, d, d)
			o, class, status := Success, ClassNone, 200
			if sec >= 4 && i%10 == 0 {
				o, class, status = Failure, ClassHTTPStatus, 503
			}
			c.Shard(i).RecordStep(1, status, class, AssertNone, d, d)
			c.Shard(i).RecordIteration(o, class, 2*d)
		}
		c.Flush(start.Add(time.Duration(sec+1) * time.Second))
	}
	r, err := NewReport(c.Totals(), c.Series(), ReportMeta{Scenario: "checkout"})
	require.NoError(t, err)
	return r
}

func TestReportSeriesRoundTrips(t *testing.T) {
	r := degradingReport(t, t0, 1)
	var b bytes.Buffer
	require.NoError(t, json.NewEncoder(&b).Encode(r))
	assert.Contains(t, b.String(), `"errors_by_class":{"http_status":3}`)
	assert.Contains(t, b.String(), `"steps":[{"rate":30,`)
	back, err := ReadReport(&b)
	require.NoError(t, err)
	assert.Equal(t, r.Series, back.Series)

	// A report of an older version has neither: it still reads.
	old := strings.NewReader(`{"schema":"canary.report/v1","iterations":{},"steps":[],"series":[{"t":0,"rate":1,"errors":0,"p50":2,"p99":3}]}`)
	or, err := ReadReport(old)
	require.NoError(t, err)
	assert.Equal(t, []Point{{Rate: 1, P50: 2, P99: 3}}, or.Series)
}

func TestReadReportRejectsBadSeries(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*Report)
		want   string
	}{
		{"unknown class", func(r *Report) { r.Series[0].ErrorsByClass = map[string]float64{"boom": 1} }, `unknown error class "boom"`},
		{"class none", func(r *Report) { r.Series[0].ErrorsByClass = map[string]float64{"none": 1} }, `unknown error class "none"`},
		{"negative rate", func(r *Report) { r.Series[1].ErrorsByClass = map[string]float64{"eof": -1} }, "eof at -1/s"},
		{"more steps than the report", func(r *Report) {
			r.Series[2].Steps = append(r.Series[2].Steps, StepPoint{})
		}, "3 steps, want at most 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := degradingReport(t, t0, 2)
			tc.modify(r)
			data, err := json.Marshal(r)
			require.NoError(t, err)
			_, err = ReadReport(bytes.NewReader(data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestMergeSeriesAddsClassesAndSteps(t *testing.T) {
	a := degradingReport(t, t0, 3)
	b := degradingReport(t, t0.Add(2*time.Second), 4)
	m, err := MergeReports(a, b)
	require.NoError(t, err)
	require.Len(t, m.Series, 8, "6 s each, the second 2 s later")
	byT := func(r *Report, t float64) *Point {
		for i := range r.Series {
			if r.Series[i].T == t {
				return &r.Series[i]
			}
		}
		return nil
	}
	for _, p := range m.Series {
		pa, pb := byT(a, p.T), byT(b, p.T-2)
		var parts []*Point
		for _, q := range []*Point{pa, pb} {
			if q != nil {
				parts = append(parts, q)
			}
		}
		require.NotEmpty(t, parts, "t=%v", p.T)
		var http, rate, p99, p50w float64
		for _, q := range parts {
			http += q.ErrorsByClass["http_status"]
			rate += q.Steps[1].Rate
			p99 = max(p99, q.Steps[1].P99)
			p50w += q.Steps[1].P50 * q.Steps[1].Rate
		}
		assert.InDelta(t, http, p.ErrorsByClass["http_status"], 1e-9, "t=%v: failures by class add up", p.T)
		require.Len(t, p.Steps, 2, "t=%v", p.T)
		assert.InDelta(t, rate, p.Steps[1].Rate, 1e-9, "t=%v: request rates add up", p.T)
		assert.Equal(t, p99, p.Steps[1].P99, "t=%v: the worst p99", p.T)
		assert.InDelta(t, p50w/rate, p.Steps[1].P50, 1e-3, "t=%v: p50 weighted by rate", p.T)
	}
	assert.Equal(t, 3.0, byT(m, 4).ErrorsByClass["http_status"], "a's fifth second fails, b's third does not")
	assert.Equal(t, 3.0, byT(m, 6).ErrorsByClass["http_status"], "b's fifth second fails")
	assert.Nil(t, byT(m, 3).ErrorsByClass, "neither fails in their fourth and second seconds")
}

// TestSeriesSpan: a series with a span lets go of the points that ended
// before it and keeps the resolution its cap gives the span, where one
// without would have coarsened with the run; rates stay exact.
func TestSeriesSpan(t *testing.T) {
	const seconds, span, capacity = 1000, 100, 10
	for _, tc := range []struct {
		name    string
		span    time.Duration
		spacing float64 // seconds per point at the end
	}{
		// 100 s in fewer than 10 points: 16 s each (8 s would take 13).
		{name: "100 s span", span: span * time.Second, spacing: 16},
		// 1000 s in fewer than 10 points: 128 s each.
		{name: "no span", span: 0, spacing: 128},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCollector([]string{"s"}, t0, Options{SeriesCap: capacity, SeriesSpan: tc.span})
			done := func(sec int) int { return sec%5 + 1 } // iterations completed by the flush at sec
			for sec := 1; sec <= seconds; sec++ {
				for range done(sec) {
					c.Shard(sec).RecordIteration(Success, ClassNone, ms(float64(sec%7+1)))
				}
				c.Flush(at(float64(sec)))
			}
			pts := c.Series()
			require.Less(t, len(pts), capacity)
			if tc.span > 0 {
				// As of the last point's end: up to a point before now.
				assert.Greater(t, pts[1].T, float64(seconds-span)-tc.spacing, "the first point ends inside the span")
				assert.LessOrEqual(t, pts[0].T, float64(seconds-span), "and the points reach back over all of it")
			} else {
				assert.Zero(t, pts[0].T, "the series reaches back to the start")
			}
			for i, p := range pts[:len(pts)-1] {
				next := pts[i+1].T
				assert.Equal(t, tc.spacing, next-p.T, "point %d at %v s", i, p.T)
				n := 0
				for sec := int(p.T) + 1; sec <= int(next); sec++ {
					n += done(sec)
				}
				assert.InDelta(t, float64(n)/(next-p.T), p.Rate, 1e-3, "point %d at %v s", i, p.T)
			}
		})
	}
}
