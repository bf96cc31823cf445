package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/store"
)

// Observation is one (check, SLO) at one evaluation: its burn over the
// policy's windows, and what a notification about it shows.
type Observation struct {
	Check, SLO string
	Labels     map[string]string // the check's labels
	Channel    string            // per-check Slack channel override; "" = the notifier's default
	RunbookURL string
	StatusURL  string
	Objective  slo.Objective
	// Burn is the SLO's burn per window length, for every Long and Short
	// of the policy (see Measure). A window without data is absent: right
	// after a restart the in-memory stats are empty, and that must neither
	// fire nor resolve anything.
	Burn map[time.Duration]Burn
	// Level, for an objective without an error budget (tls_expiry), is
	// its state instead of a burn: see Level.
	Level     *Level
	TopErrors []Count
	TopStatus []Count
	Failure   *Failure // the check's top reason lately, with a sample

	removed bool // the check or SLO left the configuration
}

// Level is the state of an objective without an error budget, such as
// tls_expiry > 14d: it has no burn rate, so its alert fires while the
// objective fails and resolves once it holds again, after the same quiet
// (resolve_after evaluations over resolve_for) as a burn-rate alert.
type Level struct {
	// Known is false without data: such an evaluation neither fires nor
	// resolves anything.
	Known   bool
	Failing bool
	// Observed is what the objective measured, for the notification:
	// "9.5d (the certificate of shop.example.com (step login) expires …)".
	Observed string
}

// LevelSeverity is the severity of a Level alert: a threshold crossed days
// ahead of an outage (a certificate that expires in two weeks) is a ticket,
// not a page.
const LevelSeverity = "ticket"

// ManagerOptions configure a Manager. Store is required; everything else
// has a default.
type ManagerOptions struct {
	Policy    Policy
	Store     *store.Store
	Notifiers []Notifier // distinct names
	// Clock times the evaluations, silences and reminders and every wait
	// of the dispatcher (pacing, backoff, Retry-After); nil is the wall
	// clock.
	Clock  clock.Clock
	Logger *slog.Logger
	// Registerer receives canary_alerts_firing, canary_notifications_total
	// and canary_notification_queue_dropped_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Secrets are redacted from every error the manager logs, on top of
	// the notifiers' own redaction (nil: URL user-info only).
	Secrets *redact.Set
	// MaxSilences bounds the silences kept; default 1000.
	MaxSilences int
	// Backoff is the wait before retry number attempt (from 1) of a
	// delivery that failed without naming a Retry-After; default
	// DefaultBackoff. A Retry-After is always honoured as given.
	Backoff func(attempt int) time.Duration
	// RateLimit is the least gap between two messages to one (notifier,
	// channel); default 1 s (Slack's chat.postMessage allows about one
	// message per second per channel).
	RateLimit time.Duration
}

// AlertState is one (check, SLO)'s alert, as persisted in the store's
// Alerts bucket.
type AlertState struct {
	Check   string    `json:"check"`
	SLO     string    `json:"slo"`
	Firing  bool      `json:"firing"`
	AlertID string    `json:"alert_id,omitempty"` // of the current (or last) alert; every notification of one alert carries it
	Since   time.Time `json:"since,omitzero"`     // when it started firing
	// LastNotified is when the last Firing or Reminder was queued; the
	// next reminder is due RepeatInterval after it.
	LastNotified time.Time `json:"last_notified,omitzero"`
	Severity     string    `json:"severity,omitempty"`
	// The rule that fired: "1h/5m" and its windows (the burn rate shown
	// is over RuleLong; the notifications' observed values over both).
	Window    string        `json:"window,omitempty"`
	RuleLong  time.Duration `json:"rule_long,omitempty"`
	RuleShort time.Duration `json:"rule_short,omitempty"`
	BurnRate  float64       `json:"burn_rate,omitempty"` // over RuleLong, at the last evaluation with data
	// QuietStreak counts the quiet evaluations in a row while firing, the
	// first of them at QuietSince; a burning or bad one starts it over.
	QuietStreak int       `json:"good_streak,omitempty"`
	QuietSince  time.Time `json:"quiet_since,omitzero"`
	// FiringSent is whether the Firing notification was queued; false
	// while the alert has been silenced since it started.
	FiringSent bool `json:"firing_sent,omitempty"`
	Silenced   bool `json:"silenced,omitempty"`
	// Sent counts the notifications queued for this alert; it makes their
	// IDs unique.
	Sent int `json:"sent,omitempty"`
	// Threads are what each notifier answered for the alert's first
	// message, by notifier name.
	Threads map[string]*Thread `json:"threads,omitempty"`
}

func (s *AlertState) clone() *AlertState {
	c := *s
	c.Threads = maps.Clone(s.Threads)
	return &c
}

// sameRecord reports whether a and b persist the same: the burn rate
// changes at every evaluation and is not worth a disk write on its own.
func sameRecord(a, b *AlertState) bool {
	x, y := *a, *b
	x.BurnRate, y.BurnRate = 0, 0
	if len(x.Threads) == 0 && len(y.Threads) == 0 {
		x.Threads, y.Threads = nil, nil
	}
	return reflect.DeepEqual(x, y)
}

// alertKey is the state's key. Check and SLO names cannot contain "/"
// (they become metric labels), so the key is unambiguous.
func alertKey(check, slo string) string { return check + "/" + slo }

// outboxEntry is one notification for one notifier, queued durably.
type outboxEntry struct {
	Notifier string       `json:"notifier"`
	Key      string       `json:"key"` // the alert's key, to find its thread at send time
	N        Notification `json:"notification"`
}

// Bounds of what a notification carries. The daemon builds observations
// from its configuration and its stats, so these only guard against a
// runaway label set or value; notifiers clip again for their own medium.
const (
	maxLabels     = 64
	maxText       = 256  // label values, objective, observed, count names
	maxURL        = 2048 //
	maxTopCounts  = 5
	refreshBudget = 10 * time.Second // the most one evaluation spends refreshing
)

// Manager runs the alert state machine of every (check, SLO) and delivers
// the notifications it decides through its notifiers. Evaluate, Firing and
// the silence methods may be called concurrently with each other and with
// Run.
type Manager struct {
	o       ManagerOptions
	clk     clock.Clock
	log     *slog.Logger
	byName  map[string]Notifier
	wake    map[string]chan struct{} // per notifier, size 1: "the outbox has something new"
	running atomic.Bool

	mu       sync.Mutex
	states   map[string]*AlertState // by alertKey; bounded by the configuration's checks × SLOs
	silences map[string]Silence     // by ID; bounded by MaxSilences

	firing  *prometheus.GaugeVec
	results *prometheus.CounterVec
	dropped prometheus.Counter
}

// Results of canary_notifications_total.
const (
	resultSent    = "sent"    // delivered
	resultRetried = "retried" // a failed attempt that will be retried
	resultFailed  = "failed"  // refused for good (e.g. channel_not_found): dropped
	resultDropped = "dropped" // queued for a notifier no longer configured: dropped
)

// NewManager loads the alert states and silences from o.Store.
func NewManager(o ManagerOptions) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("alert manager: no store")
	}
	o.Clock = clock.OrReal(o.Clock)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxSilences <= 0 {
		o.MaxSilences = 1000
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.RateLimit <= 0 {
		o.RateLimit = time.Second
	}
	if o.Policy.ResolveAfter <= 0 {
		o.Policy.ResolveAfter = 1
	}
	m := &Manager{
		o:        o,
		clk:      o.Clock,
		log:      o.Logger,
		byName:   map[string]Notifier{},
		wake:     map[string]chan struct{}{},
		states:   map[string]*AlertState{},
		silences: map[string]Silence{},
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metrics.AlertsFiring,
			Help: "Whether the SLO's burn-rate alert is firing (1) or not (0).",
		}, []string{metrics.LabelCheck, metrics.LabelSLO}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canary_notifications_total",
			Help: "Notification delivery attempts by notifier and result: sent, retried, failed (refused, dropped), dropped (notifier removed).",
		}, []string{"notifier", metrics.LabelResult}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canary_notification_queue_dropped_total",
			Help: "Undelivered notifications dropped because the outbox was full.",
		}),
	}
	for _, n := range o.Notifiers {
		if n == nil {
			return nil, errors.New("alert manager: nil notifier")
		}
		name := n.Name()
		if _, dup := m.byName[name]; dup {
			return nil, fmt.Errorf("alert manager: two notifiers named %q", name)
		}
		m.byName[name] = n
		m.wake[name] = make(chan struct{}, 1)
		for _, r := range []string{resultSent, resultRetried, resultFailed} {
			m.results.WithLabelValues(name, r) // exported as 0 from the start
		}
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.firing, m.results, m.dropped} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("alert manager metrics: %w", err)
			}
		}
	}
	if err := m.load(); err != nil {
		return nil, err
	}
	return m, nil
}

// load reads the persisted alert states and silences.
func (m *Manager) load() error {
	err := m.o.Store.Each(store.Alerts, func(key string, raw []byte) error {
		var st AlertState
		if err := json.Unmarshal(raw, &st); err != nil || st.Check == "" || alertKey(st.Check, st.SLO) != key {
			// Starting that one afresh loses at most one page or resolve;
			// refusing to start would lose them all.
			m.log.Warn("alert state unreadable; starting it afresh", "alert", key, "err", err)
			return nil
		}
		m.states[key] = &st
		if st.Firing {
			m.firing.WithLabelValues(st.Check, st.SLO).Set(1)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("alert manager: loading alert states: %w", err)
	}
	err = m.o.Store.Each(store.Silences, func(id string, raw []byte) error {
		var s Silence
		if err := json.Unmarshal(raw, &s); err != nil {
			m.log.Warn("silence unreadable; ignored", "silence", id, "err", err)
			return nil
		}
		if err := s.compile(); err != nil {
			m.log.Warn("silence invalid; ignored", "silence", id, "err", err)
			return nil
		}
		m.silences[id] = s
		return nil
	})
	if err != nil {
		return fmt.Errorf("alert manager: loading silences: %w", err)
	}
	return nil
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// transition is one alert's change at an evaluation.
type transition struct {
	key   string
	prev  *AlertState // nil: new to the manager
	state *AlertState // nil: forget the alert
	obs   *Observation
	kinds []Kind // notifications to queue
	store bool   // write (or delete) the record
}

// Evaluate runs one evaluation round over every observed (check, SLO):
//
//   - an alert fires when some rule of the policy is exceeded over both its
//     long and its short window, and notifies once (Firing);
//   - while it still fires it reminds every RepeatInterval (Reminder);
//   - it resolves once every rule has been quiet for ResolveFor and for at
//     least ResolveAfter evaluations in a row (Resolved): see step;
//   - an evaluation where a rule has no data neither counts nor breaks.
//
// Alerts of (check, SLO)s no longer observed — a reload removed them — are
// resolved and forgotten. Every change of the round and the notifications
// it queues are stored in one transaction: when it fails, Evaluate returns
// the error and nothing changed, in memory or on disk. Silences apply from
// the evaluation after they are added. Evaluate then refreshes the firing
// alerts with the notifiers that are Refreshers, within a bounded time.
func (m *Manager) Evaluate(ctx context.Context, obs []Observation) error {
	now := m.clk.Now()
	m.mu.Lock()
	expired := m.expiredSilences(now)
	var (
		changes []transition
		errs    []error
		seen    = make(map[string]*Observation, len(obs))
	)
	for i := range obs {
		o := &obs[i]
		key := alertKey(o.Check, o.SLO)
		switch {
		case o.Check == "" || o.SLO == "":
			errs = append(errs, fmt.Errorf("alert evaluation: observation %q without check or slo: ignored", key))
			continue
		case seen[key] != nil:
			errs = append(errs, fmt.Errorf("alert evaluation: %s observed twice: the second ignored", key))
			continue
		}
		seen[key] = o
		prev := m.states[key]
		st := &AlertState{Check: o.Check, SLO: o.SLO}
		if prev != nil {
			st = prev.clone()
		}
		t := transition{key: key, prev: prev, state: st, obs: o, kinds: m.step(st, o, now)}
		// A record is written when it changed; one that never fired, never.
		t.store = len(t.kinds) > 0 || (prev == nil && st.Firing) || (prev != nil && !sameRecord(prev, st))
		if t.store || prev == nil || prev.BurnRate != st.BurnRate {
			changes = append(changes, t)
		}
	}
	for key, st := range m.states {
		if seen[key] != nil {
			continue
		}
		t := transition{key: key, prev: st, obs: &Observation{Check: st.Check, SLO: st.SLO, removed: true}, store: true}
		if st.Firing && st.FiringSent && !st.Silenced {
			t.kinds = []Kind{Resolved}
		}
		changes = append(changes, t)
	}

	dropped, queued, err := m.commit(changes, expired, now)
	if err != nil {
		m.mu.Unlock()
		return errors.Join(append(errs, fmt.Errorf("alert evaluation not stored: %w", err))...)
	}
	for _, id := range expired {
		delete(m.silences, id)
	}
	for _, t := range changes {
		m.apply(t, now)
	}
	var refresh []Notification
	for key, o := range seen {
		if st := m.states[key]; st != nil && st.Firing && st.FiringSent && !st.Silenced {
			refresh = append(refresh, m.notification(st, o, Firing, now))
		}
	}
	m.mu.Unlock()

	if dropped > 0 {
		m.dropped.Add(float64(dropped))
		m.log.Warn("notification outbox full: the oldest notifications were dropped", "dropped", dropped)
	}
	if queued > 0 {
		m.signal()
	}
	m.refresh(ctx, refresh)
	return errors.Join(errs...)
}

// apply makes a committed transition the manager's state.
func (m *Manager) apply(t transition, now time.Time) {
	st := t.state
	if st == nil {
		delete(m.states, t.key)
		m.firing.DeleteLabelValues(t.prev.Check, t.prev.SLO)
		if t.prev.Firing {
			m.log.Info("alert resolved: its check or SLO was removed", "check", t.prev.Check, "slo", t.prev.SLO)
		}
		return
	}
	m.states[t.key] = st
	wasFiring := t.prev != nil && t.prev.Firing
	switch {
	case st.Firing && (!wasFiring || t.prev.AlertID != st.AlertID):
		m.log.Warn("alert firing", "check", st.Check, "slo", st.SLO, "severity", st.Severity,
			"window", st.Window, "burn_rate", st.BurnRate, "observed", m.o.Secrets.String(m.observed(st, t.obs)), "silenced", st.Silenced)
	case !st.Firing && wasFiring:
		m.log.Info("alert resolved", "check", st.Check, "slo", st.SLO, "burn_rate", st.BurnRate,
			"observed", m.o.Secrets.String(m.observed(st, t.obs)),
			"fired_for", now.Sub(st.Since).Round(time.Second).String(), "silenced", st.Silenced)
	case st.Firing && slices.Contains(t.kinds, Firing):
		m.log.Info("alert silence ended: paging now", "check", st.Check, "slo", st.SLO)
	}
	if st.Firing {
		m.firing.WithLabelValues(st.Check, st.SLO).Set(1)
	} else {
		m.firing.WithLabelValues(st.Check, st.SLO).Set(0)
	}
}

// step advances st by one evaluation of o and returns the notifications it
// calls for. It reads the policy and the silences (the caller holds mu).
//
// The hysteresis: an alert fires when a rule is exceeded, and resolves only
// once every rule has been quiet (ruleQuiet) for resolveFor and for at
// least ResolveAfter evaluations in a row. A burning evaluation — no rule
// exceeded, some not quiet — keeps it firing and starts the quiet streak
// over; an evaluation without data neither counts nor breaks it.
func (m *Manager) step(st *AlertState, o *Observation, now time.Time) []Kind {
	p := &m.o.Policy
	v, rule := judge(p, o.Burn)
	if o.Level != nil {
		v, rule = judgeLevel(o.Level)
	}
	if v == bad && !st.Firing {
		*st = AlertState{
			Check: o.Check, SLO: o.SLO, Firing: true, AlertID: newID(), Since: now,
			Severity: rule.Severity, Window: windowText(rule), RuleLong: rule.Long, RuleShort: rule.Short,
			BurnRate: o.Burn[rule.Long].Rate,
		}
		if o.Level != nil {
			st.Window = "" // no windows: the objective itself failed
		}
		st.Silenced = m.silenced(o, st.Severity, now)
		if st.Silenced {
			return nil
		}
		return []Kind{Firing}
	}
	if !st.Firing {
		return nil
	}
	if b, ok := o.Burn[st.RuleLong]; ok {
		st.BurnRate = b.Rate
	}
	st.Silenced = m.silenced(o, st.Severity, now)
	switch v {
	case bad, burning:
		st.QuietStreak, st.QuietSince = 0, time.Time{}
		switch {
		case st.Silenced:
			return nil
		case !st.FiringSent:
			// It fired while silenced and the silence has ended: page now.
			return []Kind{Firing}
		case p.RepeatInterval > 0 && now.Sub(st.LastNotified) >= p.RepeatInterval:
			return []Kind{Reminder}
		}
	case quiet:
		if st.QuietStreak == 0 {
			st.QuietSince = now
		}
		st.QuietStreak++
		if st.QuietStreak < p.ResolveAfter || now.Sub(st.QuietSince) < resolveFor(p) {
			return nil
		}
		st.Firing, st.QuietStreak, st.QuietSince = false, 0, time.Time{}
		// Nobody was paged, or the page is silenced: nothing to resolve.
		if st.FiringSent && !st.Silenced {
			return []Kind{Resolved}
		}
	}
	return nil
}

func windowText(w BurnWindow) string { return shortDur(w.Long) + "/" + shortDur(w.Short) }

// judgeLevel judges a Level as judge does burn rates: bad while failing,
// quiet while holding, no data without it.
func judgeLevel(l *Level) (verdict, BurnWindow) {
	switch {
	case !l.Known:
		return noData, BurnWindow{}
	case l.Failing:
		return bad, BurnWindow{Severity: LevelSeverity}
	}
	return quiet, BurnWindow{}
}

// shortDur prints 1h0m0s as 1h and 5m0s as 5m.
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// commit stores the round in one transaction: the states, their
// notifications (one outbox entry per notifier) and the removal of expired
// silences. On success it returns how many old outbox entries the bound
// dropped and how many it queued.
func (m *Manager) commit(changes []transition, expired []string, now time.Time) (dropped, queued int, err error) {
	if len(expired) == 0 && !slices.ContainsFunc(changes, func(t transition) bool { return t.store }) {
		return 0, 0, nil
	}
	err = m.o.Store.Update(func(tx *store.Tx) error {
		dropped, queued = 0, 0 // the transaction may be run again
		for _, t := range changes {
			if !t.store {
				continue // a burn-rate update is not worth a write
			}
			st := t.state
			if st == nil {
				st = t.prev.clone() // forgotten, but it notifies first
			}
			for _, k := range t.kinds {
				d, err := m.enqueue(tx, t.key, st, t.obs, k, now)
				if err != nil {
					return err
				}
				dropped += d
				queued++
			}
			if t.state == nil {
				if err := tx.Delete(store.Alerts, t.key); err != nil {
					return err
				}
				continue
			}
			if err := tx.Put(store.Alerts, t.key, st); err != nil {
				return err
			}
		}
		for _, id := range expired {
			if err := tx.Delete(store.Silences, id); err != nil {
				return err
			}
		}
		return nil
	})
	return dropped, queued, err
}

// enqueue queues one notification of st for every notifier and records it
// in st.
func (m *Manager) enqueue(tx *store.Tx, key string, st *AlertState, o *Observation, k Kind, now time.Time) (dropped int, err error) {
	n := m.notification(st, o, k, now)
	for _, nt := range m.o.Notifiers {
		e := outboxEntry{Notifier: nt.Name(), Key: key, N: n}
		if k != Firing {
			// Known now if the Firing was delivered; otherwise the
			// dispatcher looks again when it sends this.
			e.N.Thread = st.Threads[nt.Name()]
		}
		_, d, err := tx.Enqueue(e)
		if err != nil {
			return dropped, err
		}
		dropped += d
	}
	st.Sent++
	switch k {
	case Firing:
		st.FiringSent = true
		st.LastNotified = now
	case Reminder:
		st.LastNotified = now
	}
	return dropped, nil
}

// notification builds the notification of kind k for st, bounded and with
// the known secrets redacted.
func (m *Manager) notification(st *AlertState, o *Observation, k Kind, now time.Time) Notification {
	text := func(s string, max int) string { return clip(m.o.Secrets.String(s), max) }
	n := Notification{
		ID: fmt.Sprintf("%s-%d-%s", st.AlertID, st.Sent, k), AlertID: st.AlertID, Kind: k, At: now,
		Check: st.Check, SLO: st.SLO, Severity: st.Severity,
		Channel:   text(o.Channel, maxText),
		Objective: text(objective(o), maxText), Observed: text(m.observed(st, o), maxText),
		BurnRate: st.BurnRate, Window: st.Window, Since: st.Since,
		TopErrors:  counts(o.TopErrors, text),
		TopStatus:  counts(o.TopStatus, text),
		Failure:    failure(o.Failure, text),
		StatusURL:  text(o.StatusURL, maxURL),
		RunbookURL: text(o.RunbookURL, maxURL),
		Threshold:  o.Level != nil,
	}
	if len(o.Labels) > 0 {
		n.Labels = make(map[string]string, min(len(o.Labels), maxLabels))
		for _, k := range slices.Sorted(maps.Keys(o.Labels)) {
			if len(n.Labels) == maxLabels {
				break
			}
			n.Labels[clip(k, maxText)] = text(o.Labels[k], maxText)
		}
	}
	return n
}

func objective(o *Observation) string {
	if o.removed {
		return ""
	}
	return o.Objective.String()
}

// observed is a notification's Observed: the SLO over the windows of the
// rule that fired.
func (m *Manager) observed(st *AlertState, o *Observation) string {
	if o.removed {
		return "removed from the configuration"
	}
	if o.Level != nil {
		return o.Level.Observed
	}
	rule := BurnWindow{Long: st.RuleLong, Short: st.RuleShort}
	if rule.Short == 0 {
		// Stored before the short window was: the policy's rule.
		for _, w := range m.o.Policy.Windows {
			if w.Long == rule.Long {
				rule.Short = w.Short
				break
			}
		}
	}
	return windowsText(o.Objective, rule, o.Burn)
}

// A notification's sample is smaller than a report's: it waits in the
// outbox (10,000 notifications at most) and a Slack message shows a few
// lines of it.
const (
	maxNoteBody    = 512
	maxNoteHeaders = 8
)

// failure copies an observation's top failure for a notification, its
// texts redacted and bounded.
func failure(f *Failure, text func(string, int) string) *Failure {
	if f == nil {
		return nil
	}
	out := &Failure{Reason: text(f.Reason, maxText), Count: f.Count}
	if f.Sample != nil {
		s := *f.Sample
		s.Error = text(s.Error, maxText)
		s.Request.URL = text(s.Request.URL, maxURL)
		s.Request.Body = text(s.Request.Body, maxNoteBody)
		s.Request.Headers = s.Request.Headers[:min(len(s.Request.Headers), maxNoteHeaders):min(len(s.Request.Headers), maxNoteHeaders)]
		if s.Response != nil {
			r := *s.Response
			r.Body = text(r.Body, maxNoteBody)
			r.Headers = r.Headers[:min(len(r.Headers), maxNoteHeaders):min(len(r.Headers), maxNoteHeaders)]
			s.Response = &r
		}
		out.Sample = &s
	}
	return out
}

func counts(cs []Count, text func(string, int) string) []Count {
	if len(cs) == 0 {
		return nil
	}
	out := make([]Count, 0, min(len(cs), maxTopCounts))
	for _, c := range cs[:min(len(cs), maxTopCounts)] {
		out = append(out, Count{Name: text(c.Name, maxText), Count: c.Count})
	}
	return out
}

// clip cuts s to at most max bytes on a rune boundary, marking the cut.
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// refresh re-sends the firing alerts to receivers that expire them, best
// effort: a receiver that is down must not hold up the evaluations, so the
// whole pass has one deadline, and failures are logged once per receiver.
func (m *Manager) refresh(ctx context.Context, ns []Notification) {
	if len(ns) == 0 {
		return
	}
	budget := refreshBudget
	if e := m.o.Policy.EvaluateEvery; e > 0 && e/2 < budget {
		budget = max(e/2, 100*time.Millisecond)
	}
	ctx, cancel := m.withTimeout(ctx, budget)
	defer cancel()
	for _, nt := range m.o.Notifiers {
		r, ok := nt.(Refresher)
		if !ok {
			continue
		}
		failed := 0
		var first error
		for i := range ns {
			if ctx.Err() != nil {
				failed += len(ns) - i
				if first == nil {
					first = context.Cause(ctx)
				}
				break
			}
			if err := r.Refresh(ctx, &ns[i]); err != nil {
				failed++
				if first == nil {
					first = err
				}
			}
		}
		if failed > 0 {
			m.log.Warn("alert refresh failed", "notifier", nt.Name(), "alerts", failed, "of", len(ns), "err", m.redactErr(first))
		}
	}
}

// withTimeout is context.WithTimeout on the manager's clock: the refresh
// budget is a share of evaluate_every, so it is measured on the clock that
// paces the evaluations. Its cancel waits for the timer's goroutine.
func (m *Manager) withTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	t := m.clk.NewTimer(d)
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-t.C():
			cancel(context.DeadlineExceeded)
		case <-stop:
			t.Stop()
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			close(stop)
			<-done
			cancel(context.Canceled)
		})
	}
}

// signal wakes the dispatchers; a wake already pending is enough.
func (m *Manager) signal() {
	for _, ch := range m.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// redactErr is err's text with the known secrets and URL user-info
// replaced, for logging.
func (m *Manager) redactErr(err error) string {
	if err == nil {
		return ""
	}
	return m.o.Secrets.String(err.Error())
}

// Firing lists the alerts firing now (silenced ones included, marked), by
// check and SLO.
func (m *Manager) Firing() []AlertState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AlertState
	for _, st := range m.states {
		if st.Firing {
			out = append(out, *st.clone())
		}
	}
	slices.SortFunc(out, func(a, b AlertState) int {
		return strings.Compare(alertKey(a.Check, a.SLO), alertKey(b.Check, b.SLO))
	})
	return out
}
