// Package logtest captures what a logger or a child process under test
// writes, for tests that look at its lines (or for secrets that must not
// be in them).
package logtest

import (
	"bytes"
	"strings"
	"sync"
)

// MaxBytes bounds a Buffer: past it, writes are dropped (the start is what
// explains a failure) and counted.
const MaxBytes = 1 << 20

// Buffer is a bytes.Buffer safe for concurrent writers, bounded by MaxBytes.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped int
}

// Write appends p, or drops it once the buffer holds MaxBytes.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len()+len(p) > MaxBytes {
		l.dropped += len(p)
		return len(p), nil
	}
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Dropped is how many bytes were dropped past MaxBytes.
func (l *Buffer) Dropped() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// Lines returns the lines written so far that contain substr, in order.
func (l *Buffer) Lines(substr string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}
