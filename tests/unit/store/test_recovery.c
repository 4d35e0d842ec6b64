/* Recovery after a crash: a child process commits epochs in a loop (default
 * durability: sync on every commit) and is killed with SIGKILL at random
 * moments, mid-epoch or mid-commit; after each kill the store reopens in
 * exactly the state of the last committed epoch -- open windows, sealed
 * segment, positions, watermark and emit log all agree on one epoch number,
 * which is the last one the child reported or the one it was committing --
 * and the next child resumes from it. */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "testutil.h"
#include "storetest.h"
#include "vigie/error.h"
#include "vigie/store.h"

#define T0            (20000LL * 86400)
#define NOPEN         50
#define NPART         4
#define SEALED_SERIES 1000

/* The content of epoch k: every open window holds the single value k, the
 * sealed series gains window k, partition p is at k * 1000 + p. */
static int commit_epoch(struct vg_store *st, uint64_t k) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w[NOPEN + 1];
  const struct vg_wentry *open[NOPEN], *sealed[1];
  for (int i = 0; i <= NOPEN; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].series = i < NOPEN ? (uint64_t)i : SEALED_SERIES;
    w[i].res = VG_RES_BASE;
    w[i].start = i < NOPEN ? T0 : T0 + (int64_t)k * 60;
    w[i].end = w[i].start + 60;
    vg_acc_init(&w[i].acc);
    vg_acc_add(&w[i].acc, &o, w[i].start * 1000000000LL, (double)k, 0, 0);
    if (i < NOPEN)
      open[i] = &w[i];
  }
  sealed[0] = &w[NOPEN];
  struct vg_store_pos pos[NPART];
  for (int p = 0; p < NPART; p++)
    pos[p] =
        (struct vg_store_pos){"air", (uint32_t)p, (int64_t)k * 1000 + p, (int64_t)k, 0};
  struct vg_store_emit em = {0, SEALED_SERIES, VG_RES_BASE, T0 + (int64_t)k * 60, 0};
  struct vg_store_epoch ep = {.epoch = k,
                              .open = open,
                              .nopen = NOPEN,
                              .sealed = sealed,
                              .nsealed = 1,
                              .pos = pos,
                              .npos = NPART,
                              .emit = &em,
                              .nemit = 1,
                              .watermark_ns = (int64_t)k};
  char err[256];
  int rc = vg_store_commit(st, &ep, err, sizeof err);
  for (int i = 0; i <= NOPEN; i++)
    vg_acc_release(&w[i].acc);
  return rc;
}

static void child(const char *dir, uint64_t from, int fd) {
  struct vg_store *st;
  struct vg_store_opts o = {.path = dir};
  char err[256];
  if (vg_store_open(&o, &st, err, sizeof err))
    _exit(3);
  for (uint64_t k = from + 1;; k++) {
    if (commit_epoch(st, k))
      _exit(4);
    if (write(fd, &k, sizeof k) != sizeof k)
      _exit(5);
  }
}

struct check {
  uint64_t epoch;
  int bad;
  uint64_t n;
};

static int check_window(const struct vg_wentry *w, void *ctx) {
  struct check *c = ctx;
  if (w->series >= NOPEN || w->acc.st.count != 1 ||
      vg_stats_sum(&w->acc.st) != (double)c->epoch)
    c->bad++;
  c->n++;
  return 0;
}

static int check_pos(const struct vg_store_pos *p, void *ctx) {
  struct check *c = ctx;
  if (strcmp(p->topic, "air") ||
      p->next_offset != (int64_t)(c->epoch * 1000 + p->partition))
    c->bad++;
  return 0;
}

static int check_sealed(const struct vg_wentry *w, void *ctx) {
  struct check *c = ctx;
  c->n++;
  if (w->start != T0 + (int64_t)c->n * 60 || vg_stats_sum(&w->acc.st) != (double)c->n)
    c->bad++;
  return 0;
}

/* Verifies the store holds exactly epoch E for some E in [lo, hi]. */
static uint64_t verify(const char *dir, uint64_t lo, uint64_t hi) {
  struct vg_store *st;
  struct vg_store_opts o = {.path = dir};
  char err[256];
  assert_int_equal(vg_store_open(&o, &st, err, sizeof err), 0);
  struct vg_store_state s;
  /* the epoch number first, then everything checked against it */
  assert_int_equal(vg_store_load(st, NULL, NULL, NULL, &s, err, sizeof err), 0);
  struct check c = {s.epoch, 0, 0};
  if (s.epoch < lo || s.epoch > hi)
    print_message("recovered epoch %llu, expected %llu..%llu\n",
                  (unsigned long long)s.epoch, (unsigned long long)lo,
                  (unsigned long long)hi);
  assert_true(s.epoch >= lo && s.epoch <= hi);
  assert_int_equal(vg_store_load(st, check_window, check_pos, &c, &s, err, sizeof err),
                   0);
  assert_int_equal(c.bad, 0);
  assert_int_equal(s.nopen, s.epoch ? NOPEN : 0);
  assert_int_equal(s.npos, s.epoch ? NPART : 0);
  assert_int_equal(s.emit_seq, s.epoch);
  assert_int_equal(s.watermark_ns, s.epoch ? (int64_t)s.epoch : INT64_MIN);
  struct vg_store_reader *r;
  assert_int_equal(vg_store_reader_begin(st, &r), 0);
  struct check sc = {s.epoch, 0, 0};
  assert_int_equal(vg_store_read_range(r, SEALED_SERIES, VG_RES_BASE, T0,
                                       T0 + 365 * 86400, check_sealed, &sc, err,
                                       sizeof err),
                   0);
  assert_int_equal(sc.bad, 0);
  assert_int_equal(sc.n, s.epoch);
  vg_store_reader_end(r);
  vg_store_close(st);
  return s.epoch;
}

static void kill9_at_random_moments(void **state) {
  (void)state;
  char dir[] = "/tmp/vigie-recovery-XXXXXX";
  assert_non_null(mkdtemp(dir));
  uint64_t rng = st_seed();
  uint64_t epoch = 0;
  for (int round = 0; round < 20; round++) {
    int fd;
    pid_t pid = st_fork_reporter(&fd);
    if (pid == 0)
      child(dir, epoch, fd);
    /* let it commit a few epochs, then kill it at a random instant */
    uint64_t last = epoch, k;
    int want = 1 + (int)(st_rng(&rng) % 4);
    for (int i = 0; i < want; i++) {
      ssize_t n = read(fd, &k, sizeof k);
      assert_int_equal(n, sizeof k);
      last = k;
    }
    st_reap(pid, &rng, 3000000, 1);
    while (read(fd, &k, sizeof k) == sizeof k)
      last = k;
    close(fd);
    /* reported epochs are durable; the one being committed may or may not be */
    epoch = verify(dir, last, last + 1);
  }
  print_message("20 kills, %llu epochs committed\n", (unsigned long long)epoch);
  st_rmtree(dir);
}

int vg_test_store_recovery(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kill9_at_random_moments),
  };
  return cmocka_run_group_tests_name("store_recovery", tests, NULL, NULL);
}
