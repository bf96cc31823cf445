#!/usr/bin/env bash
# bench-canary.sh — canary as the candidate of ../shared/bench/peers.sh.
# peers.sh substitutes {scenario} {url} {rate} {conns} {max_inflight}
# {duration} {ca_file}; this maps them to canary's flags (docs/run.md) and
# writes the report where bench-canary-parse.sh reads it.
#
#   CANDIDATE_NAME=canary \
#   CANDIDATE_CMD='scripts/bench-canary.sh {scenario} {url} {rate} {conns} {max_inflight} {duration} {ca_file}' \
#   CANDIDATE_PARSE='scripts/bench-canary-parse.sh' \
#   ../shared/bench/peers.sh run
set -euo pipefail
scenario=$1 url=$2 rate=$3 conns=$4 inflight=$5 duration=$6 ca_file=${7:-}
here=$(cd "$(dirname "$0")/.." && pwd)
out=${CANARY_BENCH_OUT:-/tmp/canary-bench.json}
case $scenario in
max)   exec "$here/bin/canary" run "$url" --vus "$conns" --duration "$duration" --quiet --out "$out" ;;
rate)  exec "$here/bin/canary" run "$url" --rate "$rate/s" --max-rate "$rate" --max-inflight "$inflight" --duration "$duration" --quiet --out "$out" ;;
# The coordinated-omission demonstration: only {conns} (10) in flight.
stall) exec "$here/bin/canary" run "$url" --rate "$rate/s" --max-rate "$rate" --max-inflight "$conns" --duration "$duration" --quiet --out "$out" ;;
# The closed model over TLS. canary verifies the target's certificate (the
# peers skip verification): the self-signed one is given as {ca_file}.
https)
	[ -n "$ca_file" ] || { echo "https: no {ca_file} given (the 7th argument)" >&2; exit 2; }
	exec "$here/bin/canary" run "$url" --vus "$conns" --duration "$duration" --ca-file "$ca_file" --quiet --out "$out" ;;
*) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac
