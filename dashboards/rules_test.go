package dashboards

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/golden"
)

func TestGolden(t *testing.T) {
	for _, tc := range []struct {
		name   string
		suffix string
		policy alert.Policy
	}{
		{"default policy", "", alert.DefaultPolicy()},
		{"seconds policy", ".seconds", secondsPolicy()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture(t, tc.policy)
			f, err := Rules(spec)
			require.NoError(t, err)
			rules, err := f.YAML()
			require.NoError(t, err)
			golden.Assert(t, filepath.Join("testdata", "rules"+tc.suffix+".golden.yml"), rules)

			pr, err := f.PrometheusRule("canary-slos", "monitoring", map[string]string{"release": "kube-prometheus-stack", "app.kubernetes.io/name": "canary"})
			require.NoError(t, err)
			golden.Assert(t, filepath.Join("testdata", "prometheusrule"+tc.suffix+".golden.yml"), pr)

			dash, err := Dashboard(spec)
			require.NoError(t, err)
			golden.Assert(t, filepath.Join("testdata", "dashboard"+tc.suffix+".golden.json"), dash)
		})
	}
}

func TestOutputIsDeterministic(t *testing.T) {
	spec := fixture(t, alert.DefaultPolicy())
	// Many labels, so that map iteration order would show.
	for _, k := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		spec.Checks[0].Labels[k] = "v" + k
	}
	render := func() (string, string, string) {
		f, err := Rules(spec)
		require.NoError(t, err)
		rules, err := f.YAML()
		require.NoError(t, err)
		pr, err := f.PrometheusRule("canary", "", map[string]string{"x": "1", "y": "2", "z": "3"})
		require.NoError(t, err)
		dash, err := Dashboard(spec)
		require.NoError(t, err)
		return string(rules), string(pr), string(dash)
	}
	r0, p0, d0 := render()
	for range 20 {
		r, p, d := render()
		require.Equal(t, r0, r, "rules differ between runs")
		require.Equal(t, p0, p, "PrometheusRule differs between runs")
		require.Equal(t, d0, d, "dashboard differs between runs")
	}
}

// rulesBy indexes a rule file's rules by group.
func rulesBy(f *RuleFile) map[string][]Rule {
	m := map[string][]Rule{}
	for _, g := range f.Groups {
		m[g.Name] = append(m[g.Name], g.Rules...)
	}
	return m
}

func TestRecordingRules(t *testing.T) {
	f, err := Rules(fixture(t, alert.DefaultPolicy()))
	require.NoError(t, err)
	require.Len(t, f.Groups, 2)
	for _, g := range f.Groups {
		assert.Equal(t, "15s", g.Interval, "group %s: interval is the policy's evaluate_every", g.Name)
	}
	records := map[string][]string{} // slo → record names
	for _, rs := range rulesBy(f) {
		for _, r := range rs {
			if r.Record == "" {
				continue
			}
			records[r.Labels["slo"]] = append(records[r.Labels["slo"]], r.Record)
			if r.Record == RecordBudget {
				assert.Contains(t, r.Labels, "check", "budget record of %s", r.Labels["slo"])
				continue
			}
			assert.Equal(t, []string{"check", "slo"}, sortedKeys(r.Labels), "record %s of %s: labels", r.Record, r.Labels["slo"])
		}
	}
	all := []string{
		"canary:sli_error:ratio_rate5m", "canary:sli_error:ratio_rate30m", "canary:sli_error:ratio_rate1h",
		"canary:sli_error:ratio_rate6h", "canary:sli_error:ratio_rate30d", "canary:error_budget:ratio",
	}
	want := map[string][]string{
		"availability": all, "login-p99": all, "checkout-p95": all, "pay-service-p99": all, "errors": all, "query-p90": all,
		// throughput (rps) and query-max (max) have no error budget: no rules.
	}
	assert.Equal(t, want, records)

	budgets := map[string]string{}
	for _, rs := range rulesBy(f) {
		for _, r := range rs {
			if r.Record == RecordBudget {
				budgets[r.Labels["check"]+"/"+r.Labels["slo"]] = r.Expr
			}
		}
	}
	assert.Equal(t, map[string]string{
		"checkout/availability": "vector(0.005)", "checkout/login-p99": "vector(0.01)", "checkout/checkout-p95": "vector(0.05)",
		"checkout/pay-service-p99": "vector(0.01)", "search/errors": "vector(0.01)", "search/query-p90": "vector(0.1)",
	}, budgets)
}

func TestPeriodEqualToAWindowIsNotRecordedTwice(t *testing.T) {
	p := secondsPolicy()
	p.Period = 3 * time.Minute // the ticket rule's long window
	f, err := Rules(fixture(t, p))
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, r := range rulesBy(f)["canary.checkout"] {
		if r.Record == "" {
			continue
		}
		key := r.Record + "/" + r.Labels["slo"]
		assert.False(t, seen[key], "record %s defined twice", key)
		seen[key] = true
		assert.NotContains(t, r.Expr, "avg_over_time", "record %s", key)
	}
}

func TestBurnRateAlerts(t *testing.T) {
	f, err := Rules(fixture(t, alert.DefaultPolicy()))
	require.NoError(t, err)
	var alerts []Rule
	for _, r := range rulesBy(f)["canary.checkout"] {
		if r.Alert == AlertBurnRate {
			alerts = append(alerts, r)
		}
	}
	// 4 SLOs with a budget × 2 policy windows; throughput (rps) gets none.
	require.Len(t, alerts, 8)
	assert.Equal(t, Rule{
		Alert: "CanarySLOBurnRate",
		Expr: `canary:sli_error:ratio_rate1h{check="checkout",slo="availability"} > (14.4 * 0.005)
and
canary:sli_error:ratio_rate5m{check="checkout",slo="availability"} > (14.4 * 0.005)`,
		Labels: map[string]string{
			"check": "checkout", "slo": "availability", "severity": "page", "long_window": "1h", "short_window": "5m",
			"team": "payments", "tier": "1",
		},
		Annotations: map[string]string{
			"summary": "Check checkout: SLO availability is burning its error budget more than 14.4× too fast",
			"description": "Objective success>=99.5%: at most 0.5% of events may be bad over 30d (bad: failed iterations). " +
				"The bad share exceeded 14.4 × 0.5% = 7.2% over both the last 1h and 5m (1h: {{ $value | humanizePercentage }}); " +
				"at this pace the 30d budget is spent in 2d2h.",
			"runbook_url": "https://runbooks.example.com/canary/checkout",
			"status_url":  "https://canary.example.com/checks/checkout",
		},
	}, alerts[0])
	assert.Equal(t, `canary:sli_error:ratio_rate6h{check="checkout",slo="availability"} > (6 * 0.005)
and
canary:sli_error:ratio_rate30m{check="checkout",slo="availability"} > (6 * 0.005)`, alerts[1].Expr)
	assert.Contains(t, alerts[3].Annotations["description"], `(bad: "login" requests slower than 800ms)`)
	assert.Contains(t, alerts[7].Annotations["description"], `(bad: "pay" requests slower than 250ms (service time))`)
}

func TestAbsentAlert(t *testing.T) {
	f, err := Rules(fixture(t, alert.DefaultPolicy()))
	require.NoError(t, err)
	byGroup := rulesBy(f)
	last := byGroup["canary.checkout"][len(byGroup["canary.checkout"])-1]
	assert.Equal(t, Rule{
		Alert: "CanaryCheckAbsent",
		Expr:  `absent_over_time(canary_iterations_total{check="checkout"}[5m])`,
		For:   "5m",
		Labels: map[string]string{
			"check": "checkout", "severity": "ticket", "team": "payments", "tier": "1",
		},
		Annotations: map[string]string{
			"summary":     "Check checkout reports no data",
			"description": "No canary_iterations_total sample for check checkout in the last 5m: the canary daemon is down or not scraped, or no longer runs this check. Its SLO alerts cannot fire meanwhile.",
			"runbook_url": "https://runbooks.example.com/canary/checkout",
			"status_url":  "https://canary.example.com/checks/checkout",
		},
	}, last)
	for _, r := range byGroup["canary.search"] {
		assert.NotEqual(t, AlertAbsent, r.Alert, "search is scheduled: gaps are normal, no absent alert")
	}

	// A policy whose shortest window is longer than 5m looks back that far.
	p := alert.DefaultPolicy()
	p.Windows = []alert.BurnWindow{{Long: 6 * time.Hour, Short: 30 * time.Minute, Factor: 6, Severity: "page"}}
	f, err = Rules(fixture(t, p))
	require.NoError(t, err)
	rs := rulesBy(f)["canary.checkout"]
	assert.Equal(t, `absent_over_time(canary_iterations_total{check="checkout"}[30m])`, rs[len(rs)-1].Expr)
}

func TestChecksWithoutRulesGetNoGroup(t *testing.T) {
	spec := Spec{Policy: alert.DefaultPolicy(), Checks: []Check{
		{Name: "cron-rps", Scheduled: true, SLOs: []SLO{objective(t, "rate", "rps>=5")}},
		{Name: "bare"},
	}}
	f, err := Rules(spec)
	require.NoError(t, err)
	assert.Empty(t, f.Groups)
	out, err := f.YAML()
	require.NoError(t, err)
	assert.Equal(t, generatedHeader+"groups: []\n", string(out))

	// An unscheduled check with only an rps objective is still watched for absence.
	spec.Checks[0].Scheduled = false
	f, err = Rules(spec)
	require.NoError(t, err)
	require.Len(t, f.Groups, 1)
	require.Len(t, f.Groups[0].Rules, 1)
	assert.Equal(t, AlertAbsent, f.Groups[0].Rules[0].Alert)
}

func TestTemplateTextIsLiteral(t *testing.T) {
	for _, in := range []string{"plain", "{{ .Evil }}", "a{{b}}c{{", "}}", `{{ "{{" }}`} {
		tmpl, err := template.New("x").Parse(tmplText(in))
		require.NoError(t, err, "tmplText(%q) does not parse", in)
		var out bytes.Buffer
		require.NoError(t, tmpl.Execute(&out, nil), "tmplText(%q)", in)
		assert.Equal(t, in, out.String(), "tmplText(%q) executes to something else", in)
	}
}

func TestSpecErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Spec)
		want   string
	}{
		{"no windows", func(s *Spec) { s.Policy.Windows = nil }, "alerting policy: no burn-rate windows"},
		{"no period", func(s *Spec) { s.Policy.Period = 0 }, "alerting policy: slo_period: duration 0s must be positive"},
		{"sub-millisecond window", func(s *Spec) { s.Policy.Windows[0].Short = time.Microsecond },
			"alerting policy: burn_rates[0]: short: duration 1µs is not a whole number of milliseconds"},
		{"short longer than long", func(s *Spec) { s.Policy.Windows[1].Short = 7 * time.Hour },
			"alerting policy: burn_rates[1]: short window 7h0m0s is longer than the long window 6h0m0s"},
		{"zero factor", func(s *Spec) { s.Policy.Windows[0].Factor = 0 }, "alerting policy: burn_rates[0]: factor 0 must be a positive number"},
		{"no severity", func(s *Spec) { s.Policy.Windows[0].Severity = "" }, "alerting policy: burn_rates[0]: severity is empty"},
		{"unnamed check", func(s *Spec) { s.Checks[1].Name = "" }, "checks[1]: name is empty"},
		{"duplicate check", func(s *Spec) { s.Checks[1].Name = "checkout" }, `check "checkout": defined twice`},
		{"bad label name", func(s *Spec) { s.Checks[0].Labels["bad-name"] = "x" }, `check "checkout": label "bad-name" is not a valid Prometheus label name`},
		{"reserved label", func(s *Spec) { s.Checks[0].Labels["severity"] = "x" }, `check "checkout": label "severity" is set by the generated alerts`},
		{"duplicate slo", func(s *Spec) { s.Checks[0].SLOs[1].Name = "availability" }, `check "checkout": slo "availability" defined twice`},
		{"unnamed slo", func(s *Spec) { s.Checks[0].SLOs[1].Name = "" }, `check "checkout": slos[1]: name is empty`},
		{"unknown step", func(s *Spec) { s.Checks[0].SLOs[1].Objective.Step = "logout" }, `check "checkout": slo "login-p99": no step "logout" in the scenario`},
		{"zero latency", func(s *Spec) { s.Checks[0].SLOs[1].Objective.Target = 0 }, `check "checkout": slo "login-p99": latency threshold 0 s must be positive`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := fixture(t, alert.DefaultPolicy())
			tc.mutate(&spec)
			_, err := Rules(spec)
			require.Error(t, err, "Rules with %s", tc.name)
			assert.Contains(t, err.Error(), tc.want, "Rules with %s", tc.name)
			_, err = Dashboard(spec)
			require.Error(t, err, "Dashboard with %s", tc.name)
			assert.Contains(t, err.Error(), tc.want, "Dashboard with %s", tc.name)
		})
	}
}

func TestSpecErrorsAreAllReported(t *testing.T) {
	spec := fixture(t, alert.DefaultPolicy())
	spec.Policy.Windows[0].Factor = -1
	spec.Checks[0].Labels["slo"] = "x"
	spec.Checks[1].SLOs[0].Name = ""
	_, err := Rules(spec)
	require.Error(t, err)
	assert.Equal(t, 3, strings.Count(err.Error(), "\n")+1, "one line per problem in:\n%v", err)
}

func TestPrometheusRule(t *testing.T) {
	f, err := Rules(fixture(t, secondsPolicy()))
	require.NoError(t, err)
	out, err := f.PrometheusRule("canary", "monitoring", map[string]string{"release": "prom"})
	require.NoError(t, err)
	var got struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string            `yaml:"name"`
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Spec RuleFile `yaml:"spec"`
	}
	require.NoError(t, yaml.Unmarshal(out, &got))
	assert.Equal(t, "monitoring.coreos.com/v1", got.APIVersion)
	assert.Equal(t, "PrometheusRule", got.Kind)
	assert.Equal(t, "canary", got.Metadata.Name)
	assert.Equal(t, "monitoring", got.Metadata.Namespace)
	assert.Equal(t, map[string]string{"release": "prom"}, got.Metadata.Labels)
	assert.Equal(t, *f, got.Spec, "spec holds the same groups as the rule file")

	out, err = f.PrometheusRule("canary", "", nil)
	require.NoError(t, err)
	assert.Contains(t, string(out), "\nmetadata:\n  name: canary\nspec:\n", "no namespace or labels when none are given")
}

func TestPrometheusRuleErrors(t *testing.T) {
	f, err := Rules(fixture(t, secondsPolicy()))
	require.NoError(t, err)
	for _, tc := range []struct {
		name, object, namespace string
		labels                  map[string]string
		want                    string
	}{
		{"empty name", "", "", nil, `PrometheusRule name "": want a DNS subdomain`},
		{"upper-case name", "Canary", "", nil, `PrometheusRule name "Canary": want a DNS subdomain`},
		{"namespace with a dot", "canary", "a.b", nil, `PrometheusRule namespace "a.b": want a DNS label`},
		{"label key", "canary", "", map[string]string{"-x": "y"}, `PrometheusRule label "-x": key must be`},
		{"label prefix", "canary", "", map[string]string{"Bad_/x": "y"}, `PrometheusRule label "Bad_/x": key prefix must be a DNS subdomain`},
		{"label value", "canary", "", map[string]string{"x": "a b"}, `PrometheusRule label "x": value "a b" must be`},
	} {
		_, err := f.PrometheusRule(tc.object, tc.namespace, tc.labels)
		require.Error(t, err, tc.name)
		assert.Contains(t, err.Error(), tc.want, tc.name)
	}
}

func TestExhaustion(t *testing.T) {
	for _, tc := range []struct {
		period time.Duration
		factor float64
		want   string
	}{
		{30 * 24 * time.Hour, 14.4, "2d2h"},
		{30 * 24 * time.Hour, 6, "5d"},
		{time.Hour, 14.4, "4m10s"},
		{time.Second, 1e12, "under a second"},
		{30 * 24 * time.Hour, 1e-300, "forever"},
	} {
		assert.Equal(t, tc.want, exhaustion(tc.period, tc.factor), "exhaustion(%v, %v)", tc.period, tc.factor)
	}
}

func TestLinksAreOptional(t *testing.T) {
	spec := fixture(t, alert.DefaultPolicy())
	spec.ExternalURL = ""
	f, err := Rules(spec)
	require.NoError(t, err)
	for group, rs := range rulesBy(f) {
		for _, r := range rs {
			if r.Alert == "" {
				continue
			}
			assert.NotContains(t, r.Annotations, "status_url", "%s %s without an external URL", group, r.Alert)
			_, runbook := r.Annotations["runbook_url"]
			assert.Equal(t, group == "canary.checkout", runbook, "%s %s: runbook_url only where the check has one", group, r.Alert)
		}
	}
	dash, err := Dashboard(spec)
	require.NoError(t, err)
	assert.Contains(t, string(dash), `"links": [],`, "no status page link without an external URL")
}

// promqlBlockRE finds the ```promql blocks of a Markdown page, indented
// or not (inside list items).
var promqlBlockRE = regexp.MustCompile("(?ms)^( *)```promql\n(.*?)^ *```")

// The PromQL that docs/rules-and-dashboards.md shows is what the generators
// write for its example (check checkout, the default policy).
func TestDocsShowTheGeneratedPromQL(t *testing.T) {
	doc, err := os.ReadFile("../docs/rules-and-dashboards.md")
	require.NoError(t, err)
	spec := Spec{Policy: alert.DefaultPolicy(), Checks: []Check{{
		Name: "checkout", Steps: []string{"login"},
		SLOs: []SLO{objective(t, "availability", "success>=99.5%"), objective(t, "login-p99", "p99(login)<800ms")},
	}}}
	generated := map[string]bool{}
	f, err := Rules(spec)
	require.NoError(t, err)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			generated[r.Expr] = true
		}
	}
	dash, err := Dashboard(spec)
	require.NoError(t, err)
	exprs, err := Expressions(dash)
	require.NoError(t, err)
	for _, e := range exprs {
		generated[e] = true
	}
	blocks := promqlBlockRE.FindAllStringSubmatch(string(doc), -1)
	require.Len(t, blocks, 4, "promql blocks in docs/rules-and-dashboards.md")
	for _, b := range blocks {
		var lines []string
		for _, l := range strings.Split(strings.TrimSuffix(b[2], "\n"), "\n") {
			lines = append(lines, strings.TrimPrefix(l, b[1]))
		}
		block := strings.Join(lines, "\n")
		assert.True(t, generated[block], "docs/rules-and-dashboards.md shows PromQL the generators do not write:\n%s", block)
	}
}
