package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// The two sides' colours, on every chart of a comparison.
const (
	baselineColor  = "#2563eb"
	candidateColor = "#ea580c"
)

// WriteComparisonHTML writes a self-contained HTML page for a comparison:
// the verdict, each objective with both sides' values and its effect drawn
// with its interval against the allowance, the two latency distributions
// overlaid as percentile spectra (an objective's allowance marked at its
// percentile), and both sides over time. Like WriteHTML's page it loads
// nothing and reads without JavaScript.
func WriteComparisonHTML(w io.Writer, c *Comparison) error {
	base, cand := sideReport(c.Baseline), sideReport(c.Candidate)
	v := comparisonView{C: c, Verdict: string(c.Verdict), Profile: describeProfile(c.Profile), Duration: fmtDur(c.DurationS),
		Confidence: confidenceText(c.Confidence), Script: template.JS(readoutJS)}
	if v.Verdict == "" {
		v.Verdict = "unknown"
	}
	for _, s := range []*stats.Report{base, cand} {
		v.Sides = append(v.Sides, sideView{
			Iterations: iterationsText(s), Failed: failedText(s), P50: ms(s.Latency.P50), P99: ms(s.Latency.P99),
		})
	}
	v.Sides[0].Name, v.Sides[0].URL = "baseline", c.Baseline.URL
	v.Sides[1].Name, v.Sides[1].URL = "candidate", c.Candidate.URL
	for _, r := range c.Results {
		ov := objectiveView{Expr: r.Expr, Verdict: string(r.Verdict), Reason: r.Reason,
			Baseline: sideValue(r, r.Baseline), Candidate: sideValue(r, r.Candidate), Effect: EffectText(r), Allowed: "n/a"}
		if e := r.Effect; e != nil {
			ov.Allowed = effectText(e.Unit, worseSign(r)*e.Allowed)
			ov.Plot = effectPlot(r)
		}
		v.Objectives = append(v.Objectives, ov)
	}
	spectra, overTime, notes := comparisonCharts(c, base, cand)
	for i := range spectra {
		v.Spectra = append(v.Spectra, spectra[i].render())
	}
	for i := range overTime {
		v.OverTime = append(v.OverTime, overTime[i].render())
	}
	v.Notes = notes
	return comparisonTmpl.Execute(w, v)
}

type comparisonView struct {
	C                                      *Comparison
	Verdict, Profile, Duration, Confidence string
	Sides                                  []sideView
	Objectives                             []objectiveView
	Spectra, OverTime                      []template.HTML
	Notes                                  []string
	Script                                 template.JS
}

type sideView struct {
	Name, URL, Iterations, Failed, P50, P99 string
}

type objectiveView struct {
	Expr, Verdict, Reason string
	Baseline, Candidate   string
	Effect, Allowed       string
	Plot                  template.HTML
}

// worseSign is +1 when a higher effect is worse (latency, errors), -1 when
// a lower one is (success).
func worseSign(r compare.Result) float64 {
	if o, err := compare.ParseObjective(r.Expr); err == nil && o.Measure == compare.Success {
		return -1
	}
	return 1
}

// effectPlot draws an effect as a forest plot's row: its interval as a
// bar, the estimate as a dot, no difference (0) as a grey line and the
// allowance as a red dashed one. An interval wholly past the allowance is
// a failure, one wholly short of it a pass.
func effectPlot(r compare.Result) template.HTML {
	e := r.Effect
	allowed := worseSign(r) * e.Allowed
	lo := min(e.Low, 0, allowed)
	hi := max(e.High, 0, allowed)
	if !finite(lo) || !finite(hi) {
		return ""
	}
	if pad := (hi - lo) * 0.08; pad > 0 {
		lo, hi = lo-pad, hi+pad
	} else {
		lo, hi = lo-1, hi+1
	}
	const w, h, left, right = 160.0, 26.0, 6.0, 6.0
	x := func(v float64) float64 { return left + (v-lo)/(hi-lo)*(w-left-right) }
	color := map[slo.Verdict]string{slo.Pass: "#166534", slo.Fail: "#991b1b"}[r.Verdict]
	if color == "" {
		color = "#854d0e"
	}
	esc := template.HTMLEscapeString
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="effect" viewBox="0 0 %.0f %.0f" width="%.0f" height="%.0f" role="img" aria-label="%s" data-low="%.6g" data-estimate="%.6g" data-high="%.6g" data-allowed="%.6g">`,
		w, h, w, h, esc(fmt.Sprintf("effect %s, interval %s to %s, allowed %s", effectText(e.Unit, e.Estimate), effectText(e.Unit, e.Low), effectText(e.Unit, e.High), effectText(e.Unit, allowed))),
		e.Low, e.Estimate, e.High, allowed)
	fmt.Fprintf(&b, `<line class="effect-zero" x1="%.1f" y1="2" x2="%.1f" y2="%.0f" stroke="#9ca3af" stroke-width="1"/>`, x(0), x(0), h-2)
	fmt.Fprintf(&b, `<line class="effect-allowed" x1="%.1f" y1="2" x2="%.1f" y2="%.0f" stroke="%s" stroke-width="1.5" stroke-dasharray="4 3"/>`, x(allowed), x(allowed), h-2, sloColor)
	fmt.Fprintf(&b, `<line class="effect-interval" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="4" stroke-linecap="round"/>`, x(e.Low), h/2, x(e.High), h/2, color)
	fmt.Fprintf(&b, `<circle class="effect-estimate" cx="%.1f" cy="%.1f" r="4.5" fill="#fff" stroke="%s" stroke-width="2"/>`, x(e.Estimate), h/2, color)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// comparisonCharts are a comparison's plots: the percentile spectra of
// both sides (the iteration's, then each step's corrected and service),
// and both sides' throughput, failures and latency over time.
func comparisonCharts(c *Comparison, base, cand *stats.Report) (spectra, overTime []chart, notes []string) {
	marks := allowanceMarks(c)
	add := func(id, title string, hls []histLine, step string) {
		ch, err := spectrum(id, title, hls)
		if err != nil {
			notes = append(notes, fmt.Sprintf("%s: %v", title, err))
			return
		}
		ch.marks = marks[step]
		spectra = append(spectra, ch)
	}
	add("spectrum-iteration", "Iteration latency by percentile: baseline and candidate", []histLine{
		{"baseline", baselineColor, false, base.HDR}, {"candidate", candidateColor, false, cand.HDR},
	}, "")
	steps := cand.Steps[:min(len(cand.Steps), stats.MaxSeriesSteps)]
	for i, s := range steps {
		bs := stepAt(base, i)
		add(fmt.Sprintf("spectrum-step-%d", i), fmt.Sprintf("%s: latency by percentile, corrected and service", s.Name), []histLine{
			{"baseline corrected", baselineColor, false, bs.HDR.Latency}, {"candidate corrected", candidateColor, false, s.HDR.Latency},
			{"baseline service", baselineColor, true, bs.HDR.Service}, {"candidate service", candidateColor, true, s.HDR.Service},
		}, s.Name)
	}

	xs, at := alignSeries(cleanSeries(base.Series), cleanSeries(cand.Series))
	xMax := c.DurationS
	for _, x := range xs {
		xMax = max(xMax, x)
	}
	timeChart := func(id, title, yTitle, unit string, f func(stats.Point) float64, worst bool) chart {
		ch := chart{id: id, title: title, x: xTime, xMax: xMax, xs: xs, yTitle: yTitle, yUnit: unit, empty: "no iterations"}
		for side, color := range []string{baselineColor, candidateColor} {
			ch.lines = append(ch.lines, line{name: []string{"baseline", "candidate"}[side], color: color, worst: worst, ys: at(side, f)})
		}
		return ch
	}
	overTime = append(overTime,
		timeChart("throughput", "Throughput: baseline and candidate", "throughput", "/s", func(p stats.Point) float64 { return p.Rate }, false),
		timeChart("errors", "Failed iterations: baseline and candidate", "failed iterations", "%", func(p stats.Point) float64 {
			all := p.Rate + p.ErrorsByClass[stats.ClassDropped.String()]
			if !(all > 0) {
				return math.NaN()
			}
			return min(100, 100*p.Errors/all)
		}, true),
		timeChart("latency-p99", "Iteration latency over time: p99 of baseline and candidate", "latency", "ms", func(p stats.Point) float64 { return latencyAt(p.P99, p.Rate) }, true),
		timeChart("latency-p50", "Iteration latency over time: p50 of baseline and candidate", "latency", "ms", func(p stats.Point) float64 { return latencyAt(p.P50, p.Rate) }, true),
	)
	return spectra, overTime, notes
}

// alignSeries puts two series on one grid, the union of their points'
// times; at(side, f) is f of side's point at each time (NaN where it has
// none). Both sides are flushed together, so their times mostly agree.
func alignSeries(sides ...[]stats.Point) (xs []float64, at func(side int, f func(stats.Point) float64) []float64) {
	for _, s := range sides {
		for _, p := range s {
			xs = append(xs, p.T)
		}
	}
	slices.Sort(xs)
	xs = slices.Compact(xs)
	return xs, func(side int, f func(stats.Point) float64) []float64 {
		ys := make([]float64, len(xs))
		pts := sides[side]
		j := 0
		for i, x := range xs {
			for j < len(pts) && pts[j].T < x {
				j++
			}
			ys[i] = math.NaN()
			if j < len(pts) && pts[j].T == x {
				ys[i] = f(pts[j])
			}
		}
		return ys
	}
}

// allowanceMarks are, by step ("" for the iteration), the percentile
// objectives' allowances as latencies: the candidate's curve must stay
// under the mark at the objective's percentile.
func allowanceMarks(c *Comparison) map[string][]threshold {
	out := map[string][]threshold{}
	for _, r := range c.Results {
		o, err := compare.ParseObjective(r.Expr)
		if err != nil || o.Measure != compare.Percentile || o.Service || r.Effect == nil || r.Baseline.Value == nil {
			continue
		}
		b := *r.Baseline.Value
		allowed := b + r.Effect.Allowed
		if r.Effect.Unit == "relative" {
			allowed = b * (1 + r.Effect.Allowed)
		}
		out[o.Step] = append(out[o.Step], threshold{
			label: fmt.Sprintf("%s: %s", r.Expr, r.Verdict), y: allowed * 1000, x: percentileX(o.Percentile), pass: r.Verdict == slo.Pass,
		})
	}
	return out
}

var comparisonTmpl = template.Must(template.New("comparison").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>canary comparison — {{.C.Scenario}} — {{.Verdict}}</title>
<style>
` + pageCSS + `.side-baseline{color:` + baselineColor + `;font-weight:600}.side-candidate{color:` + candidateColor + `;font-weight:600}
td.reason{color:#4b5563;font-size:13px;padding-top:0}svg.effect{display:block}td.effect{white-space:nowrap}
</style></head><body>
<h1>{{.C.Scenario}}: candidate against baseline <span class="verdict {{.Verdict}}">{{.Verdict}}</span></h1>
<p class="meta">{{.Profile}} · {{.Duration}} · {{.C.Start.Format "2006-01-02 15:04:05 MST"}} → {{.C.End.Format "15:04:05"}} · every iteration sent to both sides at once (seed {{.C.Seed}})</p>
{{if .C.Reasons}}<ul class="reasons">{{range .C.Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table><thead><tr><th></th><th>url</th><th class="num">iterations</th><th class="num">failed</th><th class="num">p50 ms</th><th class="num">p99 ms</th></tr></thead><tbody>
{{range .Sides}}<tr><td class="side-{{.Name}}">{{.Name}}</td><td><code>{{.URL}}</code></td><td class="num">{{.Iterations}}</td><td class="num">{{.Failed}}</td><td class="num">{{.P50}}</td><td class="num">{{.P99}}</td></tr>{{end}}
<tr><td>generator</td><td colspan="5">lag p99 {{printf "%.2f" .C.Generator.LagP99Ms}} ms, {{printf "%.2f" .C.Generator.BehindPct}}% behind{{with .C.Generator.CPUs}}, {{.}} CPU{{if ne . 1}}s{{end}}{{end}}{{if .C.Generator.Saturated}} — saturated: latency objectives that did not fail may be void{{end}}</td></tr>
</tbody></table>
<h2>Objectives</h2>
<p class="help">The effect is the candidate's value against the baseline's, with its {{.Confidence}} confidence interval. An objective fails when the whole interval is worse than allowed (the red dashed line), passes when all of it is within, and cannot tell when it straddles.</p>
<table class="objectives"><thead><tr><th>objective</th><th class="num">baseline</th><th class="num">candidate</th><th class="num">effect [interval]</th><th class="num">allowed</th><th></th><th>result</th></tr></thead><tbody>
{{range .Objectives}}<tr class="objective"><td><code>{{.Expr}}</code></td><td class="num">{{.Baseline}}</td><td class="num">{{.Candidate}}</td><td class="num effect">{{.Effect}}</td><td class="num effect">{{.Allowed}}</td><td>{{.Plot}}</td><td><span class="verdict {{.Verdict}}">{{.Verdict}}</span></td></tr>
<tr><td class="reason" colspan="7">{{.Reason}}</td></tr>{{end}}
</tbody></table>
{{range .Notes}}<p class="meta">{{.}}</p>{{end}}
<h2>Latency by percentile</h2>
<p class="help">Both versions' latency at or under which each share of requests finished, on HdrHistogram's scale: each further nine gets the same room. Where a percentile objective applies, its circle marks the most the candidate may take there.</p>
{{range .Spectra}}{{.}}{{end}}
<h2>Over time</h2>
{{range .OverTime}}{{.}}{{end}}
<p class="meta">schema {{.C.Schema}} · generated by canary · each side's full run report is in the JSON (--out)</p>
<script>{{.Script}}</script>
</body></html>
`))
