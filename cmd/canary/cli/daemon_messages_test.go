package cli

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/golden"
)

// The daemon's own first messages, pinned in testdata/messages like
// TestFirstMessages': its address taken (given by --listen here, as by
// server.listen), an unset secret, a bad --listen.
func TestDaemonMessages(t *testing.T) {
	goldenDir, err := filepath.Abs("testdata/messages")
	require.NoError(t, err)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	cfg, _ := stateConfig(t)
	_, secrets := secretsConfig(t)
	// What varies from run to run: the port, this process (which /proc
	// may not show: daemon's TestListenAddressInUse checks it), the files.
	paths := strings.NewReplacer(taken.Addr().String(), "127.0.0.1:PORT",
		filepath.Dir(cfg)+string(filepath.Separator), "", filepath.Dir(secrets)+string(filepath.Separator), "")

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"daemon-port-taken", []string{"daemon", "--config", cfg, "--listen", taken.Addr().String()}},
		{"daemon-bad-listen", []string{"daemon", "--config", cfg, "--listen", "9091"}},
		{"daemon-unset-secret", []string{"daemon", "--config", secrets}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, tc.args...)
			var b strings.Builder
			fmt.Fprintf(&b, "$ canary %s\n", shellQuote(tc.args))
			if stdout != "" {
				fmt.Fprintf(&b, "-- stdout --\n%s", stdout)
			}
			if stderr != "" {
				fmt.Fprintf(&b, "-- stderr --\n%s", stderr)
			}
			fmt.Fprintf(&b, "-- exit %d --\n", code)
			got := holderPID.ReplaceAllString(paths.Replace(b.String()), "in use by pid PID (NAME)")
			golden.Assert(t, filepath.Join(goldenDir, tc.name+".golden"), []byte(got))
			assert.NotContains(t, got, "bad config")
		})
	}
}

// holderPID is the process an address-in-use message names, which differs
// from run to run (and is "another process" where /proc cannot tell).
var holderPID = regexp.MustCompile(`in use by (pid \d+ \([^)]*\)|another process)`)
