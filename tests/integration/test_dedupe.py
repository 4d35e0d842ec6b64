"""Re-sent readings counted once (`dedupe: true`; docs/aggregation.md, "Duplicates"),
end to end against a real broker on real data.

The Aarhus road-traffic data set (both directions, line protocol) already
holds re-sent rows: exact duplicates, among them a block of a day and a
week appended again. On top of that, one message in twenty is re-sent byte
for byte, some messages later (5 to 300: up to a day later in event time,
so many copies reach windows that are final and out of vigied's memory).
The two directions are interleaved, each in its file's order.

- dedupe on, with kill -9 at random moments while the stream is produced
  in chunks (each run is killed while it reads its chunk, or just after),
  then a last run in service mode: every window (1m, 1h, 1d)
  equals the oracle computed from the first copy of each reading only; the
  last run's vigie_duplicates_total equals the copies among the messages it
  read (from the offsets the killed runs committed, read back from the
  topic), vigie_dedupe_unchecked_total is 0, and every window holds as many
  fingerprints as readings (as the store counts them);
- dedupe on, a fresh store, one clean run: vigie_duplicates_total equals
  the number of re-sent readings of the whole stream and vigie_events_total
  the readings counted;
- dedupe off, a fresh store: every copy counts -- the windows equal the
  oracle of all readings, and differ from the deduplicated one.

The oracle never uses Vigie's code: a reading's identity is its series and
event time (line protocol without a distinct key), the first copy counts.
"""
import csv
import io
import os
import random
import signal
import subprocess
import time

import pytest

from e2e import (Oracle, edit_config, free_port, lags, produce, query, read_topic,
                 run_service_until, write_config)
from late_data import AARHUS, RIDS, TZ, aarhus_rows

pytestmark = pytest.mark.skipif(not os.path.isdir(AARHUS),
                                reason=f"shared data set absent ({AARHUS})")

KILLS = 8
NPARTS = 4


def stream(seed):
    """The messages in produce order -- (key, line, rid, t, count, speed) --
    and how many are copies of an earlier message by the data's own rows
    and by the injected re-sends."""
    rnd = random.Random(seed)
    per = {rid: aarhus_rows(rid) for rid in RIDS}
    # the two directions interleaved, each in file order (its backward jumps
    # and re-appended blocks kept)
    a, b = per[RIDS[0]], per[RIDS[1]]
    base = []
    i = j = 0
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and i * len(b) <= j * len(a)):
            base.append((RIDS[0],) + a[i])
            i += 1
        else:
            base.append((RIDS[1],) + b[j])
            j += 1
    out = []
    pending = []  # (position, message)
    for n, (rid, t, count, speed) in enumerate(base):
        m = (rid, f"traffic,report_id={rid} vehicle_count={count}i,avg_speed={speed}i {t}",
             rid, t, count, speed)
        out.append(m)
        if n % 20 == 7:
            pending.append((len(out) + rnd.randint(5, 300), m))
        pending.sort(key=lambda p: p[0])
        while pending and pending[0][0] <= len(out):
            out.append(pending.pop(0)[1])
    out.extend(m for _, m in pending)
    return out, len(out) - len(base)


def oracles(msgs):
    """(oracle of the first copies, oracle of every message, copies)."""
    first, every = Oracle(TZ), Oracle(TZ)
    seen, copies = set(), 0
    for _, _, rid, t, count, speed in msgs:
        for o in ((first, every) if (rid, t) not in seen else (every,)):
            o.add(f'traffic_vehicle_count{{report_id="{rid}"}}', t, float(count))
            o.add(f'traffic_avg_speed{{report_id="{rid}"}}', t, float(speed))
        copies += (rid, t) in seen
        seen.add((rid, t))
    return first, every, copies


def config(tmp_path, name, bootstrap, topic, dedupe, port=None):
    path = write_config(str(tmp_path / f"{name}.yaml"), str(tmp_path / name), bootstrap, TZ,
                        [dict(topic=topic, format="influx", precision="s",
                              dedupe="true" if dedupe else "false")],
                        http=f"127.0.0.1:{port or 0}")
    # checked however far back a copy comes: the oracle is the plain rule
    return edit_config(path, [
        ("retention: {base: forever}", "retention: {base: forever, dedupe: forever}"),
        ("checkpoint_interval: 200ms", "checkpoint_interval: 100ms")])


def service_run(bin_path, cfg, port, topic, nmsgs, log_path):
    """vigied in service mode until it consumed nmsgs messages and committed
    everything (lag 0 on every partition, two more epochs); its metrics
    then, after a clean SIGTERM."""
    at = None

    def done(m):
        nonlocal at
        epochs = m.get("vigie_epochs_committed_total", 0)
        if at is None and lags(m, topic, NPARTS) == [0] * NPARTS and \
                m.get(f'vigie_messages_total{{topic="{topic}"}}', 0) >= nmsgs:
            at = epochs
        return at is not None and epochs >= at + 2

    return run_service_until(bin_path, cfg, port, log_path, done, 300, "service run")


def committed(bin_path, cfg, topic):
    """The next offset the store holds per partition (vigieq status)."""
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "status", "--format", "csv"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = {}
    for row in csv.DictReader(io.StringIO(r.stdout)):
        if row["kind"] == "partition" and row["name"] == topic and row["value"]:
            out[int(row["partition"])] = int(row["value"])
    return out


def wait_committed(bin_path, cfg, topic, p, timeout=60):
    """Waits until the store of the running vigied p holds an offset of
    topic (vigieq status reads it beside the writer)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        r = subprocess.run([bin_path("vigieq"), "--config", cfg, "status", "--format", "csv"],
                           capture_output=True, text=True, timeout=60)
        if r.returncode == 0 and any(
                row["kind"] == "partition" and row["name"] == topic and row["value"]
                and int(row["value"]) > 0
                for row in csv.DictReader(io.StringIO(r.stdout))):
            return
        time.sleep(0.1)


def copies_read_from(bootstrap, topic, start):
    """Readings that are copies among the messages at or after start[p] of
    each partition, read back from the topic (a copy: its report id and
    time came earlier in its partition)."""
    msgs = read_topic(bootstrap, topic)
    n, total = 0, 0
    for p in range(NPARTS):
        seen = set()
        for _, off, _, value, _ in sorted(m for m in msgs if m[0] == p):
            tags, _, t = value.decode().rsplit(" ", 2)
            ident = (tags, int(t))
            if ident in seen:
                total += 2  # two readings per message: count and speed
                if off >= start.get(p, 0):
                    n += 2
            seen.add(ident)
    return n, total


def test_resent_readings_count_once_through_kill_9(kafka, kcat, bin_path, tmp_path,
                                                   topic_name):
    seed = int(os.environ.get("VIGIE_CRASH_SEED", time.time_ns() % 1000003))
    rnd = random.Random(seed)
    print(f"dedupe test seed {seed} (VIGIE_CRASH_SEED to replay)")
    msgs, injected = stream(seed)
    first, every, copies = oracles(msgs)
    assert injected > 6000 and copies > injected  # the data's own duplicates on top
    kafka.create_topic(topic_name, NPARTS)
    kafka.create_topic(topic_name + ".dead", 1)

    # 1. dedupe on, kill -9 in the middle. One store shard: the count of
    # copies the last run finds is compared with those after the stored
    # offsets, and with shards a kill between two shards' commits makes each
    # shard resume from its own offset (test_crash.py covers that)
    port = free_port()
    cfg = edit_config(config(tmp_path, "crash", kafka.bootstrap, topic_name, True, port),
                      [("retention:", "store: {shards: 1}\nretention:")])
    chunk = (len(msgs) + KILLS - 1) // KILLS
    log = open(tmp_path / "crash.log", "w")
    exited = []
    for i in range(KILLS - 1):
        # half the chunk, vigied, the other half while it reads: killed
        # while it reads and commits, or just after
        part = [(k, line) for k, line, *_ in msgs[i * chunk:(i + 1) * chunk]]
        produce(kcat, kafka.bootstrap, topic_name, part[:len(part) // 2])
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                             stderr=subprocess.STDOUT)
        time.sleep(rnd.uniform(0.1, 0.6))
        produce(kcat, kafka.bootstrap, topic_name, part[len(part) // 2:])
        time.sleep(rnd.uniform(0.0, 0.6))
        if i == KILLS - 2:
            # the last run is killed only once something is committed: on a
            # topic created an instant before, the first fetch can take
            # longer than every random run so far
            wait_committed(bin_path, cfg, topic_name, p)
        if p.poll() is not None:
            exited.append(p.returncode)
        p.send_signal(signal.SIGKILL)
        p.wait()
    log.close()
    assert not exited, f"vigied exited by itself ({exited}): " + \
        open(tmp_path / "crash.log").read()[-3000:]
    produce(kcat, kafka.bootstrap, topic_name,
            [(k, line) for k, line, *_ in msgs[(KILLS - 1) * chunk:]])
    start = committed(bin_path, cfg, topic_name)
    assert sum(start.values()) > 0, "the killed runs committed nothing"
    last_copies, all_copies = copies_read_from(kafka.bootstrap, topic_name, start)
    assert all_copies == 2 * copies
    m = service_run(bin_path, cfg, port, topic_name, len(msgs) - sum(start.values()),
                    str(tmp_path / "last.log"))
    for res in ("1m", "1h", "1d"):
        first.check(query(bin_path, cfg, res), res)
    t = f'topic="{topic_name}"'
    assert m[f"vigie_duplicates_total{{{t}}}"] == last_copies
    assert m[f'vigie_dedupe_unchecked_total{{{t},reason="window_full"}}'] == 0
    assert m[f'vigie_dedupe_unchecked_total{{{t},reason="past_horizon"}}'] == 0

    # 2. dedupe on, one clean run: every re-sent reading counted as one
    port = free_port()
    cfg2 = config(tmp_path, "clean", kafka.bootstrap, topic_name, True, port)
    m = service_run(bin_path, cfg2, port, topic_name, len(msgs), str(tmp_path / "clean.log"))
    readings = 2 * len(msgs)
    assert m[f"vigie_duplicates_total{{{t}}}"] == 2 * copies
    assert m["vigie_events_total"] == readings - 2 * copies
    assert m[f'vigie_dedupe_unchecked_total{{{t},reason="window_full"}}'] == 0
    for res in ("1h", "1d"):
        first.check(query(bin_path, cfg2, res), res)

    # 3. dedupe off: the copies count
    cfg3 = config(tmp_path, "off", kafka.bootstrap, topic_name, False)
    r = subprocess.run([bin_path("vigied"), "--config", cfg3, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    differ = 0
    for res in ("1m", "1h", "1d"):
        rows = query(bin_path, cfg3, res)
        every.check(rows, res)
        differ += sum(1 for k, a in first.w.items() if k[1] == res and every.w[k] != a)
    assert differ > 1000, differ
    print(f"{len(msgs)} messages, {injected} injected re-sends, {copies} copies in all; "
          f"last run after {KILLS - 1} kills read {last_copies} copied readings; "
          f"{differ} windows differ without dedupe")
