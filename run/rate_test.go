package run

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/profiles"
)

func TestExpectedRate(t *testing.T) {
	tests := []struct {
		flags profiles.Flags
		want  float64
	}{
		{profiles.Flags{Rate: "2000/s", Duration: time.Minute}, 2000},
		{profiles.Flags{Rate: "1/10s", Duration: time.Minute}, 0.1},
		{profiles.Flags{VUs: 5, Duration: time.Minute}, 0},
		{profiles.Flags{Iterations: 10}, 0},
	}
	for _, tt := range tests {
		p, err := profiles.FromFlags(tt.flags)
		require.NoError(t, err)
		assert.InDelta(t, tt.want, ExpectedRate(p), 1e-9, "%+v", tt.flags)
	}
}
