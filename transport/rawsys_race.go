//go:build linux && race

package transport

import "syscall"

// sysRead is syscall.Read under the race detector: it tells the detector
// that the read orders memory after the peer's write, as net.Conn does (a
// test's handler and its client share variables through the connection).
func sysRead(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Read(int(fd), b)
	return max(n, 0), errno(err)
}

// sysWrite is syscall.Write, as sysRead.
func sysWrite(fd uintptr, b []byte) (int, syscall.Errno) {
	n, err := syscall.Write(int(fd), b)
	return max(n, 0), errno(err)
}

func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return syscall.EIO
}
