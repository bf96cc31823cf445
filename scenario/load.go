// Package scenario owns the scenario file format (docs/scenario.md) —
// strict loading with every problem reported as file:line:col — and the
// execution of one iteration: requests built from templates, sent through a
// transport, judged by expectations, with captures feeding later steps.
package scenario

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/redact"
	"github.com/canaryproj/canary/slo"
	"github.com/canaryproj/canary/transport"
)

// Defaults of a scenario's `defaults` block.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultMaxBody      = transport.DefaultMaxBody
	DefaultMaxRedirects = transport.DefaultMaxRedirects
	MaxSteps            = 100
	MaxBodyLimit        = 1 << 30
	// MaxTemplates bounds the templated strings of one scenario (a
	// hundred steps with twenty templated fields each need 2,000).
	MaxTemplates = 5000
)

// LoadOptions control loading.
type LoadOptions struct {
	// Env resolves ${VAR} at load time and the env template function; nil
	// means an empty environment.
	Env func(string) (string, bool)
	// Vars override or define vars (--var key=value).
	Vars map[string]string
	// BaseDir is where relative data and TLS paths resolve (default: the
	// scenario file's directory).
	BaseDir string
	// Secrets receives values that came from the environment; created if nil.
	Secrets *redact.Set
	// Unset, when set, collects unset ${VAR}s as warnings instead of
	// errors (yamlfile.Options.Unset), for reading a scenario without
	// running it.
	Unset *yamlfile.Unset
}

// Scenario is a loaded, validated scenario. Immutable; safe for concurrent use.
type Scenario struct {
	Name    string
	File    string
	Steps   []*Step
	Secrets *redact.Set
	// SLOs are the scenario's own objectives (its slos), bound to its
	// steps: what `canary run` judges without --slo, and a daemon check
	// without slos of its own.
	SLOs []slo.Objective

	vars      []varDef
	data      *feeder
	think     [2]time.Duration
	tls       transport.TLSOptions
	http2     bool
	maxRedirs int
	dataFiles []string
	env       func(string) (string, bool)
	// usesIterState: some template needs per-iteration values (vars,
	// captures, data, iteration, vu); otherwise nothing is rendered at all.
	usesIterState bool
	// base, when set, is where every request goes instead (WithBase).
	base *base
}

type varDef struct {
	name string
	t    *tmpl
}

// Step is one request of a scenario and what is expected of its answer.
type Step struct {
	Name              string
	Method            string
	ContinueOnFailure bool
	// Tags label the step for objectives (p99(region=eu)); nil without.
	Tags map[string]string

	url      *tmpl
	headers  []headerTmpl
	query    []queryTmpl
	body     bodyTmpl
	timeout  time.Duration
	follow   bool
	maxBody  int64
	expect   expectations
	captures []capture
	needHdrs bool
	needBody bool
	static   bool // nothing to render: the request is built once
}

type headerTmpl struct {
	name string
	t    *tmpl
}

type queryTmpl struct {
	name string
	t    *tmpl
}

// StepNames lists the steps in order.
func (s *Scenario) StepNames() []string {
	out := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Name
	}
	return out
}

// Methods lists each step's HTTP method.
func (s *Scenario) Methods() []string {
	out := make([]string, len(s.Steps))
	for i, st := range s.Steps {
		out[i] = st.Method
	}
	return out
}

// DataFiles are the files the scenario reads besides itself (for change
// detection).
func (s *Scenario) DataFiles() []string { return append([]string(nil), s.dataFiles...) }

// ThinkTime is the pause between steps (a uniform random pause when min < max).
func (s *Scenario) ThinkTime() (min, max time.Duration) { return s.think[0], s.think[1] }

// TransportOptions are the client options the scenario asks for.
func (s *Scenario) TransportOptions() transport.Options {
	return transport.Options{TLS: s.tls, HTTP2: s.http2, MaxRedirects: s.maxRedirs, Secrets: s.Secrets}
}

// StaticHosts lists the hosts of URLs known at load time: literal URLs and
// URLs built only from vars whose values are fixed (such as a base URL from
// ${BASE_URL:-…}). A scenario with a base (WithBase) sends only there.
func (s *Scenario) StaticHosts() []string {
	if s.base != nil {
		// Every request goes to the base, whatever the steps say.
		if u, err := url.Parse(s.base.scheme + "://" + s.base.host); err == nil {
			return []string{strings.ToLower(u.Hostname())}
		}
	}
	static := map[string]string{}
	for _, v := range s.vars {
		if v.t.isStatic() {
			static[v.name] = v.t.static
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, st := range s.Steps {
		u, ok := st.url.renderStatic(static)
		if !ok {
			continue
		}
		if pu, err := url.Parse(u); err == nil && pu.Hostname() != "" && !seen[pu.Hostname()] {
			seen[pu.Hostname()] = true
			out = append(out, strings.ToLower(pu.Hostname()))
		}
	}
	sort.Strings(out)
	return out
}

// ---------------------------------------------------------------- schema

type fileYAML struct {
	Name      string       `yaml:"name" required:"true"`
	Vars      *yaml.Node   `yaml:"vars"`
	Data      string       `yaml:"data"`
	Defaults  defaultsYAML `yaml:"defaults"`
	ThinkTime string       `yaml:"think_time"`
	Steps     []stepYAML   `yaml:"steps" required:"true"`
	SLOs      *yaml.Node   `yaml:"slos"`
}

type defaultsYAML struct {
	Timeout         time.Duration     `yaml:"timeout"`
	Headers         map[string]string `yaml:"headers"`
	TLS             tlsYAML           `yaml:"tls"`
	FollowRedirects *bool             `yaml:"follow_redirects"`
	MaxRedirects    *int              `yaml:"max_redirects"`
	MaxBody         string            `yaml:"max_body"`
	HTTP2           bool              `yaml:"http2"`
}

type tlsYAML struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	CAFile             string `yaml:"ca_file"`
	CertFile           string `yaml:"cert_file"`
	KeyFile            string `yaml:"key_file"`
	ServerName         string `yaml:"server_name"`
}

type stepYAML struct {
	Name              string            `yaml:"name" required:"true"`
	Tags              map[string]string `yaml:"tags"`
	Request           requestYAML       `yaml:"request" required:"true"`
	Expect            expectYAML        `yaml:"expect"`
	Capture           *yaml.Node        `yaml:"capture"`
	ContinueOnFailure bool              `yaml:"continue_on_failure"`
}

type requestYAML struct {
	Method          string            `yaml:"method"`
	URL             string            `yaml:"url" required:"true"`
	Headers         map[string]string `yaml:"headers"`
	Query           map[string]string `yaml:"query"`
	JSON            *yaml.Node        `yaml:"json"`
	Body            *string           `yaml:"body"`
	Form            map[string]string `yaml:"form"`
	Timeout         time.Duration     `yaml:"timeout"`
	FollowRedirects *bool             `yaml:"follow_redirects"`
}

type expectYAML struct {
	Status       *yaml.Node        `yaml:"status"`
	MaxLatency   time.Duration     `yaml:"max_latency"`
	Headers      map[string]string `yaml:"headers"`
	BodyContains []string          `yaml:"body_contains"`
	BodyMatches  []string          `yaml:"body_matches"`
	JSON         *yaml.Node        `yaml:"json"`
	Expr         string            `yaml:"expr"`
}

// ---------------------------------------------------------------- loading

// ParseVars reads `--var key=value` settings into LoadOptions.Vars.
func ParseVars(kvs []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--var %q: want key=value", kv)
		}
		vars[strings.TrimSpace(k)] = v
	}
	return vars, nil
}

// Load reads and validates a scenario file.
func Load(path string, opts LoadOptions) (*Scenario, error) {
	data, err := yamlfile.ReadFile("scenario", path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, opts)
}

// Parse validates a scenario file's bytes; every problem is reported as
// file:line:col: message.
func Parse(file string, data []byte, opts LoadOptions) (*Scenario, error) {
	n, err := yamlfile.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if opts.BaseDir == "" {
		opts.BaseDir = filepath.Dir(file)
	}
	if opts.Secrets == nil {
		opts.Secrets = &redact.Set{}
	}
	d := yamlfile.NewDecoder(file, yamlfile.Options{Env: envOrEmpty(opts.Env), Secrets: opts.Secrets, Unset: opts.Unset})
	s := Decode(d, n, opts)
	if err := d.Err(); err != nil {
		return nil, err
	}
	if s == nil {
		return nil, fmt.Errorf("%s:1:1: not a scenario", file)
	}
	return s, nil
}

func envOrEmpty(env func(string) (string, bool)) func(string) (string, bool) {
	if env == nil {
		return func(string) (string, bool) { return "", false }
	}
	return env
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Decode decodes and validates a scenario from a mapping node (a whole file,
// or inline in the daemon config); problems go to d. It returns nil when the
// scenario is unusable.
func Decode(d *yamlfile.Decoder, n *yaml.Node, opts LoadOptions) *Scenario {
	if opts.Secrets == nil {
		opts.Secrets = d.Options().Secrets
	}
	if opts.Secrets == nil {
		opts.Secrets = &redact.Set{}
	}
	if opts.BaseDir == "" {
		opts.BaseDir = filepath.Dir(d.File())
	}
	failedBefore := d.Failed()
	var y fileYAML
	d.Decode(n, &y)
	root := yamlfile.Resolve(n)
	if root == nil || root.Kind != yaml.MappingNode {
		if !d.Failed() || failedBefore {
			d.Errorf(n, "a scenario is a mapping with name and steps, not %s", yamlfile.KindName(n))
		}
		return nil
	}
	c := &compiler{d: d, opts: opts, env: envOrEmpty(opts.Env), defined: map[string]string{}}
	s := &Scenario{Name: y.Name, File: d.File(), Secrets: opts.Secrets, env: c.env, maxRedirs: DefaultMaxRedirects}
	c.s = s

	if y.Name != "" && !nameRE.MatchString(y.Name) {
		d.Errorf(yamlfile.Child(root, "name"), "name %q: use lower-case letters, digits, '-' and '_', starting with a letter or digit", y.Name)
	}
	stepsNode := yamlfile.Resolve(yamlfile.Child(root, "steps"))
	c.capturedBy = map[string]string{}
	for i := range y.Steps {
		for _, k := range mapKeys(yamlfile.Child(yamlfile.Item(stepsNode, i), "capture")) {
			if _, ok := c.capturedBy[k]; !ok {
				c.capturedBy[k] = fmt.Sprintf("step %q", y.Steps[i].Name)
			}
		}
	}
	// Data columns, then vars in file order, then --vars, define names.
	if y.Data != "" {
		c.loadData(yamlfile.Child(root, "data"), y.Data)
	}
	c.compileVars(yamlfile.Child(root, "vars"))
	c.compileDefaults(yamlfile.Child(root, "defaults"), &y.Defaults)
	if y.ThinkTime != "" {
		s.think = c.thinkTime(yamlfile.Child(root, "think_time"), y.ThinkTime)
	}

	if stepsNode != nil && stepsNode.Kind == yaml.SequenceNode && len(y.Steps) == 0 {
		d.Errorf(stepsNode, "steps: give at least one step")
	}
	if len(y.Steps) > MaxSteps {
		d.Errorf(stepsNode, "%d steps: at most %d", len(y.Steps), MaxSteps)
	}
	names := map[string]bool{}
	for i := range y.Steps {
		sn := yamlfile.Item(stepsNode, i)
		sy := &y.Steps[i]
		if sy.Name != "" {
			if names[sy.Name] {
				d.Errorf(yamlfile.Child(sn, "name"), "duplicate step name %q", sy.Name)
			}
			names[sy.Name] = true
			if !nameRE.MatchString(sy.Name) {
				d.Errorf(yamlfile.Child(sn, "name"), "step name %q: use lower-case letters, digits, '-' and '_' (it becomes a metric label)", sy.Name)
			}
		}
		if st := c.compileStep(sn, sy); st != nil {
			s.Steps = append(s.Steps, st)
		}
	}
	if d.Failed() && !failedBefore {
		return nil
	}
	s.SLOs = DecodeSLOs(d, yamlfile.Child(root, "slos"), s.StepInfos())
	if d.Failed() && !failedBefore {
		return nil
	}
	return s
}

// mapKeys lists a mapping's keys.
func mapKeys(n *yaml.Node) []string {
	n = yamlfile.Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, n.Content[i].Value)
	}
	return out
}

// compiler carries the state of one scenario's compilation.
type compiler struct {
	d    *yamlfile.Decoder
	opts LoadOptions
	env  func(string) (string, bool)
	s    *Scenario
	// varNodes are the file's vars' values, for messages about them.
	varNodes map[string]*yaml.Node
	// defined names → where they come from ("var", "data", "capture of step x").
	defined map[string]string
	// capturedBy: names captured by some step, for "only a later step
	// captures it" messages; filled before steps compile.
	capturedBy map[string]string
	def        stepDefaults
	// static holds vars whose value is fixed at load time; templates that
	// read only these are rendered once, at load.
	static map[string]string
	// templates counts the templates compiled, against MaxTemplates.
	templates int
}

// stepDefaults are the scenario's defaults block, resolved.
type stepDefaults struct {
	timeout time.Duration
	follow  bool
	maxBody int64
	headers []defaultHeader
}

type defaultHeader struct {
	name, value string
	node        *yaml.Node
}

func (c *compiler) loadData(n *yaml.Node, path string) {
	full := path
	if !filepath.IsAbs(full) {
		full = filepath.Join(c.opts.BaseDir, path)
	}
	f, err := loadCSV(full)
	if err != nil {
		c.d.Errorf(n, "data %s: %v", path, err)
		return
	}
	c.s.data = f
	c.s.dataFiles = append(c.s.dataFiles, full)
	c.s.usesIterState = true
	for _, col := range f.columns {
		c.defined[col] = "data column"
	}
}

func (c *compiler) compileVars(n *yaml.Node) {
	keys, vals := c.d.Pairs(n)
	seen := map[string]bool{}
	for i, k := range keys {
		name := k.Value
		if !identRE.MatchString(name) {
			c.d.Errorf(k, "var %q: use letters, digits and '_' (a template refers to it as {{ .%s }})", name, name)
			continue
		}
		seen[name] = true
		if v, ok := c.opts.Vars[name]; ok {
			c.s.vars = append(c.s.vars, varDef{name: name, t: staticTmpl(v)})
			c.defined[name] = "var"
			c.markStatic(name, staticTmpl(v))
			continue
		}
		text, ok := c.d.Scalar(vals[i], "a string")
		if !ok {
			continue
		}
		c.noteVar(name, vals[i])
		t := c.compile(vals[i], text, fmt.Sprintf("var %q", name))
		if t == nil {
			continue
		}
		c.s.vars = append(c.s.vars, varDef{name: name, t: t})
		c.defined[name] = "var"
		c.markStatic(name, t)
		if c.d.Unknown(vals[i]) {
			// From an unset ${VAR}: not known at load time, so what is
			// built from it is not checked at load time either.
			delete(c.static, name)
		}
	}
	// --var may define vars the file does not have.
	extra := make([]string, 0, len(c.opts.Vars))
	for k := range c.opts.Vars {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		c.s.vars = append(c.s.vars, varDef{name: k, t: staticTmpl(c.opts.Vars[k])})
		c.defined[k] = "var"
		c.markStatic(k, staticTmpl(c.opts.Vars[k]))
	}
	for _, v := range c.s.vars {
		if !v.t.isStatic() {
			c.s.usesIterState = true
		}
	}
}

// markStatic records a var whose value is fixed at load time — unless a
// data column or a capture can change it during an iteration.
func (c *compiler) markStatic(name string, t *tmpl) {
	if c.static == nil {
		c.static = map[string]string{}
	}
	_, captured := c.capturedBy[name]
	isColumn := c.s.data != nil && contains(c.s.data.columns, name)
	if t.isStatic() && !captured && !isColumn {
		c.static[name] = t.static
	} else {
		delete(c.static, name)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *compiler) compileDefaults(n *yaml.Node, y *defaultsYAML) {
	s := c.s
	c.def = stepDefaults{timeout: DefaultTimeout, follow: true, maxBody: DefaultMaxBody}
	if y.Timeout > 0 {
		c.def.timeout = y.Timeout
	}
	if y.FollowRedirects != nil {
		c.def.follow = *y.FollowRedirects
	}
	if y.MaxBody != "" {
		v, err := parseByteSize(y.MaxBody)
		if err != nil {
			c.d.Errorf(yamlfile.Child(n, "max_body"), "max_body %q: %v", y.MaxBody, err)
		} else {
			c.def.maxBody = v
		}
	}
	hn := yamlfile.Child(n, "headers")
	for _, k := range sortedKeys(y.Headers) {
		c.def.headers = append(c.def.headers, defaultHeader{name: k, value: y.Headers[k], node: yamlfile.Child(hn, k)})
	}
	if y.MaxRedirects != nil {
		if *y.MaxRedirects < 0 || *y.MaxRedirects > 100 {
			c.d.Errorf(yamlfile.Child(n, "max_redirects"), "max_redirects %d: want 0..100", *y.MaxRedirects)
		}
		s.maxRedirs = *y.MaxRedirects
	}
	s.http2 = y.HTTP2
	tn := yamlfile.Child(n, "tls")
	resolve := func(key, p string) string {
		if p == "" {
			return ""
		}
		full := p
		if !filepath.IsAbs(full) {
			full = filepath.Join(c.opts.BaseDir, p)
		}
		if _, err := os.Stat(full); err != nil {
			c.d.Errorf(yamlfile.Child(tn, key), "tls %s %s: %v", key, p, unwrapPathErr(err))
		}
		s.dataFiles = append(s.dataFiles, full)
		return full
	}
	s.tls = transport.TLSOptions{
		InsecureSkipVerify: y.TLS.InsecureSkipVerify, ServerName: y.TLS.ServerName,
		CAFile: resolve("ca_file", y.TLS.CAFile), CertFile: resolve("cert_file", y.TLS.CertFile), KeyFile: resolve("key_file", y.TLS.KeyFile),
	}
	if (y.TLS.CertFile == "") != (y.TLS.KeyFile == "") {
		c.d.Errorf(tn, "tls: cert_file and key_file go together")
	}
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// thinkTime parses "0s", "250ms" or "100ms-500ms".
func (c *compiler) thinkTime(n *yaml.Node, s string) [2]time.Duration {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := yamlfile.ParseDuration(strings.TrimSpace(lo))
	if err != nil {
		c.d.Errorf(n, "think_time %q: want a duration (250ms) or a range (100ms-500ms)", s)
		return [2]time.Duration{}
	}
	b := a
	if isRange {
		if b, err = yamlfile.ParseDuration(strings.TrimSpace(hi)); err != nil {
			c.d.Errorf(n, "think_time %q: want a duration (250ms) or a range (100ms-500ms)", s)
			return [2]time.Duration{}
		}
		if b < a {
			c.d.Errorf(n, "think_time %q: the range's minimum is above its maximum", s)
		}
	}
	if b > time.Hour {
		c.d.Errorf(n, "think_time %q: at most 1h", s)
	}
	return [2]time.Duration{a, b}
}

var methodRE = regexp.MustCompile(`^[A-Z]+$`)

func (c *compiler) compileStep(n *yaml.Node, y *stepYAML) *Step {
	d := c.d
	rn := yamlfile.Child(n, "request")
	where := fmt.Sprintf("step %q", y.Name)
	st := &Step{Name: y.Name, ContinueOnFailure: y.ContinueOnFailure, follow: c.def.follow, maxBody: c.def.maxBody, timeout: c.def.timeout}
	st.Tags = c.compileTags(yamlfile.Child(n, "tags"), y.Tags, where)

	st.Method = strings.ToUpper(strings.TrimSpace(y.Request.Method))
	if st.Method == "" {
		st.Method = "GET"
	}
	if !methodRE.MatchString(st.Method) || len(st.Method) > 20 {
		d.Errorf(yamlfile.Child(rn, "method"), "method %q: want an HTTP method like GET or POST", y.Request.Method)
	}
	if y.Request.URL != "" {
		st.url = c.compile(yamlfile.Child(rn, "url"), y.Request.URL, where+" url")
		if st.url != nil && st.url.isStatic() {
			if err := checkURL(st.url.static); err != nil {
				c.badURL(yamlfile.Child(rn, "url"), y.Request.URL, st.url.static, err)
			}
		}
	}
	if y.Request.Timeout > 0 {
		st.timeout = y.Request.Timeout
	}
	if y.Request.FollowRedirects != nil {
		st.follow = *y.Request.FollowRedirects
	}

	// Headers: the defaults under the step's own (case-insensitive names).
	hn := yamlfile.Child(rn, "headers")
	byName := map[string]int{}
	addHeader := func(name, value string, node *yaml.Node) {
		if !validHeaderName(name) {
			d.Errorf(node, "header name %q: want a token like X-Request-Id", name)
			return
		}
		t := c.compile(node, value, fmt.Sprintf("%s header %s", where, name))
		if t == nil {
			return
		}
		key := strings.ToLower(name)
		if i, ok := byName[key]; ok {
			st.headers[i] = headerTmpl{name: name, t: t}
			return
		}
		byName[key] = len(st.headers)
		st.headers = append(st.headers, headerTmpl{name: name, t: t})
	}
	for _, h := range c.def.headers {
		addHeader(h.name, h.value, h.node)
	}
	for _, k := range sortedKeys(y.Request.Headers) {
		addHeader(k, y.Request.Headers[k], yamlfile.Child(hn, k))
	}

	qn := yamlfile.Child(rn, "query")
	for _, k := range sortedKeys(y.Request.Query) {
		if t := c.compile(yamlfile.Child(qn, k), y.Request.Query[k], fmt.Sprintf("%s query %s", where, k)); t != nil {
			st.query = append(st.query, queryTmpl{name: k, t: t})
		}
	}

	// Body: at most one of json, body, form.
	kinds := []string{}
	if y.Request.JSON != nil && !yamlfile.IsNull(y.Request.JSON) {
		kinds = append(kinds, "json")
	}
	if y.Request.Body != nil {
		kinds = append(kinds, "body")
	}
	if len(y.Request.Form) > 0 {
		kinds = append(kinds, "form")
	}
	if len(kinds) > 1 {
		d.Errorf(yamlfile.Child(rn, kinds[1]), "give one of json, body or form, not %s", strings.Join(kinds, " and "))
	} else if len(kinds) == 1 {
		switch kinds[0] {
		case "json":
			st.body = c.compileJSONBody(yamlfile.Child(rn, "json"), where)
			st.setDefaultHeader("Content-Type", "application/json")
		case "body":
			if t := c.compile(yamlfile.Child(rn, "body"), *y.Request.Body, where+" body"); t != nil {
				st.body = bodyTmpl{raw: t}
			}
		case "form":
			fn := yamlfile.Child(rn, "form")
			var form []queryTmpl
			for _, k := range sortedKeys(y.Request.Form) {
				if t := c.compile(yamlfile.Child(fn, k), y.Request.Form[k], fmt.Sprintf("%s form %s", where, k)); t != nil {
					form = append(form, queryTmpl{name: k, t: t})
				}
			}
			st.body = bodyTmpl{form: form}
			st.setDefaultHeader("Content-Type", "application/x-www-form-urlencoded")
		}
	}

	st.expect = c.compileExpect(yamlfile.Child(n, "expect"), &y.Expect, where)
	st.captures = c.compileCaptures(yamlfile.Child(n, "capture"), where, y.Name)
	st.needHdrs = st.expect.needHeaders()
	st.needBody = st.expect.needBody()
	for _, cp := range st.captures {
		if cp.kind == captureHeader {
			st.needHdrs = true
		} else {
			st.needBody = true
		}
	}
	st.static = st.url != nil && st.url.isStatic() && st.body.isStatic()
	for _, h := range st.headers {
		st.static = st.static && h.t.isStatic()
	}
	for _, q := range st.query {
		st.static = st.static && q.t.isStatic()
	}
	if !st.static {
		c.s.usesIterState = true
	}
	// Captures define names for the steps after this one.
	for _, cp := range st.captures {
		c.defined[cp.name] = fmt.Sprintf("capture of step %q", y.Name)
	}
	if st.url == nil {
		return nil
	}
	return st
}

// setDefaultHeader adds a header unless the step sets it.
func (st *Step) setDefaultHeader(name, value string) {
	for _, h := range st.headers {
		if strings.EqualFold(h.name, name) {
			return
		}
	}
	st.headers = append(st.headers, headerTmpl{name: name, t: staticTmpl(value)})
}

func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("want an http:// or https:// URL")
	}
	if u.Host == "" {
		return fmt.Errorf("the URL has no host")
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// parseByteSize reads "10MiB", "512KiB", "1MB", "2048".
func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"kB", 1e3}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.m
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	// !(n > 0) also refuses NaN, which compares false with everything.
	if err != nil || !(n > 0) {
		return 0, fmt.Errorf("want a size like 10MiB, 512KiB or a number of bytes")
	}
	f := n * float64(mult)
	if f > MaxBodyLimit {
		return 0, fmt.Errorf("at most 1GiB")
	}
	if f < 1 {
		return 0, fmt.Errorf("at least 1 byte")
	}
	return int64(f), nil
}
