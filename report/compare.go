package report

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// ComparisonSchema identifies a comparison document.
const ComparisonSchema = "canary.compare/v1"

// Comparison is the machine-readable result of `canary compare`
// (docs/compare.md, "The comparison report"): the judgement of the
// candidate against the baseline, inline (verdict, confidence, results,
// reasons), and each side's full run report, so that either side can be
// read, merged or rendered as any run report.
type Comparison struct {
	Schema    string    `json:"schema"`
	Scenario  string    `json:"scenario"`
	Profile   any       `json:"profile"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	DurationS float64   `json:"duration_s"`
	// Seed picked, for each iteration, which side was sent first; the
	// bootstrap intervals are seeded from it too.
	Seed      uint64                `json:"seed"`
	Generator stats.GeneratorReport `json:"generator"`
	Baseline  ComparedSide          `json:"baseline"`
	Candidate ComparedSide          `json:"candidate"`
	compare.Judgement
}

// ComparedSide is one version in a comparison: where it was reached and
// its run report (canary.report/v1).
type ComparedSide struct {
	URL    string        `json:"url"`
	Report *stats.Report `json:"report"`
}

// RedactComparison replaces the secrets of sets in the comparison's free
// text, as Redact does for a run report: its URLs, names and reasons.
func RedactComparison(c *Comparison, sets ...*redact.Set) {
	all := &redact.Set{}
	for _, s := range sets {
		all.Merge(s)
	}
	c.Scenario = all.String(c.Scenario)
	for _, s := range []*ComparedSide{&c.Baseline, &c.Candidate} {
		s.URL = all.String(redact.UserInfo(s.URL))
		if s.Report != nil {
			Redact(s.Report, all)
		}
	}
	for i := range c.Reasons {
		c.Reasons[i] = all.String(c.Reasons[i])
	}
	for i := range c.Results {
		c.Results[i].Reason = all.String(c.Results[i].Reason)
	}
}

// WriteComparisonJSON writes the comparison document, indented.
func WriteComparisonJSON(w io.Writer, c *Comparison) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "p99 not worse by more than 10%" reads as written
	return enc.Encode(c)
}

// WriteComparisonSummary writes the end-of-comparison summary: both
// sides' figures next to each other, then each objective with both
// values, the effect and its interval, and the verdict.
func WriteComparisonSummary(w io.Writer, c *Comparison) error {
	var b strings.Builder
	base, cand := sideReport(c.Baseline), sideReport(c.Candidate)
	fmt.Fprintf(&b, "\n  scenario   %s\n", c.Scenario)
	fmt.Fprintf(&b, "  profile    %s, each iteration sent to both sides at once\n", describeProfile(c.Profile))
	fmt.Fprintf(&b, "  duration   %s  (%s → %s)\n", fmtDur(c.DurationS), c.Start.UTC().Format(time.RFC3339), c.End.UTC().Format(time.RFC3339))
	gen := fmt.Sprintf("lag p99 %.2f ms, %.2f%% behind schedule", c.Generator.LagP99Ms, c.Generator.BehindPct)
	if n := c.Generator.CPUs; n > 0 {
		gen += fmt.Sprintf(", %d CPU%s", n, plural(n))
	}
	if c.Generator.Saturated {
		gen += "  — SATURATED: latency objectives that did not fail may be void"
	}
	fmt.Fprintf(&b, "  generator  %s\n\n", gen)

	const col = "  %-22s %-34s %-34s\n"
	fmt.Fprintf(&b, col, "", "baseline", "candidate")
	fmt.Fprintf(&b, col, "url", clip(c.Baseline.URL, 34), clip(c.Candidate.URL, 34))
	fmt.Fprintf(&b, col, "iterations", iterationsText(base), iterationsText(cand))
	fmt.Fprintf(&b, col, "failed", failedText(base), failedText(cand))

	fmt.Fprintf(&b, "\n  %-24s %-9s %9s %9s %9s %9s %9s %9s\n", "latency (ms)", "", "count", "p50", "p90", "p99", "p99.9", "max")
	row := func(label, side string, count int64, l stats.LatencySummary) {
		fmt.Fprintf(&b, "  %-24s %-9s %9d %9s %9s %9s %9s %9s\n", clip(label, 24), side, count, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	row("iteration", "baseline", base.Latency.Count, base.Latency)
	row("", "candidate", cand.Latency.Count, cand.Latency)
	for i, s := range cand.Steps {
		bs := stepAt(base, i)
		row(s.Name+" corrected", "baseline", bs.Count, bs.Latency)
		row("", "candidate", s.Count, s.Latency)
		row(s.Name+" service", "baseline", bs.Count, bs.Service)
		row("", "candidate", s.Count, s.Service)
	}

	fmt.Fprintf(&b, "\n  objectives (%s intervals)\n", confidenceText(c.Confidence))
	for _, r := range c.Results {
		fmt.Fprintf(&b, "  %s %-40s %s\n", verdictMark(r.Verdict), r.Expr, sidesText(r))
		fmt.Fprintf(&b, "    %s\n", r.Reason)
	}
	fmt.Fprintf(&b, "\n  verdict    %s\n", strings.ToUpper(string(c.Verdict)))
	for _, why := range c.Reasons {
		fmt.Fprintf(&b, "             %s\n", why)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteComparisonJUnit writes JUnit XML: one test case per objective,
// failed when the objective failed or could not be told (the comparison
// then exits 3, which a CI job treats as a failure too).
func WriteComparisonJUnit(w io.Writer, c *Comparison) error {
	name := "canary.compare." + c.Scenario
	s := junitSuite{Name: name, Time: strconv.FormatFloat(c.DurationS, 'f', 3, 64)}
	for _, r := range c.Results {
		jc := junitCase{Name: "objective " + r.Expr, Classname: name + ".objective", Time: "0"}
		if r.Verdict != slo.Pass {
			jc.Failure = &junitFailure{Message: fmt.Sprintf("%s: %s", r.Verdict, r.Reason), Body: sidesText(r)}
		}
		s.Cases = append(s.Cases, jc)
	}
	if c.Generator.Saturated || len(c.Results) == 0 {
		// The reasons that belong to no objective (a saturated generator,
		// an aborted run) get a case of their own.
		jc := junitCase{Name: "verdict", Classname: name, Time: "0"}
		if c.Verdict != slo.Pass {
			jc.Failure = &junitFailure{Message: string(c.Verdict), Body: strings.Join(c.Reasons, "\n")}
		}
		s.Cases = append(s.Cases, jc)
	}
	return writeJUnitSuite(w, s)
}

// sideReport is a side's report, or an empty one, so that a document
// without it still renders.
func sideReport(s ComparedSide) *stats.Report {
	if s.Report == nil {
		return &stats.Report{}
	}
	return s.Report
}

// stepAt is a report's i-th step, or an empty one.
func stepAt(r *stats.Report, i int) stats.StepReport {
	if i < len(r.Steps) {
		return r.Steps[i]
	}
	return stats.StepReport{}
}

func iterationsText(r *stats.Report) string {
	return fmt.Sprintf("%d (%.1f/s)", r.Iterations.Total, r.Rate.Achieved)
}

func failedText(r *stats.Report) string {
	it := r.Iterations
	pct := 0.0
	if it.Total > 0 {
		pct = 100 * float64(it.Failure+it.Dropped) / float64(it.Total)
	}
	return fmt.Sprintf("%d (%.2f%%), %d dropped", it.Failure+it.Dropped, pct, it.Dropped)
}

func confidenceText(c float64) string {
	if c == 0 {
		c = compare.DefaultConfidence
	}
	return strconv.FormatFloat(c*100, 'f', -1, 64) + " %"
}

func verdictMark(v slo.Verdict) string {
	switch v {
	case slo.Pass:
		return "✓"
	case slo.Fail:
		return "✗"
	}
	return "?"
}

// isRate reports whether a result compares rates (errors, success) rather
// than latencies; its Objective is not in the JSON, its expression is.
func isRate(r compare.Result) bool {
	o, err := compare.ParseObjective(r.Expr)
	return err == nil && (o.Measure == compare.Errors || o.Measure == compare.Success)
}

// sideValue prints a side's value: a latency in ms or a rate in percent.
func sideValue(r compare.Result, s compare.Side) string {
	if s.Value == nil {
		return "n/a"
	}
	if isRate(r) {
		return strconv.FormatFloat(roundTo(*s.Value*100, 3), 'f', -1, 64) + "%"
	}
	return ms(*s.Value*1000) + " ms"
}

// sidesText is "baseline 20.1 ms (n 2000) → candidate 23.0 ms (n 2000)".
func sidesText(r compare.Result) string {
	return fmt.Sprintf("baseline %s (n %d) → candidate %s (n %d)",
		sideValue(r, r.Baseline), r.Baseline.N, sideValue(r, r.Candidate), r.Candidate.N)
}

// EffectText prints a result's effect with its interval, in its unit:
// "+14.8% [+13.73%, +16.06%]"; "n/a" when there were too few samples.
func EffectText(r compare.Result) string {
	e := r.Effect
	if e == nil {
		return "n/a"
	}
	return fmt.Sprintf("%s [%s, %s]", effectText(e.Unit, e.Estimate), effectText(e.Unit, e.Low), effectText(e.Unit, e.High))
}

// effectText prints an effect in its unit, with its sign.
func effectText(unit string, v float64) string {
	sign := "+"
	if v < 0 {
		sign, v = "-", -v
	}
	switch unit {
	case "relative":
		return sign + strconv.FormatFloat(roundTo(v*100, 2), 'f', -1, 64) + "%"
	case "seconds":
		return sign + ms(v*1000) + " ms"
	}
	return sign + strconv.FormatFloat(roundTo(v*100, 3), 'f', -1, 64) + "pp"
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}
