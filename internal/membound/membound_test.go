package membound

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recorder is a testing.TB that keeps Fatalf's message instead of failing.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
}

var sink [][]byte

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		alloc    int
		budget   uint64
		wantFail string
	}{
		{name: "within budget", alloc: 1 * MiB, budget: 8 * MiB},
		{name: "over budget, under the kill line", alloc: 6 * MiB, budget: 4 * MiB, wantFail: "more than its budget of 4.0 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			Check(r, tc.budget, func() {
				sink = append(sink, make([]byte, tc.alloc))
			})
			sink = nil
			if tc.wantFail == "" {
				require.Empty(t, r.failed)
				return
			}
			require.Contains(t, r.failed, tc.wantFail)
		})
	}
}

// TestWatchStopsARunaway runs the watchdog in the test's goroutine (Check
// runs it in its own, where the panic ends the process) against a loop that
// allocates until the watchdog fires.
func TestWatchStopsARunaway(t *testing.T) {
	stop := make(chan struct{})
	done := make(chan struct{})
	start := allocated()
	go func() {
		defer close(done)
		var keep [][]byte
		for {
			select {
			case <-stop:
				return
			default:
				keep = append(keep, make([]byte, 64<<10))
				if len(keep) > 256 {
					keep = keep[:0]
				}
			}
		}
	}()
	msg := func() (msg string) {
		defer func() { msg = fmt.Sprint(recover()) }()
		watch(start, 32*MiB, stop)
		return ""
	}()
	close(stop)
	<-done
	require.True(t, strings.HasPrefix(msg, "membound: still running after allocating"), "panic: %q", msg)
}
