package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// shellRE finds a shell invoked by a file: `sh -c`, `bash -c` (also as
// YAML or JSON list items), /bin/sh.
var shellRE = regexp.MustCompile(`\b(ba|da|a)?sh\b["']?\s*,?\s*["']?-c\b|/bin/(ba|da|a)?sh\b`)

// TestNoManifestNeedsAShell: the image has no shell, so nothing under deploy/
// may ask for one.
func TestNoManifestNeedsAShell(t *testing.T) {
	var files int
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".go") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for i, l := range strings.Split(string(raw), "\n") {
			require.False(t, shellRE.MatchString(l), "deploy/%s:%d needs a shell: %s", path, i+1, l)
		}
		return nil
	})
	require.NoError(t, err)
	require.NotZero(t, files)
}

func TestShellPattern(t *testing.T) {
	for _, tc := range []struct {
		line  string
		shell bool
	}{
		{`command: ["/bin/sh", "-c"]`, true},
		{`args: ["sh -c 'exec canary run'"]`, true},
		{`command: [bash, -c, "canary run"]`, true},
		{`- sh`, false}, // a list item on its own: the kubernetes module checks every container's command
		{`run: bash -c 'canary run x'`, true},
		{`args: ["run", "/etc/canary/checkout.yaml"]`, false},
		{`ExecReload=/bin/kill -HUP $MAINPID`, false},
	} {
		require.Equal(t, tc.shell, shellRE.MatchString(tc.line), "shellRE.MatchString(%q)", tc.line)
	}
}
