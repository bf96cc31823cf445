package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A file of another kind than the command wants is named for what it is,
// with the command that takes it, instead of a list of unknown keys.
func TestWrongKind(t *testing.T) {
	dir := t.TempDir()
	shorthand := filepath.Join(dir, "steady.yaml")
	require.NoError(t, os.WriteFile(shorthand, []byte("rate: 5/s\nduration: 1m\n"), 0o644))
	odd := filepath.Join(dir, "odd.yaml")
	require.NoError(t, os.WriteFile(odd, []byte("foo: 1\n"), 0o644))
	for _, tc := range []struct {
		name, path, want, msg string
	}{
		{"a daemon config as a scenario", "../examples/canary.yaml", KindScenario,
			"../examples/canary.yaml:1:1: this is a daemon config, not a scenario: use `canary daemon --config ../examples/canary.yaml`"},
		{"a daemon config as a profile", "../examples/canary.yaml", KindProfile,
			"../examples/canary.yaml:1:1: this is a daemon config, not a load profile: use `canary daemon --config ../examples/canary.yaml`"},
		{"a profile as a scenario", "../examples/profiles/ramp.yaml", KindScenario,
			"../examples/profiles/ramp.yaml:1:1: this is a load profile, not a scenario: give it to `canary run SCENARIO.yaml --profile ../examples/profiles/ramp.yaml`"},
		{"a shorthand profile as a scenario", shorthand, KindScenario,
			shorthand + ":1:1: this is a load profile, not a scenario: give it to `canary run SCENARIO.yaml --profile " + shorthand + "`"},
		{"a scenario as a profile", "../examples/smoke.yaml", KindProfile,
			"../examples/smoke.yaml:1:1: this is a scenario, not a load profile: run it with `canary run ../examples/smoke.yaml`"},
		{"a scenario as a daemon config", "../examples/smoke.yaml", KindConfig,
			"../examples/smoke.yaml:1:1: this is a scenario, not a daemon config: run it with `canary run ../examples/smoke.yaml`, or name it in a check's scenario: in the daemon config"},
		{"a profile as a daemon config", "../examples/profiles/ramp.yaml", KindConfig,
			"../examples/profiles/ramp.yaml:1:1: this is a load profile, not a daemon config: give it to `canary run SCENARIO.yaml --profile ../examples/profiles/ramp.yaml`, or name it in a check's profile: in the daemon config"},
		{"the right kind", "../examples/smoke.yaml", KindScenario, ""},
		{"a kind nobody can tell", odd, KindScenario, ""},
		{"no file", filepath.Join(dir, "nope.yaml"), KindScenario, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WrongKind(tc.path, tc.want)
			if tc.msg == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.msg)
		})
	}
}

// The daemon, rules, dashboards and gate --prometheus load their config
// through Load: a scenario or profile given to --config is told as such.
func TestLoadRefusesAnotherKind(t *testing.T) {
	for _, path := range []string{"../examples/smoke.yaml", "../examples/profiles/ramp.yaml"} {
		_, err := Load(path, noEnv)
		require.Error(t, err)
		assert.Contains(t, err.Error(), path+":1:1: this is a ")
		assert.NotContains(t, err.Error(), "unknown key")
	}
}
