package report

import (
	"math"
	"strconv"
	"strings"
)

// tick is a position on an axis (in the axis's data unit) and its label.
type tick struct {
	v     float64
	label string
}

// linearTicks divides 0..max into about n steps of 1, 2 or 5 × 10^k and
// returns the ticks from 0 to the first one at or above max, which is the
// axis's top. A max that is not a positive finite number is taken as 1.
func linearTicks(maxV float64, n int) ([]tick, float64) {
	if !(maxV > 0) || math.IsInf(maxV, 0) {
		maxV = 1
	}
	raw := maxV / float64(max(n, 1))
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	count := int(math.Ceil(maxV/step - 1e-9)) // at most n+1 by the choice of step
	decimals := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	ticks := make([]tick, 0, count+1)
	for i := 0; i <= count; i++ {
		v := float64(i) * step
		ticks = append(ticks, tick{v, formatNumber(v, decimals)})
	}
	return ticks, float64(count) * step
}

// formatNumber prints a tick value with the decimals its step needs, and
// large ones with a k or M suffix (12k, 1.5M).
func formatNumber(v float64, decimals int) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	p := math.Pow(10, float64(decimals))
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', -1, 64)
}

// timeSteps are the spacings of time ticks, in seconds: the ones a person
// counts in.
var timeSteps = []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400}

// timeTicks returns ticks over 0..maxS seconds, at most n+1 of them, at
// the finest spacing of timeSteps that allows it ("0s 30s 1m 1m30s").
func timeTicks(maxS float64, n int) []tick {
	if !(maxS > 0) || math.IsInf(maxS, 0) {
		maxS = 1
	}
	step := 0.0
	for _, s := range timeSteps {
		if maxS/s <= float64(n) {
			step = s
			break
		}
	}
	if step == 0 { // longer than n weeks: whole weeks
		week := timeSteps[len(timeSteps)-1]
		step = math.Ceil(maxS/float64(n)/week) * week
	}
	count := int(math.Floor(maxS/step + 1e-9))
	ticks := make([]tick, 0, count+1)
	for i := 0; i <= count; i++ {
		v := float64(i) * step
		ticks = append(ticks, tick{v, formatSeconds(v)})
	}
	return ticks
}

// formatSeconds prints a time since the start as people write it: 0s,
// 0.5s, 45s, 1m30s, 2h, 1d6h.
func formatSeconds(s float64) string {
	if s < 1 && s > 0 {
		return strconv.FormatFloat(math.Round(s*1000)/1000, 'f', -1, 64) + "s"
	}
	total := int64(math.Round(s))
	if total == 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		n    int64
		name string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}} {
		if q := total / u.n; q > 0 {
			b.WriteString(strconv.FormatInt(q, 10))
			b.WriteString(u.name)
			total -= q * u.n
		}
	}
	return b.String()
}

// The percentile axis of a latency spectrum is HdrHistogram's: x is
// log10(1/(1−p)), so 90 % is at 1, 99 % at 2, 99.9 % at 3 — each further
// nine gets as much room as the first.

// percentileX is the position of percentile p (0..100) on that axis.
func percentileX(p float64) float64 {
	if p >= 100 {
		return math.Inf(1)
	}
	return -math.Log10(1 - p/100)
}

// percentileTicks returns the ticks of a percentile axis 0..decades: 0 %,
// 50 %, then one per nine (every other nine past six of them).
func percentileTicks(decades int) []tick {
	ticks := []tick{{0, "0%"}, {percentileX(50), "50%"}}
	every := 1
	if decades > 6 {
		every = 2
	}
	for d := 1; d <= decades; d++ {
		if d%every == 0 || d == 1 {
			ticks = append(ticks, tick{float64(d), ninesLabel(d)})
		}
	}
	return ticks
}

// ninesLabel is the percentile with d nines: 90%, 99%, 99.9%, 99.99%.
func ninesLabel(d int) string {
	if d == 1 {
		return "90%"
	}
	s := "99"
	if d > 2 {
		s += "." + strings.Repeat("9", d-2)
	}
	return s + "%"
}
