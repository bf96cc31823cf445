//go:build !race

package transport

// raceDetector: the race detector is off (race_on_test.go).
const raceDetector = false
