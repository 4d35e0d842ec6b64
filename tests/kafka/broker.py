#!/usr/bin/env python3
"""A real Apache Kafka broker (KRaft) for Vigie's integration tests.

Resolves org.apache.kafka:kafka_2.13 and its runtime dependencies from Maven
Central with Maven into a cache outside the repository (pom.xml beside this
file; a second start reuses the cache), formats KRaft storage, starts one node
or a 3-node cluster on free loopback ports, waits until every node answers,
and always stops it: on stop(), at interpreter exit, on SIGTERM/SIGINT, and
(through PR_SET_PDEATHSIG) when the process that started it dies, even by
SIGKILL.

As a library:    with Cluster(nodes=1) as k: k.bootstrap, k.create_topic(...)
From the shell:  broker.py resolve            fetch the jars (bootstrap does)
                 broker.py run [--nodes 3]    start, print bootstrap, wait
"""

import argparse
import atexit
import base64
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
KAFKA_VERSION = "4.1.1"
CACHE = os.environ.get("VIGIE_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vigie")
JVM_OPTS = ["-Xms256m", "-Xmx768m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1"]

_live = []  # clusters to stop at exit


def libs_dir(version=KAFKA_VERSION):
    return os.path.join(CACHE, "kafka", version, "libs")


def resolve(version=KAFKA_VERSION):
    """Fetch the broker's jars once; later calls find them in the cache."""
    libs = libs_dir(version)
    done = os.path.join(libs, ".complete")
    if os.path.exists(done):
        return libs
    # an install: always said, --quiet only silences the cached case
    print(f"kafka: resolving org.apache.kafka:kafka_2.13:{version} from "
          f"Maven Central into {libs}", file=sys.stderr)
    tmp = libs + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(libs), exist_ok=True)
    # Maven's own download store goes to the cache too, not ~/.m2
    cmd = ["mvn", "-q", "-B", "-f", os.path.join(HERE, "pom.xml"),
           f"-Dmaven.repo.local={os.path.join(CACHE, 'm2')}",
           f"-Dkafka.version={version}", "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={tmp}"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise RuntimeError("kafka: maven could not resolve the broker:\n" +
                           r.stdout[-4000:])
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(libs, ignore_errors=True)
    os.rename(tmp, libs)
    return libs


def free_ports(n):
    """n distinct free loopback TCP ports (held open together, then freed)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def _accepts(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _die_with_parent():
    # Runs in the child between fork and exec: the kernel sends SIGKILL to the
    # broker when the test process dies, whatever killed it.
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setpgrp()


def _cluster_id():
    # Kafka's own Uuid.randomUuid() redraws ids that start with '-': the
    # storage tool's argument parser would read one as an option (1 in 64).
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


class Node:
    def __init__(self, node_id, port, cport, workdir):
        self.node_id, self.port, self.cport = node_id, port, cport
        self.dir = os.path.join(workdir, f"node{node_id}")
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


class Cluster:
    """One KRaft node (broker+controller) or a 3-node cluster on loopback."""

    def __init__(self, nodes=1, version=KAFKA_VERSION, workdir=None,
                 extra_props=None, start_timeout=90):
        self.n = nodes
        self.version = version
        self.extra = dict(extra_props or {})
        self.start_timeout = start_timeout
        self.own_dir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="vigie-kafka-")
        ports = free_ports(2 * nodes)
        self.nodes = [Node(i + 1, ports[2 * i], ports[2 * i + 1], self.workdir)
                      for i in range(nodes)]
        self.classpath = None

    # -- lifecycle ---------------------------------------------------------
    @property
    def bootstrap(self):
        return ",".join(n.address for n in self.nodes)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def _props(self, node):
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.cport}" for n in self.nodes)
        rf = min(3, self.n)
        p = {
            "process.roles": "broker,controller",
            "node.id": node.node_id,
            "controller.quorum.voters": voters,
            "listeners": f"PLAINTEXT://127.0.0.1:{node.port},"
                         f"CONTROLLER://127.0.0.1:{node.cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map":
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": os.path.join(node.dir, "data"),
            "num.partitions": 1,
            "default.replication.factor": rf,
            "min.insync.replicas": 1 if rf == 1 else 2,
            "offsets.topic.replication.factor": rf,
            "offsets.topic.num.partitions": 4,
            "transaction.state.log.replication.factor": rf,
            "transaction.state.log.min.isr": 1 if rf == 1 else 2,
            "transaction.state.log.num.partitions": 4,
            "share.coordinator.state.topic.replication.factor": rf,
            "share.coordinator.state.topic.min.isr": 1 if rf == 1 else 2,
            "group.initial.rebalance.delay.ms": 0,
            "auto.create.topics.enable": "false",
            "log.flush.interval.messages": 1 << 30,
            "num.network.threads": 2,
            "num.io.threads": 4,
        }
        p.update(self.extra)
        return p

    def _java(self, main, *args):
        return ["java", *JVM_OPTS,
                f"-Dlog4j2.configurationFile={self._log4j}",
                "-cp", self.classpath, main, *args]

    def start(self):
        libs = resolve(self.version)
        self.classpath = os.path.join(libs, "*")
        self._log4j = os.path.join(self.workdir, "log4j2.properties")
        with open(self._log4j, "w") as f:
            f.write("rootLogger.level = WARN\n"
                    "rootLogger.appenderRef.out.ref = out\n"
                    "appender.out.type = Console\n"
                    "appender.out.name = out\n"
                    "appender.out.layout.type = PatternLayout\n"
                    "appender.out.layout.pattern = [%d] %p %m (%c)%n\n"
                    "logger.kafka.name = kafka\nlogger.kafka.level = INFO\n")
        cid = _cluster_id()
        _live.append(self)
        for node in self.nodes:
            os.makedirs(node.dir, exist_ok=True)
            cfg = os.path.join(node.dir, "server.properties")
            with open(cfg, "w") as f:
                for k, v in self._props(node).items():
                    f.write(f"{k}={v}\n")
            r = subprocess.run(self._java("kafka.tools.StorageTool", "format",
                                          f"--cluster-id={cid}", "-c", cfg),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
            if r.returncode != 0:
                self.stop()
                raise RuntimeError(f"kafka: formatting node {node.node_id} "
                                   f"failed:\n{r.stdout[-3000:]}")
        for node in self.nodes:
            log = open(os.path.join(node.dir, "broker.log"), "w")
            node.proc = subprocess.Popen(
                self._java("kafka.Kafka",
                           os.path.join(node.dir, "server.properties")),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent)
            log.close()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self):
        """Until every node answers metadata requests and creating a topic
        replicated on all of them works."""
        from confluent_kafka.admin import AdminClient
        deadline = time.monotonic() + self.start_timeout
        last = None
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc.poll() is not None:
                    raise RuntimeError(
                        f"kafka: node {node.node_id} exited with "
                        f"{node.proc.returncode}:\n{self.log_tail(node)}")
            if not all(_accepts(n.port) for n in self.nodes):
                last = "listeners not open yet"
                time.sleep(0.2)
                continue
            try:
                a = AdminClient({"bootstrap.servers": self.bootstrap})
                md = a.list_topics(timeout=2)
                if len(md.brokers) == self.n and md.controller_id >= 0:
                    return
                last = f"{len(md.brokers)} of {self.n} brokers registered"
            except Exception as e:  # noqa: BLE001 - retried until deadline
                last = str(e)
            time.sleep(0.3)
        raise TimeoutError(f"kafka: not ready after {self.start_timeout}s "
                           f"({last}):\n{self.log_tail(self.nodes[0])}")

    def log_tail(self, node, n=40):
        try:
            with open(os.path.join(node.dir, "broker.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def stop_node(self, node, timeout=15):
        p = node.proc
        if p is None or p.poll() is not None:
            return
        try:
            p.terminate()
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def start_node(self, node):
        """Restart one stopped node on the same ports and data."""
        log = open(os.path.join(node.dir, "broker.log"), "a")
        node.proc = subprocess.Popen(
            self._java("kafka.Kafka", os.path.join(node.dir, "server.properties")),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent)
        log.close()

    def stop(self):
        # SIGTERM every node first so a cluster shuts down in parallel
        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.terminate()
        for node in self.nodes:
            self.stop_node(node)
        if self in _live:
            _live.remove(self)
        if self.own_dir and not os.environ.get("VIGIE_KEEP_KAFKA"):
            shutil.rmtree(self.workdir, ignore_errors=True)

    # -- helpers for tests -------------------------------------------------
    def admin(self):
        from confluent_kafka.admin import AdminClient
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def create_topic(self, name, partitions=1, replication=None, config=None):
        from confluent_kafka.admin import NewTopic
        rf = replication or min(3, self.n)
        admin = self.admin()  # must outlive the futures it returns
        fs = admin.create_topics(
            [NewTopic(name, partitions, rf, config=config or {})],
            operation_timeout=30)
        for f in fs.values():
            f.result()
        # metadata reaches every broker a little after the controller
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            md = admin.list_topics(name, timeout=5)
            t = md.topics.get(name)
            if (t is not None and t.error is None
                    and len(t.partitions) == partitions
                    and all(p.leader >= 0 for p in t.partitions.values())):
                return
            time.sleep(0.1)
        raise TimeoutError(f"kafka: topic {name} has no leaders after 30s")


def _stop_all(*_):
    for c in list(_live):
        c.stop()


atexit.register(_stop_all)


def _on_signal(signum, frame):
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


for _s in (signal.SIGTERM, signal.SIGHUP):
    if signal.getsignal(_s) in (signal.SIG_DFL, None):
        signal.signal(_s, _on_signal)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("resolve", help="fetch the broker's jars into the cache")
    r.add_argument("--quiet", action="store_true")
    s = sub.add_parser("run", help="start a cluster and wait for Ctrl-C")
    s.add_argument("--nodes", type=int, default=1, choices=(1, 3))
    s.add_argument("--topic", action="append", default=[],
                   help="NAME:PARTITIONS to create once ready")
    a = ap.parse_args()
    if a.cmd == "resolve":
        resolve()
        return 0
    with Cluster(nodes=a.nodes) as k:
        for t in a.topic:
            name, _, parts = t.partition(":")
            k.create_topic(name, int(parts or 1))
        print(k.bootstrap, flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
