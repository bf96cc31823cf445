package store

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type doc struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func open(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	require.NoError(t, err)
	return s
}

func TestPutGetDeleteSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	require.NoError(t, s.Put(Verdicts, "checkout", doc{ID: "checkout", Status: "pass"}))
	require.NoError(t, s.Put(Verdicts, "login", doc{ID: "login", Status: "fail"}))
	require.NoError(t, s.Delete(Verdicts, "login"))
	require.NoError(t, s.Delete(Verdicts, "never-there"))
	require.NoError(t, s.Close())

	s = open(t, dir, Options{})
	defer s.Close()
	var got doc
	ok, err := s.Get(Verdicts, "checkout", &got)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, doc{ID: "checkout", Status: "pass"}, got)
	ok, err = s.Get(Verdicts, "login", &got)
	require.NoError(t, err)
	assert.False(t, ok, "deleted keys stay deleted")

	var keys []string
	require.NoError(t, s.Each(Verdicts, func(k string, raw []byte) error {
		keys = append(keys, k)
		return nil
	}))
	assert.Equal(t, []string{"checkout"}, keys)
}

func TestRunsByKeyAndPruning(t *testing.T) {
	s := open(t, t.TempDir(), Options{MaxRuns: 3})
	defer s.Close()
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("run-%d", i)
		pruned, err := s.PutRun(id, fmt.Sprintf("key-%d", i), doc{ID: id, Status: "running"})
		require.NoError(t, err)
		want := 0
		if i > 3 {
			want = 1
		}
		assert.Equal(t, want, pruned, "PutRun(%s) pruned", id)
	}
	// Updating a run keeps its place and key and prunes nothing.
	pruned, err := s.PutRun("run-5", "key-5", doc{ID: "run-5", Status: "passed"})
	require.NoError(t, err)
	assert.Zero(t, pruned)

	n, err := s.Len(Runs)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	_, ok, err := s.RunByKey("key-1")
	require.NoError(t, err)
	assert.False(t, ok, "a pruned run's key is forgotten")
	id, ok, err := s.RunByKey("key-5")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "run-5", id)

	var ids []string
	require.NoError(t, s.RecentRuns(10, func(id string, raw []byte) error {
		var d doc
		require.NoError(t, json.Unmarshal(raw, &d))
		ids = append(ids, id+":"+d.Status)
		return nil
	}))
	assert.Equal(t, []string{"run-5:passed", "run-4:running", "run-3:running"}, ids)
}

func TestOutboxIsBoundedAndOrdered(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxOutbox: 3})
	total := 0
	for i := 0; i < 5; i++ {
		_, dropped, err := s.Enqueue(doc{ID: fmt.Sprint(i)})
		require.NoError(t, err)
		total += dropped
	}
	assert.Equal(t, 2, total, "the two oldest fell off")
	pending, err := s.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 3)
	var first doc
	require.NoError(t, json.Unmarshal(pending[0].Raw, &first))
	assert.Equal(t, "2", first.ID)
	require.NoError(t, s.Ack(pending[0].Seq))
	require.NoError(t, s.Close())

	s = open(t, dir, Options{MaxOutbox: 3})
	defer s.Close()
	pending, err = s.Pending()
	require.NoError(t, err)
	require.Len(t, pending, 2, "acknowledged entries stay gone after a restart")
	assert.Less(t, pending[0].Seq, pending[1].Seq)
}

func TestUpdateIsAtomic(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	defer s.Close()
	err := s.Update(func(tx *Tx) error {
		require.NoError(t, tx.Put(Alerts, "a", doc{ID: "a"}))
		_, _, err := tx.Enqueue(doc{ID: "n"})
		require.NoError(t, err)
		return fmt.Errorf("abandon")
	})
	require.EqualError(t, err, "abandon")
	n, _ := s.Len(Alerts)
	assert.Zero(t, n, "a failed transaction stores nothing")
	pending, _ := s.Pending()
	assert.Empty(t, pending)
}

func TestOpenLockedByAnother(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	defer s.Close()
	_, err := Open(dir, Options{Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrLocked)
	assert.Contains(t, err.Error(), dir)
}

func TestOpenBadDir(t *testing.T) {
	_, err := Open("/proc/definitely/not/writable", Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "state_dir /proc/definitely/not/writable")
}
