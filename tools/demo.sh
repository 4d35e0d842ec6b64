#!/usr/bin/env bash
# The README's first command: install what is missing, build, and watch Vigie
# work on the embedded broker (librdkafka's in-process mock cluster, no Kafka
# to install).
#
#   vigied   consumes the town's six topics (tools/vigie.example.yaml with
#            kafka.brokers: embedded) and commits rollups to a store;
#   vigie-gen simulates the town (air quality, energy meters, traffic and bike
#            counters, car parks, bike-share): first the history of the
#            $VIGIE_DEMO_HISTORY before 2026-03-28 (20d: enough days for the
#            air-quality indicators' daily exceedances), as fast as vigied
#            takes it on the embedded broker, then 3 days at 1 simulated hour
#            per second, with some late, duplicate and malformed messages;
#   a summary every 2 s: events/s, dead letters, windows final, the watermark,
#            and every 10 s the latest hourly NO2 values and the days with a
#            PM10 mean above 50 ug/m3 so far (vigieq).
#
# Ctrl-C stops everything cleanly (vigied commits its last epoch).
# VIGIE_DEMO_SECONDS=N stops by itself after N seconds; VIGIE_BUILD_DIR picks
# the build directory (default ./build). The configuration's indicators
# (the EU air-quality presets, bikes, electricity) are on the dashboard at
# /dashboard.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
bash tools/bootstrap.sh
build=${VIGIE_BUILD_DIR:-$here/build}
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
ninja -C "$build" vigied vigie-gen vigieq >/dev/null 2>&1 || ninja -C "$build" >/dev/null

work=${VIGIE_DEMO_DIR:-$(mktemp -d /tmp/vigie-demo.XXXXXX)}
port=${VIGIE_DEMO_PORT:-8080}
history=${VIGIE_DEMO_HISTORY:-20d}
# The embedded broker keeps at most 5 MB per partition, dropping the oldest:
# vigie-gen must not run further ahead of vigied, so the history goes at most
# this many messages/s (vigied takes about 90,000/s on 2 busy cores), lz4
# compressed (about 4 times as many messages in those 5 MB).
backfill_rate=${VIGIE_DEMO_BACKFILL_RATE:-80000}
mkdir -p "$work"
sed -e "s|^data_dir: .*|data_dir: $work/store|" \
    -e "s|brokers: 127.0.0.1:9092|brokers: embedded|" \
    -e "s|listen: 127.0.0.1:8080|listen: 127.0.0.1:$port|" \
    -e "s|^export_dir: .*|export_dir: $work/exports|" \
    tools/vigie.example.yaml >"$work/vigie.yaml"

vigied_pid="" gen_pid=""
cleanup() {
  trap - INT TERM EXIT
  [ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null || true
  if [ -n "$vigied_pid" ] && kill -0 "$vigied_pid" 2>/dev/null; then
    kill -TERM "$vigied_pid"
    wait "$vigied_pid" && echo "vigied stopped cleanly (last epoch committed)."
  fi
  echo "store: $work/store   log: $work/vigied.log"
}
trap cleanup INT TERM EXIT

"$build/engine/daemon/vigied" --config "$work/vigie.yaml" >"$work/vigied.log" 2>&1 &
vigied_pid=$!
bootstrap=""
for _ in $(seq 100); do
  bootstrap=$(grep -o 'bootstrap=[^ ]*' "$work/vigied.log" | head -1 | cut -d= -f2 || true)
  grep -q 'vigied running' "$work/vigied.log" && [ -n "$bootstrap" ] && break
  kill -0 "$vigied_pid" 2>/dev/null || { cat "$work/vigied.log"; exit 1; }
  sleep 0.1
done
echo "vigied is consuming from the embedded broker at $bootstrap"
echo "  api       http://127.0.0.1:$port/api/explore/v2.1/catalog/datasets"
echo "  dashboard http://127.0.0.1:$port/dashboard   (indicators and objectives)"
echo "  metrics   http://127.0.0.1:$port/metrics   health /healthz /readyz"
echo "  store     $work/store (vigieq --config $work/vigie.yaml query ...)"
echo "vigie-gen: a town of 300 sensors: $history of history up to 2026-03-28 as fast"
echo "  as vigied takes it, then 1 simulated hour per second"
echo

"$build/tools/vigie-gen" --brokers "$bootstrap" --backfill "$history" \
  --rate "$backfill_rate" -X compression.type=lz4 --duration 3d --speed 3600 \
  --late 0.01 --duplicate 0.005 --malformed 0.005 --seed 1 2>"$work/gen.log" &
gen_pid=$!

metric() { # name -> value (sum over labels)
  awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { printf "%.0f", s }' \
    "$work/metrics.txt"
}
start=$(date +%s) last_events=0 last_t=$start lost=""
while :; do
  sleep 2
  kill -0 "$vigied_pid" 2>/dev/null || { echo "vigied exited:"; tail -5 "$work/vigied.log"; exit 1; }
  if [ -z "$lost" ] && grep -q 'Offset out of range' "$work/vigied.log"; then
    lost=1
    echo "the embedded broker dropped messages vigied had not read yet:" \
      "try a lower VIGIE_DEMO_BACKFILL_RATE (now $backfill_rate)"
  fi
  curl -sf "http://127.0.0.1:$port/metrics" >"$work/metrics.txt" || continue
  now=$(date +%s)
  events=$(metric vigie_events_total)
  rate=$(( (events - last_events) / (now - last_t > 0 ? now - last_t : 1) ))
  last_events=$events last_t=$now
  wm=$(metric vigie_watermark_seconds)
  wm_text=$([ "$wm" -gt 0 ] && TZ=Europe/Paris date -d "@$wm" '+%Y-%m-%d %H:%M %Z' || echo "-")
  printf '%s  events %9s  (%6s/s)  dead letters %5s  windows final %8s  watermark %s\n' \
    "$(date +%H:%M:%S)" "$events" "$rate" "$(metric vigie_dead_letters_total)" \
    "$(metric vigie_windows_finalized_total)" "$wm_text"
  if [ -x "$build/tools/vigieq" ] && [ $(( (now - start) % 10 )) -lt 2 ]; then
    "$build/tools/vigieq" --config "$work/vigie.yaml" query --resolution 1h --metric no2 \
      --format ndjson 2>/dev/null | python3 -c '
import json, sys
last = {}
for line in sys.stdin:
    r = json.loads(line)
    if r["status"] == "final":
        last[r["series"]] = r
for s in sorted(last)[:3]:
    r = last[s]
    print("    latest final hour %s  %s  mean %.1f ug/m3" % (r["start_datetime"], s, r["mean"]))
' || true
    "$build/tools/vigieq" --config "$work/vigie.yaml" query --resolution 1d --metric pm10 \
      --format ndjson 2>/dev/null | python3 -c '
import json, sys
days = [json.loads(line) for line in sys.stdin]
over = [r for r in days if r["status"] == "final" and r["mean"] > 50]
if days:
    print("    PM10 daily mean above 50 ug/m3: %d station-days, %d stations, last %s"
          % (len(over), len({r["series"] for r in over}),
             max((r["start_datetime"][:10] for r in over), default="-")))
' || true
  fi
  if [ -n "${VIGIE_DEMO_SECONDS:-}" ] && [ $((now - start)) -ge "$VIGIE_DEMO_SECONDS" ]; then
    break
  fi
done
