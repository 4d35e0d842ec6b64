#!/usr/bin/env python3
"""Issue 18's benchmark: the scale-out roles on this machine (bench/roles.sh).

One real single-node Kafka broker (tests/kafka/broker.py), one 8-partition
topic per workload filled from vigie-gen's file (bench.py's generator, seed
and producer), then, each run a child process measured by its rusage:

- standalone: vigied --drain with 1 and 2 workers (the reference);
- ingest N (N = 1, 2, 3): N `role: ingest` processes of one consumer group
  (1 worker each), all with --drain (group-wide: each exits once the group
  committed every source partition to its end), producing the epochs' deltas
  to a 2-partition delta topic in Kafka transactions; then one `role: store`
  process --drain merging them. The ingest phase's events/s is the events
  over the wall clock from the first start to the last exit, its CPU the sum
  of the processes'; the store phase is measured alone;
- pipeline N: the same, the store started first as a service and both
  running at once on the machine's cores, until the store's delta partitions
  show no lag (vigieq status) after the ingest processes exited.

Every run's hourly windows (vigieq query) must equal the standalone's in
rows and events. The cost of the Kafka hop: the CPU of ingest + store less
the standalone's (1 worker) per million events, and the delta topic's bytes
per event (the ingest processes' stop lines). Prints a table and writes JSON
(+ .txt) to bench/results/.
"""
import csv
import datetime
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402
from bench import broker, log, measure  # noqa: E402

DELTA_PARTITIONS = 2


def config(path, d, k, wl, topic, *, role=None, instance=None, group=None, deltas=None,
           workers=1):
    os.makedirs(d, exist_ok=True)
    lines = [f"data_dir: {d}/data", "timezone: Europe/Paris",
             f"windows: {{base: {bench.WORKLOADS[wl]['base']}, lateness: 2h, "
             "out_of_orderness: 10s, idle_timeout: 30s}",
             "checkpoint_interval: 1s", f"workers: {workers}"]
    if role:
        lines.append(f"role: {role}")
    if instance:
        lines.append(f"instance_id: {instance}")
    kafka = [f"brokers: {k.bootstrap}", "dead_letter_topic: bench.dead",
             f"rollup_topic: {group or 'roles'}.rollups"]
    if group:
        kafka.append(f"group: {group}")
    if deltas:
        kafka.append(f"deltas_topic: {deltas}")
    lines += ["kafka: {" + ", ".join(kafka) + "}", "http: {listen: 127.0.0.1:0}",
              "sources:", bench.vigied_source(wl, topic)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def stop_line(err_path, msg):
    """The fields of the last log line with msg="...", as a dict."""
    fields = {}
    with open(err_path) as f:
        for line in f:
            if f'msg="{msg}"' in line:
                fields = dict(w.split("=", 1) for w in line.split() if "=" in w)
    return fields


def run_parallel(cmds, outs):
    """Runs the commands at once (measure each); returns their results and
    the wall clock from the first start to the last exit."""
    res = [None] * len(cmds)

    def one(i):
        res[i] = measure(cmds[i], outs[i], timeout=1800)

    t0 = time.monotonic()
    th = [threading.Thread(target=one, args=(i,)) for i in range(len(cmds))]
    for t in th:
        t.start()
    for t in th:
        t.join()
    return res, time.monotonic() - t0


def delta_lag(vigieq, cfg):
    r = subprocess.run([vigieq, "--config", cfg, "status"], capture_output=True, text=True)
    lag, rows = 0, 0
    for row in csv.reader(io.StringIO(r.stdout)):
        if row and row[0] == "delta_partition":
            rows += 1
            lag += int(row[5]) if row[5] else 10**9
    return lag if rows else None


def main():
    ap = bench.arg_parser(sensors=12150, minutes=2040, seed=1, partitions=8)
    ap.add_argument("--workload", default="sensor")
    ap.add_argument("--ingest", default="1,2,3", help="ingest process counts")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse-gen", action="store_true")
    a = ap.parse_args()
    started = datetime.datetime.now(datetime.timezone.utc)
    out = a.out or os.path.join(HERE, "results",
                                started.strftime("%Y-%m-%d") + "-i18-roles.json")
    work = a.workdir or tempfile.mkdtemp(prefix="vigie-roles-")
    os.makedirs(work, exist_ok=True)
    bld = a.build
    vigied = os.path.join(bld, "engine", "daemon", "vigied")
    vigieq = os.path.join(bld, "tools", "vigieq")
    res = {"started_utc": started.isoformat(timespec="seconds"), "machine": bench.machine(),
           "git_commit": subprocess.run(["git", "-C", bench.ROOT, "rev-parse", "HEAD"],
                                        capture_output=True, text=True).stdout.strip(),
           "delta_partitions": DELTA_PARTITIONS, "workloads": {}, "notes": []}
    gdir = os.path.join(work, "gen")
    os.makedirs(gdir, exist_ok=True)
    with broker.Cluster(nodes=1) as k:
        k.create_topic("bench.dead", 1)
        for wl in [x for x in a.workload.split(",") if x]:
            path = bench.generate(wl, a, os.path.join(bld, "tools", "vigie-gen"), gdir)
            desc = bench.scan(wl, path)
            topic = bench.WORKLOADS[wl]["topic"]
            k.create_topic(topic, a.partitions)
            log(f"{wl}: producing {desc['messages']} messages ({desc['events']} events)")
            bench.produce(k, topic, bench.WORKLOADS[wl]["key"], path)
            nev = desc["events"]
            wr = res["workloads"][wl] = {"workload": {"name": wl, **desc,
                                                      "partitions": a.partitions},
                                         "runs": {}}
            ref = None

            def rec(name, **r):
                wr["runs"].setdefault(name, []).append(r)
                log(f"{wl}: {name}: " + ", ".join(f"{x}={y}" for x, y in r.items()))

            def check(cfg, name):
                rows, events = bench.stored_hours(vigieq, cfg)
                if ref and (rows, events) != ref:
                    res["notes"].append(f"{wl}: {name}: hourly windows {rows}/{events} "
                                        f"events, standalone {ref[0]}/{ref[1]}")
                return rows, events

            for i in range(a.repeats):
                for w in (1, 2):
                    d = os.path.join(work, f"{wl}-sa{w}-{i}")
                    shutil.rmtree(d, ignore_errors=True)
                    os.makedirs(d)
                    k.create_topic(f"sa{w}{wl}{i}.rollups", 1)
                    cfg = config(os.path.join(d, "vigie.yaml"), d, k, wl, topic,
                                 group=f"sa{w}{wl}{i}", workers=w)
                    rc, wall, cpu, rss, _ = measure([vigied, "--config", cfg, "--drain"],
                                                    os.path.join(d, "out"), timeout=1800)
                    hours = check(cfg, "standalone")
                    if ref is None and rc == 0:
                        ref = hours
                    rec(f"standalone {w}w", rc=rc, wall_s=round(wall, 2),
                        events_per_s=round(nev / wall), cpu_s=round(cpu, 2),
                        cpu_s_per_M=round(cpu / nev * 1e6, 3), peak_rss_mib=round(rss),
                        hours=hours)
                    shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)
                for n in [int(x) for x in a.ingest.split(",") if x]:
                    for mode in ("phased", "pipeline"):
                        tag = f"{wl}-n{n}-{mode}-{i}"
                        d = os.path.join(work, tag)
                        shutil.rmtree(d, ignore_errors=True)
                        os.makedirs(d)
                        deltas = f"rb.{tag}.deltas"
                        k.create_topic(deltas, DELTA_PARTITIONS)
                        k.create_topic(f"rb-store-{tag}.rollups", 1)
                        icfg = [config(os.path.join(d, f"ingest{j}.yaml"),
                                       os.path.join(d, f"ingest{j}"), k, wl, topic,
                                       role="ingest", instance=f"i{j}",
                                       group=f"rb-ingest-{tag}", deltas=deltas)
                                for j in range(n)]
                        scfg = config(os.path.join(d, "store.yaml"), os.path.join(d, "store"),
                                      k, wl, topic, role="store", group=f"rb-store-{tag}",
                                      deltas=deltas)
                        store_p = None
                        if mode == "pipeline":
                            serr = open(os.path.join(d, "store.err"), "w")
                            t0 = time.monotonic()
                            store_p = subprocess.Popen([vigied, "--config", scfg],
                                                       stdout=subprocess.DEVNULL, stderr=serr)
                        ir, iwall = run_parallel(
                            [[vigied, "--config", c, "--drain"] for c in icfg],
                            [os.path.join(d, f"ingest{j}.out") for j in range(n)])
                        icpu = sum(r[2] for r in ir)
                        irc = max(abs(r[0]) for r in ir)
                        stops = [stop_line(os.path.join(d, f"ingest{j}.out.err"),
                                           "ingest role stopped") for j in range(n)]
                        dbytes = sum(int(s.get("delta_bytes", 0)) for s in stops)
                        dentries = sum(int(s.get("delta_entries", 0)) for s in stops)
                        txns = sum(int(s.get("transactions", 0)) for s in stops)
                        if mode == "phased":
                            rc, swall, scpu, srss, _ = measure(
                                [vigied, "--config", scfg, "--drain"],
                                os.path.join(d, "store.out"), timeout=1800)
                            hours = check(scfg, f"ingest {n} + store")
                            rec(f"ingest {n} + store (phased)", rc=max(irc, abs(rc)),
                                ingest_wall_s=round(iwall, 2),
                                ingest_events_per_s=round(nev / iwall),
                                ingest_cpu_s=round(icpu, 2),
                                ingest_cpu_s_per_M=round(icpu / nev * 1e6, 3),
                                ingest_peak_rss_mib=round(max(r[3] for r in ir)),
                                store_wall_s=round(swall, 2),
                                store_events_per_s=round(nev / swall),
                                store_cpu_s=round(scpu, 2),
                                store_cpu_s_per_M=round(scpu / nev * 1e6, 3),
                                store_peak_rss_mib=round(srss), transactions=txns,
                                delta_bytes=dbytes, delta_entries=dentries,
                                delta_bytes_per_event=round(dbytes / nev, 2), hours=hours)
                        else:
                            status = ru = None
                            while True:  # the store has merged everything committed
                                pid, st, r = os.wait4(store_p.pid, os.WNOHANG)
                                if pid:  # it stopped on its own: a failure
                                    status, ru = st, r
                                    break
                                if delta_lag(vigieq, scfg) == 0:
                                    break
                                time.sleep(0.2)
                            wall = time.monotonic() - t0
                            if ru is None:
                                store_p.terminate()
                                _, status, ru = os.wait4(store_p.pid, 0)
                            store_p.returncode = 0
                            serr.close()
                            scpu = ru.ru_utime + ru.ru_stime
                            hours = check(scfg, f"pipeline {n}")
                            rec(f"ingest {n} + store (pipeline)",
                                rc=max(irc, abs(os.waitstatus_to_exitcode(status))),
                                wall_s=round(wall, 2), events_per_s=round(nev / wall),
                                ingest_cpu_s=round(icpu, 2), store_cpu_s=round(scpu, 2),
                                cpu_s_per_M=round((icpu + scpu) / nev * 1e6, 3),
                                hours=hours)
                        for j in range(n):
                            shutil.rmtree(os.path.join(d, f"ingest{j}"), ignore_errors=True)
                        shutil.rmtree(os.path.join(d, "store"), ignore_errors=True)
            summarize(wl, wr, res)
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    with open(os.path.splitext(out)[0] + ".txt", "w") as f:
        f.write(res["table"])
    print(res["table"])


def med(runs, key):
    v = [r[key] for r in runs if r.get("rc") == 0 and r.get(key) is not None]
    return statistics.median(v) if v else None


def summarize(wl, wr, res):
    nev = wr["workload"]["events"]
    runs = wr["runs"]
    sa1 = med(runs.get("standalone 1w", []), "cpu_s")
    lines = [f"\n{wl}: {nev:,} events, {wr['workload']['partitions']} source partitions, "
             f"{DELTA_PARTITIONS} delta partitions; medians of "
             f"{len(runs.get('standalone 1w', []))} run(s)",
             "| run | events/s | CPU-s per M events | detail |", "|---|---:|---:|---|"]
    for name in ("standalone 1w", "standalone 2w"):
        r = runs.get(name, [])
        if r:
            lines.append(f"| {name} | {med(r, 'events_per_s'):,.0f} | "
                         f"{med(r, 'cpu_s_per_M'):.2f} | wall {med(r, 'wall_s'):.1f} s |")
    for name in sorted(x for x in runs if x.startswith("ingest")):
        r = runs[name]
        if "phased" in name:
            hop = None
            if sa1 is not None:
                hop = (med(r, "ingest_cpu_s") + med(r, "store_cpu_s") - sa1) / nev * 1e6
            lines.append(
                f"| {name}: ingest | {med(r, 'ingest_events_per_s'):,.0f} | "
                f"{med(r, 'ingest_cpu_s_per_M'):.2f} | {med(r, 'transactions'):.0f} "
                f"transactions, {med(r, 'delta_bytes_per_event'):.1f} delta bytes/event |")
            lines.append(
                f"| {name}: store | {med(r, 'store_events_per_s'):,.0f} | "
                f"{med(r, 'store_cpu_s_per_M'):.2f} | Kafka hop: "
                + (f"{hop:+.2f} CPU-s/M events over standalone 1w |" if hop is not None
                   else "- |"))
        else:
            lines.append(f"| {name} | {med(r, 'events_per_s'):,.0f} | "
                         f"{med(r, 'cpu_s_per_M'):.2f} | both at once on this machine, "
                         f"wall {med(r, 'wall_s'):.1f} s |")
    res["table"] = res.get("table", "") + "\n".join(lines) + "\n"
    if res["notes"]:
        res["table"] += "notes:\n" + "\n".join(res["notes"]) + "\n"


if __name__ == "__main__":
    main()
