package run

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

func objectives(t *testing.T, exprs ...string) []slo.Objective {
	t.Helper()
	var out []slo.Objective
	for _, e := range exprs {
		o, err := slo.ParseExpr(e)
		require.NoError(t, err)
		out = append(out, o)
	}
	return out
}

// segmentReports runs n segments of `iterations` iterations against a
// target that answers 503 to the iterations fail picks, judged by exprs,
// and returns their reports as read back from their JSON.
func segmentReports(t *testing.T, n int, iterations uint64, fail func(i int) bool, exprs ...string) []*stats.Report {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i, err := strconv.Atoi(r.URL.Query().Get("i")); err == nil && fail(i) {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	whole := flags(t, profiles.Flags{Iterations: iterations, VUs: 2})
	var reps []*stats.Report
	for i := range n {
		seg, err := whole.Segment(i, n)
		require.NoError(t, err)
		out, err := Run(context.Background(), Options{Scenario: load(t, srv.URL), Profile: seg, SLOs: objectives(t, exprs...)})
		require.NoError(t, err)
		var b bytes.Buffer
		require.NoError(t, json.NewEncoder(&b).Encode(out.Report))
		r, err := stats.ReadReport(&b)
		require.NoError(t, err)
		reps = append(reps, r)
	}
	return reps
}

func none(int) bool { return false }

// The merge is judged on the merged counters, not by its parts' verdicts:
// 2 failures in one segment of 40 iterations (5 %) fail errors<2% there,
// but are 1.25 % of the 160 iterations together.
func TestMergeJudgesTheMerge(t *testing.T) {
	reps := segmentReports(t, 4, 160, func(i int) bool { return i == 85 || i == 86 }, "errors<2%", "p99<10s")
	require.Equal(t, []string{"pass", "pass", "fail", "pass"}, []string{reps[0].Verdict, reps[1].Verdict, reps[2].Verdict, reps[3].Verdict})

	m, j, err := Merge(reps, MergeOptions{})
	require.NoError(t, err)
	assert.Equal(t, slo.Pass, j.Verdict, "reasons: %v", j.Reasons)
	assert.Equal(t, "pass", m.Verdict)
	assert.Equal(t, "merged 4/4", m.Profile.(map[string]any)["segment"])
	assert.Equal(t, 4, m.Merged)
	assert.Equal(t, int64(160), m.Iterations.Total)
	assert.Equal(t, int64(2), m.Iterations.Failure)
	require.Len(t, m.SLOs, 2)
	assert.Equal(t, stats.SLOResult{Expr: "errors<2%", Observed: 1.25, Pass: true}, m.SLOs[0])
	assert.Empty(t, m.Reasons, "the parts' own reasons are not the merge's")

	// The same reports judged by a stricter objective given now.
	m, j, err = Merge(reps, MergeOptions{SLOs: objectives(t, "errors<1%")})
	require.NoError(t, err)
	assert.Equal(t, slo.Fail, j.Verdict)
	assert.Equal(t, []stats.SLOResult{{Expr: "errors<1%", Observed: 1.25, Pass: false}}, m.SLOs)
	assert.Equal(t, []string{"errors 1.25% >= 1% over the run, n=160"}, m.Reasons)
}

func TestMergeNamesBadSegments(t *testing.T) {
	four := segmentReports(t, 4, 8, none)
	two := segmentReports(t, 2, 8, none)
	whole := segmentReports(t, 1, 8, none)
	judged := segmentReports(t, 4, 8, none, "p99<1s")
	merged, _, err := Merge(four, MergeOptions{})
	require.NoError(t, err)
	names := []string{"a.json", "b.json", "c.json", "d.json"}
	for _, tc := range []struct {
		name string
		reps []*stats.Report
		want string
	}{
		{"a missing segment", []*stats.Report{four[0], four[1], four[3]}, "segment 3/4 is missing: a merge needs every segment's report"},
		{"missing segments", []*stats.Report{four[1]}, "segments 1/4, 3/4, 4/4 are missing: a merge needs every segment's report"},
		{"a duplicated segment", []*stats.Report{four[0], four[1], four[1], four[2]}, "segment 2/4 appears twice: b.json and c.json"},
		{"another run's segment", []*stats.Report{four[0], two[1], four[2], four[3]}, "b.json is segment 2/2, a.json one of 4: not segments of one run"},
		{"whole runs", []*stats.Report{whole[0], whole[0]}, "a.json and b.json are whole runs, not segments of one (canary run --segment i/n)"},
		{"a merge", []*stats.Report{merged, four[0]}, "a.json is already a merge (of 4 reports): merge the segments' own reports"},
		{"other SLOs", []*stats.Report{four[0], four[1], judged[2], four[3]}, "a.json was judged by no SLOs, c.json by p99<1s: give the SLOs to judge the merge by (--slo)"},
		{"nothing", nil, "no reports to merge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Merge(tc.reps, MergeOptions{Names: names})
			require.Error(t, err)
			assert.EqualError(t, err, tc.want)
		})
	}
	_, j, err := Merge(whole, MergeOptions{})
	require.NoError(t, err, "one whole run merges to itself")
	assert.Equal(t, slo.Pass, j.Verdict)
}

// A run judged without some segments (the daemon's, past its deadline) is
// inconclusive and says which, with the others' figures.
func TestMergeWithAbsentSegments(t *testing.T) {
	reps := segmentReports(t, 4, 40, func(i int) bool { return i < 5 }, "errors<1%")
	m, j, err := Merge([]*stats.Report{reps[0], reps[1], reps[3]}, MergeOptions{Absent: map[int]string{3: "never reported (deadline 10:07:40Z)"}})
	require.NoError(t, err)
	assert.Equal(t, slo.Inconclusive, j.Verdict)
	assert.Equal(t, "inconclusive", m.Verdict)
	assert.Equal(t, "merged 3/4", m.Profile.(map[string]any)["segment"])
	assert.Equal(t, []string{
		"segment 3/4 never reported (deadline 10:07:40Z)",
		"errors 16.67% >= 1% over the 3 of 4 segments that reported, n=30",
	}, m.Reasons)
}

// lagged gives a report the lag of a generator that started n of its
// iterations d late.
func lagged(t *testing.T, r *stats.Report, n int, d time.Duration) {
	t.Helper()
	h := stats.NewHistogram()
	sent := r.Iterations.Success + r.Iterations.Failure
	require.NoError(t, h.RecordValues(d.Microseconds(), int64(n)))
	require.NoError(t, h.RecordValues(100, sent-int64(n)))
	enc, err := stats.EncodeHistogram(h)
	require.NoError(t, err)
	r.Generator.HDR = enc
}

// The saturation rule is judged on the segments' generators together, as
// on one run's: every segment's lag samples and all that was due.
func TestMergeGeneratorFacts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		modify    func(r *stats.Report)
		saturated bool
		reason    string
	}{
		{"healthy", func(*stats.Report) {}, false, ""},
		{"one segment's generator lagged all along", func(r *stats.Report) { lagged(t, r, 100, 25*time.Millisecond) }, true,
			"generator saturated: generator lag p99 25.01ms > 10ms over 300 lag samples; it could change none of the objectives' answers"},
		// 2 of 100 is this segment's p99, but 2 of the run's 300 are not.
		{"one segment lagged twice", func(r *stats.Report) { lagged(t, r, 2, 25*time.Millisecond) }, false, ""},
		{"one fell far behind", func(r *stats.Report) { r.Generator.BehindPct = 6 }, true,
			"generator saturated: the generator fell 2% behind its schedule (> 1%) over 300 due iterations; it could change none of the objectives' answers"},
		{"one fell a little behind", func(r *stats.Report) { r.Generator.BehindPct = 2 }, false, ""},
		{"one was cut short", func(r *stats.Report) { r.Aborted = true }, false, "the run was aborted before its end"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reps := segmentReports(t, 3, 300, none, "p99<10s")
			for _, r := range reps {
				r.Generator.Due = 100 // the open model's schedule; iterations have none
				lagged(t, r, 0, 0)
			}
			tc.modify(reps[1])
			m, j, err := Merge(reps, MergeOptions{})
			require.NoError(t, err)
			assert.Equal(t, tc.saturated, j.Saturated)
			assert.Equal(t, tc.saturated, m.Generator.Saturated)
			assert.Equal(t, int64(300), m.Generator.Due)
			if tc.reason != "" {
				assert.Contains(t, m.Reasons, tc.reason)
			} else {
				assert.Empty(t, m.Reasons)
			}
			want := slo.Pass // the objective passes: a busy generator changes nothing
			if tc.name == "one was cut short" {
				want = slo.Inconclusive
			}
			assert.Equal(t, want, j.Verdict)
		})
	}
}

// Reports older than the generator's histogram and due: the worst
// segment's lag p99 and behind_pct stand for the whole.
func TestMergeOlderReportsGenerator(t *testing.T) {
	reps := segmentReports(t, 2, 300, none, "p99<10s")
	for _, r := range reps {
		r.Generator.HDR, r.Generator.Due = "", 0
	}
	reps[1].Generator.LagP99Ms = 30
	m, j, err := Merge(reps, MergeOptions{})
	require.NoError(t, err)
	assert.True(t, j.Saturated)
	assert.Equal(t, 30.0, m.Generator.LagP99Ms)
	assert.Contains(t, m.Reasons, "generator saturated: generator lag p99 30ms > 10ms over 300 lag samples; it could change none of the objectives' answers")
}

// A segment stopped by a lost objective (abort_on_fail) fails the merge,
// with its reason: the objective is lost for the whole run too.
func TestMergeOfALostSegmentFails(t *testing.T) {
	reps := segmentReports(t, 3, 300, none, "errors<1%")
	reps[2].AbortedBy = &stats.AbortReport{AtS: 2, Objective: "errors<1% abort_on_fail", Reason: "errors: 5 iterations failed of at most 100 planned"}
	reps[1].AbortedBy = &stats.AbortReport{AtS: 3, Objective: "errors<1% abort_on_fail", Reason: "later"}
	m, j, err := Merge(reps, MergeOptions{})
	require.NoError(t, err)
	assert.Equal(t, slo.Fail, j.Verdict)
	require.NotNil(t, m.AbortedBy)
	assert.Equal(t, 2.0, m.AbortedBy.AtS, "the first segment to stop says why")
	assert.False(t, m.Aborted)
	require.NotEmpty(t, m.Reasons)
	assert.Equal(t, "aborted after 2s by errors<1% abort_on_fail: errors: 5 iterations failed of at most 100 planned", m.Reasons[0])
}
