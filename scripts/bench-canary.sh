#!/usr/bin/env bash
# bench-canary.sh — canary as the candidate of ../shared/bench/peers.sh.
# peers.sh substitutes {scenario} {url} {rate} {conns} {max_inflight}
# {duration}; this maps them to canary's flags (SPEC §1) and writes the
# report where bench-canary-parse.sh reads it.
#
#   CANDIDATE_NAME=canary \
#   CANDIDATE_CMD='scripts/bench-canary.sh {scenario} {url} {rate} {conns} {max_inflight} {duration}' \
#   CANDIDATE_PARSE='scripts/bench-canary-parse.sh' \
#   ../shared/bench/peers.sh run
set -euo pipefail
scenario=$1 url=$2 rate=$3 conns=$4 inflight=$5 duration=$6
here=$(cd "$(dirname "$0")/.." && pwd)
out=${CANARY_BENCH_OUT:-/tmp/canary-bench.json}
case $scenario in
max)   exec "$here/bin/canary" run "$url" --vus "$conns" --duration "$duration" --quiet --out "$out" ;;
rate)  exec "$here/bin/canary" run "$url" --rate "$rate/s" --max-rate "$rate" --max-inflight "$inflight" --duration "$duration" --quiet --out "$out" ;;
# The coordinated-omission demonstration: only {conns} (10) in flight.
stall) exec "$here/bin/canary" run "$url" --rate "$rate/s" --max-rate "$rate" --max-inflight "$conns" --duration "$duration" --quiet --out "$out" ;;
*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
