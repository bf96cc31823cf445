package dashboards

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/config"
)

func TestFromConfig(t *testing.T) {
	cfg, err := config.Load("../examples/canary.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	s := FromConfig(cfg)
	assert.Equal(t, cfg.Policy, s.Policy)
	require.Len(t, s.Checks, len(cfg.Checks))
	for i, c := range s.Checks {
		ck := cfg.Checks[i]
		assert.Equal(t, ck.Name, c.Name)
		assert.Equal(t, ck.Scenario.StepNames(), c.Steps)
		assert.Equal(t, ck.Schedule != nil, c.Scheduled, ck.Name)
		require.Len(t, c.SLOs, len(ck.SLOs))
		for j, o := range c.SLOs {
			assert.Equal(t, ck.SLOs[j], o.Objective)
			assert.Equal(t, ck.SLOs[j].Name, o.Name)
		}
	}
	assert.True(t, s.Checks[2].Scheduled, "shoppers-spike runs on a schedule")
	require.NoError(t, s.validate(), "a valid config is a valid spec")
}
