package compare

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// BenchmarkJudge judges the default objectives for runs of growing size:
// the work follows the histograms' bins, not the requests, so a hundred
// million requests a side cost about what ten thousand do. docs/compare.md
// quotes its allocations and callgrind's instruction counts.
func BenchmarkJudge(b *testing.B) {
	for _, n := range []int64{10_000, 1_000_000, 100_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			src := rand.NewPCG(1, 2)
			baseline := simulate(b, src, n, version{median: 20 * time.Millisecond, sigma: 0.5, errRate: 0.005})
			candidate := simulate(b, src, n, version{median: 20 * time.Millisecond, sigma: 0.5, slower: 0.05, errRate: 0.006})
			objs := DefaultObjectives()
			b.ReportAllocs()
			for b.Loop() {
				_, err := Judge(objs, baseline, candidate, Options{})
				require.NoError(b, err)
			}
		})
	}
}
