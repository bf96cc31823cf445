// Package dashboards generates what Prometheus and Grafana need to watch
// canary from the daemon config's SLOs: recording rules for the SLI error
// ratios, multi-window multi-burn-rate alerts that compute exactly what the
// daemon's own alerting computes (alert.Policy), an absent-data alert, and a
// Grafana dashboard. Everything is built from typed models and is
// deterministic, so the generated files can be committed and diffed.
package dashboards

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/metrics"
	"github.com/canaryproj/canary/promql"
	"github.com/canaryproj/canary/slo"
)

// Spec is what the generators need from a daemon config.
type Spec struct {
	Checks []Check
	// Policy is the daemon's burn-rate alerting policy; the generated alerts
	// use the same windows, factors and severities.
	Policy alert.Policy
	// ExternalURL is the base URL of the daemon's status page
	// (server.external_url). When set, alerts link to the check on it.
	ExternalURL string
}

// Check is one daemon check.
type Check struct {
	Name string
	// Steps are the scenario's step names. When set, latency SLOs must name
	// one of them.
	Steps []string
	SLOs  []SLO
	// Labels are copied onto every alert of the check (e.g. team: payments).
	Labels     map[string]string
	RunbookURL string
	// Scheduled checks run only at cron times, so a gap in their data is
	// normal: they get no absent-data alert.
	Scheduled bool
}

// SLO is one named objective of a check.
type SLO struct {
	Name      string
	Objective slo.Objective
}

// Names of what the rules generate; the dashboard reads them back.
const (
	// RecordPrefix + window ("5m", "1h", or the SLO period "30d") names the
	// recorded SLI error ratio: bad events / all events, labelled check and slo.
	RecordPrefix = "canary:sli_error:ratio_rate"
	// RecordBudget is the SLO's error budget as a constant series (check, slo),
	// so dashboards can divide by it.
	RecordBudget = "canary:error_budget:ratio"

	// AlertBurnRate is the one multi-window burn-rate alert; its severity
	// label comes from the policy window that fired.
	AlertBurnRate = "CanarySLOBurnRate"
	// AlertAbsent fires when a check stopped producing data.
	AlertAbsent = "CanaryCheckAbsent"
	// AbsentSeverity is the severity of AlertAbsent: a silent canary cannot
	// page, so someone should look, but it is not itself an outage.
	AbsentSeverity = "ticket"

	// StatusPath + check name is the check's page under Spec.ExternalURL.
	StatusPath = "/checks/"
)

// Labels the generated alerts set besides check and slo.
const (
	LabelSeverity    = "severity"
	LabelLongWindow  = "long_window"
	LabelShortWindow = "short_window"
)

// absentMinWindow is the shortest look-back of the absent-data alert: long
// enough to span several scrapes and a daemon restart.
const absentMinWindow = 5 * time.Minute

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reserved reports whether the generated alerts set label k themselves.
func reserved(k string) bool {
	switch k {
	case metrics.LabelCheck, metrics.LabelSLO, LabelSeverity, LabelLongWindow, LabelShortWindow, "alertname":
		return true
	}
	return false
}

// validate reports every problem of s at once.
func (s Spec) validate() error {
	var errs []error
	p := s.Policy
	if len(p.Windows) == 0 {
		errs = append(errs, errors.New("alerting policy: no burn-rate windows"))
	}
	if _, err := promql.Duration(p.Period); err != nil {
		errs = append(errs, fmt.Errorf("alerting policy: slo_period: %w", err))
	}
	for i, w := range p.Windows {
		where := fmt.Sprintf("alerting policy: burn_rates[%d]", i)
		_, errL := promql.Duration(w.Long)
		_, errS := promql.Duration(w.Short)
		switch {
		case errL != nil:
			errs = append(errs, fmt.Errorf("%s: long: %w", where, errL))
		case errS != nil:
			errs = append(errs, fmt.Errorf("%s: short: %w", where, errS))
		case w.Short > w.Long:
			errs = append(errs, fmt.Errorf("%s: short window %v is longer than the long window %v", where, w.Short, w.Long))
		}
		if !(w.Factor > 0) || math.IsInf(w.Factor, 0) {
			errs = append(errs, fmt.Errorf("%s: factor %v must be a positive number", where, w.Factor))
		}
		if w.Severity == "" {
			errs = append(errs, fmt.Errorf("%s: severity is empty", where))
		}
	}
	seen := map[string]bool{}
	for i, c := range s.Checks {
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("checks[%d]: name is empty", i))
			continue
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("check %q: defined twice", c.Name))
		}
		seen[c.Name] = true
		errs = append(errs, c.validate()...)
	}
	return errors.Join(errs...)
}

func (c Check) validate() []error {
	var errs []error
	for _, k := range sortedKeys(c.Labels) {
		switch {
		case !labelNameRE.MatchString(k) || strings.HasPrefix(k, "__"):
			errs = append(errs, fmt.Errorf("check %q: label %q is not a valid Prometheus label name", c.Name, k))
		case reserved(k):
			errs = append(errs, fmt.Errorf("check %q: label %q is set by the generated alerts", c.Name, k))
		}
	}
	steps := map[string]bool{}
	for _, st := range c.Steps {
		steps[st] = true
	}
	names := map[string]bool{}
	for i, s := range c.SLOs {
		if s.Name == "" {
			errs = append(errs, fmt.Errorf("check %q: slos[%d]: name is empty", c.Name, i))
			continue
		}
		if names[s.Name] {
			errs = append(errs, fmt.Errorf("check %q: slo %q defined twice", c.Name, s.Name))
		}
		names[s.Name] = true
		o := s.Objective
		if o.Step != "" && len(c.Steps) > 0 && !steps[o.Step] {
			errs = append(errs, fmt.Errorf("check %q: slo %q: no step %q in the scenario", c.Name, s.Name, o.Step))
		}
		if err := promql.Supported(o); err != nil {
			errs = append(errs, fmt.Errorf("check %q: slo %q: %w", c.Name, s.Name, err))
		}
		if b := o.Budget(); math.IsNaN(b) || b < 0 || b > 1 {
			errs = append(errs, fmt.Errorf("check %q: slo %q: error budget %v is outside 0..1", c.Name, s.Name, b))
		}
		if o.HasBudget() && o.Kind == slo.KindLatency && (!(o.Target > 0) || math.IsInf(o.Target, 0)) {
			errs = append(errs, fmt.Errorf("check %q: slo %q: latency threshold %v s must be positive", c.Name, s.Name, o.Target))
		}
	}
	return errs
}

// windows returns every distinct burn-rate window of p, shortest first.
func windows(p alert.Policy) []time.Duration {
	var ws []time.Duration
	seen := map[time.Duration]bool{}
	for _, w := range p.Windows {
		for _, d := range []time.Duration{w.Short, w.Long} {
			if !seen[d] {
				seen[d] = true
				ws = append(ws, d)
			}
		}
	}
	slices.Sort(ws)
	return ws
}

// mustDuration is promql.Duration for durations validate has already
// accepted.
func mustDuration(d time.Duration) string {
	s, err := promql.Duration(d)
	if err != nil {
		return "0s" // unreachable after validate; keeps the generators total
	}
	return s
}

// percent prints a ratio as a percentage: 0.005 → "0.5%".
func percent(v float64) string { return promql.Number(v*100) + "%" }

// tmplText makes s literal text inside a Prometheus label or annotation
// template, so a name containing "{{" cannot be executed.
func tmplText(s string) string { return strings.ReplaceAll(s, "{{", `{{ "{{" }}`) }

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
