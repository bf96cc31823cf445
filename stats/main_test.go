package stats

import (
	"fmt"
	"testing"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// at is t0 plus s seconds.
func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func ms(n float64) time.Duration { return time.Duration(n * float64(time.Millisecond)) }

// fed returns a histogram with canary's bounds fed durations the way a
// collector records them.
func fed(t testing.TB, ds ...time.Duration) *hdrhistogram.Histogram {
	t.Helper()
	h := NewHistogram()
	for _, d := range ds {
		v, _ := micros(d)
		require.NoError(t, h.RecordValue(v))
	}
	return h
}

// requireSameHistogram fails unless want and got are equal bucket by
// bucket, naming the first difference.
func requireSameHistogram(t testing.TB, want, got *hdrhistogram.Histogram, what string, args ...any) {
	t.Helper()
	if want.Equals(got) {
		return
	}
	name := fmt.Sprintf(what, args...)
	dw, dg := want.Distribution(), got.Distribution()
	for i := range min(len(dw), len(dg)) {
		if dw[i] != dg[i] {
			t.Fatalf("%s: histograms differ at bucket %d..%d µs: want %d values, got %d", name, dw[i].From, dw[i].To, dw[i].Count, dg[i].Count)
		}
	}
	t.Fatalf("%s: histograms differ: want %d values, got %d", name, want.TotalCount(), got.TotalCount())
}
