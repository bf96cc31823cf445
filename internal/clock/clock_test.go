package clock

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func received(c <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestFakeTimerFiresOnceAtItsDueTime(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(3 * time.Second)
	f.Advance(2 * time.Second)
	_, ok := received(tm.C())
	require.False(t, ok, "fired before it was due")
	f.Advance(5 * time.Second)
	v, ok := received(tm.C())
	require.True(t, ok, "did not fire")
	require.Equal(t, t0.Add(3*time.Second), v, "fired with the advance's end, not its due time")
	require.Equal(t, t0.Add(7*time.Second), f.Now())
	f.Advance(time.Hour)
	_, ok = received(tm.C())
	require.False(t, ok, "a timer fired twice")
}

func TestFakeTimerStopAndResetLeaveNoStaleValue(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(time.Second)
	f.Advance(time.Second) // fired, value not taken
	require.False(t, tm.Stop(), "Stop of a fired timer reports it was active")
	_, ok := received(tm.C())
	require.False(t, ok, "a value was left in the channel after Stop")

	require.False(t, tm.Reset(2*time.Second))
	require.True(t, tm.Stop())
	f.Advance(time.Minute)
	_, ok = received(tm.C())
	require.False(t, ok, "a stopped timer fired")

	tm.Reset(time.Second)
	f.Advance(time.Second)
	v, ok := received(tm.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(62*time.Second), v)
}

func TestFakeZeroTimerFiresAtOnce(t *testing.T) {
	f := NewFake(t0)
	tm := f.NewTimer(0)
	v, ok := received(tm.C())
	require.True(t, ok)
	require.Equal(t, t0, v)
}

func TestFakeTickerTicksInOrderAndDropsUnread(t *testing.T) {
	f := NewFake(t0)
	tk := f.NewTicker(time.Second)
	defer tk.Stop()
	var got []time.Time
	for range 3 {
		f.Advance(time.Second)
		v, ok := received(tk.C())
		require.True(t, ok)
		got = append(got, v)
	}
	require.Equal(t, []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(3 * time.Second)}, got)

	// Ten periods at once: the channel holds one tick, like time.Ticker's.
	f.Advance(10 * time.Second)
	v, ok := received(tk.C())
	require.True(t, ok)
	require.Equal(t, t0.Add(4*time.Second), v, "the first undelivered tick is the one kept")
	_, ok = received(tk.C())
	require.False(t, ok)

	tk.Reset(5 * time.Second)
	f.Advance(4 * time.Second)
	_, ok = received(tk.C())
	require.False(t, ok, "Reset did not change the period")
	f.Advance(time.Second)
	_, ok = received(tk.C())
	require.True(t, ok)
}

func TestFakeFiresWaitersInTimeOrder(t *testing.T) {
	f := NewFake(t0)
	late, early := f.NewTimer(2*time.Second), f.NewTimer(time.Second)
	tk := f.NewTicker(1500 * time.Millisecond)
	defer tk.Stop()
	f.Advance(3 * time.Second)
	e, _ := received(early.C())
	l, _ := received(late.C())
	k, _ := received(tk.C())
	require.Equal(t, t0.Add(time.Second), e)
	require.Equal(t, t0.Add(2*time.Second), l)
	require.Equal(t, t0.Add(1500*time.Millisecond), k)
}

func TestBlockUntilWaitsForTheCodeUnderTestToWait(t *testing.T) {
	f := NewFake(t0)
	done := make(chan error, 1)
	go func() { done <- Sleep(context.Background(), f, time.Minute) }()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, f.BlockUntil(ctx, 1))
	f.Advance(time.Minute)
	require.NoError(t, <-done)
	require.Zero(t, f.Waiters(), "a fired timer is still counted as armed")
}

func TestSleepEndsWithItsContext(t *testing.T) {
	f := NewFake(t0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Sleep(ctx, f, time.Hour) }()
	require.NoError(t, f.BlockUntil(context.Background(), 1))
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
}

func TestRealClockTicks(t *testing.T) {
	c := Real()
	tm := c.NewTimer(time.Millisecond)
	<-tm.C()
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	require.False(t, c.Now().IsZero())
	require.Equal(t, Real(), OrReal(nil))
}
