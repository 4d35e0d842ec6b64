/* Unit tests of merge_by datasets (dataset.h, wmerge.h) over a real store:
 * two series of metric m that differ only by their tag site, merged by
 * road, against a series u built from the union of their readings -- every
 * statistic equal (p95 and distinct exactly: the sketches merge exactly),
 * the status and revision rules, privacy on the merged rows, resumable
 * scans over groups, one window (the changes feed), and group keys. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "../store/storetest.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/wmerge.h"

#define MDAY  86400LL
#define MT0   (20100LL * MDAY) /* a UTC midnight */
#define MDAYS 3
#define MK    8 /* suppress_below of the private datasets */

/* store series: two sites of road r1, one of road r2, and the unions */
enum { A1 = 1, B1, A2, U1, U2, NSER = U2 };
static const char *const mkeys[NSER] = {
    "m{road=\"r1\",site=\"a\"}", "m{road=\"r1\",site=\"b\"}", "m{road=\"r2\",site=\"a\"}",
    "u{road=\"r1\"}", "u{road=\"r2\"}"};

struct mfx {
  char dir[64];
  struct vg_store *st;
  struct vg_wentry *w;
  size_t nw;
};

static struct vg_acc_opts sketch_opts(void) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  o.distinct = 1;
  return o;
}

static struct vg_wentry *new_window(struct mfx *f, uint64_t series, int64_t start,
                                    int final, uint32_t revision) {
  struct vg_wentry *w = &f->w[f->nw++];
  memset(w, 0, sizeof *w);
  w->series = series;
  w->res = VG_RES_HOUR;
  w->start = start;
  w->end = start + 3600;
  w->final = (uint8_t) final;
  w->revision = revision;
  vg_acc_init(&w->acc);
  return w;
}

/* n readings of one site in hour start, at odd or even multiples of 7 s
 * (the sites interleave), added to the site's window and to the union's. */
static void readings(struct vg_wentry *site, struct vg_wentry *uni, int n, int odd,
                     uint64_t *rng) {
  struct vg_acc_opts o = sketch_opts();
  for (int i = 0; i < n; i++) {
    int64_t t = (site->start + (2 * i + odd) * 7) * 1000000000LL;
    double v = (double)(st_rng(rng) % 1000); /* integers: sums are exact */
    uint64_t key = st_rng(rng) % 40;
    assert_int_equal(vg_acc_add(&site->acc, &o, t, v, 1, key), 0);
    assert_int_equal(vg_acc_add(&uni->acc, &o, t, v, 1, key), 0);
  }
}

/* Hour h of day d: the site windows and their status, and the union with
 * the merged status and revision the rules give. */
static void build_hour(struct mfx *f, int d, int h, uint64_t *rng) {
  int64_t start = MT0 + d * MDAY + h * 3600;
  int na = (int)(st_rng(rng) % 7), nb = (int)(st_rng(rng) % 7);
  if (d == 1 && h == 3) /* each under k, together not */
    na = nb = MK - 1;
  /* day 2: site b's last hours provisional, site a's revised */
  int fb = !(d == 2 && h >= 20);
  uint32_t ra = d == 2 && h >= 18 ? 2 : 0, rb = d == 0 && h == 5 ? 1 : 0;
  if (!na && !nb)
    return;
  int members = (na > 0) + (nb > 0);
  uint32_t rev = (na ? ra : 0) + (nb ? rb : 0) + (uint32_t)(members - 1);
  struct vg_wentry *u = new_window(f, U1, start, !nb || fb, rev);
  if (na)
    readings(new_window(f, A1, start, 1, ra), u, na, 0, rng);
  if (nb)
    readings(new_window(f, B1, start, fb, rb), u, nb, 1, rng);
  /* road r2: one site, so its group is that series */
  int n2 = (int)(st_rng(rng) % 12);
  if (n2) {
    struct vg_wentry *u2 = new_window(f, U2, start, 1, 0);
    readings(new_window(f, A2, start, 1, 0), u2, n2, 0, rng);
  }
}

static int merge_setup(void **state) {
  struct mfx *f = calloc(1, sizeof *f);
  char err[512] = "";
  strcpy(f->dir, "/tmp/vigie-merge-XXXXXX");
  if (!f || !mkdtemp(f->dir))
    return -1;
  struct vg_store_opts so = {.path = f->dir, .durability = VG_STORE_NOSYNC};
  assert_int_equal(vg_store_open(&so, &f->st, err, sizeof err), 0);
  f->w = calloc((MDAYS + 2) * 24 * NSER, sizeof *f->w);
  uint64_t rng = 7;
  for (int d = 0; d < MDAYS; d++)
    for (int h = 0; h < 24; h++)
      build_hour(f, d, h, &rng);
  /* hours after gaps longer than a group's read slice (32 days) */
  for (int h = 0; h < 24; h += 5) {
    build_hour(f, 45, h, &rng);
    build_hour(f, 120, h, &rng);
  }
  const struct vg_wentry **open = calloc(f->nw, sizeof *open);
  for (size_t i = 0; i < f->nw; i++)
    open[i] = &f->w[i];
  struct vg_store_series ser[NSER];
  for (int s = 0; s < NSER; s++)
    ser[s] = (struct vg_store_series){(uint64_t)s + 1, mkeys[s], strlen(mkeys[s]), 0};
  struct vg_store_epoch ep = {.epoch = 1,
                              .open = open,
                              .nopen = f->nw,
                              .series = ser,
                              .nseries = NSER,
                              .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  free(open);
  *state = f;
  return 0;
}

static int merge_teardown(void **state) {
  struct mfx *f = *state;
  for (size_t i = 0; i < f->nw; i++)
    vg_acc_release(&f->w[i].acc);
  free(f->w);
  vg_store_close(f->st);
  st_rmtree(f->dir);
  free(f);
  return 0;
}

static char *cols_all[] = {"count", "sum", "min",   "max",  "mean",    "stddev",
                           "p50",   "p95", "first", "last", "distinct"};

/* A dataset of metric `metric`, every statistic, tag column road; merged by
 * road when merge. */
static struct vg_dataset *dataset(const char *metric, int merge, int64_t k, int status) {
  static char *road[] = {"road"};
  char *metrics[] = {(char *)metric};
  struct vg_dataset_def def = {
      .id = "t",
      .resolution = VG_RES_HOUR,
      .metrics = {metrics, 1},
      .columns = {cols_all, sizeof cols_all / sizeof *cols_all},
      .tag_columns = {road, 1},
      .merge_by = {merge ? road : NULL, merge ? 1 : 0},
      .suppress_below = k,
      .status = status,
      .sensor_period_ns = 600000000000LL,
  };
  struct vg_dataset_env env = {.store_timezone = "UTC"};
  struct vg_dataset *ds = NULL;
  char err[256] = "";
  assert_int_equal(vg_dataset_new(&def, &env, &ds, err, sizeof err), 0);
  return ds;
}

/* Rows as numbers and text, the metric left out (m and u differ there). */
struct mrow {
  int64_t start;
  char road[16], status[16], suppressed[64];
  double v[16];
  int null[16];
};

struct mrows {
  const struct vg_dataset *ds;
  struct mrow *v;
  size_t n, cap;
};

static int on_mrow(const struct vg_dataset_row *row, void *arg) {
  struct mrows *g = arg;
  if (g->n == g->cap) {
    g->cap = g->cap ? 2 * g->cap : 256;
    g->v = realloc(g->v, g->cap * sizeof *g->v);
  }
  struct mrow *p = &g->v[g->n++];
  memset(p, 0, sizeof *p);
  p->start = row->start;
  size_t nf, k = 0;
  const struct vg_odsql_field *fl = vg_dataset_fields(g->ds, &nf);
  for (size_t i = 0; i < nf; i++) {
    const struct vg_odsql_value *c = &row->v[i];
    const char *name = fl[i].name;
    if (fl[i].type == VG_ODSQL_TEXT && !c->null && strcmp(name, "road") == 0)
      snprintf(p->road, sizeof p->road, "%.*s", (int)c->len, c->str);
    if (fl[i].type == VG_ODSQL_TEXT && !c->null && strcmp(name, "status") == 0)
      snprintf(p->status, sizeof p->status, "%.*s", (int)c->len, c->str);
    if (fl[i].type == VG_ODSQL_TEXT && !c->null && strcmp(name, "suppressed") == 0)
      snprintf(p->suppressed, sizeof p->suppressed, "%.*s", (int)c->len, c->str);
    if (fl[i].type == VG_ODSQL_NUMBER) {
      p->v[k] = c->num;
      p->null[k++] = c->null;
    }
  }
  return 0;
}

/* Every row of ds, through scans of at most max_rows (0: one scan). */
static void scan_all(struct mfx *f, const struct vg_dataset *ds, int64_t max_rows,
                     size_t want_series, struct mrows *g) {
  struct vg_store_reader *r;
  struct vg_dataset_series_list l;
  char err[256] = "";
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_dataset_series(ds, r, &l), 0);
  assert_int_equal(l.n, want_series);
  g->ds = ds;
  struct vg_dataset_scan sc = {
      .from_s = INT64_MIN, .to_s = INT64_MAX, .max_rows = max_rows, .next_s = INT64_MIN};
  do
    assert_int_equal(vg_dataset_scan(ds, r, &l, &sc, on_mrow, g, err, sizeof err), 0);
  while (!sc.done);
  vg_dataset_series_release(&l);
  vg_store_reader_end(r);
}

/* Numbers equal: exact, but mean and stddev (Chan's merge against one pass)
 * to 1e-12. */
static void same_rows(const struct mrows *a, const struct mrows *b) {
  assert_int_equal(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    const struct mrow *x = &a->v[i], *y = &b->v[i];
    assert_int_equal(x->start, y->start);
    assert_string_equal(x->road, y->road);
    assert_string_equal(x->status, y->status);
    assert_string_equal(x->suppressed, y->suppressed);
    for (size_t k = 0; k < 16; k++) {
      assert_int_equal(x->null[k], y->null[k]);
      if (x->null[k] || (isnan(x->v[k]) && isnan(y->v[k])) || k == 11)
        continue;           /* coverage: a group expects its members' readings (below) */
      if (k == 4 || k == 5) /* mean, stddev */
        assert_true(vg_rel_diff(x->v[k], y->v[k]) <= 1e-12);
      else if (x->v[k] != y->v[k])
        fail_msg("row %zu number %zu: %.17g != %.17g", i, k, x->v[k], y->v[k]);
    }
  }
}

/* The merged rows of m by road are the union series' rows: count, sum,
 * min, max, first, last, p50, p95, distinct, coverage, status and
 * revision. */
static void merged_equals_union(void **state) {
  struct mfx *f = *state;
  struct vg_dataset *merged = dataset("m", 1, 0, VG_DATASET_ALL);
  struct vg_dataset *uni = dataset("u", 0, 0, VG_DATASET_ALL);
  struct mrows gm = {0}, gu = {0};
  scan_all(f, merged, 0, 2, &gm);
  scan_all(f, uni, 0, 2, &gu);
  assert_true(gm.n > MDAYS * 24);
  same_rows(&gm, &gu);
  /* coverage (number 11, after the 11 statistics): readings / (6 per hour
   * and member series) */
  int nfinal = 0, nprov = 0, nrev = 0, late = 0;
  for (size_t i = 0; i < gm.n; i++) {
    const struct mrow *x = &gm.v[i];
    late += x->start >= MT0 + 120 * MDAY; /* read after two gaps */
    double members = strcmp(x->road, "r1") == 0 ? 2 : 1;
    assert_true(fabs(x->v[11] - x->v[0] / (6 * members)) < 1e-12);
    nfinal += strcmp(x->status, "final") == 0;
    nprov += strcmp(x->status, "provisional") == 0;
    nrev += x->v[12] > 1;
  }
  assert_true(nfinal > 0 && nprov > 0 && nrev > 0 && late > 1);
  free(gm.v);
  free(gu.v);
  vg_dataset_free(merged);
  vg_dataset_free(uni);
}

/* Resumable scans walk groups: rows in chunks are the rows in one go. */
static void resumable_over_groups(void **state) {
  struct mfx *f = *state;
  struct vg_dataset *merged = dataset("m", 1, MK, VG_DATASET_ALL);
  struct mrows one = {0}, chunks = {0};
  scan_all(f, merged, 0, 2, &one);
  scan_all(f, merged, 5, 2, &chunks);
  same_rows(&one, &chunks);
  free(one.v);
  free(chunks.v);
  vg_dataset_free(merged);
}

/* Status: final only when every member is (status: final leaves the
 * others out); revision: members' revisions added, plus one per member
 * beyond the first. */
static void status_and_revision(void **state) {
  struct mfx *f = *state;
  struct vg_dataset *fin = dataset("m", 1, 0, VG_DATASET_FINAL);
  struct vg_dataset *all = dataset("m", 1, 0, VG_DATASET_ALL);
  struct mrows gf = {0}, ga = {0};
  scan_all(f, fin, 0, 2, &gf);
  scan_all(f, all, 0, 2, &ga);
  size_t nprov = 0;
  for (size_t i = 0; i < ga.n; i++)
    nprov += strcmp(ga.v[i].status, "provisional") == 0;
  assert_true(nprov > 0);
  assert_int_equal(gf.n + nprov, ga.n);
  for (size_t i = 0; i < gf.n; i++)
    assert_string_equal(gf.v[i].status, "final");
  /* each window, against its members as the store holds them */
  for (size_t i = 0; i < ga.n; i++) {
    const struct mrow *x = &ga.v[i];
    int fin_all = 1, members = 0;
    uint32_t rev = 0;
    for (size_t j = 0; j < f->nw; j++) {
      const struct vg_wentry *w = &f->w[j];
      int in = strcmp(x->road, "r1") == 0 ? w->series == A1 || w->series == B1
                                          : w->series == A2;
      if (!in || w->start != x->start)
        continue;
      fin_all &= w->final;
      rev += w->revision;
      members++;
    }
    assert_true(members > 0);
    assert_string_equal(x->status, fin_all ? "final" : "provisional");
    assert_true(x->v[12] == (double)(rev + (uint32_t)members - 1));
  }
  free(gf.v);
  free(ga.v);
  vg_dataset_free(fin);
  vg_dataset_free(all);
}

/* Privacy applies to the merged rows: the cells blanked are the union
 * series' (primary and secondary suppression over the merged counts), and
 * an hour whose members are each under k but together not is published. */
static void privacy_on_merged(void **state) {
  struct mfx *f = *state;
  struct vg_dataset *merged = dataset("m", 1, MK, VG_DATASET_ALL);
  struct vg_dataset *uni = dataset("u", 0, MK, VG_DATASET_ALL);
  struct mrows gm = {0}, gu = {0};
  scan_all(f, merged, 0, 2, &gm);
  scan_all(f, uni, 0, 2, &gu);
  same_rows(&gm, &gu);
  size_t nsupp = 0;
  int together = 0;
  for (size_t i = 0; i < gm.n; i++) {
    const struct mrow *x = &gm.v[i];
    if (strncmp(x->suppressed, "count,sum", 9) == 0) {
      nsupp++;
      assert_true(x->null[0] && x->null[1]);
    }
    if (strcmp(x->road, "r1") == 0 && x->start == MT0 + MDAY + 3 * 3600) {
      together = 1;
      assert_false(x->null[0]);
      assert_true(x->v[0] == 2 * (MK - 1));
    }
  }
  assert_true(nsupp > 0 && together);
  free(gm.v);
  free(gu.v);
  vg_dataset_free(merged);
  vg_dataset_free(uni);
}

/* One window of a group (the changes feed's lookup, by any member's id):
 * the row the scan gives. */
static void one_window(void **state) {
  struct mfx *f = *state;
  struct vg_dataset *merged = dataset("m", 1, 0, VG_DATASET_ALL);
  struct vg_store_reader *r;
  struct vg_dataset_series_list l;
  char err[256] = "";
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_dataset_series(merged, r, &l), 0);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.v[0].key, "m{road=\"r1\"}");
  assert_string_equal(l.v[0].tags[0], "r1");
  assert_string_equal(l.v[1].key, "m{road=\"r2\"}");
  size_t n;
  const uint64_t *ids = vg_dataset_series_ids(&l.v[0], &n);
  assert_int_equal(n, 2);
  assert_int_equal(ids[0], A1);
  assert_int_equal(ids[1], B1);
  assert_int_equal(l.v[0].id, A1);
  struct mrows g = {.ds = merged};
  int cbrc = 0;
  int64_t start = MT0 + MDAY + 3 * 3600;
  assert_int_equal(
      vg_dataset_window(merged, r, &l.v[0], start, on_mrow, &g, &cbrc, err, sizeof err),
      1);
  assert_int_equal(g.n, 1);
  assert_int_equal(g.v[0].start, start);
  assert_true(g.v[0].v[0] == 2 * (MK - 1));
  free(g.v);
  vg_dataset_series_release(&l);
  vg_store_reader_end(r);
  vg_dataset_free(merged);
}

/* Group keys keep the metric and the grouping tags, canonical; a dataset
 * whose tag column or entity is not a grouping tag is refused. */
static void group_keys_and_checks(void **state) {
  (void)state;
  const char *by[] = {"road", "dir"};
  char out[128];
  const char *k = "m{dir=\"n\",road=\"a\\\"b\",site=\"x\"}";
  assert_int_equal(vg_group_key(k, strlen(k), by, 2, out, sizeof out), 0);
  assert_string_equal(out, "m{dir=\"n\",road=\"a\\\"b\"}");
  assert_int_equal(vg_group_key(k, strlen(k), by + 1, 1, out, sizeof out), 0);
  assert_string_equal(out, "m{dir=\"n\"}");
  assert_int_equal(vg_group_key(k, strlen(k), NULL, 0, out, sizeof out), 0);
  assert_string_equal(out, "m");
  assert_int_equal(vg_group_key(k, strlen(k), by, 2, out, 8), -ENOSPC);
  static char *site[] = {"site"}, *road[] = {"road"}, *metrics[] = {"m"};
  struct vg_dataset_def def = {.id = "t",
                               .resolution = VG_RES_HOUR,
                               .metrics = {metrics, 1},
                               .tag_columns = {site, 1},
                               .merge_by = {road, 1}};
  struct vg_dataset_env env = {.store_timezone = "UTC"};
  struct vg_dataset *ds = NULL;
  char err[256] = "";
  assert_int_equal(vg_dataset_new(&def, &env, &ds, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "tag column \"site\" is not one of merge_by"));
  def.tag_columns = (struct vg_strlist){road, 1};
  def.entity_tag = "site";
  assert_int_equal(vg_dataset_new(&def, &env, &ds, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "entity_tag \"site\" is not one of merge_by"));
}

int vg_test_publish_merge(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(merged_equals_union, merge_setup, merge_teardown),
      cmocka_unit_test_setup_teardown(resumable_over_groups, merge_setup, merge_teardown),
      cmocka_unit_test_setup_teardown(status_and_revision, merge_setup, merge_teardown),
      cmocka_unit_test_setup_teardown(privacy_on_merged, merge_setup, merge_teardown),
      cmocka_unit_test_setup_teardown(one_window, merge_setup, merge_teardown),
      cmocka_unit_test(group_keys_and_checks),
  };
  return cmocka_run_group_tests_name("publish_merge", tests, NULL, NULL);
}
