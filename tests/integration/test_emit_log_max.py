"""publish.emit_log_max: the emit log has a bound, and reaching it pauses
ingestion -- loudly, losing nothing (docs/publication.md, "When the emit log
is full").

The rollup topic refuses every rollup (max.message.bytes 1: a topic
misconfigured or away; one missing at start would be created) and the
bound is 50 records. A first run
ingests a first part of the readings and fills the log: /readyz answers 503
naming the reason, the metrics say full, the log says so, and a second part
produced meanwhile stays in Kafka (its consumer lag stays, no epoch is
committed). A SIGTERM while paused exits 0. A --drain run waits while the
log is full (the rollup topic still refusing) rather than exiting as done;
the topic is fixed and the drain finishes. A last run is ready. Every
(window, revision) is on the topic exactly once, the final ones the store's,
and the store's windows equal the oracle of all the readings.
"""
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

from e2e import (Oracle, assert_rollups_once, free_port, lags, metrics, produce, query,
                 read_topic, unwritable, writable, write_config)

MAX = 50
T0 = datetime(2026, 3, 9, tzinfo=timezone.utc)
SENSORS = ["s1", "s2", "s3"]


def readings(first_day, days, oracle):
    """A reading every 10 minutes of each sensor over the days, as JSON
    messages keyed by sensor, added to the oracle."""
    msgs = []
    for m in range(first_day * 144, (first_day + days) * 144):
        t = T0 + timedelta(minutes=10 * m)
        for i, s in enumerate(SENSORS):
            v = float((m * 7 + i * 13) % 50) + 0.5
            msgs.append((s, json.dumps({"ts": int(t.timestamp() * 1000), "sensor_id": s,
                                        "temp": v})))
            oracle.add(f'temp{{sensor_id="{s}"}}', t.timestamp(), v)
    return msgs


def readyz(port):
    """(status, body) of /readyz; (None, "") while nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError:
        return None, ""


def poll(what, p, get, done, log_path, timeout=120):
    """get() every 0.3 s until done(value) (the process still running);
    returns the value, fails naming `what` past the timeout."""
    deadline, v = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        assert p.poll() is None, log_path.read_text()[-3000:]
        try:
            v = get()
        except OSError:
            v = None
        if v is not None and done(v):
            return v
        time.sleep(0.3)
    raise AssertionError(f"{what}: last {v}\n{log_path.read_text()[-3000:]}")


def stop(p, log_path):
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=60)
    assert rc == 0, log_path.read_text()[-3000:]


def test_full_emit_log_pauses_ingestion_and_loses_nothing(kafka, kcat, bin_path, tmp_path,
                                                         topic_name):
    oracle = Oracle("Europe/Paris")
    first, second = readings(0, 2, oracle), readings(2, 1, oracle)
    kafka.create_topic(topic_name, 1)
    kafka.create_topic(topic_name + ".dead", 1)
    rollups = topic_name + ".rollups"  # refusing every rollup until step 2
    unwritable(kafka, rollups)
    port = free_port()
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, "Europe/Paris",
                       [dict(topic=topic_name, time_key="ts", time_format="unix_ms",
                             entity_key="sensor_id", fields="[temp]")],
                       http=f"127.0.0.1:{port}",
                       extra=f"publish: {{emit_log_max: {MAX}}}")
    produce(kcat, kafka.bootstrap, topic_name, first)

    # 1. the first part fills the emit log: everything says so
    log1 = tmp_path / "run1.log"
    with open(log1, "w") as out:
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=out,
                             stderr=subprocess.STDOUT)
        try:
            m = poll("the emit log never filled", p, lambda: metrics(port),
                     lambda m: m.get("vigie_emit_log_full") == 1, log1)
            assert m["vigie_emit_log_records"] >= MAX
            assert m["vigie_emit_log_max"] == MAX
            status, body = readyz(port)
            assert status == 503, body
            got = re.search(r"^emit log full: (\d+) records wait for the rollup topic (\S+)",
                            body, re.M)
            assert got and int(got.group(1)) >= MAX and got.group(2) == rollups, body
            # the second part stays in Kafka: its lag is all of it, and stays
            produce(kcat, kafka.bootstrap, topic_name, second)
            m = poll("the consumer lag never showed the second part", p,
                     lambda: metrics(port),
                     lambda m: lags(m, topic_name, 1)[0] == len(second), log1)
            epochs = m["vigie_epochs_committed_total"]
            time.sleep(3)
            m = metrics(port)
            assert lags(m, topic_name, 1)[0] == len(second)
            assert m["vigie_epochs_committed_total"] == epochs
            assert m["vigie_emit_log_full"] == 1
            assert readyz(port)[0] == 503
            # the API keeps serving the store
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/explore/v2.1/"
                                        "catalog/datasets", timeout=30) as r:
                assert r.status == 200
        finally:
            stop(p, log1)  # a stop while paused: exits 0 at once
    text = log1.read_text()
    assert "emit log full: ingestion paused until the rollup topic takes its records" in text
    assert f"max={MAX} topic={rollups} cursor=0 fills=1" in text
    assert "stopped while the emit log was full" in text

    # 2. a drain waits while the log is full, and finishes once the topic takes them
    log2 = tmp_path / "run2.log"
    with open(log2, "w") as out:
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg, "--drain"], stdout=out,
                             stderr=subprocess.STDOUT)
        try:
            poll("the drain did not say the emit log is full", p, log2.read_text,
                 lambda t: "emit log full: ingestion paused" in t, log2)
            time.sleep(3)
            assert p.poll() is None, log2.read_text()[-3000:]  # waiting, not done
            writable(kafka, rollups)
            rc = p.wait(timeout=300)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    text = log2.read_text()
    assert rc == 0, text[-3000:]
    assert "emit log below its bound: ingestion resumes" in text
    assert "rollups not all acknowledged" not in text

    # 3. a service: ready, nothing waits, nothing left in Kafka
    log3 = tmp_path / "run3.log"
    with open(log3, "w") as out:
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=out,
                             stderr=subprocess.STDOUT)
        try:
            poll("never ready", p, lambda: readyz(port), lambda r: r[0] == 200, log3)
            m = metrics(port)
            assert m["vigie_emit_log_full"] == 0 and m["vigie_emit_log_records"] < MAX
            assert lags(m, topic_name, 1) == [0]
            assert m["vigie_rollup_backlog"] == 0
        finally:
            stop(p, log3)
    rows = {res: query(bin_path, cfg, res) for res in ("1m", "1h", "1d")}
    for res in ("1m", "1h", "1d"):
        oracle.check(rows[res], res)
    assert assert_rollups_once(read_topic(kafka.bootstrap, rollups), rows) > 3 * MAX
