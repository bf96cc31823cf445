package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lockedBuffer is a bytes.Buffer that a running command writes while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestDemoTargetFaultFlags(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errb lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- RunEnv(ctx, []string{"demo-target", "--listen", "127.0.0.1:0", "--seed", "1",
			"--latency", "2ms", "--jitter", "3ms", "--slower", "15%", "--error-ratio", "0.01"},
			Env{Stdout: &out, Stderr: &errb, Getenv: func(string) (string, bool) { return "", false }})
	}()

	listening := regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)
	var base string
	require.Eventually(t, func() bool {
		if m := listening.FindStringSubmatch(errb.String()); m != nil {
			base = m[1]
			return true
		}
		return false
	}, 10*time.Second, 10*time.Millisecond, "demo-target did not start: %s", errb.String())

	req, err := http.NewRequestWithContext(ctx, "GET", base+"/admin/faults", nil)
	require.NoError(t, err)
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var knobs map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&knobs))
	assert.Equal(t, map[string]any{"latency": "2ms", "jitter": "3ms", "slower": 0.15, "error_ratio": 0.01,
		"error_status": float64(503), "path_prefix": ""}, knobs)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, ExitOK, code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("demo-target did not stop when its context ended")
	}
}

func TestDemoTargetBadFaultFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"slower is not a percentage", []string{"--latency", "10ms", "--slower", "fast"}, `slower "fast": want a percentage like 15% or a fraction like 0.15`},
		{"slower out of range", []string{"--latency", "10ms", "--slower", "2000%"}, `slower "2000%": must be between 0% and 1000%`},
		{"slower with nothing to stretch", []string{"--slower", "15%"}, "slower 0.15 stretches latency and jitter: set one of them"},
		{"error ratio out of range", []string{"--error-ratio", "2"}, "error_ratio 2 is outside 0..1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"demo-target", "--listen", "127.0.0.1:0"}, tc.args...)
			code := RunEnv(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) (string, bool) { return "", false }})
			assert.Equal(t, ExitUsage, code, "%v", args)
			assert.Contains(t, errb.String(), tc.want, "%v", args)
		})
	}
}
