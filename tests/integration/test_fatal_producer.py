"""A fatal error of an idempotent producer (dead letters, rollups) is
recovered inside the running process, against a real broker: librdkafka's
rd_kafka_test_fatal_error() is raised through vigied's test hooks
(VIGIE_TEST_FATAL_DEADLETTER=N, VIGIE_TEST_FATAL_ROLLUP=N: the N-th message
a producer sends) in the middle of a real data set with malformed messages.
One vigied process drains it all: the dead-letter topic holds each malformed
message once, the rollup topic each (window, revision) once, and the windows
equal the oracle.
"""
import os
import subprocess

import pytest

from e2e import (SHARED, aarhus_source, assert_dead_letters_once, assert_once_each, produce,
                 query, read_topic)

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")


def test_fatal_producer_errors_recovered_without_restart(kafka, kcat, bin_path, tmp_path,
                                                         topic_name):
    cfg, msgs, bad, oracle = aarhus_source(kafka, tmp_path, topic_name)
    produce(kcat, kafka.bootstrap, topic_name, msgs)
    env = dict(os.environ, VIGIE_TEST_FATAL_DEADLETTER="40", VIGIE_TEST_FATAL_ROLLUP="3000")
    r = subprocess.run([bin_path("vigied"), "--config", cfg, "--drain"], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    log = r.stderr
    # both fatal errors happened and were recovered in this one process
    assert "VIGIE_TEST_FATAL_DEADLETTER" in log and "dead-letter producer recovered" in log
    assert "VIGIE_TEST_FATAL_ROLLUP" in log and "rollup producer: fatal error" in log
    assert "rollups not all acknowledged" not in log
    assert log.count("vigied running") == 1

    assert_dead_letters_once(kafka.bootstrap, topic_name, bad, "dead letters")
    rollups = read_topic(kafka.bootstrap, topic_name + ".rollups")
    assert_once_each([(k, int(h["vigie.revision"])) for _, _, k, _, h in rollups], "rollups")
    final = sum(1 for res in ("1h", "1d") for row in query(bin_path, cfg, res)
                if row["status"] == "final")
    assert len({k for _, _, k, _, _ in rollups}) == final
    for res in ("1m", "1h", "1d"):
        oracle.check(query(bin_path, cfg, res), res)
