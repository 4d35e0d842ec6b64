/*
 * vigieq's private interfaces shared between its files (not installed):
 * the canonical key splitter (vigieq_key.c) and `vigieq sql`, SQLite
 * virtual tables over one read snapshot of the store (vigieq_sql.c).
 *
 * Tables (eponymous virtual tables, read-only; docs/vigieq.md):
 *   series      id, key, metric, one TEXT column per tag name of the store,
 *               first_seen
 *   rollup_1m   the base resolution, whatever its length
 *   rollup_1h   \ the contract columns of `vigieq query` (start_datetime ..
 *   rollup_1d   / revision, same values and text), the tag columns, and the
 *               hidden INTEGER columns start_epoch, end_epoch (UTC s) and
 *               series_id
 * A tag whose name is taken (case-insensitively, as SQL names are) by a
 * fixed column or another tag gets the column "tag_<name>" (then a number).
 *
 * Pushdown: equality and IN on series, metric, a tag or series_id select
 * the series before any window is read; start_epoch ranges (numbers), and
 * start_datetime ranges given as ISO text widened by two days (text with
 * offsets does not sort as time, see vigieq_sql.c) bound the LMDB cursor.
 * SQLite re-checks every constraint (omit is never set).
 *
 * Ownership and threads: a struct vgq_sql borrows the reader and the zone,
 * which must outlive it; one thread at a time uses it. Nothing global.
 */
#ifndef VIGIEQ_SQL_H
#define VIGIEQ_SQL_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "vigie/store.h"
#include "vigie/tz.h"

/* --- canonical keys (vigieq_key.c) --------------------------------------- */

#define MAX_TAGS 128 /* a key holds at most 511 bytes: fewer tags than that */

struct tag {
  char name[128];
  char value[512];
};

/* Splits a canonical key (codec.h) of len bytes into its metric (copied,
 * truncated to msize) and its unescaped tags (at most MAX_TAGS, in key
 * order: sorted by name). 0, or -1 for a malformed key. Reentrant. */
int parse_key(const char *k, size_t len, char *metric, size_t msize, struct tag *tags,
              int *ntags);

/* --- sql (vigieq_sql.c) -------------------------------------------------- */

/* What the virtual tables did during the statement (VIGIEQ_SQL_STATS=1 makes
 * vigieq print it on stderr; the tests check pushdown with it). */
struct vgq_sql_stats {
  uint64_t filters;         /* xFilter calls of the rollup tables */
  uint64_t series_visited;  /* series whose windows were read */
  uint64_t windows_read;    /* windows handed over by the store */
  uint64_t ranges_narrowed; /* filters with a time bound pushed down */
};

/* Kind of a result cell, as vigieq prints it. */
enum vgq_cell { VGQ_TEXT = 0, VGQ_NUM = 1, VGQ_NULL = 2 };

struct vgq_sql;

/* Opens an in-memory SQLite connection with the four tables over the
 * reader's snapshot (the series dictionary is read now); tz formats the
 * ISO columns. 0 or a negative error with errstr. */
int vgq_sql_open(struct vgq_sql **out, struct vg_store_reader *rd, const struct vg_tz *tz,
                 char *errstr, size_t errstr_size);
/* Frees everything (NULL is fine); the reader stays the caller's. */
void vgq_sql_close(struct vgq_sql *q);
/* The connection, for callers that prepare statements themselves (the
 * benchmark); owned by q. */
sqlite3 *vgq_sql_db(struct vgq_sql *q);

/* Prepares the one read-only statement of text sql (a trailing ';' and
 * blanks are fine). -EINVAL when the statement is wrong (syntax, unknown
 * table or column -- with the closest table names --, more than one
 * statement, a statement that writes), another negative code otherwise;
 * errstr says why. */
int vgq_sql_prepare(struct vgq_sql *q, const char *sql, char *errstr, size_t errstr_size);
/* Result columns of the prepared statement; names live until close. */
int vgq_sql_ncols(struct vgq_sql *q);
const char *vgq_sql_colname(struct vgq_sql *q, int i);
/* Next row: 1 a row, 0 done, or a negative code: -EINVAL for an error of
 * the statement itself (a function's bad argument), the store's error
 * (VG_ECORRUPT...) when reading it failed, -ENOMEM. errstr says why. */
int vgq_sql_step(struct vgq_sql *q, char *errstr, size_t errstr_size);
/* Cell i of the current row as vigieq prints it: integers in decimal,
 * reals as vg_fmt_double (shortest round-trip; infinities as NULL), text
 * as is, blobs in hex. *text (NULL for VGQ_NULL, or when out of memory)
 * is valid until the next call. Returns the kind. */
int vgq_sql_cell(struct vgq_sql *q, int i, const char **text);
const struct vgq_sql_stats *vgq_sql_stats(const struct vgq_sql *q);

#endif
