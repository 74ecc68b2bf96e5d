#!/usr/bin/env bash
# `make bench`: the in-process issuance benchmark (tests/bench/bench.c), the
# gateway and latency benchmark against cfssl (tests/bench/gateway.sh), then
# the bulk issuance benchmark (tests/bench/bulk.sh).
# BENCH_N overrides the number of certificates per issuance case (default 20000);
# BENCH_BULK_N the number of bulk requests (default 50000).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/release/bench
# Each runs whatever the others say; the exit status is non-zero if any failed.
rc=0
build/release/bench "${BENCH_N:-20000}" || rc=1
tests/bench/gateway.sh || rc=1
tests/bench/bulk.sh || rc=1
exit "$rc"
