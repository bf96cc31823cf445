#!/usr/bin/env bash
# Prints "rps p50_ms p99_ms p999_ms max_ms" from canary's report (corrected
# latency: from when each request was due), for ../shared/bench/peers.sh.
python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
l = r["latency"]
print(r["rate"]["achieved"], l["p50"], l["p99"], l["p999"], l["max"])
' "${CANARY_BENCH_OUT:-/tmp/canary-bench.json}"
