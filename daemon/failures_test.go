package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/redact"
)

// brokenShop answers its login with a 503 and its profile with a JSON
// body whose field is wrong.
func brokenShop() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "overloaded: try later")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"user":{"id":"seven"}}`)
	})
}

const brokenScenario = `name: broken
vars: {base: "${TARGET}"}
steps:
  - name: login
    request:
      method: POST
      url: "{{ .base }}/login"
      headers: {Authorization: "Bearer ${API_KEY}"}
      json: {user: ada, key: "${API_KEY}"}
    expect: {status: 200}
    continue_on_failure: true
  - name: profile
    request: {url: "{{ .base }}/me"}
    expect:
      json: {user.id: {gt: 0}}
`

// webhook records the Slack payloads posted to it.
type webhook struct {
	mu       sync.Mutex
	payloads []string
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.payloads = append(h.payloads, string(b))
	h.mu.Unlock()
	fmt.Fprint(w, "ok")
}

func (h *webhook) got() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.payloads...)
}

// A check's failing exchanges are sampled, redacted, served at
// /api/v1/checks/{name}/failures, and the top one goes out with the page.
func TestFailureSamplesInTheAPIAndTheAlert(t *testing.T) {
	target := httptest.NewServer(brokenShop())
	defer target.Close()
	hook := &webhook{}
	slackSrv := httptest.NewServer(hook)
	defer slackSrv.Close()

	td := start(t, shopCheck)
	td.stop()
	require.NoError(t, writeFile(filepath.Join(td.dir, "broken.yaml"), brokenScenario))
	cfg := strings.Replace(configYAML(`  - name: broken
    scenario: broken.yaml
    profile: {rate: 10/s}
    slos:
      - "errors(login) < 1%"
    window: 3s
    min_samples: 5
`), "alerting:\n", "alerting:\n  slack: {webhook_url: \""+slackSrv.URL+"/hook\"}\n", 1)
	require.NoError(t, writeFile(td.cfg, cfg))
	td.env["TARGET"] = target.URL
	td.run()

	var doc struct {
		Check    string
		Failures struct {
			Groups []struct {
				Step, Class, Assertion string
				Status                 int
				Count                  int64
				Samples                []json.RawMessage
			}
		}
	}
	require.Eventually(t, func() bool {
		code, _, m := td.do("GET", "/api/v1/checks/broken/failures", "", nil)
		if code != 200 {
			return false
		}
		b, _ := json.Marshal(m)
		return json.Unmarshal(b, &doc) == nil && len(doc.Failures.Groups) == 2
	}, 15*time.Second, 200*time.Millisecond, "both kinds of failure are sampled")
	raw := td.raw("/api/v1/checks/broken/failures")
	kinds := map[string]bool{}
	for _, g := range doc.Failures.Groups {
		kinds[fmt.Sprintf("%s %s %d %s", g.Step, g.Class, g.Status, g.Assertion)] = true
		assert.NotEmpty(t, g.Samples)
	}
	assert.Equal(t, map[string]bool{"login http_status 503 ": true, "profile assertion 0 json": true}, kinds)
	assert.Contains(t, raw, `"name": "Authorization",`)
	assert.Contains(t, raw, `"value": "`+redact.Placeholder+`"`, "the secret header")
	assert.Contains(t, raw, `"body": "{\"key\":\"`+redact.Placeholder+`\",\"user\":\"ada\"}"`, "the ${VAR} body value")
	assert.Contains(t, raw, `"body": "overloaded: try later"`)
	assert.Contains(t, raw, `"actual": "\"seven\""`, "the failed assertion's actual value")
	assert.NotContains(t, raw, "apikey-very-secret")
	code, _, _ := td.do("GET", "/api/v1/checks/nope/failures", "", nil)
	assert.Equal(t, 404, code)

	require.Eventually(t, func() bool { return len(hook.got()) >= 1 }, 20*time.Second, 200*time.Millisecond, "the alert fires")
	var msg struct {
		Text   string
		Blocks []struct {
			Type string
			Text struct{ Text string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(hook.got()[0]), &msg))
	assert.Contains(t, msg.Text, "; top failure: step login: POST &lt;redacted&gt;/login: status 503, want 200",
		"the target's URL came from ${TARGET}: a secret like any ${VAR}")
	require.Len(t, msg.Blocks, 4)
	sample := msg.Blocks[2].Text.Text
	assert.Contains(t, sample, "*Top failure lately* (")
	assert.Contains(t, sample, "```POST &lt;redacted&gt;/login\n&lt; 503\n")
	assert.Contains(t, sample, "&lt; Retry-After: 5\n&lt; overloaded: try later\nstatus: want 200, got 503\ntotal ")
	assert.NotContains(t, hook.got()[0], "apikey-very-secret")
}

// An on-demand run behind a gate stops as soon as an objective with
// abort_on_fail is lost, and fails: a minute planned, over in seconds.
func TestOnDemandRunAbortsOnALostObjective(t *testing.T) {
	target := httptest.NewServer(brokenShop())
	defer target.Close()
	td := start(t, shopCheck)
	td.stop()
	require.NoError(t, writeFile(filepath.Join(td.dir, "broken.yaml"), brokenScenario))
	require.NoError(t, writeFile(td.cfg, configYAML(`  - name: broken
    scenario: broken.yaml
    profile: {rate: 1/10s}
    slos:
      - {expr: "errors(login) < 1%", abort_on_fail: true}
`)))
	td.env["TARGET"] = target.URL
	td.run()

	began := time.Now()
	code, hdr, _ := td.do("POST", "/api/v1/runs", token, map[string]any{"check": "broken", "profile": map[string]any{"rate": "20/s"}, "duration": "1m"})
	require.Equal(t, 202, code)
	loc := strings.TrimPrefix(hdr.Get("Location"), td.base)
	var run map[string]any
	require.Eventually(t, func() bool {
		_, _, run = td.do("GET", loc, "", nil)
		return run["status"] != "running"
	}, 30*time.Second, 200*time.Millisecond)
	assert.Less(t, time.Since(began), 30*time.Second, "not the minute planned")
	assert.Equal(t, "failed", run["status"])
	report := run["report"].(map[string]any)
	aborted := report["aborted_by"].(map[string]any)
	assert.Equal(t, "errors(login)<1% abort_on_fail", aborted["objective"])
	assert.Contains(t, aborted["reason"], "errors of login: ")
	reasons := fmt.Sprint(run["reasons"])
	assert.Contains(t, reasons, "aborted after ")
	assert.NotNil(t, report["failures"], "the run's report has its failure samples")
}
