package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/internal/logtest"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/run"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// fsnotify's inotify reader exits shortly after Close.
		goleak.IgnoreTopFunction("github.com/fsnotify/fsnotify.(*inotify).readEvents"),
	)
}

const token = "tok-sekret-1234"

// testDaemon runs a daemon on a free loopback port against a demo target.
type testDaemon struct {
	t      *testing.T
	dir    string
	cfg    string
	base   string // the daemon's API
	demo   *demotarget.Server
	target *httptest.Server
	logs   *logtest.Buffer
	cancel context.CancelFunc
	done   chan error
	env    map[string]string
	d      *Daemon
	// clk, when set, is the daemon's clock: time moves only by advance.
	clk       *clock.Fake
	runAt     time.Time // the fake clock when the daemon last started
	heartbeat time.Duration
	listen    string // Options.Listen
	// clock, when set and clk is not, is the daemon's clock.
	clock clock.Clock
}

const scenarioYAML = `name: shop
vars: {base: "${TARGET}"}
steps:
  - name: products
    request: {url: "{{ .base }}/products", headers: {X-Api-Key: "${API_KEY}"}}
    expect: {status: 200}
`

func configYAML(checks string) string { return configYAMLWith("", checks) }

// configYAMLWith adds lines to the server block.
func configYAMLWith(server, checks string) string {
	return `server:
  listen: 127.0.0.1:0
  auth_token: "${CANARY_TOKEN}"
  shutdown_grace: 2s
` + server + `state_dir: ./state
allowed_hosts: [127.0.0.1]
max_rate: 200
alerting:
  evaluate_every: 1s
  resolve_after: 2
  burn_rates:
    - {long: 4s, short: 2s, factor: 2, severity: page}
checks:
` + checks
}

const shopCheck = `  - name: shop
    scenario: shop.yaml
    profile: {rate: 20/s}
    slos:
      - {name: availability, success: 95%}
    window: 3s
    min_samples: 10
`

func start(t *testing.T, checks string) *testDaemon {
	t.Helper()
	return startWith(t, "", checks)
}

// startWith starts a daemon with lines added to its config's server block.
func startWith(t *testing.T, server, checks string) *testDaemon {
	t.Helper()
	td := newTestDaemon(t, server, checks)
	td.run()
	return td
}

// startFake starts a daemon on a fake clock that starts at the wall
// clock's time (so that the sample times stay plausible): nothing that
// takes time happens until the test advances it.
func startFake(t *testing.T, server, checks string) *testDaemon {
	t.Helper()
	td := newTestDaemon(t, server, checks)
	td.clk = clock.NewFake(time.Now().Truncate(time.Second))
	td.run()
	return td
}

// clockAt is a fake clock at the wall clock's time of day, within the
// minute moved to the second given as ":SS", so that a cron schedule's
// next run is known.
func clockAt(t *testing.T, second string) *clock.Fake {
	t.Helper()
	var s int
	_, err := fmt.Sscanf(second, ":%d", &s)
	require.NoError(t, err)
	return clock.NewFake(time.Now().Truncate(time.Minute).Add(time.Duration(s) * time.Second))
}

// newTestDaemon writes the config and scenario and starts the demo target;
// run starts the daemon.
func newTestDaemon(t *testing.T, server, checks string) *testDaemon {
	t.Helper()
	demo := demotarget.New(demotarget.Options{Seed: 1})
	target := httptest.NewServer(demo)
	t.Cleanup(target.Close)
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "shop.yaml"), []byte(scenarioYAML), 0o644))
	cfg := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(configYAMLWith(server, checks)), 0o644))
	return &testDaemon{t: t, dir: dir, cfg: cfg, demo: demo, target: target, logs: &logtest.Buffer{},
		env: map[string]string{"TARGET": target.URL, "API_KEY": "apikey-very-secret", "CANARY_TOKEN": token, "RUN_TOKEN": runToken}}
}

func (td *testDaemon) run() {
	t := td.t
	secrets := &redact.Set{}
	logger := slog.New(redact.NewHandler(slog.NewTextHandler(td.logs, nil), secrets))
	ready := make(chan string, 1)
	o := Options{ConfigPath: td.cfg, Logger: logger, Secrets: secrets, Version: "test", Heartbeat: td.heartbeat, Listen: td.listen,
		Env:   func(k string) (string, bool) { v, ok := td.env[k]; return v, ok },
		Ready: func(addr string) { ready <- addr }}
	switch {
	case td.clk != nil:
		o.Clock = td.clk
		td.runAt = td.clk.Now()
	case td.clock != nil:
		o.Clock = td.clock
	}
	d, err := New(o)
	require.NoError(t, err)
	td.d = d
	ctx, cancel := context.WithCancel(context.Background())
	td.cancel, td.done = cancel, make(chan error, 1)
	go func() { td.done <- d.Run(ctx) }()
	select {
	case addr := <-ready:
		td.base = "http://" + addr
	case err := <-td.done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not start")
	}
	t.Cleanup(td.stop)
	if td.clk != nil {
		td.checksStarted()
	}
}

// checksStarted waits until every check has started on the fake clock
// (a continuous one's engine runs, a scheduled one knows its next run),
// so that time moves only once they all count it.
func (td *testDaemon) checksStarted() {
	td.t.Helper()
	require.Eventually(td.t, func() bool {
		td.d.mu.Lock()
		defer td.d.mu.Unlock()
		for _, r := range td.d.checks {
			if _, next := r.schedule(); r.ck.Schedule != nil && next.IsZero() || r.ck.Schedule == nil && r.engine.Load() == nil {
				return false
			}
		}
		return true
	}, time.Minute, time.Millisecond, "the checks did not start")
}

func (td *testDaemon) stop() {
	if td.cancel == nil {
		return
	}
	td.cancel()
	select {
	case err := <-td.done:
		assert.NoError(td.t, err)
	case <-time.After(15 * time.Second):
		td.t.Error("daemon did not stop")
	}
	td.cancel = nil
}

// advance moves the fake clock forward by d, a step at a time (the
// shortest arrival interval of the running checks, at most a second).
// After each step it waits until every iteration due by then has run, the
// checks have flushed and the daemon has evaluated: what happens in a
// second of the daemon's time is then the same however busy the machine.
func (td *testDaemon) advance(d time.Duration) {
	td.t.Helper()
	require.NotNil(td.t, td.clk, "advance needs startFake")
	end := td.clk.Now().Add(d)
	for now := td.clk.Now(); now.Before(end); now = td.clk.Now() {
		td.clk.Advance(min(end.Sub(now), td.step()))
		td.settle()
		td.evaluated()
	}
}

// step is the shortest arrival interval of the checks, at most a second.
func (td *testDaemon) step() time.Duration {
	step := time.Second
	for _, r := range td.runners() {
		if rate := run.ExpectedRate(r.ck.Profile); rate > 0 {
			step = min(step, time.Duration(float64(time.Second)/rate))
		}
	}
	return max(step, time.Millisecond)
}

func (td *testDaemon) runners() []*checkRunner {
	td.d.mu.Lock()
	defer td.d.mu.Unlock()
	var out []*checkRunner
	for _, r := range td.d.checks {
		out = append(out, r)
	}
	return out
}

// waitFor polls cond (every millisecond, for up to a minute of real
// time); when it never holds, the test fails with what describe says.
func (td *testDaemon) waitFor(cond func() bool, describe func() string) {
	td.t.Helper()
	require.EventuallyWithT(td.t, func(c *assert.CollectT) {
		if !cond() {
			c.Errorf("%s", describe())
		}
	}, time.Minute, time.Millisecond)
}

// settle waits until every running check has started (or dropped) each
// iteration due by now but maybe the last, none is in flight, and its
// collector has flushed the last whole second. (A worker that read the
// clock just before the test advanced it arms its timer from the later
// time, so the last iteration due may only start at the next step.)
func (td *testDaemon) settle() {
	td.t.Helper()
	now := td.clk.Now()
	for _, r := range td.runners() {
		flushed := r.started.Add(now.Sub(r.started).Truncate(time.Second))
		td.waitFor(func() bool { return !r.col.Window(now, time.Second).End.Before(flushed) },
			func() string { return fmt.Sprintf("check %s: no flush at %v", r.ck.Name, flushed) })
		var state string
		td.waitFor(func() bool {
			e := r.engine.Load()
			if e == nil {
				return true
			}
			el := e.Elapsed()
			due := uint64(0)
			for k := uint64(0); ; k++ {
				at, ok := r.ck.Profile.Due(k)
				if !ok || at > el {
					break
				}
				due++
			}
			state = fmt.Sprintf("elapsed %v, due %d, started %d, dropped %d, in flight %d", el, due, e.Started(), e.Dropped(), e.Inflight())
			return e.Started()+e.Dropped()+1 >= due && e.Inflight() == 0
		}, func() string {
			return fmt.Sprintf("check %s: the iterations due by now did not all run: %s", r.ck.Name, state)
		})
	}
}

// evaluated waits until the daemon has done the last evaluation due by
// now on the fake clock (verdicts and alerts).
func (td *testDaemon) evaluated() {
	td.t.Helper()
	every := td.d.config().Policy.EvaluateEvery
	first := td.runAt.Add(evaluationOffset(every))
	now := td.clk.Now()
	if now.Before(first) {
		return
	}
	due := first.Add(now.Sub(first).Truncate(every))
	td.waitFor(func() bool {
		td.d.mu.Lock()
		defer td.d.mu.Unlock()
		return !td.d.evaluatedAt.Before(due)
	}, func() string { return fmt.Sprintf("no evaluation at %v", due) })
}

func (td *testDaemon) do(method, path, tok string, body any) (int, http.Header, map[string]any) {
	td.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, td.base+path, rd)
	require.NoError(td.t, err)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(td.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m
}

func (td *testDaemon) raw(path string) string {
	resp, err := http.Get(td.base + path)
	require.NoError(td.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The verdict and the gate follow the target, on a fake clock: three
// seconds of healthy answers pass, three of 503s fail, and it recovers.
// Only counts decide (the SLO is a success ratio), so a busy machine
// changes nothing.
func TestVerdictAndGateFollowTheTarget(t *testing.T) {
	td := startFake(t, "", shopCheck)
	gate := func() (int, map[string]any) {
		code, hdr, body := td.do("GET", "/api/v1/gate/shop", "", nil)
		if code == http.StatusServiceUnavailable {
			assert.NotEmpty(t, hdr.Get("Retry-After"))
		}
		return code, body
	}
	td.advance(300 * time.Millisecond)
	code, body := gate()
	assert.Equal(t, 503, code, "nothing flushed yet: %v", body)
	assert.Equal(t, "inconclusive", body["verdict"])

	td.advance(2700 * time.Millisecond)
	code, v := gate()
	require.Equal(t, 200, code, "passes with samples: %v", v)
	code, _, v = td.do("GET", "/api/v1/checks/shop/verdict", "", nil)
	assert.Equal(t, 200, code)
	assert.Equal(t, "pass", v["verdict"])
	assert.Equal(t, "3s", v["window"])
	// It says what it counted: the window, up to the last flush, at 20/s.
	assert.InDelta(t, 3.0, v["span_s"], 0.001, "span_s")
	assert.InDelta(t, 60, v["samples"], 1, "samples")
	from, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v["covered_from"]))
	require.NoError(t, err, "covered_from %v", v["covered_from"])
	at, err := time.Parse(time.RFC3339Nano, fmt.Sprint(v["at"]))
	require.NoError(t, err)
	assert.Equal(t, td.clk.Now(), at.Local(), "judged as of the daemon's clock")
	assert.Equal(t, at.Add(-3*time.Second), from, "covered_from + span_s is the last flush")

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	td.advance(3 * time.Second)
	code, v = gate()
	assert.Equal(t, 412, code, "a failing target fails the gate: %v", v)
	assert.Equal(t, "fail", v["verdict"])
	code, _, v = td.do("GET", "/api/v1/checks/shop/verdict", "", nil)
	assert.Equal(t, 200, code, "the verdict endpoint always answers 200")
	assert.Equal(t, "fail", v["verdict"])
	assert.Contains(t, fmt.Sprint(v["reasons"]), "success")
	// A Flagger webhook POST is accepted, its metadata overriding the window.
	code, _, v = td.do("POST", "/api/v1/gate/shop", "", map[string]any{"name": "shop", "namespace": "prod", "phase": "Progressing", "metadata": map[string]string{"window": "2s"}})
	assert.Equal(t, 412, code)
	assert.Equal(t, "2s", v["window"])

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{}))
	// An evaluation and a flush due at the same second may come in either
	// order: a fourth second makes sure the last one judges three healthy
	// ones.
	td.advance(4 * time.Second)
	code, v = gate()
	assert.Equal(t, 200, code, "recovery passes again: %v", v)

	// The daemon's metrics saw it all.
	metrics := td.raw("/metrics")
	assert.Contains(t, metrics, `canary_requests_total{check="shop",code="503",error="http_status",method="GET",step="products"}`)
	assert.Contains(t, metrics, `canary_verdict{check="shop"}`)
	// Bad parameters are client errors, unknown checks 404.
	code, _, _ = td.do("GET", "/api/v1/checks/shop/verdict?window=forever", "", nil)
	assert.Equal(t, 400, code)
	code, _, _ = td.do("GET", "/api/v1/gate/nope", "", nil)
	assert.Equal(t, 404, code)

	// The terminal told the story: one line per change of the verdict. (The
	// first evaluation may come before the first flush, at the same
	// second: then it is inconclusive first.)
	lines := td.logs.Lines("verdict changed")
	if len(lines) == 4 {
		assert.Contains(t, lines[0], "check=shop from=none to=inconclusive reason=\"0 iterations over 3s, fewer than min_samples 10")
		lines = lines[1:]
	}
	require.Len(t, lines, 3, "none → pass → fail → pass:\n%s", strings.Join(lines, "\n"))
	assert.Regexp(t, `check=shop from=(none|inconclusive) to=pass reason="availability 100%"`, lines[0])
	assert.Contains(t, lines[1], "level=WARN")
	assert.Contains(t, lines[1], "from=pass to=fail reason=\"success ")
	assert.Contains(t, lines[2], "from=fail to=pass")
}

func TestReloadKeepsTheOldConfigOnError(t *testing.T) {
	td := start(t, shopCheck)
	require.Eventually(t, func() bool {
		return strings.Contains(td.raw("/metrics"), "canary_config_last_reload_successful 1")
	}, 5*time.Second, 100*time.Millisecond)

	// A broken config is rejected whole: the old one keeps serving.
	require.NoError(t, os.WriteFile(td.cfg, []byte(configYAML(shopCheck)+"  - name: broken\n    scenario: nope.yaml\n    nmae: x\n"), 0o644))
	code, _, body := td.do("POST", "/-/reload", token, nil)
	assert.Equal(t, 400, code)
	assert.Contains(t, body["error"], `unknown key "nmae"`)
	assert.Contains(t, td.raw("/metrics"), "canary_config_last_reload_successful 0")
	code, _, _ = td.do("GET", "/api/v1/checks/shop/verdict", "", nil)
	assert.Equal(t, 200, code, "the old config still serves")
	assert.Contains(t, td.logs.String(), "config reload rejected")

	// A good reload applies, and the unchanged check keeps its state.
	before := td.raw("/metrics")
	require.NoError(t, os.WriteFile(td.cfg, []byte(configYAML(shopCheck+strings.ReplaceAll(shopCheck, "name: shop", "name: shop2"))), 0o644))
	code, _, _ = td.do("POST", "/-/reload", token, nil)
	assert.Equal(t, 200, code)
	assert.Contains(t, td.raw("/metrics"), "canary_config_last_reload_successful 1")
	_, _, list := td.do("GET", "/api/v1/checks", "", nil)
	assert.Len(t, list["checks"], 2)
	assert.Contains(t, before, `canary_iterations_total{check="shop",result="success"}`)
	after := td.raw("/metrics")
	assert.Equal(t, counter(before, `canary_iterations_total{check="shop",result="success"}`) <= counter(after, `canary_iterations_total{check="shop",result="success"}`), true,
		"the unchanged check's counters carry on (not reset)")

	// A change of the file is picked up without a signal.
	require.NoError(t, os.WriteFile(td.cfg, []byte(configYAML(shopCheck)), 0o644))
	require.Eventually(t, func() bool {
		_, _, list := td.do("GET", "/api/v1/checks", "", nil)
		return len(list["checks"].([]any)) == 1
	}, 10*time.Second, 100*time.Millisecond, "the watcher reloads the edited file")
}

func counter(exposition, series string) float64 {
	for _, line := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, series+" "), &v)
			return v
		}
	}
	return -1
}

func TestSecurity(t *testing.T) {
	td := start(t, shopCheck)
	// Mutating endpoints need the token.
	for _, c := range []struct{ method, path string }{{"POST", "/-/reload"}, {"POST", "/api/v1/runs"}, {"POST", "/api/v1/silences"}, {"DELETE", "/api/v1/silences/x"}} {
		code, hdr, _ := td.do(c.method, c.path, "", nil)
		assert.Equal(t, 401, code, "%s %s without a token", c.method, c.path)
		assert.Contains(t, hdr.Get("WWW-Authenticate"), "Bearer")
		code, _, _ = td.do(c.method, c.path, "wrong-token", nil)
		assert.Equal(t, 401, code, "%s %s with a wrong token", c.method, c.path)
	}
	// Some requests and an evaluation, so that there is something to leak.
	require.Eventually(t, func() bool {
		_, _, list := td.do("GET", "/api/v1/checks", "", nil)
		checks, _ := list["checks"].([]any)
		if len(checks) != 1 {
			return false
		}
		c := checks[0].(map[string]any)
		return c["evaluated_at"] != nil && c["samples"].(float64) > 0
	}, time.Minute, 50*time.Millisecond, "an evaluation with samples")
	// Secrets from the environment appear nowhere.
	for _, path := range []string{"/metrics", "/api/v1/checks", "/", "/checks/shop"} {
		body := td.raw(path)
		assert.NotContains(t, body, "apikey-very-secret", path)
		assert.NotContains(t, body, token, path)
	}
	code, _, _ := td.do("POST", "/api/v1/runs", token, map[string]any{"check": "shop", "duration": "1s"})
	assert.Equal(t, 202, code)
	td.stop()
	assert.NotContains(t, td.logs.String(), "apikey-very-secret")
	assert.NotContains(t, td.logs.String(), token)
	assert.Contains(t, td.logs.String(), "check started")
}

func TestHostsOutsideAllowedHostsAreRefused(t *testing.T) {
	// A host the config names is refused when the config loads (see the
	// config package's tests); one only known at run time is refused at run
	// time, every request.
	td := start(t, `  - name: templated
    scenario:
      name: templated
      vars: {h: "{{ randString 3 }}"}
      steps:
        - {name: a, request: {url: "http://{{ .h }}.example.org/"}}
    profile: {rate: 10/s}
`)
	require.Eventually(t, func() bool {
		return strings.Contains(td.raw("/metrics"), `canary_requests_total{check="templated",code="0",error="host_not_allowed",method="GET",step="a"}`)
	}, 5*time.Second, 100*time.Millisecond)
	// Where a person looks: the failure samples (API and status page) name
	// the class and the host refused.
	_, _, f := td.do("GET", "/api/v1/checks/templated/failures", "", nil)
	raw, err := json.Marshal(f)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"class":"host_not_allowed"`)
	assert.Regexp(t, `host [a-zA-Z0-9]{3}\.example\.org refused: .*is not in allowed_hosts`, string(raw))
	page := td.raw("/checks/templated")
	assert.Contains(t, page, "host_not_allowed")
	assert.Regexp(t, `host [a-zA-Z0-9]{3}\.example\.org refused`, page)
}

func TestOnDemandRunsAreIdempotentAndPersisted(t *testing.T) {
	td := start(t, shopCheck)
	req := map[string]any{"check": "shop", "profile": map[string]any{"rate": "10/s"}, "duration": "1s", "key": "deploy-42"}
	code, hdr, first := td.do("POST", "/api/v1/runs", token, req)
	require.Equal(t, 202, code)
	loc := hdr.Get("Location")
	require.NotEmpty(t, loc)
	code, hdr, second := td.do("POST", "/api/v1/runs", token, req)
	assert.Equal(t, 202, code)
	assert.Equal(t, loc, hdr.Get("Location"), "the same key returns the same run")
	assert.Equal(t, first["id"], second["id"])
	require.Eventually(t, func() bool {
		_, _, r := td.do("GET", strings.TrimPrefix(loc, td.base), "", nil)
		return r["status"] == "passed"
	}, 15*time.Second, 200*time.Millisecond)
	_, _, run := td.do("GET", strings.TrimPrefix(loc, td.base), "", nil)
	report := run["report"].(map[string]any)
	assert.Equal(t, 10.0, report["iterations"].(map[string]any)["total"], "one run of 10/s for 1 s, not two")
	_, _, list := td.do("GET", "/api/v1/runs", "", nil)
	assert.Len(t, list["runs"], 1)

	code, _, _ = td.do("POST", "/api/v1/runs", token, map[string]any{"check": "nope"})
	assert.Equal(t, 404, code)
	code, _, body := td.do("POST", "/api/v1/runs", token, map[string]any{"check": "shop", "profile": map[string]any{"rate": "5000/s"}, "duration": "1s"})
	assert.Equal(t, 429, code, "over the global max_rate")
	assert.Contains(t, body["error"], "max_rate")
	code, _, _ = td.do("POST", "/api/v1/runs", token, map[string]any{"check": "shop", "unknown": 1})
	assert.Equal(t, 400, code)
	code, _, _ = td.do("GET", "/api/v1/runs/nope", "", nil)
	assert.Equal(t, 404, code)

	// Silences through the API.
	code, _, sil := td.do("POST", "/api/v1/silences", token, map[string]any{"matchers": map[string]string{"check": "shop"}, "duration": "1h", "comment": "deploy"})
	require.Equal(t, 201, code)
	_, _, sils := td.do("GET", "/api/v1/silences", "", nil)
	assert.Len(t, sils["silences"], 1)
	code, _, _ = td.do("DELETE", "/api/v1/silences/"+sil["id"].(string), token, nil)
	assert.Equal(t, 204, code)
}

func TestStatusPageAndHealth(t *testing.T) {
	td := start(t, shopCheck)
	assert.Equal(t, "OK\n", td.raw("/-/healthy"))
	assert.Equal(t, "OK\n", td.raw("/-/ready"))
	require.Eventually(t, func() bool { return strings.Contains(td.raw("/"), `href="/checks/shop"`) }, 5*time.Second, 100*time.Millisecond)
	assert.Contains(t, td.raw("/checks/shop"), "availability")
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }
