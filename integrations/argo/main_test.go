package argo

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	log "github.com/sirupsen/logrus"
	"go.uber.org/goleak"
)

// root is the repository's root, seen from this module's directory.
const root = "../.."

// canaryBin is the canary binary built from the repository for this run.
var canaryBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "canary-argo-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	canaryBin = filepath.Join(dir, "canary")
	cmd := exec.Command("go", "build", "-o", canaryBin, "./cmd/canary")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v: %s\n", err, out)
		return 1
	}
	// Argo logs every reconciliation at info level through logrus' global
	// logger; its warnings are enough to read a failure.
	log.SetLevel(log.WarnLevel)

	code := m.Run()
	if code != 0 {
		return code
	}
	// The web provider's clients share http.DefaultTransport.
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if err := goleak.Find(
		// klog starts its flush daemon when Kubernetes' packages load.
		goleak.IgnoreTopFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
		// The Prometheus provider keeps a package-level transport whose
		// pooled connections cannot be closed from outside.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	); err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		return 1
	}
	return 0
}
