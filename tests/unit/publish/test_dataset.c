/* Unit tests of dataset rows (dataset.h) over a real store: the schema of a
 * configured dataset, rows with their times, statistics, status and
 * revision, the status filter, resumable scans, the formats, and privacy --
 * primary suppression under k and secondary suppression checked by an
 * oracle that tries to recover every suppressed hour by differencing the
 * day's true total with the published hours. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "hostile.h"
#include "vigie/jsonw.h"
#include "pubtest.h"

/* Rows as the portal sees them. */
struct prow {
  int series;
  int64_t start;
  int has_count;
  double count, sum;
  int sum_null;
  char suppressed[64];
  char status[16];
};

struct got {
  const struct vg_dataset *ds;
  struct prow *v;
  size_t n;
};

static int on_row(const struct vg_dataset_row *row, void *arg) {
  struct got *g = arg;
  struct prow *p = &g->v[g->n++];
  memset(p, 0, sizeof *p);
  p->series = (int)row->series->id - 1;
  p->start = row->start;
  int ic = vg_dataset_field(g->ds, "count"), is = vg_dataset_field(g->ds, "sum");
  int isup = vg_dataset_field(g->ds, "suppressed"),
      ist = vg_dataset_field(g->ds, "status");
  if (ic >= 0) {
    p->has_count = !row->v[ic].null;
    p->count = row->v[ic].num;
  }
  if (is >= 0) {
    p->sum_null = row->v[is].null;
    p->sum = row->v[is].num;
  }
  if (isup >= 0 && !row->v[isup].null)
    snprintf(p->suppressed, sizeof p->suppressed, "%.*s", (int)row->v[isup].len,
             row->v[isup].str);
  snprintf(p->status, sizeof p->status, "%.*s", (int)row->v[ist].len, row->v[ist].str);
  return 0;
}

static size_t scan(struct fx *f, const struct vg_dataset *ds, int64_t from, int64_t to,
                   int64_t max_rows, struct got *g) {
  struct vg_store_reader *r;
  struct vg_dataset_series_list l;
  char err[256] = "";
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_dataset_series(ds, r, &l), 0);
  assert_int_equal(l.n, NSERIES);
  g->ds = ds;
  g->n = 0;
  g->v = realloc(g->v, NSERIES * NDAYS * 25 * sizeof *g->v);
  struct vg_dataset_scan sc = {
      .from_s = from, .to_s = to, .max_rows = max_rows, .next_s = INT64_MIN};
  int calls = 0;
  do {
    assert_int_equal(vg_dataset_scan(ds, r, &l, &sc, on_row, g, err, sizeof err), 0);
    calls++;
  } while (!sc.done);
  if (max_rows)
    assert_true(calls > 1);
  vg_dataset_series_release(&l);
  vg_store_reader_end(r);
  return g->n;
}

static void schema(void **state) {
  struct fx *f = *state;
  size_t n;
  const struct vg_odsql_field *fl = vg_dataset_fields(f->hourly, &n);
  const char *want[] = {"start_datetime", "end_datetime", "metric",    "counter_id",
                        "count",          "sum",          "mean",      "coverage",
                        "status",         "revision",     "suppressed"};
  assert_int_equal(n, sizeof want / sizeof *want);
  for (size_t i = 0; i < n; i++)
    assert_string_equal(fl[i].name, want[i]);
  assert_int_equal(fl[0].type, VG_ODSQL_DATETIME);
  assert_int_equal(fl[4].type, VG_ODSQL_NUMBER);
  fl = vg_dataset_fields(f->final, &n);
  assert_int_equal(n, 6); /* no coverage, no suppressed column */
  double lat, lon;
  assert_int_equal(vg_dataset_coords(f->hourly, "c1", &lat, &lon), 1);
  assert_true(lat == 48.85 && lon == 2.35);
  assert_int_equal(vg_dataset_coords(f->hourly, "c2", &lat, &lon), 0);
}

/* Every hour is a row (status all), published or marked; no published count
 * under k; the oracle cannot recover a suppressed hour from the day total. */
static void privacy_oracle(void **state) {
  struct fx *f = *state;
  struct got g = {0};
  size_t n = scan(f, f->hourly, INT64_MIN, INT64_MAX, 0, &g);
  size_t want = 0, nsupp = 0, nsecondary = 0;
  for (int s = 0; s < NSERIES; s++)
    for (int i = 0; i < NDAYS * 24; i++)
      want += f->count[s][i] > 0;
  assert_int_equal(n, want);
  for (int s = 0; s < NSERIES; s++)
    for (int d = 0; d < NDAYS; d++) {
      uint64_t total = 0, published = 0, hidden_true = 0;
      int nhours = 0, nhidden = 0;
      for (size_t i = 0; i < n; i++) {
        struct prow *p = &g.v[i];
        if (p->series != s || p->start < T0 + d * DAY || p->start >= T0 + (d + 1) * DAY)
          continue;
        uint32_t c = f->count[s][(p->start - T0) / 3600];
        nhours++;
        total += c;
        if (p->has_count) {
          assert_true(p->count >= K); /* never a small count */
          assert_true(p->count == c); /* and the true one */
          assert_false(p->sum_null);
          assert_string_equal(p->suppressed, "");
          published += (uint64_t)p->count;
        } else {
          /* marked, never 0, never silently missing; sum blanked too */
          assert_string_equal(p->suppressed, "count,sum,coverage");
          assert_true(p->sum_null);
          nhidden++;
          nsupp++;
          nsecondary += c >= K;
          hidden_true += c;
        }
      }
      /* differencing: the day total minus the published hours */
      uint64_t diff = total - published;
      assert_true(diff == hidden_true);
      if (nhidden > 0 && nhidden < nhours) {
        assert_true(nhidden >= 2); /* one equation, two unknowns at least */
        assert_true(diff >= K);    /* and no sum under k revealed */
        /* bounds on each hidden hour knowing each is >= 1: never a point */
        assert_true(diff - (uint64_t)(nhidden - 1) > 1);
      }
    }
  assert_true(nsupp > 50);     /* the data does exercise the rule */
  assert_true(nsecondary > 5); /* and secondary suppression */
  /* the day with one small hour among 20s: that hour plus one more */
  size_t d3 = 0;
  for (size_t i = 0; i < n; i++)
    if (g.v[i].series == 0 && g.v[i].start >= T0 + 3 * DAY &&
        g.v[i].start < T0 + 4 * DAY && !g.v[i].has_count)
      d3++;
  assert_int_equal(d3, 2);
  /* the daily dataset: days under k blanked, others the exact total */
  size_t nd = scan(f, f->daily, INT64_MIN, INT64_MAX, 0, &g);
  assert_true(nd > 0);
  for (size_t i = 0; i < nd; i++) {
    struct prow *p = &g.v[i];
    uint64_t total = 0;
    int d = (int)((p->start - T0) / DAY);
    for (int h = 0; h < 24; h++)
      total += f->count[p->series][d * 24 + h];
    if (total < K) {
      assert_true(p->sum_null);
      assert_string_equal(p->suppressed, "sum");
    } else {
      assert_true(p->sum == (double)total);
    }
    assert_string_equal(p->status, "final"); /* the last day is provisional */
  }
  assert_int_equal(nd, (size_t)NSERIES * (NDAYS - 1));
  free(g.v);
}

/* A query over part of a day sees the same cells blanked as the whole day:
 * suppression never depends on the request. */
static void suppression_independent_of_range(void **state) {
  struct fx *f = *state;
  struct got all = {0}, part = {0};
  size_t n = scan(f, f->hourly, INT64_MIN, INT64_MAX, 0, &all);
  size_t m =
      scan(f, f->hourly, T0 + 5 * DAY + 7 * 3600, T0 + 9 * DAY + 13 * 3600, 0, &part);
  assert_true(m > 0 && m < n);
  for (size_t i = 0; i < m; i++) {
    assert_true(part.v[i].start >= T0 + 5 * DAY + 7 * 3600);
    size_t j = 0;
    while (j < n &&
           !(all.v[j].series == part.v[i].series && all.v[j].start == part.v[i].start))
      j++;
    assert_true(j < n);
    assert_int_equal(part.v[i].has_count, all.v[j].has_count);
    assert_string_equal(part.v[i].suppressed, all.v[j].suppressed);
  }
  free(all.v);
  free(part.v);
}

/* Resumed scans (max_rows) give exactly the rows of one scan; the status
 * filter keeps provisional windows out of a final-only dataset. */
static void resume_and_status(void **state) {
  struct fx *f = *state;
  struct got a = {0}, b = {0};
  size_t n = scan(f, f->final, INT64_MIN, INT64_MAX, 0, &a);
  size_t m = scan(f, f->final, INT64_MIN, INT64_MAX, 7, &b);
  assert_int_equal(n, m);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(a.v[i].series, b.v[i].series);
    assert_true(a.v[i].start == b.v[i].start);
    assert_string_equal(a.v[i].status, "final");
    if (i)
      assert_true(a.v[i].series > a.v[i - 1].series || a.v[i].start > a.v[i - 1].start);
  }
  size_t want = 0;
  for (int s = 0; s < NSERIES; s++)
    for (int i = 0; i < NDAYS * 24; i++)
      want += f->count[s][i] > 0 && i < (NDAYS - 1) * 24 + 12;
  assert_int_equal(n, want);
  free(a.v);
  free(b.v);
}

struct fmt_ctx {
  const struct vg_dataset *ds;
  FILE *out;
  int n;
};

static int on_fmt(const struct vg_dataset_row *row, void *arg) {
  struct fmt_ctx *c = arg;
  size_t nf;
  vg_dataset_fields(c->ds, &nf);
  size_t sel[16];
  for (size_t i = 0; i < nf; i++)
    sel[i] = i;
  if (row->series->id != 3 || c->n++ >= 1)
    return 0;
  vg_dataset_csv_row(c->out, c->ds, row, sel, nf, vg_dataset_tz(c->ds), ';');
  struct vg_jsonw *w = vg_jsonw_new(0);
  assert_int_equal(vg_dataset_json_row(w, c->ds, row, sel, nf, vg_dataset_tz(c->ds)), 0);
  assert_int_equal(vg_jsonw_flush(w, c->out), 0);
  fputc('\n', c->out);
  assert_int_equal(vg_dataset_geojson_row(w, c->ds, row, sel, 3, vg_dataset_tz(c->ds)),
                   0);
  assert_int_equal(vg_jsonw_flush(w, c->out), 0);
  vg_jsonw_free(w);
  return 0;
}

/* Hostile metric and tag values (a NUL included: cells carry a length)
 * through the JSON and GeoJSON rows parse back exactly. */
static void hostile_rows(void **state) {
  struct fx *f = *state;
  size_t nf, nlong;
  const struct vg_odsql_field *fl = vg_dataset_fields(f->hourly, &nf);
  const char *lng = hostile_long(&nlong);
  struct vg_odsql_value v[16];
  size_t sel[16];
  assert_true(nf <= 16);
  struct vg_jsonw *w = vg_jsonw_new(0);
  for (size_t i = 0; i <= NHOSTILE_C + 1; i++) {
    struct hostile h = i < NHOSTILE_C    ? hostile_c[i]
                       : i == NHOSTILE_C ? (struct hostile){lng, lng, nlong, nlong}
                                         : (struct hostile){"a\0b", "a", 3, 1};
    memset(v, 0, sizeof v);
    for (size_t j = 0; j < nf; j++) {
      sel[j] = j;
      if (fl[j].type == VG_ODSQL_TEXT) {
        v[j].str = h.s;
        v[j].len = h.len;
      } else if (fl[j].type == VG_ODSQL_NUMBER) {
        v[j].num = 0.1;
      } else {
        v[j].time_s = T0;
      }
    }
    struct vg_dataset_series ser = {.entity = i % 2 ? "c1" : (char *)h.s};
    struct vg_dataset_row row = {v, nf, &ser, T0, T0 + 3600};
    assert_int_equal(
        vg_dataset_json_row(w, f->hourly, &row, sel, nf, vg_dataset_tz(f->hourly)), 0);
    size_t len;
    char *doc = vg_jsonw_take(w, &len);
    /* a NUL comes back as \u0000, which yajl_tree's C strings end at */
    hostile_check(doc, (const char *[]){"metric", NULL}, h.want, h.want_len);
    hostile_check(doc, (const char *[]){"counter_id", NULL}, h.want, h.want_len);
    free(doc);
    assert_int_equal(
        vg_dataset_geojson_row(w, f->hourly, &row, sel, nf, vg_dataset_tz(f->hourly)), 0);
    doc = vg_jsonw_take(w, &len);
    hostile_check(doc, (const char *[]){"properties", "counter_id", NULL}, h.want,
                  h.want_len);
    hostile_check(doc, (const char *[]){"properties", "status", NULL}, h.want,
                  h.want_len);
    free(doc);
  }
  vg_jsonw_free(w);
}

static void formats(void **state) {
  struct fx *f = *state;
  struct vg_store_reader *r;
  struct vg_dataset_series_list l;
  char err[256], *buf = NULL;
  size_t len = 0;
  struct fmt_ctx c = {f->hourly, open_memstream(&buf, &len), 0};
  size_t sel[] = {0, 2, 3, 4};
  vg_dataset_csv_header(c.out, f->hourly, sel, 4, ';');
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_dataset_series(f->hourly, r, &l), 0);
  struct vg_dataset_scan sc = {
      .from_s = T0 + 2 * 3600, .to_s = INT64_MAX, .next_s = INT64_MIN};
  assert_int_equal(vg_dataset_scan(f->hourly, r, &l, &sc, on_fmt, &c, err, sizeof err),
                   0);
  vg_dataset_series_release(&l);
  vg_store_reader_end(r);
  fclose(c.out);
  /* the third series' first row from 02:00 UTC; its tag holds the
   * delimiter and is quoted */
  char want[2048];
  int h = 2;
  while (!f->count[2][h])
    h++;
  uint32_t cnt = f->count[2][h];
  print_message("%s", buf);
  assert_true(strncmp(buf, "start_datetime;metric;counter_id;count\r\n", 40) == 0);
  snprintf(want, sizeof want,
           "2024-10-04T%02d:00:00+00:00;2024-10-04T%02d:00:00+00:00;passages;\"c;3\";", h,
           h + 1);
  assert_non_null(strstr(buf, want));
  if (cnt >= K) {
    snprintf(want, sizeof want, "\"count\":%u,\"sum\":%u,\"mean\":1,\"coverage\":%g", cnt,
             cnt, cnt / 6.0);
    assert_non_null(strstr(buf, want));
  } else {
    assert_non_null(strstr(buf,
                           "\"count\":null,\"sum\":null,\"mean\":1,\"coverage\":null,"
                           "\"status\":\"final\",\"revision\":0,\"suppressed\":"
                           "\"count,sum,coverage\"}"));
  }
  assert_non_null(strstr(buf, "{\"type\":\"Feature\",\"geometry\":null,\"properties\":{"
                              "\"start_datetime\":\"2024-10-04T"));
  free(buf);
}

int vg_test_publish_dataset(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(schema, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(hostile_rows, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(privacy_oracle, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(suppression_independent_of_range, pub_setup,
                                      pub_teardown),
      cmocka_unit_test_setup_teardown(resume_and_status, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(formats, pub_setup, pub_teardown),
  };
  return cmocka_run_group_tests_name("publish_dataset", tests, NULL, NULL);
}
