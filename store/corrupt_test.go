package store

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"
)

// populated writes a state file with enough in it for a b-tree of several
// levels (branch pages), values over a page (overflow pages), the outbox
// and a freelist, and returns its bytes.
func populated(t testing.TB) []byte {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{MaxRuns: 400})
	require.NoError(t, err)
	pad := strings.Repeat("x", 300)
	for i := range 400 {
		_, err := s.PutRun(fmt.Sprintf("run-%04d", i), fmt.Sprintf("key-%d", i), doc{ID: fmt.Sprint(i), Status: "passed" + pad})
		require.NoError(t, err)
	}
	require.NoError(t, s.Put(Verdicts, "big", map[string]string{"report": strings.Repeat("y", 10000)}))
	for i := range 20 {
		_, _, err := s.Enqueue(doc{ID: fmt.Sprint(i)})
		require.NoError(t, err)
	}
	for i := range 10 {
		require.NoError(t, s.Ack(uint64(i+1)))
	}
	require.NoError(t, s.Close())
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	require.NoError(t, err)
	return data
}

// layout is what a test needs to know of a file to damage it.
type layout struct {
	ps       int
	pages    int
	freelist int
	branches []int // pages that are branch pages
}

func layoutOf(t testing.TB, data []byte) layout {
	t.Helper()
	m, ok := parseMeta(data)
	require.True(t, ok, "the first meta page of a fresh file is intact")
	m1, ok := parseMeta(data[m.pageSize:])
	if ok && m1.txid > m.txid {
		m = m1
	}
	l := layout{ps: int(m.pageSize), pages: int(m.pgid), freelist: -1}
	if m.freelist != noFreelist {
		l.freelist = int(m.freelist)
	}
	for p := 2; p < l.pages; p++ {
		if order.Uint64(data[p*l.ps:]) == uint64(p) && order.Uint16(data[p*l.ps+8:])&branchPage != 0 {
			l.branches = append(l.branches, p)
		}
	}
	return l
}

// openDamaged writes data as the state file of a new directory and opens
// it. A panic or a fault would end the test binary: every case below
// passing is the proof that none happens.
func openDamaged(t *testing.T, data []byte) (*Store, string, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, FileName), data, 0o600))
	s, err := Open(dir, Options{Timeout: 100 * time.Millisecond})
	return s, filepath.Join(dir, FileName), err
}

func garbage(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestDamagedStateFiles(t *testing.T) {
	good := populated(t)
	l := layoutOf(t, good)
	require.NotEmpty(t, l.branches, "the populated file has branch pages")
	require.Greater(t, l.freelist, 1, "the file has a freelist page")
	damage := func(fn func(b []byte) []byte) []byte {
		return fn(append([]byte(nil), good...))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string // in the reason; "" = the file opens
	}{
		{
			name: "not a bbolt file: random bytes",
			data: garbage(1, 64<<10),
			want: "no intact metadata page: not a bbolt file, or both of its first pages are damaged",
		},
		{
			name: "not a bbolt file: a line of text",
			data: []byte("checks: []\n"),
			want: "no intact metadata page",
		},
		{
			name: "truncated to half",
			data: good[:len(good)/2],
			want: "the file is shorter than its metadata says",
		},
		{
			name: "truncated to one page",
			data: good[:l.ps],
			want: "file size too small",
		},
		{
			name: "both meta pages zeroed",
			data: damage(func(b []byte) []byte { clear(b[:2*l.ps]); return b }),
			want: "no intact metadata page",
		},
		{
			name: "one meta page zeroed: the other one serves",
			data: damage(func(b []byte) []byte { clear(b[:l.ps]); return b }),
		},
		{
			name: "garbage freelist page",
			data: damage(func(b []byte) []byte { copy(b[l.freelist*l.ps:], garbage(2, l.ps)); return b }),
			want: fmt.Sprintf("the freelist, page %d, is overwritten (its header names page ", l.freelist),
		},
		{
			name: "freelist counting more pages than memory holds",
			data: damage(func(b []byte) []byte {
				p := b[l.freelist*l.ps:]
				order.PutUint16(p[10:], 0xFFFF)
				order.PutUint64(p[16:], 1<<40)
				return b
			}),
			want: "counts 1099511627776 free pages, more than it holds",
		},
		{
			name: "a branch page pointing to itself",
			data: damage(func(b []byte) []byte {
				p := l.branches[0]
				order.PutUint64(b[p*l.ps+pageHeaderSize+8:], uint64(p))
				return b
			}),
			want: fmt.Sprintf("page %d is used twice", l.branches[0]),
		},
		{
			name: "a branch page pointing past the end",
			data: damage(func(b []byte) []byte {
				p := l.branches[0]
				order.PutUint64(b[p*l.ps+pageHeaderSize+8:], 1<<40)
				return b
			}),
			want: fmt.Sprintf("branch page %d points to page 1099511627776, outside the", l.branches[0]),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, path, err := openDamaged(t, tc.data)
			if tc.want == "" {
				require.NoError(t, err)
				require.NoError(t, readEverything(s))
				require.NoError(t, s.Close())
				return
			}
			require.ErrorIs(t, err, ErrCorrupt)
			require.ErrorContains(t, err, tc.want)
			require.ErrorContains(t, err, "state file "+path+" is damaged (")
			require.ErrorContains(t, err, "): move it aside, or start with --reset-state, which keeps a copy")
		})
	}
}

// TestRandomPageGarbage overwrites each page of a populated file in turn
// with random bytes, with several seeds: every open either fails with a
// clear error or succeeds and reads back without one.
func TestRandomPageGarbage(t *testing.T) {
	good := populated(t)
	l := layoutOf(t, good)
	opened, refused := 0, 0
	for p := 2; p < l.pages; p++ {
		for seed := range uint64(3) {
			data := append([]byte(nil), good...)
			copy(data[p*l.ps:], garbage(seed+uint64(p)<<8, l.ps))
			s, _, err := openDamaged(t, data)
			if err != nil {
				require.ErrorIs(t, err, ErrCorrupt, "page %d seed %d", p, seed)
				refused++
				continue
			}
			opened++
			require.NoError(t, readEverything(s), "page %d seed %d opened but does not read", p, seed)
			require.NoError(t, s.Close())
		}
	}
	t.Logf("%d pages damaged 3 ways each: %d refused, %d opened (free pages)", l.pages-2, refused, opened)
	require.NotZero(t, refused)
}

// TestValueThatIsNotJSON stores, behind canary's back, a value its readers
// could not decode.
func TestValueThatIsNotJSON(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Runs)).Put([]byte("run-1"), []byte("\x00\x01not json"))
	}))
	require.NoError(t, db.Close())
	_, err = Open(dir, Options{})
	require.ErrorIs(t, err, ErrCorrupt)
	require.ErrorContains(t, err, `bucket runs, key "run-1": the value is not a JSON document`)
}

// readEverything reads every bucket, as a starting daemon does.
func readEverything(s *Store) error {
	var errs []error
	for _, b := range allBuckets {
		errs = append(errs, s.Each(b, func(string, []byte) error { return nil }))
	}
	_, err := s.Pending()
	errs = append(errs, err)
	errs = append(errs, s.RecentRuns(1000, func(string, []byte) error { return nil }))
	return errors.Join(errs...)
}

func TestReset(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 15, 0, 0, time.UTC)
	damaged := garbage(7, 16<<10)

	t.Run("moves a damaged file aside and the next Open starts empty", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		require.NoError(t, os.WriteFile(path, damaged, 0o600))
		_, err := Open(dir, Options{})
		require.ErrorIs(t, err, ErrCorrupt)

		kept, err := Reset(dir, now)
		require.NoError(t, err)
		require.Equal(t, path+".corrupt-20261206T101500Z", kept)
		copyBytes, err := os.ReadFile(kept)
		require.NoError(t, err)
		require.Equal(t, damaged, copyBytes, "the copy is the damaged file as it was")

		s, err := Open(dir, Options{})
		require.NoError(t, err)
		n, err := s.Len(Runs)
		require.NoError(t, err)
		require.Zero(t, n)
		require.NoError(t, s.Close())

		// A second reset in the same second keeps both copies.
		require.NoError(t, os.WriteFile(path, damaged, 0o600))
		kept2, err := Reset(dir, now)
		require.NoError(t, err)
		require.Equal(t, path+".corrupt-20261206T101500Z-2", kept2)
	})

	t.Run("no file: nothing to do", func(t *testing.T) {
		kept, err := Reset(t.TempDir(), now)
		require.NoError(t, err)
		require.Empty(t, kept)
	})

	t.Run("a file in use by another process stays", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir, Options{})
		require.NoError(t, err)
		defer s.Close()
		_, err = Reset(dir, now)
		require.ErrorIs(t, err, ErrLocked)
		_, err = os.Stat(filepath.Join(dir, FileName))
		require.NoError(t, err, "the file in use was not moved")
	})
}
