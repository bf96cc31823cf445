package report

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

func TestRedact(t *testing.T) {
	env, sc := &redact.Set{}, &redact.Set{}
	env.Add("tok-from-env")
	sc.Add("pw-in-scenario")
	r := &stats.Report{
		Scenario: "checkout tok-from-env",
		Reasons:  []string{"step login: status 401 for pw-in-scenario", "nothing secret"},
		Steps:    []stats.StepReport{{Name: "login-pw-in-scenario"}, {Name: "cart"}},
	}
	Redact(r, env, sc, nil)
	assert.Equal(t, "checkout <redacted>", r.Scenario)
	assert.Equal(t, []string{"step login: status 401 for <redacted>", "nothing secret"}, r.Reasons)
	assert.Equal(t, "login-<redacted>", r.Steps[0].Name)
	assert.Equal(t, "cart", r.Steps[1].Name)
}
