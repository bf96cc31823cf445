//go:build integration

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bigConfig writes a valid daemon config of 200 checks, each with a
// scenario of 100 steps with JSON bodies (87 KB): seconds of reading.
func bigConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var body []string
	for i := range 60 {
		body = append(body, fmt.Sprintf(`"k%d": "v%d"`, i, i))
	}
	var steps strings.Builder
	for s := range 100 {
		fmt.Fprintf(&steps, "  - name: s%d\n    request: {url: \"http://127.0.0.1:8080/p%d\", method: POST, json: {%s}}\n    expect: {status: 200}\n",
			s, s, strings.Join(body, ", "))
	}
	var cfg strings.Builder
	cfg.WriteString("allowed_hosts: [127.0.0.1]\nmax_rate: 100000\nchecks:\n")
	for c := range 200 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("sc%d.yaml", c)), []byte(fmt.Sprintf("name: sc%d\nsteps:\n%s", c, steps.String())), 0o644))
		fmt.Fprintf(&cfg, "  - {name: c%d, scenario: sc%d.yaml, profile: {rate: 1/s}}\n", c, c)
	}
	path := filepath.Join(dir, "canary.yaml")
	require.NoError(t, os.WriteFile(path, []byte(cfg.String()), 0o644))
	return path
}

// SIGINT or SIGTERM while canary validate reads a large config stops it
// within a second, with the shell's code for the signal (130, 143); it
// used to read to the end and exit 0. The small file first says when the
// big one is being read.
func TestSignalStopsValidate(t *testing.T) {
	bin := binary(t)
	big := bigConfig(t)
	small := filepath.Join(t.TempDir(), "smoke.yaml")
	require.NoError(t, os.WriteFile(small, []byte("name: smoke\nsteps:\n  - {name: a, request: {url: \"http://127.0.0.1:8080/\"}}\n"), 0o644))

	for _, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "validate", small, big)
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			require.NoError(t, cmd.Start())
			select {
			case <-watchFor(stdout, regexp.MustCompile(`smoke\.yaml: ok`)):
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill()
				t.Fatal("validate did not get to the big file")
			}
			require.NoError(t, cmd.Process.Signal(tc.sig))
			sent := time.Now()
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatal("validate ignored the signal")
			}
			took := time.Since(sent)
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "stderr: %s", stderr.String())
			assert.Equal(t, tc.code, ee.ExitCode(), "stderr: %s", stderr.String())
			assert.Less(t, took, time.Second, "it stops between the config's checks")
			assert.Equal(t, fmt.Sprintf("canary: interrupted (%s)\n", map[syscall.Signal]string{syscall.SIGINT: "interrupt", syscall.SIGTERM: "terminated"}[tc.sig]), stderr.String())
		})
	}
}
