/*
 * Unit tests of engine/daemon/config.c: a complete sample configuration
 * parses to the values it states, every kind of mistake is reported with its
 * file, line and key, and docs/configuration.md is what the table generates.
 */
#include <errno.h>
#include <string.h>

#include "testutil.h"
#include "vigie/calendar.h"
#include "vigie/codec.h"
#include "vigie/config.h"
#include "vigie/error.h"
#include "vigie/log.h"

/* A sample using every section and most keys. */
static const char sample[] =
    "data_dir: /var/lib/vigie\n"
    "timezone: Europe/Paris            # local days for 1d rollups\n"
    "windows: {base: 1m, lateness: 2h, out_of_orderness: 10s, idle_timeout: 30s}\n"
    "checkpoint_interval: 1s\n"
    "kafka:\n"
    "  brokers: 127.0.0.1:9092         # or: embedded\n"
    "  group: vigie\n"
    "  dead_letter_topic: vigie.dead\n"
    "  rollup_topic: vigie.rollups\n"
    "sources:\n"
    "  - topic: air-quality\n"
    "    format: json                  # json | influx | senml (csv for file backfill)\n"
    "    time_key: ts\n"
    "    time_format: auto             # unix | unix_ms | unix_us | unix_ns | rfc3339 | "
    "auto\n"
    "    time_zone: UTC                # for timestamps written without an offset\n"
    "    entity_key: sensor_id         # becomes the tag sensor_id=\"...\"\n"
    "    tag_keys: [district]\n"
    "    fields: [no2, pm10, pm25]     # each becomes a metric; default: all numeric\n"
    "  - topic: traffic\n"
    "    format: json\n"
    "    time_key: ts\n"
    "    entity_key: counter_id\n"
    "    tag_keys: [direction, vehicle_class]\n"
    "    count_as: passages            # each event adds 1 to metric \"passages\"\n"
    "    distinct_key: device_hash     # distinct-count sketch per window\n"
    "http: {listen: 127.0.0.1:8080}\n"
    "memory_limit: 2GiB\n"
    "datasets:\n"
    "  - id: qualite-air-horaire\n"
    "    title: \"Qualit\xc3\xa9 de l'air \xe2\x80\x94 moyennes horaires\"\n"
    "    resolution: 1h\n"
    "    metrics: [no2, pm10, pm25]\n"
    "    columns: [mean, min, max, count]\n"
    "    license: etalab-2.0\n"
    "  - id: passages-velo-jour\n"
    "    resolution: 1d\n"
    "    metrics: [passages]\n"
    "    columns: [sum]\n"
    "    suppress_below: 10\n";

static char err[8192];

static int parse(const char *text, struct vg_config *cfg) {
  return vg_config_parse("vigie.yaml", text, strlen(text), cfg, err, sizeof err);
}

static void design_sample_parses(void **state) {
  (void)state;
  struct vg_config c;
  assert_int_equal(parse(sample, &c), 0);
  assert_string_equal(c.timezone, "Europe/Paris");
  assert_int_equal(c.base_ns, 60000000000LL);
  assert_int_equal(c.lateness_ns, 7200000000000LL);
  assert_int_equal(c.out_of_orderness_ns, 10000000000LL);
  assert_int_equal(c.idle_timeout_ns, 30000000000LL);
  assert_int_equal(c.checkpoint_interval_ns, 1000000000LL);
  assert_int_equal(c.memory_limit, 2LL << 30);
  assert_string_equal(c.kafka_brokers, "127.0.0.1:9092");
  assert_string_equal(c.kafka_dead_letter_topic, "vigie.dead");
  assert_string_equal(c.http_listen, "127.0.0.1:8080");
  assert_int_equal(c.nsources, 2);
  assert_string_equal(c.sources[0].topic, "air-quality");
  assert_int_equal(c.sources[0].format, VG_FORMAT_JSON);
  assert_int_equal(c.sources[0].time_format, VG_TIME_AUTO);
  assert_int_equal(c.sources[0].fields.n, 3);
  assert_string_equal(c.sources[0].fields.v[2], "pm25");
  assert_null(c.sources[0].fields.v[3]);
  assert_string_equal(c.sources[1].count_as, "passages");
  assert_string_equal(c.sources[1].distinct_key, "device_hash");
  assert_int_equal(c.sources[1].line, 19);
  assert_int_equal(c.ndatasets, 2);
  assert_string_equal(c.datasets[0].def.title,
                      "Qualit\xc3\xa9 de l'air \xe2\x80\x94 moyennes horaires");
  assert_int_equal(c.datasets[0].def.resolution, VG_RES_HOUR);
  assert_int_equal(c.datasets[1].def.suppress_below, 10);
  assert_int_equal(c.datasets[1].def.columns.n, 1);
  /* defaults */
  assert_int_equal(c.retention_base_ns, 14 * 86400 * 1000000000LL);
  assert_int_equal(c.retention_1h_ns, 0);
  assert_int_equal(c.datasets[1].def.status, VG_DATASET_FINAL);
  assert_string_equal(c.datasets[1].def.license, "etalab-2.0");
  assert_int_equal(c.sources[1].precision, VG_PRECISION_NS);
  assert_int_equal(c.sources[1].dedupe, 0); /* opt-in */
  assert_int_equal(c.sources[1].dedupe_max, 10000);
  assert_int_equal(c.retention_dedupe_ns, 86400 * 1000000000LL);
  assert_int_equal(c.datasets[1].def.resolution, VG_RES_DAY);
  assert_int_equal(c.durability, VG_STORE_SYNC);
  assert_int_equal(c.log_level, VG_LOG_INFO);
  assert_int_equal(c.publish_emit_log_max, 10000000);
  /* what publication receives: the definitions, the store's zone and the
   * count_as metrics of the sources */
  struct vg_api_opts ao;
  assert_int_equal(vg_config_api(&c, &ao), 0);
  assert_int_equal(ao.ndatasets, 2);
  assert_string_equal(ao.datasets[1].id, "passages-velo-jour");
  assert_string_equal(ao.env.store_timezone, "Europe/Paris");
  assert_int_equal(ao.env.ncount_as, 1);
  assert_string_equal(ao.env.count_as[0], "passages");
  vg_config_api_release(&ao);
  vg_config_release(&c);
  /* every enum key stores the value of its module's enum */
  assert_int_equal(
      parse("log_level: debug\nstore: {durability: async}\nsources:\n"
            "  - topic: a\n    format: senml\n  - topic: b\n    format: influx\n"
            "    precision: ms\n  - topic: c\n    time_key: t\n"
            "    time_format: rfc3339\n",
            &c),
      0);
  assert_int_equal(c.log_level, VG_LOG_DEBUG);
  assert_int_equal(c.durability, VG_STORE_NOSYNC);
  assert_int_equal(c.sources[0].format, VG_FORMAT_SENML);
  assert_int_equal(c.sources[1].format, VG_FORMAT_INFLUX);
  assert_int_equal(c.sources[1].precision, VG_PRECISION_MS);
  assert_int_equal(c.sources[2].time_format, VG_TIME_RFC3339);
  vg_config_release(&c);
  /* the dedupe keys */
  assert_int_equal(
      parse("retention: {dedupe: 2d}\nsources:\n  - topic: a\n    time_key: t\n"
            "    dedupe: true\n    dedupe_max: 500\n",
            &c),
      0);
  assert_int_equal(c.sources[0].dedupe, 1);
  assert_int_equal(c.sources[0].dedupe_max, 500);
  assert_int_equal(c.retention_dedupe_ns, 2 * 86400 * 1000000000LL);
  vg_config_release(&c);
  /* the emit log's bound */
  assert_int_equal(
      parse("publish: {emit_log_max: 50}\nsources: [{topic: a, time_key: t}]\n", &c), 0);
  assert_int_equal(c.publish_emit_log_max, 50);
  vg_config_release(&c);
}

/* The head of the indicator cases: a source and a dataset "air" (lines 1-3),
 * then "indicators:" at line 4. */
#define IND_HEAD                                                                         \
  "sources: [{topic: a, time_key: t}]\ndatasets:\n"                                      \
  "  - {id: air, resolution: 1h, metrics: [pm10, no2], sensor_period: 10m}\n"            \
  "indicators:\n"

/* Each case: a file and a line of the error report it must produce. */
static const struct {
  const char *text;
  const char *expect;
} bad[] = {
    {"windows: {lateness: soon}\nsources: [{topic: a, time_key: t}]\n",
     "vigie.yaml:1: windows.lateness: expected a duration such as 90s, 15m, 2h or 1d, "
     "got \"soon\""},
    {"sources: [{topic: a, time_key: t}]\nwindws: {base: 1m}\n",
     "vigie.yaml:2: unknown key \"windws\" (did you mean \"windows.base\"?)"},
    {"sources: [{topic: a, time_key: t}]\ncheckpoint_interval: 5\n",
     "vigie.yaml:2: checkpoint_interval: expected a duration"},
    {"sources: [{topic: a, time_key: t}]\ncheckpoint_interval: 0s\n",
     "vigie.yaml:2: checkpoint_interval: 0s is out of range [10ms, 1h]"},
    {"timezone: Europe/Pariss\nsources: [{topic: a, time_key: t}]\n",
     "vigie.yaml:1: timezone: expected an IANA time zone such as Europe/Paris, got "
     "\"Europe/Pariss\""},
    {"sources:\n  - topic: a\n    format: json\n",
     "vigie.yaml:2: sources[0] (topic a): time_key is required for format json"},
    {"sources:\n  - topic: a\n    time_key: t\n    quantiles: maybe\n",
     "vigie.yaml:4: sources[0].quantiles: expected true or false, got \"maybe\""},
    {"sources:\n  - topic: a\n    time_key: t\n    format: xml\n",
     "vigie.yaml:4: sources[0].format: expected one of json, influx, senml, vigie, got "
     "\"xml\""},
    {"sources:\n  - topic: a\n    time_key: t\n    colour: red\n",
     "vigie.yaml:4: unknown key \"sources[0].colour\""},
    {"sources:\n  - time_key: t\n", "vigie.yaml:2: sources[0].topic is required"},
    {"data_dir: /x\n", "vigie.yaml:1: sources is required"},
    {"sources: []\n", "vigie.yaml:1: sources: the list is empty"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n  - id: x\n    resolution: 1d\n    metrics: [m]\n",
     "vigie.yaml:6: datasets[1].id: \"x\" is already the id of the dataset at line 3"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: Air Quality\n"
     "    resolution: 1h\n    metrics: [m]\n",
     "datasets[0].id: \"Air Quality\" must be lower-case letters, digits"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1w\n"
     "    metrics: [m]\n",
     "vigie.yaml:4: datasets[0].resolution: expected one of 1h, 1d, got \"1w\""},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    columns: [mean, median]\n",
     "vigie.yaml:6: datasets[0].columns: \"median\" is not one of count, sum"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n",
     "vigie.yaml:3: datasets[0].metrics is required"},
    {"sources: [{topic: a, time_key: t}]\nwindows: {base: 7m}\n",
     "vigie.yaml:2: windows.base: 7m does not divide an hour"},
    {"sources: [{topic: a, time_key: t}]\nhttp:\n  public_url: data.example.org\n",
     "vigie.yaml:3: http.public_url: expected an absolute http:// or https:// URL"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    hvd_category: mobility\n    contact_point: a@b.org\n",
     "vigie.yaml:3: datasets[0].hvd_category: expected a code of the EU high-value "
     "categories such as c_b79e35eb"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    hvd_category: c_b79e35eb\n",
     "vigie.yaml:3: datasets[0].contact_point is required with hvd_category"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    contact_point: \"x <a@b.org>\"\n",
     "vigie.yaml:3: datasets[0].contact_point: expected an e-mail address"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    schema: comptage-mobilites\n    columns: [count]\n",
     "vigie.yaml:3: datasets[0].schema: comptage-mobilites needs entity_tag"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    schema: comptage-mobilites\n    columns: [count]\n",
     "vigie.yaml:3: datasets[0].columns: comptage-mobilites counts with the sum column"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    schema: comptage-mobilites\n    mobility_type: bike\n",
     "vigie.yaml:3: datasets[0].mobility_type: comptage-mobilites needs one of BIKE"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    schema: comptages\n",
     "vigie.yaml:6: datasets[0].schema: expected one of none, comptage-mobilites"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    insee_codes: {c1: \"2C001\"}\n",
     "vigie.yaml:3: datasets[0].insee_codes.c1: expected an INSEE commune code"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    mobility_type: BIKE\n",
     "vigie.yaml:3: datasets[0]: mobility_type, site_names and insee_codes are keys of "
     "schema: comptage-mobilites"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    merge_by: [road]\n    tag_columns: [road, site]\n",
     "vigie.yaml:7: datasets[0].tag_columns: \"site\" is not one of merge_by"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    merge_by: [road]\n    entity_tag: site\n",
     "vigie.yaml:7: datasets[0].entity_tag: \"site\" is not one of merge_by"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    merge_by: [road, road]\n",
     "vigie.yaml:6: datasets[0].merge_by: \"road\" is listed twice"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    merge_by: [\"a b\"]\n",
     "vigie.yaml:6: datasets[0].merge_by: \"a b\" is not a tag name"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: x\n    resolution: 1h\n"
     "    metrics: [m]\n    merge_by: []\n",
     "vigie.yaml:6: datasets[0].merge_by: the list is empty"},
    {"sources: [{topic: a, time_key: t}, {topic: a, time_key: u}]\n",
     "sources[1]: topic \"a\" is already consumed by the source at line 1"},
    {"sources: [{topic: a, time_key: t}]\ndata_dir: [a, b]\n",
     "vigie.yaml:2: data_dir: expected a single string value, not a list"},
    {"sources: [{topic: a, time_key: t}]\nkafka: {properties: [a]}\n",
     "vigie.yaml:2: kafka.properties: expected a mapping"},
    {"sources:\n  - topic: a\n   time_key: x\n", "vigie.yaml:3: YAML: "},
    {"sources: [{topic: a, time_key: t}]\nwindows: {base: 1m}\nwindows: {lateness: 1h}\n",
     "vigie.yaml:3: key \"windows\" is given twice (first at line 2)"},
    {"sources: [{topic: a, time_key: t, topic: b}]\n",
     "vigie.yaml:1: key \"sources[0].topic\" is given twice (first at line 1)"},
    /* regression (config_yaml fuzzer): libfyaml 0.7.12 crashed on these bytes */
    {"? s: \t - ", "vigie.yaml:1: "},
    /* regression (config_yaml fuzzer): not UTF-8, reported before parsing */
    {"sources:\n%\xff\xff\n", "vigie.yaml:2: invalid UTF-8 at byte 10 (0xff)"},
    {"sources: [{topic: a, time_key: t, max_message_bytes: 10}]\n",
     "sources[0].max_message_bytes: 10 is out of range [64, 1073741824]"},
    {"sources: [{topic: a, time_key: t, dedupe: true, dedupe_max: 0}]\n",
     "sources[0].dedupe_max: 0 is out of range [1, 10000000]"},
    {"sources: [{topic: a, time_key: t}]\nretention: {dedupe: 10m}\n",
     "vigie.yaml:2: retention.dedupe: 10m is shorter than 1h"},
    {"sources: [{topic: a, time_key: t}]\nmemory_limit: 2GB\n",
     "vigie.yaml:2: memory_limit: expected a size such as 512MiB or 2GiB, or off, got "
     "\"2GB\""},
    {"sources: [{topic: a, time_key: t}]\nmemory_limit: 1MiB\n",
     "vigie.yaml:2: memory_limit: 1MiB is out of range [64MiB, 1TiB]"},
    {"sources: [{topic: a, time_key: t}]\nstore: {shards: many}\n",
     "vigie.yaml:2: store.shards: expected an integer or auto, got \"many\""},
    {"sources: [{topic: a, time_key: t}]\nstore: {shards: 0}\n",
     "vigie.yaml:2: store.shards: 0 is out of range [1, 64]"},
    /* publish.emit_log_max: a count of records, never 0 (no unbounded log) */
    {"sources: [{topic: a, time_key: t}]\npublish:\n  emit_log_max: 0\n",
     "vigie.yaml:3: publish.emit_log_max: 0 is out of range [1, 1000000000000]"},
    {"sources: [{topic: a, time_key: t}]\npublish: {emit_log_max: lots}\n",
     "vigie.yaml:2: publish.emit_log_max: expected an integer, got \"lots\""},
    {"sources: [{topic: a, time_key: t}]\npublish: {emit_log_max: -5}\n",
     "vigie.yaml:2: publish.emit_log_max: -5 is out of range"},
    /* indicators: the line of the key, also for rules checked after parsing */
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: pm10\n    statistic: median\n",
     "vigie.yaml:8: indicators[0].statistic: expected one of mean, sum, min, max, p95, "
     "count, exceedances, got \"median\""},
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: o3\n    statistic: mean\n",
     "vigie.yaml:7: indicators[0].metric: \"o3\" is not one of the metrics of dataset "
     "\"air\""},
    {IND_HEAD "  - id: x\n    dataset: eau\n    metric: pm10\n    statistic: mean\n",
     "vigie.yaml:6: indicators[0].dataset: \"eau\" is not the id of a dataset"},
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: pm10\n"
              "    statistic: exceedances\n",
     "vigie.yaml:5: indicators[0].threshold: required with statistic exceedances"},
    {IND_HEAD "  - id: x\n    preset: eu-pm10-daily-exceedances\n    dataset: air\n"
              "    metric: pm10\n    threshold: 45\n",
     "vigie.yaml:9: indicators[0].threshold: preset eu-pm10-daily-exceedances defines "
     "it"},
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: pm10\n    statistic: mean\n"
              "    objective: {target: lots}\n",
     "vigie.yaml:9: indicators[0].objective.target: expected a number, got \"lots\""},
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: pm10\n    statistic: mean\n"
              "  - id: x\n    dataset: air\n    metric: pm10\n    statistic: max\n",
     "vigie.yaml:9: indicators[1].id: \"x\" is already the id of the indicator at line "
     "5"},
    {IND_HEAD "  - id: x\n    dataset: air\n    metric: pm10\n    statistic: mean\n"
              "    hours_min: 30\n",
     "vigie.yaml:9: indicators[0].hours_min: 30 is out of range [0, 25]"},
    {"sources: [{topic: a, time_key: t}]\ndatasets:\n  - {id: indicateurs, resolution: "
     "1h, metrics: [m]}\nindicators:\n  - {id: x, dataset: indicateurs, metric: m, "
     "statistic: sum}\n",
     "vigie.yaml:3: datasets[0].id: \"indicateurs\" is the dataset of the indicators' "
     "rows"},
};

static void mistakes_name_file_line_and_key(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct vg_config c;
    int rc = parse(bad[i].text, &c);
    if (rc != VG_ECONFIG || !strstr(err, bad[i].expect))
      fail_msg("case %zu: rc %d, report:\n%s\nwanted a line containing:\n%s", i, rc, err,
               bad[i].expect);
    /* nothing is held after an error */
    assert_null(c.sources);
    assert_null(c.data_dir);
  }
}

/* The scale-out keys: role, instance_id, kafka.deltas_topic; a key that
 * does nothing in the role is a warning naming file, line and key (the
 * file stays valid: one file may serve every role). */
static void roles_parse_and_warn_about_keys_without_effect(void **state) {
  (void)state;
  struct vg_config c;
  assert_int_equal(parse("sources:\n  - topic: a\n    time_key: t\n", &c), 0);
  assert_int_equal(c.role, VG_ROLE_STANDALONE);
  assert_string_equal(c.kafka_deltas_topic, "vigie.deltas");
  assert_null(c.instance_id);
  vg_config_release(&c);
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  assert_non_null(tmp);
  dup2(fileno(tmp), 2);
  int rc = parse("role: ingest\ninstance_id: gw-1\nkafka: {deltas_topic: d}\n"
                 "store: {shards: 2}\nsources:\n  - topic: a\n    time_key: t\n",
                 &c);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(rc, 0);
  assert_int_equal(c.role, VG_ROLE_INGEST);
  assert_string_equal(c.instance_id, "gw-1");
  assert_string_equal(c.kafka_deltas_topic, "d");
  vg_config_release(&c);
  char log[2048] = "";
  rewind(tmp);
  size_t n = fread(log, 1, sizeof log - 1, tmp);
  log[n] = '\0';
  fclose(tmp);
  assert_non_null(strstr(log, "without effect"));
  assert_non_null(strstr(log, "line=4 key=store.shards"));
  assert_null(strstr(log, "key=instance_id"));
  assert_int_equal(parse("role: store\nsources:\n  - topic: a\n    time_key: t\n", &c),
                   0);
  assert_int_equal(c.role, VG_ROLE_STORE);
  vg_config_release(&c);
  assert_int_equal(parse("role: cluster\nsources:\n  - topic: a\n    time_key: t\n", &c),
                   VG_ECONFIG);
  assert_non_null(strstr(err, "vigie.yaml:1: role"));
}

static void every_error_is_reported(void **state) {
  (void)state;
  struct vg_config c;
  assert_int_equal(parse("sources:\n  - topic: a\n    time_key: t\n    format: xml\n"
                         "windows: {lateness: soon, base: 7m}\nfoo: 1\n",
                         &c),
                   VG_ECONFIG);
  assert_non_null(strstr(err, "vigie.yaml:4: sources[0].format"));
  assert_non_null(strstr(err, "vigie.yaml:5: windows.lateness"));
  assert_non_null(strstr(err, "vigie.yaml:5: windows.base: 7m"));
  assert_non_null(strstr(err, "vigie.yaml:6: unknown key \"foo\""));
}

static void properties_pass_through(void **state) {
  (void)state;
  struct vg_config c;
  assert_int_equal(
      parse("sources: [{topic: a, time_key: t}]\nkafka:\n  brokers: embedded\n"
            "  properties:\n    security.protocol: SASL_SSL\n"
            "    sasl.mechanism: PLAIN\n",
            &c),
      0);
  assert_string_equal(c.kafka_brokers, "embedded");
  assert_int_equal(c.kafka_properties.n, 4);
  assert_string_equal(c.kafka_properties.v[0], "security.protocol");
  assert_string_equal(c.kafka_properties.v[3], "PLAIN");
  assert_null(c.kafka_properties.v[4]);
  vg_config_release(&c);
}

static void durations_parse(void **state) {
  (void)state;
  int64_t ns;
  assert_int_equal(vg_parse_duration("500ms", &ns), 0);
  assert_int_equal(ns, 500000000);
  assert_int_equal(vg_parse_duration("1h30m", &ns), 0);
  assert_int_equal(ns, 5400LL * 1000000000);
  assert_int_equal(vg_parse_duration("2d", &ns), 0);
  assert_int_equal(ns, 172800LL * 1000000000);
  assert_int_equal(vg_parse_duration("15m", &ns), 0);
  assert_int_equal(ns, 900LL * 1000000000);
  static const char *const no[] = {
      "", "5", "m", "-1s", "1.5h", "1y", "3 s", "99999999999999999999s", "1msx"};
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (vg_parse_duration(no[i], &ns) != -EINVAL)
      fail_msg("\"%s\" was accepted as a duration", no[i]);
}

static void sizes_parse(void **state) {
  (void)state;
  int64_t b;
  assert_int_equal(vg_parse_size("512MiB", &b), 0);
  assert_int_equal(b, 512LL << 20);
  assert_int_equal(vg_parse_size("1GiB", &b), 0);
  assert_int_equal(b, 1LL << 30);
  assert_int_equal(vg_parse_size("4096", &b), 0);
  assert_int_equal(b, 4096);
  assert_int_equal(vg_parse_size("7B", &b), 0);
  assert_int_equal(b, 7);
  assert_int_equal(vg_parse_size("3TiB", &b), 0);
  assert_int_equal(b, 3LL << 40);
  static const char *const no[] = {"",
                                   "GiB",
                                   "-1GiB",
                                   "1.5GiB",
                                   "1 GiB",
                                   "1gb",
                                   "1GB",
                                   "1G",
                                   "1GiBs",
                                   "9000000TiB",
                                   "+1",
                                   "0x10",
                                   "99999999999999999999"};
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    if (vg_parse_size(no[i], &b) != -EINVAL)
      fail_msg("\"%s\" was accepted as a size", no[i]);
  /* off and the default are no limit */
  struct vg_config c;
  assert_int_equal(parse("sources: [{topic: a, time_key: t}]\nmemory_limit: off\n", &c),
                   0);
  assert_int_equal(c.memory_limit, 0);
  vg_config_release(&c);
  assert_int_equal(parse("sources: [{topic: a, time_key: t}]\n", &c), 0);
  assert_int_equal(c.memory_limit, 0);
  assert_int_equal(c.store_shards, 0); /* auto by default */
  vg_config_release(&c);
  assert_int_equal(parse("sources: [{topic: a, time_key: t}]\nstore: {shards: 3}\n", &c),
                   0);
  assert_int_equal(c.store_shards, 3);
  vg_config_release(&c);
  assert_int_equal(
      parse("sources: [{topic: a, time_key: t}]\nstore: {shards: auto}\n", &c), 0);
  assert_int_equal(c.store_shards, 0);
  vg_config_release(&c);
}

/* A dataset with the mobility-count schema and its mapping. */
static void comptage_keys(void **state) {
  (void)state;
  static const char text[] =
      "sources: [{topic: a, time_key: t}]\ndatasets:\n  - id: velo\n"
      "    resolution: 1h\n    metrics: [passages]\n    columns: [sum]\n"
      "    entity_tag: counter\n    coordinates: {spokane: \"47.57,-122.35\"}\n"
      "    schema: comptage-mobilites\n    mobility_type: BIKE\n"
      "    site_names: {spokane: Spokane St. Bridge}\n"
      "    insee_codes: {spokane: \"2A004\"}\n";
  struct vg_config c;
  assert_int_equal(vg_config_parse("vigie.yaml", text, strlen(text), &c, err, sizeof err),
                   0);
  const struct vg_dataset_def *d = &c.datasets[0].def;
  assert_int_equal(d->schema, VG_DATASET_SCHEMA_COMPTAGE);
  assert_string_equal(d->mobility_type, "BIKE");
  assert_int_equal(d->site_names.n, 2);
  assert_string_equal(d->site_names.v[1], "Spokane St. Bridge");
  assert_string_equal(d->insee_codes.v[1], "2A004");
  vg_config_release(&c);
}

/* The sample shipped for operations stays valid. */
static void example_config_is_valid(void **state) {
  (void)state;
  struct vg_config c;
  int rc = vg_config_load(VG_SOURCE_DIR "/tools/vigie.example.yaml", &c, err, sizeof err);
  if (rc != 0)
    fail_msg("tools/vigie.example.yaml: %s", err);
  assert_int_equal(c.nsources, 6);
  assert_true(c.ndatasets >= 2);
  vg_config_release(&c);
}

static void missing_file_is_named(void **state) {
  (void)state;
  struct vg_config c;
  int rc = vg_config_load("/nonexistent/vigie.yaml", &c, err, sizeof err);
  assert_int_equal(rc, -ENOENT);
  assert_non_null(strstr(err, "/nonexistent/vigie.yaml"));
}

/* docs/configuration.md must be exactly what the table generates. */
static void reference_doc_is_current(void **state) {
  (void)state;
  char *gen = NULL;
  size_t genlen = 0;
  FILE *m = open_memstream(&gen, &genlen);
  vg_config_write_reference(m, 1);
  fclose(m);
  FILE *f = fopen(VG_SOURCE_DIR "/docs/configuration.md", "rb");
  assert_non_null(f);
  char *doc = calloc(1, genlen + 2);
  size_t n = fread(doc, 1, genlen + 1, f);
  fclose(f);
  if (n != genlen || memcmp(doc, gen, genlen) != 0)
    fail_msg("docs/configuration.md is stale: regenerate it with "
             "`vigied --config-reference > docs/configuration.md`");
  assert_non_null(strstr(gen, "`windows.lateness`"));
  assert_non_null(strstr(gen, "`distinct_key`"));
  assert_non_null(strstr(gen, "`suppress_below`"));
  free(doc);
  free(gen);
}

int vg_test_daemon_config(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(design_sample_parses),
      cmocka_unit_test(mistakes_name_file_line_and_key),
      cmocka_unit_test(every_error_is_reported),
      cmocka_unit_test(properties_pass_through),
      cmocka_unit_test(durations_parse),
      cmocka_unit_test(sizes_parse),
      cmocka_unit_test(example_config_is_valid),
      cmocka_unit_test(comptage_keys),
      cmocka_unit_test(missing_file_is_named),
      cmocka_unit_test(reference_doc_is_current),
      cmocka_unit_test(roles_parse_and_warn_about_keys_without_effect),
  };
  return cmocka_run_group_tests_name("daemon_config", tests, NULL, NULL);
}
