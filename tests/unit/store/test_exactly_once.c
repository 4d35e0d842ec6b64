/* Exactly-once through the store with the real engine, without Kafka: a
 * child process consumes two deterministic "partitions" (event i of
 * partition p is a pure function of (p, i)), aggregates them, and commits
 * every epoch the way the daemon's writer will (dirty provisional windows to
 * open, final ones sealed and evicted, positions, watermark); it is killed
 * with SIGKILL at random moments and restarted from what the store holds:
 * windows, positions and watermark restored, each partition read again from
 * its stored next offset. Once a last child has consumed everything, every
 * window in the store equals the one a reference engine computed from all
 * events exactly once: the same windows, exact count/min/max, sum within
 * 1e-9 relative (revisions may differ: they depend on epoch timing). */
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/worker.h"

#define S         1000000000LL
#define T0        (1711839600LL * S) /* 2024-03-31 00:00 Paris */
#define NPART     2
#define NEV       6000 /* events per partition */
#define NSER      12
#define PER_EPOCH 97

static struct vg_agg_event event_of(uint32_t part, int64_t i) {
  uint64_t h = (uint64_t)(i * NPART + part) * 0x9e3779b97f4a7c15ULL;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 32;
  int64_t late = h % 40 == 0 ? (int64_t)(h >> 20) % 1800 * S : 0;
  return (struct vg_agg_event){.series = (h >> 8) % NSER + 1,
                               .time_ns = T0 + i * 2 * S - late,
                               .value = (double)((h >> 40) % 1000) / 10};
}

static struct vg_agg_opts agg_opts(void) {
  return st_agg_opts(NPART, INT64_MAX / 4, 120);
}

struct restore_pos {
  struct vg_agg *a;
  int64_t next[NPART];
};

static int restore_window(const struct vg_wentry *w, void *ctx) {
  struct restore_pos *r = ctx;
  return vg_agg_restore_window(r->a, w);
}

static int restore_pos(const struct vg_store_pos *p, void *ctx) {
  struct restore_pos *r = ctx;
  if (p->partition >= NPART)
    return -1;
  vg_agg_restore_position(
      r->a, p->partition,
      (struct vg_part_pos){p->next_offset, p->max_event_ns, p->last_active_ns});
  r->next[p->partition] = p->next_offset;
  return 0;
}

/* Commits the dirty windows and positions of the engine as epoch e. */
static int writer_commit(struct vg_agg *a, struct vg_store *st, uint64_t e) {
  char err[256];
  return st_writer_commit(a, st, e, "src", NPART, NULL, err, sizeof err);
}

/* One life of the consumer: restore, then consume to the end. Exit codes
 * other than 0 are failures. */
static int consumer(const char *dir, int fd, struct vg_tz *tz) {
  struct vg_store *st;
  struct vg_store_opts so = {.path = dir};
  char err[256];
  if (vg_store_open(&so, &st, err, sizeof err))
    return 10;
  struct vg_agg_opts o = agg_opts();
  struct vg_agg *a;
  if (vg_agg_new(tz, &o, 0, &a, err, sizeof err))
    return 11;
  if (vg_windows_set_loader(vg_agg_writer_windows(a), vg_store_window_loader, st))
    return 12;
  struct restore_pos rp = {a, {0}};
  struct vg_store_state s;
  if (vg_store_load(st, restore_window, restore_pos, &rp, &s, err, sizeof err))
    return 13;
  if (s.watermark_ns != INT64_MIN)
    vg_agg_restore_watermark(a, s.watermark_ns);
  struct vg_worker *wk = vg_agg_worker(a, 0);
  uint64_t e = s.epoch;
  int64_t next[NPART];
  for (int p = 0; p < NPART; p++)
    next[p] = rp.next[p] > 0 ? rp.next[p] : 0;
  while (next[0] < NEV || next[1] < NEV) {
    for (uint32_t p = 0; p < NPART; p++)
      for (int k = 0; k < PER_EPOCH && next[p] < NEV; k++, next[p]++) {
        struct vg_agg_event ev = event_of(p, next[p]);
        vg_worker_add(wk, p, next[p], &ev, T0 + next[p] * 2 * S);
      }
    int64_t now = T0 + (next[0] < next[1] ? next[0] : next[1]) * 2 * S;
    if (vg_worker_flush(wk, now) || vg_agg_collect(a, now, NULL, NULL) < 0)
      return 14;
    if (writer_commit(a, st, ++e))
      return 15;
    if (write(fd, &e, sizeof e) != sizeof e)
      return 16;
  }
  /* the end: everything pending goes into segments */
  if (vg_store_flush(st, INT64_MAX, 1 << 20, 1000, NULL, NULL, err, sizeof err))
    return 17;
  vg_agg_free(a);
  vg_store_close(st);
  return 0;
}

static void kill9_then_resume_counts_every_event_once(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-exactly-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_tz *tz = NULL;
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, NULL, 0), 0);
  uint64_t rng = st_seed();
  int kills = 0;
  for (int life = 0;; life++) {
    int fd;
    pid_t pid = st_fork_reporter(&fd);
    if (pid == 0)
      _exit(consumer(dir, fd, tz));
    int last_life = life >= 10;
    int want = last_life ? -1 : 1 + (int)(st_rng(&rng) % 8);
    uint64_t k;
    int got = 0, ended = 0;
    while (want < 0 || got < want) {
      if (read(fd, &k, sizeof k) != sizeof k) {
        ended = 1;
        break;
      }
      got++;
    }
    int status = st_reap(pid, &rng, ended ? 0 : 5000000, 0);
    close(fd);
    if (WIFSIGNALED(status)) {
      assert_int_equal(WTERMSIG(status), SIGKILL);
      kills++;
      continue;
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    break; /* consumed everything */
  }
  print_message("%d kills before the consumer finished\n", kills);
  assert_true(kills >= 1);

  /* the reference: every event exactly once, in memory */
  struct vg_agg_opts o = agg_opts();
  struct vg_agg *ref;
  char err[256];
  assert_int_equal(vg_agg_new(tz, &o, 0, &ref, err, sizeof err), 0);
  struct vg_worker *wr = vg_agg_worker(ref, 0);
  for (int64_t i = 0; i < NEV; i += PER_EPOCH) {
    for (uint32_t p = 0; p < NPART; p++)
      for (int64_t j = i; j < i + PER_EPOCH && j < NEV; j++) {
        struct vg_agg_event ev = event_of(p, j);
        vg_worker_add(wr, p, j, &ev, T0 + j * 2 * S);
      }
    assert_int_equal(vg_worker_flush(wr, T0 + i * 2 * S), 0);
    assert_true(vg_agg_collect(ref, T0 + i * 2 * S, NULL, NULL) >= 0);
  }
  struct vg_store *st;
  struct vg_store_opts so = {.path = dir};
  assert_int_equal(vg_store_open(&so, &st, err, sizeof err), 0);
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  struct st_ref_ctx c = {vg_agg_windows(ref), 0, 0, 1e-9, 0};
  st_read_series(r, NSER, T0 / S - 2 * 86400, T0 / S + 2 * 86400, st_against_reference,
                 &c);
  for (uint32_t p = 0; p < NPART; p++) {
    struct vg_store_pos sp;
    assert_int_equal(vg_store_position(r, "src", p, &sp), 0);
    assert_int_equal(sp.next_offset, NEV);
  }
  vg_store_reader_end(r);
  print_message("%zu windows compared\n", c.n);
  assert_int_equal(c.bad, 0);
  assert_int_equal(c.n, vg_agg_windows(ref)->t.n);
  vg_store_close(st);
  vg_agg_free(ref);
  vg_tz_free(tz);
  st_rmtree(dir);
}

int vg_test_store_exactly_once(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kill9_then_resume_counts_every_event_once),
  };
  return cmocka_run_group_tests_name("store_exactly_once", tests, NULL, NULL);
}
