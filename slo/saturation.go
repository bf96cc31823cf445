package slo

import (
	"fmt"
	"strconv"
	"time"

	"github.com/canaryproj/canary/stats"
)

// The generator-saturation rule. A load generator short of CPU starts
// iterations late; an open model counts their latency from when they were
// due, so that lateness lands in the corrected latencies and lowers the
// achieved rate. It can change nothing else: what the target answered
// (status codes, errors, assertions) and how long it took to answer
// (service latency) are the target's own.
const (
	// MaxLagP99 and MaxBehindPct: past either, the generator is saturated.
	MaxLagP99    = 10 * time.Millisecond
	MaxBehindPct = 1.0
	// MinLagSamples is how many lag samples the lag p99 needs before it
	// can call the generator saturated. The p99 of fewer than a hundred
	// values is their worst one or two, so a light monitor (2/s) would be
	// called saturated by a single scheduling hiccup.
	MinLagSamples = 100
	// MinDue is how many due iterations BehindPct needs, for the same
	// reason: one iteration late of 20 is 5 %.
	MinDue = 100
	// LagShare: a saturated generator voids a latency objective only when
	// its lag p99 is at least this share of the objective's threshold. A
	// lag that small against the threshold cannot account for a corrected
	// latency over it; the difference between corrected and service latency
	// is then the wait for a free slot, which is the target's doing.
	LagShare = 0.1
)

// Generator is what the load generator says about itself over the span
// judged: the facts the saturation rule reads.
type Generator struct {
	LagP99     time.Duration // p99 of generator lag (due → start while a slot was free)
	LagSamples int64         // how many lag samples LagP99 is over
	// BehindPct is the share of due iterations the generator had not
	// started at the end although slots were free, over Due iterations
	// (0 when not known, as in a window of a continuous check).
	BehindPct float64
	Due       int64
}

// GeneratorOf reads the lag facts of a snapshot (BehindPct is not in it).
func GeneratorOf(s *stats.Snapshot) Generator {
	if s == nil || s.Lag == nil || s.Lag.TotalCount() == 0 {
		return Generator{}
	}
	return Generator{
		LagP99:     time.Duration(s.Lag.ValueAtQuantile(99)) * time.Microsecond,
		LagSamples: s.Lag.TotalCount(),
	}
}

// Saturated applies the rule; why says which fact tripped it, with its
// numbers.
func (g Generator) Saturated() (saturated bool, why string) {
	switch {
	case g.LagSamples >= MinLagSamples && g.LagP99 > MaxLagP99:
		return true, fmt.Sprintf("generator lag p99 %s > %s over %d lag samples",
			FormatSeconds(g.LagP99.Seconds()), FormatSeconds(MaxLagP99.Seconds()), g.LagSamples)
	case g.Due >= MinDue && g.BehindPct > MaxBehindPct:
		return true, fmt.Sprintf("the generator fell %s%% behind its schedule (> %s%%) over %d due iterations",
			strconv.FormatFloat(round(g.BehindPct, 1), 'f', -1, 64), strconv.FormatFloat(MaxBehindPct, 'f', -1, 64), g.Due)
	}
	return false, ""
}

// saturate applies a saturated generator to one evaluated result: it may
// only turn a failing corrected latency or rps objective inconclusive, and
// only when the generator's delay could have made it fail. note explains
// the result in either case ("" when the generator changes nothing).
func saturate(r Result, g Generator) (inconclusive bool, note string) {
	o := r.Objective
	if !r.Evaluated || r.Pass {
		// A passing objective passes: lag only ever makes corrected
		// latency worse and the achieved rate lower.
		return false, ""
	}
	lag := FormatSeconds(g.LagP99.Seconds())
	switch {
	case o.Kind == KindRPS:
		return true, fmt.Sprintf("%s: %s %s %s while the generator was saturated, which lowers the achieved rate: inconclusive",
			o.Subject(), r.ObservedText(), o.Op.Negated(), o.FormatValue(o.Target))
	case o.Kind != KindLatency || o.Service || o.Op == GT || o.Op == GE:
		// Service latency is the target's; and lag can only make a
		// lower bound on latency easier to meet.
		return false, ""
	}
	corrected := fmt.Sprintf("%s: corrected %s %s %s", o.Subject(), r.ObservedText(), o.Op.Negated(), o.FormatValue(o.Target))
	large := g.LagP99.Seconds() >= LagShare*o.Target
	switch {
	case r.HasService && !r.ServicePass:
		return false, fmt.Sprintf("%s and service %s %s %s: the target was slow whatever the generator did",
			corrected, o.FormatValue(r.Service), o.Op.Negated(), o.FormatValue(o.Target))
	case !large:
		return false, fmt.Sprintf("%s; generator lag p99 %s is under %s of %s, too small to account for it",
			corrected, lag, strconv.FormatFloat(LagShare*100, 'f', -1, 64)+"%", o.FormatValue(o.Target))
	case r.HasService:
		return true, fmt.Sprintf("%s but service %s %s %s, and generator lag p99 %s: inconclusive",
			corrected, o.FormatValue(r.Service), o.Op.String(), o.FormatValue(o.Target), lag)
	}
	return true, fmt.Sprintf("%s, no service latency of the whole iteration to compare (the scenario has several steps), and generator lag p99 %s: inconclusive",
		corrected, lag)
}

// ServiceCounterpart is the objective on service latency that matches a
// corrected latency objective (same statistic, requests and threshold),
// given the scenario's number of steps: requests' corrected latency has
// their service latency; the whole iteration has one only when it is a
// single step (its one step's requests; otherwise the iteration also holds
// the time between steps). ok is false for every other objective.
func (o Objective) ServiceCounterpart(steps int) (Objective, bool) {
	if o.Kind != KindLatency || o.Service || (!o.OnRequests() && steps != 1) {
		return Objective{}, false
	}
	s := o
	s.Service = true
	s.Iteration = false
	return s, true
}
