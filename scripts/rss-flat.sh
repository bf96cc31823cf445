#!/usr/bin/env bash
# rss-flat.sh — memory must not grow with run length (issue 3): run canary
# at a constant rate against a loopback target and print its resident set
# once a minute (the run lasts 30 s longer than MINUTES, so the last sample
# is taken while it still runs). Minute 1 and minute 10 should agree within
# 10 %.
#
#   ../shared/bench/peers.sh targets &     # nginx on 127.0.0.1:18080
#   scripts/rss-flat.sh                     # 10 minutes at 2000/s
#   RATE=5000 MINUTES=3 URL=http://127.0.0.1:18080/ scripts/rss-flat.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
RATE=${RATE:-2000}
MINUTES=${MINUTES:-10}
URL=${URL:-http://127.0.0.1:18080/}
case $URL in http://127.0.0.1:* | http://localhost:*) ;; *) echo "URL must be on loopback" >&2; exit 2 ;; esac

"$here/bin/canary" run "$URL" --rate "$RATE/s" --max-rate "$RATE" --duration "$((MINUTES * 60 + 30))s" \
	--quiet --out /tmp/rss-flat-report.json >/tmp/rss-flat-summary.txt 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
echo "minute rss_kib"
for m in $(seq 1 "$MINUTES"); do
	sleep 60
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo -)
	echo "$m $rss"
done
wait $pid || true
trap - EXIT
grep -E 'iterations|verdict' /tmp/rss-flat-summary.txt || true
