package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// instruction is one Dockerfile instruction with its continuation lines
// joined and comments dropped.
type instruction struct {
	cmd  string // upper case: FROM, RUN, USER, ...
	args string
	line int
}

// stage is one FROM and the instructions under it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile reads the subset of Dockerfile syntax the repository's
// Dockerfile uses: comments, backslash continuations, one instruction per
// logical line. Heredocs and parser directives other than comments are
// refused, so a change to them cannot slip past these checks unread.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	var (
		stages  []stage
		pending string
		start   int
	)
	for i, l := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(l)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if pending != "" && strings.HasPrefix(trimmed, "#") {
			continue // a comment inside a continued instruction
		}
		if pending == "" {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		logical := pending + trimmed
		pending = ""
		require.NotContains(t, logical, "<<", "%s:%d: heredocs are not understood by this test", path, start)
		cmd, args, _ := strings.Cut(logical, " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		require.NotEmpty(t, stages, "%s:%d: %s before FROM", path, start, in.cmd)
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	require.Empty(t, pending, "%s ends inside a continued line", path)
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// makefileVar is the value of NAME in `NAME := value` or `NAME ?= value`.
func makefileVar(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile("../Makefile")
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + name + `\s*[:?]?=\s*(.*)$`).FindStringSubmatch(string(raw))
	require.NotNil(t, m, "Makefile sets %s", name)
	return strings.TrimSpace(m[1])
}

// ldflagsX is the set of -X assignments in a -ldflags value.
func ldflagsX(s string) []string {
	return regexp.MustCompile(`-X\s+[^\s"']+`).FindAllString(s, -1)
}

func TestDockerfileContract(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	require.GreaterOrEqual(t, len(stages), 2, "a multi-stage build: the toolchain stays out of the image")
	final := stages[len(stages)-1]
	build := stages[0]

	checks := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"the final image is scratch or distroless static", func(t *testing.T) {
			ok := final.from == "scratch" || strings.HasPrefix(final.from, "gcr.io/distroless/static")
			require.True(t, ok, "final stage FROM %s", final.from)
		}},
		{"nothing runs inside the final image: it has no shell", func(t *testing.T) {
			require.Empty(t, final.all("RUN"))
			require.Empty(t, final.all("SHELL"))
		}},
		{"the final image holds only the binary, the CA certificates and two empty writable directories", func(t *testing.T) {
			var dests []string
			for _, in := range append(final.all("COPY"), final.all("ADD")...) {
				f := strings.Fields(in.args)
				require.Equal(t, "COPY", in.cmd, "line %d: ADD fetches and unpacks; COPY only copies", in.line)
				dests = append(dests, f[len(f)-1])
			}
			require.ElementsMatch(t, []string{"/etc/ssl/certs/ca-certificates.crt", "/usr/local/bin/canary", "/home/canary", "/tmp"}, dests)
		}},
		{"a numeric non-root user", func(t *testing.T) {
			users := final.all("USER")
			require.Len(t, users, 1)
			uid, gid, _ := strings.Cut(users[0].args, ":")
			for _, id := range []string{uid, gid} {
				n, err := strconv.Atoi(id)
				require.NoError(t, err, "USER %s: Kubernetes' runAsNonRoot can only verify a numeric user", users[0].args)
				require.NotZero(t, n, "USER %s is root", users[0].args)
			}
		}},
		{"canary is the entrypoint, in exec form", func(t *testing.T) {
			eps := final.all("ENTRYPOINT")
			require.Len(t, eps, 1)
			var argv []string
			require.NoError(t, json.Unmarshal([]byte(eps[0].args), &argv), "ENTRYPOINT %s: the exec (JSON) form runs without a shell", eps[0].args)
			require.Len(t, argv, 1, "manifests give only the arguments: canary's subcommand first")
			require.Equal(t, "canary", filepath.Base(argv[0]))
			for _, cmd := range final.all("CMD") {
				require.True(t, json.Valid([]byte(cmd.args)), "CMD %s: exec form", cmd.args)
			}
		}},
		{"a static binary, stamped like the Makefile's", func(t *testing.T) {
			var buildRun string
			for _, in := range build.all("RUN") {
				if strings.Contains(in.args, "go build") {
					buildRun = in.args
				}
			}
			require.NotEmpty(t, buildRun, "the build stage runs go build")
			require.Contains(t, buildRun, "CGO_ENABLED=0", "without cgo the binary needs no libc")
			want := ldflagsX(strings.NewReplacer("$(VERSION)", "${VERSION}", "$(COMMIT)", "${COMMIT}").Replace(makefileVar(t, "LDFLAGS")))
			require.NotEmpty(t, want)
			require.Equal(t, want, ldflagsX(buildRun), "the same -X stamps as `make build`")
			require.Contains(t, buildRun, "./cmd/canary")
		}},
		{"the toolchain is go.mod's", func(t *testing.T) {
			mod, err := os.ReadFile("../go.mod")
			require.NoError(t, err)
			m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
			require.NotNil(t, m)
			require.Regexp(t, `^golang:`+regexp.QuoteMeta(string(m[1]))+`([.-]|$)`, build.from)
		}},
		{"OCI labels: title, source, version and revision", func(t *testing.T) {
			var labels string
			for _, in := range final.all("LABEL") {
				labels += " " + in.args
			}
			for _, key := range []string{"title", "description", "source", "version", "revision"} {
				require.Contains(t, labels, "org.opencontainers.image."+key+"=")
			}
			require.Contains(t, labels, `org.opencontainers.image.version="${VERSION}"`)
			require.Contains(t, labels, `org.opencontainers.image.revision="${COMMIT}"`)
			require.Len(t, final.all("ARG"), 2, "VERSION and COMMIT are declared again in the final stage, or the labels are empty")
		}},
	}
	for _, c := range checks {
		t.Run(c.name, c.check)
	}
}
