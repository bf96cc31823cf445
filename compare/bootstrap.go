package compare

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// Bootstrap bounds.
const (
	// DefaultResamples is how many times the bootstrap resamples each side.
	DefaultResamples = 2000
	// MaxResamples bounds the work one interval may ask for.
	MaxResamples = 100000
)

// PercentileShift is how a percentile moved from the second sample (the
// baseline) to the first (the candidate).
type PercentileShift struct {
	// Candidate and Baseline are the percentile of each sample.
	Candidate, Baseline int64
	// Absolute is Candidate − Baseline, Relative is Candidate / Baseline − 1,
	// each with its bootstrap interval. Relative is NaN when the baseline has
	// values at or below zero (histograms of latency never do).
	Absolute, Relative Shift
}

// BootstrapPercentile estimates the shift of percentile p (0 < p < 100)
// from y to x with percentile-bootstrap intervals: both samples are
// resampled with replacement, `resamples` times, and the interval holds the
// middle `confidence` of the resampled shifts.
//
// Resampling n values from a histogram is a multinomial draw over its bins,
// but only one order statistic of it is needed: the k-th smallest of n
// values drawn from the sample is the sample's quantile at the k-th smallest
// of n uniform numbers, which follows Beta(k, n − k + 1). So each resample
// is two Beta draws and two binary searches over the bins, whatever n is,
// and its distribution is exactly the multinomial resample's. The same seed
// gives the same interval.
func BootstrapPercentile(x, y Sample, p, confidence float64, resamples int, seed uint64) (PercentileShift, error) {
	if err := checkPair(x, y); err != nil {
		return PercentileShift{}, err
	}
	switch {
	case !(p > 0 && p < 100):
		return PercentileShift{}, fmt.Errorf("percentile %v is not between 0 and 100", p)
	case !(confidence > 0 && confidence < 1):
		return PercentileShift{}, fmt.Errorf("confidence %v is not between 0 and 1", confidence)
	case resamples < 10 || resamples > MaxResamples:
		return PercentileShift{}, fmt.Errorf("resamples %d is outside 10..%d", resamples, MaxResamples)
	}
	src := rand.NewPCG(seed, 0x5eed_c0ff_ee00_0001)
	rx, ry := newResampler(x, p, src), newResampler(y, p, src)
	positive := y[0].Value > 0
	abs := make([]float64, resamples)
	rel := make([]float64, resamples)
	for i := range resamples {
		a, b := float64(rx.draw()), float64(ry.draw())
		abs[i] = a - b
		if positive {
			rel[i] = a/b - 1
		}
	}
	cx, cy := x.Percentile(p), y.Percentile(p)
	out := PercentileShift{Candidate: cx, Baseline: cy}
	alpha := 1 - confidence
	out.Absolute = Shift{Estimate: float64(cx - cy)}
	out.Absolute.Low, out.Absolute.High = quantiles(abs, alpha/2, 1-alpha/2)
	out.Relative = Shift{Estimate: math.NaN(), Low: math.NaN(), High: math.NaN()}
	if positive {
		out.Relative.Estimate = float64(cx)/float64(cy) - 1
		out.Relative.Low, out.Relative.High = quantiles(rel, alpha/2, 1-alpha/2)
	}
	return out, nil
}

// resampler draws a sample's percentile from resamples of it.
type resampler struct {
	s    Sample
	cum  []float64 // cumulative counts
	n    float64
	beta distuv.Beta
}

func newResampler(s Sample, p float64, src rand.Source) *resampler {
	n := s.N()
	k := percentileRank(p, n)
	r := &resampler{s: s, cum: make([]float64, len(s)), n: float64(n),
		beta: distuv.Beta{Alpha: float64(k), Beta: float64(n - k + 1), Src: src}}
	var c int64
	for i, b := range s {
		c += b.Count
		r.cum[i] = float64(c)
	}
	return r
}

// draw is the percentile of one resample: the sample's quantile at a
// Beta-distributed uniform order statistic.
func (r *resampler) draw() int64 {
	target := r.beta.Rand() * r.n
	i := sort.SearchFloat64s(r.cum, target)
	if i == len(r.s) {
		i--
	}
	return r.s[i].Value
}

// quantiles returns the lo and hi quantiles (0..1) of vs, interpolating
// linearly between order statistics (NumPy's default); vs is sorted in
// place.
func quantiles(vs []float64, lo, hi float64) (float64, float64) {
	slices.Sort(vs)
	at := func(q float64) float64 {
		pos := q * float64(len(vs)-1)
		i := int(math.Floor(pos))
		if i >= len(vs)-1 {
			return vs[len(vs)-1]
		}
		return vs[i] + (pos-float64(i))*(vs[i+1]-vs[i])
	}
	return at(lo), at(hi)
}
