package cli

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/demotarget"
	"github.com/canaryproj/canary/internal/mdblock"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/slo"
)

// The README is what a newcomer tries first, word for word. These tests
// fail when it drifts from the code: a command it shows no longer parses, a
// link points at nothing, a docs page is not linked, or the sample summary
// no longer looks like what `canary run` prints.

// repoRoot is the repository's root, seen from this package's folder.
const repoRoot = "../../.."

// readmeFences returns README.md's text and its fenced code blocks.
func readmeFences(t *testing.T) (string, []mdblock.Block) {
	t.Helper()
	path := filepath.Join(repoRoot, "README.md")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	blocks, err := mdblock.Read(path)
	require.NoError(t, err)
	return string(b), blocks
}

// shellCommands splits a sh block into its simple commands, each as the
// words a POSIX shell would pass: lines continued with a backslash are
// joined, comments dropped, quotes removed, and commands split at ; & | (so
// `a; b`, `a && b` and `a &` are commands of their own). Enough for the
// README's blocks, which use no substitutions or redirections with
// arguments.
func shellCommands(block string) ([][]string, error) {
	block = strings.ReplaceAll(block, "\\\n", " ")
	var cmds [][]string
	for n, line := range strings.Split(block, "\n") {
		var cmd []string
		var word strings.Builder
		inWord := false
		endWord := func() {
			if inWord {
				cmd = append(cmd, word.String())
			}
			word.Reset()
			inWord = false
		}
		endCmd := func() {
			endWord()
			if len(cmd) > 0 {
				cmds = append(cmds, cmd)
			}
			cmd = nil
		}
	scan:
		for i := 0; i < len(line); i++ {
			switch c := line[i]; {
			case c == '\'':
				j := strings.IndexByte(line[i+1:], '\'')
				if j < 0 {
					return nil, fmt.Errorf("line %d: unterminated ' in %q", n+1, line)
				}
				word.WriteString(line[i+1 : i+1+j])
				inWord = true
				i += j + 1
			case c == '"':
				j := i + 1
				for ; j < len(line) && line[j] != '"'; j++ {
					if line[j] == '\\' && j+1 < len(line) && strings.ContainsRune(`"\$`+"`", rune(line[j+1])) {
						j++
					}
					word.WriteByte(line[j])
				}
				if j == len(line) {
					return nil, fmt.Errorf("line %d: unterminated \" in %q", n+1, line)
				}
				inWord = true
				i = j
			case c == '\\' && i+1 < len(line):
				word.WriteByte(line[i+1])
				inWord = true
				i++
			case c == '#' && !inWord:
				break scan
			case c == ' ' || c == '\t':
				endWord()
			case c == ';' || c == '&' || c == '|':
				endCmd()
			default:
				word.WriteByte(c)
				inWord = true
			}
		}
		endCmd()
	}
	return cmds, nil
}

func TestShellCommands(t *testing.T) {
	for _, tc := range []struct {
		name  string
		block string
		want  [][]string
	}{
		{"words and a comment", "make build   # → bin/canary", [][]string{{"make", "build"}}},
		{"background", "bin/canary demo-target &", [][]string{{"bin/canary", "demo-target"}}},
		{"continued line and single quotes", "bin/canary run x.yaml --rate 20/s \\\n    --slo 'p99(login)<300ms' --out r.json",
			[][]string{{"bin/canary", "run", "x.yaml", "--rate", "20/s", "--slo", "p99(login)<300ms", "--out", "r.json"}}},
		{"a list", `bin/canary run x.yaml; echo "exit $?"`, [][]string{{"bin/canary", "run", "x.yaml"}, {"echo", "exit $?"}}},
		{"and, or", "kill %1 && make run || true", [][]string{{"kill", "%1"}, {"make", "run"}, {"true"}}},
		{"a # inside a word and quotes", `curl -w '%{http_code}\n' a#b "say \"hi\""`, [][]string{{"curl", "-w", `%{http_code}\n`, "a#b", `say "hi"`}}},
		{"a JSON body", `curl -X PUT h/admin/faults -d '{"error_ratio":0.2}'`, [][]string{{"curl", "-X", "PUT", "h/admin/faults", "-d", `{"error_ratio":0.2}`}}},
		{"blank lines", "\n\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := shellCommands(tc.block)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
	_, err := shellCommands("echo 'open")
	require.ErrorContains(t, err, "unterminated '")
}

// parseCanary checks args (what follows bin/canary) the way canary reads
// them before it does any work: the command exists, its flags parse, its
// arguments are the right number; for run, the files it names exist, the
// load flags describe a profile and every --slo parses.
func parseCanary(t *testing.T, args []string) {
	t.Helper()
	root := newRoot(Env{Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) (string, bool) { return "", false }})
	cmd, rest, err := root.Find(args)
	require.NoError(t, err)
	require.NotSame(t, root, cmd, "no command in %q", args)
	require.NoError(t, cmd.ParseFlags(rest))
	require.NoError(t, cmd.ValidateArgs(cmd.Flags().Args()))
	if cmd.Name() != "run" {
		return
	}
	target := cmd.Flags().Arg(0)
	if !strings.Contains(target, "://") {
		require.FileExists(t, filepath.Join(repoRoot, target))
	}
	fl := cmd.Flags()
	if profile, _ := fl.GetString("profile"); profile != "" {
		require.FileExists(t, filepath.Join(repoRoot, profile))
	} else {
		rate, _ := fl.GetString("rate")
		vus, _ := fl.GetInt("vus")
		duration, _ := fl.GetDuration("duration")
		iterations, _ := fl.GetUint64("iterations")
		_, err := profiles.FromFlags(profiles.Flags{Rate: rate, VUs: vus, Duration: duration, Iterations: iterations})
		require.NoError(t, err)
	}
	slos, _ := fl.GetStringArray("slo")
	for _, s := range slos {
		_, err := slo.ParseExpr(s)
		require.NoError(t, err, "--slo %q", s)
	}
}

// makeTargets are the targets the Makefile defines.
func makeTargets(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	require.NoError(t, err)
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z0-9_-]+):`).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	return out
}

// Every command line in the README's sh blocks: canary's parse, make's
// targets exist, and what the tour sends the demo target with curl, the
// demo target takes.
func TestReadmeCommands(t *testing.T) {
	_, fences := readmeFences(t)
	targets := makeTargets(t)
	demo := httptest.NewServer(demotarget.New(demotarget.Options{}))
	defer demo.Close()

	var canary, makes, curls int
	for _, f := range fences {
		if f.Lang != "sh" {
			continue
		}
		cmds, err := shellCommands(f.Body)
		require.NoError(t, err, "README.md:%d", f.Line)
		for _, c := range cmds {
			t.Run(strings.Join(c, " "), func(t *testing.T) {
				switch c[0] {
				case "bin/canary":
					canary++
					parseCanary(t, c[1:])
				case "make":
					makes++
					for _, target := range c[1:] {
						require.Contains(t, targets, target, "make %s: no such target in the Makefile", target)
					}
				case "curl":
					if demoCurl(t, demo.URL, c[1:]) {
						curls++
					}
				}
			})
		}
	}
	// The tour has at least these: a test that found none would pass on a
	// README that lost them.
	require.GreaterOrEqual(t, canary, 5, "bin/canary command lines")
	require.GreaterOrEqual(t, makes, 3, "make command lines")
	require.GreaterOrEqual(t, curls, 2, "curl command lines to the demo target")
}

// demoCurl sends what a README curl command line sends to the demo target
// (127.0.0.1:8080) to the one at base instead, and requires a 2xx. It
// reports whether the command line was one for the demo target.
func demoCurl(t *testing.T, base string, args []string) bool {
	t.Helper()
	method, body, target := "", "", ""
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-X", "-d", "-o", "-w", "-H":
			require.Less(t, i+1, len(args), "curl %s needs a value", a)
			switch a {
			case "-X":
				method = args[i+1]
			case "-d":
				body = args[i+1]
			}
			i++
		default:
			if !strings.HasPrefix(a, "-") {
				target = a
			}
		}
	}
	rest, ok := strings.CutPrefix(target, "127.0.0.1:8080")
	if !ok {
		return false
	}
	if method == "" {
		method = http.MethodGet
		if body != "" {
			method = http.MethodPost
		}
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+rest, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.True(t, resp.StatusCode >= 200 && resp.StatusCode < 300, "%s %s: %d %s", method, rest, resp.StatusCode, answer)
	return true
}

// githubSlug is the anchor GitHub gives a Markdown heading.
func githubSlug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestGithubSlug(t *testing.T) {
	for _, tc := range []struct{ heading, want string }{
		{"The stall (coordinated omission)", "the-stall-coordinated-omission"},
		{"Exit codes", "exit-codes"},
		{"`canary run` — one-off load tests", "canary-run--one-off-load-tests"},
		{"HTTPS on the lean path", "https-on-the-lean-path"},
	} {
		t.Run(tc.heading, func(t *testing.T) {
			require.Equal(t, tc.want, githubSlug(tc.heading))
		})
	}
}

// anchors are the headings' anchors of a Markdown file.
func anchors(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []string
	inCode := false
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if h, ok := strings.CutPrefix(line, "#"); ok && !inCode {
			out = append(out, githubSlug(strings.TrimLeft(h, "#")))
		}
	}
	return out
}

// Every relative link and image in the README points at a file that
// exists (and at a heading of it, with a #fragment); every page in docs/
// is linked.
func TestReadmeLinks(t *testing.T) {
	text, fences := readmeFences(t)
	for _, f := range fences {
		text = strings.Replace(text, f.Body, "", 1) // links inside code are not links
	}
	links := regexp.MustCompile(`\]\(([^)\s]+)\)`).FindAllStringSubmatch(text, -1)
	require.NotEmpty(t, links)
	linked := map[string]bool{}
	for _, m := range links {
		link := m[1]
		if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
			continue
		}
		t.Run(link, func(t *testing.T) {
			path, fragment, _ := strings.Cut(link, "#")
			require.NotEmpty(t, path, "an anchor in the README itself: link the docs page instead")
			full := filepath.Join(repoRoot, path)
			require.FileExists(t, full)
			linked[filepath.Clean(path)] = true
			if fragment != "" {
				require.Contains(t, anchors(t, full), fragment, "%s has no heading for #%s", path, fragment)
			}
		})
	}
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	for _, p := range pages {
		rel, err := filepath.Rel(repoRoot, p)
		require.NoError(t, err)
		require.True(t, linked[rel], "README.md does not link %s", rel)
	}
}

var number = regexp.MustCompile(`\d+(?:\.\d+)?`)

// summaryShape reduces a run summary to its structure: the headings and
// labels of its lines, in order, without the numbers (N), the outcomes (✓
// and ✗, the verdict's word), the generator's SATURATED note, the verdict's
// reasons, or the sections that appear only when iterations failed.
func summaryShape(summary string) []string {
	var out []string
	skipping := false
	afterVerdict := false
	for _, line := range strings.Split(strings.TrimSpace(summary), "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "failures" || strings.HasPrefix(trimmed, "failure samples"):
			skipping = true
			continue
		case skipping:
			// The section ends at a blank line, which goes with it: the
			// one before it stays.
			skipping = trimmed != ""
			continue
		case afterVerdict && trimmed != "":
			continue
		}
		line, _, _ = strings.Cut(line, "  — ")
		line = number.ReplaceAllString(line, "N")
		line = strings.Join(strings.Fields(line), " ")
		if rest, ok := strings.CutPrefix(line, "✓ "); ok {
			line = "· " + rest
		} else if rest, ok := strings.CutPrefix(line, "✗ "); ok {
			line = "· " + rest
		}
		if strings.HasPrefix(line, "verdict ") {
			line = "verdict WORD"
			afterVerdict = true
		}
		out = append(out, line)
	}
	return out
}

func TestSummaryShape(t *testing.T) {
	for _, tc := range []struct {
		name, summary string
		want          []string
	}{
		{"numbers and outcomes", "\n  iterations 600 (20.0/s of 20.0/s)  ✓ 600 succeeded  ✗ 0 failed\n\n  ✗ errors<1%     observed 37.5%\n  verdict    FAIL\n             errors 37.5% >= 1%\n",
			[]string{"iterations N (N/s of N/s) ✓ N succeeded ✗ N failed", "", "· errors<N% observed N%", "verdict WORD"}},
		{"saturated", "  generator  lag p99 12.89 ms, 1 CPU  — SATURATED: the generator",
			[]string{"generator lag pN N ms, N CPU"}},
		{"failure sections", "  view_cart  corrected  162\n\n  failures\n  add_to_cart    status 503 ×38\n\n  failure samples (the first)\n  add_to_cart: x\n      POST /cart\n\n  SLOs\n",
			[]string{"view_cart corrected N", "", "SLOs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, summaryShape(tc.summary))
		})
	}
}

// The README's sample summary has the shape of what `canary run` prints
// today: its command, run in this process for 2 s against the demo target
// on loopback, prints the same headings and labels in the same order.
func TestReadmeSampleSummary(t *testing.T) {
	_, fences := readmeFences(t)
	var sample string
	for _, f := range fences {
		if f.Lang == "text" && strings.HasPrefix(f.Body, "$ bin/canary run ") {
			sample = f.Body
		}
	}
	require.NotEmpty(t, sample, "README.md: no ```text block starting with `$ bin/canary run`")
	command, summary, _ := strings.Cut(sample, "\n")
	cmds, err := shellCommands(strings.TrimPrefix(command, "$ "))
	require.NoError(t, err)
	require.Len(t, cmds, 1)
	args := slices.Clone(cmds[0][1:])
	parseCanary(t, args)

	// Shorter, and its files in a temporary folder.
	dir := t.TempDir()
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--duration":
			args[i+1] = "2s"
		case "--out", "--html", "--junit", "--hdr-log":
			args[i+1] = filepath.Join(dir, filepath.Base(args[i+1]))
		}
	}
	demo := httptest.NewServer(demotarget.New(demotarget.Options{}))
	defer demo.Close()
	t.Chdir(repoRoot)
	var out, errb bytes.Buffer
	code := RunEnv(t.Context(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) (string, bool) {
		if k == "BASE_URL" {
			return demo.URL, true
		}
		return "", false
	}})
	// A machine too busy may fail or void an objective; the shape is the
	// same, and a usage error (2) or a crash (1) is not allowed.
	require.Contains(t, []int{ExitOK, ExitSLOFailed, ExitInconclusive}, code, "stderr:\n%s", errb.String())
	require.Equal(t, summaryShape(summary), summaryShape(out.String()), "the README's sample summary (first) against today's (second):\n%s", out.String())
}
