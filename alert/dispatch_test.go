package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/slack"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/internal/logtest"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/store"
)

// fakeSlack is Slack on loopback: the Web API's chat.postMessage and
// chat.update (bot mode) and incoming webhooks under /services/.
type fakeSlack struct {
	clk        clock.Clock // times the calls
	mu         sync.Mutex
	calls      []slackCall // every request, refused ones included
	fail       []int       // statuses answered, in order, before succeeding
	retryAfter string      // sent with a 429
	down       bool        // answer 503 while set
	ts         int
}

type slackCall struct {
	Method                      string // "chat.postMessage", "chat.update", "webhook"
	Channel, ThreadTS, TS, Text string
	Status                      int
	At                          time.Time
}

const slackToken = "xoxb-test-token-0123456789"

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := slackCall{Method: strings.TrimPrefix(r.URL.Path, "/"), At: f.clk.Now()}
	if strings.HasPrefix(r.URL.Path, "/services/") {
		c.Method = "webhook"
		var msg struct{ Channel, Text string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		c.Channel, c.Text = msg.Channel, msg.Text
	} else {
		// slack-go sends the token as a form field (or a header, for some
		// methods): either way, a request without it is refused.
		if r.ParseForm() != nil || (r.PostForm.Get("token") != slackToken && r.Header.Get("Authorization") != "Bearer "+slackToken) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		c.Channel, c.ThreadTS, c.TS, c.Text = r.PostForm.Get("channel"), r.PostForm.Get("thread_ts"), r.PostForm.Get("ts"), r.PostForm.Get("text")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c.Status = http.StatusOK
	switch {
	case f.down:
		c.Status = http.StatusServiceUnavailable
	case len(f.fail) > 0:
		c.Status, f.fail = f.fail[0], f.fail[1:]
	}
	f.calls = append(f.calls, c)
	if c.Status != http.StatusOK {
		if c.Status == http.StatusTooManyRequests && f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		w.WriteHeader(c.Status)
		if c.Status == http.StatusNotFound {
			io.WriteString(w, "no_service")
		}
		return
	}
	if c.Method == "webhook" {
		io.WriteString(w, "ok")
		return
	}
	f.ts++
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"ok":true,"channel":"C123","ts":"1700000000.%06d"}`, f.ts)
}

func (f *fakeSlack) setDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// all is every request so far; delivered only the ones answered 200.
func (f *fakeSlack) all() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall(nil), f.calls...)
}

func (f *fakeSlack) delivered() []slackCall {
	var out []slackCall
	for _, c := range f.all() {
		if c.Status == http.StatusOK {
			out = append(out, c)
		}
	}
	return out
}

// newSlack is an alert/slack notifier in mode "bot" or "webhook" talking
// to fs; it returns the notifier and its secret.
func newSlack(t *testing.T, fs *fakeSlack, mode string, logger *slog.Logger) (*slack.Notifier, string) {
	t.Helper()
	srv := httptest.NewServer(fs)
	t.Cleanup(srv.Close)
	o := slack.Options{Logger: logger}
	secret := slackToken
	switch mode {
	case "bot":
		o.Token, o.Channel, o.APIURL = slackToken, "#alerts", srv.URL+"/"
	case "webhook":
		secret = "/services/T000/B000/secretpart"
		o.WebhookURL = srv.URL + secret
	default:
		t.Fatalf("mode %q", mode)
	}
	n, err := slack.New(o)
	require.NoError(t, err)
	return n, secret
}

const firstTS = "1700000000.000001"

// assertThreaded checks bot-mode calls: the firing posted, every later
// notification a reply in its thread, and the resolve updating it.
func assertThreaded(t *testing.T, calls []slackCall, replies int) {
	t.Helper()
	require.Len(t, calls, 1+replies+1, "firing, %d replies and the update of the first message: %+v", replies, calls)
	assert.Equal(t, "chat.postMessage", calls[0].Method)
	assert.Equal(t, "#alerts", calls[0].Channel)
	assert.Empty(t, calls[0].ThreadTS, "the firing starts a thread")
	assert.Contains(t, calls[0].Text, "FIRING")
	for i, c := range calls[1 : 1+replies] {
		assert.Equal(t, "chat.postMessage", c.Method, "reply %d", i)
		assert.Equal(t, "C123", c.Channel, "reply %d goes to the thread's channel", i)
		assert.Equal(t, firstTS, c.ThreadTS, "reply %d is in the thread", i)
	}
	assert.Contains(t, calls[replies].Text, "RESOLVED", "the last reply is the resolve")
	up := calls[len(calls)-1]
	assert.Equal(t, "chat.update", up.Method)
	assert.Equal(t, "C123", up.Channel)
	assert.Equal(t, firstTS, up.TS, "the first message is updated")
	assert.Contains(t, up.Text, "RESOLVED")
}

func TestSlackBotThreadsAndUpdates(t *testing.T) {
	clk := newClock()
	fs := &fakeSlack{clk: clk}
	n, _ := newSlack(t, fs, "bot", nil)
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{n})
	for i := 0; i < 3; i++ {
		h.eval(observe(breach))
	}
	h.drained()
	h.clk.Advance(time.Minute)
	h.eval(observe(breach)) // the reminder
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.drained()
	calls := fs.delivered()
	assertThreaded(t, calls, 2)
	assert.Contains(t, calls[1].Text, "STILL FIRING")
}

func TestSlackThreadAcrossRestart(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	fs := &fakeSlack{clk: clk}
	n, _ := newSlack(t, fs, "bot", nil)
	h := newHarness(t, dir, clk, []alert.Notifier{n})
	for i := 0; i < 3; i++ {
		h.eval(observe(breach))
	}
	h.drained()
	h.settle(func() bool {
		f := h.m.Firing()
		return len(f) == 1 && f[0].Threads["slack"] != nil
	}, "the firing's thread is in the alert state")
	h.close()

	h = newHarness(t, dir, clk, []alert.Notifier{n})
	h.eval(observe(breach))
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.drained()
	assertThreaded(t, fs.delivered(), 1)
}

// TestSlackThreadFilledAtSendTime queues the reminder and the resolve while
// Slack is down, before the firing could be delivered: they still answer
// the firing's thread, because the dispatcher looks the thread up when it
// sends them.
func TestSlackThreadFilledAtSendTime(t *testing.T) {
	clk := newClock()
	fs := &fakeSlack{clk: clk, down: true}
	n, _ := newSlack(t, fs, "bot", nil)
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{n})
	h.eval(observe(breach))
	h.clk.Advance(time.Minute)
	h.eval(observe(breach))
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.settle(func() bool { return len(fs.all()) >= 3 }, "retrying")
	assert.Equal(t, 3, h.pending(), "firing, reminder and resolve queued")
	fs.setDown(false)
	h.drained()
	assertThreaded(t, fs.delivered(), 2)
}

func TestSlackRetries(t *testing.T) {
	tests := []struct {
		mode       string
		fail       []int
		retryAfter string
		wait       time.Duration // from the first attempt to the delivery, on the fake clock
	}{
		{mode: "bot", fail: []int{429}, retryAfter: "1", wait: time.Second},
		{mode: "webhook", fail: []int{429}, retryAfter: "2", wait: 2 * time.Second},
		{mode: "bot", fail: []int{500, 500, 500}, wait: 3 * harnessWait},
		{mode: "webhook", fail: []int{500, 502, 503}, wait: 3 * harnessWait},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %v", tt.mode, tt.fail), func(t *testing.T) {
			clk := newClock()
			fs := &fakeSlack{clk: clk, fail: tt.fail, retryAfter: tt.retryAfter}
			n, _ := newSlack(t, fs, tt.mode, nil)
			h := newHarness(t, t.TempDir(), clk, []alert.Notifier{n})
			require.NoError(t, h.m.Evaluate(context.Background(), observe(breach)))
			// Each failed attempt is followed by a wait on the clock: the
			// next attempt comes only once the clock has moved by it.
			for i := range tt.fail {
				require.NoError(t, clk.BlockUntil(context.Background(), 1), "waiting before retry %d", i+1)
				require.Len(t, fs.all(), i+1, "no attempt before the wait is over")
				wait := tt.wait / time.Duration(len(tt.fail))
				clk.Advance(wait - time.Millisecond)
				require.Equal(t, 1, clk.Waiters(), "still waiting %v before retry %d", time.Millisecond, i+1)
				clk.Advance(time.Millisecond)
				h.settle(func() bool { return len(fs.all()) >= i+2 }, "the retry")
			}
			h.drained()
			all, ok := fs.all(), fs.delivered()
			require.Len(t, ok, 1, "delivered exactly once")
			require.Len(t, all, len(tt.fail)+1, "one attempt per failure, then the delivery")
			assert.Equal(t, tt.wait, ok[0].At.Sub(all[0].At), "Retry-After honoured, else the backoff")
			assert.Equal(t, float64(len(tt.fail)), counter(t, h.reg, "canary_notifications_total", "slack", "retried"))
			assert.Equal(t, 1.0, counter(t, h.reg, "canary_notifications_total", "slack", "sent"))
		})
	}
}

// TestWebhookSecretNeverLogged runs a refused delivery, retried ones and a
// delivered one through the webhook with debug logging: the webhook's path
// (its secret) appears nowhere in the logs.
func TestWebhookSecretNeverLogged(t *testing.T) {
	var logs logtest.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clk := newClock()
	fs := &fakeSlack{clk: clk, fail: []int{404, 500, 500}}
	n, secret := newSlack(t, fs, "webhook", logger)
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{n}, withLogger(logger))
	h.eval(observe(breach)) // refused (404 no_service): dropped
	for i := 0; i < 3; i++ {
		h.eval(observe(clean)) // the resolve: two 500s, then delivered
	}
	h.drained()
	calls := fs.delivered()
	require.Len(t, calls, 1)
	assert.Contains(t, calls[0].Text, "RESOLVED")
	assert.Equal(t, 1.0, counter(t, h.reg, "canary_notifications_total", "slack", "failed"))
	assert.Equal(t, 2.0, counter(t, h.reg, "canary_notifications_total", "slack", "retried"))

	out := logs.String()
	assert.Contains(t, out, "notification refused; dropped")
	assert.Contains(t, out, "no_service", "the refusal says why")
	assert.Contains(t, out, "retrying")
	assert.Contains(t, out, "notification delivered")
	for _, s := range []string{secret, "secretpart", "T000/B000"} {
		assert.NotContains(t, out, s, "the webhook's secret path in the logs")
	}
}

// leaky is a notifier whose errors contain a secret, as a careless one's
// might: the manager's own redaction keeps it out of the logs.
type leaky struct {
	mu    sync.Mutex
	calls int
}

func (l *leaky) Name() string { return "leaky" }
func (l *leaky) Notify(context.Context, *alert.Notification) (*alert.Thread, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if l.calls == 1 {
		return nil, &alert.RetryableError{Err: errors.New("POST https://hooks.example.com/s3cr3t-hook-path: 503")}
	}
	return nil, errors.New("POST https://bot:s3cr3t-password@api.example.com/: 403")
}

func TestManagerRedactsNotifierErrors(t *testing.T) {
	var logs logtest.Buffer
	secrets := &redact.Set{}
	secrets.Add("s3cr3t-hook-path")
	st, err := store.Open(t.TempDir(), store.Options{})
	require.NoError(t, err)
	defer st.Close()
	clk := newClock()
	m, err := alert.NewManager(alert.ManagerOptions{
		Policy: policy, Store: st, Notifiers: []alert.Notifier{&leaky{}}, Clock: clk, Secrets: secrets,
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
		Backoff: func(int) time.Duration { return time.Millisecond },
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	require.NoError(t, m.Evaluate(context.Background(), observe(breach)))
	// The backoff after the retryable error and the pacing before the next
	// attempt wait on the clock: move it on whenever the dispatcher waits.
	require.Eventually(t, func() bool {
		if strings.Contains(logs.String(), "refused") {
			return true
		}
		if clk.Waiters() > 0 {
			clk.Advance(100 * time.Millisecond)
		}
		return false
	}, time.Minute, time.Millisecond)
	cancel()
	<-done
	out := logs.String()
	assert.Contains(t, out, "retrying", "the retryable error was logged")
	assert.NotContains(t, out, "s3cr3t", "a secret in a notifier's error")
	assert.Contains(t, out, redact.Placeholder)
}

func TestRateLimitPerChannel(t *testing.T) {
	clk := newClock()
	rec := &recorder{name: "rec", clk: clk}
	const gap = 300 * time.Millisecond
	h := newHarness(t, t.TempDir(), clk, []alert.Notifier{rec}, withRateLimit(gap))
	var obs []alert.Observation
	for i, ch := range []string{"#a", "#b", "#a"} {
		o := observe(breach)[0]
		o.Check, o.Channel = fmt.Sprint("c", i), ch
		obs = append(obs, o)
	}
	require.NoError(t, h.m.Evaluate(context.Background(), obs))
	// #a and #b go out at once; the second #a waits for the gap.
	require.NoError(t, clk.BlockUntil(context.Background(), 1), "pacing #a")
	require.Len(t, rec.notes(), 2, "another channel is not held back")
	clk.Advance(gap - time.Millisecond)
	require.Equal(t, 1, clk.Waiters(), "#a is still held back %v before the gap ends", time.Millisecond)
	require.Len(t, rec.notes(), 2)
	clk.Advance(time.Millisecond)
	h.drained()
	got := rec.notes()
	require.Len(t, got, 3)
	rec.mu.Lock()
	at := append([]time.Time(nil), rec.at...)
	rec.mu.Unlock()
	assert.Equal(t, []string{"#a", "#b", "#a"}, []string{got[0].Channel, got[1].Channel, got[2].Channel}, "oldest first")
	assert.Equal(t, t0, at[1], "#b is not held back")
	assert.Equal(t, t0.Add(gap), at[2], "one channel gets one message per %v", gap)
}

func TestUndeliveredSurvivesRestart(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	down := &recorder{name: "rec", fail: []error{&alert.RetryableError{Err: errors.New("503"), After: time.Hour}}}
	h := newHarness(t, dir, clk, []alert.Notifier{down})
	h.eval(observe(breach)) // fires; the delivery fails and waits an hour
	require.NoError(t, clk.BlockUntil(context.Background(), 1), "waiting out the Retry-After")
	assert.Equal(t, 1.0, counter(t, h.reg, "canary_notifications_total", "rec", "retried"))
	h.close() // returns at once: the wait ends with Run's context

	up := &recorder{name: "rec"}
	h = newHarness(t, dir, clk, []alert.Notifier{up})
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, up.kinds(), "delivered once after the restart")
	assert.Empty(t, down.kinds())
}

// TestDispatcherWakesOnEvaluate delivers without the clock moving: the
// dispatcher is woken by the evaluation that queued the notification, it
// does not poll on a timer.
func TestDispatcherWakesOnEvaluate(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	require.NoError(t, h.m.Evaluate(context.Background(), observe(breach)))
	require.Eventually(t, func() bool { return len(rec.kinds()) == 1 }, time.Minute, time.Millisecond,
		"delivered when queued")
	assert.Equal(t, t0, h.clk.Now())
	assert.Zero(t, h.clk.Waiters(), "the idle dispatcher waits on no timer")
}

func TestNotifiersDeliverIndependently(t *testing.T) {
	down := &recorder{name: "down", fail: []error{&alert.RetryableError{Err: errors.New("503"), After: time.Hour}}}
	up := &recorder{name: "up"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{down, up})
	h.eval(observe(breach))
	for i := 0; i < 3; i++ {
		h.eval(observe(clean))
	}
	h.settle(func() bool { return len(up.kinds()) == 2 }, "a receiver that is down does not hold up the others")
	assert.Empty(t, down.kinds())
	h.settle(func() bool { return h.pending() == 2 }, "the other receiver's share waits in the outbox")
}

func TestOrphanedNotificationsDropped(t *testing.T) {
	dir, clk := t.TempDir(), newClock()
	a, b := &recorder{name: "a"}, &recorder{name: "b"}
	h := newHarness(t, dir, clk, []alert.Notifier{a, b}, noRun())
	h.eval(observe(breach))
	require.Equal(t, 2, h.pending())
	h.close()

	h = newHarness(t, dir, clk, []alert.Notifier{a}) // b was removed from the configuration
	h.drained()
	assert.Equal(t, []alert.Kind{alert.Firing}, a.kinds())
	assert.Empty(t, b.kinds())
	assert.Equal(t, 1.0, counter(t, h.reg, "canary_notifications_total", "b", "dropped"))
}

// stuck is a notifier whose Notify says it was called and then waits for
// its context to end.
type stuck struct{ entered chan struct{} }

func (s *stuck) Name() string { return "stuck" }
func (s *stuck) Notify(ctx context.Context, _ *alert.Notification) (*alert.Thread, error) {
	select {
	case s.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func TestRunTwiceRefused(t *testing.T) {
	n := &stuck{entered: make(chan struct{}, 1)}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{n}, noRun())
	h.eval(observe(breach))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.m.Run(ctx) }()
	<-n.entered // the first Run is delivering

	second, cancel2 := context.WithCancel(context.Background())
	cancel2()
	assert.Error(t, h.m.Run(second), "a second Run while the first runs")

	cancel()
	require.NoError(t, <-done, "the first Run ends with its context")
	assert.Equal(t, 1, h.pending(), "interrupted mid-delivery: the firing stays queued")
	assert.NoError(t, h.m.Run(second), "Run again once the first has returned")
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		base    time.Duration
	}{
		{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {6, 32 * time.Second},
		{9, 256 * time.Second}, {10, 5 * time.Minute}, {100, 5 * time.Minute}, {1 << 30, 5 * time.Minute},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for i := 0; i < 50; i++ {
			d := alert.DefaultBackoff(tt.attempt)
			assert.GreaterOrEqual(t, d, tt.base*8/10, "DefaultBackoff(%d)", tt.attempt)
			assert.LessOrEqual(t, d, min(tt.base*12/10, 5*time.Minute), "DefaultBackoff(%d)", tt.attempt)
			seen[d] = true
		}
		assert.Greater(t, len(seen), 1, "DefaultBackoff(%d) is jittered", tt.attempt)
	}
}
