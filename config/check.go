package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/limits"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// Check is one configured check, with its scenario, profile and SLOs
// resolved.
type Check struct {
	Name         string
	Scenario     *scenario.Scenario
	Profile      *profiles.Profile
	Schedule     cron.Schedule // nil: run the profile continuously
	ScheduleText string
	Labels       map[string]string
	SLOs         []slo.Objective
	Window       time.Duration
	MinSamples   int64
	SlackChannel string
	RunbookURL   string
	// Comparison, when set, makes this a comparison check: its scenario
	// runs against a baseline and a candidate, judged by relative
	// objectives instead of SLOs.
	Comparison *Comparison
	// Fingerprint changes whenever anything that defines the check does:
	// its YAML, and the files its scenario, profile and data come from. A
	// reload keeps the running state of checks whose fingerprint is the same.
	Fingerprint string
}

// checkYAML is one entry of `checks` as written.
type checkYAML struct {
	Name       string            `yaml:"name" required:"true"`
	Scenario   *yaml.Node        `yaml:"scenario" required:"true"`
	Profile    *yaml.Node        `yaml:"profile"`
	Schedule   string            `yaml:"schedule"`
	Labels     map[string]string `yaml:"labels"`
	SLOs       *yaml.Node        `yaml:"slos"`
	Window     time.Duration     `yaml:"window"`
	MinSamples *int              `yaml:"min_samples"`
	Alert      checkAlertYAML    `yaml:"alert"`
	Baseline   string            `yaml:"baseline"`
	Candidate  string            `yaml:"candidate"`
	Objectives []string          `yaml:"objectives"`
}

type checkAlertYAML struct {
	SlackChannel string `yaml:"slack_channel"`
	RunbookURL   string `yaml:"runbook_url"`
}

// sloYAML is an objective in the structured form; the expression form
// (text, or a mapping with expr) is scenario.DecodeSLO's.
type sloYAML struct {
	Name        string       `yaml:"name" required:"true"`
	Success     string       `yaml:"success"`
	Errors      string       `yaml:"errors"`
	Latency     *latencyYAML `yaml:"latency"`
	AbortOnFail *yaml.Node   `yaml:"abort_on_fail"`
	// TLSExpiry is how long before its expiry every certificate the check
	// is served must be: "14d" is the objective tls_expiry > 14d.
	TLSExpiry string `yaml:"tls_expiry"`
}

type latencyYAML struct {
	Step       string        `yaml:"step"`
	Percentile float64       `yaml:"percentile" required:"true"`
	Below      time.Duration `yaml:"below" required:"true"`
	Service    bool          `yaml:"service"`
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// loadCheck resolves one check; problems go to d (or, for referenced files,
// are reported with their own positions).
func (c *Config) loadCheck(d *yamlfile.Decoder, n *yaml.Node, cy checkYAML, baseDir string, env func(string) (string, bool), secrets *redact.Set, unset *yamlfile.Unset) *Check {
	ck := &Check{
		Name: cy.Name, Labels: cy.Labels, Window: cy.Window, MinSamples: DefaultMinSamples,
		SlackChannel: cy.Alert.SlackChannel, RunbookURL: cy.Alert.RunbookURL, ScheduleText: cy.Schedule,
	}
	if cy.Name != "" && !nameRE.MatchString(cy.Name) {
		d.Errorf(yamlfile.Child(n, "name"), "check name %q: use lower-case letters, digits, '-' and '_' (it becomes a metric label)", cy.Name)
	}
	if ck.RunbookURL == "" {
		ck.RunbookURL = c.Alerting.RunbookURL
	}
	if ck.Window == 0 {
		ck.Window = DefaultWindow
	}
	if cy.MinSamples != nil {
		if *cy.MinSamples < 0 {
			d.Errorf(yamlfile.Child(n, "min_samples"), "min_samples must not be negative")
		}
		ck.MinSamples = int64(*cy.MinSamples)
	}
	for k := range cy.Labels {
		if !labelNameRE.MatchString(k) || k == "check" || k == "slo" || k == "severity" {
			d.Errorf(yamlfile.Child(n, "labels"), "label %q: want a Prometheus label name other than check, slo and severity", k)
		}
	}
	files := []string{}
	// Scenario: a path or an inline mapping.
	if sn := yamlfile.Resolve(cy.Scenario); sn != nil {
		ck.Scenario = referenced(d, sn, "scenario", cy.Name, baseDir, &files,
			func(p string) (*scenario.Scenario, error) {
				return scenario.Load(p, scenario.LoadOptions{Env: env, Secrets: secrets, Unset: unset})
			},
			func(n *yaml.Node) *scenario.Scenario {
				return scenario.Decode(d, n, scenario.LoadOptions{Env: env, BaseDir: baseDir, Secrets: secrets, Unset: unset})
			})
	}
	// Profile: a path, an inline mapping, or absent (a light monitor).
	if pn := yamlfile.Resolve(cy.Profile); pn != nil && !yamlfile.IsNull(pn) {
		ck.Profile = referenced(d, pn, "profile", cy.Name, baseDir, &files,
			func(p string) (*profiles.Profile, error) {
				return profiles.Load(p, yamlfile.Options{Env: env, Secrets: secrets, Unset: unset})
			},
			func(n *yaml.Node) *profiles.Profile { return profiles.Decode(d, n) })
	} else {
		// No profile: a light synthetic monitor, one iteration every 10 s.
		pr, err := profiles.Parse("default profile", []byte("rate: "+DefaultMonitorRate+"\n"), yamlfile.Options{})
		if err != nil {
			d.Errorf(n, "internal: default profile: %v", err)
		}
		ck.Profile = pr
	}
	if cy.Schedule != "" {
		s, err := cron.ParseStandard(cy.Schedule)
		if err != nil {
			d.Errorf(yamlfile.Child(n, "schedule"), "schedule %q: %v (want a cron expression like \"*/15 * * * *\" or @hourly)", cy.Schedule, err)
		}
		ck.Schedule = s
		if ck.Profile != nil && ck.Profile.Loop {
			d.Errorf(yamlfile.Child(n, "profile"), "a scheduled check runs its profile once per schedule; a looping profile would never end")
		}
	} else if ck.Profile != nil && !ck.Profile.Loop && ck.Profile.Duration() > 0 {
		// A continuous check repeats its stages forever.
		ck.Profile = ck.Profile.Looping()
	}
	ck.SLOs = loadSLOs(d, yamlfile.Child(n, "slos"), ck.Scenario)
	ck.Comparison = loadComparison(d, n, cy, ck.Scenario)
	ck.Fingerprint = fingerprint(n, files, ck.Scenario)
	return ck
}

// loadSLOs reads a check's slos: each in the objective grammar ("p99(login)
// < 300ms", or {name, expr, abort_on_fail}) or in the structured form
// ({name, success | errors | latency}). A check without slos takes its
// scenario's own.
func loadSLOs(d *yamlfile.Decoder, n *yaml.Node, sc *scenario.Scenario) []slo.Objective {
	n = yamlfile.Resolve(n)
	if n == nil || yamlfile.IsNull(n) {
		if sc != nil {
			return sc.SLOs
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "slos: want a list of objectives, not %s", yamlfile.KindName(n))
		return nil
	}
	if len(n.Content) > MaxSLOsPerCheck {
		d.Errorf(n, "too many SLOs (%d); at most %d", len(n.Content), MaxSLOsPerCheck)
	}
	var steps []slo.StepInfo
	if sc != nil {
		steps = sc.StepInfos()
	}
	seen := map[string]bool{}
	var out []slo.Objective
	dup := func(n *yaml.Node, name string) bool {
		if seen[name] {
			d.Errorf(n, "duplicate SLO name %q", name)
			return true
		}
		seen[name] = true
		return false
	}
	for _, item := range n.Content {
		var o slo.Objective
		var ok bool
		// A name written out is checked for duplicates even when the rest
		// of the objective is wrong.
		nn := yamlfile.Child(item, "name")
		named := nn != nil && nn.Kind == yaml.ScalarNode && nn.Value != ""
		again := named && dup(nn, nn.Value)
		if r := yamlfile.Resolve(item); r != nil && (r.Kind == yaml.ScalarNode || yamlfile.Child(r, "expr") != nil) {
			o, ok = scenario.DecodeSLO(d, item, steps)
		} else {
			o, ok = structuredSLO(d, item, steps)
		}
		if !ok || again || !named && dup(item, o.Name) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// structuredSLO reads an objective in the structured form: {name, success}
// (iteration success ratio), {name, errors}, or {name, latency: {step,
// percentile, below, service}}.
func structuredSLO(d *yamlfile.Decoder, item *yaml.Node, steps []slo.StepInfo) (slo.Objective, bool) {
	var s sloYAML
	failed := d.Failed()
	d.Decode(item, &s)
	if d.Failed() && !failed {
		return slo.Objective{}, false
	}
	if s.Name != "" && !nameRE.MatchString(s.Name) {
		d.Errorf(yamlfile.Child(item, "name"), "SLO name %q: use lower-case letters, digits, '-' and '_'", s.Name)
	}
	kinds := 0
	o := slo.Objective{Name: s.Name}
	ratio := func(key, text string, kind slo.Kind, op slo.Op) {
		kinds++
		v, err := slo.ParseRatio(text)
		if err != nil {
			d.Errorf(yamlfile.Child(item, key), "%s %q: %v", key, text, err)
		}
		o.Kind, o.Op, o.Target = kind, op, v
	}
	if s.Success != "" {
		ratio("success", s.Success, slo.KindSuccess, slo.GE)
	}
	if s.Errors != "" {
		ratio("errors", s.Errors, slo.KindErrors, slo.LT)
	}
	if l := s.Latency; l != nil {
		kinds++
		ln := yamlfile.Child(item, "latency")
		if l.Percentile <= 0 || l.Percentile >= 100 {
			d.Errorf(yamlfile.Child(ln, "percentile"), "percentile %v must be between 0 and 100 (exclusive)", l.Percentile)
		}
		if l.Below <= 0 {
			d.Errorf(yamlfile.Child(ln, "below"), "below must be a positive duration")
		}
		o.Kind, o.Op, o.Target = slo.KindLatency, slo.LT, l.Below.Seconds()
		o.Stat, o.Percentile, o.Step, o.Service = slo.Percentile, l.Percentile, l.Step, l.Service
		if len(steps) > 0 {
			if err := o.Bind(steps); err != nil {
				d.Errorf(yamlfile.Child(ln, "step"), "step %q is not in the scenario (steps: %s)", l.Step, strings.Join(stepNames(steps), ", "))
				return o, false
			}
		}
	}
	if s.TLSExpiry != "" {
		kinds++
		v, err := slo.ParseExpiry(s.TLSExpiry)
		if err != nil {
			d.Errorf(yamlfile.Child(item, "tls_expiry"), "tls_expiry %q: %v", s.TLSExpiry, err)
		}
		o.Kind, o.Op, o.Target = slo.KindTLSExpiry, slo.GT, v.Seconds()
	}
	if kinds != 1 {
		d.Errorf(item, "SLO %q: give exactly one of success, errors, latency or tls_expiry (or an expression: expr: \"p99(login) < 800ms\")", s.Name)
		return o, false
	}
	if an := yamlfile.Child(item, "abort_on_fail"); an != nil {
		o.Abort = scenario.DecodeAbort(d, an)
	}
	return o, true
}

func stepNames(steps []slo.StepInfo) []string {
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.Name
	}
	return slices.Compact(slices.Sorted(slices.Values(names)))
}

// referenced is a check's scenario or profile: a path (relative to the
// config) read by load, whose problems keep their own file's positions and
// which joins files (the fingerprint reads it), or an inline mapping read
// by decode.
func referenced[T any](d *yamlfile.Decoder, n *yaml.Node, what, check, baseDir string, files *[]string,
	load func(path string) (*T, error), decode func(*yaml.Node) *T) *T {
	if n.Kind != yaml.ScalarNode {
		return decode(n)
	}
	p := resolvePath(baseDir, n.Value)
	*files = append(*files, p)
	v, err := load(p)
	if err != nil {
		// Load's errors say what they are about ("scenario x.yaml: …").
		d.Report(n, prefixed(fmt.Sprintf("check %q", check), err))
	}
	return v
}

func resolvePath(base, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(base, p)
}

// fingerprint hashes a check's YAML node and the contents of the files it
// refers to (scenario, profile, data).
func fingerprint(n *yaml.Node, files []string, sc *scenario.Scenario) string {
	h := sha256.New()
	if out, err := yaml.Marshal(n); err == nil {
		h.Write(out)
	}
	if sc != nil {
		files = append(files, sc.DataFiles()...)
	}
	for _, f := range files {
		h.Write([]byte(f))
		// Only regular files, and no more than a data file may hold: a
		// path such as /dev/zero or a FIFO must not hang a reload.
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			if b, err := limits.ReadFile(f, limits.MaxDataBytes); err == nil {
				h.Write(b)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// prefixed keeps positioned errors from a referenced file as they are and
// prefixes anything else.
func prefixed(prefix string, err error) error {
	var pe *yamlfile.Error
	if errors.As(err, &pe) {
		return err
	}
	return fmt.Errorf("%s: %w", prefix, err)
}
