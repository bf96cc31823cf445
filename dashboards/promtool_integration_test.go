//go:build integration

package dashboards

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/alert"
)

// promtool runs Prometheus' promtool and returns its combined output.
func promtool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: run scripts/deps.sh (Debian's prometheus package installs /usr/bin/promtool)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, data, 0o644))
	return path
}

var rulesFoundRE = regexp.MustCompile(`SUCCESS: (\d+) rules found`)

// checkRules runs `promtool check rules` on a rule file and returns how
// many rules it found.
func checkRules(t *testing.T, path string) int {
	t.Helper()
	out, err := promtool(t, "check", "rules", path)
	require.NoError(t, err, "promtool check rules %s:\n%s", path, out)
	m := rulesFoundRE.FindStringSubmatch(out)
	require.NotNil(t, m, "promtool check rules output:\n%s", out)
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

func countRules(f *RuleFile) int {
	n := 0
	for _, g := range f.Groups {
		n += len(g.Rules)
	}
	return n
}

func TestPromtoolChecksRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy alert.Policy
	}{
		{"default policy", alert.DefaultPolicy()},
		{"seconds policy", secondsPolicy()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			f, err := Rules(fixture(t, tc.policy))
			require.NoError(t, err)
			out, err := f.YAML()
			require.NoError(t, err)
			assert.Equal(t, countRules(f), checkRules(t, writeFile(t, dir, "rules.yml", out)), "rules promtool found")

			// The PrometheusRule's spec is a rule file's groups: extract it.
			pr, err := f.PrometheusRule("canary", "monitoring", map[string]string{"release": "prom"})
			require.NoError(t, err)
			var obj struct {
				Spec RuleFile `yaml:"spec"`
			}
			require.NoError(t, yaml.Unmarshal(pr, &obj))
			spec, err := obj.Spec.YAML()
			require.NoError(t, err)
			assert.Equal(t, countRules(f), checkRules(t, writeFile(t, dir, "spec.yml", spec)), "rules promtool found in the PrometheusRule")
		})
	}
}

func TestPromtoolRejectsABrokenRuleFile(t *testing.T) {
	// The control for the checks above: promtool does fail on bad PromQL
	// and on a bad template, so their passing means something.
	broken := func(r Rule) RuleFile { return RuleFile{Groups: []RuleGroup{{Name: "x", Rules: []Rule{r}}}} }
	for name, f := range map[string]RuleFile{
		"promql":   broken(Rule{Record: "a:b", Expr: "sum by (check (x)"}),
		"template": broken(Rule{Alert: "A", Expr: "x", Annotations: map[string]string{"d": "{{ .Broken"}}),
	} {
		out, err := f.YAML()
		require.NoError(t, err)
		path := writeFile(t, t.TempDir(), "bad.yml", out)
		got, err := promtool(t, "check", "rules", path)
		assert.Error(t, err, "promtool check rules accepted a broken %s:\n%s", name, got)
	}
}

func TestPromtoolParsesDashboardExpressions(t *testing.T) {
	for _, policy := range []alert.Policy{alert.DefaultPolicy(), secondsPolicy()} {
		dash, err := Dashboard(fixture(t, policy))
		require.NoError(t, err)
		exprs, err := Expressions(dash)
		require.NoError(t, err)
		require.NotEmpty(t, exprs)
		// Each expression as a recording rule: promtool parses them all.
		f := RuleFile{Groups: []RuleGroup{{Name: "dashboard"}}}
		for i, e := range exprs {
			f.Groups[0].Rules = append(f.Groups[0].Rules, Rule{Record: fmt.Sprintf("dashboard:expr_%d", i), Expr: ExpandVariables(e)})
		}
		out, err := f.YAML()
		require.NoError(t, err)
		assert.Equal(t, len(exprs), checkRules(t, writeFile(t, t.TempDir(), "dashboard.yml", out)))
	}
}

// promtoolSpec is the Spec that testdata/promtool_test.yml tests.
func promtoolSpec(t *testing.T) Spec {
	return Spec{
		Policy:      secondsPolicy(),
		ExternalURL: "http://127.0.0.1:9090",
		Checks: []Check{
			{
				Name: "checkout", Steps: []string{"login"}, Labels: map[string]string{"team": "payments"},
				RunbookURL: "https://runbooks.example.com/checkout",
				SLOs:       []SLO{objective(t, "availability", "success>=99%"), objective(t, "login-p99", "p99(login)<300ms")},
			},
			{Name: "search", SLOs: []SLO{objective(t, "errors", "errors<1%")}},
			{Name: "int-text", SLOs: []SLO{objective(t, "slow", "p99(iteration)<1s")}},
			{Name: "int-proto", SLOs: []SLO{objective(t, "slow", "p99(iteration)<1s")}},
			{Name: "idle", SLOs: []SLO{objective(t, "availability", "success>=99%")}},
			{Name: "nightly", Scheduled: true, SLOs: []SLO{objective(t, "availability", "success>=99%")}},
			{Name: "gone", SLOs: []SLO{objective(t, "availability", "success>=99%")}},
		},
	}
}

func TestPromtoolUnitTestsRules(t *testing.T) {
	dir := t.TempDir()
	f, err := Rules(promtoolSpec(t))
	require.NoError(t, err)
	rules, err := f.YAML()
	require.NoError(t, err)
	writeFile(t, dir, "rules.yml", rules)
	tests, err := os.ReadFile(filepath.Join("testdata", "promtool_test.yml"))
	require.NoError(t, err)
	path := writeFile(t, dir, "promtool_test.yml", tests)

	out, err := promtool(t, "test", "rules", path)
	require.NoError(t, err, "promtool test rules testdata/promtool_test.yml:\n%s", out)
	assert.Contains(t, out, "SUCCESS")
}
