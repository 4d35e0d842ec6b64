/*
 * ODSQL, the subset of Opendatasoft's query language that the Explore v2.1
 * records endpoint accepts in its `where`, `select` and `order_by`
 * parameters, parsed against a dataset's fields and evaluated over rows.
 *
 * where:    comparisons (= != < <= > >=) between a field and a literal
 *           (either side), `and`, `or`, `not`, parentheses,
 *           `field in ("a", "b", ...)`, `field is null`, `field is not null`;
 *           literals: numbers, 'single' or "double" quoted strings,
 *           date'2026-03-29' and date'2026-03-29T02:00:00+02:00' (a date or
 *           a datetime without offset is read in the request's time zone),
 *           true/false; field names bare or `back-quoted`; keywords are
 *           case-insensitive.
 * select:   `*` or a comma-separated list of fields.
 * order_by: a comma-separated list of `field [asc|desc]`.
 *
 * Errors: -EINVAL with errstr in Opendatasoft's wording ("ODSQL query is
 * malformed: ..." naming the position and what was expected, "Unknown field:
 * ..."), which the HTTP layer returns with status 400. Parsing bounds its
 * own work: inputs over VG_ODSQL_MAX_LEN bytes or nested deeper than
 * VG_ODSQL_MAX_DEPTH are refused, never a stack overflow.
 *
 * Thread-safety: a parsed expression is immutable; evaluation may run on
 * any number of threads at once. Parsing touches only its arguments.
 */
#ifndef VIGIE_ODSQL_H
#define VIGIE_ODSQL_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/tz.h"

#define VG_ODSQL_MAX_LEN 8192
#define VG_ODSQL_MAX_DEPTH 64

enum vg_odsql_type {
  VG_ODSQL_TEXT = 0,
  VG_ODSQL_NUMBER = 1,   /* doubles; integers compare exactly up to 2^53 */
  VG_ODSQL_DATETIME = 2, /* UTC seconds */
};

/* A field of the dataset's schema (the published column names). */
struct vg_odsql_field {
  const char *name;
  int type; /* enum vg_odsql_type */
};

/* One cell of a row under evaluation, indexed as the schema. */
struct vg_odsql_value {
  int null; /* an empty cell (a statistic not kept, a suppressed cell) */
  double num;
  int64_t time_s;
  const char *str;
  size_t len;
};

struct vg_odsql_where;

/* Parses a where clause (len bytes of src; an empty or all-blank clause
 * gives *out = NULL, which matches every row). tz reads date literals
 * without an offset. 0 or -EINVAL / -ENOMEM with errstr. */
int vg_odsql_where_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, const struct vg_tz *tz,
                         struct vg_odsql_where **out, char *errstr, size_t errstr_size);

/* 1 when the row (nfields values in schema order) matches, else 0. A
 * comparison with a null cell is false (so `not (x > 1)` does not match a
 * null x either, as in SQL). NULL w matches everything. */
int vg_odsql_where_eval(const struct vg_odsql_where *w, const struct vg_odsql_value *row);

/* Pushdown: the tightest [*from_s, *to_s) that a datetime field must lie
 * in for the clause to match (what the AND-ed top-level comparisons of that
 * field imply); INT64_MIN / INT64_MAX when unconstrained. The caller still
 * evaluates every row. */
void vg_odsql_where_time_bounds(const struct vg_odsql_where *w, size_t field,
                                int64_t *from_s, int64_t *to_s);

/* Pushdown: when the clause requires text field `field` to equal one of a
 * set of values (top-level AND-ed `field = "v"` or `field in (...)`),
 * returns their number and points *values / *lens at them (valid while w
 * lives); -1 when unconstrained. */
int vg_odsql_where_text_values(const struct vg_odsql_where *w, size_t field,
                               const char *const **values, const size_t **lens);

void vg_odsql_where_free(struct vg_odsql_where *w);

/* Parses a select list into field indexes (idx, capacity cap; *n gets the
 * count). `*` yields every field in schema order. 0 or -EINVAL. */
int vg_odsql_select_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                          size_t nfields, size_t *idx, size_t cap, size_t *n, char *errstr,
                          size_t errstr_size);

struct vg_odsql_order {
  size_t field;
  int desc;
};

/* Parses an order_by list (capacity cap; *n gets the count). 0 or -EINVAL. */
int vg_odsql_order_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, struct vg_odsql_order *keys, size_t cap, size_t *n,
                         char *errstr, size_t errstr_size);

/* Compares two rows by the order keys (nulls first ascending, last
 * descending; text by bytes): <0, 0 or >0. */
int vg_odsql_row_cmp(const struct vg_odsql_order *keys, size_t nkeys,
                     const struct vg_odsql_field *fields, const struct vg_odsql_value *a,
                     const struct vg_odsql_value *b);

#endif
