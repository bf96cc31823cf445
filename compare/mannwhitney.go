package compare

import (
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Alternative is what a test looks for.
type Alternative int

// The alternatives. The first sample is the candidate, the second the
// baseline, so Greater is "the candidate is worse" for latency and error
// rates.
const (
	// TwoSided: the samples differ, one way or the other.
	TwoSided Alternative = iota
	// Greater: the first sample tends to be larger.
	Greater
)

// MannWhitneyResult is a Mann-Whitney U test's outcome.
type MannWhitneyResult struct {
	// U is the first sample's statistic: the pairs (one value from each
	// sample) in which its value is the larger, ties counting a half.
	// U / (n1·n2) is the probability that a random request of the first
	// sample is slower than one of the second.
	U float64
	// Z is the standardized statistic (tie and continuity corrected) the
	// normal approximation uses; 0 when Exact.
	Z float64
	// P is the p-value for the alternative.
	P float64
	// Exact is true when P comes from U's exact distribution (small samples
	// without ties) rather than the normal approximation.
	Exact bool
}

// Exact p-values are computed, as SciPy's mannwhitneyu(method="auto")
// does, when a sample has at most exactMaxSmall values and nothing is
// tied; the other sample is bounded too, so that the work (about
// small²·large²/4 additions) stays under a few million.
const (
	exactMaxSmall = 8
	exactMaxLarge = 400
)

// MannWhitney tests whether x tends to be larger than y (or differs from it)
// by the Mann-Whitney U test (Wilcoxon rank-sum test). It follows SciPy's
// mannwhitneyu with use_continuity=True and method="auto": the normal
// approximation with the tie correction and a continuity correction of a
// half, or the exact distribution of U for small samples without ties. The
// bins are the tie groups, so the cost is linear in the number of bins,
// whatever the number of samples.
func MannWhitney(x, y Sample, alt Alternative) (MannWhitneyResult, error) {
	return mannWhitney(x, y, alt, true)
}

// mannWhitney is MannWhitney, with the exact distribution only if exact
// allows it.
func mannWhitney(x, y Sample, alt Alternative, exact bool) (MannWhitneyResult, error) {
	if err := checkPair(x, y); err != nil {
		return MannWhitneyResult{}, err
	}
	n1, n2 := x.N(), y.N()
	u1, tieTerm, tied := rankSum(x, y, 0)
	u := u1
	factor := 1.0
	if alt == TwoSided {
		u = max(u1, float64(n1)*float64(n2)-u1)
		factor = 2
	}
	r := MannWhitneyResult{U: u1}
	small, large := min(n1, n2), max(n1, n2)
	if exact && !tied && small <= exactMaxSmall && large <= exactMaxLarge {
		r.Exact = true
		r.P = min(1, factor*exactSF(int64(u), int(small), int(large)))
		return r, nil
	}
	mu := float64(n1) * float64(n2) / 2
	s := nullSD(n1, n2, tieTerm)
	if s == 0 || math.IsNaN(s) {
		// Every value is the same: U is its mean and nothing is evidence.
		r.P = 1
		return r, nil
	}
	r.Z = (u - mu - 0.5) / s
	r.P = min(1, factor*upperTail(r.Z))
	return r, nil
}

// nullSD is U's standard deviation under the null hypothesis, corrected
// for ties.
func nullSD(n1, n2 int64, tieTerm float64) float64 {
	m1, m2 := float64(n1), float64(n2)
	n := m1 + m2
	return math.Sqrt(m1 * m2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
}

// upperTail is P(Z > z) for a standard normal Z, accurate far into the
// tail (1 − CDF(z) would round to 0 beyond z ≈ 8).
func upperTail(z float64) float64 { return distuv.UnitNormal.CDF(-z) }

// rankSum walks x and y in order once and returns U of x − h/2 against y,
// the tie term Σ(t³ − t) over the tie groups of the pooled sample, and
// whether any value is tied. Comparing 2x − h with 2y keeps half-integer
// shifts (HodgesLehmann's) in integers; h = 0 is the plain test.
func rankSum(x, y Sample, h int64) (u1, tieTerm float64, tied bool) {
	// 2U is an integer below 2·n1·n2, which checkPair keeps within uint64.
	var twoU uint64
	var yBelow int64
	group := func(t int64) {
		if t > 1 {
			tied = true
			f := float64(t)
			tieTerm += f*f*f - f
		}
	}
	i, j := 0, 0
	for i < len(x) || j < len(y) {
		var kx, ky int64
		if i < len(x) {
			kx = 2*x[i].Value - h
		}
		if j < len(y) {
			ky = 2 * y[j].Value
		}
		switch {
		case j == len(y) || (i < len(x) && kx < ky):
			twoU += uint64(x[i].Count) * (2 * uint64(yBelow))
			group(x[i].Count)
			i++
		case i == len(x) || ky < kx:
			group(y[j].Count)
			yBelow += y[j].Count
			j++
		default: // the same value in both: a tie group across the samples
			twoU += uint64(x[i].Count) * (2*uint64(yBelow) + uint64(y[j].Count))
			group(x[i].Count + y[j].Count)
			yBelow += y[j].Count
			i++
			j++
		}
	}
	return float64(twoU) / 2, tieTerm, tied
}

// exactSF is P(U ≥ u) under the null hypothesis for samples of m and n
// values without ties (m ≤ n), from the number of arrangements giving each
// U: f(i, j, k) = f(i−1, j, k−j) + f(i, j−1, k) (Mann and Whitney 1947),
// counted in float64, exactly while C(m+n, m) < 2^53.
func exactSF(u int64, m, n int) float64 {
	if u <= 0 {
		return 1
	}
	if u > int64(m*n) {
		return 0
	}
	// rows[i] holds f(i, j, ·) for the current j.
	rows := make([][]float64, m+1)
	for i := range rows {
		rows[i] = []float64{1}
	}
	for j := 1; j <= n; j++ {
		for i := 1; i <= m; i++ {
			old, prev := rows[i], rows[i-1] // f(i, j−1, ·) and f(i−1, j, ·)
			cur := make([]float64, i*j+1)
			copy(cur, old)
			for k := j; k < len(cur); k++ {
				if k-j < len(prev) {
					cur[k] += prev[k-j]
				}
			}
			rows[i] = cur
		}
	}
	var total, tail float64
	for k, c := range rows[m] {
		total += c
		if int64(k) >= u {
			tail += c
		}
	}
	return tail / total
}
