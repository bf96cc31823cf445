package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
	"github.com/tidwall/gjson"
	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
	"github.com/canaryproj/canary/stats"
	"github.com/canaryproj/canary/transport"
)

// expectations of one step, checked in a fixed order.
type expectations struct {
	statusSet   []int // allowed codes; empty with statusLo/Hi = a range
	statusLo    int   // inclusive range when statusSet is empty
	statusHi    int
	statusText  string
	maxLatency  time.Duration
	headers     []headerExpect
	contains    []string
	matches     []*regexp.Regexp
	json        []jsonExpect
	expr        *vm.Program
	exprText    string
	exprJSON    bool // the expression reads json (parse the body)
	exprHeaders bool
}

type headerExpect struct {
	name  string
	value string
	re    *regexp.Regexp // "~regex"
}

type jsonExpect struct {
	path string
	op   string // equals, exists, gt, gte, lt, lte, contains, matches, len
	want any
	re   *regexp.Regexp
}

func (e *expectations) needHeaders() bool { return len(e.headers) > 0 || e.exprHeaders }

// needBody reports whether an expectation reads the response body; when
// none does (nor a capture), the body is read and dropped, not kept.
func (e *expectations) needBody() bool {
	return len(e.contains) > 0 || len(e.matches) > 0 || len(e.json) > 0 || e.expr != nil
}

func (c *compiler) compileExpect(n *yaml.Node, y *expectYAML, where string) expectations {
	d := c.d
	e := expectations{statusLo: 100, statusHi: 399, statusText: "< 400", maxLatency: y.MaxLatency, exprText: y.Expr}
	if y.Status != nil && !yamlfile.IsNull(y.Status) {
		c.compileStatus(y.Status, &e)
	}
	hn := yamlfile.Child(n, "headers")
	for _, k := range sortedKeys(y.Headers) {
		v := y.Headers[k]
		h := headerExpect{name: k, value: v}
		if rx, ok := strings.CutPrefix(v, "~"); ok {
			re, err := regexp.Compile(rx)
			if err != nil {
				d.Errorf(yamlfile.Child(hn, k), "%s expect header %s: bad regular expression %q: %v", where, k, rx, regexErr(err))
				continue
			}
			h.re = re
		}
		e.headers = append(e.headers, h)
	}
	e.contains = y.BodyContains
	mn := yamlfile.Child(n, "body_matches")
	for i, rx := range y.BodyMatches {
		re, err := regexp.Compile(rx)
		if err != nil {
			d.Errorf(yamlfile.Item(mn, i), "%s body_matches: bad regular expression %q: %v", where, rx, regexErr(err))
			continue
		}
		e.matches = append(e.matches, re)
	}
	jn := yamlfile.Child(n, "json")
	keys, vals := d.Pairs(jn)
	for i, k := range keys {
		if err := checkJSONPath(k.Value); err != nil {
			d.Errorf(k, "%s expect json: path %q: %v", where, k.Value, err)
			continue
		}
		e.json = append(e.json, c.compileJSONExpect(k, vals[i], where)...)
	}
	if y.Expr != "" {
		prog, err := expr.Compile(y.Expr, expr.Env(exprEnv{}), expr.AsBool(), expr.DisableBuiltin("repeat"))
		if err != nil {
			d.Errorf(yamlfile.Child(n, "expr"), "%s expr: %s", where, oneLine(err.Error()))
		} else {
			e.expr = prog
			e.exprJSON = strings.Contains(y.Expr, "json")
			e.exprHeaders = strings.Contains(y.Expr, "headers")
		}
	}
	return e
}

func regexErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "error parsing regexp") {
		return msg[i+2:]
	}
	return msg
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// compileStatus reads 200, [200, 201], "2xx" or ["2xx", 404].
func (c *compiler) compileStatus(n *yaml.Node, e *expectations) {
	n = yamlfile.Resolve(n)
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
		if len(items) == 0 {
			c.d.Errorf(n, "status: give at least one code")
			return
		}
	default:
		c.d.Errorf(n, "status: want a code (200), a list ([200, 201]) or a class (\"2xx\")")
		return
	}
	e.statusSet, e.statusLo, e.statusHi = nil, 0, -1
	var texts []string
	for _, it := range items {
		it = yamlfile.Resolve(it)
		v := strings.ToLower(strings.TrimSpace(it.Value))
		if it.Kind == yaml.ScalarNode && len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5' {
			base := int(v[0]-'0') * 100
			for code := base; code < base+100; code++ {
				e.statusSet = append(e.statusSet, code)
			}
			texts = append(texts, v)
			continue
		}
		code, err := strconv.Atoi(v)
		if it.Kind != yaml.ScalarNode || err != nil || code < 100 || code > 599 {
			c.d.Errorf(it, "status %q: want a code between 100 and 599 or a class like \"2xx\"", it.Value)
			continue
		}
		e.statusSet = append(e.statusSet, code)
		texts = append(texts, strconv.Itoa(code))
	}
	e.statusText = strings.Join(texts, ", ")
}

func (e *expectations) statusOK(code int) bool {
	if len(e.statusSet) == 0 {
		return code >= e.statusLo && code <= e.statusHi
	}
	for _, c := range e.statusSet {
		if c == code {
			return true
		}
	}
	return false
}

var jsonOps = []string{"exists", "equals", "gt", "gte", "lt", "lte", "contains", "matches", "len"}

func (c *compiler) compileJSONExpect(k, v *yaml.Node, where string) []jsonExpect {
	d := c.d
	path := k.Value
	v = yamlfile.Resolve(v)
	if v == nil || v.Kind != yaml.MappingNode {
		// A scalar (or list) means "equals".
		return []jsonExpect{{path: path, op: "equals", want: d.Any(v)}}
	}
	var out []jsonExpect
	keys, vals := d.Pairs(v)
	for i, opNode := range keys {
		op := opNode.Value
		je := jsonExpect{path: path, op: op}
		val := yamlfile.Resolve(vals[i])
		switch op {
		case "exists":
			b, ok := boolNode(val)
			if !ok {
				d.Errorf(val, "%s json %s: exists wants true or false", where, path)
				continue
			}
			je.want = b
		case "equals", "contains":
			je.want = d.Any(val)
		case "gt", "gte", "lt", "lte":
			f, err := strconv.ParseFloat(val.Value, 64)
			if val.Kind != yaml.ScalarNode || err != nil {
				d.Errorf(val, "%s json %s: %s wants a number", where, path, op)
				continue
			}
			je.want = f
		case "len":
			n, err := strconv.Atoi(val.Value)
			if val.Kind != yaml.ScalarNode || err != nil || n < 0 {
				d.Errorf(val, "%s json %s: len wants a non-negative integer", where, path)
				continue
			}
			je.want = n
		case "matches":
			re, err := regexp.Compile(val.Value)
			if val.Kind != yaml.ScalarNode || err != nil {
				d.Errorf(val, "%s json %s: matches wants a regular expression: %v", where, path, regexErr(err))
				continue
			}
			je.re = re
		default:
			d.Errorf(opNode, "%s json %s: unknown operator %q (want one of %s)%s", where, path, op, strings.Join(jsonOps, ", "), yamlfile.Suggest(op, jsonOps))
			continue
		}
		out = append(out, je)
	}
	return out
}

func boolNode(n *yaml.Node) (bool, bool) {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}

// checkJSONPath checks a GJSON path's syntax: gjson itself accepts anything
// and silently finds nothing.
func checkJSONPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty")
	}
	if strings.HasPrefix(p, ".") || strings.HasSuffix(p, ".") && !strings.HasSuffix(p, `\.`) {
		return fmt.Errorf("a path does not start or end with '.'")
	}
	var stack []rune
	inQuote := false
	escaped := false
	prevDot := false
	for _, r := range p {
		if escaped {
			escaped, prevDot = false, false
			continue
		}
		switch {
		case r == '\\':
			escaped = true
		case inQuote:
			if r == '"' {
				inQuote = false
			}
		case r == '"':
			inQuote = true
		case r == '(' || r == '[' || r == '{':
			stack = append(stack, r)
		case r == ')' || r == ']' || r == '}':
			want := map[rune]rune{')': '(', ']': '[', '}': '{'}[r]
			if len(stack) == 0 || stack[len(stack)-1] != want {
				return fmt.Errorf("unbalanced %q", r)
			}
			stack = stack[:len(stack)-1]
		case r == '.' && len(stack) == 0:
			if prevDot {
				return fmt.Errorf("empty segment ('..')")
			}
			prevDot = true
			continue
		}
		prevDot = false
	}
	switch {
	case inQuote:
		return fmt.Errorf("unterminated quote")
	case escaped:
		return fmt.Errorf("ends with an escape")
	case len(stack) > 0:
		return fmt.Errorf("unbalanced %q", stack[len(stack)-1])
	}
	return nil
}

// exprEnv is what an `expr` expression sees.
type exprEnv struct {
	Status  int               `expr:"status"`
	Latency float64           `expr:"latency"` // ms
	Headers map[string]string `expr:"headers"` // lower-case names
	Body    string            `expr:"body"`
	JSON    any               `expr:"json"`
	Vars    map[string]string `expr:"vars"`
}

// exprMemoryBudget bounds what one evaluation of an expr assertion may
// build, counted by expr in elements (of ranges, arrays, maps and loop
// iterations): a tenth of expr's default, so that an expression such as
// string(1..999999) fails at once instead of allocating 60 MB on every
// response. repeat is not offered at all: it only multiplies memory.
const exprMemoryBudget = 100_000

// expectError is a failed expectation: the error the summary prints, and
// what a failure sample shows of it (docs/run.md, "Failure samples").
type expectError struct {
	class     stats.ErrorClass
	assertion stats.Assertion
	target    string // the JSON path, header name, text or expression
	expected  string
	actual    string
	msg       string
}

func (e *expectError) Error() string { return e.msg }

// failure describes the failed expectation for a sample.
func (e *expectError) failure() *stats.AssertionFailure {
	return &stats.AssertionFailure{Kind: e.assertion.String(), Target: e.target, Expected: e.expected, Actual: e.actual}
}

func failed(class stats.ErrorClass, a stats.Assertion, target, expected, actual string, format string, args ...any) (stats.ErrorClass, stats.Assertion, error) {
	return class, a, &expectError{class: class, assertion: a, target: target, expected: expected, actual: actual, msg: fmt.Sprintf(format, args...)}
}

// check evaluates the expectations; the first failure wins. Its error is
// an *expectError.
func (e *expectations) check(resp *transport.Response, latency time.Duration, vars map[string]string) (stats.ErrorClass, stats.Assertion, error) {
	if !e.statusOK(resp.Status) {
		return failed(stats.ClassHTTPStatus, stats.AssertStatus, "", e.statusText, strconv.Itoa(resp.Status), "status %d, want %s", resp.Status, e.statusText)
	}
	if e.maxLatency > 0 && latency > e.maxLatency {
		l := latency.Round(time.Microsecond)
		return failed(stats.ClassAssertion, stats.AssertMaxLatency, "", e.maxLatency.String(), l.String(), "latency %v over max_latency %v", l, e.maxLatency)
	}
	for _, h := range e.headers {
		got := resp.Values(h.name)
		if len(got) == 0 {
			return failed(stats.ClassAssertion, stats.AssertHeaders, h.name, h.value, "", "header %s missing", h.name)
		}
		v := got[0]
		if h.re != nil {
			if !h.re.MatchString(v) {
				return failed(stats.ClassAssertion, stats.AssertHeaders, h.name, h.value, v, "header %s %q does not match %s", h.name, clip(v), h.re)
			}
		} else if v != h.value {
			return failed(stats.ClassAssertion, stats.AssertHeaders, h.name, h.value, v, "header %s is %q, want %q", h.name, clip(v), h.value)
		}
	}
	for _, s := range e.contains {
		if !bytes.Contains(resp.Body, []byte(s)) {
			return failed(stats.ClassAssertion, stats.AssertBodyContains, "", s, "", "body does not contain %q", s)
		}
	}
	for _, re := range e.matches {
		if !re.Match(resp.Body) {
			return failed(stats.ClassAssertion, stats.AssertBodyMatches, "", re.String(), "", "body does not match %s", re)
		}
	}
	if len(e.json) > 0 {
		if !gjson.ValidBytes(resp.Body) {
			return failed(stats.ClassAssertion, stats.AssertJSON, "", "a JSON body", "", "body is not JSON")
		}
		for _, je := range e.json {
			r := gjson.GetBytes(resp.Body, je.path)
			if err := je.check(r); err != nil {
				actual := "missing"
				if r.Exists() {
					actual = clip(r.Raw)
				}
				return failed(stats.ClassAssertion, stats.AssertJSON, je.path, je.describe(), actual, "json %s: %v", je.path, err)
			}
		}
	}
	if e.expr != nil {
		env := exprEnv{Status: resp.Status, Latency: float64(latency) / float64(time.Millisecond), Body: string(resp.Body), Vars: vars}
		if e.exprHeaders {
			env.Headers = make(map[string]string, len(resp.Header))
			for _, h := range resp.Header {
				k := strings.ToLower(h.Name)
				if _, ok := env.Headers[k]; !ok {
					env.Headers[k] = h.Value
				}
			}
		}
		if e.exprJSON {
			var v any
			if err := json.Unmarshal(resp.Body, &v); err == nil {
				env.JSON = v
			}
		}
		machine := vm.VM{MemoryBudget: exprMemoryBudget}
		out, err := machine.Run(e.expr, env)
		if err != nil {
			return failed(stats.ClassAssertion, stats.AssertExpr, e.exprText, "true", oneLine(err.Error()), "expr %s: %v", e.exprText, oneLine(err.Error()))
		}
		if ok, _ := out.(bool); !ok {
			return failed(stats.ClassAssertion, stats.AssertExpr, e.exprText, "true", "false", "expr %s is false", e.exprText)
		}
	}
	return stats.ClassNone, stats.AssertNone, nil
}

// describe says what a JSON expectation wants: "exists", "equals 7",
// "gt 0", "matches ^a".
func (je jsonExpect) describe() string {
	switch je.op {
	case "exists":
		if je.want.(bool) {
			return "exists"
		}
		return "absent"
	case "matches":
		return "matches " + je.re.String()
	}
	return je.op + " " + show(je.want)
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

func (je jsonExpect) check(r gjson.Result) error {
	switch je.op {
	case "exists":
		if r.Exists() != je.want.(bool) {
			if r.Exists() {
				return fmt.Errorf("exists, want it absent")
			}
			return fmt.Errorf("missing")
		}
		return nil
	}
	if !r.Exists() {
		return fmt.Errorf("missing")
	}
	switch je.op {
	case "equals":
		if !jsonEquals(r, je.want) {
			return fmt.Errorf("is %s, want %s", clip(r.Raw), show(je.want))
		}
	case "gt", "gte", "lt", "lte":
		if r.Type != gjson.Number {
			return fmt.Errorf("is %s, not a number", clip(r.Raw))
		}
		got, want := r.Float(), je.want.(float64)
		ok := map[string]bool{"gt": got > want, "gte": got >= want, "lt": got < want, "lte": got <= want}[je.op]
		if !ok {
			return fmt.Errorf("%v is not %s %v", got, map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[je.op], want)
		}
	case "contains":
		if r.IsArray() {
			for _, e := range r.Array() {
				if jsonEquals(e, je.want) {
					return nil
				}
			}
			return fmt.Errorf("has no element %s", show(je.want))
		}
		if !strings.Contains(r.String(), fmt.Sprint(je.want)) {
			return fmt.Errorf("%s does not contain %s", clip(r.Raw), show(je.want))
		}
	case "matches":
		if !je.re.MatchString(r.String()) {
			return fmt.Errorf("%s does not match %s", clip(r.Raw), je.re)
		}
	case "len":
		n := 0
		switch {
		case r.IsArray():
			n = len(r.Array())
		case r.IsObject():
			n = len(r.Map())
		default:
			n = len([]rune(r.String()))
		}
		if n != je.want.(int) {
			return fmt.Errorf("has length %d, want %d", n, je.want)
		}
	}
	return nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonEquals compares a JSON value with a YAML value: numbers numerically,
// strings, booleans and null as themselves, arrays and objects structurally.
func jsonEquals(r gjson.Result, want any) bool {
	switch w := want.(type) {
	case nil:
		return r.Type == gjson.Null
	case bool:
		return (r.Type == gjson.True && w) || (r.Type == gjson.False && !w)
	case int:
		return r.Type == gjson.Number && r.Float() == float64(w)
	case int64:
		return r.Type == gjson.Number && r.Float() == float64(w)
	case uint64:
		return r.Type == gjson.Number && r.Float() == float64(w)
	case float64:
		return r.Type == gjson.Number && math.Abs(r.Float()-w) <= 1e-9*math.Max(1, math.Abs(w))
	case string:
		return r.Type == gjson.String && r.Str == w
	default:
		var got any
		if err := json.Unmarshal([]byte(r.Raw), &got); err != nil {
			return false
		}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(normalize(want))
		return bytes.Equal(a, b)
	}
}

// normalize makes YAML numbers compare like JSON ones.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	case int:
		return float64(x)
	}
	return v
}

// ---------------------------------------------------------------- captures

type captureKind int

const (
	captureJSON captureKind = iota
	captureHeader
	captureRegex
)

type capture struct {
	name string
	kind captureKind
	arg  string
	re   *regexp.Regexp
}

func (c *compiler) compileCaptures(n *yaml.Node, where, step string) []capture {
	d := c.d
	keys, vals := d.Pairs(n)
	var out []capture
	for i, k := range keys {
		name := k.Value
		if !identRE.MatchString(name) {
			d.Errorf(k, "%s capture %q: use letters, digits and '_' (later steps read it as {{ .%s }})", where, name, name)
			continue
		}
		ck, cv := d.Pairs(vals[i])
		if len(ck) != 1 {
			d.Errorf(vals[i], "%s capture %s: give exactly one of json, header or regex", where, name)
			continue
		}
		arg, ok := d.Scalar(cv[0], "a string")
		if !ok {
			continue
		}
		cp := capture{name: name, arg: arg}
		switch ck[0].Value {
		case "json":
			cp.kind = captureJSON
			if err := checkJSONPath(arg); err != nil {
				d.Errorf(cv[0], "%s capture %s: path %q: %v", where, name, arg, err)
				continue
			}
		case "header":
			cp.kind = captureHeader
			if !validHeaderName(arg) {
				d.Errorf(cv[0], "%s capture %s: header name %q: want a token like X-Request-Id", where, name, arg)
				continue
			}
		case "regex":
			cp.kind = captureRegex
			re, err := regexp.Compile(arg)
			if err != nil {
				d.Errorf(cv[0], "%s capture %s: bad regular expression %q: %v", where, name, arg, regexErr(err))
				continue
			}
			if re.NumSubexp() > 1 {
				d.Errorf(cv[0], "%s capture %s: regex %q has %d groups; give one group (its match is captured) or none (the whole match is)", where, name, arg, re.NumSubexp())
				continue
			}
			cp.re = re
		default:
			d.Errorf(ck[0], "%s capture %s: unknown kind %q (want json, header or regex)%s", where, name, ck[0].Value, yamlfile.Suggest(ck[0].Value, []string{"json", "header", "regex"}))
			continue
		}
		out = append(out, cp)
	}
	_ = step
	return out
}

// extract runs the capture on a response.
func (cp *capture) extract(resp *transport.Response) (string, bool) {
	switch cp.kind {
	case captureJSON:
		r := gjson.GetBytes(resp.Body, cp.arg)
		if !r.Exists() {
			return "", false
		}
		return r.String(), true
	case captureHeader:
		v := resp.Values(cp.arg)
		if len(v) == 0 {
			return "", false
		}
		return v[0], true
	default:
		m := cp.re.FindSubmatch(resp.Body)
		if m == nil {
			return "", false
		}
		if len(m) > 1 {
			return string(m[1]), true
		}
		return string(m[0]), true
	}
}

func (cp *capture) describe() string {
	return map[captureKind]string{captureJSON: "json", captureHeader: "header", captureRegex: "regex"}[cp.kind] + " " + cp.arg
}
