package vigie.bench;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.Serializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;
import org.apache.kafka.streams.state.WindowStore;

/**
 * The same rollups as vigied over vigie-gen's air-quality topic: one series per
 * (metric, sensor), 1-minute, 1-hour and Europe/Paris local-day tumbling
 * windows of count/sum/min/max (mean = sum/count), exactly_once_v2.
 * Prints one JSON line when its committed offsets reach the input's end.
 *
 * usage: RollupBench BOOTSTRAP TOPIC STATE_DIR [FIELD...]
 */
public final class RollupBench {

    /** count, sum, min, max: mergeable, 32 bytes. */
    static final class Agg {
        long count;
        double sum, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;

        Agg add(double v) {
            count++;
            sum += v;
            if (v < min) min = v;
            if (v > max) max = v;
            return this;
        }
    }

    static final class AggSerde implements Serde<Agg>, Serializer<Agg>, Deserializer<Agg> {
        @Override public byte[] serialize(String topic, Agg a) {
            if (a == null) return null;
            return ByteBuffer.allocate(32).putLong(a.count).putDouble(a.sum)
                .putDouble(a.min).putDouble(a.max).array();
        }
        @Override public Agg deserialize(String topic, byte[] b) {
            if (b == null) return null;
            ByteBuffer bb = ByteBuffer.wrap(b);
            Agg a = new Agg();
            a.count = bb.getLong(); a.sum = bb.getDouble();
            a.min = bb.getDouble(); a.max = bb.getDouble();
            return a;
        }
        @Override public void configure(Map<String, ?> c, boolean isKey) {}
        @Override public void close() {}
        @Override public Serializer<Agg> serializer() { return this; }
        @Override public Deserializer<Agg> deserializer() { return this; }
    }

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

    public static final class Extractor implements TimestampExtractor {
        @Override public long extract(ConsumerRecord<Object, Object> r, long partitionTime) {
            Object v = r.value();
            long t = v instanceof String ? eventMillis((String) v) : -1;
            return t >= 0 ? t : partitionTime; // undecodable: dropped below
        }
    }

    /** Moves a record's timestamp to Paris local time so that epoch-aligned
     *  1-day windows are local days (23 or 25 hours at the DST changes). */
    static final class ToLocal implements FixedKeyProcessor<String, Double, Double> {
        static final ZoneId ZONE = ZoneId.of("Europe/Paris");
        private FixedKeyProcessorContext<String, Double> ctx;
        @Override public void init(FixedKeyProcessorContext<String, Double> c) { ctx = c; }
        @Override public void process(FixedKeyRecord<String, Double> r) {
            long t = r.timestamp();
            long off = ZONE.getRules().getOffset(Instant.ofEpochMilli(t)).getTotalSeconds() * 1000L;
            ctx.forward(r.withTimestamp(t + off));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: RollupBench BOOTSTRAP TOPIC STATE_DIR [FIELD...]");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1], stateDir = args[2];
        List<String> fields = new ArrayList<>();
        for (int i = 3; i < args.length; i++) fields.add(args[i]);
        if (fields.isEmpty()) fields = List.of("no2", "pm10", "pm25");
        final List<String> fs = fields;
        String appId = "vigie-bench-kstreams-" + System.currentTimeMillis();

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        p.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG,
              Integer.getInteger("threads", Runtime.getRuntime().availableProcessors()));
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 1000); // vigied: checkpoint_interval 1s
        p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        p.put(StreamsConfig.DEFAULT_TIMESTAMP_EXTRACTOR_CLASS_CONFIG, Extractor.class);
        p.put(StreamsConfig.consumerPrefix("auto.offset.reset"), "earliest");

        Serde<String> ss = Serdes.String();
        AggSerde as = new AggSerde();
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> in = b.stream(topic, Consumed.with(ss, ss));
        // the series is metric + tags, so re-key with flatMap: one
        // repartition topic, as any Streams app keyed by sensor but
        // aggregating per metric would have
        KStream<String, Double> series = in.flatMap((k, v) -> {
            List<KeyValue<String, Double>> out = new ArrayList<>(fs.size());
            if (v == null || eventMillis(v) < 0) return out;
            String sensor = str(v, "sensor_id"), district = str(v, "district");
            for (String f : fs) {
                double x = num(v, f);
                if (!Double.isNaN(x))
                    out.add(KeyValue.pair(f + "{district=\"" + district + "\",sensor_id=\""
                                          + sensor + "\"}", x));
            }
            return out;
        });
        // one repartition topic by series, shared by the three resolutions
        KStream<String, Double> bySeries =
            series.repartition(Repartitioned.with(ss, Serdes.Double()).withName("series"));
        Grouped<String, Double> g = Grouped.with(ss, Serdes.Double());
        var grouped = bySeries.groupByKey(g);
        Duration grace = Duration.ofHours(2); // vigied: windows.lateness 2h
        grouped.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), grace))
            .aggregate(Agg::new, (k, v, a) -> a.add(v),
                       Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("w1m")
                           .withKeySerde(ss).withValueSerde(as));
        grouped.windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofHours(1), grace))
            .aggregate(Agg::new, (k, v, a) -> a.add(v),
                       Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("w1h")
                           .withKeySerde(ss).withValueSerde(as));
        // local days: shift the timestamps by the Paris offset, then 1-day windows
        bySeries.processValues(ToLocal::new).groupByKey(g)
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofDays(1), grace))
            .aggregate(Agg::new, (k, v, a) -> a.add(v),
                       Materialized.<String, Agg, WindowStore<Bytes, byte[]>>as("w1d")
                           .withKeySerde(ss).withValueSerde(as));

        // end offsets of the input, fixed before start
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(ap)) {
            TopicDescription td = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            Map<TopicPartition, OffsetSpec> q = new HashMap<>();
            for (TopicPartitionInfo pi : td.partitions())
                q.put(new TopicPartition(topic, pi.partition()), OffsetSpec.latest());
            Map<TopicPartition, Long> end = new HashMap<>();
            for (var e : admin.listOffsets(q).all().get().entrySet())
                end.put(e.getKey(), e.getValue().offset());
            long total = 0;
            for (long o : end.values()) total += o;

            KafkaStreams ks = new KafkaStreams(b.build(), p);
            CountDownLatch dead = new CountDownLatch(1);
            ks.setStateListener((n, o) -> {
                if (n == KafkaStreams.State.ERROR || n == KafkaStreams.State.NOT_RUNNING) dead.countDown();
            });
            long t0 = System.nanoTime();
            ks.start();
            boolean done = false;
            while (!done && dead.getCount() > 0) {
                Thread.sleep(200);
                Map<TopicPartition, OffsetAndMetadata> c =
                    admin.listConsumerGroupOffsets(appId).partitionsToOffsetAndMetadata().get();
                done = true;
                for (var e : end.entrySet()) {
                    OffsetAndMetadata m = c.get(e.getKey());
                    if (e.getValue() > 0 && (m == null || m.offset() < e.getValue())) {
                        done = false;
                        break;
                    }
                }
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            ks.close(Duration.ofSeconds(30));
            if (!done) {
                System.err.println("kstreams: the application died before the end of the input");
                System.exit(1);
            }
            System.out.printf("{\"messages\": %d, \"seconds\": %.3f, \"messages_per_s\": %.1f}%n",
                              total, secs, total / secs);
        }
        System.exit(0);
    }
}
