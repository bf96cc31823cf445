package stats

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestErrorClassNames: every class has its own label value, and parsing it
// gives the class back; reports are merged by these names.
func TestErrorClassNames(t *testing.T) {
	tests := []struct {
		class ErrorClass
		name  string
	}{
		{ClassNone, "none"},
		{ClassTimeout, "timeout"},
		{ClassTLS, "tls"},
		{ClassBodyTooLarge, "body_too_large"},
		{ClassDropped, "dropped"},
		{ClassHostNotAllowed, "host_not_allowed"},
		{ClassOther, "other"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.name, tt.class.String(), "ErrorClass(%d).String()", tt.class)
		got, ok := ParseErrorClass(tt.name)
		require.True(t, ok, "ParseErrorClass(%q)", tt.name)
		require.Equal(t, tt.class, got, "ParseErrorClass(%q)", tt.name)
	}
	seen := map[string]ErrorClass{}
	for _, c := range ErrorClasses() {
		name := c.String()
		prev, dup := seen[name]
		require.False(t, dup, "classes %d and %d are both %q", prev, c, name)
		seen[name] = c
	}
	_, ok := ParseErrorClass("no_such_class")
	require.False(t, ok)
}
