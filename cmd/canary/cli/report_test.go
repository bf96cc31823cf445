package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/stats"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = RunEnv(context.Background(), args, Env{Stdout: &out, Stderr: &errb, Getenv: func(string) (string, bool) { return "", false }})
	return code, out.String(), errb.String()
}

// segmentFiles runs the 4 segments of 80 iterations, each with `canary run
// --segment i/4 --out`, against a target answering 503 to every tenth
// request of segment 3 only, and returns the report files.
func segmentFiles(t *testing.T, dir string, slos ...string) []string {
	t.Helper()
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()
	var n atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if n.Add(1)%10 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer flaky.Close()
	var files []string
	for i := 1; i <= 4; i++ {
		target := ok.URL
		if i == 3 {
			target = flaky.URL
		}
		f := filepath.Join(dir, fmt.Sprintf("seg-%d.json", i))
		args := []string{"run", target, "--iterations", "80", "--vus", "2", "--segment", fmt.Sprintf("%d/4", i), "--out", f, "--quiet"}
		for _, s := range slos {
			args = append(args, "--slo", s)
		}
		code, _, stderr := runCLI(t, args...)
		require.Contains(t, []int{ExitOK, ExitSLOFailed}, code, stderr)
		files = append(files, f)
	}
	return files
}

func TestReportMergeJudgesTheMerge(t *testing.T) {
	dir := t.TempDir()
	files := segmentFiles(t, dir, "errors<5%")
	// Segment 3 alone fails errors<5% (2 of its 20 iterations, 10 %); the
	// merge has 2 of 80 (2.5 %).
	cut := filepath.Join(dir, "cut-short.json")
	rewrite(t, files[1], cut, func(r *stats.Report) { r.Aborted = true })

	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		stderr   []string
		segment  string
		observed float64
	}{
		{"by the segments' own SLOs", append([]string{"report", "--merge"}, files...), ExitOK,
			[]string{"adhoc: merged 4/4 segments PASS"}, "merged 4/4", 2.5},
		{"by --slo", append([]string{"report", "--merge", "--slo", "errors<2%"}, files...), ExitSLOFailed,
			[]string{"adhoc: merged 4/4 segments FAIL", "  errors 2.5% >= 2% over the run, n=80"}, "merged 4/4", 2.5},
		{"a segment cut short", []string{"report", "--merge", files[0], cut, files[2], files[3]}, ExitInconclusive,
			[]string{"adhoc: merged 4/4 segments INCONCLUSIVE", "  the run was aborted before its end"}, "merged 4/4", 2.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			assert.Equal(t, tc.code, code, stderr)
			for _, s := range tc.stderr {
				assert.Contains(t, stderr, s)
			}
			var m stats.Report
			require.NoError(t, json.Unmarshal([]byte(stdout), &m))
			assert.Equal(t, tc.segment, m.Profile.(map[string]any)["segment"])
			assert.Equal(t, int64(80), m.Iterations.Total)
			require.Len(t, m.SLOs, 1)
			assert.Equal(t, tc.observed, m.SLOs[0].Observed)
		})
	}
}

func TestReportMergeRefusesBadSets(t *testing.T) {
	dir := t.TempDir()
	files := segmentFiles(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"a missing segment", []string{"report", "--merge", files[0], files[1], files[3]}, "merge: segment 3/4 is missing: a merge needs every segment's report"},
		{"a duplicated segment", []string{"report", "--merge", files[0], files[1], files[1], files[2], files[3]},
			fmt.Sprintf("merge: segment 2/4 appears twice: %s and %s", files[1], files[1])},
		{"--slo without --merge", []string{"report", files[0], "--slo", "p99<1s", "--html", filepath.Join(dir, "x.html")}, "--slo judges a merge: add --merge"},
		{"--slo on no such step", append([]string{"report", "--merge", "--slo", "p99(login)<1s"}, files...), `slo "p99(login)<1s": the reports have no step "login" (steps: request)`},
		{"a bad --slo", append([]string{"report", "--merge", "--slo", "p99<"}, files...), `slo "p99<": want METRIC OP VALUE`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tc.args...)
			assert.Equal(t, ExitUsage, code)
			assert.Contains(t, stderr, tc.want)
			assert.Empty(t, stdout, "no merged report")
		})
	}
}

// rewrite copies a report file with a change.
func rewrite(t *testing.T, from, to string, change func(*stats.Report)) {
	t.Helper()
	fh, err := os.Open(from)
	require.NoError(t, err)
	defer fh.Close()
	r, err := stats.ReadReport(fh)
	require.NoError(t, err)
	change(r)
	data, err := json.Marshal(r)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(to, data, 0o644))
}
