package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/slo"
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

// runDoc is an on-demand run, or a distributed run assembled from its
// segments (daemon/segments.go), as the API returns it and the store keeps
// it.
type runDoc struct {
	ID      string        `json:"id"`
	Key     string        `json:"key,omitempty"`
	Check   string        `json:"check,omitempty"`
	Status  string        `json:"status"`
	Created time.Time     `json:"created"`
	Ended   *time.Time    `json:"ended,omitempty"`
	Profile any           `json:"profile"`
	Verdict string        `json:"verdict,omitempty"`
	Reasons []string      `json:"reasons,omitempty"`
	Error   string        `json:"error,omitempty"`
	Report  *stats.Report `json:"report,omitempty"`
	// Location is the run's path in the store, and its absolute URL in an
	// answer (see absURL).
	Location string `json:"location"`
	// RequestHash identifies the request that started the run, so that
	// its key cannot be reused for another one.
	RequestHash string `json:"request_hash,omitempty"`
	// A distributed run's scenario and segments.
	Scenario string       `json:"scenario,omitempty"`
	Segments *segmentsDoc `json:"segments,omitempty"`
	// Comparison is a comparison check's run: both sides and the judgement.
	Comparison *report.Comparison `json:"comparison,omitempty"`
}

type runRequest struct {
	Check    string          `json:"check"`
	Profile  json.RawMessage `json:"profile"`
	Duration string          `json:"duration"`
	Key      string          `json:"key"`
}

// hash identifies what a request asks for (its key aside), the same for
// the same JSON however it is spaced or ordered.
func (req runRequest) hash() string {
	var profile any
	if len(req.Profile) > 0 {
		_ = json.Unmarshal(req.Profile, &profile) // decoded once already
	}
	canon, _ := json.Marshal(struct {
		Check    string `json:"check"`
		Profile  any    `json:"profile"`
		Duration string `json:"duration"`
	}{req.Check, profile, req.Duration})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

type runManager struct {
	d      *Daemon
	mu     sync.Mutex
	active map[string]context.CancelFunc // by id; bounded by MaxConcurrentRuns
	// finished counts the runs ended since the last call to counts.
	finished int
	wg       sync.WaitGroup
}

// counts is how many runs are in progress, and how many ended since the
// last call (for the heartbeat).
func (m *runManager) counts() (active, finished int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	active, finished = len(m.active), m.finished
	m.finished = 0
	return active, finished
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
		// A distributed run's segments run elsewhere: it goes on (segmentRuns.load).
		if json.Unmarshal(raw, &r) == nil && r.Status == RunRunning && r.Segments == nil {
			stale = append(stale, r)
		}
		return nil
	})
	for _, r := range stale {
		now := m.d.clk.Now().UTC()
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

func newRunID(now time.Time) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return now.UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}

func (d *Daemon) handleStartRun(w http.ResponseWriter, r *http.Request) {
	var req runRequest
	if err := decodeStrict(r.Body, &req); err != nil {
		d.failDecode(w, err)
		return
	}
	if len(req.Key) > 200 {
		d.fail(w, http.StatusBadRequest, "key: at most 200 characters")
		return
	}
	doc, refused := d.startOrJoin(req, req.hash())
	if refused != nil {
		d.refuse(w, refused)
		return
	}
	doc.Location = d.absURL(r, doc.Location)
	w.Header().Set("Location", doc.Location)
	writeJSON(w, http.StatusAccepted, doc)
}

// refusal is why a run was not started, as an HTTP answer.
type refusal struct {
	status     int
	retryAfter string
	msg        string
}

func (d *Daemon) refuse(w http.ResponseWriter, r *refusal) {
	if r.retryAfter != "" {
		w.Header().Set("Retry-After", r.retryAfter)
	}
	d.fail(w, r.status, "%s", r.msg)
}

// startOrJoin starts an on-demand run, or returns the run already started
// under req.Key. With a hash, a key first used for another request is
// refused; without one (Flagger's keys name a canary revision, not a
// request) the run under the key is joined whatever was asked.
func (d *Daemon) startOrJoin(req runRequest, hash string) (runDoc, *refusal) {
	m := d.runs
	// The lock makes check-then-start atomic.
	m.mu.Lock()
	defer m.mu.Unlock()
	if doc, ok := d.runByKey(req.Key); ok {
		if hash != "" && doc.RequestHash != "" && doc.RequestHash != hash {
			return runDoc{}, &refusal{status: http.StatusConflict, msg: fmt.Sprintf(
				"key %q was used for a different request (check, profile or duration differ) that started run %s; use a new key for a new run", req.Key, doc.ID)}
		}
		return doc, nil
	}
	ck := d.runner(req.Check)
	if ck == nil {
		return runDoc{}, &refusal{status: http.StatusNotFound, msg: fmt.Sprintf("no check %q", req.Check)}
	}
	p, err := d.runProfile(ck.ck, req)
	if err != nil {
		return runDoc{}, &refusal{status: http.StatusBadRequest, msg: err.Error()}
	}
	if len(m.active) >= MaxConcurrentRuns {
		return runDoc{}, &refusal{status: http.StatusTooManyRequests, retryAfter: "30", msg: fmt.Sprintf("%d runs are in progress; try again later", len(m.active))}
	}
	rate := run.ExpectedRate(p) * float64(ck.ck.Sides())
	release, ok := d.admit(rate)
	if !ok {
		return runDoc{}, &refusal{status: http.StatusTooManyRequests, retryAfter: "30", msg: fmt.Sprintf(
			"a run at %.4g/s would exceed max_rate %.4g/s together with the running checks", rate, d.config().MaxRate)}
	}
	id := newRunID(d.clk.Now())
	doc := runDoc{ID: id, Key: req.Key, Check: ck.ck.Name, Status: RunRunning, Created: d.clk.Now().UTC(), Profile: p.Describe(),
		Location: "/api/v1/runs/" + id, RequestHash: hash}
	if _, err := d.store.PutRun(id, req.Key, doc); err != nil {
		release()
		d.log.Error("run not persisted", "run", id, "err", err)
		return runDoc{}, &refusal{status: http.StatusInternalServerError, msg: "the run could not be stored; the daemon's log says why"}
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
		m.finished++
		m.mu.Unlock()
	}()
	return doc, nil
}

// runByKey is the run registered under an idempotency key.
func (d *Daemon) runByKey(key string) (runDoc, bool) {
	var doc runDoc
	if key == "" {
		return doc, false
	}
	id, ok, err := d.store.RunByKey(key)
	if err != nil || !ok {
		return doc, false
	}
	found, err := d.store.Get(store.Runs, id, &doc)
	return doc, found && err == nil
}

// runProfile is the load of an on-demand run: the request's profile (inline
// or a path relative to the config) or the check's own, capped at duration.
func (d *Daemon) runProfile(ck *config.Check, req runRequest) (*profiles.Profile, error) {
	p := ck.Profile
	raw := strings.TrimSpace(string(req.Profile))
	if raw != "" && raw != "null" {
		var path string
		if json.Unmarshal(req.Profile, &path) == nil {
			lp, err := d.loadProfileFile(path)
			if err != nil {
				return nil, err
			}
			p = lp
		} else {
			// Parsed as any YAML input is, within the size and value budgets.
			n, err := yamlfile.Parse("profile", req.Profile)
			if err != nil {
				return nil, errBadProfile
			}
			dec := yamlfile.NewDecoder("profile", yamlfile.Options{})
			ip := profiles.Decode(dec, n)
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

// loadProfileFile loads a profile named by an API caller. A token to start
// runs must not be a way to read the host's files, so the path must stay in
// the config's directory (no absolute path, no "..", and once symlinks are
// resolved still inside), and what the caller is told never quotes the
// file: the loader's messages do ("unknown key <a line of the file>"), so
// they go to the daemon's log only.
func (d *Daemon) loadProfileFile(path string) (*profiles.Profile, error) {
	outside := apiErrorText(fmt.Sprintf("profile %q: want a path relative to the config's directory, inside it (no absolute path, no \"..\", no symlink out of it)", path))
	if len(path) > 1024 || path == "" || filepath.IsAbs(path) || !filepath.IsLocal(path) ||
		slices.Contains(strings.Split(filepath.ToSlash(path), "/"), "..") {
		return nil, outside
	}
	cfgPath, err := filepath.Abs(d.o.ConfigPath)
	if err != nil {
		return nil, err
	}
	base, err := filepath.EvalSymlinks(filepath.Dir(cfgPath))
	if err != nil {
		d.log.Error("on-demand run: the config's directory", "err", err)
		return nil, apiErrorText("the config's directory cannot be read; the daemon's log says why")
	}
	full, err := filepath.EvalSymlinks(filepath.Join(base, path))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, apiErrorText(fmt.Sprintf("profile %q: no such file in the config's directory", path))
		}
		d.log.Warn("on-demand run: profile refused", "path", path, "err", d.secrets.String(err.Error()))
		return nil, apiErrorText(fmt.Sprintf("profile %q cannot be read; the daemon's log says why", path))
	}
	if rel, err := filepath.Rel(base, full); err != nil || !filepath.IsLocal(rel) {
		return nil, outside
	}
	if fi, err := os.Stat(full); err != nil || !fi.Mode().IsRegular() {
		return nil, apiErrorText(fmt.Sprintf("profile %q: not a regular file", path))
	}
	p, err := profiles.Load(full, yamlfile.Options{Env: d.o.Env, Secrets: d.secrets})
	if err != nil {
		d.log.Warn("on-demand run: profile refused", "path", path, "err", d.secrets.String(err.Error()))
		return nil, apiErrorText(fmt.Sprintf("profile %q is not a valid profile; the daemon's log says why", path))
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
	now := m.d.clk.Now().UTC()
	doc.Ended = &now
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
		Clock: m.d.clk,
	})
	if err != nil {
		doc.Status, doc.Verdict = RunInconclusive, RunInconclusive
		doc.Error = m.d.secrets.String(err.Error())
		return doc
	}
	doc.Report = out.Report
	doc.Verdict = string(out.Judgement.Verdict)
	doc.Reasons = out.Judgement.Reasons
	doc.Status = statusOf(out.Judgement.Verdict)
	return doc
}

// statusOf is a finished run's status for its verdict.
func statusOf(v slo.Verdict) string {
	switch v {
	case slo.Pass:
		return RunPassed
	case slo.Fail:
		return RunFailed
	}
	return RunInconclusive
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
	doc.Location = d.absURL(r, doc.Location)
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
			doc.Location = d.absURL(r, doc.Location)
			runs = append(runs, doc)
		}
		return nil
	})
	writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}
