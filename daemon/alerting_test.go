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
func TestAlertsThroughSlack(t *testing.T) {
	api := &slackAPI{}
	slackSrv := httptest.NewServer(api)
	defer slackSrv.Close()
	td := start(t, shopCheck)
	td.stop()
	writeCfg := func() {
		t.Helper()
		cfg := strings.Replace(configYAML(shopCheck), "alerting:\n", "alerting:\n  slack: {token: \"${SLACK_TOKEN}\", channel: \"#alerts\", api_url: \""+slackSrv.URL+"/\"}\n  repeat_interval: 1h\n", 1)
		require.NoError(t, writeFile(td.cfg, cfg))
	}
	writeCfg()
	td.env["SLACK_TOKEN"] = "xoxb-slack-sekret"
	td.run()

	// Healthy for a while: nothing.
	time.Sleep(3 * time.Second)
	assert.Empty(t, api.got(), "a healthy target pages nobody")

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	require.Eventually(t, func() bool { return len(api.got()) >= 1 }, 15*time.Second, 200*time.Millisecond, "the burn-rate alert fires")
	time.Sleep(3 * time.Second) // still failing: no second page
	calls := api.got()
	require.Len(t, calls, 1, "exactly one firing message")
	assert.True(t, strings.HasPrefix(calls[0], "chat.postMessage|||"), calls[0])
	assert.Contains(t, td.raw("/metrics"), `canary_alerts_firing{check="shop",slo="availability"} 1`)

	// The daemon restarts while the alert fires.
	td.stop()
	td.run()
	require.NoError(t, td.demo.SetFaults(demotarget.Faults{}))
	require.Eventually(t, func() bool { return len(api.got()) >= 3 }, 20*time.Second, 200*time.Millisecond, "the alert resolves")
	time.Sleep(2 * time.Second)
	calls = api.got()
	require.Len(t, calls, 3, "one firing, one resolved, one update: %v", calls)
	first := "1700000000.000001"
	assert.True(t, strings.HasPrefix(calls[1], "chat.postMessage|"+first+"|"), "the resolve goes to the thread: %s", calls[1])
	assert.True(t, strings.HasPrefix(calls[2], "chat.update||"+first+"|"), "the first message is updated: %s", calls[2])
	assert.NotContains(t, td.logs.String(), "xoxb-slack-sekret")
}
