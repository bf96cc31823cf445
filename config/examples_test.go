package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The example config (what `make run` serves) loads with an empty
// environment, through the same loaders the daemon uses.
func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../examples/canary.yaml", func(string) (string, bool) { return "", false })
	require.NoError(t, err)
	names := []string{}
	for _, ck := range cfg.Checks {
		names = append(names, ck.Name)
		assert.NotEmpty(t, ck.Scenario.StepNames(), ck.Name)
	}
	assert.Equal(t, []string{"health", "checkout", "shoppers-spike", "candidate"}, names)
	cmp := cfg.CheckByName("candidate").Comparison
	require.NotNil(t, cmp, "a comparison check")
	assert.Equal(t, "http://127.0.0.1:8082", cmp.CandidateURL)
	assert.Len(t, cmp.Objectives, 3)
	assert.NotNil(t, cfg.CheckByName("shoppers-spike").Schedule, "a scheduled check")
	assert.Equal(t, "change-me", cfg.Server.AuthToken, "the token's default applies without CANARY_TOKEN")
}
