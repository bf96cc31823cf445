package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
)

// bbolt trusts its file. A page number out of range makes it read outside
// the memory map (a fault, which Go turns into a fatal error unless told
// otherwise), a freelist whose count is garbage makes it allocate that many
// entries (out of memory, also fatal), and a branch page that points back
// to itself makes it recurse until the stack runs out (fatal again). None
// of that can be recovered once bbolt has started, so before bbolt maps the
// file, checkFile reads its structure with plain reads and bounds every
// number it finds: the metadata pages, the freelist, and every page
// reachable from the root, with each value that canary stores as JSON
// checked to be JSON.
//
// The layout read here is bbolt's file format (version 2), unchanged since
// boltdb: see go.etcd.io/bbolt/internal/common (page.go, meta.go).
const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2

	pageHeaderSize = 16 // id uint64, flags uint16, count uint16, overflow uint32
	elementSize    = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketHeader   = 16 // root pgid uint64, sequence uint64
	metaSize       = 64 // magic, version, pageSize, flags uint32; root bucketHeader; freelist, pgid, txid, checksum uint64

	branchPage   = 0x01
	leafPage     = 0x02
	metaPage     = 0x04
	freelistPage = 0x10
	bucketLeaf   = 0x01

	noFreelist = ^uint64(0)

	// maxDepth bounds the b-tree's depth (bbolt's trees for a state file
	// of any size are a handful of levels deep) and so the recursion here.
	maxDepth = 64
	// maxPageSize is the largest page size bbolt looks for.
	maxPageSize = 16 << 20
)

// The file is read in the byte order of the machine that wrote it, as
// bbolt does.
var order = binary.NativeEndian

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

// parseMeta reads the meta record of the page in b (b starts at the page
// header) and reports whether it is intact.
func parseMeta(b []byte) (boltMeta, bool) {
	if len(b) < pageHeaderSize+metaSize {
		return boltMeta{}, false
	}
	m := b[pageHeaderSize : pageHeaderSize+metaSize]
	h := fnv.New64a()
	h.Write(m[:56])
	if order.Uint32(m[0:]) != boltMagic || order.Uint32(m[4:]) != boltVersion || order.Uint64(m[56:]) != h.Sum64() {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: order.Uint32(m[8:]),
		root:     order.Uint64(m[16:]),
		freelist: order.Uint64(m[32:]),
		pgid:     order.Uint64(m[40:]),
		txid:     order.Uint64(m[48:]),
	}, true
}

// fileChecker walks one state file.
type fileChecker struct {
	f       io.ReaderAt
	size    int64
	ps      int64
	hwm     uint64 // pages in use: the high water mark
	visited map[uint64]bool
}

// checkFile checks the structure of the bbolt file f of the given size.
// Its error says what is wrong in words a person can act on.
func checkFile(f io.ReaderAt, size int64) error {
	c := &fileChecker{f: f, size: size, visited: map[uint64]bool{}}
	m, err := c.readMeta()
	if err != nil {
		return err
	}
	c.ps = int64(m.pageSize)
	if m.pgid < 2 || m.pgid > uint64(size/c.ps) {
		return fmt.Errorf("the file is shorter than its metadata says (%d pages of %d bytes, %d bytes on disk): it was truncated", m.pgid, c.ps, size)
	}
	c.hwm = m.pgid
	c.visited[0], c.visited[1] = true, true
	var free []uint64
	if m.freelist != noFreelist {
		if free, err = c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	if err := c.checkTree(m.root, "the metadata's root", 0, c.rootValues); err != nil {
		return err
	}
	// A page both in use and free would be handed out again and
	// overwritten; one freed twice would be handed out twice.
	for _, p := range free {
		if c.visited[p] {
			return fmt.Errorf("page %d is listed as free but is in use (or listed twice)", p)
		}
		c.visited[p] = true
	}
	return nil
}

// readMeta finds the metadata page bbolt would use: the page size from the
// first intact meta page (bbolt searches for the second one at every page
// size it supports), then the intact one of the two with the higher
// transaction id.
func (c *fileChecker) readMeta() (boltMeta, error) {
	notBolt := errors.New("no intact metadata page: not a bbolt file, or both of its first pages are damaged")
	buf := make([]byte, 4096)
	read := func(off int64) []byte {
		n, _ := c.f.ReadAt(buf, off)
		return buf[:n]
	}
	m0, ok0 := parseMeta(read(0))
	ps := int64(m0.pageSize)
	if !ok0 {
		for i := range 15 {
			off := int64(1024) << i
			if off >= c.size-1024 {
				break
			}
			if m, ok := parseMeta(read(off)); ok {
				ps = int64(m.pageSize)
				break
			}
		}
	}
	if ps < 1024 || ps > maxPageSize || ps&(ps-1) != 0 {
		return boltMeta{}, notBolt
	}
	m1, ok1 := parseMeta(read(ps))
	switch {
	case ok0 && ok1 && m1.txid > m0.txid, !ok0 && ok1:
		m0 = m1
	case !ok0:
		return boltMeta{}, notBolt
	}
	if int64(m0.pageSize) != ps {
		return boltMeta{}, errors.New("its two metadata pages disagree on the page size")
	}
	return m0, nil
}

// page reads page id with its overflow pages, checking its header. what
// names the page for messages ("the freelist", "a tree page") and from
// says what points to it.
func (c *fileChecker) page(id uint64, what, from string) (flags uint16, count int, data []byte, err error) {
	if id < 2 || id >= c.hwm {
		return 0, 0, nil, fmt.Errorf("%s points to page %d, outside the %d pages in use", from, id, c.hwm)
	}
	var hdr [pageHeaderSize]byte
	if _, err := c.f.ReadAt(hdr[:], int64(id)*c.ps); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %v", id, err)
	}
	flags, count = order.Uint16(hdr[8:]), int(order.Uint16(hdr[10:]))
	overflow := uint64(order.Uint32(hdr[12:]))
	if got := order.Uint64(hdr[0:]); got != id {
		return 0, 0, nil, fmt.Errorf("%s, page %d, is overwritten (its header names page %d)", what, id, got)
	}
	if overflow >= c.hwm-id {
		return 0, 0, nil, fmt.Errorf("page %d runs past the %d pages in use", id, c.hwm)
	}
	for p := id; p <= id+overflow; p++ {
		if c.visited[p] {
			return 0, 0, nil, fmt.Errorf("page %d is used twice", p)
		}
		c.visited[p] = true
	}
	data = make([]byte, int64(overflow+1)*c.ps)
	if _, err := c.f.ReadAt(data, int64(id)*c.ps); err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %v", id, err)
	}
	return flags, count, data, nil
}

// checkFreelist checks the freelist page and returns the free pages.
func (c *fileChecker) checkFreelist(id uint64) ([]uint64, error) {
	flags, count, data, err := c.page(id, "the freelist", "the metadata")
	if err != nil {
		return nil, err
	}
	if flags&freelistPage == 0 {
		return nil, fmt.Errorf("the freelist, page %d, is not a freelist page (flags %#x)", id, flags)
	}
	ids := data[pageHeaderSize:]
	if count == 0xFFFF { // the real count is the first entry
		if len(ids) < 8 {
			return nil, fmt.Errorf("the freelist, page %d, is cut short", id)
		}
		n := order.Uint64(ids)
		ids = ids[8:]
		if n > uint64(len(ids)/8) {
			return nil, fmt.Errorf("the freelist, page %d, counts %d free pages, more than it holds", id, n)
		}
		count = int(n)
	}
	if count > len(ids)/8 {
		return nil, fmt.Errorf("the freelist, page %d, counts %d free pages, more than it holds", id, count)
	}
	free := make([]uint64, count)
	for i := range free {
		p := order.Uint64(ids[8*i:])
		if p < 2 || p >= c.hwm {
			return nil, fmt.Errorf("the freelist, page %d, lists page %d, outside the %d pages in use", id, p, c.hwm)
		}
		free[i] = p
	}
	return free, nil
}

// valueCheck checks one key/value of a bucket's leaf.
type valueCheck func(key, value []byte) error

// checkTree walks the b-tree rooted at page id; from says what points to it.
func (c *fileChecker) checkTree(id uint64, from string, depth int, check valueCheck) error {
	if depth > maxDepth {
		return fmt.Errorf("the tree under page %d is more than %d levels deep", id, maxDepth)
	}
	flags, count, data, err := c.page(id, "a tree page", from)
	if err != nil {
		return err
	}
	switch {
	case flags&branchPage != 0:
		if pageHeaderSize+count*elementSize > len(data) {
			return fmt.Errorf("branch page %d counts %d entries, more than it holds", id, count)
		}
		for i := range count {
			e := data[pageHeaderSize+i*elementSize:]
			if _, err := slice(data, pageHeaderSize+i*elementSize, order.Uint32(e[0:]), order.Uint32(e[4:])); err != nil {
				return fmt.Errorf("branch page %d entry %d: the key %v", id, i, err)
			}
			if err := c.checkTree(order.Uint64(e[8:]), fmt.Sprintf("branch page %d", id), depth+1, check); err != nil {
				return err
			}
		}
		return nil
	case flags&leafPage != 0:
		return c.checkLeaf(data, count, fmt.Sprintf("leaf page %d", id), depth, check)
	}
	return fmt.Errorf("page %d is neither a branch nor a leaf (flags %#x)", id, flags)
}

// checkLeaf checks a leaf's entries; data starts at the page header (of a
// page in the file, or of an inline bucket's page inside a value).
func (c *fileChecker) checkLeaf(data []byte, count int, where string, depth int, check valueCheck) error {
	if pageHeaderSize+count*elementSize > len(data) {
		return fmt.Errorf("%s counts %d entries, more than it holds", where, count)
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := data[at:]
		flags, pos, ksize, vsize := order.Uint32(e[0:]), order.Uint32(e[4:]), order.Uint32(e[8:]), order.Uint32(e[12:])
		key, err := slice(data, at, pos, ksize)
		if err != nil {
			return fmt.Errorf("%s entry %d: the key %v", where, i, err)
		}
		value, err := slice(data, at+int(pos)+int(ksize), 0, vsize)
		if err != nil {
			return fmt.Errorf("%s entry %d: the value %v", where, i, err)
		}
		if flags&bucketLeaf == 0 {
			if err := check(key, value); err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
			continue
		}
		if err := c.checkBucket(key, value, where, depth); err != nil {
			return err
		}
	}
	return nil
}

// checkBucket checks a bucket stored in a leaf: its own tree, or an inline
// page inside the value.
func (c *fileChecker) checkBucket(name, value []byte, where string, depth int) error {
	if len(value) < bucketHeader {
		return fmt.Errorf("%s: bucket %q has a header of %d bytes", where, clip(name), len(value))
	}
	check := c.values(string(name))
	if root := order.Uint64(value); root != 0 {
		return c.checkTree(root, fmt.Sprintf("bucket %q", clip(name)), depth+1, check)
	}
	inline := value[bucketHeader:]
	if len(inline) < pageHeaderSize {
		return fmt.Errorf("%s: bucket %q is cut short", where, clip(name))
	}
	if depth+1 > maxDepth {
		return fmt.Errorf("%s: buckets nested more than %d deep", where, maxDepth)
	}
	if f := order.Uint16(inline[8:]); f&leafPage == 0 {
		return fmt.Errorf("%s: bucket %q is neither a branch nor a leaf (flags %#x)", where, clip(name), f)
	}
	return c.checkLeaf(inline, int(order.Uint16(inline[10:])), fmt.Sprintf("bucket %q", clip(name)), depth+1, check)
}

// rootValues: the root bucket holds only buckets.
func (c *fileChecker) rootValues(key, _ []byte) error {
	return fmt.Errorf("%q is a value where a bucket belongs", clip(key))
}

// values returns the check of one of canary's buckets: JSON documents in
// those that hold them.
func (c *fileChecker) values(bucket string) valueCheck {
	switch Bucket(bucket) {
	case Runs, Verdicts, Alerts, Silences, Outbox:
		return func(key, value []byte) error {
			if !json.Valid(value) {
				return fmt.Errorf("bucket %s, key %q: the value is not a JSON document", bucket, clip(key))
			}
			return nil
		}
	}
	return func(key, value []byte) error { return nil }
}

// slice returns data[at+pos : at+pos+n], or why it does not fit.
func slice(data []byte, at int, pos, n uint32) ([]byte, error) {
	start := int64(at) + int64(pos)
	end := start + int64(n)
	if start < 0 || end > int64(len(data)) {
		return nil, fmt.Errorf("runs past its page (%d..%d of %d bytes)", start, end, len(data))
	}
	return data[start:end], nil
}

// clip shortens a key for a message.
func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:37]) + "..."
	}
	return string(b)
}

// guard runs fn, turning a panic — bbolt's answer to some damage it meets —
// and a memory fault into a *panicError.
func guard(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{value: r}
		}
	}()
	return fn()
}

// panicError is a panic recovered by guard.
type panicError struct{ value any }

func (e *panicError) Error() string { return fmt.Sprint(e.value) }

// verifyFile checks the file at path with checkFile.
func verifyFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return checkFile(f, fi.Size())
}
