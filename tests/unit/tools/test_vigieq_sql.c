/* Unit test of vigieq sql's pushdown (tools/vigieq_sql.c): on a store with
 * hourly windows around two daylight-saving changes, random bounds on
 * start_datetime (text, in zones with odd offsets), start_epoch (integers,
 * reals, text) and on the series columns give exactly the rows that a
 * plain comparison over every row (done here in C: strcmp, integer
 * arithmetic) keeps; and a bound that is pushed really narrows what is
 * read. An empty store has the tables too; tags named like a column get
 * the column tag_<name>. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "store/storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/tz.h"
#include "vigieq_sql.h"

#define T_FROM 1539993600LL /* 2018-10-20T00:00:00Z */
#define NHOURS (17 * 24)    /* to 2018-11-06: London's and New York's changes */

struct ref {
  char series[64];
  char dt[64];
  int64_t epoch;
  char site[8];
};

static char dir[] = "/tmp/vigie-sqltest-XXXXXX";

static int setup(void **state) {
  (void)state;
  strcpy(dir, "/tmp/vigie-sqltest-XXXXXX");
  assert_non_null(mkdtemp(dir));
  struct vg_store_opts o = {.path = dir, .durability = VG_STORE_NOSYNC};
  struct vg_store *st = NULL;
  char err[256];
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  static struct vg_wentry w[2 * NHOURS];
  const struct vg_wentry *p[2 * NHOURS];
  struct vg_acc_opts ao = VG_ACC_OPTS_DEFAULT;
  uint64_t rng = 7;
  size_t n = 0;
  for (uint64_t s = 1; s <= 2; s++)
    for (int h = 0; h < NHOURS; h++) {
      if (s == 2 && h % 5 == 0)
        continue; /* gaps in one series */
      st_window(&w[n], s, VG_RES_HOUR, T_FROM + h * 3600LL, 3600, 3, 10, &ao, &rng);
      p[n] = &w[n];
      n++;
    }
  struct vg_store_series ser[] = {{1, "m{site=\"a\"}", 11, 0},
                                  {2, "m{site=\"b\"}", 11, 0}};
  struct vg_store_epoch ep = {.epoch = 1,
                              .sealed = p,
                              .nsealed = n,
                              .series = ser,
                              .nseries = 2,
                              .watermark_ns = 1,
                              .flush = 1};
  assert_int_equal(vg_store_commit(st, &ep, err, sizeof err), 0);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  vg_store_close(st);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  st_rmtree(dir);
  return 0;
}

struct env {
  struct vg_store *st;
  struct vg_store_reader *rd;
  struct vg_tz *tz;
  struct vgq_sql *q;
  sqlite3 *db;
  struct ref *ref;
  size_t nref;
};

static void env_open(struct env *e, const char *zone) {
  struct vg_store_opts o = {.path = dir, .readonly = 1};
  char err[256];
  memset(e, 0, sizeof *e);
  assert_int_equal(vg_store_open(&o, &e->st, err, sizeof err), 0);
  assert_int_equal(vg_store_reader_begin(e->st, &e->rd), 0);
  assert_int_equal(vg_tz_load(zone, &e->tz, err, sizeof err), 0);
  assert_int_equal(vgq_sql_open(&e->q, e->rd, e->tz, err, sizeof err), 0);
  e->db = vgq_sql_db(e->q);
  /* the reference: every row, nothing pushed down */
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(e->db,
                                      "SELECT series, start_datetime, start_epoch, "
                                      "site FROM rollup_1h",
                                      -1, &s, NULL),
                   SQLITE_OK);
  e->ref = calloc(2 * NHOURS, sizeof *e->ref);
  assert_non_null(e->ref);
  while (sqlite3_step(s) == SQLITE_ROW) {
    struct ref *r = &e->ref[e->nref++];
    snprintf(r->series, sizeof r->series, "%s", sqlite3_column_text(s, 0));
    snprintf(r->dt, sizeof r->dt, "%s", sqlite3_column_text(s, 1));
    r->epoch = sqlite3_column_int64(s, 2);
    snprintf(r->site, sizeof r->site, "%s", sqlite3_column_text(s, 3));
  }
  sqlite3_finalize(s);
  assert_true(e->nref > NHOURS);
}

static void env_close(struct env *e) {
  free(e->ref);
  vgq_sql_close(e->q);
  vg_store_reader_end(e->rd);
  vg_store_close(e->st);
  vg_tz_free(e->tz);
}

/* Rows (count, and a sum of epochs as a fingerprint) of a WHERE with one
 * bound parameter; *read gets the windows the store handed over. */
static void run(struct env *e, const char *where, sqlite3_value *v, int64_t *count,
                int64_t *sum, uint64_t *read) {
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*), total(start_epoch) FROM rollup_1h WHERE %s",
           where);
  sqlite3_stmt *s;
  assert_int_equal(sqlite3_prepare_v2(e->db, sql, -1, &s, NULL), SQLITE_OK);
  assert_int_equal(sqlite3_bind_value(s, 1, v), SQLITE_OK);
  uint64_t before = vgq_sql_stats(e->q)->windows_read;
  assert_int_equal(sqlite3_step(s), SQLITE_ROW);
  *count = sqlite3_column_int64(s, 0);
  *sum = (int64_t)sqlite3_column_double(s, 1);
  *read = vgq_sql_stats(e->q)->windows_read - before;
  sqlite3_finalize(s);
}

static int holds(int cmp, const char *op) {
  if (!strcmp(op, "="))
    return cmp == 0;
  if (!strcmp(op, "<"))
    return cmp < 0;
  if (!strcmp(op, "<="))
    return cmp <= 0;
  if (!strcmp(op, ">"))
    return cmp > 0;
  return cmp >= 0;
}

static const char *const ops[] = {"=", "<", "<=", ">", ">="};

/* A text bound near the data: a row's own text, cut short, with another
 * offset or digit, or a date that does not exist. */
static void random_text(const struct env *e, uint64_t *rng, char *out, size_t size) {
  const char *base = e->ref[st_rng(rng) % e->nref].dt;
  snprintf(out, size, "%s", base);
  switch (st_rng(rng) % 7) {
  case 0: break;
  case 1: out[10 + st_rng(rng) % 15] = 0; break; /* 2018-10-28T01:3 */
  case 2: out[19] = 0; break;                    /* no offset */
  case 3:
    snprintf(out + 19, size - 19, "%c%02d:%02d", st_rng(rng) % 2 ? '+' : '-',
             (int)(st_rng(rng) % 15), (int)(st_rng(rng) % 4) * 15);
    break;
  case 4: out[11 + st_rng(rng) % 8] = (char)('0' + st_rng(rng) % 10); break;
  case 5:
    snprintf(out, size, "2018-%02d-%02d", (int)(st_rng(rng) % 14),
             (int)(st_rng(rng) % 33));
    break;
  default: out[8 + st_rng(rng) % 2] = (char)('0' + st_rng(rng) % 10); break;
  }
}

static void text_bounds(void **state) {
  (void)state;
  static const char *const zones[] = {"UTC", "Europe/London", "America/New_York",
                                      "Asia/Kolkata", "Pacific/Chatham"};
  uint64_t rng = 42;
  for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
    struct env e;
    env_open(&e, zones[z]);
    uint64_t narrowed = 0;
    for (int k = 0; k < 400; k++) {
      char v[64], where[64];
      random_text(&e, &rng, v, sizeof v);
      const char *op = ops[st_rng(&rng) % 5];
      snprintf(where, sizeof where, "start_datetime %s ?1", op);
      int64_t want = 0, wsum = 0, got, sum;
      uint64_t read;
      for (size_t i = 0; i < e.nref; i++)
        if (holds(strcmp(e.ref[i].dt, v), op)) {
          want++;
          wsum += e.ref[i].epoch;
        }
      sqlite3_value *val = NULL;
      sqlite3_stmt *mk;
      assert_int_equal(sqlite3_prepare_v2(e.db, "SELECT ?1", -1, &mk, NULL), SQLITE_OK);
      sqlite3_bind_text(mk, 1, v, -1, SQLITE_TRANSIENT);
      assert_int_equal(sqlite3_step(mk), SQLITE_ROW);
      val = sqlite3_value_dup(sqlite3_column_value(mk, 0));
      sqlite3_finalize(mk);
      run(&e, where, val, &got, &sum, &read);
      sqlite3_value_free(val);
      if (got != want || sum != wsum)
        fail_msg("%s: start_datetime %s '%s': %lld rows, want %lld", zones[z], op, v,
                 (long long)got, (long long)want);
      assert_true(read >= (uint64_t)got);
      narrowed += read < e.nref;
    }
    assert_true(narrowed > 100); /* most bounds read less than everything */
    env_close(&e);
  }
}

static void epoch_and_series_bounds(void **state) {
  (void)state;
  struct env e;
  env_open(&e, "Europe/London");
  uint64_t rng = 9;
  for (int k = 0; k < 600; k++) {
    const char *op = ops[st_rng(&rng) % 5];
    char where[64];
    snprintf(where, sizeof where, "start_epoch %s ?1", op);
    int64_t x = T_FROM - 7200 + (int64_t)(st_rng(&rng) % (NHOURS * 3600 + 14400));
    int kind = (int)(st_rng(&rng) % 4); /* aligned int, int, real, text */
    double d = (double)x + (kind == 2 ? 0.5 : 0);
    if (kind == 0) {
      x -= (x - T_FROM) % 3600;
      d = (double)x;
    }
    int64_t want = 0, wsum = 0, got, sum;
    uint64_t read;
    for (size_t i = 0; i < e.nref; i++) {
      double t = (double)e.ref[i].epoch;
      if (holds(t < d ? -1 : t > d, op)) {
        want++;
        wsum += e.ref[i].epoch;
      }
    }
    char text[32];
    snprintf(text, sizeof text, "%lld", (long long)x);
    sqlite3_stmt *mk;
    assert_int_equal(sqlite3_prepare_v2(e.db,
                                        kind == 2   ? "SELECT ?1 + 0.5"
                                        : kind == 3 ? "SELECT CAST(?1 AS TEXT)"
                                                    : "SELECT ?1",
                                        -1, &mk, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(mk, 1, x);
    assert_int_equal(sqlite3_step(mk), SQLITE_ROW);
    sqlite3_value *val = sqlite3_value_dup(sqlite3_column_value(mk, 0));
    sqlite3_finalize(mk);
    run(&e, where, val, &got, &sum, &read);
    sqlite3_value_free(val);
    if (got != want || sum != wsum)
      fail_msg("start_epoch %s %s (kind %d): %lld rows, want %lld", op, text, kind,
               (long long)got, (long long)want);
    if (kind != 3 && read != (uint64_t)got) /* numbers are pushed exactly */
      fail_msg("start_epoch %s %s (kind %d): %llu read for %lld rows", op, text, kind,
               (unsigned long long)read, (long long)got);
  }
  /* series columns: text, a number against text (affinity), NULL, IN */
  static const struct {
    const char *where;
    int64_t rows; /* -1: every row of site a */
    uint64_t read_max;
  } cases[] = {
      {"site = 'a'", -1, NHOURS},
      {"series = 'm{site=\"b\"}' AND site = 'a'", 0, 0},
      {"site = NULL", 0, 0},
      {"site IN ('a', 'x', NULL)", -1, NHOURS},
      {"series IN ('m{site=\"a\"}', 'm{site=\"a\"}')", -1, NHOURS},
      {"site = 'A' COLLATE NOCASE", -1, 2 * NHOURS},
      {"series_id = 1", -1, NHOURS},
      {"series_id = '1'", -1, 2 * NHOURS},
      {"metric = 'm' AND site = 'a'", -1, NHOURS},
  };
  for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
    int64_t got, sum;
    uint64_t read;
    int64_t want = cases[c].rows < 0 ? NHOURS : cases[c].rows;
    sqlite3_stmt *mk;
    assert_int_equal(sqlite3_prepare_v2(e.db, "SELECT NULL", -1, &mk, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(mk), SQLITE_ROW);
    sqlite3_value *val = sqlite3_value_dup(sqlite3_column_value(mk, 0));
    sqlite3_finalize(mk);
    char where[128];
    snprintf(where, sizeof where, "(%s) AND ?1 IS NULL", cases[c].where);
    run(&e, where, val, &got, &sum, &read);
    sqlite3_value_free(val);
    if (got != want || read > cases[c].read_max)
      fail_msg("%s: %lld rows (want %lld), %llu read", cases[c].where, (long long)got,
               (long long)want, (unsigned long long)read);
  }
  env_close(&e);
}

static void dictionary_store_and_tag_columns(void **state) {
  (void)state;
  char d[] = "/tmp/vigie-sqlempty-XXXXXX";
  assert_non_null(mkdtemp(d));
  struct vg_store_opts o = {.path = d, .durability = VG_STORE_NOSYNC};
  struct vg_store *st = NULL;
  struct vg_store_reader *rd = NULL;
  struct vg_tz *tz = NULL;
  struct vgq_sql *q = NULL;
  char err[256];
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  assert_int_equal(vg_store_reader_begin(st, &rd), 0);
  assert_int_equal(vg_tz_load("UTC", &tz, err, sizeof err), 0);
  assert_int_equal(vgq_sql_open(&q, rd, tz, err, sizeof err), 0);
  assert_int_equal(
      vgq_sql_prepare(q, "SELECT count(*) FROM rollup_1m JOIN series", err, sizeof err),
      0);
  assert_int_equal(vgq_sql_step(q, err, sizeof err), 1);
  const char *t;
  assert_int_equal(vgq_sql_cell(q, 0, &t), VGQ_NUM);
  assert_string_equal(t, "0");
  assert_int_equal(vgq_sql_step(q, err, sizeof err), 0);
  assert_int_equal(vgq_sql_prepare(q, "DELETE FROM series", err, sizeof err), -EINVAL);
  vgq_sql_close(q);
  vg_store_reader_end(rd);

  /* tag names that are column names already, and two that differ in case */
  static const char key[] = "m{Site=\"y\",count=\"x\",site=\"z\"}";
  struct vg_store_series ser = {5, key, sizeof key - 1, 0};
  struct vg_store_epoch ep = {
      .epoch = 1, .series = &ser, .nseries = 1, .watermark_ns = 1};
  assert_int_equal(vg_store_commit(st, &ep, err, sizeof err), 0);
  assert_int_equal(vg_store_reader_begin(st, &rd), 0);
  assert_int_equal(vgq_sql_open(&q, rd, tz, err, sizeof err), 0);
  assert_int_equal(vgq_sql_prepare(q,
                                   "SELECT Site, tag_count, tag_site, id FROM series "
                                   "WHERE tag_site = 'z'",
                                   err, sizeof err),
                   0);
  assert_int_equal(vgq_sql_step(q, err, sizeof err), 1);
  static const char *const want[] = {"y", "x", "z", "5"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(vgq_sql_cell(q, i, &t), i == 3 ? VGQ_NUM : VGQ_TEXT);
    assert_string_equal(t, want[i]);
  }
  assert_int_equal(vgq_sql_step(q, err, sizeof err), 0);
  assert_int_equal(
      vgq_sql_prepare(q, "SELECT \"count\", tag_count FROM rollup_1d", err, sizeof err),
      0);
  assert_int_equal(vgq_sql_step(q, err, sizeof err), 0); /* no windows */
  vgq_sql_close(q);
  vg_tz_free(tz);
  vg_store_reader_end(rd);
  vg_store_close(st);
  st_rmtree(d);
}

int vg_test_vigieq_sql(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(text_bounds),
      cmocka_unit_test(epoch_and_series_bounds),
      cmocka_unit_test(dictionary_store_and_tag_columns),
  };
  return cmocka_run_group_tests_name("vigieq_sql", tests, setup, teardown);
}
