#!/usr/bin/env bash
# Builds and runs the in-process issuance benchmark (see tests/bench/bench.c).
# BENCH_N overrides the number of certificates per case (default 20000).
set -euo pipefail
cd "$(dirname "$0")/../.."
make -s build/release/bench
exec build/release/bench "${BENCH_N:-20000}"
