"""The two other publication channels of a vigied fed from a real broker:

- the rollup topic, read back with confluent-kafka (a client we did not
  write): after a drain it holds exactly vigieq's final hourly and daily
  windows (values, counts); a late event produces the revised window with
  revision 1; kill -9 at random instants and a restart lose no final window
  and write none twice (exactly once per window and revision), and the
  cursor catches up (backlog 0);
- the export folder: per dataset a CSV and a JSON file byte for byte equal
  to the HTTP API's exports, complete, replaced after a late event.
"""
import json
import os
import random
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from confluent_kafka import Consumer, TopicPartition

import acc_state

from e2e import (assert_once_each, free_port, produce, query, two_source_template,
                 unwritable, writable)

T0 = datetime(2026, 3, 9, tzinfo=timezone.utc)  # a Monday, far from DST
DAYS = 3
COUNTERS = ["c1", "c2"]
SENSORS = ["s1", "s2"]
PARIS = ZoneInfo("Europe/Paris")
API = "/api/explore/v2.1/catalog"

CONFIG = two_source_template(kafka_extra=", rollup_topic: {prefix}.rollups",
                             after_http="{extra}\n") + """  - id: passages-heure
    resolution: 1h
    metrics: [passages]
    columns: [count, sum]
    tag_columns: [counter_id]
    suppress_below: 5
  - id: no2-jour
    resolution: 1d
    metrics: [no2]
    columns: [count, mean, min, max]
    tag_columns: [sensor_id]
    status: all
"""


def events():
    rng = random.Random(3)
    traffic, air, truth = [], [], defaultdict(int)
    for d in range(DAYS):
        for h in range(24):
            start = T0 + timedelta(days=d, hours=h)
            for c in COUNTERS:
                n = rng.choice([0, 2, 7, 15])
                for i in range(n):
                    t = start + timedelta(seconds=(i * 3599) // n)
                    traffic.append((c, json.dumps({"ts": int(t.timestamp() * 1000),
                                                   "counter_id": c})))
                    truth[(c, start)] += 1
            for m in range(0, 60, 15):
                t = start + timedelta(minutes=m)
                for s in SENSORS:
                    air.append((s, json.dumps({"ts": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                               "sensor_id": s,
                                               "no2": round(rng.uniform(5, 60), 1)})))
    return traffic, air, truth


def a_busy_hour(counter, skip=0):
    """An hour of the first day in which counter passed (the events' truth)."""
    *_, truth = events()
    hours = [h for h in range(2, 20) if truth[(counter, T0 + timedelta(hours=h))]]
    return T0 + timedelta(hours=hours[skip])


def setup(kafka, kcat, tmp, extra="", rollup_topic=True, dead_topic=True):
    prefix = f"ru{int(time.time() * 1000) % 10**9}"
    made = {"rollups": rollup_topic, "dead": dead_topic}
    for t, n in (("traffic", 2), ("air", 1), ("dead", 1), ("rollups", 3)):
        if made.get(t, True):
            kafka.create_topic(f"{prefix}.{t}", n)
    traffic, air, _ = events()
    produce(kcat, kafka.bootstrap, f"{prefix}.traffic", traffic)
    produce(kcat, kafka.bootstrap, f"{prefix}.air", air)
    port = free_port()
    cfg = tmp / "vigie.yaml"
    cfg.write_text(CONFIG.format(store=tmp / "store", bootstrap=kafka.bootstrap, port=port,
                                 prefix=prefix, extra=extra))
    return prefix, str(cfg), port


def consume_all(bootstrap, topic, partitions=3, idle=3.0):
    """Every message of the topic from the beginning: list of (key, dict)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, last = [], time.monotonic()
    while time.monotonic() - last < idle:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        out.append((m.key().decode(), json.loads(m.value())))
        last = time.monotonic()
    c.close()
    return out


def latest(msgs):
    """The last message of each key (the highest revision), and checks that
    the key names the message's series, resolution and start."""
    by = {}
    for k, v in msgs:
        series, res, start = k.rsplit("|", 2)
        assert series == v["series"] and res == v["resolution"]
        assert int(start) == int(datetime.fromisoformat(v["start_datetime"]).timestamp())
        if k not in by or v["revision"] >= by[k]["revision"]:
            by[k] = v
    return by


def final_windows(bin_path, cfg):
    """vigieq's final hourly and daily windows, keyed like the topic."""
    want = {}
    for res in ("1h", "1d"):
        for r in query(bin_path, cfg, res):
            if r["status"] != "final":
                continue
            start = int(datetime.fromisoformat(r["start_datetime"]).timestamp())
            want[f"{r['series']}|{res}|{start}"] = r
    return want


def topic_holds_final_windows(bootstrap, topic, bin_path, cfg, timeout=30):
    """Every final window of the store is on the topic with its values, and
    nothing else is (windows only ever become final, so the topic is read
    between two reads of the store). Retried while publication catches up."""
    deadline = time.monotonic() + timeout
    while True:
        before = final_windows(bin_path, cfg)
        got = latest(consume_all(bootstrap, topic))
        after = final_windows(bin_path, cfg)
        if set(before) <= set(got) <= set(after) or time.monotonic() > deadline:
            break
    missing, extra = set(before) - set(got), set(got) - set(after)
    assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
    for k, row in before.items():
        same_values(got[k], row)
    return got


def same_values(msg, row):
    assert msg["status"] == "final"
    assert msg["start_datetime"] == row["start_datetime"]
    assert msg["end_datetime"] == row["end_datetime"]
    assert msg["metric"] == row["metric"]
    assert msg["count"] == int(row["count"])
    assert msg["revision"] == int(row["revision"])
    for k in ("sum", "min", "max", "mean", "first", "last"):
        assert msg[k] == float(row[k]), (k, msg, row)
    if row["stddev"]:
        assert msg["stddev"] == pytest.approx(float(row["stddev"]), rel=1e-12)
    else:
        assert msg["stddev"] is None


def test_rollups_after_drain_equal_vigieq_and_late_revision(kafka, kcat, bin_path, tmp_path):
    xdir = tmp_path / "exports"
    prefix, cfg, _ = setup(kafka, kcat, tmp_path, extra=f"export_dir: {xdir}")
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "rollups not all acknowledged" not in r.stderr
    # --drain brings the export folder up to date before it exits
    days = json.loads((xdir / "no2-jour.json").read_text())
    vq = {(r["series"], r["start_datetime"]): r for r in query(bin_path, cfg, "1d",
                                                                "--metric", "no2")}
    assert len(days) == len(vq) >= 4
    for d in days:
        v = vq[(f'no2{{sensor_id="{d["sensor_id"]}"}}', d["start_datetime"])]
        assert d["count"] == int(v["count"]) and d["status"] == v["status"]
        assert (d["mean"], d["min"], d["max"]) == (float(v["mean"]), float(v["min"]),
                                                   float(v["max"]))
    want = final_windows(bin_path, cfg)
    assert sum(1 for k in want if "|1h|" in k) > 100 and sum(1 for k in want if "|1d|" in k) >= 4
    msgs = consume_all(kafka.bootstrap, f"{prefix}.rollups")
    got = latest(msgs)
    assert len(msgs) == len(got)  # one run, no crash: each window once
    assert set(got) == set(want)  # nothing provisional, nothing missing
    for k, row in want.items():
        same_values(got[k], row)
    tags = got[next(k for k in got if k.startswith("passages"))]["tags"]
    assert set(tags) == {"counter_id"}

    # a late passage into a final hour of the first day: its hour and its day
    # come again, revision 1, one more count
    start = a_busy_hour("c1")
    late = start + timedelta(minutes=10)
    produce(kcat, kafka.bootstrap, f"{prefix}.traffic",
            [("c1", json.dumps({"ts": int(late.timestamp() * 1000), "counter_id": "c1"}))])
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    msgs2 = consume_all(kafka.bootstrap, f"{prefix}.rollups")
    # the partitions interleave: the new messages are what the first read lacks
    seen = Counter((k, json.dumps(v, sort_keys=True)) for k, v in msgs)
    new = []
    for k, v in msgs2:
        t = (k, json.dumps(v, sort_keys=True))
        if seen[t]:
            seen[t] -= 1
        else:
            new.append((k, v))
    assert not +seen and len(msgs2) == len(msgs) + len(new)
    hour = f'passages{{counter_id="c1"}}|1h|{int(start.timestamp())}'
    revised = [v for k, v in new if k == hour]
    assert len(revised) == 1 and revised[0]["revision"] == 1
    assert revised[0]["count"] == got[hour]["count"] + 1
    # the day holding that hour (Paris local day of 2026-03-09)
    day = [v for k, v in new if k.startswith('passages{counter_id="c1"}|1d|')]
    assert len(day) == 1 and day[0]["revision"] == 1
    assert day[0]["start_datetime"] == "2026-03-09T00:00:00+01:00"
    hours = json.loads((xdir / "passages-heure.json").read_text())
    row = [h for h in hours if h["counter_id"] == "c1" and
           h["start_datetime"] == start.astimezone(PARIS).isoformat()]
    assert len(row) == 1 and row[0]["revision"] == 1
    want2 = final_windows(bin_path, cfg)
    got2 = latest(msgs2)
    assert set(got2) == set(want2)
    for k, row in want2.items():
        same_values(got2[k], row)


def topic_config(kafka, topic):
    """(partition count, cleanup.policy) of topic, as the brokers describe it."""
    from confluent_kafka.admin import ConfigResource
    admin = kafka.admin()  # must outlive its futures
    md = admin.list_topics(topic, timeout=10).topics[topic]
    assert md.error is None, md.error
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    conf = admin.describe_configs([res])[res].result(timeout=30)
    return len(md.partitions), conf["cleanup.policy"].value


def state_matches(msg):
    """The record's state (acc_state.py, an independent reader) gives its
    statistics; returns it."""
    st = acc_state.decode(msg["state"])
    assert st.count == msg["count"]
    assert (st.min, st.max, st.first[1], st.last[1]) == \
        (msg["min"], msg["max"], msg["first"], msg["last"])
    assert st.sum == pytest.approx(msg["sum"], rel=1e-12)
    assert st.mean == pytest.approx(msg["mean"], rel=1e-12)
    if msg["stddev"] is None:
        assert st.count < 2
    else:
        assert st.stddev() == pytest.approx(msg["stddev"], rel=1e-9)
    for q in ("p50", "p95"):
        assert (q in msg) == (st.qs is not None)
        if st.qs:
            assert st.quantile(float(q[1:]) / 100) == pytest.approx(msg[q], rel=1e-12)
    return st


def test_rollup_records_carry_their_mergeable_state(kafka, kcat, bin_path, tmp_path):
    """Every rollup record carries its site, its zone and its window's whole
    state; read back by an independent reader (acc_state.py, written from
    docs/deltas.md) the state gives the record's statistics, quantiles
    included; merging a sensor's hourly states gives its day's state
    exactly (counts, extremes, first/last, every sketch bucket; sums, mean
    and M2 to rounding) -- what a territory merging sites relies on."""
    prefix, cfg, _ = setup(kafka, kcat, tmp_path, extra="site: issy")
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("    fields: [no2]\n",
                                      "    fields: [no2]\n    quantiles: true\n"))
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    got = latest(consume_all(kafka.bootstrap, f"{prefix}.rollups"))
    assert len(got) == len(final_windows(bin_path, cfg))
    states = {}
    for k, msg in got.items():
        assert msg["site"] == "issy" and msg["timezone"] == "Europe/Paris"
        states[k] = state_matches(msg)
    days = [k for k in got if k.startswith("no2") and "|1d|" in k]
    assert len(days) >= 4
    for day in days:
        series, _, start = day.rsplit("|", 2)
        end = int(datetime.fromisoformat(got[day]["end_datetime"]).timestamp())
        hours = [states[k] for k in got if k.startswith(f"{series}|1h|")
                 and int(start) <= int(k.rsplit("|", 1)[1]) < end]
        assert hours
        merged, whole = acc_state.merge(hours), states[day]
        assert (merged.count, merged.min, merged.max, merged.first, merged.last) == \
            (whole.count, whole.min, whole.max, whole.first, whole.last)
        assert merged.sum == pytest.approx(whole.sum, rel=1e-12)
        assert merged.mean == pytest.approx(whole.mean, rel=1e-12)
        assert merged.m2 == pytest.approx(whole.m2, rel=1e-9)
        assert merged.qs == whole.qs  # the day's sketch, bucket for bucket
        assert merged.quantile(0.95) == whole.quantile(0.95) == got[day]["p95"]
    # a site name that is not one is refused with its line
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("site: issy", "site: issy les moulineaux"))
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--check-config"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "site" in r.stderr and "vigie.yaml:" in r.stderr, r.stderr


def test_missing_output_topics_are_created(kafka, kcat, bin_path, tmp_path):
    """No rollup topic and no dead-letter topic: vigied creates both at
    start (kafka.topic_partitions of them, the rollup topic compacted),
    says so, and a drain then holds every final window on the rollup topic
    once and the malformed message on the dead-letter topic."""
    prefix, cfg, _ = setup(kafka, kcat, tmp_path, rollup_topic=False, dead_topic=False)
    produce(kcat, kafka.bootstrap, f"{prefix}.traffic", [("c1", "{not json")])
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("rollup_topic:", "topic_partitions: 3, rollup_topic:"))
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    for t in ("rollups", "dead"):
        assert f'msg="output topic created" topic={prefix}.{t} partitions=3' in r.stderr
    assert topic_config(kafka, f"{prefix}.rollups") == (3, "compact")
    assert topic_config(kafka, f"{prefix}.dead") == (3, "delete")
    want = final_windows(bin_path, cfg)
    msgs = consume_all(kafka.bootstrap, f"{prefix}.rollups")
    got = latest(msgs)
    assert len(msgs) == len(got) and set(got) == set(want)
    for k, row in want.items():
        same_values(got[k], row)
    c = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"dead-{time.time()}",
                  "enable.auto.commit": False, "isolation.level": "read_committed"})
    c.assign([TopicPartition(f"{prefix}.dead", p, 0) for p in range(3)])
    dead, last = [], time.monotonic()
    while time.monotonic() - last < 3.0:
        m = c.poll(0.5)
        if m is not None and not m.error():
            dead.append(m.value())
            last = time.monotonic()
    c.close()
    assert dead == [b"{not json"]
    # a second run finds them and creates nothing
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0 and "output topic created" not in r.stderr, r.stderr[-3000:]


def test_refused_topic_creation_stops_vigied(kafka, kcat, bin_path, tmp_path):
    """Brokers that answer and refuse to create the rollup topic (here: 3
    replicas asked of a one-broker cluster) stop vigied at start with their
    reason."""
    prefix, cfg, _ = setup(kafka, kcat, tmp_path, rollup_topic=False)
    text = open(cfg).read()
    open(cfg, "w").write(text.replace("rollup_topic:", "topic_replication: 3, rollup_topic:"))
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0
    assert "the brokers refused to create topic" in r.stderr, r.stderr[-3000:]
    assert f"{prefix}.rollups" in r.stderr and "INVALID_REPLICATION_FACTOR" in r.stderr
    md = kafka.admin().list_topics(timeout=10)
    assert f"{prefix}.rollups" not in md.topics


def metric(port, name):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as f:
            text = f.read().decode()
    except OSError:
        return None
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def test_kill_9_and_restart_lose_no_rollup(kafka, kcat, bin_path, tmp_path):
    prefix, cfg, port = setup(kafka, kcat, tmp_path)
    rng = random.Random(5)
    log = open(tmp_path / "vigied.log", "a")
    for kill in range(3):
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                             stderr=subprocess.STDOUT)
        # the first time as soon as the topic acknowledged rollups (their
        # cursor is likely not stored yet: they are produced again), then
        # once windows go final, at a random instant of the publishing
        name = "vigie_rollups_published_total" if kill == 0 else "vigie_windows_finalized_total"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not (metric(port, name) or 0) > 0:
            time.sleep(0.01)
        time.sleep(0 if kill == 0 else rng.uniform(0.0, 1.5))
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        # more events between crashes: more windows go final later
        t = T0 + timedelta(days=DAYS, hours=kill)
        produce(kcat, kafka.bootstrap, f"{prefix}.traffic",
                [("c2", json.dumps({"ts": int(t.timestamp() * 1000), "counter_id": "c2"}))])
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        want = {}
        while time.monotonic() < deadline:
            backlog = metric(port, "vigie_rollup_backlog")
            want = final_windows(bin_path, cfg)
            if backlog == 0 and metric(port, "vigie_rollup_cursor") and want:
                break
            time.sleep(0.5)
        else:
            pytest.fail("the rollup cursor never caught up")
        # every final window, with the store's values, and each (window,
        # revision) exactly once although rollups were in flight at kill -9
        topic_holds_final_windows(kafka.bootstrap, f"{prefix}.rollups", bin_path, cfg)
        msgs = consume_all(kafka.bootstrap, f"{prefix}.rollups")
        assert_once_each([(k, v["revision"]) for k, v in msgs], "rollups")
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "vigied.log").read_text()[-3000:]


def changes_status(port):
    try:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}{API}/datasets/passages-heure/changes?since=0",
                timeout=30) as f:
            return f.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def test_emit_log_trimmed_only_past_the_rollup_cursor(kafka, kcat, bin_path, tmp_path):
    """publish.changes_keep: 10 -- while the rollup topic refuses writes the log
    keeps everything (changes?since=0 answers), once the topic has them it
    is trimmed to the last 10 records (since=0 answers 410)."""
    prefix, cfg, port = setup(kafka, kcat, tmp_path, rollup_topic=False,
                              extra="publish: {changes_keep: 10}")
    unwritable(kafka, f"{prefix}.rollups")
    log = open(tmp_path / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (metric(port, "vigie_rollup_backlog") or 0):
            time.sleep(0.5)
        backlog = metric(port, "vigie_rollup_backlog")
        assert backlog and backlog > 100
        time.sleep(12)  # the writer's upkeep (every 10 s) ran at least once
        assert changes_status(port) == 200
        assert metric(port, "vigie_rollup_backlog") >= backlog
        writable(kafka, f"{prefix}.rollups")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and changes_status(port) != 410:
            time.sleep(0.5)
        assert changes_status(port) == 410
        assert metric(port, "vigie_rollup_backlog") == 0
        topic_holds_final_windows(kafka.bootstrap, f"{prefix}.rollups", bin_path, cfg)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "vigied.log").read_text()[-3000:]


def http_get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as f:
        return f.read()


def files_match(port, xdir):
    """True when every export file equals the API's export (read twice
    around the files so that a commit in between does not confuse it)."""
    for ds in ("passages-heure", "no2-jour"):
        for fmt in ("csv", "json"):
            path = os.path.join(xdir, f"{ds}.{fmt}")
            a = http_get(port, f"{API}/datasets/{ds}/exports/{fmt}")
            try:
                with open(path, "rb") as f:
                    body = f.read()
            except FileNotFoundError:
                return False
            b = http_get(port, f"{API}/datasets/{ds}/exports/{fmt}")
            if body != a or a != b:
                return False
    return True


def test_export_folder_files_equal_http_exports(kafka, kcat, bin_path, tmp_path):
    xdir = tmp_path / "exports"
    prefix, cfg, port = setup(kafka, kcat, tmp_path,
                              extra=f"export_dir: {xdir}\npublish: {{export_interval: 1s}}")
    log = open(tmp_path / "vigied.log", "w")
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                         stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (metric(port, "vigie_rollup_backlog") == 0 and
                    final_windows(bin_path, cfg) and files_match(port, xdir)):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the export files never matched the API: {os.listdir(xdir)}")
        assert sorted(os.listdir(xdir)) == ["no2-jour.csv", "no2-jour.json",
                                            "passages-heure.csv", "passages-heure.json"]
        rows = json.loads((xdir / "passages-heure.json").read_text())
        assert len(rows) > 100 and all(r["status"] == "final" for r in rows)
        csv_text = (xdir / "passages-heure.csv").read_bytes()
        assert csv_text.startswith(b"\xef\xbb\xbfstart_datetime;")
        assert csv_text.count(b"\r\n") == len(rows) + 1
        before = (xdir / "passages-heure.json").read_bytes()
        mtime = os.stat(xdir / "passages-heure.json").st_mtime_ns
        # unchanged content is not rewritten
        time.sleep(2.5)
        assert os.stat(xdir / "passages-heure.json").st_mtime_ns == mtime
        # a late passage revises a final hour: the files follow
        start = a_busy_hour("c2")
        late = start + timedelta(minutes=5)
        produce(kcat, kafka.bootstrap, f"{prefix}.traffic",
                [("c2", json.dumps({"ts": int(late.timestamp() * 1000), "counter_id": "c2"}))])
        hour = start.astimezone(PARIS).isoformat()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            after = (xdir / "passages-heure.json").read_bytes()
            if after != before and files_match(port, xdir):
                break
            time.sleep(0.5)
        else:
            pytest.fail("the export files did not follow the late event")
        rows = json.loads(after)
        row = [r for r in rows if r["counter_id"] == "c2" and r["start_datetime"] == hour]
        assert len(row) == 1 and row[0]["revision"] == 1
        assert not [n for n in os.listdir(xdir) if n.startswith(".")]  # no temporaries
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, (tmp_path / "vigied.log").read_text()[-3000:]
