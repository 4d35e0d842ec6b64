"""Late readings lose nothing, end to end against a real broker on real data
(worker.h "Late readings"; docs/aggregation.md, "Watermarks, lateness, revisions,
retention"):
with base windows kept 14 days and hours and days forever, readings that
arrive after their windows went final -- some older than the base
retention -- count in every resolution that still retains them. Every window
is compared with an independent Python oracle, and the revisions with what
the oracle says changed: each final window that late readings changed is
re-emitted with a revision of 1 or more (vigieq's revision column), every
other one keeps revision 0, and vigie_window_revisions_total on /metrics
counts exactly the revisions the store holds.

The late readings are read by one vigied run in service mode whose epoch is
longer than the time they take to read; a window is revised once per epoch
whose readings change it, and an epoch also ends at 2^18 delta entries
(docs/aggregation.md, "Epoch size"), so the quarter of a million late
readings of the second test may take two epochs and revise a window twice.
"""
import os
import subprocess
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from e2e import (Oracle, edit_config, free_port, lags, produce, query, run_service_until,
                 write_config)
from late_data import (AARHUS, RIDS, TZ, aarhus_rows, into, station_scenario,
                       windows_of)

pytestmark = pytest.mark.skipif(not os.path.isdir(AARHUS),
                                reason=f"shared data set absent ({AARHUS})")

DAY = 86400
KEEP = {"1m": 14 * DAY, "1h": 0, "1d": 0}  # retention.base 14d, hours and days forever


def configs(tmp_path, bootstrap, topic, port):
    """The drain's configuration and the late run's (same store; epochs of
    15 s, HTTP on port), both with base windows kept 14 days."""
    out = []
    for name, interval in (("drain.yaml", "200ms"), ("late.yaml", "15s")):
        path = write_config(str(tmp_path / name), str(tmp_path / "store"), bootstrap, TZ,
                            [dict(topic=topic, format="influx", precision="s")],
                            http=f"127.0.0.1:{port}")
        out.append(edit_config(path, [
            ("retention: {base: forever}", "retention: {base: 14d}"),
            ("checkpoint_interval: 200ms", f"checkpoint_interval: {interval}")]))
    return out


def late_run(bin_path, cfg, port, topic, nparts, nmsgs, log_path):
    """vigied as a service reads the late messages (produced before it
    starts); once they are consumed and committed (every partition's lag,
    which counts from the committed positions, is 0), returns its metrics
    after a clean SIGTERM. Waiting for a number of epochs instead would race
    the worker's epochs (which it hands on its own clock) against the
    writer's commits: a worker that reads every late message at once hands
    them in an epoch the writer may take one commit later."""

    def done(m):
        # the lag gauges are set at each commit (0 until the first one)
        return m.get(f'vigie_messages_total{{topic="{topic}"}}', 0) >= nmsgs and \
            m.get("vigie_epochs_committed_total", 0) >= 1 and \
            lags(m, topic, nparts) == [0] * nparts

    return run_service_until(bin_path, cfg, port, log_path, done, 240, "late run")


def changed_windows(before, late_into):
    """Windows the oracle says changed: those holding readings before the
    late ones (so final by then) that late readings went into.
    late_into: iterable of (series, t, resolutions)."""
    tz = ZoneInfo(TZ)
    out = set()
    for series, t, res_set in late_into:
        for res, (start, _) in windows_of(t, tz).items():
            k = (series, res, start)
            if res in res_set and k in before:
                out.add(k)
    return out


def check_revisions(rows, res, changed):
    """Each row's revision: at least 1 if the oracle says the window changed
    (once per epoch that changed it), else 0. Returns the sum of the rows'
    revisions."""
    bad = []
    for r in rows:
        k = (r["series"], res, int(datetime.fromisoformat(r["start_datetime"]).timestamp()))
        if (k in changed) != (int(r["revision"]) >= 1):
            bad.append((k, r["revision"], k in changed))
    assert not bad, f"{len(bad)} revisions differ at {res}, e.g. {bad[:3]}"
    return sum(int(r["revision"]) for r in rows)


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_base(rows, base_oracle, must_have_after, in_query):
    """1-minute rows (of a query whose scope in_query(series, start) says):
    each equal to the oracle of the readings that went into base windows;
    every such window in scope ending after must_have_after present (older
    ones may be gone: retention.base). Returns the rows."""
    got = {}
    for r in rows:
        got[(r["series"], int(datetime.fromisoformat(r["start_datetime"]).timestamp()))] = r
    extra = [k for k in got if (k[0], "1m", k[1]) not in base_oracle.w]
    assert not extra, f"{len(extra)} base windows no reading went into, e.g. {extra[:3]}"
    missing = [k for (s, res, st) in base_oracle.w
               if res == "1m" and st + 60 > must_have_after and in_query(s, st)
               for k in [(s, st)] if k not in got]
    assert not missing, f"{len(missing)} base windows missing, e.g. {missing[:3]}"
    bad = []
    for k, r in got.items():
        n, s, lo, hi = base_oracle.w[(k[0], "1m", k[1])]
        if not (int(r["count"]) == n and float(r["min"]) == lo and float(r["max"]) == hi
                and abs(float(r["sum"]) - s) <= 1e-9 * max(1.0, abs(s))):
            bad.append((k, (n, s, lo, hi), r["count"]))
    assert not bad, f"{len(bad)} base windows differ, e.g. {bad[:3]}"
    return len(got)


def test_three_weeks_of_one_road_direction_after_the_rest(kafka, kcat, bin_path, tmp_path,
                                                          topic_name):
    """(a) Aarhus traffic, both directions on one partition: the last 3
    weeks of direction 192600 are held back until everything else is
    drained (and final), then arrive at once. Their first week is older
    than the partition's watermark minus 14 days: no base window, but hours
    and days complete; the hour and the day where the held-back part begins
    are revised once."""
    kafka.create_topic(topic_name, 1)
    kafka.create_topic(topic_name + ".dead", 1)
    port = free_port()
    drain_cfg, late_cfg = configs(tmp_path, kafka.bootstrap, topic_name, port)
    rows = {rid: aarhus_rows(rid) for rid in RIDS}
    held = RIDS[0]
    # the cut: 3 weeks before the direction's last reading, moved to the
    # middle of an hour so that its hour has readings on both sides
    cut = max(t for t, _, _ in rows[held]) - 21 * DAY
    cut = cut - cut % 3600 + 1800
    msgs = []  # (t, rid, key, line)
    for rid in RIDS:
        for t, count, speed in rows[rid]:
            msgs.append((t, rid, f"traffic,report_id={rid} vehicle_count={count}i,"
                                 f"avg_speed={speed}i {t}"))
    first = sorted((m for m in msgs if not (m[1] == held and m[0] >= cut)),
                   key=lambda m: m[0])  # a stream in time order
    late = [m for m in msgs if m[1] == held and m[0] >= cut]  # file order
    assert len(late) > 5000

    oracle, before, base = Oracle(TZ), Oracle(TZ), Oracle(TZ)
    part_max = None
    for t, rid, line in first:
        part_max = t if part_max is None else max(part_max, t)
        for f, v in zip(("vehicle_count", "avg_speed"), line.split(" ")[1].split(",")):
            val = float(v.split("=")[1].rstrip("i"))
            s = f'traffic_{f}{{report_id="{rid}"}}'
            oracle.add(s, t, val)
            before.add(s, t, val)
            base.add(s, t, val)  # in time order: every base window retained
    late_into, retired = [], 0
    for t, rid, line in late:
        part_max = max(part_max, t)
        res_set = into(t, part_max, KEEP)
        retired += "1m" not in res_set
        for f, v in zip(("vehicle_count", "avg_speed"), line.split(" ")[1].split(",")):
            val = float(v.split("=")[1].rstrip("i"))
            s = f'traffic_{f}{{report_id="{rid}"}}'
            oracle.add(s, t, val)
            late_into.append((s, t, res_set))
            if "1m" in res_set:
                base.add(s, t, val)
    assert 1500 < retired < len(late) - 1500  # about a week of the three
    changed = changed_windows(before.w, late_into)

    produce(kcat, kafka.bootstrap, topic_name, [(rid, line) for _, rid, line in first])
    r = subprocess.run([bin_path("vigied"), "--config", drain_cfg, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    produce(kcat, kafka.bootstrap, topic_name, [(rid, line) for _, rid, line in late])
    m = late_run(bin_path, late_cfg, port, topic_name, 1, len(late),
                 str(tmp_path / "late.log"))

    revisions = 0
    for res in ("1h", "1d"):
        got = query(bin_path, late_cfg, res)
        oracle.check(got, res)
        revisions += check_revisions(got, res, changed)
    assert sum(1 for k in changed if k[1] == "1h") == 2  # both fields' cut hour
    assert sum(1 for k in changed if k[1] == "1d") == 2
    assert m["vigie_window_revisions_total"] == revisions == len(changed)  # one epoch
    assert m['vigie_rejects_total{reason="older_than_retention"}'] == 0
    # base windows: the held-back readings older than the partition's
    # watermark minus 14 days have none; the newer ones do
    horizon = part_max - 10 - 14 * DAY
    got = query(bin_path, late_cfg, "1m", "--where", f"report_id={held}", "--from",
                iso(cut - DAY))
    n = check_base(got, base, horizon,
                   lambda s, st: f'report_id="{held}"' in s and st >= cut - DAY)
    assert n >= sum(1 for _, t, rs in late_into if "1m" in rs and t >= horizon) // 2


def test_a_thousand_stations_send_a_day_a_month_late(kafka, kcat, bin_path, tmp_path,
                                                     topic_name):
    """(b) 1,000 stations replaying real Aarhus vehicle counts: every 3
    hours on time for 34 days, the rest of their second day a month late.
    The late readings' base windows are retired (14 days); they count in
    their hours and days, every window equal to the oracle's; the day and
    the hours that had on-time readings are revised once."""
    nparts = 4
    kafka.create_topic(topic_name, nparts)
    kafka.create_topic(topic_name + ".dead", 1)
    port = free_port()
    drain_cfg, late_cfg = configs(tmp_path, kafka.bootstrap, topic_name, port)
    on_time, late, lday = station_scenario(1000)
    assert len(late) > 250000 and len({m[0] for m in late}) == 1000
    oracle, before = Oracle(TZ), Oracle(TZ)
    for _, _, s, t, v in on_time:
        oracle.add(s, t, v)
        before.add(s, t, v)
    # every partition's highest event time is at least the lowest of the
    # stations' last on-time readings: the rule retires the base window of
    # every late reading on any partition, and keeps its hour and day
    last = {}
    for k, _, _, t, _ in on_time:
        last[k] = max(last.get(k, t), t)
    assert len(last) == 1000
    lowest_max = min(last.values())
    late_into = []
    for _, _, s, t, v in late:
        res_set = into(t, lowest_max, KEEP)
        assert res_set == {"1h", "1d"}
        oracle.add(s, t, v)
        late_into.append((s, t, res_set))
    changed = changed_windows(before.w, late_into)
    assert sum(1 for k in changed if k[1] == "1d") > 900  # the others: no reading on time that day

    produce(kcat, kafka.bootstrap, topic_name, [(k, line) for k, line, *_ in on_time])
    r = subprocess.run([bin_path("vigied"), "--config", drain_cfg, "--drain"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    produce(kcat, kafka.bootstrap, topic_name, [(k, line) for k, line, *_ in late])
    m = late_run(bin_path, late_cfg, port, topic_name, nparts, len(late),
                 str(tmp_path / "late.log"))

    counted, revisions = {}, 0
    for res in ("1h", "1d"):
        got = query(bin_path, late_cfg, res)
        counted[res] = oracle.check(got, res)
        revisions += check_revisions(got, res, changed)
    assert counted["1d"] > 1000 * 30
    assert m["vigie_window_revisions_total"] == revisions >= len(changed)
    assert m['vigie_rejects_total{reason="older_than_retention"}'] == 0
    # no late reading reached a base window: those of the late day hold the
    # on-time readings only, where retention left them
    got = query(bin_path, late_cfg, "1m", "--from", iso(lday[0] - DAY), "--to",
                iso(lday[1] + DAY))
    base = Oracle(TZ)
    for _, _, s, t, v in on_time:
        base.add(s, t, v)
    check_base(got, base, lowest_max - 10 - 14 * DAY,
               lambda s, st: lday[0] - DAY <= st < lday[1] + DAY)
