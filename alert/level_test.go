package alert_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/slo"
)

// certificate is the tests' objective without an error budget.
var certificate = slo.Objective{Name: "certificate", Kind: slo.KindTLSExpiry, Op: slo.GT, Target: (14 * 24 * time.Hour).Seconds()}

func level(known, failing bool) []alert.Observation {
	return []alert.Observation{{
		Check: "checkout", SLO: "certificate", Objective: certificate,
		Level: &alert.Level{Known: known, Failing: failing, Observed: "9.5d (the certificate of shop.example.com (step login) expires 2026-12-04 00:00 UTC)"},
	}}
}

// An objective without a budget fires while it fails and resolves once it
// holds again, with the burn-rate alerts' quiet; no data changes nothing.
func TestLevelAlerts(t *testing.T) {
	rec := &recorder{name: "rec"}
	h := newHarness(t, t.TempDir(), newClock(), []alert.Notifier{rec})
	h.eval(level(false, false))
	h.eval(level(true, false))
	require.Empty(t, h.m.Firing(), "holding: nothing fires")

	h.eval(level(true, true))
	h.drained()
	require.Equal(t, []alert.Kind{alert.Firing}, rec.kinds())
	fired := rec.notes()[0]
	assert.True(t, fired.Threshold)
	assert.Equal(t, alert.LevelSeverity, fired.Severity)
	assert.Equal(t, "tls_expiry>14d", fired.Objective)
	assert.Contains(t, fired.Observed, "shop.example.com")
	assert.Empty(t, fired.Window, "no burn-rate windows")
	assert.Zero(t, fired.BurnRate)

	h.eval(level(false, false))
	h.eval(level(true, true))
	h.eval(level(true, false))
	h.eval(level(true, false))
	require.Len(t, h.m.Firing(), 1, "two quiet evaluations are not resolve_after's three")
	h.eval(level(true, false))
	h.drained()
	require.Equal(t, []alert.Kind{alert.Firing, alert.Resolved}, rec.kinds())
	resolved := rec.notes()[1]
	assert.True(t, resolved.Threshold)
	assert.Equal(t, fired.AlertID, resolved.AlertID)
	assert.Empty(t, h.m.Firing())
}
