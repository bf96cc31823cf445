package daemon

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

// TestSpareSnapshotsSurviveCollections: a snapshot given back is there to
// reuse after garbage collections (a sync.Pool would have let it go, and
// the next window read would allocate a megabyte again), and the list
// keeps no more than its capacity.
func TestSpareSnapshotsSurviveCollections(t *testing.T) {
	l := make(spareSnapshots, 2)
	require.Nil(t, l.get(), "an empty list")
	a, b, c := stats.NewSnapshot([]string{"x"}), stats.NewSnapshot([]string{"x"}), stats.NewSnapshot([]string{"x"})
	l.put(a)
	l.put(b)
	l.put(c) // beyond its capacity: dropped
	l.put(nil)
	runtime.GC()
	runtime.GC()
	got := []*stats.Snapshot{l.get(), l.get()}
	require.ElementsMatch(t, []*stats.Snapshot{a, b}, got)
	require.Nil(t, l.get(), "c was not kept")
}
