package stats

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"slices"
)

// A window slot holds its measurements encoded: counters as varints (only
// the non-zero ones), histograms as their populated buckets, each a key
// delta and a count. A slot of a light check's second is a few dozen bytes
// and a slot of a busy hour a few kilobytes, where a histogram object
// alone costs hundreds.
//
// Histogram values (µs) are bucketed log-linearly with a precision of b
// bits: below 2^b exactly, above it to b significant bits, so a bucket's
// width is at most 2^(1-b) of its values. At 11 bits the buckets are
// exactly those of the 3-significant-digit HdrHistograms (1 µs .. 1 h), so
// recent slots are exact; older tiers keep fewer bits (see tierBits).

// fullBits is the precision of canary's HdrHistograms.
const fullBits = 11

// quantize maps a value to its bucket's key at b bits; keys are in value
// order and contiguous.
func quantize(v uint64, b uint) uint32 {
	if v < 1<<b {
		return uint32(v)
	}
	e := uint(bits.Len64(v)) - b
	return uint32(uint64(e)<<(b-1) + v>>e)
}

// bucketRange is the lowest value of a key's bucket and its width.
func bucketRange(key uint32, b uint) (lo, width uint64) {
	if key < 1<<b {
		return uint64(key), 1
	}
	e := uint(key>>(b-1)) - 1
	m := uint64(key) - uint64(e)<<(b-1)
	return m << e, 1 << e
}

// representative is the value a bucket is read back as: its middle, so a
// value is off by at most half a bucket's width (nothing at full precision,
// where the bucket is the HdrHistogram's own).
func representative(key uint32, b uint) int64 {
	lo, w := bucketRange(key, b)
	return min(int64(lo+w/2), MaxValue)
}

// bucket is one populated histogram bucket.
type bucket struct {
	key uint32
	n   int64
}

// codeCount is one status code's count.
type codeCount struct {
	code int
	n    int64
}

// slotData is a slot decoded: what encodeSlot writes and decodeSlot reads.
type slotData struct {
	used    bool
	its     IterationCounts
	iterErr [NumErrorClasses]int64
	clamped int64
	iter    []bucket
	lag     []bucket
	steps   []slotStep
}

type slotStep struct {
	errors           [NumErrorClasses]int64
	asserts          [NumAssertions]int64
	status           []codeCount // by code
	latency, service []bucket
}

func (d *slotData) reset(steps int) {
	d.used = false
	d.its, d.iterErr, d.clamped = IterationCounts{}, [NumErrorClasses]int64{}, 0
	d.iter, d.lag = d.iter[:0], d.lag[:0]
	if cap(d.steps) < steps {
		d.steps = make([]slotStep, steps)
	}
	d.steps = d.steps[:steps]
	for i := range d.steps {
		st := &d.steps[i]
		st.errors, st.asserts = [NumErrorClasses]int64{}, [NumAssertions]int64{}
		st.status, st.latency, st.service = st.status[:0], st.latency[:0], st.service[:0]
	}
}

// fromSparse sets d to a flush's accumulator, at b bits.
func (d *slotData) fromSparse(ps *sparse, b uint) {
	d.reset(len(ps.steps))
	if !ps.used {
		return
	}
	d.used = true
	d.its, d.iterErr, d.clamped = ps.its, ps.iterErr, ps.clamped
	d.iter = appendPacked(d.iter, ps.iter, b)
	d.lag = appendPacked(d.lag, ps.lag, b)
	for i := range ps.steps {
		a, st := &d.steps[i], &ps.steps[i]
		a.errors, a.asserts = st.errors, st.asserts
		for code, n := range st.status {
			if n != 0 {
				a.status = append(a.status, codeCount{code, n})
			}
		}
		slices.SortFunc(a.status, func(x, y codeCount) int { return x.code - y.code })
		a.latency = appendPacked(a.latency, st.latency, b)
		a.service = appendPacked(a.service, st.service, b)
	}
}

// packedHistogram is what appendPacked reads (hdrhistogram's
// PackedHistogram, visited in value order).
type packedHistogram interface {
	ForEachBucket(func(value, count int64) bool)
}

func appendPacked(dst []bucket, h packedHistogram, b uint) []bucket {
	h.ForEachBucket(func(v, n int64) bool {
		if n > 0 {
			dst = addBucket(dst, quantize(uint64(v), b), n)
		}
		return true
	})
	return dst
}

// addBucket appends a bucket to a list in key order, adding it to the last
// one when the key is the same (coarser keys merge neighbours).
func addBucket(dst []bucket, key uint32, n int64) []bucket {
	if k := len(dst); k > 0 && dst[k-1].key == key {
		dst[k-1].n += n
		return dst
	}
	return append(dst, bucket{key, n})
}

// add merges o into d (both at the same precision); scratch is reused.
func (d *slotData) add(o *slotData, scratch *[]bucket) {
	if !o.used {
		return
	}
	d.used = true
	d.its.add(o.its)
	for c := range o.iterErr {
		d.iterErr[c] += o.iterErr[c]
	}
	d.clamped += o.clamped
	d.iter = mergeBuckets(d.iter, o.iter, scratch)
	d.lag = mergeBuckets(d.lag, o.lag, scratch)
	for i := range o.steps {
		a, b := &d.steps[i], &o.steps[i]
		for k := range b.errors {
			a.errors[k] += b.errors[k]
		}
		for k := range b.asserts {
			a.asserts[k] += b.asserts[k]
		}
		a.status = mergeStatus(a.status, b.status)
		a.latency = mergeBuckets(a.latency, b.latency, scratch)
		a.service = mergeBuckets(a.service, b.service, scratch)
	}
}

// mergeBuckets returns the merge of two key-ordered lists, in a's storage
// when it fits (through scratch).
func mergeBuckets(a, b []bucket, scratch *[]bucket) []bucket {
	if len(b) == 0 {
		return a
	}
	out := (*scratch)[:0]
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i].key < b[j].key):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j].key < a[i].key:
			out = append(out, b[j])
			j++
		default:
			out = append(out, bucket{a[i].key, a[i].n + b[j].n})
			i++
			j++
		}
	}
	*scratch = out
	return append(a[:0], out...)
}

func mergeStatus(a, b []codeCount) []codeCount {
	for _, cc := range b {
		i, found := slices.BinarySearchFunc(a, cc.code, func(x codeCount, code int) int { return x.code - code })
		if found {
			a[i].n += cc.n
			continue
		}
		a = slices.Insert(a, i, cc)
	}
	return a
}

// coarsen re-buckets d from b bits to fewer.
func (d *slotData) coarsen(from, to uint) {
	if from == to {
		return
	}
	re := func(hs []bucket) []bucket {
		out := hs[:0]
		for _, bk := range hs {
			lo, _ := bucketRange(bk.key, from)
			out = addBucket(out, quantize(lo, to), bk.n)
		}
		return out
	}
	d.iter, d.lag = re(d.iter), re(d.lag)
	for i := range d.steps {
		d.steps[i].latency, d.steps[i].service = re(d.steps[i].latency), re(d.steps[i].service)
	}
}

// mergeInto adds d, at b bits, into a snapshot.
func (d *slotData) mergeInto(s *Snapshot, b uint) {
	if !d.used {
		return
	}
	s.Iterations.add(d.its)
	for c := range d.iterErr {
		s.IterationErrors[c] += d.iterErr[c]
	}
	s.Clamped += d.clamped
	record := func(h interface{ RecordValues(v, n int64) error }, bs []bucket) {
		for _, bk := range bs {
			_ = h.RecordValues(representative(bk.key, b), bk.n) // in range: keys come from values in range
		}
	}
	record(s.Iteration, d.iter)
	record(s.Lag, d.lag)
	for i := range d.steps {
		a, st := &s.Steps[i], &d.steps[i]
		for k := range st.errors {
			a.Errors[k] += st.errors[k]
		}
		for k := range st.asserts {
			a.Assertions[k] += st.asserts[k]
		}
		for _, cc := range st.status {
			a.Status[cc.code] += cc.n
		}
		record(a.Latency, st.latency)
		record(a.Service, st.service)
	}
}

// maxLatency is the highest corrected latency (µs) in d, iterations and
// steps: the longest a sample in it can have taken.
func (d *slotData) maxLatency(b uint) int64 {
	top := func(bs []bucket) int64 {
		if len(bs) == 0 {
			return 0
		}
		lo, w := bucketRange(bs[len(bs)-1].key, b)
		return int64(lo + w - 1)
	}
	m := top(d.iter)
	for i := range d.steps {
		m = max(m, top(d.steps[i].latency))
	}
	return m
}

// encodeSlot appends d's encoding to dst.
func encodeSlot(dst []byte, d *slotData) []byte {
	if !d.used {
		return dst
	}
	dst = binary.AppendUvarint(dst, uint64(d.its.Success))
	dst = binary.AppendUvarint(dst, uint64(d.its.Failure))
	dst = binary.AppendUvarint(dst, uint64(d.its.Dropped))
	dst = binary.AppendUvarint(dst, uint64(d.clamped))
	dst = appendCounts(dst, d.iterErr[:])
	dst = appendBuckets(dst, d.iter)
	dst = appendBuckets(dst, d.lag)
	for i := range d.steps {
		st := &d.steps[i]
		dst = appendCounts(dst, st.errors[:])
		if st.errors == ([NumErrorClasses]int64{}) {
			continue // no request: every request counts under some class
		}
		dst = appendCounts(dst, st.asserts[:])
		dst = binary.AppendUvarint(dst, uint64(len(st.status)))
		prev := 0
		for _, cc := range st.status {
			dst = binary.AppendUvarint(dst, uint64(cc.code-prev))
			dst = binary.AppendUvarint(dst, uint64(cc.n))
			prev = cc.code
		}
		dst = appendBuckets(dst, st.latency)
		dst = appendBuckets(dst, st.service)
	}
	return dst
}

// appendCounts writes a bitmask of the non-zero counts, then them.
func appendCounts(dst []byte, cs []int64) []byte {
	var mask uint64
	for i, c := range cs {
		if c != 0 {
			mask |= 1 << i
		}
	}
	dst = binary.AppendUvarint(dst, mask)
	for _, c := range cs {
		if c != 0 {
			dst = binary.AppendUvarint(dst, uint64(c))
		}
	}
	return dst
}

func appendBuckets(dst []byte, bs []bucket) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(bs)))
	prev := uint32(0)
	for _, bk := range bs {
		dst = binary.AppendUvarint(dst, uint64(bk.key-prev))
		dst = binary.AppendUvarint(dst, uint64(bk.n))
		prev = bk.key
	}
	return dst
}

var errCorrupt = errors.New("stats: corrupt window slot")

// slotReader decodes what encodeSlot wrote.
type slotReader struct {
	b   []byte
	err error
}

func (r *slotReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *slotReader) counts(cs []int64) {
	mask := r.uvarint()
	for i := range cs {
		cs[i] = 0
		if mask&(1<<i) != 0 {
			cs[i] = int64(r.uvarint())
		}
	}
}

func (r *slotReader) buckets(dst []bucket) []bucket {
	n := r.uvarint()
	if n > uint64(len(r.b)) { // every bucket takes at least two bytes
		r.err = errCorrupt
		return dst
	}
	key := uint32(0)
	for range n {
		key += uint32(r.uvarint())
		dst = append(dst, bucket{key, int64(r.uvarint())})
	}
	return dst
}

// decodeSlot sets d to what b encodes (an empty b is an empty slot).
func decodeSlot(b []byte, d *slotData, steps int) error {
	d.reset(steps)
	if len(b) == 0 {
		return nil
	}
	d.used = true
	r := slotReader{b: b}
	d.its.Success, d.its.Failure, d.its.Dropped = int64(r.uvarint()), int64(r.uvarint()), int64(r.uvarint())
	d.clamped = int64(r.uvarint())
	r.counts(d.iterErr[:])
	d.iter = r.buckets(d.iter)
	d.lag = r.buckets(d.lag)
	for i := range d.steps {
		st := &d.steps[i]
		r.counts(st.errors[:])
		if st.errors == ([NumErrorClasses]int64{}) {
			continue
		}
		r.counts(st.asserts[:])
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return errCorrupt
		}
		code := 0
		for range n {
			code += int(r.uvarint())
			st.status = append(st.status, codeCount{code, int64(r.uvarint())})
		}
		st.latency = r.buckets(st.latency)
		st.service = r.buckets(st.service)
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = errCorrupt
	}
	return r.err
}
