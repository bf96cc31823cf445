package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// Side is one of the two versions a comparison drives.
type Side struct {
	// URL names the side in reports: its base URL, or the URL probed.
	URL string
	// Scenario is what each iteration runs against this side (the same
	// steps on both sides: see scenario.WithBase).
	Scenario *scenario.Scenario
	// Client sends the side's requests; nil builds one with Client.
	Client scenario.Doer
}

// CompareOptions describe a comparison: one schedule driving a baseline and
// a candidate with the same iterations.
type CompareOptions struct {
	Baseline, Candidate Side
	Profile             *profiles.Profile
	// Objectives are the relative objectives (compare.DefaultObjectives
	// when empty).
	Objectives []compare.Objective
	// Judge tunes the statistics; its Seed also decides which side each
	// iteration is sent to first.
	Judge compare.Options
	Allow func(host string) error
	Grace time.Duration
	// Progress, when set, is called after each once-a-second flush with the
	// candidate's live state.
	Progress func(stats.Progress)
	Clock    clock.Clock
}

// ComparisonOutcome is a finished comparison.
type ComparisonOutcome struct {
	Document            *report.Comparison
	Judgement           ComparisonJudgement
	Result              loadgen.Result
	Baseline, Candidate *stats.Snapshot
}

// Compare drives both sides with the profile's schedule until it ends or
// ctx is cancelled (then the comparison is aborted, and inconclusive), and
// judges the candidate against the baseline.
//
// Every iteration of the schedule goes to both sides at its due time, at
// once; which of the two is started first is drawn per iteration from the
// seed. So noise that varies with time — a neighbour's burst, a pause of
// the generator's own — falls on both alike, and neither side is always
// the one that waits for the other.
func Compare(ctx context.Context, o CompareOptions) (*ComparisonOutcome, error) {
	p := o.Profile
	if o.Baseline.Scenario == nil || o.Candidate.Scenario == nil || p == nil {
		return nil, errors.New("compare: two scenarios and a profile are required")
	}
	steps := o.Candidate.Scenario.StepNames()
	if b := o.Baseline.Scenario.StepNames(); !slices.Equal(b, steps) {
		return nil, fmt.Errorf("compare: the baseline's steps (%s) differ from the candidate's (%s)", strings.Join(b, ", "), strings.Join(steps, ", "))
	}
	clk := clock.OrReal(o.Clock)
	start := clk.Now()
	var sides [2]*loadgen.ScenarioJob
	cols := make([]*stats.Collector, 2)
	for i, s := range []Side{o.Baseline, o.Candidate} {
		client := s.Client
		if client == nil {
			c, err := Client(s.Scenario, p, o.Allow)
			if err != nil {
				return nil, err
			}
			defer c.Close()
			client = c
		}
		cols[i] = stats.NewCollector(steps, start, stats.Options{Rate: ExpectedRate(p)})
		sides[i] = &loadgen.ScenarioJob{Runner: scenario.NewRunner(s.Scenario, client), Stats: cols[i], VU: p.VUNumber}
	}
	job := &PairJob{Baseline: sides[0], Candidate: sides[1], Seed: o.Judge.Seed}
	eng, err := Engine(p, job, o.Grace, clk)
	if err != nil {
		return nil, err
	}
	// The candidate's collector goes first: its flushes feed the progress.
	res := drive(ctx, clk, eng, []*stats.Collector{cols[1], cols[0]}, func(time.Time) {
		if o.Progress != nil {
			o.Progress(progress(eng, cols[1], p, cols[1].Totals()))
		}
	})

	base, cand := cols[0].Totals(), cols[1].Totals()
	j, err := JudgeComparison(o.Objectives, base, cand, o.Judge, res.BehindPct, int64(res.Due), res.Aborted)
	if err != nil {
		return nil, err
	}
	doc := &report.Comparison{
		Schema: report.ComparisonSchema, Scenario: o.Candidate.Scenario.Name, Profile: p.Describe(),
		Start: res.Start.UTC(), End: res.End.UTC(), Seed: o.Judge.Seed, Judgement: j.Judgement,
		Baseline: report.ComparedSide{URL: o.Baseline.URL}, Candidate: report.ComparedSide{URL: o.Candidate.URL},
	}
	doc.DurationS = res.End.Sub(res.Start).Round(time.Millisecond).Seconds()
	for i, side := range []*report.ComparedSide{&doc.Baseline, &doc.Candidate} {
		rep, err := newReport(doc.Scenario, p, cols[i], []*stats.Snapshot{base, cand}[i], res, j.LagP99Ms, j.Saturated)
		if err != nil {
			return nil, err
		}
		// A side has no SLOs of its own: the comparison's verdict is the
		// only one.
		rep.Verdict, rep.Aborted = string(j.Verdict), res.Aborted
		side.Report = rep
	}
	doc.Generator = doc.Candidate.Report.Generator
	return &ComparisonOutcome{Document: doc, Judgement: j, Result: res, Baseline: base, Candidate: cand}, nil
}

// PairJob runs each iteration on both sides at once: the one drawn first
// on the engine's goroutine, the other on a goroutine of its own that the
// iteration waits for. An iteration holds a request to each side, so the
// profile's max_inflight bounds each side's iterations in flight (and
// connections), not their sum.
type PairJob struct {
	Baseline, Candidate *loadgen.ScenarioJob
	Seed                uint64
}

var (
	_ loadgen.Job     = (*PairJob)(nil)
	_ loadgen.Monitor = (*PairJob)(nil)
)

// Iterate runs iteration it on both sides and returns when both are done.
func (j *PairJob) Iterate(ctx context.Context, it loadgen.Iteration) {
	first, second := j.Baseline, j.Candidate
	if CandidateFirst(j.Seed, it.Number) {
		first, second = second, first
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		second.Iterate(ctx, it)
	}()
	first.Iterate(ctx, it)
	wg.Wait()
}

// Lag records the generator's lag on both sides: an iteration starts late
// for both alike.
func (j *PairJob) Lag(worker int, d time.Duration) {
	j.Baseline.Lag(worker, d)
	j.Candidate.Lag(worker, d)
}

// Dropped records dropped iterations on both sides: neither got them.
func (j *PairJob) Dropped(worker int, n uint64) {
	j.Baseline.Dropped(worker, n)
	j.Candidate.Dropped(worker, n)
}

// CandidateFirst reports whether iteration n goes to the candidate before
// the baseline: a fair coin per iteration, drawn from seed and n alone
// (splitmix64), so the order is repeatable and needs no shared state.
func CandidateFirst(seed, n uint64) bool {
	z := seed + (n+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return (z^z>>31)&1 == 1
}

// ComparisonJudgement is a comparison's verdict with the generator's facts
// it took into account.
type ComparisonJudgement struct {
	compare.Judgement
	LagP99Ms  float64
	Saturated bool
}

// JudgeComparison judges the candidate against the baseline (compare.Judge)
// and then applies what the statistics cannot know: the generator-saturation
// rule (slo.Generator, from the candidate's lag and behindPct over due) and
// an aborted comparison, which is inconclusive. A comparison's verdict — of
// `canary compare`, a daemon check's window or an on-demand run — is made
// here.
//
// A saturated generator voids a latency objective on corrected latency that
// did not fail, when its lag p99 is at least slo.LagShare of the allowance
// as a latency. Why a failure stands: both sides' requests of an iteration
// are due at the same moment and start together, so the generator's delays
// fall on both alike, and a candidate slower beyond its allowance was slower
// under the same conditions. Why a pass does not: the same delay added to
// both sides shrinks their relative difference and widens the intervals,
// and could hide a worsening — unless it is small against the allowance.
// Service latency, errors and success are what the targets answered,
// saturated or not.
func JudgeComparison(objs []compare.Objective, baseline, candidate *stats.Snapshot, opt compare.Options, behindPct float64, due int64, aborted bool) (ComparisonJudgement, error) {
	j, err := compare.Judge(objs, baseline, candidate, opt)
	if err != nil {
		return ComparisonJudgement{}, err
	}
	gen := slo.GeneratorOf(candidate)
	gen.BehindPct, gen.Due = behindPct, due
	out := ComparisonJudgement{Judgement: j, LagP99Ms: float64(gen.LagP99) / float64(time.Millisecond)}
	var why string
	out.Saturated, why = gen.Saturated()
	var first []string
	if out.Saturated {
		first = append(first, "generator saturated: "+why+"; corrected-latency objectives that did not fail are void where its lag could hide a worsening")
		for i := range out.Results {
			r := &out.Results[i]
			if allowed, ok := voidable(*r); ok && r.Verdict != slo.Fail && gen.LagP99.Seconds() >= slo.LagShare*allowed {
				r.Verdict = slo.Inconclusive
				r.Reason += fmt.Sprintf("; void: the generator saturated (lag p99 %s, at least %g of the allowed %s)",
					slo.FormatSeconds(gen.LagP99.Seconds()), slo.LagShare, slo.FormatSeconds(allowed))
			}
		}
	}
	if aborted {
		first = append(first, "the comparison was aborted before its end")
	}
	if len(first) == 0 {
		return out, nil
	}
	// The verdict again, as compare.Judge concludes it, over the results
	// as they now stand.
	out.Verdict, out.Reasons = slo.Pass, first
	inconclusive := aborted
	for _, r := range out.Results {
		switch r.Verdict {
		case slo.Fail:
			out.Verdict = slo.Fail
		case slo.Inconclusive:
			inconclusive = true
		}
		if r.Verdict != slo.Pass {
			out.Reasons = append(out.Reasons, r.Expr+": "+r.Reason)
		}
	}
	if aborted || inconclusive && out.Verdict != slo.Fail {
		out.Verdict = slo.Inconclusive
	}
	return out, nil
}

// voidable reports whether a saturated generator could have changed r — a
// judged objective on corrected latency — and its allowance as a latency
// (seconds).
func voidable(r compare.Result) (allowed float64, ok bool) {
	o, e := r.Objective, r.Effect
	if o.Measure == compare.Errors || o.Measure == compare.Success || o.Service || e == nil {
		return 0, false
	}
	if e.Unit == "relative" {
		if r.Baseline.Value == nil {
			return 0, false
		}
		return e.Allowed * *r.Baseline.Value, true
	}
	return e.Allowed, true
}
