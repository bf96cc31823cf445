package loadgen

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPreciseTimerNeverEarly: a precise sleep lasts at least what it was
// asked, for waits from microseconds to milliseconds, on one descriptor
// reused as the pool reuses it.
func TestPreciseTimerNeverEarly(t *testing.T) {
	pt := newPreciseTimer()
	require.NotNil(t, pt, "timerfd_create")
	defer pt.close()
	for _, d := range []time.Duration{time.Microsecond, 50 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond} {
		for range 20 {
			start := time.Now()
			require.NoError(t, pt.sleep(d))
			require.GreaterOrEqual(t, time.Since(start), d, "sleep(%v) woke early", d)
		}
	}
}

// TestPreciseTimerInterrupt: interrupt ends a sleep in progress and makes
// every later one return at once, so a stopping run never waits for a due
// time.
func TestPreciseTimerInterrupt(t *testing.T) {
	pt := newPreciseTimer()
	require.NotNil(t, pt)
	defer pt.close()
	done := make(chan error, 1)
	go func() { done <- pt.sleep(time.Hour) }()
	pt.interrupt() // before or during the sleep: either way it ends
	require.Error(t, <-done, "an interrupted sleep reports it")
	start := time.Now()
	require.Error(t, pt.sleep(time.Hour), "a sleep after interrupt")
	require.Less(t, time.Since(start), time.Minute)
}
