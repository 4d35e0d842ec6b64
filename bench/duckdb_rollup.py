#!/usr/bin/env python3
"""The batch baseline of bench/run.sh: DuckDB computes vigied's rollups from
vigie-gen's air-quality JSON lines: count, sum, min, max, mean per series
(metric + district + sensor_id) per minute, per hour and per Europe/Paris
local day. Load time included. Prints one JSON line.

usage: duckdb_rollup.py FILE.jsonl [THREADS]
"""
import json
import sys
import time

import duckdb

t0 = time.monotonic()
con = duckdb.connect()
if len(sys.argv) > 2:
    con.execute(f"SET threads = {int(sys.argv[2])}")
con.execute("SET TimeZone = 'Europe/Paris'")
path = sys.argv[1].replace("'", "''")
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
events = con.execute("SELECT count(*) FROM ev").fetchone()[0]
rows = {}
for name, bucket in [("1m", "date_trunc('minute', ts)"),
                     ("1h", "date_trunc('hour', ts)"),
                     # TimeZone is Europe/Paris: the local day of a timestamptz
                     ("1d", "date_trunc('day', ts)")]:
    con.execute(f"""
    CREATE TABLE r{name} AS
    SELECT metric, district, sensor_id, {bucket} AS start, count(*) AS count,
           sum(value) AS sum, min(value) AS min, max(value) AS max,
           avg(value) AS mean
    FROM ev GROUP BY ALL""")
    rows[name] = con.execute(f"SELECT count(*) FROM r{name}").fetchone()[0]
secs = time.monotonic() - t0
print(json.dumps({"events": events, "rows": rows, "load_seconds": round(t_load, 3),
                  "seconds": round(secs, 3)}))
