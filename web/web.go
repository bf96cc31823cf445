// Package web serves the daemon's status page — every check with its
// verdict, uptime, SLOs and error budget, its history drawn as SVG charts,
// failure samples and TLS certificates; firing alerts, silences, recent
// runs and the configuration's reload status — and draws the badges the
// daemon serves for READMEs. Server-rendered, self-contained (no scripts,
// fonts or styles from anywhere), refreshed every 15 seconds.
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
	"strconv"
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
	Runs        []Run // on-demand runs, newest first
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
	EvaluatedAt   time.Time // of the verdict; zero before the first evaluation
	Window        string
	Samples       int64
	TargetRate    float64
	AchievedRate  float64
	Inflight      int64
	P50Ms, P99Ms  float64
	ErrorPct      float64 // 0..100
	Labels        map[string]string

	// Schedule is a scheduled check's cron expression ("" for a continuous
	// check); NextRun its next run, Running whether one runs now, LastRun
	// the last one that ended (nil before the first).
	Schedule string
	NextRun  time.Time
	Running  bool
	LastRun  *LastRun

	// Uptime is the share of successful iterations over 24 h, 7 d and
	// 30 d (or what of them the check has run).
	Uptime     []Uptime
	Objectives []Objective
	Steps      []Step
	// Series is the recent history, oldest first; LatencyRules are the
	// latency thresholds drawn on its latency chart.
	Series       []Point
	LatencyRules []Rule
	Failures     []FailureGroup
	Certs        []Cert
}

// LastRun is a scheduled check's last run and its verdict.
type LastRun struct {
	Start, End time.Time
	Verdict    string
	Samples    int64
	Reasons    []string
}

// Uptime is the share of a check's iterations that succeeded over a
// window: Success of Total, counted from From (the window's start, or the
// check's when it is younger) for Span.
type Uptime struct {
	Window         string // "24h", "7d", "30d"
	Success, Total int64
	From           time.Time
	Span           time.Duration
	// Partial is set when the check has run for less than the window.
	Partial bool
}

// Ratio is Success/Total, NaN without iterations.
func (u Uptime) Ratio() float64 {
	if u.Total == 0 {
		return math.NaN()
	}
	return float64(u.Success) / float64(u.Total)
}

// Objective is one SLO as judged over the window.
type Objective struct {
	Name, Objective, Observed string
	Pass, Evaluated           bool
	// BudgetLeft is the share of the error budget not spent over
	// BudgetPeriod (1: untouched, negative: overspent); HasBudget is false
	// for objectives without one or without data over the period.
	HasBudget    bool
	BudgetLeft   float64
	BudgetPeriod string
}

// Rule is a threshold drawn on a chart.
type Rule struct {
	Label string
	Value float64
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
	T            time.Time
	Rate         float64 // iterations completed per second
	P50Ms, P99Ms float64
	ErrorPct     float64 // share of those iterations that failed, 0..100
}

// FailureGroup is one kind of failure (a step, its error class, and its
// status or failed assertion) with the count seen, when, and its latest
// samples.
type FailureGroup struct {
	Step, Class string
	Status      int
	Assertion   string
	Count       int64
	First, Last time.Time
	Reason      string
	Samples     []FailureSample
}

// FailureSample is one failing exchange, redacted and bounded by whoever
// kept it.
type FailureSample struct {
	At              time.Time
	Method, URL     string
	Status          int // 0: no response
	Error           string
	Expected        string // the failed assertion: what was expected…
	Actual          string // …and what was there
	RequestHeaders  []Header
	RequestBody     string
	ResponseHeaders []Header
	ResponseBody    string // its beginning
	ResponseBytes   int64  // the whole body's size
	Timing          []Phase
}

// Header is one header field of a failure sample.
type Header struct{ Name, Value string }

// Phase is one part of an exchange's time: "dns", "connect", "tls",
// "first byte", "body".
type Phase struct {
	Name string
	Ms   float64
}

// Cert is the certificate a step's requests to a host were last served,
// with its chain as the server sent it, and since when it is served.
type Cert struct {
	Step, Host      string
	Subject, Issuer string
	NotAfter        time.Time
	Chain           []ChainCert // leaf first
	FirstSeen       time.Time
}

// ChainCert is one certificate of a chain.
type ChainCert struct {
	Subject, Issuer string
	NotAfter        time.Time
}

// FirstExpiry is the certificate of the chain that expires first (the leaf
// when the chain is empty).
func (c Cert) FirstExpiry() ChainCert {
	first := ChainCert{Subject: c.Subject, Issuer: c.Issuer, NotAfter: c.NotAfter}
	for _, cc := range c.Chain {
		if cc.NotAfter.Before(first.NotAfter) {
			first = cc
		}
	}
	return first
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
	// MaxFailureGroups and MaxCerts bound a check page's failure samples
	// and certificates; the daemon bounds what it keeps of both too.
	MaxFailureGroups = 20
	MaxCerts         = 64
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
	Runs    []Run          // the check's own runs, on its page
	Charts  []figure       // the check's history, on its page
	More    map[string]int // rows left out per section
	Now     time.Time
	Failing int
}

// figure is a chart with its heading and caption.
type figure struct {
	ID, Title, Caption string
	SVG                template.HTML
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
		if st.Checks[i].Name != name {
			continue
		}
		c := st.Checks[i]
		v := view{S: st, C: &c, More: map[string]int{}, Now: st.GeneratedAt, Title: "canary — " + c.Name}
		c.Reasons, v.More["reasons"] = capRows(c.Reasons, MaxReasons)
		c.Failures, v.More["failures"] = capRows(c.Failures, MaxFailureGroups)
		c.Certs, v.More["certs"] = capRows(c.Certs, MaxCerts)
		for _, run := range st.Runs {
			if run.Check == c.Name && len(v.Runs) < MaxRuns {
				v.Runs = append(v.Runs, run)
			}
		}
		v.Charts = history(c, st.GeneratedAt)
		h.page(w, http.StatusOK, "check", v)
		return
	}
	h.page(w, http.StatusNotFound, "error", view{Title: "not found", Message: fmt.Sprintf("No check named %q.", name)})
}

// Series colours.
const (
	colorP50   = "#2563eb"
	colorP99   = "#9333ea"
	colorError = "#dc2626"
	colorRate  = "#0f766e"
)

// history is a check's charts: latency, errors and throughput over its
// recent series.
func history(c Check, now time.Time) []figure {
	// The charts span the series (at least ten seconds).
	from := now.Add(-10 * time.Second)
	if len(c.Series) > 0 && c.Series[0].T.Before(from) {
		from = c.Series[0].T
	}
	ts := make([]time.Time, len(c.Series))
	for i, p := range c.Series {
		ts[i] = p.T
	}
	get := func(f func(Point) float64) []float64 {
		out := make([]float64, len(c.Series))
		for i, p := range c.Series {
			out[i] = f(p)
		}
		return out
	}
	over := "over the last " + span(now.Sub(from))
	var rules []rule
	for _, r := range c.LatencyRules {
		rules = append(rules, rule{Label: r.Label, V: r.Value})
	}
	return []figure{
		{ID: "latency", Title: "Latency", Caption: "Iteration latency from its due time, p50 and p99 per point, in milliseconds, " + over + ".",
			SVG: chart{Title: "iteration latency", Unit: "ms", From: from, To: now, Rules: rules, Lines: []line{
				{Name: "p50", Color: colorP50, T: ts, V: get(func(p Point) float64 { return p.P50Ms })},
				{Name: "p99", Color: colorP99, T: ts, V: get(func(p Point) float64 { return p.P99Ms })},
			}}.svg()},
		oneLine("errors", "Errors", "Share of the iterations completed in each point that failed, in percent, "+over+".",
			chart{Title: "failed iterations", Unit: "%", From: from, To: now},
			line{Name: "failed", Color: colorError, T: ts, V: get(func(p Point) float64 { return p.ErrorPct })}),
		oneLine("throughput", "Throughput", "Iterations completed per second, "+over+".",
			chart{Title: "throughput", Unit: "/s", From: from, To: now},
			line{Name: "iterations/s", Color: colorRate, T: ts, V: get(func(p Point) float64 { return p.Rate })}),
	}
}

// oneLine is a figure whose chart c draws the one line l.
func oneLine(id, title, caption string, c chart, l line) figure {
	c.Lines = []line{l}
	return figure{ID: id, Title: title, Caption: caption, SVG: c.svg()}
}

// trend is the overview's small p99 chart of a check's last hour.
func trend(c Check, now time.Time) template.HTML {
	from := now.Add(-time.Hour)
	var ts []time.Time
	var vs []float64
	for _, p := range c.Series {
		if !p.T.Before(from) {
			ts, vs = append(ts, p.T), append(vs, p.P99Ms)
		}
	}
	if len(ts) > 0 && ts[0].After(from) {
		from = ts[0]
	}
	if now.Sub(from) < time.Minute {
		from = now.Add(-time.Minute)
	}
	return chart{Title: "p99 latency", Unit: "ms", From: from, To: now, Compact: true,
		Lines: []line{{Name: "p99", Color: colorP99, T: ts, V: vs}}}.svg()
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

// contentSecurityPolicy allows the page nothing but its own inline styles
// and images from the daemon (the badges) or data: URLs.
const contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:"

func (h *handler) page(w http.ResponseWriter, status int, name string, v view) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, v); err != nil {
		h.log.Error("status page template", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", contentSecurityPolicy)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// ago prints how long before now t was: "12 s ago", "3 min ago", "in 2 h".
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d > -time.Second && d < time.Second:
		return "just now" // also a moment ahead: the clocks read apart
	case d < 0:
		return "in " + span(-d)
	}
	return span(d) + " ago"
}

// until prints how long after now t is: "in 14 min"; "now" when due.
func until(now, t time.Time) string {
	if !t.After(now) {
		return "now"
	}
	return "in " + span(t.Sub(now))
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

// budget prints the share of an error budget left: "62.4 % left",
// "overspent 3.1×".
func budget(left float64) string {
	if left >= 0 {
		return strconv.FormatFloat(math.Floor(left*1000)/10, 'f', 1, 64) + "\u00a0% left"
	}
	return "overspent " + sig(1-left) + "×"
}

// uptimeClass colours an uptime cell.
func uptimeClass(u Uptime) string {
	r := u.Ratio()
	switch {
	case math.IsNaN(r):
		return "none"
	case r >= 0.999:
		return "ok"
	case r >= 0.99:
		return "warn"
	}
	return "bad"
}

// expiryClass colours a certificate's expiry: under 14 days bad, under 30
// days a warning.
func expiryClass(now, t time.Time) string {
	switch d := t.Sub(now); {
	case d < 14*24*time.Hour:
		return "bad"
	case d < 30*24*time.Hour:
		return "warn"
	}
	return "ok"
}

// firstCert is the certificate of a check that expires first.
func firstCert(cs []Cert) *ChainCert {
	var first *ChainCert
	for _, c := range cs {
		e := c.FirstExpiry()
		if first == nil || e.NotAfter.Before(first.NotAfter) {
			first = &e
		}
	}
	return first
}

var funcs = template.FuncMap{
	"ago":       ago,
	"until":     until,
	"labels":    labels,
	"sorted":    sortedMap,
	"uptime":    func(u Uptime) string { return uptimePct(u.Ratio()) },
	"errpct":    errorPct,
	"ms":        millis,
	"rate":      perSecond,
	"count":     count,
	"span":      span,
	"budget":    budget,
	"upclass":   uptimeClass,
	"expclass":  expiryClass,
	"firstcert": firstCert,
	"trend":     trend,
	"utc":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"clock": func(now, t time.Time) string {
		if t.UTC().Format("2006-01-02") == now.UTC().Format("2006-01-02") {
			return t.UTC().Format("15:04 UTC")
		}
		return t.UTC().Format("Jan 2 15:04 UTC")
	},
	"date":        func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"short":       func(t time.Time) string { return t.UTC().Format("Jan 2 15:04 UTC") },
	"truncated":   func(s FailureSample) bool { return s.ResponseBytes > int64(len(s.ResponseBody)) },
	"budgetWidth": func(left float64) float64 { return math.Max(0, math.Min(100, left*100)) },
	"verdict": func(v string) string {
		if v == "" {
			return "unknown"
		}
		return v
	},
	// idle: a scheduled check between its runs, whose window verdict
	// would say nothing but "no data".
	"idle": func(c Check) bool { return c.Schedule != "" && !c.Running },
}

var pages = template.Must(template.New("pages").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="refresh" content="15"><title>{{.Title}}{{if .Failing}} — {{.Failing}} failing{{end}}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:20px auto;max-width:1160px;padding:0 16px;color:#111}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:24px 0 8px}h3{font-size:14px;margin:14px 0 4px}a{color:#1d4ed8}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e5e7eb;vertical-align:top;font-variant-numeric:tabular-nums}
th{color:#374151;font-weight:600}.num{text-align:right;white-space:nowrap}.meta{color:#6b7280;font-size:13px}
.v{display:inline-block;min-width:88px;text-align:center;padding:1px 8px;border-radius:10px;font-weight:600;font-size:12px;text-transform:uppercase}
.pass{background:#dcfce7;color:#166534}.fail{background:#fee2e2;color:#991b1b}.inconclusive,.unknown{background:#fef9c3;color:#854d0e}.idle{background:#e5e7eb;color:#374151}
.bad{color:#991b1b;font-weight:600}.warn{color:#9a3412}.ok{color:#166534}.none{color:#6b7280}
.alert{background:#fff7ed;border:1px solid #fed7aa;padding:8px;border-radius:6px}
.tiles{display:flex;gap:12px;flex-wrap:wrap}.tile{border:1px solid #e5e7eb;border-radius:8px;padding:8px 14px;min-width:150px}
.tile .big{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}
.bar{display:inline-block;width:80px;height:8px;background:#e5e7eb;border-radius:4px;vertical-align:middle;margin-right:6px}.bar span{display:block;height:8px;border-radius:4px;background:#16a34a}
figure{margin:8px 0 16px}figcaption{color:#6b7280;font-size:13px}
svg.chart{width:100%;height:auto;font:11px system-ui,sans-serif}svg.chart.mini{width:220px;height:56px}
svg.chart .grid{stroke:#eef0f3}svg.chart .axis{stroke:#9ca3af}svg.chart .tick,svg.chart .title,svg.chart .empty{fill:#4b5563}
svg.chart .legend{fill:#111}svg.chart .rule{stroke:#b91c1c;stroke-dasharray:6 4}svg.chart .rule-label{fill:#b91c1c}
details{margin:4px 0}summary{cursor:pointer}pre{background:#f6f8fa;padding:8px;border-radius:6px;overflow:auto;max-height:240px;font-size:12px;white-space:pre-wrap;word-break:break-all}
ul{margin:4px 0;padding-left:18px}code{font-size:12px}.badges{display:inline-block;padding:2px}
</style></head><body>{{end}}
{{define "foot"}}<p class="meta">canary {{.S.Version}} · generated {{utc .S.GeneratedAt}} · refreshes every 15 s · times in UTC · <a href="/metrics">/metrics</a> · <a href="/api/v1/checks">/api/v1/checks</a></p></body></html>{{end}}

{{define "config"}}{{if not .S.Config.OK}}<p class="alert" role="alert"><strong>The last configuration reload was rejected</strong>; the previous configuration keeps running.<br><code>{{.S.Config.Error}}</code></p>{{end}}{{end}}

{{define "state"}}{{if idle .}}{{with .LastRun}}<span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span><br><span class="meta">last run {{short .End}}, n={{count .Samples}}</span>{{else}}<span class="v idle">scheduled</span><br><span class="meta">not run yet</span>{{end}}{{else}}<span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span><br><span class="meta">{{.Window}}, n={{count .Samples}}{{if .Running}}, running now{{end}}</span>{{end}}{{end}}

{{define "overview"}}{{template "head" .}}
<h1>canary</h1>
<p class="meta">{{len .S.Checks}} checks{{if .Failing}} · <span class="bad">{{.Failing}} failing</span>{{end}} · config {{.S.Config.File}}, loaded {{ago .Now .S.Config.LastReload}}</p>
{{template "config" .}}
<h2>Checks</h2>
<table><thead><tr><th>check</th><th>verdict</th><th class="num">uptime 24 h</th><th class="num">7 d</th><th class="num">30 d</th><th class="num">p99</th><th class="num">errors</th><th>p99, last hour</th><th>SLOs</th><th class="num">TLS</th></tr></thead><tbody>
{{range .S.Checks}}<tr>
<td><a href="/checks/{{.Name}}">{{.Name}}</a>{{if .Labels}}<br><span class="meta">{{labels .Labels}}</span>{{end}}{{if .Schedule}}<br><span class="meta">{{if .Running}}running now{{else if not .NextRun.IsZero}}next run {{clock $.Now .NextRun}} ({{until $.Now .NextRun}}){{end}}</span>{{end}}</td>
<td>{{template "state" .}}</td>
{{range .Uptime}}{{if .Total}}<td class="num {{upclass .}}" title="{{count .Success}} of {{count .Total}} iterations{{if .Partial}}, over {{span .Span}}{{end}}">{{uptime .}}{{if .Partial}}<br><span class="meta">{{span .Span}}</span>{{end}}</td>{{else}}<td class="num meta" title="no iterations">—</td>{{end}}{{else}}<td></td><td></td><td></td>{{end}}
{{if .Samples}}<td class="num">{{ms .P99Ms}}</td><td class="num">{{errpct .ErrorPct}}</td>{{else}}<td class="num meta">—</td><td class="num meta">—</td>{{end}}
<td>{{trend . $.Now}}</td>
<td>{{range .Objectives}}<div>{{if not .Evaluated}}○{{else if .Pass}}<span class="ok">✓</span>{{else}}<span class="bad">✗</span>{{end}} {{.Name}}: {{.Observed}}{{if .HasBudget}} <span class="meta">· {{budget .BudgetLeft}}</span>{{end}}</div>{{end}}</td>
<td class="num">{{with firstcert .Certs}}<span class="{{expclass $.Now .NotAfter}}" title="expires {{date .NotAfter}}">{{span ($.Now.Sub .NotAfter)}}</span>{{end}}</td>
</tr>{{else}}<tr><td colspan="10">No checks configured.</td></tr>{{end}}
{{with .More.checks}}<tr><td colspan="10" class="meta">… {{.}} more</td></tr>{{end}}
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
{{if .S.Runs}}{{template "runs" .S.Runs}}{{with .More.runs}}<p class="meta">… {{.}} more</p>{{end}}{{else}}<p>None.</p>{{end}}
{{template "foot" .}}{{end}}

{{define "runs"}}<table><thead><tr><th>run</th><th>check</th><th>status</th><th>started</th><th>ended</th></tr></thead><tbody>
{{range .}}<tr><td><a href="/api/v1/runs/{{.ID}}"><code>{{.ID}}</code></a></td><td>{{.Check}}</td><td>{{.Status}}</td><td>{{utc .Started}}</td><td>{{if not .Ended.IsZero}}{{utc .Ended}}{{end}}</td></tr>{{end}}
</tbody></table>{{end}}

{{define "check"}}{{template "head" .}}{{with .C}}
<p class="meta"><a href="/">← all checks</a></p>
<h1>{{.Name}} {{if idle .}}{{with .LastRun}}<span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span>{{else}}<span class="v idle">scheduled</span>{{end}}{{else}}<span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span>{{end}}</h1>
<p class="meta">{{if .EvaluatedAt.IsZero}}not evaluated yet{{else}}evaluated {{ago $.Now .EvaluatedAt}}{{end}} · window {{.Window}} · {{count .Samples}} iterations · {{rate .AchievedRate}}{{if .TargetRate}} of {{rate .TargetRate}}{{end}} · {{.Inflight}} in flight{{if .Labels}} · {{labels .Labels}}{{end}}</p>
{{if .Schedule}}<p>Scheduled <code>{{.Schedule}}</code>: {{if .Running}}<strong>running now</strong>{{else if not .NextRun.IsZero}}next run at <strong>{{clock $.Now .NextRun}}</strong> ({{until $.Now .NextRun}}){{end}}.
{{with .LastRun}}Last run {{utc .Start}} – {{utc .End}}: <span class="v {{verdict .Verdict}}">{{verdict .Verdict}}</span>, {{count .Samples}} iterations.{{if .Reasons}}<ul>{{range .Reasons}}<li>{{.}}</li>{{end}}</ul>{{end}}{{else}}It has not run yet.{{end}}</p>{{end}}
{{if and .Reasons (not (idle .))}}<ul>{{range .Reasons}}<li>{{.}}</li>{{end}}{{with $.More.reasons}}<li class="meta">… {{.}} more</li>{{end}}</ul>{{end}}
<h2>Uptime</h2>
<div class="tiles">{{range .Uptime}}<div class="tile"><div class="meta">last {{.Window}}</div><div class="big {{upclass .}}">{{uptime .}}</div><div class="meta">{{count .Success}} of {{count .Total}} iterations{{if .Partial}}<br>over {{span .Span}}, since {{utc .From}}{{end}}</div></div>{{else}}<p>No data yet.</p>{{end}}</div>
<h2>SLOs</h2>
<table><thead><tr><th>SLO</th><th>objective</th><th>observed ({{.Window}})</th><th>result</th><th>error budget</th></tr></thead><tbody>
{{range .Objectives}}<tr><td>{{.Name}}</td><td><code>{{.Objective}}</code></td><td>{{.Observed}}</td><td>{{if not .Evaluated}}<span class="v unknown">no data</span>{{else if .Pass}}<span class="v pass">pass</span>{{else}}<span class="v fail">fail</span>{{end}}</td>
<td>{{if .HasBudget}}{{if ge .BudgetLeft 0.0}}<span class="bar"><span style="width:{{printf "%.0f" (budgetWidth .BudgetLeft)}}%"></span></span>{{end}}<span class="{{if lt .BudgetLeft 0.0}}bad{{end}}">{{budget .BudgetLeft}}</span> <span class="meta">over {{.BudgetPeriod}}</span>{{else}}<span class="meta">—</span>{{end}}</td></tr>{{else}}<tr><td colspan="5">No SLOs: the check is judged on failed iterations.</td></tr>{{end}}
</tbody></table>
<h2>History</h2>
{{range $.Charts}}<figure id="{{.ID}}"><h3>{{.Title}}</h3>{{.SVG}}<figcaption>{{.Caption}}</figcaption></figure>{{end}}
<h2>Steps over the window</h2>
<table><thead><tr><th>step</th><th class="num">requests</th><th class="num">p50</th><th class="num">p99</th><th class="num">errors</th><th>error classes</th><th>status codes</th></tr></thead><tbody>
{{range .Steps}}<tr><td>{{.Name}}</td><td class="num">{{count .Count}}</td><td class="num">{{ms .P50Ms}}</td><td class="num">{{ms .P99Ms}}</td><td class="num">{{errpct .ErrorPct}}</td>
<td>{{range sorted .Errors}}{{.K}} ×{{.V}} {{end}}</td><td>{{range sorted .Status}}{{.K}} ×{{.V}} {{end}}</td></tr>{{end}}
</tbody></table>
{{if .Failures}}<h2 id="failures">Latest failures</h2>
{{range .Failures}}<h3>{{.Step}} · {{.Class}}{{if .Status}} {{.Status}}{{end}}{{if .Assertion}} · {{.Assertion}}{{end}} <span class="meta">×{{count .Count}}, first {{ago $.Now .First}}, last {{ago $.Now .Last}}</span></h3>
<p>{{.Reason}}</p>
{{range .Samples}}<details><summary>{{utc .At}} · {{.Method}} <code>{{.URL}}</code> → {{if .Status}}{{.Status}}{{else}}no response{{end}}</summary>
{{if .Error}}<p>{{.Error}}</p>{{end}}{{if or .Expected .Actual}}<p>expected <code>{{.Expected}}</code>, got <code>{{.Actual}}</code></p>{{end}}
{{if .Timing}}<p class="meta">{{range $i, $p := .Timing}}{{if $i}} · {{end}}{{$p.Name}} {{ms $p.Ms}}{{end}}</p>{{end}}
{{if .RequestHeaders}}<pre>{{range .RequestHeaders}}{{.Name}}: {{.Value}}
{{end}}{{.RequestBody}}</pre>{{end}}
<pre>{{range .ResponseHeaders}}{{.Name}}: {{.Value}}
{{end}}{{.ResponseBody}}</pre>{{if truncated .}}<p class="meta">first {{len .ResponseBody}} of {{count .ResponseBytes}} bytes</p>{{end}}
</details>{{end}}{{end}}{{with $.More.failures}}<p class="meta">… {{.}} more kinds of failure</p>{{end}}{{end}}
{{if .Certs}}<h2 id="tls">TLS certificates</h2>
<table><thead><tr><th>host</th><th>step</th><th>certificate expires</th><th>chain expires first</th><th>issuer</th><th>served since</th></tr></thead><tbody>
{{range .Certs}}<tr><td><code>{{.Host}}</code></td><td>{{.Step}}</td><td class="{{expclass $.Now .NotAfter}}">{{date .NotAfter}} ({{ago $.Now .NotAfter}})<br><span class="meta">{{.Subject}}</span></td>
<td>{{with .FirstExpiry}}<span class="{{expclass $.Now .NotAfter}}">{{date .NotAfter}}</span><br><span class="meta">{{.Subject}}</span>{{end}}</td><td>{{.Issuer}}</td><td>{{ago $.Now .FirstSeen}}</td></tr>{{end}}
{{with $.More.certs}}<tr><td colspan="6" class="meta">… {{.}} more</td></tr>{{end}}
</tbody></table>{{end}}
{{if $.Runs}}<h2>Recent runs</h2>{{template "runs" $.Runs}}{{end}}
<h2>Badges</h2>
<p><span id="badges" class="badges"><img src="/badge/{{.Name}}.svg" alt="{{.Name}}: status" height="20"> <img src="/badge/{{.Name}}/uptime.svg?window=30d" alt="{{.Name}}: uptime over 30 days" height="20"></span></p>
<p class="meta"><code>/badge/{{.Name}}.svg</code> · <code>/badge/{{.Name}}/uptime.svg?window=30d</code> (1h, 24h, 7d or 30d)</p>
{{end}}{{template "foot" .}}{{end}}

{{define "error"}}{{template "head" .}}<h1>{{.Title}}</h1><p>{{.Message}}</p><p><a href="/">← all checks</a></p></body></html>{{end}}
`))
