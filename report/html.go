package report

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"

	"github.com/canaryproj/canary/stats"
)

// WriteHTML writes a self-contained HTML page for a run report: summary,
// SLOs, each step's latency spectrum (corrected and service), throughput,
// errors by class and latency over time with the SLOs drawn across them,
// and the tables. It loads nothing from anywhere (no scripts, fonts or
// styles from the network) and reads without JavaScript: the plots are
// SVG; the inline script only adds a readout under the pointer.
func WriteHTML(w io.Writer, r *stats.Report) error {
	v := htmlView{R: r, Profile: describeProfile(r.Profile), Duration: fmtDur(r.DurationS), Script: template.JS(readoutJS)}
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
	cs := buildCharts(r)
	for i := range cs.spectra {
		v.Spectra = append(v.Spectra, cs.spectra[i].render())
	}
	for i := range cs.overTime {
		v.OverTime = append(v.OverTime, cs.overTime[i].render())
	}
	v.Notes = cs.notes
	v.Failures = failureViews(r.Failures)
	if r.Failures != nil {
		v.FailureOverflow = r.Failures.Overflow
	}
	return pageTmpl.Execute(w, v)
}

// readoutJS shows, under the pointer, the values of a chart's lines.
//
//go:embed assets/readout.js
var readoutJS string

type htmlView struct {
	R                          *stats.Report
	Profile, Duration, Verdict string
	SLOs                       []sloView
	Steps                      []stepView
	Iteration                  latencyView
	Spectra, OverTime          []template.HTML
	Notes                      []string
	Script                     template.JS
	Failures                   []failureView
	FailureOverflow            int64
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

// pageCSS styles the pages of a run and of a comparison alike.
const pageCSS = `body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:960px;color:#111;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.verdict{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;text-transform:uppercase;font-size:13px}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.inconclusive,.unknown{background:#fef9c3;color:#854d0e}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e5e7eb;font-variant-numeric:tabular-nums}
th{font-weight:600;color:#374151}td.num,th.num{text-align:right}
.meta{color:#4b5563}ul.reasons{margin:6px 0;padding-left:20px}p.help{color:#4b5563;margin:4px 0 8px}
figure.chart{position:relative;margin:8px 0 16px}
.plot{display:block;width:100%;height:auto;background:#fcfcfd;border:1px solid #e5e7eb;border-radius:6px}
.plot text{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
.chart-title{font-size:14px;font-weight:600;fill:#111827}.tick,.legend{font-size:11px;fill:#374151}
.axis-title{font-size:12px;fill:#374151}.grid{stroke:#e5e7eb;stroke-width:1}.frame{stroke:#9ca3af;stroke-width:1}
.slo-label{font-size:11px;font-weight:600;paint-order:stroke;stroke:#fcfcfd;stroke-width:4px;stroke-linejoin:round}.empty{font-size:13px;fill:#6b7280}.cursor{stroke:#6b7280;stroke-width:1}
.readout{position:absolute;display:none;pointer-events:none;background:#fff;border:1px solid #d1d5db;border-radius:4px;padding:4px 8px;font-size:12px;box-shadow:0 1px 4px rgba(0,0,0,.12);white-space:nowrap}
.readout b{display:block;font-weight:600}.readout i{display:inline-block;width:10px;height:3px;margin:0 6px 3px 0;vertical-align:middle}
details.failure{border:1px solid #e5e7eb;border-radius:6px;margin:8px 0;padding:4px 10px}details.failure summary{cursor:pointer;padding:4px 0}
.sample{border-top:1px solid #f3f4f6;padding:6px 0}pre.exchange{background:#f9fafb;border:1px solid #e5e7eb;border-radius:4px;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:12px;margin:4px 0}
table.kv th{width:6em;color:#4b5563;font-weight:500}
`

var pageTmpl = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>canary report — {{.R.Scenario}} — {{.Verdict}}</title>
<style>
` + pageCSS + `</style></head><body>
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
{{range .Notes}}<p class="meta">{{.}}</p>{{end}}
{{if .Spectra}}<h2>Latency by percentile</h2>
<p class="help">The latency at or under which each share of requests finished, on HdrHistogram's scale: each further nine (90 %, 99 %, 99.9 %) gets the same room. Corrected latency counts from when a request was due, service latency from when it was sent: where they part, requests waited for the generator.</p>
{{range .Spectra}}{{.}}{{end}}{{end}}
<h2>Over time</h2>
{{range .OverTime}}{{.}}{{end}}
<h2>Latency (ms) — corrected from the due time, and service from the actual send</h2>
<table><thead><tr><th>step</th><th></th><th class="num">count</th><th class="num">min</th><th class="num">mean</th><th class="num">p50</th><th class="num">p90</th><th class="num">p99</th><th class="num">p99.9</th><th class="num">max</th></tr></thead><tbody>
<tr><td>iteration</td><td></td><td class="num">{{.R.Latency.Count}}</td><td class="num">{{.Iteration.Min}}</td><td class="num">{{.Iteration.Mean}}</td><td class="num">{{.Iteration.P50}}</td><td class="num">{{.Iteration.P90}}</td><td class="num">{{.Iteration.P99}}</td><td class="num">{{.Iteration.P999}}</td><td class="num">{{.Iteration.Max}}</td></tr>
{{range .Steps}}<tr><td>{{.Name}}</td><td>corrected</td><td class="num">{{.Count}}</td><td class="num">{{.L.Min}}</td><td class="num">{{.L.Mean}}</td><td class="num">{{.L.P50}}</td><td class="num">{{.L.P90}}</td><td class="num">{{.L.P99}}</td><td class="num">{{.L.P999}}</td><td class="num">{{.L.Max}}</td></tr>
<tr><td></td><td>service</td><td></td><td class="num">{{.S.Min}}</td><td class="num">{{.S.Mean}}</td><td class="num">{{.S.P50}}</td><td class="num">{{.S.P90}}</td><td class="num">{{.S.P99}}</td><td class="num">{{.S.P999}}</td><td class="num">{{.S.Max}}</td></tr>{{end}}
</tbody></table>
<h2>Responses and errors</h2><table><thead><tr><th>step</th><th>status codes</th><th>errors</th></tr></thead><tbody>
{{range .Steps}}<tr><td>{{.Name}}</td><td>{{range $i, $s := .Status}}{{if $i}}, {{end}}{{$s}}{{end}}</td><td>{{range $i, $e := .Errors}}{{if $i}}, {{end}}{{$e}}{{else}}none{{end}}</td></tr>{{end}}
</tbody></table>
{{if .Failures}}<h2 id="failures">Failure samples</h2>
<p class="help">For each kind of failure, the first failing exchange and the latest ones, as the target answered them (bodies up to 2 KiB; secrets redacted): what the summary counts, shown.</p>
{{range .Failures}}<details class="failure"{{if .Open}} open{{end}}><summary><b>{{.Title}}</b> — {{.Reason}} <span class="meta">(first {{.First}}, last {{.Last}} UTC)</span></summary>
{{range .Samples}}<div class="sample"><p class="meta">{{.Label}} · {{.At}} UTC · iteration {{.Iteration}}</p>
<table class="kv"><tbody><tr><th>failed</th><td>{{.Failed}}</td></tr><tr><th>timing</th><td>{{.Timing}}</td></tr></tbody></table>
<pre class="exchange">{{.Exchange}}</pre></div>{{end}}
</details>{{end}}
{{if .FailureOverflow}}<p class="meta">{{.FailureOverflow}} failures of further kinds were counted, not sampled.</p>{{end}}{{end}}
<p class="meta">schema {{.R.Schema}} · generated by canary</p>
<script>{{.Script}}</script>
</body></html>
`))
