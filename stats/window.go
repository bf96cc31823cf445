package stats

import "time"

// window is the ring behind sliding windows: fixed-width slots, each the
// sparse sum of the flushes that ended in it. Slot k holds the flushes that
// ended in (start + k·slot, start + (k+1)·slot], so with flushes on whole
// seconds a slot holds exactly the measurements of its span.
type window struct {
	start    time.Time
	slot     time.Duration
	ring     []sparse // closed slots; ring[k % len] holds slot k
	open     *sparse  // the slot being filled
	openIdx  int64
	openUsed bool
}

// newWindow sizes the ring for retention: ceil(retention/slot) closed
// slots plus the open one, so a window of the whole retention is complete
// even while the newest slot is only partly filled. Past MaxSlots the slot
// widens (to whole seconds) instead of the ring growing.
func newWindow(start time.Time, slot, retention time.Duration, steps int) *window {
	n := int64((retention + slot - 1) / slot)
	if n > MaxSlots {
		slot = ((retention/MaxSlots + time.Second - 1) / time.Second) * time.Second
		n = int64((retention + slot - 1) / slot)
	}
	w := &window{start: start, slot: slot, ring: make([]sparse, n+1), open: newSparse(steps)}
	for i := range w.ring {
		w.ring[i] = *newSparse(steps)
	}
	return w
}

func (w *window) retention() time.Duration { return time.Duration(len(w.ring)-1) * w.slot }

// slotOf is the slot a flush at t belongs to: the one whose span ends at or
// after t.
func (w *window) slotOf(t time.Time) int64 {
	d := t.Sub(w.start)
	if d <= 0 {
		return 0
	}
	return int64((d+w.slot-1)/w.slot) - 1
}

func (w *window) add(acc *sparse, now time.Time) {
	idx := w.slotOf(now)
	if w.openUsed && idx != w.openIdx {
		w.closeOpen()
	}
	if !w.openUsed {
		w.open.reset()
		w.openIdx, w.openUsed = idx, true
	}
	w.open.add(acc)
}

// closeOpen moves the open slot into the ring, over the oldest slot, and
// shrinks it to its contents.
func (w *window) closeOpen() {
	ps := &w.ring[w.openIdx%int64(len(w.ring))]
	ps.reset()
	ps.add(w.open)
	ps.idx = w.openIdx
	ps.compact()
	w.openUsed = false
}

// since merges into s every slot that ends after since and is still held
// as of the flush at last.
func (w *window) since(since, last time.Time, s *Snapshot) {
	lo := int64(0)
	if d := since.Sub(w.start); d > 0 {
		lo = int64(d / w.slot)
	}
	// Older slots than the ring holds are gone.
	if oldest := w.slotOf(last) - int64(len(w.ring)) + 1; lo < oldest {
		lo = oldest
	}
	s.Start = w.start.Add(time.Duration(lo) * w.slot)
	for i := range w.ring {
		ps := &w.ring[i]
		if ps.idx >= lo && (!w.openUsed || ps.idx != w.openIdx) {
			ps.mergeInto(s)
		}
	}
	if w.openUsed && w.openIdx >= lo {
		w.open.mergeInto(s)
	}
}

// bytes estimates the memory the ring holds.
func (w *window) bytes() int {
	n := w.open.bytes()
	for i := range w.ring {
		n += w.ring[i].bytes()
	}
	return n
}
