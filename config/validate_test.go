package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValidateFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, path, want, err string
	}{
		{name: "daemon config", path: "../examples/canary.yaml", want: "daemon config, 3 checks"},
		{name: "scenario", path: "../examples/checkout.yaml", want: `scenario "checkout", 4 steps`},
		{name: "profile with stages", path: "../examples/profiles/ramp.yaml", want: "open-model profile"},
		{name: "profile shorthand", path: write(t, "p.yaml", map[string]string{"p.yaml": "rate: 5/s\n"}), want: "open-model profile"},
		{name: "closed profile", path: write(t, "p.yaml", map[string]string{"p.yaml": "model: closed\nconstant: {target: 3, duration: 1m}\n"}), want: "closed-model profile"},
		{name: "unknown keys", path: write(t, "x.yaml", map[string]string{"x.yaml": "foo: 1\nbar: 2\n"}),
			err: "x.yaml:1:1: not a scenario (steps:), a profile (stages: or a shorthand) or a daemon config (checks:); keys found: bar, foo"},
		{name: "bad scenario", path: write(t, "s.yaml", map[string]string{"s.yaml": "name: s\nsteps:\n  - {name: a}\n"}), err: "s.yaml:3:"},
		{name: "missing", path: filepath.Join(dir, "nope.yaml"), err: "nope.yaml: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ValidateFile(tc.path, noEnv)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
