#!/usr/bin/env python3
"""Issues 9 and 17's end-to-end benchmark (run through bench/run.sh).

One run, one real single-node Kafka broker (tests/kafka/broker.py) and, for
each workload of --workload (default: sensor), one 8-partition topic filled
from one file of vigie-gen's traffic (fixed seed), the same file for the
batch peers:

- sensor: the air-quality stations, 3 readings per message, one reading per
  series and 1 m base window (by default 3,402 stations x 2,040 minutes x 3 =
  20.8 M events over 10,206 series; --sensors 12150 gives 5.1 M).
- mobility: the road-traffic and bike counters, one event per passage (the
  metric "passages", count_as), tens to hundreds per counter and 1 h base
  window, a distinct count of device_hash on (distinct_key). The same
  --sensors and --minutes give about as many events as the sensor workload
  (438 k passages per 1,000 sensors over 2,040 minutes, against 425 k
  air-quality readings); vigie-gen cannot simulate the counters alone, so
  the other kinds are generated and dropped.

Then side by side on each workload: raw consume (vigie-rawconsume), vigied
--drain, DuckDB and ClickHouse in process (chdb) over the file, load
included, and on the sensor workload only Kafka Streams (bench/kstreams,
exactly_once_v2) and Apache Flink (bench/flink, EXACTLY_ONCE checkpoints and
Kafka sink): neither keeps a distinct count, so neither runs on mobility
(--skip kstreams,flink,duckdb,chdb,micro). vigied's hourly windows (vigieq)
are checked against DuckDB's, chdb's and Flink's row counts. Each run is a
child process: wall clock, CPU seconds (user+sys) and peak RSS come from its
rusage (wait4). Prints a table per workload, writes JSON (and the tables
beside it): its top-level workload, runs, median, targets are those of the
first workload (sensor by default, as before issue 17), and workloads -> name
holds each workload's.
"""

import argparse
import collections
import csv
import datetime
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "kafka"))
import broker  # noqa: E402

FIELDS = ["no2", "pm10", "pm25"]
AIR_SHARE = 0.07  # vigie-gen: 70 air-quality stations per 1,000 sensors


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    return {"nproc": os.cpu_count(), "model_name": model, "memory": mem,
            "kernel": platform.release()}


class LoadSampler(threading.Thread):
    """/proc/loadavg every 5 s during the run."""

    def __init__(self):
        super().__init__(daemon=True)
        self.samples, self.stop = [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            with open("/proc/loadavg") as f:
                self.samples.append(float(f.read().split()[0]))
            self.stop.wait(5)

    def summary(self):
        s = self.samples or [0.0]
        return {"min": min(s), "median": statistics.median(s), "max": max(s),
                "samples": len(s)}


def vigied_metrics(err_path):
    """vigied's /metrics (the port is in its log), as {name: value}."""
    import re
    import urllib.request
    try:
        with open(err_path) as f:
            port = re.search(r'"http listening".* port=(\d+)', f.read()).group(1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
            text = r.read().decode()
    except Exception as e:  # noqa: BLE001 - best effort, for the notes
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        if line.startswith("vigie_") and "{" not in line and "_bucket" not in line:
            k, _, v = line.partition(" ")
            out[k] = float(v)
    return out


STAGES = ["receive", "decode", "aggregate", "merge", "commit", "publish", "worker_other",
          "writer_other", "kafka_threads", "other"]


def cpu_by_stage(log_text):
    """The CPU seconds per stage of vigied's last "cpu by stage" log line
    (engine/daemon/engine.c, log_cpu_by_stage), as {stage: seconds}; {}
    without one."""
    found = {}
    for line in log_text.splitlines():
        if "cpu by stage" not in line:
            continue
        found = {}
        for word in line.split():
            key, eq, val = word.partition("=")
            if eq and key.endswith("_s"):
                try:
                    found[key[:-2]] = float(val.strip('",'))
                except ValueError:
                    pass
    return found


def rollup_count(bootstrap, topic):
    """Records in the single-partition topic (its high watermark)."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-count"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        c.close()


def rss_anon_kib(pid):
    """The process's anonymous resident memory (RssAnon of /proc/PID/status:
    not the file pages it maps, such as LMDB's, which are the kernel's page
    cache), in KiB; 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


# the peak RssAnon (MiB) of the last run of measure(), sampled every 50 ms
last_peak_anon_mib = 0.0


def measure(cmd, out_path, env=None, timeout=None, on_timeout=None):
    """Runs cmd; returns (rc, wall s, cpu s, peak RSS MiB, stdout text), and
    leaves the peak RssAnon sampled meanwhile in last_peak_anon_mib.
    On timeout on_timeout() is called before the kill (rc -9)."""
    global last_peak_anon_mib
    peak_anon = 0
    with open(out_path, "w") as out, open(out_path + ".err", "w") as err:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        deadline = None if timeout is None else t0 + timeout
        while True:
            peak_anon = max(peak_anon, rss_anon_kib(p.pid))
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline and time.monotonic() > deadline:
                if on_timeout:
                    on_timeout()
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.05)
        wall = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
    last_peak_anon_mib = peak_anon / 1024.0
    with open(out_path) as f:
        text = f.read()
    return (p.returncode, wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, text)


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def arg_parser(**ints):
    """The options of a benchmark script: --build and --out, then an integer
    option --NAME for each NAME=default of ints, in that order."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"))
    ap.add_argument("--out", default=None)
    for name, default in ints.items():
        ap.add_argument("--" + name, type=int, default=default)
    return ap


def write_results(res, table, out, work, keep_work):
    """Prints table, stores it in res, writes res to out (JSON) and the table
    to out's .txt twin (returned open, to append to), and removes the work
    folder unless keep_work."""
    print(table)
    res["table"] = table
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    txt = open(os.path.splitext(out)[0] + ".txt", "w")
    txt.write(table + "\n")
    if not keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return txt


# The workloads of --workload: the file of vigie-gen's output each one
# uses, its topic, the field that keys its messages, vigied's base window.
WORKLOADS = {
    "sensor": {"file": "air-quality.jsonl", "topic": "bench.air-quality",
               "key": "sensor_id", "base": "1m"},
    "mobility": {"file": "mobility.jsonl", "topic": "bench.mobility",
                 "key": "counter_id", "base": "1h"},
}
KINDS = ["air-quality", "energy", "traffic", "bikes", "parking", "bikeshare"]
# the peers over the file: --skip name, system name, script
FILE_PEERS = [("duckdb", "DuckDB (file, load incl.)", "duckdb_rollup.py"),
              ("chdb", "ClickHouse chdb (file, load incl.)", "chdb_rollup.py")]


def generate(wl, a, gen, gdir):
    """Writes workload wl's file into gdir (kept with --reuse-gen) and
    returns its path."""
    path = os.path.join(gdir, WORKLOADS[wl]["file"])
    if a.reuse_gen and os.path.exists(path):
        return path
    cmd = [gen, "--sensors", str(a.sensors), "--duration", f"{a.minutes}m",
           "--seed", str(a.seed)]
    if wl == "sensor":
        subprocess.run(cmd + ["--output", os.path.join(gdir, "{kind}.jsonl")], check=True)
        for kind in KINDS[1:]:  # only air quality is used
            os.unlink(os.path.join(gdir, kind + ".jsonl"))
        return path
    # the counters' passages in the order vigie-gen emits them, one time
    # line: traffic.jsonl then bikes.jsonl would make every bike passage
    # late by the whole span
    with open(path, "wb") as f:
        g = subprocess.Popen(cmd + ["--output", "-"], stdout=subprocess.PIPE)
        grep = subprocess.run(["grep", "-F", '"counter_id":"'], stdin=g.stdout, stdout=f)
        g.stdout.close()
        if g.wait() != 0 or grep.returncode != 0:
            raise RuntimeError("vigie-gen | grep failed")
    return path


def scan(wl, path):
    """Workload wl's file in numbers: messages, events, series, entities
    (stations or counters) and, for mobility, the events per counter and
    hour (its base window)."""
    key = f'"{WORKLOADS[wl]["key"]}":"'
    nmsg, ents, windows = 0, set(), collections.Counter()
    with open(path) as f:
        for line in f:
            nmsg += 1
            j = line.index(key) + len(key)
            ent = line[j:line.index('"', j)]
            ents.add(ent)
            if wl == "mobility":  # ts: unix ms; Paris's offset is whole hours
                t = line.index('"ts":') + 5
                windows[ent, int(line[t:line.index(",", t)]) // 3600000] += 1
    if wl == "sensor":
        return {"messages": nmsg, "events": nmsg * len(FIELDS),
                "series": len(ents) * len(FIELDS), "stations": len(ents)}
    return {"messages": nmsg, "events": nmsg, "series": len(ents), "counters": len(ents),
            "events_per_window": {"windows": len(windows),
                                  "mean": round(nmsg / max(len(windows), 1), 1),
                                  "median": statistics.median(windows.values() or [0]),
                                  "max": max(windows.values() or [0])}}


def produce(k, topic, key, path):
    """The file's lines into topic with kcat, keyed by the value of field
    key; returns the seconds it took."""
    t0 = time.monotonic()
    n = len(key) + 4  # "key":"
    awk = subprocess.Popen(
        ["awk", f'{{ i = index($0, "\\"{key}\\":\\""); s = substr($0, i + {n});'
         ' print substr(s, 1, index(s, "\\"") - 1) "\\t" $0 }', path],
        stdout=subprocess.PIPE)
    subprocess.run(["kcat", "-P", "-b", k.bootstrap, "-t", topic, "-K", "\t",
                    "-X", "linger.ms=20", "-X", "batch.num.messages=10000",
                    "-X", "queue.buffering.max.messages=1000000"],
                   stdin=awk.stdout, check=True)
    awk.stdout.close()
    if awk.wait() != 0:
        raise RuntimeError("awk failed")
    return time.monotonic() - t0


def vigied_source(wl, topic):
    """The sources: entry of vigied's configuration for workload wl."""
    if wl == "sensor":
        return f"""  - topic: {topic}
    time_key: ts
    entity_key: sensor_id
    tag_keys: [district]
    fields: [{", ".join(FIELDS)}]
"""
    return f"""  - topic: {topic}
    time_key: ts
    time_format: unix_ms
    entity_key: counter_id
    tag_keys: [district]
    count_as: passages
    distinct_key: device_hash
"""


def store_mib(vigieq, cfg):
    """The MiB of pages vigied's store uses (vigieq status: store,used_bytes);
    not the files' size, which is the map's, reserved on disk when it is
    set; None when vigieq fails."""
    r = subprocess.run([vigieq, "--config", cfg, "status"], capture_output=True, text=True)
    for row in csv.reader(io.StringIO(r.stdout)):
        if r.returncode == 0 and row[:2] == ["store", "used_bytes"]:
            return round(int(row[3]) / 2**20)
    return None


def stored_hours(vigieq, cfg):
    """The hourly windows in vigied's store (vigieq query --resolution 1h)
    and the events they count, as (rows, events); (None, None) when vigieq
    fails."""
    r = subprocess.run([vigieq, "--config", cfg, "query", "--resolution", "1h",
                        "--stats", "count", "--format", "csv"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return None, None
    rows = list(csv.reader(io.StringIO(r.stdout)))[1:]
    return len(rows), sum(int(row[-1]) for row in rows)


def record(wr, name, i, rc, wall, cpu, rss, seconds=None, extra=None):
    """Adds a run of system name (its rc, wall clock, CPU and peak RSS;
    seconds: the time it reports itself, else the wall clock) to wr["runs"]."""
    nev = wr["workload"]["events"]
    secs = seconds if seconds else wall
    r = {"rc": rc, "wall_s": round(wall, 3), "seconds": round(secs, 3),
         "events_per_s": round(nev / secs, 1) if rc == 0 else None,
         "cpu_s": round(cpu, 2), "cpu_s_per_M_events": round(cpu / nev * 1e6, 3),
         "peak_rss_mib": round(rss, 1),
         "peak_rss_anon_mib": round(last_peak_anon_mib, 1)}
    if extra:
        r.update(extra)
    wr["runs"].setdefault(name, []).append(r)
    log(f"{wr['workload']['name']}: {name} #{i}: rc {rc}, {secs:.2f} s, "
        f"{(nev / secs / 1e6) if rc == 0 else 0:.2f} M events/s, cpu {cpu:.1f} s, "
        f"rss {rss:.0f} MiB")


def run_workload(wl, wr, a, k, tools, data, skip, work, note):
    """Measures raw consume, vigied --drain and the file peers on workload
    wl (its topic already filled from data), into wr["runs"]."""
    nev = wr["workload"]["events"]
    nmsg = wr["workload"]["messages"]
    topic = wr["workload"]["topic"]
    py = sys.executable

    # a. raw consume
    for i in range(a.repeats):
        rc, wall, cpu, rss, text = measure(
            [tools["rawc"], "--brokers", k.bootstrap, "--topic", topic],
            os.path.join(work, f"raw{i}.out"))
        j = last_json(text) or {}
        if j.get("messages") != nmsg:
            note(f"raw consume #{i} read {j.get('messages')} messages")
        record(wr, "raw consume", i, rc, wall, cpu, rss, j.get("seconds"), {"report": j})

    # b. vigied --drain; the shard count named only when not just 1 is measured
    shards = a.shards
    for w, limit, n in [(int(x), m, n) for x in a.workers.split(",") if x
                        for m in a.memory_limits.split(",") if m for n in shards]:
        name = f"vigied --drain ({w} worker{'s' if w > 1 else ''}" + \
            (f", memory_limit {limit}" if limit != "off" else "") + \
            (f", {n} shard{'s' if n > 1 else ''})" if shards != [1] else ")")
        for i in range(a.repeats if a.vigied_repeats is None else a.vigied_repeats):
            tag = ("" if limit == "off" else "-m" + limit) + ("" if n == 1 else f"-s{n}")
            d = os.path.join(work, f"vigied-w{w}{tag}-{i}")
            shutil.rmtree(d, ignore_errors=True)  # a reused --workdir
            os.makedirs(d)
            rtopic = f"bench.rollups.{wl}.w{w}{tag}.{i}"
            k.create_topic(rtopic, 1)
            cfg = os.path.join(d, "vigie.yaml")
            with open(cfg, "w") as f:
                f.write(f"""data_dir: {d}/data
timezone: Europe/Paris
windows: {{base: {WORKLOADS[wl]["base"]}, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}}
checkpoint_interval: 1s
store: {{durability: sync, shards: {n}}}
workers: {w}
memory_limit: {limit}
kafka:
  brokers: {k.bootstrap}
  dead_letter_topic: bench.dead
  rollup_topic: {rtopic}
http: {{listen: 127.0.0.1:0}}
sources:
{vigied_source(wl, topic)}""")
            seen = {}
            errp = os.path.join(d, "vigied.out.err")
            rc, wall, cpu, rss, text = measure(
                [tools["vigied"], "--config", cfg, "--drain"], os.path.join(d, "vigied.out"),
                timeout=a.vigied_timeout,
                on_timeout=lambda: seen.update(vigied_metrics(errp)))
            if seen:
                note(f"{name} #{i} killed after {a.vigied_timeout:.0f} s: metrics then: "
                     + ", ".join(f"{k}={v:g}" for k, v in seen.items()
                                 if k in ("vigie_events_total", "vigie_epochs_committed_total",
                                          "vigie_jemalloc_allocated_bytes",
                                          "vigie_store_used_bytes", "error")))
            mib = store_mib(tools["vigieq"], cfg)
            # the run counts only with every rollup acknowledged by the
            # broker: vigied logs what it could not publish
            rollups = rollup_count(k.bootstrap, rtopic)
            with open(errp) as f:
                errtext = f.read()
            unpublished = [ln for ln in errtext.splitlines()
                           if "rollups not all acknowledged" in ln
                           or "rollup topic cannot be written" in ln]
            if unpublished:
                note(f"{name} #{i}: rollups not all published: " + unpublished[-1].strip())
                if rc == 0:
                    rc = 1
            # what it stored, for the check against the file peers
            rows_1h, events_1h = stored_hours(tools["vigieq"], cfg)
            log(f"{wl}: {name} #{i}: {rollups} rollups in {rtopic}, {rows_1h} hourly "
                f"windows of {events_1h} events in the store")
            record(wr, name, i, rc, wall, cpu, rss,
                   extra={"store_mib": mib, "rollups": rollups,
                          "rows_1h": rows_1h, "events_1h": events_1h,
                          "cpu_by_stage_s": cpu_by_stage(errtext),
                          **({"shards": n} if shards != [1] else {})})
            if rc != 0:
                note(f"{name} #{i} exited {rc}: {errtext[-1500:]}")
            shutil.rmtree(os.path.join(d, "data"), ignore_errors=True)

    # c. DuckDB and ClickHouse (chdb) over the file
    for peer, name, script in FILE_PEERS:
        if peer in skip:
            continue
        for i in range(a.repeats):
            rc, wall, cpu, rss, text = measure(
                [py, os.path.join(HERE, script), "--workload", wl, data],
                os.path.join(work, f"{peer}{i}.out"))
            j = last_json(text) or {}
            if rc == 0 and j.get("events") != nev:
                note(f"{peer} #{i} counted {j.get('events')} events")
            record(wr, name, i, rc, wall, cpu, rss, extra={"report": j})
            if rc != 0:
                with open(os.path.join(work, f"{peer}{i}.out.err")) as f:
                    note(f"{peer} #{i} exited {rc}: {f.read()[-1500:]}")


def run_flink(a, k, bld, work, wr, note):
    """The Apache Flink peer (bench/flink, issue 17) on workload wr (sensor):
    built with Maven as bench/kstreams is, then --flink-repeats runs of a
    local MiniCluster job over its topic (event-time windows, EXACTLY_ONCE
    checkpoints and Kafka sink), each into its own rollup topic, into
    wr["runs"]; its rows per resolution must equal DuckDB's (its hourly rows
    also join check_rows)."""
    fout = os.path.join(os.path.abspath(bld), "flink")  # not relative to the pom
    log("building bench/flink with Maven")
    r = subprocess.run(
        ["mvn", "-q", "-B", "-f", os.path.join(HERE, "flink", "pom.xml"),
         f"-Dmaven.repo.local={os.path.join(broker.CACHE, 'm2')}",
         f"-Dflink.out={fout}", "package", "dependency:copy-dependencies"],
        capture_output=True, text=True)
    if r.returncode != 0:
        note("flink: maven failed: " + r.stdout[-2000:])
        return
    cp = os.path.join(fout, "vigie-flink-bench-1.jar") + ":" + os.path.join(fout, "libs", "*")
    duck = [x["report"].get("rows") for x in wr["runs"].get("DuckDB (file, load incl.)", [])
            if x["rc"] == 0]
    for i in range(a.flink_repeats):
        sd = os.path.join(work, f"flink-{i}")
        rc, wall, cpu, rss, text = measure(
            # 4 GiB, not kstreams' 2: Flink's window state is on the heap
            # (hashmap backend), kstreams' in RocksDB
            ["java", "-Xmx4g", "-Dparallelism=2",
             "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
             "-Dorg.slf4j.simpleLogger.log.org.apache.flink.metrics=error",
             "-cp", cp, "vigie.bench.FlinkRollupBench", k.bootstrap, wr["workload"]["topic"],
             f"bench.rollups.flink.{i}", sd] + FIELDS,
            os.path.join(work, f"flink{i}.out"), timeout=a.flink_timeout)
        j = last_json(text) or {}
        if rc == 0 and j.get("events") != wr["workload"]["events"]:
            note(f"flink #{i} counted {j.get('events')} events")
        if rc == 0 and duck and j.get("rows") != duck[0]:
            note(f"flink #{i} rows {j.get('rows')} != DuckDB's {duck[0]}")
        record(wr, "Apache Flink (EOS checkpoints + sink)", i, rc, wall, cpu, rss,
               j.get("seconds"), {"report": j})
        if rc != 0:
            with open(os.path.join(work, f"flink{i}.out.err")) as f:
                note(f"flink #{i} exited {rc}: {f.read()[-2000:]}")
        shutil.rmtree(sd, ignore_errors=True)


def check_rows(wr):
    """vigied's hourly windows (each successful run's store) against the
    file peers' hourly rows, and the events they count against the
    workload's, into wr["check"]; returns the table's line and whether all
    agree (with vigied and at least one peer measured)."""
    rows, events = {}, set()
    for name, runs in wr["runs"].items():
        for r in (r for r in runs if r["rc"] == 0):
            if name.startswith("vigied"):
                rows.setdefault("vigied", set()).add(r.get("rows_1h"))
                events.add(r.get("events_1h"))
            elif "1h" in r.get("report", {}).get("rows", {}):
                rows.setdefault(name.split(" (")[0], set()).add(r["report"]["rows"]["1h"])
    nev = wr["workload"]["events"]
    ok = "vigied" in rows and len(rows) > 1 and events == {nev} and \
        len(set().union(*rows.values())) == 1
    wr["check"] = {"rows_1h": {n: sorted(v, key=str) for n, v in rows.items()},
                   "vigied_events_1h": sorted(events, key=str), "events": nev,
                   "equal": ok}

    def nums(v):
        return "/".join("?" if x is None else f"{x:,}" for x in sorted(v, key=str))

    line = ("check: hourly rows " + ", ".join(f"{n} {nums(v)}" for n, v in rows.items())
            + f"; events in vigied's hours {nums(events)} of {nev:,} -> "
            + ("EQUAL" if ok else "DIFFER (or not enough systems measured)"))
    return line, ok


def summarize(wl, wr):
    """Medians, targets and workload wl's part of the table, as lines."""
    for name, runs in wr["runs"].items():
        ok = [r for r in runs if r["rc"] == 0]
        if not ok:
            wr["median"][name] = None
            continue
        wr["median"][name] = {
            "runs": len(ok),
            "events_per_s": statistics.median(r["events_per_s"] for r in ok),
            "cpu_s_per_M_events": statistics.median(r["cpu_s_per_M_events"] for r in ok),
            "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in ok),
            "peak_rss_anon_mib": statistics.median(r.get("peak_rss_anon_mib", 0) for r in ok)}
    med = wr["median"]
    nev = wr["workload"].get("events") or 1
    vig = [n for n in med if n.startswith("vigied") and med[n]]
    best = max(vig, key=lambda n: med[n]["events_per_s"]) if vig else None
    vbest = med[best]["events_per_s"] if best else None
    w = wr["workload"]
    lines = []
    if wl == "sensor":
        shape = f"one reading per series and {WORKLOADS[wl]['base']} base window"
    else:
        e = w.get("events_per_window", {})
        shape = (f"one event per passage; per series and {WORKLOADS[wl]['base']} base "
                 f"window {e.get('mean', 0):.0f} events on average (median "
                 f"{e.get('median', 0):.0f}, max {e.get('max', 0)}); distinct device_hash on")
    lines.append(f"workload {wl}: {w.get('events', 0):,} events ({w.get('messages', 0):,} "
                 f"messages) over {w.get('series', 0):,} series, {w.get('partitions')} "
                 f"partitions, {w.get('file_bytes', 0) / 1e6:.0f} MB JSON; {shape}")
    lines.append(f"ratio = {best or 'vigied (no successful run)'} / system (events/s); "
                 "medians of the runs shown")
    lines.append("")
    hdr = f"{'system':<48} {'runs':>4} {'events/s':>12} {'ratio':>8} " \
          f"{'CPU s/M ev':>11} {'peak RSS MiB':>13} {'RssAnon MiB':>12}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for name in wr["runs"]:
        md = med.get(name)
        if not md:
            last = wr["runs"][name][-1]
            lines.append(f"{name:<48} {'0':>4} {'failed':>12}   (rc {last['rc']} after "
                         f"{last['wall_s']:.0f} s, CPU {last['cpu_s']:.0f} s, peak RSS "
                         f"{last['peak_rss_mib']:.0f} MiB)")
            continue
        ratio = f"{vbest / md['events_per_s']:.2f}x" if vbest else "-"
        lines.append(f"{name:<48} {md['runs']:>4} {md['events_per_s']:>12,.0f} "
                     f"{ratio:>8} {md['cpu_s_per_M_events']:>11.2f} "
                     f"{md['peak_rss_mib']:>13.0f} {md['peak_rss_anon_mib']:>12.0f}")
    # where vigied's CPU time goes: CPU-s per million events, stage by stage
    staged = [n for n in wr["runs"] if n.startswith("vigied")
              and any(r["rc"] == 0 and r.get("cpu_by_stage_s") for r in wr["runs"][n])]
    if staged:
        lines.append("")
        lines.append("vigied CPU-s per million events by stage (medians; vigied's "
                     "\"cpu by stage\" log line)")
        hdr = f"{'system':<48}" + "".join(f" {s[:10]:>10}" for s in STAGES) + \
              f" {'process':>10}"
        lines.append(hdr)
        lines.append("-" * len(hdr))
        wr["cpu_by_stage_per_M_events"] = {}
        for name in staged:
            ok = [r["cpu_by_stage_s"] for r in wr["runs"][name]
                  if r["rc"] == 0 and r.get("cpu_by_stage_s")]
            per_m = {s: statistics.median(st.get(s, 0) for st in ok) / nev * 1e6
                     for s in STAGES + ["process"]}
            wr["cpu_by_stage_per_M_events"][name] = {s: round(v, 3)
                                                     for s, v in per_m.items()}
            lines.append(f"{name:<48}" + "".join(f" {per_m[s]:>10.3f}" for s in STAGES) +
                         f" {per_m['process']:>10.3f}")
        lines.append("(receive: the workers polling librdkafka's queue; kafka_threads: "
                     "librdkafka's own threads -- fetch, decompress, produce; other: the "
                     "HTTP server, opening the store; docs/aggregation.md)")
    lines.append("")
    targets = {}

    def target(label, other, want, fmt):
        if not vbest or not med.get(other):
            targets[label] = None
            lines.append(f"target {label}: not measured")
            return
        r = vbest / med[other]["events_per_s"]
        targets[label] = {"ratio": round(r, 3), "met": r >= want}
        lines.append(f"target {label}: {fmt(r)} -> {'MET' if r >= want else 'NOT MET'}")

    target("vigied >= 5x Kafka Streams", "Kafka Streams (EOS v2)", 5.0,
           lambda r: f"{r:.2f}x")
    target("vigied >= 60% of raw consume", "raw consume", 0.6, lambda r: f"{r * 100:.0f} %")
    target("vigied faster than DuckDB incl. load", "DuckDB (file, load incl.)", 1.0,
           lambda r: f"{r:.2f}x")
    wr["targets"] = targets
    return lines


def main():
    ap = arg_parser(sensors=48600, minutes=2040, seed=1, partitions=8)
    ap.add_argument("--workload", default="sensor",
                    help="comma list of workloads, measured in this order: sensor "
                         "(air-quality readings), mobility (counters' passages, distinct "
                         "counts); the JSON's top level holds the first one's results")
    ap.add_argument("--repeats", type=int, default=3,
                    help="runs of raw consume, vigied, DuckDB and chdb (median)")
    ap.add_argument("--ks-repeats", type=int, default=1,
                    help="runs of the Kafka Streams app (slow)")
    ap.add_argument("--ks-timeout", type=float, default=1200,
                    help="seconds before a Kafka Streams run is killed (failed)")
    ap.add_argument("--flink-repeats", type=int, default=1,
                    help="runs of the Apache Flink job (slow)")
    ap.add_argument("--flink-timeout", type=float, default=3600,
                    help="seconds before an Apache Flink run is killed (failed)")
    ap.add_argument("--vigied-repeats", type=int, default=None,
                    help="runs of vigied per configuration (default: --repeats)")
    ap.add_argument("--vigied-timeout", type=float, default=1800,
                    help="seconds before a vigied run is killed (failed)")
    ap.add_argument("--workers", default="1,2", help="vigied workers to measure")
    ap.add_argument("--memory-limits", default="off",
                    help="comma list of vigied memory_limit values to measure for each "
                         "worker count (off, or a size such as 1GiB)")
    ap.add_argument("--shards", default="1",
                    type=lambda v: [int(x) for x in v.split(",") if x],
                    help="comma list of vigied store.shards values to measure for each "
                         "worker count and memory limit; other than just 1, the count is "
                         "in the rows' names and the runs' field shards")
    ap.add_argument("--skip", default="", help="comma list: kstreams,flink,duckdb,chdb,micro")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--reuse-gen", action="store_true",
                    help="keep WORKDIR/gen/air-quality.jsonl and mobility.jsonl from an "
                         "earlier run (same seed and sizes)")
    a = ap.parse_args()
    skip = set(x for x in a.skip.split(",") if x)
    wls = [x for x in a.workload.split(",") if x]
    for x in wls:
        if x not in WORKLOADS:
            ap.error(f"--workload {x}: want {' or '.join(WORKLOADS)}")
    if not wls or len(set(wls)) != len(wls):
        ap.error("--workload: a comma list of distinct workloads")

    started = datetime.datetime.now(datetime.timezone.utc)
    out = a.out or os.path.join(HERE, "results", started.strftime("%Y-%m-%d") + ".json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    work = a.workdir or tempfile.mkdtemp(prefix="vigie-bench-")
    os.makedirs(work, exist_ok=True)
    bld = a.build
    gen = os.path.join(bld, "tools", "vigie-gen")
    tools = {"rawc": os.path.join(bld, "bench", "vigie-rawconsume"),
             "vigied": os.path.join(bld, "engine", "daemon", "vigied"),
             "vigieq": os.path.join(bld, "tools", "vigieq")}
    load = LoadSampler()
    load.start()
    res = {"started_utc": started.isoformat(timespec="seconds"), "machine": machine(),
           "git_commit": subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"],
                                        capture_output=True, text=True).stdout.strip(),
           "workload": {}, "runs": {}, "median": {}, "micro": {}, "notes": [],
           "workloads": {}}

    def noter(wl):
        # notes of the first workload as before issue 17, the others' named
        return lambda s: res["notes"].append(s if wl == wls[0] else f"{wl}: {s}")

    # 1. the events, in files
    gdir = os.path.join(work, "gen")
    os.makedirs(gdir, exist_ok=True)
    files = {}
    for wl in wls:
        log(f"vigie-gen ({wl}): {a.sensors} sensors, {a.minutes} min, seed {a.seed}")
        t0 = time.monotonic()
        files[wl] = generate(wl, a, gen, gdir)
        desc = scan(wl, files[wl])
        gen_cmd = f"vigie-gen --sensors {a.sensors} --duration {a.minutes}m --seed {a.seed}"
        key = WORKLOADS[wl]["key"]
        wr = res["workloads"][wl] = {"workload": dict(
            {"name": wl,
             "generator": gen_cmd + (" --output DIR/{kind}.jsonl (air-quality only)"
                                     if wl == "sensor" else
                                     " --output - | grep -F '\"counter_id\":\"' (traffic "
                                     "and bike counters; the other kinds are dropped)"),
             "producer": f"kcat -P -K '\\t' (key = {key}) from the same file",
             "topic": WORKLOADS[wl]["topic"], "partitions": a.partitions,
             "base_window": WORKLOADS[wl]["base"]}, **desc,
            file_bytes=os.path.getsize(files[wl])),
            "runs": {}, "median": {}}
        log(f"{desc['messages']} messages, {desc['events']} events, "
            f"{wr['workload']['file_bytes'] / 1e6:.0f} MB in {time.monotonic() - t0:.0f} s")
    first = res["workloads"][wls[0]]
    for part in ("workload", "runs", "median"):  # the same objects
        res[part] = first[part]

    with broker.Cluster(nodes=1) as k:
        # the broker creates no topic on its own: vigied's dead letters and
        # rollups need theirs, or rollups wait and the run would not include
        # publishing them
        k.create_topic("bench.dead", 1)
        for wl in wls:
            wr = res["workloads"][wl]
            topic = wr["workload"]["topic"]
            k.create_topic(topic, a.partitions)
            # 2. the same messages into the topic, keyed by the entity, with kcat
            log(f"producing to {topic} ({a.partitions} partitions) with kcat")
            wr["workload"]["produce_seconds"] = round(
                produce(k, topic, WORKLOADS[wl]["key"], files[wl]), 1)
            log(f"produced in {wr['workload']['produce_seconds']:.0f} s")
            log(f"workload {wl}: {wr['workload']}")
            wdir = os.path.join(work, wl)
            os.makedirs(wdir, exist_ok=True)
            run_workload(wl, wr, a, k, tools, files[wl], skip, wdir, noter(wl))

        # micro-benchmarks of the earlier issues, short settings, raw text
        if "micro" not in skip:
            for name, cmd in [
                    ("vigie-bench-codec", [os.path.join(bld, "bench", "vigie-bench-codec")]),
                    ("vigie-bench-agg", [os.path.join(bld, "bench", "vigie-bench-agg"),
                                         "--events", "1000000", "--repeat", "1"]),
                    ("vigie-bench-dedupe", [os.path.join(bld, "bench", "vigie-bench-dedupe"),
                                            "--repeat", "1", "--workdir", work]),
                    ("vigie-bench-store", [os.path.join(bld, "bench", "vigie-bench-store"),
                                           "--dir", os.path.join(work, "store-bench"),
                                           "--max-series", "10000"]),
                    ("vigie-bench-vigieq-sql", [os.path.join(bld, "bench",
                                                             "vigie-bench-vigieq-sql"),
                                                "--sensors", "50", "--repeat", "5"]),
                    ("vigie-bench-vigieq", [os.path.join(bld, "bench", "vigie-bench-vigieq"),
                                            "--dir", os.path.join(work, "vigieq-bench")]),
                    ("vigie-bench-rollpub", [os.path.join(bld, "bench", "vigie-bench-rollpub"),
                                             "--rollups", "100000", "--repeats", "1",
                                             "--dir", os.path.join(work, "rollpub-bench")])]:
                log(f"micro: {name}")
                rc, wall, cpu, rss, text = measure(cmd, os.path.join(work, name + ".out"),
                                                   timeout=600)
                res["micro"][name] = {"cmd": " ".join(os.path.basename(c) if c == cmd[0] else c
                                                      for c in cmd),
                                      "rc": rc, "wall_s": round(wall, 1), "output": text}

        # Kafka Streams, the slowest, last; on the sensor workload only
        if "kstreams" not in skip and "mobility" in wls:
            noter("mobility")("Kafka Streams not run: bench/kstreams aggregates numeric "
                              "fields (count/sum/min/max) and keeps no distinct count")
        if "kstreams" not in skip and "sensor" in wls:
            wr = res["workloads"]["sensor"]
            ksout = os.path.join(bld, "kstreams")
            log("building bench/kstreams with Maven")
            r = subprocess.run(
                ["mvn", "-q", "-B", "-f", os.path.join(HERE, "kstreams", "pom.xml"),
                 f"-Dmaven.repo.local={os.path.join(broker.CACHE, 'm2')}",
                 f"-Dkstreams.out={ksout}", "package", "dependency:copy-dependencies"],
                capture_output=True, text=True)
            if r.returncode != 0:
                noter("sensor")("kstreams: maven failed: " + r.stdout[-2000:])
            else:
                cp = os.path.join(ksout, "vigie-kstreams-bench-1.jar") + ":" + \
                    os.path.join(ksout, "libs", "*")
                for i in range(a.ks_repeats):
                    sd = os.path.join(work, f"kstreams-{i}")
                    rc, wall, cpu, rss, text = measure(
                        ["java", "-Xmx2g", "-Dthreads=2",
                         "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                         "-cp", cp, "vigie.bench.RollupBench", k.bootstrap,
                         wr["workload"]["topic"], sd]
                        + FIELDS, os.path.join(work, f"kstreams{i}.out"), timeout=a.ks_timeout)
                    j = last_json(text) or {}
                    record(wr, "Kafka Streams (EOS v2)", i, rc, wall, cpu, rss,
                           j.get("seconds"), {"report": j})
                    if rc != 0:
                        with open(os.path.join(work, f"kstreams{i}.out.err")) as f:
                            noter("sensor")(f"kstreams #{i} exited {rc}: {f.read()[-2000:]}")
                    shutil.rmtree(sd, ignore_errors=True)

        # Apache Flink, as slow; on the sensor workload only too
        if "flink" not in skip and "mobility" in wls:
            noter("mobility")("Apache Flink not run: bench/flink, like bench/kstreams, "
                              "aggregates numeric fields and keeps no distinct count")
        if "flink" not in skip and "sensor" in wls:
            run_flink(a, k, bld, work, res["workloads"]["sensor"], noter("sensor"))

    load.stop.set()
    res["load_average"] = load.summary()
    res["finished_utc"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")

    # medians, checks and the tables
    lines = []
    m = res["machine"]
    lines.append(f"Vigie end-to-end benchmark, {res['started_utc']}, commit "
                 f"{res['git_commit'][:10]}")
    lines.append(f"machine: {m['nproc']} CPUs, {m['model_name']}, {m['memory']}, "
                 f"Linux {m['kernel']}")
    la = res["load_average"]
    lines.append(f"load average (1 min) during the run: median {la['median']:.2f}, "
                 f"min {la['min']:.2f}, max {la['max']:.2f} (shared machine)")
    for wl in wls:
        wr = res["workloads"][wl]
        lines.append("")
        lines += summarize(wl, wr)
        line, ok = check_rows(wr)
        lines.append(line)
        if not ok:
            noter(wl)(line)
    for part in ("targets", "check", "cpu_by_stage_per_M_events"):
        if part in first:
            res[part] = first[part]
    lines.append("")
    for n in res["notes"]:
        lines.append("note: " + n.splitlines()[0][:200])
    with write_results(res, "\n".join(lines), out, work, a.workdir) as f:
        for name, mb in res["micro"].items():
            f.write(f"\n== {mb['cmd']} (rc {mb['rc']}, {mb['wall_s']} s)\n{mb['output']}")
    log(f"wrote {out} and {os.path.splitext(out)[0]}.txt")


if __name__ == "__main__":
    main()
