"""vigie-gen: byte-identical output for a fixed seed, the proportions of bad
and late messages it was asked for, and delivery into a real broker."""
import json
import re
import subprocess

import pytest

KINDS = ["air-quality", "energy", "traffic", "bikes", "parking", "bikeshare"]
SUMMARY = re.compile(rb"(\d+) messages \((\d+) readings, (\d+) delayed, (\d+) duplicates, "
                     rb"(\d+) malformed\)")


def gen(bin_path, *args):
    r = subprocess.run([bin_path("vigie-gen"), *args], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    m = SUMMARY.search(r.stderr)
    assert m, r.stderr
    return r.stdout, [int(x) for x in m.groups()]


@pytest.mark.parametrize("fmt", ["json", "influx", "senml"])
def test_same_seed_same_bytes(bin_path, fmt):
    args = ["--output", "-", "--format", fmt, "--duration", "6h", "--late", "0.02",
            "--out-of-order", "0.05", "--duplicate", "0.01", "--malformed", "0.02"]
    a, _ = gen(bin_path, *args, "--seed", "42")
    b, _ = gen(bin_path, *args, "--seed", "42")
    c, _ = gen(bin_path, *args, "--seed", "43")
    assert len(a) > 100_000
    assert a == b
    assert a != c


def _valid_json_reading(line):
    try:
        doc = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    if not isinstance(doc, dict) or not isinstance(doc.get("ts"), (int, str)):
        return False
    if isinstance(doc["ts"], str) and not re.match(r"\d{4}-\d\d-\d\dT", doc["ts"]):
        return False
    return all(not isinstance(v, str) or k in ("ts", "sensor_id", "counter_id",
               "district", "direction", "vehicle_class", "device_hash")
               for k, v in doc.items())


def test_malformed_share_is_what_was_asked(bin_path):
    out, (msgs, readings, delayed, dups, bad) = gen(
        bin_path, "--output", "-", "--duration", "1d", "--malformed", "0.1", "--seed", "9")
    lines = out.split(b"\n")[:-1]
    assert len(lines) == msgs == readings  # no duplicates asked
    invalid = sum(not _valid_json_reading(l) for l in lines)
    assert invalid == bad  # every corrupted message is detectably bad
    assert 0.09 < bad / readings < 0.11


def test_late_and_duplicates(bin_path):
    out, (msgs, readings, delayed, dups, bad) = gen(
        bin_path, "--output", "-", "--format", "influx", "--duration", "1d",
        "--late", "0.05", "--duplicate", "0.02", "--seed", "11")
    lines = out.split(b"\n")[:-1]
    assert len(lines) == msgs == readings + dups
    assert 0.045 < delayed / msgs < 0.055 and 0.018 < dups / readings < 0.022
    # a late message carries an event time over a minute behind the newest seen
    newest, behind = 0, 0
    for l in lines:
        t = int(l.rsplit(b" ", 1)[1])
        if t < newest - 60 * 10**9:
            behind += 1
        newest = max(newest, t)
    assert 0.8 * delayed < behind <= delayed
    assert len(set(lines)) < len(lines)  # duplicates are byte-identical


def test_delivers_every_message_to_kafka_keyed(kafka, kcat, bin_path, topic_name):
    pattern = topic_name + ".{kind}"
    for k in KINDS:
        kafka.create_topic(f"{topic_name}.{k}", partitions=2)
    local, (msgs, *_rest) = gen(bin_path, "--output", "-", "--duration", "2h",
                                "--sensors", "60", "--seed", "5")
    _, (sent, *_r) = gen(bin_path, "--brokers", kafka.bootstrap, "--topic", pattern,
                         "--duration", "2h", "--sensors", "60", "--seed", "5")
    assert sent == msgs
    got = []
    for k in KINDS:
        r = subprocess.run([kcat, "-C", "-b", kafka.bootstrap, "-t", f"{topic_name}.{k}",
                            "-e", "-q", "-f", "%k\t%s\n"], capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr
        for row in r.stdout.split(b"\n")[:-1]:
            key, value = row.split(b"\t", 1)
            doc = json.loads(value)
            assert key == (doc.get("sensor_id") or doc.get("counter_id")).encode()
            got.append(value)
    assert sorted(got) == sorted(local.split(b"\n")[:-1])
