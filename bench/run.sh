#!/usr/bin/env bash
# Issue 9's end-to-end benchmark in one command:
#   bash bench/run.sh [--out FILE.json] [--repeats N] [--ks-repeats N]
#                     [--workers 1,2] [--sensors N --minutes M] [--skip kstreams,duckdb,micro]
# Builds Vigie (Release, build-bench/), starts a real single-node Kafka broker
# (tests/kafka/broker.py, stopped at the end even on failure), fills an
# 8-partition topic with vigie-gen's air-quality traffic (fixed seed,
# >= 20 M events over ~10 k series), then measures side by side raw consume,
# vigied --drain, Kafka Streams (bench/kstreams, exactly_once_v2) and DuckDB,
# runs the micro-benchmarks, prints a table and writes
# bench/results/<UTC date>.json (+ .txt) unless --out says otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIE_BENCH_BUILD:-$root/build-bench}
py=${VIGIE_PYTHON:-$HOME/.cache/vigie/venv/bin/python}
for tool in cmake ninja java mvn kcat awk; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$py" ] || { echo "bench/run.sh: no Python venv at $py (tools/bootstrap.sh)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" vigied vigie-gen vigie-rawconsume vigie-bench-codec vigie-bench-agg \
  vigie-bench-dedupe \
  vigie-bench-store vigie-bench-vigieq-sql vigie-bench-vigieq vigieq >/dev/null
exec "$py" "$root/bench/bench.py" --build "$build" "$@"
