package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/compare"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/scenario"
)

// MaxObjectivesPerCheck bounds a comparison check's objectives.
const MaxObjectivesPerCheck = 20

// Comparison is a check that judges a candidate against a baseline
// (docs/daemon.md, "Comparison checks"): every iteration of its profile runs
// the check's scenario against both base URLs, and its verdict is the
// candidate's against the baseline on relative objectives.
type Comparison struct {
	BaselineURL, CandidateURL string
	// Baseline and Candidate are the check's scenario sent to each base URL
	// (scenario.WithBase).
	Baseline, Candidate *scenario.Scenario
	// Objectives are the relative objectives (compare.DefaultObjectives
	// when the check names none).
	Objectives []compare.Objective
	// Options are the statistics' settings; min_samples, when set, is the
	// fewest samples each side needs.
	Options compare.Options
}

// Sides is how many targets each iteration of the check reaches: 2 for a
// comparison, else 1. The max_rate budget counts each.
func (c *Check) Sides() int {
	if c.Comparison != nil {
		return 2
	}
	return 1
}

// loadComparison reads a check's baseline, candidate and objectives; nil
// when the check names none of them.
func loadComparison(d *yamlfile.Decoder, n *yaml.Node, cy checkYAML, sc *scenario.Scenario) *Comparison {
	if cy.Baseline == "" && cy.Candidate == "" {
		if len(cy.Objectives) > 0 {
			d.Errorf(yamlfile.Child(n, "objectives"), "objectives are relative: give the check a baseline and a candidate, or use slos")
		}
		return nil
	}
	if cy.Baseline == "" || cy.Candidate == "" {
		d.Errorf(n, "check %q: a comparison needs both a baseline and a candidate", cy.Name)
		return nil
	}
	if cy.SLOs != nil && len(cy.SLOs.Content) > 0 {
		d.Errorf(yamlfile.Child(n, "slos"), "a comparison check is judged by its relative objectives; put SLOs in a check of their own")
	}
	c := &Comparison{BaselineURL: cy.Baseline, CandidateURL: cy.Candidate}
	if sc != nil {
		var err error
		if c.Baseline, err = sc.WithBase(cy.Baseline); err != nil {
			d.Errorf(yamlfile.Child(n, "baseline"), "%v", err)
		}
		if c.Candidate, err = sc.WithBase(cy.Candidate); err != nil {
			d.Errorf(yamlfile.Child(n, "candidate"), "%v", err)
		}
	}
	on := yamlfile.Child(n, "objectives")
	if len(cy.Objectives) > MaxObjectivesPerCheck {
		d.Errorf(on, "too many objectives (%d); at most %d", len(cy.Objectives), MaxObjectivesPerCheck)
	}
	var steps []string
	if sc != nil {
		steps = sc.StepNames()
	}
	for i, expr := range cy.Objectives {
		item := yamlfile.Item(on, i)
		o, err := compare.ParseObjective(expr)
		if err != nil {
			reportObjective(d, item, expr, err)
			continue
		}
		if o.Step != "" && sc != nil && !slices.Contains(steps, o.Step) {
			d.Errorf(item, "objective %q: step %q is not in the scenario (steps: %s)", expr, o.Step, strings.Join(steps, ", "))
		}
		c.Objectives = append(c.Objectives, o)
	}
	if cy.MinSamples != nil {
		c.Options.MinSamples = int64(*cy.MinSamples)
	}
	return c
}

// reportObjective reports an objective that does not parse at the word it
// points at, when the expression is written as is on one line of the file.
func reportObjective(d *yamlfile.Decoder, n *yaml.Node, expr string, err error) {
	var pe *compare.ParseError
	if !errors.As(err, &pe) || n == nil || n.Value != expr || strings.Contains(expr, "\n") {
		d.Report(n, err)
		return
	}
	col := n.Column + pe.Col - 1
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		col++ // past the opening quote
	}
	d.Report(n, &yamlfile.Error{File: d.File(), Line: n.Line, Column: col, Msg: fmt.Sprintf("objective %q: %s", pe.Expr, pe.Msg)})
}
