// Package report renders a run report (stats.Report) for people
// and tools: the end-of-run summary, the live progress line, GitHub's step
// summary in Markdown, JUnit XML, and a self-contained HTML page.
package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/stats"
)

// WriteSummary writes the end-of-run summary (what k6 prints).
func WriteSummary(w io.Writer, r *stats.Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n  scenario   %s\n", r.Scenario)
	fmt.Fprintf(&b, "  profile    %s\n", describeProfile(r.Profile))
	fmt.Fprintf(&b, "  duration   %s  (%s → %s)\n", fmtDur(r.DurationS), r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339))
	it := r.Iterations
	rate := ""
	if rateMeaningful(r) {
		rate = fmt.Sprintf(" (%.1f/s", r.Rate.Achieved)
		if r.Rate.Target > 0 {
			rate += fmt.Sprintf(" of %.1f/s", r.Rate.Target)
		}
		rate += ")"
	}
	fmt.Fprintf(&b, "  iterations %d%s  ✓ %d succeeded  ✗ %d failed  %d dropped\n", it.Total, rate, it.Success, it.Failure, it.Dropped)
	gen := fmt.Sprintf("lag p99 %.2f ms, %.2f%% behind schedule", r.Generator.LagP99Ms, r.Generator.BehindPct)
	if n := r.Generator.CPUs; n > 0 {
		gen += fmt.Sprintf(", %d CPU%s", n, plural(n))
	}
	if r.Generator.Saturated {
		gen += "  — SATURATED: the generator, not the target, was the bottleneck"
		if r.Generator.CPUs > 0 && r.Merged == 0 {
			gen += " (more CPUs: --cpus)"
		}
	}
	fmt.Fprintf(&b, "  generator  %s\n\n", gen)

	fmt.Fprintf(&b, "  %-24s %9s %9s %9s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "min", "mean", "p50", "p90", "p99", "p99.9", "max")
	row := func(name, kind string, count int64, l stats.LatencySummary) {
		c := ""
		if count >= 0 {
			c = strconv.FormatInt(count, 10)
		}
		label := name
		if kind != "" {
			label = fmt.Sprintf("%-14s %s", name, kind)
		}
		fmt.Fprintf(&b, "  %-24s %9s %9s %9s %9s %9s %9s %9s %9s\n", clip(label, 24), c,
			ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max))
	}
	row("iteration", "", r.Latency.Count, r.Latency)
	for _, s := range r.Steps {
		row(s.Name, "corrected", s.Count, s.Latency)
		row("", "service", -1, s.Service)
	}

	var failures []string
	for _, s := range r.Steps {
		var parts []string
		for _, c := range sortedCounts(s.StatusCodes) {
			if c.name >= "200" && c.name < "400" {
				continue
			}
			parts = append(parts, fmt.Sprintf("status %s ×%d", c.name, c.n))
		}
		for _, c := range sortedCounts(s.Errors) {
			parts = append(parts, fmt.Sprintf("%s ×%d", c.name, c.n))
		}
		if len(parts) > 0 {
			failures = append(failures, fmt.Sprintf("  %-14s %s", s.Name, strings.Join(parts, ", ")))
		}
	}
	if len(failures) > 0 {
		b.WriteString("\n  failures\n")
		b.WriteString(strings.Join(failures, "\n"))
		b.WriteString("\n")
	}
	writeFailures(&b, r.Failures)
	if len(r.SLOs) > 0 {
		b.WriteString("\n  SLOs\n")
		for _, s := range r.SLOs {
			mark := "✓"
			if !s.Pass {
				mark = "✗"
			}
			fmt.Fprintf(&b, "  %s %-30s observed %s\n", mark, s.Expr, observed(s))
		}
	}
	fmt.Fprintf(&b, "\n  verdict    %s\n", strings.ToUpper(r.Verdict))
	for _, why := range r.Reasons {
		fmt.Fprintf(&b, "             %s\n", why)
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// observed prints an SLO's observed value with the unit its expression uses.
func observed(s stats.SLOResult) string {
	switch {
	case strings.HasPrefix(s.Expr, "success"), strings.HasPrefix(s.Expr, "errors"):
		return fmt.Sprintf("%.3g%%", s.Observed)
	case strings.HasPrefix(s.Expr, "rps"):
		return fmt.Sprintf("%.2f/s", s.Observed)
	}
	return fmt.Sprintf("%s ms", ms(s.Observed))
}

func describeProfile(p any) string {
	m, ok := p.(map[string]any)
	if !ok {
		return fmt.Sprint(p)
	}
	parts := []string{fmt.Sprint(m["model"])}
	if s, ok := m["shape"]; ok && s != "" && fmt.Sprint(s) != fmt.Sprint(m["model"]) {
		parts = append(parts, fmt.Sprint(s))
	}
	for _, k := range []string{"duration", "iterations", "vus", "max_inflight", "max_lag", "segment"} {
		if v, ok := m[k]; ok && fmt.Sprint(v) != "0s" {
			parts = append(parts, fmt.Sprintf("%s %v", strings.ReplaceAll(k, "_", "-"), v))
		}
	}
	return strings.Join(parts, ", ")
}

type count struct {
	name string
	n    int64
}

func sortedCounts(m map[string]int64) []count {
	out := make([]count, 0, len(m))
	for k, v := range m {
		if v > 0 {
			out = append(out, count{k, v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].n != out[j].n {
			return out[i].n > out[j].n
		}
		return out[i].name < out[j].name
	})
	return out
}

func ms(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 0, 64)
}

func fmtDur(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func clip(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// ProgressWriter prints the live progress line: on a terminal, one line
// redrawn every second; elsewhere a plain line every 10 s. Never more than
// one line a second.
type ProgressWriter struct {
	mu     sync.Mutex
	w      io.Writer
	tty    bool
	last   time.Time
	drawn  bool
	now    func() time.Time
	period time.Duration
}

// NewProgressWriter writes to w; tty selects the redrawn line.
func NewProgressWriter(w io.Writer, tty bool) *ProgressWriter {
	p := &ProgressWriter{w: w, tty: tty, now: time.Now, period: 10 * time.Second}
	if tty {
		p.period = time.Second
	}
	return p
}

// Update shows p if its period has passed.
func (pw *ProgressWriter) Update(p stats.Progress) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	now := pw.now()
	if !pw.last.IsZero() && now.Sub(pw.last) < pw.period-50*time.Millisecond {
		return
	}
	pw.last = now
	line := ProgressLine(p)
	if pw.tty {
		fmt.Fprintf(pw.w, "\r\033[K%s", line)
		pw.drawn = true
		return
	}
	fmt.Fprintln(pw.w, line)
}

// Done ends a redrawn line.
func (pw *ProgressWriter) Done() {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	if pw.tty && pw.drawn {
		fmt.Fprintln(pw.w)
		pw.drawn = false
	}
}

// ProgressLine formats p: elapsed/total, target vs achieved rate, in-flight,
// p50/p99, error %.
func ProgressLine(p stats.Progress) string {
	el := p.Elapsed.Truncate(time.Second)
	pos := el.String()
	if p.Total > 0 {
		pos = fmt.Sprintf("%s/%s", el, p.Total.Truncate(time.Second))
	}
	load := fmt.Sprintf("%.1f/s", p.AchievedRate)
	if p.TargetRate > 0 {
		load = fmt.Sprintf("%.1f/s of %.1f/s", p.AchievedRate, p.TargetRate)
	}
	if p.VUs > 0 {
		load += fmt.Sprintf(" (%d VUs)", p.VUs)
	}
	line := fmt.Sprintf("%s  %s  in-flight %d  p50 %s ms  p99 %s ms  errors %.1f%%  iterations %d",
		pos, load, p.Inflight, ms(p.P50), ms(p.P99), p.ErrorPct, p.Iterations)
	if p.Dropped > 0 {
		line += fmt.Sprintf("  dropped %d", p.Dropped)
	}
	return line
}

// rateMeaningful reports whether the achieved rate says something: with a
// target to compare it with, or over at least two iterations and a second.
// One iteration's "rate" is only the inverse of its latency (a smoke test
// of 53 ms would claim 19/s).
func rateMeaningful(r *stats.Report) bool {
	return r.Rate.Target > 0 || (r.Iterations.Total >= 2 && r.DurationS >= 1)
}

// WriteMarkdown writes the GitHub step summary.
func WriteMarkdown(w io.Writer, r *stats.Report) error {
	var b strings.Builder
	icon := map[string]string{"pass": "✅", "fail": "❌", "inconclusive": "⚠️"}[r.Verdict]
	fmt.Fprintf(&b, "### canary: %s %s — %s\n\n", icon, r.Verdict, r.Scenario)
	rate := ""
	if rateMeaningful(r) {
		rate = fmt.Sprintf(" (%.1f/s)", r.Rate.Achieved)
	}
	fmt.Fprintf(&b, "%d iteration%s in %s%s, %d failed, %d dropped.\n\n", r.Iterations.Total, plural(int(r.Iterations.Total)), fmtDur(r.DurationS), rate, r.Iterations.Failure, r.Iterations.Dropped)
	for _, why := range r.Reasons {
		fmt.Fprintf(&b, "- %s\n", mdEscape(why))
	}
	if len(r.Reasons) > 0 {
		b.WriteString("\n")
	}
	if len(r.SLOs) > 0 {
		b.WriteString("| SLO | observed | |\n|---|---:|---|\n")
		for _, s := range r.SLOs {
			mark := "✅"
			if !s.Pass {
				mark = "❌"
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.Expr, observed(s), mark)
		}
		b.WriteString("\n")
	}
	if f := r.Failures; f != nil && len(f.Groups) > 0 {
		b.WriteString("**Failures** (the first of each kind):\n\n")
		for i := range f.Groups[:min(len(f.Groups), textKinds)] {
			g := &f.Groups[i]
			fmt.Fprintf(&b, "- `%s`", mdCode(groupTitle(g)))
			if len(g.Samples) > 0 {
				s := &g.Samples[0]
				fmt.Fprintf(&b, " — `%s` → %s", mdCode(s.Request.Method+" "+s.Request.URL), mdEscape(oneLine(failureText(s), 300)))
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
	}
	b.WriteString("| step | count | p50 ms | p90 ms | p99 ms | max ms | errors |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, s := range r.Steps {
		var errs []string
		for _, c := range sortedCounts(s.Errors) {
			errs = append(errs, fmt.Sprintf("%s ×%d", c.name, c.n))
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s |\n", mdEscape(s.Name), s.Count,
			ms(s.Latency.P50), ms(s.Latency.P90), ms(s.Latency.P99), ms(s.Latency.Max), strings.Join(errs, ", "))
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// mdCode makes s safe inside a Markdown code span.
func mdCode(s string) string { return strings.ReplaceAll(oneLine(s, 300), "`", "'") }

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s)
}

// JUnit XML: one test case per SLO and per step.
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *struct{}     `xml:"skipped,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes JUnit XML: a case per SLO and per step (a step fails
// when any of its requests did).
func WriteJUnit(w io.Writer, r *stats.Report) error {
	s := junitSuite{Name: "canary." + r.Scenario, Time: strconv.FormatFloat(r.DurationS, 'f', 3, 64)}
	for _, o := range r.SLOs {
		c := junitCase{Name: "slo " + o.Expr, Classname: "canary." + r.Scenario + ".slo", Time: "0"}
		if !o.Pass {
			c.Failure = &junitFailure{Message: fmt.Sprintf("%s: observed %s", o.Expr, observed(o)), Body: strings.Join(r.Reasons, "\n")}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, st := range r.Steps {
		c := junitCase{Name: "step " + st.Name, Classname: "canary." + r.Scenario + ".step", Time: strconv.FormatFloat(st.Latency.Mean/1000, 'f', 3, 64)}
		var failed int64
		var parts []string
		for _, e := range sortedCounts(st.Errors) {
			failed += e.n
			parts = append(parts, fmt.Sprintf("%s ×%d", e.name, e.n))
		}
		if failed > 0 {
			c.Failure = &junitFailure{Message: fmt.Sprintf("%d of %d requests failed", failed, st.Count), Body: strings.Join(append(parts, stepSamples(r.Failures, st.Name)...), "\n")}
		}
		s.Cases = append(s.Cases, c)
	}
	if r.Verdict == "inconclusive" {
		s.Cases = append(s.Cases, junitCase{Name: "verdict", Classname: "canary." + r.Scenario, Time: "0",
			Failure: &junitFailure{Message: "inconclusive", Body: strings.Join(r.Reasons, "\n")}})
	}
	return writeJUnitSuite(w, s)
}

// writeJUnitSuite counts s's tests and failures and writes it as a JUnit
// document of one suite.
func writeJUnitSuite(w io.Writer, s junitSuite) error {
	s.Tests, s.Failures = 0, 0
	for _, c := range s.Cases {
		s.Tests++
		if c.Failure != nil {
			s.Failures++
		}
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// stepSamples is a JUnit step case's failure samples: the first of each
// kind of the step's failures, as text.
func stepSamples(f *stats.FailureReport, step string) []string {
	if f == nil {
		return nil
	}
	var out []string
	for i := range f.Groups {
		g := &f.Groups[i]
		if g.Step != step || len(g.Samples) == 0 {
			continue
		}
		out = append(out, "", groupTitle(g)+", first sample:")
		for _, l := range sampleLines(&g.Samples[0], 1000) {
			out = append(out, "  "+l)
		}
	}
	return out
}

// plural is "s" unless n is 1.
func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
