"""Crash test against a real broker: a real data set is produced with kcat in
20 chunks; after each chunk vigied starts and is killed with SIGKILL at a
random moment (mid-epoch, mid-commit or idle); finally `vigied --drain`
finishes. Every window must equal the oracle computed from the raw rows:
count, min and max exactly, sum within 1e-9 relative. Nothing lost, nothing
counted twice.
"""
import os
import random
import signal
import subprocess
import time

import pytest

from e2e import SHARED, aarhus_traffic, produce, query, write_config

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")

KILLS = 20


def test_kill_9_twenty_times_then_drain_equals_oracle(kafka, kcat, bin_path, tmp_path,
                                                      topic_name):
    seed = int(os.environ.get("VIGIE_CRASH_SEED", time.time_ns() % 1000003))
    rnd = random.Random(seed)
    print(f"crash test seed {seed} (VIGIE_CRASH_SEED to replay)")
    msgs, oracle = aarhus_traffic()
    kafka.create_topic(topic_name, 4)
    kafka.create_topic(topic_name + ".dead", 1)
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, "Europe/Copenhagen",
                       [dict(topic=topic_name, format="influx", precision="s")])
    with open(cfg) as f:  # short epochs: many commits to be killed in
        text = f.read().replace("checkpoint_interval: 200ms", "checkpoint_interval: 50ms")
    with open(cfg, "w") as f:
        f.write(text)
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
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    for res in ("1m", "1h", "1d"):  # base windows too: the finest check
        oracle.check(query(bin_path, cfg, res), res)
