package slo

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/canaryproj/canary/stats"
)

// Lost reports whether o can no longer pass over a run planned to have
// planned iterations, whatever the rest of the run brings, and says why:
// its error budget over the whole planned run is spent (for errors<1% over
// 600 planned iterations, more than 6 failed), or a maximum is already
// over its threshold. A mean, a rate, an objective without a budget and
// a run without a plan (planned 0: the closed model) are never lost.
//
// Requests are bounded by planned times the steps o reads: an iteration
// sends each step at most once, so the budget is as large as it can be.
func Lost(o Objective, snap *stats.Snapshot, planned int64) (bool, string) {
	if snap == nil || planned <= 0 {
		return false, ""
	}
	events, unit := planned, "iterations"
	if o.OnRequests() {
		k := int64(len(snap.Steps))
		if steps, ok := selected(o, snap); ok {
			k = int64(len(steps))
		}
		if k == 0 {
			return false, ""
		}
		events, unit = planned*k, "requests"
	}
	switch o.Kind {
	case KindErrors, KindSuccess:
		if o.Kind == KindErrors && o.Op != LT && o.Op != LE || o.Kind == KindSuccess && o.Op != GT && o.Op != GE {
			return false, ""
		}
		bad, _, ok := badEvents(o, snap)
		if !ok || bad == 0 {
			return false, ""
		}
		// The best the run can still end with: no other bad event, and
		// as many events as planned.
		best := float64(bad) / float64(events)
		if o.Kind == KindSuccess {
			best = 1 - best
		}
		if o.Op.holds(best, o.Target) {
			return false, ""
		}
		what := "failed"
		if _, _, ok := o.StatusFilter(); ok {
			what = "answered " + o.filter(FilterStatus)
		}
		return true, fmt.Sprintf("%s: %d %s %s of at most %d planned: even if no other fails, it ends at %s, %s %s",
			describe(o), bad, unit, what, events, o.FormatValue(best), o.Op.Negated(), o.FormatValue(o.Target))
	case KindLatency:
		h := LatencyHistogram(o, snap)
		if h == nil || h.TotalCount() == 0 || o.Op != LT && o.Op != LE {
			return false, ""
		}
		switch o.Stat {
		case Max:
			worst := float64(h.Max()) / 1e6
			if o.Op.holds(worst, o.Target) {
				return false, ""
			}
			return true, fmt.Sprintf("%s %s %s %s: a maximum only grows", describe(o), FormatSeconds(worst), o.Op.Negated(), o.FormatValue(o.Target))
		case Percentile:
			slow := h.TotalCount() - CountAtOrBelow(h, o.Target)
			allowed := o.Budget() * float64(events)
			if float64(slow) <= allowed {
				return false, ""
			}
			return true, fmt.Sprintf("%s: %d %s slower than %s of at most %d planned, more than the %s (%s) it allows",
				describe(o), slow, unit, FormatSeconds(o.Target), events,
				strconv.FormatFloat(round(o.Budget()*100, 4), 'f', -1, 64)+"%", strconv.FormatFloat(math.Floor(allowed), 'f', -1, 64))
		}
	}
	return false, ""
}

// AbortState is what the abort rule of one objective remembers between
// evaluations of a run: since when it has been failing.
type AbortState struct {
	failing      bool
	failingSince time.Duration
}

// CheckAbort applies o's abort rule (o.Abort) after elapsed of a run, on
// the run's measurements so far (in.Snapshot; in.Duration is elapsed) and
// its planned iterations (0: unknown). Once o has Abort.MinSamples samples
// and the run has lasted Abort.Delay, it aborts when o is lost (Lost), or
// when o has failed for Abort.For; a run without a plan, which cannot be
// lost, aborts as soon as o fails, unless For says how long to wait
// (k6's abortOnFail). It returns why.
//
// A latency objective does not abort while in.Generator is saturated: the
// generator's own delay may be what fails it.
func CheckAbort(o Objective, st *AbortState, in Input, planned int64, elapsed time.Duration) (bool, string) {
	a := o.Abort
	if a == nil || in.Snapshot == nil {
		return false, ""
	}
	if saturated, _ := in.Generator.Saturated(); saturated && o.Kind == KindLatency {
		st.failing = false
		return false, ""
	}
	r := Evaluate(o, in)
	if elapsed < a.Delay || r.Samples < max(a.MinSamples, 1) {
		return false, ""
	}
	if lost, why := Lost(o, in.Snapshot, planned); lost {
		return true, why
	}
	if !r.Evaluated || r.Pass {
		st.failing = false
		return false, ""
	}
	if !st.failing {
		st.failing, st.failingSince = true, elapsed
	}
	if planned > 0 && a.For == 0 {
		return false, "" // a plan: only a lost objective aborts, unless For is set
	}
	if failed := elapsed - st.failingSince; failed >= a.For {
		why := fmt.Sprintf("%s %s %s %s, n=%d", describe(o), r.ObservedText(), o.Op.Negated(), o.FormatValue(o.Target), r.Samples)
		if a.For > 0 {
			why += ", failing for " + FormatDuration(failed)
		}
		return true, why
	}
	return false, ""
}
