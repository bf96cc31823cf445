package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/gate"
)

// send makes one request with a raw body and headers, and returns the
// status, headers and body text.
func (td *testDaemon) send(method, path string, header map[string]string, body string) (int, http.Header, string) {
	td.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, td.base+path, rd)
	require.NoError(td.t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(td.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(td.t, err)
	return resp.StatusCode, resp.Header, string(raw)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// A token may start runs with a profile file, but only one inside the
// config's directory, and no answer quotes a file's content.
func TestRunProfilePathsStayInsideTheConfigDirectory(t *testing.T) {
	td := start(t, shopCheck)
	// Next to the config's directory, a file a caller must not read.
	outside := filepath.Join(filepath.Dir(td.dir), "outside-"+filepath.Base(td.dir)+".yaml")
	require.NoError(t, writeFile(outside, "secret-line-outside: 1\n"))
	t.Cleanup(func() { os.Remove(outside) })
	require.NoError(t, os.MkdirAll(filepath.Join(td.dir, "profiles", "sub"), 0o755))
	for name, body := range map[string]string{
		"profiles/ok.yaml":    "constant: {target: 5, duration: 1s}\n",
		"profiles/notes.yaml": "secret-line-inside: 1\n",
	} {
		require.NoError(t, writeFile(filepath.Join(td.dir, name), body))
	}
	require.NoError(t, os.Symlink(outside, filepath.Join(td.dir, "profiles", "escape.yaml")))
	require.NoError(t, os.Symlink("ok.yaml", filepath.Join(td.dir, "profiles", "alias.yaml")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(td.dir, "profiles", "etc")))
	passwd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	firstLine, _, _ := strings.Cut(string(passwd), "\n")
	require.NotEmpty(t, firstLine)

	for _, tc := range []struct {
		name, profile string
		status        int
		err           string // a part of the answer's error
	}{
		{name: "absolute path", profile: "/etc/passwd", status: 400, err: "a path relative to the config's directory"},
		{name: "dot-dot to the root", profile: "../../../../../../etc/passwd", status: 400, err: "a path relative to the config's directory"},
		{name: "dot-dot that comes back", profile: "profiles/../profiles/ok.yaml", status: 400, err: "a path relative to the config's directory"},
		{name: "dot-dot next door", profile: "../" + filepath.Base(outside), status: 400, err: "a path relative to the config's directory"},
		{name: "symlink out of the directory", profile: "profiles/escape.yaml", status: 400, err: "a path relative to the config's directory"},
		{name: "symlinked directory", profile: "profiles/etc/passwd", status: 400, err: "a path relative to the config's directory"},
		{name: "not a profile", profile: "profiles/notes.yaml", status: 400, err: `profile "profiles/notes.yaml" is not a valid profile; the daemon's log says why`},
		{name: "a directory", profile: "profiles/sub", status: 400, err: `profile "profiles/sub": not a regular file`},
		{name: "missing", profile: "profiles/nope.yaml", status: 400, err: `profile "profiles/nope.yaml": no such file in the config's directory`},
		{name: "inside", profile: "profiles/ok.yaml", status: 202},
		{name: "symlink inside the directory", profile: "profiles/alias.yaml", status: 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"check": "shop", "profile": tc.profile, "key": "path-" + tc.name})
			code, _, resp := td.send("POST", "/api/v1/runs", bearer(token), string(body))
			require.Equal(t, tc.status, code, resp)
			var e apiError
			require.NoError(t, json.Unmarshal([]byte(resp), &e))
			assert.Contains(t, e.Error, tc.err)
			for _, leak := range []string{firstLine, "root:", "secret-line-outside", "secret-line-inside"} {
				assert.NotContains(t, resp, leak, "the answer quotes a file")
			}
		})
	}
	// The detail of a file inside the directory is for the daemon's log.
	assert.Contains(t, td.logs.String(), "secret-line-inside")
	assert.NotContains(t, td.logs.String(), "secret-line-outside", "a file outside the directory is never read")
}

// A body is one JSON object: anything after it is an error.
func TestJSONBodiesRefuseTrailingData(t *testing.T) {
	td := start(t, shopCheck)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
	}{
		{name: "runs: a second object", method: "POST", path: "/api/v1/runs", body: `{"check":"shop","duration":"1s"} {"check":"shop"}`, status: 400},
		{name: "runs: garbage", method: "POST", path: "/api/v1/runs", body: `{"check":"shop","duration":"1s"}garbage`, status: 400},
		{name: "runs: a closing brace", method: "POST", path: "/api/v1/runs", body: `{"check":"shop","duration":"1s"}}`, status: 400},
		{name: "silences", method: "POST", path: "/api/v1/silences", body: `{"matchers":{"check":"shop"},"duration":"1h"}[]`, status: 400},
		{name: "gate", method: "POST", path: "/api/v1/gate/shop", body: `{"name":"shop","metadata":{}}{}`, status: 400},
		{name: "flagger", method: "POST", path: "/api/v1/flagger/shop/event", body: `{"name":"shop","namespace":"prod","checksum":"c1","metadata":{"token":"` + token + `"}}x`, status: 400},
		{name: "trailing white space is fine", method: "POST", path: "/api/v1/silences", body: "{\"matchers\":{\"check\":\"shop\"},\"duration\":\"1h\"}\n \t\n", status: 201},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, resp := td.send(tc.method, tc.path, bearer(token), tc.body)
			require.Equal(t, tc.status, code, resp)
			if tc.status == 400 {
				assert.Contains(t, resp, "after the JSON object")
			}
		})
	}
}

// RFC 7235: the scheme is case-insensitive; the token is not.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	td := start(t, shopCheck)
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{name: "Bearer", header: "Bearer " + token, status: 201},
		{name: "bearer", header: "bearer " + token, status: 201},
		{name: "BEARER", header: "BEARER " + token, status: 201},
		{name: "two spaces", header: "Bearer  " + token, status: 201},
		{name: "token in upper case", header: "Bearer " + strings.ToUpper(token), status: 401},
		{name: "Basic", header: "Basic " + token, status: 401},
		{name: "no scheme", header: token, status: 401},
		{name: "Bearer without a token", header: "Bearer", status: 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, resp := td.send("POST", "/api/v1/silences", map[string]string{"Authorization": tc.header},
				`{"matchers":{"check":"shop"},"duration":"1h"}`)
			require.Equal(t, tc.status, code, resp)
		})
	}
}

// An idempotency key names one request: the same request joins its run, a
// different one is refused rather than answered with the first run.
func TestIdempotencyKeyReusedWithAnotherBody(t *testing.T) {
	td := start(t, shopCheck)
	first := `{"check":"shop","profile":{"rate":"5/s"},"duration":"1s","key":"deploy-7"}`
	code, hdr, resp := td.send("POST", "/api/v1/runs", bearer(token), first)
	require.Equal(t, 202, code, resp)
	loc := hdr.Get("Location")
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{name: "the same request", body: first, status: 202},
		{name: "the same request, spelt differently", body: `{"key":"deploy-7","duration":"1s","profile":{ "rate" : "5/s" },"check":"shop"}`, status: 202},
		{name: "another duration", body: `{"check":"shop","profile":{"rate":"5/s"},"duration":"2s","key":"deploy-7"}`, status: 409},
		{name: "another profile", body: `{"check":"shop","profile":{"rate":"6/s"},"duration":"1s","key":"deploy-7"}`, status: 409},
		{name: "no profile", body: `{"check":"shop","duration":"1s","key":"deploy-7"}`, status: 409},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, resp := td.send("POST", "/api/v1/runs", bearer(token), tc.body)
			require.Equal(t, tc.status, code, resp)
			if code == 202 {
				assert.Equal(t, loc, hdr.Get("Location"))
				return
			}
			assert.Contains(t, resp, `key \"deploy-7\" was used for a different request`)
		})
	}
}

// Spinnaker follows Location as given, and refuses a relative one.
func TestLocationHeadersAreAbsolute(t *testing.T) {
	td := start(t, shopCheck)
	code, hdr, resp := td.send("POST", "/api/v1/runs", bearer(token), `{"check":"shop","profile":{"rate":"5/s"},"duration":"1s"}`)
	require.Equal(t, 202, code, resp)
	loc, err := url.Parse(hdr.Get("Location"))
	require.NoError(t, err)
	assert.True(t, loc.IsAbs(), "Location %q", loc)
	assert.Equal(t, td.base+loc.Path, loc.String(), "the request's scheme and host")
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp), &doc))
	assert.Equal(t, loc.String(), doc["location"], "the body says the same")
	code, _, _ = td.send("GET", loc.Path, nil, "")
	assert.Equal(t, 200, code)

	code, hdr, resp = td.send("POST", "/api/v1/silences", bearer(token), `{"matchers":{"check":"shop"},"duration":"1h"}`)
	require.Equal(t, 201, code, resp)
	assert.True(t, strings.HasPrefix(hdr.Get("Location"), td.base+"/api/v1/silences/"), hdr.Get("Location"))

	// With server.external_url, that base.
	cfg, err := os.ReadFile(td.cfg)
	require.NoError(t, err)
	require.NoError(t, writeFile(td.cfg, strings.Replace(string(cfg), "  shutdown_grace: 2s\n", "  shutdown_grace: 2s\n  external_url: https://canary.example.com/ci/\n", 1)))
	code, _, resp = td.send("POST", "/-/reload", bearer(token), "")
	require.Equal(t, 200, code, resp)
	code, hdr, resp = td.send("POST", "/api/v1/runs", bearer(token), `{"check":"shop","profile":{"rate":"5/s"},"duration":"1s"}`)
	require.Equal(t, 202, code, resp)
	assert.Regexp(t, `^https://canary\.example\.com/ci/api/v1/runs/[0-9T]+-[0-9a-f]+$`, hdr.Get("Location"))
}

// canary gate --run follows the absolute Location to the run's end.
func TestGateRunFollowsTheLocation(t *testing.T) {
	td := start(t, shopCheck)
	for _, external := range []bool{false, true} {
		if external {
			// An external_url that is this daemon, under another name.
			cfg, err := os.ReadFile(td.cfg)
			require.NoError(t, err)
			base := strings.Replace(td.base, "127.0.0.1", "localhost", 1)
			require.NoError(t, writeFile(td.cfg, strings.Replace(string(cfg), "  shutdown_grace: 2s\n", "  shutdown_grace: 2s\n  external_url: "+base+"\n", 1)))
			code, _, resp := td.send("POST", "/-/reload", bearer(token), "")
			require.Equal(t, 200, code, resp)
		}
		res, err := gate.AskServer(context.Background(), gate.ServerOptions{
			URL: td.base, Check: "shop", Token: token, Wait: 30 * time.Second, Poll: 50 * time.Millisecond,
			Run: &gate.RunRequest{Profile: `{"rate": "5/s"}`, Duration: "1s"},
		})
		require.NoError(t, err)
		var run map[string]any
		require.NoError(t, json.Unmarshal(res.Body, &run))
		assert.NotEqual(t, "running", run["status"], "external_url %v", external)
		assert.Equal(t, 5.0, run["report"].(map[string]any)["iterations"].(map[string]any)["total"])
		if external {
			assert.True(t, strings.HasPrefix(run["location"].(string), "http://localhost:"), run["location"])
		}
	}
}
