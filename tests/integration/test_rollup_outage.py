"""The rollup publisher never stalls the writer (3-node cluster).

The rollup topic lives on one broker (replication 1); that broker is stopped
for 60 s while vigied ingests a real data set into a store that starts with
a 1 MiB map, and the rollup producer's queue holds 500 messages: the
publisher waits for the broker, and before the fix it did so holding a store
snapshot, so the map could not grow and ingestion stopped behind it (a first
slice is published before the outage, the rest arrives over its first 40 s,
after the queue is full). Now:
during the outage every reading is consumed and committed and the map grows;
once the broker is back, every (window, revision) reaches the topic exactly
once and the windows equal the oracle.
"""
import os
import signal
import subprocess
import time

import pytest

from e2e import (SHARED, aarhus_traffic, assert_rollups_once, lags, metrics, produce,
                 query, read_topic, write_config, free_port)

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not os.path.isdir(SHARED),
                                 reason=f"shared data sets absent ({SHARED})")]

OUTAGE_S = 60


def test_rollup_leader_away_60s_while_ingestion_goes_on(kafka3, kcat, bin_path, tmp_path,
                                                       topic_name):
    msgs, oracle = aarhus_traffic()
    kafka3.create_topic(topic_name, 2)
    kafka3.create_topic(topic_name + ".dead", 1)
    rollups = topic_name + ".rollups"
    kafka3.create_topic(rollups, 1, replication=1)
    md = kafka3.admin().list_topics(rollups, timeout=10)
    leader = md.topics[rollups].partitions[0].leader
    node = next(n for n in kafka3.nodes if n.node_id == leader)
    port = free_port()
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka3.bootstrap, "Europe/Copenhagen",
                       [dict(topic=topic_name, format="influx", precision="s")],
                       http=f"127.0.0.1:{port}", extra="store: {shards: 1}")
    with open(cfg) as f:
        text = f.read()
    with open(cfg, "w") as f:
        f.write(text.replace(
            "dead_letter_topic:",
            "properties: {queue.buffering.max.messages: '500'}, "
            "dead_letter_topic:"))
    log = open(tmp_path / "vigied.log", "w")
    env = dict(os.environ, VIGIE_TEST_MAP_SIZE="1MiB")
    p = subprocess.Popen([bin_path("vigied"), "--config", cfg], stdout=log,
                         stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        m = {}
        while time.monotonic() < deadline:
            try:
                m = metrics(port)
                break
            except OSError:
                time.sleep(0.2)
        map0 = m["vigie_store_map_bytes"]
        assert map0 <= 1 << 20
        # a first slice, published: the publisher has read the topic back and
        # produces (it produces nothing before that read-back)
        chunk = (len(msgs) + 19) // 20
        produce(kcat, kafka3.bootstrap, topic_name, msgs[:chunk])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and \
                not m.get("vigie_rollups_published_total"):
            time.sleep(0.3)
            m = metrics(port)
        assert m.get("vigie_rollups_published_total"), m
        kafka3.stop_node(node)
        t_down = time.monotonic()
        try:
            # the rest in slices over 40 s: the first ones' rollups fill the
            # producer's queue, so the publisher is waiting for the broker
            # while the later ones need the map to grow
            for i in range(1, 20):
                produce(kcat, kafka3.bootstrap, topic_name, msgs[i * chunk:(i + 1) * chunk])
                time.sleep(max(0.0, t_down + 2 * i - time.monotonic()))
            # everything is ingested and committed while the topic is away
            caught_up = None
            while time.monotonic() - t_down < OUTAGE_S:
                assert p.poll() is None, open(tmp_path / "vigied.log").read()[-3000:]
                m = metrics(port)
                if caught_up is None and all(x == 0 for x in lags(m, topic_name, 2)):
                    caught_up = time.monotonic() - t_down
                time.sleep(0.5)
            assert caught_up is not None, (
                "ingestion stopped while the rollup topic was away: lags "
                f"{lags(m, topic_name, 2)}")
            assert m["vigie_store_map_bytes"] > 4 * map0  # the map grew meanwhile
            assert m["vigie_rollup_backlog"] > 0  # and the rollups waited
            print(f"caught up {caught_up:.1f} s into the outage; map "
                  f"{map0 / 2**20:.0f} -> {m['vigie_store_map_bytes'] / 2**20:.0f} MiB; "
                  f"rollup backlog {m['vigie_rollup_backlog']:.0f}")
        finally:
            kafka3.start_node(node)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            m = metrics(port)
            if m["vigie_rollup_backlog"] == 0:
                break
            time.sleep(0.5)
        assert m["vigie_rollup_backlog"] == 0, m
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        log.close()
    assert rc == 0, open(tmp_path / "vigied.log").read()[-3000:]
    rows = {res: query(bin_path, cfg, res) for res in ("1h", "1d")}
    for res in ("1h", "1d"):
        oracle.check(rows[res], res)
    assert_rollups_once(read_topic(kafka3.bootstrap, rollups), rows)
