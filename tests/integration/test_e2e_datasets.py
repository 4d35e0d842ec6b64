"""vigied end to end on every real data set of ../shared/data, against a real
broker: the test turns each data set into messages (JSON, line protocol or
SenML), produces them with kcat, runs `vigied --drain`, reads the hourly and
daily rollups with vigieq, and compares every window with an oracle computed
in Python from the raw rows, in the data set's own time zone, DST days
included.
"""
import os

import pytest

from e2e import (SHARED, aarhus_parking, aarhus_traffic, aberdeen_pm, check_cpu_by_stage,
                 london_smartmeter, produce, query, seattle_bike, seattle_records, vigied,
                 write_config)

pytestmark = pytest.mark.skipif(not os.path.isdir(SHARED),
                                reason=f"shared data sets absent ({SHARED})")


@pytest.fixture(params=[1, 2], ids=["1shard", "2shards"])
def shards(request):
    """Every data set runs with the store in one shard and in two."""
    return request.param


def run_case(kafka, kcat, bin_path, tmp_path, topic, messages, source, tz_name, oracle,
             shards, partitions=4, extra="", log=None):
    """Produces messages to topic, drains them with vigied reading it as
    source in zone tz_name with the store in `shards` shards (extra: more
    top-level configuration), and checks its hourly and daily rollups against
    oracle. Returns the config and, per resolution, what oracle.check
    counted; vigied's log goes into the list log when one is given."""
    extra = f"store: {{shards: {shards}}}\n" + extra
    kafka.create_topic(topic, partitions)
    kafka.create_topic(topic + ".dead", 1)
    produce(kcat, kafka.bootstrap, topic, messages)
    cfg = write_config(str(tmp_path / "vigie.yaml"), str(tmp_path / "store"),
                       kafka.bootstrap, tz_name, [dict(topic=topic, **source)], extra=extra)
    r = vigied(bin_path, cfg, "--drain")
    assert r.returncode == 0, r.stderr
    check_cpu_by_stage(r.stderr)
    if log is not None:
        log.append(r.stderr)
    counted = {}
    for res in ("1h", "1d"):
        rows = query(bin_path, cfg, res)
        counted[res] = oracle.check(rows, res)
    return cfg, counted


def test_seattle_bike_counter_local_times_with_dst(kafka, kcat, bin_path, tmp_path,
                                                   topic_name, shards):
    """Hourly counts as strings, naive America/Los_Angeles times: the spring
    gap (2017-03-12 02:00 does not exist) and the autumn repeat resolve by the
    documented rule; records without counts are rejected, not lost."""
    msgs, source, _, oracle = seattle_bike()
    records = seattle_records()
    cfg, counted = run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs, source,
                            "America/Los_Angeles", oracle, shards=shards)
    assert counted["1d"] > 2 * 1600  # both directions, every day of 2014-2018
    # the city's own total is an independent check of east + west per day
    days = {}
    for rec in records:
        if "east" in rec and "west" in rec:
            d = rec["date"][:10]
            days[d] = days.get(d, 0) + int(rec["spokane_st_bridge_total"])
    rows = query(bin_path, cfg, "1d")
    ours = {}
    for r in rows:
        ours[r["start_datetime"][:10]] = ours.get(r["start_datetime"][:10], 0) + float(
            r["sum"])
    off = {d for d in days if abs(days[d] - ours[d]) > 2}
    # 2014-11-26 is the one day where the city's total differs from east + west
    assert off <= {"2014-11-26"}, sorted(off)[:5]


def test_aberdeen_pm_utc_rows_in_london_days(kafka, kcat, bin_path, tmp_path, topic_name, shards):
    """Raw ~2.5-minute PM readings in UTC rolled up in Europe/London: the
    25-hour day of 2018-10-28 and BST->GMT hours."""
    msgs, source, _, oracle = aberdeen_pm()
    assert len(msgs) == 17837
    cfg, counted = run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs, source,
                            "Europe/London", oracle, shards=shards)
    assert counted["1d"] == 2 * 31  # October's local days (01:00 BST is 00:00 UTC)
    rows = [r for r in query(bin_path, cfg, "1d") if r["series"].startswith("P1")]
    long_day = [r for r in rows if r["start_datetime"].startswith("2018-10-28")]
    assert long_day and long_day[0]["end_datetime"].startswith("2018-10-29T00:00:00")
    assert long_day[0]["start_datetime"].endswith("+01:00")  # a 25-hour day


def test_aarhus_traffic_line_protocol_with_duplicates(kafka, kcat, bin_path, tmp_path,
                                                      topic_name, shards):
    """Two directions of a road, 5-minute counts sent as InfluxDB line
    protocol, with the data set's exact duplicate rows and backward jumps
    (they count as received: the oracle counts them too)."""
    msgs, oracle = aarhus_traffic()
    cfg, counted = run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs,
                            dict(format="influx", precision="s"), "Europe/Copenhagen", oracle, shards=shards)


def test_aarhus_traffic_under_the_smallest_memory_limit(kafka, kcat, bin_path, tmp_path,
                                                        topic_name, shards):
    """The same data under memory_limit: 64MiB (the smallest allowed): its
    shares as the log states them (an eighth to the epochs: 3,276 delta
    entries each for one worker; the prefetch's payload a sixty-fourth, at
    least 4 MiB; fetches of 1 MiB a partition; half to the window table);
    the worker hands its epochs early instead of letting them grow, and
    stops reading while the writer is behind, and while RssAnon is past the
    memory gate's mark until the writer relieved it; nothing is dropped --
    every window equals the oracle."""
    msgs, oracle = aarhus_traffic()
    log = []
    run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs,
             dict(format="influx", precision="s"), "Europe/Copenhagen", oracle,
             extra="memory_limit: 64MiB", log=log, shards=shards)
    shares = [ln for ln in log[0].splitlines() if "memory_limit shares" in ln]
    assert shares, log[0][-2000:]
    got = dict(w.split("=", 1) for w in shares[0].split() if "=" in w)
    assert {k: got[k] for k in ("limit_mib", "epoch_entries", "prefetch_payload_kib",
                                "partition_fetch_bytes", "window_table_mib",
                                "producer_queue_kib")} == {
        "limit_mib": "64", "epoch_entries": str((64 << 20) // 8 // 10 // 256),
        "prefetch_payload_kib": "4096", "partition_fetch_bytes": str(1 << 20),
        "window_table_mib": "32", "producer_queue_kib": "4096"}, shares[0]
    assert (got["memory_gate_mib"], got["memory_gate_step_mib"]) == ("56", "4"), shares[0]
    stopped = [ln for ln in log[0].splitlines() if "stopped after committing" in ln][-1]
    early = int(stopped.split("epochs_handed_early=")[1].split()[0])
    assert early > 0, stopped  # the limit did hold the epochs back
    # the process's RssAnon is past the gate's mark (7/8 of 64 MiB) from the
    # start: the workers stopped to wait for the writer's relief, and went on
    waits = int(stopped.split("memory_waits=")[1].split()[0])
    assert waits > 0, stopped


def test_aarhus_parking_naive_copenhagen_times_repeated_hour(kafka, kcat, bin_path, tmp_path,
                                                             topic_name, shards):
    """Car-park occupancy snapshots in naive local time, across the repeated
    hour of 2014-10-26 (both 02:28 snapshots take the first occurrence)."""
    msgs, source, _, oracle = aarhus_parking()
    cfg, counted = run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs, source,
                            "Europe/Copenhagen", oracle, shards=shards)


def test_london_smart_meter_senml(kafka, kcat, bin_path, tmp_path, topic_name, shards):
    """Half-hourly kWh of one household as SenML records (GMT timestamps),
    rolled up in Europe/London: local days of 23 and 25 hours."""
    msgs, source, _, oracle = london_smartmeter()
    cfg, counted = run_case(kafka, kcat, bin_path, tmp_path, topic_name, msgs, source,
                            "Europe/London", oracle, shards=shards)
    assert counted["1d"] >= 808
