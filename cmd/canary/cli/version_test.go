package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionFlagIsTheVersionCommand(t *testing.T) {
	code, want, _ := invoke(t, nil, "version")
	require.Equal(t, ExitOK, code)
	require.Regexp(t, `^canary \S+ \(commit \S+, go1\.\d+`, want)
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		code, got, stderr := invoke(t, nil, args...)
		assert.Equal(t, ExitOK, code, "%v: %s", args, stderr)
		assert.Equal(t, want, got, "%v", args)
	}
}
