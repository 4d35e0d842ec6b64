"""Hostile strings through every JSON output of a running vigied (issue 16):
a dataset whose title, description, licence, keywords and publisher hold
quotes, backslashes, control characters, U+2028/U+2029, markup, emoji and a
10 kB string, and sensors whose tag values hold the same. Every JSON answer
(catalog, dataset, DCAT export, records, exports json/jsonl/geojson, the
changes feed, an error) and every rollup-topic message read back with
confluent-kafka parses with Python's json module, and each value comes back
exactly. (Invalid UTF-8 cannot reach these outputs here: the YAML parser
and the codecs refuse it; the unit tests feed it to the writer directly.)
"""
import json
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import Consumer, TopicPartition

from e2e import free_port, produce

API = "/api/explore/v2.1/catalog"
T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)
HOURS = 6

CONTROL = "".join(chr(c) for c in range(1, 0x20)) + "\x7f"
HOSTILE = [
    'say "hi"',
    "back\\slash \\\" \\u0041 \\n",
    "ctl " + CONTROL,
    "line\u2028sep\u2029para",
    "</script><script>alert(1)</script><!-- -->",
    "emoji \U0001F600 \U0001F1EB\U0001F1F7 café",
    '{"a":[1,2]}, ; \t|',
]
LONG = "".join('"' if i % 97 == 0 else "\\" if i % 89 == 0 else chr(32 + i % 95)
               for i in range(10240))
META = HOSTILE[0] + HOSTILE[1] + HOSTILE[2] + HOSTILE[3] + HOSTILE[4] + HOSTILE[5]
# tag values: what the codec keeps (its limits on a tag value's length)
SITES = HOSTILE


def yq(s):
    """A YAML double-quoted scalar of s: JSON's escapes are YAML's, but not
    its surrogate pairs (non-ASCII stays raw), and YAML reads a raw U+2028,
    U+2029 or DEL as a line break or an error (escaped)."""
    out = json.dumps(s, ensure_ascii=False)
    for ch in ("\u2028", "\u2029", "\x7f"):
        out = out.replace(ch, "\\u%04x" % ord(ch))
    return out


CONFIG = """data_dir: {store}
timezone: UTC
checkpoint_interval: 200ms
windows: {{base: 1m, lateness: 0s, out_of_orderness: 0s, idle_timeout: 1s}}
retention: {{base: forever}}
kafka: {{brokers: "{bootstrap}", dead_letter_topic: {prefix}.dead, rollup_topic: {prefix}.rollups}}
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - topic: {prefix}.air
    time_key: ts
    time_format: unix_ms
    entity_key: sensor_id
    tag_keys: [site]
    fields: [no2]
datasets:
  - id: no2-hostile
    title: {title}
    description: {description}
    keywords: [{kw1}, {kw2}, plain]
    publisher: {publisher}
    license: {license}
    resolution: 1h
    metrics: [no2]
    columns: [count, mean]
    tag_columns: [sensor_id, site]
    status: all
"""


def curl(port, path, params=None):
    cmd = ["curl", "-s", "-S", "-G", "--max-time", "60"]
    for k, v in (params or {}).items():
        cmd += ["--data-urlencode", f"{k}={v}"]
    cmd += [f"http://127.0.0.1:{port}{path}"]
    r = subprocess.run(cmd, capture_output=True, timeout=90)
    assert r.returncode == 0, r.stderr.decode()
    return r.stdout.decode("utf-8")  # strict: the body is valid UTF-8


@pytest.fixture(scope="module")
def daemon(kafka, kcat, bin_path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    prefix = f"hostile{int(time.time() * 1000) % 10**9}"
    for t in ("air", "dead", "rollups"):
        kafka.create_topic(f"{prefix}.{t}", 1)
    events = []
    for h in range(HOURS):
        for i, site in enumerate(SITES):
            t = T0 + timedelta(hours=h, minutes=i)
            events.append((f"s{i}", json.dumps({"ts": int(t.timestamp() * 1000),
                                                 "sensor_id": f"s{i}", "site": site,
                                                 "no2": 10.5 + i})))
    # a reading two hours after the last one: the watermark closes every hour
    end = T0 + timedelta(hours=HOURS + 2)
    events.append(("s0", json.dumps({"ts": int(end.timestamp() * 1000), "sensor_id": "s0",
                                     "site": SITES[0], "no2": 1})))
    produce(kcat, kafka.bootstrap, f"{prefix}.air", events)
    port = free_port()
    cfg = tmp / "vigie.yaml"
    cfg.write_text(CONFIG.format(store=tmp / "store", bootstrap=kafka.bootstrap, port=port,
                                 prefix=prefix, title=yq(META), description=yq(LONG),
                                 kw1=yq(HOSTILE[2]), kw2=yq(HOSTILE[4]),
                                 publisher=yq(HOSTILE[1]), license=yq(HOSTILE[0])))
    log = open(tmp / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", str(cfg)], stdout=log,
                         stderr=subprocess.STDOUT)
    want = HOURS * len(SITES)
    deadline = time.monotonic() + 120
    got = -1
    while time.monotonic() < deadline:
        try:
            body = json.loads(curl(port, f"{API}/datasets/no2-hostile/records",
                                   {"limit": 0, "where": "status='final'"}))
            got = body.get("total_count", -1)
            if got >= want:
                break
        except (AssertionError, ValueError):
            pass
        if p.poll() is not None:
            pytest.fail((tmp / "vigied.log").read_text()[-3000:])
        time.sleep(0.5)
    else:
        pytest.fail(f"only {got} of {want} final hours after 120 s: "
                    + (tmp / "vigied.log").read_text()[-2000:])
    yield dict(port=port, prefix=prefix, kafka=kafka)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=30)
    log.close()
    assert rc == 0, (tmp / "vigied.log").read_text()[-3000:]


def check_meta(m):
    assert m["title"] == META
    assert m["description"] == LONG
    assert m["keyword"] == [HOSTILE[2], HOSTILE[4], "plain"]
    assert m["publisher"] == HOSTILE[1]
    assert m["license"] == HOSTILE[0]


def check_rows(rows):
    sites = {r["site"] for r in rows}
    assert sites == set(SITES), sites
    for r in rows:
        assert r["metric"] == "no2"
        assert r["sensor_id"] == f"s{SITES.index(r['site'])}"


def test_catalog_dataset_and_dcat(daemon):
    port = daemon["port"]
    cat = json.loads(curl(port, f"{API}/datasets"))
    check_meta(cat["results"][0]["metas"]["default"])
    ds = json.loads(curl(port, f"{API}/datasets/no2-hostile"))
    check_meta(ds["metas"]["default"])
    dcat = json.loads(curl(port, f"{API}/exports/dcat"))
    d = dcat["dcat:dataset"][0]
    assert d["dct:title"] == META
    assert d["dct:description"] == LONG
    assert d["dcat:keyword"] == [HOSTILE[2], HOSTILE[4], "plain"]
    assert d["dct:publisher"]["foaf:name"] == HOSTILE[1]
    assert dcat["dct:publisher"]["foaf:name"] == HOSTILE[1]
    lic = "https://spdx.org/licenses/" + HOSTILE[0]
    assert d["dct:license"]["@id"] == lic
    assert all(x["dct:license"]["@id"] == lic for x in d["dcat:distribution"])


def test_records_exports_and_changes(daemon):
    port = daemon["port"]
    ds = f"{API}/datasets/no2-hostile"
    rec = json.loads(curl(port, f"{ds}/records", {"limit": 100, "order_by": "site"}))
    check_rows(rec["results"])
    check_rows(json.loads(curl(port, f"{ds}/exports/json")))
    # lines end at "\n" only (str.splitlines would also cut at U+2028, \x1c...)
    check_rows([json.loads(line) for line in curl(port, f"{ds}/exports/jsonl").split("\n")
                if line])
    geo = json.loads(curl(port, f"{ds}/exports/geojson"))
    check_rows([f["properties"] for f in geo["features"]])
    ch = json.loads(curl(port, f"{ds}/changes", {"since": 0}))
    check_rows(ch["results"])
    # a where clause naming a hostile site finds its rows (the value went
    # through the API's URL decoding and ODSQL's quoting, and came back)
    site = HOSTILE[4]
    q = "site = '" + site.replace("\\", "\\\\").replace("'", "\\'") + "'"
    rows = json.loads(curl(port, f"{ds}/records", {"where": q, "limit": 100}))["results"]
    assert rows and all(r["site"] == site for r in rows)
    err = json.loads(curl(port, f"{ds}/records", {"where": "site = '\x01\"<!--"}))
    assert err["error_code"] == "ODSQLError" and isinstance(err["message"], str)


def test_rollup_topic(daemon):
    topic = f"{daemon['prefix']}.rollups"
    c = Consumer({"bootstrap.servers": daemon["kafka"].bootstrap,
                  "group.id": f"hostile-{time.time()}", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, 0, 0)])
    msgs, last = [], time.monotonic()
    deadline = time.monotonic() + 60
    while time.monotonic() - last < 5 and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        msgs.append(json.loads(m.value().decode("utf-8")))
        last = time.monotonic()
    c.close()
    hourly = [m for m in msgs if m["resolution"] == "1h"]
    assert len(hourly) >= HOURS * len(SITES), len(hourly)
    assert {m["tags"]["site"] for m in hourly} == set(SITES)
    for m in hourly:
        assert m["metric"] == "no2"
        assert m["series"].startswith("no2{")
        assert m["tags"]["sensor_id"] == f"s{SITES.index(m['tags']['site'])}"
