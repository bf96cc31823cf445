package run

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canaryproj/canary/internal/clock"
	"github.com/canaryproj/canary/profiles"
)

var epoch = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

// A run with a start time waits for it on its clock, sends nothing before,
// and starts exactly then.
func TestStartAtWaitsOnTheClock(t *testing.T) {
	c := &counter{seen: map[int]int{}}
	srv := httptest.NewServer(c)
	defer srv.Close()
	clk := clock.NewFake(epoch)
	at := epoch.Add(90 * time.Second)
	type result struct {
		out *Outcome
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := Run(context.Background(), Options{
			Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Iterations: 12, VUs: 3}), Clock: clk, StartAt: at,
		})
		done <- result{out, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, clk.BlockUntil(ctx, 1), "Run waits on its clock")
	clk.Advance(90*time.Second - time.Millisecond)
	assert.Zero(t, c.n.Load(), "nothing is sent before the start")
	select {
	case r := <-done:
		t.Fatalf("Run returned a millisecond before its start: %v", r.err)
	default:
	}
	clk.Advance(time.Millisecond)
	var r result
	select {
	case r = <-done:
	case <-ctx.Done():
		t.Fatal("Run did not start at its start time")
	}
	require.NoError(t, r.err)
	assert.Equal(t, int64(12), c.n.Load())
	assert.Equal(t, at, r.out.Report.Start, "the run starts exactly at its start time")
}

func TestStartAtMissedOrInterrupted(t *testing.T) {
	for _, tc := range []struct {
		name      string
		late      time.Duration // now - start time
		cancel    bool          // ctx ends during the wait
		wantRun   bool
		wantError string
	}{
		{name: "on time", late: 0, wantRun: true},
		{name: "late within the tolerance", late: StartTolerance, wantRun: true},
		{name: "missed", late: StartTolerance + time.Millisecond, wantError: "missed the start at 2026-12-07T10:00:00Z by 101ms (more than 100ms late): nothing was sent"},
		{name: "missed by minutes", late: 3*time.Minute + 12*time.Second, wantError: "missed the start at 2026-12-07T10:00:00Z by 3m12s (more than 100ms late): nothing was sent"},
		{name: "interrupted during the wait", late: -time.Hour, cancel: true, wantError: "interrupted while waiting for the start at 2026-12-07T10:00:00Z: nothing was sent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &counter{seen: map[int]int{}}
			srv := httptest.NewServer(c)
			defer srv.Close()
			clk := clock.NewFake(epoch.Add(tc.late))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				go func() {
					if clk.BlockUntil(ctx, 1) == nil {
						cancel()
					}
				}()
			}
			out, err := Run(ctx, Options{
				Scenario: load(t, srv.URL), Profile: flags(t, profiles.Flags{Iterations: 5, VUs: 1}), Clock: clk, StartAt: epoch,
			})
			if tc.wantRun {
				require.NoError(t, err)
				assert.Equal(t, int64(5), c.n.Load())
				assert.Equal(t, epoch.Add(tc.late), out.Report.Start, "a run within the tolerance starts at once")
				return
			}
			require.Error(t, err)
			assert.Nil(t, out)
			assert.EqualError(t, err, tc.wantError)
			var se *StartError
			require.True(t, errors.As(err, &se), "a *StartError")
			assert.Equal(t, tc.cancel, errors.Is(err, context.Canceled), "an interrupted wait wraps the context's error")
			assert.Zero(t, c.n.Load(), "nothing was sent")
		})
	}
}
