package cli

import (
	"testing"

	"go.uber.org/goleak"
)

// Commands start servers, engines and flushes: none may outlive the test
// that ran them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
