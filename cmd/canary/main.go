// Command canary is a canary load-tester and synthetic monitor: one-off load
// tests (`canary run`), a continuous monitor (`canary daemon`) and a
// deployment gate (`canary gate`). See README.md.
package main

import (
	"context"
	"os"

	"github.com/canaryproj/canary/cmd/canary/cli"
)

func main() {
	// The first SIGINT or SIGTERM cancels ctx (each command stops in its
	// own way, docs/run.md); a second one ends the process at once.
	ctx, stop := cli.NotifyContext(context.Background())
	code := cli.Run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
