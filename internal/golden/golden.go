// Package golden compares test output with files under testdata/ and,
// when the test binary runs with -update, rewrites them first.
package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// Updating reports whether the test binary runs with -update.
func Updating() bool { return *update }

// Assert compares got with the file at path, which -update rewrites first.
func Assert(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file %s (go test -update writes it)", path)
	assert.Equal(t, string(want), string(got), "%s differs (go test -update rewrites it)", path)
}
