//go:build integration

package deploy

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDockerfileBuildStageMakesAStaticStampedBinary runs the Dockerfile's
// `go build` line as the build stage would (its shell, the build arguments
// as environment, the repository as the context), with /out/ moved to a
// temporary directory since there is no container engine here. The result
// must need no dynamic loader or library (the final stage is scratch) and
// print the stamped version and commit.
func TestDockerfileBuildStageMakesAStaticStampedBinary(t *testing.T) {
	var buildRun string
	for _, in := range parseDockerfile(t, "../Dockerfile")[0].all("RUN") {
		if strings.Contains(in.args, "go build") {
			buildRun = in.args
		}
	}
	require.Contains(t, buildRun, "-o /out/canary")
	out := t.TempDir()
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(buildRun, "/out/", out+"/"))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v9.9.9-test", "COMMIT=abc1234")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)

	bin := filepath.Join(out, "canary")
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader, which scratch lacks")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)

	v, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	require.Regexp(t, `^canary v9\.9\.9-test \(commit abc1234, go1\.`, string(v))
}
