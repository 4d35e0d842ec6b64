#!/usr/bin/env bash
# Late readings against the same readings on time, in one command:
#   bash bench/late.sh [--stations N] [--days D] [--repeats N] [--out FILE.json] [--workdir DIR]
# Builds vigied (Release, build-bench/), starts a real single-node Kafka
# broker (tests/kafka/broker.py), replays test_late.py's case (b) on real
# Aarhus data (../shared/data) and prints readings/s and bytes written per
# reading of the late drain next to the on-time one; writes
# bench/results/late-<UTC date>.json (+ .txt) unless --out says otherwise.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIE_BENCH_BUILD:-$root/build-bench}
py=${VIGIE_PYTHON:-$HOME/.cache/vigie/venv/bin/python}
for tool in cmake ninja java mvn kcat; do
  command -v "$tool" >/dev/null || { echo "bench/late.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$py" ] || { echo "bench/late.sh: no Python venv at $py (tools/bootstrap.sh)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" vigied >/dev/null
exec "$py" "$root/bench/late.py" --build "$build" "$@"
