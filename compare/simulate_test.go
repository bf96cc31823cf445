package compare

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/canaryproj/canary/stats"
)

// version describes how a simulated version behaves: its requests take a
// lognormal latency (median, sigma), stretched by 1+slower, and its
// iterations fail at errRate.
type version struct {
	median  time.Duration
	sigma   float64
	slower  float64
	errRate float64
}

// bucket is a histogram bucket latencies can fall in (up to 10 s), with
// the logarithms of its bounds: a value v lands in it when From <= v < To+1.
type bucket struct {
	to           int64
	logLo, logHi float64
}

var buckets = func() []bucket {
	h := stats.NewHistogram()
	if err := h.RecordValue(int64(10 * time.Second / time.Microsecond)); err != nil {
		panic(err)
	}
	var out []bucket
	for _, b := range h.Distribution() {
		out = append(out, bucket{to: b.To, logLo: math.Log(float64(max(b.From, 1))), logHi: math.Log(float64(b.To + 1))})
	}
	return out
}()

// simulate is what a run of n iterations of a one-step scenario ("api")
// against v records, drawn without a network: the histogram's bucket counts
// are a multinomial draw over the buckets with the latency distribution's
// mass in each (values truncated to whole microseconds, as stats records
// them), so it costs the same for a thousand iterations as for millions.
func simulate(t testing.TB, src rand.Source, n int64, v version) *stats.Snapshot {
	t.Helper()
	mu := math.Log(float64(v.median/time.Microsecond) * (1 + v.slower))
	// Beyond 9 sigmas either side the mass is below 1e-18: skip it.
	lo, hi := mu-9*v.sigma, mu+9*v.sigma
	h := stats.NewHistogram()
	left, mass := n, 1.0
	var err error
	for _, b := range buckets {
		if left == 0 || b.logLo > hi {
			break
		}
		if b.logHi < lo {
			continue
		}
		p := distuv.UnitNormal.CDF((b.logHi-mu)/v.sigma) - distuv.UnitNormal.CDF((b.logLo-mu)/v.sigma)
		if p <= 0 {
			continue
		}
		k := left
		if q := p / mass; q < 1 {
			k = int64(distuv.Binomial{N: float64(left), P: q, Src: src}.Rand())
		}
		err = errors.Join(err, h.RecordValues(b.to, k))
		left -= k
		mass -= p
	}
	// What the skipped tails would hold, if rounding left any.
	err = errors.Join(err, h.RecordValues(int64(math.Exp(mu)), left))
	require.NoError(t, err)

	failed := int64(distuv.Binomial{N: float64(n), P: v.errRate, Src: src}.Rand())
	// One histogram serves the iteration and the step's corrected and
	// service latency (no queueing in a simulation); nothing changes it.
	snap := &stats.Snapshot{
		Iterations: stats.IterationCounts{Success: n - failed, Failure: failed},
		Iteration:  h,
		Steps: []stats.StepSnapshot{{
			Name: "api", Latency: h, Service: h,
			Status: map[int]int64{200: n - failed, 503: failed},
		}},
	}
	snap.IterationErrors[stats.ClassHTTPStatus] = failed
	st := &snap.Steps[0]
	st.Errors[stats.ClassNone], st.Errors[stats.ClassHTTPStatus] = n-failed, failed
	return snap
}

func TestSimulateDrawsTheDistribution(t *testing.T) {
	src := rand.NewPCG(21, 22)
	v := version{median: 20 * time.Millisecond, sigma: 0.5, errRate: 0.01}
	snap := simulate(t, src, 200000, v)
	require.Equal(t, int64(200000), snap.Iteration.TotalCount())
	// The median and p99 of lognormal(ln 20ms, 0.5): 20 ms and 20·e^(0.5·2.326) = 63.9 ms.
	require.InDelta(t, 20000, float64(snap.Iteration.ValueAtQuantile(50)), 20000*0.01)
	require.InDelta(t, 63956, float64(snap.Iteration.ValueAtQuantile(99)), 63956*0.02)
	require.InDelta(t, 0.01, float64(snap.Iterations.Failure)/200000, 0.001)
	slow := simulate(t, src, 200000, version{median: 20 * time.Millisecond, sigma: 0.5, slower: 0.15})
	require.InDelta(t, 1.15*63956, float64(slow.Iteration.ValueAtQuantile(99)), 1.15*63956*0.02, "15 %% slower at p99")
}
