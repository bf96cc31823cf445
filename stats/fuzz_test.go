package stats

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/membound"
)

// FuzzReadReport reads a saved report and merges it with itself, as
// `canary report --merge` and the daemon's segment push do with their
// input: whatever the bytes, a clean error or a valid merge, within a
// memory budget.
func FuzzReadReport(f *testing.F) {
	golden, err := os.ReadFile("testdata/report.golden.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	f.Add([]byte(`{"schema":"canary.report/v1","iterations":{},"steps":[]}`))
	f.Add([]byte(`{"schema":"canary.report/v1","iterations":{"total":1,"success":1},"steps":[{"name":"a","count":1,"status_codes":{"200":1}}]}`))
	f.Add([]byte(`{"schema":"canary.report/v1"} trailing`))
	f.Fuzz(func(t *testing.T, data []byte) {
		// A report holds at most 100 steps and each costs about 2.4 MB
		// of dense histograms through a merge: the budget is that worst
		// case with room. More means a decoder that allocates what its
		// input declares rather than what it holds.
		membound.Check(t, 320*membound.MiB, func() {
			r, err := ReadReport(bytes.NewReader(data))
			if err != nil {
				return
			}
			if _, err := r.Snapshot(); err != nil {
				t.Fatalf("a report ReadReport accepts must give a snapshot: %v", err)
			}
			m, err := MergeReports(r, r)
			if err != nil {
				return
			}
			if m.Iterations.Total != 2*r.Iterations.Total {
				t.Fatalf("merged %d iterations with themselves: got %d", r.Iterations.Total, m.Iterations.Total)
			}
		})
	})
}

// FuzzDecodeHistogram decodes an HdrHistogram in its compressed base64
// form, as found in reports and HdrHistogram's own tools' output.
func FuzzDecodeHistogram(f *testing.F) {
	h := NewHistogram()
	for _, v := range []int64{1, 250, 1000, 99_000, 3_600_000_000} {
		_ = h.RecordValue(v)
	}
	enc, err := EncodeHistogram(h)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
	f.Add("")
	f.Add("HISTFAAAACl4nJNpmSzMwMDAxQABzFCaEUzOmNZg/wEi0NzIyLSMlZGJgYGRgZGBAQBdRgV/")
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 64*membound.MiB, func() {
			h, err := DecodeHistogram(s)
			if err != nil {
				return
			}
			again, err := EncodeHistogram(h)
			if err != nil {
				t.Fatalf("re-encode: %v", err)
			}
			back, err := DecodeHistogram(again)
			if err != nil || !back.Equals(h) {
				t.Fatalf("a decoded histogram does not survive a round trip: %v", err)
			}
		})
	})
}

// TestManyStepsAreRefusedBeforeTheyCost builds the smallest report with
// more steps than a scenario can have: it is refused while reading, before
// any dense histogram is made (1,000 such steps, 16 KB, once made a merge
// allocate 2.4 GB).
func TestManyStepsAreRefusedBeforeTheyCost(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"schema":"canary.report/v1","iterations":{},"steps":[`)
	for i := range MaxReportSteps + 1 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"s%d"}`, i)
	}
	b.WriteString(`]}`)
	membound.Check(t, 8*membound.MiB, func() {
		_, err := ReadReport(strings.NewReader(b.String()))
		require.EqualError(t, err, "report: 101 steps: at most 100")
	})
}
