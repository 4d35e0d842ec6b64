"""A dataset published with the national mobility-count schema
(schema.data.gouv.fr etalab/schema-comptage-mobilites 0.2.5): the Seattle
Spokane St. Bridge counter's two directions, through the real broker, served
as sites.csv, channels.csv, measures.csv and datapackage.json over HTTP.

The measures are checked against an independent computation over the raw
records (Python's zoneinfo, not Vigie's code): one row per channel and UTC
hour from its first to its last reading, the hour's count where readings
arrived (zeros included), an empty count where none did (the counter's
outage of 2018-04-08 and the autumn hours that a naive local time cannot
name); with suppress_below, no count under k is published. The package
validates with the frictionless package from PyPI, and each file is checked
against the official schemas' columns, types, required fields, enums and
patterns as restated here from the schema pages."""
import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from e2e import (SHARED, free_port, naive_local_to_utc, produce, seattle_bike,
                 seattle_records, vigied, write_config)

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

API = "/api/explore/v2.1/catalog/datasets"
K = 5
DATASETS = """datasets:
  - id: {id}
    title: Spokane St. Bridge bicycle counter
    publisher: Seattle DOT
    license: PDDL-1.0
    resolution: 1h
    metrics: [east, west]
    columns: [sum]
    tag_columns: [counter]
    status: all
    suppress_below: {k}
    entity_tag: counter
    coordinates: {{spokane-st: "47.5713,-122.3477"}}
    schema: comptage-mobilites
    mobility_type: BIKE
    site_names: {{spokane-st: "Spokane St. Bridge, Seattle"}}
"""

# The official schemas (etalab/schema-comptage-mobilites-{site,channel,measure}
# 0.2.5, schema.data.gouv.fr): columns in order, (type, required, check).
MOBILITY = re.compile(r"(?:(?:^|,)(BIKE|TWO WHEELS MOTORIZED|PEDESTRIAN|E\-SCOOTER|"
                      r"HORSE\-RIDER|CAR|BUS|MINIBUS|TRUCK|VAN|TRAMWAY|CANOE|UNDEFINED))+$")
INSEE = re.compile(r"^([013-9]\d|2[AB1-9])\d{3}$")
OFFICIAL = {
    "sites.csv": [
        ("site_id", "string", True, None), ("parent_site_id", "string", False, None),
        ("site_name", "string", True, None),
        ("fr_insee_code", "string", False, INSEE.match),
        ("xlong", "number", True, lambda v: -180 <= float(v) <= 180),
        ("ylat", "number", True, lambda v: -90 <= float(v) <= 90),
        ("external_ids", "string", False, None),
        ("infrastructure_type", "string", False, None)],
    "channels.csv": [
        ("channel_id", "string", True, None), ("channel_provider_id", "string", False, None),
        ("site_provider_id", "string", False, None), ("site_id", "string", True, None),
        ("mobility_type", "string", False, MOBILITY.search),
        ("comment", "string", False, None),
        ("counter_transmission_type", "string", False,
         lambda v: v in ("REMOTE TRANSMISSION", "MANUAL")),
        ("publication_transmission_type", "string", False, lambda v: v in ("API", "MANUAL")),
        ("counter_type", "string", False, None),
        ("direction", "string", False,
         lambda v: v in ("N", "NW", "NE", "W", "SW", "S", "SE", "E")),
        ("provider_direction_code", "string", False, None),
        ("provider_direction_name", "string", False, None),
        ("data_provider_name", "string", False, None),
        ("temporality", "string", False, lambda v: v in ("TEMPORARY", "PERMANENT")),
        ("started_at", "datetime", True, None), ("ended_at", "datetime", False, None),
        ("last_updated_at", "datetime", False, None), ("time_step", "number", False, None),
        ("provider_portal_url", "string", False, None)],
    "measures.csv": [
        ("channel_id", "string", True, None), ("counter_id", "string", False, None),
        ("start_datetime", "datetime", True, None),
        ("end_datetime", "datetime", False, None), ("count", "number", False, None)],
}


FILES = ("sites.csv", "channels.csv", "measures.csv", "datapackage.json")


def utc_z(text):
    """ISO 8601 in UTC written with Z, as the schema's examples -> seconds."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", text), text
    return int(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=timezone.utc).timestamp())


def check_official(name, rows, header):
    """rows of file name against the official schema's columns and constraints."""
    spec = OFFICIAL[name]
    assert header == [c[0] for c in spec], header
    for row in rows:
        for col, typ, required, check in spec:
            v = row[col]
            if not v:
                assert not required, (name, col, row)
                continue
            if typ == "number":
                float(v)
            elif typ == "datetime":
                utc_z(v)
            if check:
                assert check(v), (name, col, v)


def get(port, path, *args):
    r = subprocess.run(["curl", "-s", "-S", "-w", "\n%{http_code} %{content_type}",
                        "--max-time", "120", *args, f"http://127.0.0.1:{port}{path}"],
                       capture_output=True, timeout=150)
    assert r.returncode == 0, r.stderr.decode()
    body, _, tail = r.stdout.rpartition(b"\n")
    status, ctype = tail.decode().split(" ", 1)
    return int(status), ctype, body.decode()


def read_csv(port, ds, name):
    st, ctype, body = get(port, f"{API}/{ds}/exports/comptage-mobilites/{name}")
    assert st == 200, body
    assert ctype.startswith("text/csv"), ctype
    assert not body.startswith("\ufeff") and "\r\n" in body  # comma, no BOM, CRLF
    reader = csv.DictReader(io.StringIO(body, newline=""))
    rows = list(reader)
    check_official(name, rows, reader.fieldnames)
    return rows


def truth():
    """Per direction, the sum of the readings of each UTC hour (the records
    of a repeated autumn hour name its first occurrence)."""
    tz, out = ZoneInfo("America/Los_Angeles"), {"east": {}, "west": {}}
    for rec in seattle_records():
        t = int(naive_local_to_utc(rec["date"], tz)) // 3600 * 3600
        for k in out:
            if k in rec:
                out[k][t] = out[k].get(t, 0) + int(rec[k])
    return out


@pytest.fixture(scope="module")
def served(kafka, kcat, bin_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("comptage")
    topic = f"comptage{int(time.time() * 1000) % 10**9}"
    kafka.create_topic(topic, 2)
    kafka.create_topic(topic + ".dead", 1)
    msgs, source, tz_name, _ = seattle_bike()
    produce(kcat, kafka.bootstrap, topic, msgs)
    port = free_port()
    xdir = tmp / "exports"
    extra = (f"export_dir: {xdir}\npublish: {{export_interval: 1s}}\n" +
             DATASETS.format(id="spokane", k=0) +
             DATASETS.format(id="spokane-k", k=K).replace("datasets:\n", ""))
    cfg = write_config(str(tmp / "vigie.yaml"), str(tmp / "store"), kafka.bootstrap,
                       tz_name, [dict(topic=topic, **source)], extra=extra,
                       http=f"127.0.0.1:{port}")
    r = vigied(bin_path, cfg, "--drain")
    assert r.returncode == 0, r.stderr
    log = open(tmp / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(port, f"{API}/spokane")[0] == 200:
                    break
            except AssertionError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail("the API did not answer in 60 s")
        while time.monotonic() < deadline and not all(
                (xdir / f"{d}.comptage-mobilites.{f}").exists()
                for d in ("spokane", "spokane-k") for f in FILES):
            time.sleep(0.3)
        yield port, xdir
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp / "vigied.log").read_text()[-3000:]


def test_sites_and_channels(served):
    served = served[0]
    sites = read_csv(served, "spokane", "sites.csv")
    assert sites == [dict(site_id="spokane-st", parent_site_id="",
                          site_name="Spokane St. Bridge, Seattle", fr_insee_code="",
                          xlong="-122.347700", ylat="47.571300", external_ids="",
                          infrastructure_type="")]
    channels = read_csv(served, "spokane", "channels.csv")
    assert [c["channel_id"] for c in channels] == ["spokane-st-east", "spokane-st-west"]
    t = truth()
    for c in channels:
        assert c["site_id"] == "spokane-st" and c["mobility_type"] == "BIKE"
        assert c["data_provider_name"] == "Seattle DOT" and c["time_step"] == "3600"
        assert utc_z(c["started_at"]) == min(t[c["channel_id"].rsplit("-", 1)[1]])


def expected_rows(hours):
    """(start, count text) of every hour from the first reading to the last:
    the sum where readings arrived, empty where none did."""
    lo, hi = min(hours), max(hours)
    return [(h, str(hours[h]) if h in hours else "") for h in range(lo, hi + 1, 3600)]


def test_measures_against_the_raw_records(served):
    served = served[0]
    rows = read_csv(served, "spokane", "measures.csv")
    t = truth()
    for d in ("east", "west"):
        got = [(utc_z(r["start_datetime"]), r["count"]) for r in rows
               if r["channel_id"] == f"spokane-st-{d}"]
        assert all(utc_z(r["end_datetime"]) - utc_z(r["start_datetime"]) == 3600
                   for r in rows)
        want = expected_rows(t[d])
        assert got == want
        zeros = sum(1 for _, c in want if c == "0")
        empty = [h for h, c in want if c == ""]
        assert zeros > 1000  # hours the counter counted no bicycle
        # the outage of 2018-04-08 (records without counts) is not 0 passages
        outage = int(datetime(2018, 4, 8, 7, tzinfo=timezone.utc).timestamp())
        assert outage in empty and len(empty) >= 24
    assert len(rows) == sum(len(expected_rows(t[d])) for d in t)


def test_suppressed_counts_are_empty_never_small(served):
    served = served[0]
    rows = read_csv(served, "spokane-k", "measures.csv")
    t = truth()
    blanked = 0
    for r in rows:
        d = r["channel_id"].rsplit("-", 1)[1]
        true = t[d].get(utc_z(r["start_datetime"]))
        if r["count"] == "":
            blanked += 1
            continue
        assert true is not None and true >= K and int(r["count"]) == true, r
    assert blanked >= sum(1 for d in t for v in t[d].values() if v < K)
    assert len(rows) == sum(len(expected_rows(t[d])) for d in t)


def test_datapackage_validates_with_frictionless(served):
    from frictionless import validate
    served = served[0]
    st, ctype, body = get(served, f"{API}/spokane/exports/comptage-mobilites/"
                          "datapackage.json")
    assert st == 200 and ctype.startswith("application/json"), body
    pkg = json.loads(body)
    base = f"http://127.0.0.1:{served}{API}/spokane/exports/comptage-mobilites/"
    assert [r["path"] for r in pkg["resources"]] == [
        base + "sites.csv", base + "channels.csv", base + "measures.csv"]
    for res, name in zip(pkg["resources"], ("sites.csv", "channels.csv", "measures.csv")):
        fields = res["schema"]["fields"]
        spec = OFFICIAL[name]
        assert [(f["name"], f["type"], f["constraints"]["required"]) for f in fields] == [
            (c, typ, req) for c, typ, req, _ in spec]
    assert pkg["resources"][2]["schema"]["foreignKeys"][0]["reference"] == {
        "resource": "channels", "fields": "channel_id"}
    report = validate(base + "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]
    rows = sum(t.stats["rows"] for t in report.tasks)
    assert rows > 2 * 38000


def test_unknown_file_and_conditional_get(served):
    served = served[0]
    st, _, body = get(served, f"{API}/spokane/exports/comptage-mobilites/sites.json")
    assert st == 404 and "datapackage.json" in body
    path = f"{API}/spokane/exports/comptage-mobilites/channels.csv"
    st, _, head = get(served, path, "-I")
    etag = re.search(r"(?im)^etag: (.+?)\r?$", head).group(1)
    st, _, body = get(served, path, "-H", f"If-None-Match: {etag}")
    assert st == 304 and body == ""


def test_export_folder(served):
    """The folder holds the four files of each dataset, the CSV files byte
    for byte the API's, and a data package whose paths name the folder's
    files (no http.public_url): it validates where it lies."""
    from frictionless import validate
    port, xdir = served
    for f in FILES[:3]:
        st, _, body = get(port, f"{API}/spokane/exports/comptage-mobilites/{f}")
        assert (xdir / f"spokane.comptage-mobilites.{f}").read_bytes().decode() == body
    pkg = json.loads((xdir / "spokane.comptage-mobilites.datapackage.json").read_text())
    assert [r["path"] for r in pkg["resources"]] == [
        f"spokane.comptage-mobilites.{f}" for f in FILES[:3]]
    report = validate(str(xdir / "spokane-k.comptage-mobilites.datapackage.json"))
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])[:20]


def test_dcat_distributions_conform_to_the_schema(served):
    """The catalog lists the four files of a comptage dataset as
    distributions that conform to the schema's pages (read as RDF)."""
    from rdflib import Graph, URIRef
    from rdflib.namespace import DCAT, DCTERMS
    port = served[0]
    st, ctype, body = get(port, "/api/explore/v2.1/catalog/exports/dcat")
    assert st == 200 and ctype.startswith("application/ld+json"), body
    g = Graph()
    g.parse(data=body, format="json-ld")
    ds = URIRef(f"http://127.0.0.1:{port}{API}/spokane")
    base = f"{ds}/exports/comptage-mobilites/"
    std = {str(d): str(g.value(d, DCTERMS.conformsTo))
           for d in g.objects(ds, DCAT.distribution) if str(d).startswith(base)}
    pages = "https://schema.data.gouv.fr/etalab/schema-comptage-mobilites"
    assert std == {base + "sites.csv": f"{pages}-site/0.2.5/",
                   base + "channels.csv": f"{pages}-channel/0.2.5/",
                   base + "measures.csv": f"{pages}-measure/0.2.5/",
                   base + "datapackage.json": f"{pages}/"}
    for d in std:
        assert str(g.value(URIRef(d), DCAT.downloadURL)) == d
