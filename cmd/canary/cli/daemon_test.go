package cli

import (
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
)

func TestParseDemoTarget(t *testing.T) {
	for _, tc := range []struct {
		name, spec, addr string
		faults           demotarget.Faults
		err              string
	}{
		{name: "an address", spec: "127.0.0.1:8080", addr: "127.0.0.1:8080"},
		{name: "with knobs", spec: "127.0.0.1:8082,latency=20ms,jitter=20ms,slower=15%,error_ratio=0.01,error_status=500,path_prefix=/cart",
			addr: "127.0.0.1:8082", faults: demotarget.Faults{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond, Slower: 0.15,
				ErrorRatio: 0.01, ErrorStatus: 500, PathPrefix: "/cart"}},
		{name: "no address", spec: ",latency=1ms", err: "want ADDR[,knob=value...], e.g. 127.0.0.1:8081,latency=20ms,slower=15%"},
		{name: "not a pair", spec: "127.0.0.1:1,slow", err: `"slow": want knob=value`},
		{name: "an unknown knob", spec: "127.0.0.1:1,speed=2", err: `speed: unknown knob "speed" (latency, jitter, slower, error_ratio, error_status, path_prefix)`},
		{name: "every bad value", spec: "127.0.0.1:1,latency=fast,slower=much",
			err: "latency: time: invalid duration \"fast\"\nslower \"much\": want a percentage like 15% or a fraction like 0.15"},
		{name: "out of range", spec: "127.0.0.1:1,error_ratio=2", err: "error_ratio 2 is outside 0..1"},
		{name: "slower with nothing to stretch", spec: "127.0.0.1:1,slower=15%", err: "slower 0.15 stretches latency and jitter: set one of them (e.g. latency 20ms, jitter 20ms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, f, err := parseDemoTarget(tc.spec)
			if tc.err != "" {
				require.Error(t, err)
				assert.Equal(t, tc.err, err.Error(), "parseDemoTarget(%q)", tc.spec)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.addr, addr)
			assert.Equal(t, tc.faults, f)
		})
	}
}

// The daemon collects at GOGC=25 unless GOGC is set, and puts the previous
// target back when it returns.
func TestDaemonGC(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want int
	}{
		{name: "GOGC unset", env: map[string]string{}, want: daemonGOGC},
		{name: "GOGC set", env: map[string]string{"GOGC": "200"}, want: 123},
		{name: "GOGC set empty", env: map[string]string{"GOGC": ""}, want: 123},
	} {
		t.Run(tc.name, func(t *testing.T) {
			orig := debug.SetGCPercent(123) // what the process runs with
			defer debug.SetGCPercent(orig)
			restore := daemonGC(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
			got := debug.SetGCPercent(-1)
			debug.SetGCPercent(got)
			require.Equal(t, tc.want, got, "while the daemon runs")
			restore()
			got = debug.SetGCPercent(-1)
			debug.SetGCPercent(got)
			require.Equal(t, 123, got, "after")
		})
	}
}
