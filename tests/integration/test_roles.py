"""The scale-out roles end to end on a real 3-broker KRaft cluster (DESIGN.md,
"Scale-out on Kafka"). Ingest instances in one consumer group turn the source
topic into Kafka transactions of base-window deltas on kafka.deltas_topic
(each also holding its dead letters and its consumer offsets); a store
instance in a group of its own merges the deltas into its LMDB shards. After
`vigied --drain` of the ingest group and then of the store, the store's
windows (read with vigieq on its data_dir) must equal:

- the oracle computed in Python from the raw rows (count, min and max
  exactly, sum within 1e-9 relative: nothing lost, nothing counted twice),
  base, hourly and daily windows;
- the windows of a standalone `vigied --drain` over the same source topic.

That holds through an ingest instance killed with SIGKILL (restarted under
its instance_id, or never again), a broker stopped mid-stream, ingest
instances added to the group mid-stream and a zombie (an instance stopped
with SIGSTOP past its session and transaction timeouts, then continued); and
each malformed message is a dead letter exactly once, read with
isolation.level=read_committed and told apart by its source coordinates
(headers vigie.topic, vigie.partition, vigie.offset).

The data: the Aarhus car parks (8 garages, naive Copenhagen times, the
repeated hour of 2014-10-26) for the failure tests, each garage in a source
partition of its own (modulo 6: two partitions per ingest instance); every
real data set of ../shared/data for the standalone comparison.

Selected with `-m cluster` (marker registered in conftest.py).
"""
import csv
import json
import os
import random
import signal
import subprocess
import time
from zoneinfo import ZoneInfo

import pytest

from e2e import (PARKING_SOURCE, PARKING_TZ, SHARED, Oracle, aarhus_parking,
                 aarhus_parking_rows, aarhus_traffic, aberdeen_pm, assert_once_each,
                 assert_rollups_once, london_smartmeter, naive_local_to_utc, produce,
                 seattle_bike)

pytestmark = [pytest.mark.cluster,
              pytest.mark.skipif(not os.path.isdir(SHARED),
                                 reason=f"shared data sets absent ({SHARED})")]

SOURCE_PARTITIONS = 6  # two per ingest instance
DELTA_PARTITIONS = 2  # the store takes its shard count from them
INGEST = ("i0", "i1", "i2")
# Fast failover for the crash and zombie tests, through kafka.properties
# (librdkafka properties given to vigied's clients): 6 s is the brokers'
# group.min.session.timeout.ms; a transaction open longer than 10 s is aborted
# by its coordinator at its next check for timed-out transactions, which runs
# every transaction.abort.timed.out.transaction.cleanup.interval.ms (10 s).
SESSION_TIMEOUT_S = 6
TXN_TIMEOUT_S = 10
TXN_ABORTED_AFTER_S = TXN_TIMEOUT_S + 10 + 2
FAST_FAILOVER = {"session.timeout.ms": str(SESSION_TIMEOUT_S * 1000),
                 "transaction.timeout.ms": str(TXN_TIMEOUT_S * 1000)}
RESOLUTIONS = ("1m", "1h", "1d")


# -- configs, topics, processes ----------------------------------------------------

def write_role_config(path, *, data_dir, bootstrap, tz, topic, source, group, dead, rollups,
                      role=None, instance_id=None, deltas=None, properties=None,
                      checkpoint_interval="200ms", extra=""):
    """A vigied config reading topic as source (a dict of source keys, values
    already YAML), in the format of e2e.write_config plus the role keys: role,
    instance_id and kafka.deltas_topic only when given (a standalone config
    has none of them), kafka.properties from the dict properties."""
    q = json.dumps
    kafka = [f"brokers: {q(bootstrap)}", f"group: {q(group)}",
             f"dead_letter_topic: {q(dead)}", f"rollup_topic: {q(rollups)}"]
    if deltas:
        kafka.append(f"deltas_topic: {q(deltas)}")
    if properties:
        kafka.append("properties: {" + ", ".join(f"{q(k)}: {q(v)}"
                                                 for k, v in properties.items()) + "}")
    text = [f"data_dir: {q(str(data_dir))}", f"timezone: {tz}",
            f"checkpoint_interval: {checkpoint_interval}",
            "windows: {base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}",
            "retention: {base: forever}"]
    if role:
        text.append(f"role: {role}")
    if instance_id:
        text.append(f"instance_id: {instance_id}")
    text += ["kafka: {" + ", ".join(kafka) + "}", 'http: {listen: "127.0.0.1:0"}', "sources:"]
    first = True
    for k, v in dict(topic=q(topic), **source).items():
        text.append(("  - " if first else "    ") + f"{k}: {v}")
        first = False
    text.append(extra)
    with open(path, "w") as f:
        f.write("\n".join(text) + "\n")
    return str(path)


class Deployment:
    """One test's topics and configs, created at once (before any instance
    starts): the source topic T (replication 3), its dead letters T.dead,
    the deltas T.deltas (DELTA_PARTITIONS partitions, replication 3,
    min.insync.replicas 2), the store's rollups T.rollups; and a standalone's
    own dead letters T.sa.dead and rollups T.sa.rollups so that the two never
    mix. Ingest instances share the group vg-ingest-T, the store has
    vg-store-T, the standalone vg-sa-T; each has its own data_dir."""

    def __init__(self, kafka, tmp_path, topic, source, tz, partitions=SOURCE_PARTITIONS,
                 ingest_properties=None, ingest_checkpoint="200ms", ingest_extra=""):
        self.kafka, self.bootstrap, self.tmp = kafka, kafka.bootstrap, tmp_path
        self.topic, self.source, self.tz = topic, source, tz
        self.dead, self.deltas = topic + ".dead", topic + ".deltas"
        self.rollups = topic + ".rollups"
        self.sa_dead, self.sa_rollups = topic + ".sa.dead", topic + ".sa.rollups"
        self.ingest_group, self.store_group = f"vg-ingest-{topic}", f"vg-store-{topic}"
        self.store_dir, self.sa_dir = tmp_path / "store", tmp_path / "standalone"
        self.ingest_properties, self.ingest_checkpoint = ingest_properties, ingest_checkpoint
        self.ingest_extra = ingest_extra
        kafka.create_topic(topic, partitions, replication=3)
        kafka.create_topic(self.deltas, DELTA_PARTITIONS, replication=3,
                           config={"min.insync.replicas": "2"})
        for t in (self.dead, self.sa_dead):
            kafka.create_topic(t, 2, replication=3)
        for t in (self.rollups, self.sa_rollups):
            kafka.create_topic(t, 3, replication=3)
        common = dict(bootstrap=self.bootstrap, tz=tz, topic=topic, source=source)
        self.store_cfg = write_role_config(
            tmp_path / "store.yaml", data_dir=self.store_dir, group=self.store_group,
            dead=self.dead, rollups=self.rollups, role="store", deltas=self.deltas, **common)
        self.sa_cfg = write_role_config(
            tmp_path / "standalone.yaml", data_dir=self.sa_dir, group=f"vg-sa-{topic}",
            dead=self.sa_dead, rollups=self.sa_rollups, extra="store: {shards: 2}", **common)
        self._common = common

    def ingest_cfg(self, name):
        """The config of the ingest instance whose instance_id is name (the
        same file for every start of it)."""
        path = self.tmp / f"ingest-{name}.yaml"
        if not path.exists():
            write_role_config(path, data_dir=self.tmp / f"ingest-{name}",
                              group=self.ingest_group, dead=self.dead, rollups=self.rollups,
                              role="ingest", instance_id=name, deltas=self.deltas,
                              properties=self.ingest_properties,
                              checkpoint_interval=self.ingest_checkpoint,
                              extra=self.ingest_extra, **self._common)
        return str(path)


class Fleet:
    """The vigied processes of a test, each writing stdout and stderr to
    tmp_path/NAME.log (appended to across restarts). Whatever is still alive
    at the end of the test is continued (if stopped) and killed."""

    def __init__(self, bin_path, tmp_path):
        self.vigied, self.tmp, self.procs = bin_path("vigied"), tmp_path, []

    def start(self, name, cfg, *args):
        with open(self.tmp / f"{name}.log", "a") as log:
            p = subprocess.Popen([self.vigied, "--config", str(cfg), *args], stdout=log,
                                 stderr=subprocess.STDOUT)
        p.name = name
        self.procs.append(p)
        return p

    def log(self, name):
        path = self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tail(self, name, n=3000):
        return f"--- {name}.log ---\n" + self.log(name)[-n:]

    def wait(self, p, timeout):
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            pytest.fail(f"{p.name} still running after {timeout} s\n{self.tail(p.name)}")

    def stop(self, p, timeout=60):
        """SIGTERM: a service finishes its epoch, commits and exits 0."""
        assert p.poll() is None, f"{p.name} exited by itself\n{self.tail(p.name)}"
        p.send_signal(signal.SIGTERM)
        rc = self.wait(p, timeout)
        assert rc == 0, f"{p.name} exited {rc} on SIGTERM\n{self.tail(p.name)}"

    def kill9(self, p):
        assert p.poll() is None, f"{p.name} exited by itself\n{self.tail(p.name)}"
        p.send_signal(signal.SIGKILL)
        p.wait()

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()


@pytest.fixture
def fleet(bin_path, tmp_path):
    f = Fleet(bin_path, tmp_path)
    yield f
    f.cleanup()


def start_ingest(fleet, dep, name, *args):
    """The ingest instance name (its instance_id, its log name.log)."""
    return fleet.start(name, dep.ingest_cfg(name), *args)


def start_store(fleet, dep, *args):
    return fleet.start("store", dep.store_cfg, *args)


def drain_ingest(fleet, dep, names, timeout=90):
    """`vigied --drain` of the ingest instances names, all at once; each
    must exit 0, which it does once the group committed every source
    partition up to the end offset seen when its drain began."""
    procs = [fleet.start(f"{n}.drain", dep.ingest_cfg(n), "--drain") for n in names]
    for p in procs:
        rc = fleet.wait(p, timeout)
        assert rc == 0, f"ingest drain exited {rc}\n{fleet.tail(p.name)}"


def drain_store(fleet, dep, timeout=90):
    """`vigied --drain` of the store once no transaction is open on the
    deltas topic (the store drains to the last stable offset: a transaction
    left open by a dead instance holds it back until the coordinator aborts
    it)."""
    wait_transactions_settled(dep.bootstrap, dep.deltas)
    p = start_store(fleet, dep, "--drain")
    rc = fleet.wait(p, timeout)
    assert rc == 0, f"store drain exited {rc}\n{fleet.tail('store')}"


def drain_standalone(fleet, dep, timeout=180):
    p = fleet.start("standalone", dep.sa_cfg, "--drain")
    rc = fleet.wait(p, timeout)
    assert rc == 0, f"standalone drain exited {rc}\n{fleet.tail('standalone')}"


def read_windows(bin_path, data_dir, res, tz):
    """vigieq --data-dir data_dir query at resolution res, times in zone tz,
    as CSV rows (dicts)."""
    r = subprocess.run([bin_path("vigieq"), "--data-dir", str(data_dir), "query",
                        "--resolution", res, "--tz", tz, "--format", "csv"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return list(csv.DictReader(r.stdout.splitlines()))


def check_oracle(bin_path, data_dir, oracle, tz, resolutions=RESOLUTIONS):
    """Every window of data_dir at each resolution equals the oracle's.
    Returns the rows read, by resolution."""
    rows = {}
    for res in resolutions:
        rows[res] = read_windows(bin_path, data_dir, res, tz)
        oracle.check(rows[res], res)
    return rows


# -- Kafka: producing, reading, waiting ---------------------------------------------

def admin(bootstrap):
    """An AdminClient; keep it referenced until its futures are done."""
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap})


def end_offsets(bootstrap, topic, committed_only=False):
    """{partition: end offset} of topic now: the high watermark, or with
    committed_only the last stable offset (what read_committed sees)."""
    from confluent_kafka import IsolationLevel, TopicPartition
    from confluent_kafka.admin import OffsetSpec
    a = admin(bootstrap)  # outlives its futures
    md = a.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    level = IsolationLevel.READ_COMMITTED if committed_only else IsolationLevel.READ_UNCOMMITTED
    fs = a.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in parts},
                        isolation_level=level, request_timeout=10)
    return {tp.partition: f.result(timeout=30).offset for tp, f in fs.items()}


def wait_for(what, cond, timeout, every=0.3):
    """Polls cond() -> (done, state) until done, for up to timeout seconds;
    fails naming what and the last state past it. An exception of cond (a
    broker away) counts as not done yet."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            done, last = cond()
            if done:
                return
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(every)
    pytest.fail(f"{what}: not after {timeout} s (last state: {last!r})")


def wait_transactions_settled(bootstrap, topic, timeout=60):
    """Until no transaction is open on topic: its last stable offsets equal
    its high watermarks."""
    def settled():
        lso, hw = end_offsets(bootstrap, topic, True), end_offsets(bootstrap, topic)
        return lso == hw, f"last stable offsets {lso}, high watermarks {hw}"
    wait_for(f"transactions on {topic} settled", settled, timeout)


def group_committed(bootstrap, group, topic):
    """{partition: offset} the group committed on topic."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    a = admin(bootstrap)  # outlives its futures
    fs = a.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                       request_timeout=10)
    res = fs[group].result(timeout=30)
    return {tp.partition: tp.offset for tp in res.topic_partitions or [] if tp.topic == topic}


def wait_group_committed(bootstrap, group, topic, timeout=90):
    """Until the group committed every partition of topic up to its end
    offset now (what an ingest --drain waits for, group-wide)."""
    ends = end_offsets(bootstrap, topic)

    def done():
        got = group_committed(bootstrap, group, topic)
        behind = {p: (got.get(p), e) for p, e in ends.items() if e > 0 and got.get(p) != e}
        return not behind, f"behind (committed, end): {behind}"
    wait_for(f"group {group} committed {topic} to {ends}", done, timeout)


def wait_group_members(bootstrap, group, n, timeout=60, fleet=None, procs=()):
    """Until the group is stable with n members, each assigned partitions;
    failing at once when one of procs (of fleet) exited meanwhile."""
    from confluent_kafka import ConsumerGroupState

    def ready():
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"{p.name} exited {p.returncode}\n{fleet.tail(p.name)}")
        a = admin(bootstrap)  # outlives its futures
        d = a.describe_consumer_groups([group], request_timeout=10)[group].result(timeout=30)
        assigned = [len(m.assignment.topic_partitions) if m.assignment else 0
                    for m in d.members]
        return (d.state == ConsumerGroupState.STABLE and len(assigned) == n and all(assigned),
                f"{d.state}, partitions per member {assigned}")
    wait_for(f"group {group} stable with {n} assigned members", ready, timeout)


def wait_deltas(bootstrap, topic, timeout=60):
    """Until the deltas topic holds something: some ingest transactions are in."""
    def grown():
        ends = end_offsets(bootstrap, topic)
        return sum(ends.values()) > 0, ends
    wait_for(f"deltas on {topic}", grown, timeout)


def wait_brokers(kafka, n, timeout=90):
    """Until n brokers answer metadata and every partition has a leader."""
    def ok():
        md = kafka.admin().list_topics(timeout=5)
        leaderless = [(t.topic, p.id) for t in md.topics.values()
                      for p in t.partitions.values() if p.leader < 0]
        return (len(md.brokers) == n and not leaderless,
                f"brokers {sorted(md.brokers)}, leaderless {leaderless[:5]}")
    wait_for(f"{n} brokers up", ok, timeout)


def produce_partitioned(bootstrap, topic, msgs):
    """msgs: (partition, key, value str) each produced to its partition, in
    order, acks=all, idempotent; every one acknowledged."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True,
                  "linger.ms": 20})
    errors = []

    def delivered(err, _msg):
        if err is not None:
            errors.append(err)
    for part, key, value in msgs:
        while True:
            try:
                p.produce(topic, value=value.encode(), key=key.encode(), partition=part,
                          on_delivery=delivered)
                break
            except BufferError:
                p.poll(0.1)
    left = p.flush(120)
    assert left == 0 and not errors, (left, errors[:3])


def produce_slowly(dep, parts):
    """Each chunk of parts to dep's source topic, 0.3 s apart (the ingest
    instances read while it comes)."""
    for c in parts:
        produce_partitioned(dep.bootstrap, dep.topic, c)
        time.sleep(0.3)


def chunks(msgs, n):
    size = (len(msgs) + n - 1) // n
    return [msgs[i:i + size] for i in range(0, len(msgs), size)]


def read_committed(bootstrap, topic, timeout=60):
    """Every message of topic that read_committed consumers see, read to the
    end of each partition: (partition, offset, key, value, headers dict)."""
    from confluent_kafka import Consumer, KafkaError, TopicPartition
    wait_transactions_settled(bootstrap, topic)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"read-{time.time_ns()}",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    md = c.list_topics(topic, timeout=10)
    parts = sorted(md.topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    left, out = set(parts), []
    deadline = time.monotonic() + timeout
    while left and time.monotonic() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                left.discard(m.partition())
            continue
        out.append((m.partition(), m.offset(), m.key(), m.value(), dict(m.headers() or [])))
    c.close()
    assert not left, f"{topic}: partitions {sorted(left)} not read to their end"
    return out


def dead_letter_coordinates(bootstrap, topic):
    """The dead letters of topic (read_committed) as (source topic, source
    partition, source offset, bytes)."""
    return [(h["vigie.topic"].decode(), int(h["vigie.partition"]), int(h["vigie.offset"]), v)
            for _, _, _, v, h in read_committed(bootstrap, topic)]


def check_dead_letters(bootstrap, dead_topic, source_topic, bad):
    """Each malformed message of bad once in dead_topic, by its source
    coordinates and by its bytes, and nothing else."""
    dl = dead_letter_coordinates(bootstrap, dead_topic)
    assert_once_each([c[:3] for c in dl], f"dead letters of {dead_topic} (by source coordinates)")
    assert {c[0] for c in dl} <= {source_topic}
    assert sorted(c[3] for c in dl) == sorted(b.encode() for b in bad), \
        f"{dead_topic}: {len(dl)} dead letters, {len(bad)} malformed messages"
    return dl


def check_rollups(bootstrap, topic, rows):
    """The store's rollup topic (read_committed): each (window, revision)
    once, the last revision of every final window the store's, and some
    final windows."""
    assert assert_rollups_once(read_committed(bootstrap, topic), rows) > 0


# Every column vigieq prints but status and revision, which depend on when the
# watermark passed each window (idle timeouts, commit timing: docs/aggregation.md,
# "Who decides, and from what"), not on what was counted. sum, mean and stddev
# may differ in their last bits with the order of the merges (within 1e-9).
SAME_EXACTLY = ("end_datetime", "metric", "count", "min", "max", "p50", "p95", "first", "last",
                "distinct")
SAME_WITHIN = ("sum", "mean", "stddev")


def assert_same_windows(want, got, what):
    """The rows got (the roles') are the rows want (the standalone's), one
    for one, every statistic equal."""
    w = {(r["series"], r["start_datetime"]): r for r in want}
    g = {(r["series"], r["start_datetime"]): r for r in got}
    assert len(w) == len(want) and len(g) == len(got), f"{what}: a window twice"
    missing, extra = sorted(set(w) - set(g)), sorted(set(g) - set(w))
    assert not missing, f"{what}: {len(missing)} windows missing, e.g. {missing[:3]}"
    assert not extra, f"{what}: {len(extra)} windows more, e.g. {extra[:3]}"
    bad = []
    for k, a in w.items():
        b = g[k]
        diff = [c for c in SAME_EXACTLY if a[c] != b[c]]
        for c in SAME_WITHIN:
            if (a[c] == "") != (b[c] == "") or (a[c] and abs(float(a[c]) - float(b[c])) >
                                                1e-9 * max(1.0, abs(float(a[c])))):
                diff.append(c)
        if diff:
            bad.append((k, {c: (a[c], b[c]) for c in diff}))
    assert not bad, f"{what}: {len(bad)} windows differ, e.g. {bad[:3]}"
    return len(w)


# -- data -----------------------------------------------------------------------------

def parking(malformed_every=53):
    """The Aarhus car parks as JSON messages in time order (the file's),
    garage number g (in order of appearance) in source partition g modulo
    SOURCE_PARTITIONS, keyed by garage; one message in malformed_every
    followed by a malformed one (truncated JSON, unique bytes) in the same
    partition. Returns (messages as (partition, key, value), the malformed
    values, the oracle of the good ones)."""
    tz, oracle = ZoneInfo(PARKING_TZ), Oracle(PARKING_TZ)
    garages, msgs, bad = {}, [], []
    for i, row in enumerate(aarhus_parking_rows()):
        g = row["garagecode"]
        part = garages.setdefault(g, len(garages)) % SOURCE_PARTITIONS
        doc = {"updatetime": row["updatetime"], "garagecode": g,
               "vehiclecount": int(row["vehiclecount"]), "totalspaces": int(row["totalspaces"])}
        msgs.append((part, g, json.dumps(doc)))
        t = naive_local_to_utc(row["updatetime"].replace(" ", "T"), tz)
        for m in ("vehiclecount", "totalspaces"):
            oracle.add(f'{m}{{garagecode="{g}"}}', t, float(doc[m]))
        if malformed_every and i % malformed_every == 7:
            text = json.dumps(doc)[:-1] + f', "vehiclecount": oops{i}'  # not JSON: no "}"
            msgs.append((part, g, text))
            bad.append(text)
    assert len(garages) == 8 and len(msgs) > 55000
    return msgs, bad, oracle


def dataset_aarhus_traffic():
    msgs, oracle = aarhus_traffic()
    return msgs, dict(format="influx", precision="s"), "Europe/Copenhagen", oracle


DATASETS = {"seattle-bike": seattle_bike, "aberdeen-pm": aberdeen_pm,
            "aarhus-traffic": dataset_aarhus_traffic, "aarhus-parking": aarhus_parking,
            "london-smartmeter": london_smartmeter}


def seeded(what):
    seed = int(os.environ.get("VIGIE_ROLES_SEED", time.time_ns() % 1000003))
    print(f"{what} seed {seed} (VIGIE_ROLES_SEED to replay)")
    return random.Random(seed)


def start_three(fleet, dep):
    procs = {n: start_ingest(fleet, dep, n) for n in INGEST}
    wait_group_members(dep.bootstrap, dep.ingest_group, len(INGEST), fleet=fleet,
                       procs=procs.values())
    return procs


def finish(fleet, bin_path, dep, procs, oracle, bad):
    """The group committed everything; each live ingest instance stopped
    with SIGTERM (exit 0); the store drained; its windows equal the oracle
    and the dead letters are each malformed message once. Returns the
    store's rows by resolution."""
    wait_group_committed(dep.bootstrap, dep.ingest_group, dep.topic)
    for p in procs.values():
        fleet.stop(p)
    drain_store(fleet, dep)
    rows = check_oracle(bin_path, dep.store_dir, oracle, dep.tz)
    check_dead_letters(dep.bootstrap, dep.dead, dep.topic, bad)
    return rows


# -- the tests ------------------------------------------------------------------------

def test_three_ingest_one_store_equal_oracle_and_standalone(kafka3, bin_path, tmp_path,
                                                            topic_name, fleet):
    """Three ingest instances run while the data is produced, are stopped
    with SIGTERM, and `--drain` of the three finishes; then the store's
    `--drain`. Its windows equal the oracle and a standalone's over the same
    topic; its two shards come from the deltas topic's two partitions; its
    rollups are each once; the dead letters of both are each once. A second
    store on the same delta partitions (a replica: its own data_dir and
    rollup topic) drains too: its query outputs are byte for byte the
    first's."""
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ)
    procs = start_three(fleet, dep)
    produce_slowly(dep, chunks(msgs, 8))
    for p in procs.values():
        fleet.stop(p)
    drain_ingest(fleet, dep, INGEST)
    wait_group_committed(dep.bootstrap, dep.ingest_group, dep.topic, timeout=5)
    drain_store(fleet, dep)
    assert (dep.store_dir / "shard-1" / "data.mdb").exists()
    assert not (dep.store_dir / "shard-2").exists()
    rows = check_oracle(bin_path, dep.store_dir, oracle, PARKING_TZ)
    check_dead_letters(dep.bootstrap, dep.dead, dep.topic, bad)
    check_rollups(dep.bootstrap, dep.rollups, rows)

    replica_dir = tmp_path / "store-replica"
    replica = write_role_config(
        tmp_path / "store-replica.yaml", data_dir=replica_dir, group=dep.store_group,
        dead=dep.dead, rollups=dep.topic + ".replica.rollups", role="store",
        deltas=dep.deltas, **dep._common)
    p = fleet.start("store-replica", replica, "--drain")
    assert fleet.wait(p, 90) == 0, fleet.tail("store-replica")
    for res in RESOLUTIONS:
        out = [subprocess.run([bin_path("vigieq"), "--data-dir", str(d), "query",
                               "--resolution", res, "--tz", PARKING_TZ, "--format", "csv"],
                              capture_output=True, timeout=300).stdout
               for d in (dep.store_dir, replica_dir)]
        assert out[0] and out[0] == out[1], f"the store replica differs at {res}"

    drain_standalone(fleet, dep)
    for res in RESOLUTIONS:
        sa = read_windows(bin_path, dep.sa_dir, res, PARKING_TZ)
        oracle.check(sa, res)
        assert_same_windows(sa, rows[res], f"store vs standalone at {res}")
    check_dead_letters(dep.bootstrap, dep.sa_dead, dep.topic, bad)


def test_ingest_workers_per_process(kafka3, bin_path, tmp_path, topic_name, fleet):
    """Two ingest instances with `workers: 2` each: four group members (each
    worker its own consumer and transactional producer, vigie-ingest-ID-wN)
    share the six source partitions; the second instance joins while the
    first reads (a rebalance among workers of one process and another). The
    store's windows equal the oracle; each dead letter is there once."""
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ,
                     ingest_extra="workers: 2")
    procs = {"i0": start_ingest(fleet, dep, "i0")}
    wait_group_members(dep.bootstrap, dep.ingest_group, 2, fleet=fleet, procs=procs.values())
    parts = chunks(msgs, 8)
    produce_slowly(dep, parts[:4])
    procs["i1"] = start_ingest(fleet, dep, "i1")
    produce_slowly(dep, parts[4:])
    wait_group_members(dep.bootstrap, dep.ingest_group, 4, fleet=fleet, procs=procs.values())
    finish(fleet, bin_path, dep, procs, oracle, bad)
    log = fleet.log("i1")
    assert "vigie-ingest-i1-w0" in log and "vigie-ingest-i1-w1" in log, log[-2000:]


@pytest.mark.parametrize("restarted", [True, False], ids=["restarted", "not-restarted"])
def test_ingest_kill9_restarted_and_not(kafka3, bin_path, tmp_path, topic_name, fleet,
                                        restarted):
    """One of three ingest instances killed with SIGKILL while it works (its
    transaction open, likely): restarted at once under the same instance_id
    (fencing and aborting what its predecessor left open), or never again
    (the two others take its partitions once its session timed out, from
    the offsets committed with its last committed transaction). Nothing
    lost, nothing counted twice, each dead letter once."""
    rnd = seeded("kill -9")
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ,
                     ingest_properties=FAST_FAILOVER)
    procs = start_three(fleet, dep)
    parts = chunks(msgs, 10)
    produce_slowly(dep, parts[:3])
    wait_deltas(dep.bootstrap, dep.deltas)  # some transactions are in
    produce_partitioned(dep.bootstrap, dep.topic, parts[3])
    time.sleep(rnd.uniform(0.02, 0.4))
    fleet.kill9(procs["i1"])
    if restarted:
        procs["i1"] = start_ingest(fleet, dep, "i1")
    else:
        del procs["i1"]
    produce_slowly(dep, parts[4:])
    if restarted:  # and it took part again
        wait_group_members(dep.bootstrap, dep.ingest_group, 3, fleet=fleet,
                           procs=procs.values())
    finish(fleet, bin_path, dep, procs, oracle, bad)


def test_broker_killed_midstream(kafka3, bin_path, tmp_path, topic_name, fleet):
    """A broker (of the three) stopped while three ingest instances work and
    the data keeps coming, started again later: the transactions go on with
    two in-sync replicas; every window equals the oracle."""
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ)
    procs = start_three(fleet, dep)
    parts = chunks(msgs, 10)
    node = kafka3.nodes[1]
    try:
        produce_slowly(dep, parts[:3])
        wait_deltas(dep.bootstrap, dep.deltas)
        kafka3.stop_node(node)
        for c in parts[3:7]:
            produce_partitioned(dep.bootstrap, dep.topic, c)
            time.sleep(0.5)
        for p in procs.values():
            assert p.poll() is None, fleet.tail(p.name)
    finally:
        if node.proc.poll() is not None:
            kafka3.start_node(node)
            wait_brokers(kafka3, 3)
    produce_slowly(dep, parts[7:])
    finish(fleet, bin_path, dep, procs, oracle, bad)


def test_ingest_added_rebalance(kafka3, bin_path, tmp_path, topic_name, fleet):
    """One ingest instance reads the first half; two more join the group
    (a rebalance moves partitions away from the first, mid-stream) and the
    three read the rest. Every window equals the oracle."""
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ)
    procs = {"i0": start_ingest(fleet, dep, "i0")}
    wait_group_members(dep.bootstrap, dep.ingest_group, 1, fleet=fleet, procs=procs.values())
    parts = chunks(msgs, 10)
    produce_slowly(dep, parts[:5])
    wait_deltas(dep.bootstrap, dep.deltas)
    for n in INGEST[1:]:
        procs[n] = start_ingest(fleet, dep, n)
    produce_slowly(dep, parts[5:])  # while the group rebalances, and after
    wait_group_members(dep.bootstrap, dep.ingest_group, 3, fleet=fleet, procs=procs.values())
    finish(fleet, bin_path, dep, procs, oracle, bad)


def test_zombie_fenced(kafka3, bin_path, tmp_path, topic_name, fleet):
    """An ingest instance stopped with SIGSTOP while it works (epochs of 1 s:
    a transaction open) and left stopped past its session timeout (the
    others take its partitions) and its transaction timeout (its coordinator
    aborts it), then continued: its late transaction or offset commit is
    refused and it says so ("fenced" in its log); it then exits with an
    error or goes on. Nothing is counted twice, each dead letter is once."""
    rnd = seeded("zombie")
    msgs, bad, oracle = parking()
    dep = Deployment(kafka3, tmp_path, topic_name, PARKING_SOURCE, PARKING_TZ,
                     ingest_properties=FAST_FAILOVER, ingest_checkpoint="1s")
    procs = start_three(fleet, dep)
    parts = chunks(msgs, 10)
    produce_slowly(dep, parts[:3])
    wait_deltas(dep.bootstrap, dep.deltas)
    produce_partitioned(dep.bootstrap, dep.topic, parts[3])
    time.sleep(rnd.uniform(0.1, 0.6))
    zombie = procs.pop("i1")
    assert zombie.poll() is None, fleet.tail("i1")
    zombie.send_signal(signal.SIGSTOP)
    stopped_at = time.monotonic()
    produce_slowly(dep, parts[4:])
    # the two others took its partitions and committed them to the end
    wait_group_committed(dep.bootstrap, dep.ingest_group, dep.topic)
    time.sleep(max(0.0, stopped_at + TXN_ABORTED_AFTER_S - time.monotonic()))
    before = len(fleet.log("i1"))  # what it says from now on

    def said_fenced():
        return "fenced" in fleet.log("i1")[before:].lower()
    zombie.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 30  # for it to find out
    while time.monotonic() < deadline and zombie.poll() is None and not said_fenced():
        time.sleep(0.2)
    assert said_fenced(), fleet.tail("i1")
    try:  # it stopped on the error...
        rc = zombie.wait(timeout=5)
        assert rc != 0, f"the zombie exited 0 by itself\n{fleet.tail('i1')}"
    except subprocess.TimeoutExpired:  # ... or it went on, and stops cleanly
        fleet.stop(zombie)
    finish(fleet, bin_path, dep, procs, oracle, bad)


# The data sets whole (no subset): about 10-15 s each on 2 cores with 3 brokers,
# under a minute for the five.
@pytest.mark.parametrize("dataset", list(DATASETS))
def test_standalone_equals_roles_on_every_data_set(kafka3, kcat, bin_path, tmp_path,
                                                   topic_name, fleet, dataset):
    """Each real data set of test_e2e_datasets, whole, in a source topic of
    4 partitions keyed as there: a standalone `vigied --drain`, and three
    ingest `--drain` at once then the store's `--drain`, give the same
    hourly and daily windows (every statistic), both equal to the oracle,
    and the same dead letters (by source coordinates and bytes)."""
    msgs, source, tz, oracle = DATASETS[dataset]()
    dep = Deployment(kafka3, tmp_path, topic_name, source, tz, partitions=4)
    produce(kcat, dep.bootstrap, dep.topic, msgs)
    drain_standalone(fleet, dep)
    drain_ingest(fleet, dep, INGEST)
    drain_store(fleet, dep)
    for res in ("1h", "1d"):
        sa = read_windows(bin_path, dep.sa_dir, res, tz)
        got = read_windows(bin_path, dep.store_dir, res, tz)
        oracle.check(sa, res)
        oracle.check(got, res)
        assert_same_windows(sa, got, f"{dataset}: store vs standalone at {res}")
    roles_dl = dead_letter_coordinates(dep.bootstrap, dep.dead)
    sa_dl = dead_letter_coordinates(dep.bootstrap, dep.sa_dead)
    assert_once_each([c[:3] for c in roles_dl], "dead letters (by source coordinates)")
    assert sorted(roles_dl) == sorted(sa_dl)
