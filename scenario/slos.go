package scenario

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/slo"
)

// MaxSLOs bounds a slos list (a scenario's, or a daemon check's).
const MaxSLOs = 20

// Bounds of a step's tags.
const (
	MaxTags        = 16
	maxTagValueLen = 100
)

// tagKeyRE is a tag's name; a tag value may be anything but the grammar's
// separators.
var tagKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// sloItemYAML is an objective written as a mapping.
type sloItemYAML struct {
	Name        string     `yaml:"name"`
	Expr        string     `yaml:"expr" required:"true"`
	AbortOnFail *yaml.Node `yaml:"abort_on_fail"`
}

// abortYAML is abort_on_fail's settings.
type abortYAML struct {
	MinSamples int64         `yaml:"min_samples"`
	Delay      time.Duration `yaml:"delay"`
	For        time.Duration `yaml:"for"`
}

// DecodeSLOs decodes a slos list — the objective grammar (docs/run.md,
// "SLOs") as text, "p99(login) < 300ms", or as a mapping {expr, name,
// abort_on_fail} — and binds each objective to steps. Problems go to d.
func DecodeSLOs(d *yamlfile.Decoder, n *yaml.Node, steps []slo.StepInfo) []slo.Objective {
	n = yamlfile.Resolve(n)
	if n == nil || yamlfile.IsNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "slos: want a list of objectives like \"p99(login) < 300ms\", not %s", yamlfile.KindName(n))
		return nil
	}
	if len(n.Content) > MaxSLOs {
		d.Errorf(n, "too many SLOs (%d); at most %d", len(n.Content), MaxSLOs)
	}
	var out []slo.Objective
	seen := map[string]bool{}
	for _, item := range n.Content {
		o, ok := DecodeSLO(d, item, steps)
		if !ok {
			continue
		}
		if seen[o.Name] {
			d.Errorf(item, "duplicate SLO %q", o.Name)
			continue
		}
		seen[o.Name] = true
		out = append(out, o)
	}
	return out
}

// DecodeSLO decodes one objective of a slos list, text or mapping, and
// binds it to steps (none: not bound). Its name is the mapping's name, or
// else its canonical expression without the abort clause. ok is false when it is unusable (the
// problem is in d).
func DecodeSLO(d *yamlfile.Decoder, n *yaml.Node, steps []slo.StepInfo) (o slo.Objective, ok bool) {
	n = yamlfile.Resolve(n)
	var y sloItemYAML
	switch {
	case n == nil:
		return o, false
	case n.Kind == yaml.ScalarNode:
		text, ok := d.Expand(n, n.Value)
		if !ok {
			return o, false
		}
		y.Expr = text
	case n.Kind == yaml.MappingNode:
		failed := d.Failed()
		d.Decode(n, &y)
		if d.Failed() && !failed || y.Expr == "" {
			return o, false
		}
	default:
		d.Errorf(n, "an objective is text like \"p99(login) < 300ms\" or a mapping with expr, not %s", yamlfile.KindName(n))
		return o, false
	}
	o, err := slo.ParseExpr(y.Expr)
	if err != nil {
		d.Errorf(exprNode(n), "%v", err)
		return o, false
	}
	o.Name = o.String()
	if y.Name != "" {
		o.Name = y.Name
	}
	if an := yamlfile.Child(n, "abort_on_fail"); an != nil {
		if o.Abort != nil {
			d.Errorf(an, "abort_on_fail: the expression has its own abort_on_fail already")
			return o, false
		}
		o.Abort = DecodeAbort(d, an)
	}
	if len(steps) > 0 {
		if err := o.Bind(steps); err != nil {
			d.Errorf(exprNode(n), "slo %q: %v", y.Expr, err)
			return o, false
		}
	}
	return o, true
}

// exprNode is where an objective's expression is written.
func exprNode(n *yaml.Node) *yaml.Node {
	if e := yamlfile.Child(n, "expr"); e != nil {
		return e
	}
	return n
}

// DecodeAbort decodes abort_on_fail: true, false, or its settings
// {min_samples, delay, for}. Nil means no early abort.
func DecodeAbort(d *yamlfile.Decoder, n *yaml.Node) *slo.Abort {
	n = yamlfile.Resolve(n)
	if n == nil || yamlfile.IsNull(n) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		var on bool
		failed := d.Failed()
		d.Decode(n, &on)
		if !on || d.Failed() && !failed {
			return nil
		}
		return &slo.Abort{}
	}
	var y abortYAML
	failed := d.Failed()
	d.Decode(n, &y)
	if d.Failed() && !failed {
		return nil
	}
	for _, x := range []struct {
		key string
		bad bool
	}{{"min_samples", y.MinSamples < 0}, {"delay", y.Delay < 0}, {"for", y.For < 0}} {
		if x.bad {
			d.Errorf(yamlfile.Child(n, x.key), "abort_on_fail %s must not be negative", x.key)
		}
	}
	return &slo.Abort{MinSamples: max(y.MinSamples, 0), Delay: max(y.Delay, 0), For: max(y.For, 0)}
}

// compileTags checks a step's tags: names like region, values without the
// objective grammar's separators; method, status and step are filters of
// their own.
func (c *compiler) compileTags(n *yaml.Node, tags map[string]string, where string) map[string]string {
	if len(tags) == 0 {
		return nil
	}
	if len(tags) > MaxTags {
		c.d.Errorf(n, "%s tags: %d tags; at most %d", where, len(tags), MaxTags)
	}
	out := make(map[string]string, len(tags))
	for _, k := range sortedKeys(tags) {
		v := tags[k]
		kn := yamlfile.Child(n, k)
		switch {
		case !tagKeyRE.MatchString(k):
			c.d.Errorf(kn, "%s tag %q: use letters, digits and '_' (objectives filter on it: p99(%s=…))", where, k, k)
		case strings.EqualFold(k, slo.FilterMethod) || strings.EqualFold(k, slo.FilterStatus) || strings.EqualFold(k, "step"):
			c.d.Errorf(kn, "%s tag %q: method, status and step are filters of their own, not tags", where, k)
		case v == "" || len(v) > maxTagValueLen || strings.ContainsAny(v, ",()=<> \t\n"):
			c.d.Errorf(kn, "%s tag %s %q: want a non-empty value of at most %d characters without spaces, ',', '(', ')', '=', '<' or '>'", where, k, v, maxTagValueLen)
		default:
			out[k] = v
		}
	}
	return out
}

// StepInfos describes the steps for the objectives' filters (slo.Bind).
func (s *Scenario) StepInfos() []slo.StepInfo {
	out := make([]slo.StepInfo, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = slo.StepInfo{Name: st.Name, Method: st.Method, Tags: st.Tags}
	}
	return out
}

// BindSLOs binds objectives (of --slo, say) to the scenario's steps, or
// says which does not fit it.
func (s *Scenario) BindSLOs(objs []slo.Objective) error {
	steps := s.StepInfos()
	for i := range objs {
		if err := objs[i].Bind(steps); err != nil {
			return fmt.Errorf("slo %q: %w", objs[i].Name, err)
		}
	}
	return nil
}
