package compare

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseObjective(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Objective
		str  string
	}{
		{"p99 not worse by more than 10%", Objective{Measure: Percentile, Percentile: 99, Allowance: 0.1, Unit: Relative}, "p99 not worse by more than 10%"},
		{"p50(login) not worse by more than 5ms", Objective{Measure: Percentile, Percentile: 50, Step: "login", Allowance: 0.005, Unit: Seconds}, "p50(login) not worse by more than 5ms"},
		{"p99( login , service ) not higher by more than 1.5s", Objective{Measure: Percentile, Percentile: 99, Step: "login", Service: true, Allowance: 1.5, Unit: Seconds}, "p99(login, service) not worse by more than 1.5s"},
		{"p999 not worse by more than 12.5 %", Objective{Measure: Percentile, Percentile: 99.9, Allowance: 0.125, Unit: Relative}, "p99.9 not worse by more than 12.5%"},
		{"median not worse by more than 850µs", Objective{Measure: Percentile, Percentile: 50, Allowance: 0.00085, Unit: Seconds}, "p50 not worse by more than 850µs"},
		{"p90 not worse by more than 200us", Objective{Measure: Percentile, Percentile: 90, Allowance: 0.0002, Unit: Seconds}, "p90 not worse by more than 200µs"},
		{"latency not worse by more than 5%", Objective{Measure: Latency, Allowance: 0.05, Unit: Relative}, "latency not worse by more than 5%"},
		{"latency(checkout, service) not worse by more than 2ms", Objective{Measure: Latency, Step: "checkout", Service: true, Allowance: 0.002, Unit: Seconds}, "latency(checkout, service) not worse by more than 2ms"},
		{"latency(service) not worse", Objective{Measure: Latency, Service: true, Unit: Relative}, "latency(service) not worse"},
		{"errors not higher by more than 0.1pp", Objective{Measure: Errors, Allowance: 0.001, Unit: Points}, "errors not higher by more than 0.1pp"},
		{"errors not worse by more than 1 pp", Objective{Measure: Errors, Allowance: 0.01, Unit: Points}, "errors not higher by more than 1pp"},
		{"success not lower by more than 0.1pp", Objective{Measure: Success, Allowance: 0.001, Unit: Points}, "success not lower by more than 0.1pp"},
		{"success not worse", Objective{Measure: Success, Unit: Points}, "success not lower"},
		{"  p99   not   worse  ", Objective{Measure: Percentile, Percentile: 99, Unit: Relative}, "p99 not worse"},
		{"p99 not worse by more than 0%", Objective{Measure: Percentile, Percentile: 99, Unit: Relative}, "p99 not worse"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseObjective(tc.in)
			require.NoError(t, err, "ParseObjective(%q)", tc.in)
			assert.InDelta(t, tc.want.Allowance, got.Allowance, 1e-15, "ParseObjective(%q) allowance", tc.in)
			tc.want.Name, tc.want.Allowance = got.Name, got.Allowance
			assert.Equal(t, tc.want, got, "ParseObjective(%q)", tc.in)
			assert.Equal(t, tc.str, got.String(), "ParseObjective(%q).String()", tc.in)
			again, err := ParseObjective(got.String())
			require.NoError(t, err, "the canonical form %q parses", got.String())
			assert.Equal(t, got.String(), again.String())
		})
	}
}

func TestParseObjectiveErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", `objective "": col 1: want SUBJECT not worse by more than AMOUNT, e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"p99", `objective "p99": col 4: want "not worse" after "p99", e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"p99 worse by 10%", `objective "p99 worse by 10%": col 5: want "not worse" after the subject, got "worse"; e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"not worse", `objective "not worse": col 1: want a subject before "not" (p99, p50(login), latency, errors or success)`},
		{"p100 not worse", `objective "p100 not worse": col 1: unknown metric "p100" (want pNN with 0 < NN < 100, max, mean, errors, success or rps); or latency, the typical latency`},
		{"latncy not worse", `objective "latncy not worse": col 1: unknown metric "latncy" (want pNN, max, mean, errors, success or rps); or latency, the typical latency`},
		{"latency(a, b, c) not worse", `objective "latency(a, b, c) not worse": col 1: two steps "a" and "b": an objective names at most one (or select several by a tag, like region=eu)`},
		{"max not worse by more than 10%", `objective "max not worse by more than 10%": col 1: max cannot be compared statistically: it is one request, the slowest; compare p99 or p99.9`},
		{"mean(login) not worse", `objective "mean(login) not worse": col 1: mean(login) is not compared: one slow outlier moves it; compare latency (the typical shift) or a percentile`},
		{"rps not lower", `objective "rps not lower": col 1: rps cannot be compared: one schedule drives both versions at the same rate; compare latency or errors`},
		{"errors(login) not higher", `objective "errors(login) not higher": col 1: errors(login): compare judges errors and success over whole iterations and latency per step, without filters`},
		{"p99 not", `objective "p99 not": col 8: want "worse" after "not"`},
		{"p99 not lower", `objective "p99 not lower": col 9: p99 is worse when higher: write "p99 not worse"`},
		{"errors not lower by more than 1pp", `objective "errors not lower by more than 1pp": col 12: errors is worse when higher: write "errors not higher"`},
		{"success not higher", `objective "success not higher": col 13: success is worse when lower: write "success not lower"`},
		{"p99 not slower", `objective "p99 not slower": col 9: want "worse" or "higher" after "not", got "slower"`},
		{"p99 not worse by 10%", `objective "p99 not worse by 10%": col 18: want "by more than AMOUNT", got "10%"; e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"p99 not worse than 10%", `objective "p99 not worse than 10%": col 15: want "by more than AMOUNT", got "than"; e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"p99 not worse by more", `objective "p99 not worse by more": col 22: want "by more than AMOUNT", e.g. p99 not worse by more than 10%, errors not higher by more than 0.1pp`},
		{"p99 not worse by more than", `objective "p99 not worse by more than": col 27: want an amount after "by more than": a share of the baseline like 10%, or a latency like 5ms`},
		{"errors not higher by more than", `objective "errors not higher by more than": col 31: want an amount after "by more than": percentage points like 0.1pp`},
		{"p99 not worse by more than 10", `objective "p99 not worse by more than 10": col 28: "10": want a share of the baseline like 10%, or a latency like 5ms (a latency up to 1h)`},
		{"p99 not worse by more than -5%", `objective "p99 not worse by more than -5%": col 28: "-5%": want a share of the baseline from 0% to 1000%, like 10%`},
		{"p99 not worse by more than 2h", `objective "p99 not worse by more than 2h": col 28: "2h": want a share of the baseline like 10%, or a latency like 5ms (a latency up to 1h)`},
		{"p99 not worse by more than 1pp", `objective "p99 not worse by more than 1pp": col 28: "1pp": percentage points are for errors and success; p99 takes a share of the baseline like 10%, or a latency like 5ms`},
		{"errors not higher by more than 10%", `objective "errors not higher by more than 10%": col 32: "10%": write the allowance of a rate in percentage points, like 0.1pp (10% of a rate near zero means little)`},
		{"errors not higher by more than 5ms", `objective "errors not higher by more than 5ms": col 32: "5ms": want percentage points like 0.1pp`},
		{"success not lower by more than 101pp", `objective "success not lower by more than 101pp": col 32: "101pp": want percentage points from 0pp to 100pp, like 0.1pp`},
		{"p99 not worse by more than 10% please", `objective "p99 not worse by more than 10% please": col 32: unexpected "please" after the amount`},
		{"p99(lögin) not worse by more than x", `objective "p99(lögin) not worse by more than x": col 1: bad argument "lögin" (want a step name, iteration, service, or a filter like method=POST, status=5xx or region=eu); or latency, the typical latency`},
		{"p99(login) not worse by more than x", `objective "p99(login) not worse by more than x": col 35: "x": want a share of the baseline like 10%, or a latency like 5ms (a latency up to 1h)`},
		{"p99(region=eu) not worse", `objective "p99(region=eu) not worse": col 1: p99(region=eu): compare judges errors and success over whole iterations and latency per step, without filters`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := ParseObjective(tc.in)
			require.EqualError(t, err, tc.want, "ParseObjective(%q)", tc.in)
			var pe *ParseError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, tc.in, pe.Expr)
		})
	}
}

func FuzzParseObjective(f *testing.F) {
	for _, s := range []string{
		"p99 not worse by more than 10%", "p50(login) not worse by more than 5ms", "errors not higher by more than 0.1pp",
		"success not lower by more than 0.1 pp", "latency(a, service) not worse", "p99 not worse by more than 10% x", "( not",
		"p99(login not worse", "p99) not worse",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseObjective(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) || pe.Col < 1 || pe.Msg == "" {
				t.Fatalf("ParseObjective(%q): %v is not a positioned ParseError", s, err)
			}
			return
		}
		// Whatever parses prints back to something that parses the same.
		again, err := ParseObjective(o.String())
		if err != nil {
			t.Fatalf("ParseObjective(%q).String() = %q does not parse: %v", s, o.String(), err)
		}
		if again.String() != o.String() || again.Measure != o.Measure || again.Step != o.Step || again.Service != o.Service || again.Unit != o.Unit && o.Allowance > 0 {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, o)
		}
	})
}
