/* Unit tests of the LMDB store: the epoch commit and its reload, sealing
 * into segments and revisions, range reads across segments and open rows,
 * the series dictionary, positions, the emit log, map growth without losing
 * the epoch, the map limit, retention in bounded transactions, a corrupt
 * segment and a foreign format version reported with clear errors. */
#include <errno.h>
#include <lmdb.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define DAY 86400LL
#define T0  (20000LL * DAY)

struct fx {
  char dir[64];
  struct vg_store *st;
  struct vg_store_opts o;
};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  strcpy(f->dir, "/tmp/vigie-store-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  f->o = (struct vg_store_opts){.path = f->dir, .durability = VG_STORE_NOSYNC};
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  vg_store_close(f->st);
  st_rmtree(f->dir);
  free(f);
  return 0;
}

static void reopen(struct fx *f) {
  char err[256] = "";
  vg_store_close(f->st);
  f->st = NULL;
  int rc = vg_store_open(&f->o, &f->st, err, sizeof err);
  if (rc)
    print_message("open: %s\n", err);
  assert_int_equal(rc, 0);
}

static void commit(struct fx *f, const struct vg_store_epoch *ep) {
  char err[256] = "";
  int rc = vg_store_commit(f->st, ep, err, sizeof err);
  if (rc)
    print_message("commit: %s\n", err);
  assert_int_equal(rc, 0);
}

struct collect {
  struct vg_wentry w[4096];
  size_t n;
  struct vg_store_pos pos[8];
  char topics[8][32];
  size_t npos;
};

static int on_window(const struct vg_wentry *w, void *ctx) {
  struct collect *c = ctx;
  assert_true(c->n < 4096);
  struct vg_wentry *d = &c->w[c->n++];
  *d = *w;
  vg_acc_init(&d->acc);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  return vg_acc_merge(&d->acc, &w->acc, &o);
}

static int on_pos(const struct vg_store_pos *p, void *ctx) {
  struct collect *c = ctx;
  snprintf(c->topics[c->npos], 32, "%s", p->topic);
  c->pos[c->npos] = *p;
  c->pos[c->npos].topic = c->topics[c->npos];
  c->npos++;
  return 0;
}

static void collect_release(struct collect *c) {
  for (size_t i = 0; i < c->n; i++)
    vg_acc_release(&c->w[i].acc);
  c->n = 0;
  c->npos = 0;
}

static int on_emit(const struct vg_store_emit *e, void *ctx) {
  struct vg_store_emit *out = ctx;
  out[e->seq] = *e;
  return 0;
}

static void commit_and_reload(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 1;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  struct vg_wentry w[3];
  st_window(&w[0], 7, VG_RES_BASE, T0, 60, 6, 20, &o, &rng);
  st_window(&w[1], 7, VG_RES_HOUR, T0, 3600, 360, 20, &o, &rng);
  st_window(&w[2], 9, VG_RES_BASE, T0 + 60, 60, 3, 5, &o, &rng);
  w[1].final = 0;
  w[1].emit = 1;
  w[2].revision = 3;
  const struct vg_wentry *open[] = {&w[0], &w[1], &w[2]};
  struct vg_store_series ser[] = {{7, "no2{sensor_id=\"a\"}", 18, 5},
                                  {9, "pm10{sensor_id=\"b\"}", 19, 6}};
  struct vg_store_pos pos[] = {
      {"air", 0, 100, 5000, 1}, {"air", 1, 200, 6000, 2}, {"traffic", 0, 7, 8000, 3}};
  struct vg_store_emit em[] = {{0, 7, VG_RES_BASE, T0, 0},
                               {0, 9, VG_RES_BASE, T0 + 60, 3}};
  struct vg_store_epoch ep = {.epoch = 1,
                              .open = open,
                              .nopen = 3,
                              .series = ser,
                              .nseries = 2,
                              .pos = pos,
                              .npos = 3,
                              .emit = em,
                              .nemit = 2,
                              .watermark_ns = 123456789};
  commit(f, &ep);
  /* the same series again is fine; a clash of key or id is refused */
  ep =
      (struct vg_store_epoch){.epoch = 2, .series = ser, .nseries = 1, .watermark_ns = 2};
  commit(f, &ep);
  struct vg_store_series clash[] = {{8, "no2{sensor_id=\"a\"}", 18, 5}};
  char err[256];
  ep.series = clash;
  ep.epoch = 3;
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "already known as id 7"));
  struct vg_store_series clash2[] = {{9, "other", 5, 5}};
  ep.series = clash2;
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "collision"));

  reopen(f);
  struct collect *c = calloc(1, sizeof *c);
  struct vg_store_state s;
  assert_int_equal(vg_store_load(f->st, on_window, on_pos, c, &s, err, sizeof err), 0);
  assert_int_equal(s.epoch, 2); /* the refused epoch 3 left nothing */
  assert_int_equal(s.watermark_ns, 2);
  assert_int_equal(s.emit_seq, 2);
  assert_int_equal(c->n, 3);
  /* rows of `open` (the hour), then the blocks of base windows (7, 9) */
  static const int order[3] = {1, 0, 2};
  for (int j = 0; j < 3; j++) {
    int i = order[j];
    assert_int_equal(c->w[j].series, w[i].series);
    assert_int_equal(c->w[j].res, w[i].res);
    assert_int_equal(c->w[j].final, w[i].final);
    assert_int_equal(c->w[j].emit, w[i].emit);
    assert_true(vg_acc_equal(&c->w[j].acc, &w[i].acc, 0)); /* full precision */
    assert_true(st_same(&c->w[j], &w[i]));
  }
  assert_int_equal(c->npos, 3);
  assert_string_equal(c->pos[2].topic, "traffic");
  assert_int_equal(c->pos[1].next_offset, 200);
  assert_int_equal(c->pos[1].partition, 1);
  assert_int_equal(c->pos[0].max_event_ns, 5000);
  collect_release(c);
  free(c);

  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  uint64_t id;
  assert_int_equal(vg_store_series_id(r, "pm10{sensor_id=\"b\"}", 19, &id), 0);
  assert_int_equal(id, 9);
  assert_int_equal(vg_store_series_id(r, "nope", 4, &id), VG_ENOTFOUND);
  char key[64];
  size_t klen;
  assert_int_equal(vg_store_series_key(r, 7, key, sizeof key, &klen), 0);
  assert_string_equal(key, "no2{sensor_id=\"a\"}");
  struct vg_store_pos p;
  assert_int_equal(vg_store_position(r, "traffic", 0, &p), 0);
  assert_int_equal(p.next_offset, 7);
  assert_int_equal(vg_store_position(r, "traffic", 1, &p), VG_ENOTFOUND);
  struct vg_store_emit got[2];
  assert_int_equal(vg_store_read_emit(r, 0, on_emit, got), 0);
  assert_int_equal(got[1].series, 9);
  assert_int_equal(got[1].revision, 3);
  assert_int_equal(got[1].start, T0 + 60);
  vg_store_reader_end(r);
  /* the publication layer published record 0: trim it */
  size_t trimmed;
  assert_int_equal(vg_store_trim_emit(f->st, 1, 100, &trimmed, err, sizeof err), 0);
  assert_int_equal(trimmed, 1);
  memset(got, 0, sizeof got);
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_store_read_emit(r, 0, on_emit, got), 0);
  assert_int_equal(got[0].series, 0); /* gone */
  assert_int_equal(got[1].series, 9);
  vg_store_reader_end(r);
  assert_int_equal(vg_store_stat(f->st, &(struct vg_store_stat){0}), 0);
  for (int i = 0; i < 3; i++)
    vg_acc_release(&w[i].acc);
}

struct range {
  int64_t starts[10000];
  uint32_t rev[10000];
  uint64_t count[10000];
  size_t n;
};

static int on_range(const struct vg_wentry *w, void *ctx) {
  struct range *r = ctx;
  r->starts[r->n] = w->start;
  r->rev[r->n] = w->revision;
  r->count[r->n] = w->acc.st.count;
  r->n++;
  return 0;
}

/* Windows sealed over three day spans, one revised, two still open (one
 * of them both sealed and open): a range read walks them in order. */
static void seal_revise_and_read(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 5;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { N = 3 * 1440 };
  struct vg_wentry *w = calloc(N, sizeof *w);
  const struct vg_wentry **p = calloc(N, sizeof *p);
  for (int i = 0; i < N; i++) {
    st_window(&w[i], 11, VG_RES_BASE, T0 + i * 60LL, 60, 6, 20, &o, &rng);
    p[i] = &w[i];
  }
  /* epoch 1: everything open; epoch 2: seal all but the last 10 (in two
   * halves to exercise the merge), keep window 100 open as well */
  struct vg_store_epoch ep = {.epoch = 1, .open = p, .nopen = N};
  commit(f, &ep);
  ep = (struct vg_store_epoch){
      .epoch = 2, .sealed = p + 2000, .nsealed = N - 10 - 2000, .flush = 1};
  commit(f, &ep);
  ep = (struct vg_store_epoch){
      .epoch = 3, .sealed = p, .nsealed = 2000, .open = p + 100, .nopen = 1, .flush = 1};
  commit(f, &ep);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, 3);
  /* a sealed window is not the writer's state any more (final windows are
   * never restored): only the 10 never sealed and window 100, listed open
   * too, stay kept */
  assert_int_equal(ss.open_windows, 11);
  /* evicting the sealed ones (but window 100) changes nothing then */
  struct vg_store_wkey *ev = calloc(N, sizeof *ev);
  size_t nev = 0;
  for (int i = 0; i < N - 10; i++)
    if (i != 100)
      ev[nev++] = (struct vg_store_wkey){11, VG_RES_BASE, T0 + i * 60LL};
  ep = (struct vg_store_epoch){.epoch = 4, .evict = ev, .nevict = nev};
  commit(f, &ep);
  free(ev);
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, 11);
  /* a revision of window 500 after it was sealed */
  struct vg_wentry rev;
  st_window(&rev, 11, VG_RES_BASE, T0 + 500 * 60, 60, 9, 20, &o, &rng);
  rev.revision = 1;
  const struct vg_wentry *rp = &rev;
  ep = (struct vg_store_epoch){.epoch = 5, .sealed = &rp, .nsealed = 1};
  commit(f, &ep);

  struct range *r = calloc(1, sizeof *r);
  struct vg_store_reader *rd;
  char err[256];
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  assert_int_equal(vg_store_read_range(rd, 11, VG_RES_BASE, T0, T0 + 3 * DAY, on_range, r,
                                       err, sizeof err),
                   0);
  assert_int_equal(r->n, N);
  for (int i = 0; i < N; i++) {
    assert_int_equal(r->starts[i], T0 + i * 60LL);
    assert_int_equal(r->count[i], i == 500 ? 9 : 6);
    assert_int_equal(r->rev[i], i == 500 ? 1 : 0);
  }
  /* a sub-range starting mid-span; other series and resolutions are empty */
  r->n = 0;
  assert_int_equal(vg_store_read_range(rd, 11, VG_RES_BASE, T0 + 1500 * 60,
                                       T0 + 1510 * 60, on_range, r, err, sizeof err),
                   0);
  assert_int_equal(r->n, 10);
  assert_int_equal(r->starts[0], T0 + 1500 * 60);
  r->n = 0;
  assert_int_equal(vg_store_read_range(rd, 11, VG_RES_HOUR, T0, T0 + 3 * DAY, on_range, r,
                                       err, sizeof err),
                   0);
  assert_int_equal(vg_store_read_range(rd, 12, VG_RES_BASE, T0, T0 + 3 * DAY, on_range, r,
                                       err, sizeof err),
                   0);
  assert_int_equal(r->n, 0);
  vg_store_reader_end(rd);
  free(r);
  vg_acc_release(&rev.acc);
  for (int i = 0; i < N; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
}

/* Reads series 0's base windows of [from, to) into r; checks they are the
 * n windows starting at from, one a minute. */
static void read_minutes(struct fx *f, struct range *r, int64_t from, int64_t to,
                         size_t n) {
  char err[256];
  struct vg_store_reader *rd;
  r->n = 0;
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  assert_int_equal(
      vg_store_read_range(rd, 0, VG_RES_BASE, from, to, on_range, r, err, sizeof err), 0);
  vg_store_reader_end(rd);
  assert_int_equal(r->n, n);
  for (size_t j = 0; j < n; j++)
    assert_int_equal(r->starts[j], from + (int64_t)j * 60);
}

static void stat_is(struct fx *f, uint64_t segments, uint64_t open_windows) {
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, segments);
  assert_int_equal(ss.open_windows, open_windows);
}

/* The writer seals one base window per epoch, as the watermark moves:
 * windows wait in their hour's block until the last window of the UTC day
 * goes final, then the day is written into its segment in one write, and
 * kept windows stay open; readers see every window throughout; evicting
 * drops what is in the segment; a day left with pending windows is flushed
 * once the watermark passes its end. */
static void sealing_in_batches(void **state) {
  struct fx *f = *state;
  /* series 0: its flush phase is 0, so the boundary is the UTC day */
  reopen(f);
  uint64_t rng = 6;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { N = 150 };
  struct vg_wentry w[N + 11];
  struct range *r = calloc(1, sizeof *r);
  char err[256];
  for (int i = 0; i < N; i++) {
    st_window(&w[i], 0, VG_RES_BASE, T0 + i * 60LL, 60, 6, 20, &o, &rng);
    const struct vg_wentry *p = &w[i];
    /* the writer holds windows 100.. (kept open), the older ones only sealed */
    struct vg_store_epoch ep = {.epoch = (uint64_t)i + 1,
                                .sealed = &p,
                                .nsealed = 1,
                                .open = i >= 100 ? &p : NULL,
                                .nopen = i >= 100};
    commit(f, &ep);
    stat_is(f, 0, (uint64_t)i + 1);
    if (i % 37 == 0 || i == N - 1)
      read_minutes(f, r, T0, T0 + DAY, (size_t)i + 1);
  }
  /* the writer's state: only the kept windows 100..149 */
  struct collect *c = calloc(1, sizeof *c);
  struct vg_store_state s;
  assert_int_equal(vg_store_load(f->st, on_window, NULL, c, &s, err, sizeof err), 0);
  assert_int_equal(c->n, 50);
  assert_int_equal(c->w[0].start, T0 + 100 * 60);
  collect_release(c);
  /* the day's last minute goes final: the day goes into its segment in
   * that epoch, the kept windows stay */
  st_window(&w[N], 0, VG_RES_BASE, T0 + DAY - 60, 60, 6, 20, &o, &rng);
  const struct vg_wentry *last = &w[N];
  struct vg_store_epoch ep = {.epoch = N + 1, .sealed = &last, .nsealed = 1};
  commit(f, &ep);
  stat_is(f, 1, 50);
  assert_int_equal(vg_store_load(f->st, on_window, NULL, c, &s, err, sizeof err), 0);
  assert_int_equal(c->n, 50);
  collect_release(c);
  free(c);
  read_minutes(f, r, T0, T0 + N * 60, N);
  /* evict 100..149: in the segment, so they leave */
  struct vg_store_wkey ev[50];
  for (int i = 0; i < 50; i++)
    ev[i] = (struct vg_store_wkey){0, VG_RES_BASE, T0 + (100 + i) * 60LL};
  ep = (struct vg_store_epoch){.epoch = N + 2, .evict = ev, .nevict = 50};
  commit(f, &ep);
  assert_int_equal(vg_store_load(f->st, NULL, NULL, NULL, &s, err, sizeof err), 0);
  assert_int_equal(s.nopen, 0);
  stat_is(f, 1, 0);
  read_minutes(f, r, T0, T0 + N * 60, N);
  /* the next day: ten sealed windows wait; the day is not over: nothing to
   * flush; once it is, they go */
  for (int i = 0; i < 10; i++) {
    st_window(&w[N + 1 + i], 0, VG_RES_BASE, T0 + DAY + i * 60LL, 60, 6, 20, &o, &rng);
    const struct vg_wentry *p = &w[N + 1 + i];
    ep =
        (struct vg_store_epoch){.epoch = N + 3 + (uint64_t)i, .sealed = &p, .nsealed = 1};
    commit(f, &ep);
  }
  stat_is(f, 1, 10);
  size_t flushed;
  int more;
  assert_int_equal(vg_store_flush(f->st, (T0 + 2 * DAY - 1) * 1000000000LL, 1000, 10,
                                  &flushed, &more, err, sizeof err),
                   0);
  assert_int_equal(flushed, 0);
  assert_int_equal(more, 0);
  assert_int_equal(vg_store_flush(f->st, (T0 + 2 * DAY) * 1000000000LL, 7, 100, &flushed,
                                  &more, err, sizeof err),
                   0);
  assert_int_equal(flushed, 1);
  stat_is(f, 2, 0);
  read_minutes(f, r, T0 + DAY, T0 + 2 * DAY, 10);
  for (int i = 0; i < N + 11; i++)
    vg_acc_release(&w[i].acc);
  free(r);
}

/* An epoch big enough for the commit's bucketed sort (thousands of windows
 * of hundreds of series, handed in a shuffled order): every window lands in
 * its series' blocks and reads back in time order (debug builds also check
 * the sort itself). */
static void big_shuffled_epoch(void **state) {
  struct fx *f = *state;
  reopen(f);
  enum { S = 300, M = 40, N = S * M };
  uint64_t rng = 11;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry *w = calloc(N, sizeof *w);
  const struct vg_wentry **p = calloc(N, sizeof *p);
  for (int i = 0; i < N; i++) {
    /* series ids spread over the whole 64-bit range, as keyed hashes are */
    uint64_t series = (uint64_t)(i / M + 1) * 0x9e3779b97f4a7c15ULL;
    st_window(&w[i], series, VG_RES_BASE, T0 + (i % M) * 60LL, 60, 2, 20, &o, &rng);
    p[i] = &w[i];
  }
  for (int i = N - 1; i > 0; i--) { /* Fisher-Yates with the test's rng */
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    int j = (int)((rng >> 33) % (uint64_t)(i + 1));
    const struct vg_wentry *t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  struct vg_store_epoch ep = {.epoch = 1, .open = p, .nopen = N};
  commit(f, &ep);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, N);
  struct range *r = calloc(1, sizeof *r);
  char err[256];
  struct vg_store_reader *rd;
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  for (int s = 0; s < S; s += 37) {
    r->n = 0;
    uint64_t series = (uint64_t)(s + 1) * 0x9e3779b97f4a7c15ULL;
    assert_int_equal(vg_store_read_range(rd, series, VG_RES_BASE, T0, T0 + DAY, on_range,
                                         r, err, sizeof err),
                     0);
    assert_int_equal(r->n, M);
    for (int m = 0; m < M; m++)
      assert_int_equal(r->starts[m], T0 + m * 60LL);
  }
  vg_store_reader_end(rd);
  for (int i = 0; i < N; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
  free(r);
}

/* A tiny map grows while the epoch is replayed; a map limit is a clear
 * VG_EFULL and leaves the committed state intact. */
static void map_growth_and_limit(void **state) {
  struct fx *f = *state;
  f->o.map_size = 128 << 10;
  f->o.map_max = 64 << 20;
  reopen(f);
  uint64_t rng = 9;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { N = 20000 };
  struct vg_wentry *w = calloc(N, sizeof *w);
  const struct vg_wentry **p = calloc(N, sizeof *p);
  for (int i = 0; i < N; i++) {
    st_window(&w[i], (uint64_t)i, VG_RES_BASE, T0, 60, 2, 20, &o, &rng);
    p[i] = &w[i];
  }
  struct vg_store_epoch ep = {.epoch = 1, .open = p, .nopen = N, .watermark_ns = 1};
  commit(f, &ep);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_true(ss.map_bytes > (128 << 10));
  assert_int_equal(ss.open_windows, N);

  f->o.map_max = ss.map_bytes; /* no more growth */
  reopen(f);
  for (int i = 0; i < N; i++)
    w[i].series += N;
  ep.epoch = 2;
  int full = 0;
  for (int k = 0; k < 10 && !full; k++) { /* until the map is full */
    char err[256];
    int rc = vg_store_commit(f->st, &ep, err, sizeof err);
    if (rc == 0) {
      for (int i = 0; i < N; i++)
        w[i].series += N;
      continue;
    }
    assert_int_equal(rc, VG_EFULL);
    assert_non_null(strstr(err, "map is full"));
    assert_non_null(strstr(err, "nothing of this epoch was written"));
    full = 1;
  }
  assert_true(full);
  struct vg_store_state s;
  char err[256];
  uint64_t before = ss.open_windows;
  assert_int_equal(vg_store_load(f->st, NULL, NULL, NULL, &s, err, sizeof err), 0);
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows % N, 0); /* whole epochs only */
  assert_true(ss.open_windows >= before);
  for (int i = 0; i < N; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
}

/* Retention drops segments whose span ended before watermark - retention,
 * a few per transaction, resuming where it stopped. */
static void retention_in_small_transactions(void **state) {
  struct fx *f = *state;
  f->o.retention_s[VG_RES_BASE] = 14 * DAY;
  reopen(f);
  uint64_t rng = 3;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { DAYS = 30, SER = 5 };
  struct vg_wentry w[DAYS * SER + 1];
  const struct vg_wentry *p[DAYS * SER + 1];
  size_t n = 0;
  for (int s = 0; s < SER; s++)
    for (int d = 0; d < DAYS; d++) {
      st_window(&w[n], (uint64_t)s, VG_RES_BASE, T0 + d * DAY, 60, 1, 1, &o, &rng);
      p[n] = &w[n];
      n++;
    }
  st_window(&w[n], 1, VG_RES_HOUR, T0, 3600, 1, 1, &o, &rng); /* kept forever */
  p[n] = &w[n];
  n++;
  struct vg_store_epoch ep = {.epoch = 1, .sealed = p, .nsealed = n, .flush = 1};
  commit(f, &ep);
  int64_t wm = (T0 + DAYS * DAY) * 1000000000LL; /* keeps days 16..29 */
  size_t total = 0, del;
  int more = 1, rounds = 0;
  char err[256];
  while (more) {
    assert_int_equal(vg_store_retain(f->st, wm, 7, 1, &del, &more, err, sizeof err), 0);
    assert_true(del <= 7);
    total += del;
    assert_true(++rounds < 100);
  }
  assert_int_equal(total, SER * 16);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, SER * (DAYS - 16) + 1);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
}

/* Retention and flushing take the watermark in whole seconds the same way,
 * rounded down: half a second before a span is due, a watermark before 1970
 * (negative) must not expire it (retention truncated toward zero, one
 * second late). */
static void retention_floors_the_watermark(void **state) {
  struct fx *f = *state;
  f->o.retention_s[VG_RES_BASE] = DAY;
  reopen(f);
  uint64_t rng = 9;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w;
  const struct vg_wentry *p = &w;
  st_window(&w, 7, VG_RES_BASE, -3 * DAY, 60, 1, 1, &o, &rng); /* span [-3d, -2d) */
  struct vg_store_epoch ep = {.epoch = 1, .sealed = &p, .nsealed = 1, .flush = 1};
  commit(f, &ep);
  size_t del;
  int more;
  char err[256];
  /* expires once the watermark reaches -2d + 1d = -1d */
  int64_t wm = -DAY * 1000000000LL - 500000000;
  assert_int_equal(vg_store_retain(f->st, wm, 100, 10, &del, &more, err, sizeof err), 0);
  assert_int_equal(del, 0);
  wm = -DAY * 1000000000LL;
  assert_int_equal(vg_store_retain(f->st, wm, 100, 10, &del, &more, err, sizeof err), 0);
  assert_int_equal(del, 1);
  vg_acc_release(&w.acc);
}

/* The snapshot's state (vg_store_reader_meta). */
static struct vg_store_state snapshot_state(struct fx *f) {
  struct vg_store_reader *r;
  struct vg_store_state m;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  assert_int_equal(vg_store_reader_meta(r, &m), 0);
  vg_store_reader_end(r);
  return m;
}

/* meta "data_epoch" is the last epoch that wrote windows (the API's ETags
 * of provisional datasets and its answer cache follow it): an epoch that
 * writes only positions leaves it, one with an open or a sealed window moves
 * it; a new store reads 0. */
static void data_epoch_follows_windows(void **state) {
  struct fx *f = *state;
  reopen(f);
  assert_int_equal(snapshot_state(f).data_epoch, 0);
  uint64_t rng = 3;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w[2];
  const struct vg_wentry *p[2] = {&w[0], &w[1]};
  st_window(&w[0], 1, VG_RES_BASE, T0, 60, 1, 1, &o, &rng);
  st_window(&w[1], 2, VG_RES_BASE, T0, 60, 1, 1, &o, &rng);
  struct vg_store_pos pos = {.topic = "t", .partition = 0, .next_offset = 10};
  struct vg_store_epoch ep = {.epoch = 1, .open = p, .nopen = 1, .pos = &pos, .npos = 1};
  commit(f, &ep);
  assert_int_equal(snapshot_state(f).data_epoch, 1);
  for (uint64_t e = 2; e <= 4; e++) { /* idle: positions only */
    pos.next_offset++;
    ep = (struct vg_store_epoch){.epoch = e, .pos = &pos, .npos = 1};
    commit(f, &ep);
  }
  struct vg_store_state m = snapshot_state(f);
  assert_int_equal(m.epoch, 4);
  assert_int_equal(m.data_epoch, 1);
  ep = (struct vg_store_epoch){.epoch = 5, .sealed = p + 1, .nsealed = 1, .flush = 1};
  commit(f, &ep);
  assert_int_equal(snapshot_state(f).data_epoch, 5);
  reopen(f);
  assert_int_equal(snapshot_state(f).data_epoch, 5);
  vg_acc_release(&w[0].acc);
  vg_acc_release(&w[1].acc);
}

/* The retention generation of the snapshot. */
static uint64_t retain_gen(struct fx *f) {
  return snapshot_state(f).retain_gen;
}

/* Retention changes neither the epoch nor the emit log, so every
 * transaction that deletes segments moves meta "retain_gen" by one
 * (publication's ETags follow it); a pass that deletes nothing leaves it,
 * it survives a reopen, and a store without the key reads 0. */
static void retention_moves_its_generation(void **state) {
  struct fx *f = *state;
  f->o.retention_s[VG_RES_BASE] = 14 * DAY;
  reopen(f);
  assert_int_equal(retain_gen(f), 0); /* a new store has no key yet */
  uint64_t rng = 5;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { DAYS = 20, SER = 3 };
  struct vg_wentry w[DAYS * SER];
  const struct vg_wentry *p[DAYS * SER];
  size_t n = 0;
  for (int s = 0; s < SER; s++)
    for (int d = 0; d < DAYS; d++) {
      st_window(&w[n], (uint64_t)s + 1, VG_RES_BASE, T0 + d * DAY, 60, 1, 1, &o, &rng);
      p[n] = &w[n];
      n++;
    }
  struct vg_store_epoch ep = {
      .epoch = 1, .sealed = p, .nsealed = n, .flush = 1, .watermark_ns = INT64_MIN};
  commit(f, &ep);
  size_t del;
  int more;
  char err[256];
  /* the watermark at day 6: no span ended 14 days before it, nothing moves */
  int64_t wm = (T0 + 6 * DAY) * 1000000000LL;
  assert_int_equal(vg_store_retain(f->st, wm, 100, 10, &del, &more, err, sizeof err), 0);
  assert_int_equal(del, 0);
  assert_int_equal(more, 0);
  assert_int_equal(retain_gen(f), 0);
  /* the watermark at day 20 expires days 0..5 of each series (18 spans):
   * 4 per transaction, one transaction per call, each call moves it by 1 */
  wm = (T0 + DAYS * DAY) * 1000000000LL;
  size_t total = 0;
  uint64_t calls_that_deleted = 0;
  more = 1;
  for (int rounds = 0; more; rounds++) {
    assert_true(rounds < 100);
    uint64_t before = retain_gen(f);
    assert_int_equal(vg_store_retain(f->st, wm, 4, 1, &del, &more, err, sizeof err), 0);
    assert_int_equal(retain_gen(f), before + (del > 0));
    calls_that_deleted += del > 0;
    total += del;
  }
  assert_int_equal(total, SER * 6);
  assert_true(calls_that_deleted >= (SER * 6 + 3) / 4);
  uint64_t gen = retain_gen(f);
  assert_int_equal(gen, calls_that_deleted);
  /* a whole pass with nothing left to delete leaves it */
  assert_int_equal(vg_store_retain(f->st, wm, 100, 10, &del, &more, err, sizeof err), 0);
  assert_int_equal(del, 0);
  assert_int_equal(retain_gen(f), gen);
  /* an epoch does not touch it; the load reports it; a reopen keeps it */
  struct vg_store_epoch ep2 = {.epoch = 2, .watermark_ns = wm};
  commit(f, &ep2);
  reopen(f);
  struct vg_store_state s;
  assert_int_equal(vg_store_load(f->st, NULL, NULL, NULL, &s, err, sizeof err), 0);
  assert_int_equal(s.retain_gen, gen);
  assert_int_equal(s.epoch, 2);
  assert_int_equal(retain_gen(f), gen);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
}

/* Opens the store's LMDB environment directly (the store closed). */
static MDB_env *raw_env(struct fx *f) {
  vg_store_close(f->st);
  f->st = NULL;
  MDB_env *env;
  assert_int_equal(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 10);
  assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
  return env;
}

/* Damages, behind the store's back, the first row of its sub-database db:
 * damage() changes the row's bytes in place and returns its new length.
 * The store is reopened after. */
static void damage_first_row(struct fx *f, const char *db,
                             size_t (*damage)(uint8_t *row, size_t len)) {
  MDB_env *env = raw_env(f);
  MDB_txn *txn;
  MDB_dbi dbi, meta;
  MDB_cursor *cur;
  MDB_val k, v;
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
  assert_int_equal(mdb_cursor_open(txn, dbi, &cur), 0);
  assert_int_equal(mdb_cursor_get(cur, &k, &v, MDB_FIRST), 0);
  uint8_t *copy = malloc(v.mv_size);
  memcpy(copy, v.mv_data, v.mv_size);
  MDB_val nv = {damage(copy, v.mv_size), copy};
  assert_int_equal(mdb_cursor_put(cur, &k, &nv, MDB_CURRENT), 0);
  mdb_cursor_close(cur);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  free(copy);
  reopen(f);
}

/* Loading the store fails with VG_ECORRUPT; err says why. */
static void load_is_corrupt(struct fx *f, char *err, size_t errsize) {
  struct vg_store_state s;
  assert_int_equal(vg_store_load(f->st, NULL, NULL, NULL, &s, err, errsize), VG_ECORRUPT);
  print_message("expected error: %s\n", err);
}

static size_t flip_middle_bit(uint8_t *row, size_t len) {
  row[len / 2] ^= 0x10;
  return len;
}

/* Damages one stored segment behind the store's back: the range read fails
 * with VG_ECORRUPT naming the series and the span; other series read. */
static void corrupt_segment_is_reported(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 4;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w[2];
  st_window(&w[0], 21, VG_RES_HOUR, T0, 3600, 60, 20, &o, &rng);
  st_window(&w[1], 22, VG_RES_HOUR, T0, 3600, 60, 20, &o, &rng);
  const struct vg_wentry *p[] = {&w[0], &w[1]};
  struct vg_store_series ser[] = {{21, "noise{sensor_id=\"n1\"}", 21, 0}};
  struct vg_store_epoch ep = {
      .epoch = 1, .sealed = p, .nsealed = 2, .series = ser, .nseries = 1, .flush = 1};
  commit(f, &ep);
  damage_first_row(f, "seg", flip_middle_bit); /* series 21 */
  struct range *r = calloc(1, sizeof *r);
  struct vg_store_reader *rd;
  char err[512];
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  assert_int_equal(vg_store_read_range(rd, 21, VG_RES_HOUR, T0, T0 + DAY, on_range, r,
                                       err, sizeof err),
                   VG_ECORRUPT);
  print_message("expected error: %s\n", err);
  assert_non_null(strstr(err, "noise{sensor_id=\"n1\"}"));
  assert_non_null(strstr(err, "resolution 1h"));
  assert_non_null(strstr(err, "2024-09-14T00:00:00Z"));
  assert_int_equal(r->n, 0);
  assert_int_equal(vg_store_read_range(rd, 22, VG_RES_HOUR, T0, T0 + DAY, on_range, r,
                                       err, sizeof err),
                   0);
  assert_int_equal(r->n, 1);
  vg_store_reader_end(rd);
  /* sealing into the damaged segment fails the epoch, naming it */
  ep = (struct vg_store_epoch){.epoch = 2, .sealed = p, .nsealed = 1, .flush = 1};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), VG_ECORRUPT);
  assert_non_null(strstr(err, "noise{sensor_id=\"n1\"}"));
  free(r);
  vg_acc_release(&w[0].acc);
  vg_acc_release(&w[1].acc);
}

static size_t damage_stats_and_truncate(uint8_t *row, size_t len) {
  row[20] = 0xee; /* inside the accumulator's stats encoding */
  return len - 3; /* and truncated */
}

static size_t count_three_of_two(uint8_t *row, size_t len) {
  row[1] = 3; /* three windows said, two there */
  return len;
}

/* A damaged open row stops the reload with an error naming the window. */
static void corrupt_open_row_is_reported(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 2;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w;
  st_window(&w, 77, VG_RES_HOUR, T0, 3600, 6, 20, &o, &rng);
  const struct vg_wentry *p = &w;
  struct vg_store_epoch ep = {.epoch = 1, .open = &p, .nopen = 1};
  commit(f, &ep);
  damage_first_row(f, "open", damage_stats_and_truncate);
  char err[256];
  load_is_corrupt(f, err, sizeof err);
  assert_non_null(strstr(err, "series 77"));
  assert_non_null(strstr(err, "starting at 2024-10-04T00:00:00Z"));
  vg_acc_release(&w.acc);
}

/* A damaged block of base windows is reported by load and by reads, naming
 * the series and the hour. */
static void corrupt_block_is_reported(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 3;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w[2];
  st_window(&w[0], 78, VG_RES_BASE, T0 + 3600, 60, 6, 20, &o, &rng);
  st_window(&w[1], 78, VG_RES_BASE, T0 + 3660, 60, 6, 20, &o, &rng);
  const struct vg_wentry *p[] = {&w[0], &w[1]};
  struct vg_store_epoch ep = {.epoch = 1, .open = p, .nopen = 2};
  commit(f, &ep);
  damage_first_row(f, "blk", count_three_of_two);
  char err[256];
  load_is_corrupt(f, err, sizeof err);
  assert_non_null(strstr(err, "series 78"));
  assert_non_null(strstr(err, "hour starting at 2024-10-04T01:00:00Z"));
  struct range *r = calloc(1, sizeof *r);
  struct vg_store_reader *rd;
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  assert_int_equal(vg_store_read_range(rd, 78, VG_RES_BASE, T0, T0 + DAY, on_range, r,
                                       err, sizeof err),
                   VG_ECORRUPT);
  vg_store_reader_end(rd);
  assert_non_null(strstr(err, "series 78"));
  free(r);
  vg_acc_release(&w[0].acc);
  vg_acc_release(&w[1].acc);
}

/* A store of format 1 kept base windows in `open`, one row each: a
 * read-only process reads it as it is, and the writer's open packs them
 * into blocks (format 2) with their flags. */
static void format_1_is_upgraded(void **state) {
  struct fx *f = *state;
  reopen(f);
  uint64_t rng = 4;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  enum { N = 90 };
  struct vg_wentry w[N];
  for (int i = 0; i < N; i++)
    st_window(&w[i], 5, VG_RES_BASE, T0 + i * 60LL, 60, 6, 20, &o, &rng);
  MDB_env *env = raw_env(f);
  MDB_txn *txn;
  MDB_dbi open, meta, blk;
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "open", 0, &open), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  assert_int_equal(mdb_dbi_open(txn, "blk", 0, &blk), 0);
  assert_int_equal(mdb_drop(txn, blk, 1), 0); /* format 1 had no blocks */
  for (int i = 0; i < N; i++) {
    /* the format 1 row: key (series, res, start), version, flags, revision,
     * end, accumulator; the first 60 kept, the others final and pending */
    uint8_t key[17], val[512];
    for (int b = 0; b < 8; b++) {
      key[b] = (uint8_t)(5ULL >> (56 - 8 * b));
      key[9 + b] =
          (uint8_t)(((uint64_t)w[i].start ^ 0x8000000000000000ULL) >> (56 - 8 * b));
    }
    key[8] = VG_RES_BASE;
    val[0] = 1;
    val[1] = i < 60 ? 8 : 1 | 4;
    memset(val + 2, 0, 4);
    for (int b = 0; b < 8; b++)
      val[6 + b] = (uint8_t)((uint64_t)w[i].end >> (8 * b));
    size_t used;
    assert_int_equal(vg_acc_encode(&w[i].acc, val + 14, sizeof val - 14, &used), 0);
    MDB_val k = {17, key}, v = {14 + used, val};
    assert_int_equal(mdb_put(txn, open, &k, &v, 0), 0);
  }
  uint8_t one[8] = {1};
  MDB_val fk = {6, "format"}, fv = {8, one};
  assert_int_equal(mdb_put(txn, meta, &fk, &fv, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  /* read-only: the rows as they are */
  struct vg_store_opts ro = {.path = f->dir, .readonly = 1};
  struct vg_store *rst;
  char err[256];
  struct range *r = calloc(1, sizeof *r);
  assert_int_equal(vg_store_open(&ro, &rst, err, sizeof err), 0);
  struct vg_store_reader *rd;
  assert_int_equal(vg_store_reader_begin(rst, &rd), 0);
  assert_int_equal(
      vg_store_read_range(rd, 5, VG_RES_BASE, T0, T0 + DAY, on_range, r, err, sizeof err),
      0);
  vg_store_reader_end(rd);
  vg_store_close(rst);
  assert_int_equal(r->n, N);
  /* the writer upgrades: 90 windows in two blocks, none left in `open` */
  reopen(f);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, N);
  struct collect *c = calloc(1, sizeof *c);
  struct vg_store_state s;
  assert_int_equal(vg_store_load(f->st, on_window, NULL, c, &s, err, sizeof err), 0);
  assert_int_equal(c->n, 60); /* the kept ones */
  for (int i = 0; i < 60; i++) {
    assert_int_equal(c->w[i].start, w[i].start);
    assert_true(vg_acc_equal(&c->w[i].acc, &w[i].acc, 0));
  }
  collect_release(c);
  free(c);
  r->n = 0;
  assert_int_equal(vg_store_reader_begin(f->st, &rd), 0);
  assert_int_equal(
      vg_store_read_range(rd, 5, VG_RES_BASE, T0, T0 + DAY, on_range, r, err, sizeof err),
      0);
  vg_store_reader_end(rd);
  assert_int_equal(r->n, N);
  for (int i = 0; i < N; i++)
    assert_int_equal(r->starts[i], T0 + i * 60LL);
  /* the pending ones go into their segment once the day is over */
  size_t flushed;
  assert_int_equal(vg_store_flush(f->st, (T0 + DAY) * 1000000000LL, 1000, 10, &flushed,
                                  NULL, err, sizeof err),
                   0);
  assert_int_equal(flushed, 1);
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.open_windows, 60);
  assert_int_equal(ss.segments, 1);
  env = raw_env(f);
  assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "open", 0, &open), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &meta), 0);
  MDB_stat ms;
  assert_int_equal(mdb_stat(txn, open, &ms), 0);
  assert_int_equal(ms.ms_entries, 0);
  assert_int_equal(mdb_get(txn, meta, &fk, &fv), 0);
  assert_int_equal(((const uint8_t *)fv.mv_data)[0], VG_STORE_FORMAT);
  mdb_txn_abort(txn);
  mdb_env_close(env);
  free(r);
  for (int i = 0; i < N; i++)
    vg_acc_release(&w[i].acc);
}

static void foreign_format_is_refused(void **state) {
  struct fx *f = *state;
  reopen(f);
  MDB_env *env = raw_env(f);
  MDB_txn *txn;
  MDB_dbi dbi;
  assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
  assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
  uint8_t v[8] = {99};
  MDB_val k = {6, "format"}, val = {8, v};
  assert_int_equal(mdb_put(txn, dbi, &k, &val, 0), 0);
  assert_int_equal(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
  char err[256];
  assert_int_equal(vg_store_open(&f->o, &f->st, err, sizeof err), VG_EVERSION);
  assert_non_null(strstr(err, "format version 99"));
  assert_null(f->st);
}

/* A read-only process opens the store the writer keeps open and reads. */
static void readonly_process_reads(void **state) {
  struct fx *f = *state;
  reopen(f);
  struct vg_store_pos pos[] = {{"air", 3, 42, 1, 1}};
  struct vg_store_epoch ep = {.epoch = 1, .pos = pos, .npos = 1};
  commit(f, &ep);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    struct vg_store *ro;
    struct vg_store_opts o = {.path = f->dir, .readonly = 1};
    char err[256];
    if (vg_store_open(&o, &ro, err, sizeof err))
      _exit(1);
    struct vg_store_reader *r;
    struct vg_store_pos p;
    int ok = vg_store_reader_begin(ro, &r) == 0 &&
             vg_store_position(r, "air", 3, &p) == 0 && p.next_offset == 42;
    vg_store_reader_end(r);
    ok = ok && vg_store_commit(ro, &ep, err, sizeof err) == VG_ECONFIG &&
         strcmp(err, "cannot commit: the store is read-only") == 0;
    /* every writer call says so in the same words */
    ok = ok && vg_store_flush(ro, 0, 10, 1, NULL, NULL, err, sizeof err) == VG_ECONFIG &&
         strcmp(err, "cannot flush: the store is read-only") == 0;
    ok = ok && vg_store_retain(ro, 0, 10, 1, NULL, NULL, err, sizeof err) == VG_ECONFIG &&
         strcmp(err, "cannot apply retention: the store is read-only") == 0;
    ok = ok && vg_store_trim_emit(ro, 1, 10, NULL, err, sizeof err) == VG_ECONFIG &&
         strcmp(err, "cannot trim: the store is read-only") == 0;
    ok = ok && vg_store_put_blob(ro, "b", "x", 1, err, sizeof err) == VG_ECONFIG &&
         strcmp(err, "cannot write: the store is read-only") == 0;
    vg_store_close(ro);
    _exit(ok ? 0 : 2);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
  int dead = -1, stale = -1;
  assert_int_equal(vg_store_reader_check(f->st, &dead), 0);
  assert_true(dead >= 0);
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(f->st, &r), 0);
  for (int i = 0; i < 3; i++) {
    ep.epoch++;
    commit(f, &ep);
  }
  assert_int_equal(vg_store_stale_readers(f->st, 1, &stale), 0);
  assert_int_equal(stale, 1); /* our reader is 3 commits behind */
  vg_store_reader_end(r);
  assert_int_equal(vg_store_stale_readers(f->st, 1, &stale), 0);
  assert_int_equal(stale, 0);
}

/* A full disk, simulated by a file size limit (RLIMIT_FSIZE) in a child
 * process: the map is given its disk blocks when it is set, so the disk
 * fills up when the map grows; the commit fails with a clear error and
 * writes nothing, the committed state stays, and the same epoch commits once
 * space returns. */
static int disk_full_child(const char *dir) {
  struct vg_store_opts o = {.path = dir, .map_size = 1 << 20};
  struct vg_store *st;
  char err[256];
  if (vg_store_open(&o, &st, err, sizeof err))
    return 10;
  signal(SIGXFSZ, SIG_IGN); /* writes past the limit fail with EFBIG instead */
  struct rlimit rl;
  getrlimit(RLIMIT_FSIZE, &rl);
  struct rlimit small = {3 << 20, rl.rlim_max}; /* the map grows to 2 MiB, not 4 */
  if (setrlimit(RLIMIT_FSIZE, &small))
    return 11;
  uint64_t rng = 8;
  struct vg_acc_opts ao = VG_ACC_OPTS_DEFAULT;
  enum { N = 5000 };
  static struct vg_wentry w[N];
  static const struct vg_wentry *p[N];
  uint64_t e, committed = 0;
  int rc = 0;
  for (e = 1; e < 100; e++) {
    for (int i = 0; i < N; i++) {
      st_window(&w[i], e * N + (uint64_t)i, VG_RES_BASE, T0, 60, 1, 1, &ao, &rng);
      p[i] = &w[i];
    }
    struct vg_store_pos pos = {"air", 0, (int64_t)e, 0, 0};
    struct vg_store_epoch ep = {
        .epoch = e, .open = p, .nopen = N, .pos = &pos, .npos = 1};
    rc = vg_store_commit(st, &ep, err, sizeof err);
    if (rc) {
      if ((rc != -EFBIG && rc != -ENOSPC) ||
          !strstr(err, "nothing of this epoch was written") ||
          !strstr(err, "disk full")) {
        fprintf(stderr, "unexpected commit error %d: %s\n", rc, err);
        return 12;
      }
      /* nothing of epoch e is visible */
      struct vg_store_state s;
      if (vg_store_load(st, NULL, NULL, NULL, &s, err, sizeof err) ||
          s.epoch != committed)
        return 13;
      if (setrlimit(RLIMIT_FSIZE, &rl)) /* space returns */
        return 14;
      if (vg_store_commit(st, &ep, err, sizeof err))
        return 15;
      committed = e;
      break;
    }
    committed = e;
    for (int i = 0; i < N; i++)
      vg_acc_release(&w[i].acc);
  }
  if (!rc)
    return 16; /* the limit was never hit */
  struct vg_store_reader *r;
  struct vg_store_pos pos;
  if (vg_store_reader_begin(st, &r) || vg_store_position(r, "air", 0, &pos) ||
      pos.next_offset != (int64_t)committed)
    return 17;
  vg_store_reader_end(r);
  vg_store_close(st);
  return 0;
}

static void disk_full_is_reported_and_recovers(void **state) {
  struct fx *f = *state;
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0)
    _exit(disk_full_child(f->dir));
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  assert_int_equal(WEXITSTATUS(status), 0);
}

/* Every test of the group runs in a store directory of its own. */
#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int vg_test_store_db(void) {
  const struct CMUnitTest tests[] = {
      FX_TEST(commit_and_reload),
      FX_TEST(seal_revise_and_read),
      FX_TEST(sealing_in_batches),
      FX_TEST(big_shuffled_epoch),
      FX_TEST(map_growth_and_limit),
      FX_TEST(retention_in_small_transactions),
      FX_TEST(retention_moves_its_generation),
      FX_TEST(data_epoch_follows_windows),
      FX_TEST(retention_floors_the_watermark),
      FX_TEST(corrupt_segment_is_reported),
      FX_TEST(corrupt_open_row_is_reported),
      FX_TEST(corrupt_block_is_reported),
      FX_TEST(format_1_is_upgraded),
      FX_TEST(foreign_format_is_refused),
      FX_TEST(readonly_process_reads),
      FX_TEST(disk_full_is_reported_and_recovers),
  };
  return cmocka_run_group_tests_name("store_db", tests, NULL, NULL);
}
