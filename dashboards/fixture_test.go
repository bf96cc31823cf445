package dashboards

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/slo"
)

// objective parses a --slo expression, naming it name.
func objective(t testing.TB, name, expr string) SLO {
	t.Helper()
	o, err := slo.ParseExpr(expr)
	require.NoError(t, err, "ParseExpr(%q)", expr)
	o.Name = name
	return SLO{Name: name, Objective: o}
}

// secondsPolicy is a policy at the scale of seconds, as short-lived
// environments and the promtool tests use.
func secondsPolicy() alert.Policy {
	p := alert.DefaultPolicy()
	p.Windows = []alert.BurnWindow{
		{Long: time.Minute, Short: 10 * time.Second, Factor: 14.4, Severity: "page"},
		{Long: 3 * time.Minute, Short: 30 * time.Second, Factor: 6, Severity: "ticket"},
	}
	p.Period = time.Hour
	p.EvaluateEvery = 5 * time.Second
	return p
}

// fixture is the Spec of the golden files: two checks with every kind of
// objective (success, errors, step latency, iteration latency, service
// latency, and objectives without a budget), labels and a runbook.
func fixture(t testing.TB, p alert.Policy) Spec {
	return Spec{
		Policy:      p,
		ExternalURL: "https://canary.example.com/",
		Checks: []Check{
			{
				Name:       "checkout",
				Steps:      []string{"login", "cart", "pay"},
				Labels:     map[string]string{"team": "payments", "tier": "1"},
				RunbookURL: "https://runbooks.example.com/canary/checkout",
				SLOs: []SLO{
					objective(t, "availability", "success>=99.5%"),
					objective(t, "login-p99", "p99(login)<800ms"),
					objective(t, "checkout-p95", "p95(iteration)<2s"),
					objective(t, "pay-service-p99", "p99(pay, service)<250ms"),
					objective(t, "throughput", "rps>=9"),
				},
			},
			{
				Name:      "search",
				Steps:     []string{"query"},
				Labels:    map[string]string{"team": "discovery"},
				Scheduled: true,
				SLOs: []SLO{
					objective(t, "errors", "errors<1%"),
					objective(t, "query-p90", "p90(query)<1s"),
					objective(t, "query-max", "max(query)<3s"),
				},
			},
		},
	}
}
