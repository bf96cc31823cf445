package daemon

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"time"

	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/web"
)

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

	for _, s := range d.summaries(now) {
		c := web.Check{
			Name: s.Name, Verdict: string(s.Verdict), Reasons: s.Reasons, Window: s.Window, Samples: s.Samples,
			TargetRate: s.TargetRate, AchievedRate: s.AchievedRate, Inflight: s.Inflight,
			P50Ms: s.P50Ms, P99Ms: s.P99Ms, ErrorPct: s.ErrorPct, Labels: s.Labels, Schedule: s.Schedule,
		}
		for _, o := range s.Objectives {
			c.Objectives = append(c.Objectives, web.Objective{Name: o.Name, Objective: o.Objective, Observed: o.Observed, Pass: o.Pass, Evaluated: o.Value != nil})
		}
		if r := runners[s.Name]; r != nil {
			win := r.col.Window(now, r.ck.Window)
			for _, step := range win.Steps {
				c.Steps = append(c.Steps, stepView(step))
			}
			c.Series = seriesView(r.col.Series(), r.started, 120)
		}
		st.Checks = append(st.Checks, c)
	}
	for _, a := range d.alerts.Firing() {
		st.Alerts = append(st.Alerts, web.Alert{Check: a.Check, SLO: a.SLO, Severity: a.Severity, Since: a.Since, Silenced: a.Silenced})
	}
	for _, s := range d.alerts.Silences() {
		st.Silences = append(st.Silences, web.Silence{ID: s.ID, Matchers: s.Matchers, EndsAt: s.EndsAt, Comment: s.Comment, CreatedBy: s.CreatedBy})
	}
	_ = d.store.RecentRuns(20, func(_ string, raw []byte) error {
		var doc runDoc
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

// seriesView is the last n points of a series, in wall-clock time.
func seriesView(pts []stats.Point, start time.Time, n int) []web.Point {
	if len(pts) > n {
		pts = pts[len(pts)-n:]
	}
	out := make([]web.Point, 0, len(pts))
	for _, p := range pts {
		e := 0.0
		if p.Rate > 0 {
			e = 100 * p.Errors / p.Rate
		}
		out = append(out, web.Point{T: start.Add(time.Duration(p.T * float64(time.Second))), Rate: p.Rate, P99Ms: p.P99, ErrorPct: e})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}
