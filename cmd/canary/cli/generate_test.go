package cli

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
)

// The committed dashboards/canary.rules.yml and dashboards/canary.json are
// what the generator makes of examples/canary.yaml (make generate).
func TestCommittedArtefactsMatchTheGenerator(t *testing.T) {
	env := func(string) (string, bool) { return "", false } // the config's defaults, whatever the machine has
	for _, tc := range []struct {
		args []string
		file string
	}{
		{[]string{"rules", "--config", "../../../examples/canary.yaml"}, "../../../dashboards/canary.rules.yml"},
		{[]string{"dashboards", "--config", "../../../examples/canary.yaml"}, "../../../dashboards/canary.json"},
	} {
		var out, errb bytes.Buffer
		code := RunEnv(context.Background(), tc.args, Env{Stdout: &out, Stderr: &errb, Getenv: env})
		require.Equal(t, ExitOK, code, errb.String())
		if golden.Updating() {
			require.NoError(t, os.WriteFile(tc.file, out.Bytes(), 0o644))
		}
		want, err := os.ReadFile(tc.file)
		require.NoError(t, err, "run `make generate`")
		assert.Equal(t, string(want), out.String(), "%s drifted from the generator: run `make generate`", tc.file)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"rules"},
		{"rules", "--config", "nope.yaml"},
		{"rules", "--config", "../../../examples/canary.yaml", "--format", "xml"},
		{"dashboards"},
		{"gate", "--check", "x"},
		{"gate", "--server", "http://127.0.0.1:1", "--prometheus", "http://127.0.0.1:1", "--check", "x"},
		{"gate", "--prometheus", "http://127.0.0.1:1", "--check", "x"},
		{"daemon"},
		{"validate"},
		{"nosuchcommand"},
	} {
		var out, errb bytes.Buffer
		code := RunEnv(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) (string, bool) { return "", false }})
		assert.Equal(t, ExitUsage, code, "%v: %s", args, errb.String())
		assert.NotEmpty(t, errb.String(), "%v says why", args)
	}
}
