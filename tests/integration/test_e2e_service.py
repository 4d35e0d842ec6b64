"""vigied as a service against a real broker: bad input goes to the dead-letter
topic with its reason and is counted in /metrics while good readings stay
exact; SIGTERM mid-stream and a restart lose and double nothing; a broker
outage of 30 s is waited out. Input comes from vigie-gen (fixed seed), whose
file output is the oracle's raw rows.
"""
import json
import re
import signal
import subprocess
import time
from datetime import datetime

from confluent_kafka import Consumer, TopicPartition

import broker
from e2e import Oracle, free_port, metrics, query, write_config

KINDS = ["air-quality", "energy", "traffic", "bikes", "parking", "bikeshare"]
FIELDS = ("no2", "pm10", "pm25")
REASONS = {"not_json", "truncated", "not_object", "missing_time", "unparsable_time",
           "time_out_of_range", "non_numeric_value", "nan_or_inf", "oversize",
           "invalid_utf8_key", "missing_field", "no_fields", "bad_syntax",
           "missing_name"}


def air_oracle(lines):
    """The oracle of the air-quality messages: readings of valid messages,
    good readings of partly bad ones; returns (oracle, bad lines)."""
    o = Oracle("Europe/Paris")
    bad = []
    for raw in lines:
        try:
            doc = json.loads(raw.decode("utf-8"))
            ts = doc["ts"]
            assert isinstance(ts, str) and re.fullmatch(r"\d{4}-.*Z", ts)
            t = datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
        except Exception:  # noqa: BLE001 - any failure makes the message bad
            bad.append(raw)
            continue
        whole = True
        for f in FIELDS:
            v = doc.get(f)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                o.add(f'{f}{{district="{doc["district"]}",sensor_id="{doc["sensor_id"]}"}}',
                      t, float(v))
            else:
                whole = False
        if not whole:
            bad.append(raw)
    return o, bad


def generate(bin_path, tmp_path, *args):
    out = tmp_path / "gen"
    out.mkdir(exist_ok=True)
    r = subprocess.run([bin_path("vigie-gen"), "--output", str(out / "{kind}.jsonl"),
                        *args], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    with open(out / "air-quality.jsonl", "rb") as f:
        return f.read().split(b"\n")[:-1]


def send(bin_path, bootstrap, prefix, *args):
    r = subprocess.run([bin_path("vigie-gen"), "--brokers", bootstrap, "--topic",
                        prefix + ".{kind}", *args], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr


def wait_consumed(port, topic, n, timeout=120):
    key = f'vigie_messages_total{{topic="{topic}"}}'
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = metrics(port).get(key, 0)
            if last >= n:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{topic}: consumed {last} of {n}")


def start(bin_path, cfg, log):
    return subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                            stderr=subprocess.STDOUT)


def stop(p, timeout=30):
    p.send_signal(signal.SIGTERM)
    t = time.monotonic()
    rc = p.wait(timeout=timeout)
    return rc, time.monotonic() - t


def config(tmp_path, bootstrap, topic, port, name="vigie.yaml"):
    return write_config(str(tmp_path / name), str(tmp_path / "store"), bootstrap,
                        "Europe/Paris",
                        [dict(topic=topic, time_key="ts", entity_key="sensor_id",
                              tag_keys="[district]", fields="[no2, pm10, pm25]")],
                        http=f"127.0.0.1:{port}")


def make_topics(k, prefix, dead=True):
    for kind in KINDS:
        k.create_topic(f"{prefix}.{kind}", 3)
    if dead:
        k.create_topic(f"{prefix}.air-quality.dead", 1)


def dead_letters(bootstrap, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "dlq-check",
                  "enable.auto.commit": False})
    tp = TopicPartition(topic, 0, 0)
    lo, hi = c.get_watermark_offsets(tp, timeout=10)
    c.assign([tp])
    got = []
    while len(got) < hi:
        m = c.poll(10)
        assert m is not None, f"dead letters: {len(got)} of {hi}"
        if m.error():
            continue
        got.append((m.value(), dict(m.headers() or [])))
    c.close()
    return got


def test_bad_input_goes_to_dead_letters_and_metrics(kafka, bin_path, tmp_path, topic_name):
    gen = ["--duration", "12h", "--seed", "21", "--malformed", "0.1", "--duplicate", "0.02",
           "--late", "0.02", "--out-of-order", "0.05"]
    lines = generate(bin_path, tmp_path, *gen)
    oracle, bad = air_oracle(lines)
    assert len(bad) > 1000
    make_topics(kafka, topic_name)
    topic = f"{topic_name}.air-quality"
    port = free_port()
    cfg = config(tmp_path, kafka.bootstrap, topic, port)
    with open(tmp_path / "vigied.log", "w") as log:
        p = start(bin_path, cfg, log)
        try:
            send(bin_path, kafka.bootstrap, topic_name, *gen)
            wait_consumed(port, topic, len(lines))
            time.sleep(1.5)  # one more epoch: everything consumed is committed
            m = metrics(port)
        finally:
            rc, took = stop(p)
    assert rc == 0, open(tmp_path / "vigied.log").read()[-3000:]
    assert took < 10
    assert m["vigie_dead_letters_total"] == len(bad)
    rejects = sum(v for k, v in m.items() if k.startswith("vigie_rejects_total"))
    assert rejects >= len(bad)  # a message may hold several bad readings
    assert m['vigie_rejects_total{reason="not_json"}'] > 0
    assert m['vigie_rejects_total{reason="non_numeric_value"}'] > 0
    assert m['vigie_rejects_total{reason="missing_time"}'] > 0
    assert m["vigie_epochs_committed_total"] >= 1
    # the dead-letter topic holds exactly the bad messages, with their reasons
    dl = dead_letters(kafka.bootstrap, f"{topic}.dead")
    assert sorted(v for v, _ in dl) == sorted(bad)
    for v, h in dl:
        assert h["vigie.reason"].decode() in REASONS
        assert h["vigie.topic"].decode() == topic
        assert int(h["vigie.offset"]) >= 0
    # good readings are exact, partly bad messages keep their good readings
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)


def test_sigterm_mid_stream_then_restart_loses_and_doubles_nothing(kafka, bin_path, tmp_path,
                                                                  topic_name):
    gen = ["--duration", "3d", "--seed", "5", "--late", "0.01", "--duplicate", "0.01"]
    lines = generate(bin_path, tmp_path, *gen)
    oracle, bad = air_oracle(lines)
    make_topics(kafka, topic_name)
    topic = f"{topic_name}.air-quality"
    send(bin_path, kafka.bootstrap, topic_name, *gen)
    port = free_port()
    cfg = config(tmp_path, kafka.bootstrap, topic, port)
    log = open(tmp_path / "vigied.log", "w")
    stops = 0
    for delay in (0.3, 0.8, 1.5):  # SIGTERM at several points of the stream
        p = start(bin_path, cfg, log)
        time.sleep(delay)
        rc, took = stop(p)
        assert rc == 0
        assert took < 10
        stops += 1
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    log.close()
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
    assert stops == 3


def test_broker_outage_is_waited_out(bin_path, tmp_path):
    """The broker stops for 30 s mid-stream and comes back: vigied waits,
    resumes, and the rollups hold every message once."""
    gen1 = ["--duration", "6h", "--seed", "8"]
    gen2 = ["--duration", "6h", "--seed", "8", "--start", "2026-03-28T06:00:00Z"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    lines1 = generate(bin_path, tmp_path / "a", *gen1)
    lines2 = generate(bin_path, tmp_path / "b", *gen2)
    oracle, _ = air_oracle(lines1 + lines2)
    n1 = len(lines1)
    with broker.Cluster(nodes=1) as k:
        make_topics(k, "out", dead=True)
        port = free_port()
        cfg = config(tmp_path, k.bootstrap, "out.air-quality", port)
        with open(tmp_path / "vigied.log", "w") as log:
            p = start(bin_path, cfg, log)
            try:
                send(bin_path, k.bootstrap, "out", *gen1)
                wait_consumed(port, "out.air-quality", n1)
                k.stop_node(k.nodes[0])
                time.sleep(30)
                assert p.poll() is None, "vigied exited while the broker was away"
                k.start_node(k.nodes[0])
                k.wait_ready()
                send(bin_path, k.bootstrap, "out", *gen2)
                wait_consumed(port, "out.air-quality", n1 + len(lines2), timeout=180)
                time.sleep(1.5)
            finally:
                rc, _ = stop(p)
        assert rc == 0, open(tmp_path / "vigied.log").read()[-3000:]
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)


def test_config_errors_name_file_line_and_key(bin_path, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - topic: a\n    format: json\nwindows:\n  lateness: soon\n")
    r = subprocess.run([bin_path("vigied"), "--config", str(bad), "--check-config"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert f"{bad}:5: windows.lateness: expected a duration" in r.stderr
    assert f"{bad}:2: sources[0] (topic a): time_key is required" in r.stderr
    # it exits before touching any data: no store was created
    r = subprocess.run([bin_path("vigied"), "--config", str(bad), "--data-dir",
                        str(tmp_path / "never")], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert not (tmp_path / "never").exists()


def test_partitions_added_to_a_topic_are_followed(kafka, kcat, bin_path, tmp_path,
                                                 topic_name):
    from confluent_kafka.admin import NewPartitions
    from e2e import produce
    kafka.create_topic(topic_name, 2)
    kafka.create_topic(topic_name + ".dead", 1)
    port = free_port()
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, "UTC",
                       [dict(topic=topic_name, time_key="ts", entity_key="sensor_id",
                             fields="[v]")], http=f"127.0.0.1:{port}")
    oracle = Oracle("UTC")

    def batch(first, n):
        out = []
        for i in range(first, first + n):
            t = 1774656000 + i * 7
            out.append((f"s{i % 13}", json.dumps({"ts": t, "sensor_id": f"s{i % 13}",
                                                  "v": i % 50})))
            oracle.add(f'v{{sensor_id="s{i % 13}"}}', t, float(i % 50))
        return out

    with open(tmp_path / "vigied.log", "w") as log:
        p = start(bin_path, cfg, log)
        try:
            produce(kcat, kafka.bootstrap, topic_name, batch(0, 1000))
            wait_consumed(port, topic_name, 1000)
            admin = kafka.admin()  # must outlive its futures
            fs = admin.create_partitions([NewPartitions(topic_name, 4)])
            for f in fs.values():
                f.result()
            # the new partitions only: kcat -p
            for part, first in ((2, 1000), (3, 1500)):
                lines = b"".join(v.encode() + b"\n" for _, v in batch(first, 500))
                r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic_name,
                                    "-p", str(part)], input=lines, capture_output=True,
                                   timeout=60)
                assert r.returncode == 0, r.stderr
            wait_consumed(port, topic_name, 2000, timeout=90)
            time.sleep(1.5)
        finally:
            rc, _ = stop(p)
    log_text = open(tmp_path / "vigied.log").read()
    assert rc == 0, log_text[-3000:]
    assert "partitions were added" in log_text
    for res in ("1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
