package slo

import (
	"fmt"
	"math"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/canaryproj/canary/stats"
)

// Verdict is the answer to "is this version good?".
type Verdict string

// The verdicts.
const (
	Pass         Verdict = "pass"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive"
)

// Gauge is the verdict as canary_verdict's value: 1 pass, 0 fail, -1 inconclusive.
func (v Verdict) Gauge() float64 {
	switch v {
	case Pass:
		return 1
	case Fail:
		return 0
	}
	return -1
}

// Result is one objective evaluated over a window.
type Result struct {
	Objective Objective
	// Observed is in the objective's unit (ratio, seconds, iterations/s);
	// NaN when there was no data.
	Observed float64
	Samples  int64
	Pass     bool
	// Evaluated is false when there was nothing to judge (no samples).
	Evaluated bool
	// A corrected latency objective's counterpart on service latency (same
	// statistic, step and threshold; see Objective.ServiceCounterpart), for
	// the saturation rule: HasService is false when there is none or it has
	// no data.
	HasService  bool
	Service     float64
	ServicePass bool
	// Inconclusive is set by Conclude when a saturated generator could
	// account for the objective failing; Note says why, with numbers (also
	// when the generator could not change the answer).
	Inconclusive bool
	Note         string
}

// ObservedText prints the observed value in the objective's unit, "n/a"
// without data.
func (r Result) ObservedText() string {
	if !r.Evaluated {
		return "n/a"
	}
	return r.Objective.FormatValue(r.Observed)
}

// Input is what a verdict is judged on.
type Input struct {
	Snapshot *stats.Snapshot
	// Duration is the span the snapshot covers (for rps).
	Duration time.Duration
	// Window labels the span in reasons ("5m", "the run").
	Window string
	// MinSamples: fewer iterations than this is inconclusive.
	MinSamples int64
	// Generator is what the load generator says about itself over the
	// span, for the saturation rule.
	Generator Generator
	// Aborted runs are inconclusive.
	Aborted bool
	// Certificates are what tls_expiry objectives judge; nil: none known.
	Certificates *Certificates
	// Lost says why objectives with abort_on_fail stopped the run: it
	// fails, whatever else is unknown (see Facts.Lost).
	Lost []string
}

// Judgement is a verdict with its evidence.
type Judgement struct {
	Verdict Verdict
	Results []Result
	Reasons []string
	Samples int64
}

// Judge evaluates objectives over in and applies the verdict rules (see
// Conclude). With no objectives the verdict is fail when any iteration
// failed: a smoke test is strict by default.
func Judge(objs []Objective, in Input) Judgement {
	var results []Result
	for _, o := range objs {
		results = append(results, Evaluate(o, in))
	}
	f := Facts{Window: in.Window, MinSamples: in.MinSamples, Generator: in.Generator, Aborted: in.Aborted, Lost: in.Lost}
	if f.Window == "" {
		f.Window = FormatDuration(in.Duration)
	}
	if snap := in.Snapshot; snap != nil {
		f.Samples = snap.Iterations.Total()
		if len(objs) == 0 {
			if bad := snap.Iterations.Failure + snap.Iterations.Dropped; bad > 0 {
				f.Failures = append(f.Failures, fmt.Sprintf("%d of %d iterations failed (no SLOs given: any failure fails)", bad, f.Samples))
			}
		}
	}
	return Conclude(results, f)
}

// Facts are what a verdict rests on besides the objectives' results.
type Facts struct {
	Samples    int64  // iterations in the window
	Window     string // "5m", "the run"
	MinSamples int64
	Generator  Generator
	Aborted    bool
	Failures   []string // failures found besides the objectives
	// Lost are objectives a run was stopped for because they could no
	// longer pass (abort_on_fail), each with why: the verdict is fail even
	// where it would otherwise be inconclusive (an objective without data
	// yet, too few samples), for what is lost stays lost.
	Lost []string
}

// Conclude applies the verdict rules to evaluated objectives: fail when an
// objective was lost for good (Facts.Lost); inconclusive when the run was
// aborted, there are fewer than MinSamples iterations, an
// objective has no data, or a saturated generator could account for an
// objective failing (see saturate: only corrected latency and rps, never
// what the target answered); otherwise fail when any objective (or another
// failure) failed; else pass. `canary run`, the daemon's verdicts and
// `canary gate --prometheus` all conclude here.
func Conclude(results []Result, f Facts) Judgement {
	results = append([]Result(nil), results...)
	j := Judgement{Samples: f.Samples, Results: results}
	saturated, why := f.Generator.Saturated()
	failed := len(f.Failures) > 0
	var voided []string
	for i := range results {
		r := &results[i]
		if saturated {
			r.Inconclusive, r.Note = saturate(*r, f.Generator)
		}
		o := r.Objective
		switch {
		case !r.Evaluated:
			j.Reasons = append(j.Reasons, fmt.Sprintf("%s: no data over %s", o.Subject(), f.Window))
		case r.Inconclusive:
			voided = append(voided, r.Note)
		case !r.Pass:
			failed = true
			reason := fmt.Sprintf("%s %s %s %s over %s, n=%d",
				describe(o), reasonValue(o, r.Observed), o.Op.Negated(), o.FormatValue(o.Target), f.Window, r.Samples)
			if r.Note != "" {
				reason += " (" + r.Note + ")"
			}
			j.Reasons = append(j.Reasons, reason)
		}
	}
	j.Reasons = append(j.Reasons, f.Failures...)
	var inconclusive []string
	if f.Aborted {
		inconclusive = append(inconclusive, "the run was aborted before its end")
	}
	if f.Samples < f.MinSamples || f.Samples == 0 {
		inconclusive = append(inconclusive, fmt.Sprintf("%d iterations over %s, fewer than min_samples %d", f.Samples, f.Window, max(f.MinSamples, 1)))
	}
	for _, r := range results {
		if !r.Evaluated {
			inconclusive = append(inconclusive, fmt.Sprintf("%s has no data", r.Objective.Subject()))
			break
		}
	}
	var sat string
	if saturated {
		sat = "generator saturated: " + why + "; it could change none of the objectives' answers"
		if len(voided) > 0 {
			sat = fmt.Sprintf("generator saturated: %s; it could account for %d objective(s) failing", why, len(voided))
		}
	}
	// A failure the generator cannot account for beats one it can: a busy
	// generator must never turn an outage into "inconclusive".
	switch {
	case len(f.Lost) > 0:
		j.Verdict = Fail
		j.Reasons = append(append(append(append([]string{}, f.Lost...), j.Reasons...), inconclusive...), voided...)
	case len(inconclusive) > 0:
		j.Verdict = Inconclusive
		j.Reasons = append(append(inconclusive, voided...), j.Reasons...)
	case failed:
		j.Verdict = Fail
		j.Reasons = append(j.Reasons, voided...)
	case len(voided) > 0:
		j.Verdict = Inconclusive
		j.Reasons = append(append([]string{sat}, voided...), j.Reasons...)
		sat = ""
	default:
		j.Verdict = Pass
	}
	if sat != "" {
		j.Reasons = append(j.Reasons, sat)
	}
	return j
}

// describe names an objective's subject for humans: "p99 of login",
// "success", "p99 (service) of every request", "errors of login".
func describe(o Objective) string {
	s := o.Kind.String()
	if o.Kind == KindLatency {
		s = o.statName()
		if o.Service {
			s += " (service)"
		}
	}
	if !o.OnRequests() {
		if o.Kind == KindLatency {
			return s + " of the iteration"
		}
		return s
	}
	var who []string
	if o.Step != "" {
		who = append(who, o.Step)
	}
	for _, f := range o.Filters {
		who = append(who, f.Key+"="+f.Value)
	}
	if len(who) == 0 {
		return s + " of every request"
	}
	return s + " of " + strings.Join(who, ", ")
}

// Evaluate computes one objective over in.
func Evaluate(o Objective, in Input) Result {
	if o.Kind == KindTLSExpiry {
		return evaluateTLS(o, in.Certificates)
	}
	r := Result{Objective: o, Observed: math.NaN()}
	snap := in.Snapshot
	if snap == nil {
		return r
	}
	switch o.Kind {
	case KindSuccess, KindErrors:
		bad, total, ok := badEvents(o, snap)
		r.Samples = total
		if !ok || total == 0 {
			return r
		}
		r.Observed = float64(bad) / float64(total)
		if o.Kind == KindSuccess {
			r.Observed = 1 - r.Observed
		}
	case KindRPS:
		if o.OnRequests() {
			_, r.Samples, _ = badEvents(o, snap)
		} else {
			it := snap.Iterations
			r.Samples = it.Success + it.Failure
		}
		if in.Duration <= 0 {
			return r
		}
		r.Observed = float64(r.Samples) / in.Duration.Seconds()
	case KindLatency:
		h := LatencyHistogram(o, snap)
		if h == nil || h.TotalCount() == 0 {
			return r
		}
		r.Samples = h.TotalCount()
		r.Observed = statistic(o, h)
		if so, ok := o.ServiceCounterpart(len(snap.Steps)); ok {
			if sh := LatencyHistogram(so, snap); sh != nil && sh.TotalCount() > 0 {
				r.HasService, r.Service = true, statistic(o, sh)
				r.ServicePass = o.Op.holds(r.Service, o.Target)
			}
		}
	}
	r.Evaluated = true
	r.Pass = o.Op.holds(r.Observed, o.Target)
	return r
}

// statistic reads a latency objective's statistic from h (µs), in seconds.
func statistic(o Objective, h *hdrhistogram.Histogram) float64 {
	switch o.Stat {
	case Max:
		return float64(h.Max()) / 1e6
	case Mean:
		return h.Mean() / 1e6
	}
	return float64(h.ValueAtQuantile(o.Percentile)) / 1e6
}

// selected returns the snapshot's steps o reads: those Bind resolved, the
// one it names, or every step when it selects none. ok is false for an
// objective whose filters need Bind and did not get it.
func selected(o Objective, snap *stats.Snapshot) (steps []*stats.StepSnapshot, ok bool) {
	switch {
	case o.Steps != nil:
		for _, name := range o.Steps {
			if st := snap.Step(name); st != nil {
				steps = append(steps, st)
			}
		}
	case o.needsBind():
		// Filters by method or tag: only Bind knows which steps pass.
		return nil, false
	case o.Step != "":
		if st := snap.Step(o.Step); st != nil {
			steps = append(steps, st)
		}
	default:
		for i := range snap.Steps {
			steps = append(steps, &snap.Steps[i])
		}
	}
	return steps, true
}

// badEvents counts an objective's bad events and all its events: failed
// (or dropped) iterations of all iterations; or, for an objective on
// requests, the selected steps' failed requests — with a status filter,
// their requests answered with that status — of all their requests.
func badEvents(o Objective, snap *stats.Snapshot) (bad, total int64, ok bool) {
	if !o.OnRequests() {
		it := snap.Iterations
		return it.Failure + it.Dropped, it.Total(), true
	}
	steps, ok := selected(o, snap)
	if !ok {
		return 0, 0, false
	}
	lo, hi, byStatus := o.StatusFilter()
	for _, st := range steps {
		n := st.Count()
		total += n
		if !byStatus {
			bad += n - st.Errors[stats.ClassNone]
			continue
		}
		for code, c := range st.Status {
			if code >= lo && code <= hi {
				bad += c
			}
		}
	}
	return bad, total, true
}

// LatencyHistogram picks the histogram (µs) a latency objective reads: the
// whole iteration's, one step's, or the selected steps' (every step's when
// it selects none) merged, corrected or service. Nil when there is none.
func LatencyHistogram(o Objective, snap *stats.Snapshot) *hdrhistogram.Histogram {
	if !o.OnRequests() {
		return snap.Iteration
	}
	steps, ok := selected(o, snap)
	if !ok || len(steps) == 0 {
		return nil
	}
	pick := func(st *stats.StepSnapshot) *hdrhistogram.Histogram {
		if o.Service {
			return st.Service
		}
		return st.Latency
	}
	if len(steps) == 1 {
		return pick(steps[0])
	}
	var merged *hdrhistogram.Histogram
	for _, st := range steps {
		h := pick(st)
		if h == nil {
			continue
		}
		if merged == nil {
			merged = hdrhistogram.Import(h.Export())
			continue
		}
		merged.Merge(h)
	}
	return merged
}

// BadRatio is the share of bad events an objective with an error budget
// sees in snap: failed (or dropped) iterations or failed requests for
// success/errors, requests slower than the threshold for a latency
// percentile. ok is false without data or without a budget.
func BadRatio(o Objective, snap *stats.Snapshot) (ratio float64, n int64, ok bool) {
	if !o.HasBudget() || snap == nil {
		return 0, 0, false
	}
	switch o.Kind {
	case KindSuccess, KindErrors:
		bad, total, ok := badEvents(o, snap)
		if !ok || total == 0 {
			return 0, 0, false
		}
		return float64(bad) / float64(total), total, true
	case KindLatency:
		h := LatencyHistogram(o, snap)
		if h == nil || h.TotalCount() == 0 {
			return 0, 0, false
		}
		n = h.TotalCount()
		return float64(n-CountAtOrBelow(h, o.Target)) / float64(n), n, true
	}
	return 0, 0, false
}

// BurnRate is the error-budget burn rate over snap: the bad ratio divided by
// the budget (1 = spending exactly the budget over the SLO period).
func BurnRate(o Objective, snap *stats.Snapshot) (float64, bool) {
	ratio, _, ok := BadRatio(o, snap)
	if !ok {
		return 0, false
	}
	return ratio / o.Budget(), true
}

// CountAtOrBelow counts the values of h (µs) at or below seconds, at the
// histogram's resolution (a bucket counts as below when its highest
// equivalent value is).
//
// It searches the ranks: the k-th smallest value's bucket is a percentile
// away, and the count is the last k whose bucket ends at or below the
// limit. Walking h.Distribution() allocated a bar for every bucket up to
// the highest value (hundreds of kilobytes), and the daemon asks this of
// every latency SLO over every burn-rate window at every evaluation.
func CountAtOrBelow(h *hdrhistogram.Histogram, seconds float64) int64 {
	limit := int64(math.Round(seconds * 1e6))
	n := h.TotalCount()
	// highest is the highest equivalent value of the k-th smallest value,
	// 1 ≤ k ≤ n: the rank of 100·k/n percent is k again.
	highest := func(k int64) int64 { return h.ValueAtPercentile(100 * float64(k) / float64(n)) }
	lo, hi := int64(0), n // the count is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		if highest(mid) <= limit {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// FormatDuration prints a window compactly: "5m", "1h30m", "90s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	d = d.Round(time.Second)
	s := d.String()
	// "5m0s" → "5m", "1h0m0s" → "1h".
	for _, suf := range []string{"0s"} {
		if len(s) > 2 && s[len(s)-2:] == suf && (s[len(s)-3] == 'm' || s[len(s)-3] == 'h') {
			s = s[:len(s)-2]
		}
	}
	if len(s) > 2 && s[len(s)-2:] == "0m" && s[len(s)-3] == 'h' {
		s = s[:len(s)-2]
	}
	return s
}
