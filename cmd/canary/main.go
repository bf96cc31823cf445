// Command canary is a canary load-tester and synthetic monitor: one-off load
// tests (`canary run`), a continuous monitor (`canary daemon`) and a
// deployment gate (`canary gate`). See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/canaryproj/canary/cmd/canary/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
