package golden

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeT records failures instead of failing the real test (whose other
// methods it borrows).
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()                           {}
func (f *fakeT) Errorf(format string, args ...any) { f.failed = true }
func (f *fakeT) FailNow()                          { f.failed = true; panic(f) }

func run(t *testing.T, path string, got []byte) (failed bool) {
	f := &fakeT{TB: t}
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
		failed = f.failed
	}()
	Assert(f, path, got)
	return f.failed
}

func TestAssert(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.golden")
	require.NoError(t, os.WriteFile(path, []byte("same"), 0o644))
	assert.False(t, run(t, path, []byte("same")), "equal content passes")
	assert.True(t, run(t, path, []byte("other")), "different content fails")
	assert.True(t, run(t, filepath.Join(t.TempDir(), "missing"), []byte("x")), "a missing file fails")

	*update = true
	defer func() { *update = false }()
	fresh := filepath.Join(t.TempDir(), "sub", "new.golden")
	assert.False(t, run(t, fresh, []byte("written")))
	b, err := os.ReadFile(fresh)
	require.NoError(t, err)
	assert.Equal(t, "written", string(b), "-update writes the file")
}
