package dashboards

import "github.com/canaryproj/canary/config"

// FromConfig is the generators' view of a daemon config: its checks, their
// SLOs and labels, its alerting policy and its status page.
func FromConfig(cfg *config.Config) Spec {
	s := Spec{Policy: cfg.Policy, ExternalURL: cfg.Server.ExternalURL}
	for _, ck := range cfg.Checks {
		c := Check{Name: ck.Name, Steps: ck.Scenario.StepNames(), Labels: ck.Labels, RunbookURL: ck.RunbookURL, Scheduled: ck.Schedule != nil}
		for _, o := range ck.SLOs {
			c.SLOs = append(c.SLOs, SLO{Name: o.Name, Objective: o})
		}
		s.Checks = append(s.Checks, c)
	}
	return s
}
