package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/store"
)

// Bounds of on-demand runs.
const (
	MaxConcurrentRuns  = 4
	DefaultRunDuration = time.Minute
	MaxRunDuration     = 24 * time.Hour
)

// Run statuses, as GET /api/v1/runs/{id} answers them (docs/gates.md).
const (
	RunRunning      = "running"
	RunPassed       = "passed"
	RunFailed       = "failed"
	RunInconclusive = "inconclusive"
)

// runDoc is an on-demand run as the API returns it and the store keeps it.
type runDoc struct {
	ID       string        `json:"id"`
	Key      string        `json:"key,omitempty"`
	Check    string        `json:"check"`
	Status   string        `json:"status"`
	Created  time.Time     `json:"created"`
	Ended    *time.Time    `json:"ended,omitempty"`
	Profile  any           `json:"profile"`
	Verdict  string        `json:"verdict,omitempty"`
	Reasons  []string      `json:"reasons,omitempty"`
	Error    string        `json:"error,omitempty"`
	Report   *stats.Report `json:"report,omitempty"`
	Location string        `json:"location"`

	// Comparison is a comparison check's run: both sides and the judgement.
	Comparison *report.Comparison `json:"comparison,omitempty"`
}

type runRequest struct {
	Check    string          `json:"check"`
	Profile  json.RawMessage `json:"profile"`
	Duration string          `json:"duration"`
	Key      string          `json:"key"`
}

type runManager struct {
	d      *Daemon
	mu     sync.Mutex
	active map[string]context.CancelFunc // by id; bounded by MaxConcurrentRuns
	wg     sync.WaitGroup
}

func newRunManager(d *Daemon) *runManager {
	return &runManager{d: d, active: map[string]context.CancelFunc{}}
}

// recover marks runs that were running when the daemon stopped (a crash or
// kill -9) as inconclusive: their results are lost, not wrong.
func (m *runManager) recover() {
	var stale []runDoc
	_ = m.d.store.Each(store.Runs, func(_ string, raw []byte) error {
		var r runDoc
		if json.Unmarshal(raw, &r) == nil && r.Status == RunRunning {
			stale = append(stale, r)
		}
		return nil
	})
	for _, r := range stale {
		now := time.Now().UTC()
		r.Status, r.Verdict, r.Ended = RunInconclusive, RunInconclusive, &now
		r.Reasons = append(r.Reasons, "the daemon stopped during the run")
		if _, err := m.d.store.PutRun(r.ID, r.Key, r); err != nil {
			m.d.log.Error("run not persisted", "run", r.ID, "err", err)
		}
	}
}

// stop cancels running runs (they end as inconclusive) and waits.
func (m *runManager) stop() {
	m.mu.Lock()
	for _, cancel := range m.active {
		cancel()
	}
	m.mu.Unlock()
	m.wg.Wait()
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}

func (d *Daemon) handleStartRun(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		d.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(req.Key) > 200 {
		d.fail(w, http.StatusBadRequest, "key: at most 200 characters")
		return
	}
	m := d.runs
	// The same key returns the same run: a Flagger rollout hook called every
	// interval starts one run. The lock makes check-then-start atomic.
	m.mu.Lock()
	defer m.mu.Unlock()
	if req.Key != "" {
		if id, ok, _ := d.store.RunByKey(req.Key); ok {
			var doc runDoc
			if found, _ := d.store.Get(store.Runs, id, &doc); found {
				w.Header().Set("Location", doc.Location)
				writeJSON(w, http.StatusAccepted, doc)
				return
			}
		}
	}
	ck := d.runner(req.Check)
	if ck == nil {
		d.fail(w, http.StatusNotFound, "no check %q", req.Check)
		return
	}
	p, err := d.runProfile(ck.ck, req)
	if err != nil {
		d.fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if len(m.active) >= MaxConcurrentRuns {
		w.Header().Set("Retry-After", "30")
		d.fail(w, http.StatusTooManyRequests, "%d runs are in progress; try again later", len(m.active))
		return
	}
	rate := run.ExpectedRate(p) * float64(ck.ck.Sides())
	release, ok := d.admit(rate)
	if !ok {
		w.Header().Set("Retry-After", "30")
		d.fail(w, http.StatusTooManyRequests, "a run at %.4g/s would exceed max_rate %.4g/s together with the running checks", rate, d.config().MaxRate)
		return
	}
	id := newRunID()
	doc := runDoc{ID: id, Key: req.Key, Check: ck.ck.Name, Status: RunRunning, Created: time.Now().UTC(), Profile: p.Describe(), Location: "/api/v1/runs/" + id}
	if _, err := d.store.PutRun(id, req.Key, doc); err != nil {
		release()
		d.fail(w, http.StatusInternalServerError, "run not persisted: %v", err)
		return
	}
	ctx, cancel := context.WithCancel(d.parentCtx())
	m.active[id] = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		defer release()
		m.execute(ctx, doc, ck.ck, p)
		cancel()
		m.mu.Lock()
		delete(m.active, id)
		m.mu.Unlock()
	}()
	w.Header().Set("Location", doc.Location)
	writeJSON(w, http.StatusAccepted, doc)
}

// runProfile is the load of an on-demand run: the request's profile (inline
// or a path relative to the config) or the check's own, capped at duration.
func (d *Daemon) runProfile(ck *config.Check, req runRequest) (*profiles.Profile, error) {
	p := ck.Profile
	raw := strings.TrimSpace(string(req.Profile))
	if raw != "" && raw != "null" {
		var path string
		if json.Unmarshal(req.Profile, &path) == nil {
			full := path
			if !filepath.IsAbs(full) {
				full = filepath.Join(filepath.Dir(d.o.ConfigPath), path)
			}
			lp, err := profiles.Load(full, yamlfile.Options{Env: d.o.Env, Secrets: d.secrets})
			if err != nil {
				return nil, err
			}
			p = lp
		} else {
			var n yaml.Node
			if err := yaml.Unmarshal(req.Profile, &n); err != nil || len(n.Content) == 0 {
				return nil, errBadProfile
			}
			dec := yamlfile.NewDecoder("profile", yamlfile.Options{})
			ip := profiles.Decode(dec, n.Content[0])
			if err := dec.Err(); err != nil {
				return nil, err
			}
			p = ip
		}
	}
	dur := time.Duration(0)
	if req.Duration != "" {
		var err error
		dur, err = yamlfile.ParseDuration(req.Duration)
		if err != nil || dur <= 0 || dur > MaxRunDuration {
			return nil, errBadDuration
		}
	}
	switch {
	case dur > 0:
		p = p.WithDuration(dur)
	case p.Duration() == 0 && p.Model != profiles.Iterations:
		p = p.WithDuration(DefaultRunDuration)
	}
	return p, nil
}

type apiErrorText string

func (e apiErrorText) Error() string { return string(e) }

const (
	errBadProfile  = apiErrorText(`profile: want a path ("profiles/steady.yaml") or an inline profile ({"rate": "20/s"})`)
	errBadDuration = apiErrorText(`duration: want a positive duration up to 24h, like "2m"`)
)

func (m *runManager) execute(ctx context.Context, doc runDoc, ck *config.Check, p *profiles.Profile) {
	if ck.Comparison != nil {
		doc = m.executeComparison(ctx, doc, ck, p)
	} else {
		doc = m.executeRun(ctx, doc, ck, p)
	}
	now := time.Now().UTC()
	doc.Ended = &now
	switch doc.Verdict {
	case "pass":
		doc.Status = RunPassed
	case "fail":
		doc.Status = RunFailed
	default:
		doc.Status, doc.Verdict = RunInconclusive, RunInconclusive
	}
	if _, err := m.d.store.PutRun(doc.ID, doc.Key, doc); err != nil {
		m.d.log.Error("run not persisted", "run", doc.ID, "err", err)
	}
	m.d.log.Info("on-demand run finished", "run", doc.ID, "check", doc.Check, "status", doc.Status)
}

// executeRun runs a check's scenario under p and judges its SLOs.
func (m *runManager) executeRun(ctx context.Context, doc runDoc, ck *config.Check, p *profiles.Profile) runDoc {
	cfg := m.d.config()
	out, err := run.Run(ctx, run.Options{
		Scenario: ck.Scenario, Profile: p, SLOs: ck.SLOs, Allow: cfg.HostAllowed, Grace: cfg.Server.ShutdownGrace,
	})
	if err != nil {
		doc.Verdict, doc.Error = RunInconclusive, m.d.secrets.String(err.Error())
		return doc
	}
	doc.Report = out.Report
	doc.Verdict = string(out.Judgement.Verdict)
	doc.Reasons = out.Judgement.Reasons
	return doc
}

func (d *Daemon) handleGetRun(w http.ResponseWriter, r *http.Request) {
	var doc runDoc
	ok, err := d.store.Get(store.Runs, r.PathValue("id"), &doc)
	if err != nil {
		d.fail(w, http.StatusInternalServerError, "%v", err)
		return
	}
	if !ok {
		d.fail(w, http.StatusNotFound, "no run %q", r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, doc)
}

func (d *Daemon) handleListRuns(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			d.fail(w, http.StatusBadRequest, "limit %q: want 1..1000", v)
			return
		}
		limit = n
	}
	runs := []runDoc{}
	_ = d.store.RecentRuns(limit, func(_ string, raw []byte) error {
		var doc runDoc
		if json.Unmarshal(raw, &doc) == nil {
			doc.Report = nil // the list stays small; GET /api/v1/runs/{id} has it
			runs = append(runs, doc)
		}
		return nil
	})
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}
