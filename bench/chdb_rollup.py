#!/usr/bin/env python3
"""ClickHouse in process (chdb) as a batch peer of bench/run.sh, the twin of
duckdb_rollup.py: the same file loaded into Memory tables of an in-memory
session, the same rollups, load time included; prints one JSON line.

- sensor (the default): the air-quality file; count, sum, min, max, mean per
  series (metric + district + sensor_id) per minute, per hour and per
  Europe/Paris local day.
- mobility: the traffic and bike counters' passages (one event each, the
  metric "passages" worth 1); count, sum, min, max, mean and the distinct
  device_hash count (uniqCombined(14): a HyperLogLog of 2^14 cells, vigied's
  precision, after exact small-set modes) per series (district + counter_id)
  per hour and per local day.

usage: chdb_rollup.py [--workload sensor|mobility] FILE.jsonl [THREADS]
"""
import argparse
import json
import os
import time

import chdb
from chdb import session

ap = argparse.ArgumentParser()
ap.add_argument("--workload", choices=["sensor", "mobility"], default="sensor")
ap.add_argument("file")
ap.add_argument("threads", nargs="?", type=int)
a = ap.parse_args()

t0 = time.monotonic()
s = session.Session(":memory:")


def q(sql):
    return s.query(sql, "CSV").data().strip()


if a.threads:
    q(f"SET max_threads = {a.threads}")
path = os.path.abspath(a.file).replace("\\", "\\\\").replace("'", "\\'")
if a.workload == "sensor":
    q(f"""
    CREATE TABLE raw ENGINE = Memory AS
    SELECT parseDateTime64BestEffort(ts, 3, 'UTC') AS ts, sensor_id, district,
           no2, pm10, pm25
    FROM file('{path}', 'JSONEachRow',
              'ts String, sensor_id String, district String, no2 Float64,
               pm10 Float64, pm25 Float64')""")
    t_load = time.monotonic() - t0
    q("""
    CREATE TABLE ev ENGINE = Memory AS
    SELECT metric, district, sensor_id, ts, value FROM raw
    ARRAY JOIN ['no2', 'pm10', 'pm25'] AS metric, [no2, pm10, pm25] AS value""")
    keys, extra = "metric, district, sensor_id", ""
    buckets = [("1m", "toStartOfMinute(ts)"), ("1h", "toStartOfHour(ts)")]
else:
    # ts is unix milliseconds; each passage adds 1 to the metric, as
    # vigied's count_as does
    q(f"""
    CREATE TABLE ev ENGINE = Memory AS
    SELECT fromUnixTimestamp64Milli(ts, 'UTC') AS ts, counter_id, district,
           device_hash, toFloat64(1) AS value
    FROM file('{path}', 'JSONEachRow',
              'ts Int64, counter_id String, district String, direction String,
               vehicle_class String, device_hash String')""")
    t_load = time.monotonic() - t0
    keys = "'passages' AS metric, district, counter_id"
    extra = ", uniqCombined(14)(device_hash) AS distinct_devices"
    buckets = [("1h", "toStartOfHour(ts)")]
buckets.append(("1d", "toStartOfDay(ts, 'Europe/Paris')"))  # the local day
events = int(q("SELECT count() FROM ev"))
rows = {}
for name, bucket in buckets:
    q(f"""
    CREATE TABLE r{name} ENGINE = Memory AS
    SELECT {keys}, {bucket} AS start, count() AS count,
           sum(value) AS sum, min(value) AS min, max(value) AS max,
           avg(value) AS mean{extra}
    FROM ev GROUP BY ALL""")
    rows[name] = int(q(f"SELECT count() FROM r{name}"))
secs = time.monotonic() - t0
s.close()
print(json.dumps({"events": events, "rows": rows, "load_seconds": round(t_load, 3),
                  "seconds": round(secs, 3), "chdb": chdb.__version__,
                  "clickhouse": chdb.engine_version}))
