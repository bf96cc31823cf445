package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
	"github.com/canaryproj/canary/alert/slack"
	"github.com/canaryproj/canary/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A seconds-scale policy: page when both 10s and 2s burn above 10.
var policy = alert.Policy{
	Windows:        []alert.BurnWindow{{Long: 10 * time.Second, Short: 2 * time.Second, Factor: 10, Severity: "page"}},
	RepeatInterval: time.Minute,
	ResolveAfter:   3,
	EvaluateEvery:  time.Second,
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// recorder is a Notifier that records what it was asked to deliver.
type recorder struct {
	name string
	mu   sync.Mutex
	got  []alert.Notification
	fail []error // returned in order before succeeding
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
	return &alert.Thread{Channel: "C1", TS: fmt.Sprint(len(r.got))}, nil
}
func (r *recorder) kinds() []alert.Kind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alert.Kind
	for _, n := range r.got {
		out = append(out, n.Kind)
	}
	return out
}

func obs(burnLong, burnShort float64) []alert.Observation {
	return []alert.Observation{{
		Check: "checkout", SLO: "availability", Labels: map[string]string{"team": "payments"},
		Objective: "success>=99.5%", Observed: "90%",
		Burn: map[time.Duration]float64{10 * time.Second: burnLong, 2 * time.Second: burnShort},
	}}
}

type harness struct {
	t     *testing.T
	dir   string
	st    *store.Store
	m     *alert.Manager
	clk   *clock
	reg   *prometheus.Registry
	stop  context.CancelFunc
	done  chan struct{}
	notes []alert.Notifier
}

func newHarness(t *testing.T, dir string, clk *clock, notifiers ...alert.Notifier) *harness {
	t.Helper()
	st, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	m, err := alert.NewManager(alert.ManagerOptions{
		Policy: policy, Store: st, Notifiers: notifiers, Now: clk.Now, Registerer: reg,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }, RateLimit: time.Millisecond,
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, dir: dir, st: st, m: m, clk: clk, reg: reg, stop: cancel, done: make(chan struct{}), notes: notifiers}
	go func() { defer close(h.done); _ = m.Run(ctx) }()
	return h
}

func (h *harness) close() {
	h.stop()
	<-h.done
	h.st.Close()
}

func (h *harness) eval(o []alert.Observation) {
	h.t.Helper()
	require.NoError(h.t, h.m.Evaluate(context.Background(), o))
	h.clk.Add(time.Second)
}

// drained waits until the outbox is empty.
func (h *harness) drained() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		p, err := h.st.Pending()
		return err == nil && len(p) == 0
	}, 10*time.Second, 5*time.Millisecond)
}

func TestFireOnceRemindResolve(t *testing.T) {
	clk := &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), clk, rec)
	defer h.close()

	for i := 0; i < 3; i++ {
		h.eval(obs(0, 0)) // clean: nothing
	}
	for i := 0; i < 30; i++ {
		h.eval(obs(20, 30)) // sustained breach for 30 s
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "a sustained breach pages once")
	assert.Equal(t, 1.0, value(t, h.reg, "canary_alerts_firing", "checkout"))
	require.Len(t, h.m.Firing(), 1)
	assert.Equal(t, "page", h.m.Firing()[0].Severity)

	clk.Add(time.Minute) // past repeat_interval, still breaching
	h.eval(obs(20, 30))
	h.eval(obs(20, 30))
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Reminder}, rec.kinds(), "one reminder after repeat_interval")

	h.eval(obs(20, 0)) // the short window recovered: a good evaluation
	h.eval(obs(20, 0))
	h.eval(obs(0, 0))
	h.drained()
	kinds := rec.kinds()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Reminder, alert.Resolved}, kinds, "resolved after resolve_after good evaluations")
	assert.Empty(t, h.m.Firing())
	got := rec.got[2]
	assert.Equal(t, rec.got[0].AlertID, got.AlertID, "one alert id from firing to resolve")
	assert.Equal(t, "checkout", got.Check)
	assert.Equal(t, "10s/2s", got.Window)
}

func TestNoDataNeitherFiresNorResolves(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), clk, rec)
	defer h.close()
	short := func() []alert.Observation {
		o := obs(20, 30)
		delete(o[0].Burn, 10*time.Second) // the long window has no data yet
		return o
	}
	for i := 0; i < 5; i++ {
		h.eval(short())
	}
	h.eval(obs(20, 30)) // fires
	for i := 0; i < 10; i++ {
		o := obs(0, 0)
		o[0].Burn = map[time.Duration]float64{} // no data at all (a restart)
		h.eval(o)
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "evaluations without data do not resolve")
	assert.Len(t, h.m.Firing(), 1)
}

func TestFlappingUnderThresholdsPagesNobody(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), clk, rec)
	defer h.close()
	for i := 0; i < 60; i++ {
		if i%5 == 0 {
			h.eval(obs(4, 50)) // a burst: the short window spikes, the long one stays low
		} else {
			h.eval(obs(4, 0))
		}
	}
	h.drained()
	assert.Empty(t, rec.kinds())
}

func TestRestartBetweenFiringAndRecovery(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: time.Unix(1e9, 0)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, dir, clk, rec)
	for i := 0; i < 5; i++ {
		h.eval(obs(20, 30))
	}
	h.drained()
	h.close() // the daemon stops (or is killed) while the alert fires

	h = newHarness(t, dir, clk, rec)
	defer h.close()
	for i := 0; i < 5; i++ {
		h.eval(obs(20, 30)) // still failing after the restart: no second page
	}
	for i := 0; i < 3; i++ {
		h.eval(obs(0, 0))
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Resolved}, rec.kinds(), "exactly one firing and one resolved across the restart")
}

func TestUndeliveredSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	clk := &clock{now: time.Unix(1e9, 0)}
	down := &recorder{name: "rec", fail: []error{&alert.RetryableError{Err: fmt.Errorf("503"), After: time.Hour}}}
	h := newHarness(t, dir, clk, down)
	h.eval(obs(20, 30)) // fires; delivery fails and waits an hour
	time.Sleep(50 * time.Millisecond)
	h.close()
	pending, err := func() ([]store.OutboxEntry, error) {
		st, err := store.Open(dir, store.Options{})
		if err != nil {
			return nil, err
		}
		defer st.Close()
		return st.Pending()
	}()
	require.NoError(t, err)
	require.Len(t, pending, 1, "the undelivered firing is kept")

	up := &recorder{name: "rec"}
	h = newHarness(t, dir, clk, up)
	defer h.close()
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, up.kinds(), "delivered once after the restart")
}

// fakeSlack is Slack's Web API (chat.postMessage, chat.update) on loopback.
type fakeSlack struct {
	mu    sync.Mutex
	calls []slackCall
	fail  []int // statuses to answer before succeeding
	retry string
	ts    int
}

type slackCall struct {
	Method, Channel, ThreadTS, TS, Text string
	At                                  time.Time
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.fail) > 0 {
		code := f.fail[0]
		f.fail = f.fail[1:]
		if f.retry != "" {
			w.Header().Set("Retry-After", f.retry)
		}
		w.WriteHeader(code)
		return
	}
	method := strings.TrimPrefix(r.URL.Path, "/")
	f.calls = append(f.calls, slackCall{Method: method, Channel: r.PostForm.Get("channel"), ThreadTS: r.PostForm.Get("thread_ts"), TS: r.PostForm.Get("ts"), Text: r.PostForm.Get("text"), At: time.Now()})
	f.ts++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"channel":"C123","ts":"1700000000.%06d"}`, f.ts)
}

func (f *fakeSlack) snapshot() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall(nil), f.calls...)
}

func TestSlackBotThreadsAndUpdates(t *testing.T) {
	fs := &fakeSlack{}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	n, err := slack.New(slack.Options{Token: "xoxb-test-token", Channel: "#alerts", APIURL: srv.URL + "/"})
	require.NoError(t, err)
	clk := &clock{now: time.Unix(1e9, 0)}
	h := newHarness(t, t.TempDir(), clk, n)
	defer h.close()
	for i := 0; i < 3; i++ {
		h.eval(obs(20, 30))
	}
	h.drained()
	clk.Add(time.Minute)
	h.eval(obs(20, 30)) // reminder
	for i := 0; i < 3; i++ {
		h.eval(obs(0, 0))
	}
	h.drained()
	calls := fs.snapshot()
	require.Len(t, calls, 4, "firing, reminder, resolved, and the update of the first message")
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Empty(t, calls[0].ThreadTS)
	first := "1700000000.000001"
	assert.Equal(t, "chat.postMessage", calls[1].Method)
	assert.Equal(t, first, calls[1].ThreadTS, "the reminder goes to the thread")
	assert.Equal(t, "chat.postMessage", calls[2].Method)
	assert.Equal(t, first, calls[2].ThreadTS, "the resolve goes to the thread")
	assert.Equal(t, "chat.update", calls[3].Method)
	assert.Equal(t, first, calls[3].TS, "the first message is updated")
	assert.Contains(t, calls[3].Text, "RESOLVED")
}

func TestSlackRetryAfterThenDelivered(t *testing.T) {
	fs := &fakeSlack{fail: []int{429}, retry: "1"}
	srv := httptest.NewServer(fs)
	defer srv.Close()
	n, err := slack.New(slack.Options{Token: "xoxb-test-token", Channel: "#alerts", APIURL: srv.URL + "/"})
	require.NoError(t, err)
	clk := &clock{now: time.Unix(1e9, 0)}
	h := newHarness(t, t.TempDir(), clk, n)
	defer h.close()
	t0 := time.Now()
	h.eval(obs(20, 30))
	h.drained()
	calls := fs.snapshot()
	require.Len(t, calls, 1, "delivered exactly once")
	assert.GreaterOrEqual(t, calls[0].At.Sub(t0), 950*time.Millisecond, "not before Retry-After")
	assert.Equal(t, 1.0, value(t, h.reg, "canary_notifications_total", "retried"))
}

func TestWebhook500ThriceThenDelivered(t *testing.T) {
	var mu sync.Mutex
	fails, got := 3, 0
	var logs bytes.Buffer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			w.WriteHeader(500)
			return
		}
		got++
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	hook := srv.URL + "/services/T000/B000/secretpart"
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := slack.New(slack.Options{WebhookURL: hook, Logger: logger})
	require.NoError(t, err)
	clk := &clock{now: time.Unix(1e9, 0)}
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	m, err := alert.NewManager(alert.ManagerOptions{Policy: policy, Store: st, Notifiers: []alert.Notifier{n}, Now: clk.Now, Logger: logger,
		Backoff: func(int) time.Duration { return 10 * time.Millisecond }, RateLimit: time.Millisecond})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	require.NoError(t, m.Evaluate(context.Background(), obs(20, 30)))
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return got == 1 }, 10*time.Second, 5*time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	cancel()
	<-done
	st.Close()
	mu.Lock()
	assert.Equal(t, 1, got, "delivered exactly once after three 500s")
	mu.Unlock()
	assert.NotContains(t, logs.String(), "secretpart", "the webhook's path never reaches the logs")
	assert.NotContains(t, logs.String(), "T000/B000")
	assert.Contains(t, logs.String(), "retrying")
}

func TestSilences(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), clk, rec)
	defer h.close()
	_, err := h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "~check.*"}, EndsAt: clk.Now().Add(5 * time.Second)})
	require.NoError(t, err)
	for i := 0; i < 4; i++ {
		h.eval(obs(20, 30)) // firing, but silenced
	}
	h.drained()
	assert.Empty(t, rec.kinds(), "silenced")
	require.Len(t, h.m.Firing(), 1)
	assert.True(t, h.m.Firing()[0].Silenced)
	for i := 0; i < 3; i++ {
		h.eval(obs(20, 30)) // the silence ends while it still fires
	}
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, rec.kinds(), "the firing goes out when the silence ends")
	assert.Empty(t, h.m.Silences(), "expired silences are pruned")

	_, err = h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "~("}, EndsAt: clk.Now().Add(time.Hour)})
	assert.ErrorContains(t, err, "bad regular expression")
	_, err = h.m.AddSilence(alert.Silence{Matchers: map[string]string{"check": "x"}, EndsAt: clk.Now().Add(-time.Hour)})
	assert.Error(t, err)
	s, err := h.m.AddSilence(alert.Silence{Matchers: map[string]string{"team": "payments"}, EndsAt: clk.Now().Add(time.Hour), Comment: "deploy"})
	require.NoError(t, err)
	require.NoError(t, h.m.DeleteSilence(s.ID))
	assert.ErrorIs(t, h.m.DeleteSilence(s.ID), alert.ErrNoSilence)
}

func TestRemovedAlertResolves(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), clk, rec)
	defer h.close()
	h.eval(obs(20, 30))
	h.eval(nil) // a reload removed the check
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing, alert.Resolved}, rec.kinds())
	assert.Empty(t, h.m.Firing())
}

func TestOutboxOverflowIsCounted(t *testing.T) {
	clk := &clock{now: time.Unix(1e9, 0)}
	dir := t.TempDir()
	st, err := store.Open(dir, store.Options{MaxOutbox: 2})
	require.NoError(t, err)
	defer st.Close()
	reg := prometheus.NewPedanticRegistry()
	m, err := alert.NewManager(alert.ManagerOptions{Policy: policy, Store: st, Notifiers: []alert.Notifier{&recorder{name: "a"}, &recorder{name: "b"}}, Now: clk.Now, Registerer: reg})
	require.NoError(t, err)
	var all []alert.Observation
	for i := 0; i < 3; i++ {
		o := obs(20, 30)[0]
		o.Check = fmt.Sprint("c", i)
		all = append(all, o)
	}
	require.NoError(t, m.Evaluate(context.Background(), all)) // 3 alerts × 2 notifiers = 6 entries into 2 slots
	assert.Equal(t, 4.0, value(t, reg, "canary_notification_queue_dropped_total", ""))
	problems, err := testutil.GatherAndLint(reg)
	require.NoError(t, err)
	assert.Empty(t, problems)
}

var _ = json.Marshal

// value reads the sum of a metric's series whose labels include want ("" = all).
func value(t *testing.T, reg *prometheus.Registry, name, want string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := want == ""
			for _, l := range m.GetLabel() {
				if l.GetValue() == want {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
