package clock

import (
	"context"
	"sync"
	"time"
)

// Fake is a Clock that moves only when told to. Advance fires every timer
// and ticker that falls due on the way, in time order, each with its own
// due time, so code under test sees the same sequence it would in real time.
// Tickers drop ticks their reader has not taken, as time.Ticker does.
//
// A test that advances the clock usually first waits until the code under
// test is waiting (BlockUntil), then advances, then waits for the effect.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	// changed is closed (and replaced) whenever a waiter is armed, so
	// BlockUntil wakes without polling.
	changed chan struct{}
}

var _ Clock = (*Fake)(nil)

// NewFake returns a fake clock reading start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now is the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer arms a timer that fires once the clock has advanced by d.
func (f *Fake) NewTimer(d time.Duration) Timer {
	w := &fakeWaiter{f: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	w.arm(d, 0)
	f.mu.Unlock()
	return (*fakeTimer)(w)
}

// NewTicker arms a ticker with period d. A non-positive d gives a ticker
// that never ticks (time.NewTicker would panic).
func (f *Fake) NewTicker(d time.Duration) Ticker {
	w := &fakeWaiter{f: f, ch: make(chan time.Time, 1)}
	f.mu.Lock()
	if d > 0 {
		w.arm(d, d)
	}
	f.mu.Unlock()
	return (*fakeTicker)(w)
}

// Advance moves the clock forward by d, firing what falls due on the way.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.advanceTo(f.now.Add(d))
}

// Set moves the clock to t (forward only; an earlier t is ignored).
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.advanceTo(t)
	}
}

func (f *Fake) advanceTo(end time.Time) {
	for {
		var next *fakeWaiter
		for _, w := range f.waiters {
			if w.active && !w.when.After(end) && (next == nil || w.when.Before(next.when)) {
				next = w
			}
		}
		if next == nil {
			break
		}
		f.now = next.when
		select {
		case next.ch <- f.now:
		default: // the reader has not taken the last tick: drop this one
		}
		if next.period > 0 {
			next.when = next.when.Add(next.period)
		} else {
			next.active = false
		}
	}
	f.now = end
	f.compact()
}

// compact forgets stopped timers that nobody can re-arm cheaply; a
// stopped waiter re-adds itself when reset.
func (f *Fake) compact() {
	kept := f.waiters[:0]
	for _, w := range f.waiters {
		if w.active {
			kept = append(kept, w)
		} else {
			w.listed = false
		}
	}
	clear(f.waiters[len(kept):])
	f.waiters = kept
}

// Waiters is the number of armed timers and tickers.
func (f *Fake) Waiters() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, w := range f.waiters {
		if w.active {
			n++
		}
	}
	return n
}

// BlockUntil waits until at least n timers and tickers are armed, or ctx
// ends.
func (f *Fake) BlockUntil(ctx context.Context, n int) error {
	for {
		f.mu.Lock()
		armed := 0
		for _, w := range f.waiters {
			if w.active {
				armed++
			}
		}
		changed := f.changed
		f.mu.Unlock()
		if armed >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

type fakeWaiter struct {
	f      *Fake
	ch     chan time.Time
	when   time.Time
	period time.Duration
	active bool
	listed bool // in f.waiters
}

// arm (with f.mu held) schedules the waiter d from now.
func (w *fakeWaiter) arm(d, period time.Duration) {
	w.when, w.period, w.active = w.f.now.Add(max(d, 0)), period, true
	if !w.listed {
		w.f.waiters = append(w.f.waiters, w)
		w.listed = true
	}
	close(w.f.changed)
	w.f.changed = make(chan struct{})
	if d <= 0 && period == 0 {
		// Due now: fire at once, as time.NewTimer(0) does.
		w.f.advanceTo(w.f.now)
	}
}

// disarm (with f.mu held) stops the waiter and empties its channel, as
// Stop and Reset do for time.Timer since Go 1.23: no stale value is
// received after them.
func (w *fakeWaiter) disarm() bool {
	was := w.active
	w.active = false
	select {
	case <-w.ch:
	default:
	}
	return was
}

type fakeTimer fakeWaiter

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	w := (*fakeWaiter)(t)
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	return w.disarm()
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	w := (*fakeWaiter)(t)
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	was := w.disarm()
	w.arm(d, 0)
	return was
}

type fakeTicker fakeWaiter

func (t *fakeTicker) C() <-chan time.Time { return t.ch }

func (t *fakeTicker) Stop() {
	w := (*fakeWaiter)(t)
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.disarm()
}

func (t *fakeTicker) Reset(d time.Duration) {
	w := (*fakeWaiter)(t)
	w.f.mu.Lock()
	defer w.f.mu.Unlock()
	w.disarm()
	if d > 0 {
		w.arm(d, d)
	}
}
