/*
 * What the analysis parser (odsql.c) hands its executor (odsql_group.c):
 * the columns of a parsed group_by / aggregate query. Internal to the
 * publish layer.
 */
#ifndef VIGIE_ODSQL_INTERNAL_H
#define VIGIE_ODSQL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/odsql.h"

/* What a column computes: a group key (KEY_*) from one input row, or an
 * aggregate (AGG_*) over a group's rows. */
enum vg_odsql_fn {
  KEY_FIELD,
  KEY_YEAR,
  KEY_MONTH,
  KEY_DAY,
  KEY_HOUR,
  KEY_MINUTE,
  KEY_DATE_FORMAT,
  KEY_RANGE,
  AGG_COUNT_ALL, /* count(*) */
  AGG_COUNT,
  AGG_COUNT_DISTINCT,
  AGG_SUM,
  AGG_AVG,
  AGG_MIN,
  AGG_MAX,
  AGG_MEDIAN,
  AGG_PERCENTILE,
};

#define VG_ODSQL_IS_AGG(fn) ((fn) >= AGG_COUNT_ALL)

struct vg_odsql_col {
  int fn;       /* enum vg_odsql_fn */
  size_t field; /* the input field (not for count(*)) */
  int in_type;  /* that field's type */
  double arg;   /* range: the step; percentile: p */
  char *fmt;    /* date_format: the pattern */
  char *canon;  /* the expression normalized, to match select and order_by */
};

struct vg_odsql_order_key {
  size_t col;
  int desc;
};

struct vg_odsql_analysis {
  struct vg_odsql_col col[VG_ODSQL_MAX_COLUMNS];
  struct vg_odsql_field schema[VG_ODSQL_MAX_COLUMNS]; /* names owned */
  size_t ncols;
  size_t out[VG_ODSQL_MAX_COLUMNS];
  size_t nout;
  struct vg_odsql_order_key order[VG_ODSQL_MAX_COLUMNS];
  size_t norder; /* order_by keys, then the group keys */
  int grouped;
  const struct vg_tz *tz;
};

/* Whether a cell of a field of this type is empty (a number's NaN is). */
int vg_odsql_cell_null(const struct vg_odsql_value *v, int type);

/* Formats a local date and time with a date_format pattern (odsql.h) into
 * buf: the length, or -1 for a pattern letter it does not know or a buffer
 * too small. The one place patterns are read: the parser checks a pattern
 * by formatting a sample with it. */
int vg_odsql_date_format(const char *pat, int64_t y, unsigned mo, unsigned d, unsigned h,
                         unsigned mi, unsigned s, char *buf, size_t size);

#endif
