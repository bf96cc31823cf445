package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsComparisonCheck: the comparison check docs/daemon.md shows loads,
// next to the example scenario it names.
func TestDocsComparisonCheck(t *testing.T) {
	doc, err := os.ReadFile("../docs/daemon.md")
	require.NoError(t, err)
	var block string
	for _, m := range regexp.MustCompile("(?ms)^```yaml\n(.*?)^```").FindAllStringSubmatch(string(doc), -1) {
		if strings.Contains(m[1], "baseline:") {
			block = m[1]
		}
	}
	require.NotEmpty(t, block, "docs/daemon.md shows a comparison check")
	scenario, err := os.ReadFile("../examples/checkout.yaml")
	require.NoError(t, err)
	path := write(t, "canary.yaml", map[string]string{"canary.yaml": block, "checkout.yaml": string(scenario)})
	cfg, err := Load(path, noEnv)
	require.NoError(t, err)
	require.Len(t, cfg.Checks, 1)
	cmp := cfg.Checks[0].Comparison
	require.NotNil(t, cmp)
	assert.Len(t, cmp.Objectives, 3)
	assert.Equal(t, []string{"canary.checkout.svc"}, cmp.Candidate.StaticHosts())
	assert.Equal(t, filepath.Join(filepath.Dir(path), "canary.yaml"), cfg.File)
}
