#!/usr/bin/env bash
# Issue 18's benchmark of the scale-out roles in one command:
#   bash bench/roles.sh [--workload sensor,mobility] [--ingest 1,2,3]
#                       [--repeats N] [--sensors N --minutes M] [--out FILE.json]
# Builds Vigie (Release, build-bench/), starts a real single-node Kafka broker
# (tests/kafka/broker.py), fills an 8-partition topic per workload from
# vigie-gen's file (bench/bench.py's), and measures standalone vigied --drain
# (1 and 2 workers) against N ingest processes + 1 store process, phased and
# pipelined, with CPU-s per million events per role and the Kafka hop's cost
# (bench/roles.py). Writes bench/results/<UTC date>-i18-roles.json (+ .txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIE_BENCH_BUILD:-$root/build-bench}
py=${VIGIE_PYTHON:-$HOME/.cache/vigie/venv/bin/python}
for tool in cmake ninja java kcat awk; do
  command -v "$tool" >/dev/null || { echo "bench/roles.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$py" ] || { echo "bench/roles.sh: no Python venv at $py (tools/bootstrap.sh)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" vigied vigie-gen vigieq >/dev/null
exec "$py" "$root/bench/roles.py" --build "$build" "$@"
