/*
 * The serve role (docs/territory.md; DESIGN.md "Scale-out on Kafka"): a
 * store of hourly and daily windows fed by the rollup topics of one or
 * more Vigie deployments (sources of `format: vigie`, each with its
 * `site`), which the daemon serves like any store (API, exports, DCAT,
 * vigieq). Internal to the daemon (engine.c runs it in place of the
 * ingestion).
 *
 * Each record is a window's whole state with the city's revision
 * (vg_rollin_decode): the window is written as it is -- a revision replaces
 * what it revises, it is never added to it -- into the series tagged
 * site=<source's site>. An epoch commits the windows read since the last
 * one with the next offset of every partition read, in one LMDB
 * transaction: a crash re-reads from the stored offsets and writes the
 * same states again, so nothing is lost or counted twice. A record of
 * another time zone or clock, or one that is not a rollup record, stops
 * the instance with the topic, partition, offset and reason (nothing of the
 * epoch is committed): merging it would be wrong, skipping it would lose
 * it.
 */
#ifndef VIGIE_DAEMON_SERVE_H
#define VIGIE_DAEMON_SERVE_H

#include <stdint.h>

#include "vigie/config.h"
#include "vigie/store.h"
#include "vigie/tz.h"

/* What the indicators' step adds to an epoch (serve_opts.indicators). */
struct serve_ind {
  const struct vg_store_ind *rows;
  size_t nrows;
  const struct vg_store_emit *emit; /* one per row */
  struct vg_store_blob blob;        /* name NULL: none */
};

struct serve_opts {
  const struct vg_config *cfg;
  struct vg_store *store; /* one shard */
  const struct vg_tz *tz;
  const uint8_t *hkey; /* 16 bytes: the SipHash key of series ids */
  const char *brokers;
  const char *const *props; /* librdkafka properties, NULL-terminated pairs */
  int drain;                /* read to the end offsets seen at start, commit, return */
  /* polled between batches; non-zero: commit what was read and return 0 */
  int (*stopping)(void *ctx);
  /* what /readyz says: ready (consuming), and why not or what is missing */
  void (*status)(void *ctx, int ready, const char *why);
  /* after each commit (new windows in the store) */
  void (*committed)(void *ctx, uint64_t windows);
  /* indicators (NULL: none), before each commit: the rows to commit with
   * it, their emit-log records and the blob of their position (force:
   * step now, not only when due); then whether the commit took them */
  int (*indicators)(void *ctx, int force, struct serve_ind *out, char *errstr,
                    size_t errstr_size);
  void (*indicators_done)(void *ctx, int committed);
  /* the emit-log sequence the indicators have read up to: the log is
   * trimmed below it only (NULL: no indicators) */
  uint64_t (*indicators_cursor)(void *ctx);
  void *ctx;
};

/* Runs until stopping() or, with drain, the end. 0, or an error with
 * errstr (a record refused: the instance must stop). The brokers being
 * away is not an error: it serves and retries. */
int serve_run(const struct serve_opts *o, char *errstr, size_t errstr_size);

#endif
