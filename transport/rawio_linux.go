package transport

import (
	"io"
	"net"
	"os"
	"syscall"
)

// rawIO is a TCP connection whose reads and writes are non-blocking system
// calls made without telling the Go scheduler (syscall.RawSyscall), waiting
// for readiness in the netpoller as net.Conn does, with its deadlines.
// Under the race detector the calls are syscall.Read and Write, which tell
// the detector that I/O orders memory between a client and a server in one
// process (rawsys_race.go).
//
// Why: a load generator's I/O is one small write and one small read per
// request, and on loopback the write returns only after the kernel has
// delivered the request to the target, often by running the target on the
// same CPU first. net.Conn tells the scheduler it is in a system call;
// when that lasts longer than a sysmon tick (20 µs) and no processor is
// idle (always, with GOMAXPROCS=1), sysmon hands the processor to another
// thread and keeps polling every 20 µs, so every slow write costs thread
// wake-ups. The calls here never block (the socket is non-blocking), so
// the processor stays with the thread that makes them. Measured in
// docs/PERFORMANCE.md.
type rawIO struct {
	net.Conn
	rc syscall.RawConn

	// The pending call's buffer and outcome; the method values are made
	// once so that a call allocates nothing. One reader and one writer at
	// a time, as the pool guarantees.
	rbuf, wbuf []byte
	rn, wn     int
	rerr, werr error
	readFn     func(uintptr) bool
	writeFn    func(uintptr) bool
}

// newRawIO wraps c; a connection that offers no raw access is returned as
// it is.
func newRawIO(c net.Conn) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawIO{Conn: c, rc: rc}
	r.readFn, r.writeFn = r.read, r.write
	return r
}

func (r *rawIO) Read(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.rbuf, r.rn, r.rerr = b, 0, nil
	err := r.rc.Read(r.readFn) // waits in the netpoller, with the read deadline
	r.rbuf = nil
	if err == nil {
		err = r.rerr
	}
	if err == nil && r.rn == 0 {
		err = io.EOF
	}
	return r.rn, r.opError("read", err)
}

// read makes one read; false asks RawConn to wait until the socket is
// readable and call again.
func (r *rawIO) read(fd uintptr) bool {
	for {
		n, e := sysRead(fd, r.rbuf)
		switch e {
		case 0:
			r.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rerr = os.NewSyscallError("read", e)
		return true
	}
}

func (r *rawIO) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.wbuf, r.wn, r.werr = b, 0, nil
	err := r.rc.Write(r.writeFn) // waits in the netpoller, with the write deadline
	r.wbuf = nil
	if err == nil {
		err = r.werr
	}
	return r.wn, r.opError("write", err)
}

// write writes until the buffer is gone; false asks RawConn to wait until
// the socket is writable and call again.
func (r *rawIO) write(fd uintptr) bool {
	for r.wn < len(r.wbuf) {
		rest := r.wbuf[r.wn:]
		n, e := sysWrite(fd, rest)
		switch e {
		case 0:
			r.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			r.werr = os.NewSyscallError("write", e)
			return true
		}
	}
	return true
}

// opError wraps err as net.Conn's own errors are, so that callers (and
// classify) see the same thing on either kind of connection.
func (r *rawIO) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	if oe, ok := err.(*net.OpError); ok { // RawConn's own: a deadline, a closed connection
		oe.Op = op
		return oe
	}
	return &net.OpError{Op: op, Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: err}
}

// SyscallConn is the connection's own, for the idle check (alive).
func (r *rawIO) SyscallConn() (syscall.RawConn, error) { return r.rc, nil }
