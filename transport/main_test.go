package transport

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine the client starts — none of its own; net/http's
// connection loops — must be gone once the tests have closed their clients.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
