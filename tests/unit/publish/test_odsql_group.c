/* Unit tests of ODSQL analysis queries (odsql.h, "analysis"): what parses
 * and what is refused with which message, group keys and aggregates on
 * hand-computed cases (date functions across the spring DST change of
 * Europe/Paris, range(), null groups, percentiles, ordering by an
 * aggregate), and an oracle: 3,000 random group_by / aggregate queries over
 * random rows, computed both by vg_odsql_groups and by SQLite on the same
 * query written in SQL (median and percentile registered there as custom
 * aggregates, since Debian's SQLite has neither). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "testutil.h"
#include "vigie/odsql.h"
#include "vigie/tz.h"

enum { F_START, F_METRIC, F_SENSOR, F_MEAN, NF };

static const struct vg_odsql_field schema[NF] = {
    [F_START] = {"start_datetime", VG_ODSQL_DATETIME},
    [F_METRIC] = {"metric", VG_ODSQL_TEXT},
    [F_SENSOR] = {"sensor_id", VG_ODSQL_TEXT},
    [F_MEAN] = {"mean", VG_ODSQL_NUMBER},
};

static struct vg_tz *utc, *paris;

static int setup(void **state) {
  (void)state;
  char err[256];
  if (vg_tz_load("UTC", &utc, err, sizeof err) ||
      vg_tz_load("Europe/Paris", &paris, err, sizeof err))
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  vg_tz_free(utc);
  vg_tz_free(paris);
  return 0;
}

static struct vg_odsql_analysis *analysis(const char *select, const char *group_by,
                                          const char *order_by, const struct vg_tz *tz) {
  char err[256] = "";
  struct vg_odsql_analysis *a = NULL;
  int rc = vg_odsql_analysis_parse(select, group_by, order_by, schema, NF, tz, &a, err,
                                   sizeof err);
  if (rc)
    print_message("unexpected error for [%s | %s | %s]: %s\n", select ? select : "",
                  group_by ? group_by : "", order_by ? order_by : "", err);
  assert_int_equal(rc, 0);
  return a;
}

static void refused(const char *select, const char *group_by, const char *order_by,
                    const char *want) {
  char err[256] = "";
  struct vg_odsql_analysis *a = (struct vg_odsql_analysis *)&a; /* must be reset */
  int rc = vg_odsql_analysis_parse(select, group_by, order_by, schema, NF, utc, &a, err,
                                   sizeof err);
  if (rc != -EINVAL || !strstr(err, want))
    print_message("[%s | %s | %s]: rc %d, message \"%s\", expected \"%s\"\n",
                  select ? select : "", group_by ? group_by : "",
                  order_by ? order_by : "", rc, err, want);
  assert_int_equal(rc, -EINVAL);
  assert_null(a);
  assert_non_null(strstr(err, want));
}

/* The names of the output columns, joined by '|'. */
static void output_names(const struct vg_odsql_analysis *a, char *buf, size_t size) {
  size_t ncols, nout, o = 0;
  const struct vg_odsql_field *cols = vg_odsql_analysis_columns(a, &ncols);
  const size_t *out = vg_odsql_analysis_output(a, &nout);
  buf[0] = '\0';
  for (size_t i = 0; i < nout; i++)
    o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? "|" : "", cols[out[i]].name);
}

static void parse_forms(void **state) {
  (void)state;
  char names[512];
  struct vg_odsql_analysis *a;
  /* not an analysis: the records path */
  assert_null(analysis("metric, mean", NULL, "mean desc", utc));
  assert_null(analysis(NULL, "  ", NULL, utc));
  assert_null(analysis("*", NULL, NULL, utc));
  /* aggregates without group_by: one row */
  a = analysis("count(*), avg(mean) as m", NULL, NULL, utc);
  assert_false(vg_odsql_analysis_grouped(a));
  output_names(a, names, sizeof names);
  assert_string_equal(names, "count(*)|m");
  vg_odsql_analysis_free(a);
  /* group_by alone: its keys */
  a = analysis(NULL, "metric, year(start_datetime)", NULL, utc);
  assert_true(vg_odsql_analysis_grouped(a));
  output_names(a, names, sizeof names);
  assert_string_equal(names, "metric|year(start_datetime)");
  vg_odsql_analysis_free(a);
  /* aliases in group_by referred to by select and order_by; expressions
   * matched whatever their spelling; names as written */
  a = analysis("y, metric, AVG( mean ) as m, percentile(mean, 90), `metric` as kind, "
               "Count(Distinct sensor_id)",
               "year(start_datetime) as y, `metric`", "m desc, count(*) desc", paris);
  output_names(a, names, sizeof names);
  assert_string_equal(names,
                      "y|metric|m|percentile(mean, 90)|kind|Count(Distinct sensor_id)");
  vg_odsql_analysis_free(a);
  a = analysis("date_format(start_datetime, 'yyyy-MM'), range(mean, 10), count(*)",
               "date_format(start_datetime, \"yyyy-MM\"), range(mean,10)", NULL, utc);
  output_names(a, names, sizeof names);
  assert_string_equal(names, "date_format(start_datetime, 'yyyy-MM')|range(mean, "
                             "10)|count(*)");
  vg_odsql_analysis_free(a);

  refused("metric, count(*)", NULL, NULL,
          "'metric' in select is neither an aggregate nor a group_by expression");
  refused("sensor_id", "metric", NULL, "'sensor_id' in select is neither");
  refused("*", "metric", NULL, "select * cannot be combined with group_by");
  refused(NULL, "count(*)", NULL, "group_by takes fields, date functions and range()");
  refused("sum(metric)", NULL, NULL,
          "sum() takes a number field, but metric at position 5 is text");
  refused(NULL, "year(mean)", NULL,
          "year() takes a datetime field, but mean at position 6 is number");
  refused("min(metric)", NULL, NULL, "takes a number or datetime field");
  refused("percentile(mean, 101)", NULL, NULL, "the percentile at position 18 is out");
  refused("percentile(mean)", NULL, NULL, "expected ','");
  refused(NULL, "range(mean, 0)", NULL, "the step at position 13 is out of range");
  refused(NULL, "date_format(start_datetime, 'yyyy-QQ')", NULL, "invalid date pattern");
  refused(NULL, "date_format(start_datetime, 'yyyy)", NULL, "unterminated string");
  refused("median(mean)", "foo(metric)", NULL, "unknown function 'foo' at position 1");
  refused("count(nope)", NULL, NULL, "Unknown field: nope");
  refused("count(*)", "metric", "sensor_id", "'sensor_id' in order_by is neither");
  refused("count(*) as", "metric", NULL, "expected an alias");
  refused("count(*)", "metric", "metric sideways", "expected asc, desc");
}

/* ---- hand-computed groups -------------------------------------------------- */

struct row {
  struct vg_odsql_value v[NF];
};

static struct row mkrow(int64_t t, const char *metric, const char *sensor, double mean) {
  struct row r;
  memset(&r, 0, sizeof r);
  r.v[F_START].time_s = t;
  r.v[F_METRIC].str = metric;
  r.v[F_METRIC].len = metric ? strlen(metric) : 0;
  r.v[F_METRIC].null = metric == NULL;
  r.v[F_SENSOR].str = sensor;
  r.v[F_SENSOR].len = sensor ? strlen(sensor) : 0;
  r.v[F_SENSOR].null = sensor == NULL;
  r.v[F_MEAN].num = mean;
  return r;
}

static struct vg_odsql_groups *run(const struct vg_odsql_analysis *a,
                                   const struct row *rows, size_t n) {
  struct vg_odsql_groups *g;
  assert_int_equal(vg_odsql_groups_new(a, &g), 0);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(vg_odsql_groups_add(g, rows[i].v), 0);
  assert_int_equal(vg_odsql_groups_finish(g), 0);
  return g;
}

static const char *text_of(const struct vg_odsql_value *v, char *buf) {
  if (v->null)
    return "null";
  memcpy(buf, v->str, v->len);
  buf[v->len] = '\0';
  return buf;
}

static void dst_hours(void **state) {
  (void)state;
  /* every UTC hour from 2026-03-28T23:00Z (local midnight of the 29th,
   * +01:00) to 2026-03-29T22:00Z (midnight of the 30th, +02:00): 23 hours */
  struct row rows[23 * 2];
  for (int i = 0; i < 23; i++) {
    rows[2 * i] = mkrow(1774738800 + i * 3600, "no2", "a", i);
    rows[2 * i + 1] = mkrow(1774738800 + i * 3600 + 1800, "no2", "b", 100 + i);
  }
  struct vg_odsql_analysis *a =
      analysis("hour(start_datetime) as h, count(*) as n, "
               "date_format(start_datetime, 'yyyy-MM-dd''T''HH:mm') as at",
               "hour(start_datetime) as h, "
               "date_format(start_datetime, 'yyyy-MM-dd''T''HH:mm') as at",
               NULL, paris);
  struct vg_odsql_groups *g = run(a, rows, 46);
  /* half-hours make two minute keys per hour: 46 groups; hour 2 is absent */
  assert_int_equal(vg_odsql_groups_count(g), 46);
  char buf[64];
  size_t nout;
  const size_t *out = vg_odsql_analysis_output(a, &nout); /* h, n, at */
  const struct vg_odsql_value *r0 = vg_odsql_groups_row(g, 0);
  assert_true(r0[out[0]].num == 0 && r0[out[1]].num == 1);
  assert_string_equal(text_of(&r0[out[2]], buf), "2026-03-29T00:00");
  for (size_t i = 0; i < 46; i++)
    assert_true(vg_odsql_groups_row(g, i)[out[0]].num != 2);
  const struct vg_odsql_value *r4 = vg_odsql_groups_row(g, 4); /* after 01:30 */
  assert_true(r4[out[0]].num == 3);
  assert_string_equal(text_of(&r4[out[2]], buf), "2026-03-29T03:00");
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);
  /* in UTC the same instants fall on two days */
  a = analysis("day(start_datetime), count(*)", "day(start_datetime)", NULL, utc);
  g = run(a, rows, 46);
  assert_int_equal(vg_odsql_groups_count(g), 2);
  assert_true(vg_odsql_groups_row(g, 0)[0].num == 28 &&
              vg_odsql_groups_row(g, 0)[1].num == 2);
  assert_true(vg_odsql_groups_row(g, 1)[0].num == 29 &&
              vg_odsql_groups_row(g, 1)[1].num == 44);
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);
}

static void aggregates_by_hand(void **state) {
  (void)state;
  struct row rows[] = {
      mkrow(0, "no2", "a", 1),   mkrow(0, "no2", "a", 2),   mkrow(0, "no2", "b", 3),
      mkrow(0, "no2", "c", 4),   mkrow(0, "pm10", "a", 10), mkrow(0, "pm10", NULL, NAN),
      mkrow(0, NULL, "z", -5),   mkrow(0, NULL, "z", -0.0), mkrow(0, "o3", "a", 25),
      mkrow(0, "o3", "b", 19.5),
  };
  size_t n = sizeof rows / sizeof *rows;
  char buf[64];
  struct vg_odsql_analysis *a =
      analysis("metric, count(*), count(mean) as cm, count(distinct sensor_id) as ds, "
               "sum(mean), avg(mean), min(mean), max(mean), median(mean), "
               "percentile(mean, 90) as p90",
               "metric", NULL, utc);
  struct vg_odsql_groups *g = run(a, rows, n);
  assert_int_equal(vg_odsql_groups_count(g), 4);
  /* nulls first, then bytes order: null, no2, o3, pm10 */
  const struct vg_odsql_value *r = vg_odsql_groups_row(g, 0);
  assert_true(r[0].null);
  assert_true(r[1].num == 2 && r[2].num == 2 && r[3].num == 1);
  assert_true(r[4].num == -5 && r[5].num == -2.5 && r[6].num == -5 && r[7].num == 0);
  r = vg_odsql_groups_row(g, 1);
  assert_string_equal(text_of(&r[0], buf), "no2");
  assert_true(r[1].num == 4 && r[2].num == 4 && r[3].num == 3 && r[4].num == 10);
  assert_true(r[5].num == 2.5 && r[6].num == 1 && r[7].num == 4 && r[8].num == 2.5);
  assert_true(fabs(r[9].num - 3.7) < 1e-12); /* 0.9 * 3 = 2.7: 3 + 0.7 */
  r = vg_odsql_groups_row(g, 3);
  assert_string_equal(text_of(&r[0], buf), "pm10");
  assert_true(r[1].num == 2 && r[2].num == 1 && r[3].num == 1); /* a null sensor */
  assert_true(r[8].num == 10 && r[9].num == 10);
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);

  /* range(): numeric order of the buckets, labels, a null bucket */
  a = analysis(NULL, "range(mean, 10)", NULL, utc);
  g = run(a, rows, n);
  static const char *const want[] = {"null", "[-10, 0[", "[0, 10[", "[10, 20[",
                                     "[20, 30["};
  assert_int_equal(vg_odsql_groups_count(g), 5);
  for (size_t i = 0; i < 5; i++)
    assert_string_equal(text_of(&vg_odsql_groups_row(g, i)[0], buf), want[i]);
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);

  /* order by an aggregate that is not selected, then the key */
  a = analysis("metric", "metric", "count(*) desc", utc);
  g = run(a, rows, n);
  static const char *const by_count[] = {"no2", "null", "o3", "pm10"};
  for (size_t i = 0; i < 4; i++)
    assert_string_equal(text_of(&vg_odsql_groups_row(g, i)[0], buf), by_count[i]);
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);

  /* no group_by over no rows: one row, count 0, the others null */
  a = analysis("count(*), sum(mean), max(start_datetime)", NULL, NULL, utc);
  g = run(a, rows, 0);
  assert_int_equal(vg_odsql_groups_count(g), 1);
  r = vg_odsql_groups_row(g, 0);
  assert_true(r[0].num == 0 && !r[0].null && r[1].null && r[2].null);
  vg_odsql_groups_free(g);
  /* and a group_by over no rows: none */
  vg_odsql_analysis_free(a);
  a = analysis("count(*)", "metric", NULL, utc);
  g = run(a, rows, 0);
  assert_int_equal(vg_odsql_groups_count(g), 0);
  vg_odsql_groups_free(g);
  vg_odsql_analysis_free(a);
}

/* ---- oracle: SQLite ------------------------------------------------------------- */

enum { O_N0, O_N1, O_S0, O_S1, O_T0, ONF };

static const struct vg_odsql_field oschema[ONF] = {
    {"n0", VG_ODSQL_NUMBER}, {"n1", VG_ODSQL_NUMBER},   {"s0", VG_ODSQL_TEXT},
    {"s1", VG_ODSQL_TEXT},   {"t0", VG_ODSQL_DATETIME},
};

static const char *const texts[] = {"", "a", "b", "ab", "B", "a'b", "\xc3\xa9"};
#define NTEXT (sizeof texts / sizeof *texts)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t rnd(uint32_t n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)((rng >> 11) % n);
}

/* SQLite side: floor(), median and percentile, written for the test. */
struct qvals {
  double *v;
  size_t n, cap;
  double p;
};

static void q_step(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  struct qvals *q = sqlite3_aggregate_context(cx, sizeof *q);
  if (!q || sqlite3_value_type(argv[0]) == SQLITE_NULL)
    return;
  q->p = argc > 1 ? sqlite3_value_double(argv[1]) : 50;
  if (q->n == q->cap) {
    q->cap = q->cap ? 2 * q->cap : 16;
    q->v = realloc(q->v, q->cap * sizeof *q->v);
  }
  q->v[q->n++] = sqlite3_value_double(argv[0]);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static void q_final(sqlite3_context *cx) {
  struct qvals *q = sqlite3_aggregate_context(cx, 0);
  if (!q || q->n == 0) {
    sqlite3_result_null(cx);
    return;
  }
  qsort(q->v, q->n, sizeof *q->v, cmp_double);
  /* rank p/100 * (n - 1), interpolated between its neighbours */
  double rank = q->p / 100 * (double)(q->n - 1);
  size_t below = (size_t)rank;
  double r = q->v[below];
  if (below + 1 < q->n)
    r = q->v[below] * (1 - (rank - (double)below)) +
        q->v[below + 1] * (rank - (double)below);
  sqlite3_result_double(cx, r);
  free(q->v);
}

static void f_floor(sqlite3_context *cx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL)
    sqlite3_result_null(cx);
  else
    sqlite3_result_double(cx, floor(sqlite3_value_double(argv[0])));
}

struct qgen {
  char od_sel[512], od_grp[512], sq_sel[1024], sq_grp[512];
  int nkeys, naggs;
  int kind[8]; /* per output column: 0 number, 1 text, 2 datetime, 3 range */
};

static void append(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void append(char *buf, size_t size, const char *fmt, ...) {
  size_t o = strlen(buf);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + o, size - o, fmt, ap);
  va_end(ap);
}

static void gen_query(struct qgen *q) {
  memset(q, 0, sizeof *q);
  static const double steps[] = {0.5, 1, 3, 10, 250};
  q->nkeys = (int)rnd(3); /* 0: no group_by, one row */
  for (int k = 0; k < q->nkeys; k++) {
    const char *sep = k ? ", " : "";
    char od[128], sq[256];
    int kind = 0;
    switch (rnd(11)) {
    case 0: snprintf(od, sizeof od, "s0"), snprintf(sq, sizeof sq, "s0"), kind = 1; break;
    case 1: snprintf(od, sizeof od, "s1"), snprintf(sq, sizeof sq, "s1"), kind = 1; break;
    case 2: snprintf(od, sizeof od, "n1"), snprintf(sq, sizeof sq, "n1"); break;
    case 3: snprintf(od, sizeof od, "t0"), snprintf(sq, sizeof sq, "t0"), kind = 2; break;
    case 4:
    case 5:
    case 6:
    case 7:
    case 8: {
      static const char *const fn[] = {"year", "month", "day", "hour", "minute"};
      static const char *const sf[] = {"%Y", "%m", "%d", "%H", "%M"};
      int i = (int)rnd(5);
      snprintf(od, sizeof od, "%s(t0)", fn[i]);
      snprintf(sq, sizeof sq, "cast(strftime('%s', t0, 'unixepoch') as integer)", sf[i]);
      break;
    }
    case 9:
      snprintf(od, sizeof od, "date_format(t0, 'yyyy-MM')");
      snprintf(sq, sizeof sq, "strftime('%%Y-%%m', t0, 'unixepoch')");
      kind = 1;
      break;
    default: {
      double st = steps[rnd(5)];
      snprintf(od, sizeof od, "range(n0, %g)", st);
      snprintf(sq, sizeof sq, "vfloor(n0 / %g) * %g", st, st);
      kind = 3;
      break;
    }
    }
    append(q->od_grp, sizeof q->od_grp, "%s%s as k%d", sep, od, k);
    append(q->sq_grp, sizeof q->sq_grp, "%s%s", sep, sq);
    append(q->od_sel, sizeof q->od_sel, "%sk%d", sep, k);
    append(q->sq_sel, sizeof q->sq_sel, "%s%s", sep, sq);
    q->kind[k] = kind;
  }
  q->naggs = 1 + (int)rnd(3);
  for (int j = 0; j < q->naggs; j++) {
    const char *sep = q->nkeys + j ? ", " : "";
    const char *num = rnd(2) ? "n0" : "n1";
    char od[128], sq[160];
    int kind = 0;
    switch (rnd(9)) {
    case 0: snprintf(od, sizeof od, "count(*)"); break;
    case 1: {
      const char *f = oschema[rnd(ONF)].name;
      snprintf(od, sizeof od, "count(%s)", f);
      break;
    }
    case 2: {
      const char *f = oschema[rnd(ONF)].name;
      snprintf(od, sizeof od, "count(distinct %s)", f);
      break;
    }
    case 3: snprintf(od, sizeof od, "sum(%s)", num); break;
    case 4: snprintf(od, sizeof od, "avg(%s)", num); break;
    case 5:
    case 6: {
      int t = rnd(3) == 0;
      snprintf(od, sizeof od, "%s(%s)", rnd(2) ? "min" : "max", t ? "t0" : num);
      kind = t ? 2 : 0;
      break;
    }
    case 7: snprintf(od, sizeof od, "median(%s)", num); break;
    default: {
      double p = (double)rnd(101);
      if (rnd(4) == 0)
        p += 0.5 * (p < 100);
      snprintf(od, sizeof od, "percentile(%s, %g)", num, p);
      break;
    }
    }
    snprintf(sq, sizeof sq, "%s", od);
    if (strncmp(od, "median(", 7) == 0)
      snprintf(sq, sizeof sq, "vpercentile(%s, 50)", num);
    else if (strncmp(od, "percentile(", 11) == 0)
      snprintf(sq, sizeof sq, "v%s", od);
    append(q->od_sel, sizeof q->od_sel, "%s%s", sep, od);
    append(q->sq_sel, sizeof q->sq_sel, "%s%s", sep, sq);
    q->kind[q->nkeys + j] = kind;
  }
}

static int close_enough(double a, double b) {
  return a == b || fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)));
}

static void oracle_sqlite_groups(void **state) {
  (void)state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db,
                                "create table t(n0 real, n1 real, s0 text, s1 text, "
                                "t0 integer)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  assert_int_equal(sqlite3_create_function(db, "vpercentile", 2, SQLITE_UTF8, NULL, NULL,
                                           q_step, q_final),
                   SQLITE_OK);
  assert_int_equal(
      sqlite3_create_function(db, "vfloor", 1, SQLITE_UTF8, NULL, f_floor, NULL, NULL),
      SQLITE_OK);
  enum { NROWS = 400 };
  static struct vg_odsql_value rows[NROWS][ONF];
  sqlite3_stmt *ins;
  assert_int_equal(
      sqlite3_prepare_v2(db, "insert into t values (?, ?, ?, ?, ?)", -1, &ins, NULL),
      SQLITE_OK);
  for (int r = 0; r < NROWS; r++) {
    memset(rows[r], 0, sizeof rows[r]);
    for (int f = 0; f < ONF; f++) {
      struct vg_odsql_value *v = &rows[r][f];
      v->null = rnd(7) == 0;
      if (v->null) {
        v->num = NAN;
        sqlite3_bind_null(ins, f + 1);
      } else if (f == O_N0 || f == O_N1) {
        v->num = ((double)rnd(4001) - 2000) / 8; /* ties, negatives, fractions */
        sqlite3_bind_double(ins, f + 1, v->num);
      } else if (f == O_S0 || f == O_S1) {
        v->str = texts[rnd(NTEXT)];
        v->len = strlen(v->str);
        sqlite3_bind_text(ins, f + 1, v->str, (int)v->len, SQLITE_STATIC);
      } else { /* a year and a half of instants, to the second */
        v->time_s = 1767225600 + (int64_t)rnd(48000000);
        sqlite3_bind_int64(ins, f + 1, v->time_s);
      }
    }
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);

  size_t groups = 0, cells = 0;
  for (int e = 0; e < 3000; e++) {
    struct qgen q;
    gen_query(&q);
    char err[256] = "", sql[4096];
    struct vg_odsql_analysis *a = NULL;
    int rc = vg_odsql_analysis_parse(q.od_sel, q.nkeys ? q.od_grp : NULL, NULL, oschema,
                                     ONF, utc, &a, err, sizeof err);
    if (rc)
      print_message("parse failed: %s\n  select=%s group_by=%s\n", err, q.od_sel,
                    q.od_grp);
    assert_int_equal(rc, 0);
    assert_non_null(a);
    struct vg_odsql_groups *g;
    assert_int_equal(vg_odsql_groups_new(a, &g), 0);
    for (int r = 0; r < NROWS; r++)
      assert_int_equal(vg_odsql_groups_add(g, rows[r]), 0);
    assert_int_equal(vg_odsql_groups_finish(g), 0);
    if (q.nkeys) {
      snprintf(sql, sizeof sql, "select %s from t group by %s order by %s", q.sq_sel,
               q.sq_grp, q.sq_grp);
    } else {
      snprintf(sql, sizeof sql, "select %s from t", q.sq_sel);
    }
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc)
      print_message("sqlite: %s\n  %s\n", sqlite3_errmsg(db), sql);
    assert_int_equal(rc, SQLITE_OK);
    size_t nout, ncols, i = 0;
    const size_t *out = vg_odsql_analysis_output(a, &nout);
    (void)vg_odsql_analysis_columns(a, &ncols);
    assert_int_equal(nout, (size_t)(q.nkeys + q.naggs));
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      assert_true(i < vg_odsql_groups_count(g));
      const struct vg_odsql_value *row = vg_odsql_groups_row(g, i);
      for (size_t c = 0; c < nout; c++) {
        const struct vg_odsql_value *v = &row[out[c]];
        int sq_null = sqlite3_column_type(st, (int)c) == SQLITE_NULL, ok;
        if (sq_null || v->null)
          ok = sq_null == (v->null != 0);
        else if (q.kind[c] == 1)
          ok = (size_t)sqlite3_column_bytes(st, (int)c) == v->len &&
               memcmp(sqlite3_column_text(st, (int)c), v->str, v->len) == 0;
        else if (q.kind[c] == 2)
          ok = sqlite3_column_int64(st, (int)c) == v->time_s;
        else
          ok = close_enough(sqlite3_column_double(st, (int)c), v->num);
        if (!ok)
          print_message("query %d, group %zu, column %zu differs: sqlite %s, ours "
                        "%.17g / %lld\n  select=%s group_by=%s\n  %s\n",
                        e, i, c, sqlite3_column_text(st, (int)c), v->num,
                        (long long)v->time_s, q.od_sel, q.od_grp, sql);
        assert_true(ok);
        cells++;
      }
      i++;
    }
    assert_int_equal(rc, SQLITE_DONE);
    assert_int_equal(i, vg_odsql_groups_count(g));
    groups += i;
    sqlite3_finalize(st);
    vg_odsql_groups_free(g);
    vg_odsql_analysis_free(a);
  }
  print_message("oracle: 3000 queries, %zu groups, %zu cells equal SQLite's\n", groups,
                cells);
  assert_true(groups > 3000 * 10);
  sqlite3_close(db);
}

int vg_test_publish_odsql_group(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parse_forms),
      cmocka_unit_test(dst_hours),
      cmocka_unit_test(aggregates_by_hand),
      cmocka_unit_test(oracle_sqlite_groups),
  };
  return cmocka_run_group_tests_name("publish_odsql_group", tests, setup, teardown);
}
