package alert

import (
	"strings"
	"testing"
)

// FuzzSilence feeds arbitrary matchers to the validation and the matching:
// neither may panic, and an exact matcher matches exactly its value.
func FuzzSilence(f *testing.F) {
	for _, seed := range [][3]string{
		{"check", "checkout", "checkout"},
		{"check", "~check.*", "checkout"},
		{"team", "~(", "x"},
		{"severity", "~page|ticket", "page"},
		{"1bad", "x", "x"},
		{"check", "~a{1000}{1000}", "a"},
		{"slo", "", ""},
		{"check", "~\\p{Greek}+", "αβγ"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	f.Fuzz(func(t *testing.T, name, value, label string) {
		s := Silence{Matchers: map[string]string{name: value}}
		if err := s.compile(); err != nil {
			if err.Error() == "" {
				t.Fatalf("compile(%q: %q): empty error", name, value)
			}
			return
		}
		got := s.matches(map[string]string{name: label})
		if !strings.HasPrefix(value, "~") && got != (label == value) {
			t.Fatalf("exact matcher %q: %q matches %v", value, label, got)
		}
		if s.matches(map[string]string{}) {
			t.Fatalf("matcher %q: %q matches an alert without the label", name, value)
		}
	})
}
