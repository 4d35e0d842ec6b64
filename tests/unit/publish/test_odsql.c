/* Unit tests of the ODSQL subset (odsql.h): the grammar (quotes, escapes,
 * numbers, date literals, in, is null, both sides of a comparison),
 * precedence (not > and > or) checked on truth tables, every error class with
 * its message, SQL's null semantics, the pushdown helpers (and how or / not
 * make them unconstrained), date literals across both DST changes of
 * Europe/Paris, select and order_by, row comparison, and an oracle: random
 * clauses over random rows evaluated both by vg_odsql_where_eval and by SQLite
 * on the same clause written in SQL. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "testutil.h"
#include "vigie/odsql.h"
#include "vigie/tz.h"

/* ---- a dataset's schema --------------------------------------------------- */

enum { F_START, F_METRIC, F_SENSOR, F_MEAN, F_COUNT, F_STATUS, F_2024, NF };

static const struct vg_odsql_field schema[NF] = {
    [F_START] = {"start_datetime", VG_ODSQL_DATETIME},
    [F_METRIC] = {"metric", VG_ODSQL_TEXT},
    [F_SENSOR] = {"sensor_id", VG_ODSQL_TEXT},
    [F_MEAN] = {"mean", VG_ODSQL_NUMBER},
    [F_COUNT] = {"count", VG_ODSQL_NUMBER},
    [F_STATUS] = {"status", VG_ODSQL_TEXT},
    [F_2024] = {"2024", VG_ODSQL_NUMBER},
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

static struct vg_odsql_where *parse_tz(const char *src, const struct vg_tz *tz) {
  char err[256] = "";
  struct vg_odsql_where *w = NULL;
  int rc = vg_odsql_where_parse(src, strlen(src), schema, NF, tz, &w, err, sizeof err);
  if (rc != 0)
    print_message("unexpected error for [%s]: %s\n", src, err);
  assert_int_equal(rc, 0);
  return w;
}

static struct vg_odsql_where *parse(const char *src) {
  struct vg_odsql_where *w = parse_tz(src, utc);
  assert_non_null(w);
  return w;
}

/* The clause fails with -EINVAL and a message containing `want`. */
static void parse_fails(const char *src, size_t len, const char *want) {
  char err[256] = "";
  struct vg_odsql_where *w = (struct vg_odsql_where *)1;
  int rc = vg_odsql_where_parse(src, len, schema, NF, utc, &w, err, sizeof err);
  if (rc != -EINVAL || !strstr(err, want))
    print_message("for [%.60s]: rc %d, message \"%s\", wanted \"%s\"\n", src, rc, err,
                  want);
  assert_int_equal(rc, -EINVAL);
  assert_null(w);
  assert_non_null(strstr(err, want));
}

#define FAILS(src, want) parse_fails(src, strlen(src), want)

struct row {
  struct vg_odsql_value v[NF];
};

static struct row mkrow(int64_t t, const char *metric, const char *sensor, double mean,
                        double count, const char *status) {
  struct row r;
  memset(&r, 0, sizeof r);
  r.v[F_START].time_s = t;
  r.v[F_METRIC].str = metric;
  r.v[F_METRIC].null = metric == NULL;
  r.v[F_METRIC].len = metric ? strlen(metric) : 0;
  r.v[F_SENSOR].str = sensor;
  r.v[F_SENSOR].null = sensor == NULL;
  r.v[F_SENSOR].len = sensor ? strlen(sensor) : 0;
  r.v[F_MEAN].num = mean;
  r.v[F_COUNT].num = count;
  r.v[F_STATUS].str = status;
  r.v[F_STATUS].null = status == NULL;
  r.v[F_STATUS].len = status ? strlen(status) : 0;
  r.v[F_2024].num = 7;
  return r;
}

static int matches(const char *src, const struct row *r) {
  struct vg_odsql_where *w = parse(src);
  int m = vg_odsql_where_eval(w, r->v);
  vg_odsql_where_free(w);
  return m;
}

/* ---- grammar ---------------------------------------------------------------- */

static void grammar(void **state) {
  (void)state;
  struct row r =
      mkrow(1774738800 /* 2026-03-28T23:00Z */, "no2", "aq-12", 12.5, 40, "final");
  /* comparisons, both sides, every operator */
  assert_true(matches("mean > 12", &r));
  assert_false(matches("mean > 12.5", &r));
  assert_true(matches("mean >= 12.5", &r));
  assert_true(matches("mean = 12.5", &r));
  assert_true(matches("mean == 12.5", &r));
  assert_true(matches("mean != 12", &r));
  assert_true(matches("mean <> 12", &r));
  assert_true(matches("mean < 13", &r));
  assert_true(matches("mean <= 12.5", &r));
  assert_true(matches("12 < mean", &r));
  assert_true(matches("13 > mean", &r));
  assert_false(matches("12.5 > mean", &r));
  assert_true(matches("12.5 >= mean", &r));
  assert_true(matches("'no2' = metric", &r));
  /* numbers: integers, decimals, exponents, negatives */
  assert_true(matches("count = 4e1", &r));
  assert_true(matches("count = 4E+1", &r));
  assert_true(matches("count = 400e-1", &r));
  assert_true(matches("count > -1.5e3", &r));
  assert_true(matches("mean = 1.25e1", &r));
  assert_true(matches("mean > .5", &r));
  assert_true(matches("mean>-.5", &r));
  assert_true(matches("count = 40.", &r));
  /* strings: both quotes, escaped quotes, doubled quotes */
  assert_true(matches("metric = \"no2\"", &r));
  struct row q = mkrow(0, "it's", "say \"hi\"", 0, 0, "a\\b");
  assert_true(matches("metric = 'it\\'s'", &q));
  assert_true(matches("metric = 'it''s'", &q));
  assert_true(matches("metric = \"it's\"", &q));
  assert_true(matches("sensor_id = \"say \\\"hi\\\"\"", &q));
  assert_true(matches("sensor_id = 'say \"hi\"'", &q));
  assert_true(matches("status = 'a\\\\b'", &q));
  assert_false(matches("status = 'ab'", &q));
  /* keywords in any case; spaces optional */
  assert_true(matches("metric='no2' AND mean>1", &r));
  assert_true(matches("metric='x' Or mean>1", &r));
  assert_true(matches("NOT metric='x' aNd sensor_id IN ('aq-12')", &r));
  assert_true(matches("sensor_id NOT IN ('aq-1', 'aq-2')", &r));
  assert_false(matches("sensor_id not in ('aq-12')", &r));
  assert_true(matches("status IS NOT NULL", &r));
  assert_false(matches("status is null", &r));
  /* in: numbers and dates too */
  assert_true(matches("count in (1, 40, 3)", &r));
  assert_true(
      matches("start_datetime in (date'2026-03-28T23:00:00Z', date'2026-01-01')", &r));
  /* back-quoted fields: a name of digits only, a name that is a keyword */
  assert_true(matches("`2024` = 7", &r));
  assert_true(matches("`count` = 40 and `metric` = 'no2'", &r));
  /* date literals and ISO strings on a datetime field */
  assert_true(matches("start_datetime = date'2026-03-28T23:00:00Z'", &r));
  assert_true(matches("start_datetime = DATE \"2026-03-29T00:00:00+01:00\"", &r));
  assert_true(matches("start_datetime >= '2026-03-28T23:00:00+00:00'", &r));
  assert_true(matches("'2026-03-29' > start_datetime", &r));
  /* booleans */
  assert_true(matches("true", &r));
  assert_false(matches("false", &r));
  assert_true(matches("false or mean > 1", &r));
  /* blank clause: NULL, matches everything */
  struct vg_odsql_where *w = (struct vg_odsql_where *)1;
  char err[64];
  assert_int_equal(
      vg_odsql_where_parse(" \t\n ", 4, schema, NF, utc, &w, err, sizeof err), 0);
  assert_null(w);
  assert_int_equal(vg_odsql_where_parse("", 0, schema, NF, utc, &w, err, sizeof err), 0);
  assert_null(w);
  assert_true(vg_odsql_where_eval(NULL, r.v));
  /* len is honoured: the bytes after it are not read */
  const char *src = "mean > 100 garbage";
  assert_int_equal(vg_odsql_where_parse(src, 10, schema, NF, utc, &w, err, sizeof err),
                   0);
  assert_false(vg_odsql_where_eval(w, r.v));
  vg_odsql_where_free(w);
}

/* ---- precedence: not > and > or ---------------------------------------------- */

/* rows where a := mean > 0, b := count > 0, c := 2024 > 0 take every value */
static struct row abc(int a, int b, int c) {
  struct row r = mkrow(0, "m", "s", a ? 1 : -1, b ? 1 : -1, "final");
  r.v[F_2024].num = c ? 1 : -1;
  return r;
}

static void precedence(void **state) {
  (void)state;
  for (int i = 0; i < 8; i++) {
    int a = i & 1, b = (i >> 1) & 1, c = (i >> 2) & 1;
    struct row r = abc(a, b, c);
    assert_int_equal(matches("mean > 0 or count > 0 and `2024` > 0", &r), a || (b && c));
    assert_int_equal(matches("mean > 0 and count > 0 or `2024` > 0", &r), (a && b) || c);
    assert_int_equal(matches("(mean > 0 or count > 0) and `2024` > 0", &r),
                     (a || b) && c);
    assert_int_equal(matches("not mean > 0 and count > 0", &r), !a && b);
    assert_int_equal(matches("not mean > 0 or count > 0", &r), !a || b);
    assert_int_equal(matches("not (mean > 0 or count > 0)", &r), !(a || b));
    assert_int_equal(matches("not not mean > 0", &r), a);
    assert_int_equal(matches("not not not mean > 0", &r), !a);
    assert_int_equal(matches("NOT (mean > 0 AND NOT (count > 0 OR NOT `2024` > 0))", &r),
                     !(a && !(b || !c)));
    assert_int_equal(
        matches("mean > 0 and (count > 0 and (`2024` > 0 or false)) or not true", &r),
        a && b && c);
  }
}

/* ---- errors -------------------------------------------------------------------- */

static void errors(void **state) {
  (void)state;
  FAILS("meen > 1", "Unknown field: meen (did you mean mean?)");
  FAILS("pm10 > 1", "Unknown field: pm10");
  FAILS("mean > 'x'",
        "ODSQL query is malformed: field `mean` is of type number and cannot be compared "
        "with a string ('x') at position 8");
  FAILS("'12' < mean",
        "field `mean` is of type number and cannot be compared with a string");
  FAILS("metric = 3",
        "field `metric` is of type text and cannot be compared with a number");
  FAILS("metric in ('a', 3)", "cannot be compared with a number (3) at position 17");
  FAILS("start_datetime > 3", "of type datetime and cannot be compared with a number");
  FAILS("mean > date'2026-01-01'", "of type number and cannot be compared with a date");
  FAILS("mean = true", "of type number and cannot be compared with a boolean");
  FAILS("mean = null", "comparison with null at position 8: use `mean is null`");
  FAILS("metric = 'abc", "unterminated string starting at position 10");
  FAILS("`metric = 'abc'", "unterminated field name starting at position 1");
  FAILS("start_datetime > date'2026-01-01", "unterminated date literal");
  FAILS("mean > 1 ; drop", "unexpected character ';' at position 10");
  FAILS("mean ! 1", "unexpected '!' at position 6, expected '!='");
  FAILS("mean > 1 and", "unexpected end of the clause, expected a field, a literal");
  FAILS("(mean > 1", "unexpected end of the clause, expected ')'");
  FAILS("mean > 1)", "unexpected ')' at position 9, expected the end of the clause");
  FAILS("mean > 1 metric = 'a'", "unexpected 'metric' at position 10, expected and, or");
  FAILS("mean 1",
        "expected an operator (=, !=, <, <=, >, >=, in, is null) after field `mean`");
  FAILS("mean in ()", "unexpected ')' at position 10, expected a literal in the list");
  FAILS("mean in (1 2)", "expected ',' or ')' in the list");
  FAILS("mean in 1", "expected '(' after in");
  FAILS("mean not 1", "expected in after not");
  FAILS("mean is 1", "unexpected '1' at position 9, expected null");
  FAILS("mean > count", "comparing two fields (position 8) is not supported");
  FAILS("1 = 1", "expected a field after the comparison operator");
  FAILS("'a' and mean > 1", "expected a comparison operator after the literal");
  FAILS("true = mean", "a boolean cannot be compared");
  FAILS("mean > 12abc", "invalid number '12a' at position 8");
  FAILS("mean > 1e999", "number '1e999' at position 8 is out of range");
  FAILS("mean > -", "unexpected character '-'");
  FAILS("start_datetime > date'2026-13-01'",
        "invalid date '2026-13-01' at position 18: month "
        "13 is out of range");
  FAILS("start_datetime > date'2026-02-29'", "day 29 does not exist in 2026-02");
  FAILS("start_datetime > date'-7d'", "invalid date '-7d'");
  FAILS("start_datetime > date'now'", "invalid date 'now'");
  FAILS("start_datetime > 'yesterday'", "invalid date 'yesterday' at position 18");
  FAILS("start_datetime > date'2026-01-01T25:00'", "time 25:00:00 is out of range");
  FAILS("date > 1", "unexpected 'date' at position 1, expected a field");
  FAILS("metric = 'a' and", "unexpected end of the clause");
}

/* The error table of docs/publication.md says what the parser answers: each
 * row whose first cell is a clause in a code span is parsed and its message
 * compared with the second cell. */
static void errors_as_documented(void **state) {
  (void)state;
  FILE *f = fopen(VG_SOURCE_DIR "/docs/publication.md", "r");
  assert_non_null(f);
  char line[1024];
  int rows = 0, in_errors = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#') /* only the table of the ODSQL "Errors" section */
      in_errors = strcmp(line, "### Errors\n") == 0;
    if (!in_errors || strncmp(line, "| `", 3) != 0)
      continue;
    char *clause = line + 3;
    char *end = strstr(clause, "` | ");
    assert_non_null(end);
    *end = '\0';
    char *msg = end + 4;
    int ticks = strncmp(msg, "``", 2) == 0 ? 2 : 1;
    msg += ticks;
    char *close = strstr(msg, ticks == 2 ? "`` |" : "` |");
    assert_non_null(close);
    while (close > msg && close[-1] == ' ' && ticks == 2)
      close--;
    *close = '\0';
    char err[256] = "";
    struct vg_odsql_where *w = NULL;
    assert_int_equal(vg_odsql_where_parse(clause, strlen(clause), schema, NF, utc, &w,
                                          err, sizeof err),
                     -EINVAL);
    if (strcmp(err, msg) != 0)
      print_message("docs say [%s] for [%s], the parser [%s]\n", msg, clause, err);
    assert_string_equal(err, msg);
    rows++;
  }
  fclose(f);
  assert_true(rows >= 6);
}

static void errors_binary_and_limits(void **state) {
  (void)state;
  /* bytes that are not printable are quoted as \xNN */
  parse_fails("mean > 1 \x01", 10, "unexpected character '\\x01' at position 10");
  parse_fails("mean > 1 \0 x", 12, "unexpected character '\\x00' at position 10");
  parse_fails("\xc3\xa9tric = 'a'", 12, "unexpected character '\\xc3' at position 1");
  /* length */
  size_t big = VG_ODSQL_MAX_LEN + 1;
  char *s = malloc(big + 1);
  assert_non_null(s);
  memset(s, ' ', big);
  memcpy(s, "mean > 1", 8);
  s[big] = '\0';
  parse_fails(s, big, "the clause is 8193 bytes long, more than the 8192 allowed");
  /* the longest clause accepted: 8192 bytes */
  struct vg_odsql_where *w = NULL;
  char err[256];
  assert_int_equal(vg_odsql_where_parse(s, big - 1, schema, NF, utc, &w, err, sizeof err),
                   0);
  vg_odsql_where_free(w);
  /* depth: 64 parentheses pass, 65 fail, 4000 fail without a stack overflow */
  for (int depth = 64; depth <= 65; depth++) {
    size_t o = 0;
    for (int i = 0; i < depth; i++)
      s[o++] = '(';
    memcpy(s + o, "mean > 1", 8);
    o += 8;
    for (int i = 0; i < depth; i++)
      s[o++] = ')';
    s[o] = '\0';
    if (depth == 64) {
      w = parse(s);
      vg_odsql_where_free(w);
    } else {
      FAILS(s, "expression nested deeper than 64 levels at position 65");
    }
  }
  memset(s, '(', 4000);
  s[4000] = '\0';
  FAILS(s, "nested deeper than 64 levels");
  /* a long chain of and / or / not is not nesting: hundreds of terms parse */
  size_t o = 0;
  for (int i = 0; i < 700 && o + 24 < big; i++)
    o += (size_t)snprintf(s + o, big - o, "%snot mean > %d",
                          i ? (i % 3 ? " and " : " or ") : "", i);
  w = parse(s);
  struct row r = mkrow(0, "m", "s", -5, 0, "f");
  assert_true(vg_odsql_where_eval(w, r.v));
  vg_odsql_where_free(w);
  free(s);
  /* a small errstr is truncated, not overflowed; NULL errstr is accepted */
  char tiny[8];
  assert_int_equal(vg_odsql_where_parse("x", 1, schema, NF, utc, &w, tiny, sizeof tiny),
                   -EINVAL);
  assert_int_equal(strlen(tiny), 7);
  assert_int_equal(vg_odsql_where_parse("x", 1, schema, NF, utc, &w, NULL, 0), -EINVAL);
}

/* ---- null semantics ------------------------------------------------------------- */

static void nulls(void **state) {
  (void)state;
  struct row r = mkrow(0, NULL, "s", 1, 1, "final");
  r.v[F_MEAN].null = 1;
  const char *never[] = {"mean > 1",
                         "mean <= 1",
                         "mean = 1",
                         "mean != 1",
                         "not mean > 1",
                         "not (mean > 1)",
                         "not (mean = 1)",
                         "mean in (1, 2)",
                         "mean not in (1, 2)",
                         "not mean in (1)",
                         "metric = 'a'",
                         "metric != 'a'",
                         "metric in ('a')",
                         "not metric in ('a')",
                         "mean is not null",
                         "not mean is null",
                         "mean > 1 or mean <= 1",
                         "not (mean > 1 or count > 5)"};
  for (size_t i = 0; i < sizeof never / sizeof *never; i++) {
    if (matches(never[i], &r))
      print_message("[%s] matched a null cell\n", never[i]);
    assert_false(matches(never[i], &r));
  }
  const char *always[] = {
      "mean is null",          "not mean is not null",         "metric is null",
      "mean > 1 or count = 1", "not (mean > 1 and count > 5)", "not (mean > 1) or true"};
  for (size_t i = 0; i < sizeof always / sizeof *always; i++)
    assert_true(matches(always[i], &r));
  /* a NaN number cell reads as null */
  r.v[F_MEAN].null = 0;
  r.v[F_MEAN].num = NAN;
  assert_true(matches("mean is null", &r));
  assert_false(matches("mean != 1", &r));
  assert_false(matches("not mean = 1", &r));
}

/* ---- pushdown --------------------------------------------------------------------- */

static void bounds_of(const char *src, int64_t from, int64_t to) {
  struct vg_odsql_where *w = parse(src);
  int64_t a, b;
  vg_odsql_where_time_bounds(w, F_START, &a, &b);
  if (a != from || b != to)
    print_message("[%s]: [%lld, %lld), wanted [%lld, %lld)\n", src, (long long)a,
                  (long long)b, (long long)from, (long long)to);
  assert_true(a == from && b == to);
  /* other fields are never constrained */
  vg_odsql_where_time_bounds(w, F_MEAN, &a, &b);
  assert_true(a == INT64_MIN && b == INT64_MAX);
  vg_odsql_where_time_bounds(w, NF + 3, &a, &b);
  assert_true(a == INT64_MIN && b == INT64_MAX);
  vg_odsql_where_free(w);
}

static void time_pushdown(void **state) {
  (void)state;
  const int64_t A = 1767225600; /* 2026-01-01T00:00Z */
  const int64_t B = 1769904000; /* 2026-02-01T00:00Z */
  bounds_of("start_datetime >= date'2026-01-01' and start_datetime < date'2026-02-01'", A,
            B);
  bounds_of("start_datetime > date'2026-01-01'", A + 1, INT64_MAX);
  bounds_of("start_datetime <= '2026-02-01T00:00:00Z'", INT64_MIN, B + 1);
  bounds_of("start_datetime = date'2026-01-01'", A, A + 1);
  bounds_of("start_datetime in (date'2026-02-01', date'2026-01-01')", A, B + 1);
  bounds_of("date'2026-01-01' <= start_datetime and mean > 3", A, INT64_MAX);
  bounds_of("(start_datetime >= date'2026-01-01' and mean > 1) and (metric = 'a' and "
            "start_datetime < date'2026-02-01')",
            A, B);
  bounds_of(
      "start_datetime >= date'2025-01-01' and start_datetime >= date'2026-01-01' and "
      "start_datetime < date'2026-03-01' and start_datetime < date'2026-02-01'",
      A, B);
  /* not over a single comparison is folded: exact under three-valued logic */
  bounds_of("not start_datetime < date'2026-01-01'", A, INT64_MAX);
  /* or / not over a conjunction / not in / != leave it unconstrained */
  bounds_of("start_datetime >= date'2026-01-01' or start_datetime < date'2026-02-01'",
            INT64_MIN, INT64_MAX);
  bounds_of("start_datetime >= date'2026-01-01' or mean > 1", INT64_MIN, INT64_MAX);
  bounds_of(
      "not (start_datetime >= date'2026-01-01' and start_datetime < date'2026-02-01')",
      INT64_MIN, INT64_MAX);
  bounds_of("start_datetime != date'2026-01-01'", INT64_MIN, INT64_MAX);
  bounds_of("start_datetime not in (date'2026-01-01')", INT64_MIN, INT64_MAX);
  bounds_of("start_datetime is not null", INT64_MIN, INT64_MAX);
  bounds_of("mean > 1 and (start_datetime > date'2026-01-01' or false)", INT64_MIN,
            INT64_MAX);
  /* contradictory: an empty range */
  bounds_of("start_datetime >= date'2026-02-01' and start_datetime < date'2026-01-01'", B,
            A);
  int64_t a, b;
  vg_odsql_where_time_bounds(NULL, F_START, &a, &b);
  assert_true(a == INT64_MIN && b == INT64_MAX);

  /* the bounds are sound: over every hour of two months, each matching row
   * lies inside them */
  const char *clauses[] = {
      "start_datetime >= date'2026-01-10' and start_datetime <= date'2026-01-20T05:00Z'",
      "not start_datetime >= date'2026-01-15' and mean > 0",
      "start_datetime in (date'2026-01-03T04:00:00Z', date'2026-01-05') and true"};
  for (size_t c = 0; c < 3; c++) {
    struct vg_odsql_where *w = parse(clauses[c]);
    vg_odsql_where_time_bounds(w, F_START, &a, &b);
    assert_true(a < b);
    int n = 0;
    for (int64_t t = A - 86400 * 3; t < B + 86400 * 30; t += 3600) {
      struct row r = mkrow(t, "m", "s", 1, 1, "f");
      if (vg_odsql_where_eval(w, r.v)) {
        n++;
        assert_true(t >= a && t < b);
      }
    }
    assert_true(n > 0);
    vg_odsql_where_free(w);
  }
}

static void values_of(const char *src, size_t field, int want_n, const char *want[]) {
  struct vg_odsql_where *w = parse(src);
  const char *const *vals = NULL;
  const size_t *lens = NULL;
  int n = vg_odsql_where_text_values(w, field, &vals, &lens);
  if (n != want_n)
    print_message("[%s]: %d values, wanted %d\n", src, n, want_n);
  assert_int_equal(n, want_n);
  for (int i = 0; i < n; i++) {
    assert_int_equal(lens[i], strlen(want[i]));
    assert_memory_equal(vals[i], want[i], lens[i]);
  }
  vg_odsql_where_free(w);
}

static void text_pushdown(void **state) {
  (void)state;
  values_of("metric = 'no2'", F_METRIC, 1, (const char *[]){"no2"});
  values_of("'no2' = metric and mean > 1", F_METRIC, 1, (const char *[]){"no2"});
  values_of("metric in ('no2', \"pm10\", 'no2') and mean > 1", F_METRIC, 2,
            (const char *[]){"no2", "pm10"});
  values_of("metric in ('a', 'b', 'c') and (metric in ('c', 'b') and mean > 1)", F_METRIC,
            2, (const char *[]){"b", "c"});
  values_of("metric in ('a', 'b') and metric = 'b'", F_METRIC, 1, (const char *[]){"b"});
  values_of("metric = 'it''s'", F_METRIC, 1, (const char *[]){"it's"});
  values_of("metric = ''", F_METRIC, 1, (const char *[]){""});
  values_of("metric = 'a' and metric = 'b'", F_METRIC, 0, NULL); /* nothing matches */
  values_of("metric = 'a' and sensor_id in ('x', 'y')", F_SENSOR, 2,
            (const char *[]){"x", "y"});
  /* unconstrained */
  values_of("metric = 'a' and mean > 1", F_SENSOR, -1, NULL);
  values_of("metric = 'a' or mean > 1", F_METRIC, -1, NULL);
  values_of("metric = 'a' or metric = 'b'", F_METRIC, -1, NULL);
  values_of("metric != 'a'", F_METRIC, -1, NULL);
  values_of("metric not in ('a')", F_METRIC, -1, NULL);
  values_of("not metric = 'a'", F_METRIC, -1, NULL);
  values_of("not (metric = 'a' and mean > 1)", F_METRIC, -1, NULL);
  values_of("metric > 'a'", F_METRIC, -1, NULL);
  values_of("metric = 'a'", F_MEAN, -1, NULL);
  values_of("metric = 'a'", NF + 1, -1, NULL);
  const char *const *vals;
  const size_t *lens;
  assert_int_equal(vg_odsql_where_text_values(NULL, F_METRIC, &vals, &lens), -1);
}

/* ---- date literals across DST in Europe/Paris -------------------------------------- */

static int64_t date_of(const char *lit, const struct vg_tz *tz) {
  char src[128];
  snprintf(src, sizeof src, "start_datetime = date'%s'", lit);
  struct vg_odsql_where *w = parse_tz(src, tz);
  /* the literal is the only instant matching: read it back from the bounds */
  int64_t a, b;
  vg_odsql_where_time_bounds(w, F_START, &a, &b);
  assert_true(b == a + 1);
  struct row r = mkrow(a, "m", "s", 0, 0, "f");
  assert_true(vg_odsql_where_eval(w, r.v));
  r.v[F_START].time_s = a + 1;
  assert_false(vg_odsql_where_eval(w, r.v));
  vg_odsql_where_free(w);
  return a;
}

static int hours_in_day(const char *day, const char *next) {
  char src[160];
  snprintf(src, sizeof src, "start_datetime >= date'%s' and start_datetime < date'%s'",
           day, next);
  struct vg_odsql_where *w = parse_tz(src, paris);
  int n = 0;
  for (int64_t t = 1774051200 - 86400 * 3; t < 1774051200 + 86400 * 250; t += 3600) {
    struct row r = mkrow(t, "m", "s", 0, 0, "f");
    n += vg_odsql_where_eval(w, r.v);
  }
  vg_odsql_where_free(w);
  return n;
}

static void dates_across_dst(void **state) {
  (void)state;
  /* spring forward, 2026-03-29: midnight is still +01:00 */
  assert_int_equal(date_of("2026-03-29", paris), 1774738800);          /* 03-28T23:00Z */
  assert_int_equal(date_of("2026-03-29T01:59:59", paris), 1774745999); /* 00:59:59Z */
  assert_int_equal(date_of("2026-03-29T03:00:00", paris),
                   1774746000); /* 01:00Z, +02:00 */
  /* the skipped hour moves forward by the gap */
  assert_int_equal(date_of("2026-03-29T02:30:00", paris), 1774747800);       /* 01:30Z */
  assert_int_equal(date_of("2026-03-29T02:00:00+02:00", paris), 1774742400); /* 00:00Z */
  assert_int_equal(date_of("2026-03-29T02:00:00Z", paris), 1774749600);
  assert_int_equal(date_of("2026-03-29", utc), 1774742400);
  /* fall back, 2026-10-25: the repeated hour takes its first occurrence */
  assert_int_equal(date_of("2026-10-25T02:30:00", paris), 1792888200); /* 00:30Z */
  assert_int_equal(date_of("2026-10-25T02:30:00+01:00", paris), 1792891800);
  assert_int_equal(date_of("2026-10-25", paris), 1792879200); /* 10-24T22:00Z */
  assert_int_equal(date_of("2026-10-26", paris), 1792969200); /* 10-25T23:00Z */
  /* a local day holds 23 hours in March, 25 in October, 24 otherwise */
  assert_int_equal(hours_in_day("2026-03-29", "2026-03-30"), 23);
  assert_int_equal(hours_in_day("2026-10-25", "2026-10-26"), 25);
  assert_int_equal(hours_in_day("2026-06-01", "2026-06-02"), 24);
  assert_int_equal(hours_in_day("2026-03-29T00:00", "2026-03-29T04:00"), 3);
}

/* ---- select and order_by --------------------------------------------------------------
 */

static void select_lists(void **state) {
  (void)state;
  size_t idx[16], n;
  char err[256];
#define SEL(s, cap)                                                                      \
  vg_odsql_select_parse(s, strlen(s), schema, NF, idx, cap, &n, err, sizeof err)
  assert_int_equal(SEL("*", 16), 0);
  assert_int_equal(n, NF);
  for (size_t i = 0; i < NF; i++)
    assert_int_equal(idx[i], i);
  assert_int_equal(SEL("  ", 16), 0);
  assert_int_equal(n, NF);
  assert_int_equal(SEL("mean, metric,`2024` ,start_datetime", 16), 0);
  assert_int_equal(n, 4);
  assert_int_equal(idx[0], F_MEAN);
  assert_int_equal(idx[1], F_METRIC);
  assert_int_equal(idx[2], F_2024);
  assert_int_equal(idx[3], F_START);
  assert_int_equal(SEL("metric, *", 16), 0);
  assert_int_equal(n, NF + 1);
  assert_int_equal(SEL("mean, nope", 16), -EINVAL);
  assert_string_equal(err, "Unknown field: nope");
  assert_int_equal(n, 0);
  assert_int_equal(SEL("mean,", 16), -EINVAL);
  assert_string_equal(
      err, "ODSQL query is malformed: unexpected end of the clause, expected a "
           "field name or *");
  assert_int_equal(SEL("mean metric", 16), -EINVAL);
  assert_non_null(strstr(err, "unexpected 'metric' at position 6, expected ','"));
  assert_int_equal(SEL("mean as m", 16), -EINVAL);
  assert_int_equal(SEL("'mean'", 16), -EINVAL);
  assert_non_null(strstr(err, "expected a field name"));
  assert_int_equal(SEL("count(*)", 16), -EINVAL);
  assert_int_equal(SEL("mean, metric, status", 2), -EINVAL);
  assert_string_equal(err, "ODSQL query is malformed: select lists more than 2 fields");
  assert_int_equal(SEL("*", 3), -EINVAL);
  /* regression (fuzz-odsql): a date literal in a list is refused, not read
   * without a zone */
  assert_int_equal(SEL("date'2026-01-01' <= start_datetime", 16), -EINVAL);
  assert_non_null(strstr(err, "unexpected 'date' at position 1, expected a field name"));
  assert_int_equal(SEL("`mean", 16), -EINVAL);
  assert_non_null(strstr(err, "unterminated field name"));
#undef SEL
}

static void order_lists(void **state) {
  (void)state;
  struct vg_odsql_order k[8];
  size_t n;
  char err[256];
#define ORD(s, cap)                                                                      \
  vg_odsql_order_parse(s, strlen(s), schema, NF, k, cap, &n, err, sizeof err)
  assert_int_equal(ORD("", 8), 0);
  assert_int_equal(n, 0);
  assert_int_equal(ORD("mean", 8), 0);
  assert_int_equal(n, 1);
  assert_true(k[0].field == F_MEAN && !k[0].desc);
  assert_int_equal(ORD("start_datetime DESC, metric asc,`count` Desc , status", 8), 0);
  assert_int_equal(n, 4);
  assert_true(k[0].field == F_START && k[0].desc);
  assert_true(k[1].field == F_METRIC && !k[1].desc);
  assert_true(k[2].field == F_COUNT && k[2].desc);
  assert_true(k[3].field == F_STATUS && !k[3].desc);
  assert_int_equal(ORD("mean up", 8), -EINVAL);
  assert_non_null(strstr(err, "unexpected 'up' at position 6, expected asc, desc, ','"));
  assert_int_equal(ORD("desc", 8), -EINVAL);
  assert_non_null(strstr(err, "unexpected 'desc' at position 1, expected a field name"));
  assert_int_equal(ORD("mean,,metric", 8), -EINVAL);
  assert_int_equal(ORD("stauts", 8), -EINVAL);
  assert_string_equal(err, "Unknown field: stauts (did you mean status?)");
  assert_int_equal(ORD("mean, metric", 1), -EINVAL);
  assert_int_equal(ORD("*", 8), -EINVAL);
  assert_int_equal(ORD("date'2026-01-01'", 8), -EINVAL);
#undef ORD
}

static const struct vg_odsql_order *sort_keys;
static size_t sort_nkeys;

static int cmp_rows(const void *a, const void *b) {
  return vg_odsql_row_cmp(sort_keys, sort_nkeys, schema, ((const struct row *)a)->v,
                          ((const struct row *)b)->v);
}

static void row_comparison(void **state) {
  (void)state;
  struct row r[6] = {
      mkrow(30, "b", "s", 2, 0, "f"),    mkrow(10, "a", "s", 1, 0, "f"),
      mkrow(20, "ab", "s", NAN, 0, "f"), mkrow(10, "B", "s", 3, 0, "f"),
      mkrow(40, NULL, "s", 1, 0, "f"),   mkrow(10, "a", "s", -1, 0, "f"),
  };
  r[3].v[F_MEAN].null = 1;
  struct vg_odsql_order by_metric[] = {{F_METRIC, 0}};
  sort_keys = by_metric;
  sort_nkeys = 1;
  qsort(r, 6, sizeof *r, cmp_rows);
  /* null first; then bytes: "B" < "a" < "a" < "ab" < "b" */
  assert_true(r[0].v[F_METRIC].null);
  const char *want[] = {"B", "a", "a", "ab", "b"};
  for (int i = 0; i < 5; i++)
    assert_memory_equal(r[i + 1].v[F_METRIC].str, want[i], strlen(want[i]));
  /* descending mean (nulls and NaN last), then ascending start */
  struct vg_odsql_order by_mean[] = {{F_MEAN, 1}, {F_START, 0}};
  sort_keys = by_mean;
  sort_nkeys = 2;
  qsort(r, 6, sizeof *r, cmp_rows);
  const double means[] = {2, 1, 1, -1};
  const int64_t starts[] = {30, 10, 40, 10};
  for (int i = 0; i < 4; i++) {
    assert_true(r[i].v[F_MEAN].num == means[i]);
    assert_int_equal(r[i].v[F_START].time_s, starts[i]);
  }
  assert_true(r[4].v[F_MEAN].null || isnan(r[4].v[F_MEAN].num));
  assert_true(r[5].v[F_MEAN].null || isnan(r[5].v[F_MEAN].num));
  assert_int_equal(r[4].v[F_START].time_s, 10); /* the two nulls by start */
  assert_int_equal(r[5].v[F_START].time_s, 20);
  /* antisymmetry and equality */
  assert_int_equal(vg_odsql_row_cmp(by_mean, 2, schema, r[0].v, r[0].v), 0);
  assert_true(vg_odsql_row_cmp(by_mean, 2, schema, r[0].v, r[1].v) < 0);
  assert_true(vg_odsql_row_cmp(by_mean, 2, schema, r[1].v, r[0].v) > 0);
  assert_int_equal(vg_odsql_row_cmp(NULL, 0, schema, r[0].v, r[1].v), 0);
}

/* ---- oracle: SQLite
 * ------------------------------------------------------------------------ */

enum { O_N0, O_N1, O_S0, O_S1, O_T0, ONF };

static const struct vg_odsql_field oschema[ONF] = {
    {"n0", VG_ODSQL_NUMBER}, {"n1", VG_ODSQL_NUMBER},   {"s0", VG_ODSQL_TEXT},
    {"s1", VG_ODSQL_TEXT},   {"t0", VG_ODSQL_DATETIME},
};

static const char *const texts[] = {"",    "a",    "b",    "ab",      "B",
                                    "a'b", "a\\b", "a\"b", "\xc3\xa9"};
static const double nums[] = {-2.5, -1, 0, 0.5, 1, 3, 10, 1e3};
static const char *const num_lits[] = {"-2.5", "-1", "0", ".5", "1", "3", "1e1", "1E+3"};
static const double num_vals[] = {-2.5, -1, 0, 0.5, 1, 3, 10, 1000};
static const int64_t times[] = {1774738800, 1774742400, 1774746000, 1792888200, 0};

#define NTEXT (sizeof texts / sizeof *texts)
#define NNUM  (sizeof nums / sizeof *nums)
#define NLIT  (sizeof num_lits / sizeof *num_lits)
#define NTIME (sizeof times / sizeof *times)

struct gen {
  uint64_t x;
  char *od, *sq; /* ODSQL and SQL texts being written */
  size_t no, ns, cap;
};

static uint32_t rnd(struct gen *g, uint32_t n) {
  g->x ^= g->x << 13;
  g->x ^= g->x >> 7;
  g->x ^= g->x << 17;
  return (uint32_t)((g->x >> 11) % n);
}

static void put(char *buf, size_t *o, size_t cap, const char *s) {
  size_t n = strlen(s);
  assert_true(*o + n < cap);
  memcpy(buf + *o, s, n);
  *o += n;
  buf[*o] = '\0';
}

static void both(struct gen *g, const char *od, const char *sq) {
  put(g->od, &g->no, g->cap, od);
  put(g->sq, &g->ns, g->cap, sq ? sq : od);
}

/* A text literal: ODSQL with a random quote style and escapes, SQL with ''. */
static void text_lit(struct gen *g, const char *s) {
  char od[64], sq[64];
  size_t o = 0, q = 0;
  char quote = rnd(g, 2) ? '\'' : '"';
  od[o++] = quote;
  sq[q++] = '\'';
  for (const char *c = s; *c; c++) {
    if (*c == quote)
      od[o++] = rnd(g, 2) ? '\\' : quote; /* \' or '' */
    else if (*c == '\\')
      od[o++] = '\\';
    else if (rnd(g, 8) == 0)
      od[o++] = '\\'; /* a needless escape */
    od[o++] = *c;
    if (*c == '\'')
      sq[q++] = '\'';
    sq[q++] = *c;
  }
  od[o++] = quote;
  sq[q++] = '\'';
  od[o] = sq[q] = '\0';
  both(g, od, sq);
}

static void time_lit(struct gen *g, int64_t t) {
  /* the same instant in UTC or at +02:00, as date'...' or a string */
  char od[64], sq[32];
  int off = rnd(g, 2) ? 7200 : 0;
  time_t lt = (time_t)(t + off);
  struct tm tm;
  gmtime_r(&lt, &tm);
  char iso[40];
  strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(od, sizeof od, "%s%s%s'", rnd(g, 2) ? "date'" : "'", iso,
           off ? "+02:00" : "Z");
  snprintf(sq, sizeof sq, "%lld", (long long)t);
  both(g, od, sq);
}

static void lit_for(struct gen *g, int f) {
  if (f == O_N0 || f == O_N1) {
    int i = (int)rnd(g, NLIT);
    char sq[32];
    snprintf(sq, sizeof sq, "%.17g", num_vals[i]);
    both(g, num_lits[i], sq);
  } else if (f == O_S0 || f == O_S1) {
    text_lit(g, texts[rnd(g, NTEXT)]);
  } else {
    time_lit(g, times[rnd(g, NTIME)]);
  }
}

static const char *const ops[] = {"=", "!=", "<", "<=", ">", ">="};
static const char *const sql_ops[] = {"=", "<>", "<", "<=", ">", ">="};

static void gen_expr(struct gen *g, int depth) {
  uint32_t k = rnd(g, depth > 3 ? 5 : 9);
  int f = (int)rnd(g, ONF);
  switch (k) {
  case 0:
  case 1: { /* field op literal */
    int op = (int)rnd(g, 6);
    both(g, oschema[f].name, NULL);
    both(g, rnd(g, 2) ? " " : "", "");
    both(g, op == 1 && rnd(g, 2) ? "<>" : ops[op], sql_ops[op]);
    both(g, " ", NULL);
    lit_for(g, f);
    break;
  }
  case 2: { /* literal op field */
    int op = (int)rnd(g, 6);
    lit_for(g, f);
    both(g, " ", NULL);
    both(g, ops[op], sql_ops[op]); /* SQL reads "literal op field" the same way */
    both(g, " ", NULL);
    both(g, oschema[f].name, NULL);
    break;
  }
  case 3: { /* [not] in */
    both(g, oschema[f].name, NULL);
    both(g, rnd(g, 2) ? " not in (" : " in (", NULL);
    int n = 1 + (int)rnd(g, 3);
    for (int i = 0; i < n; i++) {
      if (i)
        both(g, ", ", NULL);
      lit_for(g, f);
    }
    both(g, ")", NULL);
    break;
  }
  case 4: /* is [not] null, or a boolean */
    if (rnd(g, 4) == 0) {
      both(g, rnd(g, 2) ? "true" : "FALSE", NULL);
    } else {
      both(g, oschema[f].name, NULL);
      both(g, rnd(g, 2) ? " is not null" : " IS NULL", NULL);
    }
    break;
  case 5:
  case 6: /* and / or */
    both(g, "(", NULL);
    gen_expr(g, depth + 1);
    both(g, k == 5 ? " and " : " OR ", NULL);
    gen_expr(g, depth + 1);
    both(g, ")", NULL);
    break;
  case 7: /* not */
    both(g, "not ", NULL);
    gen_expr(g, depth + 1);
    break;
  default: /* unparenthesised chains: precedence decides */
    gen_expr(g, depth + 1);
    both(g, rnd(g, 2) ? " and " : " or ", NULL);
    gen_expr(g, depth + 1);
    both(g, rnd(g, 2) ? " AND " : " Or ", NULL);
    gen_expr(g, depth + 1);
    break;
  }
}

static void oracle_sqlite(void **state) {
  (void)state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(
      sqlite3_exec(db,
                   "create table t(id integer primary key, n0 real, n1 real, "
                   "s0 text, s1 text, t0 integer)",
                   NULL, NULL, NULL),
      SQLITE_OK);
  enum { NROWS = 48 };
  struct vg_odsql_value rows[NROWS][ONF];
  struct gen g = {.x = 0x9e3779b97f4a7c15ULL, .cap = 1 << 16};
  sqlite3_stmt *ins;
  assert_int_equal(
      sqlite3_prepare_v2(db, "insert into t values (?, ?, ?, ?, ?, ?)", -1, &ins, NULL),
      SQLITE_OK);
  for (int r = 0; r < NROWS; r++) {
    memset(rows[r], 0, sizeof rows[r]);
    sqlite3_bind_int(ins, 1, r);
    for (int f = 0; f < ONF; f++) {
      struct vg_odsql_value *v = &rows[r][f];
      v->null = rnd(&g, 6) == 0;
      if (v->null) {
        sqlite3_bind_null(ins, f + 2);
        continue;
      }
      if (f == O_N0 || f == O_N1) {
        v->num = nums[rnd(&g, NNUM)];
        sqlite3_bind_double(ins, f + 2, v->num);
      } else if (f == O_S0 || f == O_S1) {
        v->str = texts[rnd(&g, NTEXT)];
        v->len = strlen(v->str);
        sqlite3_bind_text(ins, f + 2, v->str, (int)v->len, SQLITE_STATIC);
      } else {
        v->time_s = times[rnd(&g, NTIME)];
        sqlite3_bind_int64(ins, f + 2, v->time_s);
      }
    }
    assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
    sqlite3_reset(ins);
  }
  sqlite3_finalize(ins);

  g.od = malloc(g.cap);
  g.sq = malloc(g.cap);
  char sql[1 << 17];
  int exprs = 0, matched = 0, total = 0;
  for (int e = 0; e < 3000; e++) {
    g.no = g.ns = 0;
    g.od[0] = g.sq[0] = '\0';
    gen_expr(&g, 0);
    char err[256];
    struct vg_odsql_where *w = NULL;
    int rc = vg_odsql_where_parse(g.od, g.no, oschema, ONF, utc, &w, err, sizeof err);
    if (rc)
      print_message("oracle clause failed to parse: %s\n  %s\n", err, g.od);
    assert_int_equal(rc, 0);
    snprintf(sql, sizeof sql, "select id from t where %s order by id", g.sq);
    sqlite3_stmt *st;
    rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc)
      print_message("sqlite: %s\n  %s\n", sqlite3_errmsg(db), sql);
    assert_int_equal(rc, SQLITE_OK);
    int sq_match[NROWS] = {0};
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
      sq_match[sqlite3_column_int(st, 0)] = 1;
    assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(st);
    for (int r = 0; r < NROWS; r++) {
      int m = vg_odsql_where_eval(w, rows[r]);
      if (m != sq_match[r])
        print_message("row %d: odsql %d, sqlite %d\n  odsql: %s\n  sql:   %s\n", r, m,
                      sq_match[r], g.od, g.sq);
      assert_int_equal(m, sq_match[r]);
      matched += m;
      total++;
    }
    vg_odsql_where_free(w);
    exprs++;
  }
  /* the generator exercises both outcomes in fair proportions */
  print_message("oracle: %d clauses, %d of %d row checks matched\n", exprs, matched,
                total);
  assert_true(matched > total / 10 && matched < total - total / 10);
  free(g.od);
  free(g.sq);
  sqlite3_close(db);
}

/* ---- threads: one parsed clause, evaluated by several threads at once ----------------
 */

struct shared_eval {
  const struct vg_odsql_where *w;
  struct row rows[64];
  int counts[4];
};

static void *evaluator(void *arg) {
  void **a = arg;
  struct shared_eval *sh = a[0];
  int *count = a[1];
  for (int rep = 0; rep < 2000; rep++)
    for (int r = 0; r < 64; r++)
      *count += vg_odsql_where_eval(sh->w, sh->rows[r].v);
  return NULL;
}

static void threads_share_a_clause(void **state) {
  (void)state;
  static const char *const metrics[] = {"no2", "pm10", "o3", NULL};
  struct shared_eval *sh = calloc(1, sizeof *sh);
  assert_non_null(sh);
  int want = 0;
  sh->w = parse("start_datetime >= date'2026-03-29' and metric in ('no2', 'pm10') and "
                "not (mean < 20 or status is null)");
  for (int r = 0; r < 64; r++) {
    sh->rows[r] = mkrow(1774738800 + (r - 32) * 3600, metrics[r % 4], "s", r, 0,
                        r % 5 ? "final" : NULL);
    want += vg_odsql_where_eval(sh->w, sh->rows[r].v);
  }
  assert_true(want > 0 && want < 64);
  pthread_t th[4];
  void *args[4][2];
  for (int i = 0; i < 4; i++) {
    args[i][0] = sh;
    args[i][1] = &sh->counts[i];
    assert_int_equal(pthread_create(&th[i], NULL, evaluator, args[i]), 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(sh->counts[i], want * 2000);
  }
  vg_odsql_where_free((struct vg_odsql_where *)sh->w);
  free(sh);
}

int vg_test_publish_odsql_thread(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(threads_share_a_clause)};
  return cmocka_run_group_tests_name("publish_odsql_thread", tests, setup, teardown);
}

int vg_test_publish_odsql(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(grammar),
      cmocka_unit_test(precedence),
      cmocka_unit_test(errors),
      cmocka_unit_test(errors_as_documented),
      cmocka_unit_test(errors_binary_and_limits),
      cmocka_unit_test(nulls),
      cmocka_unit_test(time_pushdown),
      cmocka_unit_test(text_pushdown),
      cmocka_unit_test(dates_across_dst),
      cmocka_unit_test(select_lists),
      cmocka_unit_test(order_lists),
      cmocka_unit_test(row_comparison),
      cmocka_unit_test(oracle_sqlite),
  };
  return cmocka_run_group_tests_name("publish_odsql", tests, setup, teardown);
}
