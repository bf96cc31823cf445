//go:build !race

package stats

// raceEnabled is whether the race detector is on: it makes the longest
// simulations ten times slower, so they simulate less.
const raceEnabled = false
