#!/usr/bin/env bash
# `make bench`: the in-process issuance benchmark (tests/bench/bench.c), then
# the gateway and latency benchmark against cfssl (tests/bench/gateway.sh).
# BENCH_N overrides the number of certificates per issuance case (default 20000).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/release/bench
# Both run whatever the first says; the exit status is non-zero if either failed.
rc=0
build/release/bench "${BENCH_N:-20000}" || rc=1
tests/bench/gateway.sh || rc=1
exit "$rc"
