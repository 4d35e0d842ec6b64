"""Every rejected reading is a dead letter, and a replay of the dead letters
after a fix counts each reading once (docs/ingestion.md, "Dead letters and
replay"), against a real broker, on the real Aberdeen PM readings.

The messages are JSON arrays of three readings (objects), written by the
test so that it knows the byte range of every object (item) and field. Some
are bad in ways an operator fixes afterwards:
- objects of a "firmware v3" write their time in Unix milliseconds while the
  configuration says rfc3339 (unparsable_time: the whole object);
- readings 120 days older than the data, past every retention
  (older_than_retention: each reading);
and some stay bad: a P1 written "n/a" (non_numeric_value: only that
reading; the object's P2 is aggregated), and "firmware v2" objects without
the P2 the configuration lists (missing_field: a reading with no bytes,
named by an empty field range; the object's P1 is aggregated).

Run 1 aggregates the good readings (windows equal the oracle of exactly
those, vigie_events_total counts them) and each message with a rejected
reading is in the dead-letter topic once, its vigie.rejected header naming
exactly its rejected readings. Run 2 keeps the source and adds a replay of
the dead-letter topic with the fix (time_format auto, longer retention):
the windows then equal the oracle of every reading but the "n/a" ones and
the absent P2s, none counted twice, and the second dead-letter topic holds
exactly the messages whose readings are still rejected, naming only those.
"""
import csv
import glob
import json
import os
import subprocess
from datetime import datetime, timezone

import pytest

from e2e import SHARED, Oracle, free_port, produce, query, read_topic, utc_naive

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

OLD = 120 * 86400


def readings():
    out = []
    for path in sorted(glob.glob(os.path.join(SHARED, "aberdeen-sensorcommunity-pm",
                                              "daily_files", "*.csv"))):
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter=";"):
                if row["P1"] and row["P2"]:
                    out.append((int(utc_naive(row["timestamp"])), float(row["P1"]),
                                float(row["P2"])))
    return out


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build():
    """Messages, and for each: its items with their fields' byte ranges and
    what is wrong with them."""
    rows = readings()
    objs = []
    for i, (t, p1, p2) in enumerate(rows):
        kind = "good"
        if i % 7 == 3:
            kind = "v2"  # no P2
        elif i % 11 == 5:
            kind = "na"  # P1 is "n/a"
        elif i % 13 == 6:
            kind = "v3"  # the time in Unix milliseconds
        objs.append((kind, t, p1, p2))
    for i in range(0, len(rows), 400):  # a reading of each day or so, 120 days early
        t, p1, p2 = rows[i]
        objs.append(("old", t - OLD, p1, p2))
    msgs = []
    for k in range(0, len(objs), 3):
        text, items = "[", []
        for kind, t, p1, p2 in objs[k:k + 3]:
            if text != "[":
                text += ","
            start = len(text)
            ts = str(t * 1000) if kind == "v3" else f'"{iso(t)}"'
            body = f'{{"ts":{ts},"sensor_id":"5331","P1":'
            f1 = start + body.index('"P1"')
            body += '"n/a"' if kind == "na" else json.dumps(p1)
            fields = {"P1": (f1, start + len(body))}
            if kind != "v2":
                body += ',"P2":'
                f2 = start + len(body) - len('"P2":')
                body += json.dumps(p2)
                fields["P2"] = (f2, start + len(body))
            body += "}"
            text += body
            items.append(dict(kind=kind, t=t, p1=p1, p2=p2, item=(start, start + len(body)),
                              fields=fields))
        text += "]"
        msgs.append((text, items))
    return msgs


def oracle_of(msgs, take):
    """The oracle of the readings take(item, field) accepts."""
    o, n = Oracle("Europe/London"), 0
    for _, items in msgs:
        for it in items:
            for name, v in (("P1", it["p1"]), ("P2", it["p2"])):
                if name in it["fields"] and take(it, name):
                    o.add(f'{name}{{sensor_id="5331"}}', it["t"], v)
                    n += 1
    return o, n


def first_run(it, name):
    return (it["kind"] in ("good", "v2")) or (it["kind"] == "na" and name == "P2")


def after_replay(it, name):
    return not (it["kind"] == "na" and name == "P1")


def header_entries(h):
    out = set()
    for e in h.decode().split(","):
        rng, reason = e.split("=")
        if ":" in rng:
            a, b = rng.split(":")
            out.add((tuple(map(int, a.split("-"))), tuple(map(int, b.split("-"))), reason))
        else:
            out.add((tuple(map(int, rng.split("-"))), None, reason))
    return out


def expected_entries(items, still_bad_only=False):
    out = set()
    for it in items:
        if it["kind"] == "na":
            out.add((it["item"], it["fields"]["P1"], "non_numeric_value"))
        elif it["kind"] == "v2":  # no bytes: an empty range at the item's start
            out.add((it["item"], (it["item"][0], it["item"][0]), "missing_field"))
        elif still_bad_only:
            continue
        elif it["kind"] == "v3":
            out.add((it["item"], None, "unparsable_time"))
        elif it["kind"] == "old":
            for f in it["fields"].values():
                out.add((it["item"], f, "older_than_retention"))
    return out


CONFIG = """data_dir: {store}
timezone: Europe/London
checkpoint_interval: 200ms
windows: {{base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}}
retention: {{base: 2d, 1h: 60d, 1d: {ret_1d}}}
kafka: {{brokers: "{bootstrap}", dead_letter_topic: {dead}, rollup_topic: {topic}.rollups}}
http: {{listen: "127.0.0.1:{port}"}}
sources:
  - topic: {topic}
    time_key: ts
    time_format: rfc3339
    entity_key: sensor_id
    fields: [P1, P2]
{replay}"""

REPLAY = """  - topic: {topic}.dead
    replay_of: {topic}
    time_key: ts
    time_format: auto
    entity_key: sensor_id
    fields: [P1, P2]
"""


def run_drain(bin_path, cfg):
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stderr


def test_rejected_readings_are_dead_letters_and_a_replay_counts_each_once(
        kafka, kcat, bin_path, tmp_path, topic_name):
    msgs = build()
    topic = topic_name
    for t, n in ((topic, 2), (topic + ".dead", 1), (topic + ".dead2", 1)):
        kafka.create_topic(t, n)
    produce(kcat, kafka.bootstrap, topic, [("5331", text) for text, _ in msgs])
    cfg = tmp_path / "vigie.yaml"

    def write(ret_1d, dead, replay):
        cfg.write_text(CONFIG.format(store=tmp_path / "store", bootstrap=kafka.bootstrap,
                                     port=free_port(), ret_1d=ret_1d, dead=dead, topic=topic,
                                     replay=REPLAY.format(topic=topic) if replay else ""))

    # run 1: the good readings aggregated, every rejected one a dead letter
    write("90d", topic + ".dead", False)
    log = run_drain(bin_path, str(cfg))
    oracle, n1 = oracle_of(msgs, first_run)
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, str(cfg), res), res)
    dl = read_topic(kafka.bootstrap, topic + ".dead")
    by_text = {text: items for text, items in msgs}
    want = {text for text, items in msgs if expected_entries(items)}
    got = [v.decode() for _, _, _, v, _ in dl]
    assert sorted(got) == sorted(want)  # each once, and only those
    for _, _, _, v, h in dl:
        assert header_entries(h["vigie.rejected"]) == expected_entries(by_text[v.decode()])
    assert f"events_aggregated={n1} " in log  # vigie_events_total of the run

    # run 2: the same source, and the replay with the fix
    write("forever", topic + ".dead2", True)
    run_drain(bin_path, str(cfg))
    oracle2, _ = oracle_of(msgs, after_replay)
    hours, days = query(bin_path, str(cfg), "1h"), query(bin_path, str(cfg), "1d")
    oracle2.check(days, "1d")
    # the readings 120 days old are past the hours' retention: in days only
    recent = {k: v for k, v in oracle2.w.items() if k[1] != "1h" or
              k[2] > min(t for _, its in msgs for it in its if it["kind"] != "old"
                         for t in [it["t"]]) - 3600}
    oracle2.w = recent
    oracle2.check(hours, "1h")
    dl2 = read_topic(kafka.bootstrap, topic + ".dead2")
    want2 = {text for text, items in msgs if expected_entries(items, still_bad_only=True)}
    assert sorted(v.decode() for _, _, _, v, _ in dl2) == sorted(want2)
    for _, _, _, v, h in dl2:
        assert header_entries(h["vigie.rejected"]) == \
            expected_entries(by_text[v.decode()], still_bad_only=True)
        assert h["vigie.topic"].decode() == topic + ".dead"
