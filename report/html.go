package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"

	"github.com/canaryproj/canary/stats"
)

// WriteHTML writes a self-contained HTML page for a run report: summary,
// SLOs, per-step latency and errors, and SVG plots of the series. It loads
// nothing from anywhere (no scripts, fonts or styles from the network).
func WriteHTML(w io.Writer, r *stats.Report) error {
	v := htmlView{R: r, Profile: describeProfile(r.Profile), Duration: fmtDur(r.DurationS)}
	v.Verdict = r.Verdict
	if v.Verdict == "" {
		v.Verdict = "unknown"
	}
	for _, s := range r.SLOs {
		v.SLOs = append(v.SLOs, sloView{Expr: s.Expr, Observed: observed(s), Pass: s.Pass})
	}
	for _, s := range r.Steps {
		sv := stepView{Name: s.Name, Count: s.Count, L: fmtLatency(s.Latency), S: fmtLatency(s.Service)}
		for _, c := range sortedCounts(s.StatusCodes) {
			sv.Status = append(sv.Status, fmt.Sprintf("%s ×%d", c.name, c.n))
		}
		for _, c := range sortedCounts(s.Errors) {
			sv.Errors = append(sv.Errors, fmt.Sprintf("%s ×%d", c.name, c.n))
		}
		v.Steps = append(v.Steps, sv)
	}
	v.Iteration = fmtLatency(r.Latency)
	v.RatePlot = plot("iterations per second", "/s", []series{
		{"achieved", "#2563eb", pick(r.Series, func(p stats.Point) float64 { return p.Rate })},
		{"failed", "#dc2626", pick(r.Series, func(p stats.Point) float64 { return p.Errors })},
	})
	v.LatencyPlot = plot("iteration latency", "ms", []series{
		{"p50", "#16a34a", pick(r.Series, func(p stats.Point) float64 { return p.P50 })},
		{"p99", "#9333ea", pick(r.Series, func(p stats.Point) float64 { return p.P99 })},
	})
	v.Percentiles = percentilePlot(r)
	return pageTmpl.Execute(w, v)
}

type htmlView struct {
	R                                  *stats.Report
	Profile, Duration, Verdict         string
	SLOs                               []sloView
	Steps                              []stepView
	Iteration                          latencyView
	RatePlot, LatencyPlot, Percentiles template.HTML
}

type sloView struct {
	Expr, Observed string
	Pass           bool
}

type stepView struct {
	Name           string
	Count          int64
	L, S           latencyView
	Status, Errors []string
}

type latencyView struct{ Min, Mean, P50, P90, P99, P999, Max string }

func fmtLatency(l stats.LatencySummary) latencyView {
	return latencyView{ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max)}
}

type xy struct{ x, y float64 }

type series struct {
	name, color string
	pts         []xy
}

func pick(pts []stats.Point, f func(stats.Point) float64) []xy {
	out := make([]xy, len(pts))
	for i, p := range pts {
		out[i] = xy{p.T, f(p)}
	}
	return out
}

// plot draws line series as an inline SVG with axes and a legend. All text
// in it is produced here (numbers and fixed labels), escaped anyway.
func plot(title, unit string, ss []series) template.HTML {
	const w, h, left, bottom, top, right = 720.0, 220.0, 56.0, 28.0, 24.0, 12.0
	maxX, maxY := 0.0, 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			maxX, maxY = math.Max(maxX, p.x), math.Max(maxY, p.y)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="plot" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s"><title>%s</title>`, w, h, template.HTMLEscapeString(title), template.HTMLEscapeString(title))
	if maxX == 0 || maxY == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" class="empty">no data</text></svg>`, w/2-30, h/2)
		return template.HTML(b.String())
	}
	maxY = niceCeil(maxY)
	sx := func(x float64) float64 { return left + x/maxX*(w-left-right) }
	sy := func(y float64) float64 { return h - bottom - y/maxY*(h-bottom-top) }
	for i := 0; i <= 4; i++ {
		y := maxY * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" class="grid"/>`, left, sy(y), w-right, sy(y))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis" text-anchor="end">%s</text>`, left-6, sy(y)+4, template.HTMLEscapeString(trimNum(y)))
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" class="axis">0 s</text><text x="%.1f" y="%.1f" class="axis" text-anchor="end">%s s</text>`,
		left, h-8, w-right, h-8, template.HTMLEscapeString(trimNum(maxX)))
	fmt.Fprintf(&b, `<text x="%.1f" y="14" class="axis">%s</text>`, left, template.HTMLEscapeString(unit))
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		var d strings.Builder
		for j, p := range s.pts {
			cmd := "L"
			if j == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, sx(p.x), sy(p.y))
		}
		fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="1.6"/>`, strings.TrimSpace(d.String()), s.color)
		fmt.Fprintf(&b, `<rect x="%.1f" y="6" width="10" height="10" fill="%s"/><text x="%.1f" y="15" class="axis">%s</text>`,
			w-right-170+float64(i)*85, s.color, w-right-156+float64(i)*85, template.HTMLEscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// percentilePlot draws each step's corrected latency percentiles (the
// report's summaries) as horizontal bars.
func percentilePlot(r *stats.Report) template.HTML {
	var ss []series
	colors := []string{"#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be123c"}
	for i, s := range r.Steps {
		l := s.Latency
		ss = append(ss, series{s.Name, colors[i%len(colors)], []xy{{50, l.P50}, {90, l.P90}, {95, l.P95}, {99, l.P99}, {99.9, l.P999}}})
		if i == 5 {
			break
		}
	}
	var b strings.Builder
	b.WriteString(`<table class="pct"><thead><tr><th>step</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th></tr></thead><tbody>`)
	maxV := 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			maxV = math.Max(maxV, p.y)
		}
	}
	for _, s := range ss {
		fmt.Fprintf(&b, `<tr><td>%s</td>`, template.HTMLEscapeString(s.name))
		for _, p := range s.pts {
			width := 0.0
			if maxV > 0 {
				width = 100 * p.y / maxV
			}
			fmt.Fprintf(&b, `<td><div class="bar" style="width:%.0f%%;background:%s"></div>%s ms</td>`, width, s.color, template.HTMLEscapeString(ms(p.y)))
		}
		b.WriteString(`</tr>`)
	}
	b.WriteString(`</tbody></table>`)
	return template.HTML(b.String())
}

func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func trimNum(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

var pageTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>canary report — {{.R.Scenario}} — {{.Verdict}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:960px;color:#111;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;text-transform:uppercase;font-size:13px}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.inconclusive,.unknown{background:#fef9c3;color:#854d0e}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;font-variant-numeric:tabular-nums}
th{font-weight:600;color:#374151}td.num,th.num{text-align:right}
.meta{color:#4b5563}.plot{width:100%;height:auto;background:#fafafa;border:1px solid #e5e7eb;border-radius:6px;margin:6px 0}
.grid{stroke:#e5e7eb;stroke-width:1}.axis{font-size:11px;fill:#6b7280}.empty{font-size:13px;fill:#9ca3af}
.bar{height:6px;border-radius:3px;margin-bottom:2px}ul.reasons{margin:6px 0;padding-left:20px}
</style></head><body>
<h1>{{.R.Scenario}} <span class="verdict {{.Verdict}}">{{.Verdict}}</span></h1>
<p class="meta">{{.Profile}} · {{.Duration}} · {{.R.Start.Format "2006-01-02 15:04:05 MST"}} → {{.R.End.Format "15:04:05"}}{{if .R.Merged}} · merged from {{.R.Merged}} reports{{end}}</p>
{{if .R.Reasons}}<ul class="reasons">{{range .R.Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}
<table><tbody>
<tr><th>iterations</th><td>{{.R.Iterations.Total}} — {{.R.Iterations.Success}} succeeded, {{.R.Iterations.Failure}} failed, {{.R.Iterations.Dropped}} dropped</td></tr>
<tr><th>rate</th><td>{{printf "%.2f" .R.Rate.Achieved}}/s achieved{{if .R.Rate.Target}} of {{printf "%.2f" .R.Rate.Target}}/s{{end}}</td></tr>
<tr><th>generator</th><td>lag p99 {{printf "%.2f" .R.Generator.LagP99Ms}} ms, {{printf "%.2f" .R.Generator.BehindPct}}% behind{{with .R.Generator.CPUs}}, {{.}} CPU{{if ne . 1}}s{{end}}{{end}}{{if .R.Generator.Saturated}} — saturated: the generator, not the target, was the bottleneck{{end}}</td></tr>
</tbody></table>
{{if .SLOs}}<h2>SLOs</h2><table><thead><tr><th>objective</th><th class="num">observed</th><th>result</th></tr></thead><tbody>
{{range .SLOs}}<tr><td><code>{{.Expr}}</code></td><td class="num">{{.Observed}}</td><td>{{if .Pass}}<span class="verdict pass">pass</span>{{else}}<span class="verdict fail">fail</span>{{end}}</td></tr>{{end}}
</tbody></table>{{end}}
<h2>Throughput</h2>{{.RatePlot}}
<h2>Latency over time</h2>{{.LatencyPlot}}
<h2>Latency (ms) — corrected from the due time, and service from the actual send</h2>
<table><thead><tr><th>step</th><th></th><th class="num">count</th><th class="num">min</th><th class="num">mean</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th><th class="num">max</th></tr></thead><tbody>
<tr><td>iteration</td><td></td><td class="num">{{.R.Latency.Count}}</td><td class="num">{{.Iteration.Min}}</td><td class="num">{{.Iteration.Mean}}</td><td class="num">{{.Iteration.P50}}</td><td class="num">{{.Iteration.P90}}</td><td class="num">{{.Iteration.P99}}</td><td class="num">{{.Iteration.P999}}</td><td class="num">{{.Iteration.Max}}</td></tr>
{{range .Steps}}<tr><td>{{.Name}}</td><td>corrected</td><td class="num">{{.Count}}</td><td class="num">{{.L.Min}}</td><td class="num">{{.L.Mean}}</td><td class="num">{{.L.P50}}</td><td class="num">{{.L.P90}}</td><td class="num">{{.L.P99}}</td><td class="num">{{.L.P999}}</td><td class="num">{{.L.Max}}</td></tr>
<tr><td></td><td>service</td><td></td><td class="num">{{.S.Min}}</td><td class="num">{{.S.Mean}}</td><td class="num">{{.S.P50}}</td><td class="num">{{.S.P90}}</td><td class="num">{{.S.P99}}</td><td class="num">{{.S.P999}}</td><td class="num">{{.S.Max}}</td></tr>{{end}}
</tbody></table>
<h2>Percentiles by step</h2>{{.Percentiles}}
<h2>Responses and errors</h2><table><thead><tr><th>step</th><th>status codes</th><th>errors</th></tr></thead><tbody>
{{range .Steps}}<tr><td>{{.Name}}</td><td>{{range $i, $s := .Status}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td>{{range $i, $e := .Errors}}{{if $i}}, {{end}}{{$e}}{{else}}none{{end}}</td></tr>{{end}}
</tbody></table>
<p class="meta">schema {{.R.Schema}} · generated by canary</p>
</body></html>
`))
