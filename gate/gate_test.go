package gate

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/slo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// answer is one canned HTTP answer of the fake daemon.
type answer struct {
	status int
	header map[string]string
	body   any // marshalled to JSON; a string is sent as it is
}

// daemon is an httptest canary daemon answering the verdict and runs API
// with canned answers, in order (the last one repeats), and recording what
// it was asked.
type daemon struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	verdicts []answer
	runs     []answer // GET /api/v1/runs/{id}
	started  answer   // POST /api/v1/runs
	asked    []*http.Request
	bodies   []string
}

func newDaemon(t *testing.T) *daemon {
	d := &daemon{t: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/checks/{name}/verdict", func(w http.ResponseWriter, r *http.Request) {
		d.answer(w, r, &d.verdicts)
	})
	mux.HandleFunc("POST /api/v1/runs", func(w http.ResponseWriter, r *http.Request) {
		one := []answer{d.started}
		d.answer(w, r, &one)
	})
	mux.HandleFunc("GET /api/v1/runs/{id}", func(w http.ResponseWriter, r *http.Request) {
		d.answer(w, r, &d.runs)
	})
	d.srv = httptest.NewServer(mux)
	t.Cleanup(d.srv.Close)
	return d
}

func (d *daemon) answer(w http.ResponseWriter, r *http.Request, queue *[]answer) {
	b, _ := io.ReadAll(r.Body)
	d.mu.Lock()
	d.asked = append(d.asked, r)
	d.bodies = append(d.bodies, string(b))
	var a answer
	if len(*queue) > 0 {
		a = (*queue)[0]
		if len(*queue) > 1 {
			*queue = (*queue)[1:]
		}
	}
	d.mu.Unlock()
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	if s, ok := a.body.(string); ok {
		_, _ = io.WriteString(w, s)
		return
	}
	_ = json.NewEncoder(w).Encode(a.body)
}

func (d *daemon) requests() []*http.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*http.Request(nil), d.asked...)
}

func verdict(v string, reasons ...string) answer {
	if reasons == nil {
		reasons = []string{}
	}
	return answer{body: map[string]any{"check": "checkout", "verdict": v, "window": "5m", "reasons": reasons, "samples": 120}}
}

func runDoc(status string, reasons ...string) answer {
	return answer{body: map[string]any{"id": "r1", "check": "checkout", "status": status, "verdict": status, "reasons": reasons, "location": "/api/v1/runs/r1"}}
}

// ask runs AskServer in the background on a fake clock and drives the
// clock through its waits: each time it waits, the clock jumps by step.
func ask(t *testing.T, o ServerOptions, step time.Duration) (*Result, []string, error) {
	t.Helper()
	clk := clock.NewFake(t0)
	o.Clock = clk
	var mu sync.Mutex
	var progress []string
	o.Progress = func(msg string) {
		mu.Lock()
		progress = append(progress, msg)
		mu.Unlock()
	}
	type out struct {
		res *Result
		err error
	}
	done := make(chan out, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		res, err := AskServer(ctx, o)
		done <- out{res, err}
	}()
	for {
		waiting := make(chan error, 1)
		go func() { waiting <- clk.BlockUntil(ctx, 1) }()
		select {
		case r := <-done:
			cancel()
			<-waiting
			mu.Lock()
			defer mu.Unlock()
			return r.res, progress, r.err
		case err := <-waiting:
			require.NoError(t, err)
			clk.Advance(step)
		}
	}
}

func TestAskServerVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answers []answer
		want    slo.Verdict
		reasons []string
	}{
		{"pass", []answer{verdict("pass")}, slo.Pass, []string{}},
		{"fail", []answer{verdict("fail", "success 93.1% < 99.5% over 5m, n=120")}, slo.Fail, []string{"success 93.1% < 99.5% over 5m, n=120"}},
		{"inconclusive, without waiting", []answer{verdict("inconclusive", "too few samples"), verdict("pass")}, slo.Inconclusive, []string{"too few samples"}},
		{"412 with a failing verdict is an answer", []answer{{status: 412, body: verdict("fail", "x").body}}, slo.Fail, []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t)
			d.verdicts = tc.answers
			res, _, err := ask(t, ServerOptions{URL: d.srv.URL + "/", Check: "checkout", MinSamples: -1}, time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Verdict)
			assert.Equal(t, tc.reasons, res.Reasons)
			assert.JSONEq(t, mustJSON(t, tc.answers[0].body), string(res.Body), "the daemon's answer, as it is")
			reqs := d.requests()
			require.Len(t, reqs, 1, "asked once")
			assert.Equal(t, "/api/v1/checks/checkout/verdict", reqs[0].URL.Path)
			assert.Empty(t, reqs[0].URL.RawQuery, "the check's own window and min_samples")
		})
	}
}

func TestAskServerParameters(t *testing.T) {
	d := newDaemon(t)
	d.verdicts = []answer{verdict("pass")}
	since := time.Date(2026, 11, 24, 9, 30, 0, 0, time.FixedZone("CET", 3600))
	_, _, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "a b/c", Window: 10 * time.Minute, Since: since, MinSamples: 50}, time.Second)
	require.NoError(t, err)
	reqs := d.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "/api/v1/checks/a%20b%2Fc/verdict", reqs[0].URL.EscapedPath(), "the check name is one path segment")
	assert.Equal(t, url.Values{"window": {"10m0s"}, "since": {"2026-11-24T08:30:00Z"}, "min_samples": {"50"}}, reqs[0].URL.Query())
}

// --wait keeps asking while the verdict is inconclusive, every poll
// interval or as the daemon's Retry-After says.
func TestAskServerWaits(t *testing.T) {
	d := newDaemon(t)
	d.verdicts = []answer{
		verdict("inconclusive", "too few samples (3 < 10)"),
		{status: 503, header: map[string]string{"Retry-After": "2"}, body: verdict("inconclusive", "too few samples (8 < 10)").body},
		verdict("pass"),
	}
	start := time.Now()
	res, progress, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "checkout", MinSamples: -1, Wait: time.Minute}, 500*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, slo.Pass, res.Verdict)
	assert.Len(t, d.requests(), 3)
	assert.Equal(t, []string{
		"inconclusive (too few samples (3 < 10)); asking again in 5s",
		"inconclusive (too few samples (8 < 10)); asking again in 2s",
	}, progress)
	assert.Less(t, time.Since(start), 5*time.Second, "the waits are on the fake clock")
}

// When --wait runs out the last inconclusive verdict is the answer; the
// last ask comes just after the deadline.
func TestAskServerWaitRunsOut(t *testing.T) {
	d := newDaemon(t)
	d.verdicts = []answer{verdict("inconclusive", "too few samples")}
	res, progress, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "checkout", MinSamples: -1, Wait: 12 * time.Second}, 100*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, slo.Inconclusive, res.Verdict)
	// Asked at 0, 5 s, 10 s and just after 12 s.
	assert.Len(t, d.requests(), 4)
	assert.Len(t, progress, 3)
}

func TestAskServerCancelledWhileWaiting(t *testing.T) {
	d := newDaemon(t)
	d.verdicts = []answer{verdict("inconclusive", "too few samples")}
	clk := clock.NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := AskServer(ctx, ServerOptions{URL: d.srv.URL, Check: "checkout", MinSamples: -1, Wait: time.Hour, Clock: clk})
		done <- err
	}()
	require.NoError(t, clk.BlockUntil(context.Background(), 1))
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
}

func TestAskServerErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer answer
		usage  bool
		msg    string
	}{
		{"unknown check", answer{status: 404, body: map[string]string{"error": `no check "checkout"`}}, true, `/api/v1/checks/checkout/verdict: no check "checkout"`},
		{"bad window", answer{status: 400, body: map[string]string{"error": "window: bad"}}, true, "window: bad"},
		{"unauthorised", answer{status: 401, body: map[string]string{"error": "token required"}}, false, "401 Unauthorized: token required (give --token or $CANARY_TOKEN)"},
		{"server error", answer{status: 500, body: "boom"}, false, "500 Internal Server Error: boom"},
		{"not a verdict", answer{body: `{"hello": "world"}`}, false, "not a verdict: {\"hello\": \"world\"}"},
		{"not JSON", answer{body: "<html>proxy</html>"}, false, "not a verdict: <html>proxy</html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t)
			d.verdicts = []answer{tc.answer}
			_, _, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "checkout", MinSamples: -1}, time.Second)
			require.Error(t, err)
			assert.Equal(t, tc.usage, errors.Is(err, ErrUsage), "ErrUsage(%v)", err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestAskServerUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err := AskServer(context.Background(), ServerOptions{URL: strings.Replace(base, "http://", "http://user:pw-secret@", 1), Check: "c", MinSamples: -1})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrUsage))
	assert.Contains(t, err.Error(), "GET http://127.0.0.1")
	assert.NotContains(t, err.Error(), "pw-secret", "user-info is not printed")
}

// --run starts an on-demand run and polls it until it ends.
func TestAskServerRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		run      RunRequest
		payload  string
		runs     []answer
		want     slo.Verdict
		reasons  []string
		requests int
	}{
		{
			name: "passes", run: RunRequest{Profile: "profiles/steady.yaml", Duration: "2m", Key: "deploy-42"},
			payload: `{"check":"checkout","profile":"profiles/steady.yaml","duration":"2m","key":"deploy-42"}`,
			runs:    []answer{runDoc("running"), runDoc("running"), runDoc("passed")},
			want:    slo.Pass, reasons: nil, requests: 4,
		},
		{
			name: "fails", run: RunRequest{Profile: ` {"rate": "20/s"} `},
			payload: `{"check":"checkout","profile":{"rate":"20/s"}}`,
			runs:    []answer{runDoc("failed", "p99(login) 412ms >= 300ms over the run, n=1200")},
			want:    slo.Fail, reasons: []string{"p99(login) 412ms >= 300ms over the run, n=1200"}, requests: 2,
		},
		{
			name: "inconclusive with the run's error", run: RunRequest{Duration: "1m"},
			payload: `{"check":"checkout","duration":"1m"}`,
			runs:    []answer{{body: map[string]any{"status": "inconclusive", "reasons": []string{"aborted"}, "error": "the daemon stopped"}}},
			want:    slo.Inconclusive, reasons: []string{"aborted", "the daemon stopped"}, requests: 2,
		},
		{
			name: "still running when --wait runs out", run: RunRequest{},
			payload: `{"check":"checkout"}`,
			runs:    []answer{runDoc("running")},
			want:    slo.Inconclusive, reasons: []string{"the run /api/v1/runs/r1 was still running when --wait ran out"}, requests: 5,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t)
			d.started = answer{status: 202, header: map[string]string{"Location": "/api/v1/runs/r1"}, body: runDoc("running").body}
			d.runs = tc.runs
			run := tc.run
			res, _, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "checkout", Token: "tok-1", Run: &run, Wait: 15 * time.Second}, time.Second)
			require.NoError(t, err)
			assert.Equal(t, tc.want, res.Verdict)
			assert.Equal(t, tc.reasons, res.Reasons)
			reqs := d.requests()
			require.Len(t, reqs, tc.requests)
			assert.Equal(t, "POST", reqs[0].Method)
			assert.Equal(t, "Bearer tok-1", reqs[0].Header.Get("Authorization"))
			assert.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
			assert.JSONEq(t, tc.payload, d.bodies[0])
			for _, r := range reqs[1:] {
				assert.Equal(t, "GET /api/v1/runs/r1", r.Method+" "+r.URL.Path)
				assert.Empty(t, r.Header.Get("Authorization"), "reading a run needs no token")
			}
		})
	}
}

// --run-id waits for a run that exists: a distributed run's segments are
// still reporting, then its merged verdict; nothing is started.
func TestAskServerRunID(t *testing.T) {
	d := newDaemon(t)
	d.runs = []answer{runDoc("running"), runDoc("running"), runDoc("failed", "p99 412ms >= 300ms over the run, n=4800 (merged 4/4)")}
	res, progress, err := ask(t, ServerOptions{URL: d.srv.URL, RunID: "checkout-20261207T100000Z", Wait: time.Minute}, time.Second)
	require.NoError(t, err)
	assert.Equal(t, slo.Fail, res.Verdict)
	assert.Equal(t, []string{"p99 412ms >= 300ms over the run, n=4800 (merged 4/4)"}, res.Reasons)
	reqs := d.requests()
	require.Len(t, reqs, 3)
	for _, r := range reqs {
		assert.Equal(t, "GET /api/v1/runs/checkout-20261207T100000Z", r.Method+" "+r.URL.Path)
	}
	require.Len(t, progress, 2)
	assert.Contains(t, progress[0], "run /api/v1/runs/checkout-20261207T100000Z is running")
}

func TestAskServerRunErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		started answer
		usage   bool
		msg     string
	}{
		{"no Location", answer{status: 202, body: runDoc("running").body}, false, "no Location in the answer"},
		{"over max_rate", answer{status: 429, header: map[string]string{"Retry-After": "30"}, body: map[string]string{"error": "a run at 5000/s would exceed max_rate"}}, false, "429 Too Many Requests: a run at 5000/s would exceed max_rate"},
		{"bad profile", answer{status: 400, body: map[string]string{"error": "profile: want a path"}}, true, "profile: want a path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t)
			d.started = tc.started
			_, _, err := ask(t, ServerOptions{URL: d.srv.URL, Check: "checkout", Run: &RunRequest{}, Wait: time.Minute}, time.Second)
			require.Error(t, err)
			assert.Equal(t, tc.usage, errors.Is(err, ErrUsage), "ErrUsage(%v)", err)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
	_, err := AskServer(context.Background(), ServerOptions{URL: "http://127.0.0.1:1", Check: "c", Run: &RunRequest{Profile: "{not json"}})
	require.Error(t, err)
	assert.True(t, errors.Is(err, ErrUsage), "an inline profile that is not JSON is the caller's mistake: %v", err)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
