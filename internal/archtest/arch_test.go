package archtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	module  = "github.com/canaryproj/canary"
	docPath = "../../docs/ARCHITECTURE.md"
)

// layers maps a package (relative to the module) to its layer.
type layers map[string]int

// graph maps a package (relative to the module) to the packages of ours it
// imports.
type graph map[string][]string

// TestImportsFollowTheLayers is the test the document promises: every
// package is on a layer, and imports only packages on lower layers.
func TestImportsFollowTheLayers(t *testing.T) {
	doc, err := os.Open(docPath)
	require.NoError(t, err)
	defer doc.Close()
	ls, err := parseLayers(doc)
	require.NoError(t, err)
	g := importGraph(t)
	require.NotEmpty(t, g)
	touchSources(t)
	for _, p := range check(ls, g) {
		t.Error(p)
	}
}

// The check itself fails on a bad import, a package missing from the
// table and a package the table names that does not exist.
func TestCheckFindsBadImports(t *testing.T) {
	ls := layers{"stats": 1, "redact": 1, "slo": 2, "run": 5, "daemon": 9}
	for _, tc := range []struct {
		name  string
		graph graph
		want  []string
	}{
		{name: "downward only", graph: graph{"stats": nil, "redact": nil, "slo": {"stats"}, "run": {"slo", "stats"}, "daemon": {"run", "slo"}}},
		{name: "a leaf importing one of ours", graph: graph{"stats": {"redact"}, "redact": nil, "slo": nil, "run": nil, "daemon": nil},
			want: []string{"stats (layer 1) imports redact (layer 1): only packages on lower layers may be imported"}},
		{name: "upward", graph: graph{"stats": nil, "redact": nil, "slo": {"daemon"}, "run": nil, "daemon": nil},
			want: []string{"slo (layer 2) imports daemon (layer 9): only packages on lower layers may be imported"}},
		{name: "a package not in the table", graph: graph{"stats": nil, "redact": nil, "slo": nil, "run": nil, "daemon": {"newpkg"}, "newpkg": nil},
			want: []string{"newpkg is on no layer: add it to the table in docs/ARCHITECTURE.md"}},
		{name: "a package the table names that is gone", graph: graph{"stats": nil, "redact": nil, "slo": nil, "run": nil},
			want: []string{"daemon is in the table of docs/ARCHITECTURE.md but not in the module"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, check(ls, tc.graph))
		})
	}
}

func TestParseLayers(t *testing.T) {
	doc := "# x\n\nprose | with a pipe\n\n| layer | packages | what |\n|---|---|---|\n" +
		"| 1 | `stats`, `internal/clock` | leaves |\n| 2 | `slo` | rules |\n\n| other | table |\n|---|---|\n| 9 | `nope` |\n"
	ls, err := parseLayers(strings.NewReader(doc))
	require.NoError(t, err)
	assert.Equal(t, layers{"stats": 1, "internal/clock": 1, "slo": 2}, ls, "only the layer table counts")

	for _, bad := range []string{
		"no table at all\n",
		"| layer | packages |\n|---|---|\n| one | `stats` |\n",
		"| layer | packages |\n|---|---|\n| 1 | stats |\n",
		"| layer | packages |\n|---|---|\n| 1 | `stats` |\n| 2 | `stats` |\n",
	} {
		_, err := parseLayers(strings.NewReader(bad))
		assert.Error(t, err, "parseLayers(%q)", bad)
	}
}

// check returns every problem of g against ls, sorted.
func check(ls layers, g graph) []string {
	var problems []string
	for p, imports := range g {
		lp, ok := ls[p]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is on no layer: add it to the table in docs/ARCHITECTURE.md", p))
			continue
		}
		for _, q := range imports {
			if lq, ok := ls[q]; ok && lq >= lp {
				problems = append(problems, fmt.Sprintf("%s (layer %d) imports %s (layer %d): only packages on lower layers may be imported", p, lp, q, lq))
			}
		}
	}
	for p := range ls {
		if _, ok := g[p]; !ok {
			problems = append(problems, fmt.Sprintf("%s is in the table of docs/ARCHITECTURE.md but not in the module", p))
		}
	}
	slices.Sort(problems)
	return problems
}

var pkgRE = regexp.MustCompile("^`([a-z0-9/]+)`$")

// parseLayers reads the table whose header starts "| layer | packages |":
// a row per layer, its number and its packages in backquotes.
func parseLayers(r io.Reader) (layers, error) {
	ls := layers{}
	in := false
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		cells := strings.Split(strings.Trim(strings.TrimSpace(sc.Text()), "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !strings.HasPrefix(strings.TrimSpace(sc.Text()), "|"):
			if in {
				return ls, nil
			}
		case len(cells) >= 2 && cells[0] == "layer" && cells[1] == "packages":
			in = true
		case in && strings.HasPrefix(cells[0], "---"):
		case in:
			n, err := strconv.Atoi(cells[0])
			if err != nil || len(cells) < 2 {
				return nil, fmt.Errorf("layer table: row %q: want | number | `pkg`, `pkg` |", sc.Text())
			}
			for _, c := range strings.Split(cells[1], ",") {
				m := pkgRE.FindStringSubmatch(strings.TrimSpace(c))
				if m == nil {
					return nil, fmt.Errorf("layer table: row %d: %q is not a `package`", n, c)
				}
				if prev, dup := ls[m[1]]; dup {
					return nil, fmt.Errorf("layer table: %s is on layers %d and %d", m[1], prev, n)
				}
				ls[m[1]] = n
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !in {
		return nil, fmt.Errorf("no table with the header | layer | packages |")
	}
	return ls, nil
}

// touchSources opens every directory and Go file of the module. The graph
// comes from a subprocess, which go test's cache cannot see; opening the
// sources here makes a changed import, a new file or a new package directory
// a new test run instead of a cached pass.
func touchSources(t *testing.T) {
	t.Helper()
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() && path != "../.." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || strings.HasSuffix(name, ".go") {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		}
		return nil
	})
	require.NoError(t, err)
}

// importGraph is the module's import graph from the go command: each
// package's own imports (not its tests'), ours only.
func importGraph(t *testing.T) graph {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", module+"/...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
			Error      *struct{ Err string }
		}
		require.NoError(t, dec.Decode(&p))
		require.Nil(t, p.Error, "go list %s", p.ImportPath)
		name := strings.TrimPrefix(p.ImportPath, module+"/")
		g[name] = nil
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, module+"/"); ok {
				g[name] = append(g[name], rest)
			}
		}
	}
	return g
}
