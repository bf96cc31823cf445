package listenaddr

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Bounds of the look for a listener's process: it runs once, when the
// daemon cannot start, and must stay cheap on a host with many processes.
const (
	maxProcs = 4096
	maxFDs   = 65536
)

// holder names the process listening on addr's TCP port, from
// /proc: the listening socket's inode in /proc/net/tcp{,6}, then the
// process holding a descriptor to it. "" when it cannot tell (a process
// of another user, whose descriptors are not readable, or no /proc).
func holder(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil || port == 0 {
		return ""
	}
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		listeningInodes(f, uint16(port), inodes)
	}
	if len(inodes) == 0 {
		return ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	fds := 0
	for i, dir := range procs {
		if i >= maxProcs || fds >= maxFDs {
			break
		}
		entries, err := os.ReadDir(filepath.Join(dir, "fd"))
		if err != nil {
			continue // another user's process, or gone
		}
		for _, e := range entries {
			fds++
			link, err := os.Readlink(filepath.Join(dir, "fd", e.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			if inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
				pid := filepath.Base(dir)
				comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
				if name := strings.TrimSpace(string(comm)); name != "" {
					return fmt.Sprintf("pid %s (%s)", pid, name)
				}
				return "pid " + pid
			}
		}
	}
	return ""
}

// listeningInodes adds the inodes of the sockets listening on port that
// a /proc/net/tcp-format file lists.
func listeningInodes(file string, port uint16, into map[string]bool) {
	f, err := os.Open(file)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	want := fmt.Sprintf(":%04X", port)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		fields := strings.Fields(sc.Text())
		if len(fields) < 10 || fields[3] != "0A" || !strings.HasSuffix(fields[1], want) {
			continue
		}
		into[fields[9]] = true
	}
}
