/* Unit tests of the sharded store (store.h, "Shards"): a store of 3 shards,
 * each committed its part of two epochs as the daemon's writer does (the
 * emit records numbered from one counter), read as one -- dictionary in key
 * order, each series' windows, ids and keys, the emit log merged by
 * sequence, summed statistics; a shard behind the others bounds what
 * readers see; another shard count is refused at open (auto keeps the
 * store's own); and re-sharding to 2 then 1 shard keeps every row,
 * refusing shards that are not level. */
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define NSER   120
#define HOUR   3600
#define T0     1700000000 / 3600 * 3600
#define TOPIC  "t"
#define NPARTS 2

struct fixture {
  char dir[64];
  uint64_t id[NSER];
  char key[NSER][32];
  struct vg_wentry w[NSER][2]; /* per series, one hourly window per epoch */
};

static void fixture_keys(struct fixture *f) {
  uint64_t rng = 7;
  for (int i = 0; i < NSER; i++) {
    f->id[i] = st_rng(&rng);
    snprintf(f->key[i], sizeof f->key[i], "m{s=\"%03d\"}", (i * 37) % NSER);
  }
}

/* Epoch e (1 or 2) committed to the shards listed in `only` (bit k: shard
 * k; all when 0): each series' window of hour e, its dictionary entry in
 * epoch 1, an emit record per window numbered from `seq`, the positions
 * (offset 100 * e), a blob saying the epoch. */
static void commit_epoch(struct fixture *f, struct vg_store *st, int e, unsigned only,
                         uint64_t seq) {
  unsigned n = vg_store_shards(st);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  uint64_t rng = (uint64_t)e;
  char blob[16];
  snprintf(blob, sizeof blob, "epoch %d", e);
  struct vg_store_pos pos[NPARTS];
  for (uint32_t p = 0; p < NPARTS; p++)
    pos[p] = (struct vg_store_pos){TOPIC, p, 100 * e + p, (int64_t)T0 * 1000000000LL, 0};
  struct vg_store_blob b = {"test", blob, strlen(blob)};
  for (unsigned k = 0; k < n; k++) {
    const struct vg_wentry *open[NSER];
    struct vg_store_series ser[NSER];
    struct vg_store_emit em[NSER];
    size_t nopen = 0, nser = 0, nem = 0;
    for (int i = 0; i < NSER; i++) {
      struct vg_wentry *w = &f->w[i][e - 1];
      if (k == 0) { /* built once, whichever shard takes it */
        st_window(w, f->id[i], VG_RES_HOUR, T0 + (e - 1) * HOUR, HOUR, 10, i, &o, &rng);
        w->final = 0;
      }
      if (vg_store_shard_of(f->id[i], n) != k)
        continue;
      open[nopen++] = w;
      if (e == 1)
        ser[nser++] = (struct vg_store_series){f->id[i], f->key[i], strlen(f->key[i]), 1};
      em[nem++] =
          (struct vg_store_emit){seq + (uint64_t)i, f->id[i], VG_RES_HOUR, w->start, 0};
    }
    if (only && !(only & (1u << k)))
      continue;
    struct vg_store_epoch ep = {.epoch = (uint64_t)e,
                                .open = open,
                                .nopen = nopen,
                                .series = ser,
                                .nseries = nser,
                                .pos = pos,
                                .npos = NPARTS,
                                .emit = em,
                                .nemit = nem,
                                .emit_next = seq + NSER,
                                .watermark_ns = (int64_t)(T0 + e * HOUR) * 1000000000LL,
                                .blobs = &b,
                                .nblobs = 1};
    char err[256];
    assert_int_equal(vg_store_commit(vg_store_shard(st, k), &ep, err, sizeof err), 0);
  }
}

struct walk {
  int n;
  char last[64];
  uint64_t seq_last, nemit;
  int ordered;
};

static int on_series(const struct vg_store_series *s, void *ctx) {
  struct walk *w = ctx;
  char k[64];
  assert_true(s->key_len < sizeof k);
  memcpy(k, s->key, s->key_len);
  k[s->key_len] = 0;
  if (w->n > 0 && strcmp(w->last, k) >= 0)
    w->ordered = 0;
  strcpy(w->last, k);
  w->n++;
  return 0;
}

static int on_emit(const struct vg_store_emit *e, void *ctx) {
  struct walk *w = ctx;
  if (w->nemit > 0 && e->seq <= w->seq_last)
    w->ordered = 0;
  w->seq_last = e->seq;
  w->nemit++;
  return 0;
}

static int count_window(const struct vg_wentry *w, void *ctx) {
  (void)w;
  (*(int *)ctx)++;
  return 0;
}

/* Every read of a store holding `epochs` epochs of all the fixture's
 * series, as one store. */
static void check_reads(struct fixture *f, struct vg_store *st, int epochs) {
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  struct walk w = {.ordered = 1};
  assert_int_equal(vg_store_series_each(r, on_series, &w), 0);
  assert_int_equal(w.n, NSER);
  assert_true(w.ordered);
  for (int i = 0; i < NSER; i++) {
    uint64_t id;
    char k[64];
    size_t len;
    int n = 0;
    assert_int_equal(vg_store_series_id(r, f->key[i], strlen(f->key[i]), &id), 0);
    assert_true(id == f->id[i]);
    assert_int_equal(vg_store_series_key(r, f->id[i], k, sizeof k, &len), 0);
    assert_string_equal(k, f->key[i]);
    assert_int_equal(vg_store_read_range(r, f->id[i], VG_RES_HOUR, 0, INT64_MAX,
                                         count_window, &n, k, sizeof k),
                     0);
    assert_int_equal(n, epochs);
  }
  w = (struct walk){.ordered = 1};
  assert_int_equal(vg_store_read_emit(r, 0, on_emit, &w), 0);
  assert_true(w.ordered);
  assert_int_equal(w.nemit, (uint64_t)NSER * (uint64_t)epochs);
  struct vg_store_state m;
  assert_int_equal(vg_store_reader_meta(r, &m), 0);
  assert_int_equal(m.epoch, (uint64_t)epochs);
  assert_int_equal(m.emit_seq, (uint64_t)NSER * (uint64_t)epochs);
  struct vg_store_pos p;
  assert_int_equal(vg_store_position(r, TOPIC, 1, &p), 0);
  assert_int_equal(p.next_offset, 100 * epochs + 1);
  vg_store_reader_end(r);
  struct vg_store_stat s;
  assert_int_equal(vg_store_stat(st, &s), 0);
  assert_int_equal(s.series, NSER);
  assert_int_equal(s.emit_records, (uint64_t)NSER * (uint64_t)epochs);
}

static struct vg_store *open_shards(const char *dir, unsigned shards) {
  struct vg_store_opts o = {.path = dir, .durability = VG_STORE_NOSYNC, .shards = shards};
  struct vg_store *st = NULL;
  char err[512];
  int rc = vg_store_open(&o, &st, err, sizeof err);
  if (rc)
    print_message("open: %s\n", err);
  assert_int_equal(rc, 0);
  return st;
}

static void three_shards_read_as_one(void **state) {
  (void)state;
  struct fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  fixture_keys(f);
  strcpy(f->dir, "/tmp/vigie-shards-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  struct vg_store *st = open_shards(f->dir, 3);
  assert_int_equal(vg_store_shards(st), 3);
  for (unsigned k = 0; k < 3; k++) { /* the series spread over every shard */
    int n = 0;
    for (int i = 0; i < NSER; i++)
      n += vg_store_shard_of(f->id[i], 3) == k;
    assert_true(n > NSER / 6);
  }
  commit_epoch(f, st, 1, 0, 0);
  commit_epoch(f, st, 2, 0, NSER);
  check_reads(f, st, 2);
  vg_store_close(st);

  /* another count is refused, naming the command; 0 takes the store's */
  struct vg_store_opts o = {.path = f->dir, .shards = 2};
  char err[512];
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "reshard --shards 2"));
  o.shards = 0;
  o.readonly = 1;
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  assert_int_equal(vg_store_shards(st), 3);
  check_reads(f, st, 2);
  vg_store_close(st);

  /* 3 -> 2 -> 1 shards: every row where it belongs, the files beside it */
  char keyfile[128], keep[128];
  snprintf(keyfile, sizeof keyfile, "%s/series.key", f->dir);
  FILE *kf = fopen(keyfile, "w");
  assert_non_null(kf);
  fputs("0123456789abcdef", kf);
  fclose(kf);
  for (unsigned to = 2; to >= 1; to--) {
    assert_int_equal(vg_store_reshard(f->dir, to, 0, NULL, NULL, err, sizeof err), 0);
    st = open_shards(f->dir, to);
    check_reads(f, st, 2);
    vg_store_close(st);
    struct stat sb;
    assert_int_equal(stat(keyfile, &sb), 0);
    assert_int_equal(sb.st_size, 16);
    snprintf(keep, sizeof keep, "%s.pre-reshard-%u", f->dir, to + 1);
    assert_int_equal(stat(keep, &sb), 0);
    st_rmtree(keep);
  }
  assert_int_equal(vg_store_reshard(f->dir, 1, 0, NULL, NULL, err, sizeof err),
                   VG_ECONFIG); /* already */
  st_rmtree(f->dir);
  free(f);
}

static void a_shard_behind_bounds_the_readers(void **state) {
  (void)state;
  struct fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  fixture_keys(f);
  strcpy(f->dir, "/tmp/vigie-shards-XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  struct vg_store *st = open_shards(f->dir, 2);
  commit_epoch(f, st, 1, 0, 0);
  commit_epoch(f, st, 2, 1u << 0, NSER); /* shard 1 did not commit epoch 2 */
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  struct walk w = {.ordered = 1};
  assert_int_equal(vg_store_read_emit(r, 0, on_emit, &w), 0);
  assert_int_equal(w.nemit, NSER); /* epoch 2's records wait for shard 1 */
  struct vg_store_state m;
  assert_int_equal(vg_store_reader_meta(r, &m), 0);
  assert_int_equal(m.epoch, 1);
  assert_int_equal(m.emit_seq, NSER);
  struct vg_store_pos p;
  assert_int_equal(vg_store_position(r, TOPIC, 0, &p), 0);
  assert_int_equal(p.next_offset, 100); /* shard 1's: where reading resumes */
  void *blob;
  size_t len;
  assert_int_equal(vg_store_reader_blob(r, "test", &blob, &len), 0);
  assert_int_equal(len, 7);
  assert_memory_equal(blob, "epoch 1", 7); /* the lowest shard's */
  free(blob);
  vg_store_reader_end(r);
  vg_store_close(st);
  char err[512];
  assert_int_equal(vg_store_reshard(f->dir, 1, 0, NULL, NULL, err, sizeof err),
                   VG_ECONFIG);
  assert_non_null(strstr(err, "shard 1 is at epoch 1"));
  st = open_shards(f->dir, 2); /* untouched */
  vg_store_close(st);
  st_rmtree(f->dir);
  free(f);
}

/* store.shards: auto -- a new store takes new_shards, an existing one keeps
 * its count whatever new_shards says. */
static void auto_count_is_the_stores_own(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-shards-XXXXXX", err[512];
  assert_non_null(mkdtemp(dir));
  struct vg_store_opts o = {.path = dir, .durability = VG_STORE_NOSYNC, .new_shards = 2};
  struct vg_store *st;
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  assert_int_equal(vg_store_shards(st), 2);
  vg_store_close(st);
  o.new_shards = 3;
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  assert_int_equal(vg_store_shards(st), 2);
  vg_store_close(st);
  st_rmtree(dir);
}

int vg_test_store_shards(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(auto_count_is_the_stores_own),
      cmocka_unit_test(three_shards_read_as_one),
      cmocka_unit_test(a_shard_behind_bounds_the_readers),
  };
  return cmocka_run_group_tests_name("store_shards", tests, NULL, NULL);
}
