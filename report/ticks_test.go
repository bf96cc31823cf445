package report

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
)

func labels(ts []tick) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.label
	}
	return out
}

func TestLinearTicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  float64
		want []string
		top  float64
	}{
		{"issue 18's 25 ms", 25, []string{"0", "5", "10", "15", "20", "25"}, 25},
		{"just above a tick", 25.1, []string{"0", "10", "20", "30"}, 30},
		{"small", 0.37, []string{"0", "0.1", "0.2", "0.3", "0.4"}, 0.4},
		{"tiny", 0.0042, []string{"0", "0.001", "0.002", "0.003", "0.004", "0.005"}, 0.005},
		{"one", 1, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, 1},
		{"thousands", 12345, []string{"0", "5000", "10k", "15k"}, 15000},
		{"millions", 3.2e6, []string{"0", "1M", "2M", "3M", "4M"}, 4e6},
		{"zero", 0, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, 1},
		{"negative", -3, []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, 1},
		{"not a number", math.NaN(), []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, 1},
		{"infinite", math.Inf(1), []string{"0", "0.2", "0.4", "0.6", "0.8", "1"}, 1},
		{"the largest float", math.MaxFloat64, nil, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, top := linearTicks(tc.max, 5)
			assert.LessOrEqual(t, len(ts), 7, "linearTicks(%v)", tc.max)
			if tc.want == nil {
				assert.Positive(t, top)
				return
			}
			assert.Equal(t, tc.want, labels(ts), "linearTicks(%v)", tc.max)
			assert.InDelta(t, tc.top, top, tc.top*1e-9, "linearTicks(%v) top", tc.max)
		})
	}
}

func TestTimeTicks(t *testing.T) {
	for _, tc := range []struct {
		name string
		max  float64
		want []string
	}{
		{"two minutes", 120, []string{"0s", "15s", "30s", "45s", "1m", "1m15s", "1m30s", "1m45s", "2m"}},
		{"ninety seconds", 90, []string{"0s", "15s", "30s", "45s", "1m", "1m15s", "1m30s"}},
		{"five seconds", 5, []string{"0s", "1s", "2s", "3s", "4s", "5s"}},
		{"under a second", 0.7, []string{"0s", "0.1s", "0.2s", "0.3s", "0.4s", "0.5s", "0.6s", "0.7s"}},
		{"an hour and a bit", 4000, []string{"0s", "10m", "20m", "30m", "40m", "50m", "1h"}},
		{"a day", 86400, []string{"0s", "3h", "6h", "9h", "12h", "15h", "18h", "21h", "1d"}},
		{"thirty days", 30 * 86400, []string{"0s", "7d", "14d", "21d", "28d"}},
		{"a year", 365 * 86400, []string{"0s", "49d", "98d", "147d", "196d", "245d", "294d", "343d"}},
		{"nothing", 0, []string{"0s", "0.2s", "0.4s", "0.6s", "0.8s", "1s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, labels(timeTicks(tc.max, 8)), "timeTicks(%v)", tc.max)
		})
	}
}

func TestPercentileTicks(t *testing.T) {
	ts := percentileTicks(5)
	assert.Equal(t, []string{"0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"}, labels(ts))
	for i, want := range []float64{0, math.Log10(2), 1, 2, 3, 4, 5} {
		assert.InDelta(t, want, ts[i].v, 1e-12, "%s at log10(1/(1-p))", ts[i].label)
	}
	assert.Equal(t, []string{"0%", "50%", "90%", "99%", "99.99%", "99.9999%", "99.999999%"}, labels(percentileTicks(8)), "every other nine past six")
	assert.InDelta(t, 3, percentileX(99.9), 1e-12)
	assert.True(t, math.IsInf(percentileX(100), 1))
}
