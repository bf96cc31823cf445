package dashboards

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/metrics"
)

// metricNamesGo lists the metric names declared in metrics/names.go, read
// from the source so that a name added there is known here without a list
// to keep in sync.
func metricNamesGo(t *testing.T) map[string]bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "../metrics/names.go", nil, 0)
	require.NoError(t, err)
	names := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if v, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(v, "canary_") {
				names[v] = true
			}
		}
		return true
	})
	require.Contains(t, names, metrics.IterationsTotal, "metrics/names.go parsed")
	return names
}

var (
	stringRE   = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
	matchersRE = regexp.MustCompile(`\{[^}]*\}`)
	rangeRE    = regexp.MustCompile(`\[[^\]]*\]`)
	groupingRE = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// Numbers and durations (1e-05, 0.99, 1h30m) first, then identifiers.
	tokenRE  = regexp.MustCompile(`[0-9](?:[eE][+-]|[0-9a-zA-Z_.])*|[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords = map[string]bool{
		"and": true, "or": true, "unless": true, "bool": true, "offset": true, "by": true, "without": true,
		"on": true, "ignoring": true, "group_left": true, "group_right": true, "inf": true, "nan": true,
	}
)

// metricIdentifiers returns the metric names an expression reads: the
// identifiers left once strings, label matchers, ranges and grouping labels
// are removed, that are neither keywords nor function calls.
func metricIdentifiers(expr string) []string {
	s := stringRE.ReplaceAllString(expr, `""`)
	s = matchersRE.ReplaceAllString(s, "{}")
	s = rangeRE.ReplaceAllString(s, "[]")
	s = groupingRE.ReplaceAllString(s, "")
	var ids []string
	for _, loc := range tokenRE.FindAllStringIndex(s, -1) {
		tok := s[loc[0]:loc[1]]
		if tok[0] >= '0' && tok[0] <= '9' || keywords[strings.ToLower(tok)] {
			continue
		}
		if rest := strings.TrimLeft(s[loc[1]:], " \n\t"); strings.HasPrefix(rest, "(") {
			continue // a function or an aggregation
		}
		ids = append(ids, tok)
	}
	return ids
}

func TestMetricIdentifiers(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`sum by (check, le) (rate(a_bucket{check=~"$check",le="0.3"}[5m]))`, []string{"a_bucket"}},
		{"x:y:z{a=\"b\"} / on (check, slo) b and c > (14.4 * 0.005)", []string{"x:y:z", "b", "c"}},
		{`histogram_quantile(0.99, sum by (le) (rate(h_bucket{s="not_a_metric"}[$__rate_interval])))`, []string{"h_bucket"}},
		{"1e-05 * m offset 1h30m", []string{"m"}},
	} {
		assert.Equal(t, tc.want, metricIdentifiers(tc.expr), "metricIdentifiers(%q)", tc.expr)
	}
}

// allowedMetrics are the names a generated expression may read: those of
// metrics/names.go (histograms with their series suffixes) and the
// recording rules the same Spec generates.
func allowedMetrics(t *testing.T, spec Spec) map[string]bool {
	allowed := map[string]bool{}
	for n := range metricNamesGo(t) {
		for _, suffix := range []string{"", "_bucket", "_count", "_sum"} {
			allowed[n+suffix] = true
		}
	}
	f, err := Rules(spec)
	require.NoError(t, err)
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				allowed[r.Record] = true
			}
		}
	}
	return allowed
}

func TestExpressionsUseOnlyKnownMetrics(t *testing.T) {
	for _, policy := range []alert.Policy{alert.DefaultPolicy(), secondsPolicy()} {
		spec := fixture(t, policy)
		allowed := allowedMetrics(t, spec)

		dash, err := Dashboard(spec)
		require.NoError(t, err)
		exprs, err := Expressions(dash)
		require.NoError(t, err)
		f, err := Rules(spec)
		require.NoError(t, err)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				exprs = append(exprs, r.Expr)
			}
		}
		for _, e := range exprs {
			ids := metricIdentifiers(e)
			if !strings.HasPrefix(e, "vector(") { // the budget constants read nothing
				assert.NotEmpty(t, ids, "expression reads no metric: %s", e)
			}
			for _, id := range ids {
				assert.True(t, allowed[id], "expression reads %q, which is neither in metrics/names.go nor a generated recording rule: %s", id, e)
			}
		}
	}
}

func TestDashboardContent(t *testing.T) {
	dash, err := Dashboard(fixture(t, alert.DefaultPolicy()))
	require.NoError(t, err)
	var d grafanaDashboard
	require.NoError(t, json.Unmarshal(dash, &d))
	assert.Equal(t, 39, d.SchemaVersion)
	assert.Equal(t, "canary", d.UID)
	assert.Nil(t, d.ID, "id must be null so that import assigns one")

	var vars []string
	for _, v := range d.Templating.List {
		vars = append(vars, v.Name+":"+v.Type)
		if v.Type == "query" {
			assert.Contains(t, v.Query, "label_values(", "variable %s", v.Name)
			assert.Equal(t, ds, v.Datasource, "variable %s", v.Name)
		}
	}
	assert.Equal(t, []string{"datasource:datasource", "check:query", "step:query"}, vars)

	exprs, err := Expressions(dash)
	require.NoError(t, err)
	joined := strings.Join(exprs, "\n")
	for _, want := range []string{
		metrics.TargetRate, metrics.AchievedRate, metrics.InflightIterations, metrics.DroppedIterationsTotal,
		"histogram_quantile(0.5, sum by (check, step, le) (rate(" + metrics.RequestDuration + "_bucket",
		"histogram_quantile(0.9, sum by (check, step, le) (rate(" + metrics.RequestDuration + "_bucket",
		"histogram_quantile(0.99, sum by (check, step, le) (rate(" + metrics.RequestDuration + "_bucket",
		"sum by (check, error) (rate(" + metrics.RequestsTotal, "sum by (check, code) (rate(" + metrics.RequestsTotal,
		metrics.SLOBurnRate, metrics.Verdict, metrics.AlertsFiring, metrics.ConfigLastReloadOK, metrics.ConfigLastReloadSuccessS,
		"1 - canary:sli_error:ratio_rate30d{check=~\"$check\"} / on (check, slo) canary:error_budget:ratio",
	} {
		assert.Contains(t, joined, want, "no dashboard expression reads %s", want)
	}
	for _, e := range exprs {
		if strings.Contains(e, "rate(") && !strings.Contains(e, "changes(") {
			assert.Contains(t, e, "[$__rate_interval]", "rates use $__rate_interval: %s", e)
		}
	}

	ids := map[int]bool{}
	var boxes []gridPos
	var verdict *panel
	for i, p := range d.Panels {
		assert.False(t, ids[p.ID], "panel id %d used twice", p.ID)
		ids[p.ID] = true
		assert.LessOrEqual(t, p.GridPos.X+p.GridPos.W, 24, "panel %q leaves the grid", p.Title)
		for _, b := range boxes {
			overlap := p.GridPos.X < b.X+b.W && b.X < p.GridPos.X+p.GridPos.W && p.GridPos.Y < b.Y+b.H && b.Y < p.GridPos.Y+p.GridPos.H
			assert.False(t, overlap, "panel %q overlaps another at %+v", p.Title, b)
		}
		boxes = append(boxes, p.GridPos)
		for _, tg := range p.Targets {
			assert.Equal(t, ds, tg.Datasource, "panel %q target %s", p.Title, tg.RefID)
			assert.NotEmpty(t, tg.RefID, "panel %q", p.Title)
		}
		if p.Title == "Verdict" {
			verdict = &d.Panels[i]
		}
	}
	require.NotNil(t, verdict, "a verdict panel")
	require.Len(t, verdict.FieldConfig.Defaults.Mappings, 1)
	assert.Equal(t, map[string]mappingResult{
		"1": {Text: "pass", Color: "green", Index: 0}, "0": {Text: "fail", Color: "red", Index: 1},
		"-1": {Text: "inconclusive", Color: "yellow", Index: 2},
	}, verdict.FieldConfig.Defaults.Mappings[0].Options)
}

func TestDashboardBurnThresholdsFollowThePolicy(t *testing.T) {
	dash, err := Dashboard(fixture(t, secondsPolicy()))
	require.NoError(t, err)
	var d grafanaDashboard
	require.NoError(t, json.Unmarshal(dash, &d))
	i := slices.IndexFunc(d.Panels, func(p panel) bool { return p.Title == "Burn rate (daemon)" })
	require.GreaterOrEqual(t, i, 0)
	var at []float64
	for _, s := range d.Panels[i].FieldConfig.Defaults.Thresholds.Steps {
		if s.Value != nil {
			at = append(at, *s.Value)
		}
	}
	assert.Equal(t, []float64{6, 14.4}, at)

	i = slices.IndexFunc(d.Panels, func(p panel) bool { return p.Title == "SLOs of this config" })
	require.GreaterOrEqual(t, i, 0)
	content := d.Panels[i].Options.Content
	assert.Contains(t, content, "| checkout | login-p99 | p99(login)&lt;800ms | 1% over 1h | yes |")
	assert.Contains(t, content, "| checkout | throughput | rps&gt;=9 | none | no: no error budget |")
	assert.Contains(t, content, "| 1m | 10s | 14.4 | page | 4m10s |")
	assert.Contains(t, content, "| search | query-p90 | p90(query)&lt;1s | 10% over 1h | yes; 1m/10s can never fire (factor × budget ≥ 100%) |")
}

func TestExpressions(t *testing.T) {
	in := `{
	  "annotations": {"list": [{"name": "deploys", "expr": "changes(x[1m]) > 0"}, {"name": "builtin"}]},
	  "panels": [
	    {"type": "row", "title": "collapsed", "collapsed": true, "panels": [
	      {"type": "timeseries", "targets": [{"expr": "inner_a", "refId": "A"}, {"expr": "", "refId": "B"}]}
	    ]},
	    {"type": "stat", "targets": [{"expr": "outer_b{check=~\"$check\"}", "refId": "A"}]},
	    {"type": "text", "options": {"mode": "markdown", "content": "hi"}}
	  ],
	  "templating": {"list": [
	    {"name": "ds", "type": "datasource", "query": "prometheus"},
	    {"name": "check", "type": "query", "query": "label_values(m_total{job=\"x\"}, check)"},
	    {"name": "all", "type": "query", "query": "label_values(check)"},
	    {"name": "c", "type": "custom", "query": "a,b"}
	  ]}
	}`
	got, err := Expressions([]byte(in))
	require.NoError(t, err)
	assert.Equal(t, []string{"inner_a", `outer_b{check=~"$check"}`, "changes(x[1m]) > 0", `m_total{job="x"}`}, got)

	for _, bad := range []string{"", "{", `{"panels": 3}`, "[]"} {
		_, err := Expressions([]byte(bad))
		assert.Error(t, err, "Expressions(%q)", bad)
	}
}

func TestExpandVariables(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`rate(x{check=~"$check"}[$__rate_interval])`, `rate(x{check=~"x"}[5m])`},
		{`x{a=~"${step}",b="${check:regex}"}[$__interval] offset $__range`, `x{a=~"x",b="x"}[5m] offset 5m`},
		{"no variables", "no variables"},
		{"$__range_s * 2", "300 * 2"},
	} {
		assert.Equal(t, tc.want, ExpandVariables(tc.in), "ExpandVariables(%q)", tc.in)
	}
	values := map[string]string{"check": "shop", "__rate_interval": "10s"}
	for _, tc := range []struct{ in, want string }{
		{`rate(x{check=~"$check",step=~"$step"}[$__rate_interval])`, `rate(x{check=~"shop",step=~"x"}[10s])`},
		{`x{b="${check:regex}"}[$__interval]`, `x{b="shop"}[5m]`},
	} {
		assert.Equal(t, tc.want, ExpandVariablesWith(tc.in, values), "ExpandVariablesWith(%q, %v)", tc.in, values)
	}
}

func FuzzExpressions(f *testing.F) {
	f.Add([]byte(`{"panels":[{"targets":[{"expr":"up"}],"panels":[{"targets":[{"expr":"x"}]}]}]}`))
	f.Add([]byte(`{"templating":{"list":[{"type":"query","query":"label_values(a, b)"}]}}`))
	f.Add([]byte(`{"annotations":{"list":[{"expr":"y"}]}}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		exprs, err := Expressions(data)
		if err != nil {
			return
		}
		for _, e := range exprs {
			_ = ExpandVariables(e)
		}
	})
}

// histogramCallRE finds the PromQL functions that read histograms.
var histogramCallRE = regexp.MustCompile(`\b(histogram_quantile|histogram_fraction|histogram_count|histogram_sum)\(`)

// histogramCalls returns each histogram function call of expr: its name
// and its argument text, up to the matching parenthesis.
func histogramCalls(expr string) [][2]string {
	var calls [][2]string
	for _, loc := range histogramCallRE.FindAllStringSubmatchIndex(expr, -1) {
		depth, i := 1, loc[1]
		for ; i < len(expr) && depth > 0; i++ {
			switch expr[i] {
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		calls = append(calls, [2]string{expr[loc[2]:loc[3]], expr[loc[1] : i-1]})
	}
	return calls
}

// Prometheus 3.5 and later answer nothing for a histogram_quantile given
// both native histograms and classic buckets, and histogram_fraction,
// histogram_count and histogram_sum read native histograms only: every
// call in the generated rules and dashboard reads one kind of series.
func TestHistogramFunctionsReadOneKindOfSeries(t *testing.T) {
	histograms := []string{metrics.RequestDuration, metrics.RequestService, metrics.IterationDuration, metrics.GeneratorLag}
	for _, policy := range []alert.Policy{alert.DefaultPolicy(), secondsPolicy()} {
		spec := fixture(t, policy)
		dash, err := Dashboard(spec)
		require.NoError(t, err)
		exprs, err := Expressions(dash)
		require.NoError(t, err)
		f, err := Rules(spec)
		require.NoError(t, err)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				exprs = append(exprs, r.Expr)
			}
		}
		calls := 0
		for _, e := range exprs {
			for _, c := range histogramCalls(e) {
				calls++
				var native, classic int
				for _, id := range metricIdentifiers(c[1]) {
					switch {
					case slices.Contains(histograms, id):
						native++
					case slices.Contains(histograms, strings.TrimSuffix(id, "_bucket")):
						classic++
					}
				}
				switch c[0] {
				case "histogram_quantile":
					assert.True(t, native+classic == 1, "%s(%s) reads %d native and %d classic histograms, want one of either", c[0], c[1], native, classic)
				default:
					assert.True(t, native == 1 && classic == 0, "%s(%s) reads %d native and %d classic histograms, want one native", c[0], c[1], native, classic)
				}
			}
		}
		assert.Greater(t, calls, 20, "histogram function calls found")
	}
}

func TestHistogramCalls(t *testing.T) {
	got := histogramCalls(`histogram_quantile(0.9, sum(rate(a[5m]))) or histogram_count(sum by (x) (b)) > 0`)
	assert.Equal(t, [][2]string{{"histogram_quantile", "0.9, sum(rate(a[5m]))"}, {"histogram_count", "sum by (x) (b)"}}, got)
}
