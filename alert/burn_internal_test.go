package alert

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/canaryproj/canary/slo"
)

func TestWindowsText(t *testing.T) {
	rule := BurnWindow{Long: time.Hour, Short: 5 * time.Minute, Factor: 14.4}
	success := slo.Objective{Kind: slo.KindSuccess, Op: slo.GE, Target: 0.999}
	burns := func(long, short float64) map[time.Duration]Burn {
		return map[time.Duration]Burn{time.Hour: {Rate: long}, 5 * time.Minute: {Rate: short}}
	}
	tests := []struct {
		name string
		o    slo.Objective
		burn map[time.Duration]Burn
		want string
	}{
		{name: "firing", o: success, burn: burns(20.8, 19),
			want: "success 97.92% and 98.1% < 99.9% over 1h and 5m"},
		{name: "both within the objective", o: success, burn: burns(0.5, 0.3),
			want: "success 99.95% and 99.97% ≥ 99.9% over 1h and 5m"},
		{name: "the short window back, the long one not yet", o: success, burn: burns(7.9, 0.3),
			want: "success 99.21% < 99.9% over 1h, 99.97% ≥ 99.9% over 5m"},
		{name: "a burn rate of exactly 1 meets the objective", o: success, burn: burns(1, 0),
			want: "success 99.9% and 100% ≥ 99.9% over 1h and 5m"},
		{name: "a window without data", o: success, burn: map[time.Duration]Burn{time.Hour: {Rate: 20}},
			want: "success 98% < 99.9% over 1h, n/a over 5m"},
		{name: "errors", o: slo.Objective{Kind: slo.KindErrors, Op: slo.LT, Target: 0.01}, burn: burns(3, 0.2),
			want: "errors 3% > 1% over 1h, 0.2% ≤ 1% over 5m"},
		{name: "a step's latency", burn: burns(2, 1.5),
			o:    slo.Objective{Kind: slo.KindLatency, Op: slo.LT, Target: 0.8, Stat: slo.Percentile, Percentile: 99, Step: "login"},
			want: "login within 800ms 98% and 98.5% < 99% over 1h and 5m"},
		{name: "every request's service latency", burn: burns(0.5, 0.5),
			o:    slo.Objective{Kind: slo.KindLatency, Op: slo.LE, Target: 0.3, Stat: slo.Percentile, Percentile: 99.9, Service: true},
			want: "requests (service) within 300ms 99.95% and 99.95% ≥ 99.9% over 1h and 5m"},
		{name: "the iteration's latency", burn: burns(0.5, 0.5),
			o:    slo.Objective{Kind: slo.KindLatency, Op: slo.LE, Target: 0.3, Stat: slo.Percentile, Percentile: 99.9, Iteration: true},
			want: "iterations within 300ms 99.95% and 99.95% ≥ 99.9% over 1h and 5m"},
		{name: "tagged requests' latency", burn: burns(0.5, 0.5),
			o:    slo.Objective{Kind: slo.KindLatency, Op: slo.LE, Target: 0.3, Stat: slo.Percentile, Percentile: 99.9, Filters: []slo.Filter{{Key: "region", Value: "eu"}}},
			want: "requests (region=eu) within 300ms 99.95% and 99.95% ≥ 99.9% over 1h and 5m"},
		{name: "no error budget: nothing to say", o: slo.Objective{Kind: slo.KindRPS, Op: slo.GE, Target: 5}, burn: burns(1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, windowsText(tt.o, rule, tt.burn), "windowsText(%v, %v)", tt.o, tt.burn)
		})
	}
}

func TestPercentDigits(t *testing.T) {
	for _, tt := range []struct {
		target float64
		want   int
	}{{0.99, 1}, {0.995, 2}, {0.999, 2}, {0.9999, 3}, {0.99999, 4}, {0.999999, 4}, {0.5, 1}} {
		assert.Equal(t, tt.want, percentDigits(tt.target), "percentDigits(%v)", tt.target)
	}
}
