package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/alertmanager"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/internal/golden"
	"github.com/canaryproj/canary/internal/logtest"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The test policy, in seconds: page when 10s and 2s both burn above 10;
// open a ticket when 1m and 5s both burn above 3.
var (
	page   = alert.BurnWindow{Long: 10 * time.Second, Short: 2 * time.Second, Factor: 10, Severity: "page"}
	ticket = alert.BurnWindow{Long: time.Minute, Short: 5 * time.Second, Factor: 3, Severity: "ticket"}
	policy = alert.Policy{
		Windows:        []alert.BurnWindow{page, ticket},
		RepeatInterval: time.Minute,
		ResolveAfter:   3,
		EvaluateEvery:  time.Second,
	}
)

// availability is the tests' objective: success >= 99.5%, a 0.5% budget.
var availability = slo.Objective{Name: "availability", Kind: slo.KindSuccess, Op: slo.GE, Target: 0.995}

// burn is a burn-rate map over the test policy's four windows, each
// covered by data over its whole length.
func burn(long10s, short2s, long1m, short5s float64) map[time.Duration]alert.Burn {
	return spanned(map[time.Duration]float64{
		page.Long: long10s, page.Short: short2s, ticket.Long: long1m, ticket.Short: short5s,
	})
}

// spanned turns burn rates by window into Burns covering their windows.
func spanned(rates map[time.Duration]float64) map[time.Duration]alert.Burn {
	out := make(map[time.Duration]alert.Burn, len(rates))
	for w, r := range rates {
		out[w] = alert.Burn{Rate: r, Span: w}
	}
	return out
}

var (
	breach = burn(20, 30, 20, 30) // every rule exceeded: page
	clean  = burn(0, 0, 0, 0)     // a quiet evaluation
	// burning: the page rule's short window is under its factor but not
	// within the objective while its long window still burns above it:
	// neither exceeded nor quiet.
	burningRates = burn(20, 9, 2, 1)
)

// observe is checkout/availability's observation with the given burn rates.
func observe(b map[time.Duration]alert.Burn) []alert.Observation {
	return []alert.Observation{{
		Check: "checkout", SLO: "availability", Labels: map[string]string{"team": "payments"},
		Objective: availability, Burn: b,
	}}
}

// t0 is when every test's fake clock starts.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func newClock() *clock.Fake { return clock.NewFake(t0) }

// recorder is a Notifier that records what it delivers, answering each
// Firing with a thread of its own.
type recorder struct {
	name string
	clk  clock.Clock // when set, the time of each delivery is kept in at
	mu   sync.Mutex
	got  []alert.Notification
	at   []time.Time
	fail []error // returned, in order, before anything is delivered
}

func (r *recorder) Name() string { return r.name }

func (r *recorder) Notify(_ context.Context, n *alert.Notification) (*alert.Thread, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.fail) > 0 {
		err := r.fail[0]
		r.fail = r.fail[1:]
		return nil, err
	}
	r.got = append(r.got, *n)
	if r.clk != nil {
		r.at = append(r.at, r.clk.Now())
	}
	if n.Thread != nil {
		return n.Thread, nil
	}
	return &alert.Thread{Channel: "C1", TS: fmt.Sprint(len(r.got))}, nil
}

func (r *recorder) notes() []alert.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]alert.Notification(nil), r.got...)
}

func (r *recorder) kinds() []alert.Kind {
	var out []alert.Kind
	for _, n := range r.notes() {
		out = append(out, n.Kind)
	}
	return out
}

// harness is a Manager on a real store in a directory, with its dispatcher
// running.
type harness struct {
	t    *testing.T
	dir  string
	st   *store.Store
	m    *alert.Manager
	clk  *clock.Fake
	reg  *prometheus.Registry
	stop context.CancelFunc
	done chan struct{}
}

// harnessConfig is what harness options change.
type harnessConfig struct {
	manager alert.ManagerOptions
	store   store.Options
	noRun   bool
}

type harnessOpt func(*harnessConfig)

func withPolicy(p alert.Policy) harnessOpt { return func(c *harnessConfig) { c.manager.Policy = p } }
func withLogger(l *slog.Logger) harnessOpt { return func(c *harnessConfig) { c.manager.Logger = l } }
func withRateLimit(d time.Duration) harnessOpt {
	return func(c *harnessConfig) { c.manager.RateLimit = d }
}
func withMaxSilences(n int) harnessOpt {
	return func(c *harnessConfig) { c.manager.MaxSilences = n }
}
func withMaxOutbox(n int) harnessOpt { return func(c *harnessConfig) { c.store.MaxOutbox = n } }

// noRun leaves the dispatcher stopped: notifications stay in the outbox.
func noRun() harnessOpt { return func(c *harnessConfig) { c.noRun = true } }

func newHarness(t *testing.T, dir string, clk *clock.Fake, notifiers []alert.Notifier, opts ...harnessOpt) *harness {
	t.Helper()
	c := harnessConfig{manager: alert.ManagerOptions{
		Policy: policy, Notifiers: notifiers, Clock: clk,
		// Retries without Retry-After are quick in tests; a Retry-After is
		// still honoured as given.
		Backoff:   func(int) time.Duration { return harnessWait },
		RateLimit: time.Millisecond,
	}}
	for _, f := range opts {
		f(&c)
	}
	st, err := store.Open(dir, c.store)
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	c.manager.Store, c.manager.Registerer = st, reg
	m, err := alert.NewManager(c.manager)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, st: st, m: m, clk: clk, reg: reg, stop: cancel, done: make(chan struct{})}
	if c.noRun {
		close(h.done)
	} else {
		go func() { defer close(h.done); _ = m.Run(ctx) }()
	}
	t.Cleanup(h.close)
	return h
}

// close stops the dispatcher and closes the store, like a daemon stopping
// (or being killed: nothing else is flushed). It may be called twice.
func (h *harness) close() {
	h.stop()
	<-h.done
	_ = h.st.Close()
}

// eval runs one evaluation and moves the clock on by evaluate_every.
func (h *harness) eval(o []alert.Observation) {
	h.t.Helper()
	require.NoError(h.t, h.m.Evaluate(context.Background(), o))
	h.clk.Advance(policy.EvaluateEvery)
}

// harnessWait is the harness's backoff; settle moves the clock on by it
// whenever the dispatcher waits on the clock.
const harnessWait = 10 * time.Millisecond

// settle waits until cond holds, letting the dispatcher's pacing and
// backoff pass: whenever it waits on the fake clock, the clock moves on
// by harnessWait. It polls (the dispatcher's progress is a goroutine's),
// but never assumes how long anything takes: the deadline only stops a
// test that hangs.
func (h *harness) settle(cond func() bool, what string) {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		if cond() {
			return true
		}
		if h.clk.Waiters() > 0 {
			h.clk.Advance(harnessWait)
		}
		return false
	}, time.Minute, time.Millisecond, what)
}

// drained waits until the outbox is empty.
func (h *harness) drained() {
	h.t.Helper()
	h.settle(func() bool {
		p, err := h.st.Pending()
		return err == nil && len(p) == 0
	}, "the outbox drains")
}

func (h *harness) pending() int {
	h.t.Helper()
	p, err := h.st.Pending()
	require.NoError(h.t, err)
	return len(p)
}

// ev is one step of a state-machine scenario: n evaluations with burn
// rates b, or a wait.
type ev struct {
	n    int
	b    map[time.Duration]alert.Burn
	wait time.Duration
}

func bad(n int) ev                                  { return ev{n: n, b: breach} }
func good(n int) ev                                 { return ev{n: n, b: clean} }
func with(n int, b map[time.Duration]alert.Burn) ev { return ev{n: n, b: b} }
func wait(d time.Duration) ev                       { return ev{wait: d} }
func without(n int, missing ...time.Duration) ev    { return ev{n: n, b: drop(breach, missing...)} }

// drop is b without the given windows (no data there).
func drop(b map[time.Duration]alert.Burn, missing ...time.Duration) map[time.Duration]alert.Burn {
	out := map[time.Duration]alert.Burn{}
	for k, v := range b {
		out[k] = v
	}
	for _, w := range missing {
		delete(out, w)
	}
	return out
}

func TestStateMachine(t *testing.T) {
	flapping := func() []ev {
		var out []ev
		for i := 0; i < 60; i++ {
			if i%5 == 0 {
				out = append(out, with(1, burn(4, 50, 2, 20))) // a burst only the short windows see
			} else {
				out = append(out, with(1, burn(4, 0, 2, 1)))
			}
		}
		return out
	}
	noReminders := policy
	noReminders.RepeatInterval = 0
	resolveSooner := policy
	resolveSooner.ResolveAfter, resolveSooner.ResolveFor = 1, time.Second
	resolveLater := policy
	resolveLater.ResolveFor = 10 * time.Second
	// short is the breach with the short windows covered over a quarter of their
	// length: a check that has just started.
	short := breach
	short = drop(short)
	for _, w := range []time.Duration{page.Short, ticket.Short} {
		short[w] = alert.Burn{Rate: short[w].Rate, Span: w / 4}
	}
	// earlyPage covers the page rule's short window but not the ticket's.
	earlyPage := drop(breach)
	earlyPage[ticket.Short] = alert.Burn{Rate: 30, Span: 3 * time.Second}

	tests := []struct {
		name   string
		policy alert.Policy
		steps  []ev
		want   []alert.Kind
		// of the first notification
		severity, window string
	}{
		{name: "quiet evaluations page nobody", steps: []ev{good(20)}},
		{name: "a sustained breach pages once", steps: []ev{good(3), bad(40)},
			want: []alert.Kind{alert.Firing}, severity: "page", window: "10s/2s"},
		{name: "a reminder after repeat_interval", steps: []ev{bad(1), wait(time.Minute), bad(3)},
			want: []alert.Kind{alert.Firing, alert.Reminder}},
		{name: "no reminder before repeat_interval", steps: []ev{bad(1), wait(50 * time.Second), bad(5)},
			want: []alert.Kind{alert.Firing}},
		{name: "a reminder every repeat_interval",
			steps: []ev{bad(1), wait(time.Minute), bad(1), wait(30 * time.Second), bad(1), wait(30 * time.Second), bad(1)},
			want:  []alert.Kind{alert.Firing, alert.Reminder, alert.Reminder}},
		{name: "repeat_interval 0 never reminds", policy: noReminders, steps: []ev{bad(1), wait(time.Hour), bad(3)},
			want: []alert.Kind{alert.Firing}},
		{name: "resolved after resolve_after quiet evaluations over resolve_for", steps: []ev{bad(3), good(3)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "fewer quiet evaluations do not resolve", steps: []ev{bad(3), good(2)},
			want: []alert.Kind{alert.Firing}},
		{name: "resolve_after 1 with resolve_for 1s", policy: resolveSooner, steps: []ev{bad(1), good(2)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "resolve_after 1 still waits for resolve_for", policy: resolveSooner, steps: []ev{bad(1), good(1)},
			want: []alert.Kind{alert.Firing}},
		{name: "resolve_for holds the resolve past resolve_after", policy: resolveLater, steps: []ev{bad(1), good(10)},
			want: []alert.Kind{alert.Firing}},
		{name: "quiet for resolve_for resolves", policy: resolveLater, steps: []ev{bad(1), good(11)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "a short window dipping under its factor keeps it firing", steps: []ev{bad(1), with(30, burningRates)},
			want: []alert.Kind{alert.Firing}},
		{name: "a burning evaluation restarts the quiet streak", steps: []ev{bad(1), good(2), with(1, burningRates), good(2)},
			want: []alert.Kind{alert.Firing}},
		{name: "reminders go on while burning", steps: []ev{bad(1), wait(time.Minute), with(1, burningRates)},
			want: []alert.Kind{alert.Firing, alert.Reminder}},
		{name: "short windows back within the objective resolve while the long ones burn",
			steps: []ev{bad(1), with(3, burn(20, 0.9, 20, 1))},
			want:  []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "both windows under the factor resolve though not within the objective",
			steps: []ev{bad(1), with(3, burn(9, 9, 3, 3))},
			want:  []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "short windows not covered yet do not fire", steps: []ev{with(10, short)}},
		{name: "a rule whose short window is covered fires before the others are",
			steps: []ev{with(1, earlyPage)}, want: []alert.Kind{alert.Firing}, severity: "page", window: "10s/2s"},
		{name: "a rule not covered yet holds the resolve", steps: []ev{bad(1), with(10, func() map[time.Duration]alert.Burn {
			b := drop(clean)
			b[ticket.Short] = alert.Burn{Span: 3 * time.Second}
			return b
		}())}, want: []alert.Kind{alert.Firing}},
		{name: "a bad evaluation restarts the quiet streak", steps: []ev{bad(1), good(2), bad(1), good(2)},
			want: []alert.Kind{alert.Firing}},
		{name: "quiet evaluations after the restarted streak resolve", steps: []ev{bad(1), good(2), bad(1), good(3)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "no data at all does not fire", steps: []ev{with(10, map[time.Duration]alert.Burn{})}},
		{name: "no long window does not fire", steps: []ev{without(10, page.Long, ticket.Long)}},
		{name: "no data does not resolve", steps: []ev{bad(1), with(20, map[time.Duration]alert.Burn{})},
			want: []alert.Kind{alert.Firing}},
		{name: "quiet but one window without data does not resolve", steps: []ev{bad(1), with(20, drop(clean, ticket.Short))},
			want: []alert.Kind{alert.Firing}},
		{name: "no data neither counts nor breaks the quiet streak",
			steps: []ev{bad(1), good(2), with(5, map[time.Duration]alert.Burn{}), good(1)},
			want:  []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "short bursts alone page nobody", steps: flapping()},
		{name: "the long window alone pages nobody", steps: []ev{with(30, burn(30, 2, 30, 2))}},
		{name: "a burn rate equal to the factor is not above it", steps: []ev{with(10, burn(10, 10, 3, 3))}},
		{name: "the second rule fires with its severity and window", steps: []ev{with(5, burn(5, 5, 5, 5))},
			want: []alert.Kind{alert.Firing}, severity: "ticket", window: "1m/5s"},
		{name: "the first rule exceeded decides the severity", steps: []ev{with(1, burn(11, 11, 50, 50))},
			want: []alert.Kind{alert.Firing}, severity: "page", window: "10s/2s"},
		{name: "a breach after the resolve is a new alert", steps: []ev{bad(1), good(3), bad(1), good(3)},
			want: []alert.Kind{alert.Firing, alert.Resolved, alert.Firing, alert.Resolved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			if tt.policy.Windows != nil {
				p = tt.policy
			}
			rec := &recorder{name: "rec"}
			h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec}, withPolicy(p))
			for _, s := range tt.steps {
				h.clk.Advance(s.wait)
				for i := 0; i < s.n; i++ {
					h.eval(observe(s.b))
				}
			}
			h.drained()
			got := rec.notes()
			assert.Equal(t, tt.want, rec.kinds(), "notifications of %q", tt.name)
			if len(got) == 0 {
				return
			}
			if tt.severity != "" {
				assert.Equal(t, tt.severity, got[0].Severity, "severity")
				assert.Equal(t, tt.window, got[0].Window, "window")
			}
			// Notifications of one alert share its ID, and each is unique.
			ids := map[string]bool{}
			alertID := got[0].AlertID
			for _, n := range got {
				assert.False(t, ids[n.ID], "notification id %s twice", n.ID)
				ids[n.ID] = true
				if n.Kind == alert.Firing {
					alertID = n.AlertID
				}
				assert.Equal(t, alertID, n.AlertID, "%s of one alert carries its alert id", n.Kind)
			}
		})
	}
}

func TestNewAlertAfterResolveHasNewID(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	h.eval(observe(breach))
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.eval(observe(breach))
	h.drained()
	got := rec.notes()
	require.Len(t, got, 3)
	assert.Equal(t, got[0].AlertID, got[1].AlertID, "firing and resolve of one alert")
	assert.NotEqual(t, got[0].AlertID, got[2].AlertID, "a new alert")
	assert.Nil(t, got[2].Thread, "a new alert's Firing starts a new thread")
}

func TestFiringStateAndMetrics(t *testing.T) {
	rec := &recorder{name: "rec"}
	clk := newClock()
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{rec})
	start := clk.Now()
	h.eval(observe(clean))
	assert.Empty(t, h.m.Firing())
	assert.Equal(t, 0.0, gauge(t, h.reg, "canary_alerts_firing", "checkout", "availability"))

	h.eval(observe(breach))
	h.eval(observe(burn(25, 30, 20, 30)))
	h.drained()
	firing := h.m.Firing()
	require.Len(t, firing, 1)
	f := firing[0]
	assert.Equal(t, "checkout", f.Check)
	assert.Equal(t, "availability", f.SLO)
	assert.Equal(t, "page", f.Severity)
	assert.Equal(t, "10s/2s", f.Window)
	assert.Equal(t, start.Add(time.Second), f.Since, "since the first bad evaluation")
	assert.Equal(t, 25.0, f.BurnRate, "the burn rate of the latest evaluation, over the rule's long window")
	assert.False(t, f.Silenced)
	assert.Equal(t, 1.0, gauge(t, h.reg, "canary_alerts_firing", "checkout", "availability"))
	assert.Equal(t, 1.0, counter(t, h.reg, "canary_notifications_total", "rec", "sent"))

	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.drained()
	assert.Empty(t, h.m.Firing())
	assert.Equal(t, 0.0, gauge(t, h.reg, "canary_alerts_firing", "checkout", "availability"))
	assert.Equal(t, 2.0, counter(t, h.reg, "canary_notifications_total", "rec", "sent"))

	problems, err := testutil.GatherAndLint(h.reg)
	require.NoError(t, err)
	assert.Empty(t, problems, "metric lint")
}

func TestFiringReturnsCopies(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	h.eval(observe(breach))
	h.drained()
	h.settle(func() bool { f := h.m.Firing(); return len(f) == 1 && f[0].Threads["rec"] != nil },
		"the firing's thread is stored")
	f := h.m.Firing()
	f[0].Threads["rec"] = nil
	f[0].Severity = "changed"
	assert.NotNil(t, h.m.Firing()[0].Threads["rec"], "a caller's change does not reach the manager")
	assert.Equal(t, "page", h.m.Firing()[0].Severity)
}

func TestRestartBetweenFiringAndRecovery(t *testing.T) {
	tests := []struct {
		name             string
		before, after    []ev
		want             []alert.Kind
		pendingAtRestart bool // the dispatcher is stopped before the firing goes out
	}{
		{name: "firing delivered, still failing, then recovers",
			before: []ev{bad(5)}, after: []ev{bad(5), good(3)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "no data after the restart neither resolves nor fires again",
			before: []ev{bad(5)}, after: []ev{with(10, map[time.Duration]alert.Burn{}), bad(2), good(3)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "the quiet streak continues across the restart",
			before: []ev{bad(2), good(2)}, after: []ev{good(1)},
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "the reminder is due by the time kept across the restart",
			before: []ev{bad(2)}, after: []ev{wait(time.Minute), bad(1), good(3)},
			want: []alert.Kind{alert.Firing, alert.Reminder, alert.Resolved}},
		{name: "a firing queued but not delivered goes out after the restart",
			before: []ev{bad(2)}, after: []ev{bad(2), good(3)}, pendingAtRestart: true,
			want: []alert.Kind{alert.Firing, alert.Resolved}},
		{name: "a resolve queued but not delivered goes out after the restart",
			before: []ev{bad(2), good(3)}, after: []ev{good(3)}, pendingAtRestart: true,
			want: []alert.Kind{alert.Firing, alert.Resolved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, clk := t.TempDir(), newClock()
			rec := &recorder{name: "rec"}
			var opts []harnessOpt
			if tt.pendingAtRestart {
				opts = append(opts, noRun())
			}
			h := newHarness(t, dir, clk, []alert.Notifier{rec}, opts...)
			play(h, tt.before)
			if !tt.pendingAtRestart {
				h.drained()
			} else {
				assert.NotZero(t, h.pending(), "queued before the restart")
			}
			h.close()

			h = newHarness(t, dir, clk, []alert.Notifier{rec})
			play(h, tt.after)
			h.drained()
			assert.Equal(t, tt.want, rec.kinds(), "notifications across the restart")
			assert.Empty(t, h.m.Firing())
		})
	}
}

func play(h *harness, steps []ev) {
	for _, s := range steps {
		h.clk.Advance(s.wait)
		for i := 0; i < s.n; i++ {
			h.eval(observe(s.b))
		}
	}
}

func TestStateAndNotificationsStoredTogether(t *testing.T) {
	rec := &recorder{name: "rec"}
	other := &recorder{name: "other"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec, other}, noRun())
	h.eval(observe(breach))

	var st alert.AlertState
	ok, err := h.st.Get(store.Alerts, "checkout/availability", &st)
	require.NoError(t, err)
	require.True(t, ok, "the state is stored")
	assert.True(t, st.Firing)
	assert.True(t, st.FiringSent)
	pending, err := h.st.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 2, "one outbox entry per notifier, stored with the state")
	for _, p := range pending {
		var e struct {
			Notifier     string             `json:"notifier"`
			Notification alert.Notification `json:"notification"`
		}
		require.NoError(t, json.Unmarshal(p.Raw, &e))
		assert.Equal(t, alert.Firing, e.Notification.Kind)
		assert.Equal(t, st.AlertID, e.Notification.AlertID)
	}

	// A store that fails the transaction changes nothing in memory either.
	h2 := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec}, noRun())
	require.NoError(t, h2.st.Close())
	err = h2.m.Evaluate(context.Background(), observe(breach))
	require.Error(t, err, "evaluation on a closed store")
	assert.Contains(t, err.Error(), "not stored")
	assert.Empty(t, h2.m.Firing(), "the failed round left no firing alert behind")
	assert.Equal(t, 0.0, gauge(t, h2.reg, "canary_alerts_firing", "checkout", "availability"))
}

func TestQuietEvaluationsWriteNothing(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	for i := 0; i < 5; i++ {
		h.eval(observe(clean))
	}
	n, err := h.st.Len(store.Alerts)
	require.NoError(t, err)
	assert.Zero(t, n, "an alert that never fired has no record")

	h.eval(observe(breach))
	h.drained()
	before := stored(t, h)
	h.eval(observe(burn(40, 30, 20, 30))) // still firing, only the burn rate changed
	assert.Equal(t, before, stored(t, h), "a burn-rate change alone is not written")
}

func stored(t *testing.T, h *harness) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, h.st.Each(store.Alerts, func(k string, raw []byte) error {
		b.WriteString(k + "=" + string(raw) + "\n")
		return nil
	}))
	return b.String()
}

func TestBadObservations(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	obs := append(observe(breach), observe(breach)...)
	obs = append(obs, alert.Observation{SLO: "x", Burn: breach})
	err := h.m.Evaluate(context.Background(), obs)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "checkout/availability observed twice")
	assert.Contains(t, err.Error(), "without check or slo")
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "the valid observation was evaluated, once")
}

func TestRemovedAlertResolves(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	other := observe(clean)[0]
	other.Check = "search"
	h.eval(append(observe(breach), other))
	h.eval([]alert.Observation{other}) // a reload removed checkout
	h.drained()
	got := rec.notes()
	require.Len(t, got, 2)
	assert.Equal(t, alert.Resolved, got[1].Kind)
	assert.Equal(t, "removed from the configuration", got[1].Observed)
	assert.Equal(t, "C1", got[1].Thread.Channel, "the resolve of a removed alert still answers its thread")
	assert.Empty(t, h.m.Firing())
	n, err := h.st.Len(store.Alerts)
	require.NoError(t, err)
	assert.Zero(t, n, "the removed alert's record is deleted")

	mfs, err := h.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "canary_alerts_firing" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					assert.NotEqual(t, "checkout", l.GetValue(), "the removed alert's series is deleted")
				}
			}
		}
	}
}

func TestOutboxOverflowIsCounted(t *testing.T) {
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{a, b}, withMaxOutbox(2), noRun())
	var all []alert.Observation
	for i := 0; i < 3; i++ {
		o := observe(breach)[0]
		o.Check = fmt.Sprint("c", i)
		all = append(all, o)
	}
	h.eval(all) // 3 alerts × 2 notifiers = 6 entries into 2 slots
	assert.Equal(t, 4.0, counter(t, h.reg, "canary_notification_queue_dropped_total"))
	assert.Equal(t, 2, h.pending(), "the outbox keeps its bound")
}

// TestNotificationGolden pins what a notification carries, bounded and
// redacted, from a hostile observation.
func TestNotificationGolden(t *testing.T) {
	rec := &recorder{name: "rec"}
	clk := newClock()
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{rec})
	labels := map[string]string{"team": "payments", "long": strings.Repeat("é", 300)}
	for i := 0; i < 80; i++ {
		labels[fmt.Sprintf("x%02d", i)] = "v"
	}
	o := alert.Observation{
		Check: "checkout", SLO: "availability", Labels: labels, Channel: "#payments",
		Objective:  availability,
		RunbookURL: "https://wiki.example.com/runbooks/checkout",
		StatusURL:  "https://user:hunter22@canary.example.com/checks/checkout",
		Burn:       burn(14.5, 30, 20, 30),
		TopErrors:  []alert.Count{{Name: "http_status", Count: 40}, {Name: "timeout", Count: 9}, {Name: "a", Count: 3}, {Name: "b", Count: 2}, {Name: "c", Count: 1}, {Name: "d", Count: 1}},
		TopStatus:  []alert.Count{{Name: "503", Count: 40}},
	}
	h.eval([]alert.Observation{o})
	h.drained()
	got := rec.notes()
	require.Len(t, got, 1)
	n := got[0]
	assert.Len(t, n.Labels, 64, "labels are bounded")
	assert.Len(t, n.TopErrors, 5, "top errors are bounded")
	assert.NotContains(t, n.StatusURL, "hunter22", "URL user-info is redacted")
	require.NotEmpty(t, n.AlertID)
	assert.Equal(t, n.AlertID+"-0-firing", n.ID)
	n.ID, n.AlertID = "ID", "ALERT" // random
	goldenJSON(t, "firing_notification.golden.json", n)
}

func goldenJSON(t *testing.T, name string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	golden.Assert(t, filepath.Join("testdata", name), append(got, '\n'))
}

// refresher is a Notifier that is also a Refresher.
type refresher struct {
	recorder
	block     bool // Refresh waits for its context to end
	refreshed []string
}

func (r *refresher) Refresh(ctx context.Context, n *alert.Notification) error {
	if r.block {
		<-ctx.Done()
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshed = append(r.refreshed, n.Check+":"+string(n.Kind))
	return nil
}

func (r *refresher) refreshes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.refreshed...)
}

func TestRefreshEveryFiringAlertEachEvaluation(t *testing.T) {
	r := &refresher{recorder: recorder{name: "am"}}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{r})
	calm := observe(clean)[0]
	calm.Check = "search"
	h.eval([]alert.Observation{calm, observe(clean)[0]})
	assert.Empty(t, r.refreshes(), "nothing fires, nothing is refreshed")
	for i := 0; i < 3; i++ {
		h.eval([]alert.Observation{calm, observe(breach)[0]})
	}
	assert.Equal(t, []string{"checkout:firing", "checkout:firing", "checkout:firing"}, r.refreshes(),
		"the firing alert, at each evaluation")
	for i := 0; i < 5; i++ {
		h.eval([]alert.Observation{calm, observe(clean)[0]})
	}
	assert.Len(t, r.refreshes(), 5, "refreshed while resolving, not after the resolve")
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Resolved}, r.kinds(), "Notify still sees each once")
}

func TestRefreshIsBounded(t *testing.T) {
	var logs logtest.Buffer
	r := &refresher{recorder: recorder{name: "am"}, block: true}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{r},
		withLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	var obs []alert.Observation
	for i := 0; i < 20; i++ {
		o := observe(breach)[0]
		o.Check = fmt.Sprint("c", i)
		obs = append(obs, o)
	}
	// evaluate_every is 1 s: each pass over 20 hanging refreshes gets half
	// of it on the manager's clock, then the evaluation returns. The clock
	// moves in steps of 10 ms whenever something waits on it: the refresh
	// budget's timer, and the dispatcher pacing the 20 firings (a single
	// wait for "a timer" could be the dispatcher's, and the budget's timer,
	// armed later, would then never be reached).
	for i := 0; i < 2; i++ {
		start := h.clk.Now()
		done := make(chan error, 1)
		ctx, returned := context.WithCancel(context.Background())
		go func() {
			done <- h.m.Evaluate(context.Background(), obs)
			returned()
		}()
		for ctx.Err() == nil && h.clk.BlockUntil(ctx, 1) == nil {
			if ctx.Err() == nil {
				h.clk.Advance(10 * time.Millisecond)
			}
		}
		require.NoError(t, <-done, "a hanging receiver does not hold up evaluations")
		took := h.clk.Now().Sub(start)
		assert.GreaterOrEqual(t, took, 500*time.Millisecond, "the evaluation spent its refresh budget")
		assert.Less(t, took, time.Second, "and no more than its share of evaluate_every")
	}
	assert.Contains(t, logs.String(), "alert refresh failed")
	assert.Contains(t, logs.String(), "alerts=20")
}

// TestAlertmanagerEndToEnd delivers through alert/alertmanager to an
// httptest Alertmanager: the firing and its refreshes keep the alert
// active, the resolve ends it.
func TestAlertmanagerEndToEnd(t *testing.T) {
	var mu sync.Mutex
	var posts []alertmanager.PostableAlert
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var as []alertmanager.PostableAlert
		if r.URL.Path != "/api/v2/alerts" || json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&as) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		mu.Lock()
		posts = append(posts, as...)
		mu.Unlock()
	}))
	defer srv.Close()
	clk := newClock()
	am, err := alertmanager.New(alertmanager.Options{URL: srv.URL, Now: clk.Now, ResolveTimeout: time.Minute})
	require.NoError(t, err)
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{am})
	for i := 0; i < 3; i++ {
		h.eval(observe(breach))
	}
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.drained()
	mu.Lock()
	defer mu.Unlock()
	// 1 Notify(firing) + 5 refreshes (3 bad, 2 good before the resolve) + 1 Notify(resolved).
	require.Len(t, posts, 7)
	for i, p := range posts {
		assert.Equal(t, "checkout", p.Labels["check"], "post %d", i)
		assert.Equal(t, "page", p.Labels["severity"], "post %d: one alert, one fingerprint", i)
	}
	ends := func(p alertmanager.PostableAlert) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, p.EndsAt)
		require.NoError(t, err)
		return ts
	}
	resolve := posts[len(posts)-1]
	var resolvedAt time.Time
	for _, p := range posts[:len(posts)-1] {
		assert.True(t, ends(p).After(clk.Now().Add(-time.Minute)), "a firing post keeps the alert active")
		resolvedAt = ends(p)
	}
	assert.True(t, ends(resolve).Before(resolvedAt), "the resolve ends the alert at once")
}

// gauge and counter read one series: the label values in order, none for
// an unlabelled metric; a series that does not exist reads as 0.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	return read(t, reg, name, labels)
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	return read(t, reg, name, labels)
}

func read(t *testing.T, reg *prometheus.Registry, name string, values []string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != len(values) {
				continue
			}
			for i, l := range m.GetLabel() {
				if l.GetValue() != values[i] {
					continue series
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}
