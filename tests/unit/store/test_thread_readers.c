/* Readers in other threads while the writer commits and grows the map: each
 * snapshot sees one whole epoch (every open window of the range holds the
 * same epoch's value), readers never block commits for long, and growth
 * waits for the readers of this process (no reader sees a remapped env) --
 * vg_store_stat's too (the daemon's /metrics calls it from the HTTP thread;
 * it used to read outside the reader count and crashed in LMDB when a commit
 * grew the map). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define T0     (20000LL * 86400)
#define NWIN   200
#define EPOCHS 60

struct shared {
  struct vg_store *st;
  atomic_int stop;
  atomic_int bad;
  atomic_long reads;
};

struct seen {
  double value;
  int n, bad;
};

static int on_window(const struct vg_wentry *w, void *ctx) {
  struct seen *s = ctx;
  double v = vg_stats_sum(&w->acc.st);
  if (s->n == 0)
    s->value = v;
  else if (v != s->value)
    s->bad++;
  s->n++;
  return 0;
}

static void *reader(void *arg) {
  struct shared *sh = arg;
  while (!atomic_load(&sh->stop)) {
    struct vg_store_reader *r;
    if (vg_store_reader_begin(sh->st, &r)) {
      atomic_fetch_add(&sh->bad, 1);
      break;
    }
    struct seen s = {0};
    char err[256];
    if (vg_store_read_range(r, 1, VG_RES_BASE, T0, T0 + 86400, on_window, &s, err,
                            sizeof err) ||
        s.bad || (s.n != 0 && s.n != NWIN))
      atomic_fetch_add(&sh->bad, 1);
    vg_store_reader_end(r);
    atomic_fetch_add(&sh->reads, 1);
  }
  return NULL;
}

static void *stat_reader(void *arg) {
  struct shared *sh = arg;
  while (!atomic_load(&sh->stop)) {
    struct vg_store_stat ss;
    if (vg_store_stat(sh->st, &ss) || ss.used_bytes > ss.map_bytes || ss.segments != 0)
      atomic_fetch_add(&sh->bad, 1);
    atomic_fetch_add(&sh->reads, 1);
  }
  return NULL;
}

static void readers_see_whole_epochs(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-readers-XXXXXX";
  assert_non_null(mkdtemp(dir));
  struct vg_store_opts o = {
      .path = dir, .map_size = 64 << 10, .durability = VG_STORE_NOSYNC};
  struct shared sh = {0};
  char err[256];
  assert_int_equal(vg_store_open(&o, &sh.st, err, sizeof err), 0);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, i < 3 ? reader : stat_reader, &sh), 0);
  struct vg_acc_opts ao = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry *w = calloc(NWIN + 2000, sizeof *w);
  const struct vg_wentry **p = calloc(NWIN + 2000, sizeof *p);
  for (int k = 1; k <= EPOCHS; k++) {
    /* the range of series 1, plus filler series that make the map grow */
    size_t n = 0;
    for (int i = 0; i < NWIN + 2000; i++) {
      struct vg_wentry *e = &w[n];
      memset(e, 0, sizeof *e);
      e->series = i < NWIN ? 1 : (uint64_t)(k * 100000 + i);
      e->res = VG_RES_BASE;
      e->start = T0 + (i < NWIN ? i : 0) * 60LL;
      e->end = e->start + 60;
      vg_acc_init(&e->acc);
      vg_acc_add(&e->acc, &ao, e->start * 1000000000LL, k, 0, 0);
      p[n++] = e;
    }
    struct vg_store_epoch ep = {.epoch = (uint64_t)k, .open = p, .nopen = n};
    int rc = vg_store_commit(sh.st, &ep, err, sizeof err);
    if (rc)
      print_message("commit: %s\n", err);
    assert_int_equal(rc, 0);
    for (size_t i = 0; i < n; i++)
      vg_acc_release(&w[i].acc);
  }
  atomic_store(&sh.stop, 1);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(sh.st, &ss), 0);
  print_message("%ld snapshots read; map grew to %llu KiB\n", atomic_load(&sh.reads),
                (unsigned long long)(ss.map_bytes >> 10));
  assert_true(ss.map_bytes > (64 << 10));
  assert_int_equal(atomic_load(&sh.bad), 0);
  vg_store_close(sh.st);
  free(w);
  free(p);
  st_rmtree(dir);
}

int vg_test_store_thread_readers(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(readers_see_whole_epochs),
  };
  return cmocka_run_group_tests_name("store_thread_readers", tests, NULL, NULL);
}
