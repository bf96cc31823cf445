package daemon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const scheduledCheck = `  - name: nightly
    scenario: shop.yaml
    profile: {constant: {target: 10, duration: 2s}}
    schedule: "* * * * *"
    slos:
      - {name: availability, success: 95%}
    window: 3s
    min_samples: 10
`

// A scheduled check says when it runs next — in the log, in
// /api/v1/checks and in its verdict between runs — instead of an empty
// inconclusive row; the heartbeat sums everything up.
func TestScheduledChecksAndTheHeartbeat(t *testing.T) {
	td := newTestDaemon(t, "", scheduledCheck)
	td.clk = clockAt(t, ":30")
	td.heartbeat = 20 * time.Second
	td.run()
	start := td.clk.Now()
	next := start.Truncate(time.Minute).Add(time.Minute)

	checks := func() map[string]any {
		_, _, list := td.do("GET", "/api/v1/checks", "", nil)
		require.Len(t, list["checks"], 1)
		return list["checks"].([]any)[0].(map[string]any)
	}
	c := checks()
	assert.Equal(t, next.UTC().Format(time.RFC3339), c["next_run"])
	assert.Nil(t, c["running"], "not running")
	lines := td.logs.Lines(`msg="next scheduled run"`)
	require.Len(t, lines, 1)
	assert.Contains(t, lines[0], "check=nightly at="+next.UTC().Format(time.RFC3339)+" in=30s")

	td.advance(time.Second)
	_, _, v := td.do("GET", "/api/v1/checks/nightly/verdict", "", nil)
	assert.Equal(t, "inconclusive", v["verdict"])
	assert.Equal(t, next.UTC().Format(time.RFC3339), v["next_run"])
	reasons := fmt.Sprint(v["reasons"])
	assert.Contains(t, reasons, "scheduled (* * * * *): no run over 3s; the next at "+next.UTC().Format(time.RFC3339)+", in 29s")

	// The run: 2 s at 10/s, judged over the 3 s window right after it.
	td.advance(next.Sub(td.clk.Now()) + 2500*time.Millisecond)
	c = checks()
	assert.Equal(t, "pass", c["verdict"], "%v", c)
	assert.Equal(t, next.Add(time.Minute).UTC().Format(time.RFC3339), c["next_run"])
	assert.Len(t, td.logs.Lines(`msg="scheduled run starting" check=nightly`), 1)
	td.waitFor(func() bool { lines = td.logs.Lines(`msg="next scheduled run"`); return len(lines) >= 2 },
		func() string { return "the next run logged after the run: " + strings.Join(lines, "\n") })
	require.Len(t, lines, 2)
	assert.Contains(t, lines[1], "at="+next.Add(time.Minute).UTC().Format(time.RFC3339))
	changes := td.logs.Lines(`msg="verdict changed"`)
	require.Len(t, changes, 2, strings.Join(changes, "\n"))
	assert.Contains(t, changes[0], `check=nightly from=none to=inconclusive reason="scheduled (* * * * *): no run over 3s; the next at`)
	assert.Contains(t, changes[1], `check=nightly from=inconclusive to=pass reason="availability 100%"`)

	// A heartbeat every 20 s of the daemon's time: at 20 s (before the
	// run) and 40 s (after it, its window empty again).
	td.advance(start.Add(40 * time.Second).Sub(td.clk.Now()))
	var beats []string
	td.waitFor(func() bool { beats = td.logs.Lines(`msg=heartbeat`); return len(beats) >= 2 },
		func() string { return "two heartbeats by 40 s: " + strings.Join(beats, "\n") })
	require.Len(t, beats, 2, strings.Join(beats, "\n"))
	assert.Contains(t, beats[0], "checks=1 pass=0 fail=0 inconclusive=1 iterations=0 failed=0 over=20s alerts_firing=0 runs_active=0 runs_finished=0 next_scheduled_run="+next.UTC().Format(time.RFC3339))
	assert.Contains(t, beats[1], "checks=1 pass=0 fail=0 inconclusive=1 iterations=20 failed=0 over=20s alerts_firing=0 runs_active=0 runs_finished=0 next_scheduled_run="+next.Add(time.Minute).UTC().Format(time.RFC3339))
}

// "Address in use" is not a config problem: the error says which address,
// which process holds it, and how to move canary; --listen (Options.Listen)
// overrides server.listen.
func TestListenAddressInUse(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer held.Close()
	addr := held.Addr().String()

	td := newTestDaemon(t, "", shopCheck)
	require.NoError(t, writeFile(td.cfg, strings.Replace(configYAML(shopCheck), "listen: 127.0.0.1:0", "listen: "+addr, 1)))
	d, err := New(Options{ConfigPath: td.cfg, Env: func(k string) (string, bool) { v, ok := td.env[k]; return v, ok }})
	require.NoError(t, err)
	err = d.Run(t.Context())
	var le *ListenError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.InUse())
	assert.False(t, errors.Is(err, ErrBadConfig), "not a config problem")
	msg := err.Error()
	assert.Contains(t, msg, "cannot listen on "+addr+": the address is already in use by ")
	if runtime.GOOS == "linux" {
		assert.Contains(t, msg, fmt.Sprintf("pid %d (", os.Getpid()), "this test process holds it")
	}
	assert.Contains(t, msg, "This is not a problem with the config")
	assert.Contains(t, msg, "--listen ADDR (or server.listen in the config)")

	// --listen moves it.
	td.listen = "127.0.0.1:0"
	td.run()
	assert.NotEqual(t, "http://"+addr, td.base)
	code, _, _ := td.do("GET", "/api/v1/checks", "", nil)
	assert.Equal(t, 200, code)
}
