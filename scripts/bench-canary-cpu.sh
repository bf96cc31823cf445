#!/usr/bin/env bash
# bench-canary-cpu.sh — CPU time and system calls per request, canary beside
# fortio and wrk, in alternated rounds: figures that hold on a busy machine
# better than requests per second do (docs/PERFORMANCE.md).
#
#   ../shared/bench/peers.sh targets &          # nginx on :18080, TLS on :18443
#   scripts/bench-canary-cpu.sh https://127.0.0.1:18443/ 3
#   RATE=5000 scripts/bench-canary-cpu.sh http://127.0.0.1:18080/ 3
#   BEFORE=/tmp/canary-old scripts/bench-canary-cpu.sh …   # another build beside bin/canary
#
# Closed model with 50 connections for 3 s, or RATE requests/s for 5 s
# (fortio then sends at that rate too; wrk has no open model and is left
# out). canary gets the https target's certificate from CA_FILE (default:
# the one peers.sh made); the peers skip verification. Needs perf with the
# syscalls tracepoints; the CPU figure is perf's task-clock.
set -euo pipefail
url=${1:?url} rounds=${2:-3}
here=$(cd "$(dirname "$0")/.." && pwd)
ca=${CA_FILE:-/tmp/peers-bench/tls/cert.pem}
rate=${RATE:-0}
work=$(mktemp -d /tmp/bench-canary-cpu.XXXXXX)
trap 'rm -rf "$work"' EXIT
ev=task-clock,context-switches,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_futex

# A scenario file rather than flags, so that an older build (BEFORE) runs
# the same thing.
tls=""
case $url in https://*) tls="tls: {ca_file: $ca}" ;; esac
cat >"$work/s.yaml" <<EOF
name: bench
defaults: {$tls}
steps:
  - {name: request, request: {url: "$url"}, expect: {status: 200}}
EOF
if [ "$rate" = 0 ]; then load=(--vus 50 --duration 3s); else load=(--rate "$rate/s" --max-rate "$rate" --duration 5s); fi

report() { # name requests perf-output
	awk -F, -v n="$1" -v r="$2" '
		$3=="task-clock"{t=$1} $3=="context-switches"{cs=$1}
		$3~/read$/{rd=$1} $3~/write$/{wr=$1} $3~/epoll_pwait$/{ep=$1} $3~/futex$/{fx=$1}
		END{printf "%-8s requests %7d  CPU us/req %6.2f  read %.2f  write %.2f  epoll_pwait %.3f  futex %.3f  cs %.3f\n", n, r, t*1000/r, rd/r, wr/r, ep/r, fx/r, cs/r}' "$3"
}
canary() { # name binary
	perf stat -x, -o "$work/perf" -e "$ev" -- "$2" run "$work/s.yaml" "${load[@]}" --quiet --out "$work/c.json" >/dev/null 2>&1 || true
	report "$1" "$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['iterations']['total'])" "$work/c.json")" "$work/perf"
}
tools=(canary fortio)
[ -n "${BEFORE:-}" ] && tools=(before "${tools[@]}")
[ "$rate" = 0 ] && tools+=(wrk)
for _ in $(seq "$rounds"); do
	for tool in "${tools[@]}"; do
		case $tool in
		canary) canary canary "$here/bin/canary" ;;
		before) canary before "$BEFORE" ;;
		fortio)
			qps=$rate; [ "$rate" = 0 ] && qps=0
			dur=3s; [ "$rate" = 0 ] || dur=5s
			perf stat -x, -o "$work/perf" -e "$ev" -- fortio load -k -qps "$qps" -c 50 -t "$dur" -loglevel Warning "$url" >"$work/f.txt" 2>&1 || true
			report fortio "$(awk '/^All done/{print $3 + $6}' "$work/f.txt")" "$work/perf" ;; # the calls and the warm-up ones
		wrk)
			perf stat -x, -o "$work/perf" -e "$ev" -- wrk -t2 -c50 -d3s "$url" >"$work/w.txt" 2>&1 || true
			report wrk "$(awk '/requests in/{print $1}' "$work/w.txt")" "$work/perf" ;;
		esac
	done
	echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
done
