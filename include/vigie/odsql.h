/*
 * ODSQL, the subset of Opendatasoft's query language that the Explore v2.1
 * records endpoint accepts in its `where`, `select` and `order_by`
 * parameters, parsed against a dataset's fields and evaluated over rows.
 *
 * where:    comparisons (= != < <= > >=, also == and <>) between a field
 *           and a literal (either side), `and`, `or`, `not` (precedence
 *           not > and > or), parentheses, `field in ("a", "b", ...)`,
 *           `field not in (...)`, `field is null`, `field is not null`;
 *           literals: numbers (12, -2.5, .5, 1e3), 'single' or "double"
 *           quoted strings (a backslash escapes the next byte, a doubled
 *           quote is one quote), date'2026-03-29' and
 *           date'2026-03-29T02:00:00+02:00' (a date or a datetime without
 *           offset is read in the request's time zone: a skipped local time
 *           moves forward, a repeated one is its first occurrence), true and
 *           false as whole conditions; field names bare ([A-Za-z_][A-Za-z0-9_]*,
 *           matched exactly) or `back-quoted` (needed for names that are
 *           keywords or start with a digit); keywords are case-insensitive.
 *           Types are checked against the schema: a number field takes
 *           number literals, a text field strings, a datetime field date'...'
 *           or a string holding an ISO 8601 date; text compares by bytes.
 * select:   `*` or a comma-separated list of fields (`*` may be one item of
 *           the list); an empty or blank select means `*`.
 * order_by: a comma-separated list of `field [asc|desc]`; empty means none.
 *
 * Errors: -EINVAL with errstr in Opendatasoft's wording ("ODSQL query is
 * malformed: ..." naming the position, counted in bytes from 1, and what was
 * expected; "Unknown field: x (did you mean y?)"), which the HTTP layer
 * returns with status 400; -ENOMEM. Parsing bounds its own work: inputs over
 * VG_ODSQL_MAX_LEN bytes or nested deeper than VG_ODSQL_MAX_DEPTH parentheses
 * are refused, never a stack overflow (chains of and/or/not of any length
 * are not nesting). docs/publication.md, "ODSQL subset", has the grammar.
 *
 * Thread-safety: a parsed expression is immutable; evaluation may run on
 * any number of threads at once. Parsing touches only its arguments.
 */
#ifndef VIGIE_ODSQL_H
#define VIGIE_ODSQL_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/tz.h"

#define VG_ODSQL_MAX_LEN   8192
#define VG_ODSQL_MAX_DEPTH 64
/* The "error_code" of the HTTP 400 answer that carries a parse error:
 * {"error_code": "ODSQLError", "message": errstr}. */
#define VG_ODSQL_ERROR_CODE "ODSQLError"

enum vg_odsql_type {
  VG_ODSQL_TEXT = 0,
  VG_ODSQL_NUMBER = 1,   /* doubles; integers compare exactly up to 2^53 */
  VG_ODSQL_DATETIME = 2, /* UTC seconds */
  VG_ODSQL_BOOLEAN = 3,  /* num 0 or 1; compares and groups as a number,
                            written true/false */
};

/* Whether a field of this type holds num (a number or a boolean). */
static inline int vg_odsql_numeric(int type) {
  return type == VG_ODSQL_NUMBER || type == VG_ODSQL_BOOLEAN;
}

/* A field of the dataset's schema (the published column names). */
struct vg_odsql_field {
  const char *name;
  int type; /* enum vg_odsql_type */
};

/* One cell of a row under evaluation, indexed as the schema: num for
 * numbers (a NaN reads as null), time_s for datetimes, str/len for text
 * (borrowed; str may be NULL when len is 0). */
struct vg_odsql_value {
  int null; /* an empty cell (a statistic not kept, a suppressed cell) */
  double num;
  int64_t time_s;
  const char *str;
  size_t len;
};

struct vg_odsql_where;

/* Parses a where clause (len bytes of src, which need not be NUL-terminated;
 * an empty or all-blank clause gives *out = NULL, which matches every row).
 * tz reads date literals without an offset. fields and tz are only read
 * during the call (the result copies what it needs). 0 or -EINVAL / -ENOMEM
 * with errstr (*out stays NULL). The caller frees *out with
 * vg_odsql_where_free(). */
int vg_odsql_where_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, const struct vg_tz *tz,
                         struct vg_odsql_where **out, char *errstr, size_t errstr_size);

/* 1 when the row (nfields values in schema order) matches, else 0. A
 * comparison with a null cell is false (so `not (x > 1)` does not match a
 * null x either, as in SQL). NULL w matches everything. */
int vg_odsql_where_eval(const struct vg_odsql_where *w, const struct vg_odsql_value *row);

/* Pushdown: the tightest [*from_s, *to_s) that a datetime field must lie
 * in for the clause to match (what the AND-ed top-level comparisons and
 * `in` lists of that field imply; a `not` over a single comparison counts,
 * being folded into it; `or`, `!=`, `not in` and a `not` over a group
 * constrain nothing); INT64_MIN / INT64_MAX when unconstrained, and
 * *from_s >= *to_s when no instant can match. The caller still evaluates
 * every row. */
void vg_odsql_where_time_bounds(const struct vg_odsql_where *w, size_t field,
                                int64_t *from_s, int64_t *to_s);

/* Pushdown: when the clause requires text field `field` to equal one of a
 * set of values (top-level AND-ed `field = "v"` or `field in (...)`, several
 * of them intersected), returns their number (distinct values; 0 when they
 * contradict each other, so no row matches) and points *values / *lens at
 * them (not NUL-terminated; valid while w lives); -1 when unconstrained
 * (NULL w, a field out of range or not text). */
int vg_odsql_where_text_values(const struct vg_odsql_where *w, size_t field,
                               const char *const **values, const size_t **lens);

void vg_odsql_where_free(struct vg_odsql_where *w);

/* Parses a select list into field indexes (idx, capacity cap; *n gets the
 * count). `*` yields every field in schema order. 0 or -EINVAL (also when
 * the list needs more than cap entries) / -ENOMEM with errstr; *n is 0 on
 * error. */
int vg_odsql_select_parse(const char *src, size_t len,
                          const struct vg_odsql_field *fields, size_t nfields,
                          size_t *idx, size_t cap, size_t *n, char *errstr,
                          size_t errstr_size);

struct vg_odsql_order {
  size_t field;
  int desc;
};

/* Parses an order_by list (capacity cap; *n gets the count). 0 or -EINVAL /
 * -ENOMEM with errstr; *n is 0 on error. */
int vg_odsql_order_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, struct vg_odsql_order *keys, size_t cap,
                         size_t *n, char *errstr, size_t errstr_size);

/* Compares two rows by the order keys (nulls, NaN included, first
 * ascending, last descending; text by bytes, a prefix first): <0, 0 or >0.
 * Reentrant, so usable from qsort_r or a merge. */
int vg_odsql_row_cmp(const struct vg_odsql_order *keys, size_t nkeys,
                     const struct vg_odsql_field *fields, const struct vg_odsql_value *a,
                     const struct vg_odsql_value *b);

/* ---- analysis: group_by and aggregates ----------------------------------
 *
 * An analysis query is what the records and exports endpoints answer when
 * the request has a group_by, or aggregates in its select:
 *
 * group_by: a comma-separated list of keys, each `expr [as alias]`:
 *           a field; year(d), month(d), day(d), hour(d), minute(d) of a
 *           datetime field d, in the query's time zone (numbers);
 *           date_format(d, 'pattern') (text: yyyy, yy, MM, M, dd, d, HH, H,
 *           mm, ss, 'quoted text', other non-letters as they are);
 *           range(x, step) of a number field (text "[lo, hi[", ordered by
 *           lo; lo = floor(x / step) * step). A null key is a group.
 * select:   keys (as written in group_by, or their aliases) and aggregates,
 *           each `[as alias]`: count(*), count(x), count(distinct x),
 *           sum(x), avg(x), median(x), percentile(x, p) (0 <= p <= 100;
 *           linear interpolation between the closest ranks, as DuckDB's
 *           quantile_cont) of number fields, min(x), max(x) of number or
 *           datetime fields. Nulls are skipped; an aggregate over no value
 *           is null (count: 0). An absent select with group_by gives the
 *           keys; without group_by every item must be an aggregate and the
 *           answer is one row.
 * order_by: output columns by alias or expression, `[asc|desc]`, also
 *           aggregates that are not selected; by default the keys, in
 *           group_by order, ascending (nulls first).
 * A column without alias is named by its expression as written.
 *
 * Thread-safety as above: a parsed analysis is immutable and may be shared;
 * a groups object belongs to one thread. */
#define VG_ODSQL_MAX_COLUMNS 64      /* keys + selected + ordering aggregates */
#define VG_ODSQL_MAX_GROUPS  1000000 /* groups of one query */

struct vg_odsql_analysis;

/* Parses select, group_by and order_by (NUL-terminated; NULL when absent)
 * as an analysis query. 0 with *out NULL when it is not one (no group_by
 * and no aggregate in select: the caller parses a records query). tz reads
 * the date functions; it is borrowed and must outlive *out. 0 or -EINVAL /
 * -ENOMEM with errstr, as the other parsers. */
int vg_odsql_analysis_parse(const char *select, const char *group_by,
                            const char *order_by, const struct vg_odsql_field *fields,
                            size_t nfields, const struct vg_tz *tz,
                            struct vg_odsql_analysis **out, char *errstr,
                            size_t errstr_size);
void vg_odsql_analysis_free(struct vg_odsql_analysis *a);
/* The columns of a result row (names and types), *n of them. */
const struct vg_odsql_field *vg_odsql_analysis_columns(const struct vg_odsql_analysis *a,
                                                       size_t *n);
/* The indexes of the columns to print, in order, *n of them. */
const size_t *vg_odsql_analysis_output(const struct vg_odsql_analysis *a, size_t *n);
/* 1 when the query has a group_by (else one group, the whole input). */
int vg_odsql_analysis_grouped(const struct vg_odsql_analysis *a);

struct vg_odsql_groups;

/* The running groups of an analysis (which must outlive them). */
int vg_odsql_groups_new(const struct vg_odsql_analysis *a, struct vg_odsql_groups **out);
/* Adds one input row (values in schema order). 0, -ENOMEM, or -E2BIG when
 * it would make more than VG_ODSQL_MAX_GROUPS groups. */
int vg_odsql_groups_add(struct vg_odsql_groups *g, const struct vg_odsql_value *row);
/* Computes the aggregates and orders the groups; no add afterwards. 0 or
 * -ENOMEM. */
int vg_odsql_groups_finish(struct vg_odsql_groups *g);
size_t vg_odsql_groups_count(const struct vg_odsql_groups *g);
/* The i-th result row in order, indexed as the columns (after finish; valid
 * while g lives). */
const struct vg_odsql_value *vg_odsql_groups_row(const struct vg_odsql_groups *g,
                                                 size_t i);
void vg_odsql_groups_free(struct vg_odsql_groups *g);

#endif
