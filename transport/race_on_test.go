//go:build race

package transport

// raceDetector: the race detector is on. It makes sync.Pool drop a
// quarter of what is put in it, so memory figures differ.
const raceDetector = true
