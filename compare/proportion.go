package compare

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// The tests CompareProportions may use.
const (
	TestZ      = "z-test"
	TestFisher = "fisher-exact"
)

// maxFisherSupport bounds the tables Fisher's exact test is computed for:
// its cost is one step per possible count of events in the first sample.
const maxFisherSupport = 100000

// Proportions compares the rate of events (failed iterations, say) of a
// first sample, the candidate, with a second, the baseline.
type Proportions struct {
	// Candidate and Baseline are the two rates, k/n.
	Candidate, Baseline float64
	// Difference is Candidate − Baseline with Newcombe's interval.
	Difference Shift
	// Test is TestZ or TestFisher; Z is the pooled z statistic (0 for
	// Fisher's test) and P the p-value for the alternative.
	Test string
	Z, P float64
}

// CompareProportions tests whether xk events in xn trials is a higher
// rate (Greater) or a different one (TwoSided) than yk in yn, and
// estimates the difference with a confidence interval. The test is the
// two-proportion z-test with pooled variance, or Fisher's exact test when
// a cell of the 2×2 table expects fewer than 5 counts, where the normal
// approximation is poor (Cochran's rule).
func CompareProportions(xk, xn, yk, yn int64, confidence float64, alt Alternative) (Proportions, error) {
	if err := checkCounts(xk, xn, yk, yn); err != nil {
		return Proportions{}, err
	}
	if !(confidence > 0 && confidence < 1) {
		return Proportions{}, fmt.Errorf("confidence %v is not between 0 and 1", confidence)
	}
	px, py := float64(xk)/float64(xn), float64(yk)/float64(yn)
	r := Proportions{Candidate: px, Baseline: py, Test: TestZ}
	lo, hi := NewcombeInterval(xk, xn, yk, yn, confidence)
	r.Difference = Shift{Estimate: px - py, Low: lo, High: hi}
	if smallExpected(xk, xn, yk, yn) {
		if p, err := FisherExact(xk, xn, yk, yn, alt); err == nil {
			r.Test, r.P = TestFisher, p
			return r, nil
		}
	}
	r.Z, r.P = ZTest(xk, xn, yk, yn, alt)
	return r, nil
}

func checkCounts(xk, xn, yk, yn int64) error {
	if xn <= 0 || yn <= 0 || xk < 0 || yk < 0 || xk > xn || yk > yn {
		return fmt.Errorf("counts %d of %d and %d of %d: want 0 ≤ k ≤ n and n > 0", xk, xn, yk, yn)
	}
	if xn > math.MaxInt64-yn {
		return fmt.Errorf("%d + %d trials are too many to count", xn, yn)
	}
	return nil
}

// smallExpected reports whether a cell of the 2×2 table expects fewer than
// 5 counts when both samples share one rate. Such a table has a margin
// under 10, so Fisher's test then takes at most 10 steps.
func smallExpected(xk, xn, yk, yn int64) bool {
	n := float64(xn) + float64(yn)
	k := float64(xk) + float64(yk)
	for _, rows := range []float64{float64(xn), float64(yn)} {
		if rows*k/n < 5 || rows*(n-k)/n < 5 {
			return true
		}
	}
	return false
}

// ZTest is the two-proportion z-test with pooled variance: z is
// (p_x − p_y) / sqrt(p(1 − p)(1/n_x + 1/n_y)) with p the pooled rate; its
// square is the chi-square statistic of the 2×2 table without Yates'
// correction. Every trial a success or every one a failure is no evidence:
// z = 0, p = 1.
func ZTest(xk, xn, yk, yn int64, alt Alternative) (z, p float64) {
	if checkCounts(xk, xn, yk, yn) != nil {
		return math.NaN(), math.NaN()
	}
	nx, ny := float64(xn), float64(yn)
	pooled := (float64(xk) + float64(yk)) / (nx + ny)
	se := math.Sqrt(pooled * (1 - pooled) * (1/nx + 1/ny))
	if se == 0 {
		return 0, 1
	}
	z = (float64(xk)/nx - float64(yk)/ny) / se
	if alt == TwoSided {
		return z, min(1, 2*upperTail(math.Abs(z)))
	}
	return z, upperTail(z)
}

// FisherExact is Fisher's exact test of the 2×2 table [[xk, xn−xk],
// [yk, yn−yk]]: the probability, given both margins, of a first row at
// least as extreme — with at least xk events (Greater), or no more likely
// than the one seen (TwoSided; likelihoods within a relative 1e-7 of it
// count as equal, as R does). It refuses tables with more than 100 000
// possible counts, where the z-test serves as well.
func FisherExact(xk, xn, yk, yn int64, alt Alternative) (float64, error) {
	if err := checkCounts(xk, xn, yk, yn); err != nil {
		return 0, err
	}
	n, k := xn+yn, xk+yk
	if k == 0 || k == n {
		return 1, nil
	}
	lo, hi := max(0, xn-(n-k)), min(k, xn)
	if hi-lo >= maxFisherSupport {
		return 0, fmt.Errorf("fisher: %d possible tables, more than %d", hi-lo+1, maxFisherSupport)
	}
	// Hypergeometric likelihoods relative to the mode, by the ratio of
	// neighbours, which keeps full precision where log-factorials of
	// millions would not.
	w := make([]float64, hi-lo+1)
	// The mode in floating point: (xn+1)(k+1) may not fit an int64.
	mode := min(max(int64(float64(xn+1)*float64(k+1)/float64(n+2)), lo), hi)
	w[mode-lo] = 1
	for x := mode + 1; x <= hi; x++ {
		w[x-lo] = w[x-1-lo] * (float64(k-x+1) * float64(xn-x+1)) / (float64(x) * float64(n-k-xn+x))
	}
	for x := mode - 1; x >= lo; x-- {
		w[x-lo] = w[x+1-lo] * (float64(x+1) * float64(n-k-xn+x+1)) / (float64(k-x) * float64(xn-x))
	}
	var total, tail float64
	seen := w[xk-lo]
	for i, v := range w {
		total += v
		switch {
		case alt == Greater && int64(i)+lo >= xk:
			tail += v
		case alt == TwoSided && v <= seen*(1+1e-7):
			tail += v
		}
	}
	return min(1, tail/total), nil
}

// Wilson is the Wilson score interval of the rate k/n (Wilson 1927;
// Newcombe 1998 method 3, SciPy's binomtest(k, n).proportion_ci(method=
// "wilson")): the rates whose score test does not reject k of n.
func Wilson(k, n int64, confidence float64) (lo, hi float64) {
	z := distuv.UnitNormal.Quantile(0.5 + 0.5*confidence)
	fn := float64(n)
	p := float64(k) / fn
	q := 1 - p
	denom := 2 * (fn + z*z)
	center := (2*fn*p + z*z) / denom
	delta := z / denom * math.Sqrt(4*fn*p*q+z*z)
	lo, hi = center-delta, center+delta
	if k == 0 {
		lo = 0
	}
	if k == n {
		hi = 1
	}
	return lo, hi
}

// NewcombeInterval is the confidence interval of the difference of two
// rates, xk/xn − yk/yn, by Newcombe's hybrid score method (Newcombe 1998,
// method 10), built from each rate's Wilson interval: unlike the textbook
// Wald interval it stays sensible at rates near 0, where error rates live,
// and is not empty when neither sample saw an event.
func NewcombeInterval(xk, xn, yk, yn int64, confidence float64) (lo, hi float64) {
	px, py := float64(xk)/float64(xn), float64(yk)/float64(yn)
	lx, ux := Wilson(xk, xn, confidence)
	ly, uy := Wilson(yk, yn, confidence)
	d := px - py
	return d - math.Hypot(px-lx, uy-py), d + math.Hypot(ux-px, py-ly)
}
