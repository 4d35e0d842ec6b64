/*
 * Published datasets (docs/publication.md "Datasets"): a dataset of the config
 * compiled against the store -- its schema (the published columns), its
 * series (those of its metrics), and its rows, streamed from a store reader
 * snapshot with the privacy rule applied.
 *
 * Columns, in this order: start_datetime (inclusive), end_datetime
 * (exclusive), metric, the tag columns, the chosen statistics, coverage
 * (only when sensor_period is configured), status (provisional|final),
 * revision, suppressed (only with suppress_below; which cells were blanked,
 * comma-separated, empty when none).
 *
 * Privacy (suppress_below: k; docs/publication.md "Privacy"): count-derived
 * cells -- count, sum, coverage of a window whose count is under k, and
 * distinct when it is under k -- are blanked (null) and named in
 * `suppressed`, never 0 and never silently missing. Secondary suppression
 * for hourly datasets: within each local day (of the store's time zone, the
 * days of the 1d rollup) of each series, when some hour is suppressed, the
 * next smallest hours are suppressed too until at least two are and their
 * counts add up to k or more (or every hour of the day is), so that the
 * daily total minus the published hours reveals neither one hour nor a sum
 * under k. Suppression depends only on the stored windows, never on the
 * request (a narrower query sees the same cells blanked).
 *
 * Ownership and threads: a struct vg_dataset owns copies of what it needs
 * (the definition may be released after vg_dataset_new) and is immutable
 * afterwards: any number of threads may scan it at once, each with its own
 * reader and series list.
 */
#ifndef VIGIE_DATASET_H
#define VIGIE_DATASET_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/jsonw.h"
#include "vigie/odsql.h"
#include "vigie/serieskey.h" /* vg_series_key_split */
#include "vigie/store.h"
#include "vigie/text.h"
#include "vigie/tz.h"

/* Which windows a dataset publishes. */
enum vg_dataset_status {
  VG_DATASET_FINAL, /* final windows only */
  VG_DATASET_ALL,   /* provisional ones too */
};

/* A dataset's definition: what publication receives of a datasets[] entry
 * of the configuration (docs/configuration.md names the keys; the daemon
 * builds it). Strings and lists are the caller's; NULL strings are unset. */
struct vg_dataset_def {
  char *id;
  char *title;
  char *description;
  struct vg_strlist keywords;
  char *publisher;
  char *license;
  int resolution; /* enum vg_res: VG_RES_HOUR or VG_RES_DAY */
  struct vg_strlist metrics;
  struct vg_strlist columns;
  struct vg_strlist tag_columns;
  /* non-empty: rows merge the series of equal metric and values of these
   * tags (wmerge.h), one row per group and window; tag_columns and
   * entity_tag are then among them */
  struct vg_strlist merge_by;
  int64_t suppress_below;        /* 0: no suppression */
  int status;                    /* enum vg_dataset_status */
  char *timezone;                /* NULL: the store's zone */
  int64_t sensor_period_ns;      /* expected interval between readings; 0: unknown */
  char *entity_tag;              /* the tag naming the sensor (coordinates, GeoJSON) */
  struct vg_strlist coordinates; /* entity, "lat,lon", entity, "lat,lon", ... */
  /* DCAT-AP HVD: the dataset's high-value category (a code of the EU
   * vocabulary, c_b79e35eb, or its IRI http://data.europa.eu/bna/c_b79e35eb);
   * NULL: not flagged as high-value */
  char *hvd_category;
  /* who answers about the dataset: an e-mail address or an http(s) URL
   * (dcat:contactPoint; required with hvd_category) */
  char *contact_point;
  /* a schema the dataset is also published with (comptage.h): 0 none, or
   * VG_DATASET_SCHEMA_COMPTAGE, with the keys below */
  int schema;
  char *mobility_type;           /* channels' mobility_type (BIKE, ...) */
  struct vg_strlist site_names;  /* entity, site name, entity, site name, ... */
  struct vg_strlist insee_codes; /* entity, INSEE commune code, ... */
};

/* Schemas a dataset may be declared with (def.schema). */
enum { VG_DATASET_SCHEMA_NONE, VG_DATASET_SCHEMA_COMPTAGE };

/* What every dataset of one store shares: the store's zone (the local days
 * of its 1d rollup; NULL: UTC) and the count_as metrics of the sources (a
 * count_as metric's sum is a count too; duplicates are allowed). Borrowed:
 * vg_dataset_new copies what it keeps. */
struct vg_dataset_env {
  const char *store_timezone;
  const char *const *count_as;
  size_t ncount_as;
};

struct vg_dataset;

/* Compiles definition def in env. 0, VG_ECONFIG / VG_ENOTFOUND (a zone)
 * with errstr, or -ENOMEM. */
int vg_dataset_new(const struct vg_dataset_def *def, const struct vg_dataset_env *env,
                   struct vg_dataset **out, char *errstr, size_t errstr_size);
void vg_dataset_free(struct vg_dataset *ds);

struct vg_indicators;
/* The dataset `indicateurs` (docs/indicators.md "Rows") described by def
 * (its id, title, licence, publisher...; its window keys are ignored):
 * rows are the store's indicator rows, its "series" the (indicator, series)
 * pairs, its resolution VG_STORE_EMIT_IND. ix is borrowed and must outlive
 * it. */
int vg_dataset_new_indicators(const struct vg_dataset_def *def,
                              const struct vg_indicators *ix, struct vg_dataset **out,
                              char *errstr, size_t errstr_size);

const char *vg_dataset_id(const struct vg_dataset *ds);
/* The copy of the definition it was built from (valid while ds lives). */
const struct vg_dataset_def *vg_dataset_definition(const struct vg_dataset *ds);
/* The zone of published timestamps. */
const struct vg_tz *vg_dataset_tz(const struct vg_dataset *ds);
/* The store resolution (enum vg_res) it publishes. */
uint8_t vg_dataset_res(const struct vg_dataset *ds);
/* The end of the slot of its resolution that starts at start: an hour
 * later (hourly), the end of the store's local day (daily). */
int64_t vg_dataset_slot_end(const struct vg_dataset *ds, int64_t start);
/* The schema; *n gets the number of fields. Valid while ds lives. */
const struct vg_odsql_field *vg_dataset_fields(const struct vg_dataset *ds, size_t *n);
/* Index of a field by name, or -1. */
int vg_dataset_field(const struct vg_dataset *ds, const char *name);
/* Coordinates of an entity (the entity_tag's value): 1 when configured. */
int vg_dataset_coords(const struct vg_dataset *ds, const char *entity, double *lat,
                      double *lon);

/* A series of the dataset, with its metric and tag-column values. With
 * merge_by, a group of series (wmerge.h): its key the group key, its id its
 * smallest member's, its members every series of the group. */
struct vg_dataset_series {
  uint64_t id;
  char *key; /* canonical key */
  char *metric;
  char **tags;       /* one per tag column; NULL when the series lacks it */
  char *entity;      /* the entity_tag's value, or NULL */
  int count_as;      /* a count_as metric: its sum is a count too */
  uint64_t *members; /* merge_by: the member series' ids, ascending; else NULL */
  size_t nmembers;
};

/* The store series whose windows make s's rows: its members, or s itself
 * (*n gets their number). Valid while s lives. */
const uint64_t *vg_dataset_series_ids(const struct vg_dataset_series *s, size_t *n);

struct vg_dataset_series_list {
  struct vg_dataset_series *v;
  size_t n;
  size_t ntags; /* tag columns of each series */
};

/* The dataset's series in a snapshot, sorted by canonical key. The list is
 * the caller's (release it); series ids are stable, so a list stays usable
 * with later snapshots (new series are simply not in it). */
int vg_dataset_series(const struct vg_dataset *ds, struct vg_store_reader *r,
                      struct vg_dataset_series_list *out);
void vg_dataset_series_release(struct vg_dataset_series_list *l);

/* One published row: values in schema order (text points into the series
 * or static strings; valid during the callback). */
struct vg_dataset_row {
  const struct vg_odsql_value *v;
  size_t n;
  const struct vg_dataset_series *series;
  int64_t start, end; /* UTC seconds */
};

/* What to scan, and where it stopped. */
struct vg_dataset_scan {
  int64_t from_s, to_s; /* window starts in [from_s, to_s) */
  int64_t max_rows;     /* stop after the day-block where this many rows went out;
                           0: no limit */
  /* cursor: in on entry (0, INT64_MIN to start), out on return */
  size_t series_idx;
  int64_t next_s; /* first window start not yet scanned of that series */
  int done;       /* out: 1 when every row was produced */
  uint64_t rows;  /* out: rows produced by this call */
};

/* Streams the rows of l (from the cursor) through cb, series by series in
 * key order and by start within a series, with the dataset's status filter
 * and privacy rule applied. cb returns 0 to go on, non-zero to stop (the
 * value is returned and the cursor is not resumable). Returns 0 (sc->done
 * tells whether everything was produced or max_rows stopped it at a day
 * boundary, resumable), cb's value, or a store error with errstr. */
int vg_dataset_scan(const struct vg_dataset *ds, struct vg_store_reader *r,
                    const struct vg_dataset_series_list *l, struct vg_dataset_scan *sc,
                    int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                    char *errstr, size_t errstr_size);

/* The rows of one window (the changed-since feed): the same rows as a scan
 * gives, privacy included -- and, for an hourly dataset with suppress_below,
 * every row of the window's store day, since a change to one hour may move
 * secondary suppression to another. 1 when a row was produced (cb's
 * non-zero value is kept in *cbrc), 0 when none (absent or filtered out),
 * or an error. */
int vg_dataset_window(const struct vg_dataset *ds, struct vg_store_reader *r,
                      const struct vg_dataset_series *s, int64_t start,
                      int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                      int *cbrc, char *errstr, size_t errstr_size);

/* The start of the rows vg_dataset_window re-sends for the window starting
 * at start: its store day (hourly datasets with suppress_below: the
 * suppression group), else itself. */
int64_t vg_dataset_group(const struct vg_dataset *ds, int64_t start);

/* Output formats of rows. sel: field indexes to write (nsel of them); tz:
 * the zone of the datetimes. */
enum vg_dataset_fmt { VG_DS_CSV, VG_DS_JSON, VG_DS_JSONL, VG_DS_GEOJSON };

/* Rows of any schema (a dataset's, an analysis query's columns): fields
 * names and types the columns, row the values indexed as fields. */
/* A CSV header line (CRLF-terminated) with delimiter delim. */
int vg_rows_csv_header(FILE *out, const struct vg_odsql_field *fields, const size_t *sel,
                       size_t nsel, char delim);
/* One CSV line: empty cells for nulls; fields quoted as vg_csv_field. */
int vg_rows_csv_row(FILE *out, const struct vg_odsql_field *fields,
                    const struct vg_odsql_value *row, const size_t *sel, size_t nsel,
                    const struct vg_tz *tz, char delim);
/* One JSON object {"field": value, ...} as one value of w (jsonw.h);
 * returns vg_jsonw_error(w). */
int vg_rows_json_row(struct vg_jsonw *w, const struct vg_odsql_field *fields,
                     const struct vg_odsql_value *row, const size_t *sel, size_t nsel,
                     const struct vg_tz *tz);

/* The same for a dataset's rows. */
int vg_dataset_csv_header(FILE *out, const struct vg_dataset *ds, const size_t *sel,
                          size_t nsel, char delim);
/* One CSV line: empty cells for nulls; fields quoted as vg_csv_field. */
int vg_dataset_csv_row(FILE *out, const struct vg_dataset *ds,
                       const struct vg_dataset_row *row, const size_t *sel, size_t nsel,
                       const struct vg_tz *tz, char delim);
/* One JSON object {"field": value, ...} as one value of w (jsonw.h);
 * returns vg_jsonw_error(w). */
int vg_dataset_json_row(struct vg_jsonw *w, const struct vg_dataset *ds,
                        const struct vg_dataset_row *row, const size_t *sel, size_t nsel,
                        const struct vg_tz *tz);
/* One GeoJSON Feature: geometry a Point [lon, lat] when the entity has
 * coordinates, else null; properties as the JSON row. */
int vg_dataset_geojson_row(struct vg_jsonw *w, const struct vg_dataset *ds,
                           const struct vg_dataset_row *row, const size_t *sel,
                           size_t nsel, const struct vg_tz *tz);

/* The column name of a statistic (enum vg_stat, wstats.h: "count", ...),
 * NULL out of range. */
const char *vg_stat_name(int stat);

#endif
