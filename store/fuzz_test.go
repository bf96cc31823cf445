package store

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/canaryproj/canary/internal/membound"
)

// FuzzOpen opens a state file made of the fuzzer's bytes, reads all of it
// and writes to it: a damaged file must give ErrCorrupt, never a panic, a
// fault, or a runaway allocation.
func FuzzOpen(f *testing.F) {
	f.Add(small(f))
	f.Add(garbage(3, 16<<10))
	f.Add([]byte{})
	// Each input is written to disk and bbolt fsyncs each commit: on a
	// memory file system when there is one, that costs nothing.
	dir := f.TempDir()
	if d, err := os.MkdirTemp("/dev/shm", "canary-fuzz-store-"); err == nil {
		dir = d
		f.Cleanup(func() { os.RemoveAll(d) })
	}
	path := filepath.Join(dir, FileName)
	f.Fuzz(func(t *testing.T, data []byte) {
		data = withChecksums(data)
		_ = os.Remove(path)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		membound.Check(t, 64*membound.MiB, func() {
			s, err := Open(dir, Options{Timeout: 100 * time.Millisecond})
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("a damaged file must give ErrCorrupt, got: %v", err)
				}
				return
			}
			defer s.Close()
			_ = readEverything(s)
			_ = s.Put(Verdicts, "checkout", doc{ID: "checkout", Status: "pass"})
			_, _, _ = s.Enqueue(doc{ID: "n"})
			_, _ = s.PutRun("run-new", "key-new", doc{ID: "run-new"})
			_ = readEverything(s)
		})
	})
}

// small is a state file with a little of everything, small enough to
// fuzz quickly.
func small(t testing.TB) []byte {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := s.PutRun(fmt.Sprintf("run-%d", i), fmt.Sprintf("k%d", i), doc{ID: fmt.Sprint(i), Status: "passed"}); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Put(Verdicts, "a", doc{ID: "a", Status: "pass"})
	_, _, _ = s.Enqueue(doc{ID: "x"})
	_ = s.Ack(1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// withChecksums recomputes the checksums of metadata pages that keep
// bbolt's magic number, so that the fuzzer's changes to their fields (the
// root, the freelist, the page count) reach the checks behind them instead
// of all stopping at the checksum.
func withChecksums(data []byte) []byte {
	data = append([]byte(nil), data...)
	fix := func(off int) {
		if off < 0 || off+pageHeaderSize+metaSize > len(data) {
			return
		}
		m := data[off+pageHeaderSize : off+pageHeaderSize+metaSize]
		if order.Uint32(m) != boltMagic {
			return
		}
		h := fnv.New64a()
		h.Write(m[:56])
		order.PutUint64(m[56:], h.Sum64())
	}
	fix(0)
	ps := 4096
	if len(data) >= pageHeaderSize+12 {
		if p := int(order.Uint32(data[pageHeaderSize+8:])); p >= 1024 && p <= maxPageSize && p&(p-1) == 0 {
			ps = p
		}
	}
	fix(ps)
	return data
}
