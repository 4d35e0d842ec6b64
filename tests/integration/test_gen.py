"""vigie-gen: byte-identical output for a fixed seed, the proportions of bad
and late messages it was asked for, delivery into a real broker, the air
and activity signal the indicators read, and --backfill."""
import collections
import json
import os
import re
import subprocess
import time
from datetime import datetime
from zoneinfo import ZoneInfo

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


def gen_files(bin_path, tmp_path, keep, *args):
    """Runs vigie-gen into tmp_path/{kind}.jsonl, the kinds not in keep
    thrown away (/dev/null); returns tmp_path."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for k in KINDS:
        if k not in keep:
            (tmp_path / f"{k}.jsonl").symlink_to(os.devnull)
    r = subprocess.run([bin_path("vigie-gen"), "--output", str(tmp_path / "{kind}.jsonl"),
                        "--sensors", "60", "--seed", "1", *args],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr.decode()
    return tmp_path


def hourly_air(path):
    """{station: {unix hour: (no2, o3, pm10, pm25, readings)}} from an
    air-quality file, hourly means."""
    acc = collections.defaultdict(lambda: [0, 0.0, 0.0, 0.0, 0.0])
    with open(path, "rb") as f:
        for line in f:
            d = json.loads(line)
            t = datetime.fromisoformat(d["ts"].replace("Z", "+00:00")).timestamp()
            a = acc[d["sensor_id"], int(t) // 3600]
            a[0] += 1
            for i, m in enumerate(("no2", "o3", "pm10", "pm25")):
                a[i + 1] += d[m]
    out = collections.defaultdict(dict)
    for (sid, h), a in acc.items():
        out[sid][h] = tuple(x / a[0] for x in a[1:]) + (a[0],)
    return out


def test_air_quality_signal(bin_path, tmp_path):
    """The stations' air moves the EU directive's indicators: a winter
    month with PM10 episode days and rush-hour NO2 peaks near traffic, a
    summer month with ozone days; O3 falls where and when NO2 rises.
    Station 1 is near traffic, 3 suburban (the town's weather is the
    seed's, whatever --sensors)."""
    paris = ZoneInfo("Europe/Paris")
    jan = hourly_air(gen_files(bin_path, tmp_path / "jan", ["air-quality"], "--start",
                               "2026-01-01", "--duration", "31d") / "air-quality.jsonl")
    jul = hourly_air(gen_files(bin_path, tmp_path / "jul", ["air-quality"], "--start",
                               "2026-07-01", "--duration", "31d") / "air-quality.jsonl")
    assert sorted(jan) == ["aq-0001", "aq-0002", "aq-0003", "aq-0004"]

    def local(h):
        return datetime.fromtimestamp(h * 3600, paris)

    def mean(xs):
        xs = list(xs)
        return sum(xs) / len(xs)

    traffic, suburb = jan["aq-0001"], jan["aq-0003"]
    assert mean(v[0] for v in traffic.values()) > 1.3 * mean(v[0] for v in suburb.values())
    # NO2: weekday morning rush over the night, and a peak well above 100
    rush = mean(v[0] for h, v in traffic.items() if local(h).weekday() < 5
                and local(h).hour == 8)
    night = mean(v[0] for h, v in traffic.items() if local(h).hour == 3)
    assert rush > 2 * night and max(v[0] for v in traffic.values()) > 150
    # PM10: days whose mean of valid hours (>= 45 readings) passes 50
    days = collections.defaultdict(list)
    for h, v in traffic.items():
        if v[4] >= 45:
            days[local(h).date()].append(v[2])
    episode = [d for d, v in days.items() if len(v) >= 18 and mean(v) > 50]
    assert 1 <= len(episode) <= 15
    ratio = mean(v[3] for v in traffic.values()) / mean(v[2] for v in traffic.values())
    assert 0.55 < ratio < 0.65  # PM2.5 = 0.6 x PM10
    # O3: summer afternoons over mornings, some days' highest 8-hour mean
    # over 120 in the suburb, lower near traffic, against NO2 hour by hour
    sub = jul["aq-0003"]
    o3_8h = collections.defaultdict(float)
    for h in sub:
        w = [sub[x][1] for x in range(h - 7, h + 1) if x in sub]
        if len(w) >= 6:
            day = local(h).date()
            o3_8h[day] = max(o3_8h[day], mean(w))
    assert 1 <= sum(v > 120 for v in o3_8h.values()) <= 20
    afternoon = mean(v[1] for h, v in sub.items() if local(h).hour == 16)
    morning = mean(v[1] for h, v in sub.items() if local(h).hour == 7)
    assert afternoon > 1.5 * morning
    assert mean(v[1] for v in jul["aq-0001"].values()) < mean(v[1] for v in sub.values())

    def corr(station):  # NO2 and O3, hour by hour
        xs, ys = [v[0] for v in station.values()], [v[1] for v in station.values()]
        mx, my = mean(xs), mean(ys)
        cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        return cov / (sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys)) ** 0.5

    assert corr(jan["aq-0001"]) < -0.3 and corr(jul["aq-0001"]) < corr(sub) - 0.2


def test_activity_trends(bin_path, tmp_path):
    """A year on, the same month has more bike passages and uses less
    electricity; bikes ride more on weekdays than at weekends."""
    kinds = ["bikes", "energy"]
    a = gen_files(bin_path, tmp_path / "2026", kinds, "--start", "2026-06-01",
                  "--duration", "30d")
    b = gen_files(bin_path, tmp_path / "2027", kinds, "--start", "2027-06-01",
                  "--duration", "30d")

    def totals(d):
        with open(d / "bikes.jsonl", "rb") as f:
            bikes = [json.loads(line)["ts"] for line in f]
        with open(d / "energy.jsonl", "rb") as f:
            kwh = sum(json.loads(line)["energy_kwh"] for line in f)
        return bikes, kwh

    (bikes_a, kwh_a), (bikes_b, kwh_b) = totals(a), totals(b)
    assert 1.03 < len(bikes_b) / len(bikes_a) < 1.3
    assert 0.9 < kwh_b / kwh_a < 1.0
    paris = ZoneInfo("Europe/Paris")
    per_day = collections.Counter(datetime.fromtimestamp(ms / 1000, paris).date()
                                  for ms in bikes_a)
    weekday = [n for d, n in per_day.items() if d.weekday() < 5]
    weekend = [n for d, n in per_day.items() if d.weekday() >= 5]
    assert sum(weekday) / len(weekday) > 1.2 * sum(weekend) / len(weekend)


def test_backfill_is_the_history_before_start(bin_path):
    """--backfill simulates the span before --start (the same bytes as
    starting earlier) flat out, then paces from --start."""
    args = ["--output", "-", "--sensors", "60", "--seed", "3", "--late", "0.02",
            "--duplicate", "0.01", "--malformed", "0.02"]
    a, _ = gen(bin_path, *args, "--start", "2026-03-28T06:00:00Z", "--backfill", "6h",
               "--duration", "3h")
    b, _ = gen(bin_path, *args, "--start", "2026-03-28T00:00:00Z", "--duration", "9h")
    assert len(a) > 100_000 and a == b
    t = time.monotonic()
    out, (msgs, *_r) = gen(bin_path, "--output", "-", "--sensors", "60", "--seed", "3",
                           "--start", "2026-03-28T06:00:00Z", "--backfill", "1d",
                           "--duration", "120s", "--speed", "30", "--format", "influx")
    took = time.monotonic() - t
    assert 1.9 < took < 12  # a day flat out, then up to 120 s at 30x
    before = sum(int(line.rsplit(b" ", 1)[1]) < 1774677600 * 10**9
                 for line in out.split(b"\n")[:-1])
    assert before > 0.9 * msgs
