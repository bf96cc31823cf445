package compare

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// Defaults of Options.
const (
	DefaultConfidence       = 0.95
	DefaultMinLatencyEffect = time.Millisecond
	DefaultMinRateEffect    = 0.0001 // 0.01 percentage points
	DefaultMinSamples       = 100
	DefaultMinTail          = 10
)

// defaultObjectives are judged when a comparison names none: the typical
// latency and the tail, each against a share of the baseline, and the error
// rate in points.
var defaultObjectives = []string{
	"latency not worse by more than 5%",
	"p99 not worse by more than 10%",
	"errors not higher by more than 0.1pp",
}

// DefaultObjectives returns the objectives judged when none are given.
func DefaultObjectives() []Objective {
	out := make([]Objective, len(defaultObjectives))
	for i, s := range defaultObjectives {
		o, err := ParseObjective(s)
		if err != nil {
			// A test parses every default; this cannot happen.
			return nil
		}
		out[i] = o
	}
	return out
}

// Options tune a judgement. The zero value means every default.
type Options struct {
	// Confidence is the level of every interval, two-sided (default 0.95):
	// a version no worse than the baseline fails with a probability of at
	// most (1 − Confidence)/2 per objective.
	Confidence float64
	// MinLatencyEffect is the smallest latency difference that can fail a
	// latency objective (default 1 ms): below it, a difference is noise to
	// users however surely it is measured, so a huge sample does not fail
	// on a tenth of a millisecond. Negative means none.
	MinLatencyEffect time.Duration
	// MinRateEffect is the same for error and success rates (default
	// 0.0001, 0.01 percentage points). Negative means none.
	MinRateEffect float64
	// MinSamples is the fewest samples (requests for latency, iterations
	// for rates) each side needs before an objective is judged (default
	// 100).
	MinSamples int64
	// MinTail is the fewest samples each side needs beyond a percentile
	// (default 10): p99 needs 1 000 samples a side, p99.9 10 000.
	MinTail int64
	// Resamples is the bootstrap's count (default 2000, at most
	// MaxResamples).
	Resamples int
	// Seed seeds the bootstrap, so that the same measurements get the same
	// intervals.
	Seed uint64
}

func (o Options) withDefaults() Options {
	if o.Confidence == 0 {
		o.Confidence = DefaultConfidence
	}
	switch {
	case o.MinLatencyEffect == 0:
		o.MinLatencyEffect = DefaultMinLatencyEffect
	case o.MinLatencyEffect < 0:
		o.MinLatencyEffect = 0
	}
	switch {
	case o.MinRateEffect == 0:
		o.MinRateEffect = DefaultMinRateEffect
	case o.MinRateEffect < 0:
		o.MinRateEffect = 0
	}
	if o.MinSamples <= 0 {
		o.MinSamples = DefaultMinSamples
	}
	if o.MinTail <= 0 {
		o.MinTail = DefaultMinTail
	}
	if o.Resamples == 0 {
		o.Resamples = DefaultResamples
	}
	return o
}

// Validate reports options out of range.
func (o Options) Validate() error {
	var errs []error
	if o.Confidence != 0 && !(o.Confidence >= 0.5 && o.Confidence < 1) {
		errs = append(errs, fmt.Errorf("confidence %v is outside 50%%..100%% (exclusive)", o.Confidence))
	}
	if math.IsNaN(o.MinRateEffect) || o.MinRateEffect > 1 {
		errs = append(errs, fmt.Errorf("minimum rate effect %v is above 100 percentage points", o.MinRateEffect))
	}
	if o.Resamples != 0 && (o.Resamples < 100 || o.Resamples > MaxResamples) {
		errs = append(errs, fmt.Errorf("resamples %d is outside 100..%d", o.Resamples, MaxResamples))
	}
	return errors.Join(errs...)
}

// Judgement is the candidate's verdict against the baseline, with every
// objective's evidence.
type Judgement struct {
	// Verdict is fail when an objective failed, else inconclusive when one
	// could not be told, else pass.
	Verdict    slo.Verdict `json:"verdict"`
	Confidence float64     `json:"confidence"`
	Results    []Result    `json:"results"`
	// Reasons explain each objective that did not pass.
	Reasons []string `json:"reasons,omitempty"`
}

// Result is one objective judged.
type Result struct {
	Objective Objective   `json:"-"`
	Expr      string      `json:"objective"`
	Verdict   slo.Verdict `json:"verdict"`
	// Method is how Effect's interval was made: "bootstrap" (percentiles),
	// "hodges-lehmann" (the typical latency), "newcombe" (rates).
	Method string `json:"method,omitempty"`
	// Test names the test behind PValue: "mann-whitney" for latency,
	// "z-test" or "fisher-exact" for rates.
	Test      string `json:"test,omitempty"`
	Baseline  Side   `json:"baseline"`
	Candidate Side   `json:"candidate"`
	// Effect is the candidate's value minus the baseline's, with its
	// interval and allowance; absent when there were too few samples to
	// estimate it.
	Effect *Effect `json:"effect,omitempty"`
	// PValue is the one-sided p-value of "the candidate is worse at all":
	// how likely a difference at least this far toward worse is if both
	// versions behave the same.
	PValue *float64 `json:"p_value,omitempty"`
	// Reason says in a sentence why the verdict is what it is.
	Reason string `json:"reason"`
}

// Side is one version's value of the compared measure: the percentile or
// median latency in seconds, or the rate (0..1).
type Side struct {
	N     int64    `json:"n"`
	Value *float64 `json:"value,omitempty"`
}

// Effect is a difference with its confidence interval. Unit is "relative"
// (a share of the baseline's value: 0.1 is 10 % more), "seconds", or "rate"
// (a difference of rates: 0.001 is 0.1 percentage points).
type Effect struct {
	Unit     string  `json:"unit"`
	Estimate float64 `json:"estimate"`
	Low      float64 `json:"low"`
	High     float64 `json:"high"`
	// Allowed is how far the effect may go toward worse (up for latency
	// and errors, down for success) and still pass, as a magnitude in Unit:
	// the objective's allowance, raised to the minimum effect size.
	Allowed float64 `json:"allowed"`
}

// Judge judges the candidate against the baseline on each objective (the
// DefaultObjectives when objs is empty). Each objective's verdict rests on
// the interval of its effect at opt.Confidence and on the allowance,
// raised to the minimum effect size:
//
//   - fail when the whole interval is worse than the allowance: the
//     candidate is worse by more than allowed, and that is not chance;
//   - pass when the whole interval is within it;
//   - inconclusive when the interval straddles it (too few samples to
//     tell), or when a side has fewer samples than the objective needs.
//
// The overall verdict is fail if one objective failed, else inconclusive if
// one is, else pass. Only bad options are an error.
func Judge(objs []Objective, baseline, candidate *stats.Snapshot, opt Options) (Judgement, error) {
	if err := opt.Validate(); err != nil {
		return Judgement{}, err
	}
	opt = opt.withDefaults()
	if len(objs) == 0 {
		objs = DefaultObjectives()
	}
	j := Judgement{Verdict: slo.Pass, Confidence: opt.Confidence}
	inconclusive := false
	for _, o := range objs {
		r := judgeOne(o, baseline, candidate, opt)
		j.Results = append(j.Results, r)
		switch r.Verdict {
		case slo.Fail:
			j.Verdict = slo.Fail
		case slo.Inconclusive:
			inconclusive = true
		}
		if r.Verdict != slo.Pass {
			j.Reasons = append(j.Reasons, r.Expr+": "+r.Reason)
		}
	}
	if inconclusive && j.Verdict != slo.Fail {
		j.Verdict = slo.Inconclusive
	}
	return j, nil
}

func judgeOne(o Objective, baseline, candidate *stats.Snapshot, opt Options) Result {
	r := Result{Objective: o, Expr: o.String(), Verdict: slo.Inconclusive}
	if baseline == nil || candidate == nil {
		r.Reason = "no measurements to compare"
		return r
	}
	switch o.Measure {
	case Errors, Success:
		judgeRate(&r, baseline, candidate, opt)
	default:
		judgeLatency(&r, baseline, candidate, opt)
	}
	return r
}

// series names o's latency series in reasons: "login's service latency",
// "the iteration's latency".
func series(o Objective) string {
	who := "the iteration's"
	if o.Step != "" {
		who = strconv.Quote(o.Step) + "'s"
	} else if o.Service {
		who = "every request's"
	}
	if o.Service {
		return who + " service latency"
	}
	return who + " latency"
}

func judgeLatency(r *Result, baseline, candidate *stats.Snapshot, opt Options) {
	o := r.Objective
	hb, hc := slo.LatencyHistogram(o.latencyObjective(), baseline), slo.LatencyHistogram(o.latencyObjective(), candidate)
	switch {
	case hb == nil && o.Step != "":
		r.Reason = fmt.Sprintf("the baseline has no step %q", o.Step)
		return
	case hc == nil && o.Step != "":
		r.Reason = fmt.Sprintf("the candidate has no step %q", o.Step)
		return
	}
	ys, xs := FromHistogram(hb), FromHistogram(hc)
	nb, nc := ys.N(), xs.N()
	r.Baseline, r.Candidate = Side{N: nb}, Side{N: nc}
	value := func(s Sample) *float64 {
		v := s.Median() / 1e6
		if o.Measure == Percentile {
			v = float64(s.Percentile(o.Percentile)) / 1e6
		}
		return &v
	}
	if nb > 0 {
		r.Baseline.Value = value(ys)
	}
	if nc > 0 {
		r.Candidate.Value = value(xs)
	}
	need := opt.MinSamples
	if o.Measure == Percentile {
		need = max(need, int64(math.Ceil(float64(opt.MinTail)/(1-o.Percentile/100)-1e-9)))
	}
	if nb < need || nc < need {
		why := ""
		if o.Measure == Percentile {
			why = fmt.Sprintf(" (%d beyond the percentile)", opt.MinTail)
		}
		r.Reason = fmt.Sprintf("%s needs %d samples a side%s; %s has %d in the baseline and %d in the candidate",
			o.Subject(), need, why, series(o), nb, nc)
		return
	}

	r.Test = "mann-whitney"
	if mw, err := MannWhitney(xs, ys, Greater); err == nil {
		r.PValue = &mw.P
	}
	var abs, rel Shift
	switch o.Measure {
	case Percentile:
		r.Method = "bootstrap"
		ps, err := BootstrapPercentile(xs, ys, o.Percentile, opt.Confidence, opt.Resamples, opt.Seed^hash(r.Expr))
		if err != nil {
			r.Reason = err.Error()
			return
		}
		abs, rel = ps.Absolute, ps.Relative
	default:
		r.Method = "hodges-lehmann"
		hl, err := HodgesLehmann(xs, ys, opt.Confidence)
		if err != nil {
			r.Reason = err.Error()
			return
		}
		abs = hl
		m := ys.Median()
		rel = Shift{Estimate: hl.Estimate / m, Low: hl.Low / m, High: hl.High / m}
	}
	base := *r.Baseline.Value
	minEffect := opt.MinLatencyEffect.Seconds()
	if o.Unit == Seconds {
		r.Effect = &Effect{Unit: "seconds", Estimate: abs.Estimate / 1e6, Low: abs.Low / 1e6, High: abs.High / 1e6}
	} else {
		r.Effect = &Effect{Unit: "relative", Estimate: rel.Estimate, Low: rel.Low, High: rel.High}
		minEffect /= base
	}
	decide(r, minEffect, slo.FormatSeconds(opt.MinLatencyEffect.Seconds()))
}

func judgeRate(r *Result, baseline, candidate *stats.Snapshot, opt Options) {
	o := r.Objective
	bad := func(s *stats.Snapshot) int64 { return s.Iterations.Failure + s.Iterations.Dropped }
	bk, bn := bad(baseline), baseline.Iterations.Total()
	ck, cn := bad(candidate), candidate.Iterations.Total()
	r.Baseline, r.Candidate = Side{N: bn}, Side{N: cn}
	rate := func(k, n int64) *float64 {
		v := float64(k) / float64(n)
		if o.Measure == Success {
			v = 1 - v
		}
		return &v
	}
	if bn > 0 {
		r.Baseline.Value = rate(bk, bn)
	}
	if cn > 0 {
		r.Candidate.Value = rate(ck, cn)
	}
	if bn < opt.MinSamples || cn < opt.MinSamples {
		r.Reason = fmt.Sprintf("%s needs %d iterations a side; the baseline has %d and the candidate %d", o.Subject(), opt.MinSamples, bn, cn)
		return
	}
	// Lower success is a higher failure rate: one test serves both.
	pr, err := CompareProportions(ck, cn, bk, bn, opt.Confidence, Greater)
	if err != nil {
		r.Reason = err.Error()
		return
	}
	r.Test, r.Method, r.PValue = pr.Test, "newcombe", &pr.P
	d := pr.Difference
	if o.Measure == Success {
		d = Shift{Estimate: -d.Estimate, Low: -d.High, High: -d.Low}
	}
	r.Effect = &Effect{Unit: "rate", Estimate: d.Estimate, Low: d.Low, High: d.High}
	decide(r, opt.MinRateEffect, formatPoints(opt.MinRateEffect))
}

// decide sets r's allowance, verdict and reason from its effect; minEffect
// is the minimum effect size in the effect's unit, minText the same as
// written in options.
func decide(r *Result, minEffect float64, minText string) {
	o, e := r.Objective, r.Effect
	e.Allowed = o.Allowance
	raised := ""
	if minEffect > e.Allowed {
		e.Allowed = minEffect
		raised = fmt.Sprintf(" (raised to the minimum effect, %s)", minText)
	}
	allowed := formatEffect(e.Unit, signed(o, e.Allowed)) + raised
	// The interval of "how much worse": the effect itself, or its
	// negation when lower is worse.
	worseLow, worseHigh := e.Low, e.High
	if !o.worseWhenHigher() {
		worseLow, worseHigh = -e.High, -e.Low
	}
	effect := fmt.Sprintf("%s %s [%s, %s]", o.Subject(), formatEffect(e.Unit, e.Estimate),
		formatEffect(e.Unit, e.Low), formatEffect(e.Unit, e.High))
	n := fmt.Sprintf("n = %d and %d", r.Baseline.N, r.Candidate.N)
	switch {
	case worseLow > e.Allowed:
		r.Verdict = slo.Fail
		r.Reason = fmt.Sprintf("%s is worse than the allowed %s (%s)", effect, allowed, n)
	case worseHigh <= e.Allowed:
		r.Verdict = slo.Pass
		r.Reason = fmt.Sprintf("%s is within the allowed %s (%s)", effect, allowed, n)
	default:
		r.Verdict = slo.Inconclusive
		r.Reason = fmt.Sprintf("%s straddles the allowed %s: too few samples to tell (%s)", effect, allowed, n)
	}
}

// signed turns an allowance into the effect it allows: up, or down for
// success.
func signed(o Objective, v float64) float64 {
	if o.worseWhenHigher() {
		return v
	}
	return -v
}

// formatEffect prints a difference with its sign: "+4.2%", "-1.3ms",
// "+0.52pp".
func formatEffect(unit string, v float64) string {
	sign := "+"
	if v < 0 {
		sign = "-"
		v = -v
	}
	switch unit {
	case "relative":
		return sign + strconv.FormatFloat(roundTo(v*100, 2), 'f', -1, 64) + "%"
	case "seconds":
		return sign + slo.FormatSeconds(v)
	}
	return sign + formatPoints(v)
}

func formatPoints(v float64) string {
	return strconv.FormatFloat(roundTo(v*100, 3), 'f', -1, 64) + "pp"
}

// hash seeds each objective's bootstrap apart, so that adding an
// objective does not move another's interval.
func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}
