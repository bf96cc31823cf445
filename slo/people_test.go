package slo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReasonValuesAreForPeople(t *testing.T) {
	obj := func(expr string) Objective {
		o, err := ParseExpr(expr)
		require.NoError(t, err)
		return o
	}
	for _, tc := range []struct {
		name string
		o    Objective
		v    float64
		want string
	}{
		{"success, two decimals, down", obj("success>=99%"), 0.885135, "88.51%"},
		{"errors, two decimals, up", obj("errors<1%"), 0.012301, "1.24%"},
		{"close to the target, on its side", obj("success>=99.5%"), 0.994999, "99.49%"},
		{"errors just over", obj("errors<1%"), 0.0100001, "1.01%"},
		{"latency as before", obj("p99<300ms"), 0.41273, "412.73ms"},
		{"rps as before", obj("rps>=90"), 85.123, "85.12"},
		{"tls as before", obj("tls_expiry>14d"), 9.5 * 86400, "9.5d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, reasonValue(tc.o, tc.v))
		})
	}
}
