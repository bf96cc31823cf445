package scenario

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/canaryproj/canary/internal/yamlfile"
)

// Per-iteration values reach templates as hidden fields of the data map:
// the `iteration` and `vu` functions are rewritten into these at compile
// time, so that nothing is cloned or re-parsed per iteration.
const (
	keyIteration = "__iteration"
	keyVU        = "__vu"
)

// tmpl is a compiled string: static text, or a Go template over the
// iteration's vars.
type tmpl struct {
	static string
	t      *template.Template // nil when static
}

func staticTmpl(s string) *tmpl { return &tmpl{static: s} }

func (t *tmpl) isStatic() bool { return t == nil || t.t == nil }

// render executes the template with the iteration's data.
func (t *tmpl) render(buf *bytes.Buffer, data map[string]string) (string, error) {
	if t.isStatic() {
		return t.static, nil
	}
	buf.Reset()
	if err := t.t.Execute(buf, data); err != nil {
		return "", cleanTemplateErr(err)
	}
	return buf.String(), nil
}

// renderStatic renders with a fixed set of vars, for what is knowable at
// load time; false when the template needs anything else.
func (t *tmpl) renderStatic(vars map[string]string) (string, bool) {
	if t == nil {
		return "", false
	}
	if t.isStatic() {
		return t.static, true
	}
	for _, ref := range refs(t.t.Tree) {
		if _, ok := vars[ref]; !ok {
			return "", false
		}
	}
	var buf bytes.Buffer
	if err := t.t.Execute(&buf, vars); err != nil {
		return "", false
	}
	return buf.String(), true
}

// cleanTemplateErr drops text/template's internal naming from errors.
func cleanTemplateErr(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, "executing \""); i >= 0 {
		if j := strings.Index(msg[i:], "\" at "); j >= 0 {
			msg = msg[i+j+len("\" at "):]
		}
	}
	msg = strings.Replace(msg, "map has no entry for key", "no value for", 1)
	return fmt.Errorf("template: %s", msg)
}

// funcs are the template functions (docs/scenario.md, "Templates"). iteration and vu are
// placeholders here: compile rewrites them into data fields.
func (c *compiler) funcs() template.FuncMap {
	secrets := c.s.Secrets
	env := c.env
	return template.FuncMap{
		"env": func(name string) string {
			v, _ := env(name)
			secrets.Add(v)
			return v
		},
		"uuid":       uuidV4,
		"randInt":    randInt,
		"randString": randString,
		"now":        func() string { return time.Now().UTC().Format(time.RFC3339) },
		"unix":       func() int64 { return time.Now().Unix() },
		"base64":     func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"iteration":  func() string { return "" },
		"vu":         func() string { return "" },
	}
}

// compile compiles a string found at node n; `where` names it in errors.
// Undefined variables and template syntax errors are reported at n.
func (c *compiler) compile(n *yaml.Node, text, where string) *tmpl {
	if !strings.Contains(text, "{{") {
		return staticTmpl(text)
	}
	// Each template costs a few KB to compile and keep: bound how many a
	// file can make a loaded scenario hold.
	if c.templates++; c.templates > MaxTemplates {
		if c.templates == MaxTemplates+1 {
			c.d.Errorf(n, "%s: more than %d templates in one scenario, the limit", where, MaxTemplates)
		}
		return nil
	}
	t, err := template.New(where).Option("missingkey=error").Funcs(c.funcs()).Parse(text)
	if err != nil {
		c.d.Errorf(n, "%s: bad template: %s", where, templateSyntaxMsg(err))
		return nil
	}
	rewriteIterFuncs(t.Tree.Root)
	ok := true
	for _, ref := range refs(t.Tree) {
		if ref == keyIteration || ref == keyVU {
			continue
		}
		if _, defined := c.defined[ref]; defined {
			continue
		}
		ok = false
		if by, later := c.capturedBy[ref]; later {
			c.d.Errorf(n, "%s: {{ .%s }} is captured only by a later step (%s); a step can use what earlier steps captured", where, ref, by)
			continue
		}
		c.d.Errorf(n, "%s: {{ .%s }} is not defined by any var, --var, data column or capture%s", where, ref, yamlfile.Suggest(ref, c.definedNames()))
	}
	if !ok {
		return nil
	}
	// A template that reads only vars fixed at load time and calls no
	// function is rendered now: at run time it costs nothing.
	if !hasFuncs(t.Tree.Root) {
		if s, ok := (&tmpl{t: t}).renderStatic(c.static); ok {
			return staticTmpl(s)
		}
	}
	return &tmpl{t: t}
}

// hasFuncs reports whether a template calls any function (uuid, now, …),
// or reads iteration or vu.
func hasFuncs(n parse.Node) bool {
	found := false
	inspect(n, func(n parse.Node) bool {
		switch x := n.(type) {
		case *parse.IdentifierNode:
			found = true
		case *parse.FieldNode:
			if len(x.Ident) > 0 && (x.Ident[0] == keyIteration || x.Ident[0] == keyVU) {
				found = true
			}
		case *parse.IfNode, *parse.RangeNode, *parse.WithNode, *parse.TemplateNode:
			found = true // control flow: keep it simple, render at run time
		}
		return !found
	})
	return found
}

// inspect calls visit for n and, as long as visit returns true, for every
// node below it, depth first.
func inspect(n parse.Node, visit func(parse.Node) bool) {
	switch x := n.(type) {
	case nil:
		return
	case *parse.ListNode:
		if x == nil {
			return
		}
	case *parse.PipeNode:
		if x == nil {
			return
		}
	}
	if !visit(n) {
		return
	}
	switch x := n.(type) {
	case *parse.ListNode:
		for _, c := range x.Nodes {
			inspect(c, visit)
		}
	case *parse.ActionNode:
		inspect(x.Pipe, visit)
	case *parse.PipeNode:
		for _, cmd := range x.Cmds {
			for _, a := range cmd.Args {
				inspect(a, visit)
			}
		}
	case *parse.ChainNode:
		inspect(x.Node, visit)
	case *parse.IfNode:
		inspect(x.Pipe, visit)
		inspect(x.List, visit)
		inspect(x.ElseList, visit)
	case *parse.RangeNode:
		inspect(x.Pipe, visit)
		inspect(x.List, visit)
		inspect(x.ElseList, visit)
	case *parse.WithNode:
		inspect(x.Pipe, visit)
		inspect(x.List, visit)
		inspect(x.ElseList, visit)
	}
}

func (c *compiler) definedNames() []string {
	out := make([]string, 0, len(c.defined))
	for k := range c.defined {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// templateSyntaxMsg keeps the useful part of a parse error.
func templateSyntaxMsg(err error) string {
	msg := err.Error()
	// "template: name:1: function "x" not defined" → "function "x" not defined"
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.HasPrefix(msg, "template: ") {
		rest := msg[len("template: "):]
		if j := strings.Index(rest, ":1: "); j >= 0 {
			return rest[j+len(":1: "):]
		}
		if j := strings.Index(rest, ": "); j >= 0 {
			if k := strings.Index(rest[j+2:], ": "); k >= 0 && isDigits(rest[j+2:j+2+k]) {
				return rest[j+2+k+2:]
			}
		}
	}
	return msg
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// rewriteIterFuncs turns the identifiers `iteration` and `vu` into the
// fields .__iteration and .__vu.
func rewriteIterFuncs(n parse.Node) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			rewriteIterFuncs(c)
		}
	case *parse.ActionNode:
		rewriteIterFuncs(x.Pipe)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, cmd := range x.Cmds {
			for i, a := range cmd.Args {
				if id, ok := a.(*parse.IdentifierNode); ok && (id.Ident == "iteration" || id.Ident == "vu") {
					key := keyIteration
					if id.Ident == "vu" {
						key = keyVU
					}
					cmd.Args[i] = &parse.FieldNode{NodeType: parse.NodeField, Pos: id.Pos, Ident: []string{key}}
					continue
				}
				rewriteIterFuncs(a)
			}
		}
	case *parse.IfNode:
		rewriteIterFuncs(x.Pipe)
		rewriteIterFuncs(x.List)
		rewriteIterFuncs(x.ElseList)
	case *parse.RangeNode:
		rewriteIterFuncs(x.Pipe)
		rewriteIterFuncs(x.List)
		rewriteIterFuncs(x.ElseList)
	case *parse.WithNode:
		rewriteIterFuncs(x.Pipe)
		rewriteIterFuncs(x.List)
		rewriteIterFuncs(x.ElseList)
	}
}

// refs lists the top-level names a template reads ({{ .name }}).
func refs(tree *parse.Tree) []string {
	if tree == nil {
		return nil
	}
	set := map[string]bool{}
	inspect(tree.Root, func(n parse.Node) bool {
		if f, ok := n.(*parse.FieldNode); ok && len(f.Ident) > 0 {
			set[f.Ident[0]] = true
		}
		return true
	})
	return slices.Sorted(maps.Keys(set))
}

// ---------------------------------------------------------------- bodies

// bodyTmpl is a request body: raw text, a JSON document, or a form.
type bodyTmpl struct {
	raw  *tmpl
	json *jsonTmpl
	form []queryTmpl
}

func (b bodyTmpl) isStatic() bool {
	if b.raw != nil {
		return b.raw.isStatic()
	}
	if b.json != nil {
		return len(b.json.tmpls) == 0
	}
	for _, f := range b.form {
		if !f.t.isStatic() {
			return false
		}
	}
	return true
}

// jsonTmpl is a JSON document with templated strings: the document is
// marshalled once with markers where templates go, and rendering splices
// the JSON-escaped results between the static pieces.
type jsonTmpl struct {
	pieces []string // len(tmpls)+1
	tmpls  []*tmpl
}

const jsonMarker = "\x00canary-template-%d\x00"

func (c *compiler) compileJSONBody(n *yaml.Node, where string) bodyTmpl {
	v := c.d.Any(n)
	var tmpls []*tmpl
	// A string that appears many times (an alias used over and over) is
	// compiled once: within one body, the names it may use do not change.
	compiled := map[string]*tmpl{}
	var replace func(x any) any
	replace = func(x any) any {
		switch y := x.(type) {
		case map[string]any:
			for k, e := range y {
				y[k] = replace(e)
			}
		case []any:
			for i, e := range y {
				y[i] = replace(e)
			}
		case string:
			if strings.Contains(y, "{{") {
				t, ok := compiled[y]
				if !ok {
					t = c.compile(n, y, where+" json")
					compiled[y] = t
				}
				if t == nil {
					return ""
				}
				tmpls = append(tmpls, t)
				return fmt.Sprintf(jsonMarker, len(tmpls)-1)
			}
		}
		return x
	}
	v = replace(v)
	raw, err := json.Marshal(v)
	if err != nil {
		c.d.Errorf(n, "%s json: %v", where, err)
		return bodyTmpl{}
	}
	// json.Marshal writes the markers as "\u0000canary-template-N\u0000" and
	// in its own order (sorted keys): scan the document for them.
	const open, closing = `"\u0000canary-template-`, `\u0000"`
	jt := &jsonTmpl{}
	doc := string(raw)
	for {
		i := strings.Index(doc, open)
		if i < 0 {
			break
		}
		j := strings.Index(doc[i+len(open):], closing)
		k, err := strconv.Atoi(doc[i+len(open) : i+len(open)+j])
		if j < 0 || err != nil || k < 0 || k >= len(tmpls) {
			c.d.Errorf(n, "%s json: a string looks like canary's internal marker", where)
			return bodyTmpl{}
		}
		jt.pieces = append(jt.pieces, doc[:i])
		jt.tmpls = append(jt.tmpls, tmpls[k])
		doc = doc[i+len(open)+j+len(closing):]
	}
	jt.pieces = append(jt.pieces, doc)
	return bodyTmpl{json: jt}
}

// render appends the body to dst.
func (b bodyTmpl) render(dst []byte, buf *bytes.Buffer, data map[string]string) ([]byte, error) {
	switch {
	case b.raw != nil:
		s, err := b.raw.render(buf, data)
		if err != nil {
			return dst, err
		}
		return append(dst, s...), nil
	case b.json != nil:
		for i, p := range b.json.pieces {
			dst = append(dst, p...)
			if i < len(b.json.tmpls) {
				s, err := b.json.tmpls[i].render(buf, data)
				if err != nil {
					return dst, err
				}
				q, _ := json.Marshal(s)
				dst = append(dst, q...)
			}
		}
		return dst, nil
	case b.form != nil:
		for i, f := range b.form {
			v, err := f.t.render(buf, data)
			if err != nil {
				return dst, err
			}
			if i > 0 {
				dst = append(dst, '&')
			}
			dst = append(dst, queryEscape(f.name)...)
			dst = append(dst, '=')
			dst = append(dst, queryEscape(v)...)
		}
		return dst, nil
	}
	return dst, nil
}

// ---------------------------------------------------------------- functions

func uuidV4() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// randInt returns a uniform integer in [a, b].
func randInt(a, b int) (int, error) {
	if b < a {
		return 0, fmt.Errorf("randInt %d %d: the maximum is below the minimum", a, b)
	}
	return a + int(mrand.Int64N(int64(b-a)+1)), nil
}

const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randString returns n random letters and digits (n ≤ 4096).
func randString(n int) (string, error) {
	if n < 0 || n > 4096 {
		return "", fmt.Errorf("randString %d: want 0..4096", n)
	}
	out := make([]byte, n)
	max := big.NewInt(int64(len(letters)))
	for i := range out {
		x, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", err
		}
		out[i] = letters[x.Int64()]
	}
	return string(out), nil
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
