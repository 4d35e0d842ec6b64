"""The sharded store end to end, against a real broker: a store written
with one shard is refused with two (the message names the command), is
re-sharded with `vigieq reshard`, reads the same, goes on ingesting with
two shards, and is re-sharded back; every window equals the oracle and each
malformed message is a dead letter once."""
import os
import shutil
import subprocess

import pytest

from e2e import SHARED, aarhus_source, assert_dead_letters_once, edit_config, produce, query

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")


def drain(bin_path, cfg):
    return subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"],
                          capture_output=True, text=True, timeout=600)


def reshard(bin_path, cfg, n):
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "reshard", "--shards", str(n)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return r


def test_reshard_one_to_two_and_back(kafka, kcat, bin_path, tmp_path, topic_name):
    cfg, msgs, bad, oracle = aarhus_source(kafka, tmp_path, topic_name, "200ms", 1)
    store = tmp_path / "store"
    half = len(msgs) // 2
    produce(kcat, kafka.bootstrap, topic_name, msgs[:half])
    r = drain(bin_path, cfg)
    assert r.returncode == 0, r.stderr
    before = {res: query(bin_path, cfg, res) for res in ("1m", "1h", "1d")}

    # two shards asked of a store of one: refused, nothing changed
    cfg2 = str(tmp_path / "vigie-2shards.yaml")
    shutil.copy(cfg, cfg2)
    edit_config(cfg2, [("store: {shards: 1}", "store: {shards: 2}")])
    r = drain(bin_path, cfg2)
    assert r.returncode != 0
    assert "holds 1 shard, the configuration asks for 2" in r.stderr
    assert f"vigieq --data-dir {store} reshard --shards 2" in r.stderr
    assert not (store / "shard-1").exists()

    r = reshard(bin_path, cfg2, 2)
    assert "now has 2 shards" in r.stderr
    assert (store / "shard-1" / "data.mdb").exists()
    assert (tmp_path / "store.pre-reshard-1" / "data.mdb").exists()
    assert (store / "series.key").read_bytes() == \
        (tmp_path / "store.pre-reshard-1" / "series.key").read_bytes()
    for res, rows in before.items():  # the same rows, read across two shards
        assert query(bin_path, cfg2, res) == rows

    produce(kcat, kafka.bootstrap, topic_name, msgs[half:])
    r = drain(bin_path, cfg2)
    assert r.returncode == 0, r.stderr
    for res in ("1m", "1h", "1d"):
        oracle.check(query(bin_path, cfg2, res), res)

    # and back to one; a leftover of an interrupted re-shard stops it first
    os.mkdir(tmp_path / "store.reshard")
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "reshard", "--shards", "1"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 2 and "store.reshard" in r.stderr and "move it away" in r.stderr
    os.rmdir(tmp_path / "store.reshard")
    reshard(bin_path, cfg, 1)
    assert not (store / "shard-1").exists()
    assert (tmp_path / "store.pre-reshard-2" / "shard-1" / "data.mdb").exists()
    for res in ("1m", "1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
    r = drain(bin_path, cfg)  # and it goes on: nothing new, nothing counted twice
    assert r.returncode == 0, r.stderr
    oracle.check(query(bin_path, cfg, "1h"), "1h")
    assert_dead_letters_once(kafka.bootstrap, topic_name, bad,
                             "dead letters (by source coordinates)")
