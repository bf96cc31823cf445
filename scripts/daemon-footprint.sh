#!/usr/bin/env bash
# daemon-footprint.sh — what a daemon costs beside the services it watches
# (issue 20): 20 checks of 2 steps at 2 iterations/s each, against the demo
# target on loopback, with windows kept for 30 days. It samples the
# daemon's resident set and CPU time every 30 s and judges them against
# the targets: under 60 MB (60,000,000 bytes) RSS at minute 15, flat
# within ±10 % of minute 5's from minute 5 to the end, and under 2 % of
# one core from minute 5 to the end (process CPU seconds from
# /proc/PID/stat over the span, divided by the span). The demo target is a
# process of its own, so the daemon's CPU is its own.
#
#   scripts/daemon-footprint.sh                  # 30 minutes
#   MINUTES=6 scripts/daemon-footprint.sh        # a shorter look (judged over what ran)
#   KEEP=1 scripts/daemon-footprint.sh           # keep the config, logs and /metrics in the work directory
#
# Every check keeps 30 days of windows: the status page's longest uptime
# is 30 days (a check keeps the longest of that, its window and the
# burn-rate windows), and the policy's burn-rate rule of long: 30d with
# slo_period: 30d asks as much. Thirty real minutes fill only their first
# half hour; the steady state of a month is measured in-process on a fake
# clock by BenchmarkDaemonFootprint30Days (daemon package;
# docs/PERFORMANCE.md).
#
# An open browser is part of the load: the overview page and
# GET /api/v1/checks are fetched every 15 s (PAGE_EVERY; 0: never), as the
# page refreshes itself.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
MINUTES=${MINUTES:-30}
CHECKS=${CHECKS:-20}
EVERY=${EVERY:-30} # seconds between samples
PAGE_EVERY=${PAGE_EVERY:-15}

(cd "$here" && go build -trimpath -o bin/canary ./cmd/canary)
bin=$here/bin/canary
work=$(mktemp -d /tmp/daemon-footprint.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "kept $work" >&2; fi
}
trap cleanup EXIT

# wait_addr FILE PATTERN: the host:port a process printed after PATTERN.
wait_addr() {
	for _ in $(seq 100); do
		a=$(sed -n "s|.*$2 http://\([0-9.]*:[0-9]*\).*|\1|p" "$1" | head -1)
		if [ -n "$a" ]; then echo "$a"; return; fi
		sleep 0.1
	done
	echo "no address in $1:" >&2; cat "$1" >&2; exit 1
}

"$bin" demo-target --listen 127.0.0.1:0 2>"$work/demo.log" &
pids+=($!)
demo=$(wait_addr "$work/demo.log" "listening on")

cat >"$work/scenario.yaml" <<EOF
name: browse
defaults: {timeout: 2s}
steps:
  - name: products
    request: {url: "http://$demo/products"}
    expect: {status: 200, json: {count: {gte: 1}}}
    capture: {sku: {json: products.0.id}}
  - name: product
    request: {url: "http://$demo/products/{{ .sku }}"}
    expect: {status: 200}
EOF
{
	cat <<EOF
server: {listen: 127.0.0.1:0}
state_dir: $work/state
allowed_hosts: [127.0.0.1]
max_rate: $((CHECKS * 2 + 10))
alerting:
  evaluate_every: 15s
  burn_rates:
    - {long: 1h, short: 5m, factor: 14.4, severity: page}
    - {long: 6h, short: 30m, factor: 6, severity: page}
    - {long: 30d, short: 3d, factor: 1, severity: ticket}
  slo_period: 30d
checks:
EOF
	for i in $(seq -w 1 "$CHECKS"); do
		cat <<EOF
  - name: browse-$i
    scenario: scenario.yaml
    profile: {rate: 2/s}
    slos:
      - {name: availability, success: 99.5%}
      - {name: product-p99, latency: {step: product, percentile: 99, below: 500ms}}
    window: 5m
    min_samples: 50
EOF
	done
} >"$work/canary.yaml"

"$bin" daemon --config "$work/canary.yaml" --log-level warn 2>"$work/daemon.log" &
pid=$!
pids+=("$pid")
api=$(wait_addr "$work/daemon.log" "canary daemon on")
start=$(date +%s.%N)
tck=$(getconf CLK_TCK)

if [ "$PAGE_EVERY" -gt 0 ]; then
	# The browser: bounded by the run (killed on exit with the rest).
	(
		for _ in $(seq $((MINUTES * 60 / PAGE_EVERY + 1))); do
			curl -fsS -o /dev/null "http://$api/" || true
			curl -fsS -o /dev/null "http://$api/api/v1/checks" || true
			sleep "$PAGE_EVERY"
		done
	) &
	pids+=($!)
fi

# sample: seconds since start, VmRSS and VmHWM (KiB), CPU seconds (user +
# system, fields 14 and 15 of /proc/PID/stat), the 1-minute load average,
# and RssFile (KiB: the binary's pages and the state file's mapping, the
# rest of VmRSS is anonymous memory, mostly the Go heap).
sample() {
	local t rss hwm cpu file
	t=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN{printf "%.0f", n-s}')
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
	file=$(awk '/^RssFile:/ {print $2}' "/proc/$pid/status")
	# The command name (field 2) has no spaces here: binary "canary".
	cpu=$(awk -v k="$tck" '{printf "%.2f", ($14 + $15) / k}' "/proc/$pid/stat")
	echo "$t $rss $hwm $cpu $(cut -d' ' -f1 /proc/loadavg) $file"
}

: >"$work/samples"
echo "daemon pid $pid on $api, demo target on $demo, $CHECKS checks × 2 steps at 2/s, $MINUTES min, the page every ${PAGE_EVERY}s" >&2
printf '%6s %6s %10s %10s %8s %7s %6s %9s\n' t_s minute rss_kib hwm_kib cpu_s cpu_% load1 file_kib
prev_t=0 prev_cpu=0
for _ in $(seq $((MINUTES * 60 / EVERY))); do
	sleep "$EVERY"
	kill -0 "$pid" 2>/dev/null || { echo "the daemon exited:" >&2; cat "$work/daemon.log" >&2; exit 1; }
	read -r t rss hwm cpu load file <<<"$(sample)"
	echo "$t $rss $hwm $cpu $load $file" >>"$work/samples"
	printf '%6s %6.1f %10s %10s %8s %7.2f %6s %9s\n' "$t" "$(echo "$t / 60" | bc -l)" "$rss" "$hwm" "$cpu" \
		"$(echo "($cpu - $prev_cpu) * 100 / ($t - $prev_t)" | bc -l)" "$load" "$file"
	prev_t=$t prev_cpu=$cpu
done

curl -fsS "http://$api/metrics" >"$work/metrics.txt"
# The Go heap as of now, and the GC target the daemon ran with.
awk '/^go_memstats_heap_alloc_bytes / {h = $2} /^go_memstats_next_gc_bytes / {n = $2} /^go_gc_gogc_percent / {g = $2}
	END {printf "heap %.1f MB, next collection at %.1f MB, GOGC %s\n", h / 1e6, n / 1e6, g}' "$work/metrics.txt"
# Every check ran at its rate: iterations of all checks against what 2/s
# over the run would give.
awk -v n="$CHECKS" -v t="$prev_t" '
	/^canary_iterations_total/ {it += $2; if ($1 !~ /result="success"/) bad += $2}
	END {printf "iterations %d (%.1f/s over %d checks, %.0f expected), not successful %d\n", it, it / t, n, 2 * n * t, bad}' "$work/metrics.txt"

# The verdict against the targets. The RSS limit is 60 MB in bytes; the
# flat span and the CPU span start at minute 5, or at the first sample of
# a run shorter than 6 minutes.
awk -v minutes="$MINUTES" '
	{t[NR] = $1; rss[NR] = $2; cpu[NR] = $4; load[NR] = $5; n = NR}
	END {
		if (n == 0) { print "no samples"; exit 1 }
		f = 1
		for (i = 1; i <= n; i++) if (t[i] <= 315) f = i
		if (t[n] < 360) f = 1
		for (i = 1; i <= n; i++) {
			if (t[i] <= 915) at15 = i
			if (i >= f) { lo = (lo == "" || rss[i] < lo) ? rss[i] : lo; hi = (rss[i] > hi) ? rss[i] : hi }
			l = (load[i] > l) ? load[i] : l
		}
		limit = 60000000 / 1024
		ok = 1
		if (t[n] >= 885) {
			v = rss[at15] < limit ? "met" : "MISSED"; if (v != "met") ok = 0
			printf "RSS at minute %.1f: %d KiB (%.1f MB) < 60 MB: %s\n", t[at15] / 60, rss[at15], rss[at15] * 1024 / 1e6, v
		} else {
			printf "RSS at minute %.1f (the run is shorter than 15 min): %d KiB (%.1f MB)\n", t[n] / 60, rss[n], rss[n] * 1024 / 1e6
		}
		dlo = (lo - rss[f]) * 100 / rss[f]; dhi = (hi - rss[f]) * 100 / rss[f]
		v = (dlo >= -10 && dhi <= 10) ? "met" : "MISSED"; if (v != "met") ok = 0
		printf "RSS from minute %.1f to %.1f: %d..%d KiB, %+.1f %% .. %+.1f %% of minute %.1f: %s\n", t[f] / 60, t[n] / 60, lo, hi, dlo, dhi, t[f] / 60, v
		c = (cpu[n] - cpu[f]) * 100 / (t[n] - t[f])
		v = c < 2 ? "met" : "MISSED"; if (v != "met") ok = 0
		printf "CPU from minute %.1f to %.1f: %.2f s over %d s, %.2f %% of one core < 2 %%: %s\n", t[f] / 60, t[n] / 60, cpu[n] - cpu[f], t[n] - t[f], c, v
		printf "highest 1-minute load average seen: %s\n", l
		exit ok ? 0 : 1
	}' "$work/samples"
