#!/usr/bin/env bash
# Issue 19's load benchmark of the open-data HTTP API in one command:
#   bash bench/api.sh [--reuse] [--duration S] [--conns 1,64] [--queries a,b]
#                     [--variants cached,cold] [--label baseline|after]
#                     [--series N --hours H] [--workdir /tmp/apibench] [--out FILE.json]
# Builds Vigie (Release, build-bench/), installs wrk if missing (Debian's
# package), fills a store of series x hours hourly rows (1 M by default) from
# a real single-node Kafka broker (tests/kafka/broker.py) with vigied --drain,
# kept in the work folder (--reuse skips that when its parameters match), then
# serves it with vigied and loads each query with wrk at 1 and 64 connections,
# cached (one URL) and cold (every request distinct), with vigied's CPU per
# request (bench/api.py). Writes bench/results/<UTC date>-i19-api-<label>.json
# (+ .txt).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${VIGIE_BENCH_BUILD:-$root/build-bench}
py=${VIGIE_PYTHON:-$HOME/.cache/vigie/venv/bin/python}
if ! command -v wrk >/dev/null; then
  echo "bench/api.sh: installing wrk (Debian package)" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q --no-install-recommends wrk >/dev/null 2>&1 ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -q --no-install-recommends wrk >/dev/null; }
fi
for tool in cmake ninja java kcat awk curl wrk; do
  command -v "$tool" >/dev/null || { echo "bench/api.sh: $tool is missing" >&2; exit 1; }
done
[ -x "$py" ] || { echo "bench/api.sh: no Python venv at $py (tools/bootstrap.sh)" >&2; exit 1; }
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build" vigied vigie-gen vigieq >/dev/null
exec "$py" "$root/bench/api.py" --build "$build" "$@"
