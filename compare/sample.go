// Package compare judges a candidate version against a baseline from the
// measurements of a run that drove both with the same schedule: rank tests,
// shift estimates and their intervals for latency, a two-proportion test for
// error rates, and relative objectives ("p99 not worse by more than 10%")
// with a verdict each and overall. docs/compare.md says in plain words what
// each statistic answers.
//
// It is pure: no clocks, no I/O, and the bootstrap draws from a seed, so the
// same measurements always get the same judgement. Latency arrives binned
// (HdrHistograms); every statistic works on the bins, so a million requests
// cost as much as the few thousand bins they fill.
package compare

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Bin is Count samples of the same Value: a bucket of a histogram, or a
// group of tied values. Values are integers (microseconds, as in stats'
// histograms), which keeps every comparison between the two samples exact.
type Bin struct {
	Value, Count int64
}

// Sample is a binned sample: values strictly ascending, every count
// positive. Build one with FromHistogram or FromValues.
type Sample []Bin

// FromHistogram bins h, one Bin per non-empty bucket, valued at the bucket's
// highest equivalent value, which is what HdrHistogram reports as a
// percentile: the sample's percentiles are the histogram's. Two histograms of
// the same geometry (stats.NewHistogram) share bucket boundaries, so equal
// buckets are exact ties.
func FromHistogram(h *hdrhistogram.Histogram) Sample {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	var s Sample
	for _, b := range h.Distribution() {
		if b.Count > 0 {
			s = append(s, Bin{Value: b.To, Count: b.Count})
		}
	}
	return s
}

// FromValues bins raw values; the order does not matter.
func FromValues(vs ...int64) Sample {
	sorted := slices.Clone(vs)
	slices.Sort(sorted)
	var s Sample
	for _, v := range sorted {
		if n := len(s); n > 0 && s[n-1].Value == v {
			s[n-1].Count++
			continue
		}
		s = append(s, Bin{Value: v, Count: 1})
	}
	return s
}

// N is the number of samples.
func (s Sample) N() int64 {
	var n int64
	for _, b := range s {
		n += b.Count
	}
	return n
}

// maxValue bounds sample values so that differences, doubled, cannot
// overflow (stats' histograms stop at an hour, 3.6e9 µs).
const maxValue = 1 << 60

// Validate reports a sample that is not sorted, has a non-positive count,
// a value out of range, or more samples than an int64 counts.
func (s Sample) Validate() error {
	var n int64
	for i, b := range s {
		switch {
		case b.Count <= 0:
			return fmt.Errorf("bin %d (value %d) has count %d", i, b.Value, b.Count)
		case b.Value < -maxValue || b.Value > maxValue:
			return fmt.Errorf("bin %d: value %d is out of range", i, b.Value)
		case i > 0 && b.Value <= s[i-1].Value:
			return fmt.Errorf("bin %d: value %d does not ascend from %d", i, b.Value, s[i-1].Value)
		}
		if b.Count > math.MaxInt64-n {
			return errors.New("more samples than an int64 counts")
		}
		n += b.Count
	}
	return nil
}

// Percentile is the value at percentile p (0 < p <= 100) by HdrHistogram's
// rule (the value at rank round(p/100 · n), at least the first), so that it
// equals what a histogram of the same values reports. 0 for an empty sample.
func (s Sample) Percentile(p float64) int64 {
	n := s.N()
	if n == 0 {
		return 0
	}
	return s.valueAtRank(percentileRank(p, n))
}

// percentileRank is HdrHistogram's rank of percentile p among n samples.
func percentileRank(p float64, n int64) int64 {
	rank := p/100*float64(n) + 0.5
	switch {
	case !(rank >= 1):
		return 1
	case rank >= float64(n):
		return n
	}
	return int64(rank)
}

// valueAtRank is the value of the rank-th smallest sample (1-based).
func (s Sample) valueAtRank(rank int64) int64 {
	var cum int64
	for _, b := range s {
		cum += b.Count
		if cum >= rank {
			return b.Value
		}
	}
	return s[len(s)-1].Value
}

// Median is the middle value, or the mean of the two middle values.
func (s Sample) Median() float64 {
	n := s.N()
	if n == 0 {
		return math.NaN()
	}
	lo, hi := s.valueAtRank((n+1)/2), s.valueAtRank(n/2+1)
	return (float64(lo) + float64(hi)) / 2
}

// pairs is n1·n2, or an error when it does not fit an int64 (more than
// about three billion samples a side).
func pairs(n1, n2 int64) (int64, error) {
	hi, lo := bits.Mul64(uint64(n1), uint64(n2))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, fmt.Errorf("%d × %d samples are too many pairs to count", n1, n2)
	}
	return int64(lo), nil
}

// checkPair validates two samples for a two-sample statistic.
func checkPair(x, y Sample) error {
	if err := x.Validate(); err != nil {
		return fmt.Errorf("first sample: %w", err)
	}
	if err := y.Validate(); err != nil {
		return fmt.Errorf("second sample: %w", err)
	}
	if len(x) == 0 || len(y) == 0 {
		return errors.New("a sample is empty")
	}
	_, err := pairs(x.N(), y.N())
	return err
}
