package scenario

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/slo"
)

// A scenario carries its own objectives, bound to its steps and tags.
func TestScenarioSLOs(t *testing.T) {
	s := parseSrc(t, `name: shop
steps:
  - {name: login, tags: {region: eu}, request: {method: post, url: "http://127.0.0.1:1/login"}}
  - {name: cart, tags: {region: us, tier: free}, request: {url: "http://127.0.0.1:1/cart"}}
  - {name: pay, tags: {region: eu}, request: {method: POST, url: "http://127.0.0.1:1/pay"}}
slos:
  - errors(login) < 0.1%
  - P99(region=eu) < 400 ms
  - {expr: "errors<1%", abort_on_fail: {min_samples: 100, for: 10s}}
  - {name: writes, expr: "p95(method=POST, service)<200ms abort_on_fail"}
`, nil)
	assert.Equal(t, []slo.StepInfo{
		{Name: "login", Method: "POST", Tags: map[string]string{"region": "eu"}},
		{Name: "cart", Method: "GET", Tags: map[string]string{"region": "us", "tier": "free"}},
		{Name: "pay", Method: "POST", Tags: map[string]string{"region": "eu"}},
	}, s.StepInfos())
	var got []string
	for _, o := range s.SLOs {
		got = append(got, fmt.Sprintf("%s: %s on %v", o.Name, o.Spec(), o.Steps))
	}
	assert.Equal(t, []string{
		"errors(login)<0.1%: errors(login)<0.1% on [login]",
		"p99(region=eu)<400ms: p99(region=eu)<400ms on [login pay]",
		"errors<1%: errors<1% abort_on_fail(min_samples=100, for=10s) on []",
		"writes: p95(method=POST, service)<200ms abort_on_fail on [login pay]",
	}, got)

	// --slo objectives bind the same way, or say what does not fit.
	objs := []slo.Objective{must(t, "p99(tier=free)<1s")}
	require.NoError(t, s.BindSLOs(objs))
	assert.Equal(t, []string{"cart"}, objs[0].Steps)
	assert.EqualError(t, s.BindSLOs([]slo.Objective{must(t, "p99(tier=paid)<1s")}),
		`slo "p99(tier=paid)<1s": no step has tier=paid (steps login: method=POST, region=eu; cart: method=GET, region=us, tier=free; pay: method=POST, region=eu)`)
}

func must(t *testing.T, expr string) slo.Objective {
	t.Helper()
	o, err := slo.ParseExpr(expr)
	require.NoError(t, err)
	return o
}

// An iteration reports the think time it spent, which p99(iteration)
// leaves out.
func TestThinkTimeIsReported(t *testing.T) {
	srv := target(t, 200, nil, "")
	s := parseSrc(t, fmt.Sprintf("name: a\nthink_time: 40ms\nsteps:\n  - {name: s, request: {url: %q}}\n  - {name: t, request: {url: %q}}\n  - {name: u, request: {url: %q}}\n",
		srv.URL, srv.URL, srv.URL), nil)
	res := NewRunner(s, client(t, s)).Run(context.Background(), Iteration{}, nil)
	require.True(t, res.OK, "%v", res.Err)
	assert.GreaterOrEqual(t, res.Think, 80*time.Millisecond, "two pauses of 40 ms")
	assert.LessOrEqual(t, res.Think, res.End.Sub(res.Start))
}
