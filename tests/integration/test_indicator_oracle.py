"""The indicator oracle (indicator_oracle.py) against the hand-computed
examples of indicator_examples.py, written from Directive 2008/50/EC, and
run on the real data sets for internal consistency (sums over months equal
the year's, exceedances fall as the threshold rises, merged series add up,
the stored daily windows equal e2e.Oracle's).

Pure Python: no broker and no binary (marker `offline`, so
`pytest -m offline` runs them alone). `pytest -s` prints the Aberdeen table
of indicator rows.
"""
import json
import math
import os
from datetime import datetime, timezone

import pytest

import e2e
from indicator_examples import EXAMPLES
from indicator_oracle import (PRESETS, expand_preset, format_rows, indicator_rows,
                              merged_label, normalize, parse_series_key)

pytestmark = pytest.mark.offline

needs_data = pytest.mark.skipif(not os.path.isdir(e2e.SHARED),
                                reason=f"shared data sets absent ({e2e.SHARED})")


def close(a, b, rel=1e-9):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


# ---- the hand examples ---------------------------------------------------------------

@pytest.mark.parametrize("ex", EXAMPLES, ids=[e["name"] for e in EXAMPLES])
def test_hand_example(ex):
    rows = indicator_rows(ex["readings"], ex["ind"], ex["tz"], ex["sensor_period_s"],
                          ex["watermark_utc"], ex["lateness_s"])
    got = [(r["series"], r["period_start"].isoformat()) for r in rows]
    want = [(e["series"], e["period_start"]) for e in ex["expected"]]
    assert got == want
    for r, e in zip(rows, ex["expected"]):
        where = (e["series"], e["period_start"])
        assert r["indicator"] == ex["ind"]["id"]
        for k in ("value", "coverage", "previous_value", "target"):
            assert close(r[k], e[k]), (where, k, r[k], e[k])
        for k in ("status", "attained"):
            assert r[k] == e[k], (where, k, r[k], e[k])
        if isinstance(e["value"], int):  # counts are integers
            assert r["value"] == e["value"] and isinstance(r["value"], int), where


def test_example_names_are_unique_and_cover_every_preset():
    names = [e["name"] for e in EXAMPLES]
    assert len(set(names)) == len(names)
    used = {e["ind"].get("preset") for e in EXAMPLES}
    assert set(PRESETS) <= used


def test_preset_table():
    """The spec's table, key by key; the city's keys are kept, the objective
    overridable, a value-shaping key beside a preset refused."""
    pm10 = normalize(dict(id="x", preset="eu-pm10-daily-exceedances", metric="pm10",
                          where={"zone": "a"}, merge=True, dataset="d"))
    assert {k: pm10[k] for k in ("over", "hours_min", "coverage_min", "statistic",
                                 "threshold", "period", "of", "capture_min")} == dict(
        over="1d", hours_min=18, coverage_min=0.75, statistic="exceedances",
        threshold=50, period="year", of="mean", capture_min=0.0)
    assert pm10["objective"] == dict(target=35, direction="at_most")
    assert (pm10["where"], pm10["merge"], pm10["dataset"]) == ({"zone": "a"}, True, "d")
    o3 = expand_preset(dict(id="o", preset="eu-o3-8h-exceedances", metric="o3",
                            objective={"target": 18}))
    assert o3["objective"] == dict(target=18, direction="at_most")
    assert (o3["over"], o3["threshold"]) == ("max8h", 120)
    for name, target in (("eu-no2-annual-mean", 40), ("eu-pm25-annual-mean", 25)):
        p = normalize(dict(id="y", preset=name, metric="m"))
        assert (p["over"], p["statistic"], p["capture_min"], p["coverage_min"],
                p["objective"]["target"]) == ("1h", "mean", 0.9, 0.75, target)
    with pytest.raises(ValueError, match="threshold"):
        expand_preset(dict(id="z", preset="eu-no2-hourly-exceedances", metric="no2",
                           threshold=180))
    with pytest.raises(ValueError, match="unknown"):
        expand_preset(dict(id="z", preset="eu-so2", metric="so2"))
    with pytest.raises(ValueError, match="derived days"):
        normalize(dict(id="z", metric="o3", over="max8h", statistic="p95"))


def test_series_keys_and_merged_labels():
    assert parse_series_key('no2{a="x\\"y",b="\\\\"}') == ("no2", {"a": 'x"y', "b": "\\"})
    assert parse_series_key("energy") == ("energy", {})
    assert merged_label("pm10", {}) == "pm10{*}"
    assert merged_label("pm10", {"z": "1", "district": 'n"o'}) == \
        'pm10{district="n\\"o",z="1",*}'


# ---- the real data sets ----------------------------------------------------------------

def aberdeen_readings():
    """e2e.aberdeen_pm's messages as readings: P1 (PM10) and P2 (PM2.5)."""
    msgs, _, tz, oracle = e2e.aberdeen_pm()
    out = []
    for _, text in msgs:
        doc = json.loads(text)
        t = e2e.utc_naive(doc["timestamp"])
        for f in ("P1", "P2"):
            out.append((f'{f}{{sensor_id="{doc["sensor_id"]}"}}', t, doc[f]))
    return out, tz, oracle


def seattle_readings():
    """e2e.seattle_bike's messages with both counts as readings east, west."""
    msgs, source, tz_name, _ = e2e.seattle_bike()
    tz, out = e2e.ZoneInfo(tz_name), []
    for _, text in msgs:
        doc = json.loads(text)
        if "east" in doc and "west" in doc:
            t = e2e.naive_local_to_utc(doc["date"], tz)
            for f in ("east", "west"):
                out.append((f'{f}{{counter="spokane-st"}}', t, float(doc[f])))
    return out, tz_name


def aarhus_readings():
    """e2e.aarhus_traffic's line protocol as vehicle-count readings."""
    msgs, oracle = e2e.aarhus_traffic()
    out = []
    for _, line in msgs:
        head, fields, t = line.split(" ")
        rid = head.split("report_id=")[1]
        count = dict(f.split("=") for f in fields.split(","))["vehicle_count"]
        out.append((f'traffic_vehicle_count{{report_id="{rid}"}}', int(t), float(count[:-1])))
    return out, oracle


@pytest.fixture(scope="module")
def aberdeen():
    return aberdeen_readings()


@pytest.fixture(scope="module")
def seattle():
    return seattle_readings()


@pytest.fixture(scope="module")
def aarhus():
    return aarhus_readings()


def values(rows):
    return {(r["series"], r["period_start"]): r["value"] for r in rows}


def sums_by_year(rows):
    out = {}
    for r in rows:
        k = (r["series"], r["period_start"].year)
        out[k] = out.get(k, 0.0) + r["value"]
    return out


PM10_DEF = dict(id="pm10-def", metric="P1", over="1d", hours_min=18, coverage_min=0.75,
                statistic="exceedances", threshold=50, period="year")


@needs_data
def test_aberdeen_consistency(aberdeen):
    readings, tz, e2e_oracle = aberdeen
    assert len(readings) == 2 * 17837
    p1 = [v for k, _, v in readings if k.startswith("P1")]
    s = dict(id="s", metric="P1", over="1h", statistic="sum")
    by_day = indicator_rows(readings, dict(s, period="day"), tz)
    by_month = indicator_rows(readings, dict(s, period="month"), tz)
    by_year = indicator_rows(readings, dict(s, period="year"), tz)
    # 31 London days, Oct 2018 only; the day, month and year sums agree
    assert len(by_day) == 31 and len(by_month) == 1 and len(by_year) == 1
    total = math.fsum(p1)
    for rows in (by_day, by_month, by_year):
        assert close(math.fsum(r["value"] for r in rows), total)
    # every UTC hour of October has a reading: each London day's coverage is
    # 1, also the 25-hour 2018-10-28, but 10-01's, whose first hour (BST) is
    # 23:00Z on Sep 30: 23/24
    cov = {r["period_start"].day: r["coverage"] for r in by_day}
    assert cov.pop(1) == 23 / 24 and set(cov.values()) == {1.0}
    oct28 = [r for r in by_day if r["period_start"].day == 28][0]
    assert oct28["period_end"].timestamp() - oct28["period_start"].timestamp() == 25 * 3600
    # the stored daily windows are e2e.Oracle's 1d windows
    daily = indicator_rows(readings, dict(s, over="1d", period="day"), tz)
    want = {st: a for (k, res, st), a in e2e_oracle.w.items()
            if res == "1d" and k.startswith("P1")}
    assert {int(r["period_start"].timestamp()): r["value"] for r in daily}.keys() == want.keys()
    for r in daily:
        assert close(r["value"], want[int(r["period_start"].timestamp())][1])
    count = indicator_rows(readings, dict(s, statistic="count"), tz, sensor_period_s=145)
    assert count[0]["value"] == 17837
    # p95 between the month's min and max, with 95 % of readings at or under it
    kw = dict(id="q", metric="P1", over="1h", period="month")
    p95 = indicator_rows(readings, dict(kw, statistic="p95"), tz)[0]["value"]
    lo = indicator_rows(readings, dict(kw, statistic="min"), tz)[0]["value"]
    hi = indicator_rows(readings, dict(kw, statistic="max"), tz)[0]["value"]
    assert lo <= p95 <= hi and sum(v <= p95 for v in p1) >= 0.95 * len(p1)
    # PM10 days above a threshold: fewer as the threshold rises, never more
    # than the valid days
    counts = [indicator_rows(readings, dict(PM10_DEF, threshold=th), tz,
                             sensor_period_s=145)[0] for th in range(0, 80, 5)]
    valid_days = round(counts[0]["coverage"] * 365)
    assert all(a["value"] >= b["value"] for a, b in zip(counts, counts[1:]))
    assert counts[0]["value"] <= valid_days
    # one sensor: the merged rows are its rows
    mx = dict(id="m", metric="P2", over="1h", statistic="max", period="day")
    single = indicator_rows(readings, mx, tz)
    merged = indicator_rows(readings, dict(mx, merge=True), tz)
    assert {r["series"] for r in merged} == {"P2{*}"}
    assert [r["value"] for r in merged] == [r["value"] for r in single]


ABERDEEN_TABLE = [
    dict(id="pm10-jours", preset="eu-pm10-daily-exceedances", metric="P1"),
    dict(id="pm25-an", preset="eu-pm25-annual-mean", metric="P2"),
    dict(id="pm10-p95-mois", metric="P1", over="1h", statistic="p95", period="month"),
    dict(id="pm25-max-jour", metric="P2", over="1h", statistic="max", period="day",
         merge=True),
]


@needs_data
def test_aberdeen_table(aberdeen):
    """Prints (pytest -s) the Aberdeen rows of four indicators, sensor period
    145 s, every window final; then the PM2.5 annual mean as it reads on
    2018-11-01 02:00:01 UTC (watermark, 1 s past the last hour + lateness), when October is final and the year
    provisional."""
    readings, tz, _ = aberdeen
    rows = []
    for ind in ABERDEEN_TABLE:
        rows += indicator_rows(readings, ind, tz, sensor_period_s=145)
    wm = datetime(2018, 11, 1, 2, 0, 1, tzinfo=timezone.utc).timestamp()
    early = indicator_rows(readings, ABERDEEN_TABLE[1], tz, sensor_period_s=145,
                           watermark_utc=wm)
    print(f"\nAberdeen sensor 5331, Oct 2018, {tz}, sensor_period 145 s, all final:")
    print(format_rows(rows))
    print(f"\nthe PM2.5 annual mean at watermark {datetime.fromtimestamp(wm, timezone.utc)}:")
    print(format_rows(early))
    by_id = {}
    for r in rows:
        by_id.setdefault(r["indicator"], []).append(r)
    assert len(by_id["pm10-jours"]) == 1 and len(by_id["pm10-p95-mois"]) == 1
    assert len(by_id["pm25-max-jour"]) == 31
    # a month of a year: far under 90 % of the hours, the final mean is empty
    assert by_id["pm25-an"][0]["value"] is None and by_id["pm25-an"][0]["coverage"] < 0.09
    assert early[0]["status"] == "provisional" and early[0]["value"] is not None
    assert early[0]["coverage"] == by_id["pm25-an"][0]["coverage"]


@needs_data
def test_seattle_consistency(seattle):
    readings, tz = seattle
    s = dict(id="velo", metric="east", over="1h", statistic="sum")
    months = indicator_rows(readings, dict(s, period="month"), tz, sensor_period_s=3600)
    years = indicator_rows(readings, dict(s, period="year"), tz, sensor_period_s=3600)
    assert [r["period_start"].year for r in years] == [2014, 2015, 2016, 2017, 2018]
    by_year = sums_by_year(months)
    for r in years:
        assert close(by_year[(r["series"], r["period_start"].year)], r["value"])
    east = [v for k, _, v in readings if k.startswith("east")]
    assert close(sum(r["value"] for r in years), math.fsum(east))
    # spring-forward days have 23 hours, all counted; the fall-back day 24
    # rows for 25 hours
    days = {r["period_start"].date().isoformat(): r
            for r in indicator_rows(readings, dict(s, period="day"), tz, sensor_period_s=3600)}
    assert days["2015-03-08"]["coverage"] == 1.0
    assert days["2015-11-01"]["coverage"] == 24 / 25
    assert days["2015-06-10"]["coverage"] == 1.0
    # the monthly mean of the daily totals times the valid days is the
    # month's total (every day with a count is valid at coverage_min 0)
    means = indicator_rows(readings, dict(s, over="1d", of="sum", statistic="mean",
                                          period="month"), tz, sensor_period_s=3600)
    for m, t in zip(means, months):
        n_days = (m["period_end"] - m["period_start"]).days
        assert m["period_start"] == t["period_start"]
        assert close(m["value"] * round(m["coverage"] * n_days), t["value"])
    # days with more than th bikes eastbound: fewer as th rises
    ex = dict(id="jours", metric="east", over="1d", of="sum", statistic="exceedances")
    prev = None
    for th in (0, 250, 500, 750, 1000, 1500):
        cur = values(indicator_rows(readings, dict(ex, threshold=th), tz))
        if prev is not None:
            assert cur.keys() == prev.keys() and all(cur[k] <= prev[k] for k in cur)
        prev = cur


@needs_data
def test_aarhus_traffic_consistency(aarhus):
    readings, e2e_oracle = aarhus
    tz = "Europe/Copenhagen"
    kw = dict(id="trafic", metric="traffic_vehicle_count", over="1h")
    series = sorted({k for k, _, _ in readings})
    assert len(series) == 2
    for stat in ("sum", "count", "max", "min"):
        alone = indicator_rows(readings, dict(kw, statistic=stat, period="month"), tz,
                               sensor_period_s=300)
        merged = indicator_rows(readings, dict(kw, statistic=stat, period="month",
                                               merge=True), tz, sensor_period_s=300)
        assert {r["series"] for r in merged} == {"traffic_vehicle_count{*}"}
        per = {}
        for r in alone:
            per.setdefault(r["period_start"], []).append(r["value"])
        combine = {"sum": sum, "count": sum, "max": max, "min": min}[stat]
        assert [r["period_start"] for r in merged] == sorted(per)
        for r in merged:
            assert close(r["value"], combine(per[r["period_start"]])), (stat, r)
        if stat == "sum":
            years = indicator_rows(readings, dict(kw, statistic="sum"), tz)
            by_year = sums_by_year(alone)
            assert len(years) == 4  # 2 series x 2014, 2015
            for r in years:
                assert close(by_year[(r["series"], r["period_start"].year)], r["value"])
    # the stored daily windows are e2e.Oracle's (duplicates counted)
    daily = indicator_rows(readings, dict(kw, over="1d", statistic="count", period="day"), tz)
    for r in daily:
        a = e2e_oracle.w[(r["series"], "1d", int(r["period_start"].timestamp()))]
        assert r["value"] == a[0]
    assert len(daily) == sum(1 for (k, res, _) in e2e_oracle.w
                             if res == "1d" and k.startswith("traffic_vehicle_count"))
    # hours above th vehicles (hourly sums), valid at coverage 0.75: fewer as th rises
    ex = dict(kw, of="sum", statistic="exceedances", coverage_min=0.75, period="month")
    prev = None
    for th in (0, 50, 100, 200, 400):
        cur = values(indicator_rows(readings, dict(ex, threshold=th), tz, sensor_period_s=300))
        if prev is not None:
            assert cur.keys() == prev.keys() and all(
                (c or 0) <= (p or 0) for c, p in ((cur[k], prev[k]) for k in cur))
        prev = cur
