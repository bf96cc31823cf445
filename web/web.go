// Package web serves the daemon's status page: every check with its verdict,
// rates, latencies and SLOs, firing alerts, silences, recent on-demand runs
// and the configuration's reload status. Server-rendered, self-contained (no
// scripts, fonts or styles from anywhere), refreshed every 15 seconds.
package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Status is what the page shows. The daemon fills it, already redacted.
type Status struct {
	GeneratedAt time.Time
	Version     string
	Config      ConfigStatus
	Checks      []Check
	Alerts      []Alert
	Silences    []Silence
	Runs        []Run
	ExternalURL string
}

// ConfigStatus is the configuration's reload status.
type ConfigStatus struct {
	OK         bool
	Error      string
	LastReload time.Time
	File       string
}

// Check is one check's row and page.
type Check struct {
	Name, Verdict string // "pass", "fail", "inconclusive"
	Reasons       []string
	Window        string
	Samples       int64
	TargetRate    float64
	AchievedRate  float64
	Inflight      int64
	P50Ms, P99Ms  float64
	ErrorPct      float64
	Labels        map[string]string
	Schedule      string
	Objectives    []Objective
	Steps         []Step
	Series        []Point
}

// Objective is one SLO as judged over the window.
type Objective struct {
	Name, Objective, Observed string
	Pass, Evaluated           bool
}

// Step is one step's latency and errors over the window.
type Step struct {
	Name         string
	Count        int64
	P50Ms, P99Ms float64
	ErrorPct     float64
	Errors       map[string]int64
	Status       map[string]int64
}

// Point is one point of a check's recent series.
type Point struct {
	T        time.Time
	Rate     float64
	P99Ms    float64
	ErrorPct float64
}

// Alert is a firing alert.
type Alert struct {
	Check, SLO, Severity string
	Since                time.Time
	Silenced             bool
}

// Silence is an active silence.
type Silence struct {
	ID        string
	Matchers  map[string]string
	EndsAt    time.Time
	Comment   string
	CreatedBy string
}

// Run is an on-demand run.
type Run struct {
	ID, Check, Status string
	Started, Ended    time.Time
}

// Source produces the page's state.
type Source func(ctx context.Context) (Status, error)

// Bounds on what one page lists.
const (
	MaxChecks   = 200
	MaxRuns     = 50
	MaxSilences = 100
	MaxReasons  = 20
)

// Handler serves GET / (overview) and GET /checks/{name}.
func Handler(src Source, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{src: src, log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", h.overview)
	mux.HandleFunc("GET /checks/{name}", h.check)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			h.page(w, http.StatusMethodNotAllowed, "error", view{Title: "method not allowed", Message: "This page only answers GET."})
			return
		}
		h.page(w, http.StatusNotFound, "error", view{Title: "not found", Message: "No such page."})
	})
	return mux
}

type handler struct {
	src Source
	log *slog.Logger
}

type view struct {
	Title   string
	Message string
	S       Status
	C       *Check
	More    map[string]int // rows left out per section
	Now     time.Time
	Failing int
}

func (h *handler) load(w http.ResponseWriter, r *http.Request) (Status, bool) {
	st, err := h.src(r.Context())
	if err != nil {
		// The page says that something went wrong; the details (which may
		// name files or hosts) go to the log only.
		h.log.Error("status page", "err", err)
		h.page(w, http.StatusInternalServerError, "error", view{Title: "error", Message: "The status could not be read; see the daemon's log."})
		return st, false
	}
	return st, true
}

func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	st, ok := h.load(w, r)
	if !ok {
		return
	}
	v := view{S: st, More: map[string]int{}, Now: st.GeneratedAt}
	sort.SliceStable(v.S.Checks, func(i, j int) bool {
		return rank(v.S.Checks[i].Verdict) < rank(v.S.Checks[j].Verdict) ||
			rank(v.S.Checks[i].Verdict) == rank(v.S.Checks[j].Verdict) && v.S.Checks[i].Name < v.S.Checks[j].Name
	})
	for _, c := range v.S.Checks {
		if c.Verdict == "fail" {
			v.Failing++
		}
	}
	v.S.Checks, v.More["checks"] = capRows(v.S.Checks, MaxChecks)
	v.S.Runs, v.More["runs"] = capRows(v.S.Runs, MaxRuns)
	v.S.Silences, v.More["silences"] = capRows(v.S.Silences, MaxSilences)
	v.Title = "canary"
	h.page(w, http.StatusOK, "overview", v)
}

func (h *handler) check(w http.ResponseWriter, r *http.Request) {
	st, ok := h.load(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	for i := range st.Checks {
		if st.Checks[i].Name == name {
			c := st.Checks[i]
			v := view{S: st, C: &c, More: map[string]int{}, Now: st.GeneratedAt, Title: "canary — " + c.Name}
			c.Reasons, v.More["reasons"] = capRows(c.Reasons, MaxReasons)
			h.page(w, http.StatusOK, "check", v)
			return
		}
	}
	h.page(w, http.StatusNotFound, "error", view{Title: "not found", Message: fmt.Sprintf("No check named %q.", name)})
}

func rank(verdict string) int {
	switch verdict {
	case "fail":
		return 0
	case "inconclusive":
		return 1
	case "pass":
		return 2
	}
	return 3
}

func capRows[T any](rows []T, n int) ([]T, int) {
	if len(rows) <= n {
		return rows, 0
	}
	return rows[:n], len(rows) - n
}

func (h *handler) page(w http.ResponseWriter, status int, name string, v view) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		h.log.Error("status page template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// ago prints how long before now t was: "12s ago", "3m ago", "2h ago".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "in " + short(-d)
	case d < time.Second:
		return "just now"
	}
	return short(d) + " ago"
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// spark draws a small SVG polyline of values.
func spark(vals []float64, color string) template.HTML {
	const w, h = 120.0, 24.0
	if len(vals) < 2 {
		return template.HTML(`<svg class="spark" width="120" height="24" role="img" aria-label="not enough data"></svg>`)
	}
	maxV := 0.0
	for _, v := range vals {
		maxV = math.Max(maxV, v)
	}
	if maxV == 0 {
		maxV = 1
	}
	var pts strings.Builder
	for i, v := range vals {
		fmt.Fprintf(&pts, "%.1f,%.1f ", float64(i)/float64(len(vals)-1)*w, h-1-v/maxV*(h-2))
	}
	return template.HTML(fmt.Sprintf(`<svg class="spark" width="120" height="24" viewBox="0 0 120 24" role="img" aria-label="trend"><polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/></svg>`,
		template.HTMLEscapeString(color), strings.TrimSpace(pts.String())))
}

func series(ps []Point, f func(Point) float64) []float64 {
	out := make([]float64, len(ps))
	for i, p := range ps {
		out[i] = f(p)
	}
	return out
}

func sortedMap(m map[string]int64) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].V != out[j].V {
			return out[i].V > out[j].V
		}
		return out[i].K < out[j].K
	})
	return out
}

type kv struct {
	K string
	V int64
}

func labels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ", ")
}

var funcs = template.FuncMap{
	"ago":    ago,
	"labels": labels,
	"sorted": sortedMap,
	"f1":     func(v float64) string { return fmt.Sprintf("%.1f", v) },
	"f2":     func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"rate": func(ps []Point) template.HTML {
		return spark(series(ps, func(p Point) float64 { return p.Rate }), "#2563eb")
	},
	"p99": func(ps []Point) template.HTML {
		return spark(series(ps, func(p Point) float64 { return p.P99Ms }), "#9333ea")
	},
	"errs": func(ps []Point) template.HTML {
		return spark(series(ps, func(p Point) float64 { return p.ErrorPct }), "#dc2626")
	},
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"verdict": func(v string) string {
		if v == "" {
			return "unknown"
		}
		return v
	},
}

var pages = template.Must(template.New("pages").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="15"><title>{{.Title}}{{if .Failing}} — {{.Failing}} failing{{end}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px auto;max-width:1100px;padding:0 16px;color:#111}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:24px 0 8px}a{color:#1d4ed8}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top;font-variant-numeric:tabular-nums}
th{color:#374151;font-weight:600}.num{text-align:right}.meta{color:#6b7280;font-size:13px}
.v{display:inline-block;min-width:88px;text-align:center;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;text-transform:uppercase}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.inconclusive,.unknown{background:#fef9c3;color:#854d0e}
.bad{color:#991b1b;font-weight:600}.warn{background:#fff7ed;border:1px solid #fed7aa;padding:8px;border-radius:6px}
ul{margin:4px 0;padding-left:18px}code{font-size:12px}
</style></head><body>{{end}}
{{define "foot"}}<p class="meta">canary {{.S.Version}} · generated {{utc .S.GeneratedAt}} · refreshes every 15 s · <a href="/metrics">/metrics</a> · <a href="/api/v1/checks">/api/v1/checks</a></p></body></html>{{end}}

{{define "config"}}{{if not .S.Config.OK}}<p class="warn" role="alert"><strong>The last configuration reload was rejected</strong>; the previous configuration keeps running.<br><code>{{.S.Config.Error}}</code></p>{{end}}{{end}}

{{define "overview"}}{{template "head" .}}
<h1>canary</h1>
<p class="meta">{{len .S.Checks}} checks{{if .Failing}} · <span class="bad">{{.Failing}} failing</span>{{end}} · config {{.S.Config.File}}, loaded {{ago .Now .S.Config.LastReload}}</p>
{{template "config" .}}
<h2>Checks</h2>
<table><thead><tr><th>check</th><th>verdict</th><th class="num">rate /s</th><th class="num">p50 ms</th><th class="num">p99 ms</th><th class="num">errors</th><th>trend (rate · p99 · errors)</th><th>SLOs</th></tr></thead><tbody>
{{range .S.Checks}}<tr>
<td><a href="/checks/{{.Name}}">{{.Name}}</a>{{if .Labels}}<br><span class="meta">{{labels .Labels}}</span>{{end}}{{if .Schedule}}<br><span class="meta">schedule {{.Schedule}}</span>{{end}}</td>
<td><span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span><br><span class="meta">{{.Window}}, n={{.Samples}}</span></td>
<td class="num">{{f1 .AchievedRate}}{{if .TargetRate}} / {{f1 .TargetRate}}{{end}}</td>
<td class="num">{{f1 .P50Ms}}</td><td class="num">{{f1 .P99Ms}}</td><td class="num">{{f2 .ErrorPct}}%</td>
<td>{{rate .Series}} {{p99 .Series}} {{errs .Series}}</td>
<td>{{range .Objectives}}<div>{{if not .Evaluated}}○{{else if .Pass}}✓{{else}}<span class="bad">✗</span>{{end}} {{.Name}}: {{.Observed}} <span class="meta">({{.Objective}})</span></div>{{end}}</td>
</tr>{{else}}<tr><td colspan="8">No checks configured.</td></tr>{{end}}
{{with .More.checks}}<tr><td colspan="8" class="meta">… {{.}} more</td></tr>{{end}}
</tbody></table>
<h2>Firing alerts</h2>
{{if .S.Alerts}}<table><thead><tr><th>check</th><th>SLO</th><th>severity</th><th>since</th><th></th></tr></thead><tbody>
{{range .S.Alerts}}<tr><td><a href="/checks/{{.Check}}">{{.Check}}</a></td><td>{{.SLO}}</td><td>{{.Severity}}</td><td>{{ago $.Now .Since}}</td><td>{{if .Silenced}}silenced{{end}}</td></tr>{{end}}
</tbody></table>{{else}}<p>None.</p>{{end}}
<h2>Silences</h2>
{{if .S.Silences}}<table><thead><tr><th>matchers</th><th>ends</th><th>comment</th><th>by</th></tr></thead><tbody>
{{range .S.Silences}}<tr><td><code>{{labels .Matchers}}</code></td><td>{{ago $.Now .EndsAt}}</td><td>{{.Comment}}</td><td>{{.CreatedBy}}</td></tr>{{end}}
{{with .More.silences}}<tr><td colspan="4" class="meta">… {{.}} more</td></tr>{{end}}
</tbody></table>{{else}}<p>None.</p>{{end}}
<h2>Recent on-demand runs</h2>
{{if .S.Runs}}<table><thead><tr><th>run</th><th>check</th><th>status</th><th>started</th></tr></thead><tbody>
{{range .S.Runs}}<tr><td><a href="/api/v1/runs/{{.ID}}"><code>{{.ID}}</code></a></td><td>{{.Check}}</td><td>{{.Status}}</td><td>{{ago $.Now .Started}}</td></tr>{{end}}
{{with .More.runs}}<tr><td colspan="4" class="meta">… {{.}} more</td></tr>{{end}}
</tbody></table>{{else}}<p>None.</p>{{end}}
{{template "foot" .}}{{end}}

{{define "check"}}{{template "head" .}}{{with .C}}
<p class="meta"><a href="/">← all checks</a></p>
<h1>{{.Name}} <span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span></h1>
<p class="meta">window {{.Window}} · {{.Samples}} iterations · {{f1 .AchievedRate}}/s{{if .TargetRate}} of {{f1 .TargetRate}}/s{{end}} · {{.Inflight}} in flight{{if .Labels}} · {{labels .Labels}}{{end}}{{if .Schedule}} · schedule {{.Schedule}}{{end}}</p>
{{if .Reasons}}<ul>{{range .Reasons}}<li>{{.}}</li>{{end}}{{with $.More.reasons}}<li class="meta">… {{.}} more</li>{{end}}</ul>{{end}}
<h2>SLOs</h2>
<table><thead><tr><th>SLO</th><th>objective</th><th>observed</th><th>result</th></tr></thead><tbody>
{{range .Objectives}}<tr><td>{{.Name}}</td><td><code>{{.Objective}}</code></td><td>{{.Observed}}</td><td>{{if not .Evaluated}}<span class="v unknown">no data</span>{{else if .Pass}}<span class="v pass">pass</span>{{else}}<span class="v fail">fail</span>{{end}}</td></tr>{{else}}<tr><td colspan="4">No SLOs: the check is judged on failed iterations.</td></tr>{{end}}
</tbody></table>
<h2>Trend</h2><p>rate {{rate .Series}} · p99 {{p99 .Series}} · errors {{errs .Series}}</p>
<h2>Steps over the window</h2>
<table><thead><tr><th>step</th><th class="num">requests</th><th class="num">p50 ms</th><th class="num">p99 ms</th><th class="num">errors</th><th>error classes</th><th>status codes</th></tr></thead><tbody>
{{range .Steps}}<tr><td>{{.Name}}</td><td class="num">{{.Count}}</td><td class="num">{{f1 .P50Ms}}</td><td class="num">{{f1 .P99Ms}}</td><td class="num">{{f2 .ErrorPct}}%</td>
<td>{{range sorted .Errors}}{{.K}} ×{{.V}} {{end}}</td><td>{{range sorted .Status}}{{.K}} ×{{.V}} {{end}}</td></tr>{{end}}
</tbody></table>
{{end}}{{template "foot" .}}{{end}}

{{define "error"}}{{template "head" .}}<h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="/">← all checks</a></p></body></html>{{end}}
`))
