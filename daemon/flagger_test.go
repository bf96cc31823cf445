package daemon

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
)

const runToken = "run-tok-sekret-5678"

// flaggerWebhookPayload is Flagger's CanaryWebhookPayload
// (fluxcd/flagger pkg/apis/flagger/v1beta1/canary.go), field for field, so
// that the tests send what Flagger sends.
type flaggerWebhookPayload struct {
	Name      string            `json:"name"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Checksum  string            `json:"checksum"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// flaggerResult is one webhook call as Flagger sees it.
type flaggerResult struct {
	status int
	ok     bool // Flagger's verdict on the call
	header http.Header
	body   flaggerAnswer
	raw    string
}

// callAsFlagger calls a webhook the way Flagger's callWebhook does
// (pkg/controller/webhook.go): a POST of the JSON payload with only a
// Content-Type header, and any status above 202 is a failure.
func callAsFlagger(t *testing.T, hookURL string, p flaggerWebhookPayload) flaggerResult {
	t.Helper()
	b, err := json.Marshal(p)
	require.NoError(t, err)
	req, err := http.NewRequest("POST", hookURL, bytes.NewReader(b))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	r := flaggerResult{status: resp.StatusCode, ok: resp.StatusCode <= 202, header: resp.Header, raw: string(raw)}
	require.NoError(t, json.Unmarshal(raw, &r.body), "%s", raw)
	return r
}

// eventPayload is what Flagger's CallEventWebhook sends: its own keys in
// the metadata, then the webhook's where they do not clash.
func eventPayload(p flaggerWebhookPayload, msg string) flaggerWebhookPayload {
	meta := map[string]string{"eventMessage": msg, "eventType": "Normal", "timestamp": strconv.FormatInt(time.Now().UnixMilli(), 10)}
	for k, v := range p.Metadata {
		if _, ok := meta[k]; !ok {
			meta[k] = v
		}
	}
	p.Metadata = meta
	return p
}

func revision(checksum string, meta map[string]string) flaggerWebhookPayload {
	return flaggerWebhookPayload{Name: "podinfo", Namespace: "test", Phase: "Progressing", Checksum: checksum, Metadata: meta}
}

// Every hook type takes the token from metadata.token, as Flagger cannot
// send headers; the run token works there and for POST /api/v1/runs, and
// nowhere else; no token is ever logged or echoed.
func TestFlaggerWebhooksAuth(t *testing.T) {
	td := startWith(t, "  run_token: \"${RUN_TOKEN}\"\n", shopCheck)
	for _, hook := range flaggerHooks {
		for _, tc := range []struct {
			name   string
			meta   map[string]string
			header string
			status int // 0: any status but 401 and 403
		}{
			{name: "no metadata", status: 401},
			{name: "no token", meta: map[string]string{"window": "2s"}, status: 401},
			{name: "wrong token", meta: map[string]string{"token": "nope"}, status: 401},
			{name: "the token in another case", meta: map[string]string{"token": strings.ToUpper(runToken)}, status: 401},
			{name: "run token", meta: map[string]string{"token": runToken, "duration": "1s"}},
			{name: "auth token", meta: map[string]string{"token": token, "duration": "1s"}},
			{name: "bearer header, for callers that can send one", header: "Bearer " + runToken, meta: map[string]string{"duration": "1s"}},
		} {
			t.Run(hook+"/"+tc.name, func(t *testing.T) {
				b, _ := json.Marshal(revision("auth-"+hook, tc.meta))
				h := map[string]string{"Content-Type": "application/json"}
				if tc.header != "" {
					h["Authorization"] = tc.header
				}
				code, _, resp := td.send("POST", "/api/v1/flagger/shop/"+hook, h, string(b))
				if tc.status != 0 {
					require.Equal(t, tc.status, code, resp)
					assert.Contains(t, resp, "metadata.token")
				} else {
					require.NotContains(t, []int{401, 403}, code, resp)
				}
				assert.NotContains(t, resp, runToken)
				assert.NotContains(t, resp, token)
			})
		}
	}
	// The run token starts runs and nothing else.
	code, _, resp := td.send("POST", "/api/v1/runs", bearer(runToken), `{"check":"shop","profile":{"rate":"5/s"},"duration":"1s"}`)
	assert.Equal(t, 202, code, resp)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/-/reload", ""},
		{"POST", "/api/v1/silences", `{"matchers":{"check":"shop"},"duration":"1h"}`},
		{"DELETE", "/api/v1/silences/x", ""},
	} {
		code, _, _ := td.send(c.method, c.path, bearer(runToken), c.body)
		assert.Equal(t, 401, code, "%s %s with the run token", c.method, c.path)
	}
	td.stop()
	assert.NotContains(t, td.logs.String(), runToken)
	assert.NotContains(t, td.logs.String(), token)
}

// Without either token the webhooks are off, not open.
func TestFlaggerWebhooksNeedAToken(t *testing.T) {
	td := start(t, shopCheck)
	require.NoError(t, writeFile(td.cfg, strings.Replace(configYAML(shopCheck), "  auth_token: \"${CANARY_TOKEN}\"\n", "", 1)))
	code, _, resp := td.send("POST", "/-/reload", bearer(token), "")
	require.Equal(t, 200, code, resp)
	b, _ := json.Marshal(revision("c1", map[string]string{"token": ""}))
	code, _, resp = td.send("POST", "/api/v1/flagger/shop/rollout", nil, string(b))
	assert.Equal(t, 403, code, resp)
	assert.Contains(t, resp, "server.run_token")
}

// A canary revision's pre-rollout and rollout hooks start one run and join
// it: 202 while it runs, 200 once it passed; the confirm hooks say yes only
// then, and rollback says no. A new revision gets a new run; when it fails,
// rollout fails (412, so Flagger rolls back at its threshold), rollback
// says yes and the confirm hooks hold.
func TestFlaggerRolloutOfTwoRevisions(t *testing.T) {
	td := startWith(t, "  run_token: \"${RUN_TOKEN}\"\n", shopCheck)
	hook := func(name string) string { return td.base + "/api/v1/flagger/shop/" + name }
	meta := map[string]string{"token": runToken, "profile": `{"rate": "5/s"}`, "duration": "1s"}

	// Revision 1: a healthy target.
	r := callAsFlagger(t, hook("pre-rollout"), revision("rev1", meta))
	require.Equal(t, 202, r.status, r.raw)
	assert.True(t, r.ok, "202 is a success to Flagger")
	assert.Equal(t, "running", r.body.Result)
	loc, err := url.Parse(r.header.Get("Location"))
	require.NoError(t, err)
	assert.True(t, loc.IsAbs(), "Location %q", loc)
	run1 := r.body.Run
	require.NotEmpty(t, run1)

	r = callAsFlagger(t, hook("confirm-promotion"), revision("rev1", meta))
	assert.Equal(t, 503, r.status, "not while the run runs: %s", r.raw)
	assert.False(t, r.ok, "Flagger holds the promotion")

	r = callAsFlagger(t, hook("rollout"), revision("rev1", meta))
	assert.Equal(t, run1, r.body.Run, "rollout joins pre-rollout's run")
	require.Eventually(t, func() bool {
		r = callAsFlagger(t, hook("rollout"), revision("rev1", meta))
		return r.body.Result != "running"
	}, 20*time.Second, 100*time.Millisecond)
	require.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, "passed", r.body.Result)
	assert.Equal(t, run1, r.body.Run)

	r = callAsFlagger(t, hook("confirm-promotion"), revision("rev1", meta))
	assert.Equal(t, 200, r.status, r.raw)
	r = callAsFlagger(t, hook("confirm-traffic-increase"), revision("rev1", meta))
	assert.Equal(t, 200, r.status, r.raw)
	r = callAsFlagger(t, hook("rollback"), revision("rev1", meta))
	assert.Equal(t, 409, r.status, r.raw)
	assert.False(t, r.ok, "no rollback")

	// The run is the one POST /api/v1/runs would have started: 5/s for 1 s.
	_, _, doc := td.do("GET", loc.Path, "", nil)
	assert.Equal(t, 5.0, doc["report"].(map[string]any)["iterations"].(map[string]any)["total"])

	// Revision 2: the target fails every request.
	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	r = callAsFlagger(t, hook("rollout"), revision("rev2", meta))
	require.Equal(t, 202, r.status, r.raw)
	assert.NotEqual(t, run1, r.body.Run, "a new revision, a new run")
	require.Eventually(t, func() bool {
		r = callAsFlagger(t, hook("rollout"), revision("rev2", meta))
		return r.body.Result != "running"
	}, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, 412, r.status, r.raw)
	assert.False(t, r.ok, "Flagger counts a failed check")
	assert.Equal(t, "failed", r.body.Result)
	assert.NotEmpty(t, r.body.Reasons, "Flagger logs the body of a failed call")

	r = callAsFlagger(t, hook("rollback"), revision("rev2", meta))
	assert.Equal(t, 200, r.status, r.raw)
	assert.True(t, r.ok, "Flagger rolls back at once")
	for _, h := range []string{"confirm-rollout", "confirm-promotion"} {
		r = callAsFlagger(t, hook(h), revision("rev2", meta))
		assert.Equal(t, 412, r.status, "%s: %s", h, r.raw)
	}
	// Revision 1's answers have not changed.
	r = callAsFlagger(t, hook("rollout"), revision("rev1", meta))
	assert.Equal(t, 200, r.status, r.raw)

	_, _, list := td.do("GET", "/api/v1/runs", "", nil)
	assert.Len(t, list["runs"], 2, "one run per revision")
}

// Hooks without a run for the revision answer with the check's verdict
// over the window the metadata asks for.
func TestFlaggerHooksWithoutARunFollowTheVerdict(t *testing.T) {
	td := startWith(t, "  run_token: \"${RUN_TOKEN}\"\n", shopCheck)
	hook := func(name string) string { return td.base + "/api/v1/flagger/shop/" + name }
	meta := map[string]string{"token": runToken, "window": "2s"}

	require.Eventually(t, func() bool {
		return callAsFlagger(t, hook("confirm-rollout"), revision("v1", meta)).status == 200
	}, 15*time.Second, 200*time.Millisecond, "a passing check confirms")
	r := callAsFlagger(t, hook("rollback"), revision("v1", meta))
	assert.Equal(t, 409, r.status, r.raw)

	require.NoError(t, td.demo.SetFaults(demotarget.Faults{ErrorRatio: 1, PathPrefix: "/products"}))
	require.Eventually(t, func() bool {
		return callAsFlagger(t, hook("rollback"), revision("v1", meta)).status == 200
	}, 15*time.Second, 200*time.Millisecond, "a failing check rolls back")
	r = callAsFlagger(t, hook("confirm-promotion"), revision("v1", meta))
	assert.Equal(t, 412, r.status, r.raw)
	assert.Equal(t, "fail", r.body.Verdict)
	assert.Contains(t, strings.Join(r.body.Reasons, "\n"), "over 2s", "judged over the metadata's window")

	r = callAsFlagger(t, hook("confirm-promotion"), revision("v1", map[string]string{"token": runToken, "window": "forever"}))
	assert.Equal(t, 400, r.status, r.raw)
	assert.Contains(t, r.body.Message, `window "forever"`)
}

// post-rollout and event hooks are recorded and answered 200; the payload
// is Flagger's, extra fields and all; bad calls are told why.
func TestFlaggerRecordsAndRefuses(t *testing.T) {
	td := startWith(t, "  run_token: \"${RUN_TOKEN}\"\n", shopCheck)
	hook := func(name string) string { return td.base + "/api/v1/flagger/shop/" + name }
	meta := map[string]string{"token": runToken}

	r := callAsFlagger(t, hook("event"), eventPayload(revision("ev1", meta), "New revision detected! Scaling up podinfo.test"))
	assert.Equal(t, 200, r.status, r.raw)
	assert.Equal(t, "recorded", r.body.Result)
	p := revision("ev1", meta)
	p.Phase = "Succeeded"
	r = callAsFlagger(t, hook("post-rollout"), p)
	assert.Equal(t, 200, r.status, r.raw)
	logs := td.logs.String()
	assert.Contains(t, logs, `msg="flagger webhook" hook=event check=shop canary=test/podinfo phase=Progressing checksum=ev1 event_type=Normal event="New revision detected! Scaling up podinfo.test"`)
	assert.Contains(t, logs, `hook=post-rollout check=shop canary=test/podinfo phase=Succeeded`)

	for _, tc := range []struct {
		name, path, body string
		status           int
		msg              string
	}{
		{name: "fields Flagger may add are ignored", path: "/api/v1/flagger/shop/event",
			body: `{"name":"podinfo","namespace":"test","phase":"Progressing","checksum":"c","metadata":{"token":"` + runToken + `"},"buildId":"7"}`, status: 200},
		{name: "unknown hook", path: "/api/v1/flagger/shop/pre-promotion", body: `{}`, status: 404, msg: `no Flagger hook type \"pre-promotion\"; want one of confirm-rollout, `},
		{name: "unknown check", path: "/api/v1/flagger/nope/rollout", body: `{"name":"podinfo","checksum":"c","metadata":{"token":"` + runToken + `"}}`, status: 404, msg: `no check \"nope\"`},
		{name: "no body", path: "/api/v1/flagger/shop/rollout", body: ``, status: 400, msg: "want Flagger's webhook payload, got nothing"},
		{name: "not JSON", path: "/api/v1/flagger/shop/rollout", body: `name=podinfo`, status: 400, msg: "body: invalid character"},
		{name: "metadata not strings", path: "/api/v1/flagger/shop/rollout", body: `{"name":"podinfo","metadata":{"token":1}}`, status: 400, msg: "body: json: cannot unmarshal number"},
		{name: "no checksum", path: "/api/v1/flagger/shop/rollout", body: `{"name":"podinfo","namespace":"test","phase":"Progressing","metadata":{"token":"` + runToken + `"}}`, status: 400, msg: "no checksum"},
		{name: "bad duration", path: "/api/v1/flagger/shop/rollout", body: `{"name":"podinfo","checksum":"c2","metadata":{"token":"` + runToken + `","duration":"soon"}}`, status: 400, msg: "duration: want a positive duration"},
		{name: "profile outside the config's directory", path: "/api/v1/flagger/shop/rollout", body: `{"name":"podinfo","checksum":"c3","metadata":{"token":"` + runToken + `","profile":"/etc/passwd"}}`, status: 400, msg: "relative to the config's directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, resp := td.send("POST", tc.path, map[string]string{"Content-Type": "application/json"}, tc.body)
			require.Equal(t, tc.status, code, resp)
			assert.Contains(t, resp, tc.msg)
			assert.NotContains(t, resp, "root:")
		})
	}
	_, _, metrics := td.send("GET", "/metrics", bearer(token), "")
	assert.Equal(t, 2.0, counter(metrics, `canary_flagger_webhooks_total{code="200",hook="event"}`))
	assert.Equal(t, 1.0, counter(metrics, `canary_flagger_webhooks_total{code="200",hook="post-rollout"}`))
}
