package cli

import (
	"fmt"
	"runtime"
)

// startProcs is the Go runtime's own choice of processors, taken before
// any command changes it: the CPUs this process may use (the machine's,
// or its cgroup's limit), or $GOMAXPROCS when that is set.
var startProcs = runtime.GOMAXPROCS(0)

// maxCPUs bounds --cpus (the Go runtime's own limit).
const maxCPUs = 1024

// runCPUs is how many CPUs `canary run` uses: --cpus when given (0 = every
// CPU available), else $GOMAXPROCS when set, else half of the available
// CPUs, at least one.
//
// Half by default because canary often runs beside the system it tests (a
// CI runner, a pod next to staging), and because an HTTP/1.1 generator
// spends most of its time in system calls: each Go processor beyond what
// the load needs costs wake-ups between threads rather than adding
// throughput (docs/PERFORMANCE.md measures both).
func runCPUs(flag int, flagSet, envSet bool, avail int) (int, error) {
	switch {
	case flagSet && (flag < 0 || flag > maxCPUs):
		return 0, fmt.Errorf("--cpus %d: want 1..%d, or 0 for every CPU", flag, maxCPUs)
	case flagSet && flag == 0:
		return avail, nil
	case flagSet:
		return flag, nil
	case envSet:
		return avail, nil
	}
	return max(1, avail/2), nil
}

// setCPUs applies n as GOMAXPROCS and returns the function that restores
// the previous value.
func setCPUs(n int) (restore func()) {
	prev := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(prev) }
}
