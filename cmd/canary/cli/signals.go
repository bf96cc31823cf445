package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Signal is the cause of a context that NotifyContext cancelled: the
// signal received.
type Signal struct{ os.Signal }

func (s Signal) Error() string { return fmt.Sprintf("interrupted (%v)", s.Signal) }

// exitCode is what a shell reports for a process the signal ended:
// 128 + its number (130 for SIGINT, 143 for SIGTERM).
func (s Signal) exitCode() int {
	if n, ok := s.Signal.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return ExitInternal
}

// NotifyContext returns a context that the first SIGINT or SIGTERM
// cancels, with a Signal as its cause. Once it has, the signals are
// handled as by default again: a second one ends the process at once,
// whatever it is doing. stop releases the handler.
func NotifyContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case s := <-sigs:
			signal.Stop(sigs)
			cancel(Signal{s})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel(context.Canceled)
		<-done
	}
}

// interrupted is the error of a command that stops reading its files
// because ctx ended: a signal's exits 128 + its number.
func interrupted(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	return asInterrupt(context.Cause(ctx))
}

// asInterrupt turns a Signal in err (the cause a loader returned) into
// its exit code; other errors are returned as they are.
func asInterrupt(err error) error {
	var s Signal
	if errors.As(err, &s) {
		return &exitError{code: s.exitCode(), err: s}
	}
	if errors.Is(err, context.Canceled) {
		return &exitError{code: ExitInternal, err: errors.New("interrupted")}
	}
	return err
}
