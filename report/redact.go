package report

import (
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/stats"
)

// Redact replaces the secrets of sets (the scenario's, the environment's)
// in the report's free text: its scenario and step names, its reasons, the
// abort's reason and the failure samples (which their scenario redacted
// already: this is for secrets it did not know).
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
	if a := r.AbortedBy; a != nil {
		a.Reason = all.String(a.Reason)
	}
	RedactFailures(r.Failures, all)
}

// RedactFailures replaces the secrets of sets in failure samples, in
// place (the daemon's API and alerts use it on a check's samples).
func RedactFailures(f *stats.FailureReport, sets ...*redact.Set) {
	if f == nil {
		return
	}
	all := &redact.Set{}
	for _, s := range sets {
		all.Merge(s)
	}
	for i := range f.Groups {
		for j := range f.Groups[i].Samples {
			redactSample(&f.Groups[i].Samples[j], all)
		}
	}
}

// redactSample replaces known secrets in every text of a sample; credential
// headers become the placeholder.
func redactSample(s *stats.FailureSample, set *redact.Set) {
	s.Error = set.String(s.Error)
	if a := s.Assertion; a != nil {
		a.Target, a.Expected, a.Actual = set.String(a.Target), set.String(a.Expected), set.String(a.Actual)
	}
	s.Request.URL = set.URL(s.Request.URL)
	s.Request.Body = set.String(s.Request.Body)
	for i, h := range s.Request.Headers {
		s.Request.Headers[i].Value = set.Header(h.Name, h.Value)
	}
	if r := s.Response; r != nil {
		r.Body = set.String(r.Body)
		for i, h := range r.Headers {
			r.Headers[i].Value = set.Header(h.Name, h.Value)
		}
	}
}
