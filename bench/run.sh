#!/usr/bin/env bash
# Issues 9 and 17's end-to-end benchmark in one command:
#   bash bench/run.sh [--out FILE.json] [--repeats N] [--ks-repeats N]
#                     [--workers 1,2] [--shards 1,2] [--sensors N --minutes M]
#                     [--workload sensor,mobility]
#                     [--skip kstreams,flink,duckdb,chdb,micro]
# Builds Vigie (Release, build-bench/), starts a real single-node Kafka broker
# (tests/kafka/broker.py, stopped at the end even on failure), fills an
# 8-partition topic per workload from one file of vigie-gen's traffic (fixed
# seed): sensor (the default; air-quality readings, >= 20 M events over ~10 k
# series, --sensors 12150 for 5 M) and mobility (the counters' passages,
# distinct device counts on, about as many events for the same --sensors).
# Then measures side by side raw consume, vigied --drain, DuckDB and
# ClickHouse in process (chdb) over the file, load included, and, on the
# sensor workload only, Kafka Streams (bench/kstreams, exactly_once_v2) and
# Apache Flink (bench/flink, EXACTLY_ONCE checkpoints and sink), runs the
# micro-benchmarks, prints a table per workload (CPU-s per million events for
# every system) and writes bench/results/<UTC date>.json (+ .txt) unless
# --out says otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIE_BENCH_BUILD:-$root/build-bench}
py=${VIGIE_PYTHON:-$HOME/.cache/vigie/venv/bin/python}
for tool in cmake ninja java mvn kcat awk; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$py" ] || { echo "bench/run.sh: no Python venv at $py (tools/bootstrap.sh)" >&2; exit 1; }
# the benchmark's own packages (chdb, ~1 GB; not the tests'), once
"$py" -c 'import chdb' 2>/dev/null || "$py" -m pip install -q -r "$root/bench/requirements.txt"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" vigied vigie-gen vigie-rawconsume vigie-bench-codec vigie-bench-agg \
  vigie-bench-dedupe \
  vigie-bench-store vigie-bench-vigieq-sql vigie-bench-vigieq vigie-bench-rollpub vigieq \
  >/dev/null
exec "$py" "$root/bench/bench.py" --build "$build" "$@"
