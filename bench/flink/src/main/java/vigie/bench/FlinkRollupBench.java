package vigie.bench;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.flink.api.common.JobExecutionResult;
import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.accumulators.LongCounter;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.core.execution.CheckpointingMode;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.assigners.WindowAssigner;
import org.apache.flink.streaming.api.windowing.triggers.EventTimeTrigger;
import org.apache.flink.streaming.api.windowing.triggers.Trigger;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The Apache Flink peer of bench/run.sh (issue 17): the same rollups as vigied
 * and bench/kstreams over vigie-gen's air-quality topic -- one series per
 * (metric, district, sensor), 1-minute, 1-hour and Europe/Paris local-day
 * tumbling event-time windows of count/sum/min/max/mean -- in a local
 * MiniCluster inside this JVM.
 *
 * The Kafka source reads the topic from the earliest offsets and is bounded at
 * the latest offsets seen when the job starts, so the job ends; event time is
 * the message's "ts", with a bounded-out-of-orderness watermark per partition
 * (vigied: out_of_orderness 10s, lateness 2h, idle_timeout 30s). Checkpoints
 * are EXACTLY_ONCE, to files under WORK_DIR; every emitted row goes to
 * OUT_TOPIC through the transactional (EXACTLY_ONCE) Kafka sink, whose
 * transactions commit with the checkpoints (the last one when the input ends).
 * After the job, the rows committed to OUT_TOPIC are counted with a
 * read_committed consumer (outside the timed part).
 *
 * Prints one JSON line: messages and events read, rows emitted per
 * resolution, rows committed, seconds (job submission to finish, including the
 * MiniCluster's start and the final checkpoint).
 *
 * usage: FlinkRollupBench BOOTSTRAP TOPIC OUT_TOPIC WORK_DIR [FIELD...]
 * system properties: parallelism (cores), checkpoint.ms (10000),
 * out_of_orderness.ms (10000), lateness.ms (7200000), idle.ms (30000),
 * verify (true: count the committed rows)
 */
public final class FlinkRollupBench {

    /** One reading of one series: a POJO, so Flink serializes it without Kryo. */
    public static final class Reading {
        public String series;
        public long ts;
        public double value;

        public Reading() {}

        Reading(String series, long ts, double value) {
            this.series = series;
            this.ts = ts;
            this.value = value;
        }
    }

    /** count, sum, min, max (mean = sum / count): a POJO accumulator. */
    public static final class Agg {
        public long count;
        public double sum;
        public double min = Double.POSITIVE_INFINITY;
        public double max = Double.NEGATIVE_INFINITY;

        public Agg() {}
    }

    // ---- the message format: the same parsing as bench/kstreams ----------

    /** The string value of "key":"..." in a flat JSON object, or null. */
    static String str(String json, String key) {
        int i = json.indexOf("\"" + key + "\"");
        if (i < 0) return null;
        i = json.indexOf('"', json.indexOf(':', i + key.length() + 2) + 1);
        if (i < 0) return null;
        int j = json.indexOf('"', i + 1);
        return j < 0 ? null : json.substring(i + 1, j);
    }

    /** The number after "key": in a flat JSON object, or NaN. */
    static double num(String json, String key) {
        int i = json.indexOf("\"" + key + "\"");
        if (i < 0) return Double.NaN;
        i = json.indexOf(':', i + key.length() + 2) + 1;
        int j = i;
        while (j < json.length() && " \t".indexOf(json.charAt(j)) >= 0) j++;
        int k = j;
        while (k < json.length() && "+-.0123456789eE".indexOf(json.charAt(k)) >= 0) k++;
        if (k == j) return Double.NaN;
        try {
            return Double.parseDouble(json.substring(j, k));
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    /** Event time from "ts": RFC 3339 string, or unix s / ms as a number. */
    static long eventMillis(String json) {
        String s = str(json, "ts");
        int i = json.indexOf("\"ts\"");
        if (i >= 0) {
            int c = json.indexOf(':', i + 4) + 1;
            while (c < json.length() && json.charAt(c) == ' ') c++;
            if (c < json.length() && json.charAt(c) == '"' && s != null) {
                try {
                    return OffsetDateTime.parse(s).toInstant().toEpochMilli();
                } catch (RuntimeException e) {
                    return -1;
                }
            }
            double v = num(json, "ts");
            if (Double.isNaN(v)) return -1;
            return v > 1e11 ? (long) v : (long) (v * 1000);
        }
        return -1;
    }

    /** A message into one Reading per field; undecodable messages are dropped. */
    static final class Parse implements KafkaRecordDeserializationSchema<Reading> {
        private final String[] fields;

        Parse(List<String> fields) { this.fields = fields.toArray(new String[0]); }

        @Override
        public void deserialize(org.apache.kafka.clients.consumer.ConsumerRecord<byte[], byte[]> r,
                                Collector<Reading> out) {
            if (r.value() == null) return;
            String v = new String(r.value(), StandardCharsets.UTF_8);
            long t = eventMillis(v);
            if (t < 0) return;
            String sensor = str(v, "sensor_id"), district = str(v, "district");
            for (String f : fields) {
                double x = num(v, f);
                if (!Double.isNaN(x))
                    out.collect(new Reading(f + "{district=\"" + district + "\",sensor_id=\""
                                            + sensor + "\"}", t, x));
            }
        }

        @Override
        public TypeInformation<Reading> getProducedType() { return TypeInformation.of(Reading.class); }
    }

    static final class BySeries implements KeySelector<Reading, String> {
        @Override public String getKey(Reading r) { return r.series; }
    }

    static final class AggFn implements AggregateFunction<Reading, Agg, Agg> {
        @Override public Agg createAccumulator() { return new Agg(); }
        @Override public Agg add(Reading r, Agg a) {
            a.count++;
            a.sum += r.value;
            if (r.value < a.min) a.min = r.value;
            if (r.value > a.max) a.max = r.value;
            return a;
        }
        @Override public Agg getResult(Agg a) { return a; }
        @Override public Agg merge(Agg a, Agg b) {
            a.count += b.count;
            a.sum += b.sum;
            a.min = Math.min(a.min, b.min);
            a.max = Math.max(a.max, b.max);
            return a;
        }
    }

    /** A window's result as one CSV row
     *  "resolution,series,start_ms,end_ms,count,sum,min,max,mean", counted. */
    static final class Emit extends ProcessWindowFunction<Agg, String, String, TimeWindow> {
        private final String res;
        private transient LongCounter rows, events;

        Emit(String res) { this.res = res; }

        @Override public void open(OpenContext c) {
            rows = getRuntimeContext().getLongCounter("rows_" + res);
            events = getRuntimeContext().getLongCounter("events_" + res);
        }

        @Override
        public void process(String series, Context ctx, Iterable<Agg> aggs, Collector<String> out) {
            Agg a = aggs.iterator().next();
            TimeWindow w = ctx.window();
            rows.add(1L);
            events.add(a.count);
            out.collect(res + "," + series + "," + w.getStart() + "," + w.getEnd() + ","
                        + a.count + "," + a.sum + "," + a.min + "," + a.max + ","
                        + (a.sum / a.count));
        }
    }

    /** Tumbling windows of one local day in a time zone (23 or 25 hours at
     *  the DST changes), as vigied's 1d rollups and kstreams' shifted days. */
    public static final class LocalDays extends WindowAssigner<Object, TimeWindow> {
        private final String zone;
        private transient ZoneId zid;
        private transient long lastStart = 1, lastEnd = 0; // an empty cache

        LocalDays(String zone) { this.zone = zone; }

        @Override
        public Collection<TimeWindow> assignWindows(Object e, long ts, WindowAssignerContext c) {
            if (ts < lastStart || ts >= lastEnd) {
                if (zid == null) zid = ZoneId.of(zone);
                ZonedDateTime day = Instant.ofEpochMilli(ts).atZone(zid).toLocalDate()
                    .atStartOfDay(zid);
                lastStart = day.toInstant().toEpochMilli();
                lastEnd = day.plusDays(1).toInstant().toEpochMilli();
            }
            return List.of(new TimeWindow(lastStart, lastEnd));
        }

        @Override public Trigger<Object, TimeWindow> getDefaultTrigger() { return EventTimeTrigger.create(); }
        @Override public TypeSerializer<TimeWindow> getWindowSerializer(ExecutionConfig c) {
            return new TimeWindow.Serializer();
        }
        @Override public boolean isEventTime() { return true; }
        @Override public String toString() { return "LocalDays(" + zone + ")"; }
    }

    static long prop(String name, long dflt) { return Long.getLong(name, dflt); }

    public static void main(String[] args) throws Exception {
        if (args.length < 4) {
            System.err.println("usage: FlinkRollupBench BOOTSTRAP TOPIC OUT_TOPIC WORK_DIR [FIELD...]");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1], outTopic = args[2], work = args[3];
        List<String> fields = new ArrayList<>();
        for (int i = 4; i < args.length; i++) fields.add(args[i]);
        if (fields.isEmpty()) fields = List.of("no2", "pm10", "pm25");
        int par = (int) prop("parallelism", Runtime.getRuntime().availableProcessors());
        Duration lateness = Duration.ofMillis(prop("lateness.ms", 7_200_000));
        String run = "vigie-bench-flink-" + System.currentTimeMillis();
        new File(work).mkdirs();

        // the input's size (its end offsets, as kstreams reads them) and the output topic
        long total = 0;
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            TopicDescription td = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            Map<TopicPartition, OffsetSpec> q = new HashMap<>();
            for (TopicPartitionInfo pi : td.partitions())
                q.put(new TopicPartition(topic, pi.partition()), OffsetSpec.latest());
            for (var e : admin.listOffsets(q).all().get().values()) total += e.offset();
            // The sink stamps each row with its window's event time (days or
            // months old); with the default CreateTime the broker rolls the
            // output's segments on that time's spread and its 7-day retention
            // deletes every closed segment at its next check (every 5 min),
            // rows that were committed. LogAppendTime: stamped when written.
            Map<String, String> outConf = Map.of("message.timestamp.type", "LogAppendTime");
            if (!admin.listTopics().names().get().contains(outTopic)) {
                admin.createTopics(List.of(new NewTopic(outTopic, 1, (short) 1).configs(outConf)))
                    .all().get();
            } else {
                ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, outTopic);
                admin.incrementalAlterConfigs(Map.of(r, List.of(new AlterConfigOp(
                    new ConfigEntry("message.timestamp.type", "LogAppendTime"),
                    AlterConfigOp.OpType.SET)))).all().get();
            }
        }

        Configuration conf = new Configuration();
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(prop("checkpoint.ms", 10_000)));
        conf.set(CheckpointingOptions.CHECKPOINTING_CONSISTENCY_MODE, CheckpointingMode.EXACTLY_ONCE);
        conf.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
        conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY,
                 new File(work, "checkpoints").toURI().toString());
        conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
        conf.set(CoreOptions.TMP_DIRS, new File(work, "tmp").getAbsolutePath());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(par, conf);
        // no defensive copies between chained operators: nothing here keeps
        // or changes a record it has passed on
        env.getConfig().enableObjectReuse();

        KafkaSource<Reading> source = KafkaSource.<Reading>builder()
            .setBootstrapServers(bootstrap)
            .setTopics(topic)
            .setGroupId(run)
            .setStartingOffsets(OffsetsInitializer.earliest())
            .setBounded(OffsetsInitializer.latest())
            .setDeserializer(new Parse(fields))
            .build();
        WatermarkStrategy<Reading> wm = WatermarkStrategy
            .<Reading>forBoundedOutOfOrderness(Duration.ofMillis(prop("out_of_orderness.ms", 10_000)))
            .withTimestampAssigner((r, previous) -> r.ts)
            .withIdleness(Duration.ofMillis(prop("idle.ms", 30_000)));
        KeyedStream<Reading, String> bySeries = env.fromSource(source, wm, "kafka " + topic)
            .keyBy(new BySeries(), Types.STRING);

        DataStream<String> m1 = bySeries.window(TumblingEventTimeWindows.of(Duration.ofMinutes(1)))
            .allowedLateness(lateness).aggregate(new AggFn(), new Emit("1m")).name("1m windows");
        DataStream<String> h1 = bySeries.window(TumblingEventTimeWindows.of(Duration.ofHours(1)))
            .allowedLateness(lateness).aggregate(new AggFn(), new Emit("1h")).name("1h windows");
        DataStream<String> d1 = bySeries.window(new LocalDays("Europe/Paris"))
            .allowedLateness(lateness).aggregate(new AggFn(), new Emit("1d")).name("1d windows");

        Properties pp = new Properties();
        // at most the broker's transaction.max.timeout.ms (15 min by default)
        pp.put("transaction.timeout.ms", "600000");
        KafkaSink<String> sink = KafkaSink.<String>builder()
            .setBootstrapServers(bootstrap)
            .setRecordSerializer(KafkaRecordSerializationSchema.<String>builder()
                                     .setTopic(outTopic)
                                     .setValueSerializationSchema(new SimpleStringSchema())
                                     .build())
            .setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .setTransactionalIdPrefix(run)
            .setKafkaProducerConfig(pp)
            .build();
        m1.union(h1, d1).sinkTo(sink).name("kafka " + outTopic + " (exactly once)");

        long t0 = System.nanoTime();
        JobExecutionResult res = env.execute(run);
        double secs = (System.nanoTime() - t0) / 1e9;

        long[] rows = new long[3];
        String[] names = {"1m", "1h", "1d"};
        long emitted = 0;
        for (int i = 0; i < 3; i++) {
            Long n = res.getAccumulatorResult("rows_" + names[i]);
            rows[i] = n == null ? 0 : n;
            emitted += rows[i];
        }
        Long ev = res.getAccumulatorResult("events_1m");
        long events = ev == null ? 0 : ev;

        long committed = -1;
        if (Boolean.parseBoolean(System.getProperty("verify", "true")))
            committed = committedRecords(bootstrap, outTopic, emitted);

        System.out.printf("{\"messages\": %d, \"events\": %d, \"rows\": {\"1m\": %d, \"1h\": %d, "
                          + "\"1d\": %d}, \"rows_emitted\": %d, \"rows_committed\": %d, "
                          + "\"parallelism\": %d, \"seconds\": %.3f, \"events_per_s\": %.1f}%n",
                          total, events, rows[0], rows[1], rows[2], emitted, committed, par,
                          secs, events / secs);
        System.exit(committed >= 0 && committed != emitted ? 1 : 0);
    }

    /**
     * The records of a topic visible to a read_committed consumer. The
     * broker writes a committed transaction's markers to the partitions after
     * the commit returns, so the last stable offsets may still stop before the
     * job's last transaction when it ends: they are read again until expected
     * records are seen or they stay where they are for 30 s.
     */
    static long committedRecords(String bootstrap, String topic, long expected) {
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "10000");
        try (KafkaConsumer<byte[], byte[]> c =
                 new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            c.partitionsFor(topic).forEach(p -> tps.add(new TopicPartition(topic, p.partition())));
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps); // the last stable offsets
            long n = 0;
            long movedAt = System.nanoTime();
            while (true) {
                boolean done = true;
                for (TopicPartition tp : tps)
                    if (c.position(tp) < end.get(tp)) done = false;
                if (done) {
                    if (n >= expected || System.nanoTime() - movedAt > 30_000_000_000L)
                        return n;
                    Map<TopicPartition, Long> now = c.endOffsets(tps);
                    if (now.equals(end)) {
                        Thread.sleep(200);
                    } else {
                        movedAt = System.nanoTime();
                        end = now;
                    }
                    continue;
                }
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(500));
                n += rs.count();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }
}
