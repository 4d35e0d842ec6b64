"""The store never depends on the brokers (docs/ingestion.md,
"Connecting, and serving without Kafka"), against a real broker that the test stops and starts:

- a store is built, the broker is stopped, vigied starts: the API serves the
  records within seconds, /healthz is ok, /readyz says what is not ready,
  vigie_kafka_up is 0; it is still up a minute later; SIGTERM exits 0;
- started again without the broker, then the broker comes back: ingestion
  starts by itself and resumes at the stored offsets (messages produced
  during the outage are counted once, the earlier ones are not read again);
- a missing source topic is waited for while the others are read, and taken
  as soon as it exists.
"""
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import broker
from e2e import SHARED, Oracle, free_port, produce, query, write_config

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

API = "/api/explore/v2.1/catalog/datasets"


def seattle():
    """The Seattle bike counter as JSON messages keyed by direction, with
    their oracle (hourly counts, local America/Los_Angeles times)."""
    from e2e import naive_local_to_utc
    from zoneinfo import ZoneInfo
    tz = ZoneInfo("America/Los_Angeles")
    with open(os.path.join(SHARED, "seattle-spokane-bike", "spokane-st.json")) as f:
        rows = json.load(f)
    msgs, oracle = [], Oracle("America/Los_Angeles")
    for r in rows:
        t = int(naive_local_to_utc(r["date"][:19], tz))
        for d in ("east", "west"):
            v = r.get(d)
            if v is None or v == "":
                continue
            msgs.append((d, json.dumps({"ts": t, "direction": d, "bikes": float(v)})))
            oracle.add(f'bikes{{direction="{d}"}}', t, float(v))
    return msgs, oracle


def get(port, path, timeout=5):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(port, name):
    _, text = get(port, "/metrics")
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def wait_for(what, fn, timeout=60, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except OSError:
            pass
        time.sleep(step)
    raise TimeoutError(what)


def config(tmp_path, bootstrap, topics, port):
    sources = [dict(topic=t, time_key="ts", time_format="unix", tag_keys="[direction]",
                    fields="[bikes]") for t in topics]
    extra = ("datasets:\n  - id: velos-heure\n    resolution: 1h\n    metrics: [bikes]\n"
             "    columns: [count, sum]\n    tag_columns: [direction]\n    status: all\n")
    return write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"), bootstrap,
                        "America/Los_Angeles", sources, extra=extra,
                        http=f"127.0.0.1:{port}")


def start(bin_path, cfg, log):
    return subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                            stderr=subprocess.STDOUT)


def test_store_served_without_kafka_and_ingestion_resumes(bin_path, kcat, tmp_path):
    msgs, oracle = seattle()
    half = len(msgs) // 2
    port = free_port()
    logf = tmp_path / "vigied.log"
    with broker.Cluster(nodes=1) as k:
        k.create_topic("bikes", 2)
        k.create_topic("bikes.dead", 1)
        cfg = config(tmp_path, k.bootstrap, ["bikes"], port)
        produce(kcat, k.bootstrap, "bikes", msgs[:half])
        r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        rows_before = query(bin_path, cfg, "1h")
        assert rows_before
        k.stop_node(k.nodes[0])

        # no broker: the store is served at once, and stays served
        with open(logf, "w") as log:
            p = start(bin_path, cfg, log)
            t0 = time.monotonic()
            status, body = wait_for("records served", lambda: (
                lambda s: s if s[0] == 200 else None)(get(port, f"{API}/velos-heure/records"
                                                              "?limit=5")), timeout=20)
            served_after = time.monotonic() - t0
            doc = json.loads(body)
            assert doc["total_count"] == len(rows_before)
            assert get(port, "/healthz")[0] == 200
            code, text = get(port, "/readyz")
            assert code == 503 and "kafka" in text, text
            assert metric(port, "vigie_kafka_up") == 0
            time.sleep(30)  # retries at 1, 2, 4, 8 and 16 s: five attempts at least
            assert p.poll() is None, "vigied exited while the broker was away"
            assert get(port, f"{API}/velos-heure/records?limit=1")[0] == 200
            assert get(port, "/healthz")[0] == 200
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=30) == 0
        assert served_after < 10
        # half a minute of retries, one line: logged once per change of state
        assert logf.read_text().count("kafka brokers unreachable") == 1

        # started again without the broker; the broker comes back
        with open(logf, "a") as log:
            p = start(bin_path, cfg, log)
            try:
                wait_for("served", lambda: get(port, "/healthz")[0] == 200, timeout=20)
                k.start_node(k.nodes[0])
                k.wait_ready()
                produce(kcat, k.bootstrap, "bikes", msgs[half:])
                # resumes at the stored offsets: only the new messages are read
                wait_for("ingesting", lambda: metric(port, "vigie_kafka_up") == 1, timeout=120)
                wait_for("consumed", lambda: (metric(
                    port, 'vigie_messages_total{topic="bikes"}') or 0) >= len(msgs) - half,
                    timeout=120)
                time.sleep(1.5)  # an epoch more: what was consumed is committed
                assert metric(port, 'vigie_messages_total{topic="bikes"}') == len(msgs) - half
                code, text = get(port, "/readyz")
                assert code == 200, text
            finally:
                p.send_signal(signal.SIGTERM)
                rc = p.wait(timeout=60)
        assert rc == 0, logf.read_text()[-3000:]
    assert "kafka brokers reachable" in logf.read_text()
    text = open(cfg).read().replace("kafka: {", "kafka: {drain_wait: 5s, ")
    open(cfg, "w").write(text)
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=300)
    # the broker is gone: a drain waits kafka.drain_wait for it, then says why
    assert r.returncode != 0 and "cannot drain" in r.stderr, r.stderr[-2000:]
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)


def test_missing_source_topic_is_waited_for(kafka, kcat, bin_path, tmp_path, topic_name):
    msgs, oracle = seattle()
    east = [m for m in msgs if m[0] == "east"]
    west = [m for m in msgs if m[0] == "west"]
    a, b = topic_name + ".east", topic_name + ".west"
    kafka.create_topic(a, 1)
    kafka.create_topic(topic_name + ".dead", 1)
    produce(kcat, kafka.bootstrap, a, east)
    port = free_port()
    cfg = config(tmp_path, kafka.bootstrap, [a, b], port)
    cfg_text = open(cfg).read().replace(f"dead_letter_topic: {a}.dead",
                                        f"dead_letter_topic: {topic_name}.dead")
    open(cfg, "w").write(cfg_text)
    with open(tmp_path / "vigied.log", "w") as log:
        p = start(bin_path, cfg, log)
        try:
            wait_for("east consumed", lambda: metric(
                port, f'vigie_messages_total{{topic="{a}"}}') == len(east), timeout=60)
            assert p.poll() is None
            code, text = get(port, "/readyz")
            assert code == 200 and b in text, text  # ready, and says what it waits for
            kafka.create_topic(b, 2)
            produce(kcat, kafka.bootstrap, b, west)
            wait_for("west consumed", lambda: metric(
                port, f'vigie_messages_total{{topic="{b}"}}') == len(west), timeout=90)
            time.sleep(1.5)
            assert get(port, "/readyz") == (200, "ready\n")
        finally:
            p.send_signal(signal.SIGTERM)
            rc = p.wait(timeout=60)
    assert rc == 0, (tmp_path / "vigied.log").read_text()[-3000:]
    # the east readings were not read twice when the ingestion was rebuilt:
    # every window exact
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
