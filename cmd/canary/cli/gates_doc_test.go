package cli

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/mdblock"
)

// docs/gates.md's section on `canary gate` shows its command lines and
// what it prints; these tests parse the lines with the real command and
// produce the output from the page's own verdict example, so that the
// page cannot drift from the command. (daemon/gates_api_doc_test.go keeps
// that example honest against the daemon.)

// gatesDocBlock is the only fenced block of lang in docs/gates.md under the
// heading that starts with heading.
func gatesDocBlock(t *testing.T, heading, lang string) mdblock.Block {
	t.Helper()
	blocks, err := mdblock.Read(filepath.Join(repoRoot, "docs", "gates.md"))
	require.NoError(t, err)
	b, err := mdblock.One(blocks, heading, lang)
	require.NoError(t, err, "docs/gates.md")
	return b
}

var (
	optionalPart = regexp.MustCompile(`\s*\[([^\[\]]*)\]`)
	placeholder  = regexp.MustCompile(`^[A-Z]$`)
	// Values of the kind the synopsis' placeholders stand for, by flag.
	placeholders = map[string]string{"--since": "2026-11-24T10:00:00Z", "--min-samples": "100",
		"--key": "rollout-checkout-42", "--token": "run-token"}
)

// synopsisVariants turns a synopsis line ("--check c [--window 10m]") into
// the command lines it stands for: without any optional part, and with all
// of them; a placeholder (T, N, K) after a flag is replaced by a value of
// the kind the flag takes.
func synopsisVariants(line string) (without, with string) {
	without = optionalPart.ReplaceAllString(line, "")
	with = optionalPart.ReplaceAllString(line, " $1")
	fill := func(s string) string {
		words := strings.Fields(s)
		for i := 1; i < len(words); i++ {
			if v, ok := placeholders[words[i-1]]; ok && placeholder.MatchString(words[i]) {
				words[i] = v
			}
		}
		return strings.Join(words, " ")
	}
	return fill(without), fill(with)
}

func TestSynopsisVariants(t *testing.T) {
	for _, tc := range []struct {
		name, line, without, with string
	}{
		{"no optional part", "canary gate --check c", "canary gate --check c", "canary gate --check c"},
		{"optional parts and placeholders", "canary gate --check c [--window 10m] [--since T] [--min-samples N]",
			"canary gate --check c", "canary gate --check c --window 10m --since 2026-11-24T10:00:00Z --min-samples 100"},
		{"the same letter for two kinds", "canary gate [--since T] [--token T]", "canary gate", "canary gate --since 2026-11-24T10:00:00Z --token run-token"},
		{"only a placeholder after a flag it knows", "canary gate --check T [--key K] [--wait W]", "canary gate --check T",
			"canary gate --check T --key rollout-checkout-42 --wait W"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			without, with := synopsisVariants(tc.line)
			require.Equal(t, tc.without, without)
			require.Equal(t, tc.with, with)
		})
	}
}

// Each line of the sh block under "`canary gate`" in docs/gates.md, with
// and without its optional parts, is a command canary accepts: `gate`, flags
// it defines with values of their types, no arguments.
func TestGatesDocGateCommands(t *testing.T) {
	b := gatesDocBlock(t, "`canary gate`", "sh")
	lines := strings.Split(b.Body, "\n")
	require.NotEmpty(t, lines)
	for i, line := range lines {
		without, with := synopsisVariants(line)
		for _, variant := range []string{without, with} {
			where := fmt.Sprintf("%s, line %d: %s", b.Name(), b.Line+1+i, variant)
			t.Run(fmt.Sprintf("line %d %s", b.Line+1+i, variant), func(t *testing.T) {
				cmds, err := shellCommands(variant)
				require.NoError(t, err, where)
				require.Len(t, cmds, 1, where)
				args := cmds[0]
				require.Equal(t, []string{"canary", "gate"}, args[:2], where)
				for _, a := range args {
					require.NotRegexp(t, placeholder, a, "%s: a placeholder this test does not know", where)
				}
				root := newRoot(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) (string, bool) { return "", false }})
				cmd, rest, err := root.Find(args[1:])
				require.NoError(t, err, where)
				require.Equal(t, "gate", cmd.Name(), where)
				require.NoError(t, cmd.ParseFlags(rest), where)
				require.NoError(t, cmd.ValidateArgs(cmd.Flags().Args()), where)
			})
		}
	}
}

// The unlabelled block under "`canary gate`" in docs/gates.md is what
// `canary gate` prints for the verdict answer the page shows (the json block
// under "`GET /api/v1/checks/{name}/verdict…`"), asked of a daemon that
// answers it; and --output json prints that answer as it came.
func TestGatesDocGateOutput(t *testing.T) {
	answer := gatesDocBlock(t, "`GET /api/v1/checks/{name}/verdict", "json")
	text := gatesDocBlock(t, "`canary gate`", "")
	base, _ := verdictDaemon(t, answer.Body)
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
		shown mdblock.Block
	}{
		{"text", nil, text.Body + "\n", text},
		{"json", []string{"--output", "json"}, answer.Body + "\n", answer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := invoke(t, nil, append([]string{"gate", "--server", base, "--check", "checkout"}, tc.flags...)...)
			require.Equal(t, ExitSLOFailed, code, "the example's verdict is fail: %s", stderr)
			require.Equal(t, tc.want, stdout, "%s is not what canary gate prints for %s", tc.shown.Name(), answer.Name())
		})
	}
}
