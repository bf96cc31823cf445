package daemon

import (
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/store"
	"github.com/canaryproj/canary/web"
)

// Badges for READMEs, as Gatus offers them: GET /badge/{check}.svg (the
// check's verdict) and GET /badge/{check}/uptime.svg?window=30d (its
// uptime over 1h, 24h, 7d or 30d). They are public, like the status page.

// maxBadgeQuery bounds a badge's query string: it takes one short
// parameter, and READMEs add a cache-busting one at most.
const maxBadgeQuery = 256

func (d *Daemon) badgeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /badge/{file}", d.handleStatusBadge)
	mux.HandleFunc("GET /badge/{check}/uptime.svg", d.handleUptimeBadge)
}

// handleStatusBadge answers /badge/{check}.svg: the check's verdict, as
// the status page shows it.
func (d *Daemon) handleStatusBadge(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok {
		writeBadge(w, http.StatusNotFound, "badge", "not found", web.ColorUnknown)
		return
	}
	run := d.badgeCheck(w, r, name)
	if run == nil {
		return
	}
	v := d.shownVerdict(run, d.clk.Now())
	writeBadge(w, http.StatusOK, name, string(v), web.VerdictColor(string(v)))
}

// handleUptimeBadge answers /badge/{check}/uptime.svg?window=30d.
func (d *Daemon) handleUptimeBadge(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("check")
	run := d.badgeCheck(w, r, name)
	if run == nil {
		return
	}
	win := 30 * 24 * time.Hour
	if v := r.URL.Query().Get("window"); v != "" {
		parsed, err := yamlfile.ParseDuration(v)
		if err != nil || !allowedBadgeWindow(parsed) {
			writeBadge(w, http.StatusBadRequest, "window", "use 1h, 24h, 7d or 30d", web.ColorFail)
			return
		}
		win = parsed
	}
	u := uptime(run, d.clk.Now(), win)
	ratio := math.NaN()
	if u.Ratio != nil {
		ratio = *u.Ratio
	}
	writeBadge(w, http.StatusOK, "uptime "+web.WindowName(win), web.UptimeText(ratio), web.UptimeColor(ratio))
}

func allowedBadgeWindow(w time.Duration) bool {
	for _, b := range badgeWindows {
		if w == b {
			return true
		}
	}
	return false
}

// badgeCheck finds a badge's check, answering 400 for an oversized query
// and 404 for an unknown check (with a badge saying so, so that a README
// shows what is wrong).
func (d *Daemon) badgeCheck(w http.ResponseWriter, r *http.Request, name string) *checkRunner {
	if len(r.URL.RawQuery) > maxBadgeQuery {
		writeBadge(w, http.StatusBadRequest, "query", "too long", web.ColorFail)
		return nil
	}
	run := d.runner(name)
	if run == nil {
		writeBadge(w, http.StatusNotFound, "check", "not found", web.ColorUnknown)
		return nil
	}
	return run
}

// shownVerdict is the verdict the status page shows for a check: for a
// scheduled check between its runs, its last run's (its window would only
// say that it has no data); else the last evaluation's, inconclusive
// before the first.
func (d *Daemon) shownVerdict(r *checkRunner, now time.Time) slo.Verdict {
	if r.ck.Schedule != nil && !r.running.Load() {
		if lr := d.lastRun(r, now); lr != nil {
			return slo.Verdict(lr.Verdict)
		}
	}
	var doc verdictDoc
	if ok, _ := d.store.Get(store.Verdicts, r.ck.Name, &doc); ok && doc.Verdict != "" {
		return doc.Verdict
	}
	return slo.Inconclusive
}

// writeBadge answers an SVG badge. Image proxies (GitHub's camo) and
// browsers must ask again rather than show a stale verdict.
func writeBadge(w http.ResponseWriter, status int, label, message, color string) {
	w.Header().Set("Content-Type", "image/svg+xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, max-age=0")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(web.Badge(label, message, color))
}
