package yamlfile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file turns the mistakes people make first in YAML into messages
// that say what to do: a tab in the indentation, and a key indented one
// level too deep or too shallow.

// syntaxError is a yaml.v3 syntax error at line, restated when it is about
// a tab: yaml.v3 says "found character that cannot start any token" or
// "found a tab character that violates indentation", at a line that may be
// the one before the tab.
func syntaxError(file string, data []byte, line int, msg string) *Error {
	tabLine, tabCol := 0, 0
	switch {
	case strings.Contains(msg, "tab character"):
		tabLine, tabCol = tabIndentNear(data, line)
	case strings.Contains(msg, "cannot start any token"):
		if col := tabIndent(lineOf(data, line)); col > 0 {
			tabLine, tabCol = line, col
		}
	}
	if tabLine == 0 {
		return &Error{File: file, Line: line, Column: 1, Msg: msg}
	}
	return &Error{File: file, Line: tabLine, Column: tabCol,
		Msg: fmt.Sprintf("YAML does not allow tabs for indentation, line %d: indent with spaces", tabLine)}
}

// tabIndentNear finds the first line from line on whose indentation has a
// tab, else the last one before it; 0 when there is none.
func tabIndentNear(data []byte, line int) (tabLine, col int) {
	lines := bytes.Split(data, []byte("\n"))
	for i := max(line, 1); i <= len(lines); i++ {
		if c := tabIndent(lines[i-1]); c > 0 {
			return i, c
		}
	}
	for i := min(line-1, len(lines)); i >= 1; i-- {
		if c := tabIndent(lines[i-1]); c > 0 {
			return i, c
		}
	}
	return 0, 0
}

// tabIndent is the column of the first tab in a line's indentation, 0
// when the indentation has none.
func tabIndent(line []byte) int {
	for i, c := range line {
		switch c {
		case '\t':
			return i + 1
		case ' ':
			continue
		}
		return 0
	}
	return 0
}

// lineOf is the n-th line of data (from 1), nil past the end.
func lineOf(data []byte, n int) []byte {
	lines := bytes.Split(data, []byte("\n"))
	if n < 1 || n > len(lines) {
		return nil
	}
	return lines[n-1]
}

// hints is what a Decoder knows of where it is, for messages about keys at
// the wrong depth: the structs being decoded, outermost first.
type hints struct {
	levels []level
	// next describes the struct the value being decoded holds, from the
	// key that leads to it.
	next level
}

// level is a struct being decoded.
type level struct {
	typ    reflect.Type
	fields fieldSet
	// key leads to it ("request"); noun names its keys in messages
	// ("step" for an item of steps); both empty at the top.
	key, noun string
	// orphans, once set, holds the keys that follow a key one level too
	// deep whose value is empty: "expect:" under request, with its status
	// and headers beside it instead of under it.
	orphans *orphans
}

type orphans struct {
	key    *yaml.Node
	fields fieldSet
}

// isolate starts a fresh set of hints for a Decode of n; the returned
// function restores the caller's. A struct whose mapping starts in column
// 1 is a whole file's: its keys are top-level keys.
func (d *Decoder) isolate(n *yaml.Node) (restore func()) {
	saved := d.hint
	d.hint = hints{}
	if r := Resolve(n); r != nil && r.Column == 1 {
		d.hint.next.noun = "top-level"
	}
	return func() { d.hint = saved }
}

// enterStruct records that the mapping of a struct of type t is being
// decoded; the returned function leaves it. A YAML merge key decodes
// another mapping into the same struct, at the same level.
func (d *Decoder) enterStruct(t reflect.Type, fields fieldSet) (leave func()) {
	h := &d.hint
	if n := len(h.levels); n > 0 && h.levels[n-1].typ == t {
		return func() {}
	}
	h.levels = append(h.levels, level{typ: t, fields: fields, key: h.next.key, noun: h.next.noun})
	n := len(h.levels)
	return func() { h.levels = h.levels[:n-1] }
}

// descend records that the value of key k, of type t, is decoded next; the
// returned function undoes it.
func (d *Decoder) descend(k *yaml.Node, t reflect.Type) (back func()) {
	saved := d.hint.next
	d.hint.next = level{key: k.Value, noun: nounFor(k.Value, t)}
	return func() { d.hint.next = saved }
}

// nounFor names the keys of the struct under key: the key itself, or its
// singular for a list or map of structs ("steps" → "step").
func nounFor(key string, t reflect.Type) string {
	if _, many, ok := structUnder(t); ok && many && len(key) > 1 {
		return strings.TrimSuffix(key, "s")
	}
	return key
}

// structUnder finds the struct a field's value decodes into through
// pointers and one list or map; many says it is an item of a list or map.
// Types that decode themselves have no keys to offer.
func structUnder(t reflect.Type) (st reflect.Type, many, ok bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
		t, many = t.Elem(), true
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct || t == nodeType || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil, false, false
	}
	return t, many, true
}

// orphaned reports, for key k of the innermost struct, that it follows an
// empty key one level too deep and is one of that key's own keys; it then
// records the problem, and k is not to be decoded here. The first key that
// is not one ends the run.
func (d *Decoder) orphaned(k *yaml.Node) bool {
	top := d.top()
	if top == nil || top.orphans == nil {
		return false
	}
	o := top.orphans
	if _, ok := o.fields.byName[k.Value]; !ok {
		top.orphans = nil
		return false
	}
	d.Errorf(k, "`%s` belongs to the empty `%s:` on line %d: indent it under `%s:`", k.Value, o.key.Value, o.key.Line, o.key.Value)
	return true
}

// unknownKey records key k (with value v), which the innermost struct does
// not have. A key of the struct around it is indented one level too deep;
// a key of a struct inside it, one level too shallow; otherwise the message
// suggests the closest key.
func (d *Decoder) unknownKey(k, v *yaml.Node, fields fieldSet) {
	top := d.top()
	if top == nil {
		d.Errorf(k, "unknown key %q%s", k.Value, suggest(k.Value, fields.names))
		return
	}
	if parent := d.parent(); parent != nil && top.key != "" {
		if f, ok := parent.fields.byName[k.Value]; ok {
			what := "`" + k.Value + "` belongs one level up"
			if parent.noun != "" {
				what = fmt.Sprintf("`%s` is %s key", k.Value, withArticle(parent.noun))
			}
			d.Errorf(k, "%s; it is indented under `%s`: move it left, in line with `%s:`", what, top.key, top.key)
			if st, _, ok := structUnder(parent.typ.FieldByIndex(f.index).Type); ok && IsNull(v) {
				top.orphans = &orphans{key: k, fields: structFields(st)}
			}
			return
		}
	}
	var under []string
	noun := ""
	for _, f := range fields.list {
		st, many, ok := structUnder(top.typ.FieldByIndex(f.index).Type)
		if !ok {
			continue
		}
		if _, has := structFields(st).byName[k.Value]; has {
			under = append(under, "`"+f.name+":`")
			noun = nounFor(f.name, top.typ.FieldByIndex(f.index).Type)
			if many {
				under[len(under)-1] = "an item of `" + f.name + ":`"
			}
		}
	}
	switch len(under) {
	case 0:
		d.Errorf(k, "unknown key %q%s", k.Value, suggest(k.Value, fields.names))
	case 1:
		d.Errorf(k, "`%s` is %s key: indent it under %s", k.Value, withArticle(noun), under[0])
	default:
		here := "does not go here"
		if top.noun != "" {
			here = "is not " + withArticle(top.noun) + " key"
		}
		d.Errorf(k, "`%s` %s: it belongs under %s", k.Value, here, strings.Join(under, " or "))
	}
}

// withArticle is "a step", "an expect".
func withArticle(noun string) string {
	if noun != "" && strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}

func (d *Decoder) top() *level {
	if n := len(d.hint.levels); n > 0 {
		return &d.hint.levels[n-1]
	}
	return nil
}

func (d *Decoder) parent() *level {
	if n := len(d.hint.levels); n > 1 {
		return &d.hint.levels[n-2]
	}
	return nil
}

// ReadError describes a file that could not be read — "scenario
// examples/smok.yaml: no such file or directory" — and, when it does not
// exist, names the closest file that does in the same folder (` (did you
// mean "examples/smoke.yaml"?)`). what says what kind of file it is, if
// known. The error wraps err.
func ReadError(what, path string, err error) error {
	var pe *fs.PathError
	cause := err
	if errors.As(err, &pe) {
		cause = pe.Err
	}
	hint := ""
	if errors.Is(err, fs.ErrNotExist) {
		if p, ok := closestPath(path, 3); ok && p != path {
			hint = fmt.Sprintf(" (did you mean %q?)", p)
		}
	}
	if what != "" {
		what += " "
	}
	return &readError{msg: fmt.Sprintf("%s%s: %v%s", what, path, cause, hint), err: err}
}

type readError struct {
	msg string
	err error
}

func (e *readError) Error() string { return e.msg }
func (e *readError) Unwrap() error { return e.err }

// maxDirEntries bounds the names a did-you-mean reads from one folder.
const maxDirEntries = 1000

// closestPath is path if it exists, else the path whose last element is
// the closest name (within an edit distance of 2) in the closest existing
// folder, looking at most depth folders up.
func closestPath(path string, depth int) (string, bool) {
	if _, err := os.Stat(path); err == nil {
		return path, true
	}
	if depth == 0 {
		return "", false
	}
	dir, base := filepath.Split(path)
	dir = filepath.Clean(dir)
	if base == "" || dir == path {
		return "", false
	}
	if d, ok := closestPath(dir, depth-1); ok {
		dir = d
	} else {
		return "", false
	}
	f, err := os.Open(dir)
	if err != nil {
		return "", false
	}
	entries, _ := f.ReadDir(maxDirEntries)
	f.Close()
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	// Short names are close only one edit apart: "nah.yaml" is not a
	// typo of "tab.yaml".
	best, bestDist := "", 3
	if len(strings.TrimSuffix(base, filepath.Ext(base))) <= 4 {
		bestDist = 2
	}
	for _, e := range entries {
		if dd := typoDistance(strings.ToLower(base), strings.ToLower(e.Name())); dd < bestDist {
			best, bestDist = e.Name(), dd
		}
	}
	if best == "" {
		return "", false
	}
	return filepath.Join(dir, best), true
}

// typoDistance is the edit distance of a and b counting a swap of two
// neighbours as one edit, as people make them ("rmap" for "ramp").
func typoDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
