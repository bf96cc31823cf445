package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/web"
)

// The status page (package web) and the longer views of a check it shares
// with the API and the badges: uptime over days, the error budget left over
// slo_period, a scheduled check's next and last run, and the recent history.

// uptimeWindows are the windows of the uptimes on the status page and in
// GET /api/v1/checks; badgeWindows the ones the uptime badge takes.
var (
	uptimeWindows = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
	badgeWindows  = []time.Duration{time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour}
)

// longestView is how far back every check's windows reach, whatever its
// own window and the burn-rate policy: the longest uptime.
const longestView = 30 * 24 * time.Hour

// The page's history: how far back its charts reach, and in how many
// points at most.
const (
	historySpan   = 24 * time.Hour
	historyPoints = 360
)

// budgetRefresh is how long a check's error budget over slo_period is
// reused: a latency objective's needs the period's histograms, and a
// budget over days hardly moves in a minute.
const budgetRefresh = time.Minute

// snapshots are window snapshots for reuse (see getSnapshot): the
// evaluations, every page load and GET /api/v1/checks read a window of
// every check, and a snapshot is about 1 MB of histograms (2 steps). The
// list keeps at most maxSpareSnapshots, for as long as the daemon runs:
// in a sync.Pool, which collections empty, they came and went with the
// garbage collector's cycles, and the live heap, and with it the resident
// set, swung by megabytes from one cycle to the next (docs/PERFORMANCE.md,
// "Daemon footprint").
var snapshots = make(spareSnapshots, maxSpareSnapshots)

// maxSpareSnapshots: an evaluation holds two snapshots at a time, a page
// load or an API request one; more at once are made and let go.
const maxSpareSnapshots = 4

// getSnapshot is a snapshot to write a window into with
// Collector.WindowInto (nil when there is none to reuse: WindowInto makes
// one); give it back with putSnapshot once nothing reads it.
func getSnapshot() *stats.Snapshot { return snapshots.get() }

func putSnapshot(s *stats.Snapshot) { snapshots.put(s) }

// spareSnapshots is a bounded list of snapshots to reuse.
type spareSnapshots chan *stats.Snapshot

func (l spareSnapshots) get() *stats.Snapshot {
	select {
	case s := <-l:
		return s
	default:
		return nil
	}
}

func (l spareSnapshots) put(s *stats.Snapshot) {
	if s == nil {
		return
	}
	select {
	case l <- s:
	default: // the list is full: the collector takes it
	}
}

// statusPage serves the status page (web) from the daemon's state.
func (d *Daemon) statusPage() http.Handler {
	return web.Handler(d.status, d.log)
}

// status builds the status page's view. Everything in it is redacted.
func (d *Daemon) status(ctx context.Context) (web.Status, error) {
	now := d.clk.Now()
	cfg := d.config()
	d.mu.Lock()
	st := web.Status{
		GeneratedAt: now, Version: d.o.Version, ExternalURL: cfg.Server.ExternalURL,
		Config: web.ConfigStatus{OK: d.lastErr == "", Error: d.lastErr, LastReload: d.lastOK, File: d.o.ConfigPath},
	}
	runners := map[string]*checkRunner{}
	for k, v := range d.checks {
		runners[k] = v
	}
	d.mu.Unlock()
	d.views.prune(runners)

	win := getSnapshot()
	defer func() { putSnapshot(win) }()
	for _, s := range d.summaries(now) {
		c := web.Check{
			Name: s.Name, Verdict: string(s.Verdict), Reasons: s.Reasons, Window: s.Window, Samples: s.Samples,
			TargetRate: s.TargetRate, AchievedRate: s.AchievedRate, Inflight: s.Inflight,
			P50Ms: s.P50Ms, P99Ms: s.P99Ms, ErrorPct: s.ErrorPct, Labels: s.Labels, Schedule: s.Schedule,
		}
		if s.EvaluatedAt != nil {
			c.EvaluatedAt = *s.EvaluatedAt
		}
		for _, u := range s.Uptime {
			c.Uptime = append(c.Uptime, web.Uptime{Window: u.Window, Success: u.Success, Total: u.Total,
				From: u.CoveredFrom, Span: time.Duration(u.Span * float64(time.Second)), Partial: u.partial})
		}
		if s.NextRun != nil {
			c.NextRun = *s.NextRun
		}
		r := runners[s.Name]
		var budgets map[string]budgetLeft
		if r != nil {
			budgets = d.budgets(r, now)
		}
		for i, o := range s.Objectives {
			wo := web.Objective{Name: o.Name, Objective: o.Objective, Observed: o.Observed, Pass: o.Pass, Evaluated: o.Value != nil}
			if r != nil && i < len(r.ck.SLOs) && o.Value != nil {
				wo.Observed = observedForPeople(r.ck.SLOs[i], *o.Value)
			}
			if b, ok := budgets[o.Name]; ok {
				wo.HasBudget, wo.BudgetLeft, wo.BudgetPeriod = true, b.left, b.period
			}
			c.Objectives = append(c.Objectives, wo)
		}
		if r != nil {
			win = r.col.WindowInto(win, now, r.ck.Window)
			for _, step := range win.Steps {
				c.Steps = append(c.Steps, stepView(step))
			}
			c.Series = seriesView(r.col.Series(), r.started, now)
			c.LatencyRules = latencyRules(r.ck.SLOs)
			c.Running = r.ck.Schedule != nil && r.running.Load()
			c.LastRun = d.lastRun(r, now)
			if r.tls != nil {
				c.Certs = r.tls.list()
			}
			c.Failures = failureViews(d.failures(r))
		}
		st.Checks = append(st.Checks, c)
	}
	for _, a := range d.alerts.Firing() {
		st.Alerts = append(st.Alerts, web.Alert{Check: a.Check, SLO: a.SLO, Severity: a.Severity, Since: a.Since, Silenced: a.Silenced})
	}
	for _, s := range d.alerts.Silences() {
		st.Silences = append(st.Silences, web.Silence{ID: s.ID, Matchers: s.Matchers, EndsAt: s.EndsAt, Comment: s.Comment, CreatedBy: s.CreatedBy})
	}
	_ = d.store.RecentRuns(web.MaxRuns, func(_ string, raw []byte) error {
		var doc struct {
			ID       string     `json:"id"`
			Check    string     `json:"check"`
			Scenario string     `json:"scenario"`
			Status   string     `json:"status"`
			Created  time.Time  `json:"created"`
			Ended    *time.Time `json:"ended"`
		}
		if json.Unmarshal(raw, &doc) == nil {
			// A distributed run has no check: its scenario names it.
			r := web.Run{ID: doc.ID, Check: cmp.Or(doc.Check, doc.Scenario), Status: doc.Status, Started: doc.Created}
			if doc.Ended != nil {
				r.Ended = *doc.Ended
			}
			st.Runs = append(st.Runs, r)
		}
		return nil
	})
	return st, nil
}

// uptimeDoc is a check's uptime over one window in GET /api/v1/checks:
// Success of Total iterations, counted from CoveredFrom over Span seconds
// (less than the window while the check is younger).
type uptimeDoc struct {
	Window      string    `json:"window"`
	Success     int64     `json:"success"`
	Total       int64     `json:"total"`
	Ratio       *float64  `json:"ratio"` // Success/Total; null without iterations
	CoveredFrom time.Time `json:"covered_from"`
	Span        float64   `json:"span_s"`
	partial     bool
}

// lastRunDoc is a scheduled check's last run in GET /api/v1/checks.
type lastRunDoc struct {
	Start   time.Time   `json:"start"`
	End     time.Time   `json:"end"`
	Verdict slo.Verdict `json:"verdict"`
	Samples int64       `json:"samples"`
}

// uptime is a check's share of successful iterations over w, from the
// window's counts alone (no histogram is read, so it is cheap at any
// length).
func uptime(r *checkRunner, now time.Time, w time.Duration) uptimeDoc {
	its, from := r.col.WindowCounts(now, w)
	end := now
	if from.After(end) {
		end = from
	}
	covered := end.Sub(from)
	u := uptimeDoc{
		Window: web.WindowName(w), Success: its.Success, Total: its.Total(),
		CoveredFrom: from.UTC(), Span: math.Round(covered.Seconds()*1000) / 1000,
		partial: covered < w-max(time.Second, w/50),
	}
	if u.Total > 0 {
		v := float64(u.Success) / float64(u.Total)
		u.Ratio = &v
	}
	return u
}

// uptimes are a check's uptimes over uptimeWindows.
func uptimes(r *checkRunner, now time.Time) []uptimeDoc {
	out := make([]uptimeDoc, 0, len(uptimeWindows))
	for _, w := range uptimeWindows {
		out = append(out, uptime(r, now, w))
	}
	return out
}

// budgetLeft is the share of an objective's error budget not spent over
// the budget period (slo_period, at most what the windows hold).
type budgetLeft struct {
	left   float64
	period string // "30d", or "3h12m so far (of a 30d period)" while the check is younger
}

// statusCache keeps what is costly to recompute on every page load: each
// check's error budgets (briefly) and the verdict of its last scheduled run
// (until the next one). Its zero value is ready; entries of checks that
// are gone are pruned.
type statusCache struct {
	mu      sync.Mutex
	budgets map[*checkRunner]cachedBudgets
	runs    map[*checkRunner]*web.LastRun
}

type cachedBudgets struct {
	at     time.Time
	values map[string]budgetLeft
}

// prune forgets the checks no longer running.
func (c *statusCache) prune(running map[string]*checkRunner) {
	c.mu.Lock()
	defer c.mu.Unlock()
	live := map[*checkRunner]bool{}
	for _, r := range running {
		live[r] = true
	}
	for r := range c.budgets {
		if !live[r] {
			delete(c.budgets, r)
		}
	}
	for r := range c.runs {
		if !live[r] {
			delete(c.runs, r)
		}
	}
}

// budgets are a check's error budgets left over slo_period, by SLO name,
// recomputed at most every budgetRefresh.
func (d *Daemon) budgets(r *checkRunner, now time.Time) map[string]budgetLeft {
	d.views.mu.Lock()
	if b, ok := d.views.budgets[r]; ok && now.Sub(b.at) < budgetRefresh && !now.Before(b.at) {
		d.views.mu.Unlock()
		return b.values
	}
	d.views.mu.Unlock()

	period := min(d.config().Policy.Period, r.col.Retention())
	if period <= 0 {
		return nil
	}
	values := map[string]budgetLeft{}
	var snap *stats.Snapshot // read once, and only for a latency objective
	for _, o := range r.ck.SLOs {
		if !o.HasBudget() {
			continue
		}
		var ratio float64
		var from time.Time
		switch o.Kind {
		case slo.KindSuccess, slo.KindErrors:
			its, f := r.col.WindowCounts(now, period)
			if its.Total() == 0 {
				continue
			}
			ratio, from = float64(its.Failure+its.Dropped)/float64(its.Total()), f
		default:
			if snap == nil {
				snap = r.col.WindowInto(getSnapshot(), now, period)
				defer putSnapshot(snap)
			}
			bad, _, ok := slo.BadRatio(o, snap)
			if !ok {
				continue
			}
			ratio, from = bad, snap.Start
		}
		b := budgetLeft{left: 1 - ratio/o.Budget(), period: web.WindowName(period)}
		if covered := now.Sub(from); covered < period-max(time.Second, period/50) {
			b.period = fmt.Sprintf("%s so far (of a %s period)", shortSpan(covered), web.WindowName(period))
		}
		values[o.Name] = b
	}
	d.views.mu.Lock()
	if d.views.budgets == nil {
		d.views.budgets = map[*checkRunner]cachedBudgets{}
	}
	d.views.budgets[r] = cachedBudgets{at: now, values: values}
	d.views.mu.Unlock()
	return values
}

// shortSpan prints a duration to its largest two units: "3h12m", "2d4h".
func shortSpan(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// lastRun is a scheduled check's last finished run with its verdict,
// judged over what the run recorded once its last samples are in the
// windows; until then, the run before.
func (d *Daemon) lastRun(r *checkRunner, now time.Time) *web.LastRun {
	span := r.lastRun.Load()
	d.views.mu.Lock()
	defer d.views.mu.Unlock()
	lr := d.views.runs[r]
	if span == nil || lr != nil && lr.Start.Equal(span.start) || now.Sub(span.end) < lastRunSettled {
		return lr
	}
	// A scheduled check is idle between its runs, so a window back to a
	// second before the run began holds the run and nothing else: the
	// window counts a slot when half of it is inside, and the slot of the
	// run's first samples may begin up to a second before the run did.
	doc := d.judge(r, now, now.Sub(span.start)+time.Second, time.Time{}, r.ck.MinSamples)
	lr = &web.LastRun{Start: span.start, End: span.end, Verdict: string(doc.Verdict), Samples: doc.Samples, Reasons: doc.Reasons}
	if d.views.runs == nil {
		d.views.runs = map[*checkRunner]*web.LastRun{}
	}
	d.views.runs[r] = lr
	return lr
}

// lastRunSettled is how long after a run ends its samples are all in the
// windows: the collector flushes every second.
const lastRunSettled = 2 * time.Second

// observedForPeople prints an observed value for the page: ratios as a
// percentage with two decimals (rounded so that a failure never disappears:
// success down, errors up), latencies with three significant digits.
func observedForPeople(o slo.Objective, v float64) string {
	switch {
	case (o.Kind == slo.KindSuccess || o.Kind == slo.KindErrors) && v >= 1:
		return "100\u00a0%"
	case (o.Kind == slo.KindSuccess || o.Kind == slo.KindErrors) && v <= 0:
		return "0\u00a0%"
	}
	switch o.Kind {
	case slo.KindSuccess:
		return fmt.Sprintf("%.2f\u00a0%%", math.Floor(v*10000)/100)
	case slo.KindErrors:
		return fmt.Sprintf("%.2f\u00a0%%", math.Ceil(v*10000-1e-9)/100)
	case slo.KindLatency:
		return slo.FormatSeconds(roundSig(v, 3))
	}
	return o.FormatValue(v)
}

// roundSig rounds v to n significant digits.
func roundSig(v float64, n int) float64 {
	if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return v
	}
	p := math.Pow(10, float64(n-1)-math.Floor(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// latencyRules are the thresholds of a check's whole-iteration latency
// objectives, drawn on its latency chart (which plots the iteration).
func latencyRules(objs []slo.Objective) []web.Rule {
	var out []web.Rule
	for _, o := range objs {
		if o.Kind == slo.KindLatency && o.Step == "" && !o.Service {
			out = append(out, web.Rule{Label: o.String(), Value: o.Target * 1000})
		}
	}
	return out
}

func stepView(s stats.StepSnapshot) web.Step {
	v := web.Step{Name: s.Name, Count: s.Count(), Errors: map[string]int64{}, Status: map[string]int64{}}
	if h := s.Latency; h != nil && h.TotalCount() > 0 {
		v.P50Ms = float64(h.ValueAtQuantile(50)) / 1000
		v.P99Ms = float64(h.ValueAtQuantile(99)) / 1000
	}
	var bad int64
	for c, n := range s.Errors {
		if n > 0 && stats.ErrorClass(c) != stats.ClassNone {
			v.Errors[stats.ErrorClass(c).String()] = n
			bad += n
		}
	}
	for code, n := range s.Status {
		v.Status[statusLabel(code)] = n
	}
	if v.Count > 0 {
		v.ErrorPct = 100 * float64(bad) / float64(v.Count)
	}
	return v
}

func statusLabel(code int) string {
	if code == 0 {
		return "none"
	}
	b, _ := json.Marshal(code)
	return string(b)
}

// seriesView is the series' last historySpan before now, in wall-clock
// time, merged into at most historyPoints points: rates and error shares
// averaged, p50 averaged, p99 the highest (a spike must not disappear in a
// merge).
func seriesView(pts []stats.Point, start, now time.Time) []web.Point {
	from := now.Add(-historySpan)
	// The points are in time order: those from `from` on are a tail.
	first := sort.Search(len(pts), func(i int) bool { return !start.Add(seconds(pts[i].T)).Before(from) })
	kept := pts[first:]
	k := (len(kept) + historyPoints - 1) / historyPoints
	out := make([]web.Point, 0, min(len(kept), historyPoints))
	for i := 0; i < len(kept); i += max(k, 1) {
		group := kept[i:min(len(kept), i+max(k, 1))]
		var rate, errs, p50, p99 float64
		busy := 0 // points with iterations: the others have no latency
		for _, p := range group {
			rate += p.Rate
			errs += p.Errors
			if p.Rate > 0 {
				busy++
				p50 += p.P50
				p99 = math.Max(p99, p.P99)
			}
		}
		v := web.Point{T: start.Add(seconds(group[len(group)-1].T)), Rate: rate / float64(len(group)),
			P50Ms: math.NaN(), P99Ms: math.NaN(), ErrorPct: math.NaN()}
		if busy > 0 {
			v.P50Ms, v.P99Ms, v.ErrorPct = p50/float64(busy), p99, 100*errs/rate
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// failureViews are a check's failure samples as the page shows them: the
// most frequent kind first, each kind's samples newest first.
func failureViews(f *stats.FailureReport) []web.FailureGroup {
	if f == nil {
		return nil
	}
	out := make([]web.FailureGroup, 0, min(len(f.Groups), web.MaxFailureGroups))
	for _, g := range f.Groups[:min(len(f.Groups), web.MaxFailureGroups)] {
		v := web.FailureGroup{Step: g.Step, Class: g.Class, Status: g.Status, Assertion: g.Assertion, Count: g.Count,
			First: g.First, Last: g.Last, Reason: g.Reason()}
		for i := len(g.Samples) - 1; i >= 0; i-- {
			v.Samples = append(v.Samples, sampleView(g.Samples[i]))
		}
		out = append(out, v)
	}
	return out
}

func sampleView(s stats.FailureSample) web.FailureSample {
	v := web.FailureSample{At: s.At, Method: s.Request.Method, URL: s.Request.URL, Status: s.Status, Error: s.Error,
		RequestBody: s.Request.Body}
	if a := s.Assertion; a != nil {
		v.Expected = strings.Join(strings.Fields(a.Kind+" "+a.Target+" "+a.Expected), " ")
		v.Actual = a.Actual
	}
	for _, h := range s.Request.Headers {
		v.RequestHeaders = append(v.RequestHeaders, web.Header{Name: h.Name, Value: h.Value})
	}
	if r := s.Response; r != nil {
		v.Status, v.ResponseBody, v.ResponseBytes = r.Status, r.Body, r.BodyBytes
		for _, h := range r.Headers {
			v.ResponseHeaders = append(v.ResponseHeaders, web.Header{Name: h.Name, Value: h.Value})
		}
	}
	t := s.Timing
	for _, p := range []web.Phase{{Name: "dns", Ms: t.DNSMs}, {Name: "connect", Ms: t.ConnectMs}, {Name: "tls", Ms: t.TLSMs},
		{Name: "first byte", Ms: t.FirstByteMs}, {Name: "body", Ms: t.BodyMs}, {Name: "total", Ms: t.TotalMs}} {
		if p.Ms > 0 {
			v.Timing = append(v.Timing, p)
		}
	}
	return v
}
