package report

import (
	"testing"

	"go.uber.org/goleak"
)

// The degrading run starts an HTTP target and requests; the Chromium test
// a browser and its reader: none may outlive its test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
