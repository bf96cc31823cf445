package daemon

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/demotarget"
)

// The snippets of docs/gates.md's Flagger and Spinnaker sections are files
// under deploy/, included verbatim; these tests feed them to the daemon as
// Flagger and Spinnaker would.

// docTokenPlaceholder is the run token the snippets carry; the tests' daemon
// uses it as its run_token, so that the snippets are sent as written.
const docTokenPlaceholder = "REPLACE-WITH-SERVER-RUN-TOKEN"

// included returns a file under deploy/ and checks that docs/gates.md holds
// it verbatim in a fenced block of lang.
func included(t *testing.T, path, lang string) []byte {
	t.Helper()
	snippet, err := os.ReadFile(filepath.Join("..", path))
	require.NoError(t, err)
	doc, err := os.ReadFile("../docs/gates.md")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(doc), "```"+lang+"\n"+string(snippet)+"```\n"),
		"docs/gates.md must include %s verbatim, in a ```%s block", path, lang)
	return snippet
}

// startForDocs runs a daemon with the check the snippets name, "checkout",
// and the profile file they name; on-demand runs of it last a second.
func startForDocs(t *testing.T) *testDaemon {
	t.Helper()
	td := startWith(t, "  run_token: "+docTokenPlaceholder+"\n", `  - name: checkout
    scenario: shop.yaml
    profile: {rate: 5/s}
    slos:
      - {name: availability, success: 95%}
    window: 5m
`)
	require.NoError(t, os.MkdirAll(filepath.Join(td.dir, "profiles"), 0o755))
	require.NoError(t, writeFile(filepath.Join(td.dir, "profiles", "canary-load.yaml"), "constant: {target: 5, duration: 1s}\n"))
	return td
}

// canaryWebhook is Flagger's CanaryWebhook (fluxcd/flagger
// pkg/apis/flagger/v1beta1/canary.go), with its field names.
type canaryWebhook struct {
	Type       string            `yaml:"type"`
	Name       string            `yaml:"name"`
	URL        string            `yaml:"url"`
	MuteAlert  bool              `yaml:"muteAlert"`
	Timeout    string            `yaml:"timeout"`
	Metadata   map[string]string `yaml:"metadata"`
	Retries    int               `yaml:"retries"`
	DisableTLS bool              `yaml:"disableTLS"`
}

// Flagger's CRD (artifacts/flagger/crd.yaml) on a webhook's fields.
var (
	crdHookTypes = []string{"", "confirm-rollout", "pre-rollout", "rollout", "confirm-promotion", "post-rollout", "event", "rollback", "confirm-traffic-increase"}
	crdTimeout   = regexp.MustCompile(`^[0-9]+(m|s)`)
)

// child is the value of key in a YAML mapping node.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func TestDocsFlaggerCanary(t *testing.T) {
	snippet := included(t, "deploy/flagger/canary.yaml", "yaml")
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(snippet, &doc))
	root := doc.Content[0]
	assert.Equal(t, "flagger.app/v1beta1", child(root, "apiVersion").Value)
	assert.Equal(t, "Canary", child(root, "kind").Value)
	hooksNode := child(child(child(root, "spec"), "analysis"), "webhooks")
	require.NotNil(t, hooksNode, "spec.analysis.webhooks")

	// Strictly as Flagger's type: a key it does not know would be dropped
	// by the API server.
	raw, err := yaml.Marshal(hooksNode)
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var hooks []canaryWebhook
	require.NoError(t, dec.Decode(&hooks))
	require.NotEmpty(t, hooks)

	td := startForDocs(t)
	revision := flaggerWebhookPayload{Name: child(child(root, "metadata"), "name").Value,
		Namespace: child(child(root, "metadata"), "namespace").Value, Phase: "Progressing", Checksum: "7d9c5f6b8"}
	call := map[string]func() flaggerResult{}
	for i, h := range hooks {
		require.Contains(t, crdHookTypes, h.Type, h.Name)
		require.NotEmpty(t, h.Name)
		if h.Timeout != "" {
			assert.Regexp(t, crdTimeout, h.Timeout, h.Name)
		}
		// The CRD wants metadata values to be strings: YAML must read them so.
		meta := child(hooksNode.Content[i], "metadata")
		for j := 1; j < len(meta.Content); j += 2 {
			assert.Equal(t, "!!str", meta.Content[j].ShortTag(), "%s: metadata.%s must be a string", h.Name, meta.Content[j-1].Value)
		}
		assert.Equal(t, docTokenPlaceholder, h.Metadata["token"], h.Name)

		u, err := url.Parse(h.URL)
		require.NoError(t, err)
		assert.Equal(t, "/api/v1/flagger/checkout/"+h.Type, u.Path, "%s: the route of its type", h.Name)
		target := td.base + u.Path
		p := revision
		p.Metadata = h.Metadata
		call[h.Type] = func() flaggerResult { return callAsFlagger(t, target, p) }
	}
	require.Contains(t, call, "rollout")
	require.Contains(t, call, "rollback")
	require.Contains(t, call, "confirm-promotion")

	r := call["rollout"]()
	require.Equal(t, 202, r.status, r.raw)
	assert.True(t, r.ok, "the load test started")
	r = call["confirm-promotion"]()
	assert.False(t, r.ok, "the promotion holds while the load test runs: %s", r.raw)
	r = call["rollback"]()
	assert.False(t, r.ok, "no rollback: %s", r.raw)
	require.Eventually(t, func() bool { r = call["rollout"](); return r.body.Result != "running" }, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, 200, r.status, "passed: %s", r.raw)
	r = call["confirm-promotion"]()
	assert.Equal(t, 200, r.status, "promote: %s", r.raw)
	r = call["rollback"]()
	assert.False(t, r.ok, "still no rollback: %s", r.raw)
	_, _, run := td.do("GET", strings.TrimPrefix(r.body.Location, td.base), "", nil)
	assert.Equal(t, 5.0, run["report"].(map[string]any)["iterations"].(map[string]any)["total"], "the profile file the metadata names")
}

// orcaStage holds the fields of Spinnaker's webhook stage
// (orca-webhook WebhookStage.StageData) that a pipeline's JSON may set,
// with the stage's own type and name.
type orcaStage struct {
	Type                string         `json:"type"`
	Name                string         `json:"name"`
	URL                 string         `json:"url"`
	Method              string         `json:"method"`
	Payload             any            `json:"payload"`
	CustomHeaders       map[string]any `json:"customHeaders"`
	WaitForCompletion   bool           `json:"waitForCompletion"`
	StatusURLResolution string         `json:"statusUrlResolution"`
	StatusURLJSONPath   string         `json:"statusUrlJsonPath"`
	StatusEndpoint      string         `json:"statusEndpoint"`
	StatusJSONPath      string         `json:"statusJsonPath"`
	ProgressJSONPath    string         `json:"progressJsonPath"`
	SuccessStatuses     string         `json:"successStatuses"`
	CanceledStatuses    string         `json:"canceledStatuses"`
	TerminalStatuses    string         `json:"terminalStatuses"`
	RetryStatusCodes    []int          `json:"retryStatusCodes"`
	FailFastStatusCodes []int          `json:"failFastStatusCodes"`
	WaitBeforeMonitor   int            `json:"waitBeforeMonitor"`
}

// spel evaluates the only expression the snippet uses, as orca would.
func spel(s, executionID string) string {
	return strings.ReplaceAll(s, "${execution.id}", executionID)
}

func spelAll(v any, executionID string) any {
	switch v := v.(type) {
	case string:
		return spel(v, executionID)
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			out[k] = spelAll(x, executionID)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = spelAll(x, executionID)
		}
		return out
	}
	return v
}

// jsonPath reads a "$.a.b" path, the only form the snippet needs.
func jsonPath(t *testing.T, body []byte, path string) any {
	t.Helper()
	require.Regexp(t, `^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$`, path, "the test reads only $.a.b paths")
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	for _, k := range strings.Split(path, ".")[1:] {
		m, ok := v.(map[string]any)
		require.True(t, ok, "%s: %s is not an object", path, k)
		v = m[k]
	}
	return v
}

// orcaStatus maps a status the way MonitorWebhookTask does: the lists are
// comma-separated and compared in upper case; a status in none of them
// means the stage is still running.
func orcaStatus(st orcaStage, status string) string {
	m := map[string]string{}
	for _, l := range []struct{ list, result string }{
		{st.SuccessStatuses, "SUCCEEDED"}, {st.CanceledStatuses, "CANCELED"}, {st.TerminalStatuses, "TERMINAL"},
	} {
		if l.list == "" {
			continue
		}
		for _, s := range strings.Split(l.list, ",") {
			m[strings.ToUpper(strings.TrimSpace(s))] = l.result
		}
	}
	if r, ok := m[strings.ToUpper(status)]; ok {
		return r
	}
	return "RUNNING"
}

// runAsOrca runs the stage as orca's webhook tasks do and returns the
// statuses it went through, ending with a terminal one.
func runAsOrca(t *testing.T, st orcaStage, base, executionID string) []string {
	t.Helper()
	hook, err := url.Parse(spel(st.URL, executionID))
	require.NoError(t, err)
	// The pipeline's URL, pointed at the tests' daemon.
	stageURL := base + hook.Path
	body, err := json.Marshal(spelAll(st.Payload, executionID))
	require.NoError(t, err)
	header := http.Header{"Content-Type": {"application/json"}}
	for k, v := range st.CustomHeaders {
		header.Set(k, spel(fmt.Sprint(v), executionID))
	}
	req, err := http.NewRequest(st.Method, stageURL, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.True(t, resp.StatusCode >= 200 && resp.StatusCode < 300, "CreateWebhookTask: %d %s", resp.StatusCode, raw)

	require.Equal(t, "locationHeader", st.StatusURLResolution)
	// WebhookStatusCheckUrlRetriever takes Location as given; java.net.URI
	// then needs a scheme and a host, or the stage is TERMINAL.
	statusURL := resp.Header.Get("Location")
	loc, err := url.Parse(statusURL)
	require.NoError(t, err)
	require.True(t, loc.IsAbs() && loc.Host != "", "Location %q is not an absolute URI", statusURL)
	su, _ := url.Parse(stageURL)
	if loc.Host == su.Host && loc.Scheme != su.Scheme {
		statusURL = su.Scheme + "://" + strings.SplitN(statusURL, "://", 2)[1]
	}

	var seen []string
	ended := func() bool {
		req, err := http.NewRequest("GET", statusURL, nil)
		require.NoError(t, err)
		req.Header = header.Clone()
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s", raw)
		status, ok := jsonPath(t, raw, st.StatusJSONPath).(string)
		require.True(t, ok, "%s must be a string: %s", st.StatusJSONPath, raw)
		r := orcaStatus(st, status)
		if len(seen) == 0 || seen[len(seen)-1] != r {
			seen = append(seen, r)
		}
		return r != "RUNNING"
	}
	// orca polls every few seconds; a run here lasts one.
	if !ended() {
		require.Eventually(t, ended, 30*time.Second, 100*time.Millisecond, "still RUNNING: %v", seen)
	}
	return seen
}

func TestDocsSpinnakerWebhookStage(t *testing.T) {
	snippet := included(t, "deploy/spinnaker/webhook-stage.json", "json")
	var st orcaStage
	dec := json.NewDecoder(bytes.NewReader(snippet))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&st), "a field orca's webhook stage does not have")
	assert.Equal(t, "webhook", st.Type)
	assert.True(t, st.WaitForCompletion, "without it orca does not monitor the run")
	assert.Contains(t, []string{"getMethod", "locationHeader", "webhookResponse"}, st.StatusURLResolution)
	assert.Equal(t, "Bearer "+docTokenPlaceholder, st.CustomHeaders["Authorization"])

	td := startForDocs(t)
	// Unmatched statuses ("running") keep the stage RUNNING until the run
	// ends.
	seen := runAsOrca(t, st, td.base, "01JEXEC0001")
	assert.Equal(t, "SUCCEEDED", seen[len(seen)-1], "a healthy target: %v", seen)
	assert.True(t, slices.Contains([]string{"RUNNING"}, seen[0]), "the run starts RUNNING: %v", seen)

	// The same execution (orca retrying) joins the same run.
	require.Equal(t, []string{"SUCCEEDED"}, runAsOrca(t, st, td.base, "01JEXEC0001"))

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	seen = runAsOrca(t, st, td.base, "01JEXEC0002")
	assert.Equal(t, []string{"RUNNING", "TERMINAL"}, seen, "a failing target stops the pipeline")
}
