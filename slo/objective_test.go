package slo

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseExpr(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Objective
		str  string
	}{
		{"p99<300ms", Objective{Kind: KindLatency, Op: LT, Target: 0.3, Percentile: 99}, "p99<300ms"},
		{"p95(login)<200ms", Objective{Kind: KindLatency, Op: LT, Target: 0.2, Percentile: 95, Step: "login"}, "p95(login)<200ms"},
		{" p99( login , service ) <= 1.5s ", Objective{Kind: KindLatency, Op: LE, Target: 1.5, Percentile: 99, Step: "login", Service: true}, "p99(login, service)<=1.5s"},
		{"p99(service)<50", Objective{Kind: KindLatency, Op: LT, Target: 0.05, Percentile: 99, Service: true}, "p99(service)<50ms"},
		{"p999<1s", Objective{Kind: KindLatency, Op: LT, Target: 1, Percentile: 99.9}, "p99.9<1s"},
		{"p99.99<2s", Objective{Kind: KindLatency, Op: LT, Target: 2, Percentile: 99.99}, "p99.99<2s"},
		{"median<10ms", Objective{Kind: KindLatency, Op: LT, Target: 0.01, Percentile: 50}, "p50<10ms"},
		{"max<2s", Objective{Kind: KindLatency, Op: LT, Target: 2, Stat: Max}, "max<2s"},
		{"avg(cart)<100ms", Objective{Kind: KindLatency, Op: LT, Target: 0.1, Stat: Mean, Step: "cart"}, "mean(cart)<100ms"},
		{"errors<1%", Objective{Kind: KindErrors, Op: LT, Target: 0.01}, "errors<1%"},
		{"success>=99.9%", Objective{Kind: KindSuccess, Op: GE, Target: 0.999}, "success>=99.9%"},
		{"success>0.5", Objective{Kind: KindSuccess, Op: GT, Target: 0.5}, "success>50%"},
		{"rps>=90", Objective{Kind: KindRPS, Op: GE, Target: 90}, "rps>=90"},
	} {
		got, err := ParseExpr(tc.in)
		require.NoError(t, err, "ParseExpr(%q)", tc.in)
		tc.want.Name = got.Name
		assert.InDelta(t, tc.want.Target, got.Target, 1e-12, "ParseExpr(%q) target", tc.in)
		tc.want.Target = got.Target
		assert.Equal(t, tc.want, got, "ParseExpr(%q)", tc.in)
		assert.Equal(t, tc.str, got.String(), "ParseExpr(%q).String()", tc.in)
	}
}

func TestParseExprErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `slo "": want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, success>=99.9%, rps>=90`},
		{"p99 = 3ms", `slo "p99 = 3ms": want METRIC OP VALUE, e.g. p99<300ms, p95(login)<200ms, errors<1%, success>=99.9%, rps>=90`},
		{"p100<3ms", `slo "p100<3ms": unknown metric "p100" (want pNN with 0 < NN < 100, max, mean, errors, success or rps)`},
		{"latency<3ms", `slo "latency<3ms": unknown metric "latency" (want pNN, max, mean, errors, success or rps)`},
		{"p99<fast", `slo "p99<fast": value "fast": want a latency like 300ms or 1.5s`},
		{"p99<-5ms", `slo "p99<-5ms": value "-5ms": want a latency like 300ms or 1.5s`},
		{"errors<150%", `slo "errors<150%": value "150%": must be between 0% and 100%`},
		{"success>=lots", `slo "success>=lots": value "lots": want a percentage like 99.5% or a fraction like 0.995`},
		{"errors(login)<1%", `slo "errors(login)<1%": errors takes no step (it counts whole iterations)`},
		{"rps>=-1", `slo "rps>=-1": value "-1": must be a non-negative number`},
		{"p99(a, b, c)<1s", `slo "p99(a, b, c)<1s": too many arguments "a, b, c" (want STEP or STEP, service)`},
		{"p99(a, bogus)<1s", `slo "p99(a, bogus)<1s": bad argument "bogus" (want a step name, then optionally service or corrected)`},
	} {
		_, err := ParseExpr(tc.in)
		assert.EqualError(t, err, tc.want, "ParseExpr(%q)", tc.in)
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
	for _, s := range []string{"p99<300ms", "p95(login, service)<=2s", "errors<1%", "success>=99.9%", "rps>=90", "max<1", "p(99)<1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseExpr(s)
		if err != nil {
			return
		}
		// Whatever parses prints back to something that parses the same.
		again, err := ParseExpr(o.String())
		if err != nil {
			t.Fatalf("ParseExpr(%q).String() = %q does not parse: %v", s, o.String(), err)
		}
		if again.Kind != o.Kind || again.Op != o.Op || again.Step != o.Step || again.Service != o.Service || again.Stat != o.Stat {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, o)
		}
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
		{in: "success", want: Objective{Kind: KindSuccess}},
		{in: "rps", want: Objective{Kind: KindRPS}},
		{in: "", err: "want a metric like p99, p95(login), p99(login, service), errors or success"},
		{in: "p99<3ms", err: "want a metric like p99, p95(login), p99(login, service), errors or success"},
		{in: "p100", err: `unknown metric "p100" (want pNN with 0 < NN < 100, max, mean, errors, success or rps)`},
		{in: "errors(login)", err: "errors takes no step (it counts whole iterations)"},
		{in: "rps(login)", err: "rps takes no step"},
		{in: "p99(a, bogus)", err: `bad argument "bogus" (want a step name, then optionally service or corrected)`},
	} {
		got, err := ParseSubject(tc.in)
		if tc.err != "" {
			assert.EqualError(t, err, tc.err, "ParseSubject(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "ParseSubject(%q)", tc.in)
		tc.want.Name = got.Name
		assert.Equal(t, tc.want, got, "ParseSubject(%q)", tc.in)
		// The subject parses as the left-hand side of a --slo expression.
		full, err := ParseExpr(tc.in + "<1")
		require.NoError(t, err)
		assert.Equal(t, got.Subject(), full.Subject(), "ParseSubject(%q) and ParseExpr agree", tc.in)
	}
}
