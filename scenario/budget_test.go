package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/membound"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// TestInputBudget loads scenarios that once made canary allocate without
// bound (the nine-level alias bomb grew `canary validate` to 24 GB), each
// under a memory bound so that a regression fails here instead of taking
// the machine.
func TestInputBudget(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(big, []byte("name: big\n#"+strings.Repeat("x", 2<<20)+"\nsteps: []\n"), 0o600))
	for _, tc := range []struct {
		name string
		file string
		want string
	}{
		{
			name: "alias bomb as a json body",
			file: "testdata/budget/json_body_bomb.yaml",
			want: "testdata/budget/json_body_bomb.yaml:12:22: alias *e: with its aliases expanded the document has more than 250000 values (each use of an alias counts every value under its anchor); write the values out or use fewer levels of aliases",
		},
		{
			name: "alias bomb in expect.json",
			file: "testdata/budget/expect_json_bomb.yaml",
			want: "testdata/budget/expect_json_bomb.yaml:12:24: alias *e: with its aliases expanded",
		},
		{
			name: "more templates than a scenario may hold",
			file: "testdata/budget/many_templates.yaml",
			want: `testdata/budget/many_templates.yaml:5158:16: step "s49" header X-H54: more than 5000 templates in one scenario, the limit`,
		},
		{
			name: "a file over the size limit is not read",
			file: big,
			want: big + ":1:1: the file is 2097174 bytes, more than the 1 MiB a YAML file may be",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			membound.Check(t, 128*membound.MiB, func() {
				_, err := Load(tc.file, LoadOptions{})
				require.ErrorContains(t, err, tc.want)
			})
		})
	}
}

// TestExprMemoryBudget evaluates expressions that build large values: each
// evaluation (one per response) fails at expr's element budget instead of
// allocating tens of MB.
func TestExprMemoryBudget(t *testing.T) {
	resp := &transport.Response{Status: 200, Body: []byte(`{"items":[1,2,3]}`)}
	for _, tc := range []struct {
		name, expr, wantErr string
	}{
		{name: "a range of a million", expr: `string(1..999999) != ""`, wantErr: "memory budget exceeded"},
		{name: "a map over a large range", expr: `len(map(1..200000, # * 2)) > 0`, wantErr: "memory budget exceeded"},
		{name: "within budget", expr: `len(map(1..1000, # * 2)) == 1000 && all(json.items, # > 0)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "name: a\nsteps:\n  - name: s\n    request: {url: \"http://127.0.0.1/\"}\n    expect: {expr: " + quote(tc.expr) + "}\n"
			s, err := Parse("f.yaml", []byte(src), LoadOptions{})
			require.NoError(t, err)
			membound.Check(t, 16*membound.MiB, func() {
				_, _, err = s.Steps[0].expect.check(resp, time.Millisecond, nil)
			})
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

// TestReportsHoldEveryScenario: a report of any valid scenario must be
// readable back, so stats' bound on a report's steps may not fall below the
// scenario's.
func TestReportsHoldEveryScenario(t *testing.T) {
	require.LessOrEqual(t, MaxSteps, stats.MaxReportSteps)
}
