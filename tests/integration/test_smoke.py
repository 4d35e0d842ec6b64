"""Smoke test of the foundation: 10,000 JSON messages produced by kcat into a
4-partition topic on a real broker are all read back by vigie-rawconsume, the
minimal consumer built on the engine's Kafka wrapper: same count, same digest.
"""
import json
import random
import subprocess

from confluent_kafka import Consumer, TopicPartition

from conftest import multiset_digest

N = 10_000


def make_messages(seed=7):
    rnd = random.Random(seed)
    msgs = []
    for i in range(N):
        sensor = f"aq-{rnd.randrange(300)}"
        doc = {"ts": 1767225600 + i, "sensor_id": sensor,
               "district": rnd.choice(["Centre", "Nord", "Gare"]),
               "no2": round(rnd.uniform(5, 80), 1),
               "pm10": round(rnd.uniform(2, 60), 1), "note": "café ✓"}
        msgs.append((sensor, json.dumps(doc, ensure_ascii=False).encode()))
    return msgs


def partition_counts(bootstrap, topic, partitions):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "smoke-check"})
    try:
        out = []
        for p in range(partitions):
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            out.append(hi - lo)
        return out
    finally:
        c.close()


def test_kcat_to_engine_consumer(kafka, kcat, bin_path, topic_name):
    kafka.create_topic(topic_name, partitions=4)
    msgs = make_messages()
    stdin = b"".join(k.encode() + b"\t" + v + b"\n" for k, v in msgs)
    # kcat: keyed by sensor id (so messages spread over the 4 partitions),
    # acks=all, delivery reports checked (-X and exit status).
    r = subprocess.run([kcat, "-P", "-b", kafka.bootstrap, "-t", topic_name,
                        "-K", "\t", "-X", "acks=all", "-X", "linger.ms=20"],
                       input=stdin, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()

    counts = partition_counts(kafka.bootstrap, topic_name, 4)
    assert sum(counts) == N
    assert all(c > 0 for c in counts), counts

    r = subprocess.run([bin_path("vigie-rawconsume"), "--brokers", kafka.bootstrap,
                        "--topic", topic_name, "--timeout", "120"],
                       capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode()
    got = json.loads(r.stdout)
    assert got["partitions"] == 4
    assert got["messages"] == N
    assert got["bytes"] == sum(len(v) for _, v in msgs)
    assert int(got["digest"], 16) == multiset_digest(v for _, v in msgs)


def test_engine_consumer_names_a_missing_topic(kafka, bin_path):
    r = subprocess.run([bin_path("vigie-rawconsume"), "--brokers", kafka.bootstrap,
                        "--topic", "no-such-topic"], capture_output=True, timeout=60)
    assert r.returncode != 0
    assert b'topic "no-such-topic": does not exist' in r.stderr
