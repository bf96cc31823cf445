package run

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

// MergeOptions configure Merge.
type MergeOptions struct {
	// SLOs judge the merge; nil means the reports' own (every report must
	// list the same expressions: the segments ran with the same --slo).
	SLOs []slo.Objective
	// Names name the reports in errors, in order (their files); the
	// default is "report 1", "report 2", ….
	Names []string
	// Absent explains segments (1-based) that have no report, for a run
	// that is judged without them: the verdict is inconclusive and names
	// them. A segment missing without an entry here is an error.
	Absent map[int]string
}

// Merge merges the reports of a distributed run's segments exactly
// (stats.MergeReports) and judges the merge once, with the rules of Run:
// the SLOs on the merged histograms and counters, the saturation rule on
// the segments' generators together (mergedGenerator). The merged report
// carries the judgement. `canary report --merge` and the daemon's
// distributed runs both judge here.
//
// The reports must be the segments of one run, each once: a duplicated
// segment, one of another run (another n or scenario), a merge or a missing
// segment (unless Absent explains it) is an error naming it.
func Merge(reps []*stats.Report, o MergeOptions) (*stats.Report, Judgement, error) {
	if len(reps) == 0 {
		return nil, Judgement{}, errors.New("no reports to merge")
	}
	name := func(k int) string {
		if k < len(o.Names) {
			return o.Names[k]
		}
		return fmt.Sprintf("report %d", k+1)
	}
	n, err := checkSegments(reps, name, o.Absent)
	if err != nil {
		return nil, Judgement{}, err
	}
	objs := o.SLOs
	if objs == nil {
		if objs, err = reportSLOs(reps, name); err != nil {
			return nil, Judgement{}, err
		}
	}
	merged, err := stats.MergeReports(reps...)
	if err != nil {
		return nil, Judgement{}, err
	}
	snap, err := merged.Snapshot()
	if err != nil {
		return nil, Judgement{}, err
	}
	window := "the run"
	if len(reps) < n {
		window = fmt.Sprintf("the %d of %d segments that reported", len(reps), n)
	}
	in := slo.Input{Snapshot: snap, Duration: merged.End.Sub(merged.Start), Window: window, Aborted: merged.Aborted}
	if a := merged.AbortedBy; a != nil {
		// A segment stopped because an objective was lost: so is the run.
		in.Lost = []string{fmt.Sprintf("aborted after %s by %s: %s", fmtSeconds(a.AtS), a.Objective, a.Reason)}
	}
	j := judge(objs, in, mergedGenerator(merged, snap))
	if len(o.Absent) > 0 {
		var absent []string
		for i := 1; i <= n; i++ {
			if why, ok := o.Absent[i]; ok {
				absent = append(absent, fmt.Sprintf("segment %d/%d %s", i, n, why))
			}
		}
		j.Verdict = slo.Inconclusive
		j.Reasons = append(absent, j.Reasons...)
	}
	j.apply(merged)
	return merged, j, nil
}

// mergedGenerator is the saturation rule's facts of a merge: the lag of
// every segment's iterations and how far they fell behind all that was due,
// as one run would have them. Reports older than these figures give only
// each segment's lag p99 and behind_pct: the worst of them then stands for
// the whole.
func mergedGenerator(merged *stats.Report, snap *stats.Snapshot) slo.Generator {
	g := slo.GeneratorOf(snap)
	if g.LagSamples == 0 && merged.Generator.LagP99Ms > 0 {
		g.LagP99 = time.Duration(merged.Generator.LagP99Ms * float64(time.Millisecond))
		g.LagSamples = merged.Iterations.Success + merged.Iterations.Failure
	}
	g.BehindPct, g.Due = merged.Generator.BehindPct, merged.Generator.Due
	if g.Due == 0 {
		g.Due = merged.Iterations.Total
	}
	return g
}

// checkSegments checks that reps are distinct segments of one run of n
// (a whole run counts as 1/1) and returns n.
func checkSegments(reps []*stats.Report, name func(int) string, absent map[int]string) (int, error) {
	of := func(k int) (int, int, error) {
		r := reps[k]
		if r.Merged > 0 {
			return 0, 0, fmt.Errorf("%s is already a merge (of %d reports): merge the segments' own reports", name(k), r.Merged)
		}
		if i, n, ok := r.Segment(); ok {
			return i, n, nil
		}
		return 1, 1, nil
	}
	_, n, err := of(0)
	if err != nil {
		return 0, err
	}
	seen := make(map[int]int, len(reps))
	for k := range reps {
		i, kn, err := of(k)
		if err != nil {
			return 0, err
		}
		if kn != n {
			return 0, fmt.Errorf("%s is segment %d/%d, %s one of %d: not segments of one run", name(k), i, kn, name(0), n)
		}
		if prev, dup := seen[i]; dup {
			if n == 1 {
				return 0, fmt.Errorf("%s and %s are whole runs, not segments of one (canary run --segment i/n)", name(prev), name(k))
			}
			return 0, fmt.Errorf("segment %d/%d appears twice: %s and %s", i, n, name(prev), name(k))
		}
		seen[i] = k
	}
	var missing []string
	for i := 1; i <= n; i++ {
		if _, ok := seen[i]; !ok {
			if _, explained := absent[i]; !explained {
				missing = append(missing, fmt.Sprintf("%d/%d", i, n))
			}
		}
	}
	switch len(missing) {
	case 0:
		return n, nil
	case 1:
		return 0, fmt.Errorf("segment %s is missing: a merge needs every segment's report", missing[0])
	}
	return 0, fmt.Errorf("segments %s are missing: a merge needs every segment's report", strings.Join(missing, ", "))
}

// reportSLOs are the objectives the reports were judged by: the same in
// every report, or the merge could not be judged by them.
func reportSLOs(reps []*stats.Report, name func(int) string) ([]slo.Objective, error) {
	exprs := func(r *stats.Report) []string {
		var out []string
		for _, s := range r.SLOs {
			out = append(out, s.Expr)
		}
		slices.Sort(out)
		return out
	}
	first := exprs(reps[0])
	for k, r := range reps[1:] {
		if e := exprs(r); !slices.Equal(e, first) {
			return nil, fmt.Errorf("%s was judged by %s, %s by %s: give the SLOs to judge the merge by (--slo)",
				name(0), sloList(first), name(k+1), sloList(e))
		}
	}
	var objs []slo.Objective
	for _, r := range reps[0].SLOs {
		o, err := slo.ParseExpr(r.Expr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name(0), err)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

func sloList(exprs []string) string {
	if len(exprs) == 0 {
		return "no SLOs"
	}
	return strings.Join(exprs, ", ")
}
