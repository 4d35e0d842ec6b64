"""A territory of cities (docs/territory.md): two city deployments and a
serve instance over both, against a real broker.

The Aarhus road traffic (real data: two roads' Bluetooth counts) is split
between two cities, row by row (even rows to Issy, odd rows to Boulogne),
each a standalone vigied with its own source topic, store, rollup topic and
`site`. A third standalone vigied reads every row: the whole territory as
one city. The serve instance reads the two rollup topics (`format: vigie`,
each with its site). Then:

- per site, the serve store holds each city's final windows, the same
  statistics and revisions, in series tagged site=<city>;
- merged across sites (`vigieq query --group-by report_id`: the two cities'
  windows of one road), every hour both cities finalized equals the whole
  territory's window of that hour -- counts, sums, extremes, first/last,
  and the quantiles of merged sketches -- and the oracle of the raw rows;
- a dataset `merge_by: [report_id]` of the serve instance, through its HTTP
  API (records, CSV export, changes feed; the export folder's file is the
  API's CSV, DCAT lists it), has rows equal to the whole
  territory's dataset rows (its API's CSV export) for every hour both
  cities finalized -- count, sum, min, max, p95 -- and the merged revision
  of the rule (the sites' revisions added, plus one);
- a late reading in Issy revises Issy's hour in the serve store (revision
  1, one more count) and the merged hour with it;
- kill -9 of the serve instance while it reads, then a restart: the same
  windows as a clean run; a hot copy of its store taken while it reads
  resumes at the copy's offsets to the same store; a second serve replica
  on the same topics answers byte for byte alike;
- a city of another time zone is refused: the serve instance stops naming
  the zones, and writes none of its windows.
"""
import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import time

import pytest

from e2e import aarhus_traffic, free_port, produce

TZ = "Europe/Copenhagen"
SITES = ("issy", "boulogne")
STATS = ("count", "sum", "min", "max", "mean", "stddev", "first", "last", "p50", "p95")


def city_config(tmp, name, bootstrap, topic, site, tz=TZ, port=None):
    path = tmp / f"{name}.yaml"
    path.write_text("\n".join([
        f"data_dir: {tmp / name}", f"timezone: {tz}", f"site: {site}",
        "checkpoint_interval: 200ms",
        "windows: {base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}",
        "retention: {base: forever}",
        f'kafka: {{brokers: "{bootstrap}", dead_letter_topic: {topic}.dead, '
        f"rollup_topic: {topic}.rollups}}",
        f'http: {{listen: "127.0.0.1:{port or free_port()}"}}',
        "sources:", f"  - topic: {topic}", "    format: influx", "    precision: s",
        "    quantiles: true", ""]))
    return str(path)


def serve_config(tmp, name, bootstrap, sources, port=None, extra="", kafka_extra=""):
    """sources: [(topic, site)]."""
    path = tmp / f"{name}.yaml"
    lines = [f"data_dir: {tmp / name}", f"timezone: {TZ}", "role: serve",
             "checkpoint_interval: 50ms", "retention: {base: forever}",
             f'kafka: {{brokers: "{bootstrap}"{kafka_extra}}}',
             f'http: {{listen: "127.0.0.1:{port or free_port()}"}}', "sources:"]
    for topic, site in sources:
        lines += [f"  - topic: {topic}", "    format: vigie", f"    site: {site}"]
    path.write_text("\n".join(lines + [extra]))
    return str(path)


def stored(bin_path, cfg):
    """The next offset the store holds per (topic, partition)."""
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "status", "--format", "csv"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return {}
    return {(x["name"], x["partition"]): int(x["value"])
            for x in csv.DictReader(io.StringIO(r.stdout))
            if x["kind"] == "partition" and x["value"]}


def drain(bin_path, cfg, ok=True):
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    if ok:
        assert r.returncode == 0, r.stderr[-3000:]
    return r


def rows(bin_path, cfg, res, *extra):
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "query", "--resolution", res,
                        "--format", "csv", *extra], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return list(csv.DictReader(io.StringIO(r.stdout)))


def sited(series, site):
    """The series key with the tag site added (tags sorted: report_id < site)."""
    return series[:-1] + f',site="{site}"}}'


def same_stats(got, want, what):
    for k in STATS + ("start_datetime", "end_datetime", "revision"):
        assert got[k] == want[k], (what, k, got, want)


def check_sites(bin_path, serve_cfg, city_cfgs):
    """The serve store's windows of each site are the city's final ones."""
    for res in ("1h", "1d"):
        served = {(r["series"], r["start_datetime"]): r for r in rows(bin_path, serve_cfg, res)}
        total = 0
        for site, cfg in city_cfgs.items():
            for r in rows(bin_path, cfg, res):
                if r["status"] != "final":
                    continue
                got = served.pop((sited(r["series"], site), r["start_datetime"]), None)
                assert got is not None, (site, res, r)
                assert got["status"] == "final"
                same_stats(got, r, (site, res))
                total += 1
        assert total > 100 if res == "1h" else total > 4
        assert not served, f"windows of no city at {res}: {list(served)[:3]}"


def check_merged(bin_path, serve_cfg, city_cfgs, whole_cfg, oracle):
    """Each hour both cities finalized, merged across sites, is the whole
    territory's window and the oracle's. Returns the hours checked."""
    final = [{(r["series"], r["start_datetime"]) for r in rows(bin_path, c, "1h")
              if r["status"] == "final"} for c in city_cfgs.values()]
    both = final[0] & final[1]
    whole = {(r["series"], r["start_datetime"]): r for r in rows(bin_path, whole_cfg, "1h")}
    merged = rows(bin_path, serve_cfg, "1h", "--group-by", "report_id")
    want = {(s, res, st): a for (s, res, st), a in oracle.w.items() if res == "1h"}
    checked = 0
    for m in merged:
        series = m["series"]  # the group: metric{report_id="..."}
        key = (series, m["start_datetime"])
        if key not in both:
            continue
        w = whole[key]
        for k in ("count", "sum", "min", "max", "first", "last", "p50", "p95"):
            assert float(m[k]) == pytest.approx(float(w[k]), rel=1e-12), (k, m, w)
        n, s, lo, hi = want[(series, "1h", int(time_of(m["start_datetime"])))]
        assert (int(m["count"]), float(m["min"]), float(m["max"])) == (n, lo, hi)
        assert float(m["sum"]) == pytest.approx(s, rel=1e-12)
        checked += 1
    assert checked > 100, checked
    return checked


MERGED = ("datasets:\n  - id: trafic-territoire\n    resolution: 1h\n"
          "    metrics: [traffic_vehicle_count]\n    columns: [count, sum, min, max, p95]\n"
          "    tag_columns: [report_id]\n{merge}")


def http_get(port, path, timeout=30):
    """GET of the API at port (retried while vigied starts): the body."""
    import urllib.request
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/explore/v2.1/catalog/"
                                        + path, timeout=60) as f:
                return f.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def csv_rows(text):
    """A CSV export (delimiter=, with_bom=false) keyed by (road, start)."""
    return {(r["report_id"], r["start_datetime"]): r
            for r in csv.DictReader(io.StringIO(text, newline=""))}


def check_merged_dataset(bin_path, serve_cfg, serve_port, city_cfgs, whole_cfg,
                         whole_port, export_dir):
    """The serve instance's merge_by dataset, through its API, is the whole
    territory's dataset for each hour both cities finalized; its export
    folder holds the API's CSV, its DCAT lists it."""
    final = [{(r["series"], r["start_datetime"]) for r in rows(bin_path, c, "1h")
              if r["status"] == "final"} for c in city_cfgs.values()]
    both = final[0] & final[1]
    sites = {}  # (series, start) -> the sites' revisions in the serve store
    for r in rows(bin_path, serve_cfg, "1h", "--metric", "traffic_vehicle_count"):
        group = re.sub(r',site="[^"]*"', "", r["series"])
        sites.setdefault((group, r["start_datetime"]), []).append(int(r["revision"]))
    export = "datasets/trafic-territoire/exports/csv?delimiter=,&with_bom=false"
    procs = [subprocess.Popen([bin_path("vigied"), "--config", c], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) for c in (serve_cfg, whole_cfg)]
    try:
        merged = csv_rows(http_get(serve_port, export))
        whole = csv_rows(http_get(whole_port, export))
        body = http_get(serve_port, "datasets/trafic-territoire/exports/csv")
        dcat = json.loads(http_get(serve_port, "exports/dcat"))
        path = os.path.join(export_dir, "trafic-territoire.csv")
        deadline = time.monotonic() + 60
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.2)
        with open(path, encoding="utf-8", newline="") as f:
            folder = f.read()
        records = json.loads(http_get(
            serve_port, "datasets/trafic-territoire/records?limit=100&offset=100"))
        changes, since, more = {}, 0, True
        while more:
            page = json.loads(http_get(
                serve_port, f"datasets/trafic-territoire/changes?since={since}&limit=10000"))
            for r in page["results"]:
                k = (r["report_id"], r["start_datetime"])
                if k not in changes or changes[k]["revision"] <= r["revision"]:
                    changes[k] = r
            since, more = page["next_cursor"], page["more"]
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=60)
    assert folder == body and len(body) > 100000
    assert "trafic-territoire" in json.dumps(dcat)
    checked = 0
    for (road, start), m in merged.items():
        group = f'traffic_vehicle_count{{report_id="{road}"}}'
        if (group, start) not in both:
            continue
        w = whole[(road, start)]
        assert int(m["count"]) == int(w["count"]), (m, w)
        for k in ("min", "max"):
            assert float(m[k]) == float(w[k]), (k, m, w)
        for k in ("sum", "p95"):
            assert float(m[k]) == pytest.approx(float(w[k]), rel=1e-12), (k, m, w)
        revs = sites[(group, start)]
        assert len(revs) == 2 and int(m["revision"]) == sum(revs) + 1, (m, revs)
        assert m["status"] == "final"
        c = changes[(road, start)]  # the changes feed finds the group by a member
        assert (c["count"], c["revision"]) == (int(m["count"]), int(m["revision"])), (c, m)
        checked += 1
    assert checked > 100, checked
    assert set(changes) == set(merged)
    # the records endpoint gives the export's rows
    assert len(records["results"]) == 100 and records["total_count"] == len(merged)
    for r in records["results"]:
        e = merged[(r["report_id"], r["start_datetime"])]
        assert (r["count"], r["max"]) == (int(e["count"]), float(e["max"])), (r, e)
    return checked


def time_of(iso):
    from datetime import datetime
    return datetime.fromisoformat(iso).timestamp()


def test_two_cities_and_their_territory(kafka, kcat, bin_path, tmp_path, topic_name):
    msgs, oracle = aarhus_traffic()
    topics = {site: f"{topic_name}.{site}" for site in SITES}
    for t in topics.values():
        kafka.create_topic(t, 2)
    kafka.create_topic(f"{topic_name}.whole", 2)
    # the whole territory's own rows keep their order: a late reading stays late
    split = {"issy": msgs[0::2], "boulogne": msgs[1::2]}
    for site in SITES:
        produce(kcat, kafka.bootstrap, topics[site], split[site])
    produce(kcat, kafka.bootstrap, f"{topic_name}.whole", msgs)
    cities = {site: city_config(tmp_path, site, kafka.bootstrap, topics[site], site)
              for site in SITES}
    whole_port, serve_port = free_port(), free_port()
    whole = city_config(tmp_path, "whole", kafka.bootstrap, f"{topic_name}.whole", "whole",
                        port=whole_port)
    with open(whole, "a") as f:
        f.write(MERGED.format(merge=""))
    for cfg in list(cities.values()) + [whole]:
        drain(bin_path, cfg)
    # small fetches: the serve instance reads the topics over many epochs
    serve = serve_config(tmp_path, "serve", kafka.bootstrap,
                         [(f"{topics[s]}.rollups", s) for s in SITES], port=serve_port,
                         kafka_extra=", properties: {max.partition.fetch.bytes: '65536'}",
                         extra=f"export_dir: {tmp_path / 'serve-exports'}\n"
                         "publish: {export_interval: 1s}\n"
                         + MERGED.format(merge="    merge_by: [report_id]\n"))

    # kill -9 of the serve instance at random instants while it reads and
    # commits (each time once it has committed more), restarts, its drain
    seed = int(os.environ.get("VIGIE_CRASH_SEED", time.time_ns() % 1000003))
    print(f"territory crash seed {seed} (VIGIE_CRASH_SEED to replay)")
    rnd = random.Random(seed)
    done = 0
    with open(tmp_path / "serve.log", "w") as log:
        for kill in range(3):
            p = subprocess.Popen([bin_path("vigied"), "--config", serve], stdout=log,
                                 stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and p.poll() is None and \
                    sum(stored(bin_path, serve).values()) <= done:
                time.sleep(0.05)
            if kill == 2:  # a hot copy of the serve store while it reads
                c = subprocess.run([bin_path("vigieq"), "--config", serve, "copy",
                                    str(tmp_path / "serve-copy")], capture_output=True,
                                   text=True, timeout=120)
                assert c.returncode == 0, c.stderr
            time.sleep(rnd.uniform(0.0, 0.3))
            p.send_signal(signal.SIGKILL)
            p.wait()
            done = sum(stored(bin_path, serve).values())
    loaded = re.findall(r'msg="store loaded" epoch=(\d+)', (tmp_path / "serve.log").read_text())
    assert len(loaded) == 3 and int(loaded[-1]) > 0, loaded
    # from here on, fetches of the usual size (the drains are faster)
    text = open(serve).read()
    open(serve, "w").write(text.replace(", properties: {max.partition.fetch.bytes: '65536'}",
                                        ""))
    r = drain(bin_path, serve)
    assert "serving the rollup topics" in r.stderr
    # a serve instance on the hot copy resumes at its offsets: the same store
    copy_cfg = tmp_path / "serve-copy.yaml"
    copy_cfg.write_text(open(serve).read().replace(f"data_dir: {tmp_path / 'serve'}\n",
                                                   f"data_dir: {tmp_path / 'serve-copy'}\n"))
    assert sum(stored(bin_path, str(copy_cfg)).values()) > 0
    r = drain(bin_path, str(copy_cfg))
    assert re.search(r'msg="store loaded" epoch=[1-9]', r.stderr), r.stderr[-2000:]
    for res in ("1h", "1d"):
        out = [subprocess.run([bin_path("vigieq"), "--config", c, "query", "--resolution",
                               res, "--format", "csv"], capture_output=True,
                              timeout=300).stdout for c in (serve, str(copy_cfg))]
        assert out[0] and out[0] == out[1], f"the hot copy's serve differs at {res}"
    check_sites(bin_path, serve, cities)
    hours = check_merged(bin_path, serve, cities, whole, oracle)
    print(f"{hours} merged hours equal the whole territory's")
    hours = check_merged_dataset(bin_path, serve, serve_port, cities, whole, whole_port,
                                 tmp_path / "serve-exports")
    print(f"{hours} rows of the merge_by dataset equal the whole territory's")

    # a late reading in Issy: its hour comes again, revision 1, in the territory too
    final = [r for r in rows(bin_path, cities["issy"], "1h") if r["status"] == "final"
             and r["metric"] == "traffic_vehicle_count"]
    hour = final[len(final) // 2]
    rid = hour["series"].split('"')[1]
    t = int(time_of(hour["start_datetime"])) + 60
    produce(kcat, kafka.bootstrap, topics["issy"],
            [(rid, f"traffic,report_id={rid} vehicle_count=1000i,avg_speed=50i {t}")])
    drain(bin_path, cities["issy"])
    drain(bin_path, serve)
    served = {(r["series"], r["start_datetime"]): r for r in rows(bin_path, serve, "1h")}
    got = served[(sited(hour["series"], "issy"), hour["start_datetime"])]
    assert got["revision"] == "1" and int(got["count"]) == int(hour["count"]) + 1
    assert float(got["max"]) == 1000
    # merged, the hour's revision grows with Issy's (the sites' added, plus one)
    merged = {(r["series"], r["start_datetime"]): r
              for r in rows(bin_path, serve, "1h", "--group-by", "report_id")}
    m = merged[(hour["series"], hour["start_datetime"])]
    other = served.get((sited(hour["series"], "boulogne"), hour["start_datetime"]))
    assert int(m["revision"]) == 1 + (int(other["revision"]) + 1 if other else 0), (m, other)
    assert int(m["count"]) == int(got["count"]) + (int(other["count"]) if other else 0)
    check_sites(bin_path, serve, cities)

    # a second replica on the same topics answers byte for byte alike
    replica = serve_config(tmp_path, "replica", kafka.bootstrap,
                           [(f"{topics[s]}.rollups", s) for s in SITES])
    drain(bin_path, replica)
    for res in ("1h", "1d"):
        out = [subprocess.run([bin_path("vigieq"), "--config", c, "query", "--resolution",
                               res, "--format", "csv"], capture_output=True,
                              timeout=300).stdout for c in (serve, replica)]
        assert out[0] and out[0] == out[1], f"the replicas differ at {res}"

    # a city of another zone is refused, loudly, and none of it is written
    london = city_config(tmp_path, "london", kafka.bootstrap, f"{topic_name}.london",
                         "london", tz="Europe/London")
    kafka.create_topic(f"{topic_name}.london", 1)
    produce(kcat, kafka.bootstrap, f"{topic_name}.london", msgs[:3000])
    drain(bin_path, london)
    mixed = serve_config(tmp_path, "mixed", kafka.bootstrap,
                         [(f"{topics['issy']}.rollups", "issy"),
                          (f"{topic_name}.london.rollups", "london")])
    r = drain(bin_path, mixed, ok=False)
    assert r.returncode != 0
    assert "Europe/London" in r.stderr and TZ in r.stderr and "london" in r.stderr, \
        r.stderr[-2000:]
    assert not [x for x in rows(bin_path, mixed, "1h") if 'site="london"' in x["series"]]


def test_serve_config_errors(bin_path, tmp_path):
    """A serve instance reads rollup topics only, each with its site; no
    other role reads them; each error names the file and line."""
    base = ["data_dir: d", "timezone: Europe/Paris"]
    cases = [
        (["role: serve", "sources:", "  - {topic: a, format: json, time_key: ts}"],
         "role serve reads rollup topics only"),
        (["sources:", "  - {topic: a, format: vigie, site: x}"],
         "read by role: serve only"),
        (["role: serve", "sources:", "  - {topic: a, format: vigie}"],
         "sources[0].site: required"),
        (["role: serve", "sources:", "  - {topic: a, format: vigie, site: 'a b'}"],
         "expected a name"),
        (["role: serve", "sources:", "  - {topic: a, format: vigie, site: x}",
          "  - {topic: b, format: vigie, site: x}"], "one topic per site"),
    ]
    for lines, want in cases:
        cfg = tmp_path / "vigie.yaml"
        cfg.write_text("\n".join(base + lines) + "\n")
        r = subprocess.run([bin_path("vigied"), "--config", str(cfg), "--check-config"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode != 0 and want in r.stderr, (lines, r.stderr)
        assert f"{cfg}:" in r.stderr, r.stderr


DATASET = ("datasets:\n  - id: trafic-heure\n    resolution: 1h\n"
           "    metrics: [traffic_vehicle_count]\n    columns: [count, sum, p95]\n"
           "    tag_columns: [{tags}]\n")
INDICATOR = ("indicators:\n  - id: trafic-moyen\n    title: Trafic moyen\n"
             "    dataset: trafic-heure\n    metric: traffic_vehicle_count\n"
             "    statistic: mean\n    over: 1h\n    period: month\n"
             "  - id: trafic-p95\n    title: Trafic p95\n    dataset: trafic-heure\n"
             "    metric: traffic_vehicle_count\n    statistic: p95\n    over: 1d\n"
             "    period: month\n")


def api(port, path):
    """GET of the API at port (retried while vigied starts), as JSON."""
    import urllib.request
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/explore/v2.1/catalog/"
                                        + path, timeout=5) as f:
                return json.loads(f.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def served(bin_path, cfg, port, path):
    """The API's answer at path from vigied on cfg as a service."""
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        return api(port, path)
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)


def test_serve_api_and_indicators(kafka, kcat, bin_path, tmp_path, topic_name):
    """One city and a serve instance over its rollup topic, both with a
    monthly mean and p95 indicator per series: the serve store's windows are
    the city's (site aarhus), its API lists them with the tag site, and its
    indicator rows -- computed by the serve instance from the windows it
    received -- are the city's, value, coverage and status."""
    msgs, _ = aarhus_traffic()
    kafka.create_topic(topic_name, 2)
    produce(kcat, kafka.bootstrap, topic_name, msgs[:20000])
    city_port, port = free_port(), free_port()
    city = city_config(tmp_path, "city", kafka.bootstrap, topic_name, "aarhus",
                       port=city_port)
    with open(city, "a") as f:
        f.write(DATASET.format(tags="report_id") + INDICATOR)
    drain(bin_path, city)
    serve = serve_config(tmp_path, "serve", kafka.bootstrap,
                         [(f"{topic_name}.rollups", "aarhus")], port=port,
                         extra=DATASET.format(tags="site, report_id") + INDICATOR)
    drain(bin_path, serve)
    check_sites(bin_path, serve, {"aarhus": city})
    body = served(bin_path, serve, port,
                  "datasets/trafic-heure/records?limit=5&where=site%3D%22aarhus%22")
    assert body["total_count"] > 100, body
    assert all(r["site"] == "aarhus" for r in body["results"])
    q = "datasets/indicateurs/records?limit=100&order_by=indicator,series,period_start"
    mine = served(bin_path, serve, port, q)["results"]
    theirs = served(bin_path, city, city_port, q)["results"]
    assert len(theirs) >= 4 and len(mine) == len(theirs), (mine, theirs)
    for m, t in zip(mine, theirs):
        assert m["series"] == sited(t["series"], "aarhus"), (m, t)
        for k in ("indicator", "period_start", "period_end", "value", "coverage", "status"):
            assert m[k] == t[k], (k, m, t)
