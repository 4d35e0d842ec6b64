"""The open-data HTTP API of a running vigied fed from a real broker, asked
with curl (a real HTTP client we did not write): the Explore v2.1 catalog,
records with where/order_by/limit/offset, every export format (the CSV
re-read with Python's csv module equals `vigieq query --format csv`), the
limits and their errors, conditional GETs (304), gzip, the DCAT-AP catalog
parsed as JSON-LD by rdflib with every mandatory property, privacy (no
published count under k, secondary suppression that differencing with the
true daily total cannot undo, suppressed cells marked), and the
changed-since feed after a late event revises a final window; and the
export folder after a SIGHUP that drops a dataset and renames another:
their old files go (an operator's files stay), the kept dataset's files
still follow new rows.
"""
import csv
import gzip
import io
import json
import os
import random
import re
import signal
import subprocess
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from e2e import SHARED, free_port, produce, query, two_source_template

API = "/api/explore/v2.1/catalog"
K = 10
T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)  # a Monday, far from DST
DAYS = 4
COUNTERS = ["c1", "c2", "c3"]
SENSORS = ["s1", "s2"]
PARIS = ZoneInfo("Europe/Paris")


def curl(port, path, *args, params=None, headers=(), raw=False):
    """GET through the curl binary; returns (status, headers dict, body)."""
    cmd = ["curl", "-s", "-S", "-G", "-D", "-", "--max-time", "60"]
    for k, v in (params or {}).items():
        cmd += ["--data-urlencode", f"{k}={v}"]
    for h in headers:
        cmd += ["-H", h]
    cmd += list(args) + [f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, timeout=90)
    assert r.returncode == 0, r.stderr.decode()
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body if raw else body.decode()


def jget(port, path, **kw):
    st, h, body = curl(port, path, **kw)
    return st, json.loads(body) if body else None


def traffic_events():
    """Passages per counter and hour: many hours under k, some empty."""
    rng = random.Random(7)
    events, truth = [], defaultdict(int)
    for d in range(DAYS):
        for h in range(24):
            for c in COUNTERS:
                r = rng.random()
                n = 0 if r < 0.1 else rng.randint(1, 9) if r < 0.45 else rng.randint(10, 40)
                start = T0 + timedelta(days=d, hours=h)
                for i in range(n):
                    t = start + timedelta(seconds=(i * 3599) // max(n, 1))
                    events.append((c, {"ts": int(t.timestamp() * 1000), "counter_id": c,
                                       "direction": "in"}))
                    truth[(c, start)] += 1
    return events, truth


def air_events():
    rng = random.Random(11)
    out = []
    t = T0
    while t < T0 + timedelta(days=DAYS):
        for s in SENSORS:
            out.append((s, {"ts": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "sensor_id": s,
                            "no2": round(rng.uniform(5, 60), 1)}))
        t += timedelta(minutes=10)
    return out


# two serving threads and a short idle timeout, for test_server_limits
CONFIG = two_source_template(traffic_tags="[direction]",
                             http_extra=", threads: 2, timeout: 2s") + """  - id: passages-heure
    title: "Passages horaires"
    description: "Passages par compteur et par heure."
    keywords: [mobilite, comptage]
    publisher: "Ville de Test"
    license: ODbL-1.0
    resolution: 1h
    metrics: [passages]
    columns: [count, sum]
    tag_columns: [counter_id, direction]
    suppress_below: {k}
    entity_tag: counter_id
    coordinates: {{c1: "48.8566,2.3522"}}
  - id: passages-jour
    title: "Passages journaliers"
    resolution: 1d
    metrics: [passages]
    columns: [count]
    tag_columns: [counter_id]
    suppress_below: {k}
  - id: no2-heure
    title: "NO2 horaire"
    description: "Dioxyde d'azote, moyennes horaires."
    publisher: "Ville de Test"
    license: etalab-2.0
    resolution: 1h
    metrics: [no2]
    columns: [count, mean, min, max]
    tag_columns: [sensor_id]
    status: all
    sensor_period: 10m
    hvd_category: c_dd313021
    contact_point: opendata@ville-test.fr
"""


@pytest.fixture(scope="module")
def daemon(kafka, kcat, bin_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pub")
    prefix = f"pub{int(time.time() * 1000) % 10**9}"
    for t in ("traffic", "air", "dead"):
        kafka.create_topic(f"{prefix}.{t}", 1)
    traffic, truth = traffic_events()
    air = air_events()
    n = produce(kcat, kafka.bootstrap, f"{prefix}.traffic",
                [(k, json.dumps(v)) for k, v in traffic])
    m = produce(kcat, kafka.bootstrap, f"{prefix}.air", [(k, json.dumps(v)) for k, v in air])
    port = free_port()
    cfg = tmp / "vigie.yaml"
    cfg.write_text(CONFIG.format(store=tmp / "store", bootstrap=kafka.bootstrap, port=port,
                                 prefix=prefix, k=K))
    log = open(tmp / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", str(cfg)], stdout=log,
                         stderr=subprocess.STDOUT)
    d = dict(port=port, cfg=str(cfg), truth=truth, prefix=prefix, kafka=kafka, kcat=kcat,
             proc=p, bin_path=bin_path)
    # until every hour but the last ones is final (the watermark passed them)
    deadline = time.monotonic() + 120
    want = sum(1 for (c, s) in truth if s < T0 + timedelta(days=DAYS, hours=-1))
    got = -1
    while time.monotonic() < deadline:
        try:
            st, body = jget(port, f"{API}/datasets/passages-heure/records", params={"limit": 0})
            if st == 200:
                got = body["total_count"]
                if got >= want:
                    break
        except (AssertionError, ValueError):
            pass
        time.sleep(0.5)
    else:
        pytest.fail(f"only {got} of {want} final hours after 120 s ({n} + {m} messages)")
    yield d
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    log.close()
    assert rc == 0, (tmp / "vigied.log").read_text()[-3000:]


def export_rows(port, ds, **params):
    st, h, body = curl(port, f"{API}/datasets/{ds}/exports/jsonl", params=params)
    assert st == 200, body
    return [json.loads(line) for line in body.splitlines() if line]


def test_catalog_and_dataset(daemon):
    port = daemon["port"]
    st, cat = jget(port, f"{API}/datasets")
    assert st == 200
    assert cat["total_count"] == 3
    ids = [d["dataset_id"] for d in cat["results"]]
    assert ids == ["passages-heure", "passages-jour", "no2-heure"]
    st, ds = jget(port, f"{API}/datasets/no2-heure")
    assert st == 200
    names = [f["name"] for f in ds["fields"]]
    assert names == ["start_datetime", "end_datetime", "metric", "sensor_id", "count", "mean",
                     "min", "max", "coverage", "status", "revision"]
    types = {f["name"]: f["type"] for f in ds["fields"]}
    assert types["start_datetime"] == "datetime" and types["mean"] == "double"
    assert types["count"] == "int" and types["sensor_id"] == "text"
    assert all(f["label"] for f in ds["fields"])
    meta = ds["metas"]["default"]
    assert meta["title"] == "NO2 horaire"
    assert meta["license"] == "etalab-2.0"
    assert meta["records_count"] == len(export_rows(port, "no2-heure"))
    assert meta["records_count"] == DAYS * 24 * len(SENSORS)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", meta["modified"])
    st, err = jget(port, f"{API}/datasets/nope")
    assert st == 404 and err["error_code"] == "UnknownDatasetError"


def test_records_where_order_limit_offset_against_python(daemon):
    port = daemon["port"]
    rows = export_rows(port, "no2-heure")
    cut = "2026-03-03T12:00:00+01:00"
    where = f"sensor_id = 's1' and start_datetime >= date'{cut}' and mean > 30"
    want = [r for r in rows if r["sensor_id"] == "s1" and r["mean"] > 30 and
            datetime.fromisoformat(r["start_datetime"]) >= datetime.fromisoformat(cut)]
    want.sort(key=lambda r: (-r["mean"]))
    st, body = jget(port, f"{API}/datasets/no2-heure/records",
                    params={"where": where, "order_by": "mean desc", "limit": 7, "offset": 3,
                            "select": "start_datetime,sensor_id,mean,count"})
    assert st == 200, body
    assert body["total_count"] == len(want) > 10
    got = body["results"]
    assert [r["start_datetime"] for r in got] == [r["start_datetime"] for r in want[3:10]]
    assert all(set(r) == {"start_datetime", "sensor_id", "mean", "count"} for r in got)
    # default order (series, then time), paging covers everything once
    seen = []
    for off in range(0, 60, 20):
        st, b = jget(port, f"{API}/datasets/no2-heure/records",
                     params={"limit": 20, "offset": off, "where": "sensor_id in ('s2')"})
        seen += b["results"]
    assert seen == [r for r in rows if r["sensor_id"] == "s2"][:60]
    # another zone: the same instants, other offsets
    st, b = jget(port, f"{API}/datasets/no2-heure/records",
                 params={"limit": 1, "timezone": "America/New_York"})
    assert b["results"][0]["start_datetime"] == "2026-03-01T19:00:00-05:00"


def test_limits_and_errors(daemon):
    port = daemon["port"]
    rec = f"{API}/datasets/no2-heure/records"
    st, b = jget(port, rec, params={"limit": 101})
    assert st == 400
    assert b == {"status_code": 400, "error_code": "InvalidRESTParameterError",
                 "message": "Invalid value for limit API parameter: 101 was found but "
                            "-1 <= limit <= 100 is expected."}
    st, b = jget(port, rec, params={"limit": 100, "offset": 9901})
    assert st == 400 and "offset + limit" in b["message"] and "10001" in b["message"]
    st, b = jget(port, rec, params={"limit": 100, "offset": 9900})
    assert st == 200 and b["results"] == []
    st, b = jget(port, rec, params={"where": "mean >>> 3"})
    assert st == 400 and b["error_code"] == "ODSQLError"
    assert "malformed" in b["message"]
    st, b = jget(port, rec, params={"where": "colour = 'red'"})
    assert st == 400 and "Unknown field" in b["message"]
    st, b = jget(port, rec, params={"timezone": "Mars/Olympus"})
    assert st == 400 and "Mars/Olympus" in b["message"]
    st, b = jget(port, f"{API}/datasets/no2-heure/exports/xlsx")
    assert st == 404
    st, b = jget(port, f"{API}/datasets/no2-heure/exports/csv", params={"delimiter": "x"})
    assert st == 400 and b["error_code"] == "InvalidRESTParameterError"


def test_exports_equal_vigieq(daemon):
    port = daemon["port"]
    st, h, body = curl(port, f"{API}/datasets/no2-heure/exports/csv", raw=True)
    assert st == 200
    assert h["content-type"].startswith("text/csv")
    assert 'filename="no2-heure.csv"' in h["content-disposition"]
    assert body.startswith(b"\xef\xbb\xbf")  # BOM by default
    text = body[3:].decode()
    ours = list(csv.DictReader(io.StringIO(text), delimiter=";"))
    ref = query(daemon["bin_path"], daemon["cfg"], "1h", "--metric", "no2")
    assert len(ours) == len(ref) == DAYS * 24 * len(SENSORS)
    for a, b in zip(ours, ref):
        assert a["start_datetime"] == b["start_datetime"]
        assert a["end_datetime"] == b["end_datetime"]
        assert f'no2{{sensor_id="{a["sensor_id"]}"}}' == b["series"]
        for col in ("count", "mean", "min", "max", "status", "revision"):
            assert a[col] == b[col], (col, a, b)
        assert float(a["coverage"]) == int(a["count"]) / 6  # 10 min readings
    # delimiter and BOM options
    st, h, body = curl(port, f"{API}/datasets/no2-heure/exports/csv",
                       params={"delimiter": ",", "with_bom": "false"}, raw=True)
    assert not body.startswith(b"\xef\xbb\xbf")
    assert list(csv.DictReader(io.StringIO(body.decode()))) == ours
    # json, jsonl, geojson: the same rows
    js = json.loads(curl(port, f"{API}/datasets/no2-heure/exports/json")[2])
    jl = export_rows(port, "no2-heure")
    assert js == jl
    assert [str(r["count"]) for r in js] == [r["count"] for r in ours]
    geo = json.loads(curl(port, f"{API}/datasets/passages-heure/exports/geojson")[2])
    assert geo["type"] == "FeatureCollection"
    feats = geo["features"]
    assert feats and all(f["type"] == "Feature" for f in feats)
    for f in feats:
        if f["properties"]["counter_id"] == "c1":
            assert f["geometry"] == {"type": "Point", "coordinates": [2.3522, 48.8566]}
        else:
            assert f["geometry"] is None
    # where and limit on an export
    few = export_rows(port, "no2-heure", where="sensor_id = 's2'", limit=5)
    assert few == [r for r in jl if r["sensor_id"] == "s2"][:5]


def test_conditional_get_and_gzip(daemon):
    port = daemon["port"]
    path = f"{API}/datasets/passages-jour/exports/csv"
    st, h, body = curl(port, path, raw=True)
    assert st == 200 and h["etag"].startswith('W/"') and h["last-modified"].endswith("GMT")
    st2, h2, body2 = curl(port, path, headers=[f"If-None-Match: {h['etag']}"], raw=True)
    assert st2 == 304 and body2 == b""
    st3, _, body3 = curl(port, path, headers=[f"If-Modified-Since: {h['last-modified']}"],
                         raw=True)
    assert st3 == 304 and body3 == b""
    st4, _, _ = curl(port, path, headers=['If-None-Match: W/"other"'], raw=True)
    assert st4 == 200
    st5, h5, z = curl(port, path, headers=["Accept-Encoding: gzip"], raw=True)
    assert st5 == 200 and h5["content-encoding"] == "gzip"
    assert gzip.decompress(z) == body
    st6, h6, z = curl(port, f"{API}/datasets", headers=["Accept-Encoding: gzip"], raw=True)
    assert h6["content-encoding"] == "gzip"
    assert json.loads(gzip.decompress(z))["total_count"] == 3


def test_privacy_no_small_cell_and_no_differencing(daemon):
    port = daemon["port"]
    truth = daemon["truth"]
    rows = export_rows(port, "passages-heure")
    assert rows
    by_day = defaultdict(list)
    nsupp = 0
    for r in rows:
        start = datetime.fromisoformat(r["start_datetime"])
        true = truth[(r["counter_id"], start.astimezone(timezone.utc))]
        if r["count"] is None:
            nsupp += 1
            assert r["sum"] is None
            assert r["suppressed"] == "count,sum"
        else:
            assert r["count"] >= K and r["sum"] >= K
            assert r["count"] == true and r["suppressed"] is None
        by_day[(r["counter_id"], start.astimezone(PARIS).date())].append((r, true))
    assert nsupp > 20
    for key, hours in by_day.items():
        hidden = [t for r, t in hours if r["count"] is None]
        total = sum(t for _, t in hours)
        published = sum(r["count"] for r, _ in hours if r["count"] is not None)
        assert total - published == sum(hidden)
        if 0 < len(hidden) < len(hours):
            assert len(hidden) >= 2, key
            assert sum(hidden) >= K, key
    # the daily dataset: small days blanked, others the true total
    for r in export_rows(daemon["port"], "passages-jour"):
        day = datetime.fromisoformat(r["start_datetime"])
        total = sum(n for (c, s), n in truth.items()
                    if c == r["counter_id"] and s.astimezone(PARIS).date() == day.date())
        if total < K:
            assert r["count"] is None and r["suppressed"] == "count"
        else:
            assert r["count"] == total


def test_dcat_catalog_parses_as_json_ld_with_mandatory_properties(daemon):
    from rdflib import Graph, Namespace, URIRef
    from rdflib.namespace import DCAT, DCTERMS, RDF
    port = daemon["port"]
    st, h, body = curl(port, f"{API}/exports/dcat")
    assert st == 200 and h["content-type"].startswith("application/ld+json")
    g = Graph()
    g.parse(data=body, format="json-ld")
    cats = list(g.subjects(RDF.type, DCAT.Catalog))
    assert len(cats) == 1
    cat = cats[0]
    for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher):
        assert g.value(cat, p) is not None, p
    datasets = list(g.objects(cat, DCAT.dataset))
    assert len(datasets) == 3
    ids = set()
    freq = Namespace("http://publications.europa.eu/resource/authority/frequency/")
    for ds in datasets:
        assert (ds, RDF.type, DCAT.Dataset) in g
        ident = str(g.value(ds, DCTERMS.identifier))
        ids.add(ident)
        assert str(ds).endswith(f"{API}/datasets/{ident}")
        for p in (DCTERMS.title, DCTERMS.description, DCTERMS.publisher, DCTERMS.license,
                  DCTERMS.accrualPeriodicity, DCTERMS.temporal):
            assert g.value(ds, p) is not None, (ident, p)
        want = freq.DAILY if ident == "passages-jour" else freq.HOURLY
        assert g.value(ds, DCTERMS.accrualPeriodicity) == want
        per = g.value(ds, DCTERMS.temporal)
        assert g.value(per, DCAT.startDate) is not None
        assert g.value(per, DCAT.endDate) is not None
        dists = list(g.objects(ds, DCAT.distribution))
        # the high-value dataset's Explore API is a fifth, as its data service
        api = [d for d in dists if g.value(d, DCAT.accessService) is not None]
        assert len(api) == (1 if ident == "no2-heure" else 0), ident
        dists = [d for d in dists if d not in api]
        assert len(dists) == 4
        types = set()
        for d in dists:
            assert g.value(d, DCAT.accessURL) is not None
            url = g.value(d, DCAT.downloadURL)
            assert isinstance(url, URIRef) and f"/datasets/{ident}/exports/" in str(url)
            types.add(str(g.value(d, DCAT.mediaType)).rsplit("/", 2)[-2:][-1])
            st, _, _ = curl(port, str(url).split(f":{port}", 1)[1], raw=True)
            assert st == 200
        assert types == {"csv", "json", "jsonl", "geo+json"}
    assert ids == {"passages-heure", "passages-jour", "no2-heure"}
    # stable: the same identifiers on a second request
    g2 = Graph()
    g2.parse(data=curl(port, f"{API}/exports/dcat")[2], format="json-ld")
    assert {str(o) for o in g2.objects(None, DCTERMS.identifier)} == ids


def test_refine_and_exclude(daemon):
    """refine / exclude through curl on exports and records, checked against
    the full export filtered in Python: a tag value, its complement, a local
    day of start_datetime (Europe/Paris, the dataset's zone), both at once;
    a number field is refused with a 400 that names it."""
    port = daemon["port"]
    rows = export_rows(port, "passages-heure")
    assert {r["counter_id"] for r in rows} == set(COUNTERS)
    c2 = export_rows(port, "passages-heure", refine="counter_id:c2")
    assert c2 and c2 == [r for r in rows if r["counter_id"] == "c2"]
    others = export_rows(port, "passages-heure", exclude="counter_id:c2")
    assert others == [r for r in rows if r["counter_id"] != "c2"]
    day = (T0 + timedelta(days=1)).astimezone(PARIS).date()

    def local_day(r):
        return datetime.fromisoformat(r["start_datetime"]).astimezone(PARIS).date()
    on_day = export_rows(port, "passages-heure", refine=f"start_datetime:{day:%Y/%m/%d}")
    assert on_day and on_day == [r for r in rows if local_day(r) == day]
    st, body = jget(port, f"{API}/datasets/passages-heure/records",
                    params={"refine": f"start_datetime:{day:%Y-%m-%d}", "exclude":
                            "counter_id:c1", "limit": 0})
    assert st == 200
    assert body["total_count"] == sum(1 for r in rows if local_day(r) == day and
                                      r["counter_id"] != "c1")
    st, body = jget(port, f"{API}/datasets/passages-heure/records",
                    params={"refine": "count:3"})
    assert st == 400 and body["error_code"] == "InvalidRESTParameterError"
    assert '"count" is not a facet' in body["message"]


def quantile(values, p):
    """Linear interpolation between the closest ranks (DuckDB's
    quantile_cont), over the non-null values; None when there are none."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    rank = p / 100 * (len(v) - 1)
    lo = int(rank)
    if lo + 1 >= len(v):
        return v[lo]
    return v[lo] + (v[lo + 1] - v[lo]) * (rank - lo)


def close(a, b):
    if a is None or b is None:
        return a is b
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def test_group_by_against_python(daemon):
    """group_by with aggregates through curl on records and exports, each
    answer computed again in Python over the full JSONL export: per sensor
    (count, avg, max, median, percentile), per local day and hour in the
    request's time zone (date_format, hour), range() buckets of a column with
    suppressed (null) cells, ordered by an aggregate; aggregates without
    group_by; group_by with refine; and the errors."""
    port = daemon["port"]
    rows = export_rows(port, "no2-heure")
    assert len(rows) > 100
    st, body = jget(port, f"{API}/datasets/no2-heure/records", params={
        "select": "sensor_id, count(*) as n, avg(mean) as m, max(max), median(mean), "
                  "percentile(mean, 90) as p90",
        "group_by": "sensor_id"})
    assert st == 200, body
    by = defaultdict(list)
    for r in rows:
        by[r["sensor_id"]].append(r)
    assert body["total_count"] == len(by) == len(SENSORS)
    assert [g["sensor_id"] for g in body["results"]] == sorted(by)
    for g in body["results"]:
        rs = by[g["sensor_id"]]
        means = [r["mean"] for r in rs if r["mean"] is not None]
        assert g["n"] == len(rs)
        assert close(g["m"], sum(means) / len(means))
        assert g["max(max)"] == max(r["max"] for r in rs if r["max"] is not None)
        assert close(g["median(mean)"], quantile(means, 50))
        assert close(g["p90"], quantile(means, 90))

    # local days and hours: in the request's zone, not the dataset's
    for tz in ("Europe/Paris", "America/New_York"):
        zone = ZoneInfo(tz)
        st, body = jget(port, f"{API}/datasets/no2-heure/records", params={
            "select": "d, hour(start_datetime) as h, count(*) as n, sum(count) as events",
            "group_by": "date_format(start_datetime, 'yyyy-MM-dd') as d, "
                        "hour(start_datetime) as h",
            "order_by": "events desc, d, h", "timezone": tz, "limit": 20000})
        assert st == 200, body
        want = defaultdict(lambda: [0, 0])
        for r in rows:
            t = datetime.fromisoformat(r["start_datetime"]).astimezone(zone)
            w = want[(t.strftime("%Y-%m-%d"), t.hour)]
            w[0] += 1
            w[1] += r["count"] or 0
        expect = sorted(want.items(), key=lambda kv: (-kv[1][1], kv[0]))
        got = [((g["d"], g["h"]), [g["n"], g["events"]]) for g in body["results"]]
        assert got == [(k, v) for k, v in expect]
        assert body["total_count"] == len(want)

    # range() over a column with suppressed cells: a null bucket first
    hrows = export_rows(port, "passages-heure")
    st, h, text = curl(port, f"{API}/datasets/passages-heure/exports/csv", params={
        "select": "counter_id, range(sum, 10) as bucket, count(*) as n",
        "group_by": "counter_id, range(sum, 10) as bucket", "order_by": "n desc",
        "delimiter": ","})
    assert st == 200, text
    got = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    want = defaultdict(int)
    for r in hrows:
        lo = None if r["sum"] is None else (r["sum"] // 10) * 10
        want[(r["counter_id"], lo)] += 1
    assert any(lo is None for _, lo in want)  # suppressed cells exist

    def label(lo):
        return "" if lo is None else f"[{lo:g}, {lo + 10:g}["
    assert sorted((g["counter_id"], g["bucket"], int(g["n"])) for g in got) == \
        sorted((c, label(lo), n) for (c, lo), n in want.items())
    assert [int(g["n"]) for g in got] == sorted((int(g["n"]) for g in got), reverse=True)

    # aggregates without group_by: one row; with refine
    st, body = jget(port, f"{API}/datasets/passages-heure/records", params={
        "select": "count(*) as n, sum(count) as events, min(start_datetime) as first",
        "refine": "counter_id:c2"})
    assert st == 200, body
    c2 = [r for r in hrows if r["counter_id"] == "c2"]
    assert body["total_count"] == 1
    (g,) = body["results"]
    assert g["n"] == len(c2)
    assert g["events"] == sum(r["count"] for r in c2 if r["count"] is not None)
    assert g["first"] == min(c2, key=lambda r: r["start_datetime"])["start_datetime"]

    # errors
    for params, what in (
            ({"select": "counter_id, count(*)"}, "neither an aggregate nor a group_by"),
            ({"select": "sum(counter_id)", "group_by": "direction"}, "takes a number field"),
            ({"group_by": "week(start_datetime)"}, "unknown function 'week'"),
            ({"group_by": "counter_id", "limit": 20001}, "limit <= 20000")):
        st, body = jget(port, f"{API}/datasets/passages-heure/records", params=params)
        assert st == 400 and what in body["message"], (params, body)
    st, body = jget(port, f"{API}/datasets/passages-heure/exports/geojson",
                    params={"group_by": "counter_id"})
    assert st == 400 and "GeoJSON" in body["message"]


def test_facets_against_python(daemon):
    """/facets through curl, every count computed again in Python over the
    full export: text facets by count, the refined value alone and marked,
    an excluded value listed with its count and marked while the other
    facets drop its rows, the calendar of start_datetime nested down to the
    refined month's local days, facet= choosing facets (both spellings), an
    unknown facet refused; and the catalog's facets over dataset metadata."""
    from collections import Counter
    port = daemon["port"]
    rows = export_rows(port, "passages-heure")
    url = f"{API}/datasets/passages-heure/facets"

    def facet(body, name):
        (f,) = [f for f in body["facets"] if f["name"] == name]
        return f["facets"]

    def by_count(counter):
        return [(v, n) for v, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]

    st, body = jget(port, url)
    assert st == 200, body
    assert {f["name"] for f in body["facets"]} >= {"counter_id", "direction",
                                                  "start_datetime"}
    want = Counter(r["counter_id"] for r in rows)
    assert [(v["value"], v["count"]) for v in facet(body, "counter_id")] == by_count(want)
    assert {v["state"] for v in facet(body, "counter_id")} == {"displayed"}

    st, body = jget(port, url, params={"refine": "counter_id:c2"})
    assert st == 200, body
    c2 = [r for r in rows if r["counter_id"] == "c2"]
    assert [(v["value"], v["count"], v["state"]) for v in facet(body, "counter_id")] == \
        [("c2", len(c2), "refined")]
    assert [(v["value"], v["count"]) for v in facet(body, "direction")] == \
        by_count(Counter(r["direction"] for r in c2))

    st, body = jget(port, url, params={"exclude": "counter_id:c1"})
    assert st == 200, body
    states = {v["value"]: (v["count"], v["state"]) for v in facet(body, "counter_id")}
    assert states["c1"] == (want["c1"], "excluded")
    assert states["c3"] == (want["c3"], "displayed")
    assert sum(v["count"] for v in facet(body, "direction")) == len(rows) - want["c1"]

    def local(r):
        return datetime.fromisoformat(r["start_datetime"]).astimezone(PARIS)
    month = local(rows[0]).strftime("%Y/%m")
    st, body = jget(port, url, params={"refine": f"start_datetime:{month}",
                                       "facet": "start_datetime"})
    assert st == 200, body
    assert [f["name"] for f in body["facets"]] == ["start_datetime"]
    (year,) = facet(body, "start_datetime")
    assert year["value"] == month[:4] and year["state"] == "refined"
    (mon,) = year["facets"]
    in_month = [r for r in rows if local(r).strftime("%Y/%m") == month]
    assert (mon["value"], mon["count"], mon["state"]) == (month, len(in_month), "refined")
    days = Counter(local(r).strftime("%Y/%m/%d") for r in in_month)
    assert [(d["value"], d["count"]) for d in mon["facets"]] == by_count(days)

    st, body = jget(port, url, params={"facet": 'facet(name="direction")'})
    assert st == 200 and [f["name"] for f in body["facets"]] == ["direction"]
    st, body = jget(port, url, params={"facet": "count"})
    assert st == 400 and "is not a facet" in body["message"]

    st, body = jget(port, f"{API}/facets")
    assert st == 200, body
    got = {f["name"]: {v["value"]: v["count"] for v in f["facets"]} for f in body["facets"]}
    assert got["publisher"] == {"Ville de Test": 2}
    assert got["keyword"] == {"mobilite": 1, "comptage": 1}
    # passages-jour names none: it takes the default, etalab-2.0
    assert got["license"] == {"ODbL-1.0": 1, "etalab-2.0": 2}
    assert got["hvd_category"] == {"c_dd313021": 1}


def metric_total(port, name):
    st, _, text = curl(port, "/metrics")
    assert st == 200
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


def test_answer_cache_and_concurrency(daemon):
    """The answer cache: a repeated group_by is served from it (X-Cache: hit,
    the metrics count it) with the same bytes; then 48 clients at once on two
    server threads (threads: 2), each request one of 8 distinct queries,
    get every answer whole and equal to the one computed alone."""
    import concurrent.futures
    port = daemon["port"]
    url = f"{API}/datasets/no2-heure/records"
    q = {"select": "sensor_id, avg(mean) as m, percentile(mean, 95) as p95",
         "group_by": "sensor_id"}
    hits0 = metric_total(port, "vigie_api_cache_hits")
    st, h1, first = curl(port, url, params=q)
    st2, h2, second = curl(port, url, params=q)
    assert st == st2 == 200 and second == first
    assert h2.get("x-cache") == "hit" and h2.get("etag") == h1.get("etag")
    assert metric_total(port, "vigie_api_cache_hits") >= hits0 + 1
    queries = [{"where": f"mean > {t}", "order_by": "mean desc", "limit": 100}
               for t in range(0, 40, 5)]
    alone = [curl(port, url, params=p)[2] for p in queries]

    def ask(i):
        return i % 8, curl(port, url, params=queries[i % 8])
    with concurrent.futures.ThreadPoolExecutor(48) as ex:
        for i, (st, h, body) in ex.map(ask, range(192)):
            assert st == 200 and body == alone[i]


def test_server_limits(daemon, tmp_path):
    """Slow and oversized clients: a client that sends half a request holds
    nothing -- others are served meanwhile and the server closes it after
    http.timeout (2 s here); a request line past http.max_request (256 KiB
    by default) is refused with a JSON 414, and the server goes on."""
    import socket
    port = daemon["port"]
    slow = socket.create_connection(("127.0.0.1", port))
    slow.sendall(b"GET /api/explore/v2.1/catalog/datasets HTTP/1.1\r\nHost: x\r\n")
    t0 = time.monotonic()
    st, body = jget(port, f"{API}/datasets")
    assert st == 200 and body["total_count"] == 3
    slow.settimeout(30)
    got = b""
    while True:  # until the server closes it
        chunk = slow.recv(4096)
        if not chunk:
            break
        got += chunk
    closed_after = time.monotonic() - t0
    slow.close()
    assert b" 200 " not in got  # never taken as a whole request
    assert 1.5 <= closed_after <= 15, closed_after
    big = tmp_path / "where.txt"  # too long for one argument of exec()
    big.write_text("counter_id = '" + "x" * 300000 + "'")
    st, _, body = curl(port, f"{API}/datasets/passages-heure/records",
                       "--data-urlencode", f"where@{big}")
    assert st == 414, st
    assert json.loads(body)["error_code"] == "RequestTooLarge"
    st, body = jget(port, f"{API}/datasets")
    assert st == 200


DCAT_AP = os.path.join(os.path.dirname(SHARED), "dcat-ap")


def shacl_violations(body, *shape_files):
    """The sh:Violation results of validating the JSON-LD body against the
    SHACL shape files of ../shared/dcat-ap (SEMIC's, unchanged), as lines
    "focus node | path | message"."""
    from pyshacl import validate
    from rdflib import Graph, Namespace
    from rdflib.namespace import RDF
    sh = Namespace("http://www.w3.org/ns/shacl#")
    data = Graph()
    data.parse(data=body, format="json-ld")
    shapes = Graph()
    for f in shape_files:
        shapes.parse(os.path.join(DCAT_AP, f), format="turtle")
    _, report, _ = validate(data, shacl_graph=shapes, inference="none")
    out = []
    for r in report.subjects(RDF.type, sh.ValidationResult):
        if report.value(r, sh.resultSeverity) != sh.Violation:
            continue
        out.append(f"{report.value(r, sh.focusNode)} | {report.value(r, sh.resultPath)} | "
                   f"{report.value(r, sh.resultMessage)}")
    return sorted(out)


@pytest.mark.skipif(not os.path.isdir(DCAT_AP), reason=f"DCAT-AP shapes absent ({DCAT_AP})")
def test_dcat_catalog_conforms_to_dcat_ap_3(daemon):
    """The catalog against SEMIC's DCAT-AP 3.0.0 shapes and range shapes
    together (mandatory properties, cardinalities, and the class of every
    referenced resource: licence, media type, file type, frequency, landing
    page): no violation."""
    st, _, body = curl(daemon["port"], f"{API}/exports/dcat")
    assert st == 200
    bad = shacl_violations(body, "dcat-ap-3.0.0-shapes.ttl", "dcat-ap-3.0.0-range.ttl")
    assert not bad, f"{len(bad)} violations:\n" + "\n".join(bad[:40])


@pytest.mark.skipif(not os.path.isdir(DCAT_AP), reason=f"DCAT-AP shapes absent ({DCAT_AP})")
def test_dcat_high_value_dataset_conforms_to_hvd(daemon):
    """no2-heure is flagged high-value (hvd_category, contact_point): it
    carries Regulation (EU) 2023/138 and its category (on the dataset, its
    distributions and its data service, the Explore API beside the bulk
    downloads), and it -- the dataset, its distributions, its service --
    passes SEMIC's DCAT-AP HVD 3.0.0 shapes. The other datasets are not
    flagged (the HVD shapes do not apply to them: they would want the
    regulation)."""
    from rdflib import Graph, Namespace, URIRef
    from rdflib.namespace import DCAT, RDF
    st, _, body = curl(daemon["port"], f"{API}/exports/dcat")
    assert st == 200
    g = Graph()
    g.parse(data=body, format="json-ld")
    r5r = Namespace("http://data.europa.eu/r5r/")
    reg = URIRef("http://data.europa.eu/eli/reg_impl/2023/138/oj")
    flagged = {}
    for ds in g.subjects(RDF.type, DCAT.Dataset):
        ident = str(ds).rsplit("/", 1)[1]
        flagged[ident] = g.value(ds, r5r.applicableLegislation) == reg
        if ident != "no2-heure":
            continue
        assert g.value(ds, r5r.hvdCategory) == URIRef("http://data.europa.eu/bna/c_dd313021")
        dists = list(g.objects(ds, DCAT.distribution))
        assert all(g.value(d, r5r.applicableLegislation) == reg for d in dists)
        services = [g.value(d, DCAT.accessService) for d in dists
                    if g.value(d, DCAT.accessService) is not None]
        assert len(services) == 1
        svc = services[0]
        assert g.value(svc, DCAT.servesDataset) == ds
        assert str(g.value(svc, DCAT.endpointURL)).endswith("/api/explore/v2.1/")
        mail = g.value(g.value(svc, DCAT.contactPoint),
                       URIRef("http://www.w3.org/2006/vcard/ns#hasEmail"))
        assert str(mail) == "mailto:opendata@ville-test.fr"
    assert flagged == {"passages-heure": False, "passages-jour": False, "no2-heure": True}
    prefix = str(next(s for s in g.subjects(RDF.type, DCAT.Dataset)
                      if str(s).endswith("/no2-heure")))
    bad = [v for v in shacl_violations(body, "dcat-ap-hvd-3.0.0-shacl.ttl")
           if v.startswith(prefix) or v.startswith("http://data.europa.eu/")]
    assert not bad, f"{len(bad)} violations:\n" + "\n".join(bad[:40])


def test_openapi_and_schemathesis(daemon, tmp_path):
    """The OpenAPI 3 description the server serves names this server and its
    datasets; then schemathesis (PyPI, a client we did not write) generates
    requests for every operation from it -- valid and invalid parameters,
    25 examples per operation, fixed seed -- and checks every answer: no
    5xx, a documented status code, content type and body schema."""
    import sys
    port = daemon["port"]
    st, spec = jget(port, "/api/explore/v2.1/openapi.json")
    assert st == 200 and spec["openapi"].startswith("3.0")
    assert spec["servers"] == [{"url": f"http://127.0.0.1:{port}"}]
    ids = spec["components"]["parameters"]["dataset_id"]["schema"]["enum"]
    assert sorted(ids) == ["no2-heure", "passages-heure", "passages-jour"]
    assert {"/api/explore/v2.1/catalog/datasets/{dataset_id}/records",
            "/api/explore/v2.1/catalog/datasets/{dataset_id}/facets",
            "/api/explore/v2.1/catalog/facets",
            "/api/explore/v2.1/catalog/exports/dcat"} <= set(spec["paths"])
    st_bin = os.path.join(os.path.dirname(sys.executable), "st")
    r = subprocess.run(
        [st_bin, "run", f"http://127.0.0.1:{port}/api/explore/v2.1/openapi.json",
         "--checks", "not_a_server_error,status_code_conformance,"
         "content_type_conformance,response_schema_conformance",
         "--max-examples", "25", "--seed", "19", "--workers", "2",
         "--request-timeout", "30", "--generation-database", "none",
         "--phases", "examples,coverage,fuzzing", "--no-color",
         # ASCII strings: a request stays under twice http.max_request,
         # past which the HTTP library answers (or resets) on its own
         "--generation-codec", "ascii",
         "--report", "junit", "--report-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert "passed" in out or "PASSED" in out, out[-3000:]


def test_changes_feed_after_a_late_event(daemon):
    port = daemon["port"]
    path = f"{API}/datasets/passages-heure/changes"
    st, b = jget(port, path, params={"since": 0, "limit": 10000})
    assert st == 200, b
    while b["more"]:
        st, b = jget(port, path, params={"since": b["next_cursor"], "limit": 10000})
    cursor = b["next_cursor"]
    st, b = jget(port, path, params={"since": cursor})
    assert st == 200 and b["results"] == [] and b["next_cursor"] == cursor
    st, b = jget(port, path, params={"since": cursor + 1000})
    assert st == 400
    # an answer cached before the revision (the second ask hits the cache)
    day_sums = {"select": "max(revision) as r, sum(count) as n", "refine": "counter_id:c2",
                "where": f"start_datetime < date'{(T0 + timedelta(days=1)).isoformat()}'"}
    rec = f"{API}/datasets/passages-heure/records"
    st, h, before = curl(port, rec, params=day_sums)
    st2, h2, again = curl(port, rec, params=day_sums)
    assert st == st2 == 200 and again == before and h2.get("x-cache") == "hit", h2
    # a late passage into a final hour of the first day: revision 1
    late = T0 + timedelta(hours=5, minutes=30)
    produce(daemon["kcat"], daemon["kafka"].bootstrap, f"{daemon['prefix']}.traffic",
            [("c2", json.dumps({"ts": int(late.timestamp() * 1000), "counter_id": "c2",
                                "direction": "in"}))])
    hour = (T0 + timedelta(hours=5)).astimezone(PARIS).isoformat()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        st, b = jget(port, path, params={"since": cursor})
        if any(r["start_datetime"] == hour and r["counter_id"] == "c2" for r in b["results"]):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"the revised hour never showed in the feed: {b}")
    assert b["next_cursor"] > cursor
    row = [r for r in b["results"] if r["start_datetime"] == hour and r["counter_id"] == "c2"][0]
    assert row["revision"] == 1 and row["status"] == "final"
    truth = daemon["truth"][("c2", T0 + timedelta(hours=5))] + 1
    assert row["count"] == (truth if row["count"] is not None else None)
    # the whole day is re-sent (suppression may move); each row once
    day = [r for r in b["results"] if r["counter_id"] == "c2"]
    assert len({r["start_datetime"] for r in day}) == len(day) > 1
    # and the export agrees
    rows = export_rows(port, "passages-heure", where="counter_id = 'c2'")
    assert [r for r in rows if r["start_datetime"] == hour][0] == row
    # the cached answer was not served past the change: computed again
    st, h, after = curl(port, rec, params=day_sums)
    assert st == 200 and "x-cache" not in h and after != before, (before, after)


def test_sighup_serves_a_new_dataset(daemon):
    """Last of the tests on the shared daemon: it changes its datasets."""
    port = daemon["port"]
    with open(daemon["cfg"], "a") as f:
        f.write("  - id: no2-jour\n    title: \"NO2 journalier\"\n    resolution: 1d\n"
                "    metrics: [no2]\n    columns: [mean]\n    tag_columns: [sensor_id]\n"
                "    status: all\n")
    daemon["proc"].send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, cat = jget(port, f"{API}/datasets")
        if cat["total_count"] == 4:
            break
        time.sleep(0.2)
    assert [d["dataset_id"] for d in cat["results"]][-1] == "no2-jour"
    rows = export_rows(port, "no2-jour")
    ref = query(daemon["bin_path"], daemon["cfg"], "1d", "--metric", "no2")
    assert [(r["start_datetime"], str(r["mean"])) for r in rows] == \
        [(r["start_datetime"], r["mean"]) for r in ref]
    # an invalid file keeps what is served
    with open(daemon["cfg"], "a") as f:
        f.write("  - id: Not Valid\n")
    daemon["proc"].send_signal(signal.SIGHUP)
    time.sleep(1.5)
    st, cat = jget(port, f"{API}/datasets")
    assert st == 200 and cat["total_count"] == 4


XCONFIG = two_source_template(
    after_http="export_dir: {xdir}\npublish: {{export_interval: 1s}}\n") + "{datasets}"

XDS = {
    "passages-heure": "resolution: 1h\n    metrics: [passages]\n    columns: [count]\n"
                      "    tag_columns: [counter_id]",
    "no2-heure": "resolution: 1h\n    metrics: [no2]\n    columns: [mean]\n"
                 "    tag_columns: [sensor_id]\n    status: all",
    "passages-jour": "resolution: 1d\n    metrics: [passages]\n    columns: [count]\n"
                     "    tag_columns: [counter_id]\n    status: all",
}


def x_datasets(ids):
    """The datasets block: XDS entries, passages-quotidien being passages-jour renamed."""
    return "".join(f"  - id: {i}\n    {XDS['passages-jour' if i == 'passages-quotidien' else i]}\n"
                   for i in ids)


def x_traffic(day, hours, rng, truth):
    """Passages of c1 and c2 over the first hours of a day after T0."""
    out = []
    for h in range(hours):
        start = T0 + timedelta(days=day, hours=h)
        for c in ("c1", "c2"):
            n = rng.randint(1, 12)
            for i in range(n):
                t = start + timedelta(seconds=(i * 3599) // n)
                out.append((c, json.dumps({"ts": int(t.timestamp() * 1000), "counter_id": c})))
            truth[(c, start.astimezone(PARIS).isoformat())] = n
    return out


def x_hours(xdir):
    """{(counter, start): count} of the export file passages-heure.json (None: unreadable)."""
    try:
        rows = json.loads((xdir / "passages-heure.json").read_text())
    except (FileNotFoundError, ValueError):
        return None
    return {(r["counter_id"], r["start_datetime"]): r["count"] for r in rows}


def test_export_folder_follows_sighup(kafka, kcat, bin_path, tmp_path):
    """SIGHUP drops no2-heure and renames passages-jour passages-quotidien:
    within seconds their files are gone and the new name's are written;
    the operator's files stay untouched, and passages-heure's files keep
    following new final hours (counts equal the produced passages)."""
    prefix = f"xd{int(time.time() * 1000) % 10**9}"
    for t in ("traffic", "air", "dead"):
        kafka.create_topic(f"{prefix}.{t}", 1)
    rng = random.Random(5)
    truth = {}
    produce(kcat, kafka.bootstrap, f"{prefix}.traffic", x_traffic(0, 24, rng, truth))
    air = [(s, json.dumps({"ts": (T0 + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                           "sensor_id": s, "no2": round(rng.uniform(5, 60), 1)}))
           for m in range(0, 24 * 60, 10) for s in SENSORS]
    produce(kcat, kafka.bootstrap, f"{prefix}.air", air)
    xdir = tmp_path / "exports"
    xdir.mkdir()
    operator = {"LISEZMOI.txt": b"fichiers publies\n", "archive-2025.csv": b"a;b\r\n1;2\r\n"}
    for name, body in operator.items():
        (xdir / name).write_bytes(body)
    port = free_port()
    cfg = tmp_path / "vigie.yaml"

    def write_cfg(ids):
        cfg.write_text(XCONFIG.format(store=tmp_path / "store", bootstrap=kafka.bootstrap,
                                      port=port, prefix=prefix, xdir=xdir,
                                      datasets=x_datasets(ids)))

    def final_hours_in_file(upto):
        """True when passages-heure.json holds exactly the produced hours that
        started before upto (they are final), and maybe later ones."""
        got = x_hours(xdir)
        if got is None:
            return False
        want = {k: v for k, v in truth.items() if datetime.fromisoformat(k[1]) < upto}
        return all(got.get(k) == v for k, v in want.items()) and \
            all(truth.get(k) == v for k, v in got.items())

    write_cfg(["passages-heure", "no2-heure", "passages-jour"])
    log = open(tmp_path / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", str(cfg)], stdout=log,
                         stderr=subprocess.STDOUT)
    first = {f"{d}.{e}" for d in XDS for e in ("csv", "json")}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if first <= set(os.listdir(xdir)) and \
                    final_hours_in_file(T0 + timedelta(hours=22)):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the first export files never came: {sorted(os.listdir(xdir))}")
        assert set(os.listdir(xdir)) == first | set(operator)
        # drop no2-heure, rename passages-jour
        write_cfg(["passages-heure", "passages-quotidien"])
        p.send_signal(signal.SIGHUP)
        want = {f"{d}.{e}" for d in ("passages-heure", "passages-quotidien")
                for e in ("csv", "json")} | set(operator)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and set(os.listdir(xdir)) != want:
            time.sleep(0.2)
        assert set(os.listdir(xdir)) == want, sorted(os.listdir(xdir))
        for name, body in operator.items():
            assert (xdir / name).read_bytes() == body
        # the renamed dataset's files are its export
        for fmt in ("csv", "json"):
            st, _, body = curl(port, f"{API}/datasets/passages-quotidien/exports/{fmt}",
                               raw=True)
            assert st == 200 and (xdir / f"passages-quotidien.{fmt}").read_bytes() == body
        st, _ = jget(port, f"{API}/datasets/no2-heure")
        assert st == 404
        # the kept dataset still follows: the next day's first hours
        produce(kcat, kafka.bootstrap, f"{prefix}.traffic", x_traffic(1, 4, rng, truth))
        upto = T0 + timedelta(days=1, hours=3)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not final_hours_in_file(upto):
            time.sleep(0.5)
        assert final_hours_in_file(upto), "passages-heure.json did not follow the new hours"
        assert sum(1 for k in x_hours(xdir) if datetime.fromisoformat(k[1]) >=
                   T0 + timedelta(days=1)) >= 6
        assert set(os.listdir(xdir)) == want, sorted(os.listdir(xdir))
        assert metric_value(port, "vigie_export_files_removed_total") == 4
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "vigied.log").read_text()[-3000:]
    assert "export file removed" in (tmp_path / "vigied.log").read_text()


def metric_value(port, name):
    st, _, body = curl(port, "/metrics")
    assert st == 200
    m = re.search(rf"^{name} (\S+)$", body, re.M)
    assert m, name
    return float(m.group(1))
