package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// What the tests check the generated dashboard with: they feed its every
// expression to promtool and to a real Prometheus.

// Expressions returns every PromQL expression of a dashboard, in document
// order: panel targets (rows' nested panels included), annotation queries,
// and the series selector inside each label_values(...) variable query
// (label_values itself is Grafana's, not PromQL). Grafana variables such as
// $check and $__rate_interval are left as they are; ExpandVariables makes
// the expressions parseable.
func Expressions(dashboardJSON []byte) ([]string, error) {
	var d grafanaDashboard
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, fmt.Errorf("dashboard JSON: %w", err)
	}
	var exprs []string
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				if t.Expr != "" {
					exprs = append(exprs, t.Expr)
				}
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			exprs = append(exprs, a.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if m := labelValuesRE.FindStringSubmatch(v.Query); m != nil {
			exprs = append(exprs, m[1])
		}
	}
	return exprs, nil
}

var labelValuesRE = regexp.MustCompile(`^\s*label_values\(\s*(.+?)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// grafanaVarRE matches $name, ${name} and ${name:format}.
var grafanaVarRE = regexp.MustCompile(`\$\{([a-zA-Z_][a-zA-Z0-9_]*)(?::[a-z]+)?\}|\$([a-zA-Z_][a-zA-Z0-9_]*)`)

// ExpandVariables replaces Grafana's variables in a PromQL expression with
// sample values, so that the expression can be parsed (e.g. by promtool):
// intervals become 5m, every other variable "x" (variables appear only
// inside label matchers' strings in the generated dashboard).
func ExpandVariables(expr string) string {
	return grafanaVarRE.ReplaceAllStringFunc(expr, func(m string) string {
		name := strings.Trim(m, "${}")
		name, _, _ = strings.Cut(name, ":")
		switch name {
		case "__rate_interval", "__interval", "__range":
			return "5m"
		case "__interval_ms", "__range_ms":
			return "300000"
		case "__range_s":
			return "300"
		}
		return "x"
	})
}
