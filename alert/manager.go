package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/store"
)

// Observation is one (check, SLO)'s state at an evaluation: its burn rates
// over every window of the policy, and what a notification shows.
type Observation struct {
	Check, SLO string
	Labels     map[string]string
	Channel    string // per-check Slack channel override
	RunbookURL string
	StatusURL  string
	Objective  string // "success>=99.5%"
	Observed   string // over the check's verdict window
	// Burn is the burn rate per window length; a window without data is
	// absent (right after a restart, say): no data is neither good nor bad.
	Burn      map[time.Duration]float64
	TopErrors []Count
	TopStatus []Count
}

// ManagerOptions configure a Manager.
type ManagerOptions struct {
	Policy    Policy
	Store     *store.Store
	Notifiers []Notifier
	Now       func() time.Time
	Logger    *slog.Logger
	// Registerer receives canary_alerts_firing and the notification counters.
	Registerer prometheus.Registerer
	// MaxSilences bounds the silences kept (default 1000).
	MaxSilences int
	// Backoff is the wait before retry attempt n (from 1) of a failed
	// delivery that named no Retry-After; default 1 s · 2ⁿ⁻¹ with ±20 %
	// jitter, at most 5 min.
	Backoff func(attempt int) time.Duration
	// RateLimit is the minimum gap between two messages to one (notifier,
	// channel); default 1 s.
	RateLimit time.Duration
}

// AlertState is an alert's persisted state.
type AlertState struct {
	Check        string             `json:"check"`
	SLO          string             `json:"slo"`
	Firing       bool               `json:"firing"`
	AlertID      string             `json:"alert_id,omitempty"`
	Since        time.Time          `json:"since,omitempty"`
	LastNotified time.Time          `json:"last_notified,omitempty"`
	Severity     string             `json:"severity,omitempty"`
	Window       string             `json:"window,omitempty"`
	BurnRate     float64            `json:"burn_rate,omitempty"`
	GoodStreak   int                `json:"good_streak,omitempty"`
	FiringSent   bool               `json:"firing_sent,omitempty"` // the Firing notification went out (not silenced)
	Silenced     bool               `json:"silenced,omitempty"`
	Sent         int                `json:"sent,omitempty"` // notifications of this alert, for IDs
	Threads      map[string]*Thread `json:"threads,omitempty"`
}

func alertKey(check, slo string) string { return check + "/" + slo }

// outboxEntry is one notification for one notifier, queued durably.
type outboxEntry struct {
	Notifier string       `json:"notifier"`
	Key      string       `json:"key"`
	N        Notification `json:"notification"`
}

// Manager runs the alert state machines and delivers their notifications.
type Manager struct {
	o        ManagerOptions
	log      *slog.Logger
	mu       sync.Mutex
	states   map[string]*AlertState // bounded by the config's checks × SLOs
	silences map[string]Silence     // bounded by MaxSilences
	wake     map[string]chan struct{}

	firing  *prometheus.GaugeVec
	sent    *prometheus.CounterVec
	dropped prometheus.Counter
}

// NewManager loads the alert states and silences from the store.
func NewManager(o ManagerOptions) (*Manager, error) {
	if o.Store == nil {
		return nil, errors.New("alert manager: no store")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxSilences <= 0 {
		o.MaxSilences = 1000
	}
	if o.Backoff == nil {
		o.Backoff = defaultBackoff
	}
	if o.RateLimit == 0 {
		o.RateLimit = time.Second
	}
	if o.Policy.ResolveAfter <= 0 {
		o.Policy.ResolveAfter = 1
	}
	m := &Manager{
		o: o, log: o.Logger, states: map[string]*AlertState{}, silences: map[string]Silence{}, wake: map[string]chan struct{}{},
		firing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: metrics.AlertsFiring, Help: "Whether the SLO's burn-rate alert is firing (1) or not (0).",
		}, []string{metrics.LabelCheck, metrics.LabelSLO}),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "canary_notifications_total", Help: "Notification deliveries by notifier and result (sent, retried, failed).",
		}, []string{"notifier", metrics.LabelResult}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "canary_notification_queue_dropped_total", Help: "Undelivered notifications dropped because the outbox was full.",
		}),
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{m.firing, m.sent, m.dropped} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("alert manager metrics: %w", err)
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range o.Notifiers {
		if seen[n.Name()] {
			return nil, fmt.Errorf("alert manager: two notifiers named %q", n.Name())
		}
		seen[n.Name()] = true
		m.wake[n.Name()] = make(chan struct{}, 1)
	}
	err := o.Store.Each(store.Alerts, func(k string, raw []byte) error {
		var st AlertState
		if err := json.Unmarshal(raw, &st); err != nil {
			m.log.Warn("alert state unreadable; starting it afresh", "alert", k, "err", err)
			return nil
		}
		m.states[k] = &st
		if st.Firing {
			m.firing.WithLabelValues(st.Check, st.SLO).Set(1)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = o.Store.Each(store.Silences, func(k string, raw []byte) error {
		var s Silence
		if json.Unmarshal(raw, &s) == nil {
			if err := s.compile(); err == nil {
				m.silences[k] = s
			}
		}
		return nil
	})
	return m, err
}

func defaultBackoff(attempt int) time.Duration {
	d := time.Second << min(attempt-1, 9)
	if d > 5*time.Minute {
		d = 5 * time.Minute
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	jitter := (float64(b[0])/255 - 0.5) * 0.4 // ±20 %
	return time.Duration(float64(d) * (1 + jitter))
}

func newID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// verdict of one evaluation for one alert.
type verdict int

const (
	noData verdict = iota
	good
	bad
)

// judge applies the multi-window multi-burn-rate policy: bad when some rule
// has both windows over its factor; good when every window has data and no
// rule fires; otherwise there is not enough data.
func (m *Manager) judge(burn map[time.Duration]float64) (verdict, BurnWindow) {
	complete := true
	for _, w := range m.o.Policy.Windows {
		l, okL := burn[w.Long]
		s, okS := burn[w.Short]
		if okL && okS && l > w.Factor && s > w.Factor {
			return bad, w
		}
		if !okL || !okS {
			complete = false
		}
	}
	if !complete || len(m.o.Policy.Windows) == 0 {
		return noData, BurnWindow{}
	}
	return good, BurnWindow{}
}

// Evaluate runs one evaluation round over every observed (check, SLO).
// Alerts whose (check, SLO) is no longer observed — removed by a reload —
// are resolved (with a Resolved notification if they had paged) and
// forgotten.
func (m *Manager) Evaluate(ctx context.Context, obs []Observation) error {
	now := m.o.Now()
	m.mu.Lock()
	m.pruneSilences(now)
	var errs []error
	var refresh []Notification
	observed := map[string]bool{}
	for i := range obs {
		o := &obs[i]
		key := alertKey(o.Check, o.SLO)
		observed[key] = true
		st := m.states[key]
		if st == nil {
			st = &AlertState{Check: o.Check, SLO: o.SLO}
		}
		before := *st
		v, rule := m.judge(o.Burn)
		silenced := m.silenced(o, st.Severity, rule.Severity)
		st.Silenced = silenced
		var kinds []Kind
		switch {
		case v == bad && !st.Firing:
			*st = AlertState{Check: o.Check, SLO: o.SLO, Firing: true, AlertID: newID(), Since: now, Severity: rule.Severity,
				Window: windowText(rule), BurnRate: o.Burn[rule.Long], Silenced: silenced, Threads: map[string]*Thread{}}
			if !silenced {
				kinds = append(kinds, Firing)
			}
		case v == bad && st.Firing:
			st.GoodStreak = 0
			st.BurnRate = o.Burn[rule.Long]
			switch {
			case silenced:
			case !st.FiringSent:
				kinds = append(kinds, Firing) // the silence ended while it fired
			case now.Sub(st.LastNotified) >= m.o.Policy.RepeatInterval && m.o.Policy.RepeatInterval > 0:
				kinds = append(kinds, Reminder)
			}
		case v == good && st.Firing:
			st.GoodStreak++
			if st.GoodStreak >= m.o.Policy.ResolveAfter {
				if st.FiringSent && !silenced {
					kinds = append(kinds, Resolved)
				}
				st.Firing = false
			}
		}
		if err := m.commit(key, st, o, kinds, now); err != nil {
			*st = before
			errs = append(errs, err)
			continue
		}
		m.states[key] = st
		if st.Firing {
			m.firing.WithLabelValues(o.Check, o.SLO).Set(1)
			if st.FiringSent && !silenced {
				refresh = append(refresh, m.notification(st, o, Firing, now))
			}
		} else {
			m.firing.WithLabelValues(o.Check, o.SLO).Set(0)
		}
	}
	// Alerts of checks or SLOs that a reload removed.
	for key, st := range m.states {
		if observed[key] {
			continue
		}
		var kinds []Kind
		o := &Observation{Check: st.Check, SLO: st.SLO, Observed: "removed from the configuration"}
		if st.Firing && st.FiringSent && !st.Silenced {
			kinds = append(kinds, Resolved)
		}
		if err := m.forget(key, st, o, kinds, now); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(m.states, key)
		m.firing.DeleteLabelValues(st.Check, st.SLO)
	}
	m.mu.Unlock()
	m.signal()
	m.refresh(ctx, refresh)
	return errors.Join(errs...)
}

func windowText(w BurnWindow) string {
	return shortDur(w.Long) + "/" + shortDur(w.Short)
}

func shortDur(d time.Duration) string {
	s := d.String()
	for _, suf := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, suf) {
			s = strings.TrimSuffix(s, suf[1:])
		}
	}
	return s
}

// commit persists st and its notifications in one transaction.
func (m *Manager) commit(key string, st *AlertState, o *Observation, kinds []Kind, now time.Time) error {
	return m.o.Store.Update(func(tx *store.Tx) error {
		for _, k := range kinds {
			if err := m.enqueue(tx, key, st, o, k, now); err != nil {
				return err
			}
		}
		return tx.Put(store.Alerts, key, st)
	})
}

func (m *Manager) forget(key string, st *AlertState, o *Observation, kinds []Kind, now time.Time) error {
	return m.o.Store.Update(func(tx *store.Tx) error {
		for _, k := range kinds {
			if err := m.enqueue(tx, key, st, o, k, now); err != nil {
				return err
			}
		}
		return tx.Delete(store.Alerts, key)
	})
}

func (m *Manager) enqueue(tx *store.Tx, key string, st *AlertState, o *Observation, k Kind, now time.Time) error {
	n := m.notification(st, o, k, now)
	for _, nt := range m.o.Notifiers {
		_, dropped, err := tx.Enqueue(outboxEntry{Notifier: nt.Name(), Key: key, N: n})
		if err != nil {
			return err
		}
		if dropped > 0 {
			m.dropped.Add(float64(dropped))
			m.log.Warn("notification outbox full: oldest notifications dropped", "dropped", dropped)
		}
	}
	st.Sent++
	switch k {
	case Firing:
		st.FiringSent = true
		st.LastNotified = now
	case Reminder:
		st.LastNotified = now
	}
	return nil
}

func (m *Manager) notification(st *AlertState, o *Observation, k Kind, now time.Time) Notification {
	return Notification{
		ID: fmt.Sprintf("%s-%d-%s", st.AlertID, st.Sent, k), AlertID: st.AlertID, Kind: k, At: now,
		Check: st.Check, SLO: st.SLO, Severity: st.Severity, Labels: o.Labels, Channel: o.Channel,
		Objective: o.Objective, Observed: o.Observed, BurnRate: st.BurnRate, Window: st.Window, Since: st.Since,
		TopErrors: o.TopErrors, TopStatus: o.TopStatus, StatusURL: o.StatusURL, RunbookURL: o.RunbookURL,
	}
}

// refresh re-sends firing alerts to receivers that expire them.
func (m *Manager) refresh(ctx context.Context, ns []Notification) {
	for _, nt := range m.o.Notifiers {
		r, ok := nt.(Refresher)
		if !ok {
			continue
		}
		for i := range ns {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := r.Refresh(cctx, &ns[i]); err != nil {
				m.log.Warn("alert refresh failed", "notifier", nt.Name(), "check", ns[i].Check, "slo", ns[i].SLO, "err", err)
			}
			cancel()
		}
	}
}

func (m *Manager) signal() {
	for _, ch := range m.wake {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Firing lists the alerts firing now.
func (m *Manager) Firing() []AlertState {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []AlertState
	for _, st := range m.states {
		if st.Firing {
			out = append(out, *st)
		}
	}
	sort.Slice(out, func(i, j int) bool { return alertKey(out[i].Check, out[i].SLO) < alertKey(out[j].Check, out[j].SLO) })
	return out
}

// ---------------------------------------------------------------- delivery

// Run delivers the outbox until ctx ends: one goroutine per notifier, so a
// receiver that is down does not hold up the others. It returns after they
// have all exited. Notifications are removed from the outbox only after
// delivery: a crash between delivery and removal delivers once more on
// restart (at-least-once; Slack has no idempotency key to do better).
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, nt := range m.o.Notifiers {
		wg.Add(1)
		go func(nt Notifier) {
			defer wg.Done()
			m.deliverLoop(ctx, nt)
		}(nt)
	}
	wg.Wait()
	return nil
}

func (m *Manager) deliverLoop(ctx context.Context, nt Notifier) {
	wake := m.wake[nt.Name()]
	idle := time.NewTimer(time.Hour)
	defer idle.Stop()
	lastSent := map[string]time.Time{} // by channel; bounded by the channels configured
	for {
		pending, err := m.o.Store.Pending()
		if err != nil {
			m.log.Error("outbox unreadable", "err", err)
		}
		delivered := 0
		for _, p := range pending {
			var e outboxEntry
			if err := json.Unmarshal(p.Raw, &e); err != nil {
				m.log.Error("outbox entry unreadable; dropped", "seq", p.Seq, "err", err)
				_ = m.o.Store.Ack(p.Seq)
				continue
			}
			if e.Notifier != nt.Name() {
				if !m.knows(e.Notifier) {
					// A notifier no longer configured: nobody will deliver it.
					_ = m.o.Store.Ack(p.Seq)
					m.sent.WithLabelValues(e.Notifier, "dropped").Inc()
				}
				continue
			}
			if !m.deliver(ctx, nt, p.Seq, &e, lastSent) {
				return // ctx ended
			}
			delivered++
		}
		if delivered > 0 {
			continue // look again: more may have arrived meanwhile
		}
		idle.Reset(30 * time.Second)
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-idle.C:
		}
	}
}

func (m *Manager) knows(name string) bool {
	_, ok := m.wake[name]
	return ok
}

// deliver sends one entry until it is delivered or permanently refused; it
// returns false when ctx ended first (the entry stays queued).
func (m *Manager) deliver(ctx context.Context, nt Notifier, seq uint64, e *outboxEntry, lastSent map[string]time.Time) bool {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) bool {
		if d <= 0 {
			return ctx.Err() == nil
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		}
	}
	for attempt := 1; ; attempt++ {
		if gap := m.o.RateLimit - time.Since(lastSent[e.N.Channel]); gap > 0 && !wait(gap) {
			return false
		}
		m.mu.Lock()
		if st := m.states[e.Key]; st != nil && st.AlertID == e.N.AlertID {
			e.N.Thread = st.Threads[nt.Name()]
		}
		m.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		thread, err := nt.Notify(cctx, &e.N)
		cancel()
		lastSent[e.N.Channel] = time.Now()
		if err == nil {
			m.sent.WithLabelValues(nt.Name(), "sent").Inc()
			if thread != nil {
				m.saveThread(e.Key, e.N.AlertID, nt.Name(), thread)
			}
			if err := m.o.Store.Ack(seq); err != nil {
				m.log.Error("outbox ack failed", "err", err)
			}
			m.log.Info("notification delivered", "notifier", nt.Name(), "check", e.N.Check, "slo", e.N.SLO, "kind", e.N.Kind)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		after, retry := Retryable(err)
		if !retry {
			m.sent.WithLabelValues(nt.Name(), "failed").Inc()
			m.log.Error("notification refused; dropped", "notifier", nt.Name(), "check", e.N.Check, "slo", e.N.SLO, "kind", e.N.Kind, "err", err)
			_ = m.o.Store.Ack(seq)
			return true
		}
		m.sent.WithLabelValues(nt.Name(), "retried").Inc()
		if after <= 0 {
			after = m.o.Backoff(attempt)
		}
		m.log.Warn("notification delivery failed; retrying", "notifier", nt.Name(), "kind", e.N.Kind, "in", after, "err", err)
		if !wait(after) {
			return false
		}
	}
}

func (m *Manager) saveThread(key, alertID, notifier string, t *Thread) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[key]
	if st == nil || st.AlertID != alertID {
		return
	}
	if st.Threads == nil {
		st.Threads = map[string]*Thread{}
	}
	if cur := st.Threads[notifier]; cur != nil && cur.TS != "" {
		return // the first message's thread stays the thread
	}
	st.Threads[notifier] = t
	if err := m.o.Store.Put(store.Alerts, key, st); err != nil {
		m.log.Error("alert state not persisted", "alert", key, "err", err)
	}
}

// ---------------------------------------------------------------- silences

// Silence mutes notifications of the alerts its matchers all match, from
// StartsAt to EndsAt. A matcher names check, slo, severity or a label; its
// value is exact, or a regular expression after "~".
type Silence struct {
	ID        string            `json:"id"`
	Matchers  map[string]string `json:"matchers"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	CreatedBy string            `json:"created_by,omitempty"`
	Comment   string            `json:"comment,omitempty"`

	res map[string]*regexp.Regexp
}

var matcherName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

func (s *Silence) compile() error {
	if len(s.Matchers) == 0 {
		return errors.New("silence: give at least one matcher")
	}
	if len(s.Matchers) > 20 {
		return errors.New("silence: at most 20 matchers")
	}
	s.res = map[string]*regexp.Regexp{}
	for k, v := range s.Matchers {
		if !matcherName.MatchString(k) {
			return fmt.Errorf("silence matcher %q: want check, slo, severity or a label name", k)
		}
		if len(v) > 1024 {
			return fmt.Errorf("silence matcher %s: value too long", k)
		}
		if rx, ok := strings.CutPrefix(v, "~"); ok {
			re, err := regexp.Compile("^(?:" + rx + ")$")
			if err != nil {
				return fmt.Errorf("silence matcher %s: bad regular expression %q: %v", k, rx, err)
			}
			s.res[k] = re
		}
	}
	return nil
}

func (s *Silence) active(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt)
}

func (s *Silence) matches(labels map[string]string) bool {
	for k, want := range s.Matchers {
		got, ok := labels[k]
		if !ok {
			return false
		}
		if re := s.res[k]; re != nil {
			if !re.MatchString(got) {
				return false
			}
		} else if got != want {
			return false
		}
	}
	return true
}

// silenced reports whether an active silence matches the alert.
func (m *Manager) silenced(o *Observation, severities ...string) bool {
	now := m.o.Now()
	labels := map[string]string{}
	for k, v := range o.Labels {
		labels[k] = v
	}
	labels["check"], labels["slo"] = o.Check, o.SLO
	for _, sev := range severities {
		if sev != "" {
			labels["severity"] = sev
		}
	}
	for _, s := range m.silences {
		if s.active(now) && s.matches(labels) {
			return true
		}
	}
	return false
}

func (m *Manager) pruneSilences(now time.Time) {
	for id, s := range m.silences {
		if !now.Before(s.EndsAt) {
			delete(m.silences, id)
			if err := m.o.Store.Delete(store.Silences, id); err != nil {
				m.log.Warn("expired silence not deleted", "id", id, "err", err)
			}
		}
	}
}

// ErrNoSilence is returned for an unknown silence id.
var ErrNoSilence = errors.New("no such silence")

// AddSilence validates and stores a silence; it takes effect at the next
// evaluation.
func (m *Manager) AddSilence(s Silence) (Silence, error) {
	if err := s.compile(); err != nil {
		return Silence{}, err
	}
	now := m.o.Now()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	if !s.EndsAt.After(s.StartsAt) || !s.EndsAt.After(now) {
		return Silence{}, errors.New("silence: ends_at must be in the future and after starts_at")
	}
	if s.EndsAt.Sub(now) > 365*24*time.Hour {
		return Silence{}, errors.New("silence: at most a year")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruneSilences(now)
	if len(m.silences) >= m.o.MaxSilences {
		return Silence{}, fmt.Errorf("silence: %d silences already; delete some first", len(m.silences))
	}
	s.ID = newID()
	if err := m.o.Store.Put(store.Silences, s.ID, s); err != nil {
		return Silence{}, err
	}
	m.silences[s.ID] = s
	return s, nil
}

// Silences lists the active and pending silences, by end time.
func (m *Manager) Silences() []Silence {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Silence, 0, len(m.silences))
	for _, s := range m.silences {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].EndsAt.Before(out[j].EndsAt) })
	return out
}

// DeleteSilence removes a silence.
func (m *Manager) DeleteSilence(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.silences[id]; !ok {
		return fmt.Errorf("%w %q", ErrNoSilence, id)
	}
	delete(m.silences, id)
	return m.o.Store.Delete(store.Silences, id)
}
