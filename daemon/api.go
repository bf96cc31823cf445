package daemon

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/store"
)

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{ErrorLog: nil, EnableOpenMetrics: true}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK\n") })
	mux.HandleFunc("GET /-/ready", d.handleReady)
	mux.HandleFunc("POST /-/reload", d.auth(scopeAdmin, d.handleReload))
	mux.HandleFunc("GET /api/v1/checks", d.handleChecks)
	mux.HandleFunc("GET /api/v1/checks/{name}/verdict", d.handleVerdict)
	mux.HandleFunc("GET /api/v1/checks/{name}/failures", d.handleFailures)
	mux.HandleFunc("GET /api/v1/gate/{name}", d.handleGate)
	mux.HandleFunc("POST /api/v1/gate/{name}", d.handleGate)
	mux.HandleFunc("POST /api/v1/runs", d.auth(scopeRuns, d.handleStartRun))
	mux.HandleFunc("GET /api/v1/runs", d.handleListRuns)
	mux.HandleFunc("GET /api/v1/runs/{id}", d.handleGetRun)
	mux.HandleFunc("POST /api/v1/runs/{id}/segments", d.auth(scopeRuns, d.handlePushSegment))
	mux.HandleFunc("POST /api/v1/flagger/{check}/{hook}", d.handleFlagger)
	mux.HandleFunc("GET /api/v1/silences", d.handleSilences)
	mux.HandleFunc("POST /api/v1/silences", d.auth(scopeAdmin, d.handleAddSilence))
	mux.HandleFunc("DELETE /api/v1/silences/{id}", d.auth(scopeAdmin, d.handleDeleteSilence))
	d.badgeRoutes(mux)
	mux.Handle("/", d.statusPage())
	srv := d.config().Server
	return d.limitUnauthenticated(srv.MaxUnauthenticatedRequests, capBodies(srv.MaxBodyBytes, mux))
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "success>=99.5%" reads better than "success\u003e=99.5%"
	_ = enc.Encode(v)
}

func (d *Daemon) fail(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, apiError{Error: d.secrets.String(fmt.Sprintf(format, args...))})
}

// failDecode answers a body that could not be decoded: 413 when it was over
// the size cap, else 400.
func (d *Daemon) failDecode(w http.ResponseWriter, err error) {
	var tl errTooLarge
	if errors.As(err, &tl) {
		d.fail(w, http.StatusRequestEntityTooLarge, "%v", err)
		return
	}
	d.fail(w, http.StatusBadRequest, "%v", err)
}

// capBodies bounds every request body: handlers read bodies whole before
// decoding them, and what they cannot read they answer 413.
func capBodies(limit int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, limit)
		}
		next.ServeHTTP(w, r)
	})
}

// scope is what a token may do: the auth_token everything, the run_token
// only start runs (POST /api/v1/runs and the Flagger webhooks).
type scope int

const (
	scopeAdmin scope = iota
	scopeRuns
)

// bearerToken is the token of an "Authorization: Bearer <token>" header.
// The scheme is case-insensitive (RFC 7235), the token is not.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", false
	}
	return tok, true
}

// tokenAllows reports whether a presented token grants s. Both configured
// tokens are compared, in constant time (of their hashes, so that the
// lengths do not show either).
func (d *Daemon) tokenAllows(got string, s scope) bool {
	srv := d.config().Server
	g := sha256.Sum256([]byte(got))
	match := func(want string) bool {
		w := sha256.Sum256([]byte(want))
		return want != "" && subtle.ConstantTimeCompare(g[:], w[:]) == 1
	}
	admin, runs := match(srv.AuthToken), match(srv.RunToken)
	return admin || s == scopeRuns && runs
}

// authDisabled answers 403 when no token that grants s is configured: the
// endpoint is off rather than open.
func (d *Daemon) authDisabled(w http.ResponseWriter, s scope) bool {
	srv := d.config().Server
	switch {
	case srv.AuthToken != "":
		return false
	case s == scopeRuns && srv.RunToken != "":
		return false
	case s == scopeRuns:
		d.fail(w, http.StatusForbidden, "this endpoint is disabled: set server.auth_token or server.run_token to enable it")
	default:
		d.fail(w, http.StatusForbidden, "this endpoint is disabled: set server.auth_token to enable it")
	}
	return true
}

// auth guards an endpoint with the bearer token.
func (d *Daemon) auth(s scope, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if d.authDisabled(w, s) {
			return
		}
		if tok, ok := bearerToken(r); !ok || !d.tokenAllows(tok, s) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="canary"`)
			d.fail(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		next(w, r)
	}
}

// limitUnauthenticated serves at most n requests at once that carry no
// valid token; past that it answers 503 with Retry-After at once, and
// counts it. Requests with a token are not limited, so that a flood of
// anonymous ones cannot lock out the operators and controllers that hold
// one; the health probes are not either, so that a flood does not get the
// daemon restarted.
func (d *Daemon) limitUnauthenticated(n int, next http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/-/healthy" || r.URL.Path == "/-/ready" {
			next.ServeHTTP(w, r)
			return
		}
		if tok, ok := bearerToken(r); ok && d.tokenAllows(tok, scopeRuns) {
			next.ServeHTTP(w, r)
			return
		}
		select {
		case slots <- struct{}{}:
			defer func() { <-slots }()
			next.ServeHTTP(w, r)
		default:
			d.api.busy.Inc()
			w.Header().Set("Retry-After", "1")
			d.fail(w, http.StatusServiceUnavailable, "busy: %d requests without a token are being served (server.max_unauthenticated_requests); try again shortly", n)
		}
	})
}

// absURL is the absolute URL of an API path, for Location headers (which
// Spinnaker follows as given, refusing relative ones): under
// server.external_url when set, else the scheme and host the request came
// to. X-Forwarded-* headers are not trusted; behind a proxy, set
// external_url.
func (d *Daemon) absURL(r *http.Request, path string) string {
	if base := d.config().Server.ExternalURL; base != "" {
		return base + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		// An HTTP/1.0 request without a Host header: the address it came to.
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			host = a.String()
		}
	}
	return scheme + "://" + host + path
}

func (d *Daemon) handleReady(w http.ResponseWriter, r *http.Request) {
	d.mu.Lock()
	ready := d.ready
	d.mu.Unlock()
	if !ready {
		http.Error(w, "starting\n", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "OK\n")
}

func (d *Daemon) handleReload(w http.ResponseWriter, r *http.Request) {
	if err := d.Reload(); err != nil {
		d.fail(w, http.StatusBadRequest, "config rejected, the previous one keeps running: %v", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
}

func (d *Daemon) runner(name string) *checkRunner {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.checks[name]
}

// checkSummary is one entry of GET /api/v1/checks.
type checkSummary struct {
	Name         string            `json:"name"`
	Verdict      slo.Verdict       `json:"verdict"`
	EvaluatedAt  *time.Time        `json:"evaluated_at,omitempty"`
	Window       string            `json:"window"`
	Samples      int64             `json:"samples"`
	Objectives   []objectiveDoc    `json:"objectives"`
	Reasons      []string          `json:"reasons"`
	TargetRate   float64           `json:"target_rate"`
	AchievedRate float64           `json:"achieved_rate"`
	Inflight     int64             `json:"inflight"`
	P50Ms        float64           `json:"p50_ms"`
	P99Ms        float64           `json:"p99_ms"`
	ErrorPct     float64           `json:"error_pct"`
	Labels       map[string]string `json:"labels,omitempty"`
	Schedule     string            `json:"schedule,omitempty"`
	// A scheduled check's next run, whether one runs now, and its last
	// run.
	NextRun *time.Time  `json:"next_run,omitempty"`
	Running bool        `json:"running,omitempty"`
	LastRun *lastRunDoc `json:"last_run,omitempty"`
	Uptime  []uptimeDoc `json:"uptime"`
	// Certificates are the chains the check's steps were last served, per
	// step and host (https only).
	Certificates []certDoc `json:"certificates,omitempty"`
}

func (d *Daemon) summaries(now time.Time) []checkSummary {
	d.mu.Lock()
	runners := make([]*checkRunner, 0, len(d.checks))
	for _, r := range d.checks {
		runners = append(runners, r)
	}
	d.mu.Unlock()
	sort.Slice(runners, func(i, j int) bool { return runners[i].ck.Name < runners[j].ck.Name })
	out := make([]checkSummary, 0, len(runners))
	win := getSnapshot()
	defer func() { putSnapshot(win) }()
	for _, r := range runners {
		ck := r.ck
		s := checkSummary{Name: ck.Name, Window: slo.FormatDuration(ck.Window), Labels: ck.Labels, Schedule: ck.ScheduleText}
		// The verdict as of the last evaluation; right after a restart, the
		// one persisted before it.
		var doc verdictDoc
		if ok, _ := d.store.Get(store.Verdicts, ck.Name, &doc); ok {
			s.Verdict, s.Samples, s.Objectives, s.Reasons = doc.Verdict, doc.Samples, doc.Objectives, doc.Reasons
			at := doc.At
			s.EvaluatedAt = &at
		}
		if running, next := r.schedule(); !next.IsZero() {
			n := next.UTC()
			s.NextRun, s.Running = &n, running
		}
		target, inflight := r.rates()
		s.TargetRate, s.Inflight = round2(target), inflight
		s.Uptime = uptimes(r, now)
		if r.tls != nil {
			s.Certificates = certDocs(r.tls.list())
		}
		if lr := d.lastRun(r, now); lr != nil {
			s.LastRun = &lastRunDoc{Start: lr.Start.UTC(), End: lr.End.UTC(), Verdict: slo.Verdict(lr.Verdict), Samples: lr.Samples}
		}
		win = r.col.WindowInto(win, now, ck.Window)
		if n := win.Iterations.Total(); n > 0 {
			span := min(ck.Window, now.Sub(r.started)).Seconds()
			if span > 0 {
				s.AchievedRate = round2(float64(win.Iterations.Success+win.Iterations.Failure) / span)
			}
			s.ErrorPct = round2(100 * float64(win.Iterations.Failure+win.Iterations.Dropped) / float64(n))
		}
		if h := win.Iteration; h != nil && h.TotalCount() > 0 {
			s.P50Ms = round2(float64(h.ValueAtQuantile(50)) / 1000)
			s.P99Ms = round2(float64(h.ValueAtQuantile(99)) / 1000)
		}
		if s.Objectives == nil {
			s.Objectives = []objectiveDoc{}
		}
		if s.Reasons == nil {
			s.Reasons = []string{}
		}
		if s.Verdict == "" {
			s.Verdict = slo.Inconclusive
			s.Reasons = []string{"not evaluated yet"}
			for _, o := range ck.SLOs {
				s.Objectives = append(s.Objectives, objectiveDoc{Name: o.Name, Objective: o.String(), Observed: "n/a", Target: o.Target})
			}
		}
		out = append(out, s)
	}
	return out
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

func (d *Daemon) handleChecks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"checks": d.summaries(d.clk.Now())})
}

// verdictParams are the query (or Flagger metadata) parameters of the
// verdict and gate endpoints.
type verdictParams struct {
	window     time.Duration
	since      time.Time
	minSamples int64
}

func (d *Daemon) parseParams(r *http.Request, run *checkRunner, meta map[string]string) (verdictParams, error) {
	p := verdictParams{window: run.ck.Window, minSamples: run.ck.MinSamples}
	get := func(k string) string {
		if v := r.URL.Query().Get(k); v != "" {
			return v
		}
		return meta[k]
	}
	if v := get("window"); v != "" {
		w, err := yamlfile.ParseDuration(v)
		if err != nil || w <= 0 {
			return p, fmt.Errorf("window %q: want a duration like 10m", v)
		}
		if lim := run.col.Retention(); w > lim {
			return p, fmt.Errorf("window %s: at most %s is kept for this check", v, slo.FormatDuration(lim))
		}
		p.window = w
	}
	if v := get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return p, fmt.Errorf("since %q: want an RFC 3339 time like 2026-11-23T10:00:00Z", v)
		}
		if t.After(d.clk.Now()) {
			return p, fmt.Errorf("since %q is in the future", v)
		}
		p.since = t
	}
	if v := get("min_samples"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, fmt.Errorf("min_samples %q: want a non-negative integer", v)
		}
		p.minSamples = n
	}
	return p, nil
}

func (d *Daemon) handleVerdict(w http.ResponseWriter, r *http.Request) {
	run := d.runner(r.PathValue("name"))
	if run == nil {
		d.fail(w, http.StatusNotFound, "no check %q", r.PathValue("name"))
		return
	}
	p, err := d.parseParams(r, run, nil)
	if err != nil {
		d.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	writeJSON(w, http.StatusOK, d.judge(run, d.clk.Now(), p.window, p.since, p.minSamples))
}

// handleGate answers 200 on pass, 412 on fail, 503 (Retry-After) when
// inconclusive, with the verdict body — for probes, curl --fail and
// Flagger webhooks that only need the verdict.
func (d *Daemon) handleGate(w http.ResponseWriter, r *http.Request) {
	run := d.runner(r.PathValue("name"))
	if run == nil {
		d.fail(w, http.StatusNotFound, "no check %q", r.PathValue("name"))
		return
	}
	var meta map[string]string
	if r.Method == http.MethodPost {
		// A Flagger payload may come with it: its metadata may set the
		// verdict's parameters; the rest of it is not needed here.
		var fp flaggerPayload
		empty, err := decodeLenient(r.Body, &fp)
		if err != nil {
			d.failDecode(w, fmt.Errorf("%w (want nothing, or a Flagger webhook payload)", err))
			return
		}
		if !empty {
			meta = fp.Metadata
		}
	}
	p, err := d.parseParams(r, run, meta)
	if err != nil {
		d.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	doc := d.judge(run, d.clk.Now(), p.window, p.since, p.minSamples)
	status := http.StatusOK
	switch doc.Verdict {
	case slo.Fail:
		status = http.StatusPreconditionFailed
	case slo.Inconclusive:
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.config().Policy.EvaluateEvery.Seconds()))))
	}
	writeJSON(w, status, doc)
}

// ------------------------------------------------------------- silences

type silenceRequest struct {
	Matchers  map[string]string `json:"matchers"`
	Duration  string            `json:"duration"`
	EndsAt    *time.Time        `json:"ends_at"`
	Comment   string            `json:"comment"`
	CreatedBy string            `json:"created_by"`
}

func (d *Daemon) handleSilences(w http.ResponseWriter, r *http.Request) {
	s := d.alerts.Silences()
	if s == nil {
		s = []alert.Silence{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"silences": s})
}

func (d *Daemon) handleAddSilence(w http.ResponseWriter, r *http.Request) {
	var req silenceRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		d.failDecode(w, err)
		return
	}
	now := d.clk.Now()
	s := alert.Silence{Matchers: req.Matchers, StartsAt: now, Comment: req.Comment, CreatedBy: req.CreatedBy}
	switch {
	case req.EndsAt != nil:
		s.EndsAt = *req.EndsAt
	case req.Duration != "":
		dur, err := yamlfile.ParseDuration(req.Duration)
		if err != nil || dur <= 0 {
			d.fail(w, http.StatusBadRequest, "duration %q: want a positive duration like 2h", req.Duration)
			return
		}
		s.EndsAt = now.Add(dur)
	default:
		d.fail(w, http.StatusBadRequest, "give duration (e.g. \"2h\") or ends_at")
		return
	}
	if len(req.Matchers) == 0 {
		d.fail(w, http.StatusBadRequest, "matchers: give at least one, e.g. {\"check\": \"checkout\"}")
		return
	}
	added, err := d.alerts.AddSilence(s)
	if err != nil {
		d.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	w.Header().Set("Location", d.absURL(r, "/api/v1/silences/"+added.ID))
	writeJSON(w, http.StatusCreated, added)
}

func (d *Daemon) handleDeleteSilence(w http.ResponseWriter, r *http.Request) {
	if err := d.alerts.DeleteSilence(r.PathValue("id")); err != nil {
		d.fail(w, http.StatusNotFound, "%v", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// errTooLarge is a body over server.max_body_bytes.
type errTooLarge struct{ limit int64 }

func (e errTooLarge) Error() string { return fmt.Sprintf("body larger than %d bytes", e.limit) }

// decodeStrict decodes a body that is one JSON object, refusing unknown
// fields and anything after the object.
func decodeStrict(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	return decodeOne(dec, v)
}

// decodeLenient is decodeStrict for bodies whose sender adds fields of its
// own (Flagger's payload); an empty body decodes to nothing.
func decodeLenient(body io.Reader, v any) (empty bool, err error) {
	raw, err := io.ReadAll(body)
	if err != nil {
		return false, bodyError(err)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return true, nil
	}
	return false, decodeOne(json.NewDecoder(bytes.NewReader(raw)), v)
}

func decodeOne(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return bodyError(err)
		}
		return errors.New("body: data after the JSON object; send one object")
	}
	return nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errTooLarge{limit: mbe.Limit}
	}
	if errors.Is(err, io.EOF) {
		return errors.New("body: want a JSON object, got nothing")
	}
	return fmt.Errorf("body: %v", err)
}
