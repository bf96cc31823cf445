//go:build linux

package loadgen

import (
	"os"
	"syscall"
	"time"
	"unsafe"
)

// preciseTimer is a Linux timerfd read through the Go netpoller. A
// goroutine sleeping on it wakes when the kernel's high-resolution timer
// expires. A Go timer shorter than a millisecond wakes a process that is
// otherwise idle up to a millisecond late (the runtime's epoll_pwait takes
// a timeout in whole milliseconds); at 5,000 iterations a second every
// iteration waits less than that, so the generator's own lag was most of
// a fast target's corrected latency (docs/PERFORMANCE.md).
type preciseTimer struct {
	f      *os.File
	rc     syscall.RawConn
	its    itimerspec
	armed  bool
	err    syscall.Errno
	readFn func(uintptr) bool
}

// Linux's struct itimerspec: the interval (zero: one expiry) and the first
// expiry, relative to now.
type itimerspec struct {
	interval, value syscall.Timespec
}

const (
	clockMonotonic = 1
	tfdNonblock    = syscall.O_NONBLOCK
	tfdCloexec     = syscall.O_CLOEXEC
)

// newPreciseTimer returns a timer, or nil where the system offers none.
func newPreciseTimer() *preciseTimer {
	fd, _, e := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if e != 0 {
		return nil
	}
	// A non-blocking descriptor: os.NewFile puts it in the netpoller.
	f := os.NewFile(fd, "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil
	}
	t := &preciseTimer{f: f, rc: rc}
	t.readFn = t.read
	return t
}

// sleep waits about d: not less, unless the wake-up came early for a
// reason of the netpoller's own, which the caller's check of the time
// covers. It returns an error when interrupt was called (before or during
// the wait).
func (t *preciseTimer) sleep(d time.Duration) error {
	t.its.value = syscall.NsecToTimespec(int64(d))
	t.armed, t.err = false, 0
	if err := t.rc.Read(t.readFn); err != nil {
		return err
	}
	if t.err != 0 {
		return os.NewSyscallError("timerfd", t.err)
	}
	return nil
}

// read arms the timer on its first call and returns false, which makes
// RawConn wait in the netpoller until the expiry makes the descriptor
// readable; the second call, after that wake-up, ends the wait. Arming
// here, after RawConn has reset the descriptor's readiness, is what makes
// this safe: an expiry before the wait begins is still seen by it. The
// expiry count is never read: arming resets it, and the caller checks the
// time after waking. The call is raw: it cannot block, and telling the
// scheduler about it brought sysmon in, as with the transport's sockets.
func (t *preciseTimer) read(fd uintptr) bool {
	if t.armed {
		return true
	}
	t.armed = true
	_, _, e := syscall.RawSyscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.its)), 0, 0, 0)
	if e != 0 {
		t.err = e
		return true
	}
	return false
}

// interrupt ends the current sleep and every later one.
func (t *preciseTimer) interrupt() { _ = t.f.SetReadDeadline(time.Unix(1, 0)) }

func (t *preciseTimer) close() { _ = t.f.Close() }
