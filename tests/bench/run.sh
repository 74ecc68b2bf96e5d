#!/usr/bin/env bash
# `make bench`: the in-process issuance benchmark (tests/bench/bench.c), then
# the gateway and latency benchmark against cfssl (tests/bench/gateway.sh).
# BENCH_N overrides the number of certificates per issuance case (default 20000).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/release/bench
build/release/bench "${BENCH_N:-20000}"
tests/bench/gateway.sh
