"""Indicators end to end (docs/indicators.md) against a real broker: real data
produced with kcat, `vigied --drain`, then the dataset `indicateurs` read
through the open-data API of a running vigied, every row compared with the
independent oracle of indicator_oracle.py over the same raw readings -- each
statistic, the presets, merged series -- and a late reading that revises an
indicator.
"""
import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime
import urllib.parse
import urllib.request

import pytest

import browser
import e2e
from e2e import SHARED, free_port, produce, read_topic, vigied, write_config
from indicator_examples import EXAMPLES
from indicator_oracle import indicator_rows
from test_publication import DCAT_AP, shacl_violations
from test_indicator_oracle import aarhus_readings, aberdeen_readings, seattle_readings

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

# Every kind of indicator over Aberdeen's PM sensor (P1 is PM10, P2 PM2.5).
ABERDEEN = [
    dict(id="pm10-jours", preset="eu-pm10-daily-exceedances", metric="P1"),
    dict(id="pm25-an", preset="eu-pm25-annual-mean", metric="P2"),
    dict(id="no2-like-heures", preset="eu-no2-hourly-exceedances", metric="P1"),
    dict(id="o3-like-jours", preset="eu-o3-8h-exceedances", metric="P2"),
    dict(id="pm10-p95-mois", metric="P1", statistic="p95", over="1h", period="month"),
    dict(id="pm25-max-jour", metric="P2", statistic="max", over="1h", period="day",
         merge=True),
    dict(id="pm10-moyenne-mois", metric="P1", statistic="mean", over="1d", period="month",
         objective=dict(target=20, direction="at_most")),
    dict(id="pm10-heures-30", metric="P1", statistic="exceedances", over="1h",
         threshold=30, period="day", coverage_min=0.75),
    dict(id="pm25-max8h-mois", metric="P2", statistic="max", over="max8h", period="month"),
    dict(id="pm25-jours-valides", metric="P2", statistic="exceedances", over="1d",
         hours_min=18, coverage_min=0.75, threshold=10, period="month",
         objective=dict(target=25, direction="at_least")),
    dict(id="pm10-lectures", metric="P1", statistic="count", over="1d", period="month"),
    dict(id="pm25-somme-jour", metric="P2", statistic="sum", over="1h", period="day"),
    dict(id="pm10-min-mois", metric="P1", statistic="min", over="1d", period="month"),
]


def yaml_indicators(inds, dataset):
    """The indicators: section of the config for inds (dicts of config keys)."""
    out = ["indicators:"]
    for ind in inds:
        first = True
        for k, v in ind.items():
            if isinstance(v, dict):
                v = "{" + ", ".join(f"{a}: {b}" for a, b in v.items()) + "}"
            elif isinstance(v, bool):
                v = "true" if v else "false"
            out.append(("  - " if first else "    ") + f"{k}: {v}")
            first = False
        out.append(f"    dataset: {dataset}")
    return "\n".join(out)


class Service:
    """vigied --config cfg as a service with its HTTP API on a free port."""

    def __init__(self, bin_path, cfg, log):
        self.port = free_port()
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(re.sub(r'listen: "127\.0\.0\.1:\d+"', f'listen: "127.0.0.1:{self.port}"',
                           text))
        self.log = open(log, "w")
        self.p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def get(self, path, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            assert self.p.poll() is None, "vigied exited"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}",
                                            timeout=10) as r:
                    return r.read()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def close(self):
        self.p.send_signal(signal.SIGTERM)
        rc = self.p.wait(timeout=60)
        self.log.close()
        assert rc == 0


def api_rows(svc, where=None):
    path = "/api/explore/v2.1/catalog/datasets/indicateurs/exports/json"
    if where:
        path += "?where=" + urllib.parse.quote(where)
    return json.loads(svc.get(path))


def watermark_s(bin_path, cfg):
    """The store's global watermark in UTC seconds (vigieq status)."""
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "status", "--format", "csv"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    for row in csv.DictReader(io.StringIO(r.stdout)):
        if row["kind"] == "watermark":
            return int(row["value"]) // 10**9
    raise AssertionError(r.stdout)


def close(a, b, rel):
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


def compare(api, expected, what):
    """Every expected row is in api with the same values, and nothing else."""
    got = {(r["indicator"], r["series"], r["period_start"]): r for r in api}
    want = {}
    for e in expected:
        key = (e["indicator"], e["series"], e["period_start"].isoformat())
        want[key] = e
    assert sorted(got) == sorted(want), (what, sorted(set(got) ^ set(want))[:10])
    for key, e in want.items():
        g = got[key]
        if "p95_ranks" in e:
            # a sketch of 1 % relative accuracy answers the reading at the
            # 95th rank, where the oracle interpolates between the two
            # readings around it (90 and 96 bikes: 95.1)
            lo, hi = e["p95_ranks"]
            assert lo * 0.989 <= g["value"] <= hi * 1.011, (what, key, g, e)
        else:
            assert close(g["value"], e["value"], 1e-9), (what, key, g, e)
        assert close(g["coverage"], e["coverage"], 1e-9), (what, key, g, e)
        if "p95_ranks" not in e:
            assert close(g["previous_value"], e["previous_value"], 1e-9), (what, key, g, e)
        assert g["status"] == e["status"], (what, key, g, e)
        assert g["period_end"] == e["period_end"].isoformat(), (what, key, g, e)
        assert g["target"] == e["target"] and g["attained"] == e["attained"], (key, g, e)
    return len(want)


def check_dashboard(chromium, svc, rows, name):
    """/dashboard in headless Chromium, in French and in English: one card
    per (indicator, series) showing the API's latest row -- value, previous
    value, period, the objective met or not in words --, the table view
    with the same values, the chart with a text alternative, no request to
    another origin, and no axe-core violation (contrast, labels, landmarks,
    alternatives). Screenshots are kept as test artefacts."""
    latest = {}
    for r in rows:
        k = (r["indicator"], r["series"])
        if k not in latest or r["period_start"] > latest[k]["period_start"]:
            latest[k] = r
    for lang in ("fr", "en"):
        url = f"http://127.0.0.1:{svc.port}/dashboard?lang={lang}"
        chromium.load(url, until="article.card")
        chromium.screenshot(browser.artefact_path(f"dashboard/{name}-{lang}.png"))
        cards = chromium.read("article.card")
        assert sorted((c.attrs["data-indicator"], c.attrs["data-series"]) for c in cards) \
            == sorted(latest), "one card per indicator and series"
        for c in cards:
            r = latest[(c.attrs["data-indicator"], c.attrs["data-series"])]
            assert c.attrs["data-period-start"] == r["period_start"], (c.attrs, r)
            sel = (f'article.card[data-indicator="{r["indicator"]}"]'
                   f'[data-series="{css_escape(r["series"])}"]')
            vals = chromium.read(sel + " data.value")
            if r["value"] is None:
                assert not vals
            else:
                assert len(vals) == 1 and close(float(vals[0].attrs["value"]), r["value"],
                                                1e-12), (vals, r)
                assert vals[0].text.strip()  # shown, not only in the attribute
            prev = chromium.read(sel + " data.previous")
            assert (not prev) if r["previous_value"] is None else \
                close(float(prev[0].attrs["value"]), r["previous_value"], 1e-12)
            words = " ".join(x.text for x in chromium.read(sel))
            if r["attained"] is True:
                assert ("Objectif atteint" if lang == "fr" else "Objective met") in words
            elif r["attained"] is False:
                assert ("Objectif non atteint" if lang == "fr" else "Objective not met") \
                    in words, words
            assert chromium.read(sel + " svg[role=img] title"), "chart with its alternative"
        table = chromium.read("table data.value")
        assert sorted(float(t.attrs["value"]) for t in table) == sorted(
            r["value"] for r in latest.values() if r["value"] is not None)
        html = chromium.driver.page_source
        assert "http://" not in html.replace(f"http://127.0.0.1:{svc.port}", "") \
            and "https://" not in html.replace("https://www.w3.org", "")
        violations = browser.axe(chromium.driver)
        assert violations == [], browser.describe(violations)


def check_rollup_topic(kafka, topic, rows, earlier):
    """The rollup topic carries every indicator row, keyed
    indicator:<id>|<series>|<period start>, each revision at most once and
    in order within a key (a revision superseded before it was read may be
    skipped); the last message of each key is the API's row, and the
    revision the first service saw is there with its value."""
    msgs = [(k.decode(), json.loads(v), h) for _, _, k, v, h in read_topic(kafka.bootstrap,
                                                                            topic)
            if k.startswith(b"indicator:")]
    by_key = {}
    for k, m, h in msgs:
        assert int(h["vigie.revision"]) == m["revision"]
        by_key.setdefault(k, []).append(m)
    for k, ms in by_key.items():
        revs = [m["revision"] for m in ms]
        assert revs == sorted(set(revs)), (k, revs)  # each once, in order
    want = {}
    for r in rows:
        ts = int(datetime.fromisoformat(r["period_start"]).timestamp())
        want[f'indicator:{r["indicator"]}|{r["series"]}|{ts}'] = r
    assert sorted(by_key) == sorted(want)
    old = {(r["indicator"], r["series"], r["period_start"]): r for r in earlier}
    for k, r in want.items():
        last = by_key[k][-1]
        for col in ("value", "previous_value", "coverage", "status", "revision", "target",
                    "attained", "period_end", "period_start"):
            assert last[col] == r[col], (k, col, last, r)
        first = old[(r["indicator"], r["series"], r["period_start"])]
        seen = {m["revision"]: m for m in by_key[k]}
        assert seen[first["revision"]]["value"] == first["value"]


def check_catalog(svc):
    """`indicateurs` is a dataset of the catalog with the documented fields
    (attained a boolean), and of the DCAT-AP catalog, which still conforms
    to SEMIC's DCAT-AP 3.0 shapes."""
    api = "/api/explore/v2.1/catalog"
    meta = json.loads(svc.get(f"{api}/datasets/indicateurs"))
    fields = [(f["name"], f["type"]) for f in meta["fields"]]
    assert fields[:11] == [
        ("indicator", "text"), ("series", "text"), ("period_start", "datetime"),
        ("period_end", "datetime"), ("value", "double"), ("target", "double"),
        ("attained", "boolean"), ("previous_value", "double"), ("coverage", "double"),
        ("status", "text"), ("revision", "int")], fields
    recs = json.loads(svc.get(f"{api}/datasets/indicateurs/records?where="
                              + urllib.parse.quote("attained = true") + "&limit=100"))
    assert recs["results"] and all(r["attained"] is True for r in recs["results"])
    body = svc.get(f"{api}/exports/dcat").decode()
    assert f"{api}/datasets/indicateurs" in body
    if os.path.isdir(DCAT_AP):
        bad = shacl_violations(body, "dcat-ap-3.0.0-shapes.ttl", "dcat-ap-3.0.0-range.ttl")
        assert not bad, "\n".join(bad[:20])


def css_escape(s):
    return s.replace("\\", "\\\\").replace('"', '\\"')


def aberdeen_config(tmp_path, kafka, topic, inds, extra=""):
    msgs, source, tz, _ = e2e.aberdeen_pm()
    datasets = ("datasets:\n  - {id: pm-horaire, resolution: 1h, metrics: [P1, P2], "
                "sensor_period: 145s}\n")
    source = dict(source, quantiles="true")
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, tz, [dict(topic=topic, **source)],
                       extra=datasets + yaml_indicators(inds, "pm-horaire") + "\n" + extra)
    return msgs, cfg, tz


def test_aberdeen_indicators_equal_the_oracle_and_a_late_reading_revises_one(
        kafka, kcat, bin_path, tmp_path, topic_name, chromium):
    """Thirteen indicators over a month of raw PM readings -- the five
    presets, p95 from merged sketches, merged series, max8h, hours_min days,
    every statistic -- equal the oracle row for row, status and coverage
    included, at the watermark the drain reached. Then a reading arriving
    late for 2018-10-02, a day whose PM10 daily mean was under 50, pushes it
    over: the PM10 exceedance count of 2018 goes from 1 to 2 with revision
    1, and the other indicators follow the oracle again."""
    msgs, cfg, tz = aberdeen_config(tmp_path, kafka, topic_name, ABERDEEN,
                                    f"export_dir: {tmp_path / 'exports'}")
    kafka.create_topic(topic_name, 2)
    kafka.create_topic(topic_name + ".dead", 1)
    kafka.create_topic(topic_name + ".rollups", 2)
    produce(kcat, kafka.bootstrap, topic_name, msgs)
    r = vigied(bin_path, cfg, "--drain")
    assert r.returncode == 0, r.stderr
    readings, _, _ = aberdeen_readings()
    lateness = 7200
    wm = watermark_s(bin_path, cfg)

    def expected(rs):
        out = []
        for ind in ABERDEEN:
            out += indicator_rows(rs, dict(ind), tz, sensor_period_s=145, watermark_utc=wm,
                                  lateness_s=lateness)
        return out

    svc = Service(bin_path, cfg, tmp_path / "service.log")
    try:
        first = api_rows(svc)
        n = compare(first, expected(readings), "after the drain")
        assert n > 80
        pm10 = [x for x in first if x["indicator"] == "pm10-jours"]
        assert [x["value"] for x in pm10] == [1] and pm10[0]["revision"] == 0
        assert pm10[0]["status"] == "provisional"  # 2018 is not over
        check_dashboard(chromium, svc, first, "aberdeen")
        check_catalog(svc)
    finally:
        svc.close()
    # the export folder holds the same rows as a file
    with open(tmp_path / "exports" / "indicateurs.json") as f:
        exported = json.load(f)
    assert sorted(json.dumps(x, sort_keys=True) for x in exported) == \
        sorted(json.dumps(x, sort_keys=True) for x in first)

    # one late reading of 40000 ug/m3 at 2018-10-02 12:00 UTC: that day's mean
    # of hourly means passes 50 (the hour's mean rises by ~40000/26)
    t = 1538481600
    late = {"timestamp": "2018-10-02T12:00:30", "sensor_id": "5331", "P1": 40000.0,
            "P2": 1.0}
    produce(kcat, kafka.bootstrap, topic_name, [("5331", json.dumps(late))])
    r = vigied(bin_path, cfg, "--drain")
    assert r.returncode == 0, r.stderr
    readings2 = readings + [('P1{sensor_id="5331"}', t + 30, 40000.0),
                            ('P2{sensor_id="5331"}', t + 30, 1.0)]
    wm2 = watermark_s(bin_path, cfg)
    assert wm2 == wm  # a late reading does not move the watermark
    svc = Service(bin_path, cfg, tmp_path / "service2.log")
    try:
        second = api_rows(svc)
        compare(second, expected(readings2), "after the late reading")
        pm10 = [x for x in second if x["indicator"] == "pm10-jours"]
        assert [x["value"] for x in pm10] == [2] and pm10[0]["revision"] == 1
        check_rollup_topic(kafka, topic_name + ".rollups", second, first)
        before = {(x["indicator"], x["series"], x["period_start"]): x for x in first}
        for x in second:  # what changed is revised, what did not keeps its revision
            b = before[(x["indicator"], x["series"], x["period_start"])]
            changed = (b["value"], b["coverage"]) != (x["value"], x["coverage"])
            assert x["revision"] == b["revision"] + (1 if changed else 0), (b, x)
    finally:
        svc.close()


def example_groups():
    """The hand examples grouped into stores that can hold them together:
    one sensor period and one watermark each, no series key in two groups
    of readings (their metrics differ)."""
    groups = {}
    for ex in EXAMPLES:
        assert ex["tz"] == EXAMPLES[0]["tz"] and ex["lateness_s"] == 7200
        g = groups.setdefault((ex["sensor_period_s"], ex["watermark_utc"]),
                              dict(examples=[], readings={}))
        g["examples"].append(ex)
        for r in ex["readings"]:
            g["readings"][r] = None  # the same readings may serve several examples
    for key, g in groups.items():  # one data set per metric within a store
        owner = {}
        for ex in g["examples"]:
            for m in {r[0].partition("{")[0] for r in ex["readings"]}:
                assert owner.setdefault(m, ex["readings"]) == ex["readings"], (key, m)
    return groups


def example_doc(series, t, v):
    metric, _, tags = series.partition("{")
    doc = {"t": t, metric: v}
    for part in tags.rstrip("}").split(","):
        if part:
            k, _, val = part.partition("=")
            doc[k] = val.strip('"')
    return doc


def test_hand_examples_of_the_directive_through_the_engine(kafka, kcat, bin_path, tmp_path,
                                                          topic_name):
    """Every hand-computed example of indicator_examples.py (the presets as
    Directive 2008/50/EC defines them, DST days, merged series, p95 of the
    readings, previous values, the watermark's boundary) through Kafka,
    `vigied --drain` and the API: the rows are the hand values. A store per
    sensor period and watermark; the watermark is set by one last reading
    of another metric (windows.out_of_orderness after it)."""
    groups = example_groups()
    metrics = sorted({r[0].partition("{")[0] for ex in EXAMPLES for r in ex["readings"]})
    checked = 0
    for n, ((sp, wm), g) in enumerate(sorted(groups.items(), key=lambda kv: str(kv[0]))):
        topic = f"{topic_name}-{n}"
        kafka.create_topic(topic, 1)
        kafka.create_topic(topic + ".dead", 1)
        end = wm if wm is not None else 1893456000  # 2030: every example is final
        # a reading past the watermark is in a window that is not final, which
        # no row reads: left out, so that the last reading sets the watermark
        msgs = [("k", json.dumps(example_doc(*r)))
                for r in sorted(g["readings"], key=lambda r: r[1]) if r[1] <= end]
        msgs.append(("k", json.dumps({"t": end + 10, "sentinel": 0, "id": "wm"})))
        produce(kcat, kafka.bootstrap, topic, msgs)
        source = dict(format="json", time_key="t", time_format="unix",
                      tag_keys="[station, district, site, counter, meter, id]",
                      fields="[" + ", ".join(metrics + ["sentinel"]) + "]",
                      quantiles="true")
        ds = ("datasets:\n  - {id: ex, resolution: 1h, metrics: [" + ", ".join(metrics) +
              "]" + (f", sensor_period: {sp}s" if sp else "") + "}\n")
        inds = [dict(ex["ind"], id=ex["name"]) for ex in g["examples"]]
        d = tmp_path / f"g{n}"
        d.mkdir()
        cfg = write_config(str(d / "vigie.yaml"), str(d / "store"), kafka.bootstrap,
                           EXAMPLES[0]["tz"], [dict(topic=topic, **source)],
                           extra=ds + yaml_indicators(inds, "ex"))
        r = vigied(bin_path, cfg, "--drain")
        assert r.returncode == 0, r.stderr
        assert watermark_s(bin_path, cfg) == end
        svc = Service(bin_path, cfg, d / "service.log")
        try:
            rows = api_rows(svc)
        finally:
            svc.close()
        for ex in g["examples"]:
            got = sorted((x for x in rows if x["indicator"] == ex["name"]),
                         key=lambda x: (x["series"], x["period_start"]))
            want = ex["expected"]
            assert [(x["series"], x["period_start"]) for x in got] == \
                [(x["series"], x["period_start"]) for x in want], ex["name"]
            for x, w in zip(got, want):
                for col in ("value", "coverage", "previous_value"):
                    assert close(x[col], w[col], ex["engine_rel_tol"]), (ex["name"], col, x, w)
                for col in ("status", "target", "attained"):
                    assert x[col] == w[col], (ex["name"], col, x, w)
            checked += 1
    assert checked == len(EXAMPLES)


SEATTLE = [
    dict(id="velo-est-mois", metric="east", statistic="sum", over="1d", period="month",
         objective=dict(target=30000, direction="at_least")),
    dict(id="velo-jours-3000", metric="east", statistic="exceedances", over="1d", of="sum",
         threshold=1500, period="year"),
    dict(id="velo-ouest-max-heure", metric="west", statistic="max", over="1h",
         period="year"),
    dict(id="velo-p95-heure", metric="west", statistic="p95", over="1h", period="month",
         where=dict(counter="spokane-st")),
]
AARHUS = [
    dict(id="trafic-mois", metric="traffic_vehicle_count", statistic="sum", over="1h",
         period="month", merge=True),
    dict(id="trafic-heures-pleines", metric="traffic_vehicle_count", statistic="exceedances",
         over="1h", of="sum", threshold=150, period="day"),
    dict(id="trafic-moyenne-jour", metric="traffic_vehicle_count", statistic="mean",
         over="1d", of="sum", period="year", objective=dict(target=2500, direction="at_most")),
    dict(id="trafic-lectures", metric="traffic_vehicle_count", statistic="count", over="1d",
         period="month", where=dict(report_id="192600")),
]


@pytest.mark.parametrize("case", ["seattle", "aarhus"])
def test_counts_indicators_equal_the_oracle(kafka, kcat, bin_path, tmp_path, topic_name,
                                            case):
    """Count indicators on the counting data sets: Seattle's hourly bike
    counts in Los Angeles local time (years of DST days, previous values
    from a year before) and Aarhus's 5-minute vehicle counts of two
    directions (merged series, hours and days of counts over a threshold):
    every row equals the oracle's, at the drain's watermark."""
    if case == "seattle":
        msgs, source, tz, _ = e2e.seattle_bike()
        readings, _ = seattle_readings()
        inds, metrics, sp = SEATTLE, "[east, west]", 3600
        source = dict(source, quantiles="true")
    else:
        msgs, _ = e2e.aarhus_traffic()
        readings, _ = aarhus_readings()
        tz, inds, metrics, sp = "Europe/Copenhagen", AARHUS, "[traffic_vehicle_count]", 300
        source = dict(format="influx", precision="s")
    kafka.create_topic(topic_name, 2)
    kafka.create_topic(topic_name + ".dead", 1)
    produce(kcat, kafka.bootstrap, topic_name, msgs)
    ds = (f"datasets:\n  - {{id: comptages, resolution: 1d, metrics: {metrics}, "
          f"sensor_period: {sp}s}}\n")
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, tz, [dict(topic=topic_name, **source)],
                       extra=ds + yaml_indicators(inds, "comptages"))
    r = vigied(bin_path, cfg, "--drain")
    assert r.returncode == 0, r.stderr
    wm = watermark_s(bin_path, cfg)
    want = []
    for ind in inds:
        want += indicator_rows(readings, dict(ind), tz, sensor_period_s=sp, watermark_utc=wm)
    svc = Service(bin_path, cfg, tmp_path / "service.log")
    try:
        got = api_rows(svc)
    finally:
        svc.close()
    n = compare(got, want, case)
    assert n > (100 if case == "seattle" else 400)
    assert any(x["previous_value"] is not None for x in got) or case == "aarhus"
