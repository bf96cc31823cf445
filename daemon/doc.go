// Package daemon is canary's long-running monitor (docs/daemon.md): it runs
// every configured check continuously or on its schedule, judges each over
// its window, exports Prometheus metrics, serves the verdict and gate API
// and the status page, runs on-demand load tests, pages through the alert
// manager, and reloads its configuration without losing the state of checks
// that did not change.
package daemon
