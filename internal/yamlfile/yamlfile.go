// Package yamlfile reads canary's YAML files strictly: unknown keys, wrong
// types, missing required keys and unset ${VAR}s are all reported at once,
// each as "file:line:col: message".
//
// Decoding walks the yaml.Node tree by reflection instead of using yaml.v3's
// own struct decoding, because yaml.v3 reports only a line (not a column) for
// type errors and stops at the first unknown field of a document.
//
// Struct fields are named by their `yaml:"name"` tag (yaml.v3 options such as
// omitempty are ignored here); `required:"true"` marks a required key. A type
// may decode itself by implementing Unmarshaler.
//
// Every document is held to a budget (internal/limits): at most
// limits.MaxFileBytes of text, and at most limits.MaxNodes values once its
// aliases are expanded. yaml.v3 guards against alias bombs only when it
// decodes into Go values itself, which this package never asks it to do.
package yamlfile

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/limits"
	"github.com/canaryproj/canary/redact"
)

// Error is one problem at a position in a file.
type Error struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unmarshaler is implemented by types that decode themselves from a node
// (durations with units, "status: 200 | [200, 201] | 2xx", …). An error returned
// is reported at n's position; positioned problems deeper in n are reported
// with d.Errorf and do not need to be returned.
type Unmarshaler interface {
	UnmarshalYAMLNode(d *Decoder, n *yaml.Node) error
}

// Options controls ${VAR} expansion.
type Options struct {
	// Env looks up ${VAR}; nil disables expansion (text is kept as written).
	Env func(name string) (string, bool)
	// Secrets receives every value that came from the environment, so that it
	// can be redacted wherever canary prints. Defaults written in the file are
	// not secret.
	Secrets *redact.Set
	// Unset, when set, makes an unset ${VAR} (without a default) a warning
	// collected there instead of an error: it stays as written, and
	// problems reported at the node that holds it are dropped, its value
	// being unknown. For reading a file without running it.
	Unset *Unset
}

// Decoder decodes nodes of one file, collecting every problem.
type Decoder struct {
	file string
	hint hints
	opts Options
	errs []*Error
	// unknown are the nodes holding an unset ${VAR} (with Options.Unset).
	unknown map[*yaml.Node]bool
	// dropped counts problems past maxErrors.
	dropped int
	// visits counts the nodes decoded so far. A document that went through
	// Parse is already within budget; this bounds trees that did not (and
	// decoders that walk one subtree several times), so nothing decoded
	// here can grow without limit.
	visits  int
	overrun bool
	// aliases are the aliases being expanded, innermost last, so that an
	// overrun names the one responsible.
	aliases []*yaml.Node
}

// maxVisits allows each value of a document within budget to be decoded a
// few times over (a scenario inline in the daemon config is decoded as
// part of the config and then as a scenario).
const maxVisits = 4 * limits.MaxNodes

// NewDecoder returns a decoder whose errors name file.
func NewDecoder(file string, opts Options) *Decoder {
	return &Decoder{file: file, opts: opts}
}

// File is the name errors carry.
func (d *Decoder) File() string { return d.file }

// Options returns the decoder's options.
func (d *Decoder) Options() Options { return d.opts }

// Errorf records a problem at n's position (the file start when n is nil).
func (d *Decoder) Errorf(n *yaml.Node, format string, args ...any) {
	if d.Unknown(n) {
		return // its value comes from an unset ${VAR}: nothing to say about it
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	d.add(&Error{File: d.file, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)})
}

// Report records err at n's position, keeping already positioned errors
// (yamlfile errors, or a join of them) as they are.
func (d *Decoder) Report(n *yaml.Node, err error) {
	if err == nil {
		return
	}
	var pe *Error
	if errors.As(err, &pe) && pe == err {
		d.add(pe)
		return
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			d.Report(n, e)
		}
		return
	}
	d.Errorf(n, "%s", err.Error())
}

// maxErrors bounds the problems one decoder keeps: enough for anyone fixing
// a file, and a bound on the memory a file full of mistakes can take.
const maxErrors = 1000

func (d *Decoder) add(e *Error) {
	if len(d.errs) >= maxErrors {
		d.dropped++
		return
	}
	d.errs = append(d.errs, e)
}

// Failed reports whether any problem has been recorded.
func (d *Decoder) Failed() bool { return len(d.errs) > 0 }

// Err returns every recorded problem, sorted by position and de-duplicated,
// joined with errors.Join; nil when there are none.
func (d *Decoder) Err() error {
	if len(d.errs) == 0 {
		return nil
	}
	sort.SliceStable(d.errs, func(i, j int) bool {
		a, b := d.errs[i], d.errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	out := make([]error, 0, len(d.errs)+1)
	seen := make(map[string]bool, len(d.errs))
	for _, e := range d.errs {
		if s := e.Error(); !seen[s] {
			seen[s] = true
			out = append(out, e)
		}
	}
	if d.dropped > 0 {
		out = append(out, fmt.Errorf("%s: %d more problems not shown", d.file, d.dropped))
	}
	return errors.Join(out...)
}

var syntaxLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ReadFile reads a YAML file, refusing one larger than limits.MaxFileBytes
// before reading it. what names the file in errors ("scenario", "profile",
// "config"; "" for none): one that cannot be read says so with a
// did-you-mean (ReadError); one too large is a positioned *Error.
func ReadFile(what, path string) ([]byte, error) {
	data, err := limits.ReadFile(path, limits.MaxFileBytes)
	var tl *limits.TooLargeError
	if errors.As(err, &tl) {
		return nil, tooLarge(path, tl.Size)
	}
	if err != nil {
		return nil, ReadError(what, path, err)
	}
	return data, nil
}

func tooLarge(file string, size int64) *Error {
	return &Error{File: file, Line: 1, Column: 1, Msg: fmt.Sprintf("the file is %d bytes, more than the %s a YAML file may be", size, limits.Bytes(limits.MaxFileBytes))}
}

// Parse parses data as one YAML document and returns its root node (never a
// DocumentNode). An empty document is an error, and so is one over budget:
// larger than limits.MaxFileBytes, or standing for more than
// limits.MaxNodes values once its aliases are expanded.
func Parse(file string, data []byte) (*yaml.Node, error) {
	if len(data) > limits.MaxFileBytes {
		return nil, tooLarge(file, int64(len(data)))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := syntaxLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, syntaxError(file, data, line, m[2])
		}
		return nil, &Error{File: file, Line: 1, Column: 1, Msg: strings.TrimPrefix(msg, "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &Error{File: file, Line: 1, Column: 1, Msg: "empty document"}
	}
	root := doc.Content[0]
	if err := CheckExpansion(file, root); err != nil {
		return nil, err
	}
	return root, nil
}

// CheckExpansion fails when n stands for more than limits.MaxNodes values
// once its aliases are expanded, naming the alias whose expansion crosses
// the limit. Parse calls it; call it on any other tree before decoding it.
// It takes time and memory in proportion to the tree as written, not as
// expanded.
func CheckExpansion(file string, n *yaml.Node) error {
	c := &expansion{sizes: map[*yaml.Node]int{}}
	if c.size(n) <= limits.MaxNodes {
		return nil
	}
	if at := c.cycle; at != nil {
		return &Error{File: file, Line: at.Line, Column: at.Column, Msg: fmt.Sprintf(
			"alias *%s is part of the value it refers to, which would never end", at.Value)}
	}
	at := c.culprit(n)
	if at == nil { // cannot be: culprit counts as size does
		at = n
	}
	if at.Kind == yaml.AliasNode {
		return &Error{File: file, Line: at.Line, Column: at.Column, Msg: fmt.Sprintf(
			"alias *%s: with its aliases expanded the document has more than %d values (each use of an alias counts every value under its anchor); write the values out or use fewer levels of aliases", at.Value, limits.MaxNodes)}
	}
	return &Error{File: file, Line: at.Line, Column: at.Column, Msg: fmt.Sprintf(
		"the document has more than %d values, the limit", limits.MaxNodes)}
}

// expansion measures trees with their aliases expanded.
type expansion struct {
	// sizes memoises anchored nodes, the only ones an expansion visits
	// more than once: every other node is reached by one path.
	sizes map[*yaml.Node]int
	seen  int // culprit's running count
	// cycle is the first alias met inside the value of its own anchor
	// (yaml.v3 builds such trees when it makes nodes).
	cycle *yaml.Node
}

// inProgress marks, in sizes, an anchored node being measured.
const inProgress = -1

// size is how many values n stands for, at most limits.MaxNodes+1.
func (c *expansion) size(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		target := Resolve(n)
		if target == nil {
			if n.Alias == nil {
				return 1
			}
			c.cycle = n // aliases of aliases, round in a circle
			return limits.MaxNodes + 1
		}
		if target.Anchor != "" && c.sizes[target] == inProgress {
			if c.cycle == nil {
				c.cycle = n
			}
			return limits.MaxNodes + 1
		}
		return c.size(target)
	}
	if n.Anchor != "" {
		if s, ok := c.sizes[n]; ok && s != inProgress {
			return s
		}
		c.sizes[n] = inProgress
	}
	s := 1
	for _, ch := range n.Content {
		if s += c.size(ch); s > limits.MaxNodes {
			s = limits.MaxNodes + 1
			break
		}
	}
	if n.Anchor != "" {
		c.sizes[n] = s
	}
	return s
}

// culprit walks n in document order, counting values as a decoder would
// meet them, and returns the node at which the count crosses
// limits.MaxNodes: the alias whose expansion does it, or the plain value
// that does when there are simply too many.
func (c *expansion) culprit(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		if c.seen += c.size(n); c.seen > limits.MaxNodes {
			return n
		}
		return nil
	}
	if c.seen++; c.seen > limits.MaxNodes {
		return n
	}
	for _, ch := range n.Content {
		if at := c.culprit(ch); at != nil {
			return at
		}
	}
	return nil
}

// Decode decodes n into out (a non-nil pointer), collecting every problem.
func (d *Decoder) Decode(n *yaml.Node, out any) {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		d.Errorf(n, "internal: Decode needs a non-nil pointer, got %T", out)
		return
	}
	defer d.isolate(n)()
	d.decode(n, v.Elem())
}

// Resolve follows alias nodes; nil when they go round in a circle.
func Resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i == maxAliasDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

// Child returns the value node of key in mapping n (nil if n is not a
// mapping or has no such key).
func Child(n *yaml.Node, key string) *yaml.Node {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Item returns the i-th node of sequence n, or n itself when it is not a
// sequence that long (so an error still points somewhere near).
func Item(n *yaml.Node, i int) *yaml.Node {
	n = Resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
		return n
	}
	return n.Content[i]
}

// IsNull reports whether n is absent or an explicit null.
func IsNull(n *yaml.Node) bool {
	n = Resolve(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

var (
	unmarshalerType = reflect.TypeOf((*Unmarshaler)(nil)).Elem()
	durationType    = reflect.TypeOf(time.Duration(0))
	nodeType        = reflect.TypeOf(yaml.Node{})
)

// enter counts a visit to n and reports whether decoding may go on; past
// the budget it records one error, at the alias being expanded if any.
func (d *Decoder) enter(n *yaml.Node) bool {
	if d.overrun {
		return false
	}
	if d.visits++; d.visits <= maxVisits {
		return true
	}
	d.overrun = true
	if len(d.aliases) > 0 {
		a := d.aliases[0]
		d.Errorf(a, "alias *%s: decoding it passes %d values, the limit for one file; write the values out or use fewer levels of aliases", a.Value, maxVisits)
	} else {
		d.Errorf(n, "more than %d values to decode, the limit for one file", maxVisits)
	}
	return false
}

// follow resolves n's aliases, remembering the outermost one being
// expanded; done undoes it.
func (d *Decoder) follow(n *yaml.Node) (resolved *yaml.Node, done func()) {
	if n == nil || n.Kind != yaml.AliasNode {
		return n, func() {}
	}
	if len(d.aliases) >= maxAliasDepth {
		if !d.overrun {
			d.overrun = true
			d.Errorf(d.aliases[0], "alias *%s: aliases nested more than %d deep (is one part of the value it refers to?)", d.aliases[0].Value, maxAliasDepth)
		}
		return nil, func() {}
	}
	d.aliases = append(d.aliases, n)
	k := len(d.aliases) - 1
	return Resolve(n), func() { d.aliases = d.aliases[:k] }
}

// maxAliasDepth bounds aliases within aliases: real files nest a few, and
// a tree whose alias is part of its own anchor's value would recurse
// without end.
const maxAliasDepth = 100

func (d *Decoder) decode(n *yaml.Node, v reflect.Value) {
	n, done := d.follow(n)
	defer done()
	if n == nil || !d.enter(n) {
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(unmarshalerType) {
		if err := v.Addr().Interface().(Unmarshaler).UnmarshalYAMLNode(d, n); err != nil {
			d.Report(n, err)
		}
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if v.Kind() == reflect.Pointer {
		if IsNull(n) {
			return
		}
		if v.Type().Elem() == nodeType {
			nn := *n
			v.Set(reflect.ValueOf(&nn))
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem())
		return
	}
	if IsNull(n) && v.Kind() != reflect.Interface {
		return // null leaves the zero value (or the default already there)
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v)
	case reflect.Map:
		d.decodeMap(n, v)
	case reflect.Slice:
		d.decodeSlice(n, v)
	case reflect.Interface:
		if x := d.Any(n); x != nil {
			v.Set(reflect.ValueOf(x))
		} else {
			v.SetZero()
		}
	case reflect.String:
		if s, ok := d.Scalar(n, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		s, ok := d.Scalar(n, "a boolean")
		if !ok {
			return
		}
		b, err := parseBool(s)
		if err != nil {
			d.Errorf(n, "expected a boolean (true or false), got %q", s)
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := d.Scalar(n, "a number")
		if !ok {
			return
		}
		if v.Type() == durationType {
			dur, err := ParseDuration(s)
			if err != nil {
				d.Errorf(n, "%v", err)
				return
			}
			v.SetInt(int64(dur))
			return
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, "expected an integer, got %q", s)
			return
		}
		v.SetInt(i)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := d.Scalar(n, "a number")
		if !ok {
			return
		}
		u, err := strconv.ParseUint(strings.ReplaceAll(s, "_", ""), 0, v.Type().Bits())
		if err != nil {
			d.Errorf(n, "expected a non-negative integer, got %q", s)
			return
		}
		v.SetUint(u)
	case reflect.Float32, reflect.Float64:
		s, ok := d.Scalar(n, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.Errorf(n, "expected a number, got %q", s)
			return
		}
		v.SetFloat(f)
	default:
		d.Errorf(n, "internal: cannot decode into %s", v.Type())
	}
}

// Scalar returns the text of a scalar node with ${VAR}s expanded. what names
// the expected value in the error for a non-scalar ("a duration").
func (d *Decoder) Scalar(n *yaml.Node, what string) (string, bool) {
	n = Resolve(n)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.Errorf(n, "expected %s, got %s", what, KindName(n))
		return "", false
	}
	return d.Expand(n, n.Value)
}

// KindName describes a node's kind for messages: "a list", "a mapping", "null".
func KindName(n *yaml.Node) string {
	n = Resolve(n)
	switch {
	case n == nil:
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "null"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func (d *Decoder) decodeStruct(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "expected a mapping, got %s", KindName(n))
		return
	}
	fields := structFields(v.Type())
	defer d.enterStruct(v.Type(), fields)()
	seen := make(map[string]bool, len(n.Content)/2)
	d.eachPair(n, func(k, val *yaml.Node) {
		if k.Value == "<<" { // YAML merge key
			m, done := d.follow(val)
			defer done()
			if m != nil && d.enter(m) {
				d.decodeStruct(m, v)
			}
			return
		}
		if seen[k.Value] {
			d.Errorf(k, "duplicate key %q", k.Value)
			return
		}
		seen[k.Value] = true
		if d.orphaned(k) {
			return
		}
		f, ok := fields.byName[k.Value]
		if !ok {
			d.unknownKey(k, val, fields)
			return
		}
		field := v.FieldByIndex(f.index)
		back := d.descend(k, field.Type())
		d.decode(val, field)
		back()
	})
	for _, f := range fields.list {
		if f.required && !seen[f.name] {
			d.Errorf(n, "missing required key %q", f.name)
		}
	}
}

// eachPair calls fn for every key/value of a mapping, reporting non-scalar keys.
func (d *Decoder) eachPair(n *yaml.Node, fn func(k, v *yaml.Node)) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := Resolve(n.Content[i])
		if !d.enter(k) {
			return
		}
		if k.Kind != yaml.ScalarNode {
			d.Errorf(k, "expected a key, got %s", KindName(k))
			continue
		}
		fn(k, n.Content[i+1])
	}
}

// Pairs returns a mapping's keys and values in file order, reporting a
// non-mapping and duplicate keys. Use it where order or key positions matter.
func (d *Decoder) Pairs(n *yaml.Node) (keys, values []*yaml.Node) {
	n = Resolve(n)
	if n == nil || IsNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, "expected a mapping, got %s", KindName(n))
		return nil, nil
	}
	seen := make(map[string]bool, len(n.Content)/2)
	d.eachPair(n, func(k, v *yaml.Node) {
		if seen[k.Value] {
			d.Errorf(k, "duplicate key %q", k.Value)
			return
		}
		seen[k.Value] = true
		keys = append(keys, k)
		values = append(values, v)
	})
	return keys, values
}

func (d *Decoder) decodeMap(n *yaml.Node, v reflect.Value) {
	if v.Type().Key().Kind() != reflect.String {
		d.Errorf(n, "internal: map keys must be strings, not %s", v.Type().Key())
		return
	}
	keys, vals := d.Pairs(n)
	if keys == nil && n.Kind != yaml.MappingNode {
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(keys)))
	}
	for i, k := range keys {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(vals[i], elem)
		v.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), elem)
	}
}

func (d *Decoder) decodeSlice(n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, "expected a list, got %s", KindName(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		d.decode(c, s.Index(i))
	}
	v.Set(s)
}

// Any decodes n into plain Go values (map[string]any, []any, string, int,
// float64, bool, nil), expanding ${VAR}s in strings.
func (d *Decoder) Any(n *yaml.Node) any {
	n, done := d.follow(n)
	defer done()
	if n == nil || !d.enter(n) {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		keys, vals := d.Pairs(n)
		m := make(map[string]any, len(keys))
		for i, k := range keys {
			m[k.Value] = d.Any(vals[i])
		}
		return m
	case yaml.SequenceNode:
		s := make([]any, len(n.Content))
		for i, c := range n.Content {
			s[i] = d.Any(c)
		}
		return s
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool", "!!int", "!!float":
		var x any
		if err := n.Decode(&x); err == nil {
			return x
		}
	}
	s, _ := d.Expand(n, n.Value)
	return s
}

var envRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Expand replaces ${VAR} and ${VAR:-default} in s (from node n, for errors)
// using the decoder's Env; "$$" stands for a literal "$". Values taken from
// the environment are added to the secrets.
func (d *Decoder) Expand(n *yaml.Node, s string) (string, bool) {
	if d.opts.Env == nil || !strings.Contains(s, "$") {
		return s, true
	}
	ok := true
	out := envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := envRef.FindStringSubmatch(m)
		name, hasDefault, def := sub[1], sub[2] != "", sub[3]
		if val, set := d.opts.Env(name); set && val != "" {
			d.opts.Secrets.Add(val)
			return val
		}
		if hasDefault {
			return def
		}
		if !d.unsetVar(n, name) {
			ok = false
			return ""
		}
		// Kept as written: a value that is there but unknown (a rate, a
		// URL), not an empty one that would look missing.
		return m
	})
	return out, ok
}

// ParseDuration parses Go durations ("1m30s", "250ms") plus the day and week
// units used for SLO periods ("30d", "1w"). A bare "0" is zero.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "0" {
		return 0, nil
	}
	// Messages quote at most the start of what they were given.
	q := s
	if len(q) > 40 {
		q = q[:37] + "..."
	}
	bad := errors.New("invalid duration " + strconv.Quote(q) + " (use a number and a unit: ms, s, m, h, d)")
	if t == "" {
		return 0, bad
	}
	// Rewrite d and w components into hours for time.ParseDuration. A
	// number is kept as its start in t, not built up digit by digit: that
	// cost the square of its length (a 5,000-digit --rate allocated 8 MB).
	var b strings.Builder
	start := -1 // where the number being read starts, or -1
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case (c >= '0' && c <= '9') || c == '.':
			if start < 0 {
				start = i
			}
		case c == 'd' || c == 'w':
			if start < 0 {
				return 0, bad
			}
			f, err := strconv.ParseFloat(t[start:i], 64)
			if err != nil {
				return 0, bad
			}
			hours := f * 24
			if c == 'w' {
				hours *= 7
			}
			b.WriteString(strconv.FormatFloat(hours, 'f', -1, 64) + "h")
			start = -1
		default:
			if start >= 0 {
				b.WriteString(t[start:i])
				start = -1
			}
			b.WriteByte(c)
		}
	}
	if start >= 0 {
		num := t[start:]
		if len(num) > 20 {
			return 0, fmt.Errorf("invalid duration %q: missing unit", q)
		}
		return 0, fmt.Errorf("invalid duration %q: missing unit (e.g. %ss)", q, num)
	}
	dur, err := time.ParseDuration(b.String())
	if err != nil {
		return 0, bad
	}
	if dur < 0 {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", q)
	}
	return dur, nil
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "true", "yes", "on":
		return true, nil
	case "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

type fieldInfo struct {
	name     string
	index    []int
	required bool
}

type fieldSet struct {
	list   []fieldInfo
	byName map[string]fieldInfo
	names  []string
}

func structFields(t reflect.Type) fieldSet {
	fs := fieldSet{byName: map[string]fieldInfo{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fi := fieldInfo{name: name, index: f.Index, required: f.Tag.Get("required") == "true"}
		fs.list = append(fs.list, fi)
		fs.byName[name] = fi
		fs.names = append(fs.names, name)
	}
	return fs
}

// suggest returns ` (did you mean "x"?)` for the closest known key, if close.
func suggest(got string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dd := distance(strings.ToLower(got), k); dd < bestDist {
			best, bestDist = k, dd
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// Suggest is suggest for callers that check keys themselves.
func Suggest(got string, known []string) string { return suggest(got, known) }

// distance is the Levenshtein distance of a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
