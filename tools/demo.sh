#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run Vigie's
# quick start on the embedded broker (librdkafka's in-process mock cluster).
#
# Today the quick start is the ingest layer on its own: 100,000 JSON air-quality
# readings are produced into a 4-partition topic of the embedded broker and
# read back through the engine's Kafka wrapper, which checks that every
# message arrived once (count and digest). It grows into vigied + vigie-gen +
# live rollups as those land (issues 6 and 9).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash tools/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C build >/dev/null
exec build/bench/vigie-rawconsume --embedded --messages "${VIGIE_DEMO_MESSAGES:-100000}"
