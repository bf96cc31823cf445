package daemon

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ListenError is the daemon failing to listen on its API address when it
// starts. An address in use is a problem of the machine, not of the
// config, and the message says so and how to move canary elsewhere.
type ListenError struct {
	Addr string
	Err  error
	// Holder names the process listening there ("pid 812 (prometheus)"),
	// when the system can tell.
	Holder string
}

func (e *ListenError) Error() string {
	if !e.InUse() {
		return fmt.Sprintf("cannot listen on %s: %v (server.listen in the config, or --listen ADDR, sets the address)", e.Addr, e.Err)
	}
	by := "another process"
	if e.Holder != "" {
		by = e.Holder
	}
	return fmt.Sprintf("cannot listen on %s: the address is already in use by %s. This is not a problem with the config: "+
		"stop that process, or give canary another address with --listen ADDR (or server.listen in the config)", e.Addr, by)
}

func (e *ListenError) Unwrap() error { return e.Err }

// InUse reports whether the address was taken.
func (e *ListenError) InUse() bool { return errors.Is(e.Err, syscall.EADDRINUSE) }

// listen opens the API's listener, explaining a failure.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	le := &ListenError{Addr: addr, Err: err}
	if le.InUse() {
		le.Holder = listenerHolder(addr)
	}
	return nil, le
}
