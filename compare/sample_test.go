package compare

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

func TestFromHistogramKeepsPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		name string
		draw func() int64
		n    int
	}{
		{"lognormal around 20ms", func() int64 { return int64(math.Exp(math.Log(20000) + 0.5*rng.NormFloat64())) }, 50000},
		{"sub-millisecond", func() int64 { return 50 + rng.Int64N(900) }, 3000},
		{"one value", func() int64 { return 1234 }, 10},
		{"one sample", func() int64 { return 77 }, 1},
		{"heavy tail", func() int64 { return int64(1000 / (rng.Float64() + 1e-4)) }, 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := stats.NewHistogram()
			for range tc.n {
				require.NoError(t, h.RecordValue(tc.draw()))
			}
			s := FromHistogram(h)
			require.NoError(t, s.Validate())
			assert.Equal(t, h.TotalCount(), s.N())
			for _, p := range []float64{0.1, 1, 25, 50, 90, 95, 99, 99.9, 99.99, 100} {
				assert.Equal(t, h.ValueAtQuantile(p), s.Percentile(p), "p%v of %d values", p, tc.n)
			}
		})
	}
	assert.Nil(t, FromHistogram(nil))
	assert.Nil(t, FromHistogram(stats.NewHistogram()))
}

func TestFromValuesAndMedian(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     []int64
		want   Sample
		median float64
	}{
		{"unsorted with ties", []int64{5, 1, 5, 3, 5}, Sample{{1, 1}, {3, 1}, {5, 3}}, 5},
		{"even count", []int64{4, 1, 3, 2}, Sample{{1, 1}, {2, 1}, {3, 1}, {4, 1}}, 2.5},
		{"negative values", []int64{-2, 0, -2}, Sample{{-2, 2}, {0, 1}}, -2},
		{"one", []int64{9}, Sample{{9, 1}}, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := FromValues(tc.in...)
			assert.Equal(t, tc.want, s, "FromValues(%v)", tc.in)
			require.NoError(t, s.Validate())
			assert.Equal(t, tc.median, s.Median(), "median of %v", tc.in)
		})
	}
	assert.True(t, math.IsNaN(Sample(nil).Median()))
	assert.Zero(t, Sample(nil).Percentile(50))
}

func TestSampleValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    Sample
		err  string
	}{
		{"zero count", Sample{{1, 1}, {2, 0}}, "bin 1 (value 2) has count 0"},
		{"negative count", Sample{{1, -1}}, "bin 0 (value 1) has count -1"},
		{"not ascending", Sample{{2, 1}, {2, 1}}, "bin 1: value 2 does not ascend from 2"},
		{"descending", Sample{{3, 1}, {1, 1}}, "bin 1: value 1 does not ascend from 3"},
		{"value too large", Sample{{math.MaxInt64, 1}}, "bin 0: value 9223372036854775807 is out of range"},
		{"count overflow", Sample{{1, math.MaxInt64}, {2, 1}}, "more samples than an int64 counts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.EqualError(t, tc.s.Validate(), tc.err)
		})
	}
	_, err := MannWhitney(Sample{{1, math.MaxInt64 / 2}}, Sample{{1, 4}}, TwoSided)
	assert.ErrorContains(t, err, "too many pairs to count")
	_, err = MannWhitney(nil, Sample{{1, 4}}, TwoSided)
	assert.EqualError(t, err, "a sample is empty")
	_, err = HodgesLehmann(Sample{{3, 1}, {1, 1}}, Sample{{1, 4}}, 0.95)
	assert.EqualError(t, err, "first sample: bin 1: value 1 does not ascend from 3")
	_, err = HodgesLehmann(Sample{{1, 1}}, Sample{{1, 4}}, 1)
	assert.EqualError(t, err, "confidence 1 is not between 0 and 1")
}

// randomSample draws n values in 0..spread-1, with ties when n > spread.
func randomSample(rng *rand.Rand, n int, offset, spread int64) []int64 {
	vs := make([]int64, n)
	for i := range vs {
		vs[i] = offset + rng.Int64N(spread)
	}
	return vs
}

// TestRankSumMatchesPairs checks U against its definition, pair by pair, on
// raw values: binning must not change it.
func TestRankSumMatchesPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		xs := randomSample(rng, 1+rng.IntN(40), rng.Int64N(5), 1+rng.Int64N(30))
		ys := randomSample(rng, 1+rng.IntN(40), 0, 1+rng.Int64N(30))
		var want float64
		for _, x := range xs {
			for _, y := range ys {
				switch {
				case x > y:
					want++
				case x == y:
					want += 0.5
				}
			}
		}
		got, _, _ := rankSum(FromValues(xs...), FromValues(ys...), 0)
		require.Equal(t, want, got, "case %d: U of %v against %v", i, xs, ys)
	}
}

// TestExactDistribution checks U's exact tail against enumerating every
// arrangement of small samples.
func TestExactDistribution(t *testing.T) {
	for m := 1; m <= 5; m++ {
		for n := m; n <= 6; n++ {
			// Every choice of which m of the m+n ranks belong to x.
			counts := make([]float64, m*n+1)
			var total float64
			for mask := 0; mask < 1<<(m+n); mask++ {
				if popcount(mask) != m {
					continue
				}
				u, below := 0, 0 // y values below each x
				for r := range m + n {
					if mask&(1<<r) != 0 {
						u += below
					} else {
						below++
					}
				}
				counts[u]++
				total++
			}
			var tail float64
			for u := m * n; u >= 0; u-- {
				tail += counts[u]
				assert.InDelta(t, tail/total, exactSF(int64(u), m, n), 1e-15, "P(U >= %d) for %d and %d", u, m, n)
			}
			assert.Equal(t, 0.0, exactSF(int64(m*n+1), m, n))
		}
	}
}

func popcount(v int) int {
	n := 0
	for ; v != 0; v &= v - 1 {
		n++
	}
	return n
}

func TestMannWhitneyEdges(t *testing.T) {
	r, err := MannWhitney(Sample{{7, 30}}, Sample{{7, 20}}, TwoSided)
	require.NoError(t, err)
	assert.Equal(t, MannWhitneyResult{U: 300, P: 1}, r, "everything tied is no evidence")

	r, err = MannWhitney(FromValues(10, 11, 12), FromValues(1, 2, 3), Greater)
	require.NoError(t, err)
	assert.True(t, r.Exact)
	assert.InDelta(t, 1.0/20, r.P, 1e-15, "the most extreme of C(6,3) = 20 arrangements")

	// A stochastically larger first sample: the one-sided p is half the
	// two-sided one; reversed, it is near 1.
	rng := rand.New(rand.NewPCG(5, 6))
	x := FromValues(randomSample(rng, 500, 20, 100)...)
	y := FromValues(randomSample(rng, 400, 0, 100)...)
	two, err := MannWhitney(x, y, TwoSided)
	require.NoError(t, err)
	greater, err := MannWhitney(x, y, Greater)
	require.NoError(t, err)
	less, err := MannWhitney(y, x, Greater)
	require.NoError(t, err)
	assert.Less(t, greater.P, 1e-6)
	assert.InDelta(t, two.P/2, greater.P, 1e-12)
	assert.Greater(t, less.P, 0.999)
}

// TestHodgesLehmannMatchesPairs checks the binned median of differences
// against sorting every difference of raw values.
func TestHodgesLehmannMatchesPairs(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range 300 {
		xs := randomSample(rng, 1+rng.IntN(30), rng.Int64N(50)-25, 1+rng.Int64N(60))
		ys := randomSample(rng, 1+rng.IntN(30), 0, 1+rng.Int64N(60))
		var diffs []float64
		for _, x := range xs {
			for _, y := range ys {
				diffs = append(diffs, float64(x-y))
			}
		}
		slices.Sort(diffs)
		k := len(diffs)
		want := (diffs[(k-1)/2] + diffs[k/2]) / 2
		got, err := HodgesLehmann(FromValues(xs...), FromValues(ys...), 0.95)
		require.NoError(t, err, "case %d", i)
		require.Equal(t, want, got.Estimate, "case %d: HL of %v against %v", i, xs, ys)
		require.LessOrEqual(t, got.Low, got.High, "case %d", i)
		require.GreaterOrEqual(t, got.Low, diffs[0], "case %d: the interval stays within the differences", i)
		require.LessOrEqual(t, got.High, diffs[k-1], "case %d", i)
	}
}

// TestHodgesLehmannCoverage: over many samples from two distributions a
// known shift apart, the 95 % interval holds the shift about 95 % of the
// time.
func TestHodgesLehmannCoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const repeats, shift = 400, 300
	covered := 0
	for range repeats {
		xs := make([]int64, 80)
		ys := make([]int64, 70)
		for i := range xs {
			xs[i] = int64(10000+2000*rng.NormFloat64()) + shift
		}
		for i := range ys {
			ys[i] = int64(10000 + 2000*rng.NormFloat64())
		}
		s, err := HodgesLehmann(FromValues(xs...), FromValues(ys...), 0.95)
		require.NoError(t, err)
		if s.Low <= shift && shift <= s.High {
			covered++
		}
	}
	// 95 % of 400 is 380; a binomial's standard deviation there is 4.4.
	assert.InDelta(t, 0.95*repeats, covered, 15, "intervals holding the true shift")
}

func TestProportionEdges(t *testing.T) {
	for _, tc := range []struct {
		name           string
		xk, xn, yk, yn int64
		err            string
	}{
		{"no trials", 0, 0, 1, 10, "counts 0 of 0 and 1 of 10: want 0 ≤ k ≤ n and n > 0"},
		{"more events than trials", 11, 10, 1, 10, "counts 11 of 10 and 1 of 10: want 0 ≤ k ≤ n and n > 0"},
		{"negative", -1, 10, 1, 10, "counts -1 of 10 and 1 of 10: want 0 ≤ k ≤ n and n > 0"},
		{"overflow", 1, math.MaxInt64, 1, 10, "9223372036854775807 + 10 trials are too many to count"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompareProportions(tc.xk, tc.xn, tc.yk, tc.yn, 0.95, Greater)
			assert.EqualError(t, err, tc.err)
			z, p := ZTest(tc.xk, tc.xn, tc.yk, tc.yn, Greater)
			assert.True(t, math.IsNaN(z) && math.IsNaN(p), "ZTest of bad counts")
		})
	}

	// Few expected events: Fisher's test; many: the z-test.
	var z float64
	r, err := CompareProportions(3, 200, 0, 180, 0.95, Greater)
	require.NoError(t, err)
	assert.Equal(t, TestFisher, r.Test)
	r, err = CompareProportions(150, 10000, 50, 10000, 0.95, Greater)
	require.NoError(t, err)
	assert.Equal(t, TestZ, r.Test)
	assert.InDelta(t, 0.01, r.Difference.Estimate, 1e-15)

	// Few events among millions of trials is still Fisher's, and cheap:
	// the possible tables are one more than the fewest events.
	r, err = CompareProportions(2, 5_000_000, 1, 5_000_000, 0.95, Greater)
	require.NoError(t, err)
	assert.Equal(t, TestFisher, r.Test)
	p, err := FisherExact(2, 5_000_000, 1, 5_000_000, Greater)
	require.NoError(t, err)
	assert.InDelta(t, 0.5, p, 1e-9, "P(X >= 2) for 3 events split evenly: 4/8")
	_, err = FisherExact(100000, 300000, 100003, 300000, Greater)
	assert.EqualError(t, err, "fisher: 200004 possible tables, more than 100000")

	z, p = ZTest(0, 100, 0, 100, Greater)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{z, p}, "no events anywhere is no evidence")
	z, p = ZTest(100, 100, 50, 50, TwoSided)
	assert.Equal(t, [2]float64{0, 1}, [2]float64{z, p}, "every trial an event is no evidence")
}
