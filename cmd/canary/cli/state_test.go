package cli

import (
	"bytes"
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/logtest"
	"github.com/canaryproj/canary/store"
)

// stateConfig writes a daemon config whose state lives in dir/state.
func stateConfig(t *testing.T) (cfg, stateDir string) {
	t.Helper()
	dir := t.TempDir()
	cfg = filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(`server: {listen: "127.0.0.1:0"}
state_dir: ./state
allowed_hosts: [127.0.0.1]
checks:
  - name: home
    scenario: {name: home, steps: [{name: a, request: {url: "http://127.0.0.1:1/"}}]}
    slos: [{name: availability, success: 99%}]
`), 0o644))
	return cfg, filepath.Join(dir, "state")
}

// freelistOverwritten is a state file with runs in it whose freelist page
// is overwritten: bbolt itself panics opening it ("invalid freelist page").
func freelistOverwritten(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	s, err := store.Open(dir, store.Options{})
	require.NoError(t, err)
	for i := range 50 {
		_, err := s.PutRun(strings.Repeat("r", 10)+string(rune('a'+i%26))+string(rune('a'+i/26)), "", map[string]string{"status": strings.Repeat("x", 200)})
		require.NoError(t, err)
	}
	require.NoError(t, s.Close())
	data, err := os.ReadFile(filepath.Join(dir, store.FileName))
	require.NoError(t, err)
	// bbolt's two meta pages: page size at byte 24, freelist page at 48,
	// transaction at 64 of each; the newer one is in use.
	le := binary.LittleEndian
	ps := int(le.Uint32(data[24:]))
	meta := data[:ps]
	if le.Uint64(data[ps+64:]) > le.Uint64(data[64:]) {
		meta = data[ps : 2*ps]
	}
	free := int(le.Uint64(meta[48:]))
	require.Less(t, (free+1)*ps, len(data)+1, "the freelist is in the file")
	copy(data[free*ps:(free+1)*ps], bytes.Repeat([]byte{0xff}, ps))
	return data
}

// A damaged state file stops the daemon with a message naming the file and
// the way out — exit 2, no panic, not called a bad config — and
// --reset-state moves it aside, keeps the copy and starts empty.
func TestDamagedStateFile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		data   func(t *testing.T) []byte
		reason string
	}{
		{name: "not a state file", data: func(*testing.T) []byte { return bytes.Repeat([]byte("canary"), 20000) },
			reason: "no intact metadata page"},
		{name: "freelist overwritten", data: freelistOverwritten, reason: "freelist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, stateDir := stateConfig(t)
			require.NoError(t, os.MkdirAll(stateDir, 0o755))
			path := filepath.Join(stateDir, store.FileName)
			damaged := tc.data(t)
			require.NoError(t, os.WriteFile(path, damaged, 0o600))

			code, _, stderr := invoke(t, nil, "daemon", "--config", cfg)
			assert.Equal(t, ExitUsage, code)
			assert.True(t, strings.HasPrefix(stderr, "canary: state file "+path+" is damaged ("), stderr)
			assert.Contains(t, stderr, tc.reason)
			assert.True(t, strings.HasSuffix(stderr, "): move it aside, or start with --reset-state, which keeps a copy\n"), stderr)
			assert.NotContains(t, stderr, "bad config")
			assert.NotContains(t, stderr, "panic")

			// --reset-state: it starts (and, its context already ended,
			// stops at once: exit 0).
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			logs := &logtest.Buffer{}
			code = RunEnv(ctx, []string{"daemon", "--config", cfg, "--reset-state"}, Env{Stdout: logs, Stderr: logs, Getenv: func(string) (string, bool) { return "", false }})
			require.Equal(t, ExitOK, code, logs.String())
			kept, err := filepath.Glob(path + ".corrupt-*")
			require.NoError(t, err)
			require.Len(t, kept, 1)
			got, err := os.ReadFile(kept[0])
			require.NoError(t, err)
			assert.Equal(t, damaged, got, "the damaged file is kept as it was")
			moved := logs.Lines("the damaged state file was moved aside")
			require.Len(t, moved, 1, logs.String())
			assert.Contains(t, moved[0], "kept="+kept[0])
			s, err := store.Open(stateDir, store.Options{})
			require.NoError(t, err, "a new, intact state file")
			require.NoError(t, s.Close())

			// An intact file is kept, --reset-state or not.
			code = RunEnv(ctx, []string{"daemon", "--config", cfg, "--reset-state"}, Env{Stdout: logs, Stderr: logs, Getenv: func(string) (string, bool) { return "", false }})
			require.Equal(t, ExitOK, code, logs.String())
			again, _ := filepath.Glob(path + ".corrupt-*")
			assert.Len(t, again, 1)
		})
	}
}
