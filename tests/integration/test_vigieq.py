"""vigieq on a store built from real data: the Aberdeen Sensor.Community PM
readings (../shared/data/aberdeen-sensorcommunity-pm) are produced with kcat
into a real broker, `vigied --drain` fills a store, and vigieq's daily rows
are compared with an oracle computed here from the raw CSV rows (local days
of Europe/London by zoneinfo; 2018-10-28 lasts 25 hours).

Also: the JSON output equals the CSV output read back by Python's csv
module, NDJSON and table agree, and the errors have their documented exit
codes (2 usage, 3 store missing) and say what is wrong.
"""
import csv
import glob
import io
import json
import os
import subprocess
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from e2e import vigied_on_copy

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("VIGIE_SHARED_DATA",
                        os.path.join(os.path.dirname(ROOT), "shared", "data"))
ABERDEEN = os.path.join(SHARED, "aberdeen-sensorcommunity-pm", "daily_files")
LONDON = ZoneInfo("Europe/London")

pytestmark = pytest.mark.skipif(not os.path.isdir(ABERDEEN),
                                reason=f"shared data set absent ({ABERDEEN})")

COLUMNS = ("start_datetime,end_datetime,series,metric,count,sum,min,max,mean,"
           "stddev,p50,p95,first,last,distinct,status,revision").split(",")


def raw_rows():
    """(sensor_id, location, UTC datetime, timestamp text, {P1, P2}) of every
    reading, file order; plus a made-up second sensor at the same location
    (the first ten days again, values x1.5) so that --group-by location has
    something to merge."""
    out = []
    for path in sorted(glob.glob(os.path.join(ABERDEEN, "*.csv"))):
        with open(path, newline="") as f:
            for r in csv.DictReader(f, delimiter=";"):
                t = datetime.fromisoformat(r["timestamp"]).replace(tzinfo=timezone.utc)
                vals = {k: float(r[k]) for k in ("P1", "P2") if r[k] != ""}
                out.append((r["sensor_id"], r["location"], t, r["timestamp"], vals))
    first = out[0][2]
    twin = [("9001", loc, t, ts, {k: v * 1.5 for k, v in vals.items()})
            for _, loc, t, ts, vals in out if (t - first).days < 10]
    return out + twin


def oracle_daily(rows, field, by_location=False):
    """series key -> local day start (UTC s) -> [count, sum, min, max]; with
    by_location, one series per location (what --group-by location gives)."""
    days = {}
    for sensor, loc, t, _, vals in rows:
        if field not in vals:
            continue
        v = vals[field]
        local = t.astimezone(LONDON)
        start = int(datetime(local.year, local.month, local.day, tzinfo=LONDON).timestamp())
        key = (f'{field}{{location="{loc}"}}' if by_location else
               f'{field}{{location="{loc}",sensor_id="{sensor}"}}')
        a = days.setdefault(key, {}).get(start)
        if a is None:
            days[key][start] = [1, v, v, v]
        else:
            a[0] += 1
            a[1] += v
            a[2] = min(a[2], v)
            a[3] = max(a[3], v)
    return days


@pytest.fixture(scope="module")
def store(kafka, kcat, bin_path, tmp_path_factory):
    return build_store(kafka, kcat, bin_path, tmp_path_factory.mktemp("vigieq"),
                       "vigieq-aberdeen")


def build_store(kafka, kcat, bin_path, d, topic):
    """The Aberdeen rows produced to a new topic, drained by vigied into a
    store under directory d (other test modules build their own)."""
    rows = raw_rows()
    assert rows, "no rows in the Aberdeen files"
    kafka.create_topic(topic, 2)
    lines = []
    for sensor, loc, _, ts, vals in rows:
        msg = {"sensor_id": sensor, "location": loc, "timestamp": ts, **vals}
        lines.append(sensor.encode() + b"\t" + json.dumps(msg).encode() + b"\n")
    r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic, "-K", "\t",
                        "-X", "acks=all"], input=b"".join(lines), capture_output=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    cfg = d / "vigie.yaml"
    cfg.write_text("\n".join([
        f"data_dir: {d / 'store'}",
        "timezone: Europe/London",
        "checkpoint_interval: 200ms",
        "windows: {base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}",
        # the made-up twin comes after the real sensor's month, on the same
        # partition: with the default 14-day retention of base windows most of
        # its readings would count in hours and days only (docs/aggregation.md),
        # and these tests compare every resolution
        "retention: {base: forever}",
        f"kafka: {{brokers: \"{kafka.bootstrap}\", dead_letter_topic: {topic}.dead,"
        f" rollup_topic: {topic}.rollups}}",
        "http: {listen: \"127.0.0.1:0\"}",
        "sources:",
        f"  - topic: {topic}",
        "    format: json",
        "    time_key: timestamp",
        "    time_zone: UTC",
        "    entity_key: sensor_id",
        "    tag_keys: [location]",
        "    fields: [P1, P2]",
    ]) + "\n")
    r = subprocess.run([bin_path("vigied"), "--config", str(cfg), "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return {"config": str(cfg), "dir": str(d / "store"), "rows": rows}


def vigieq(bin_path, *args, check=True):
    r = subprocess.run([bin_path("vigieq"), *args], capture_output=True, text=True,
                       timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.mark.parametrize("group", [False, True], ids=["series", "group-by-location"])
def test_daily_p1_equals_the_oracle(store, bin_path, group):
    r = vigieq(bin_path, "--config", store["config"], "query", "--resolution", "1d",
               "--metric", "P1", "--format", "csv", *(["--group-by", "location"] if group
                                                     else []))
    rd = csv.reader(io.StringIO(r.stdout, newline=""))
    header = next(rd)
    assert header == COLUMNS
    got = [dict(zip(header, row)) for row in rd]
    want = oracle_daily(store["rows"], "P1", by_location=group)
    assert len(want) == (1 if group else 2)
    assert len(got) == sum(len(v) for v in want.values())
    seen = set()
    for row in got:
        assert row["metric"] == "P1"
        start = datetime.fromisoformat(row["start_datetime"])
        end = datetime.fromisoformat(row["end_datetime"])
        s = int(start.timestamp())
        key = (row["series"], s)
        assert key not in seen
        seen.add(key)
        n, total, lo, hi = want[row["series"]][s]
        assert int(row["count"]) == n, row
        assert abs(float(row["sum"]) - total) <= 1e-9 * abs(total), row
        assert float(row["min"]) == lo and float(row["max"]) == hi, row
        assert float(row["mean"]) == pytest.approx(total / n, rel=1e-12)
        # local midnights with London's offset of that day
        local = start.astimezone(LONDON)
        assert start.utcoffset() == local.utcoffset()
        assert (local.hour, local.minute) == (0, 0)
        hours = (end - start).total_seconds() / 3600
        if local.date().isoformat() == "2018-10-28":
            assert hours == 25
            assert row["start_datetime"].endswith("+01:00")
            assert row["end_datetime"].endswith("+00:00")
        else:
            assert hours == 24
        assert row["p50"] == "" and row["distinct"] == ""  # not kept by this source
        assert row["status"] in ("final", "provisional")
    # sorted by series then start
    order = [(r["series"], datetime.fromisoformat(r["start_datetime"])) for r in got]
    assert order == sorted(order)


def test_json_equals_csv_and_ndjson(store, bin_path):
    base = ["--config", store["config"], "query", "--resolution", "1h", "--metric", "P2",
            "--from", "2018-10-27", "--to", "2018-10-29"]
    c = vigieq(bin_path, *base, "--format", "csv").stdout
    j = json.loads(vigieq(bin_path, *base, "--format", "json").stdout)
    nd = [json.loads(line) for line in
          vigieq(bin_path, *base, "--format", "ndjson").stdout.splitlines()]
    rows = list(csv.DictReader(io.StringIO(c, newline="")))
    assert rows and len(rows) == len(j) == len(nd)
    assert j == nd
    for cr, jr in zip(rows, j):
        assert list(jr) == COLUMNS
        for k in COLUMNS:
            if jr[k] is None:
                assert cr[k] == ""
            elif isinstance(jr[k], str):
                assert cr[k] == jr[k]
            else:
                assert float(cr[k]) == jr[k]  # round-trip exact
    # 25 local hours on 2018-10-28 and 24 on the 27th, per series
    for series in {r["series"] for r in rows}:
        days = [r["start_datetime"][:10] for r in rows if r["series"] == series]
        assert days.count("2018-10-28") <= 25 and days.count("2018-10-27") <= 24
    # the repeated 01:00 hour appears twice, with both offsets
    starts = {r["start_datetime"] for r in rows}
    assert {"2018-10-28T01:00:00+01:00", "2018-10-28T01:00:00+00:00"} <= starts


def test_table_and_series_and_status(store, bin_path):
    t = vigieq(bin_path, "--data-dir", store["dir"], "--tz", "UTC", "query",
               "--resolution", "1d", "--metric", "P1", "--format", "table").stdout
    lines = t.splitlines()
    assert lines[0].split() == COLUMNS
    # London days seen in UTC
    assert lines[1].startswith("2018-09-30T23:00:00+00:00  2018-10-01T23:00:00+00:00")
    # the days of the two sensors
    assert len(lines) == 1 + sum(len(d) for d in oracle_daily(store["rows"], "P1").values())
    s = vigieq(bin_path, "--config", store["config"], "series", "--format", "json")
    series = json.loads(s.stdout)
    assert {x["metric"] for x in series} == {"P1", "P2"}
    assert {x["data_from"] for x in series} == {"2018-10-01T00:00:00+01:00"}
    assert max(x["data_to"] for x in series) == "2018-11-01T00:00:00+00:00"
    assert all(int(x["windows_1d"]) > 0 and int(x["windows_1m"]) >= int(x["windows_1h"])
               for x in series)
    m = json.loads(vigieq(bin_path, "--config", store["config"], "series", "--match",
                          "P2*", "--format", "json").stdout)
    assert m and all(x["metric"] == "P2" for x in m)
    st = list(csv.DictReader(io.StringIO(
        vigieq(bin_path, "--config", store["config"], "status", "--format", "csv").stdout)))
    parts = [r for r in st if r["kind"] == "partition"]
    assert sum(int(r["value"]) for r in parts if r["value"]) == len(store["rows"])
    assert any(r["kind"] == "watermark" for r in st)


def test_errors_have_exit_codes_and_say_why(store, bin_path, tmp_path):
    cfg = ("--config", store["config"])
    # the arguments, the exit code, what stderr says
    cases = [
        (cfg + ("query", "--from", "2018-13-01"), 2, ["--from", "month 13"]),
        (cfg + ("query", "--to", "yesterday"), 2, ["--to 'yesterday'"]),
        (cfg + ("query", "--metric", "P3"), 2, ["unknown metric 'P3'", "'P1'"]),
        (cfg + ("query", "--where", "sensor=5331"), 2, ["'sensor_id'"]),
        (cfg + ("query", "--where", "sensor_id=5332"), 2,
         ["unknown --where sensor_id value '5332'"]),
        (cfg + ("series", "--where", "location=312"), 2, []),
        (cfg + ("query", "--group-by", "locaton"), 2, ["'location'"]),
        (("--data-dir", str(tmp_path / "nowhere"), "query"), 3, ["no store at"]),
        (cfg + ("frobnicate",), 2, []),
        (cfg + ("query", "--tz", "Mars/Olympus"), 2, ["--tz 'Mars/Olympus'"]),
        (("--config", str(tmp_path / "missing.yaml"), "query"), 2, ["missing.yaml"]),
    ]
    errs = {}
    for args, code, said in cases:
        r = vigieq(bin_path, *args, check=False)
        assert r.returncode == code and all(s in r.stderr for s in said), (args, r.stderr)
        errs[args[2:]] = r.stderr
    closest = errs[("query", "--where", "sensor_id=5332")]
    assert closest.index("'5331'") < closest.index("'9001'")  # closest first
    assert errs[("series", "--where", "location=312")].rstrip().endswith("closest: '3121'")
    r = vigieq(bin_path, "--help")
    assert "exit codes" in r.stdout


def test_where_filters(store, bin_path):
    def keys(*where):
        r = vigieq(bin_path, "--config", store["config"], "series", "--format", "json",
                   *[a for w in where for a in ("--where", w)])
        return sorted(x["series"] for x in json.loads(r.stdout))
    both = keys()
    assert len(both) == 4
    assert keys("sensor_id=5331") == [k for k in both if "5331" in k]
    assert keys("sensor_id!=5331") == [k for k in both if "9001" in k]
    assert keys("sensor_id=9*", "location=3121") == [k for k in both if "9001" in k]
    assert keys("location=4*") == []


def test_stats_and_limit(store, bin_path):
    full = json.loads(vigieq(bin_path, "--config", store["config"], "query",
                             "--resolution", "1d", "--format", "json").stdout)
    r = vigieq(bin_path, "--config", store["config"], "query", "--resolution", "1d",
               "--stats", "count,mean,stddev_pop,p99", "--limit", "5", "--format", "json")
    some = json.loads(r.stdout)
    assert len(some) == 5
    assert list(some[0]) == ["start_datetime", "end_datetime", "series", "metric", "count",
                             "mean", "stddev_pop", "p99"]
    for s, f in zip(some, full):
        assert (s["start_datetime"], s["series"], s["count"], s["mean"]) == \
            (f["start_datetime"], f["series"], f["count"], f["mean"])
        assert s["p99"] is None  # no sketch kept by this source
        if f["stddev"] is not None:  # sample vs population standard deviation
            n = f["count"]
            assert s["stddev_pop"] == pytest.approx(f["stddev"] * ((n - 1) / n) ** 0.5,
                                                    rel=1e-12)
    r = vigieq(bin_path, "--config", store["config"], "query", "--stats", "meen",
               check=False)
    assert r.returncode == 2 and "'mean'" in r.stderr


def test_long_output_streams_whole(store, bin_path):
    """A base-resolution query of everything is past the streaming threshold
    (rows are written while read): every format still holds every row once."""
    base = ["--config", store["config"], "query", "--resolution", "1m"]
    c = list(csv.DictReader(io.StringIO(vigieq(bin_path, *base, "--format", "csv").stdout,
                                        newline="")))
    j = json.loads(vigieq(bin_path, *base, "--format", "json").stdout)
    nd = vigieq(bin_path, *base, "--format", "ndjson").stdout.splitlines()
    n = sum(1 for _, _, _, _, vals in store["rows"] for _ in vals)  # base windows <= values
    assert 10000 < len(c) == len(j) == len(nd) <= n
    assert sum(int(r["count"]) for r in c) == n
    assert [r["start_datetime"] for r in c] == [r["start_datetime"] for r in j]


def test_queries_while_vigied_ingests(kafka, kcat, bin_path, tmp_path, store):
    """vigieq in a loop while vigied consumes: every answer succeeds, the
    total count of successive answers never goes down (each is one committed
    snapshot), and the last answer holds every reading."""
    import signal
    import time
    topic = "vigieq-live"
    kafka.create_topic(topic, 1)
    # the real sensor only: the made-up twin's readings come 20 days behind
    # the watermark, late for the live check of this test
    rows = [r for r in store["rows"] if "P1" in r[4] and r[0] != "9001"]
    cfg = tmp_path / "vigie.yaml"
    d = vigied_on_copy(bin_path, store["config"], cfg,
                       [(store["dir"], str(tmp_path / "store")), ("vigieq-aberdeen", topic)])
    try:
        chunks = 6
        size = (len(rows) + chunks - 1) // chunks
        seen = []
        for k in range(chunks):
            lines = [json.dumps({"sensor_id": s, "location": loc, "timestamp": ts, **v})
                     for s, loc, _, ts, v in rows[k * size:(k + 1) * size]]
            r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic],
                               input="\n".join(lines) + "\n", capture_output=True,
                               text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            for _ in range(5):
                q = vigieq(bin_path, "--config", str(cfg), "query", "--resolution", "1d",
                           "--metric", "P1", "--stats", "count", "--format", "json",
                           check=False)
                if not seen and (q.returncode == 3 or "the store has none" in q.stderr
                                 or "unknown metric 'P1'" in q.stderr):
                    # no store, or no P1 series committed yet: the store's two
                    # shards commit each epoch side by side, and a reader may
                    # see the shard of P2's series at the first epoch and P1's
                    # not yet
                    time.sleep(0.2)
                    continue
                assert q.returncode == 0, q.stderr
                seen.append(sum(x["count"] for x in json.loads(q.stdout)))
                time.sleep(0.1)
        deadline = time.time() + 60
        while seen[-1] < len(rows) and time.time() < deadline:
            q = vigieq(bin_path, "--config", str(cfg), "query", "--resolution", "1d",
                       "--metric", "P1", "--stats", "count", "--format", "json")
            seen.append(sum(x["count"] for x in json.loads(q.stdout)))
            time.sleep(0.2)
    finally:
        d.send_signal(signal.SIGTERM)
        d.wait(timeout=60)
    assert seen == sorted(seen), seen
    assert seen[-1] == len(rows)
    assert d.returncode == 0, d.stderr.read()


def local_days(first, last):
    """[start, end) UTC seconds of the local days of London from date first
    to date last (exclusive), by zoneinfo: 23, 24 or 25 hours each."""
    out, d = [], first
    while d < last:
        n = d.fromordinal(d.toordinal() + 1)
        out.append((int(datetime(d.year, d.month, d.day, tzinfo=LONDON).timestamp()),
                    int(datetime(n.year, n.month, n.day, tzinfo=LONDON).timestamp())))
        d = n
    return out


def iso_s(text):
    return int(datetime.fromisoformat(text).timestamp())


def fill_query(store, bin_path, *args):
    return json.loads(vigieq(bin_path, "--config", store["config"], "query", "--metric",
                             "P1", "--format", "json", *args).stdout)


def test_fill_null_days_across_dst(store, bin_path):
    """The made-up sensor 9001 has data on Oct 1-11 only: --fill null from
    Oct 5 to Nov 3 writes every London day (Oct 28 lasts 25 hours), the
    stored ones unchanged and the others as gaps with empty statistics."""
    from datetime import date
    sel = ["--resolution", "1d", "--where", "sensor_id=9001", "--from", "2018-10-05",
           "--to", "2018-11-03"]
    stored = fill_query(store, bin_path, *sel)
    filled = fill_query(store, bin_path, *sel, "--fill", "null")
    want = local_days(date(2018, 10, 5), date(2018, 11, 3))
    assert [(iso_s(r["start_datetime"]), iso_s(r["end_datetime"])) for r in filled] == want
    assert 0 < len(stored) < len(want)
    by_start = {r["start_datetime"]: r for r in stored}
    for r in filled:
        if r["start_datetime"] in by_start:
            assert r == by_start[r["start_datetime"]]
        else:
            assert r["status"] == "gap"
            assert all(r[k] is None for k in COLUMNS[4:] if k != "status"), r
    assert sum(r["status"] == "gap" for r in filled) == len(want) - len(stored)
    dst = [r for r in filled if r["start_datetime"].startswith("2018-10-28")]
    assert dst[0]["end_datetime"] == "2018-10-29T00:00:00+00:00"
    # the default is none: the stored rows only
    assert fill_query(store, bin_path, *sel, "--fill", "none") == stored


def test_fill_previous_hours_across_dst(store, bin_path):
    """Hours of Oct 10-29 (the 28th has 25 of them): a gap carries the values
    of the last stored hour before it."""
    sel = ["--resolution", "1h", "--where", "sensor_id=9001", "--from", "2018-10-10",
           "--to", "2018-10-29", "--stats", "count,mean,max,status,revision"]
    stored = fill_query(store, bin_path, *sel)
    filled = fill_query(store, bin_path, *sel, "--fill", "previous")
    t0 = int(datetime(2018, 10, 10, tzinfo=LONDON).timestamp())
    t1 = int(datetime(2018, 10, 29, tzinfo=LONDON).timestamp())
    # London's offsets are whole hours: its clock hours are the UTC hours
    assert [iso_s(r["start_datetime"]) for r in filled] == list(range(t0, t1, 3600))
    assert len(filled) == 19 * 24 + 1
    by_start = {iso_s(r["start_datetime"]): r for r in stored}
    last = None
    for r in filled:
        s = iso_s(r["start_datetime"])
        assert iso_s(r["end_datetime"]) == s + 3600
        if s in by_start:
            assert r == by_start[s]
            last = r
        elif last is None:  # nothing stored before it: nothing to carry
            assert r["status"] == "gap" and r["count"] is None and r["mean"] is None
        else:
            assert r["status"] == "gap" and r["revision"] is None
            assert (r["count"], r["mean"], r["max"]) == (last["count"], last["mean"],
                                                         last["max"])
    assert any(r["status"] == "gap" and r["count"] is not None for r in filled)


def test_fill_unbounded_grouped_and_limited(store, bin_path):
    """Without --from/--to the gaps between a series' first and last stored
    windows; with --group-by the groups are filled; --limit counts gap rows."""
    from datetime import date
    for sel in (["--where", "sensor_id=5331"], ["--group-by", "location"]):
        stored = fill_query(store, bin_path, "--resolution", "1d", *sel)
        filled = fill_query(store, bin_path, "--resolution", "1d", *sel, "--fill", "null")
        first = datetime.fromisoformat(stored[0]["start_datetime"]).date()
        last = datetime.fromisoformat(stored[-1]["start_datetime"]).date()
        want = local_days(first, date.fromordinal(last.toordinal() + 1))
        assert [(iso_s(r["start_datetime"]), iso_s(r["end_datetime"])) for r in filled] \
            == want
        assert [r for r in filled if r["status"] != "gap"] == stored
    some = fill_query(store, bin_path, "--resolution", "1d", "--where", "sensor_id=9001",
                      "--from", "2018-10-09", "--to", "2018-11-01", "--fill", "null",
                      "--limit", "6")
    assert len(some) == 6 and [r["status"] for r in some].count("gap") == 3


def test_fill_refuses_another_calendar(store, bin_path):
    """--data-dir without --config: the store's zone is taken from --tz; a
    zone whose days are not the store's is refused, not filled wrongly."""
    r = vigieq(bin_path, "--data-dir", store["dir"], "--tz", "UTC", "query", "--resolution",
               "1d", "--from", "2018-10-05", "--to", "2018-10-20", "--fill", "null",
               check=False)
    assert r.returncode == 2 and "do not follow the calendar of zone 'UTC'" in r.stderr
    ok = vigieq(bin_path, "--data-dir", store["dir"], "--tz", "Europe/London", "query",
                "--resolution", "1d", "--where", "sensor_id=9001", "--metric", "P1",
                "--from", "2018-10-05", "--to", "2018-10-20", "--fill", "null",
                "--format", "json")
    assert len(json.loads(ok.stdout)) == 15
    r = vigieq(bin_path, "--config", store["config"], "query", "--fill", "zero", check=False)
    assert r.returncode == 2 and "--fill 'zero'" in r.stderr


def status_rows(bin_path, config):
    r = vigieq(bin_path, "--config", config, "status", "--format", "csv")
    return list(csv.DictReader(io.StringIO(r.stdout, newline=""))), r.stderr


def test_status_lag_against_the_broker(store, kafka, kcat, bin_path):
    """Messages produced after the drain are the lag: end_offset (the real
    broker's) - the stored offset, per partition."""
    before, _ = status_rows(bin_path, store["config"])
    # the topic has 2 partitions: one never got a message (kcat's keys all
    # hash to the other), so the store has no position for it, and says so
    unseen = [r for r in before if r["kind"] == "partition" and r["value"] == ""]
    assert len(unseen) == 1 and unseen[0]["end_offset"] == "0" and unseen[0]["lag"] == ""
    assert "no position stored yet" in unseen[0]["detail"]
    parts = {(r["name"], int(r["partition"])): r for r in before
             if r["kind"] == "partition" and r["value"] != ""}
    assert parts and all(int(r["lag"]) == 0 and r["end_offset"] == r["value"]
                         for r in parts.values())
    extra = 7
    topic, part = min(parts)
    r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic, "-p", str(part)],
                       input="\n".join('{"late": %d}' % i for i in range(extra)) + "\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    after, err = status_rows(bin_path, store["config"])
    for r in after:
        if r["kind"] != "partition" or r["value"] == "":
            continue
        k = (r["name"], int(r["partition"]))
        assert r["value"] == parts[k]["value"]  # the store did not move
        more = extra if k == (topic, part) else 0
        assert int(r["end_offset"]) == int(r["value"]) + more
        assert int(r["lag"]) == int(r["end_offset"]) - int(r["value"]) == more
    assert not [r for r in after if r["kind"] == "broker"] and "note" not in err


def test_status_counts_windows_and_survives_a_dead_broker(store, bin_path, tmp_path):
    """Provisional windows are those whose end + lateness (2 h) is past the
    watermark: counted here from the raw rows per resolution. A broker that
    does not answer leaves the lag empty with a note, quickly, exit 0."""
    import time
    rows, _ = status_rows(bin_path, store["config"])
    wm = next(int(r["value"]) for r in rows if r["kind"] == "watermark") // 10**9
    want = [set(), set(), set()]
    for sensor, _, t, _, vals in store["rows"]:
        for field in vals:
            s = int(t.timestamp())
            local = t.astimezone(LONDON)
            day_end = int(datetime.fromordinal(local.toordinal() + 1)
                          .replace(tzinfo=LONDON).timestamp())
            for res, end in enumerate((s - s % 60 + 60, s - s % 3600 + 3600, day_end)):
                if end + 7200 > wm:
                    want[res].add((sensor, field, end))
    win = {r["name"]: r for r in rows if r["kind"] == "windows"}
    assert win["provisional"]["detail"] == "1m=%d 1h=%d 1d=%d" % tuple(map(len, want))
    assert int(win["provisional"]["value"]) == sum(map(len, want))
    store_rows = {r["name"]: int(r["value"]) for r in rows if r["kind"] == "store"}
    assert store_rows["open_windows"] >= int(win["provisional"]["value"]) + \
        int(win["final_open"]["value"])
    assert 0 < store_rows["used_bytes"] <= store_rows["map_bytes"]
    cfg = tmp_path / "dead.yaml"
    text = open(store["config"]).read()
    start = text.index("brokers: \"") + len("brokers: \"")
    cfg.write_text(text[:start] + "127.0.0.1:1" + text[text.index("\"", start):])
    t0 = time.monotonic()
    dead, err = status_rows(bin_path, str(cfg))
    assert time.monotonic() - t0 < 10
    assert "not reachable" in err
    assert [r["value"] for r in dead if r["kind"] == "partition"] == \
        [r["value"] for r in rows if r["kind"] == "partition" and r["value"] != ""]
    assert all(r["lag"] == "" and r["end_offset"] == "" for r in dead)
    assert any(r["kind"] == "broker" and "not reachable" in r["detail"] for r in dead)


SVG = "{http://www.w3.org/2000/svg}"


def plot_points(path):
    """(svg root, plot area mapping, {series: [(M|L, t, value)]}) of a plot:
    the line's points turned back into instants (UTC s) and values through
    the plot area's data-* mapping."""
    import re
    import xml.etree.ElementTree as ET
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    g = root.find(f"{SVG}g[@class='plot']")
    m = {k: float(g.get("data-" + k)) for k in ("x", "y", "width", "height", "t0", "t1",
                                                "y0", "y1")}
    lines = {}
    for p in g.findall(f"{SVG}path[@class='line']"):
        pts = []
        for cmd, x, y in re.findall(r"([ML])([-\d.]+) ([-\d.]+)", p.get("d")):
            t = m["t0"] + (float(x) - m["x"]) / m["width"] * (m["t1"] - m["t0"])
            v = m["y0"] + (m["y"] + m["height"] - float(y)) / m["height"] * (m["y1"] - m["y0"])
            pts.append((cmd, t, v))
        assert p.get("data-series") not in lines
        lines[p.get("data-series")] = pts
    return root, g, m, lines


@pytest.mark.parametrize("args", [
    ["--resolution", "1h", "--metric", "P1", "--from", "2018-10-26", "--to", "2018-10-30"],
    ["--resolution", "1d", "--group-by", "location"],
    ["--resolution", "1d", "--metric", "P2", "--fill", "null", "--where", "sensor_id=9001",
     "--from", "2018-10-01", "--to", "2018-10-20"],
], ids=["1h-dst-days", "1d-grouped", "1d-gaps"])
def test_plot_draws_the_query(store, bin_path, tmp_path, args):
    """One line per series whose points are the query's windows (the window
    middle, the mean, within a pixel), the same extent, a band where min and
    max are kept, ticks at local hours or days of London, valid XML."""
    out = tmp_path / "chart.svg"
    vigieq(bin_path, "--config", store["config"], "plot", *args, "--output", str(out),
           "--unit", "µg/m³")
    rows = json.loads(vigieq(bin_path, "--config", store["config"], "query", *args,
                             "--stats", "mean,min,max", "--format", "json").stdout)
    root, g, m, lines = plot_points(out)
    assert rows and set(lines) == {r["series"] for r in rows}
    assert m["t0"] == min(iso_s(r["start_datetime"]) for r in rows)
    assert m["t1"] == max(iso_s(r["end_datetime"]) for r in rows)
    px_t = (m["t1"] - m["t0"]) / m["width"]
    px_v = (m["y1"] - m["y0"]) / m["height"]
    for series, pts in lines.items():
        mine = [r for r in rows if r["series"] == series and r["mean"] is not None]
        assert len(pts) == len(mine)
        prev_end = None
        for (cmd, t, v), r in zip(pts, mine):
            s, e = iso_s(r["start_datetime"]), iso_s(r["end_datetime"])
            assert abs(t - (s + e) / 2) <= px_t and abs(v - r["mean"]) <= px_v
            assert cmd == ("L" if prev_end == s else "M")  # broken at a gap
            prev_end = e
        assert m["y0"] <= min(r["min"] for r in mine) <= max(r["max"] for r in mine) \
            <= m["y1"]
    bands = g.findall(f"{SVG}path[@class='band']")
    assert {b.get("data-series") for b in bands} == set(lines)
    title = root.find(f"{SVG}text[@class='title']").text
    assert "µg/m³" in title and ", ".join(sorted({r["metric"] for r in rows})) in title
    legend = [t for t in g.findall(f"{SVG}text[@class='legend']")]
    assert len(legend) == len(lines)
    ticks = [int(t.get("data-time")) for t in g.findall(f"{SVG}text[@class='tick-label']")
             if t.get("data-time")]
    assert len(ticks) >= 3
    for t in ticks:
        assert m["t0"] <= t <= m["t1"]
        local = datetime.fromtimestamp(t, LONDON)
        assert (local.minute, local.second) == (0, 0)
        if "1d" in args:
            assert local.hour == 0
    if "--fill" in args:
        assert [c for c, _, _ in next(iter(lines.values()))].count("M") == 1
        assert len(next(iter(lines.values()))) < len(rows)  # the gap rows have no point


def test_plot_to_stdout_and_errors(store, bin_path):
    import xml.etree.ElementTree as ET
    r = vigieq(bin_path, "--config", store["config"], "plot", "--resolution", "1d",
               "--where", "sensor_id=5331", "--metric", "P2")
    root = ET.fromstring(r.stdout.encode())
    assert len(root.findall(f".//{SVG}path[@class='line']")) == 1
    r = vigieq(bin_path, "--config", store["config"], "plot", "--output",
               "/nonexistent/dir/x.svg", check=False)
    assert r.returncode == 1 and "/nonexistent/dir/x.svg" in r.stderr


@pytest.fixture(scope="module")
def spring_store(kafka, kcat, bin_path, store, tmp_path_factory):
    """A small store around London's spring-forward (2019-03-31 lasts 23
    hours): one sensor read every 10 minutes on Mar 29 and on Apr 2."""
    topic = "vigieq-spring"
    kafka.create_topic(topic, 1)
    lines = []
    for day in (29, 33):  # March 33 = April 2
        base = datetime(2019, 3, 1, tzinfo=timezone.utc).timestamp() + (day - 1) * 86400
        for k in range(144):
            t = datetime.fromtimestamp(base + k * 600, timezone.utc)
            lines.append(json.dumps({"sensor_id": "7", "location": "1",
                                     "timestamp": t.strftime("%Y-%m-%dT%H:%M:%S"),
                                     "P1": k % 17 + 0.5, "P2": k % 5 + 0.25}))
    r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic],
                       input="\n".join(lines) + "\n", capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    d = tmp_path_factory.mktemp("spring")
    cfg = d / "vigie.yaml"
    cfg.write_text(open(store["config"]).read().replace(store["dir"], str(d / "store"))
                   .replace("vigieq-aberdeen", topic))
    kafka.create_topic(topic + ".dead", 1)
    r = subprocess.run([bin_path("vigied"), "--config", str(cfg), "--drain"],
                       capture_output=True, text=True, timeout=300)
    dl = subprocess.run([kcat, "-C", "-b", kafka.bootstrap, "-t", topic + ".dead", "-e",
                         "-c", "2", "-f", "%h %s\n"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and not dl.stdout, dl.stdout + r.stderr
    return str(cfg)


def test_fill_across_spring_forward(spring_store, bin_path):
    """Days Mar 28 - Apr 4 and hours of Mar 31 with --fill null: the 23-hour
    day and the skipped 01:00 local hour, as zoneinfo has them."""
    from datetime import date
    def q(*args):
        return json.loads(vigieq(bin_path, "--config", spring_store, "query", "--metric",
                                 "P1", "--format", "json", "--fill", "null", *args).stdout)
    days = q("--resolution", "1d", "--from", "2019-03-28", "--to", "2019-04-04")
    assert [(iso_s(r["start_datetime"]), iso_s(r["end_datetime"])) for r in days] == \
        local_days(date(2019, 3, 28), date(2019, 4, 4))
    # Apr 2 in UTC runs into Apr 3 in London (BST)
    assert [r["status"] != "gap" for r in days] == [False, True, False, False, False, True,
                                                    True]
    short = [r for r in days if r["start_datetime"].startswith("2019-03-31")][0]
    assert short["end_datetime"] == "2019-04-01T00:00:00+01:00"
    assert iso_s(short["end_datetime"]) - iso_s(short["start_datetime"]) == 23 * 3600
    hours = q("--resolution", "1h", "--from", "2019-03-31", "--to", "2019-04-01")
    assert len(hours) == 23 and all(r["status"] == "gap" for r in hours)
    assert [r["start_datetime"][11:] for r in hours[:3]] == \
        ["00:00:00+00:00", "02:00:00+01:00", "03:00:00+01:00"]
    t0 = int(datetime(2019, 3, 31, tzinfo=LONDON).timestamp())
    assert [iso_s(r["start_datetime"]) for r in hours] == list(range(t0, t0 + 23 * 3600, 3600))
