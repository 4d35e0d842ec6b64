#!/usr/bin/env python3
"""The batch baseline of bench/run.sh: DuckDB computes vigied's rollups from
vigie-gen's JSON lines, load time included, and prints one JSON line.

- sensor (the default): the air-quality file; count, sum, min, max, mean per
  series (metric + district + sensor_id) per minute, per hour and per
  Europe/Paris local day.
- mobility: the traffic and bike counters' passages (one event each, the
  metric "passages" worth 1); count, sum, min, max, mean and the distinct
  device_hash count (approx_count_distinct, a HyperLogLog like vigied's) per
  series (district + counter_id) per hour and per local day -- vigied's base
  window is 1 h for this workload.

usage: duckdb_rollup.py [--workload sensor|mobility] FILE.jsonl [THREADS]
"""
import argparse
import json
import time

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("--workload", choices=["sensor", "mobility"], default="sensor")
ap.add_argument("file")
ap.add_argument("threads", nargs="?", type=int)
a = ap.parse_args()

t0 = time.monotonic()
con = duckdb.connect()
if a.threads:
    con.execute(f"SET threads = {a.threads}")
con.execute("SET TimeZone = 'Europe/Paris'")
path = a.file.replace("'", "''")
if a.workload == "sensor":
    con.execute(f"""
    CREATE TABLE raw AS
    SELECT CAST(ts AS TIMESTAMPTZ) AS ts, sensor_id, district, no2, pm10, pm25
    FROM read_json('{path}', format = 'newline_delimited',
                   columns = {{ts: 'VARCHAR', sensor_id: 'VARCHAR', district: 'VARCHAR',
                              no2: 'DOUBLE', pm10: 'DOUBLE', pm25: 'DOUBLE'}})""")
    t_load = time.monotonic() - t0
    con.execute("""
    CREATE TABLE ev AS
    SELECT metric, district, sensor_id, ts, value FROM raw
    UNPIVOT (value FOR metric IN (no2, pm10, pm25))""")
    keys, extra = "metric, district, sensor_id", ""
    buckets = [("1m", "date_trunc('minute', ts)"), ("1h", "date_trunc('hour', ts)")]
else:
    # ts is unix milliseconds; each passage adds 1 to the metric, as
    # vigied's count_as does
    con.execute(f"""
    CREATE TABLE ev AS
    SELECT to_timestamp(ts / 1000.0) AS ts, counter_id, district, device_hash,
           1.0 AS value
    FROM read_json('{path}', format = 'newline_delimited',
                   columns = {{ts: 'BIGINT', counter_id: 'VARCHAR', district: 'VARCHAR',
                              direction: 'VARCHAR', vehicle_class: 'VARCHAR',
                              device_hash: 'VARCHAR'}})""")
    t_load = time.monotonic() - t0
    keys = "'passages' AS metric, district, counter_id"
    extra = ", approx_count_distinct(device_hash) AS distinct_devices"
    buckets = [("1h", "date_trunc('hour', ts)")]
# TimeZone is Europe/Paris: the local day of a timestamptz
buckets.append(("1d", "date_trunc('day', ts)"))
events = con.execute("SELECT count(*) FROM ev").fetchone()[0]
rows = {}
for name, bucket in buckets:
    con.execute(f"""
    CREATE TABLE r{name} AS
    SELECT {keys}, {bucket} AS start, count(*) AS count,
           sum(value) AS sum, min(value) AS min, max(value) AS max,
           avg(value) AS mean{extra}
    FROM ev GROUP BY ALL""")
    rows[name] = con.execute(f"SELECT count(*) FROM r{name}").fetchone()[0]
secs = time.monotonic() - t0
print(json.dumps({"events": events, "rows": rows, "load_seconds": round(t_load, 3),
                  "seconds": round(secs, 3)}))
