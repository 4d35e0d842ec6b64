#!/usr/bin/env python3
"""Late readings: what they cost against the same readings on time (run
through bench/late.sh).

The workload is test_late.py's case (b) (tests/integration/late_data.py):
N stations (default 1,000) replaying real Aarhus vehicle counts every 3
hours for 34 local days, and the rest of the readings of their second day
(about 267 per station). One real single-node Kafka broker, 4 partitions,
retention.base 14d (hours and days forever), checkpoint_interval 1s,
durability sync:

- late: the on-time readings are drained (not measured) and the store copied;
  then the second day's other readings are produced a month late, all at
  once, station after station, and each measured run drains them from a
  fresh copy of that store: their base windows are retired, so they merge
  into hours and days that are final and sealed (loaded from the store,
  revised, their segments rewritten);
- on time: the same day's readings -- these and the day's on-time ones (3 %
  more) -- drained in time order right after the on-time readings of the
  days before (store copied the same way): they go into provisional base,
  hour and day windows, which go final as the watermark moves.

Per run: the vigied --drain process's wall clock, CPU, and the bytes it
wrote (its rusage ru_oublock x 512, which Linux fills from the task's I/O
accounting: /proc/PID/io write_bytes, summed over its threads at exit); the
same for a drain with nothing to read from the store after the run
(start-up, store load, Kafka metadata and stop), subtracted to give the
drain's own seconds and bytes. Prints a table; writes JSON (+ .txt).
"""

import datetime
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import broker  # noqa: E402
from late_data import AARHUS, TZ, station_scenario  # noqa: E402

from bench import arg_parser, machine, LoadSampler, write_results  # noqa: E402  (bench.py)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def produce(bootstrap, topic, msgs):
    lines = b"".join(k.encode() + b"\t" + line.encode() + b"\n" for k, line, *_ in msgs)
    subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", topic, "-K", "\t",
                    "-X", "acks=all", "-X", "linger.ms=20", "-X", "batch.num.messages=10000",
                    "-X", "queue.buffering.max.messages=1000000"],
                   input=lines, check=True, timeout=600)


def write_cfg(path, data_dir, bootstrap, topic, interval):
    with open(path, "w") as f:
        f.write(f"""data_dir: {data_dir}
timezone: {TZ}
windows: {{base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}}
retention: {{base: 14d}}
checkpoint_interval: {interval}
store: {{durability: sync}}
workers: 1
kafka:
  brokers: {bootstrap}
  dead_letter_topic: {topic}.dead
  rollup_topic: {topic}.rollups
http: {{listen: 127.0.0.1:0}}
sources:
  - topic: {topic}
    format: influx
    precision: s
""")


def writer_cpu(log_path):
    """The writer thread's CPU seconds merging and committing, from vigied's
    last log line ("stopped after committing")."""
    import re
    with open(log_path) as f:
        m = re.findall(r"writer_merge_cpu_s=([\d.]+) writer_commit_cpu_s=([\d.]+)", f.read())
    return (float(m[-1][0]), float(m[-1][1])) if m else (None, None)


def drain(cfg, vigied, out_path):
    """vigied --drain: (rc, wall s, cpu s, bytes written, peak /proc write_bytes)."""
    with open(out_path, "w") as out:
        t0 = time.monotonic()
        p = subprocess.Popen([vigied, "--config", cfg, "--drain"], stdout=out,
                             stderr=subprocess.STDOUT)
        seen = 0
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            try:  # a cross-check of rusage: the last sample before the exit
                with open(f"/proc/{p.pid}/io") as f:
                    for line in f:
                        if line.startswith("write_bytes:"):
                            seen = max(seen, int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.02)
        wall = time.monotonic() - t0
    rc = os.waitstatus_to_exitcode(status)
    return rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_oublock * 512, seen


def main():
    ap = arg_parser(stations=1000, days=34, repeats=3, partitions=4)
    ap.add_argument("--checkpoint", default="1s", help="checkpoint_interval")
    ap.add_argument("--cases", default="late,on time", help="comma list: late,on time")
    ap.add_argument("--workdir", default=None)
    a = ap.parse_args()
    if not os.path.isdir(AARHUS):
        sys.exit(f"bench/late.py: the data set {AARHUS} is absent")
    started = datetime.datetime.now(datetime.timezone.utc)
    out = a.out or os.path.join(HERE, "results",
                                "late-" + started.strftime("%Y-%m-%d") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    work = a.workdir or tempfile.mkdtemp(prefix="vigie-bench-late-")
    os.makedirs(work, exist_ok=True)
    vigied = os.path.join(a.build, "engine", "daemon", "vigied")
    on_time, late, lday = station_scenario(a.stations, a.days)
    nlate = len(late)
    log(f"{a.stations} stations: {len(on_time)} readings on time, {nlate} late "
        f"(local day starting {datetime.datetime.fromtimestamp(lday[0], datetime.timezone.utc)})")
    res = {"started_utc": started.isoformat(timespec="seconds"), "machine": machine(),
           "git_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                        capture_output=True, text=True).stdout.strip(),
           "workload": {"stations": a.stations, "days": a.days,
                        "on_time_readings": len(on_time), "late_readings": nlate,
                        "partitions": a.partitions, "retention_base": "14d",
                        "checkpoint_interval": a.checkpoint, "durability": "sync"},
           "runs": {}, "median": {}}
    load = LoadSampler()
    load.start()
    with broker.Cluster(nodes=1) as k:
        cases = {
            # readings before the measured ones, and the measured ones
            "late": (on_time, late),
            "on time": ([m for m in on_time if m[3] < lday[0]],
                        sorted([m for m in on_time if lday[0] <= m[3] < lday[1]] + late,
                               key=lambda m: m[3])),
        }
        for name, (before, measured) in cases.items():
            if name not in a.cases.split(","):
                continue
            topic = "late" if name == "late" else "ontime"
            k.create_topic(topic, a.partitions)
            k.create_topic(topic + ".dead", 1)
            k.create_topic(topic + ".rollups", 1)
            base = os.path.join(work, topic)
            shutil.rmtree(base, ignore_errors=True)
            os.makedirs(base)
            cfg = os.path.join(base, "vigie.yaml")
            write_cfg(cfg, os.path.join(base, "store"), k.bootstrap, topic, a.checkpoint)
            log(f"{name}: producing and draining the {len(before)} readings before")
            produce(k.bootstrap, topic, before)
            rc, wall, *_ = drain(cfg, vigied, os.path.join(base, "before.log"))
            if rc:
                sys.exit(f"{name}: the first drain exited {rc}: see {base}/before.log")
            log(f"{name}: drained in {wall:.1f} s; producing the {len(measured)} measured")
            shutil.copytree(os.path.join(base, "store"), os.path.join(base, "snapshot"))
            produce(k.bootstrap, topic, measured)
            n = len(measured)
            res["workload"][f"measured_readings_{topic}"] = n
            for i in range(a.repeats):
                shutil.rmtree(os.path.join(base, "store"), ignore_errors=True)
                shutil.copytree(os.path.join(base, "snapshot"), os.path.join(base, "store"))
                rc, wall, cpu, wbytes, seen = drain(cfg, vigied,
                                                    os.path.join(base, f"run{i}.log"))
                rc0, wall0, cpu0, wbytes0, _ = drain(cfg, vigied,
                                                     os.path.join(base, f"idle{i}.log"))
                secs = max(wall - wall0, 1e-3)
                merge_s, commit_s = writer_cpu(os.path.join(base, f"run{i}.log"))
                r = {"rc": rc or rc0, "wall_s": round(wall, 3), "idle_wall_s": round(wall0, 3),
                     "readings": n,
                     "seconds": round(secs, 3), "events_per_s": round(n / secs, 1),
                     "cpu_s": round(cpu, 2), "idle_cpu_s": round(cpu0, 2),
                     "writer_merge_cpu_s": merge_s, "writer_commit_cpu_s": commit_s,
                     "write_bytes": wbytes, "idle_write_bytes": wbytes0,
                     "proc_io_write_bytes_last_sample": seen,
                     "bytes_per_reading": round((wbytes - wbytes0) / n, 1)}
                res["runs"].setdefault(name, []).append(r)
                log(f"{name} #{i}: rc {r['rc']}, {wall:.2f} s ({wall0:.2f} s idle), "
                    f"{r['events_per_s']:.0f} readings/s, {wbytes / 1e6:.1f} MB written "
                    f"({wbytes0 / 1e6:.1f} idle), {r['bytes_per_reading']:.0f} B/reading")
            du = subprocess.run(["du", "-sk", os.path.join(base, "store")],
                                capture_output=True, text=True).stdout.split()
            res["workload"][f"store_kib_after_{topic}"] = int(du[0]) if du else None
    load.stop.set()
    res["load_average"] = load.summary()
    for name, runs in res["runs"].items():
        ok = [r for r in runs if r["rc"] == 0]
        res["median"][name] = None if not ok else {
            "runs": len(ok),
            "events_per_s": statistics.median(r["events_per_s"] for r in ok),
            "seconds": statistics.median(r["seconds"] for r in ok),
            "cpu_s": statistics.median(r["cpu_s"] - r["idle_cpu_s"] for r in ok),
            "writer_merge_cpu_s": statistics.median(r["writer_merge_cpu_s"] or 0 for r in ok),
            "writer_commit_cpu_s": statistics.median(r["writer_commit_cpu_s"] or 0
                                                     for r in ok),
            "bytes_per_reading": statistics.median(r["bytes_per_reading"] for r in ok),
            "write_mb": statistics.median((r["write_bytes"] - r["idle_write_bytes"]) / 1e6
                                          for r in ok)}
    m, w, la = res["machine"], res["workload"], res["load_average"]
    lines = [f"Vigie late readings, {res['started_utc']}, commit {res['git_commit'][:10]}",
             f"machine: {m['nproc']} CPUs, {m['model_name']}, {m['memory']}; load average "
             f"median {la['median']:.2f} (max {la['max']:.2f})",
             f"workload: {w['stations']} stations, {w['on_time_readings']:,} readings on time "
             f"over {w['days']} days; measured: one day of each station, late "
             f"({w['late_readings']:,} readings a month late) or on time (the same and that "
             f"day's on-time ones), {w['partitions']} partitions, retention.base 14d, "
             f"checkpoint_interval {a.checkpoint}, sync commits",
             "medians; seconds, CPU and bytes are the drain's minus a drain with nothing to "
             "read; merge/commit: the writer thread's CPU",
             "",
             f"{'case':<10} {'runs':>4} {'readings':>9} {'seconds':>8} {'readings/s':>11} "
             f"{'CPU s':>6} {'merge s':>8} {'commit s':>9} {'written MB':>11} "
             f"{'B/reading':>10}"]
    lines.append("-" * len(lines[-1]))
    for name in ("on time", "late"):
        md = res["median"].get(name)
        if not md:
            lines.append(f"{name:<10} failed")
            continue
        n = res["runs"][name][0]["readings"]
        lines.append(f"{name:<10} {md['runs']:>4} {n:>9,} {md['seconds']:>8.2f} "
                     f"{md['events_per_s']:>11,.0f} {md['cpu_s']:>6.2f} "
                     f"{md['writer_merge_cpu_s']:>8.2f} {md['writer_commit_cpu_s']:>9.2f} "
                     f"{md['write_mb']:>11.1f} {md['bytes_per_reading']:>10.0f}")
    write_results(res, "\n".join(lines), out, work, a.workdir).close()
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
