// Package config reads the daemon config (docs/daemon.md): its types, strict
// decoding with file:line:col errors, ${VAR} expansion and validation, every
// problem reported at once. It resolves each check's scenario, profile and
// SLOs, but runs nothing: the daemon, `canary validate`, `rules`,
// `dashboards` and `gate --prometheus` all read the config through it.
package config

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/alert"
	"github.com/canaryproj/canary/alert/alertmanager"
	"github.com/canaryproj/canary/alert/slack"
	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/profiles"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/scenario"
)

// Defaults and bounds of the daemon config.
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

	// The API server's limits. A request body is read in full before it is
	// decoded, so its size is capped; the timeouts bound how long a slow or
	// idle client can hold a connection; unauthenticated requests share a
	// bounded number of slots, so that a flood of them cannot starve the
	// callers that hold a token.
	DefaultReadHeaderTimeout          = 10 * time.Second
	DefaultReadTimeout                = 30 * time.Second
	DefaultWriteTimeout               = 60 * time.Second
	DefaultIdleTimeout                = 30 * time.Second
	DefaultMaxBodyBytes               = 1 << 20
	MaxMaxBodyBytes                   = 64 << 20
	DefaultMaxUnauthenticatedRequests = 64
)

// Config is a loaded, validated daemon configuration. Immutable.
type Config struct {
	File         string
	Server       Server
	StateDir     string // absolute
	AllowedHosts []string
	MaxRate      float64
	Alerting     Alerting
	Checks       []*Check
	// Policy is the alerting policy built from Alerting.
	Policy alert.Policy
	// Secrets holds every value that came from the environment.
	Secrets *redact.Set
	// Warnings are the unset ${VAR}s of a config read with
	// Options.AllowUnset, in the config and the files it names.
	Warnings []*yamlfile.Error
}

// Options control how a config is read.
type Options struct {
	// Env looks up ${VAR}s.
	Env func(string) (string, bool)
	// AllowUnset makes an unset ${VAR} a warning (Config.Warnings) instead
	// of an error, for the commands that read a config without running it
	// (validate, rules, dashboards, gate --prometheus): they need none of
	// its secrets. The daemon reads strictly.
	AllowUnset bool
}

// Server is the `server` block.
type Server struct {
	Listen    string `yaml:"listen"`
	AuthToken string `yaml:"auth_token"`
	// RunToken may start on-demand runs and call the Flagger webhooks, and
	// nothing else: it is meant for places many people can read, such as a
	// Flagger Canary resource.
	RunToken      string        `yaml:"run_token"`
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	ExternalURL   string        `yaml:"external_url"`

	ReadHeaderTimeout          time.Duration `yaml:"read_header_timeout"`
	ReadTimeout                time.Duration `yaml:"read_timeout"`
	WriteTimeout               time.Duration `yaml:"write_timeout"`
	IdleTimeout                time.Duration `yaml:"idle_timeout"`
	MaxBodyBytes               int64         `yaml:"max_body_bytes"`
	MaxUnauthenticatedRequests int           `yaml:"max_unauthenticated_requests"`
}

// Alerting is the `alerting` block. Each notifier's block is its own
// package's type, decoded and checked there.
type Alerting struct {
	Slack          *slack.Config        `yaml:"slack"`
	Alertmanager   *alertmanager.Config `yaml:"alertmanager"`
	RepeatInterval time.Duration        `yaml:"repeat_interval"`
	ResolveAfter   int                  `yaml:"resolve_after"`
	ResolveFor     time.Duration        `yaml:"resolve_for"`
	EvaluateEvery  time.Duration        `yaml:"evaluate_every"`
	BurnRates      []BurnRate           `yaml:"burn_rates"`
	SLOPeriod      time.Duration        `yaml:"slo_period"`
	RunbookURL     string               `yaml:"runbook_url"`
}

// BurnRate is one entry of `alerting.burn_rates`.
type BurnRate struct {
	Long     time.Duration `yaml:"long" required:"true"`
	Short    time.Duration `yaml:"short" required:"true"`
	Factor   float64       `yaml:"factor" required:"true"`
	Severity string        `yaml:"severity"`
}

type configYAML struct {
	Server       Server      `yaml:"server"`
	StateDir     string      `yaml:"state_dir"`
	AllowedHosts []string    `yaml:"allowed_hosts"`
	MaxRate      *float64    `yaml:"max_rate"`
	Alerting     Alerting    `yaml:"alerting"`
	Checks       []checkYAML `yaml:"checks"`
}

// Load reads and validates a daemon config. Every problem is reported, each
// as file:line:col (problems inside a referenced scenario or profile file
// carry that file's name). env looks up ${VAR}s.
func Load(path string, env func(string) (string, bool)) (*Config, error) {
	return LoadWith(context.Background(), path, Options{Env: env})
}

// LoadWith is Load with options. It stops between the checks (each may
// read files) once ctx ends, with ctx's cause.
func LoadWith(ctx context.Context, path string, o Options) (*Config, error) {
	data, err := yamlfile.ReadFile("config", path)
	if err != nil {
		return nil, err
	}
	return ParseWith(ctx, path, data, o)
}

// Parse is Load on bytes read from file.
func Parse(file string, data []byte, env func(string) (string, bool)) (*Config, error) {
	return ParseWith(context.Background(), file, data, Options{Env: env})
}

// ParseWith is LoadWith on bytes read from file.
func ParseWith(ctx context.Context, file string, data []byte, o Options) (*Config, error) {
	root, err := yamlfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if err := wrongKind(file, root, KindConfig); err != nil {
		return nil, err
	}
	env := o.Env
	var unset *yamlfile.Unset
	if o.AllowUnset {
		unset = &yamlfile.Unset{}
	}
	secrets := &redact.Set{}
	d := yamlfile.NewDecoder(file, yamlfile.Options{Env: env, Secrets: secrets, Unset: unset})
	var raw configYAML
	d.Decode(root, &raw)
	baseDir := filepath.Dir(file)

	c := &Config{File: file, Server: raw.Server, Alerting: raw.Alerting, Secrets: secrets, MaxRate: DefaultMaxRate}
	checksNode := yamlfile.Child(root, "checks")
	c.applyDefaults(raw, baseDir)
	c.validateServer(d, root)
	alerting := yamlfile.Child(root, "alerting")
	c.Policy = c.buildPolicy(d, alerting)
	if c.Alerting.ResolveAfter < 0 {
		d.Errorf(yamlfile.Child(alerting, "resolve_after"), "resolve_after must be at least 1")
	}

	if raw.MaxRate != nil {
		c.MaxRate = *raw.MaxRate
		if c.MaxRate <= 0 {
			d.Errorf(yamlfile.Child(root, "max_rate"), "max_rate must be positive")
		}
	}
	if len(raw.Checks) > MaxChecks {
		d.Errorf(checksNode, "too many checks (%d); at most %d", len(raw.Checks), MaxChecks)
	}
	seen := map[string]bool{}
	var peak float64
	for i, cy := range raw.Checks {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		n := yamlfile.Item(checksNode, i)
		ck := c.loadCheck(d, n, cy, baseDir, env, secrets, unset)
		if seen[ck.Name] {
			d.Errorf(yamlfile.Child(n, "name"), "duplicate check name %q", ck.Name)
		}
		seen[ck.Name] = true
		c.checkHosts(d, n, ck)
		if ck.Profile != nil && ck.Profile.Model == profiles.Open && ck.Schedule == nil {
			peak += ck.Profile.PeakTarget() * float64(ck.Sides())
		}
		c.Checks = append(c.Checks, ck)
	}
	if peak > c.MaxRate {
		d.Errorf(checksNode, "the checks' rates add up to %.4g/s, over max_rate %.4g/s; lower them or raise max_rate", peak, c.MaxRate)
	}
	if err := d.Err(); err != nil {
		return nil, unset.Join(err)
	}
	c.Warnings = unset.Warnings()
	return c, nil
}

func (c *Config) applyDefaults(raw configYAML, baseDir string) {
	if c.Server.Listen == "" {
		c.Server.Listen = DefaultListen
	}
	if c.Server.ShutdownGrace == 0 {
		c.Server.ShutdownGrace = DefaultShutdownGrace
	}
	c.Server.ExternalURL = strings.TrimRight(c.Server.ExternalURL, "/")
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&c.Server.ReadHeaderTimeout, DefaultReadHeaderTimeout},
		{&c.Server.ReadTimeout, DefaultReadTimeout},
		{&c.Server.WriteTimeout, DefaultWriteTimeout},
		{&c.Server.IdleTimeout, DefaultIdleTimeout},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.Server.MaxBodyBytes == 0 {
		c.Server.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.Server.MaxUnauthenticatedRequests == 0 {
		c.Server.MaxUnauthenticatedRequests = DefaultMaxUnauthenticatedRequests
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
	c.Secrets.Add(c.Server.RunToken)
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
	if u := c.Server.ExternalURL; u != "" {
		// Location headers are this URL followed by the API's path, and
		// Spinnaker follows them as given: it must be absolute.
		pu, err := url.Parse(u)
		switch {
		case !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://"):
			d.Errorf(yamlfile.Child(srv, "external_url"), "external_url %q must start with http:// or https://", u)
		case err != nil || pu.Host == "" || pu.RawQuery != "" || pu.Fragment != "" || pu.User != nil:
			d.Errorf(yamlfile.Child(srv, "external_url"), "external_url: want a base URL like https://canary.example.com or https://example.com/canary (a host; no user, query or fragment)")
		}
	}
	if t := c.Server.RunToken; t != "" && t == c.Server.AuthToken {
		d.Errorf(yamlfile.Child(srv, "run_token"), "run_token must differ from auth_token: it is the token with fewer rights")
	}
	if n := c.Server.MaxBodyBytes; n < 0 || n > MaxMaxBodyBytes {
		d.Errorf(yamlfile.Child(srv, "max_body_bytes"), "max_body_bytes %d: want 1 to %d", n, int64(MaxMaxBodyBytes))
	}
	if c.Server.MaxUnauthenticatedRequests < 0 {
		d.Errorf(yamlfile.Child(srv, "max_unauthenticated_requests"), "max_unauthenticated_requests must be positive")
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
	if a.ResolveFor > 0 {
		p.ResolveFor = a.ResolveFor
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

// checkHosts reports the hosts a check's requests go to that
// allowed_hosts does not allow: its scenario's, or a comparison's base URLs.
func (c *Config) checkHosts(d *yamlfile.Decoder, n *yaml.Node, ck *Check) {
	type source struct {
		key string
		sc  *scenario.Scenario
	}
	sources := []source{{"scenario", ck.Scenario}}
	if cmp := ck.Comparison; cmp != nil {
		sources = []source{{"baseline", cmp.Baseline}, {"candidate", cmp.Candidate}}
	}
	for _, s := range sources {
		if s.sc == nil {
			continue
		}
		for _, h := range s.sc.StaticHosts() {
			if err := c.HostAllowed(h); err != nil {
				d.Errorf(yamlfile.Child(n, s.key), "check %q: %v", ck.Name, err)
			}
		}
	}
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
