/*
 * vigieq's internals shared between its files (not installed, like
 * vigieq_sql.h; the names are the tool's own, unprefixed: only vigieq links
 * them):
 *   vigieq.c         main, the command line, opening the store, the
 *                    series and sql commands
 *   vigieq_out.c     rows of cells and their writers (table, CSV, JSON,
 *                    NDJSON)
 *   vigieq_filter.c  names with suggestions, series selection
 *   vigieq_query.c   query: columns, windows, --fill, --group-by
 *   vigieq_plot.c    plot: the SVG chart of a query's rows
 *   vigieq_status.c  status
 *
 * Errors: functions returning an exit code (EX_*) have printed the message
 * already (through fail); the others return 0 or a negative errno.
 * Single-threaded.
 */
#ifndef VIGIEQ_H
#define VIGIEQ_H

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/config.h"
#include "vigie/publish.h"
#include "vigie/store.h"
#include "vigie/tz.h"

#include "vigieq_sql.h"

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2, EX_STORE = 3 };
enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_NDJSON, FMT_PLOT /* plot: SVG */ };
enum kind { CELL_TEXT, CELL_NUM, CELL_NULL };

/* The widest time range (UTC s): no --from, no --to. */
#define TIME_MIN (-(1LL << 36))
#define TIME_MAX (1LL << 36)

/* "vigieq: " and the message on stderr; returns code. */
__attribute__((format(printf, 2, 3))) int fail(int code, const char *fmt, ...);

/* --- cells and output (vigieq_out.c) ------------------------------------- */

struct cell {
  char *s; /* in the rows' text blocks; NULL when CELL_NULL */
  uint32_t len;
  int kind;
};

/* The cells' text, in blocks that never move (a cell points into one):
 * one copy per cell and no allocation per cell. */
struct textblock {
  struct textblock *next;
  size_t used, cap;
  char data[];
};

/* Rows of ncols cells, the column names borrowed (they must outlive the
 * rows). */
struct rows {
  const char *const *cols;
  size_t ncols;
  struct cell *c;
  size_t n, cap;          /* cells */
  struct textblock *text; /* the block being filled first */
  int started;            /* streamed: the header is out */
  size_t written;         /* streamed: rows already out */
};

/* Slow path of put_len: room for one more cell and text bytes of text. 0
 * or -ENOMEM. */
int rows_reserve(struct rows *r, size_t text);

/* Appends a cell: len bytes of s (NUL-terminated there), or s; a number
 * (NULL when not finite); an integer. 0 or -ENOMEM. Inline: every cell of
 * every row goes through them. */
static inline int put_len(struct rows *r, int kind, const char *s, size_t len) {
  size_t text = kind == CELL_NULL ? 0 : len + 1;
  if ((r->n == r->cap || (text && (!r->text || r->text->cap - r->text->used < text))) &&
      rows_reserve(r, text))
    return -ENOMEM;
  char *d = NULL;
  if (text) {
    d = memcpy(r->text->data + r->text->used, s, text);
    r->text->used += text;
  }
  r->c[r->n++] = (struct cell){d, (uint32_t)(text ? len : 0), kind};
  return 0;
}

static inline int put(struct rows *r, int kind, const char *s) {
  return put_len(r, kind, s, kind == CELL_NULL ? 0 : strlen(s));
}

static inline int put_double(struct rows *r, double v) {
  if (!isfinite(v))
    return put(r, CELL_NULL, NULL);
  char b[VG_FMT_DOUBLE_MAX];
  return put_len(r, CELL_NUM, b, vg_fmt_double(v, b));
}

static inline int put_u64(struct rows *r, uint64_t v) {
  char b[24], *p = b + sizeof b - 1; /* no printf: counts are on every row */
  *p = 0;
  do
    *--p = (char)('0' + v % 10);
  while (v /= 10);
  return put_len(r, CELL_NUM, p, (size_t)(b + sizeof b - 1 - p));
}

void rows_release(struct rows *r);
/* CSV, JSON and NDJSON: writes the rows held (the header first) and drops
 * them. 0 or -EIO. */
int rows_stream(FILE *out, struct rows *r, int fmt);
/* Writes what is left, and the end (table: everything, aligned). 0, -EIO
 * or -ENOMEM. */
int write_rows(FILE *out, struct rows *r, int fmt);
/* --format: s (NULL: table on a terminal, else CSV) into *fmt; EX_*. */
int parse_format(const char *s, int *fmt);

/* --- names and series (vigieq_filter.c) ---------------------------------- */

/* A set of names, in the order added; owns its copies. */
struct names {
  char **v;
  size_t n, cap;
};

int names_add(struct names *s, const char *name); /* 0 or -ENOMEM; no duplicates */
int names_has(const struct names *s, const char *name);
size_t names_index(const struct names *s, const char *name); /* SIZE_MAX: absent */
void names_release(struct names *s);
/* "unknown WHAT 'NAME'" on stderr, with the three closest known names. */
void suggest(const char *what, const char *name, const struct names *known);

struct series {
  char *key;
  uint64_t id;
  int64_t first_seen_ns;
};

struct series_list {
  struct series *v;
  size_t n, cap;
  struct names metrics, tagnames;
};

struct filter {
  struct names metrics;
  char **where; /* "tag=glob" or "tag!=glob" */
  size_t nwhere;
  const char *match;
};

/* --- commands ------------------------------------------------------------ */

struct ctx {
  const char *dir;
  struct vg_store *st;
  struct vg_store_reader *rd;
  struct vg_tz *tz;
  int64_t base_s;
  const char *store_zone; /* the zone of the store's hours and days */
};

struct args {
  const char *data_dir, *config, *resolution, *from, *to, *tz, *format, *match, *stats,
      *limit, *fill, *output, *unit, *shards;
  struct names group_by;
  struct filter f;
};

/* Opens c->dir read-only and begins the snapshot c->rd; EX_*. */
int open_store(struct ctx *c);
/* Loads the dictionary, checks the filter's names and plain tag values
 * against it (usage errors with suggestions) and keeps the matching series,
 * sorted by key; EX_*. */
int select_series(struct ctx *c, const struct filter *f, struct series_list *l);
void series_release(struct series_list *l);

/* query (fmt a format) and plot (fmt FMT_PLOT); EX_*. */
int cmd_query(struct ctx *c, struct args *a, int fmt);
/* The SVG chart of rows with the columns start_datetime, end_datetime,
 * series, metric, mean, min, max (vigieq_plot.c). 0 or a negative errno. */
int write_plot(FILE *out, const struct rows *r, const struct vg_tz *tz, const char *res,
               const char *unit);
/* status; cfg NULL without --config; EX_*. */
int cmd_status(struct ctx *c, const struct vg_config *cfg, int fmt);

#endif
