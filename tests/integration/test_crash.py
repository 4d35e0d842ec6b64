"""Crash test against a real broker: a real data set, with malformed messages
mixed in, is produced with kcat in 20 chunks; after each chunk vigied starts
and is killed with SIGKILL at a random moment (mid-epoch, mid-commit, while
dead letters or rollups are in flight, or idle); finally `vigied --drain`
finishes. Then:

- every window equals the oracle computed from the raw rows: count, min and
  max exactly, sum within 1e-9 relative (nothing lost, nothing counted
  twice);
- the dead-letter topic holds each malformed message exactly once (read
  back with confluent-kafka, by its source coordinates and bytes);
- the rollup topic holds each (window, revision) exactly once, and the last
  revision of every window equals the store's final window;
- the indicators over the same data (docs/indicators.md) equal their
  oracle, and the rollup topic holds each of their (row, revision) once,
  the last one the API's row.
"""
import os
import random
import shutil
import signal
import subprocess
import time

import pytest

from e2e import (SHARED, aarhus_source, assert_dead_letters_once, assert_once_each,
                 assert_rollups_once, produce, query, read_topic)
from indicator_oracle import indicator_rows
from test_indicator_oracle import aarhus_readings
from test_indicators import AARHUS, Service, api_rows, compare, watermark_s, yaml_indicators

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

KILLS = 20


@pytest.mark.parametrize("shards", [1, 2], ids=["1shard", "2shards"])
def test_kill_9_twenty_times_then_drain_equals_oracle(kafka, kcat, bin_path, tmp_path,
                                                      topic_name, shards):
    seed = int(os.environ.get("VIGIE_CRASH_SEED", time.time_ns() % 1000003))
    rnd = random.Random(seed)
    print(f"crash test seed {seed} (VIGIE_CRASH_SEED to replay)")
    # short epochs: many commits to be killed in
    cfg, msgs, bad, oracle = aarhus_source(kafka, tmp_path, topic_name, "50ms", shards)
    with open(cfg, "a") as f:  # indicators too: their rows are committed with the epochs
        f.write("datasets:\n  - {id: trafic, resolution: 1h, metrics: "
                "[traffic_vehicle_count], sensor_period: 300s}\n"
                + yaml_indicators(AARHUS, "trafic") + "\n")
    chunk = (len(msgs) + KILLS - 1) // KILLS
    killed_alive = 0
    log = open(tmp_path / "vigied.log", "w")
    for i in range(KILLS):
        produce(kcat, kafka.bootstrap, topic_name, msgs[i * chunk:(i + 1) * chunk])
        p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                             stderr=subprocess.STDOUT)
        time.sleep(rnd.uniform(0.05, 1.2))
        if p.poll() is None:
            killed_alive += 1
        p.send_signal(signal.SIGKILL)
        p.wait()
    log.close()
    assert killed_alive == KILLS, "vigied exited by itself: see vigied.log"
    with open(tmp_path / "vigied.log") as f:
        uneven = f.read().count("store shards were not level")
    print(f"starts that found the shards apart: {uneven}")
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "rollups not all acknowledged" not in r.stderr
    rows = {}
    for res in ("1m", "1h", "1d"):  # base windows too: the finest check
        rows[res] = query(bin_path, cfg, res)
        oracle.check(rows[res], res)

    # dead letters: each malformed message once
    assert_dead_letters_once(kafka.bootstrap, topic_name, bad,
                             "dead letters (by source coordinates)")

    # rollups: each (window, revision) once, the last one the store's
    rollups = read_topic(kafka.bootstrap, topic_name + ".rollups")
    assert_rollups_once([m for m in rollups if not m[2].startswith(b"indicator:")], rows)

    # indicators: the oracle's rows, each revision on the rollup topic once
    readings, _ = aarhus_readings()
    wm = watermark_s(bin_path, cfg)
    want = []
    for ind in AARHUS:
        want += indicator_rows(readings, dict(ind), "Europe/Copenhagen", sensor_period_s=300,
                               watermark_utc=wm)
    svc = Service(bin_path, cfg, tmp_path / "service.log")
    try:
        got = api_rows(svc)
    finally:
        svc.close()
    compare(got, want, "indicators after the kills")
    ind = [(k, int(h["vigie.revision"])) for _, _, k, _, h in rollups
           if k.startswith(b"indicator:")]
    assert_once_each(ind, "indicator rollups (by key and revision)")
    last = {}
    for k, rev in ind:
        last[k.decode()] = max(rev, last.get(k.decode(), -1))
    assert sorted(last.values()) == sorted(r["revision"] for r in got)


def test_a_shard_behind_the_other_counts_again_only_its_own(kafka, kcat, bin_path,
                                                            tmp_path, topic_name):
    """What a crash between two shards' commits leaves, made on purpose: the
    first half drained, shard 1 copied; the second half drained; shard 1's
    copy put back, so that shard 1 is a whole drain behind shard 0. The next
    start reads from shard 1's offsets: shard 1 counts the second half
    again, shard 0 skips what it has. Every window equals the oracle and the
    dead letters stay once each."""
    cfg, msgs, bad, oracle = aarhus_source(kafka, tmp_path, topic_name, "200ms", 2)
    store = tmp_path / "store"
    half = len(msgs) // 2
    produce(kcat, kafka.bootstrap, topic_name, msgs[:half])
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    shutil.copytree(store / "shard-1", tmp_path / "shard-1.behind")
    produce(kcat, kafka.bootstrap, topic_name, msgs[half:])
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    shutil.rmtree(store / "shard-1")
    shutil.copytree(tmp_path / "shard-1.behind", store / "shard-1")
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "store shards were not level" in r.stderr
    for res in ("1m", "1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
    assert_dead_letters_once(kafka.bootstrap, topic_name, bad,
                             "dead letters (by source coordinates)")
