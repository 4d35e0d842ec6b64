/*
 * Fuzz target: the ODSQL parsers (odsql.h). Each input is parsed as a where
 * clause (in Europe/Paris), a select list and an order_by list against a
 * fixed schema; every clause accepted is evaluated on a few rows, and the
 * contracts are asserted: errors are -EINVAL with a message and no result,
 * evaluation gives 0 or 1, the pushdown helpers never exclude a matching row
 * (its time lies in the bounds, its text is one of the values), the indexes
 * returned are in range, and row comparison is antisymmetric. The input is
 * also read as an analysis query, its lines being select, group_by and
 * order_by: an accepted one is run over the rows (twice), and its result
 * must have the shape the query promises (one row without group_by, at most
 * one group per row with one; every column typed, every output in range).
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/odsql.h"
#include "vigie/tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_START, F_END, F_METRIC, F_SENSOR, F_MEAN, F_COUNT, F_STATUS, F_DATE, NF };

static const struct vg_odsql_field schema[NF] = {
    {"start_datetime", VG_ODSQL_DATETIME},
    {"end_datetime", VG_ODSQL_DATETIME},
    {"metric", VG_ODSQL_TEXT},
    {"sensor_id", VG_ODSQL_TEXT},
    {"mean", VG_ODSQL_NUMBER},
    {"count", VG_ODSQL_NUMBER},
    {"status", VG_ODSQL_TEXT},
    {"date", VG_ODSQL_TEXT}, /* a keyword: only reachable back-quoted */
};

#define NROWS 6

static void row(struct vg_odsql_value *v, int64_t t, const char *metric,
                const char *sensor, double mean, double count, const char *status) {
  memset(v, 0, NF * sizeof *v);
  v[F_START].time_s = t;
  v[F_END].time_s = t + 3600;
  const char *s[] = {[F_METRIC] = metric,
                     [F_SENSOR] = sensor,
                     [F_STATUS] = status,
                     [F_DATE] = "2026-03-29"};
  for (int f = F_METRIC; f < NF; f++) {
    if (f == F_MEAN || f == F_COUNT)
      continue;
    v[f].null = s[f] == NULL;
    v[f].str = s[f];
    v[f].len = s[f] ? strlen(s[f]) : 0;
  }
  v[F_MEAN].num = mean;
  v[F_COUNT].num = count;
}

static const struct vg_tz *paris(void) {
  static struct vg_tz *tz; /* loaded once for the whole run */
  if (!tz) {
    char err[256];
    if (vg_tz_load("Europe/Paris", &tz, err, sizeof err) != 0 &&
        vg_tz_load("UTC", &tz, err, sizeof err) != 0)
      abort();
  }
  return tz;
}

static void check_where(const char *src, size_t size, struct vg_odsql_value rows[][NF]) {
  struct vg_odsql_where *w = (struct vg_odsql_where *)&w; /* must be reset */
  char err[256];
  err[0] = '\0';
  int rc = vg_odsql_where_parse(src, size, schema, NF, paris(), &w, err, sizeof err);
  if (rc != 0) {
    assert(rc == -EINVAL || rc == -ENOMEM);
    assert(w == NULL);
    assert(err[0] != '\0' && strlen(err) < sizeof err);
    return;
  }
  int64_t from[NF], to[NF];
  int nvals[NF];
  const char *const *vals[NF];
  const size_t *lens[NF];
  for (int f = 0; f < NF; f++) {
    vg_odsql_where_time_bounds(w, (size_t)f, &from[f], &to[f]);
    if (schema[f].type != VG_ODSQL_DATETIME)
      assert(from[f] == INT64_MIN && to[f] == INT64_MAX);
    nvals[f] = vg_odsql_where_text_values(w, (size_t)f, &vals[f], &lens[f]);
    assert(nvals[f] >= -1);
    if (schema[f].type != VG_ODSQL_TEXT)
      assert(nvals[f] == -1);
  }
  for (int r = 0; r < NROWS; r++) {
    int m = vg_odsql_where_eval(w, rows[r]);
    assert(m == 0 || m == 1);
    if (!m)
      continue;
    for (int f = 0; f < NF; f++) {
      const struct vg_odsql_value *v = &rows[r][f];
      if (schema[f].type == VG_ODSQL_DATETIME)
        assert(v->time_s >= from[f] && v->time_s < to[f]);
      if (nvals[f] >= 0) {
        int found = 0;
        for (int i = 0; i < nvals[f] && !found; i++)
          found = lens[f][i] == v->len && memcmp(vals[f][i], v->str, v->len) == 0;
        assert(!v->null && found);
      }
    }
  }
  vg_odsql_where_free(w);
}

static void check_analysis(const char *src, size_t size,
                           struct vg_odsql_value rows[][NF]) {
  char *buf = malloc(size + 1), err[256] = "";
  if (!buf)
    return;
  memcpy(buf, src, size);
  buf[size] = '\0';
  char *part[3] = {buf, NULL, NULL}; /* select \n group_by \n order_by */
  for (int i = 1; i < 3 && part[i - 1]; i++) {
    char *nl = strchr(part[i - 1], '\n');
    if (nl) {
      *nl = '\0';
      part[i] = nl + 1;
    }
  }
  struct vg_odsql_analysis *a = (struct vg_odsql_analysis *)&a; /* must be reset */
  int rc = vg_odsql_analysis_parse(part[0], part[1], part[2], schema, NF, paris(), &a,
                                   err, sizeof err);
  if (rc) {
    assert(rc == -EINVAL || rc == -ENOMEM);
    assert(a == NULL && err[0] && strlen(err) < sizeof err);
    free(buf);
    return;
  }
  if (a) {
    size_t ncols, nout;
    const struct vg_odsql_field *cols = vg_odsql_analysis_columns(a, &ncols);
    const size_t *out = vg_odsql_analysis_output(a, &nout);
    assert(ncols >= 1 && ncols <= VG_ODSQL_MAX_COLUMNS && nout <= VG_ODSQL_MAX_COLUMNS);
    for (size_t i = 0; i < nout; i++)
      assert(out[i] < ncols);
    for (size_t i = 0; i < ncols; i++)
      assert(cols[i].name && cols[i].type >= 0 && cols[i].type <= VG_ODSQL_DATETIME);
    struct vg_odsql_groups *g;
    if (vg_odsql_groups_new(a, &g) == 0) {
      int ok = 1;
      for (int pass = 0; pass < 2 && ok; pass++)
        for (int r = 0; r < NROWS && ok; r++)
          ok = vg_odsql_groups_add(g, rows[r]) == 0;
      if (ok && vg_odsql_groups_finish(g) == 0) {
        size_t n = vg_odsql_groups_count(g);
        assert(vg_odsql_analysis_grouped(a) ? n >= 1 && n <= NROWS : n == 1);
        for (size_t i = 0; i < n; i++) {
          const struct vg_odsql_value *v = vg_odsql_groups_row(g, i);
          for (size_t c = 0; c < ncols; c++)
            if (cols[c].type == VG_ODSQL_TEXT && !v[c].null)
              assert(v[c].str || v[c].len == 0);
        }
      }
      vg_odsql_groups_free(g);
    }
    vg_odsql_analysis_free(a);
  }
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *src = (const char *)data;
  struct vg_odsql_value rows[NROWS][NF];
  row(rows[0], 1774738800, "no2", "aq-12", 12.5, 40, "final");
  row(rows[1], 1774746000, "pm10", "aq-1", -3, 0, "provisional");
  row(rows[2], 1792888200, "", "", 0, 1e300, "");
  row(rows[3], 0, NULL, "aq-12", NAN, 7, NULL);
  row(rows[4], -86400, "no2", NULL, 1e-9, -1, "final");
  row(rows[5], 1767225600, "it's", "a\\b", 12.5, 40, "suppressed");
  rows[4][F_MEAN].null = 1;
  rows[5][F_START].null = 1;

  check_where(src, size, rows);
  check_analysis(src, size, rows);

  size_t idx[2 * NF], n = 99;
  char err[256];
  int rc = vg_odsql_select_parse(src, size, schema, NF, idx, 2 * NF, &n, err, sizeof err);
  assert(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
  if (rc == 0) {
    assert(n >= 1 && n <= 2 * NF);
    for (size_t i = 0; i < n; i++)
      assert(idx[i] < NF);
  } else {
    assert(n == 0 && err[0]);
  }

  struct vg_odsql_order keys[4];
  rc = vg_odsql_order_parse(src, size, schema, NF, keys, 4, &n, err, sizeof err);
  assert(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
  if (rc != 0) {
    assert(n == 0 && err[0]);
    return 0;
  }
  assert(n <= 4);
  for (size_t i = 0; i < n; i++)
    assert(keys[i].field < NF && (keys[i].desc == 0 || keys[i].desc == 1));
  for (int a = 0; a < NROWS; a++)
    for (int b = 0; b < NROWS; b++) {
      int ab = vg_odsql_row_cmp(keys, n, schema, rows[a], rows[b]);
      int ba = vg_odsql_row_cmp(keys, n, schema, rows[b], rows[a]);
      assert((ab > 0) == (ba < 0) && (ab == 0) == (ba == 0));
    }
  return 0;
}
