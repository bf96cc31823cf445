package alert

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/canaryproj/canary/store"
)

// Silence mutes the notifications of the alerts that all its matchers
// match, from StartsAt to EndsAt. The alerts' state is still tracked (and
// shown as silenced): an alert that fired while silenced pages when the
// silence ends if it still fires then, and one that resolves while silenced
// sends nothing.
type Silence struct {
	ID string `json:"id"`
	// Matchers name check, slo, severity or one of the check's labels; a
	// value is matched exactly, or, after "~", as a regular expression
	// that must match the whole value ("~check.*").
	Matchers  map[string]string `json:"matchers"`
	StartsAt  time.Time         `json:"starts_at"`
	EndsAt    time.Time         `json:"ends_at"`
	CreatedBy string            `json:"created_by,omitempty"`
	Comment   string            `json:"comment,omitempty"`

	res map[string]*regexp.Regexp // the compiled "~" matchers
}

// Bounds of one silence.
const (
	maxMatchers      = 20
	maxMatcherValue  = 1024
	maxComment       = 1024
	maxCreatedBy     = 256
	maxSilenceLength = 365 * 24 * time.Hour
)

// ErrNoSilence is returned by DeleteSilence for an unknown ID.
var ErrNoSilence = errors.New("no such silence")

var matcherName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// compile validates s's matchers and compiles the regular expressions.
func (s *Silence) compile() error {
	if len(s.Matchers) == 0 {
		return errors.New(`silence: give at least one matcher, e.g. {"check": "checkout"}`)
	}
	if len(s.Matchers) > maxMatchers {
		return fmt.Errorf("silence: %d matchers; at most %d", len(s.Matchers), maxMatchers)
	}
	s.res = nil
	for _, k := range slices.Sorted(maps.Keys(s.Matchers)) {
		v := s.Matchers[k]
		if !matcherName.MatchString(k) {
			return fmt.Errorf("silence matcher %q: want check, slo, severity or a label name", clip(k, 64))
		}
		if len(v) > maxMatcherValue {
			return fmt.Errorf("silence matcher %s: value of %d bytes; at most %d", k, len(v), maxMatcherValue)
		}
		rx, ok := strings.CutPrefix(v, "~")
		if !ok {
			continue
		}
		re, err := regexp.Compile("^(?:" + rx + ")$")
		if err != nil {
			return fmt.Errorf("silence matcher %s: bad regular expression %q: %v", k, clip(rx, 64), err)
		}
		if s.res == nil {
			s.res = map[string]*regexp.Regexp{}
		}
		s.res[k] = re
	}
	return nil
}

func (s *Silence) active(now time.Time) bool {
	return !now.Before(s.StartsAt) && now.Before(s.EndsAt)
}

// matches reports whether every matcher matches labels; a matcher on a
// label the alert does not have does not match.
func (s *Silence) matches(labels map[string]string) bool {
	for k, want := range s.Matchers {
		got, ok := labels[k]
		switch {
		case !ok:
			return false
		case s.res[k] != nil:
			if !s.res[k].MatchString(got) {
				return false
			}
		case got != want:
			return false
		}
	}
	return true
}

// silenced reports whether an active silence matches the alert of o with
// the given severity. The caller holds mu.
func (m *Manager) silenced(o *Observation, severity string, now time.Time) bool {
	if len(m.silences) == 0 {
		return false
	}
	labels := make(map[string]string, len(o.Labels)+3)
	maps.Copy(labels, o.Labels)
	labels["check"], labels["slo"] = o.Check, o.SLO
	if severity != "" {
		labels["severity"] = severity
	}
	for _, s := range m.silences {
		if s.active(now) && s.matches(labels) {
			return true
		}
	}
	return false
}

// expiredSilences lists the silences that have ended. The caller holds mu.
func (m *Manager) expiredSilences(now time.Time) []string {
	var ids []string
	for id, s := range m.silences {
		if !now.Before(s.EndsAt) {
			ids = append(ids, id)
		}
	}
	return ids
}

// AddSilence validates s, gives it an ID and stores it. A zero StartsAt is
// now. It applies from the next evaluation.
func (m *Manager) AddSilence(s Silence) (Silence, error) {
	s.Matchers = maps.Clone(s.Matchers)
	if err := s.compile(); err != nil {
		return Silence{}, err
	}
	now := m.clk.Now()
	if s.StartsAt.IsZero() {
		s.StartsAt = now
	}
	switch {
	case !s.EndsAt.After(now):
		return Silence{}, errors.New("silence: ends_at must be in the future")
	case !s.EndsAt.After(s.StartsAt):
		return Silence{}, errors.New("silence: ends_at must be after starts_at")
	case s.EndsAt.Sub(now) > maxSilenceLength:
		return Silence{}, errors.New("silence: it may last a year at most")
	case len(s.Comment) > maxComment:
		return Silence{}, fmt.Errorf("silence: comment of %d bytes; at most %d", len(s.Comment), maxComment)
	case len(s.CreatedBy) > maxCreatedBy:
		return Silence{}, fmt.Errorf("silence: created_by of %d bytes; at most %d", len(s.CreatedBy), maxCreatedBy)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for _, old := range m.silences {
		if now.Before(old.EndsAt) {
			live++
		}
	}
	if live >= m.o.MaxSilences {
		return Silence{}, fmt.Errorf("silence: %d silences already, the most kept; delete some first", live)
	}
	s.ID = newID()
	if err := m.o.Store.Put(store.Silences, s.ID, s); err != nil {
		return Silence{}, fmt.Errorf("silence: %w", err)
	}
	m.silences[s.ID] = s
	m.log.Info("silence added", "silence", s.ID, "matchers", fmt.Sprint(s.Matchers), "ends_at", s.EndsAt,
		"created_by", s.CreatedBy)
	return s, nil
}

// Silences lists the silences that have not ended (active or pending), the
// soonest to end first.
func (m *Manager) Silences() []Silence {
	now := m.clk.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Silence, 0, len(m.silences))
	for _, s := range m.silences {
		if now.Before(s.EndsAt) {
			s.Matchers = maps.Clone(s.Matchers)
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b Silence) int {
		if c := a.EndsAt.Compare(b.EndsAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// DeleteSilence removes a silence; an unknown ID is ErrNoSilence. It
// applies from the next evaluation.
func (m *Manager) DeleteSilence(id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.silences[id]; !ok {
		return fmt.Errorf("silence %q: %w", clip(id, 64), ErrNoSilence)
	}
	if err := m.o.Store.Delete(store.Silences, id); err != nil {
		return fmt.Errorf("silence %q: %w", id, err)
	}
	delete(m.silences, id)
	m.log.Info("silence deleted", "silence", id)
	return nil
}
