package alert

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/store"
)

const (
	// attemptTimeout bounds one Notify call, on top of the notifier's own
	// HTTP timeout. It bounds real I/O, so it runs on the wall clock like
	// the HTTP client's own timeouts, not on the manager's clock.
	attemptTimeout = 30 * time.Second
	// maxBackoff caps DefaultBackoff.
	maxBackoff = 5 * time.Minute
	// storeRetry is the wait before reading the outbox again after the
	// store failed.
	storeRetry = 5 * time.Second
	// maxRemembered bounds the threads and pacing entries a courier keeps
	// in memory.
	maxRemembered = 1024
)

// DefaultBackoff is the wait before retry number attempt (from 1) of a
// delivery that failed without a Retry-After: 1 s, 2 s, 4 s … doubling up
// to 5 min, each ±20 % at random so that notifiers recovering together do
// not retry in lockstep.
func DefaultBackoff(attempt int) time.Duration {
	d := maxBackoff
	if attempt < 10 {
		d = min(time.Second<<max(attempt-1, 0), maxBackoff)
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(d, maxBackoff)
}

// Run delivers the outbox until ctx ends, then returns nil once every
// goroutine it started has exited. Each notifier has its own courier, so a
// receiver that is down does not hold up the others; within one notifier
// notifications go out oldest first, one at a time, so an alert's firing,
// reminders and resolve arrive in order.
//
// A notification leaves the outbox only once delivered (or refused for
// good). Delivery is therefore at-least-once: a crash, kill or shutdown
// after the receiver got a notification but before its removal was stored
// delivers it again on the next start. Slack offers no idempotency key that
// would close that window; it is one message wide per notifier.
//
// Only one Run may be active at a time.
func (m *Manager) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return errors.New("alert manager: Run is already running")
	}
	defer m.running.Store(false)
	m.dropOrphans()
	var wg sync.WaitGroup
	for _, nt := range m.o.Notifiers {
		c := &courier{
			m: m, nt: nt, name: nt.Name(), wake: m.wake[nt.Name()],
			last: map[string]time.Time{}, threads: map[string]*Thread{}, acked: map[uint64]bool{},
		}
		wg.Go(func() { c.run(ctx) })
	}
	wg.Wait()
	return nil
}

// dropOrphans removes the notifications queued for notifiers that are no
// longer configured: nobody would ever deliver them.
func (m *Manager) dropOrphans() {
	pending, err := m.o.Store.Pending()
	if err != nil {
		m.log.Error("notification outbox unreadable", "err", m.redactErr(err))
		return
	}
	for _, p := range pending {
		var e outboxEntry
		if err := json.Unmarshal(p.Raw, &e); err == nil && m.byName[e.Notifier] != nil {
			continue
		}
		name := e.Notifier
		if name == "" {
			name = "unknown"
		}
		if err := m.o.Store.Ack(p.Seq); err != nil {
			m.log.Error("notification outbox: dropping an entry", "err", m.redactErr(err))
			continue
		}
		m.results.WithLabelValues(name, resultDropped).Inc()
		m.log.Warn("notification dropped: its notifier is no longer configured", "notifier", name,
			"check", e.N.Check, "slo", e.N.SLO, "kind", string(e.N.Kind))
	}
}

// courier delivers one notifier's share of the outbox. Its maps are its
// own: only its goroutine touches them.
type courier struct {
	m    *Manager
	nt   Notifier
	name string
	wake <-chan struct{}
	// last is when a message last went to each channel, for the pacing.
	last map[string]time.Time
	// threads are the threads this courier's deliveries returned, by
	// alert ID: a reminder or resolve queued before its Firing was
	// delivered finds its thread here even when the alert is gone.
	threads map[string]*Thread
	// acked are delivered entries whose removal from the store failed: not
	// delivered again while the process lives.
	acked map[uint64]bool
}

func (c *courier) run(ctx context.Context) {
	for {
		pending, err := c.m.o.Store.Pending()
		if err != nil {
			c.m.log.Error("notification outbox unreadable", "notifier", c.name, "err", c.m.redactErr(err))
			if !c.m.sleep(ctx, storeRetry) {
				return
			}
			continue
		}
		delivered := 0
		for _, p := range pending {
			var e outboxEntry
			if err := json.Unmarshal(p.Raw, &e); err != nil {
				// Unreadable for every courier; Run's next start drops it.
				continue
			}
			if e.Notifier != c.name {
				continue
			}
			if c.acked[p.Seq] {
				c.ack(p.Seq)
				continue
			}
			if !c.deliver(ctx, p.Seq, &e) {
				return // ctx ended; the entry stays queued
			}
			delivered++
		}
		c.forgetAcked(pending)
		if delivered > 0 {
			continue // more may have been queued meanwhile
		}
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
	}
}

// deliver sends one entry until it is delivered or refused for good. It
// returns false when ctx ended first.
func (c *courier) deliver(ctx context.Context, seq uint64, e *outboxEntry) bool {
	log := c.m.log.With("notifier", c.name, "check", e.N.Check, "slo", e.N.SLO, "kind", string(e.N.Kind),
		"notification", e.N.ID)
	for attempt := 1; ; attempt++ {
		e.N.Thread = c.thread(e)
		channel := e.N.Channel
		if e.N.Thread != nil && e.N.Thread.Channel != "" {
			channel = e.N.Thread.Channel
		}
		if !c.m.sleep(ctx, c.m.o.RateLimit-c.m.clk.Now().Sub(c.last[channel])) {
			return false
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		thread, err := c.nt.Notify(actx, &e.N)
		cancel()
		c.paced(channel)
		if err == nil {
			c.m.results.WithLabelValues(c.name, resultSent).Inc()
			if thread != nil && thread.TS != "" {
				c.remember(e, thread)
			}
			// Logged before the ack: once the outbox is empty, the log says so.
			log.Info("notification delivered", "attempts", attempt)
			c.ack(seq)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		after, retry := Retryable(err)
		if !retry {
			c.m.results.WithLabelValues(c.name, resultFailed).Inc()
			log.Error("notification refused; dropped", "attempts", attempt, "err", c.m.redactErr(err))
			c.ack(seq)
			return true
		}
		c.m.results.WithLabelValues(c.name, resultRetried).Inc()
		wait := after
		if wait <= 0 {
			wait = c.m.o.Backoff(attempt)
		}
		log.Warn("notification not delivered; retrying", "attempt", attempt, "in", wait.String(), "err", c.m.redactErr(err))
		if !c.m.sleep(ctx, wait) {
			return false
		}
	}
}

// thread is where a reminder or resolve answers: the thread queued with it,
// else the one this courier's delivery of the Firing returned, else the
// one stored in the alert's state (delivered before a restart).
func (c *courier) thread(e *outboxEntry) *Thread {
	if e.N.Kind == Firing {
		return nil
	}
	if e.N.Thread != nil {
		return e.N.Thread
	}
	if t := c.threads[e.N.AlertID]; t != nil {
		return t
	}
	c.m.mu.Lock()
	defer c.m.mu.Unlock()
	if st := c.m.states[e.Key]; st != nil && st.AlertID == e.N.AlertID {
		return st.Threads[c.name]
	}
	return nil
}

// remember keeps the thread a delivery returned, unless the alert has one
// already: the first message stays the thread. It is stored in the alert's
// state so that notifications delivered after a restart find it.
func (c *courier) remember(e *outboxEntry, t *Thread) {
	if c.threads[e.N.AlertID] != nil {
		return
	}
	if len(c.threads) >= maxRemembered {
		clear(c.threads) // the state keeps the current alerts' threads
	}
	c.threads[e.N.AlertID] = t
	c.m.saveThread(e.Key, e.N.AlertID, c.name, t)
}

func (m *Manager) saveThread(key, alertID, notifier string, t *Thread) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.states[key]
	if st == nil || st.AlertID != alertID || st.Threads[notifier] != nil {
		return
	}
	next := st.clone()
	if next.Threads == nil {
		next.Threads = map[string]*Thread{}
	}
	next.Threads[notifier] = t
	if err := m.o.Store.Put(store.Alerts, key, next); err != nil {
		// Kept in memory: only a restart before the resolve loses it, and
		// then the resolve is posted as a new message.
		m.log.Error("alert thread not stored", "alert", key, "err", m.redactErr(err))
	}
	m.states[key] = next
}

// paced records a message to channel now, keeping the map bounded.
func (c *courier) paced(channel string) {
	now := c.m.clk.Now()
	if len(c.last) >= maxRemembered {
		for ch, t := range c.last {
			if now.Sub(t) >= c.m.o.RateLimit {
				delete(c.last, ch)
			}
		}
	}
	c.last[channel] = now
}

func (c *courier) ack(seq uint64) {
	if err := c.m.o.Store.Ack(seq); err != nil {
		c.m.log.Error("delivered notification not removed from the outbox; will retry the removal",
			"notifier", c.name, "err", c.m.redactErr(err))
		c.acked[seq] = true
		return
	}
	delete(c.acked, seq)
}

// forgetAcked drops the acked marks of entries no longer pending.
func (c *courier) forgetAcked(pending []store.OutboxEntry) {
	if len(c.acked) == 0 {
		return
	}
	still := make(map[uint64]bool, len(c.acked))
	for _, p := range pending {
		if c.acked[p.Seq] {
			still[p.Seq] = true
		}
	}
	c.acked = still
}

// sleep waits d on the manager's clock, or until ctx ends; it reports
// whether ctx is still live.
func (m *Manager) sleep(ctx context.Context, d time.Duration) bool {
	return clock.Sleep(ctx, m.clk, d) == nil
}
