//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package transport

import (
	"errors"
	"net"
	"syscall"
)

// alive reports whether an idle keep-alive connection can carry a request:
// the server has not closed it (a pending EOF) and sent nothing unasked. It
// peeks without blocking, one system call.
func alive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var perr error
	// Control, not Read: Read would refuse to run once the last request's
	// deadline has passed, which says nothing about the connection.
	err = rc.Control(func(fd uintptr) {
		var b [1]byte
		// Without an error, the peek saw either the server's FIN (0 bytes)
		// or a response nobody asked for (1 byte): dead either way.
		_, _, perr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	})
	if err != nil || perr == nil {
		return false
	}
	// Nothing to read yet: open and quiet. Any other error (a reset) is a
	// dead connection.
	return errors.Is(perr, syscall.EAGAIN) || errors.Is(perr, syscall.EWOULDBLOCK)
}
