package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/canaryproj/canary/report"
	"github.com/canaryproj/canary/run"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/stats"
)

func newReportCmd(env Env) *cobra.Command {
	var (
		html  string
		out   string
		merge bool
		slos  []string
	)
	cmd := &cobra.Command{
		Use:   "report REPORT.json... [--html OUT.html] [--merge [--slo EXPR]... --out ALL.json]",
		Short: "Render a saved run report as HTML, or merge and judge the segments of a distributed run",
		Long: `report reads run reports written by canary run --out (schema canary.report/v1).

With no flag it prints the report's summary, as canary run did. With --html it
renders a self-contained HTML page with plots. "-" as a file name is stdout.

With --merge it merges the reports of a distributed run's segments (canary run
--segment i/n), exactly, through their HdrHistograms, judges the merge by the
SLOs the segments ran with (or by --slo), and writes the merged report to --out
(or stdout). Every segment must be there, once. It exits like canary run:

  0   the merge passes its SLOs
  99  an SLO failed on the merge
  3   inconclusive (a generator saturated, a segment was cut short)
  2   bad input: a report unreadable, a segment missing, twice or of another run`,
		Example: `  canary report report.json
  canary report report.json --html report.html
  canary report --merge seg-1.json seg-2.json seg-3.json seg-4.json --out all.json --html all.html
  canary report --merge seg-*.json --slo 'p99<300ms' --slo 'errors<1%' --out all.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if !merge && len(files) > 1 {
				return usageErr("several reports: add --merge to merge them")
			}
			if !merge && len(slos) > 0 {
				return usageErr("--slo judges a merge: add --merge")
			}
			var reps []*stats.Report
			for _, f := range files {
				fh, err := os.Open(f)
				if err != nil {
					return usageErr("%v", err)
				}
				r, err := stats.ReadReport(fh)
				fh.Close()
				if err != nil {
					return usageErr("%s: %v", f, err)
				}
				reps = append(reps, r)
			}
			rep := reps[0]
			if !merge && html == "" && out == "" {
				// Just a report: say what it says, as canary run did.
				if err := report.WriteSummary(env.Stdout, rep); err != nil {
					return &exitError{code: ExitInternal, err: err}
				}
				return nil
			}
			if html == stdoutPath && (out == stdoutPath || (merge && out == "")) {
				return usageErr("--html - and the JSON report: only one output can go to stdout (give --out FILE)")
			}
			var verdict slo.Verdict
			if merge {
				objs, err := reportSLOFlags(slos, reps[0])
				if err != nil {
					return usageErr("%v", err)
				}
				var j run.Judgement
				if rep, j, err = run.Merge(reps, run.MergeOptions{SLOs: objs, Names: files}); err != nil {
					return usageErr("merge: %v", err)
				}
				verdict = j.Verdict
				fmt.Fprintf(env.Stderr, "%s: %s %s\n", rep.Scenario, describeMerge(rep), strings.ToUpper(string(verdict)))
				for _, why := range j.Reasons {
					fmt.Fprintf(env.Stderr, "  %s\n", why)
				}
			}
			if html != "" {
				if err := writeOutput(html, env.Stdout, func(w io.Writer) error { return report.WriteHTML(w, rep) }); err != nil {
					return &exitError{code: ExitInternal, err: err}
				}
			}
			if merge || out != "" {
				write := func(w io.Writer) error {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					return enc.Encode(rep)
				}
				if out == "" {
					out = stdoutPath
				}
				if err := writeOutput(out, env.Stdout, write); err != nil {
					return &exitError{code: ExitInternal, err: err}
				}
			}
			return verdictExit(verdict)
		},
	}
	f := cmd.Flags()
	f.StringVar(&html, "html", "", "write a self-contained HTML page here (- for stdout)")
	f.StringVar(&out, "out", "", "write the (merged) JSON report here, - for stdout (default stdout with --merge)")
	f.BoolVar(&merge, "merge", false, "merge and judge the reports of a distributed run's segments")
	f.StringArrayVar(&slos, "slo", nil, "with --merge: judge the merge by this SLO instead of the segments' own, repeatable")
	return cmd
}

// reportSLOFlags parses --slo for a merge; nil when none is given (the
// reports' own then judge). A step must be one of the reports'.
func reportSLOFlags(exprs []string, r *stats.Report) ([]slo.Objective, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	var steps []string
	for _, s := range r.Steps {
		steps = append(steps, s.Name)
	}
	return parseEach(exprs, slo.ParseExpr, sloStep, "slo", "the reports have", steps)
}

func sloStep(o slo.Objective) string { return o.Step }

// describeMerge is "merged 4/4 segments": what a merged report is made of.
func describeMerge(r *stats.Report) string {
	if m, ok := r.Profile.(map[string]any); ok {
		if s, ok := m["segment"].(string); ok {
			return s + " segments"
		}
	}
	return fmt.Sprintf("merged %d reports", r.Merged)
}

// verdictExit is the exit of a judged run: 0 pass (or nothing judged), 99
// fail, 3 inconclusive.
func verdictExit(v slo.Verdict) error {
	switch v {
	case "", slo.Pass:
		return nil
	case slo.Fail:
		return &exitError{code: ExitSLOFailed}
	}
	return &exitError{code: ExitInconclusive}
}
