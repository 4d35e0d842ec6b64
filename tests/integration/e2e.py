"""Shared pieces of the end-to-end tests: produce with kcat into the real
broker, run vigied, read rollups back with vigieq, and compute the same
rollups independently in Python from the raw rows (the oracle).

The oracle never uses Vigie's code: local hours and days come from Python's
zoneinfo, naive local times resolve like the documented rule (fold=0: the
first occurrence of a repeated hour; a time in a skipped hour moves forward
by the gap, which is what an aware datetime with fold=0 does).
"""
import csv
import glob
import io
import json
import math
import os
import signal
import socket
import subprocess
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("VIGIE_SHARED_DATA",
                        os.path.join(os.path.dirname(ROOT), "shared", "data"))


def free_port():
    """A loopback TCP port free now (for http.listen)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def produce(kcat, bootstrap, topic, keyed_values):
    """keyed_values: iterable of (key str, value bytes/str) in order."""
    lines = []
    for k, v in keyed_values:
        if isinstance(v, str):
            v = v.encode()
        assert b"\n" not in v and b"\t" not in v
        lines.append(k.encode() + b"\t" + v + b"\n")
    r = subprocess.run([kcat, "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                        "-X", "acks=all", "-X", "linger.ms=20"],
                       input=b"".join(lines), capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return len(lines)


def write_config(path, data_dir, bootstrap, timezone_name, sources, extra="",
                 http="127.0.0.1:0"):
    """sources: list of dicts of source keys (values already YAML)."""
    text = [f"data_dir: {data_dir}", f"timezone: {timezone_name}",
            "checkpoint_interval: 200ms",
            "windows: {base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}",
            "retention: {base: forever}",
            # the test's own rollup topic: vigied creates it when missing, and
            # tests sharing one broker must not share a topic
            f"kafka: {{brokers: \"{bootstrap}\", dead_letter_topic: {sources[0]['topic']}.dead,"
            f" rollup_topic: {sources[0]['topic']}.rollups}}",
            f"http: {{listen: \"{http}\"}}", "sources:"]
    for s in sources:
        first = True
        for k, v in s.items():
            text.append(("  - " if first else "    ") + f"{k}: {v}")
            first = False
    text.append(extra)
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
    return path


def edit_config(path, replacements):
    """Rewrites the config file at path, each (old, new) of replacements in
    turn; every old text must be there."""
    with open(path) as f:
        text = f.read()
    for old, new in replacements:
        assert old in text, (old, text)
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)
    return path


def metrics(port):
    """vigied's /metrics at port as {series: value}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def run_service_until(bin_path, cfg, port, log_path, done, timeout, what):
    """vigied --config cfg as a service (output to log_path) until done(m)
    is true of its metrics m, polled every 0.2 s for up to timeout seconds
    (TimeoutError naming `what` past it); then a clean SIGTERM, which it
    must exit 0 from. Returns the last metrics."""
    with open(log_path, "w") as log:
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            deadline, m = time.monotonic() + timeout, {}
            while time.monotonic() < deadline:
                assert p.poll() is None, open(log_path).read()[-3000:]
                try:
                    m = metrics(port)
                except OSError:
                    time.sleep(0.2)
                    continue
                if done(m):
                    break
                time.sleep(0.2)
            else:
                raise TimeoutError(f"{what}: metrics {m}")
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=60)
    assert rc == 0, open(log_path).read()[-3000:]
    return m


def lags(m, topic, nparts):
    """The consumer lag of each partition of topic in metrics m."""
    return [m.get(f'vigie_consumer_lag{{topic="{topic}",partition="{i}"}}')
            for i in range(nparts)]


def vigied(bin_path, config, *args, timeout=600):
    r = subprocess.run([bin_path("vigied"), "--config", config, *args],
                       capture_output=True, text=True, timeout=timeout)
    return r


def check_cpu_by_stage(stderr):
    """vigied's stop line "cpu by stage" (bench/bench.py reads it): the
    readings it aggregated, and CPU seconds per stage that are each >= 0 and
    together no more than the whole process's."""
    stopped = [ln for ln in stderr.splitlines() if "stopped after committing" in ln]
    staged = [ln for ln in stderr.splitlines() if "cpu by stage" in ln]
    assert stopped and staged, stderr[-2000:]
    fields = dict(w.split("=", 1) for w in staged[-1].split() if "=" in w)
    aggregated = dict(w.split("=", 1) for w in stopped[-1].split()
                      if "=" in w)["events_aggregated"]
    assert fields["events"] == aggregated and int(aggregated) > 0
    stages = {k[:-2]: float(v) for k, v in fields.items() if k.endswith("_s")}
    process = stages.pop("process")
    assert set(stages) == {"receive", "decode", "aggregate", "merge", "commit", "publish",
                           "worker_other", "writer_other", "kafka_threads", "other"}
    assert all(v >= 0 for v in stages.values()), stages
    assert stages["decode"] > 0 and stages["merge"] > 0 and stages["commit"] > 0, stages
    assert stages["kafka_threads"] > 0, stages  # its consumers fetched every message
    # each figure is rounded to 1 ms
    assert sum(stages.values()) <= process + 0.01 * len(stages), (stages, process)
    # and the drain's last progress line: nothing left, every reading counted
    done = [ln for ln in stderr.splitlines() if "drain progress" in ln and "done=1" in ln]
    assert done, stderr[-2000:]
    last = dict(w.split("=", 1) for w in done[-1].split() if "=" in w)
    assert last["lag_messages"] == "0" and last["events"] == aggregated, done[-1]
    assert float(last["events_per_s"]) > 0 and float(last["seconds"]) > 0, done[-1]


def query(bin_path, config, resolution, *extra):
    r = subprocess.run([bin_path("vigieq"), "--config", config, "query",
                        "--resolution", resolution, "--format", "csv", *extra],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    return rows


class Oracle:
    """count/sum/min/max per (series key, resolution, window start UTC s)."""

    def __init__(self, tz_name):
        self.tz = ZoneInfo(tz_name)
        self.w = {}

    def windows(self, t):
        """UTC starts of the base (1 min), hour and day windows of instant t."""
        base = math.floor(t / 60) * 60
        local = datetime.fromtimestamp(t, self.tz)
        hour = local.replace(minute=0, second=0, microsecond=0)
        day = datetime(local.year, local.month, local.day, tzinfo=self.tz)
        return {"1m": base, "1h": int(hour.timestamp()), "1d": int(day.timestamp())}

    def add(self, series, t, v):
        for res, start in self.windows(t).items():
            k = (series, res, start)
            a = self.w.get(k)
            if a is None:
                self.w[k] = [1, v, v, v]
            else:
                a[0] += 1
                a[1] += v
                a[2] = min(a[2], v)
                a[3] = max(a[3], v)

    def check(self, rows, res, series_filter=None):
        """Every oracle window of res is a row with the same statistics, and
        there is no other row."""
        got = {}
        for r in rows:
            start = int(datetime.fromisoformat(r["start_datetime"]).timestamp())
            got[(r["series"], start)] = r
        want = {(s, st): a for (s, rr, st), a in self.w.items() if rr == res and
                (series_filter is None or series_filter(s))}
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        assert not missing, f"{len(missing)} windows missing at {res}, e.g. {missing[:3]}"
        assert not extra, f"{len(extra)} unexpected windows at {res}, e.g. {extra[:3]}"
        bad = []
        for k, (n, s, lo, hi) in want.items():
            r = got[k]
            ok = (int(r["count"]) == n and float(r["min"]) == lo and
                  float(r["max"]) == hi and
                  abs(float(r["sum"]) - s) <= 1e-9 * max(1.0, abs(s)))
            if not ok:
                bad.append((k, (n, s, lo, hi), {c: r[c] for c in
                                                ("count", "sum", "min", "max")}))
        assert not bad, f"{len(bad)} windows differ at {res}, e.g. {bad[:3]}"
        return len(want)


def with_malformed(msgs, every=37):
    """Line-protocol messages with malformed ones inserted (one in `every`),
    each unique so that they are told apart by their bytes: (messages, the
    malformed payloads)."""
    out, bad = [], []
    for i, m in enumerate(msgs):
        out.append(m)
        if i % every == 5:
            key, _ = m
            line = f"traffic,report_id={key} vehicle_count=oops{i} {1400000000 + i}"
            out.append((key, line))
            bad.append(line.encode())
    return out, bad


def read_topic(bootstrap, topic, timeout=60):
    """Every message a topic holds now, read up to the end offsets of each
    partition with confluent-kafka: list of (partition, offset, key bytes,
    value bytes, headers dict of bytes)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    ends = {}
    for p in parts:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if hi > lo:
            ends[p] = hi
    c.assign([TopicPartition(topic, p, 0) for p in ends])
    out, deadline = [], time.monotonic() + timeout
    left = dict(ends)
    while left and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            continue
        out.append((m.partition(), m.offset(), m.key(), m.value(),
                    dict(m.headers() or [])))
        if m.offset() + 1 >= left.get(m.partition(), 0):
            left.pop(m.partition(), None)
    c.close()
    assert not left, f"{topic}: partitions {sorted(left)} not read to their end"
    return out


def assert_once_each(items, what):
    """Every item once: the duplicates, if any, named."""
    from collections import Counter
    dup = [(k, n) for k, n in Counter(items).items() if n > 1]
    assert not dup, f"{len(dup)} {what} more than once, e.g. {dup[:3]}"


def naive_local_to_utc(text, tz):
    """'2014-03-09T02:30:00' in tz -> Unix seconds, by the documented rule."""
    dt = datetime.fromisoformat(text).replace(tzinfo=tz)  # fold=0
    return dt.timestamp()


def utc_naive(text):
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def aarhus_traffic():
    """Both directions of the Aarhus road as line protocol (seconds), keyed by
    report id, with their oracle (duplicate rows included: they were
    received)."""
    oracle = Oracle("Europe/Copenhagen")
    msgs = []
    for rid in ("192600", "192574"):
        path = os.path.join(SHARED, "aarhus-traffic-bt", f"trafficData{rid}.csv")
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                t = int(utc_naive(row["TIMESTAMP"]))
                msgs.append((rid, f"traffic,report_id={rid} vehicle_count="
                                  f"{row['vehicleCount']}i,avg_speed={row['avgSpeed']}i {t}"))
                oracle.add(f'traffic_vehicle_count{{report_id="{rid}"}}', t,
                           float(row["vehicleCount"]))
                oracle.add(f'traffic_avg_speed{{report_id="{rid}"}}', t,
                           float(row["avgSpeed"]))
    return msgs, oracle


__all__ = ["aarhus_traffic", "produce", "read_topic", "assert_once_each", "with_malformed", "write_config", "vigied", "query", "Oracle", "naive_local_to_utc",
           "utc_naive", "SHARED", "timedelta"]


def aarhus_source(kafka, tmp_path, topic, checkpoint_interval=None, shards=1):
    """The Aarhus traffic with malformed messages among it (not produced
    yet), the topics of a source of 4 partitions with its dead letters (2)
    and rollups (3), and a config reading it (its checkpoint_interval
    changed when given, the store in `shards` shards). Returns (config path,
    messages, malformed ones, the oracle of the good ones)."""
    good, oracle = aarhus_traffic()
    msgs, bad = with_malformed(good)
    kafka.create_topic(topic, 4)
    kafka.create_topic(topic + ".dead", 2)
    kafka.create_topic(topic + ".rollups", 3)
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, "Europe/Copenhagen",
                       [dict(topic=topic, format="influx", precision="s")],
                       extra=f"store: {{shards: {shards}}}")
    edits = []
    if checkpoint_interval:
        edits.insert(0, ("checkpoint_interval: 200ms",
                         f"checkpoint_interval: {checkpoint_interval}"))
    return edit_config(cfg, edits), msgs, bad, oracle


def assert_dead_letters_once(bootstrap, topic, bad, what):
    """The dead letters of topic: each source message (by its coordinates)
    once, and together exactly the malformed messages bad."""
    dl = read_topic(bootstrap, topic + ".dead")
    assert_once_each([(h["vigie.topic"], int(h["vigie.partition"]), int(h["vigie.offset"]))
                      for *_, h in dl], what)
    assert sorted(v for _, _, _, v, _ in dl) == sorted(bad)


def two_source_template(kafka_extra="", after_http="", traffic_tags="", http_extra=""):
    """The start of a config template, up to "datasets:", of a daemon in
    Europe/Paris reading {prefix}.traffic (JSON counter passages, times in
    ms) and {prefix}.air (JSON NO2 readings), its HTTP API on {port} and its
    store in {store}: str.format keys store, bootstrap, prefix, port.
    kafka_extra ends the kafka map's keys, after_http is lines (each ending
    with a newline) after http, traffic_tags the traffic source's tag keys
    (a YAML list), http_extra ends the http map's keys (", timeout: 2s")."""
    tags = f"    tag_keys: {traffic_tags}\n" if traffic_tags else ""
    return ("data_dir: {store}\n"
            "timezone: Europe/Paris\n"
            "checkpoint_interval: 200ms\n"
            "windows: {{base: 1m, lateness: 30m, out_of_orderness: 0s, idle_timeout: 1s}}\n"
            "retention: {{base: forever}}\n"
            "kafka: {{brokers: \"{bootstrap}\", dead_letter_topic: {prefix}.dead"
            + (kafka_extra if "rollup_topic" in kafka_extra
               else ", rollup_topic: {prefix}.rollups" + kafka_extra) + "}}\n"
            "http: {{listen: \"127.0.0.1:{port}\"" + http_extra + "}}\n"
            + after_http +
            "sources:\n"
            "  - topic: {prefix}.traffic\n"
            "    time_key: ts\n"
            "    time_format: unix_ms\n"
            "    entity_key: counter_id\n"
            + tags +
            "    count_as: passages\n"
            "  - topic: {prefix}.air\n"
            "    time_key: ts\n"
            "    entity_key: sensor_id\n"
            "    fields: [no2]\n"
            "datasets:\n")


def vigied_on_copy(bin_path, config, path, replacements):
    """vigied started (stdout dropped, stderr piped) on a copy at path of
    the config file config with each (old, new) of replacements made."""
    with open(config) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(text)
    edit_config(path, replacements)
    return subprocess.Popen([bin_path("vigied"), "--config", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


# ---- the real data sets as messages and their oracle ------------------------

def add_message(msgs, oracle, key, doc, t, fields, tags):
    """doc as a JSON message keyed key into msgs; the value in doc of each of
    fields into oracle, as the series field{tags} at t."""
    msgs.append((key, json.dumps(doc)))
    for f in fields:
        oracle.add(f"{f}{{{tags}}}", t, float(doc[f]))


def seattle_records():
    with open(os.path.join(SHARED, "seattle-spokane-bike", "spokane-st.json")) as f:
        return json.load(f)


def seattle_bike():
    """Hourly bike counts as strings in naive America/Los_Angeles time
    (records without both counts are rejected, not lost): (messages, source
    keys, zone, oracle)."""
    tz, oracle, msgs = ZoneInfo("America/Los_Angeles"), Oracle("America/Los_Angeles"), []
    for rec in seattle_records():
        doc = {"date": rec["date"], "counter": "spokane-st"}
        for k in ("east", "west"):
            if k in rec:
                doc[k] = rec[k]
        both = "east" in rec and "west" in rec  # the oracle's hours are whole
        add_message(msgs, oracle, "spokane-st", doc,
                    naive_local_to_utc(rec["date"], tz) if both else None,
                    ("east", "west") if both else (), 'counter="spokane-st"')
    source = dict(time_key="date", time_zone="America/Los_Angeles", entity_key="counter",
                  fields="[east, west]")
    return msgs, source, "America/Los_Angeles", oracle


def aberdeen_pm():
    """Raw ~2.5-minute PM readings in UTC, rolled up in London days."""
    oracle, msgs = Oracle("Europe/London"), []
    for path in sorted(glob.glob(os.path.join(SHARED, "aberdeen-sensorcommunity-pm",
                                              "daily_files", "*.csv"))):
        with open(path, newline="") as f:
            for row in csv.DictReader(f, delimiter=";"):
                doc = {"timestamp": row["timestamp"], "sensor_id": row["sensor_id"],
                       "P1": float(row["P1"]), "P2": float(row["P2"])}
                add_message(msgs, oracle, row["sensor_id"], doc, utc_naive(row["timestamp"]),
                            ("P1", "P2"), f'sensor_id="{row["sensor_id"]}"')
    source = dict(time_key="timestamp", time_zone="UTC", entity_key="sensor_id",
                  fields="[P1, P2]")
    return msgs, source, "Europe/London", oracle


PARKING_TZ = "Europe/Copenhagen"
PARKING_SOURCE = dict(time_key="updatetime", time_zone=PARKING_TZ,
                      entity_key="garagecode", fields="[vehiclecount, totalspaces]")


def aarhus_parking_rows():
    with open(os.path.join(SHARED, "aarhus-parking", "aarhus_parking.csv"), newline="") as f:
        return list(csv.DictReader(f))


def aarhus_parking():
    """Car-park occupancy snapshots in naive Copenhagen time, across the
    repeated hour of 2014-10-26."""
    tz, oracle, msgs = ZoneInfo(PARKING_TZ), Oracle(PARKING_TZ), []
    for row in aarhus_parking_rows():
        doc = {"updatetime": row["updatetime"], "garagecode": row["garagecode"],
               "vehiclecount": int(row["vehiclecount"]), "totalspaces": int(row["totalspaces"])}
        add_message(msgs, oracle, row["garagecode"], doc,
                    naive_local_to_utc(row["updatetime"].replace(" ", "T"), tz),
                    ("vehiclecount", "totalspaces"), f'garagecode="{row["garagecode"]}"')
    return msgs, PARKING_SOURCE, PARKING_TZ, oracle


def london_smartmeter():
    """Half-hourly kWh of one household as SenML records, London days."""
    oracle, msgs = Oracle("Europe/London"), []
    with open(os.path.join(SHARED, "london-smartmeter-lcl", "MAC000060.csv"), newline="") as f:
        rd = csv.reader(f)
        next(rd)
        for when, kwh in rd:
            t = int(utc_naive(when.replace(" ", "T")))
            rec = [{"bn": "urn:dev:MAC000060:", "bt": t, "n": "energy", "u": "kWh",
                    "v": float(kwh)}]
            msgs.append(("MAC000060", json.dumps(rec)))
            oracle.add('energy{device="urn:dev:MAC000060",unit="kWh"}', t, float(kwh))
    return msgs, dict(format="senml"), "Europe/London", oracle


def assert_rollups_once(rollups, rows):
    """The rollup topic's records (read_topic's tuples): each (window,
    revision) once, and the last revision of every final window of rows
    (vigieq query per resolution) the store's. Returns the number of final
    windows."""
    pairs = [(k, int(h["vigie.revision"])) for _, _, k, _, h in rollups]
    assert_once_each(pairs, "rollups (by key and revision)")
    last = {}
    for k, rev in pairs:
        last[k] = max(rev, last.get(k, -1))
    final = {}
    for res in ("1h", "1d"):
        for row in rows[res]:
            if row["status"] == "final":
                start = int(datetime.fromisoformat(row["start_datetime"]).timestamp())
                final[f"{row['series']}|{res}|{start}".encode()] = int(row["revision"])
    assert final == last
    return len(final)


def unwritable(kafka, topic):
    """Creates topic (3 partitions) refusing every rollup: its
    max.message.bytes of 1 is smaller than any batch (MESSAGE_TOO_LARGE),
    as with a topic misconfigured after the start. vigied finds it and
    creates nothing."""
    kafka.create_topic(topic, 3, config={"max.message.bytes": "1"})


def writable(kafka, topic):
    """Makes the topic of unwritable() accept rollups again."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource
    admin = kafka.admin()  # must outlive its futures
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=[
        ConfigEntry("max.message.bytes", "1048588",
                    incremental_operation=AlterConfigOpType.SET)])
    for f in admin.incremental_alter_configs([res]).values():
        f.result(timeout=30)
