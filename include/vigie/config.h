/*
 * vigied's configuration: the YAML file operations write (docs/configuration.md,
 * README.md "Configuration"), parsed with libyaml and checked against ONE table of keys
 * (name, type, default, bounds, doc) that also produces `vigied --help` and
 * the configuration reference (docs/configuration.md is generated from it).
 *
 * Errors name the file, the line and the key, say what was expected and what
 * was found ("vigie.yaml:12: windows.lateness: expected a duration such as
 * 90s, 15m, 2h or 1d, got \"soon\""), one per line in errstr; every error of
 * the file is reported, not only the first. Nothing outside the file is
 * touched while loading, except reading the time-zone database.
 *
 * Ownership: vg_config_load fills a caller-owned struct vg_config whose
 * strings and arrays it allocates; vg_config_release frees them. Not
 * thread-safe while loading; read-only afterwards.
 */
#ifndef VIGIE_CONFIG_H
#define VIGIE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/api.h"
#include "vigie/indicator.h"
#include "vigie/text.h"

struct vg_source_conf {
  char *topic;
  int format; /* enum vg_codec_format (codec.h) */
  char *time_key;
  int time_format; /* enum vg_time_format (codec.h) */
  char *time_zone;
  char *entity_key;
  struct vg_strlist tag_keys;
  struct vg_strlist fields;
  char *count_as;
  char *distinct_key;
  int precision; /* enum vg_precision (codec.h) */
  int quantiles; /* keep quantile sketches (p50, p95) for its series */
  int64_t max_message_bytes;
  char *replay_of;    /* a dead-letter topic's replay: the source topic replayed */
  int dedupe;         /* drop re-sent readings (worker.h "Duplicates") */
  int64_t dedupe_max; /* fingerprints kept per series and base window */
  char *site;         /* format vigie: the tag site of its series */
  int line;           /* where it is declared */
};

/* A datasets[] entry: the definition publication receives, and where it is
 * declared. */
struct vg_dataset_conf {
  struct vg_dataset_def def;
  int line;
  int key_lines[32]; /* the line of each key given (dataset_keys order), 0: not */
};

/* An indicators[] entry (docs/indicators.md): its definition, where it is
 * declared, and the line of each key given (for later messages). */
struct vg_indicator_conf {
  struct vg_indicator_def def;
  int line;
  int key_lines[32];
};

/* What an instance does (DESIGN.md "Scale-out on Kafka"; docs/scaleout.md). */
enum vg_role {
  VG_ROLE_STANDALONE = 0, /* ingest + store + serve in one process */
  VG_ROLE_INGEST,         /* consume, aggregate, produce deltas in transactions */
  VG_ROLE_STORE,          /* merge the deltas into the store, publish */
  VG_ROLE_SERVE           /* rollup topics (format: vigie) into a store, served */
};

struct vg_config {
  char *path;        /* the file it came from */
  int role;          /* enum vg_role */
  char *instance_id; /* names the ingest role's transactions; NULL: the host name */
  char *kafka_deltas_topic;
  char *data_dir;
  char *timezone;
  char *site;    /* this deployment's site name in its rollup records; NULL: none */
  int log_level; /* enum vg_log_level (log.h) */
  int64_t base_ns, lateness_ns, out_of_orderness_ns, idle_timeout_ns;
  int64_t checkpoint_interval_ns;
  int64_t retention_base_ns, retention_1h_ns, retention_1d_ns; /* 0: forever */
  int64_t retention_dedupe_ns; /* how far back duplicates are checked; 0: forever */
  int durability;              /* enum vg_store_durability (store.h) */
  int64_t store_shards;        /* store.shards (store.h, "Shards"); 0: auto */
  /* store role: the delta partitions this instance merges (decimal
   * strings, checked); empty: all */
  struct vg_strlist store_delta_partitions;
  int64_t workers;
  /* bytes the workers' epochs (current and waiting for the writer) may
   * hold together; 0: no limit (memory_limit, docs/aggregation.md) */
  int64_t memory_limit;
  int64_t kafka_embedded_partitions;
  int64_t kafka_topic_partitions;  /* output topics created: 0, the cluster's default */
  int64_t kafka_topic_replication; /* idem */
  char *kafka_brokers;             /* "embedded" for the in-process mock cluster */
  char *kafka_group;
  char *kafka_dead_letter_topic;
  char *kafka_rollup_topic;
  int64_t kafka_drain_wait_ns;        /* --drain: how long the brokers are waited for */
  struct vg_strlist kafka_properties; /* key, value, key, value, ... */
  char *http_listen;
  char *http_public_url; /* NULL: links from the request's Host header */
  int64_t http_threads;  /* 0: auto (the CPUs) */
  int64_t http_max_connections;
  int64_t http_per_ip_connections; /* 0: no bound */
  int64_t http_timeout_ns;
  int64_t http_max_request; /* bytes of a request's line and headers */
  int64_t http_cache;       /* bytes of the API's answer cache; 0: none */
  char *export_dir;
  int64_t publish_export_interval_ns;
  int publish_rollups;          /* CT_BOOL */
  int64_t publish_changes_keep; /* emit-log records kept */
  int64_t publish_emit_log_max; /* emit-log records the rollup topic may lag */
  struct vg_source_conf *sources;
  size_t nsources;
  struct vg_dataset_conf *datasets;
  size_t ndatasets;
  struct vg_indicator_conf *indicators;
  size_t nindicators;
};

/* Loads and validates path into *cfg (which holds nothing before). Returns 0,
 * VG_ECONFIG (errors in errstr, one per line), -ENOENT/-EACCES (file not
 * readable, named in errstr) or -ENOMEM. On error *cfg holds nothing. */
int vg_config_load(const char *path, struct vg_config *cfg, char *errstr,
                   size_t errstr_size);
/* The same from a buffer; name is used in messages. */
int vg_config_parse(const char *name, const char *text, size_t len, struct vg_config *cfg,
                    char *errstr, size_t errstr_size);
void vg_config_release(struct vg_config *cfg);

/* What the API publishes of cfg: its datasets' definitions, the store's
 * zone and the sources' count_as metrics. *o points into cfg (valid while
 * cfg is) and holds arrays of its own: vg_config_api_release (also after
 * an error). 0 or -ENOMEM. */
int vg_config_api(const struct vg_config *cfg, struct vg_api_opts *o);
void vg_config_api_release(struct vg_api_opts *o);

/* Writes the reference of every key: markdown tables when markdown is
 * non-zero (docs/configuration.md), aligned text otherwise (--help). */
void vg_config_write_reference(FILE *out, int markdown);

/* Parses a duration such as 500ms, 90s, 15m, 2h, 1d or 1h30m into ns.
 * Returns 0 or -EINVAL. */
int vg_parse_duration(const char *s, int64_t *ns);
/* Parses a size in bytes: digits with an optional binary unit, KiB, MiB,
 * GiB or TiB (1024-based), or B. Returns 0 or -EINVAL (a fraction, another
 * unit, a value past INT64_MAX). */
int vg_parse_size(const char *s, int64_t *bytes);

#endif
