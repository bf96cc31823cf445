package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/profiles"
)

func TestDenseRecording(t *testing.T) {
	tests := []struct {
		flags profiles.Flags
		want  bool
	}{
		{profiles.Flags{Rate: "2000/s", Duration: time.Minute}, true},
		{profiles.Flags{Rate: "500/s", Duration: time.Minute}, true},
		{profiles.Flags{Rate: "100/s", Duration: time.Minute}, false},
		{profiles.Flags{Rate: "1/10s", Duration: time.Minute}, false},
		{profiles.Flags{VUs: 5, Duration: time.Minute}, true},
		{profiles.Flags{Iterations: 10}, false},
		{profiles.Flags{}, false}, // one iteration: a smoke test
	}
	for _, tt := range tests {
		p, err := profiles.FromFlags(tt.flags)
		require.NoError(t, err)
		assert.Equal(t, tt.want, denseRecording(p), "%+v", tt.flags)
	}
}
