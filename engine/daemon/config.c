/*
 * vigied's configuration, driven by one table per section (top level,
 * sources[], datasets[]): each key's name, type, default, bounds, choices and
 * documentation are written once below and used to parse, to validate, to
 * print `vigied --help` and to generate docs/configuration.md.
 *
 * libyaml loads the document (nodes carry their line; syntax errors come with
 * their position); this file walks it, key by key, against the tables, and
 * collects every error with its file, line and key.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "vigie/calendar.h"
#include "vigie/codec.h"
#include "vigie/comptage.h"
#include "vigie/config.h"
#include "vigie/error.h"
#include "vigie/text.h"
#include "vigie/log.h"
#include "vigie/serieskey.h"
#include "vigie/store.h"
#include "vigie/tz.h"
#include "vigie/utf8.h"

/* ---- the tables ----------------------------------------------------------- */

enum ctype {
  CT_STR,       /* char * */
  CT_INT,       /* int64_t, in [min, max]; with choices, choices[0] is 0 ("auto") */
  CT_DURATION,  /* int64_t ns, in [min, max] */
  CT_RETENTION, /* int64_t ns or "forever" (0) */
  CT_SIZE,      /* int64_t bytes, 0 or in [min, max]; "off" is 0 */
  CT_BOOL,      /* int */
  CT_ENUM,      /* int: the module's enum value of the choice (enum_value) */
  CT_TZ,        /* char *, an IANA zone the tz database knows */
  CT_LIST,      /* struct vg_strlist */
  CT_MAP,       /* struct vg_strlist of key, value pairs */
  CT_SECTIONS,  /* a list of mappings with a table of their own */
  CT_DOUBLE,    /* double, finite */
};

struct ckey {
  const char *name; /* dotted path within its section */
  enum ctype type;
  size_t off;
  const char *def; /* default, parsed like a value; NULL: none */
  int required;
  int64_t min, max;
  const char *const *choices;
  const char *doc;
};

#define NS(x)       ((int64_t)(x)*1000000000LL)
#define OFF(field)  offsetof(struct vg_config, field)
#define SOFF(field) offsetof(struct vg_source_conf, field)
#define DOFF(field) offsetof(struct vg_dataset_conf, def.field)
#define IOFF(field) offsetof(struct vg_indicator_conf, def.field)
/* A key that may be left out: no default, bounds or choices. */
#define OPTIONAL(name, type, off, doc)                                                   \
  { name, type, off, NULL, 0, 0, 0, NULL, doc }

/* The choices of each CT_ENUM key and, in the same order, the values of the
 * modules' own enums they stand for. */
static const char *const log_levels[] = {"error", "warn", "info", "debug", NULL};
static const int log_level_values[] = {VG_LOG_ERROR, VG_LOG_WARN, VG_LOG_INFO,
                                       VG_LOG_DEBUG};
static const char *const durabilities[] = {"sync", "nometasync", "async", NULL};
static const int durability_values[] = {VG_STORE_SYNC, VG_STORE_NOMETASYNC,
                                        VG_STORE_NOSYNC};
static const char *const formats[] = {"json", "influx", "senml", "vigie", NULL};
static const int format_values[] = {VG_FORMAT_JSON, VG_FORMAT_INFLUX, VG_FORMAT_SENML,
                                    VG_FORMAT_VIGIE};
static const char *const auto_word[] = {"auto", NULL};
static const char *const time_formats[] = {"auto",    "unix",    "unix_ms", "unix_us",
                                           "unix_ns", "rfc3339", NULL};
static const int time_format_values[] = {VG_TIME_AUTO,    VG_TIME_UNIX,
                                         VG_TIME_UNIX_MS, VG_TIME_UNIX_US,
                                         VG_TIME_UNIX_NS, VG_TIME_RFC3339};
static const char *const precisions[] = {"ns", "us", "ms", "s", NULL};
static const int precision_values[] = {VG_PRECISION_NS, VG_PRECISION_US, VG_PRECISION_MS,
                                       VG_PRECISION_S};
static const char *const resolutions[] = {VG_RES_NAME_HOUR, VG_RES_NAME_DAY, NULL};
static const int resolution_values[] = {VG_RES_HOUR, VG_RES_DAY};
static const char *const statuses[] = {"final", "all", NULL};
static const char *const ds_schemas[] = {"none", "comptage-mobilites", NULL};
static const int ds_schema_values[] = {VG_DATASET_SCHEMA_NONE,
                                       VG_DATASET_SCHEMA_COMPTAGE};
static const char *const roles[] = {"standalone", "ingest", "store", "serve", NULL};
static const int role_values[] = {VG_ROLE_STANDALONE, VG_ROLE_INGEST, VG_ROLE_STORE,
                                  VG_ROLE_SERVE};
static const int status_values[] = {VG_DATASET_FINAL, VG_DATASET_ALL};
static const char *const ind_stats[] = {"mean", "sum",   "min",         "max",
                                        "p95",  "count", "exceedances", NULL};
static const int ind_stat_values[] = {VG_IND_MEAN,       VG_IND_SUM, VG_IND_MIN,
                                      VG_IND_MAX,        VG_IND_P95, VG_IND_COUNT,
                                      VG_IND_EXCEEDANCES};
static const char *const ind_overs[] = {"1h", "1d", "max8h", NULL};
static const int ind_over_values[] = {VG_IND_OVER_1H, VG_IND_OVER_1D, VG_IND_OVER_MAX8H};
static const char *const ind_ofs[] = {"mean", "sum", "max", "min", NULL};
static const int ind_of_values[] = {VG_IND_OF_MEAN, VG_IND_OF_SUM, VG_IND_OF_MAX,
                                    VG_IND_OF_MIN};
static const char *const ind_periods[] = {"day", "month", "year", NULL};
static const int ind_period_values[] = {VG_IND_DAY, VG_IND_MONTH, VG_IND_YEAR};
static const char *const ind_directions[] = {"at_most", "at_least", NULL};
static const int ind_direction_values[] = {VG_IND_AT_MOST, VG_IND_AT_LEAST};
static const struct {
  const char *const *choices;
  const int *values;
} enum_values[] = {
    {log_levels, log_level_values},
    {durabilities, durability_values},
    {formats, format_values},
    {time_formats, time_format_values},
    {precisions, precision_values},
    {resolutions, resolution_values},
    {statuses, status_values},
    {ds_schemas, ds_schema_values},
    {roles, role_values},
    {ind_stats, ind_stat_values},
    {ind_overs, ind_over_values},
    {ind_ofs, ind_of_values},
    {ind_periods, ind_period_values},
    {ind_directions, ind_direction_values},
};

/* The value a CT_ENUM key stores for its i-th choice. */
static int enum_value(const char *const *choices, int i) {
  for (size_t j = 0; j < sizeof enum_values / sizeof *enum_values; j++)
    if (enum_values[j].choices == choices)
      return enum_values[j].values[i];
  assert(!"a CT_ENUM key without values");
  return i;
}
static const char *const stat_columns[] = {"count", "sum",    "min",      "max",
                                           "mean",  "stddev", "p50",      "p95",
                                           "first", "last",   "distinct", NULL};

static const struct ckey source_keys[] = {
    {"topic", CT_STR, SOFF(topic), NULL, 1, 0, 0, NULL, "Kafka topic to consume."},
    {"format", CT_ENUM, SOFF(format), "json", 0, 0, 0, formats,
     "Message format: JSON objects (or arrays of them), InfluxDB line protocol, "
     "or SenML JSON (RFC 8428); vigie: another Vigie's rollup topic, read by the serve "
     "role (docs/territory.md)."},
    OPTIONAL("site", CT_STR, SOFF(site),
             "Format vigie: the site name its series are tagged with (site=NAME), "
             "one per source (letters, digits, '.', '-', '_')."),
    OPTIONAL("time_key", CT_STR, SOFF(time_key),
             "JSON: the field holding the event time (dotted path for nested fields). "
             "Required for format json."),
    {"time_format", CT_ENUM, SOFF(time_format), "auto", 0, 0, 0, time_formats,
     "JSON: how time_key is written; auto tells unix s/ms/us/ns by magnitude and "
     "reads other strings as RFC 3339."},
    {"time_zone", CT_TZ, SOFF(time_zone), "UTC", 0, 0, 0, NULL,
     "JSON: IANA zone of timestamps written without an offset. In a repeated hour "
     "the first occurrence is taken; a time in a skipped hour moves forward by the gap."},
    OPTIONAL("entity_key", CT_STR, SOFF(entity_key),
             "JSON: the field naming the sensor; becomes the tag of the same name."),
    OPTIONAL("tag_keys", CT_LIST, SOFF(tag_keys),
             "JSON: fields whose values become tags."),
    OPTIONAL("fields", CT_LIST, SOFF(fields),
             "JSON: numeric fields that become metrics; default every numeric field."),
    OPTIONAL("count_as", CT_STR, SOFF(count_as),
             "Each event adds 1 to this metric (mobility passages)."),
    OPTIONAL("distinct_key", CT_STR, SOFF(distinct_key),
             "Field feeding a distinct-count sketch per window (HyperLogLog)."),
    {"precision", CT_ENUM, SOFF(precision), "ns", 0, 0, 0, precisions,
     "Influx: unit of line-protocol timestamps."},
    {"quantiles", CT_BOOL, SOFF(quantiles), "false", 0, 0, 0, NULL,
     "Keep quantile sketches (p50, p95) for this source's series."},
    {"max_message_bytes", CT_INT, SOFF(max_message_bytes), "1048576", 0, 64, 1 << 30,
     NULL, "Messages larger than this are dead letters (oversize)."},
    OPTIONAL(
        "replay_of", CT_STR, SOFF(replay_of),
        "Makes this source a replay of a dead-letter topic (its `topic`): only the dead "
        "letters of source topic REPLAY_OF are read, and of each only the readings its "
        "vigie.rejected header names, decoded with this source's settings; the readings "
        "aggregated the first time are never taken again (docs/ingestion.md). Its topic "
        "must "
        "differ from kafka.dead_letter_topic."),
    {"dedupe", CT_BOOL, SOFF(dedupe), "false", 0, 0, 0, NULL,
     "Drop a reading whose series, event time and distinct key (when it has one) equal "
     "those of a reading already counted in its base window: a gateway's re-send counts "
     "once, across restarts and crashes too (vigie_duplicates_total). Checked for "
     "readings within retention.dedupe (docs/aggregation.md)."},
    {"dedupe_max", CT_INT, SOFF(dedupe_max), "10000", 0, 1, 10000000, NULL,
     "With dedupe: the most readings per series and base window whose fingerprint is "
     "kept (16 bytes each, in memory while the window is in use, and in the store); "
     "beyond, a reading is still checked and counted, but a copy of it would count too "
     "(vigie_dedupe_unchecked_total{reason=\"window_full\"})."},
    {0}};

static const struct ckey dataset_keys[] = {
    {"id", CT_STR, DOFF(id), NULL, 1, 0, 0, NULL,
     "Stable identifier: lower-case letters, digits, '-' and '_'."},
    OPTIONAL("title", CT_STR, DOFF(title), "Title shown by the portal."),
    OPTIONAL("description", CT_STR, DOFF(description), "Description."),
    OPTIONAL("keywords", CT_LIST, DOFF(keywords), "Keywords."),
    OPTIONAL("publisher", CT_STR, DOFF(publisher), "Publisher's name."),
    {"license", CT_STR, DOFF(license), "etalab-2.0", 0, 0, 0, NULL,
     "Licence identifier, e.g. etalab-2.0 or ODbL-1.0."},
    {"resolution", CT_ENUM, DOFF(resolution), NULL, 1, 0, 0, resolutions,
     "Rollup published: hourly or daily (local days)."},
    {"metrics", CT_LIST, DOFF(metrics), NULL, 1, 0, 0, NULL, "Metrics published."},
    {"columns", CT_LIST, DOFF(columns), "[count, sum, min, max, mean]", 0, 0, 0,
     stat_columns, "Statistics published."},
    OPTIONAL("tag_columns", CT_LIST, DOFF(tag_columns), "Tags published as columns."),
    OPTIONAL("merge_by", CT_LIST, DOFF(merge_by),
             "Tags whose values make a row: the series of equal metric and values of "
             "these tags are merged exactly, window by window (counts and sums added, "
             "extremes compared, p50/p95 and distinct from the merged sketches), one "
             "row per group and window instead of one per series; e.g. [report_id] "
             "merges a territory's sites (docs/territory.md). tag_columns and "
             "entity_tag must be among them. A merged window is final when every "
             "member's is; its revision is the members' revisions added, plus one per "
             "member beyond the first (docs/publication.md)."),
    {"suppress_below", CT_INT, DOFF(suppress_below), "0", 0, 0, 1000000, NULL,
     "Privacy: count-derived cells under this are suppressed (0: off)."},
    {"status", CT_ENUM, DOFF(status), "final", 0, 0, 0, statuses,
     "Publish final windows only, or provisional ones too."},
    OPTIONAL("timezone", CT_TZ, DOFF(timezone),
             "Zone of the published timestamps; default the top-level timezone."),
    {"sensor_period", CT_DURATION, DOFF(sensor_period_ns), NULL, 0, NS(1), NS(86400),
     NULL,
     "Expected interval between a sensor's readings; gives the coverage column "
     "(readings received / expected). No coverage when unset."},
    OPTIONAL("entity_tag", CT_STR, DOFF(entity_tag),
             "The tag naming the sensor, whose values key the coordinates."),
    OPTIONAL(
        "coordinates", CT_MAP, DOFF(coordinates),
        "Sensor positions for GeoJSON: entity value -> \"latitude,longitude\" (WGS 84)."),
    OPTIONAL("hvd_category", CT_STR, DOFF(hvd_category),
             "Flags the dataset as high-value (DCAT-AP HVD, Regulation (EU) 2023/138): "
             "its category in the EU vocabulary, as a code (c_dd313021 earth observation "
             "and environment, c_b79e35eb mobility, ...) or its IRI "
             "(http://data.europa.eu/bna/c_b79e35eb). DCAT then gives it the "
             "regulation, the category and the Explore API as a data service."),
    OPTIONAL("contact_point", CT_STR, DOFF(contact_point),
             "Who answers about the dataset: an e-mail address or an http(s) URL "
             "(dcat:contactPoint); required with hvd_category."),
    {"schema", CT_ENUM, DOFF(schema), "none", 0, 0, 0, ds_schemas,
     "Also publish the dataset with the national mobility-count schema "
     "(schema.data.gouv.fr etalab/schema-comptage-mobilites 0.2.5): sites.csv, "
     "channels.csv, measures.csv and datapackage.json under "
     ".../datasets/{id}/exports/comptage-mobilites/. A site is a value of entity_tag "
     "with coordinates, a channel one of its series, a measure's count the window's "
     "sum (docs/publication.md). Requires entity_tag, coordinates, the sum column and "
     "mobility_type."},
    OPTIONAL("mobility_type", CT_STR, DOFF(mobility_type),
             "comptage-mobilites: what the channels count: BIKE, PEDESTRIAN, E-SCOOTER, "
             "CAR, BUS, ... (the schema's list)."),
    OPTIONAL("site_names", CT_MAP, DOFF(site_names),
             "comptage-mobilites: entity value -> site name (default: the value)."),
    OPTIONAL("insee_codes", CT_MAP, DOFF(insee_codes),
             "comptage-mobilites: entity value -> INSEE code of the site's commune "
             "(fr_insee_code, e.g. 75056)."),
    {0}};

static const struct ckey indicator_keys[] = {
    {"id", CT_STR, IOFF(id), NULL, 1, 0, 0, NULL,
     "Stable identifier: lower-case letters, digits, '-' and '_' (docs/indicators.md)."},
    OPTIONAL("preset", CT_STR, IOFF(preset),
             "A ready-made definition: eu-pm10-daily-exceedances, "
             "eu-no2-hourly-exceedances, eu-no2-annual-mean, eu-pm25-annual-mean or "
             "eu-o3-8h-exceedances (Directive 2008/50/EC); it sets every key the city "
             "does not give."),
    OPTIONAL("title", CT_STR, IOFF(title), "Label in French (default: the id)."),
    OPTIONAL("title_en", CT_STR, IOFF(title_en), "Label in English (default: title)."),
    OPTIONAL("description", CT_STR, IOFF(description), "Text under the card, in French."),
    OPTIONAL("description_en", CT_STR, IOFF(description_en), "The same in English."),
    OPTIONAL("unit", CT_STR, IOFF(unit), "Unit of the value, in French."),
    OPTIONAL("unit_en", CT_STR, IOFF(unit_en), "Unit in English (default: unit)."),
    {"dataset", CT_STR, IOFF(dataset), NULL, 1, 0, 0, NULL,
     "The dataset whose series it reads (its sensor_period gives coverage)."},
    {"metric", CT_STR, IOFF(metric), NULL, 1, 0, 0, NULL,
     "One of the dataset's metrics."},
    OPTIONAL("where", CT_MAP, IOFF(where), "Tags the series must have: tag -> value."),
    {"statistic", CT_ENUM, IOFF(statistic), NULL, 0, 0, 0, ind_stats,
     "The period's value over its windows (required unless a preset gives it): "
     "mean, sum, min, max, p95, count or exceedances."},
    {"over", CT_ENUM, IOFF(over), NULL, 0, 0, 0, ind_overs,
     "The windows: 1h, 1d (default), or max8h (each local day's largest 8-hour "
     "running mean of the hours)."},
    {"of", CT_ENUM, IOFF(of), NULL, 0, 0, 0, ind_ofs,
     "The window value mean and exceedances take: mean (default), sum, max or "
     "min."},
    OPTIONAL("threshold", CT_DOUBLE, IOFF(threshold),
             "exceedances: a window counts when its value is strictly above this."),
    OPTIONAL("coverage_min", CT_DOUBLE, IOFF(coverage_min),
             "A window counts only when its coverage reaches this share (default 0)."),
    {"hours_min", CT_INT, IOFF(hours_min), NULL, 0, 0, 25, NULL,
     "over 1d: a day is the mean of its valid hours and needs this many (0: the "
     "stored daily window)."},
    OPTIONAL("capture_min", CT_DOUBLE, IOFF(capture_min),
             "A final period's value needs this share of valid windows (default 0)."),
    {"period", CT_ENUM, IOFF(period), NULL, 0, 0, 0, ind_periods,
     "day, month or year (default), local."},
    {"merge", CT_BOOL, IOFF(merge), "false", 0, 0, 0, NULL,
     "One value over the matching series merged, instead of one per series."},
    OPTIONAL("objective.target", CT_DOUBLE, IOFF(target),
             "The objective's target value."),
    {"objective.direction", CT_ENUM, IOFF(direction), NULL, 0, 0, 0, ind_directions,
     "at_most (default: met when value <= target) or at_least."},
    {"trend", CT_INT, IOFF(trend), NULL, 0, 1, 120, NULL,
     "Periods the dashboard's chart shows (default 12)."},
    {0}};

static const struct ckey top_keys[] = {
    {"data_dir", CT_STR, OFF(data_dir), "/var/lib/vigie", 0, 0, 0, NULL,
     "Directory of the LMDB store (vigied --data-dir overrides it)."},
    {"timezone", CT_TZ, OFF(timezone), "Europe/Paris", 0, 0, 0, NULL,
     "IANA zone whose clock hours and local days the 1h and 1d rollups follow."},
    OPTIONAL("site", CT_STR, OFF(site),
             "This deployment's name in a territory of cities (letters, digits, '.', "
             "'-', '_'; at most 64): every rollup record carries it (\"site\"), so that "
             "a territory's serve instance knows whose windows it holds."),
    {"log_level", CT_ENUM, OFF(log_level), "info", 0, 0, 0, log_levels, "Log threshold."},
    {"role", CT_ENUM, OFF(role), "standalone", 0, 0, 0, roles,
     "What this instance does (docs/scaleout.md): standalone consumes, aggregates, "
     "stores and serves; ingest instances (a consumer group, kafka.group) aggregate "
     "and produce each epoch's deltas to kafka.deltas_topic in one Kafka transaction "
     "with their offsets, keeping no state; store instances merge the deltas into "
     "their store and serve it."},
    OPTIONAL("instance_id", CT_STR, OFF(instance_id),
             "Ingest role: names the instance's transactions (transactional.id "
             "vigie-ingest-ID-wN), so that a restarted instance fences what its "
             "predecessor left open. Default: the host name; set one per instance when "
             "several run on one host, and keep it across restarts."),
    {"windows.base", CT_DURATION, OFF(base_ns), "1m", 0, NS(1), NS(3600), NULL,
     "Base window; must divide an hour."},
    {"windows.lateness", CT_DURATION, OFF(lateness_ns), "2h", 0, 0, NS(86400 * 31), NULL,
     "How long after its end (by the watermark) a window stays provisional."},
    {"windows.out_of_orderness", CT_DURATION, OFF(out_of_orderness_ns), "10s", 0, 0,
     NS(86400), NULL, "Watermark = highest event time seen minus this."},
    {"windows.idle_timeout", CT_DURATION, OFF(idle_timeout_ns), "30s", 0, NS(1),
     NS(86400), NULL, "A partition idle this long stops holding the watermark back."},
    {"checkpoint_interval", CT_DURATION, OFF(checkpoint_interval_ns), "1s", 0, 10000000,
     NS(3600), NULL, "Epoch length: how often deltas and offsets are committed."},
    {"retention.base", CT_RETENTION, OFF(retention_base_ns), "14d", 0, NS(3600), 0, NULL,
     "How long base windows are kept (or forever)."},
    {"retention.dedupe", CT_RETENTION, OFF(retention_dedupe_ns), "1d", 0, NS(3600), 0,
     NULL,
     "How far back duplicates are checked (sources with dedupe): a reading whose base "
     "window ended more than this behind its partition's watermark is counted unchecked "
     "(vigie_dedupe_unchecked_total{reason=\"past_horizon\"}), and fingerprints older "
     "than this leave the store (about 60 bytes per sensor reading, 25 per passage). "
     "Never longer than retention.base: the check lives with the base window. Raise it "
     "for gateways that replay their buffer after being offline for days "
     "(docs/aggregation.md)."},
    {"retention.1h", CT_RETENTION, OFF(retention_1h_ns), "forever", 0, NS(86400), 0, NULL,
     "How long hourly windows are kept."},
    {"retention.1d", CT_RETENTION, OFF(retention_1d_ns), "forever", 0, NS(86400), 0, NULL,
     "How long daily windows are kept."},
    {"store.durability", CT_ENUM, OFF(durability), "sync", 0, 0, 0, durabilities,
     "sync: every commit is on disk before offsets move on; nometasync and async "
     "trade the last commits of a crash of the machine (not of vigied) for speed."},
    {"store.shards", CT_INT, OFF(store_shards), "auto", 0, 1, VG_STORE_MAX_SHARDS,
     auto_word,
     "The store split by series into this many shards, each an LMDB environment "
     "committing its part of every epoch on a thread of its own, in parallel "
     "(data_dir/shard-K for K >= 1). auto: an existing store keeps the count it has; "
     "a new one gets 2 on a machine of 2 CPUs or more (faster than 1 in every "
     "configuration measured, bench/results/2026-12-03-i17-*), else 1. A number "
     "other than the store's is refused: change it with `vigieq reshard` while "
     "vigied is stopped (docs/store.md)."},
    OPTIONAL("store.delta_partitions", CT_LIST, OFF(store_delta_partitions),
             "Store role: the partitions of kafka.deltas_topic this instance merges "
             "(default: all). Store instances split a delta topic by taking disjoint "
             "lists: each holds the series of its partitions, and every one sees every "
             "source partition's watermark (docs/scaleout.md)."),
    {"workers", CT_INT, OFF(workers), "1", 0, 1, 64, NULL,
     "Worker threads; each owns a share of the source partitions (shared-nothing)."},
    {"memory_limit", CT_SIZE, OFF(memory_limit), "off", 0, (int64_t)64 << 20,
     (int64_t)1 << 40, NULL,
     "A bound on the process's anonymous memory, split into shares: an eighth to the "
     "workers' epochs (a worker hands its epoch to the writer early once it reaches its "
     "share, and stops reading while the writer is behind: backpressure, nothing is "
     "dropped), an eighth to the consumers' prefetch, half to the writer's window table "
     "(final windows leave it at every commit once it is half full), a sixty-fourth to "
     "each producer's queue (rollups, dead letters), a quarter to sketches and the "
     "rest (the store's pages are its mapped file's, not counted); past 7/8 of it in "
     "RssAnon the workers wait for the writer to commit, "
     "evict final windows and return freed memory (docs/aggregation.md)."},
    {"kafka.embedded_partitions", CT_INT, OFF(kafka_embedded_partitions), "4", 0, 1, 256,
     NULL, "Partitions of each source topic the embedded broker creates."},
    {"kafka.brokers", CT_STR, OFF(kafka_brokers), "127.0.0.1:9092", 0, 0, 0, NULL,
     "Bootstrap servers, or \"embedded\" for an in-process mock cluster (quick start)."},
    {"kafka.group", CT_STR, OFF(kafka_group), "vigie", 0, 0, 0, NULL,
     "Consumer group (ingest role); standalone mode assigns partitions itself."},
    {"kafka.deltas_topic", CT_STR, OFF(kafka_deltas_topic), "vigie.deltas", 0, 0, 0, NULL,
     "Scale-out: the topic of base-window deltas the ingest role produces and the "
     "store role merges (docs/deltas.md), a series' deltas in the partition of its "
     "shard among the topic's partitions. Create it before starting the instances "
     "(replicated, min.insync.replicas 2)."},
    {"kafka.dead_letter_topic", CT_STR, OFF(kafka_dead_letter_topic), "vigie.dead", 0, 0,
     0, NULL,
     "Where rejected messages go, with their reason in headers. Created at start when "
     "missing."},
    {"kafka.rollup_topic", CT_STR, OFF(kafka_rollup_topic), "vigie.rollups", 0, 0, 0,
     NULL,
     "Where final and revised rollups are produced. Created at start when missing "
     "(compacted; kafka.topic_partitions, kafka.topic_replication)."},
    {"kafka.topic_partitions", CT_INT, OFF(kafka_topic_partitions), "0", 0, 0, 100000,
     NULL,
     "Partitions of the output topics vigied creates when they are missing (the "
     "rollup topic where it publishes, the dead-letter topic where it ingests); 0: "
     "the cluster's default (num.partitions)."},
    {"kafka.topic_replication", CT_INT, OFF(kafka_topic_replication), "0", 0, 0, 32767,
     NULL,
     "Replication factor of the output topics vigied creates; 0: the cluster's "
     "default (default.replication.factor). Brokers that refuse the creation (ACLs, a "
     "creation policy, more replicas than brokers) stop vigied with their reason."},
    {"kafka.drain_wait", CT_DURATION, OFF(kafka_drain_wait_ns), "60s", 0, NS(1),
     NS(86400), NULL,
     "With --drain, how long to wait for the brokers and a source topic before "
     "exiting 1 (a service waits for them as long as it runs)."},
    OPTIONAL("kafka.properties", CT_MAP, OFF(kafka_properties),
             "librdkafka properties passed through (TLS, SASL, tuning)."),
    {"http.listen", CT_STR, OFF(http_listen), "127.0.0.1:8080", 0, 0, 0, NULL,
     "Address of the HTTP server (API, metrics, health)."},
    OPTIONAL("http.public_url", CT_STR, OFF(http_public_url),
             "The address the portal and its users see (https://data.example.org, "
             "behind a TLS proxy), used in every link the API prints: DCAT, the "
             "changes feed. Unset: http:// and the request's Host header."),
    {"http.threads", CT_INT, OFF(http_threads), "auto", 0, 1, 64, auto_word,
     "Threads serving HTTP, each polling its share of the connections. auto: one per "
     "CPU."},
    {"http.max_connections", CT_INT, OFF(http_max_connections), "256", 0, 1, 100000, NULL,
     "Connections open at once; more wait in the listen queue."},
    {"http.per_ip_connections", CT_INT, OFF(http_per_ip_connections), "0", 0, 0, 100000,
     NULL,
     "Connections open at once from one address (0: no bound; behind a proxy every "
     "client has the proxy's address)."},
    {"http.timeout", CT_DURATION, OFF(http_timeout_ns), "30s", 0, NS(1), NS(3600), NULL,
     "An idle connection (a client that sends or reads nothing) is closed after this "
     "long, so slow clients cannot hold the server."},
    {"http.max_request", CT_SIZE, OFF(http_max_request), "256KiB", 0, 4096,
     (int64_t)4 << 20, NULL,
     "Bound on a request's line and headers (the API takes four ODSQL clauses of up "
     "to 8 KiB each, URL-encoded); a longer one is refused with a JSON 414 "
     "(RequestTooLarge), past twice the bound with the HTTP library's own 414 or 431 "
     "(or a reset connection while the client is still sending). Each connection "
     "may hold twice the bound in memory."},
    {"http.cache", CT_SIZE, OFF(http_cache), "64MiB", 0, (int64_t)1 << 20,
     (int64_t)1 << 36, NULL,
     "Memory for the API's answers (records, facets, dataset and catalog pages), kept "
     "while the store state they were computed from (their ETag) holds: a dashboard "
     "that asks again costs a lookup. Least recently used answers go first; off: "
     "none."},
    OPTIONAL("export_dir", CT_STR, OFF(export_dir),
             "Folder of the published dataset files (CSV and JSON per dataset, replaced "
             "atomically when their content changes); none when unset."),
    {"publish.export_interval", CT_DURATION, OFF(publish_export_interval_ns), "5s", 0,
     NS(1), NS(86400), NULL,
     "How often the export folder's files are checked for changes."},
    {"publish.rollups", CT_BOOL, OFF(publish_rollups), "true", 0, 0, 0, NULL,
     "Produce final and revised hourly and daily windows to kafka.rollup_topic."},
    {"publish.changes_keep", CT_INT, OFF(publish_changes_keep), "1000000", 0, 0,
     1000000000000LL, NULL,
     "Emit-log records kept for the changes feed; older ones are trimmed once the "
     "rollup topic has them (a changes cursor older than that answers 410)."},
    {"publish.emit_log_max", CT_INT, OFF(publish_emit_log_max), "10000000", 0, 1,
     1000000000000LL, NULL,
     "Emit-log records the rollup topic may lag behind (about 50 bytes of disk each: "
     "the default is about 500 MB). Reaching it pauses ingestion, never loses a rollup: "
     "the writer commits nothing more, so the backlog stays in Kafka, /readyz answers "
     "503 (\"emit log full: ...\") and vigie_emit_log_full is 1, until the topic takes "
     "the records and the count is below the bound again (docs/publication.md, \"When "
     "the emit log is full\"). There is no unbounded setting: raise it instead. Without "
     "publish.rollups it has no effect."},
    {"sources", CT_SECTIONS, 0, NULL, 1, 0, 0, NULL,
     "The topics consumed; each entry has the keys of the sources table."},
    {"datasets", CT_SECTIONS, 0, NULL, 0, 0, 0, NULL,
     "The published datasets; each entry has the keys of the datasets table."},
    {"indicators", CT_SECTIONS, 0, NULL, 0, 0, 0, NULL,
     "Indicators and objectives (docs/indicators.md); each entry has the keys of the "
     "indicators table."},
    {0}};

/* ---- error collection ---------------------------------------------------- */

struct ctx {
  yaml_document_t *doc;
  const char *file;
  char *err;
  size_t errsize, errlen;
  int nerr;
  int oom;
};

__attribute__((format(printf, 4, 5))) static void
fail(struct ctx *c, int line, const char *key, const char *fmt, ...) {
  c->nerr++;
  if (c->nerr > 25 || !c->err || c->errsize == 0)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int w;
  if (c->nerr == 25)
    w = snprintf(c->err + c->errlen, c->errsize - c->errlen, "%s(more errors not shown)",
                 c->errlen ? "\n" : "");
  else if (key)
    w = snprintf(c->err + c->errlen, c->errsize - c->errlen, "%s%s:%d: %s: %s",
                 c->errlen ? "\n" : "", c->file, line, key, msg);
  else
    w = snprintf(c->err + c->errlen, c->errsize - c->errlen, "%s%s:%d: %s",
                 c->errlen ? "\n" : "", c->file, line, msg);
  if (w > 0)
    c->errlen +=
        (size_t)w < c->errsize - c->errlen ? (size_t)w : c->errsize - c->errlen - 1;
}

static char *xstrdup(struct ctx *c, const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) {
    c->oom = 1;
    return NULL;
  }
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Small accessors over libyaml's document nodes. */
static int node_line(yaml_node_t *n, int fallback) {
  return n ? (int)n->start_mark.line + 1 : fallback;
}

static int is_map(yaml_node_t *n) {
  return n && n->type == YAML_MAPPING_NODE;
}

static int is_seq(yaml_node_t *n) {
  return n && n->type == YAML_SEQUENCE_NODE;
}

static const char *scalar(yaml_node_t *n, size_t *len) {
  if (!n || n->type != YAML_SCALAR_NODE)
    return NULL;
  *len = n->data.scalar.length;
  return (const char *)n->data.scalar.value;
}

static yaml_node_t *item(struct ctx *c, yaml_node_item_t *i) {
  return yaml_document_get_node(c->doc, *i);
}

#define FOR_PAIRS(c, map, k, v)                                                          \
  for (yaml_node_pair_t *p_ = (map)->data.mapping.pairs.start;                           \
       p_ < (map)->data.mapping.pairs.top &&                                             \
       ((k) = yaml_document_get_node((c)->doc, p_->key),                                 \
       (v) = yaml_document_get_node((c)->doc, p_->value), 1);                            \
       p_++)

/* ---- values ---------------------------------------------------------------- */

/* The decimal count that s starts with (digits only: no sign, no blank):
 * 0 with *v and *end (the unit that follows), or -EINVAL. */
static int leading_count(const char *s, long long *v, char **end) {
  if (!isdigit((unsigned char)*s))
    return -EINVAL;
  errno = 0;
  *v = strtoll(s, end, 10);
  return errno ? -EINVAL : 0;
}

int vg_parse_duration(const char *s, int64_t *ns) {
  static const struct {
    const char *unit;
    int64_t ns;
  } units[] = {{"ms", 1000000LL}, {"s", NS(1)},     {"m", NS(60)},
               {"h", NS(3600)},   {"d", NS(86400)}, {"w", NS(604800)}};
  int64_t total = 0;
  const char *p = s;
  if (!*p)
    return -EINVAL;
  while (*p) {
    char *end;
    long long v;
    if (leading_count(p, &v, &end) != 0)
      return -EINVAL;
    size_t i = 0;
    for (; i < sizeof units / sizeof units[0]; i++) {
      size_t ul = strlen(units[i].unit);
      /* "m" must not take the "m" of "ms" */
      if (strncmp(end, units[i].unit, ul) == 0 && !isalpha((unsigned char)end[ul]))
        break;
    }
    if (i == sizeof units / sizeof units[0])
      return -EINVAL;
    if (v > INT64_MAX / units[i].ns || total > INT64_MAX - v * units[i].ns)
      return -EINVAL;
    total += v * units[i].ns;
    p = end + strlen(units[i].unit);
  }
  *ns = total;
  return 0;
}

int vg_parse_size(const char *s, int64_t *bytes) {
  static const struct {
    const char *unit;
    int shift;
  } units[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
  char *end;
  long long v;
  if (leading_count(s, &v, &end) != 0)
    return -EINVAL;
  for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
    if (strcmp(end, units[i].unit) != 0)
      continue;
    if (v > INT64_MAX >> units[i].shift)
      return -EINVAL;
    *bytes = (int64_t)v << units[i].shift;
    return 0;
  }
  return -EINVAL;
}

static void fmt_size(char *out, size_t size, int64_t bytes) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && bytes && bytes % 1024 == 0)
    bytes /= 1024, u++;
  snprintf(out, size, "%lld%s", (long long)bytes, units[u]);
}

static void fmt_duration(char *out, size_t size, int64_t ns) {
  if (ns == 0)
    snprintf(out, size, "0s");
  else if (ns % NS(86400) == 0)
    snprintf(out, size, "%lldd", (long long)(ns / NS(86400)));
  else if (ns % NS(3600) == 0)
    snprintf(out, size, "%lldh", (long long)(ns / NS(3600)));
  else if (ns % NS(60) == 0)
    snprintf(out, size, "%lldm", (long long)(ns / NS(60)));
  else if (ns % NS(1) == 0)
    snprintf(out, size, "%llds", (long long)(ns / NS(1)));
  else
    snprintf(out, size, "%lldms", (long long)(ns / 1000000));
}

static const char *type_name(const struct ckey *k) {
  switch (k->type) {
  case CT_STR: return "string";
  case CT_INT: return k->choices ? "integer or" : "integer";
  case CT_DURATION: return "duration";
  case CT_RETENTION: return "duration or forever";
  case CT_SIZE: return "size (B, KiB, MiB, GiB) or off";
  case CT_BOOL: return "boolean";
  case CT_ENUM: return "one of";
  case CT_TZ: return "IANA time zone";
  case CT_LIST: return k->choices ? "list of" : "list of strings";
  case CT_MAP: return "mapping of strings";
  case CT_SECTIONS: return "list of mappings";
  case CT_DOUBLE: return "number";
  }
  return "?";
}

static void join_choices(char *out, size_t size, const char *const *choices) {
  size_t n = 0;
  out[0] = '\0';
  for (const char *const *c = choices; *c && n < size; c++)
    n += (size_t)snprintf(out + n, size - n, "%s%s", c == choices ? "" : ", ", *c);
}

static void free_list(struct vg_strlist *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static int list_push(struct ctx *c, struct vg_strlist *l, const char *s, size_t len) {
  char **nv = realloc(l->v, (l->n + 2) * sizeof *nv);
  if (!nv) {
    c->oom = 1;
    return -1;
  }
  l->v = nv;
  l->v[l->n] = xstrdup(c, s, len);
  if (!l->v[l->n])
    return -1;
  l->v[++l->n] = NULL;
  return 0;
}

/* Parses a scalar text for key k into base + k->off. Values of defaults go
 * through here too, so a default is always a valid value. */
static void set_scalar(struct ctx *c, const struct ckey *k, const char *fullkey,
                       void *base, const char *s, size_t len, int line) {
  char buf[256];
  char *field = (char *)base + k->off;
  snprintf(buf, sizeof buf, "%.*s", (int)(len < 255 ? len : 255), s);
  switch (k->type) {
  case CT_STR: {
    if (len == 0) {
      fail(c, line, fullkey, "expected a non-empty string");
      return;
    }
    char **p = (char **)field;
    free(*p);
    *p = xstrdup(c, s, len);
    return;
  }
  case CT_TZ: {
    struct vg_tz *tz = NULL;
    char tzerr[256];
    if (vg_tz_load(buf, &tz, tzerr, sizeof tzerr) != 0) {
      fail(c, line, fullkey,
           "expected an IANA time zone such as Europe/Paris, got "
           "\"%s\" (%s)",
           buf, tzerr);
      return;
    }
    vg_tz_free(tz);
    char **p = (char **)field;
    free(*p);
    *p = xstrdup(c, s, len);
    return;
  }
  case CT_INT: {
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (k->choices && strcmp(buf, k->choices[0]) == 0) {
      *(int64_t *)field = 0;
      return;
    }
    if (errno || end == buf || *end || len >= 255) {
      fail(c, line, fullkey, "expected an integer%s%s, got \"%s\"",
           k->choices ? " or " : "", k->choices ? k->choices[0] : "", buf);
      return;
    }
    if (v < k->min || v > k->max) {
      fail(c, line, fullkey, "%lld is out of range [%lld, %lld]", v, (long long)k->min,
           (long long)k->max);
      return;
    }
    *(int64_t *)field = v;
    return;
  }
  case CT_RETENTION:
    if (strcmp(buf, "forever") == 0) {
      *(int64_t *)field = 0;
      return;
    }
    /* fall through */
  case CT_DURATION: {
    int64_t v;
    if (len >= 255 || vg_parse_duration(buf, &v) != 0) {
      fail(c, line, fullkey,
           "expected a duration such as 90s, 15m, 2h or 1d%s, got \"%s\"",
           k->type == CT_RETENTION ? ", or forever" : "", buf);
      return;
    }
    if (v < k->min || (k->max && v > k->max)) {
      char lo[32], hi[32];
      fmt_duration(lo, sizeof lo, k->min);
      fmt_duration(hi, sizeof hi, k->max);
      if (k->max)
        fail(c, line, fullkey, "%s is out of range [%s, %s]", buf, lo, hi);
      else
        fail(c, line, fullkey, "%s is shorter than %s", buf, lo);
      return;
    }
    *(int64_t *)field = v;
    return;
  }
  case CT_SIZE: {
    int64_t v = 0;
    if (strcmp(buf, "off") != 0 && (len >= 255 || vg_parse_size(buf, &v) != 0)) {
      fail(c, line, fullkey, "expected a size such as 512MiB or 2GiB, or off, got \"%s\"",
           buf);
      return;
    }
    if (v && (v < k->min || v > k->max)) {
      char lo[32], hi[32];
      fmt_size(lo, sizeof lo, k->min);
      fmt_size(hi, sizeof hi, k->max);
      fail(c, line, fullkey, "%s is out of range [%s, %s]", buf, lo, hi);
      return;
    }
    *(int64_t *)field = v;
    return;
  }
  case CT_DOUBLE: {
    char *end;
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || end == buf || *end || len >= 255 || !isfinite(v)) {
      fail(c, line, fullkey, "expected a number, got \"%s\"", buf);
      return;
    }
    *(double *)field = v;
    return;
  }
  case CT_BOOL:
    if (strcmp(buf, "true") == 0 || strcmp(buf, "yes") == 0 || strcmp(buf, "on") == 0)
      *(int *)field = 1;
    else if (strcmp(buf, "false") == 0 || strcmp(buf, "no") == 0 ||
             strcmp(buf, "off") == 0)
      *(int *)field = 0;
    else
      fail(c, line, fullkey, "expected true or false, got \"%s\"", buf);
    return;
  case CT_ENUM:
    for (int i = 0; k->choices[i]; i++)
      if (strlen(k->choices[i]) == len && memcmp(k->choices[i], s, len) == 0) {
        *(int *)field = enum_value(k->choices, i);
        return;
      }
    char all[256];
    join_choices(all, sizeof all, k->choices);
    fail(c, line, fullkey, "expected one of %s, got \"%s\"", all, buf);
    return;
  default: break;
  }
}

/* A list value: a YAML sequence of scalars, or a flow text "[a, b]" (defaults). */
static void set_list(struct ctx *c, const struct ckey *k, const char *fullkey, void *base,
                     yaml_node_t *v, const char *text, int line) {
  struct vg_strlist *l = (struct vg_strlist *)((char *)base + k->off);
  free_list(l);
  if (text) { /* a default such as "[count, sum]" */
    const char *p = text + 1;
    while (*p && *p != ']') {
      while (*p == ' ' || *p == ',')
        p++;
      size_t n = strcspn(p, ",]");
      if (n && list_push(c, l, p, n) != 0)
        return;
      p += n;
    }
    return;
  }
  if (!is_seq(v)) {
    fail(c, line, fullkey, "expected a list such as [a, b]");
    return;
  }
  for (yaml_node_item_t *it = v->data.sequence.items.start;
       it < v->data.sequence.items.top; it++) {
    yaml_node_t *e = item(c, it);
    size_t n = 0;
    const char *s = scalar(e, &n);
    int eline = node_line(e, line);
    if (!s || n == 0) {
      fail(c, eline, fullkey, "expected a list of non-empty strings");
      continue;
    }
    if (k->choices) {
      int ok = 0;
      for (int i = 0; k->choices[i] && !ok; i++)
        ok = strlen(k->choices[i]) == n && memcmp(k->choices[i], s, n) == 0;
      if (!ok) {
        char all[256];
        join_choices(all, sizeof all, k->choices);
        fail(c, eline, fullkey, "\"%.*s\" is not one of %s", (int)n, s, all);
        continue;
      }
    }
    if (list_push(c, l, s, n) != 0)
      return;
  }
}

static void set_map(struct ctx *c, const struct ckey *k, const char *fullkey, void *base,
                    yaml_node_t *v, int line) {
  struct vg_strlist *l = (struct vg_strlist *)((char *)base + k->off);
  if (!is_map(v)) {
    fail(c, line, fullkey, "expected a mapping of property: value");
    return;
  }
  yaml_node_t *kn, *vn;
  FOR_PAIRS(c, v, kn, vn) {
    size_t kl = 0, vl = 0;
    const char *ks = scalar(kn, &kl);
    const char *vs = scalar(vn, &vl);
    if (!ks || !vs) {
      fail(c, node_line(kn, line), fullkey, "expected property: value pairs of strings");
      continue;
    }
    if (list_push(c, l, ks, kl) != 0 || list_push(c, l, vs, vl) != 0)
      return;
  }
}

static void apply_defaults(struct ctx *c, const struct ckey *table, void *base) {
  for (const struct ckey *k = table; k->name; k++) {
    if (!k->def)
      continue;
    if (k->type == CT_LIST)
      set_list(c, k, k->name, base, NULL, k->def, 0);
    else
      set_scalar(c, k, k->name, base, k->def, strlen(k->def), 0);
  }
}

static void release_table(const struct ckey *table, void *base) {
  for (const struct ckey *k = table; k->name; k++) {
    char *field = (char *)base + k->off;
    switch (k->type) {
    case CT_STR:
    case CT_TZ:
      free(*(char **)field);
      *(char **)field = NULL;
      break;
    case CT_LIST:
    case CT_MAP: free_list((struct vg_strlist *)field); break;
    default: break;
    }
  }
}

/* ---- walking the document -------------------------------------------------- */

typedef void (*section_fn)(struct ctx *c, struct vg_config *cfg, const char *name,
                           yaml_node_t *v, int line);

/* Walks mapping m whose keys are `prefix` + key in table, storing into base;
 * `seen` marks the keys given (for required ones). label prefixes messages
 * ("sources[2]."). */
static void walk(struct ctx *c, const struct ckey *table, void *base, yaml_node_t *m,
                 const char *prefix, const char *label, int *seen, struct vg_config *cfg,
                 section_fn on_sections, int line) {
  if (!is_map(m)) {
    fail(c, line, *prefix ? prefix : NULL, "expected a mapping of keys");
    return;
  }
  for (yaml_node_pair_t *pr = m->data.mapping.pairs.start; pr < m->data.mapping.pairs.top;
       pr++) {
    yaml_node_t *kn = yaml_document_get_node(c->doc, pr->key);
    yaml_node_t *vn = yaml_document_get_node(c->doc, pr->value);
    size_t kl = 0;
    const char *ks = scalar(kn, &kl);
    int kline = node_line(kn, line);
    if (!ks) {
      fail(c, kline, NULL, "a key must be a plain string");
      continue;
    }
    /* YAML forbids a key twice in one mapping; libyaml lets it through */
    int dup = 0;
    for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < pr && !dup; q++) {
      size_t ql = 0;
      const char *qs = scalar(yaml_document_get_node(c->doc, q->key), &ql);
      if (qs && ql == kl && memcmp(qs, ks, kl) == 0) {
        fail(c, kline, NULL, "key \"%s%.*s%.*s\" is given twice (first at line %d)",
             label, (int)strlen(prefix), prefix, (int)kl, ks,
             node_line(yaml_document_get_node(c->doc, q->key), line));
        dup = 1;
      }
    }
    if (dup)
      continue;
    char full[256], shown[300];
    snprintf(full, sizeof full, "%s%.*s", prefix, (int)(kl < 128 ? kl : 128), ks);
    snprintf(shown, sizeof shown, "%s%s", label, full);
    const struct ckey *k = NULL;
    int is_prefix = 0;
    size_t fl = strlen(full);
    for (const struct ckey *t = table; t->name; t++) {
      if (strcmp(t->name, full) == 0)
        k = t;
      else if (strncmp(t->name, full, fl) == 0 && t->name[fl] == '.')
        is_prefix = 1;
    }
    if (!k && is_prefix) {
      char sub[260];
      snprintf(sub, sizeof sub, "%s.", full);
      walk(c, table, base, vn, sub, label, seen, cfg, on_sections, kline);
      continue;
    }
    if (!k) {
      const char *best = NULL;
      size_t bd = 3;
      for (const struct ckey *t = table; t->name; t++) {
        /* compare at the same depth: the segment after the prefix */
        if (strncmp(t->name, prefix, strlen(prefix)) != 0)
          continue;
        char seg[128];
        snprintf(seg, sizeof seg, "%s", t->name + strlen(prefix));
        seg[strcspn(seg, ".")] = '\0';
        size_t d = vg_edit_distance(seg, full + strlen(prefix));
        if (d < bd) {
          bd = d;
          best = t->name;
        }
      }
      if (best)
        fail(c, kline, NULL, "unknown key \"%s\" (did you mean \"%.*s%s\"?)", shown,
             (int)strlen(label), label, best);
      else
        fail(c, kline, NULL, "unknown key \"%s\"", shown);
      continue;
    }
    int vline = node_line(vn, kline);
    if (seen[k - table]) { /* the same key through two nested mappings */
      fail(c, kline, NULL, "key \"%s\" is given twice (first at line %d)", shown,
           seen[k - table]);
      continue;
    }
    seen[k - table] = vline; /* where it was given, for later messages */
    switch (k->type) {
    case CT_LIST: set_list(c, k, shown, base, vn, NULL, vline); break;
    case CT_MAP: set_map(c, k, shown, base, vn, vline); break;
    case CT_SECTIONS:
      if (on_sections)
        on_sections(c, cfg, k->name, vn, kline);
      break;
    default: {
      size_t vl;
      const char *vs = scalar(vn, &vl);
      if (!vs) {
        fail(c, vline, shown, "expected a single %s value, not a %s", type_name(k),
             is_seq(vn) ? "list" : "mapping");
        break;
      }
      set_scalar(c, k, shown, base, vs, vl, vline);
    }
    }
  }
}

static void check_required(struct ctx *c, const struct ckey *table, const int *seen,
                           const char *label, int line) {
  for (const struct ckey *k = table; k->name; k++)
    if (k->required && !seen[k - table])
      fail(c, line, NULL, "%s%s is required (%s)", label, k->name, k->doc);
}

static void parse_sections(struct ctx *c, struct vg_config *cfg, const char *name,
                           yaml_node_t *v, int line) {
  int is_src = strcmp(name, "sources") == 0;
  int is_ind = strcmp(name, "indicators") == 0;
  const struct ckey *table = is_src   ? source_keys
                             : is_ind ? indicator_keys
                                      : dataset_keys;
  size_t elem = is_src   ? sizeof(struct vg_source_conf)
                : is_ind ? sizeof(struct vg_indicator_conf)
                         : sizeof(struct vg_dataset_conf);
  if (!is_seq(v)) {
    fail(c, line, name, "expected a list of mappings (\"- key: value\" entries)");
    return;
  }
  size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
  void *arr = calloc(n ? n : 1, elem);
  if (!arr) {
    c->oom = 1;
    return;
  }
  if (is_src) {
    cfg->sources = arr;
    cfg->nsources = n;
  } else if (is_ind) {
    cfg->indicators = arr;
    cfg->nindicators = n;
  } else {
    cfg->datasets = arr;
    cfg->ndatasets = n;
  }
  for (size_t i = 0; i < n; i++) {
    yaml_node_t *e = item(c, v->data.sequence.items.start + i);
    void *base = (char *)arr + i * elem;
    int seen[32] = {0};
    char label[64];
    snprintf(label, sizeof label, "%s[%zu].", name, i);
    int eline = line;
    /* the line of an entry: its first key's */
    if (is_map(e) && e->data.mapping.pairs.start < e->data.mapping.pairs.top)
      eline = node_line(yaml_document_get_node(c->doc, e->data.mapping.pairs.start->key),
                        line);
    size_t line_off = is_src   ? SOFF(line)
                      : is_ind ? offsetof(struct vg_indicator_conf, line)
                               : offsetof(struct vg_dataset_conf, line);
    if (is_ind) /* unset keys are told apart from given ones (a preset fills them) */
      vg_indicator_def_init(&((struct vg_indicator_conf *)base)->def);
    *(int *)((char *)base + line_off) = eline;
    apply_defaults(c, table, base);
    walk(c, table, base, e, "", label, seen, cfg, NULL, eline);
    check_required(c, table, seen, label, eline);
    if (is_ind)
      memcpy(((struct vg_indicator_conf *)base)->key_lines, seen,
             sizeof((struct vg_indicator_conf *)base)->key_lines);
    else if (!is_src)
      memcpy(((struct vg_dataset_conf *)base)->key_lines, seen,
             sizeof((struct vg_dataset_conf *)base)->key_lines);
  }
}

static int valid_id(const char *s) {
  if (!s || !*s || !(islower((unsigned char)*s) || isdigit((unsigned char)*s)))
    return 0;
  for (; *s; s++)
    if (!(islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' ||
          *s == '_'))
      return 0;
  return 1;
}

/* Rules that span keys, checked once the whole file is read. */
/* The line where a top-level key was given (1 when it was not). */
static int top_line(const int *seen, const char *name) {
  for (const struct ckey *k = top_keys; k->name; k++)
    if (strcmp(k->name, name) == 0)
      return seen[k - top_keys] ? seen[k - top_keys] : 1;
  return 1;
}

/* The line of a top-level key set in the file, 0 when it is not. */
/* 1 when name is a site name: [A-Za-z0-9._-]{1,64}. */
static int site_name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)name[i]) && !strchr("._-", name[i]))
      return 0;
  return 1;
}

/* A serve instance reads rollup topics only, each with its site; no other
 * role reads them. */
static void serve_source_checks(struct ctx *c, const struct vg_config *cfg,
                                const struct vg_source_conf *s, size_t i) {
  int serve = cfg->role == VG_ROLE_SERVE, vigie = s->format == VG_FORMAT_VIGIE;
  if (serve && !vigie)
    fail(c, s->line, NULL,
         "sources[%zu]: role serve reads rollup topics only (format: vigie, with its "
         "site)",
         i);
  else if (!serve && vigie)
    fail(c, s->line, NULL,
         "sources[%zu]: format vigie (another Vigie's rollup topic) is read by role: "
         "serve only",
         i);
  else if (vigie && !s->site)
    fail(c, s->line, NULL,
         "sources[%zu].site: required with format vigie (the tag site of its series)", i);
  else if (vigie && !site_name_ok(s->site))
    fail(c, s->line, NULL,
         "sources[%zu].site: expected a name of letters, digits, '.', '-' and '_' (1 to "
         "64 bytes), got \"%s\"",
         i, s->site);
  for (size_t j = 0; vigie && s->site && j < i; j++)
    if (cfg->sources[j].site && strcmp(cfg->sources[j].site, s->site) == 0)
      fail(c, s->line, NULL,
           "sources[%zu].site: \"%s\" is the site of the source at line %d too: one "
           "topic per site",
           i, s->site, cfg->sources[j].line);
}

static int key_line(const int *seen, const char *name) {
  for (const struct ckey *k = top_keys; k->name; k++)
    if (strcmp(k->name, name) == 0)
      return seen[k - top_keys];
  return 0;
}

/* Keys set in the file that do nothing in the configured role: a warning
 * each (the file stays valid: one file may serve every role). */
static void role_checks(struct ctx *c, struct vg_config *cfg, const int *seen) {
  static const char *const standalone_unused[] = {"instance_id", "store.delta_partitions",
                                                  NULL};
  static const char *const ingest_unused[] = {"store.durability",
                                              "store.delta_partitions",
                                              "store.shards",
                                              "export_dir",
                                              "publish.export_interval",
                                              "publish.rollups",
                                              "publish.changes_keep",
                                              "publish.emit_log_max",
                                              "retention.dedupe",
                                              NULL};
  static const char *const store_unused[] = {"kafka.dead_letter_topic", "instance_id",
                                             NULL};
  static const char *const serve_unused[] = {"kafka.dead_letter_topic",
                                             "kafka.deltas_topic",
                                             "kafka.rollup_topic",
                                             "kafka.topic_partitions",
                                             "kafka.topic_replication",
                                             "instance_id",
                                             "store.delta_partitions",
                                             "store.shards",
                                             "publish.rollups",
                                             "publish.emit_log_max",
                                             "site",
                                             NULL};
  const char *const *unused = standalone_unused;
  const char *why = "standalone";
  if (cfg->role == VG_ROLE_INGEST) {
    unused = ingest_unused;
    why = "ingest (it keeps no store)";
  } else if (cfg->role == VG_ROLE_STORE) {
    unused = store_unused;
    why = "store (it reads deltas, not sources: it rejects nothing and aggregates no "
          "source directly)";
  } else if (cfg->role == VG_ROLE_SERVE) {
    unused = serve_unused;
    why = "serve (it stores the windows of rollup topics in one shard and publishes "
          "no rollups, dead letters or indicators of its own)";
  }
  for (const char *const *k = unused; *k; k++) {
    int line = key_line(seen, *k);
    if (line > 0)
      VG_LOG_WARN("configuration key without effect in this role",
                  "file=%s line=%d key=%s role=\"%s\"", c->file, line, *k, why);
  }
}

/* The line of key `name` of indicator conf ic (its entry's line when the
 * key was not given). */
static int indicator_key_line(const struct vg_indicator_conf *ic, const char *name) {
  for (const struct ckey *k = indicator_keys; k->name; k++)
    if (strcmp(k->name, name) == 0 && k - indicator_keys < 32 &&
        ic->key_lines[k - indicator_keys])
      return ic->key_lines[k - indicator_keys];
  return ic->line;
}

static void indicator_checks(struct ctx *c, struct vg_config *cfg) {
  for (size_t j = 0; cfg->nindicators && j < cfg->ndatasets; j++)
    if (cfg->datasets[j].def.id &&
        strcmp(cfg->datasets[j].def.id, VG_INDICATORS_DATASET) == 0)
      fail(c, cfg->datasets[j].line, NULL,
           "datasets[%zu].id: \"%s\" is the dataset of the indicators' rows; name "
           "this one otherwise",
           j, VG_INDICATORS_DATASET);
  for (size_t i = 0; i < cfg->nindicators; i++) {
    struct vg_indicator_conf *ic = &cfg->indicators[i];
    struct vg_indicator_def *d = &ic->def;
    char key[128];
    if (!d->id || !d->dataset || !d->metric)
      continue; /* said by check_required */
    if (!valid_id(d->id) || strlen(d->id) > 64) {
      snprintf(key, sizeof key, "indicators[%zu].id", i);
      fail(c, indicator_key_line(ic, "id"), key,
           "\"%s\" must be lower-case letters, digits, '-' and '_', at most 64 bytes",
           d->id);
      continue;
    }
    for (size_t j = 0; j < i; j++)
      if (cfg->indicators[j].def.id && strcmp(cfg->indicators[j].def.id, d->id) == 0) {
        snprintf(key, sizeof key, "indicators[%zu].id", i);
        fail(c, indicator_key_line(ic, "id"), key,
             "\"%s\" is already the id of the indicator at line %d", d->id,
             cfg->indicators[j].line);
      }
    const struct vg_dataset_def *ds = NULL;
    for (size_t j = 0; j < cfg->ndatasets; j++)
      if (cfg->datasets[j].def.id && strcmp(cfg->datasets[j].def.id, d->dataset) == 0)
        ds = &cfg->datasets[j].def;
    char err[512];
    int rc = vg_indicator_finish(d, ds, err, sizeof err);
    if (rc == -ENOMEM) {
      c->oom = 1;
      return;
    }
    if (rc) { /* "key: message" */
      size_t kl = strcspn(err, ":");
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(kl < 63 ? kl : 63), err);
      snprintf(key, sizeof key, "indicators[%zu].%s", i, name);
      fail(c, indicator_key_line(ic, name), key, "%s",
           err[kl] ? err + kl + 1 + (err[kl + 1] == ' ') : err);
      continue;
    }
    if (d->coverage_min > 0 && ds && ds->sensor_period_ns == 0)
      VG_LOG_WARN("indicator without coverage: its dataset has no sensor_period, so "
                  "every window with a reading counts",
                  "file=%s line=%d indicator=%s dataset=%s", c->file,
                  indicator_key_line(ic, "coverage_min"), d->id, ds->id);
  }
}

/* A dataset declared with the mobility-count schema (comptage.h) has what
 * its files need: sites (entity_tag, coordinates), counts (sum), the
 * channels' mobility type; and the INSEE codes have the schema's form. */
static void comptage_checks(struct ctx *c, const struct vg_dataset_conf *dc, size_t i) {
  const struct vg_dataset_def *d = &dc->def;
  for (size_t j = 1; j < d->insee_codes.n; j += 2)
    if (!vg_cm_insee_ok(d->insee_codes.v[j]))
      fail(c, dc->line, NULL,
           "datasets[%zu].insee_codes.%s: expected an INSEE commune code such as "
           "\"75056\" or \"2A004\", got \"%s\"",
           i, d->insee_codes.v[j - 1], d->insee_codes.v[j]);
  if (d->schema != VG_DATASET_SCHEMA_COMPTAGE) {
    if (d->mobility_type || d->site_names.n || d->insee_codes.n)
      fail(c, dc->line, NULL,
           "datasets[%zu]: mobility_type, site_names and insee_codes are keys of "
           "schema: comptage-mobilites, which the dataset does not declare",
           i);
    return;
  }
  if (!d->entity_tag || !d->coordinates.n)
    fail(c, dc->line, NULL,
         "datasets[%zu].schema: comptage-mobilites needs entity_tag (the site of a "
         "series) and coordinates (where each site is)",
         i);
  int has_sum = 0;
  for (size_t j = 0; j < d->columns.n; j++)
    has_sum |= strcmp(d->columns.v[j], "sum") == 0;
  if (!has_sum)
    fail(c, dc->line, NULL,
         "datasets[%zu].columns: comptage-mobilites counts with the sum column; add "
         "sum",
         i);
  if (!vg_cm_mobility_ok(d->mobility_type))
    fail(c, dc->line, NULL,
         "datasets[%zu].mobility_type: comptage-mobilites needs one of BIKE, TWO WHEELS "
         "MOTORIZED, PEDESTRIAN, E-SCOOTER, HORSE-RIDER, CAR, BUS, MINIBUS, TRUCK, VAN, "
         "TRAMWAY, CANOE, UNDEFINED, got \"%s\"",
         i, d->mobility_type ? d->mobility_type : "");
}

/* The line of key `name` of dataset conf dc; 0 when it was not given. */
static int dataset_key_given(const struct vg_dataset_conf *dc, const char *name) {
  for (const struct ckey *k = dataset_keys; k->name; k++)
    if (strcmp(k->name, name) == 0 && k - dataset_keys < 32)
      return dc->key_lines[k - dataset_keys];
  return 0;
}

/* The line of key `name` of dc, or its entry's when the key was not given. */
static int dataset_key_line(const struct vg_dataset_conf *dc, const char *name) {
  int line = dataset_key_given(dc, name);
  return line ? line : dc->line;
}

/* merge_by: tag names, once each; a merged row shows only grouping tags. */
static void merge_by_checks(struct ctx *c, const struct vg_dataset_conf *dc, size_t i) {
  const struct vg_dataset_def *d = &dc->def;
  char key[64];
  int line = dataset_key_line(dc, "merge_by");
  snprintf(key, sizeof key, "datasets[%zu].merge_by", i);
  if (dataset_key_given(dc, "merge_by") && !d->merge_by.n)
    fail(c, line, key, "the list is empty: name the tags whose values make a row");
  for (size_t j = 0; j < d->merge_by.n; j++) {
    const char *t = d->merge_by.v[j];
    char clean[256];
    size_t n = strlen(t) < sizeof clean ? strlen(t) : sizeof clean - 1;
    vg_series_key_name(clean, t, n);
    if (!*t || strlen(t) >= sizeof clean || memcmp(clean, t, n) != 0)
      fail(c, line, key,
           "\"%s\" is not a tag name (letters, digits, '_', ':', '.', '-', '/')", t);
    for (size_t k = 0; k < j; k++)
      if (strcmp(d->merge_by.v[k], t) == 0)
        fail(c, line, key, "\"%s\" is listed twice", t);
  }
  if (!d->merge_by.n)
    return;
  for (size_t j = 0; j < d->tag_columns.n; j++) {
    int in = 0;
    for (size_t k = 0; k < d->merge_by.n; k++)
      in |= strcmp(d->merge_by.v[k], d->tag_columns.v[j]) == 0;
    if (!in) {
      snprintf(key, sizeof key, "datasets[%zu].tag_columns", i);
      fail(c, dataset_key_line(dc, "tag_columns"), key,
           "\"%s\" is not one of merge_by: a merged row has no single value of it; "
           "add it to merge_by or drop the column",
           d->tag_columns.v[j]);
    }
  }
  int in = !d->entity_tag;
  for (size_t k = 0; k < d->merge_by.n && !in; k++)
    in = strcmp(d->merge_by.v[k], d->entity_tag) == 0;
  if (!in) {
    snprintf(key, sizeof key, "datasets[%zu].entity_tag", i);
    fail(c, dataset_key_line(dc, "entity_tag"), key,
         "\"%s\" is not one of merge_by: a merged row has no single entity",
         d->entity_tag);
  }
}

static void cross_checks(struct ctx *c, struct vg_config *cfg, const int *seen) {
  role_checks(c, cfg, seen);
  for (size_t i = 0; i < cfg->store_delta_partitions.n; i++) {
    const char *v = cfg->store_delta_partitions.v[i];
    char *end;
    long n = strtol(v, &end, 10);
    if (!*v || *end || n < 0 || n > 100000)
      fail(c, top_line(seen, "store.delta_partitions"), "store.delta_partitions",
           "expected partition numbers such as [0, 1], got \"%s\"", v);
    for (size_t j = 0; j < i; j++)
      if (atol(cfg->store_delta_partitions.v[j]) == n)
        fail(c, top_line(seen, "store.delta_partitions"), "store.delta_partitions",
             "partition %s is listed twice", v);
  }
  if (cfg->site && !site_name_ok(cfg->site))
    fail(c, top_line(seen, "site"), "site",
         "expected a name of letters, digits, '.', '-' and '_' (1 to 64 bytes), got "
         "\"%s\"",
         cfg->site);
  if (cfg->http_public_url && !vg_api_public_url_ok(cfg->http_public_url))
    fail(c, top_line(seen, "http.public_url"), "http.public_url",
         "expected an absolute http:// or https:// URL without query, fragment, "
         "spaces or quotes (https://data.example.org), got \"%s\"",
         cfg->http_public_url);
  if (cfg->nsources == 0 && cfg->sources)
    fail(c, top_line(seen, "sources"), "sources",
         "the list is empty: at least one source is required");
  if (cfg->base_ns > 0 && NS(3600) % cfg->base_ns != 0) {
    char d[32];
    fmt_duration(d, sizeof d, cfg->base_ns);
    fail(c, top_line(seen, "windows.base"), "windows.base",
         "%s does not divide an hour (use 1m, 5m, 15m, ...)", d);
  }
  for (size_t i = 0; i < cfg->nsources; i++) {
    struct vg_source_conf *s = &cfg->sources[i];
    serve_source_checks(c, cfg, s, i);
    if (s->format == VG_FORMAT_JSON && !s->time_key)
      fail(c, s->line, NULL,
           "sources[%zu] (topic %s): time_key is required for format "
           "json (the field that holds the event time)",
           i, s->topic ? s->topic : "?");
    for (size_t j = 0; j < i && s->topic; j++)
      if (cfg->sources[j].topic && strcmp(cfg->sources[j].topic, s->topic) == 0)
        fail(c, s->line, NULL,
             "sources[%zu]: topic \"%s\" is already consumed by the "
             "source at line %d",
             i, s->topic, cfg->sources[j].line);
    if (s->replay_of && s->topic && cfg->kafka_dead_letter_topic &&
        strcmp(s->topic, cfg->kafka_dead_letter_topic) == 0)
      fail(c, s->line, NULL,
           "sources[%zu].replay_of: the replayed topic \"%s\" is also "
           "kafka.dead_letter_topic: what is still rejected would be read again forever; "
           "write this run's dead letters to another topic",
           i, s->topic);
  }
  for (size_t i = 0; i < cfg->ndatasets; i++) {
    struct vg_dataset_conf *dc = &cfg->datasets[i];
    struct vg_dataset_def *d = &dc->def;
    if (d->id && !valid_id(d->id))
      fail(c, dc->line, NULL,
           "datasets[%zu].id: \"%s\" must be lower-case letters, "
           "digits, '-' and '_'",
           i, d->id);
    for (size_t j = 0; j < i && d->id; j++)
      if (cfg->datasets[j].def.id && strcmp(cfg->datasets[j].def.id, d->id) == 0)
        fail(c, dc->line, NULL,
             "datasets[%zu].id: \"%s\" is already the id of the "
             "dataset at line %d",
             i, d->id, cfg->datasets[j].line);
    char iri[128];
    if (d->hvd_category && vg_api_hvd_category(d->hvd_category, iri, sizeof iri) != 0)
      fail(c, dc->line, NULL,
           "datasets[%zu].hvd_category: expected a code of the EU high-value "
           "categories such as c_b79e35eb, or its IRI "
           "http://data.europa.eu/bna/c_b79e35eb, got \"%s\"",
           i, d->hvd_category);
    if (d->contact_point && !vg_api_contact_ok(d->contact_point))
      fail(c, dc->line, NULL,
           "datasets[%zu].contact_point: expected an e-mail address or an http(s) "
           "URL, got \"%s\"",
           i, d->contact_point);
    if (d->hvd_category && !d->contact_point)
      fail(c, dc->line, NULL,
           "datasets[%zu].contact_point is required with hvd_category (a high-value "
           "dataset's data service must name a contact point)",
           i);
    if (d->coordinates.n && !d->entity_tag)
      fail(c, dc->line, NULL,
           "datasets[%zu].coordinates: entity_tag is required too (the "
           "tag whose values the coordinates are keyed by)",
           i);
    comptage_checks(c, dc, i);
    merge_by_checks(c, dc, i);
    for (size_t j = 1; j < d->coordinates.n; j += 2) {
      double lat, lon;
      char tail;
      if (sscanf(d->coordinates.v[j], "%lf ,%lf %c", &lat, &lon, &tail) != 2 ||
          !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180))
        fail(c, dc->line, NULL,
             "datasets[%zu].coordinates.%s: expected \"latitude,"
             "longitude\" in degrees such as \"48.8566,2.3522\", got \"%s\"",
             i, d->coordinates.v[j - 1], d->coordinates.v[j]);
    }
  }
  indicator_checks(c, cfg);
}

int vg_config_parse(const char *name, const char *text, size_t len, struct vg_config *cfg,
                    char *errstr, size_t errstr_size) {
  struct ctx c = {.file = name, .err = errstr, .errsize = errstr_size};
  yaml_parser_t parser;
  yaml_document_t doc;
  int have_parser = 0, have_doc = 0, rc;
  memset(cfg, 0, sizeof *cfg);
  if (errstr_size)
    errstr[0] = '\0';
  cfg->path = xstrdup(&c, name, strlen(name));
  if (!cfg->path)
    goto done;
  apply_defaults(&c, top_keys, cfg);
  /* YAML is UTF-8 text: a bad byte or a NUL is reported with its line before
   * any parsing. */
  size_t valid = vg_utf8_valid_prefix(text, len);
  const char *nul = memchr(text, '\0', valid);
  if (valid < len || nul) {
    size_t at = nul ? (size_t)(nul - text) : valid;
    int line = 1;
    for (size_t i = 0; i < at; i++)
      line += text[i] == '\n';
    fail(&c, line, NULL, "%s at byte %zu (0x%02x): a configuration file is UTF-8 text",
         nul ? "NUL byte" : "invalid UTF-8", at, (unsigned)(unsigned char)text[at]);
    goto done;
  }
  if (!yaml_parser_initialize(&parser)) {
    c.oom = 1;
    goto done;
  }
  have_parser = 1;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    fail(&c, (int)parser.problem_mark.line + 1, NULL, "YAML: %s%s%s",
         parser.problem ? parser.problem : "the document could not be parsed",
         parser.context ? " " : "", parser.context ? parser.context : "");
    goto done;
  }
  have_doc = 1;
  c.doc = &doc;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    fail(&c, 1, NULL, "the file is empty: at least sources are required");
    goto done;
  }
  int seen[64] = {0};
  walk(&c, top_keys, cfg, root, "", "", seen, cfg, parse_sections, 1);
  check_required(&c, top_keys, seen, "", 1);
  if (!c.oom)
    cross_checks(&c, cfg, seen);
done:
  if (have_doc)
    yaml_document_delete(&doc);
  if (have_parser)
    yaml_parser_delete(&parser);
  rc = c.oom ? -ENOMEM : c.nerr ? VG_ECONFIG : 0;
  if (rc)
    vg_config_release(cfg);
  return rc;
}

int vg_config_load(const char *path, struct vg_config *cfg, char *errstr,
                   size_t errstr_size) {
  memset(cfg, 0, sizeof *cfg);
  FILE *f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    snprintf(errstr, errstr_size, "%s: cannot read the configuration: %s", path,
             strerror(e));
    return -e;
  }
  char *text = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (cap - len < 65536) {
      cap = cap ? cap * 2 : 65536;
      char *nt = realloc(text, cap);
      if (!nt) {
        free(text);
        fclose(f);
        return -ENOMEM;
      }
      text = nt;
    }
    size_t r = fread(text + len, 1, cap - len, f);
    len += r;
    if (r == 0)
      break;
  }
  int ferr = ferror(f);
  fclose(f);
  if (ferr) {
    free(text);
    snprintf(errstr, errstr_size, "%s: read error", path);
    return -EIO;
  }
  int rc = vg_config_parse(path, text, len, cfg, errstr, errstr_size);
  free(text);
  return rc;
}

void vg_config_release(struct vg_config *cfg) {
  for (size_t i = 0; i < cfg->nsources; i++)
    release_table(source_keys, &cfg->sources[i]);
  for (size_t i = 0; i < cfg->ndatasets; i++)
    release_table(dataset_keys, &cfg->datasets[i]);
  for (size_t i = 0; i < cfg->nindicators; i++)
    release_table(indicator_keys, &cfg->indicators[i]);
  free(cfg->sources);
  free(cfg->datasets);
  free(cfg->indicators);
  release_table(top_keys, cfg);
  free(cfg->path);
  memset(cfg, 0, sizeof *cfg);
}

/* ---- what publication receives ----------------------------------------------- */

int vg_config_api(const struct vg_config *cfg, struct vg_api_opts *o) {
  *o = (struct vg_api_opts){0};
  struct vg_dataset_def *defs = calloc(cfg->ndatasets + 1, sizeof *defs);
  const char **count_as = calloc(cfg->nsources + 1, sizeof *count_as);
  struct vg_indicator_def *inds = calloc(cfg->nindicators + 1, sizeof *inds);
  if (!defs || !count_as || !inds) {
    free(defs);
    free(count_as);
    free(inds);
    return -ENOMEM;
  }
  for (size_t i = 0; i < cfg->nindicators; i++)
    inds[i] = cfg->indicators[i].def;
  for (size_t i = 0; i < cfg->ndatasets; i++)
    defs[i] = cfg->datasets[i].def;
  size_t n = 0;
  for (size_t i = 0; i < cfg->nsources; i++)
    if (cfg->sources[i].count_as)
      count_as[n++] = cfg->sources[i].count_as;
  *o = (struct vg_api_opts){
      .datasets = defs,
      .ndatasets = cfg->ndatasets,
      .env = {.store_timezone = cfg->timezone, .count_as = count_as, .ncount_as = n},
      .public_url = cfg->http_public_url,
      .cache_bytes = (size_t)cfg->http_cache,
      .indicators = inds,
      .nindicators = cfg->nindicators,
      .lateness_s = cfg->lateness_ns / NS(1)};
  return 0;
}

void vg_config_api_release(struct vg_api_opts *o) {
  free((void *)o->datasets);
  free((void *)o->env.count_as);
  free((void *)o->indicators);
  memset(o, 0, sizeof *o);
}

/* ---- reference --------------------------------------------------------------- */

static void write_table(FILE *out, const struct ckey *table, const char *title,
                        const char *prefix, int md) {
  if (md)
    fprintf(out, "\n## %s\n\n| key | type | default | description |\n|---|---|---|---|\n",
            title);
  else
    fprintf(out, "\n%s:\n", title);
  for (const struct ckey *k = table; k->name; k++) {
    char type[300], bounds[96] = "";
    if (k->choices) {
      char all[256];
      join_choices(all, sizeof all, k->choices);
      snprintf(type, sizeof type, "%s %s", type_name(k), all);
    } else {
      snprintf(type, sizeof type, "%s", type_name(k));
    }
    if (k->type == CT_INT) {
      snprintf(bounds, sizeof bounds, " [%lld, %lld]", (long long)k->min,
               (long long)k->max);
    } else if (k->type == CT_SIZE) {
      char lo[32], hi[32];
      fmt_size(lo, sizeof lo, k->min);
      fmt_size(hi, sizeof hi, k->max);
      snprintf(bounds, sizeof bounds, " [%s, %s]", lo, hi);
    } else if ((k->type == CT_DURATION || k->type == CT_RETENTION) &&
               (k->min || k->max)) {
      char lo[32], hi[32];
      fmt_duration(lo, sizeof lo, k->min);
      fmt_duration(hi, sizeof hi, k->max);
      if (k->max)
        snprintf(bounds, sizeof bounds, " [%s, %s]", lo, hi);
      else
        snprintf(bounds, sizeof bounds, " [%s, ...]", lo);
    }
    const char *def = k->def ? k->def : k->required ? "(required)" : "(none)";
    if (md)
      fprintf(out, "| `%s%s` | %s%s | `%s` | %s |\n", prefix, k->name, type, bounds, def,
              k->doc);
    else
      fprintf(out, "  %s%-26s %s%s (default %s)\n      %s\n", prefix, k->name, type,
              bounds, def, k->doc);
  }
}

void vg_config_write_reference(FILE *out, int md) {
  if (md)
    fputs("# vigied configuration reference\n\n"
          "Generated from the key tables in engine/daemon/config.c by\n"
          "`vigied --config-reference`; do not edit by hand. Durations are written\n"
          "like 500ms, 90s, 15m, 2h, 1d or 1h30m. Dotted keys are nested mappings:\n"
          "`windows.lateness: 2h` is written `windows: {lateness: 2h}`.\n",
          out);
  write_table(out, top_keys, "Top level", "", md);
  write_table(out, source_keys, "sources[] entries", "", md);
  write_table(out, dataset_keys, "datasets[] entries", "", md);
  write_table(out, indicator_keys, "indicators[] entries", "", md);
}
