// Package listenaddr opens a server's listening socket and, when that
// fails, explains it: an address already in use is a problem of the
// machine, not of the config, and the message names the process holding
// it when /proc can tell, and how to move elsewhere.
package listenaddr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Error is a failure to listen on Addr.
type Error struct {
	Addr string
	Err  error
	// Holder names the process listening there ("pid 812 (prometheus)"),
	// when the system can tell.
	Holder string
	// InUseHint follows the message when the address is taken ("stop that
	// process, or …"); Hint follows any other failure ("--listen ADDR sets
	// the address").
	InUseHint, Hint string
}

func (e *Error) Error() string {
	if !e.InUse() {
		return fmt.Sprintf("cannot listen on %s: %v (%s)", e.Addr, e.Err, e.Hint)
	}
	by := "another process"
	if e.Holder != "" {
		by = e.Holder
	}
	return fmt.Sprintf("cannot listen on %s: the address is already in use by %s. %s", e.Addr, by, e.InUseHint)
}

func (e *Error) Unwrap() error { return e.Err }

// InUse reports whether the address was taken.
func (e *Error) InUse() bool { return errors.Is(e.Err, syscall.EADDRINUSE) }

// Listen opens a TCP listener on addr; its error is an *Error carrying the
// hints.
func Listen(ctx context.Context, addr, inUseHint, hint string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err == nil {
		return ln, nil
	}
	e := &Error{Addr: addr, Err: err, InUseHint: inUseHint, Hint: hint}
	if e.InUse() {
		e.Holder = holder(addr)
	}
	return nil, e
}
