package membound

import "testing"

// BenchmarkCheck is the cost Check adds to every fuzz input.
func BenchmarkCheck(b *testing.B) {
	for b.Loop() {
		Check(b, MiB, func() {})
	}
}
