package slo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/membound"
)

func TestParseExpr(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want Objective
		str  string
	}{
		{"every request's p99", "p99<300ms", Objective{Kind: KindLatency, Op: LT, Target: 0.3, Percentile: 99}, "p99<300ms"},
		{"a step", "p95(login)<200ms", Objective{Kind: KindLatency, Op: LT, Target: 0.2, Percentile: 95, Step: "login"}, "p95(login)<200ms"},
		{"spaces and service", " p99( login , service ) <= 1.5s ", Objective{Kind: KindLatency, Op: LE, Target: 1.5, Percentile: 99, Step: "login", Service: true}, "p99(login, service)<=1.5s"},
		{"bare number is ms", "p99(service)<50", Objective{Kind: KindLatency, Op: LT, Target: 0.05, Percentile: 99, Service: true}, "p99(service)<50ms"},
		{"p999", "p999<1s", Objective{Kind: KindLatency, Op: LT, Target: 1, Percentile: 99.9}, "p99.9<1s"},
		{"p99.99", "p99.99<2s", Objective{Kind: KindLatency, Op: LT, Target: 2, Percentile: 99.99}, "p99.99<2s"},
		{"median", "median<10ms", Objective{Kind: KindLatency, Op: LT, Target: 0.01, Percentile: 50}, "p50<10ms"},
		{"max", "max<2s", Objective{Kind: KindLatency, Op: LT, Target: 2, Stat: Max}, "max<2s"},
		{"avg", "avg(cart)<100ms", Objective{Kind: KindLatency, Op: LT, Target: 0.1, Stat: Mean, Step: "cart"}, "mean(cart)<100ms"},
		{"upper case and a spaced unit", "P99 < 300 ms", Objective{Kind: KindLatency, Op: LT, Target: 0.3, Percentile: 99}, "p99<300ms"},
		{"the iteration", "p99(iteration)<2s", Objective{Kind: KindLatency, Op: LT, Target: 2, Percentile: 99, Iteration: true}, "p99(iteration)<2s"},
		{"a tag filter", "p99(checkout, region=eu)<400ms", Objective{Kind: KindLatency, Op: LT, Target: 0.4, Percentile: 99, Step: "checkout", Filters: []Filter{{"region", "eu"}}}, "p99(checkout, region=eu)<400ms"},
		{"a method filter", "p95(method=post)<1s", Objective{Kind: KindLatency, Op: LT, Target: 1, Percentile: 95, Filters: []Filter{{"method", "POST"}}}, "p95(method=POST)<1s"},
		{"a step by key", "p99(step=iteration)<1s", Objective{Kind: KindLatency, Op: LT, Target: 1, Percentile: 99, Step: "iteration"}, "p99(step=iteration)<1s"},
		{"errors", "errors<1%", Objective{Kind: KindErrors, Op: LT, Target: 0.01}, "errors<1%"},
		{"errors of a step", "errors(login) < 0.1%", Objective{Kind: KindErrors, Op: LT, Target: 0.001, Step: "login"}, "errors(login)<0.1%"},
		{"errors by status", "Errors(status=5XX)<1 %", Objective{Kind: KindErrors, Op: LT, Target: 0.01, Filters: []Filter{{"status", "5xx"}}}, "errors(status=5xx)<1%"},
		{"errors of the iteration", "errors(iteration)<1%", Objective{Kind: KindErrors, Op: LT, Target: 0.01}, "errors<1%"},
		{"success", "success>=99.9%", Objective{Kind: KindSuccess, Op: GE, Target: 0.999}, "success>=99.9%"},
		{"rps", "rps>=90", Objective{Kind: KindRPS, Op: GE, Target: 90}, "rps>=90"},
		{"rps per second", "rps(login)>=90/s", Objective{Kind: KindRPS, Op: GE, Target: 90, Step: "login"}, "rps(login)>=90"},
		{"abort", "errors<1% abort_on_fail", Objective{Kind: KindErrors, Op: LT, Target: 0.01, Abort: &Abort{}}, "errors<1%"},
		{"abort settings", "p99 < 300ms ABORT_ON_FAIL(min_samples=100, delay=30s, for=10s)",
			Objective{Kind: KindLatency, Op: LT, Target: 0.3, Percentile: 99, Abort: &Abort{MinSamples: 100, Delay: 30 * time.Second, For: 10 * time.Second}}, "p99<300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseExpr(tc.in)
			require.NoError(t, err, "ParseExpr(%q)", tc.in)
			tc.want.Name = got.Name
			assert.InDelta(t, tc.want.Target, got.Target, 1e-12, "ParseExpr(%q) target", tc.in)
			tc.want.Target = got.Target
			assert.Equal(t, tc.want, got, "ParseExpr(%q)", tc.in)
			assert.Equal(t, tc.str, got.String(), "ParseExpr(%q).String()", tc.in)
			again, err := ParseExpr(got.Spec())
			require.NoError(t, err, "ParseExpr(%q).Spec() = %q", tc.in, got.Spec())
			again.Name = got.Name
			assert.Equal(t, got, again, "ParseExpr(%q).Spec() = %q reads back the same", tc.in, got.Spec())
		})
	}
}

func TestParseExprErrors(t *testing.T) {
	const help = "want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, errors(login)<0.1%, success>=99.9%, rps>=90"
	for _, tc := range []struct{ name, in, want string }{
		{"empty", "", `slo "": ` + help},
		{"equals", "p99 = 3ms", `slo "p99 = 3ms": operator "=": want <, <=, > or >=`},
		{"no value", "p99<", `slo "p99<": ` + help},
		{"p100", "p100<3ms", `slo "p100<3ms": unknown metric "p100" (want pNN with 0 < NN < 100, max, mean, errors, success or rps)`},
		{"unknown metric", "latency<3ms", `slo "latency<3ms": unknown metric "latency" (want pNN, max, mean, errors, success or rps)`},
		{"iteration_p99", "iteration_p99<3s", `slo "iteration_p99<3s": unknown metric "iteration_p99": for the whole iteration's duration write p99(iteration)`},
		{"not a latency", "p99<fast", `slo "p99<fast": value "fast": want a latency like 300ms or 1.5s`},
		{"negative latency", "p99<-5ms", `slo "p99<-5ms": value "-5ms": want a latency like 300ms or 1.5s`},
		{"over 100%", "errors<150%", `slo "errors<150%": value "150%": must be between 0% and 100%`},
		{"not a ratio", "success>=lots", `slo "success>=lots": value "lots": want a percentage like 99.5% or 0.1%`},
		{"a ratio without %", "errors<1", `slo "errors<1": value "1": a ratio needs a %: errors<1% is 1 percent, errors<100% is the fraction 1`},
		{"a fraction without %", "success>=0.995", `slo "success>=0.995": value "0.995": a ratio needs a %: success>=0.995% is 0.995 percent, success>=99.5% is the fraction 0.995`},
		{"a big ratio without %", "success>=99.9", `slo "success>=99.9": value "99.9": a ratio needs a %: write success>=99.9%`},
		{"negative rps", "rps>=-1", `slo "rps>=-1": value "-1": must be a non-negative number of iterations (or requests) per second`},
		{"two steps", "p99(a, b)<1s", `slo "p99(a, b)<1s": two steps "a" and "b": an objective names at most one (or select several by a tag, like region=eu)`},
		{"bad argument", "p99(a, Bogus!)<1s", `slo "p99(a, Bogus!)<1s": bad argument "Bogus!" (want a step name, iteration, service, or a filter like method=POST, status=5xx or region=eu)`},
		{"unclosed", "p99(a<1s", `slo "p99(a<1s": p99(…: the arguments have no closing ')'`},
		{"empty parentheses", "p99()<1s", `slo "p99()<1s": empty parentheses: name a step, a filter like method=POST, or iteration`},
		{"latency by status", "p99(status=2xx)<1s", `slo "p99(status=2xx)<1s": latency is kept per step, not per status: status= filters errors and success (e.g. errors(status=5xx)<1%)`},
		{"bad status", "errors(status=6xx)<1%", `slo "errors(status=6xx)<1%": status=6xx: want a status class like 5xx or a code like 503`},
		{"bad method", "p99(method=get it)<1s", `slo "p99(method=get it)<1s": method=get it: want an HTTP method like GET or POST`},
		{"filter twice", "p99(region=eu, region=us)<1s", `slo "p99(region=eu, region=us)<1s": filter region given twice`},
		{"iteration and a step", "p99(iteration, login)<1s", `slo "p99(iteration, login)<1s": iteration is the whole iteration: it takes no step, filter or service`},
		{"errors of the iteration and a step", "errors(iteration, login)<1%", `slo "errors(iteration, login)<1%": errors(iteration) counts whole iterations: it takes no step or filter`},
		{"service errors", "errors(service)<1%", `slo "errors(service)<1%": service applies to latency, not errors`},
		{"abort setting", "errors<1% abort_on_fail(wait=3s)", `slo "errors<1% abort_on_fail(wait=3s)": abort_on_fail: unknown setting "wait" (want min_samples, delay or for)`},
		{"abort duration", "errors<1% abort_on_fail(for=soon)", `slo "errors<1% abort_on_fail(for=soon)": abort_on_fail: for=soon: want a duration like 30s`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseExpr(tc.in)
			assert.EqualError(t, err, tc.want, "ParseExpr(%q)", tc.in)
		})
	}
}

func TestBind(t *testing.T) {
	steps := []StepInfo{
		{Name: "login", Method: "POST", Tags: map[string]string{"region": "eu"}},
		{Name: "cart", Method: "GET", Tags: map[string]string{"region": "us"}},
		{Name: "checkout", Method: "POST", Tags: map[string]string{"region": "eu", "tier": "pay"}},
	}
	for _, tc := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{name: "every request", in: "p99<1s", want: []string{"login", "cart", "checkout"}},
		{name: "a step", in: "p99(cart)<1s", want: []string{"cart"}},
		{name: "a tag", in: "p99(region=eu)<1s", want: []string{"login", "checkout"}},
		{name: "a method", in: "errors(method=POST)<1%", want: []string{"login", "checkout"}},
		{name: "a step and a tag", in: "p99(checkout, region=eu)<1s", want: []string{"checkout"}},
		{name: "status alone reads every step", in: "errors(status=5xx)<1%", want: []string{"login", "cart", "checkout"}},
		{name: "iterations bind nothing", in: "errors<1%"},
		{name: "the iteration binds nothing", in: "p99(iteration)<1s"},
		{name: "unknown step", in: "p99(pay)<1s", err: `the scenario has no step "pay" (steps: login, cart, checkout)`},
		{name: "no step passes", in: "p99(cart, region=eu)<1s",
			err: "no step has step=cart, region=eu (steps login: method=POST, region=eu; cart: method=GET, region=us; checkout: method=POST, region=eu, tier=pay)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := ParseExpr(tc.in)
			require.NoError(t, err)
			err = o.Bind(steps)
			if tc.err != "" {
				assert.EqualError(t, err, tc.err, "Bind(%q)", tc.in)
				return
			}
			require.NoError(t, err, "Bind(%q)", tc.in)
			assert.Equal(t, tc.want, o.Steps, "Bind(%q).Steps", tc.in)
		})
	}
}

func TestBudget(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
	}{
		{"success>=99.5%", 0.005},
		{"errors<1%", 0.01},
		{"p99<300ms", 0.01},
		{"p95(login)<1s", 0.05},
		{"max<1s", 0},
		{"rps>=10", 0},
		{"p99>1ms", 0},
	} {
		o, err := ParseExpr(tc.in)
		require.NoError(t, err)
		assert.InDelta(t, tc.want, o.Budget(), 1e-12, "Budget(%q)", tc.in)
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"p99<300ms", "p95(login, service)<=2s", "errors<1%", "success>=99.9%", "rps>=90", "max<1", "p(99)<1",
		"p99(checkout, region=eu)<400ms", "errors(status=5xx)<1% abort_on_fail(for=10s)", "P99 < 300 ms", "p99(iteration)<2s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		membound.Check(t, 8*membound.MiB, func() {
			o, err := ParseExpr(s)
			if err != nil {
				return
			}
			// Whatever parses prints back to something that parses the same.
			again, err := ParseExpr(o.Spec())
			if err != nil {
				t.Fatalf("ParseExpr(%q).Spec() = %q does not parse: %v", s, o.Spec(), err)
			}
			if again.Subject() != o.Subject() || again.Op != o.Op || again.Stat != o.Stat || again.Abort.String() != o.Abort.String() {
				t.Fatalf("round trip of %q: %+v != %+v", s, again, o)
			}
		})
	})
}

func TestParseSubject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Objective
		err  string
	}{
		{in: "p99", want: Objective{Kind: KindLatency, Percentile: 99}},
		{in: " p95( login ) ", want: Objective{Kind: KindLatency, Percentile: 95, Step: "login"}},
		{in: "p99(login, service)", want: Objective{Kind: KindLatency, Percentile: 99, Step: "login", Service: true}},
		{in: "p999(service)", want: Objective{Kind: KindLatency, Percentile: 99.9, Service: true}},
		{in: "max(cart)", want: Objective{Kind: KindLatency, Stat: Max, Step: "cart"}},
		{in: "errors", want: Objective{Kind: KindErrors}},
		{in: "errors(login)", want: Objective{Kind: KindErrors, Step: "login"}},
		{in: "success", want: Objective{Kind: KindSuccess}},
		{in: "rps", want: Objective{Kind: KindRPS}},
		{in: "", err: "want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, errors(login)<0.1%, success>=99.9%, rps>=90"},
		{in: "p99<3ms", err: "want a metric like p99, p95(login), p99(login, service), errors or success"},
		{in: "p100", err: `unknown metric "p100" (want pNN with 0 < NN < 100, max, mean, errors, success or rps)`},
		{in: "p99(a, Bogus)", err: `bad argument "Bogus" (want a step name, iteration, service, or a filter like method=POST, status=5xx or region=eu)`},
	} {
		got, err := ParseSubject(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "ParseSubject(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseSubject(%q)", tc.in)
		tc.want.Name = got.Name
		assert.Equal(t, tc.want, got, "ParseSubject(%q)", tc.in)
		// The subject parses as the left-hand side of an objective.
		full, err := ParseExpr(tc.in + "<1%")
		if tc.want.Kind == KindLatency || tc.want.Kind == KindRPS {
			full, err = ParseExpr(tc.in + "<1")
		}
		require.NoError(t, err)
		assert.Equal(t, got.Subject(), full.Subject(), "ParseSubject(%q) and ParseExpr agree", tc.in)
	}
}
