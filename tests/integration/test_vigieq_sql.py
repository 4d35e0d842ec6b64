"""`vigieq sql` on a store built as test_vigieq.py builds it from the Aberdeen
Sensor.Community readings (real data, through a real broker and vigied):

- SQL rows equal `vigieq query` rows for the same selection (JSON and CSV);
- a GROUP BY and two JOINs equal an oracle computed here from the raw CSV
  rows (Python, zoneinfo for London's local days);
- pushdown is effective (VIGIEQ_SQL_STATS counts the series visited and the
  windows read) and correct (the same answers written so that nothing can
  be pushed down, and SQLite's own text comparison of start_datetime);
- errors exit non-zero with a message.
"""
import csv
import io
import json
import os
import re
import subprocess
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from e2e import produce, vigied_on_copy
from test_vigieq import COLUMNS, LONDON, build_store, pytestmark, vigieq  # noqa: F401

COLS = ",".join(f'"{c}"' for c in COLUMNS)


@pytest.fixture(scope="module")
def store(kafka, kcat, bin_path, tmp_path_factory):
    return build_store(kafka, kcat, bin_path, tmp_path_factory.mktemp("vigieq-sql"),
                       "vigieq-sql-aberdeen")


def sql(bin_path, store, query, *args, fmt="json", check=True, stats=False):
    env = dict(os.environ)
    if stats:
        env["VIGIEQ_SQL_STATS"] = "1"
    r = subprocess.run([bin_path("vigieq"), "--config", store["config"], *args, "sql", query,
                        "--format", fmt], capture_output=True, text=True, timeout=300,
                       env=env)
    if check:
        assert r.returncode == 0, r.stderr
    if not stats:
        return json.loads(r.stdout) if fmt == "json" and check else r
    m = re.search(r"(\d+) scans, (\d+) series visited, (\d+) windows read, (\d+) scans with",
                  r.stderr)
    assert m, r.stderr
    scans, series, windows, narrowed = map(int, m.groups())
    return (json.loads(r.stdout) if fmt == "json" else r.stdout,
            {"scans": scans, "series": series, "windows": windows, "narrowed": narrowed})


def query(bin_path, store, *args, fmt="json"):
    r = vigieq(bin_path, "--config", store["config"], "query", *args, "--format", fmt)
    return json.loads(r.stdout) if fmt == "json" else r.stdout


@pytest.mark.parametrize("res", ["1m", "1h", "1d"])
def test_sql_equals_query(store, bin_path, res):
    got = sql(bin_path, store, f"SELECT {COLS} FROM rollup_{res} ORDER BY series, start_epoch")
    want = query(bin_path, store, "--resolution", res)
    assert len(got) > 0 and got == want
    if res == "1d":  # byte for byte in CSV too, in another zone
        c = sql(bin_path, store, f"SELECT {COLS} FROM rollup_1d ORDER BY series, start_epoch",
                "--tz", "America/New_York", fmt="csv").stdout
        assert c == query(bin_path, store, "--resolution", "1d", "--tz", "America/New_York",
                          fmt="csv")


def test_sql_selection_equals_query(store, bin_path):
    want = query(bin_path, store, "--resolution", "1h", "--metric", "P2", "--where",
                 "sensor_id=5331", "--from", "2018-10-27", "--to", "2018-10-29")
    assert 40 < len(want) <= 49
    for where in ["start_datetime >= '2018-10-27' AND start_datetime < '2018-10-29'",
                  f"start_epoch >= {int(datetime(2018, 10, 27, tzinfo=LONDON).timestamp())}"
                  f" AND start_epoch < {int(datetime(2018, 10, 29, tzinfo=LONDON).timestamp())}"]:
        got, st = sql(bin_path, store, f"SELECT {COLS} FROM rollup_1h WHERE metric = 'P2' AND "
                      f"sensor_id = '5331' AND {where}", stats=True)
        assert got == want
        assert st["series"] == 1 and st["narrowed"] == 1
        assert st["windows"] <= len(want) + 4 * 24 + 1  # a text bound reads +-2 days
    # the hidden columns are there when named, not in *
    star = sql(bin_path, store, "SELECT * FROM rollup_1d LIMIT 1")[0]
    assert list(star) == COLUMNS + ["location", "sensor_id"]
    h = sql(bin_path, store, "SELECT start_epoch, end_epoch, series_id, start_datetime "
            "FROM rollup_1d LIMIT 1")[0]
    assert datetime.fromisoformat(h["start_datetime"]).timestamp() == h["start_epoch"]
    assert h["end_epoch"] - h["start_epoch"] in (23 * 3600, 24 * 3600, 25 * 3600)


def test_series_table_equals_series_command(store, bin_path):
    got = sql(bin_path, store, "SELECT * FROM series ORDER BY key")
    want = json.loads(vigieq(bin_path, "--config", store["config"], "series",
                             "--format", "json").stdout)
    assert [g["key"] for g in got] == [w["series"] for w in want]
    assert list(got[0]) == ["id", "key", "metric", "location", "sensor_id", "first_seen"]
    for g, w in zip(got, want):
        assert g["metric"] == w["metric"] and g["first_seen"] == w["first_seen"]
        assert w["tags"] == f"location={g['location']} sensor_id={g['sensor_id']}"


def local_day(t):
    return t.astimezone(LONDON).date().isoformat()


def test_group_by_equals_the_oracle(store, bin_path):
    got = sql(bin_path, store, """
        SELECT location, metric, substr(start_datetime, 1, 10) AS day, sum(count) AS n,
               sum(sum) AS total, min(min) AS lo, max(max) AS hi, count(*) AS windows
        FROM rollup_1d GROUP BY location, metric, day ORDER BY location, metric, day""")
    want = defaultdict(lambda: [0, 0.0, float("inf"), float("-inf"), set()])
    for sensor, loc, t, _, vals in store["rows"]:
        for field, v in vals.items():
            a = want[(loc, field, local_day(t))]
            a[0] += 1
            a[1] += v
            a[2] = min(a[2], v)
            a[3] = max(a[3], v)
            a[4].add(sensor)
    assert len(got) == len(want) > 30
    for g in got:
        n, total, lo, hi, sensors = want[(g["location"], g["metric"], g["day"])]
        assert (g["n"], g["lo"], g["hi"], g["windows"]) == (n, lo, hi, len(sensors))
        assert g["total"] == pytest.approx(total, rel=1e-12)


def test_joins_equal_the_oracle(store, bin_path):
    hours = defaultdict(lambda: defaultdict(list))  # field -> UTC hour -> values
    for sensor, _, t, _, vals in store["rows"]:
        if sensor == "5331":
            for field, v in vals.items():
                hours[field][int(t.timestamp()) // 3600 * 3600].append(v)
    # rollup joined to series: the series picked by its tags
    got, st = sql(bin_path, store, """
        SELECT r.start_epoch AS t, r.count AS n, r.mean AS mean, s.sensor_id AS sensor
        FROM series s JOIN rollup_1h r ON r.series_id = s.id
        WHERE s.metric = 'P1' AND s.sensor_id = '5331' ORDER BY t""", stats=True)
    assert [g["t"] for g in got] == sorted(hours["P1"])
    for g in got:
        v = hours["P1"][g["t"]]
        assert g["sensor"] == "5331" and g["n"] == len(v)
        assert g["mean"] == pytest.approx(sum(v) / len(v), rel=1e-12)
    assert st["series"] == 1 and st["windows"] == len(got)
    # two metrics joined on the window start
    got = sql(bin_path, store, """
        SELECT a.start_epoch AS t, a.max AS p1, b.max AS p2, b.min AS p2min
        FROM rollup_1h a JOIN rollup_1h b
          ON b.start_epoch = a.start_epoch AND b.sensor_id = a.sensor_id
        WHERE a.metric = 'P1' AND b.metric = 'P2' AND a.sensor_id = '5331'
        ORDER BY t""")
    both = sorted(set(hours["P1"]) & set(hours["P2"]))
    assert len(both) > 500 and [g["t"] for g in got] == both
    for g in got:
        assert g["p1"] == max(hours["P1"][g["t"]])
        assert (g["p2"], g["p2min"]) == (max(hours["P2"][g["t"]]), min(hours["P2"][g["t"]]))


def test_pushdown_reads_only_what_is_asked(store, bin_path):
    keys = [s["key"] for s in sql(bin_path, store, "SELECT key FROM series ORDER BY key")]
    assert len(keys) == 4
    _, full = sql(bin_path, store, "SELECT count(*) AS n FROM rollup_1m", stats=True)
    assert full["series"] == 4 and full["narrowed"] == 0
    one, st = sql(bin_path, store, f"SELECT count(*) AS n FROM rollup_1m WHERE series = "
                  f"'{keys[0]}'", stats=True)
    assert st["series"] == 1 and st["windows"] == one[0]["n"] > 0
    two, st = sql(bin_path, store, f"SELECT count(*) AS n FROM rollup_1m WHERE series IN "
                  f"('{keys[0]}', '{keys[2]}', 'nope')", stats=True)
    assert st["series"] == 2 and st["scans"] == 1  # the IN list at once
    assert st["windows"] == two[0]["n"]
    t0 = int(datetime(2018, 10, 20, tzinfo=timezone.utc).timestamp())
    day, st = sql(bin_path, store, f"SELECT count(*) AS n FROM rollup_1m WHERE start_epoch "
                  f">= {t0} AND start_epoch < {t0 + 86400}", stats=True)
    assert 0 < day[0]["n"] == st["windows"] < full["windows"] / 10


@pytest.mark.parametrize("pushed,plain", [
    ("series = '{k}'", "series || '' = '{k}'"),
    ("metric IN ('P2', 'P9') AND sensor_id = '9001'",
     "metric || '' IN ('P2', 'P9') AND sensor_id || '' = '9001'"),
    ("start_epoch > 1540684800.5 AND start_epoch <= 1540699200",
     "start_epoch + 0 > 1540684800.5 AND start_epoch + 0 <= 1540699200"),
    ("start_epoch = 1540688400", "start_epoch + 0 = 1540688400"),
    # the repeated hour of 2018-10-28 in London: text order is not time order
    ("start_datetime >= '2018-10-28T01:00:00+00:00' AND start_datetime < '2018-10-28T03'",
     "start_datetime || '' >= '2018-10-28T01:00:00+00:00' AND "
     "start_datetime || '' < '2018-10-28T03'"),
    ("start_datetime BETWEEN '2018-10-27T23' AND '2018-10-28T01:30'",
     "start_datetime || '' BETWEEN '2018-10-27T23' AND '2018-10-28T01:30'"),
    ("start_datetime = '2018-10-28T01:00:00+00:00'",
     "start_datetime || '' = '2018-10-28T01:00:00+00:00'"),
    ("metric = 'p1' COLLATE NOCASE", "lower(metric) = 'p1'"),
    ("start_datetime > '2018-10-31T23:00:00Z'", "start_datetime || '' > '2018-10-31T23:00:00Z'"),
    ("start_epoch < '1538352000'", "start_epoch + 0 < 1538352000"),
])
def test_pushdown_gives_the_same_answers(store, bin_path, pushed, plain):
    key = sql(bin_path, store, "SELECT key FROM series ORDER BY key LIMIT 1")[0]["key"]
    q = "SELECT series, start_datetime, count, mean FROM rollup_1h WHERE {} " \
        "ORDER BY series, start_epoch"
    a, sa = sql(bin_path, store, q.format(pushed.format(k=key)), stats=True)
    b, sb = sql(bin_path, store, q.format(plain.format(k=key)), stats=True)
    assert a == b
    assert sb["series"] == 4 and sb["narrowed"] == 0  # nothing pushed
    assert sa["windows"] <= sb["windows"]
    # an independent check of the text comparisons: Python over every row
    if "start_datetime" in pushed and "||" in plain:
        everything = sql(bin_path, store, "SELECT series, start_datetime, count, mean FROM "
                         "rollup_1h ORDER BY series, start_epoch")
        lo = re.search(r"(>=|>|=|BETWEEN) '([^']*)'", pushed)
        hi = re.search(r"(<|AND) '([^']*)'$", pushed)

        def keep(s):
            op, v = lo.groups()
            ok = {">=": s >= v, ">": s > v, "=": s == v, "BETWEEN": s >= v}[op]
            if hi and op != "=":
                ok = ok and (s < hi.group(2) if hi.group(1) == "<" else s <= hi.group(2))
            return ok
        assert a == [r for r in everything if keep(r["start_datetime"])]
        assert a or "Z'" in pushed


def test_output_formats_and_types(store, bin_path):
    q = ("SELECT series, count, mean, p50, status, x'00ff' AS b FROM rollup_1d "
         "ORDER BY series, start_epoch LIMIT 3")
    j = sql(bin_path, store, q)
    c = list(csv.DictReader(io.StringIO(sql(bin_path, store, q, fmt="csv").stdout,
                                        newline="")))
    nd = [json.loads(x) for x in sql(bin_path, store, q, fmt="ndjson").stdout.splitlines()]
    t = sql(bin_path, store, q, fmt="table").stdout.splitlines()
    assert j == nd and len(j) == len(c) == 3 == len(t) - 1
    assert t[0].split() == ["series", "count", "mean", "p50", "status", "b"]
    for jr, cr in zip(j, c):
        assert isinstance(jr["count"], int) and jr["p50"] is None and cr["p50"] == ""
        assert float(cr["mean"]) == jr["mean"] and jr["b"] == "00ff"


def test_sql_errors(store, bin_path, tmp_path):
    def err(q, *args):
        r = sql(bin_path, store, q, *args, check=False)
        assert r.returncode != 0 and r.stdout == ""
        return r
    r = err("SELEC * FROM series")
    assert r.returncode == 2 and "syntax error" in r.stderr and r.stderr.startswith("vigieq: sql:")
    r = err("SELECT * FROM rollup_1x")
    assert r.returncode == 2 and "no such table: rollup_1x" in r.stderr
    assert "closest: rollup_1" in r.stderr
    r = err("SELECT meen FROM rollup_1h")
    assert r.returncode == 2 and "no such column: meen" in r.stderr and "mean" in r.stderr
    r = err("SELECT 1; SELECT 2")
    assert r.returncode == 2 and "one statement" in r.stderr
    r = err("CREATE TABLE t(x)")
    assert r.returncode == 2 and "would write" in r.stderr
    r = err("ATTACH 'x.db' AS x")
    assert r.returncode == 2 and not os.path.exists("x.db")
    r = err("SELECT json('{') FROM series")
    assert r.returncode == 2 and "malformed JSON" in r.stderr
    r = subprocess.run([bin_path("vigieq"), "--config", store["config"], "sql"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "sql needs a statement" in r.stderr
    r = subprocess.run([bin_path("vigieq"), "--data-dir", str(tmp_path / "none"), "sql",
                        "SELECT 1"], capture_output=True, text=True)
    assert r.returncode == 3 and "no store at" in r.stderr
    # a statement without the store's tables works too
    assert sql(bin_path, store, "SELECT 1 + 1 AS two") == [{"two": 2}]


def test_one_snapshot_while_vigied_ingests(kafka, kcat, bin_path, tmp_path, store):
    """sql in a loop while vigied consumes: the three resolutions of one
    statement always hold the same number of readings (vigied commits an
    event into all three in one epoch, and the statement reads one
    snapshot), and successive totals never go down."""
    import signal
    import time
    topic = "vigieq-sql-live"
    kafka.create_topic(topic, 1)
    rows = [r for r in store["rows"] if r[0] != "9001"]  # the twin is too late
    cfg = tmp_path / "vigie.yaml"
    # the data spans 31 days: build_store keeps base windows forever, or
    # vigied's upkeep (every 10 s) could delete old 1m segments while the 1h
    # and 1d ones stay, and m == h would no longer hold
    d = vigied_on_copy(bin_path, store["config"], cfg,
                       [(store["dir"], str(tmp_path / "store")), ("vigieq-sql-aberdeen", topic)])
    q = ("SELECT (SELECT total(count) FROM rollup_1m) AS m, "
         "(SELECT total(count) FROM rollup_1h) AS h, (SELECT total(count) FROM rollup_1d) AS d")
    want = sum(len(v) for *_, v in rows)
    seen = []
    try:
        size = (len(rows) + 5) // 6
        for k in range(6):
            produce(kcat, kafka.bootstrap, topic,
                    [(s, json.dumps({"sensor_id": s, "location": loc, "timestamp": ts, **v}))
                     for s, loc, _, ts, v in rows[k * size:(k + 1) * size]])
            for _ in range(8):
                r = subprocess.run([bin_path("vigieq"), "--config", str(cfg), "sql", q,
                                    "--format", "json"], capture_output=True, text=True)
                if r.returncode == 3:  # no store yet
                    time.sleep(0.2)
                    continue
                assert r.returncode == 0, r.stderr
                x = json.loads(r.stdout)[0]
                assert x["m"] == x["h"] == x["d"], x
                seen.append(x["m"])
                time.sleep(0.05)
        deadline = time.time() + 60
        while (not seen or seen[-1] < want) and time.time() < deadline:
            x = sql(bin_path, {"config": str(cfg)}, q)[0]
            assert x["m"] == x["h"] == x["d"], x
            seen.append(x["m"])
            time.sleep(0.2)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)
    assert seen == sorted(seen) and len(set(seen)) > 2, seen
    assert seen[-1] == want
    assert d.returncode == 0, d.stderr.read()
