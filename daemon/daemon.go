package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	// Clock paces everything the daemon does over time: the checks' load
	// and schedules, the once-a-second flushes, the evaluations, the
	// heartbeat, the reload debounce, the alert manager, the deadlines of
	// distributed runs. nil is the wall clock.
	Clock clock.Clock
	// Listen, when set, overrides server.listen (canary daemon --listen).
	Listen string
	// Heartbeat is how often a summary line is logged (DefaultHeartbeat
	// when 0; never when negative).
	Heartbeat time.Duration
	// ResetState moves a damaged state file aside and starts empty
	// (canary daemon --reset-state); an intact one is kept.
	ResetState bool
}

// DefaultHeartbeat is how often the daemon logs its summary line.
const DefaultHeartbeat = 5 * time.Minute

// ErrBadConfig wraps a config that failed validation at start (exit 2).
var ErrBadConfig = errors.New("bad config")

// ErrState matches (errors.Is) a state store that cannot be opened at
// start: damaged, held by another process, or not writable. Its message is
// the store's, which names the file and the way out.
var ErrState = errors.New("state store")

type stateError struct{ err error }

func (e stateError) Error() string   { return e.err.Error() }
func (e stateError) Unwrap() []error { return []error{ErrState, e.err} }

// Daemon is the running monitor.
type Daemon struct {
	o       Options
	clk     clock.Clock
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

	// evaluatedAt is when the last evaluation (verdicts and alerts) was
	// done, as of the evaluation's time.
	evaluatedAt time.Time

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
	if o.Heartbeat == 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	cfg, err := o.load()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	o.Secrets.Merge(cfg.Secrets)
	for _, ck := range cfg.Checks {
		o.Secrets.Merge(ck.Scenario.Secrets)
	}
	d := &Daemon{
		o: o, clk: clock.OrReal(o.Clock), secrets: o.Secrets, log: o.Logger,
		reg: prometheus.NewRegistry(), checks: map[string]*checkRunner{}, cfg: cfg,
	}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if d.exp, err = metrics.NewExporter(d.reg); err != nil {
		return nil, err
	}
	if d.api, err = newAPIMetrics(d.reg); err != nil {
		return nil, err
	}
	if d.store, err = d.openStore(cfg.StateDir); err != nil {
		return nil, stateError{err}
	}
	if d.alerts, err = d.newAlertManager(cfg); err != nil {
		d.store.Close()
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	d.runs = newRunManager(d)
	d.segments = newSegmentRuns(d, d.clk)
	return d, nil
}

// openStore opens the state store. A damaged file is an error that names
// it and the way out, unless Options.ResetState: then it is moved aside (a
// copy kept for a post-mortem) and the daemon starts with an empty store.
// An intact file is always kept.
func (d *Daemon) openStore(dir string) (*store.Store, error) {
	st, err := store.Open(dir, store.Options{})
	if err == nil || !d.o.ResetState || !errors.Is(err, store.ErrCorrupt) {
		return st, err
	}
	kept, rerr := store.Reset(dir, d.clk.Now())
	if rerr != nil {
		return nil, errors.Join(err, rerr)
	}
	d.log.Warn("the damaged state file was moved aside; starting with an empty state (alerts, silences, run history and verdicts are lost)",
		"damage", err.Error(), "kept", kept)
	return store.Open(dir, store.Options{})
}

// load reads the config file, strictly (an unset ${VAR} is an error: the
// daemon would otherwise send requests, or page, with an empty secret),
// with --listen over server.listen.
func (o *Options) load() (*config.Config, error) {
	cfg, err := config.Load(o.ConfigPath, o.Env)
	if err != nil {
		return nil, err
	}
	if o.Listen != "" {
		cfg.Server.Listen = o.Listen
	}
	return cfg, nil
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
		Clock: d.clk, Secrets: d.secrets,
	})
}

// Run serves until ctx ends, then shuts down gracefully: no new iterations,
// in-flight ones drain within server.shutdown_grace, state is persisted.
func (d *Daemon) Run(ctx context.Context) error {
	defer d.store.Close()
	cfg := d.config()
	ln, err := listen(cfg.Server.Listen)
	if err != nil {
		return err
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
	d.exp.ConfigReloaded(true, d.clk.Now())
	d.mu.Lock()
	d.lastOK, d.ready = d.clk.Now(), true
	d.mu.Unlock()

	alertCtx, stopAlerts := context.WithCancel(context.WithoutCancel(ctx))
	// The tickers are armed before the loops start, so that evaluations
	// and heartbeats fall on whole periods from now.
	firstEval := d.clk.Now().Add(evaluationOffset(cfg.Policy.EvaluateEvery))
	evalTimer := d.clk.NewTimer(firstEval.Sub(d.clk.Now()))
	var beat clock.Ticker
	if d.o.Heartbeat > 0 {
		beat = d.clk.NewTicker(d.o.Heartbeat)
	}
	wg.Add(5)
	go func() { defer wg.Done(); _ = d.alerts.Run(alertCtx) }()
	go func() { defer wg.Done(); d.evaluateLoop(runCtx, evalTimer, firstEval) }()
	go func() { defer wg.Done(); d.watchLoop(runCtx) }()
	go func() { defer wg.Done(); d.heartbeatLoop(runCtx, beat) }()
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
	d.evaluate(d.clk.Now()) // the last verdicts are persisted
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
		r, err := newCheckRunner(ck, m, cfg.HostAllowed, longestWindow(cfg.Policy), cfg.Server.ShutdownGrace, d.log, d.admit, d.clk)
		if err == nil {
			r.tls = newTLSTracker(ck.Scenario.StepNames(), m, d.secrets, d.clk.Now)
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
	cfg, err := d.o.load()
	if err != nil {
		msg := d.secrets.String(err.Error())
		d.mu.Lock()
		d.lastErr = msg
		d.mu.Unlock()
		d.exp.ConfigReloaded(false, d.clk.Now())
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
	d.lastErr, d.lastOK = "", d.clk.Now()
	d.mu.Unlock()
	d.exp.ConfigReloaded(true, d.clk.Now())
	d.log.Info("config reloaded", "checks", len(cfg.Checks))
	return nil
}

// reloadDebounce is how long the config file must stay unchanged before a
// change is reloaded: editors write a file in several steps.
const reloadDebounce = 500 * time.Millisecond

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
	var timer clock.Timer
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
				timer = d.clk.NewTimer(reloadDebounce)
			} else {
				timer.Reset(reloadDebounce)
			}
			debounce = timer.C()
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

// evaluationOffset is how long after the start the first evaluation
// comes: half a second, so that the evaluations of the checks started with
// the daemon fall between their once-a-second flushes and judge the
// second just closed, instead of racing its flush.
func evaluationOffset(every time.Duration) time.Duration {
	return min(every/2, 500*time.Millisecond)
}

// evaluateLoop evaluates when t fires, first at first and then every
// evaluate_every, each as of its due time. When the next evaluation is
// already due (a slow one, a busy machine), it skips to the next due time
// ahead, as a ticker drops ticks. The timer is re-armed before the
// evaluation, from the time it fired.
func (d *Daemon) evaluateLoop(ctx context.Context, t clock.Timer, first time.Time) {
	defer t.Stop()
	due := first
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		every := d.config().Policy.EvaluateEvery
		now := d.clk.Now()
		next := due.Add(every)
		if behind := now.Sub(next); behind >= 0 {
			next = next.Add((behind/every + 1) * every)
		}
		t.Reset(next.Sub(now))
		d.evaluate(due)
		due = next
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
	// NextRun is when a scheduled check runs next.
	NextRun *time.Time `json:"next_run,omitempty"`
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
	if !since.IsZero() {
		return d.judgeSnapshot(r, now, r.col.WindowSince(now, since), window, since, minSamples)
	}
	// Gates and verdicts are polled (by Flagger, CI): a spare snapshot
	// spares each request a megabyte of histograms. The verdict keeps
	// nothing of it.
	snap := r.col.WindowInto(getSnapshot(), now, window)
	defer putSnapshot(snap)
	return d.judgeSnapshot(r, now, snap, window, since, minSamples)
}

// judgeSnapshot is judge over the snapshot of that window.
func (d *Daemon) judgeSnapshot(r *checkRunner, now time.Time, snap *stats.Snapshot, window time.Duration, since time.Time, minSamples int64) verdictDoc {
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
	if running, next := r.schedule(); !next.IsZero() {
		n := next.UTC()
		doc.NextRun = &n
		if !running && j.Samples == 0 {
			// Between the runs of a scheduled check, an empty window is
			// expected: say so, and when there will be data.
			doc.Reasons = append([]string{fmt.Sprintf("scheduled (%s): no run over %s; the next at %s, in %s",
				r.ck.ScheduleText, label, n.Format(time.RFC3339), next.Sub(now).Round(time.Second))}, doc.Reasons...)
		}
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
	// Two snapshots serve every check, one window at a time: each holds
	// histograms of about 1 MB, which a snapshot per window and check made
	// most of what the daemon allocated.
	win, snap := getSnapshot(), getSnapshot()
	defer func() { putSnapshot(win); putSnapshot(snap) }()
	for _, r := range checks {
		ck := r.ck
		win = r.col.WindowInto(win, now, ck.Window)
		var doc verdictDoc
		if r.baseline != nil {
			doc = d.judge(r, now, ck.Window, time.Time{}, ck.MinSamples) // its baseline's window too
		} else {
			doc = d.judgeSnapshot(r, now, win, ck.Window, time.Time{}, ck.MinSamples)
		}
		r.mu.Lock()
		prev := r.verdict
		r.evaluated, r.verdict = now, doc.Verdict
		r.mu.Unlock()
		d.logVerdictChange(r, prev, doc)
		r.metrics.SetVerdict(doc.Verdict.Gauge())
		if err := d.store.Put(store.Verdicts, ck.Name, doc); err != nil {
			d.log.Error("verdict not persisted", "check", ck.Name, "err", err)
		}
		d.setLatencyMetrics(r, win)

		// Burn rates per policy window, for the metrics and the alerts.
		burns := make([]map[time.Duration]alert.Burn, len(ck.SLOs))
		for i := range burns {
			burns[i] = map[time.Duration]alert.Burn{}
		}
		// One walk of the windows serves them all (they nest).
		snap = r.col.Windows(snap, now, wins, func(w time.Duration, s *stats.Snapshot) {
			one := map[time.Duration]*stats.Snapshot{w: s}
			for i, o := range ck.SLOs {
				maps.Copy(burns[i], alert.Measure(o, one))
			}
		})
		certs := r.certificates(now)
		top := d.topFailure(r, now, ck.Window)
		for i, o := range ck.SLOs {
			res := slo.Evaluate(o, slo.Input{Snapshot: win, Duration: win.End.Sub(win.Start), Certificates: certs})
			burn := burns[i]
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
	d.mu.Lock()
	d.evaluatedAt = now
	d.mu.Unlock()
}

// logVerdictChange logs a check's verdict when it differs from the one
// before: the last evaluation's, or the one persisted before a restart.
func (d *Daemon) logVerdictChange(r *checkRunner, prev slo.Verdict, doc verdictDoc) {
	if prev == "" {
		var old verdictDoc
		if ok, _ := d.store.Get(store.Verdicts, r.ck.Name, &old); ok {
			prev = old.Verdict
		}
	}
	if prev == doc.Verdict {
		return
	}
	from := string(prev)
	if from == "" {
		from = "none"
	}
	level := slog.LevelInfo
	if doc.Verdict == slo.Fail {
		level = slog.LevelWarn
	}
	d.log.Log(context.Background(), level, "verdict changed", "check", r.ck.Name, "from", from, "to", string(doc.Verdict),
		"reason", topReason(doc), "window", doc.Window, "samples", doc.Samples)
}

// topReason is the first reason of a verdict, with how many more there
// are; a pass, which has none, shows its objectives' observed values.
func topReason(doc verdictDoc) string {
	if n := len(doc.Reasons); n > 0 {
		if n > 1 {
			return fmt.Sprintf("%s (and %d more)", doc.Reasons[0], n-1)
		}
		return doc.Reasons[0]
	}
	parts := make([]string, 0, len(doc.Objectives))
	for _, o := range doc.Objectives {
		parts = append(parts, o.Name+" "+o.Observed)
	}
	if len(parts) == 0 {
		return "no iteration failed"
	}
	return strings.Join(parts, ", ")
}

// heartbeatLoop logs a summary at every tick of t (every o.Heartbeat), so that a terminal left
// open shows the daemon is alive and how its checks are doing.
func (d *Daemon) heartbeatLoop(ctx context.Context, t clock.Ticker) {
	if t == nil {
		return
	}
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C():
			d.heartbeat(now)
		}
	}
}

func (d *Daemon) heartbeat(now time.Time) {
	d.mu.Lock()
	checks := make([]*checkRunner, 0, len(d.checks))
	for _, r := range d.checks {
		checks = append(checks, r)
	}
	d.mu.Unlock()
	counts := map[slo.Verdict]int{}
	var iterations, failed int64
	var next time.Time
	for _, r := range checks {
		r.mu.Lock()
		v := r.verdict
		r.mu.Unlock()
		if v == "" {
			v = slo.Inconclusive
		}
		counts[v]++
		// Counts only: a whole window per check (about 1 MB of histograms
		// each) made every heartbeat a spike in the resident set.
		its, _ := r.col.WindowCounts(now, d.o.Heartbeat)
		iterations += its.Total()
		failed += its.Failure + its.Dropped
		if running, at := r.schedule(); !running && !at.IsZero() && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	attrs := []any{
		"checks", len(checks), "pass", counts[slo.Pass], "fail", counts[slo.Fail], "inconclusive", counts[slo.Inconclusive],
		"iterations", iterations, "failed", failed, "over", slo.FormatDuration(d.o.Heartbeat),
		"alerts_firing", len(d.alerts.Firing()),
	}
	active, finished := d.runs.counts()
	attrs = append(attrs, "runs_active", active, "runs_finished", finished)
	if !next.IsZero() {
		attrs = append(attrs, "next_scheduled_run", next.UTC().Format(time.RFC3339))
	}
	d.log.Info("heartbeat", attrs...)
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

// setLatencyMetrics sets a check's exact quantiles over its verdict
// window, win.
func (d *Daemon) setLatencyMetrics(r *checkRunner, win *stats.Snapshot) {
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
