package cli

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
)

// TestCompareCommand: a small comparison in process, against two demo
// targets, writes every output; 200 iterations a side are too few for a
// p99 (it needs 1000), so the verdict is inconclusive and the exit code 3.
// The comparisons that pass and fail run through the binary
// (cmd/canary, TestCompare).
func TestCompareCommand(t *testing.T) {
	b := httptest.NewServer(demotarget.New(demotarget.Options{Seed: 1}))
	defer b.Close()
	c := httptest.NewServer(demotarget.New(demotarget.Options{Seed: 2}))
	defer c.Close()
	dir := t.TempDir()
	out, html, junit := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.html"), filepath.Join(dir, "c.xml")
	var stdout, stderr bytes.Buffer
	code := RunEnv(t.Context(), []string{"compare", "--baseline", b.URL + "/status/200", "--candidate", c.URL + "/status/200",
		"--iterations", "200", "--vus", "10", "--cpus", "0", "-q", "--out", out, "--html", html, "--junit", junit},
		Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) (string, bool) { return "", false }})
	assert.Equal(t, ExitInconclusive, code, "stdout:\n%s\nstderr: %s", stdout.String(), stderr.String())
	assert.Contains(t, stdout.String(), "verdict    INCONCLUSIVE")
	assert.Contains(t, stdout.String(), "p99 needs 1000 samples a side (10 beyond the percentile)")

	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	var doc struct {
		Schema, Verdict     string
		Baseline, Candidate struct{ URL string }
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, "canary.compare/v1", doc.Schema)
	assert.Equal(t, "inconclusive", doc.Verdict)
	assert.Equal(t, c.URL+"/status/200", doc.Candidate.URL)
	page, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(page), "<!doctype html>"))
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	assert.Contains(t, string(x), `<testsuite name="canary.compare.adhoc" tests="3"`)
	assert.Contains(t, string(x), `<failure message="inconclusive: p99 needs 1000 samples a side`)
}

func TestCompareUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no baseline", []string{"--candidate", "http://127.0.0.1:1/"}, "--baseline and --candidate are both required"},
		{"a scenario file that is not there", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "nope.yaml"}, "nope.yaml"},
		{"URL flags with a scenario", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--method", "POST", "../../../examples/smoke.yaml"},
			"--method applies to a URL; a scenario file sets its own requests"},
		{"a bad URL", []string{"--baseline", "ftp://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/"}, `--baseline "ftp://127.0.0.1:1/": want an http:// or https:// URL`},
		{"an output that cannot be written", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--out", "/nonexistent/dir/c.json"}, "/nonexistent/dir/c.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := RunEnv(t.Context(), append([]string{"compare"}, tc.args...), Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) (string, bool) { return "", false }})
			assert.Equal(t, ExitUsage, code)
			assert.Contains(t, stderr.String(), tc.want)
		})
	}
}
