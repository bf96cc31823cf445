#!/usr/bin/env bash
# deps.sh — installs what canary's integration tests need, idempotently:
# Debian's prometheus (prometheus + promtool), prometheus-alertmanager (+ amtool)
# and chromium (headless page tests). Go modules come through `go mod download`.
# GOLDENS=1 also installs python3-scipy, which only scripts/compare-goldens.py
# needs (to regenerate compare/testdata/scipy-goldens.json; tests read the JSON).
# Safe to run again: it installs only what is missing.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v amtool >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ "${GOLDENS:-}" = 1 ] && ! /usr/bin/python3 -c 'import scipy' >/dev/null 2>&1; then
	need+=(python3-scipy)
fi

if [ ${#need[@]} -gt 0 ]; then
	# de-duplicate
	mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps: apt-get install ${need[*]}" >&2
	$sudo apt-get update -qq
	# The packages start services on install where systemd runs; we start our own
	# servers on loopback in tests, so keep the packaged ones from starting.
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
	$sudo rm -f /usr/sbin/policy-rc.d
fi
go mod download
