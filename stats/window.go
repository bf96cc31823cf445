package stats

import "time"

// Sliding windows.
//
// A window must count what happened within W of now to within
// max(1 s, 2 % of W), for W from seconds to 30 days, in little memory. The
// measurements are kept in slots aligned on the collector's start, in
// tiers: tier 0 holds the newest seconds in 1 s slots, tier i slots of 2^i
// seconds. When a tier holds more than its capacity, its two oldest slots
// merge into one slot of the next tier, which therefore starts exactly
// where the previous one ends; past the last tier they are dropped (the
// retention). Each measurement is in exactly one slot, and every tier holds
// at least `capacity` slots once it has spilled, so a slot of width w is at
// least about capacity·w old: a window's oldest slot, counted when at least
// half of it lies within the window, is off by at most half its width,
// 1/(2·capacity) of the window.
//
// A slot is filled by the flushes that end in it, so a window counts
// samples by completion; a sample reaches back from it by its own latency.
// `since` is held to a stricter rule (never a sample that started before
// it), through each slot's earliest possible start: the flush's previous
// flush, less the longest latency the slot holds.
const (
	// tier0Slots is tier 0's capacity in 1 s slots, fineSlots tiers 1..3's
	// (2 to 8 s slots) and tierSlots the others': a slot is then at most
	// 1/31 of its age, and a window off by at most half of that, 1.6 %
	// (plus the second a flush may be late).
	tier0Slots = 64
	fineSlots  = 40
	tierSlots  = 32
	// recordSlack is how long after it completed a sample may still be
	// recorded (its goroutine descheduled in between), landing in the
	// flush after the one its completion belongs to.
	recordSlack = 10 * time.Millisecond
)

// tierBits is the histogram precision of tier i's slots: exact (the
// HdrHistograms' own buckets) up to 64 s slots, which windows up to about
// an hour and a half reach; then 6 bits, a value read back within 1.6 %
// (32 buckets an octave: a few hundred bytes a histogram however many
// samples a slot holds). Counters are exact at every tier.
func tierBits(i int) uint {
	switch {
	case i <= 6:
		return fullBits
	}
	return 6
}

// slot is one slot of a tier.
type slot struct {
	data []byte // encodeSlot's; nil when nothing was recorded
	// from is the earliest a sample in it can have started (ns since the
	// window's start); valid when data is set.
	from int64
}

// tier is a run of consecutive slots of one width: indices lo .. lo+n-1,
// slot k at ring[k % len(ring)], covering [k·width, (k+1)·width) after the
// window's start.
type tier struct {
	width time.Duration
	bits  uint
	cap   int64 // it holds at most cap+1 slots; at cap+2 the oldest pair spills
	lo, n int64
	ring  []slot
}

func (t *tier) at(k int64) *slot { return &t.ring[k%int64(len(t.ring))] }

// window is the tiers of a collector's sliding windows.
type window struct {
	start time.Time
	steps int
	tiers []tier
	// scratch for merging slots
	a, b    slotData
	merge   []bucket
	encoded []byte
}

// newWindow returns tiers that hold at least retention.
func newWindow(start time.Time, retention time.Duration, steps int) *window {
	w := &window{start: start, steps: steps}
	for i := 0; i == 0 || w.retention() < retention; i++ {
		c := int64(tierSlots)
		switch {
		case i == 0:
			c = tier0Slots
		case i <= 3:
			c = fineSlots
		}
		w.tiers = append(w.tiers, tier{width: time.Second << i, bits: tierBits(i), cap: c, ring: make([]slot, c+2)})
	}
	return w
}

// retention is how far back the windows are sure to reach: what every
// tier holds once full, less the newest second, which is still filling.
func (w *window) retention() time.Duration {
	var d time.Duration
	for _, t := range w.tiers {
		d += time.Duration(t.cap) * t.width
	}
	return d - time.Second
}

// slotOf is the tier-0 slot a flush at t belongs to: the one whose span
// ends at or after t (a flush on a whole second closes that second).
func (w *window) slotOf(t time.Time) int64 {
	d := t.Sub(w.start)
	if d <= 0 {
		return 0
	}
	return int64((d+time.Second-1)/time.Second) - 1
}

// add records a flush at now of what was measured since the flush at prev.
func (w *window) add(acc *sparse, prev, now time.Time) {
	idx := w.slotOf(now)
	w.advance(0, idx)
	if !acc.used {
		return
	}
	w.a.fromSparse(acc, fullBits)
	from := prev.Sub(w.start) - time.Duration(w.a.maxLatency(fullBits))*time.Microsecond - recordSlack
	w.encoded = encodeSlot(w.encoded[:0], &w.a)
	w.put(0, idx, w.encoded, int64(from), fullBits)
}

// advance moves tier i's newest slot up to h, spilling its oldest pairs
// into tier i+1 (or dropping them past the last tier).
func (w *window) advance(i int, h int64) {
	t := &w.tiers[i]
	newest := t.lo + t.n - 1
	if h <= newest {
		return
	}
	lo := t.lo
	if h-lo+1 > t.cap+1 {
		lo = h - t.cap
		lo += lo & 1 // even, so pairs align with the next tier's slots
	}
	// Slots older than lo spill, pair by pair, into the next tier (which
	// first moves up to where this one will start), or are dropped past
	// the last tier.
	type spilled struct {
		k int64
		s slot
	}
	var out []spilled
	for k := t.lo; k < lo && k <= newest; k++ {
		if s := *t.at(k); s.data != nil {
			out = append(out, spilled{k, s})
		}
		*t.at(k) = slot{}
	}
	// The new slots are empty (a jump longer than the ring empties it).
	for k := max(newest+1, h-int64(len(t.ring))+1); k <= h; k++ {
		*t.at(k) = slot{}
	}
	t.lo, t.n = lo, h-lo+1
	if i+1 == len(w.tiers) {
		return // past the retention
	}
	w.advance(i+1, lo/2-1)
	for _, s := range out {
		w.put(i+1, s.k/2, s.s.data, s.s.from, t.bits)
	}
}

// put merges encoded data (at bits) into tier i's slot k, or further down
// when that slot has already spilled.
func (w *window) put(i int, k int64, data []byte, from int64, bits uint) {
	t := &w.tiers[i]
	for k < t.lo {
		i++
		if i == len(w.tiers) {
			return
		}
		k /= 2
		t = &w.tiers[i]
	}
	s := t.at(k)
	if s.data == nil && bits == t.bits {
		s.data, s.from = append([]byte(nil), data...), from
		return
	}
	_ = decodeSlot(data, &w.a, w.steps) // our own encoding
	w.a.coarsen(bits, t.bits)
	if s.data != nil {
		_ = decodeSlot(s.data, &w.b, w.steps)
		w.a.add(&w.b, &w.merge)
		from = min(from, s.from)
	}
	w.encoded = encodeSlot(w.encoded[:0], &w.a)
	s.data, s.from = append([]byte(nil), w.encoded...), from
}

// query merges into s the slots of a window back to b, as of the flush at
// last; s.Start becomes where the counted samples begin.
func (w *window) query(b, last time.Time, exact bool, s *Snapshot) {
	d := &w.a // the collector's lock guards the scratch
	s.Start, s.End = w.walk(b, last, exact, func(data []byte, bits uint) {
		_ = decodeSlot(data, d, w.steps)
		d.mergeInto(s, bits)
	}), last
}

// counts adds up the iteration counts of the slots of a window back to b,
// as query would, without decoding their histograms; from is where the
// counted samples begin.
func (w *window) counts(b, last time.Time, exact bool) (its IterationCounts, from time.Time) {
	from = w.walk(b, last, exact, func(data []byte, _ uint) {
		r := slotReader{b: data} // a slot's encoding starts with its counts
		c := IterationCounts{Success: int64(r.uvarint()), Failure: int64(r.uvarint()), Dropped: int64(r.uvarint())}
		if r.err == nil {
			its.add(c)
		}
	})
	return its, from
}

// walk visits, newest first, the slots holding data of a window back to b
// as of the flush at last, and returns where the counted samples begin.
//
// Without exact, a slot counts when at least half of it is after b (the
// nearest slot boundary). With exact (since), every slot that ends after b
// counts unless it, or a newer one, may hold a sample that started before
// b: then the window starts after that slot.
func (w *window) walk(b, last time.Time, exact bool, visit func(data []byte, bits uint)) time.Time {
	bound := b.Sub(w.start)
	covered := last.Sub(w.start)
walk:
	for i := range w.tiers {
		t := &w.tiers[i]
		for k := t.lo + t.n - 1; k >= t.lo; k-- {
			lo, hi := time.Duration(k)*t.width, time.Duration(k+1)*t.width
			sl := t.at(k)
			switch {
			case hi <= bound:
				break walk
			case !exact && lo+t.width/2 < bound:
				break walk
			case exact && sl.data != nil && time.Duration(sl.from) < bound:
				break walk
			}
			if sl.data != nil {
				visit(sl.data, t.bits)
			}
			covered = lo
		}
	}
	if exact {
		covered = max(covered, bound)
	}
	covered = max(covered, 0)
	start := w.start.Add(covered)
	if start.After(last) {
		start = last
	}
	return start
}

// queryNested merges into s the slots of windows back to each of bs
// (latest first: the windows from the shortest), as of the flush at last,
// and calls done(j, s) once s holds window j, with s.Start where its
// samples begin. Windows that end at the same flush nest: a slot counts in
// a window when at least half of it is after the window's bound, so the
// slots of each are the newest slots of the next, and one walk serves all.
func (w *window) queryNested(bs []time.Time, last time.Time, s *Snapshot, done func(j int, s *Snapshot)) {
	d := &w.a // the collector's lock guards the scratch
	covered := last.Sub(w.start)
	j := 0
	// finish hands over window j, which ends before the slot at hand.
	finish := func() {
		s.Start, s.End = w.start.Add(max(covered, 0)), last
		if s.Start.After(last) {
			s.Start = last
		}
		done(j, s)
		j++
	}
	for i := range w.tiers {
		t := &w.tiers[i]
		for k := t.lo + t.n - 1; k >= t.lo; k-- {
			lo := time.Duration(k) * t.width
			for j < len(bs) && lo+t.width/2 < bs[j].Sub(w.start) {
				finish()
			}
			if j == len(bs) {
				return
			}
			if sl := t.at(k); sl.data != nil {
				_ = decodeSlot(sl.data, d, w.steps)
				d.mergeInto(s, t.bits)
			}
			covered = lo
		}
	}
	for j < len(bs) {
		finish()
	}
}

// bytes is the memory the tiers hold: their rings and the slots' data.
func (w *window) bytes() int {
	const slotSize = 24 + 8
	n := 0
	for _, t := range w.tiers {
		n += len(t.ring) * slotSize
		for _, s := range t.ring {
			n += cap(s.data)
		}
	}
	return n
}
