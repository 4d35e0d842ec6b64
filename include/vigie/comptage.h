/*
 * A dataset published with the national mobility-count schema
 * ("comptage des mobilités", schema.data.gouv.fr etalab/schema-comptage-
 * mobilites, version 0.2.5; docs/publication.md "Mobility-count schema"):
 * three CSV files -- sites, channels, measures -- and a Frictionless data
 * package describing them.
 *
 * Mapping: a site is a value of the dataset's entity_tag that has
 * coordinates (site_name from site_names, else the value; fr_insee_code
 * from insee_codes); a channel is a series of such a site; a measure is one
 * slot of the dataset's resolution of a channel, its count the window's
 * `sum` (the passages of a counter's readings, or of a count_as metric).
 *
 * Zero and empty counts: a published window whose sum is null (suppressed)
 * has an empty count. A slot between a channel's first and last published
 * windows that has no window is 0 passages for a count_as metric (its
 * windows exist only where passages were; empty instead under
 * suppress_below, 0 being under k), and an empty count for any other
 * metric (a counter whose readings carry counts sends one per slot, zeros
 * included: no reading is no measurement). No row before the first window
 * nor after the last one.
 *
 * Thread-safety: functions only read the dataset (immutable) and the reader.
 */
#ifndef VIGIE_COMPTAGE_H
#define VIGIE_COMPTAGE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/dataset.h"
#include "vigie/store.h"

/* The schema's version and source (docs, the data package). */
#define VG_CM_SCHEMA_VERSION "0.2.5"
#define VG_CM_SCHEMA_HOME    "https://schema.data.gouv.fr/etalab/schema-comptage-mobilites/"

/* The files of a dataset, as named under .../exports/comptage-mobilites/. */
enum vg_cm_file {
  VG_CM_SITES,
  VG_CM_CHANNELS,
  VG_CM_MEASURES,
  VG_CM_PACKAGE,
  VG_CM_NFILES
};

/* "sites.csv", "channels.csv", "measures.csv", "datapackage.json"; NULL out
 * of range. */
const char *vg_cm_file_name(int file);
/* The file named name, or -1. */
int vg_cm_file_of(const char *name);

/* Whether v is one of the schema's mobility types (BIKE, PEDESTRIAN, ...). */
int vg_cm_mobility_ok(const char *v);
/* Whether v has the form of a French INSEE commune code (5 characters,
 * 2A/2B for Corsica). */
int vg_cm_insee_ok(const char *v);

/* One published window of a channel: its slot and its count (NAN: empty). */
struct vg_cm_win {
  int64_t start, end; /* UTC seconds */
  double count;
};

/* A measure row: the slot [start, end) and its count (NAN: empty). */
typedef int (*vg_cm_row_fn)(int64_t start, int64_t end, double count, void *ctx);

/* The rows of one channel, in time order: w (n windows sorted by start, not
 * overlapping), with each slot between two windows that has none as a row of
 * count gap (0 or NAN: comptage.h says which). next(t, nctx) is the end of the
 * slot that starts at t. Returns 0 or cb's non-zero value. */
int vg_cm_fill(const struct vg_cm_win *w, size_t n, double gap,
               int64_t (*next)(int64_t t, void *nctx), void *nctx, vg_cm_row_fn cb,
               void *ctx);

/* The channel id of series s of ds into buf: the entity (site), then the
 * values of the other tag columns, then the metric when the dataset has more
 * than one, joined with '-'. 0, or -1 when s has no entity. */
int vg_cm_channel_id(const struct vg_dataset *ds, const struct vg_dataset_series *s,
                     char *buf, size_t size);

/* A file being written in parts (the HTTP API and the export folder: each
 * part from its own reader, as the exports are). */
struct vg_cm_stream;
/* Begins file `file` of ds (its series from reader r); base as for
 * vg_cm_write. 0, VG_ECONFIG, or an error with errstr. */
int vg_cm_stream_new(const struct vg_dataset *ds, struct vg_store_reader *r, int file,
                     const char *base, struct vg_cm_stream **out, char *errstr,
                     size_t errstr_size);
/* Writes the next part to out: the rows of about max_rows windows (whole
 * days; 0: all) read from r. *done is set with the last part. 0, or a store
 * / -EIO error with errstr (the stream is then unusable). */
int vg_cm_stream_next(struct vg_cm_stream *s, struct vg_store_reader *r, int64_t max_rows,
                      FILE *out, int *done, char *errstr, size_t errstr_size);
void vg_cm_stream_free(struct vg_cm_stream *s);

/* Writes file `file` of ds from reader r to out. base: the URL prefix of the
 * files for the data package's resource paths (".../exports/comptage-
 * mobilites/", or "" for paths relative to the package). 0, VG_ECONFIG when
 * ds is not declared with the schema, or a store / -EIO error with errstr. */
int vg_cm_write(const struct vg_dataset *ds, struct vg_store_reader *r, int file,
                const char *base, FILE *out, char *errstr, size_t errstr_size);

#endif
