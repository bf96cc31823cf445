package yamlfile

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"gopkg.in/yaml.v3"
)

// Unset collects the ${VAR}s that a lenient read found unset (see
// Options.Unset): commands that only read a file — validate, rules,
// dashboards, gate --prometheus — need none of its secrets, so a variable
// that is not set is a warning for them, not an error. Safe for concurrent
// use; one Unset may serve the decoders of several files.
type Unset struct {
	mu   sync.Mutex
	seen map[string]bool
	list []*Error
}

// unsetMessage is what an unset ${VAR} is called, as a warning here and as
// an error where it must be set.
func unsetMessage(name string) string {
	return fmt.Sprintf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
}

func (u *Unset) add(e *Error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	if s := e.Error(); !u.seen[s] {
		u.seen[s] = true
		u.list = append(u.list, e)
	}
}

// Warnings lists every unset ${VAR} found, each once, by file and position.
func (u *Unset) Warnings() []*Error {
	if u == nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	out := append([]*Error(nil), u.list...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return out
}

// Unknown reports whether n's value holds a ${VAR} that a lenient read
// found unset: its value is not known, so nothing about it can be checked.
func (d *Decoder) Unknown(n *yaml.Node) bool {
	n = Resolve(n)
	return n != nil && d.unknown[n]
}

// unsetVar records a ${VAR} of n that is not set: an error, or with
// Options.Unset a warning, and n's value unknown from then on.
func (d *Decoder) unsetVar(n *yaml.Node, name string) (ok bool) {
	if d.opts.Unset == nil {
		d.Errorf(n, "%s", unsetMessage(name))
		return false
	}
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, n.Column
	}
	d.opts.Unset.add(&Error{File: d.file, Line: line, Column: col, Msg: unsetMessage(name)})
	if n = Resolve(n); n != nil {
		if d.unknown == nil {
			d.unknown = map[*yaml.Node]bool{}
		}
		d.unknown[n] = true
	}
	return true
}

// Warning is e as a warning: "file:line:col: warning: message".
func Warning(e *Error) string {
	return fmt.Sprintf("%s:%d:%d: warning: %s", e.File, e.Line, e.Column, e.Msg)
}

// Join adds the warnings to err, which a value they made unknown may have
// caused: the reader sees both. nil when err is nil.
func (u *Unset) Join(err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	for _, w := range u.Warnings() {
		errs = append(errs, errors.New(Warning(w)))
	}
	return errors.Join(errs...)
}
