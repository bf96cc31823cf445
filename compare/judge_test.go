package compare

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

func TestDefaultObjectivesParse(t *testing.T) {
	objs := DefaultObjectives()
	require.Len(t, objs, len(defaultObjectives))
	for i, o := range objs {
		assert.Equal(t, defaultObjectives[i], o.String())
	}
}

// shifted returns a simulated snap with every latency moved by d, as a
// version that takes d longer to answer.
func shifted(t *testing.T, snap *stats.Snapshot, d time.Duration) *stats.Snapshot {
	t.Helper()
	moved := stats.NewHistogram()
	for _, b := range snap.Iteration.Distribution() {
		if b.Count > 0 {
			require.NoError(t, moved.RecordValues(b.To+d.Microseconds(), b.Count))
		}
	}
	out := *snap
	out.Iteration = moved
	out.Steps = []stats.StepSnapshot{snap.Steps[0]}
	out.Steps[0].Latency, out.Steps[0].Service = moved, moved
	return &out
}

func TestJudge(t *testing.T) {
	src := rand.NewPCG(31, 32)
	base := version{median: 20 * time.Millisecond, sigma: 0.5, errRate: 0.005}
	big := simulate(t, src, 200000, base)
	bigOther := simulate(t, src, 200000, base)
	small := simulate(t, src, 50, base)
	medium := simulate(t, src, 600, base)
	slower := simulate(t, src, 200000, version{median: 20 * time.Millisecond, sigma: 0.5, slower: 0.3, errRate: 0.005})
	failing := simulate(t, src, 200000, version{median: 20 * time.Millisecond, sigma: 0.5, errRate: 0.03})
	// 0.3 ms later at every request: surely slower with 200 000 requests,
	// but by less than the default minimum effect of 1 ms.
	nudged := shifted(t, big, 300*time.Microsecond)

	for _, tc := range []struct {
		name                string
		objs                []string
		baseline, candidate *stats.Snapshot
		opt                 Options
		verdicts            []slo.Verdict
		overall             slo.Verdict
		reasonHas           string
	}{
		{
			name: "the same measurements pass", objs: []string{"p99 not worse by more than 10%", "latency not worse by more than 5%", "errors not higher by more than 0.1pp", "success not lower by more than 0.1pp"},
			baseline: big, candidate: big,
			verdicts: []slo.Verdict{slo.Pass, slo.Pass, slo.Pass, slo.Pass}, overall: slo.Pass,
		},
		{
			name: "30 % slower fails latency, not errors", objs: []string{"p99 not worse by more than 10%", "p50(api) not worse by more than 5ms", "latency(api, service) not worse by more than 5%", "errors not higher by more than 0.1pp"},
			baseline: big, candidate: slower,
			verdicts: []slo.Verdict{slo.Fail, slo.Fail, slo.Fail, slo.Pass}, overall: slo.Fail,
			reasonHas: "is worse than the allowed +10%",
		},
		{
			name: "2.5 pp more errors fails errors and success", objs: []string{"p99 not worse by more than 10%", "errors not higher by more than 0.1pp", "success not lower by more than 1pp"},
			baseline: big, candidate: failing,
			verdicts: []slo.Verdict{slo.Pass, slo.Fail, slo.Fail}, overall: slo.Fail,
			reasonHas: "success -2.",
		},
		{
			name: "a sure 0.3 ms is below the minimum effect", objs: []string{"p50 not worse", "latency not worse"},
			baseline: big, candidate: nudged,
			verdicts: []slo.Verdict{slo.Pass, slo.Pass}, overall: slo.Pass,
		},
		{
			name: "without a minimum effect, a sure 0.3 ms fails", objs: []string{"p50 not worse", "latency not worse"},
			baseline: big, candidate: nudged, opt: Options{MinLatencyEffect: -1},
			verdicts: []slo.Verdict{slo.Fail, slo.Fail}, overall: slo.Fail,
			reasonHas: "latency +1.52% [+1.2%, +1.84%] is worse than the allowed +0%",
		},
		{
			name: "too few iterations", objs: []string{"latency not worse by more than 5%", "errors not higher by more than 1pp"},
			baseline: big, candidate: small,
			verdicts: []slo.Verdict{slo.Inconclusive, slo.Inconclusive}, overall: slo.Inconclusive,
			reasonHas: "latency needs 100 samples a side; the iteration's latency has 200000 in the baseline and 50 in the candidate",
		},
		{
			name: "too few beyond the percentile", objs: []string{"p50 not worse by more than 50%", "p99 not worse by more than 10%"},
			baseline: medium, candidate: medium,
			verdicts: []slo.Verdict{slo.Pass, slo.Inconclusive}, overall: slo.Inconclusive,
			reasonHas: "p99 needs 1000 samples a side (10 beyond the percentile); the iteration's latency has 600 in the baseline and 600 in the candidate",
		},
		{
			name: "an interval straddling the allowance", objs: []string{"p99 not worse by more than 10%"},
			baseline: medium, candidate: medium, opt: Options{MinTail: 1},
			verdicts: []slo.Verdict{slo.Inconclusive}, overall: slo.Inconclusive,
			reasonHas: "straddles the allowed +10%: too few samples to tell",
		},
		{
			name: "fail outweighs inconclusive", objs: []string{"p99.99 not worse by more than 1%", "errors not higher by more than 0.1pp"},
			baseline: big, candidate: failing,
			verdicts: []slo.Verdict{slo.Inconclusive, slo.Fail}, overall: slo.Fail,
		},
		{
			name: "an unknown step", objs: []string{"p99(login) not worse by more than 10%"},
			baseline: big, candidate: big,
			verdicts: []slo.Verdict{slo.Inconclusive}, overall: slo.Inconclusive,
			reasonHas: `the baseline has no step "login"`,
		},
		{
			name: "no measurements", objs: []string{"errors not higher"},
			baseline: nil, candidate: big,
			verdicts: []slo.Verdict{slo.Inconclusive}, overall: slo.Inconclusive,
			reasonHas: "no measurements to compare",
		},
		{
			name: "two samples of one version", objs: nil,
			baseline: big, candidate: bigOther,
			verdicts: []slo.Verdict{slo.Pass, slo.Pass, slo.Pass}, overall: slo.Pass,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j, err := Judge(mustParse(t, tc.objs...), tc.baseline, tc.candidate, tc.opt)
			require.NoError(t, err)
			var got []slo.Verdict
			for _, r := range j.Results {
				got = append(got, r.Verdict)
			}
			assert.Equal(t, tc.verdicts, got, "verdicts; reasons: %q", j.Reasons)
			assert.Equal(t, tc.overall, j.Verdict)
			if tc.reasonHas != "" {
				all := ""
				for _, r := range j.Results {
					all += r.Reason + "\n"
				}
				assert.Contains(t, all, tc.reasonHas)
			}
			for _, r := range j.Results {
				assert.NotEmpty(t, r.Reason, "%s has a reason", r.Expr)
				if r.Verdict != slo.Pass {
					assert.Contains(t, j.Reasons, r.Expr+": "+r.Reason)
				}
				if r.Effect != nil {
					assert.LessOrEqual(t, r.Effect.Low, r.Effect.Estimate, "%s: interval around the estimate", r.Expr)
					assert.GreaterOrEqual(t, r.Effect.High, r.Effect.Estimate, "%s: interval around the estimate", r.Expr)
				}
			}
			_, err = json.Marshal(j)
			require.NoError(t, err, "a judgement always encodes (no NaN)")
		})
	}
}

// TestJudgementJSON pins the judgement's JSON, which reports and the
// daemon's API carry.
func TestJudgementJSON(t *testing.T) {
	src := rand.NewPCG(41, 42)
	base := version{median: 20 * time.Millisecond, sigma: 0.5, errRate: 0.005}
	baseline := simulate(t, src, 50000, base)
	candidate := simulate(t, src, 50000, version{median: 20 * time.Millisecond, sigma: 0.5, slower: 0.15, errRate: 0.015})
	objs := mustParse(t, "p99 not worse by more than 10%", "p50(api) not worse by more than 5ms",
		"latency not worse by more than 5%", "errors not higher by more than 0.1pp", "success not lower by more than 2pp",
		"p99.99 not worse")
	j, err := Judge(objs, baseline, candidate, Options{})
	require.NoError(t, err)
	again, err := Judge(objs, baseline, candidate, Options{})
	require.NoError(t, err)
	assert.Equal(t, j, again, "the same measurements, the same judgement")

	data, err := json.MarshalIndent(j, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, "testdata/judgement.json", append(data, '\n'))
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  Options
		err  string
	}{
		{"zero is every default", Options{}, ""},
		{"confidence 99 %", Options{Confidence: 0.99}, ""},
		{"confidence 100 %", Options{Confidence: 1}, "confidence 1 is outside 50%..100% (exclusive)"},
		{"confidence as a percentage", Options{Confidence: 95}, "confidence 95 is outside 50%..100% (exclusive)"},
		{"confidence NaN", Options{Confidence: math.NaN()}, "confidence NaN is outside 50%..100% (exclusive)"},
		{"rate effect above 100 pp", Options{MinRateEffect: 2}, "minimum rate effect 2 is above 100 percentage points"},
		{"too few resamples", Options{Resamples: 50}, "resamples 50 is outside 100..100000"},
		{"every problem", Options{Confidence: 2, Resamples: 1 << 30}, "confidence 2 is outside 50%..100% (exclusive)\nresamples 1073741824 is outside 100..100000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opt.Validate()
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.err)
			_, err = Judge(nil, nil, nil, tc.opt)
			require.EqualError(t, err, tc.err, "Judge refuses bad options")
		})
	}
	d := Options{}.withDefaults()
	assert.Equal(t, Options{Confidence: 0.95, MinLatencyEffect: time.Millisecond, MinRateEffect: 0.0001, MinSamples: 100, MinTail: 10, Resamples: 2000}, d)
	none := Options{MinLatencyEffect: -1, MinRateEffect: -1}.withDefaults()
	assert.Zero(t, none.MinLatencyEffect)
	assert.Zero(t, none.MinRateEffect)
}
