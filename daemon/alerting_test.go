package daemon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/clock"
)

// slackAPI is Slack's Web API on loopback, recording what arrives.
type slackAPI struct {
	mu    sync.Mutex
	calls []string // "method channel thread_ts ts text-prefix"
	ts    int
}

func (s *slackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	s.mu.Lock()
	defer s.mu.Unlock()
	text := r.PostForm.Get("text")
	if len(text) > 20 {
		text = text[:20]
	}
	s.calls = append(s.calls, strings.Join([]string{strings.TrimPrefix(r.URL.Path, "/"), r.PostForm.Get("thread_ts"), r.PostForm.Get("ts"), text}, "|"))
	s.ts++
	fmt.Fprintf(w, `{"ok":true,"channel":"C1","ts":"1700000000.%06d"}`, s.ts)
}

func (s *slackAPI) got() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// A failing target pages once; recovery resolves in the same thread and
// updates the first message — across a restart of the daemon in between.
// On a fake clock, "nothing more" is exact: the outbox is empty and the
// evaluations that would have sent more have been done.
func TestAlertsThroughSlack(t *testing.T) {
	api := &slackAPI{}
	slackSrv := httptest.NewServer(api)
	defer slackSrv.Close()
	td := newTestDaemon(t, "", shopCheck)
	td.clk = clock.NewFake(time.Now().Truncate(time.Second))
	cfg := strings.Replace(configYAML(shopCheck), "alerting:\n", "alerting:\n  slack: {token: \"${SLACK_TOKEN}\", channel: \"#alerts\", api_url: \""+slackSrv.URL+"/\"}\n  repeat_interval: 1h\n", 1)
	require.NoError(t, writeFile(td.cfg, cfg))
	td.env["SLACK_TOKEN"] = "xoxb-slack-sekret"
	td.run()

	// until advances the clock a second at a time until cond holds, for at
	// most limit, then waits for the outbox to be delivered.
	until := func(limit time.Duration, cond func() bool, msg string) {
		t.Helper()
		for end := td.clk.Now().Add(limit); !cond(); td.advance(time.Second) {
			require.True(t, td.clk.Now().Before(end), "%s within %v: %v", msg, limit, api.got())
		}
		td.delivered()
	}

	td.advance(5 * time.Second)
	td.delivered()
	assert.Empty(t, api.got(), "a healthy target pages nobody")

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	until(10*time.Second, func() bool { return len(api.got()) >= 1 }, "the burn-rate alert fires")
	td.advance(5 * time.Second) // still failing: no second page
	td.delivered()
	calls := api.got()
	require.Len(t, calls, 1, "exactly one firing message")
	assert.True(t, strings.HasPrefix(calls[0], "chat.postMessage|||"), calls[0])
	assert.Contains(t, td.raw("/metrics"), `canary_alerts_firing{check="shop",slo="availability"} 1`)
	firing := td.logs.Lines(`msg="alert firing"`)
	require.Len(t, firing, 1)
	assert.Contains(t, firing[0], "level=WARN")
	assert.Regexp(t, `check=shop slo=availability severity=page window=4s/2s burn_rate=[0-9.]+ observed="success [0-9.]+% and [0-9.]+% < 95% over 4s and 2s"`, firing[0])

	// The daemon restarts while the alert fires.
	td.stop()
	td.run()
	require.NoError(t, td.demo.SetFaults(demotarget.Faults{}))
	until(20*time.Second, func() bool { return len(api.got()) >= 3 }, "the alert resolves")
	td.advance(3 * time.Second)
	td.delivered()
	calls = api.got()
	require.Len(t, calls, 3, "one firing, one resolved, one update: %v", calls)
	first := "1700000000.000001"
	assert.True(t, strings.HasPrefix(calls[1], "chat.postMessage|"+first+"|"), "the resolve goes to the thread: %s", calls[1])
	assert.True(t, strings.HasPrefix(calls[2], "chat.update||"+first+"|"), "the first message is updated: %s", calls[2])
	resolved := td.logs.Lines(`msg="alert resolved"`)
	require.Len(t, resolved, 1)
	assert.Regexp(t, `check=shop slo=availability burn_rate=[0-9.]+ observed="success [0-9.]+% and [0-9.]+% ≥ 95% over 4s and 2s" fired_for=`, resolved[0])
	assert.NotContains(t, td.logs.String(), "xoxb-slack-sekret")
}

// delivered waits until the alert manager's outbox is empty: every
// notification queued so far has been sent (or given up).
func (td *testDaemon) delivered() {
	td.t.Helper()
	var n int
	td.waitFor(func() bool {
		p, err := td.d.store.Pending()
		require.NoError(td.t, err)
		n = len(p)
		return n == 0
	}, func() string { return fmt.Sprintf("%d notifications still queued", n) })
}
