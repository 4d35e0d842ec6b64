"""Shared pieces of the end-to-end tests: produce with kcat into the real
broker, run vigied, read rollups back with vigieq, and compute the same
rollups independently in Python from the raw rows (the oracle).

The oracle never uses Vigie's code: local hours and days come from Python's
zoneinfo, naive local times resolve like the documented rule (fold=0: the
first occurrence of a repeated hour; a time in a skipped hour moves forward
by the gap, which is what an aware datetime with fold=0 does).
"""
import csv
import io
import math
import os
import socket
import subprocess
import time
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
            f"kafka: {{brokers: \"{bootstrap}\", dead_letter_topic: {sources[0]['topic']}.dead}}",
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


def vigied(bin_path, config, *args, timeout=600):
    r = subprocess.run([bin_path("vigied"), "--config", config, *args],
                       capture_output=True, text=True, timeout=timeout)
    return r


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
