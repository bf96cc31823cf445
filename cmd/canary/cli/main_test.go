package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// Commands run in this process start servers, generators and demo targets:
// every goroutine they start must have ended when they return.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
