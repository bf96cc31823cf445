package daemon

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/scenario"
	"github.com/canaryproj/canary/slo"
)

// Defaults of the daemon config (SPEC §5).
const (
	DefaultListen        = "127.0.0.1:9090"
	DefaultStateDir      = "./canary-data"
	DefaultMaxRate       = 1000.0
	DefaultShutdownGrace = 10 * time.Second
	DefaultWindow        = 5 * time.Minute
	DefaultMinSamples    = 10
	MaxChecks            = 200
	MaxSLOsPerCheck      = 20
	DefaultMonitorRate   = "1/10s"
)

// Config is a loaded, validated daemon configuration. Immutable.
type Config struct {
	File         string
	Server       ServerConfig
	StateDir     string // absolute
	AllowedHosts []string
	MaxRate      float64
	Alerting     AlertingConfig
	Checks       []*Check
	// Policy is the alerting policy built from Alerting.
	Policy alert.Policy
	// Secrets holds every value that came from the environment.
	Secrets *redact.Set
}

// ServerConfig is the `server` block.
type ServerConfig struct {
	Listen        string        `yaml:"listen"`
	AuthToken     string        `yaml:"auth_token"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	ExternalURL   string        `yaml:"external_url"`
}

// AlertingConfig is the `alerting` block.
type AlertingConfig struct {
	Slack          *SlackConfig        `yaml:"slack"`
	Alertmanager   *AlertmanagerConfig `yaml:"alertmanager"`
	RepeatInterval time.Duration       `yaml:"repeat_interval"`
	ResolveAfter   int                 `yaml:"resolve_after"`
	EvaluateEvery  time.Duration       `yaml:"evaluate_every"`
	BurnRates      []BurnRateConfig    `yaml:"burn_rates"`
	SLOPeriod      time.Duration       `yaml:"slo_period"`
	RunbookURL     string              `yaml:"runbook_url"`
}

// SlackConfig is `alerting.slack`. Both URL and token empty: Slack is off.
type SlackConfig struct {
	WebhookURL string `yaml:"webhook_url"`
	Token      string `yaml:"token"`
	Channel    string `yaml:"channel"`
	// APIURL is the Web API's base URL in bot mode (a Slack-compatible
	// gateway); default Slack's own.
	APIURL string `yaml:"api_url"`
}

// AlertmanagerConfig is `alerting.alertmanager`.
type AlertmanagerConfig struct {
	URL string `yaml:"url"`
}

// BurnRateConfig is one entry of `alerting.burn_rates`.
type BurnRateConfig struct {
	Long     time.Duration `yaml:"long" required:"true"`
	Short    time.Duration `yaml:"short" required:"true"`
	Factor   float64       `yaml:"factor" required:"true"`
	Severity string        `yaml:"severity"`
}

// checkYAML is one entry of `checks` as written.
type checkYAML struct {
	Name       string            `yaml:"name" required:"true"`
	Scenario   *yaml.Node        `yaml:"scenario" required:"true"`
	Profile    *yaml.Node        `yaml:"profile"`
	Schedule   string            `yaml:"schedule"`
	Labels     map[string]string `yaml:"labels"`
	SLOs       []sloYAML         `yaml:"slos"`
	Window     time.Duration     `yaml:"window"`
	MinSamples *int              `yaml:"min_samples"`
	Alert      checkAlertYAML    `yaml:"alert"`
}

type checkAlertYAML struct {
	SlackChannel string `yaml:"slack_channel"`
	RunbookURL   string `yaml:"runbook_url"`
}

type sloYAML struct {
	Name    string       `yaml:"name" required:"true"`
	Success string       `yaml:"success"`
	Errors  string       `yaml:"errors"`
	Latency *latencyYAML `yaml:"latency"`
}

type latencyYAML struct {
	Step       string        `yaml:"step"`
	Percentile float64       `yaml:"percentile" required:"true"`
	Below      time.Duration `yaml:"below" required:"true"`
	Service    bool          `yaml:"service"`
}

type configYAML struct {
	Server       ServerConfig   `yaml:"server"`
	StateDir     string         `yaml:"state_dir"`
	AllowedHosts []string       `yaml:"allowed_hosts"`
	MaxRate      *float64       `yaml:"max_rate"`
	Alerting     AlertingConfig `yaml:"alerting"`
	Checks       []checkYAML    `yaml:"checks"`
}

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
	// Fingerprint changes whenever anything that defines the check does:
	// its YAML, and the files its scenario, profile and data come from. A
	// reload keeps the running state of checks whose fingerprint is the same.
	Fingerprint string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// LoadConfig reads and validates a daemon config. Every problem is reported,
// each as file:line:col (problems inside a referenced scenario or profile
// file carry that file's name).
func LoadConfig(path string, env func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, data, env)
}

// ParseConfig is LoadConfig on bytes read from file.
func ParseConfig(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	root, err := yamlfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	secrets := &redact.Set{}
	d := yamlfile.NewDecoder(file, yamlfile.Options{Env: env, Secrets: secrets})
	var raw configYAML
	d.Decode(root, &raw)
	baseDir := filepath.Dir(file)

	c := &Config{File: file, Server: raw.Server, Alerting: raw.Alerting, Secrets: secrets, MaxRate: DefaultMaxRate}
	checksNode := yamlfile.Child(root, "checks")
	c.applyDefaults(raw, baseDir)
	c.validateServer(d, root)
	c.Policy = c.buildPolicy(d, yamlfile.Child(root, "alerting"))
	c.validateAlerting(d, yamlfile.Child(root, "alerting"))

	if raw.MaxRate != nil {
		c.MaxRate = *raw.MaxRate
		if c.MaxRate <= 0 {
			d.Errorf(yamlfile.Child(root, "max_rate"), "max_rate must be positive")
		}
	}
	allow := c.HostAllowed
	if len(raw.Checks) > MaxChecks {
		d.Errorf(checksNode, "too many checks (%d); at most %d", len(raw.Checks), MaxChecks)
	}
	seen := map[string]bool{}
	var peak float64
	for i, cy := range raw.Checks {
		n := yamlfile.Item(checksNode, i)
		ck := c.loadCheck(d, n, cy, baseDir, env, secrets)
		if ck == nil {
			continue
		}
		if seen[ck.Name] {
			d.Errorf(yamlfile.Child(n, "name"), "duplicate check name %q", ck.Name)
		}
		seen[ck.Name] = true
		if ck.Scenario != nil {
			for _, h := range ck.Scenario.StaticHosts() {
				if err := allow(h); err != nil {
					d.Errorf(yamlfile.Child(n, "scenario"), "check %q: %v", ck.Name, err)
				}
			}
		}
		if ck.Profile != nil && ck.Profile.Model == profiles.Open && ck.Schedule == nil {
			peak += ck.Profile.PeakTarget()
		}
		c.Checks = append(c.Checks, ck)
	}
	if peak > c.MaxRate {
		d.Errorf(checksNode, "the checks' rates add up to %.4g/s, over max_rate %.4g/s; lower them or raise max_rate", peak, c.MaxRate)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Config) applyDefaults(raw configYAML, baseDir string) {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.ShutdownGrace == 0 {
		c.Server.ShutdownGrace = DefaultShutdownGrace
	}
	c.StateDir = raw.StateDir
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if !filepath.IsAbs(c.StateDir) {
		c.StateDir = filepath.Join(baseDir, c.StateDir)
	}
	c.AllowedHosts = raw.AllowedHosts
	if len(c.AllowedHosts) == 0 {
		c.AllowedHosts = []string{"127.0.0.1", "localhost", "::1"}
	}
	for i, h := range c.AllowedHosts {
		c.AllowedHosts[i] = strings.ToLower(strings.TrimSpace(h))
	}
	c.Secrets.Add(c.Server.AuthToken)
	if s := c.Alerting.Slack; s != nil {
		c.Secrets.Add(s.Token)
		c.Secrets.Add(s.WebhookURL)
	}
}

func (c *Config) validateServer(d *yamlfile.Decoder, root *yaml.Node) {
	srv := yamlfile.Child(root, "server")
	if _, _, err := net.SplitHostPort(c.Server.Listen); err != nil {
		d.Errorf(yamlfile.Child(srv, "listen"), "listen %q: want HOST:PORT, e.g. 127.0.0.1:9090", c.Server.Listen)
	}
	if u := c.Server.ExternalURL; u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
		d.Errorf(yamlfile.Child(srv, "external_url"), "external_url %q must start with http:// or https://", u)
	}
	for i, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, "/ :@") && net.ParseIP(h) == nil {
			d.Errorf(yamlfile.Item(yamlfile.Child(root, "allowed_hosts"), i), "allowed_hosts entry %q: want a host name or IP (no scheme, port or path); *.example.com allows subdomains", h)
		}
	}
}

func (c *Config) buildPolicy(d *yamlfile.Decoder, n *yaml.Node) alert.Policy {
	p := alert.DefaultPolicy()
	a := c.Alerting
	if a.RepeatInterval > 0 {
		p.RepeatInterval = a.RepeatInterval
	}
	if a.ResolveAfter > 0 {
		p.ResolveAfter = a.ResolveAfter
	}
	if a.EvaluateEvery > 0 {
		p.EvaluateEvery = a.EvaluateEvery
	}
	if a.SLOPeriod > 0 {
		p.Period = a.SLOPeriod
	}
	if len(a.BurnRates) > 0 {
		p.Windows = nil
		rates := yamlfile.Child(n, "burn_rates")
		for i, br := range a.BurnRates {
			item := yamlfile.Item(rates, i)
			switch {
			case br.Long <= 0 || br.Short <= 0:
				d.Errorf(item, "burn rate windows must be positive")
			case br.Short >= br.Long:
				d.Errorf(yamlfile.Child(item, "short"), "short window %v must be shorter than the long window %v", br.Short, br.Long)
			}
			if br.Factor <= 0 {
				d.Errorf(yamlfile.Child(item, "factor"), "factor must be positive")
			}
			sev := br.Severity
			if sev == "" {
				sev = "page"
			}
			p.Windows = append(p.Windows, alert.BurnWindow{Long: br.Long, Short: br.Short, Factor: br.Factor, Severity: sev})
		}
	}
	return p
}

func (c *Config) validateAlerting(d *yamlfile.Decoder, n *yaml.Node) {
	if a := c.Alerting; a.ResolveAfter < 0 {
		d.Errorf(yamlfile.Child(n, "resolve_after"), "resolve_after must be at least 1")
	}
	if s := c.Alerting.Slack; s != nil {
		sn := yamlfile.Child(n, "slack")
		if s.WebhookURL != "" && s.Token != "" {
			d.Errorf(sn, "slack: set webhook_url or token, not both")
		}
		if s.WebhookURL != "" && !strings.HasPrefix(s.WebhookURL, "https://") && !strings.HasPrefix(s.WebhookURL, "http://") {
			d.Errorf(yamlfile.Child(sn, "webhook_url"), "slack webhook_url must be an http(s) URL")
		}
		if s.Token != "" && s.Channel == "" {
			d.Errorf(sn, "slack: a bot token needs a channel")
		}
	}
	if am := c.Alerting.Alertmanager; am != nil && am.URL != "" && !strings.HasPrefix(am.URL, "http") {
		d.Errorf(yamlfile.Child(yamlfile.Child(n, "alertmanager"), "url"), "alertmanager url must be an http(s) URL")
	}
}

// loadCheck resolves one check; problems go to d (or, for referenced files,
// are reported with their own positions).
func (c *Config) loadCheck(d *yamlfile.Decoder, n *yaml.Node, cy checkYAML, baseDir string, env func(string) (string, bool), secrets *redact.Set) *Check {
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
		opts := scenario.LoadOptions{Env: env, BaseDir: baseDir, Secrets: secrets}
		if sn.Kind == yaml.ScalarNode {
			p := resolvePath(baseDir, sn.Value)
			files = append(files, p)
			sc, err := scenario.Load(p, scenario.LoadOptions{Env: env, Secrets: secrets})
			if err != nil {
				d.Report(sn, prefixed(fmt.Sprintf("check %q: scenario", cy.Name), err))
			}
			ck.Scenario = sc
		} else {
			ck.Scenario = scenario.Decode(d, sn, opts)
		}
	}
	// Profile: a path, an inline mapping, or absent (a light monitor).
	if pn := yamlfile.Resolve(cy.Profile); pn != nil && !yamlfile.IsNull(pn) {
		if pn.Kind == yaml.ScalarNode {
			p := resolvePath(baseDir, pn.Value)
			files = append(files, p)
			pr, err := profiles.Load(p, yamlfile.Options{Env: env, Secrets: secrets})
			if err != nil {
				d.Report(pn, prefixed(fmt.Sprintf("check %q: profile", cy.Name), err))
			}
			ck.Profile = pr
		} else {
			ck.Profile = profiles.Decode(d, pn)
		}
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
	ck.SLOs = c.loadSLOs(d, yamlfile.Child(n, "slos"), cy, ck.Scenario)
	ck.Fingerprint = fingerprint(n, files, ck.Scenario)
	return ck
}

func (c *Config) loadSLOs(d *yamlfile.Decoder, n *yaml.Node, cy checkYAML, sc *scenario.Scenario) []slo.Objective {
	if len(cy.SLOs) > MaxSLOsPerCheck {
		d.Errorf(n, "too many SLOs (%d); at most %d", len(cy.SLOs), MaxSLOsPerCheck)
	}
	var steps map[string]bool
	if sc != nil {
		steps = map[string]bool{}
		for _, s := range sc.StepNames() {
			steps[s] = true
		}
	}
	seen := map[string]bool{}
	var out []slo.Objective
	for i, s := range cy.SLOs {
		item := yamlfile.Item(n, i)
		if seen[s.Name] {
			d.Errorf(yamlfile.Child(item, "name"), "duplicate SLO name %q", s.Name)
		}
		seen[s.Name] = true
		if s.Name != "" && !nameRE.MatchString(s.Name) {
			d.Errorf(yamlfile.Child(item, "name"), "SLO name %q: use lower-case letters, digits, '-' and '_'", s.Name)
		}
		kinds := 0
		o := slo.Objective{Name: s.Name}
		if s.Success != "" {
			kinds++
			v, err := slo.ParseRatio(s.Success)
			if err != nil {
				d.Errorf(yamlfile.Child(item, "success"), "success %q: %v", s.Success, err)
			}
			o.Kind, o.Op, o.Target = slo.KindSuccess, slo.GE, v
		}
		if s.Errors != "" {
			kinds++
			v, err := slo.ParseRatio(s.Errors)
			if err != nil {
				d.Errorf(yamlfile.Child(item, "errors"), "errors %q: %v", s.Errors, err)
			}
			o.Kind, o.Op, o.Target = slo.KindErrors, slo.LT, v
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
			if l.Step != "" && steps != nil && !steps[l.Step] {
				d.Errorf(yamlfile.Child(ln, "step"), "step %q is not in the scenario (steps: %s)", l.Step, strings.Join(sortedKeys(steps), ", "))
			}
			o.Kind, o.Op, o.Target = slo.KindLatency, slo.LT, l.Below.Seconds()
			o.Stat, o.Percentile, o.Step, o.Service = slo.Percentile, l.Percentile, l.Step, l.Service
		}
		if kinds != 1 {
			d.Errorf(item, "SLO %q: give exactly one of success, errors or latency", s.Name)
			continue
		}
		out = append(out, o)
	}
	return out
}

// HostAllowed reports whether requests to host are allowed: it must equal an
// allowed_hosts entry, or be a subdomain of a "*.example.com" entry.
func (c *Config) HostAllowed(host string) error {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	h = strings.Trim(h, "[]")
	for _, a := range c.AllowedHosts {
		if a == h || strings.HasPrefix(a, "*.") && strings.HasSuffix(h, a[1:]) {
			return nil
		}
	}
	return fmt.Errorf("host %q is not in allowed_hosts %v", h, c.AllowedHosts)
}

// CheckByName finds a check.
func (c *Config) CheckByName(name string) *Check {
	for _, ck := range c.Checks {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

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
		if b, err := os.ReadFile(f); err == nil {
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
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
