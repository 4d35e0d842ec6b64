/* Unit tests of the mobility-count schema's files (comptage.h): the
 * zero-filling of one channel's slots (pure), the INSEE and mobility-type
 * checks, channel ids, and the three files and the data package of a
 * dataset over the shared publication store (pubtest.h), whose true hourly
 * counts are known: every row is checked against them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <yajl/yajl_tree.h>

#include "testutil.h"
#include "vigie/comptage.h"
#include "pubtest.h"

/* ---- vg_cm_fill ---------------------------------------------------------------- */

struct frow {
  int64_t start, end;
  double count;
};

struct frows {
  struct frow v[64];
  size_t n;
};

static int on_frow(int64_t start, int64_t end, double count, void *arg) {
  struct frows *r = arg;
  r->v[r->n++] = (struct frow){start, end, count};
  return r->n == 64;
}

static int64_t hour_next(int64_t t, void *arg) {
  return t + 3600;
}

static void fill_zero_and_empty(void **state) {
  const struct vg_cm_win w[] = {
      {0, 3600, 5}, {3 * 3600, 4 * 3600, NAN}, {4 * 3600, 5 * 3600, 0}, {7200 * 3, 0, 0}};
  struct frows r = {.n = 0};
  /* three windows: 5, then two slots without one (0), a suppressed one, a 0 */
  assert_int_equal(vg_cm_fill(w, 3, 0, hour_next, NULL, on_frow, &r), 0);
  assert_int_equal(r.n, 5);
  const double want[] = {5, 0, 0, NAN, 0};
  for (size_t i = 0; i < r.n; i++) {
    assert_int_equal(r.v[i].start, (int64_t)i * 3600);
    assert_int_equal(r.v[i].end, (int64_t)(i + 1) * 3600);
    if (isnan(want[i]))
      assert_true(isnan(r.v[i].count));
    else
      assert_true(r.v[i].count == want[i]);
  }
  /* under suppression the slots without a window are empty, not 0 */
  r.n = 0;
  assert_int_equal(vg_cm_fill(w, 3, NAN, hour_next, NULL, on_frow, &r), 0);
  assert_true(isnan(r.v[1].count) && isnan(r.v[2].count));
  assert_true(r.v[4].count == 0); /* a stored 0 stays 0 */
  /* nothing before the first nor after the last window; none for none */
  r.n = 0;
  assert_int_equal(vg_cm_fill(w, 1, 0, hour_next, NULL, on_frow, &r), 0);
  assert_int_equal(r.n, 1);
  r.n = 0;
  assert_int_equal(vg_cm_fill(w, 0, 0, hour_next, NULL, on_frow, &r), 0);
  assert_int_equal(r.n, 0);
}

static int64_t bad_next(int64_t t, void *arg) {
  return t; /* no progress: the slot runs to the next window */
}

static void fill_never_overlaps(void **state) {
  const struct vg_cm_win w[] = {{0, 3600, 1}, {5400, 9000, 2}};
  struct frows r = {.n = 0};
  /* a gap of half a slot ends at the next window */
  assert_int_equal(vg_cm_fill(w, 2, 0, hour_next, NULL, on_frow, &r), 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.v[1].start, 3600);
  assert_int_equal(r.v[1].end, 5400);
  r.n = 0;
  assert_int_equal(vg_cm_fill(w, 2, 0, bad_next, NULL, on_frow, &r), 0);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.v[1].end, 5400);
  /* the callback's value stops the rows */
  struct frows full = {.n = 63};
  assert_int_equal(vg_cm_fill(w, 2, 0, hour_next, NULL, on_frow, &full), 1);
}

static void checks(void **state) {
  assert_true(vg_cm_insee_ok("75056"));
  assert_true(vg_cm_insee_ok("2A004"));
  assert_true(vg_cm_insee_ok("2B033"));
  assert_true(vg_cm_insee_ok("01001"));
  assert_false(vg_cm_insee_ok("20001")); /* 20 is not a department */
  assert_false(vg_cm_insee_ok("2C004"));
  assert_false(vg_cm_insee_ok("7505"));
  assert_false(vg_cm_insee_ok("750561"));
  assert_false(vg_cm_insee_ok("7505A"));
  assert_false(vg_cm_insee_ok(NULL));
  assert_true(vg_cm_mobility_ok("BIKE"));
  assert_true(vg_cm_mobility_ok("TWO WHEELS MOTORIZED"));
  assert_false(vg_cm_mobility_ok("bike"));
  assert_false(vg_cm_mobility_ok("BIKE,PEDESTRIAN")); /* one type per dataset */
  assert_false(vg_cm_mobility_ok(NULL));
  for (int i = 0; i < VG_CM_NFILES; i++)
    assert_int_equal(vg_cm_file_of(vg_cm_file_name(i)), i);
  assert_int_equal(vg_cm_file_of("sites"), -1);
  assert_null(vg_cm_file_name(VG_CM_NFILES));
}

/* ---- the files of a dataset ----------------------------------------------------- */

/* The final-only hourly definition of pubtest.h as a comptage dataset. */
static struct vg_dataset *cm_dataset_env(struct fx *f, int64_t k,
                                         const struct vg_dataset_env *env) {
  static char *cols[] = {"sum"}, *tags[] = {"counter_id"},
              *coords[] = {"c1", "48.85,2.35", "c2", "45.76,4.83", "c;3", "43.3,5.4"},
              *names[] = {"c1", "Pont, \"neuf\""}, *insee[] = {"c1", "75056"};
  struct vg_dataset_def def = f->ao.datasets[2];
  def.columns = (struct vg_strlist){cols, 1};
  def.tag_columns = (struct vg_strlist){tags, 1};
  def.entity_tag = "counter_id";
  def.coordinates = (struct vg_strlist){coords, 6};
  def.site_names = (struct vg_strlist){names, 2};
  def.insee_codes = (struct vg_strlist){insee, 2};
  def.schema = VG_DATASET_SCHEMA_COMPTAGE;
  def.mobility_type = "BIKE";
  def.publisher = "Ville";
  def.suppress_below = k;
  struct vg_dataset *ds;
  char err[256];
  assert_int_equal(vg_dataset_new(&def, env, &ds, err, sizeof err), 0);
  return ds;
}

static struct vg_dataset *cm_dataset(struct fx *f, int64_t k) {
  return cm_dataset_env(f, k, &f->ao.env);
}

static char *cm_file(struct fx *f, const struct vg_dataset *ds, int file) {
  struct vg_store_reader *r;
  char *buf = NULL, err[256] = "";
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_cm_write(ds, r, file, "http://h/x/", out, err, sizeof err), 0);
  vg_store_reader_end(r);
  fclose(out);
  return buf;
}

/* Splits one CRLF line of s at commas (no quoted commas but in sites.csv's
 * name, handled by its caller); returns the next line or NULL. */
static char *next_line(char *s, char **cells, int *n) {
  char *end = strstr(s, "\r\n");
  if (!end)
    return NULL;
  *end = 0;
  *n = 0;
  for (char *p = s;; p++) {
    cells[(*n)++] = p;
    p = strchr(p, ',');
    if (!p)
      break;
    *p = 0;
  }
  return end + 2;
}

static int64_t utc(const char *s) {
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
  assert_non_null(end);
  assert_int_equal(*end, 0);
  return timegm(&tm);
}

/* The true rows of series s: from its first to its last final hour with
 * passages, 0 for hours without (empty under suppression, and when the
 * metric is not count_as: readings, a missing one is no measurement). */
static void check_measures(struct fx *f, int64_t k, int count_as) {
  struct vg_dataset_env env = f->ao.env;
  if (!count_as)
    env.ncount_as = 0;
  struct vg_dataset *ds = cm_dataset_env(f, k, &env);
  char *text = cm_file(f, ds, VG_CM_MEASURES), *cells[8], *p = text;
  int n;
  p = next_line(p, cells, &n);
  assert_int_equal(n, 5);
  assert_string_equal(cells[0], "channel_id");
  assert_string_equal(cells[4], "count");
  static const char *const ids[NSERIES] = {"c1", "c2", "c;3"};
  size_t zeros = 0, empties = 0;
  for (int s = 0; s < NSERIES; s++) {
    int first = -1, last = -1;
    for (int h = 0; h < NDAYS * 24; h++)
      if (f->count[s][h] && !(h >= (NDAYS - 1) * 24 + 12)) {
        first = first < 0 ? h : first;
        last = h;
      }
    for (int h = first; h <= last; h++) {
      p = next_line(p, cells, &n);
      assert_non_null(p);
      assert_int_equal(n, 5);
      assert_string_equal(cells[0], ids[s]);
      assert_string_equal(cells[1], "");
      assert_int_equal(utc(cells[2]), T0 + h * 3600);
      assert_int_equal(utc(cells[3]), T0 + (h + 1) * 3600);
      uint32_t c = f->count[s][h];
      if (c == 0 && k == 0 && count_as) {
        assert_string_equal(cells[4], "0");
        zeros++;
      } else if (c < k || c == 0) {
        assert_string_equal(cells[4], "");
        empties++;
      } else if (cells[4][0] == 0) { /* secondary suppression */
        assert_true(k > 0);
        empties++;
      } else {
        assert_int_equal(strtol(cells[4], NULL, 10), c);
      }
    }
  }
  assert_string_equal(p, "");
  if (k || !count_as)
    assert_true(empties > 0 && zeros == 0);
  else
    assert_true(zeros > 0 && empties == 0);
  free(text);
  vg_dataset_free(ds);
}

static void measures_zero_filled(void **state) {
  check_measures(*state, 0, 1);
}

static void measures_suppressed(void **state) {
  check_measures(*state, K, 1);
}

static void measures_of_readings(void **state) {
  check_measures(*state, 0, 0);
}

static void sites_and_channels(void **state) {
  struct fx *f = *state;
  struct vg_dataset *ds = cm_dataset(f, 0);
  char *text = cm_file(f, ds, VG_CM_SITES), *cells[24], *p = text;
  int n;
  p = next_line(p, cells, &n);
  assert_int_equal(n, 8);
  assert_string_equal(cells[0], "site_id");
  assert_string_equal(cells[5], "ylat");
  /* c1's name is quoted (a comma and quotes): the line has 9 raw cells */
  p = next_line(p, cells, &n);
  assert_int_equal(n, 9);
  assert_string_equal(cells[0], "c1");
  assert_string_equal(cells[2], "\"Pont");
  assert_string_equal(cells[3], " \"\"neuf\"\"\"");
  assert_string_equal(cells[4], "75056");
  assert_string_equal(cells[5], "2.350000");
  assert_string_equal(cells[6], "48.850000");
  p = next_line(p, cells, &n);
  assert_string_equal(cells[0], "c2");
  assert_string_equal(cells[2], "c2"); /* no name: the id */
  p = next_line(p, cells, &n);
  assert_string_equal(cells[0], "c;3");
  assert_string_equal(p, "");
  free(text);
  text = cm_file(f, ds, VG_CM_CHANNELS);
  p = next_line(text, cells, &n);
  assert_int_equal(n, 19);
  assert_string_equal(cells[14], "started_at");
  for (int s = 0; s < NSERIES; s++) {
    p = next_line(p, cells, &n);
    assert_int_equal(n, 19);
    assert_string_equal(cells[0], s == 0 ? "c1" : s == 1 ? "c2" : "c;3");
    assert_string_equal(cells[3], cells[0]); /* site_id: one channel per site */
    assert_string_equal(cells[4], "BIKE");
    assert_string_equal(cells[12], "Ville");
    assert_string_equal(cells[17], "3600");
    int h = 0;
    while (!f->count[s][h])
      h++;
    assert_int_equal(utc(cells[14]), T0 + h * 3600);
  }
  assert_string_equal(p, "");
  free(text);
  vg_dataset_free(ds);
}

static void channel_ids(void **state) {
  struct fx *f = *state;
  struct vg_dataset *ds = cm_dataset(f, 0);
  char *tags[2] = {"c1", NULL};
  struct vg_dataset_series s = {.metric = "passages", .tags = tags, .entity = "c1"};
  char buf[64];
  assert_int_equal(vg_cm_channel_id(ds, &s, buf, sizeof buf), 0);
  assert_string_equal(buf, "c1");
  assert_int_equal(vg_cm_channel_id(ds, &s, buf, 2), -1); /* too long */
  s.entity = NULL;
  assert_int_equal(vg_cm_channel_id(ds, &s, buf, sizeof buf), -1);
  vg_dataset_free(ds);
}

static const char *str_at(yajl_val v, const char **path) {
  yajl_val x = yajl_tree_get(v, path, yajl_t_string);
  return x ? YAJL_GET_STRING(x) : NULL;
}

static void package(void **state) {
  struct fx *f = *state;
  struct vg_dataset *ds = cm_dataset(f, 0);
  char *text = cm_file(f, ds, VG_CM_PACKAGE), err[256];
  yajl_val doc = yajl_tree_parse(text, err, sizeof err);
  assert_non_null(doc);
  const char *prof[] = {"profile", NULL}, *res[] = {"resources", NULL};
  assert_string_equal(str_at(doc, prof), "tabular-data-package");
  yajl_val rs = yajl_tree_get(doc, res, yajl_t_array);
  assert_non_null(rs);
  assert_int_equal(YAJL_GET_ARRAY(rs)->len, 3);
  static const char *const names[] = {"sites", "channels", "measures"};
  static const size_t nfields[] = {8, 19, 5};
  for (size_t i = 0; i < 3; i++) {
    yajl_val r = YAJL_GET_ARRAY(rs)->values[i];
    const char *name[] = {"name", NULL}, *path[] = {"path", NULL},
               *fields[] = {"schema", "fields", NULL};
    assert_string_equal(str_at(r, name), names[i]);
    char want[64];
    snprintf(want, sizeof want, "http://h/x/%s", vg_cm_file_name((int)i));
    assert_string_equal(str_at(r, path), want);
    yajl_val fs = yajl_tree_get(r, fields, yajl_t_array);
    assert_int_equal(YAJL_GET_ARRAY(fs)->len, nfields[i]);
  }
  yajl_tree_free(doc);
  free(text);
  /* a dataset without the schema has no such files */
  struct vg_store_reader *r;
  FILE *out = open_memstream(&text, &(size_t){0});
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_cm_write(f->final, r, VG_CM_SITES, "", out, err, sizeof err),
                   VG_ECONFIG);
  vg_store_reader_end(r);
  fclose(out);
  free(text);
  vg_dataset_free(ds);
}

/* In parts of a few rows, each from its own reader, a file is the same. */
static void streamed_in_parts(void **state) {
  struct fx *f = *state;
  struct vg_dataset *ds = cm_dataset(f, K);
  for (int file = 0; file < VG_CM_NFILES; file++) {
    char *whole = cm_file(f, ds, file), *buf = NULL, err[256] = "";
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    struct vg_store_reader *r;
    struct vg_cm_stream *s;
    assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
    assert_int_equal(vg_cm_stream_new(ds, r, file, "http://h/x/", &s, err, sizeof err),
                     0);
    vg_store_reader_end(r);
    int done = 0, parts = 0;
    while (!done) {
      assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
      assert_int_equal(vg_cm_stream_next(s, r, 10, out, &done, err, sizeof err), 0);
      vg_store_reader_end(r);
      parts++;
    }
    vg_cm_stream_free(s);
    fclose(out);
    assert_string_equal(buf, whole);
    assert_true(file == VG_CM_PACKAGE ? parts == 1 : parts > NDAYS);
    free(buf);
    free(whole);
  }
  vg_dataset_free(ds);
}

int vg_test_publish_comptage(void);
int vg_test_publish_comptage(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fill_zero_and_empty),
      cmocka_unit_test(fill_never_overlaps),
      cmocka_unit_test(checks),
      cmocka_unit_test_setup_teardown(measures_zero_filled, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(measures_suppressed, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(measures_of_readings, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(sites_and_channels, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(channel_ids, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(package, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(streamed_in_parts, pub_setup, pub_teardown),
  };
  return cmocka_run_group_tests_name("publish_comptage", tests, NULL, NULL);
}
