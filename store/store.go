// Package store keeps canary's durable state in one bbolt file under the
// daemon's state_dir: on-demand runs (with their idempotency keys), the last
// verdict of every check, alert state, silences and the outbox of
// notifications not yet delivered. Every collection is bounded; what falls
// off the end is counted.
//
// Values are JSON documents: the packages that own the concepts (daemon,
// alert) define the types; the store only keeps them safe across restarts,
// including kill -9 (bbolt commits are fsynced).
//
// A damaged file never crashes the process: Open checks it before bbolt
// maps it (verify.go) and answers a *CorruptError that names the file and
// the way out; Reset moves a damaged file aside so that the daemon can
// start empty.
package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Bucket names a collection.
type Bucket string

// The collections.
const (
	Runs     Bucket = "runs"      // run id → run document
	RunKeys  Bucket = "run_keys"  // idempotency key → run id
	runOrder Bucket = "run_order" // sequence → run id (for pruning, oldest first)
	Verdicts Bucket = "verdicts"  // check → last verdict
	Alerts   Bucket = "alerts"    // alert key → alert state
	Silences Bucket = "silences"  // silence id → silence
	Outbox   Bucket = "outbox"    // sequence → undelivered notification
	meta     Bucket = "meta"
	// Segments holds the reports of distributed runs' segments until their
	// run is complete (run id/segment → report); the daemon bounds it.
	Segments Bucket = "segments"
)

var allBuckets = []Bucket{Runs, RunKeys, runOrder, Verdicts, Alerts, Silences, Outbox, meta, Segments}

// FileName is the store's file inside the state directory.
const FileName = "canary.db"

// Options bound the store.
type Options struct {
	MaxRuns   int           // runs kept (oldest pruned); default 1000
	MaxOutbox int           // undelivered notifications kept (oldest dropped); default 10000
	Timeout   time.Duration // waiting for the file lock; default 1s
}

// Store is the open state file. Safe for concurrent use.
type Store struct {
	db   *bolt.DB
	opts Options
	path string
}

// ErrLocked is returned by Open when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another process")

// ErrCorrupt matches (errors.Is) the *CorruptError of a damaged state file.
var ErrCorrupt = errors.New("state file is damaged")

// CorruptError is Open's answer to a state file it cannot use.
type CorruptError struct {
	Path   string
	Reason string // what is wrong, in a few words
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is damaged (%s): move it aside, or start with --reset-state, which keeps a copy", e.Path, e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Open opens (creating if needed) the store in dir. A damaged file gives a
// *CorruptError (errors.Is(err, ErrCorrupt)), never a panic; one held by
// another process gives ErrLocked.
func Open(dir string, o Options) (*Store, error) {
	if o.MaxRuns <= 0 {
		o.MaxRuns = 1000
	}
	if o.MaxOutbox <= 0 {
		o.MaxOutbox = 10000
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("state_dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, FileName)
	if err := verify(path, o.Timeout); err != nil {
		return nil, err
	}
	db, err := openBolt(path, &bolt.Options{Timeout: o.Timeout})
	if err != nil {
		return nil, openError(path, err)
	}
	s := &Store{db: db, opts: o, path: path}
	err = s.update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		if errors.Is(err, ErrCorrupt) {
			return nil, err
		}
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	return s, nil
}

// verify checks an existing state file before it is opened for writing
// (checkFile). It holds bbolt's shared lock meanwhile, so that a file in
// use by another process is reported as locked, not judged while it
// changes.
//
// bbolt's own Tx.Check is not used: it reads both metadata pages as pages
// and gives up at one that a torn write left blank, which bbolt itself
// survives by design (it keeps two and uses the intact one).
func verify(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return &CorruptError{Path: path, Reason: "not a regular file"}
	}
	if fi.Size() == 0 {
		return nil // bbolt starts an empty file afresh
	}
	// Read-only, bbolt reads the metadata pages only, and checks them.
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	if err := verifyFile(path); err != nil {
		return &CorruptError{Path: path, Reason: err.Error()}
	}
	return nil
}

// openBolt is bolt.Open under guard. bbolt can panic halfway through Open
// (reading the freelist of a damaged file); its file is then closed here,
// which releases the lock, though its memory map stays (once per process).
func openBolt(path string, o *bolt.Options) (*bolt.DB, error) {
	var file *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		f, err := os.OpenFile(name, flag, perm)
		file = f
		return f, err
	}
	var db *bolt.DB
	err := guard(func() error {
		var err error
		db, err = bolt.Open(path, 0o600, o)
		return err
	})
	if err != nil && db == nil && file != nil {
		// After a panic the file is still open; after an error bbolt
		// closed it already, and closing an *os.File twice is harmless.
		_ = file.Close()
	}
	return db, err
}

// openError names the file and says what to do.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("state file %s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrChecksum):
		return &CorruptError{Path: path, Reason: "no intact metadata page: not a bbolt file, or both of its first pages are damaged"}
	case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("state file %s: %w", path, err)
	}
	return &CorruptError{Path: path, Reason: err.Error()}
}

// Reset moves the state file in dir aside, to FileName.corrupt-<now, UTC>,
// so that the next Open starts empty while the old file is kept for a
// post-mortem (the daemon's --reset-state). It returns the copy's path,
// or "" when there was no file. A file locked by another process is left
// where it is (ErrLocked).
func Reset(dir string, now time.Time) (string, error) {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	db, err := openBolt(path, &bolt.Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return "", fmt.Errorf("state file %s: %w", path, ErrLocked)
	}
	if db != nil {
		db.Close()
	}
	kept := path + ".corrupt-" + now.UTC().Format("20060102T150405Z")
	for i := 2; ; i++ {
		if _, err := os.Lstat(kept); errors.Is(err, os.ErrNotExist) {
			break
		}
		kept = fmt.Sprintf("%s.corrupt-%s-%d", path, now.UTC().Format("20060102T150405Z"), i)
	}
	if err := os.Rename(path, kept); err != nil {
		return "", fmt.Errorf("state file %s: move aside: %w", path, err)
	}
	return kept, nil
}

// view and update are bbolt's transactions under guard: damage that
// appears while the daemon runs (a disk going bad) is an error naming the
// file, not a crash.
func (s *Store) view(fn func(tx *bolt.Tx) error) error {
	return s.guarded(func() error { return s.db.View(fn) })
}

func (s *Store) update(fn func(tx *bolt.Tx) error) error {
	return s.guarded(func() error { return s.db.Update(fn) })
}

func (s *Store) guarded(fn func() error) error {
	err := guard(fn)
	var pe *panicError
	if errors.As(err, &pe) {
		return &CorruptError{Path: s.path, Reason: pe.Error()}
	}
	return err
}

// Path is the state file's path.
func (s *Store) Path() string { return s.path }

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// Put stores v (as JSON) under key.
func (s *Store) Put(b Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", b, key, err)
	}
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(b)).Put([]byte(key), raw)
	})
}

// Get loads key into v; false when absent.
func (s *Store) Get(b Bucket, key string, v any) (bool, error) {
	var raw []byte
	err := s.view(func(tx *bolt.Tx) error {
		if r := tx.Bucket([]byte(b)).Get([]byte(key)); r != nil {
			raw = append([]byte(nil), r...)
		}
		return nil
	})
	if err != nil || raw == nil {
		return false, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("store %s/%s: %w", b, key, err)
	}
	return true, nil
}

// Delete removes key (absent keys are fine).
func (s *Store) Delete(b Bucket, key string) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(b)).Delete([]byte(key))
	})
}

// Each calls fn with every key and raw JSON value of b, in key order. The
// value is only valid during the call.
func (s *Store) Each(b Bucket, fn func(key string, raw []byte) error) error {
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(b)).ForEach(func(k, v []byte) error {
			return fn(string(k), v)
		})
	})
}

// Len is the number of entries in b.
func (s *Store) Len(b Bucket) (int, error) {
	n := 0
	err := s.view(func(tx *bolt.Tx) error {
		n = count(tx.Bucket([]byte(b)))
		return nil
	})
	return n, err
}

// PutRun stores a run. A new run (first Put of its id) is registered under
// its idempotency key, if any, and the oldest runs beyond MaxRuns are pruned
// with their keys; it returns how many were pruned.
func (s *Store) PutRun(id, key string, v any) (pruned int, err error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("store run %s: %w", id, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		runs := tx.Bucket([]byte(Runs))
		isNew := runs.Get([]byte(id)) == nil
		if err := runs.Put([]byte(id), raw); err != nil {
			return err
		}
		if !isNew {
			return nil
		}
		keys := tx.Bucket([]byte(RunKeys))
		if key != "" {
			if err := keys.Put([]byte(key), []byte(id)); err != nil {
				return err
			}
		}
		order := tx.Bucket([]byte(runOrder))
		seq, _ := order.NextSequence()
		if err := order.Put(seqKey(seq), []byte(id+"\x00"+key)); err != nil {
			return err
		}
		pruned, err = dropOldest(order, s.opts.MaxRuns, func(v []byte) error {
			oldID, oldKey, _ := cut(string(v))
			if err := runs.Delete([]byte(oldID)); err != nil {
				return err
			}
			if oldKey != "" && string(keys.Get([]byte(oldKey))) == oldID {
				return keys.Delete([]byte(oldKey))
			}
			return nil
		})
		return err
	})
	return pruned, err
}

// RunByKey returns the id of the run registered under an idempotency key.
func (s *Store) RunByKey(key string) (string, bool, error) {
	var id string
	err := s.view(func(tx *bolt.Tx) error {
		id = string(tx.Bucket([]byte(RunKeys)).Get([]byte(key)))
		return nil
	})
	return id, id != "", err
}

// RecentRuns calls fn with up to limit runs, newest first.
func (s *Store) RecentRuns(limit int, fn func(id string, raw []byte) error) error {
	return s.view(func(tx *bolt.Tx) error {
		runs := tx.Bucket([]byte(Runs))
		c := tx.Bucket([]byte(runOrder)).Cursor()
		n := 0
		for k, v := c.Last(); k != nil && n < limit; k, v = c.Prev() {
			id, _, _ := cut(string(v))
			raw := runs.Get([]byte(id))
			if raw == nil {
				continue
			}
			if err := fn(id, raw); err != nil {
				return err
			}
			n++
		}
		return nil
	})
}

// OutboxEntry is one undelivered notification.
type OutboxEntry struct {
	Seq uint64
	Raw []byte
}

// Enqueue appends v to the outbox. When the outbox is full the oldest
// entries are dropped; it returns how many.
func (s *Store) Enqueue(v any) (seq uint64, dropped int, err error) {
	err = s.Update(func(tx *Tx) error {
		seq, dropped, err = tx.Enqueue(v)
		return err
	})
	return seq, dropped, err
}

// Pending returns the outbox, oldest first.
func (s *Store) Pending() ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Outbox)).ForEach(func(k, v []byte) error {
			out = append(out, OutboxEntry{Seq: binary.BigEndian.Uint64(k), Raw: append([]byte(nil), v...)})
			return nil
		})
	})
	return out, err
}

// Ack removes a delivered (or abandoned) notification from the outbox.
func (s *Store) Ack(seq uint64) error {
	return s.update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(Outbox)).Delete(seqKey(seq))
	})
}

// Update runs fn in one write transaction over the typed helpers of Tx, so
// that related changes (an alert's state and its notification) are stored
// atomically.
func (s *Store) Update(fn func(tx *Tx) error) error {
	return s.update(func(btx *bolt.Tx) error { return fn(&Tx{tx: btx, s: s}) })
}

// Tx is a write transaction.
type Tx struct {
	tx *bolt.Tx
	s  *Store
}

// Put stores v (as JSON) under key.
func (t *Tx) Put(b Bucket, key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("store %s/%s: %w", b, key, err)
	}
	return t.tx.Bucket([]byte(b)).Put([]byte(key), raw)
}

// Delete removes key.
func (t *Tx) Delete(b Bucket, key string) error {
	return t.tx.Bucket([]byte(b)).Delete([]byte(key))
}

// Enqueue appends v to the outbox, dropping the oldest beyond the bound.
func (t *Tx) Enqueue(v any) (seq uint64, dropped int, err error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return 0, 0, fmt.Errorf("store outbox: %w", err)
	}
	b := t.tx.Bucket([]byte(Outbox))
	seq, _ = b.NextSequence()
	if err := b.Put(seqKey(seq), raw); err != nil {
		return 0, 0, err
	}
	dropped, err = dropOldest(b, t.s.opts.MaxOutbox, nil)
	return seq, dropped, err
}

// dropOldest deletes the first entries of b (sequence-keyed, so oldest
// first) until at most max remain, calling onDrop with each dropped value.
func dropOldest(b *bolt.Bucket, max int, onDrop func(v []byte) error) (int, error) {
	excess := count(b) - max
	dropped := 0
	c := b.Cursor()
	for k, v := c.First(); k != nil && dropped < excess; k, v = c.First() {
		if onDrop != nil {
			if err := onDrop(v); err != nil {
				return dropped, err
			}
		}
		if err := c.Delete(); err != nil {
			return dropped, err
		}
		dropped++
	}
	return dropped, nil
}

// count counts b's keys with a cursor: Bucket.Stats does not see the
// current transaction's own writes.
func count(b *bolt.Bucket) int {
	n := 0
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		n++
	}
	return n
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

func cut(s string) (a, b string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
