package daemon

import (
	"context"
	"time"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/loadgen"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// A comparison check (config.Comparison) runs like any check, with every
// iteration sent to its baseline as well: the check's collector, client and
// metrics are the candidate's — the version under judgement, which the
// status page and /metrics show — and baselineSide holds the baseline's.
// Its verdict, over a window or on demand, is the candidate's against the
// baseline (run.JudgeComparison), and the gate endpoints answer with it.

// baselineSide is the baseline of a comparison check.
type baselineSide struct {
	col    *stats.Collector
	client *transport.Client
}

func newBaselineSide(ck *config.Check, allow func(string) error, start time.Time, ret time.Duration) (*baselineSide, error) {
	cmp := ck.Comparison
	client, err := run.Client(cmp.Baseline, ck.Profile, allow)
	if err != nil {
		return nil, err
	}
	// Only the baseline's windows are read: no totals, and a series of two
	// points at most.
	col := stats.NewCollector(cmp.Baseline.StepNames(), start, stats.Options{WindowRetention: ret, NoTotals: true, SeriesCap: 2})
	return &baselineSide{col: col, client: client}, nil
}

// scenario is what the check's own client and collector run: the
// candidate's side of a comparison, else the check's scenario.
func checkScenario(ck *config.Check) *scenario.Scenario {
	if ck.Comparison != nil {
		return ck.Comparison.Candidate
	}
	return ck.Scenario
}

// job is what the check's engine drives: its scenario, or for a comparison
// both sides at once.
func (r *checkRunner) job() run.Job {
	opts := []scenario.RunnerOption{scenario.WithFailures(r.failures)}
	if r.tls != nil {
		opts = append(opts, scenario.WithCertificates(r.tls))
	}
	cand := &loadgen.ScenarioJob{Runner: scenario.NewRunner(checkScenario(r.ck), r.client, opts...), Stats: r.col, Also: r.metrics}
	if r.baseline == nil {
		return cand
	}
	base := &loadgen.ScenarioJob{Runner: scenario.NewRunner(r.ck.Comparison.Baseline, r.baseline.client), Stats: r.baseline.col}
	return &run.PairJob{Baseline: base, Candidate: cand, Seed: r.ck.Comparison.Options.Seed}
}

// flushBaseline closes the baseline's interval with the candidate's, so
// that both sides' windows cover the same time.
func (r *checkRunner) flushBaseline(now time.Time) {
	if r.baseline != nil {
		r.baseline.col.Flush(now)
	}
}

// closeBaseline ends the baseline's side once the check has stopped: a last
// flush, and its connections closed.
func (r *checkRunner) closeBaseline() {
	if r.baseline != nil {
		r.baseline.col.Flush(r.clk.Now())
		r.baseline.client.Close()
	}
}

// comparisonDoc is what a comparison check's verdict adds: both sides and
// every objective's evidence (compare.Judgement's JSON).
type comparisonDoc struct {
	Baseline  string            `json:"baseline"`
	Candidate string            `json:"candidate"`
	Judgement compare.Judgement `json:"judgement"`
	LagP99Ms  float64           `json:"lag_p99_ms"`
	Saturated bool              `json:"saturated"`
}

// judgeComparison is judge for a comparison check: the candidate's window
// against the baseline's. minSamples raises the fewest samples a side
// needs (the check's own min_samples, or the statistics' minimum).
func (d *Daemon) judgeComparison(r *checkRunner, now time.Time, window time.Duration, since time.Time, minSamples int64) verdictDoc {
	cmp := r.ck.Comparison
	var base, cand *stats.Snapshot
	if !since.IsZero() {
		base, cand = r.baseline.col.WindowSince(now, since), r.col.WindowSince(now, since)
	} else {
		base, cand = r.baseline.col.Window(now, window), r.col.Window(now, window)
	}
	opt := cmp.Options
	if need := max(opt.MinSamples, compare.DefaultMinSamples); minSamples > need {
		opt.MinSamples = minSamples
	}
	// How far a continuous check falls behind its schedule is not kept per
	// window: its lag decides, as for an SLO check.
	j, err := run.JudgeComparison(cmp.Objectives, base, cand, opt, 0, 0, false)
	doc := verdictDoc{
		Check: r.ck.Name, Verdict: j.Verdict, Window: slo.FormatDuration(window), At: now.UTC(),
		Samples: min(base.Iterations.Total(), cand.Iterations.Total()), Reasons: j.Reasons, Objectives: []objectiveDoc{},
		CoveredFrom: cand.Start.UTC(), Span: cand.End.Sub(cand.Start).Seconds(),
		Comparison: &comparisonDoc{Baseline: cmp.BaselineURL, Candidate: cmp.CandidateURL, Judgement: j.Judgement,
			LagP99Ms: j.LagP99Ms, Saturated: j.Saturated},
	}
	if err != nil {
		// The config's options were checked when it loaded; this is a
		// query's min_samples the statistics refuse.
		doc.Verdict, doc.Reasons = slo.Inconclusive, []string{d.secrets.String(err.Error())}
	}
	if doc.Reasons == nil {
		doc.Reasons = []string{}
	}
	if !since.IsZero() {
		s := since.UTC()
		doc.Since = &s
	}
	for _, res := range j.Results {
		od := objectiveDoc{Name: res.Expr, Objective: res.Expr, Observed: report.EffectText(res), Pass: res.Verdict == slo.Pass}
		if e := res.Effect; e != nil {
			od.Target = e.Allowed
			v := e.Estimate
			od.Value = &v
		}
		doc.Objectives = append(doc.Objectives, od)
	}
	return doc
}

// executeComparison is an on-demand run of a comparison check: both sides
// under p, judged once at the end.
func (m *runManager) executeComparison(ctx context.Context, doc runDoc, ck *config.Check, p *profiles.Profile) runDoc {
	cfg := m.d.config()
	cmp := ck.Comparison
	out, err := run.Compare(ctx, run.CompareOptions{
		Baseline:  run.Side{URL: cmp.BaselineURL, Scenario: cmp.Baseline},
		Candidate: run.Side{URL: cmp.CandidateURL, Scenario: cmp.Candidate},
		Profile:   p, Objectives: cmp.Objectives, Judge: cmp.Options,
		Allow: cfg.HostAllowed, Grace: cfg.Server.ShutdownGrace, Clock: m.d.clk,
	})
	if err != nil {
		doc.Status, doc.Verdict = RunInconclusive, RunInconclusive
		doc.Error = m.d.secrets.String(err.Error())
		return doc
	}
	report.RedactComparison(out.Document, m.d.secrets)
	doc.Comparison = out.Document
	doc.Verdict, doc.Reasons = string(out.Judgement.Verdict), out.Document.Reasons
	doc.Status = statusOf(out.Judgement.Verdict)
	return doc
}
