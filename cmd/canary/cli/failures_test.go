package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// The secrets of the scenario below: a header's and a JSON body's value.
var secretEnv = map[string]string{"API_TOKEN": "tok-0123456789abcdef", "PASSWORD": "hunter2-very-secret"}

const failingScenario = `name: shop
steps:
  - name: login
    request:
      method: POST
      url: "%s/login"
      headers: {Authorization: "Bearer ${API_TOKEN}"}
      json: {user: ada, password: "${PASSWORD}"}
    expect: {status: 200}
    continue_on_failure: true
  - name: profile
    request: {url: "%s/me"}
    expect:
      json: {user.id: {gt: 0}}
`

// shopTarget answers login with a 503 and the profile with a wrong JSON
// field.
func shopTarget(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/login" {
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "overloaded: try later")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"user":{"id":"seven"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runCLIEnv runs the CLI with env as its environment.
func runCLIEnv(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunEnv(context.Background(), args, Env{Stdout: &out, Stderr: &errb,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	return code, out.String(), errb.String()
}

// One run against a target that answers a 503 and a wrong JSON field:
// both failures are sampled, redacted, in every output — the summary, the
// JSON report, JUnit and HTML.
func TestFailureSamplesInEveryOutput(t *testing.T) {
	srv := shopTarget(t)
	dir := t.TempDir()
	sc := filepath.Join(dir, "shop.yaml")
	require.NoError(t, os.WriteFile(sc, []byte(fmt.Sprintf(failingScenario, srv.URL, srv.URL)), 0o644))
	out, html, junit := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.html"), filepath.Join(dir, "r.xml")
	code, stdout, stderr := runCLIEnv(t, secretEnv, "run", sc, "--iterations", "5", "--quiet", "--out", out, "--html", html, "--junit", junit)
	assert.Equal(t, ExitSLOFailed, code, "no SLOs: any failure fails; %s", stderr)

	files := map[string]string{"summary": stdout}
	for name, path := range map[string]string{"json": out, "html": html, "junit": junit} {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		files[name] = string(b)
	}
	for name, text := range files {
		for _, secret := range secretEnv {
			assert.NotContains(t, text, secret, "%s: no secret", name)
		}
	}

	// The JSON report: both kinds, with their exchanges.
	var rep stats.Report
	require.NoError(t, json.Unmarshal([]byte(files["json"]), &rep))
	require.NotNil(t, rep.Failures)
	require.Len(t, rep.Failures.Groups, 2)
	byStep := map[string]stats.FailureGroup{}
	for _, g := range rep.Failures.Groups {
		byStep[g.Step] = g
	}
	login, profile := byStep["login"], byStep["profile"]
	assert.Equal(t, int64(5), login.Count)
	assert.Equal(t, 503, login.Status)
	require.NotEmpty(t, login.Samples)
	ls := login.Samples[0]
	assert.Contains(t, ls.Request.Headers, stats.SampleHeader{Name: "Authorization", Value: "<redacted>"}, "the secret header")
	assert.Equal(t, `{"password":"<redacted>","user":"ada"}`, ls.Request.Body, "the ${VAR} body value")
	assert.Equal(t, "overloaded: try later", ls.Response.Body)
	assert.Equal(t, "json", profile.Assertion)
	require.NotEmpty(t, profile.Samples)
	assert.Equal(t, &stats.AssertionFailure{Kind: "json", Target: "user.id", Expected: "gt 0", Actual: `"seven"`}, profile.Samples[0].Assertion)

	// The summary, HTML and JUnit show the same two, redacted.
	for name, want := range map[string][]string{
		"summary": {"login: http_status 503 ×5", "profile: assertion (json) ×5", "> Authorization: <redacted>",
			`> {"password":"<redacted>","user":"ada"}`, "< overloaded: try later", `failed: json user.id: want gt 0, got "seven"`},
		"html": {"login: http_status 503 ×5", "profile: assertion (json) ×5", "&gt; Authorization: &lt;redacted&gt;",
			"{&#34;password&#34;:&#34;&lt;redacted&gt;&#34;,&#34;user&#34;:&#34;ada&#34;}", "overloaded: try later", "json user.id: want gt 0, got &#34;seven&#34;"},
	} {
		for _, w := range want {
			assert.Contains(t, files[name], w, "%s", name)
		}
	}
	var suites struct {
		Cases []struct {
			Name    string `xml:"name,attr"`
			Failure string `xml:"failure"`
		} `xml:"testsuite>testcase"`
	}
	require.NoError(t, xml.Unmarshal([]byte(files["junit"]), &suites))
	cases := map[string]string{}
	for _, c := range suites.Cases {
		cases[c.Name] = c.Failure
	}
	assert.Contains(t, cases["step login"], "login: http_status 503 ×5, first sample:")
	assert.Contains(t, cases["step login"], "> Authorization: <redacted>")
	assert.Contains(t, cases["step profile"], `failed: json user.id: want gt 0, got "seven"`)
}

// abort_on_fail through the CLI: a minute planned against a target that
// fails every other request stops within seconds, exits 99 and says why.
func TestRunAbortsOnAFailingObjective(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	out := filepath.Join(t.TempDir(), "r.json")
	code, stdout, stderr := runCLIEnv(t, nil, "run", srv.URL+"/", "--rate", "100/s", "--duration", "1m", "--quiet",
		"--slo", "errors<1% abort_on_fail", "--out", out, "--grace", "1s")
	assert.Equal(t, ExitSLOFailed, code, stderr)
	assert.Regexp(t, `verdict    FAIL\n\s+aborted after [\d.]+s by errors<1% abort_on_fail: errors: \d+ iterations failed of at most 6000 planned`, stdout)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	var rep stats.Report
	require.NoError(t, json.Unmarshal(b, &rep))
	require.NotNil(t, rep.AbortedBy)
	assert.False(t, rep.Aborted, "stopped on purpose, not interrupted")
	assert.Less(t, rep.AbortedBy.AtS, 10.0)
	assert.Less(t, rep.DurationS, 20.0, "not the minute planned")
}

func TestSLOFlagErrors(t *testing.T) {
	srv := shopTarget(t)
	for _, tc := range []struct{ slo, want string }{
		{"errors<1", `slo "errors<1": value "1": a ratio needs a %: errors<1% is 1 percent, errors<100% is the fraction 1`},
		{"p99(nope)<1s", `slo "p99(nope)<1s": the scenario has no step "nope" (steps: request)`},
		{"p99(region=eu)<1s", `slo "p99(region=eu)<1s": no step has region=eu (steps request: method=GET)`},
	} {
		code, _, stderr := runCLIEnv(t, nil, "run", srv.URL+"/", "--slo", tc.slo)
		assert.Equal(t, ExitUsage, code, tc.slo)
		assert.Equal(t, "canary: "+tc.want+"\n", stderr, tc.slo)
	}
	// A ratio and a latency written as people write them.
	code, _, stderr := runCLIEnv(t, nil, "run", srv.URL+"/health", "--slo", "P99 < 300 ms", "--slo", "errors <= 100 %", "--quiet")
	assert.Equal(t, ExitOK, code, stderr)
}
