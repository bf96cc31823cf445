package run

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// arrivals records, across both targets of a comparison, which side each
// iteration number reached, in the order the requests arrived.
type arrivals struct {
	mu    sync.Mutex
	order map[int][]string // iteration → sides, in arrival order
}

func (a *arrivals) target(t *testing.T, side string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(r.URL.Query().Get("i"))
		if err == nil {
			a.mu.Lock()
			a.order[i] = append(a.order[i], side)
			a.mu.Unlock()
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// withBase is the scenario of load, written against a host that answers
// nothing, sent to base.
func withBase(t *testing.T, base string) *scenario.Scenario {
	t.Helper()
	s, err := load(t, "http://127.0.0.1:1").WithBase(base)
	require.NoError(t, err)
	return s
}

// TestCompareDrivesBothSidesWithTheSameIterations: one schedule, every
// iteration number reaching each side exactly once, the side that goes
// first drawn per iteration, and a document with both sides' reports.
func TestCompareDrivesBothSidesWithTheSameIterations(t *testing.T) {
	a := &arrivals{order: map[int][]string{}}
	b, c := a.target(t, "baseline"), a.target(t, "candidate")
	p := flags(t, profiles.Flags{Rate: "200/s", Duration: 3 * time.Second})
	out, err := Compare(context.Background(), CompareOptions{
		Baseline:  Side{URL: b.URL, Scenario: withBase(t, b.URL)},
		Candidate: Side{URL: c.URL, Scenario: withBase(t, c.URL)},
		Profile:   p, Judge: compare.Options{Seed: 7},
	})
	require.NoError(t, err)

	require.Len(t, a.order, 600, "iterations that reached a target")
	candidateFirst := 0
	for i, sides := range a.order {
		require.ElementsMatch(t, []string{"baseline", "candidate"}, sides, "iteration %d reaches each side once", i)
		if sides[0] == "candidate" {
			candidateFirst++
		}
	}
	// Both requests start at once, and which arrives first is up to the
	// scheduler; the draw keeps that from favouring either side. (Without
	// it, the side on the iteration's own goroutine arrives second about
	// 7 times in 10.) Binomial(600, ½) has a standard deviation of 12.
	assert.InDelta(t, 300, candidateFirst, 60, "iterations that reached the candidate first")

	doc := out.Document
	assert.Equal(t, report.ComparisonSchema, doc.Schema)
	assert.Equal(t, uint64(7), doc.Seed)
	assert.Equal(t, b.URL, doc.Baseline.URL)
	assert.Equal(t, c.URL, doc.Candidate.URL)
	for _, s := range []report.ComparedSide{doc.Baseline, doc.Candidate} {
		assert.Equal(t, stats.ReportSchema, s.Report.Schema)
		assert.Equal(t, int64(600), s.Report.Iterations.Total)
		assert.Equal(t, int64(600), s.Report.Iterations.Success)
		assert.InDelta(t, 200, s.Report.Rate.Achieved, 4)
		assert.Equal(t, string(doc.Verdict), s.Report.Verdict)
		assert.NotEmpty(t, s.Report.Steps[0].HDR.Latency)
	}
	require.Len(t, doc.Results, 3, "the default objectives")
	for _, r := range doc.Results {
		assert.Equal(t, int64(600), r.Baseline.N, r.Expr)
	}

	// The document is JSON with the judgement inline.
	var raw map[string]any
	var buf jsonBuffer
	require.NoError(t, report.WriteComparisonJSON(&buf, doc))
	require.NoError(t, json.Unmarshal(buf.b, &raw))
	for _, k := range []string{"schema", "verdict", "confidence", "results", "baseline", "candidate", "generator", "seed"} {
		assert.Contains(t, raw, k)
	}
}

type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) { j.b = append(j.b, p...); return len(p), nil }

func TestCompareRefusesDifferentSteps(t *testing.T) {
	one, err := scenario.FromURL("http://127.0.0.1:1/", scenario.URLOptions{})
	require.NoError(t, err)
	_, err = Compare(context.Background(), CompareOptions{
		Baseline: Side{Scenario: one}, Candidate: Side{Scenario: load(t, "http://127.0.0.1:1")},
		Profile: flags(t, profiles.Flags{Iterations: 1}),
	})
	assert.EqualError(t, err, "compare: the baseline's steps (request) differ from the candidate's (get)")
}

// TestCompareAborted: a comparison stopped before its profile's end is
// inconclusive, and both its sides say so.
func TestCompareAborted(t *testing.T) {
	a := &arrivals{order: map[int][]string{}}
	b, c := a.target(t, "baseline"), a.target(t, "candidate")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out, err := Compare(ctx, CompareOptions{
		Baseline: Side{Scenario: withBase(t, b.URL)}, Candidate: Side{Scenario: withBase(t, c.URL)},
		Profile: flags(t, profiles.Flags{Rate: "10/s", Duration: time.Minute}), Grace: time.Second,
	})
	require.NoError(t, err)
	assert.True(t, out.Result.Aborted)
	assert.Equal(t, slo.Inconclusive, out.Judgement.Verdict)
	assert.Contains(t, out.Judgement.Reasons, "the comparison was aborted before its end")
	assert.Equal(t, "inconclusive", out.Document.Candidate.Report.Verdict)
}

func TestCandidateFirstIsAFairCoin(t *testing.T) {
	for _, seed := range []uint64{0, 1, 42} {
		first, same := 0, 0
		const n = 100000
		for i := range uint64(n) {
			if CandidateFirst(seed, i) {
				first++
			}
			if CandidateFirst(seed, i) == CandidateFirst(seed+1, i) {
				same++
			}
		}
		// Binomial(100000, ½): the standard deviation is 158.
		assert.InDelta(t, n/2, first, 800, "seed %d: the candidate first %d times in %d", seed, first, n)
		assert.InDelta(t, n/2, same, 800, "seed %d and %d draw independently", seed, seed+1)
	}
}

// snapshots are a baseline and a candidate of n iterations each, their
// latencies spread evenly over scale to twice scale (the candidate's
// stretched by slower), errors failed iterations in the candidate, and
// generator lag.
func snapshots(t *testing.T, n int, scale time.Duration, slower float64, errors int, lag time.Duration) (*stats.Snapshot, *stats.Snapshot) {
	t.Helper()
	mk := func(stretch float64, failed int) *stats.Snapshot {
		s := stats.NewSnapshot([]string{"get"})
		for i := range n {
			v := int64(float64(scale.Microseconds()+int64(i)*scale.Microseconds()/int64(n)) * stretch)
			require.NoError(t, s.Iteration.RecordValue(v))
			require.NoError(t, s.Steps[0].Latency.RecordValue(v))
			require.NoError(t, s.Steps[0].Service.RecordValue(v))
			require.NoError(t, s.Lag.RecordValue(lag.Microseconds()+1))
		}
		s.Iterations.Failure = int64(failed)
		s.Iterations.Success = int64(n - failed)
		return s
	}
	return mk(1, 0), mk(1+slower, errors)
}

func TestJudgeComparisonSaturationAndAbort(t *testing.T) {
	objs := func(exprs ...string) []compare.Objective {
		var out []compare.Objective
		for _, e := range exprs {
			o, err := compare.ParseObjective(e)
			require.NoError(t, err)
			out = append(out, o)
		}
		return out
	}
	const (
		p99     = "p99 not worse by more than 10%"
		errs    = "errors not higher by more than 0.1pp"
		service = "p99(get, service) not worse by more than 10%"
		lagged  = "generator saturated: generator lag p99 30.02ms > 10ms over 5000 lag samples; corrected-latency objectives that did not fail are void where its lag could hide a worsening"
	)
	ms20 := 20 * time.Millisecond
	for _, tc := range []struct {
		name      string
		scale     time.Duration
		slower    float64
		errors    int
		lag       time.Duration
		behind    float64
		aborted   bool
		objs      []string
		verdict   slo.Verdict
		results   []slo.Verdict
		saturated bool
		first     string
	}{
		{name: "alike, generator fine", scale: ms20, lag: time.Millisecond, objs: []string{p99, errs},
			verdict: slo.Pass, results: []slo.Verdict{slo.Pass, slo.Pass}},
		{name: "alike, generator saturated: the latency pass is void", scale: ms20, lag: 30 * time.Millisecond, objs: []string{p99, errs},
			verdict: slo.Inconclusive, results: []slo.Verdict{slo.Inconclusive, slo.Pass}, saturated: true, first: lagged},
		{name: "behind its schedule is saturated too", scale: ms20, lag: time.Millisecond, behind: 5, objs: []string{p99, errs},
			verdict: slo.Inconclusive, results: []slo.Verdict{slo.Inconclusive, slo.Pass}, saturated: true,
			first: "generator saturated: the generator fell 5% behind its schedule (> 1%) over 1000 due iterations; corrected-latency objectives that did not fail are void where its lag could hide a worsening"},
		{name: "slower, saturated: the failure stands", scale: ms20, slower: 0.3, lag: 30 * time.Millisecond, objs: []string{p99, errs},
			verdict: slo.Fail, results: []slo.Verdict{slo.Fail, slo.Pass}, saturated: true, first: lagged},
		{name: "more errors, saturated: judged on the answers", scale: ms20, errors: 100, lag: 30 * time.Millisecond, objs: []string{p99, errs},
			verdict: slo.Fail, results: []slo.Verdict{slo.Inconclusive, slo.Fail}, saturated: true, first: lagged},
		{name: "service latency is the target's own", scale: ms20, lag: 30 * time.Millisecond, objs: []string{service, errs},
			verdict: slo.Pass, results: []slo.Verdict{slo.Pass, slo.Pass}, saturated: true, first: lagged},
		{name: "a lag small against the allowance cannot hide a worsening", scale: 2 * time.Second, lag: 30 * time.Millisecond, objs: []string{p99, errs},
			verdict: slo.Pass, results: []slo.Verdict{slo.Pass, slo.Pass}, saturated: true, first: lagged},
		{name: "aborted", scale: ms20, lag: time.Millisecond, aborted: true, objs: []string{p99, errs},
			verdict: slo.Inconclusive, results: []slo.Verdict{slo.Pass, slo.Pass}, first: "the comparison was aborted before its end"},
		{name: "aborted while failing", scale: ms20, slower: 0.3, lag: time.Millisecond, aborted: true, objs: []string{p99, errs},
			verdict: slo.Inconclusive, results: []slo.Verdict{slo.Fail, slo.Pass}, first: "the comparison was aborted before its end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, c := snapshots(t, 5000, tc.scale, tc.slower, tc.errors, tc.lag)
			j, err := JudgeComparison(objs(tc.objs...), b, c, compare.Options{}, tc.behind, 1000, tc.aborted)
			require.NoError(t, err)
			assert.Equal(t, tc.verdict, j.Verdict, "%v", j.Reasons)
			assert.Equal(t, tc.saturated, j.Saturated)
			for i, want := range tc.results {
				assert.Equal(t, want, j.Results[i].Verdict, "%s: %s", j.Results[i].Expr, j.Results[i].Reason)
			}
			if tc.first != "" {
				require.NotEmpty(t, j.Reasons)
				assert.Equal(t, tc.first, j.Reasons[0])
			} else {
				assert.Empty(t, j.Reasons)
			}
		})
	}
	_, err := JudgeComparison(nil, nil, nil, compare.Options{Confidence: 2}, 0, 0, false)
	assert.EqualError(t, err, "confidence 2 is outside 50%..100% (exclusive)")
}
