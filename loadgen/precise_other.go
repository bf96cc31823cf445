//go:build !linux

package loadgen

import "time"

// preciseTimer exists on Linux only (a timerfd); elsewhere the open model
// sleeps on its clock's timers.
type preciseTimer struct{}

func newPreciseTimer() *preciseTimer { return nil }

func (*preciseTimer) sleep(time.Duration) error { return nil }
func (*preciseTimer) interrupt()                {}
func (*preciseTimer) close()                    {}
