package cli

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// "-" as an output file is stdout; the summary then moves to stderr so that
// stdout holds only what was asked for.
func TestOutputToStdout(t *testing.T) {
	target := healthyTarget(t) + "/health"
	for _, tc := range []struct {
		name  string
		flag  string
		check func(t *testing.T, stdout string)
	}{
		{"json report", "--out", func(t *testing.T, stdout string) {
			var r stats.Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &r), "stdout is the report alone")
			assert.Equal(t, "pass", r.Verdict)
		}},
		{"junit", "--junit", func(t *testing.T, stdout string) {
			var v struct {
				XMLName xml.Name
			}
			require.NoError(t, xml.Unmarshal([]byte(stdout), &v), "stdout is the JUnit XML alone")
			assert.Equal(t, "testsuites", v.XMLName.Local)
		}},
		{"html", "--html", func(t *testing.T, stdout string) {
			assert.True(t, strings.HasPrefix(stdout, "<!doctype html>"), "stdout starts with the page: %.40q", stdout)
		}},
		{"hdr log", "--hdr-log", func(t *testing.T, stdout string) {
			assert.Contains(t, stdout, "#[StartTime: ")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, "run", target, "--quiet", tc.flag, "-")
			require.Equal(t, ExitOK, code, stderr)
			tc.check(t, stdout)
			assert.NotContains(t, stdout, "verdict    PASS", "the summary is not mixed into stdout")
			assert.Contains(t, stderr, "verdict    PASS", "the summary is on stderr")
			_, err := os.Stat("-")
			assert.ErrorIs(t, err, os.ErrNotExist, "no file named -")
		})
	}
}

func TestOutputToStdoutRefusals(t *testing.T) {
	target := healthyTarget(t) + "/health"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"two outputs on stdout", []string{"--out", "-", "--html", "-"}, "canary: --out - and --html -: only one output can go to stdout\n"},
		{"a binary profile", []string{"--cpu-profile", "-"}, "canary: --cpu-profile -: a profile is binary; give it a file\n"},
		{"a directory that is not there", []string{"--out", "no/such/dir/r.json"}, "canary: --out: open no/such/dir/r.json: no such file or directory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, append([]string{"run", target, "--quiet"}, tc.args...)...)
			assert.Equal(t, ExitUsage, code)
			assert.Empty(t, stdout)
			assert.Equal(t, tc.want, stderr)
		})
	}
}

// canary report REPORT.json with nothing else prints its summary.
func TestReportPrintsTheSummary(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.json")
	code, runOut, stderr := invoke(t, nil, "run", healthyTarget(t)+"/health", "--quiet", "--out", path)
	require.Equal(t, ExitOK, code, stderr)

	code, stdout, stderr := invoke(t, nil, "report", path)
	require.Equal(t, ExitOK, code, stderr)
	assert.Equal(t, runOut, stdout, "the summary canary run printed")

	code, stdout, stderr = invoke(t, nil, "report", path, "--html", "-")
	require.Equal(t, ExitOK, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "<!doctype html>"), "--html - is stdout: %.40q", stdout)

	code, _, stderr = invoke(t, nil, "report", path, "--html", "-", "--out", "-")
	assert.Equal(t, ExitUsage, code)
	assert.Equal(t, "canary: --html - and the JSON report: only one output can go to stdout (give --out FILE)\n", stderr)
}
