package compare

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// TestResampledPercentileIsTheMultinomials: the Beta shortcut draws a
// resample's percentile with the same distribution as resampling every value
// (a multinomial draw over the bins) and taking its percentile, and both
// match the exact law P(k-th smallest ≤ v) = P(Binomial(n, F(v)) ≥ k).
func TestResampledPercentileIsTheMultinomials(t *testing.T) {
	s := Sample{{10, 3}, {20, 5}, {30, 2}, {40, 1}, {50, 4}}
	raw := []int64{}
	for _, b := range s {
		for range b.Count {
			raw = append(raw, b.Value)
		}
	}
	n := s.N()
	const draws = 40000
	for _, p := range []float64{50, 90, 99} {
		k := percentileRank(p, n)
		shortcut := map[int64]float64{}
		r := newResampler(s, p, rand.NewPCG(11, uint64(p)))
		for range draws {
			shortcut[r.draw()]++
		}
		explicit := map[int64]float64{}
		rng := rand.New(rand.NewPCG(12, uint64(p)))
		resample := make([]int64, n)
		for range draws {
			for i := range resample {
				resample[i] = raw[rng.IntN(len(raw))]
			}
			explicit[FromValues(resample...).Percentile(p)]++
		}
		var cum, cs, ce float64
		for _, b := range s {
			cum += float64(b.Count)
			cs += shortcut[b.Value] / draws
			ce += explicit[b.Value] / draws
			exact := distuv.Binomial{N: float64(n), P: cum / float64(n)}.Survival(float64(k) - 0.5)
			// A proportion of 40000 draws has a standard deviation of at
			// most 0.0025.
			assert.InDelta(t, exact, cs, 0.01, "p%v: P(resampled percentile <= %d), Beta shortcut", p, b.Value)
			assert.InDelta(t, exact, ce, 0.01, "p%v: P(resampled percentile <= %d), multinomial resample", p, b.Value)
		}
	}
}

func TestBootstrapPercentileIsSeeded(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	x := FromValues(randomSample(rng, 3000, 1000, 5000)...)
	y := FromValues(randomSample(rng, 3000, 1000, 4800)...)
	a, err := BootstrapPercentile(x, y, 99, 0.95, 2000, 42)
	require.NoError(t, err)
	b, err := BootstrapPercentile(x, y, 99, 0.95, 2000, 42)
	require.NoError(t, err)
	assert.Equal(t, a, b, "the same seed, the same intervals")
	c, err := BootstrapPercentile(x, y, 99, 0.95, 2000, 43)
	require.NoError(t, err)
	assert.NotEqual(t, a.Absolute, c.Absolute, "another seed, other intervals")

	assert.Equal(t, x.Percentile(99), a.Candidate)
	assert.Equal(t, y.Percentile(99), a.Baseline)
	assert.Equal(t, float64(a.Candidate-a.Baseline), a.Absolute.Estimate)
	assert.InDelta(t, float64(a.Candidate)/float64(a.Baseline)-1, a.Relative.Estimate, 1e-15)
	for _, sh := range []Shift{a.Absolute, a.Relative} {
		assert.LessOrEqual(t, sh.Low, sh.High)
	}
}

// TestBootstrapPercentileCoverage: over repeated samples of two
// distributions whose p90 differ by exactly 10 %, the 95 % interval of the
// relative shift holds 10 % about 95 % of the time.
func TestBootstrapPercentileCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	draw := func(n int, scale float64) Sample {
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = int64(scale * 100000 * math.Exp(0.5*rng.NormFloat64()))
		}
		return FromValues(vs...)
	}
	const repeats = 200
	covered := 0
	for i := range repeats {
		ps, err := BootstrapPercentile(draw(2000, 1.1), draw(2000, 1), 90, 0.95, 1000, uint64(i))
		require.NoError(t, err)
		if ps.Relative.Low <= 0.1 && 0.1 <= ps.Relative.High {
			covered++
		}
	}
	t.Logf("the 95%% interval held the true shift in %d of %d repeats", covered, repeats)
	// Binomial(200, 0.95) lies in 181..198 with probability above 99.9 %.
	assert.GreaterOrEqual(t, covered, 181)
	assert.LessOrEqual(t, covered, 198)
}

func TestBootstrapPercentileErrors(t *testing.T) {
	x, y := FromValues(1, 2, 3), FromValues(2, 3, 4)
	for _, tc := range []struct {
		name      string
		p, conf   float64
		resamples int
		x, y      Sample
		want      string
	}{
		{name: "percentile 0", p: 0, conf: 0.95, resamples: 100, x: x, y: y, want: "percentile 0 is not between 0 and 100"},
		{name: "percentile 100", p: 100, conf: 0.95, resamples: 100, x: x, y: y, want: "percentile 100 is not between 0 and 100"},
		{name: "confidence NaN", p: 50, conf: math.NaN(), resamples: 100, x: x, y: y, want: "confidence NaN is not between 0 and 1"},
		{name: "too few resamples", p: 50, conf: 0.95, resamples: 9, x: x, y: y, want: "resamples 9 is outside 10..100000"},
		{name: "too many resamples", p: 50, conf: 0.95, resamples: MaxResamples + 1, x: x, y: y, want: "resamples 100001 is outside 10..100000"},
		{name: "empty", p: 50, conf: 0.95, resamples: 100, x: x, y: nil, want: "a sample is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := BootstrapPercentile(tc.x, tc.y, tc.p, tc.conf, tc.resamples, 1)
			assert.EqualError(t, err, tc.want)
		})
	}
	ps, err := BootstrapPercentile(FromValues(1, 2, 3), FromValues(-1, 0, 1), 50, 0.95, 100, 1)
	require.NoError(t, err)
	assert.True(t, math.IsNaN(ps.Relative.Estimate), "no relative shift from a baseline at or below zero")
	assert.Equal(t, 2.0, ps.Absolute.Estimate)
}
