package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/compare"
)

func TestComparisonCheck(t *testing.T) {
	path := write(t, "c.yaml", map[string]string{
		"shop.yaml": okScenario,
		"c.yaml": `allowed_hosts: [127.0.0.1, stable.internal, canary.internal]
checks:
  - name: shop-canary
    scenario: shop.yaml
    baseline: http://stable.internal:8080
    candidate: https://canary.internal/v2
    objectives:
      - p99(login) not worse by more than 10%
      - errors not higher by more than 0.1pp
    profile: {rate: 20/s}
    min_samples: 500
  - name: defaults
    scenario: shop.yaml
    baseline: http://127.0.0.1:8080
    candidate: http://127.0.0.1:8081
    profile: {rate: 5/s}
`,
	})
	cfg, err := Load(path, noEnv)
	require.NoError(t, err)
	ck := cfg.CheckByName("shop-canary")
	require.NotNil(t, ck.Comparison)
	c := ck.Comparison
	assert.Equal(t, 2, ck.Sides())
	assert.Equal(t, "http://stable.internal:8080", c.BaselineURL)
	assert.Equal(t, []string{"stable.internal"}, c.Baseline.StaticHosts())
	assert.Equal(t, []string{"canary.internal"}, c.Candidate.StaticHosts())
	require.Len(t, c.Objectives, 2)
	assert.Equal(t, "p99(login) not worse by more than 10%", c.Objectives[0].String())
	assert.Equal(t, compare.Errors, c.Objectives[1].Measure)
	assert.Equal(t, int64(500), c.Options.MinSamples, "min_samples is the fewest samples a side needs")
	assert.Empty(t, ck.SLOs)

	d := cfg.CheckByName("defaults").Comparison
	assert.Empty(t, d.Objectives, "none named: the defaults apply when judged")
	assert.Zero(t, d.Options.MinSamples, "the statistics' own minimum")
	assert.Nil(t, cfg.CheckByName("defaults").Comparison.Options.Validate())
}

func TestComparisonCheckErrors(t *testing.T) {
	for _, tc := range []struct {
		name, check, want string
	}{
		{"only a baseline", "    baseline: http://127.0.0.1:1\n",
			`c.yaml:4:5: check "x": a comparison needs both a baseline and a candidate`},
		{"objectives without sides", "    objectives: [p99 not worse]\n",
			"c.yaml:7:17: objectives are relative: give the check a baseline and a candidate, or use slos"},
		{"slos too", "    baseline: http://127.0.0.1:1\n    candidate: http://127.0.0.1:2\n    slos: [{name: a, success: 99%}]\n",
			"c.yaml:9:11: a comparison check is judged by its relative objectives; put SLOs in a check of their own"},
		{"an objective that does not parse, at its word", "    baseline: http://127.0.0.1:1\n    candidate: http://127.0.0.1:2\n    objectives:\n      - p99 not worse by 10%\n",
			`c.yaml:10:26: objective "p99 not worse by 10%": want "by more than AMOUNT", got "10%"; e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"quoted", "    baseline: http://127.0.0.1:1\n    candidate: http://127.0.0.1:2\n    objectives: [\"errors not higher by more than 10%\"]\n",
			`c.yaml:9:50: objective "errors not higher by more than 10%": "10%": write the allowance of a rate in percentage points, like 0.1pp (10% of a rate near zero means little)`},
		{"an unknown step", "    baseline: http://127.0.0.1:1\n    candidate: http://127.0.0.1:2\n    objectives: [\"p99(cart) not worse\"]\n",
			`c.yaml:9:18: objective "p99(cart) not worse": step "cart" is not in the scenario (steps: login)`},
		{"a host not allowed", "    baseline: http://127.0.0.1:1\n    candidate: http://evil.example.com\n",
			`c.yaml:8:16: check "x": host "evil.example.com" is not in allowed_hosts [127.0.0.1]`},
		{"credentials in a base URL", "    baseline: http://u:pw@127.0.0.1:1\n    candidate: http://127.0.0.1:2\n",
			`c.yaml:7:15: base URL "http://<redacted>@127.0.0.1:1": credentials in a base URL are not sent; set an Authorization header in the scenario`},
		{"both sides count against max_rate", "    baseline: http://127.0.0.1:1\n    candidate: http://127.0.0.1:2\n    profile: {rate: 30/s}\n",
			"c.yaml:4:3: the checks' rates add up to 60/s, over max_rate 50/s; lower them or raise max_rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, "c.yaml", map[string]string{
				"shop.yaml": okScenario,
				"c.yaml":    "allowed_hosts: [127.0.0.1]\nmax_rate: 50\nchecks:\n  - name: x\n    scenario: shop.yaml\n    profile: {rate: 1/s}\n" + tc.check,
			})
			if strings.Contains(tc.check, "profile:") {
				path = write(t, "c.yaml", map[string]string{
					"shop.yaml": okScenario,
					"c.yaml":    "allowed_hosts: [127.0.0.1]\nmax_rate: 50\nchecks:\n  - name: x\n    scenario: shop.yaml\n" + tc.check,
				})
			}
			_, err := Load(path, noEnv)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
