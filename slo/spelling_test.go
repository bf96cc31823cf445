package slo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Objectives as people type them: the metric in any case, spaces around
// the operator and between a number and its unit.
func TestParseExprSpellings(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"upper-case percentile", "P99<300ms", "p99<300ms"},
		{"space before the unit", "p99<300 ms", "p99<300ms"},
		{"spaces everywhere", " P95 ( login ) < 200 ms ", "p95(login)<200ms"},
		{"capitalised ratio", "Errors < 1 %", "errors<1%"},
		{"upper-case median", "MEDIAN<10ms", "p50<10ms"},
		{"space in a percentage", "success >= 99.9 %", "success>=99.9%"},
		{"upper-case rps", "RPS>=90", "rps>=90"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseExpr(tc.in)
			require.NoError(t, err, "ParseExpr(%q)", tc.in)
			assert.Equal(t, tc.want, o.String(), "ParseExpr(%q)", tc.in)
		})
	}
}

func TestParseExprSpellingsStillRefused(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no value", "p99<"},
		{"a word for a value", "p99 < very fast"},
		{"unknown metric in capitals", "LATENCY<3ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpr(tc.in)
			assert.Error(t, err, "ParseExpr(%q)", tc.in)
		})
	}
}
