package cli

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunCPUs(t *testing.T) {
	for _, tc := range []struct {
		name         string
		flag         int
		flagSet, env bool
		avail, want  int
	}{
		{"default: half of 8", 0, false, false, 8, 4},
		{"default: half of 2", 0, false, false, 2, 1},
		{"default: at least one", 0, false, false, 1, 1},
		{"default: half of 3 rounds down", 0, false, false, 3, 1},
		{"$GOMAXPROCS wins over the default", 0, false, true, 6, 6},
		{"--cpus wins over $GOMAXPROCS", 3, true, true, 6, 3},
		{"--cpus 0 is every CPU", 0, true, false, 8, 8},
		{"--cpus may exceed the CPUs", 16, true, false, 8, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runCPUs(tc.flag, tc.flagSet, tc.env, tc.avail)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []int{-1, maxCPUs + 1} {
		_, err := runCPUs(bad, true, false, 8)
		assert.ErrorContains(t, err, "want 1..1024, or 0 for every CPU")
	}
}

func TestSetCPUsRestores(t *testing.T) {
	before := runtime.GOMAXPROCS(0)
	restore := setCPUs(1)
	assert.Equal(t, 1, runtime.GOMAXPROCS(0))
	restore()
	assert.Equal(t, before, runtime.GOMAXPROCS(0))
}
