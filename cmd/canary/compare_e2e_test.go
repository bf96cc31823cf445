//go:build integration

package main

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// comparison is what the tests read of a canary.compare/v1 document.
type comparison struct {
	Schema  string `json:"schema"`
	Verdict string `json:"verdict"`
	Results []struct {
		Objective string `json:"objective"`
		Verdict   string `json:"verdict"`
		Reason    string `json:"reason"`
	} `json:"results"`
	Baseline, Candidate struct {
		URL    string `json:"url"`
		Report struct {
			Schema     string `json:"schema"`
			Iterations struct {
				Total int64 `json:"total"`
			} `json:"iterations"`
		} `json:"report"`
	}
}

// TestCompare: canary compare through the binary.
func TestCompare(t *testing.T) {
	bin := binary(t)
	t.Run("exit codes", func(t *testing.T) { compareExitCodes(t, bin) })
	t.Run("with a scenario", func(t *testing.T) { compareWithAScenario(t, bin) })
	t.Run("usage", func(t *testing.T) { compareUsage(t, bin) })
}

// compareExitCodes: the four comparisons of docs/compare.md through the
// binary, against two demo targets on loopback, each in a few seconds.
//
// The targets are two `canary demo-target` processes (served from this
// test process, under the race detector, they would need more processor
// than a busy machine gives them, and queue for seconds). The latency is a uniform 50 ms to 1.05 s, so that a p99 rests on many
// samples near it. Still, on a busy 2-core machine a p99 of 4000 requests
// moves by several percent from one run to the next (its 95 % interval is
// often ±5 %), so the objectives leave room for that: the identical
// versions' p99 may be 25 % worse, and the slower one's must not be worse
// at all. The latency comparisons run a fixed number of iterations, which
// measures no generator lag: on a busy machine a schedule's lag p99 is
// often over 10 ms, and a saturated generator voids a latency comparison
// that did not fail (package run tests that rule). The errors comparison
// follows a schedule.
func compareExitCodes(t *testing.T, bin string) {
	spread := []string{"--latency", "50ms", "--jitter", "1s"}
	with := func(faults ...string) []string { return append(append([]string{"--seed", "2"}, spread...), faults...) }
	objectives := func(exprs ...string) []string {
		var out []string
		for _, e := range exprs {
			out = append(out, "--objective", e)
		}
		return out
	}
	base := demoTarget(t, bin, append([]string{"--seed", "1"}, spread...)...) + "/status/200"
	for _, tc := range []struct {
		name       string
		candidate  []string
		args       []string
		code       int
		objectives map[string]string
		// mayBeUndecided: on a machine busy enough to starve one target's
		// process more than the other's, the interval of a passing
		// comparison can widen past its allowance (inconclusive, exit 3);
		// it must never fail. compare's own tests judge fixed samples.
		mayBeUndecided bool
	}{
		{name: "identical versions pass", candidate: with(),
			args: append([]string{"--iterations", "5000", "--vus", "400"}, objectives("latency not worse by more than 5%",
				"p99 not worse by more than 25%", "errors not higher by more than 0.1pp")...), code: 0,
			objectives: map[string]string{
				"latency not worse by more than 5%": "pass", "p99 not worse by more than 25%": "pass",
				"errors not higher by more than 0.1pp": "pass",
			}, mayBeUndecided: true},
		{name: "15 % slower fails at p99", candidate: with("--slower", "15%"),
			args: append([]string{"--iterations", "4000", "--vus", "400"}, objectives("latency not worse by more than 5%", "p99 not worse")...), code: 99,
			objectives: map[string]string{"latency not worse by more than 5%": "fail", "p99 not worse": "fail"}},
		{name: "1 pp more errors fails", candidate: with("--error-ratio", "0.01"),
			args: []string{"--rate", "400/s", "--duration", "6s"}, code: 99,
			objectives: map[string]string{"errors not higher by more than 0.1pp": "fail"}},
		{name: "2 % slower passes under a 10 % objective", candidate: with("--slower", "2%"),
			args: append([]string{"--iterations", "4000", "--vus", "400"}, objectives("p99 not worse by more than 10%")...), code: 0,
			objectives: map[string]string{"p99 not worse by more than 10%": "pass"}, mayBeUndecided: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cand := demoTarget(t, bin, tc.candidate...) + "/status/200"
			out := filepath.Join(t.TempDir(), "compare.json")
			r := run(t, bin, nil, append([]string{"compare", "--baseline", base, "--candidate", cand, "--out", out, "--quiet", "--cpus", "0"}, tc.args...)...)
			var doc comparison
			raw, err := os.ReadFile(out)
			require.NoError(t, err, r.stderr)
			require.NoError(t, json.Unmarshal(raw, &doc))
			for _, res := range doc.Results {
				t.Logf("%s: %s", res.Objective, res.Reason)
			}
			got := map[string]string{}
			for _, res := range doc.Results {
				got[res.Objective] = res.Verdict
			}
			if tc.mayBeUndecided && r.code == 3 {
				t.Logf("undecided on this machine: %v", got)
				for expr := range tc.objectives {
					assert.Contains(t, []string{"pass", "inconclusive"}, got[expr], "objective %q never fails", expr)
				}
			} else {
				assert.Equal(t, tc.code, r.code, "stdout:\n%s\nstderr: %s", r.stdout, r.stderr)
				for expr, want := range tc.objectives {
					assert.Equal(t, want, got[expr], "objective %q", expr)
				}
			}
			assert.Equal(t, "canary.compare/v1", doc.Schema)
			assert.Equal(t, base, doc.Baseline.URL)
			assert.Equal(t, "canary.report/v1", doc.Candidate.Report.Schema)
			assert.Equal(t, doc.Baseline.Report.Iterations.Total, doc.Candidate.Report.Iterations.Total, "the same iterations on both sides")
			assert.Contains(t, r.stdout, "verdict    "+strings.ToUpper(doc.Verdict))
		})
	}
}

// compareWithAScenario: a scenario written against one host reaches
// both targets through their base URLs, and every output is written.
func compareWithAScenario(t *testing.T, bin string) {
	b, c := demoTarget(t, bin), demoTarget(t, bin, "--error-ratio", "1", "--seed", "3")
	dir := t.TempDir()
	out, html, junit := filepath.Join(dir, "c.json"), filepath.Join(dir, "c.html"), filepath.Join(dir, "c.xml")
	r := run(t, bin, []string{"BASE_URL=http://127.0.0.1:1"}, "compare", "--baseline", b, "--candidate", c, "../../examples/checkout.yaml",
		"--iterations", "100", "--vus", "20", "--objective", "errors not higher by more than 1pp", "--out", out, "--html", html, "--junit", junit, "--quiet")
	assert.Equal(t, 99, r.code, r.stdout+r.stderr)
	before, after := stats(t, b)["requests"].(map[string]any), stats(t, c)["requests"].(map[string]any)
	assert.Equal(t, 100.0, before["POST /login"], "every iteration logged in at the baseline")
	assert.Equal(t, 100.0, after["POST /login"], "and at the candidate, where it failed")

	var doc comparison
	raw, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, "fail", doc.Verdict)
	page, err := os.ReadFile(html)
	require.NoError(t, err)
	assert.Contains(t, string(page), `data-name="baseline"`)
	assert.Contains(t, string(page), `data-name="candidate"`)
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	x, err := os.ReadFile(junit)
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(x, &suites))
	require.Len(t, suites.Suites, 1)
	assert.Equal(t, 1, suites.Suites[0].Tests, "one case per objective")
	assert.Equal(t, 1, suites.Suites[0].Failures)
}

// compareUsage: mistakes exit 2 and say what was wrong.
func compareUsage(t *testing.T, bin string) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no candidate", []string{"--baseline", "http://127.0.0.1:1/"}, "--baseline and --candidate are both required"},
		{"a URL for a scenario", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "http://127.0.0.1:3/"},
			`"http://127.0.0.1:3/": give a scenario file, or no argument to probe --baseline and --candidate themselves`},
		{"a bad objective", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--objective", "p99 not worse by 10%"},
			`objective "p99 not worse by 10%": col 18: want "by more than AMOUNT", got "10%"`},
		{"an unknown step", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--objective", "p99(login) not worse"},
			`objective "p99(login) not worse": the scenario has no step "login" (steps: request)`},
		{"a base URL with credentials", []string{"--baseline", "http://u:secret@127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "../../examples/smoke.yaml"},
			`--baseline: base URL "http://<redacted>@127.0.0.1:1/": credentials in a base URL are not sent`},
		{"a bad confidence", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--confidence", "40%"},
			`--confidence "40%": confidence 0.4 is outside 50%..100% (exclusive)`},
		{"over the safety cap", []string{"--baseline", "http://127.0.0.1:1/", "--candidate", "http://127.0.0.1:2/", "--rate", "5000/s", "--duration", "1s"},
			"above the safety cap of 1000/s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, bin, nil, append([]string{"compare"}, tc.args...)...)
			assert.Equal(t, 2, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
			assert.NotContains(t, r.stderr, "secret")
		})
	}
}
