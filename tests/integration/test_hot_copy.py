"""A hot copy of a live store (`vigieq copy DEST`, LMDB's mdb_env_copy2 shard
by shard; docs/store.md, "Hot copies") taken while vigied ingests, and a
second vigied started on it: it resumes at the copy's stored offsets and
ends with the same store as the first, without gap or double count.

The Aarhus road traffic (real data, with malformed messages among it) in a
store of two shards. vigied A ingests a first part; while it reads a second
part, the copy is taken; A then drains everything. vigied B, on the copy and
the same topics (a replacement for A, or a replica), drains too. Then:

- B's queries are byte-identical to A's at every resolution, and equal the
  oracle of the raw rows;
- B started from the copy's epoch and offsets (it aggregated fewer
  readings than the data holds, and its log says the epoch it loaded);
- the dead-letter topic holds each malformed message once and the rollup
  topic each (window, revision) once, although A and B both went past the
  copy's offsets: B read back what A had written.
"""
import csv
import io
import re
import signal
import subprocess
import time

from e2e import (aarhus_source, assert_dead_letters_once, assert_rollups_once,
                 edit_config, produce, query, read_topic)


def stored_offsets(bin_path, cfg, topic):
    """The next offset the store holds per partition of topic (vigieq
    status beside a running vigied); {} when the store has none yet."""
    r = subprocess.run([bin_path("vigieq"), "--config", cfg, "status", "--format", "csv"],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return {}
    return {int(row["partition"]): int(row["value"])
            for row in csv.DictReader(io.StringIO(r.stdout))
            if row["kind"] == "partition" and row["name"] == topic and row["value"]}


def test_hot_copy_resumes_without_gap_or_double_count(kafka, kcat, bin_path, tmp_path,
                                                      topic_name):
    (tmp_path / "a").mkdir()
    cfg_a, msgs, bad, oracle = aarhus_source(kafka, tmp_path / "a", topic_name, shards=2)
    first, second, rest = msgs[:len(msgs) * 4 // 10], msgs[len(msgs) * 4 // 10:
                                                           len(msgs) * 7 // 10], \
        msgs[len(msgs) * 7 // 10:]
    produce(kcat, kafka.bootstrap, topic_name, first)
    log_a = open(tmp_path / "a.log", "w")
    a = subprocess.Popen([bin_path("vigied"), "--config", cfg_a], stdout=log_a,
                         stderr=subprocess.STDOUT)
    copy = tmp_path / "b-store"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not stored_offsets(bin_path, cfg_a, topic_name):
            assert a.poll() is None, (tmp_path / "a.log").read_text()[-3000:]
            time.sleep(0.1)
        assert stored_offsets(bin_path, cfg_a, topic_name), "A committed nothing"
        produce(kcat, kafka.bootstrap, topic_name, second)
        # the copy while A reads the second part
        r = subprocess.run([bin_path("vigieq"), "--config", cfg_a, "copy", str(copy)],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert re.search(r"copied .* \(2 shards, [\d.]+ MiB\)", r.stderr), r.stderr
        assert a.poll() is None, (tmp_path / "a.log").read_text()[-3000:]
        produce(kcat, kafka.bootstrap, topic_name, rest)
    finally:
        a.send_signal(signal.SIGTERM)
        rc = a.wait(timeout=60)
        log_a.close()
    assert rc == 0, (tmp_path / "a.log").read_text()[-3000:]
    # a copy into a directory that exists is refused
    r = subprocess.run([bin_path("vigieq"), "--config", cfg_a, "copy", str(copy)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "exists" in r.stderr, r.stderr
    at_copy = stored_offsets(bin_path, cfg_a, topic_name)  # A's, not the copy's
    r = subprocess.run([bin_path("vigied"), "--config", cfg_a, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]

    # B: the same config on the copy
    cfg_b = str(tmp_path / "b.yaml")
    with open(cfg_a) as f:
        text = f.read()
    with open(cfg_b, "w") as f:
        f.write(text)
    edit_config(cfg_b, [(f"data_dir: {tmp_path / 'a' / 'store'}", f"data_dir: {copy}")])
    copied = stored_offsets(bin_path, cfg_b, topic_name)
    assert copied and sum(copied.values()) > 0
    assert sum(copied.values()) <= sum(at_copy.values())
    r = subprocess.run([bin_path("vigied"), "--config", cfg_b, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    loaded = re.search(r'msg="store loaded" data_dir=\S+ epoch=(\d+)', r.stderr)
    assert loaded and int(loaded.group(1)) > 0, r.stderr[-3000:]
    aggregated = int(re.findall(r"events_aggregated=(\d+)", r.stderr)[-1])
    readings = 2 * (len(msgs) - len(bad))  # a vehicle count and a speed each
    assert 0 < aggregated < readings, (aggregated, readings)

    for res in ("1m", "1h", "1d"):
        out = [subprocess.run([bin_path("vigieq"), "--config", c, "query", "--resolution",
                               res, "--format", "csv"], capture_output=True, timeout=300)
               for c in (cfg_a, cfg_b)]
        assert all(o.returncode == 0 for o in out)
        assert out[0].stdout == out[1].stdout, f"A and B differ at {res}"
    rows = {res: query(bin_path, cfg_b, res) for res in ("1m", "1h", "1d")}
    for res in ("1m", "1h", "1d"):
        oracle.check(rows[res], res)
    assert stored_offsets(bin_path, cfg_b, topic_name) == \
        stored_offsets(bin_path, cfg_a, topic_name)
    assert_dead_letters_once(kafka.bootstrap, topic_name, bad, "dead letters of A and B")
    assert assert_rollups_once(read_topic(kafka.bootstrap, topic_name + ".rollups"),
                               rows) > 0
