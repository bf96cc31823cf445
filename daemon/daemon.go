package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/alertmanager"
	"github.com/canaryproj/canary/alert/slack"
	"github.com/canaryproj/canary/config"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/store"
)

// Options configure a Daemon.
type Options struct {
	ConfigPath string
	Env        func(string) (string, bool)
	// Logger is wrapped so that the config's secrets never reach it.
	Logger  *slog.Logger
	Version string
	// Ready, if set, is called with the API's bound address once serving.
	Ready func(addr string)
	// Secrets collects every secret seen (config, scenarios); the caller's
	// log handler should redact with it. Created when nil.
	Secrets *redact.Set
	// Clock times distributed runs' deadlines; nil is the wall clock.
	Clock clock.Clock
}

// ErrBadConfig wraps a config that failed validation at start (exit 2).
var ErrBadConfig = errors.New("bad config")

// Daemon is the running monitor.
type Daemon struct {
	o       Options
	log     *slog.Logger
	secrets *redact.Set
	reg     *prometheus.Registry
	exp     *metrics.Exporter
	store   *store.Store
	alerts  *alert.Manager
	api     apiMetrics

	mu        sync.Mutex
	cfg       *config.Config
	checks    map[string]*checkRunner
	lastErr   string // last failed reload, redacted
	lastOK    time.Time
	ready     bool
	rateInUse float64 // iterations/s of running scheduled checks and on-demand runs

	reloadMu sync.Mutex // one reload at a time (SIGHUP, API and watcher)
	runs     *runManager
	segments *segmentRuns
	parent   context.Context
	views    statusCache // the status page's costlier views (status.go)
}

// New loads the config (an invalid one is ErrBadConfig), opens the state
// store and prepares the metrics. Run starts everything.
func New(o Options) (*Daemon, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if o.Secrets == nil {
		o.Secrets = &redact.Set{}
	}
	cfg, err := config.Load(o.ConfigPath, o.Env)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	o.Secrets.Merge(cfg.Secrets)
	for _, ck := range cfg.Checks {
		o.Secrets.Merge(ck.Scenario.Secrets)
	}
	d := &Daemon{
		o: o, secrets: o.Secrets, log: o.Logger,
		reg: prometheus.NewRegistry(), checks: map[string]*checkRunner{}, cfg: cfg,
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if d.exp, err = metrics.NewExporter(d.reg); err != nil {
		return nil, err
	}
	if d.api, err = newAPIMetrics(d.reg); err != nil {
		return nil, err
	}
	if d.store, err = store.Open(cfg.StateDir, store.Options{}); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if d.alerts, err = d.newAlertManager(cfg); err != nil {
		d.store.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	d.runs = newRunManager(d)
	d.segments = newSegmentRuns(d, o.Clock)
	return d, nil
}

func (d *Daemon) newAlertManager(cfg *config.Config) (*alert.Manager, error) {
	var notifiers []alert.Notifier
	if s := cfg.Alerting.Slack; s.Enabled() {
		n, err := slack.New(slack.Options{WebhookURL: s.WebhookURL, Token: s.Token, Channel: s.Channel, APIURL: s.APIURL, Logger: d.log})
		if err != nil {
			return nil, fmt.Errorf("alerting.slack: %w", err)
		}
		notifiers = append(notifiers, n)
	}
	if am := cfg.Alerting.Alertmanager; am.Enabled() {
		n, err := alertmanager.New(alertmanager.Options{URL: am.URL, Logger: d.log, ResolveTimeout: 4 * cfg.Policy.EvaluateEvery})
		if err != nil {
			return nil, fmt.Errorf("alerting.alertmanager: %w", err)
		}
		notifiers = append(notifiers, n)
	}
	return alert.NewManager(alert.ManagerOptions{
		Policy: cfg.Policy, Store: d.store, Notifiers: notifiers, Logger: d.log, Registerer: d.reg,
	})
}

// Run serves until ctx ends, then shuts down gracefully: no new iterations,
// in-flight ones drain within server.shutdown_grace, state is persisted.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	cfg := d.config()
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen %s: %w", ErrBadConfig, cfg.Server.Listen, err)
	}
	srv := d.newServer()

	var wg sync.WaitGroup
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			serveErr <- err
		}
	}()

	runCtx, stopChecks := context.WithCancel(context.WithoutCancel(ctx))
	d.mu.Lock()
	d.parent = runCtx
	d.mu.Unlock()
	d.runs.recover()
	d.segments.load()
	d.apply(cfg)
	d.exp.ConfigReloaded(true, time.Now())
	d.mu.Lock()
	d.lastOK, d.ready = time.Now(), true
	d.mu.Unlock()

	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(4)
	go func() { defer wg.Done(); _ = d.alerts.Run(alertCtx) }()
	go func() { defer wg.Done(); d.evaluateLoop(runCtx) }()
	go func() { defer wg.Done(); d.watchLoop(runCtx) }()
	go func() { defer wg.Done(); d.segments.run(runCtx) }()
	d.log.Info("canary daemon serving", "listen", ln.Addr().String(), "checks", len(cfg.Checks), "state", d.store.Path())
	if d.o.Ready != nil {
		d.o.Ready(ln.Addr().String())
	}

	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	d.log.Info("shutting down", "grace", cfg.Server.ShutdownGrace)
	// Stop the checks first (they drain within the grace period), then the
	// API, the evaluator and the alert dispatcher.
	d.stopAll()
	d.runs.stop()
	d.evaluate(time.Now()) // the last verdicts are persisted
	stopChecks()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(shutCtx)
	cancel()
	stopAlerts()
	wg.Wait()
	return err
}

func (d *Daemon) config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// longestWindow is the longest burn-rate window of the policy.
func longestWindow(p alert.Policy) time.Duration {
	var l time.Duration
	for _, w := range p.Windows {
		l = max(l, w.Long)
	}
	return l
}

// apply starts, keeps or replaces checks to match cfg. Checks whose
// fingerprint did not change keep running, with their windows.
func (d *Daemon) apply(cfg *config.Config) {
	parent := d.parentCtx()
	d.mu.Lock()
	old := d.checks
	d.cfg = cfg
	d.mu.Unlock()

	next := map[string]*checkRunner{}
	var stopping []*checkRunner
	for name, r := range old {
		if ck := cfg.CheckByName(name); ck != nil && ck.Fingerprint == r.ck.Fingerprint && sameAlerting(ck, r.ck) {
			// The same definition: the running check (and its windows)
			// carries on unchanged.
			next[name] = r
			continue
		}
		stopping = append(stopping, r)
	}
	for _, r := range stopping {
		r.stop()
		d.exp.RemoveCheck(r.metrics)
		d.log.Info("check stopped", "check", r.ck.Name)
	}
	for _, ck := range cfg.Checks {
		if _, ok := next[ck.Name]; ok {
			continue
		}
		m, err := d.exp.AddCheck(ck.Name, checkMetricsOptions(ck, cfg))
		if err != nil {
			d.log.Error("check metrics", "check", ck.Name, "err", err)
			continue
		}
		r, err := newCheckRunner(ck, m, cfg.HostAllowed, longestWindow(cfg.Policy), cfg.Server.ShutdownGrace, d.log, d.admit)
		if err == nil {
			r.tls = newTLSTracker(ck.Scenario.StepNames(), m, d.secrets, time.Now)
		}
		if err != nil {
			d.exp.RemoveCheck(m)
			d.log.Error("check cannot start", "check", ck.Name, "err", err)
			continue
		}
		r.start(parent)
		next[ck.Name] = r
		d.log.Info("check started", "check", ck.Name, "profile", ck.Profile.Shape, "schedule", ck.ScheduleText)
	}
	d.mu.Lock()
	d.checks = next
	d.mu.Unlock()
}

func sameNotifiers(a, b *config.Config) bool {
	ja, _ := json.Marshal(a.Alerting)
	jb, _ := json.Marshal(b.Alerting)
	return string(ja) == string(jb)
}

func sameAlerting(a, b *config.Check) bool {
	return a.SlackChannel == b.SlackChannel && a.RunbookURL == b.RunbookURL && a.MinSamples == b.MinSamples && a.Window == b.Window
}

func checkMetricsOptions(ck *config.Check, cfg *config.Config) metrics.CheckOptions {
	o := metrics.CheckOptionsFor(ck.Scenario.StepNames(), ck.Scenario.Methods(), ck.SLOs)
	o.Windows = windowLabels(cfg.Policy)
	return o
}

// windowLabels are the distinct burn-rate window lengths, as label values.
func windowLabels(p alert.Policy) []string {
	var out []string
	for _, w := range windows(p) {
		out = append(out, slo.FormatDuration(w))
	}
	return out
}

// windows are the distinct burn-rate window lengths, shortest first.
func windows(p alert.Policy) []time.Duration {
	set := map[time.Duration]bool{}
	for _, w := range p.Windows {
		set[w.Long], set[w.Short] = true, true
	}
	out := make([]time.Duration, 0, len(set))
	for w := range set {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (d *Daemon) stopAll() {
	d.mu.Lock()
	checks := d.checks
	d.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range checks {
		wg.Add(1)
		go func(r *checkRunner) { defer wg.Done(); r.stop() }(r)
	}
	wg.Wait()
}

// admit reserves rate (iterations/s) of the global max_rate budget for a
// scheduled run or an on-demand run; continuous checks were admitted by the
// config's validation.
func (d *Daemon) admit(rate float64) (release func(), ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	base := 0.0
	for _, ck := range d.cfg.Checks {
		if ck.Schedule == nil {
			base += run.ExpectedRate(ck.Profile) * float64(ck.Sides())
		}
	}
	if base+d.rateInUse+rate > d.cfg.MaxRate+1e-9 {
		return nil, false
	}
	d.rateInUse += rate
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			d.rateInUse = math.Max(0, d.rateInUse-rate)
			d.mu.Unlock()
		})
	}, true
}

// Reload re-reads the config file. An invalid config is rejected whole: the
// old one keeps running, the reason is logged and returned, and
// canary_config_last_reload_successful drops to 0.
func (d *Daemon) Reload() error {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := config.Load(d.o.ConfigPath, d.o.Env)
	if err != nil {
		msg := d.secrets.String(err.Error())
		d.mu.Lock()
		d.lastErr = msg
		d.mu.Unlock()
		d.exp.ConfigReloaded(false, time.Now())
		d.log.Error("config reload rejected; the previous config keeps running", "err", msg)
		return errors.New(msg)
	}
	d.secrets.Merge(cfg.Secrets)
	for _, ck := range cfg.Checks {
		d.secrets.Merge(ck.Scenario.Secrets)
	}
	old := d.config()
	if !sameNotifiers(old, cfg) {
		d.log.Warn("alerting notifiers (slack, alertmanager) and the burn-rate policy take effect at the next restart")
	}
	if old.StateDir != cfg.StateDir || old.Server.Listen != cfg.Server.Listen || !sameServerLimits(old.Server, cfg.Server) {
		d.log.Warn("state_dir, server.listen and the server's timeouts and limits take effect at the next restart")
		srv := old.Server
		srv.AuthToken, srv.RunToken, srv.ShutdownGrace, srv.ExternalURL = cfg.Server.AuthToken, cfg.Server.RunToken, cfg.Server.ShutdownGrace, cfg.Server.ExternalURL
		cfg.StateDir, cfg.Server = old.StateDir, srv
	}
	d.apply(cfg)
	d.mu.Lock()
	d.lastErr, d.lastOK = "", time.Now()
	d.mu.Unlock()
	d.exp.ConfigReloaded(true, time.Now())
	d.log.Info("config reloaded", "checks", len(cfg.Checks))
	return nil
}

// watchLoop reloads when the config file changes. It watches the directory,
// not the file: editors and Kubernetes ConfigMaps replace files by rename.
func (d *Daemon) watchLoop(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		d.log.Warn("config file watching is off", "err", err)
		return
	}
	defer w.Close()
	path, _ := filepath.Abs(d.o.ConfigPath)
	dir := filepath.Dir(path)
	if err := w.Add(dir); err != nil {
		d.log.Warn("config file watching is off", "dir", dir, "err", err)
		return
	}
	var debounce <-chan time.Time
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			name, _ := filepath.Abs(ev.Name)
			// ConfigMaps swap a ..data symlink; any change in the directory
			// that touches the file or the link counts.
			if name != path && filepath.Base(ev.Name) != "..data" {
				continue
			}
			if timer == nil {
				timer = time.NewTimer(500 * time.Millisecond)
			} else {
				timer.Reset(500 * time.Millisecond)
			}
			debounce = timer.C
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			d.log.Warn("config watcher", "err", err)
		case <-debounce:
			debounce = nil
			if _, err := os.Stat(path); err == nil {
				_ = d.Reload()
			}
		}
	}
}

// ------------------------------------------------------------- evaluation

func (d *Daemon) evaluateLoop(ctx context.Context) {
	every := d.config().Policy.EvaluateEvery
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			d.evaluate(now)
			if e := d.config().Policy.EvaluateEvery; e != every {
				every = e
				t.Reset(every)
			}
		}
	}
}

// verdictDoc is a check's verdict as the API returns it and the store keeps it.
type verdictDoc struct {
	Check      string         `json:"check"`
	Verdict    slo.Verdict    `json:"verdict"`
	Window     string         `json:"window"`
	Since      *time.Time     `json:"since,omitempty"`
	At         time.Time      `json:"at"`
	Samples    int64          `json:"samples"`
	Objectives []objectiveDoc `json:"objectives"`
	Reasons    []string       `json:"reasons"`

	// The span the samples were counted over: from CoveredFrom, for Span
	// seconds (up to the last flush, within a second of At).
	CoveredFrom time.Time `json:"covered_from"`
	Span        float64   `json:"span_s"`
	// Comparison is a comparison check's evidence (daemon/compare.go).
	Comparison *comparisonDoc `json:"comparison,omitempty"`
}

type objectiveDoc struct {
	Name      string   `json:"name"`
	Objective string   `json:"objective"`
	Observed  string   `json:"observed"`
	Pass      bool     `json:"pass"`
	Target    float64  `json:"target"`
	Value     *float64 `json:"value"`
}

// judge evaluates a check over a window (or since a time) as of now.
func (d *Daemon) judge(r *checkRunner, now time.Time, window time.Duration, since time.Time, minSamples int64) verdictDoc {
	if r.baseline != nil {
		return d.judgeComparison(r, now, window, since, minSamples)
	}
	var snap *stats.Snapshot
	if !since.IsZero() {
		snap = r.col.WindowSince(now, since)
	} else {
		snap = r.col.Window(now, window)
	}
	// What the window really covers (less than asked when the check has
	// run for less, or since falls inside a slot).
	span := snap.End.Sub(snap.Start)
	label := slo.FormatDuration(window)
	if !since.IsZero() {
		label = "since " + since.UTC().Format(time.RFC3339)
	}
	// How far a continuous check falls behind its schedule is not kept per
	// window: its lag decides.
	j := run.Judge(r.ck.SLOs, slo.Input{Snapshot: snap, Duration: span, Window: label, MinSamples: minSamples, Certificates: r.certificates(now)}, 0, 0)
	doc := verdictDoc{
		Check: r.ck.Name, Verdict: j.Verdict, Window: slo.FormatDuration(window), At: now.UTC(),
		Samples: j.Samples, Reasons: j.Reasons, Objectives: []objectiveDoc{},
		CoveredFrom: snap.Start.UTC(), Span: span.Seconds(),
	}
	if doc.Reasons == nil {
		doc.Reasons = []string{}
	}
	if !since.IsZero() {
		s := since.UTC()
		doc.Since = &s
	}
	for _, res := range j.Results {
		od := objectiveDoc{Name: res.Objective.Name, Objective: res.Objective.String(), Observed: res.ObservedText(),
			Pass: res.Evaluated && res.Pass, Target: res.Objective.Target}
		if res.Evaluated {
			v := res.Observed
			od.Value = &v
		}
		doc.Objectives = append(doc.Objectives, od)
	}
	return doc
}

// evaluate judges every check over its window, updates metrics, persists
// verdicts and feeds the alert manager.
func (d *Daemon) evaluate(now time.Time) {
	d.mu.Lock()
	cfg := d.cfg
	checks := make([]*checkRunner, 0, len(d.checks))
	for _, r := range d.checks {
		checks = append(checks, r)
	}
	d.mu.Unlock()
	sort.Slice(checks, func(i, j int) bool { return checks[i].ck.Name < checks[j].ck.Name })

	wins := windows(cfg.Policy)
	var obs []alert.Observation
	for _, r := range checks {
		ck := r.ck
		doc := d.judge(r, now, ck.Window, time.Time{}, ck.MinSamples)
		r.mu.Lock()
		r.evaluated = now
		r.mu.Unlock()
		r.metrics.SetVerdict(doc.Verdict.Gauge())
		if err := d.store.Put(store.Verdicts, ck.Name, doc); err != nil {
			d.log.Error("verdict not persisted", "check", ck.Name, "err", err)
		}
		d.setLatencyMetrics(r, now)

		// Burn rates per policy window, for the metrics and the alerts.
		snaps := map[time.Duration]*stats.Snapshot{}
		for _, w := range wins {
			snaps[w] = r.col.Window(now, w)
		}
		win := r.col.Window(now, ck.Window)
		certs := r.certificates(now)
		top := d.topFailure(r, now, ck.Window)
		for _, o := range ck.SLOs {
			res := slo.Evaluate(o, slo.Input{Snapshot: win, Duration: win.End.Sub(win.Start), Certificates: certs})
			burn := alert.Measure(o, snaps)
			burnByLabel := map[string]float64{}
			for w, b := range burn {
				burnByLabel[slo.FormatDuration(w)] = b.Rate
			}
			r.metrics.SetSLO(o.Name, o.Target, res.Observed, burnByLabel)
			if o.Kind == slo.KindTLSExpiry {
				// No budget to burn: it alerts while it fails (tls.go).
				obs = append(obs, alert.Observation{
					Check: ck.Name, SLO: o.Name, Labels: ck.Labels, Channel: ck.SlackChannel,
					RunbookURL: ck.RunbookURL, StatusURL: statusURL(cfg, ck.Name),
					Objective: o, Level: levelOf(res),
				})
				continue
			}
			if !o.HasBudget() {
				continue
			}
			obs = append(obs, alert.Observation{
				Check: ck.Name, SLO: o.Name, Labels: ck.Labels, Channel: ck.SlackChannel,
				RunbookURL: ck.RunbookURL, StatusURL: statusURL(cfg, ck.Name),
				Objective: o, Burn: burn,
				TopErrors: topErrors(win), TopStatus: topStatus(win), Failure: top,
			})
		}
	}
	if err := d.alerts.Evaluate(d.parentCtx(), obs); err != nil {
		d.log.Error("alert evaluation", "err", err)
	}
}

func (d *Daemon) parentCtx() context.Context {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.parent == nil {
		return context.Background()
	}
	return d.parent
}

func statusURL(cfg *config.Config, check string) string {
	if cfg.Server.ExternalURL == "" {
		return ""
	}
	return cfg.Server.ExternalURL + "/checks/" + check
}

func (d *Daemon) setLatencyMetrics(r *checkRunner, now time.Time) {
	win := r.col.Window(now, r.ck.Window)
	set := func(step string, h interface {
		TotalCount() int64
		Mean() float64
		ValueAtQuantile(float64) int64
	}) {
		n := h.TotalCount()
		if n == 0 {
			r.metrics.SetLatency(step, 0, 0, nil)
			return
		}
		r.metrics.SetLatency(step, uint64(n), h.Mean()*float64(n)/1e6, func(q float64) float64 {
			return float64(h.ValueAtQuantile(q*100)) / 1e6
		})
	}
	for _, st := range win.Steps {
		set(st.Name, st.Latency)
	}
	set(metrics.StepIteration, win.Iteration)
}

func topErrors(s *stats.Snapshot) []alert.Count {
	m := map[string]int64{}
	for _, st := range s.Steps {
		for c, n := range st.Errors {
			if stats.ErrorClass(c) != stats.ClassNone && n > 0 {
				m[stats.ErrorClass(c).String()] += n
			}
		}
	}
	return top(m, 5)
}

func topStatus(s *stats.Snapshot) []alert.Count {
	m := map[string]int64{}
	for _, st := range s.Steps {
		for code, n := range st.Status {
			m[fmt.Sprint(code)] += n
		}
	}
	return top(m, 5)
}

func top(m map[string]int64, n int) []alert.Count {
	out := make([]alert.Count, 0, len(m))
	for k, v := range m {
		if v > 0 {
			out = append(out, alert.Count{Name: k, Count: v})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}
