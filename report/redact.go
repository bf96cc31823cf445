package report

import (
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// Redact replaces the secrets of sets (the scenario's, the environment's)
// in the report's free text: its scenario and step names and its reasons.
func Redact(r *stats.Report, sets ...*redact.Set) {
	all := &redact.Set{}
	for _, s := range sets {
		all.Merge(s)
	}
	r.Scenario = all.String(r.Scenario)
	for i, why := range r.Reasons {
		r.Reasons[i] = all.String(why)
	}
	for i := range r.Steps {
		r.Steps[i].Name = all.String(r.Steps[i].Name)
	}
}
