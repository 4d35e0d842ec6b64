/*
 * vigie-bench-vigieq: vigieq's speed figures of issue 7.
 *
 * Builds a store (through the store's writer API, flushed into segments):
 * - one series of a year of hourly windows (8760 windows), between two
 *   neighbours as in a real store;
 * - --scan-series series of --scan-windows base windows each (default
 *   1000 x 10 000 = 10 M windows of 1 min).
 * Then measures, output to /dev/null:
 * 1. `query --resolution 1h --metric year --format csv` of the year:
 *    in-process (vigieq's own main linked in, store open to exit: best and
 *    median of 200; target <= 2 ms) and as a whole command (fork + exec of
 *    the vigieq binary, best and median of 50; target <= 20 ms);
 * 2. `query --resolution 1m --metric scan --format csv` of every scan
 *    window in-process: windows per second, best of 3 (target >= 5 M/s).
 *
 *   vigie-bench-vigieq [--dir DIR] [--scan-series N] [--scan-windows N] [--keep]
 *
 * Wall-clock on whatever machine runs it; a shared machine moves the
 * figures from run to run (CPU time is printed beside).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/store.h"

int vg_vigieq_main(int argc, char **argv); /* tools/vigieq.c's main, renamed */

extern char **environ;

#define T0 (20000LL * 86400) /* 2024-10-04T00:00:00Z */

static double proc_cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what, const char *err) {
  fprintf(stderr, "vigie-bench-vigieq: %s: %s\n", what, err);
  exit(1);
}

/* Commits n windows of series id (key) from start, len s each, sealed and
 * flushed into segments, with a few readings of a diurnal-ish curve. */
static void put_series(struct vg_store *st, uint64_t *epoch, uint64_t id, const char *key,
                       uint8_t res, int64_t start, int64_t len, size_t n) {
  struct vg_wentry *w = calloc(n, sizeof *w);
  const struct vg_wentry **p = calloc(n, sizeof *p);
  if (!w || !p)
    die("memory", "out of memory");
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  for (size_t i = 0; i < n; i++) {
    int64_t s = start + (int64_t)i * len;
    w[i] = (struct vg_wentry){
        .series = id, .res = res, .start = s, .end = s + len, .final = 1};
    vg_acc_init(&w[i].acc);
    for (int k = 0; k < 3; k++) {
      double v = round(200 + 80 * sin((double)(s % 86400) / 13751.0) + 7 * k +
                       (double)(id % 5)) /
                 10;
      vg_acc_add(&w[i].acc, &o, (s + k * len / 3) * 1000000000LL, v, 0, 0);
    }
    p[i] = &w[i];
  }
  struct vg_store_series ser = {id, key, strlen(key), start * 1000000000LL};
  struct vg_store_epoch ep = {.epoch = ++*epoch,
                              .sealed = p,
                              .nsealed = n,
                              .flush = 1,
                              .series = &ser,
                              .nseries = 1,
                              .watermark_ns = INT64_MIN};
  char err[256];
  if (vg_store_commit(st, &ep, err, sizeof err))
    die("commit", err);
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
}

/* Runs vigieq's main in this process with stdout on /dev/null. */
static int run_inprocess(char **argv) {
  int argc = 0;
  while (argv[argc])
    argc++;
  optind = 0; /* a fresh getopt for each run */
  return vg_vigieq_main(argc, argv);
}

static int run_command(char **argv, int devnull) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, devnull, STDOUT_FILENO);
  pid_t pid;
  argv[0] = (char *)VIGIEQ_PATH;
  int rc = posix_spawn(&pid, VIGIEQ_PATH, &fa, NULL, argv, environ), status = 0;
  posix_spawn_file_actions_destroy(&fa);
  argv[0] = (char *)"vigieq";
  if (rc)
    return rc;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  size_t scan_series = 1000, scan_windows = 10000;
  int keep = 0, c;
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"scan-series", required_argument, NULL, 's'},
                                       {"scan-windows", required_argument, NULL, 'w'},
                                       {"keep", no_argument, NULL, 'k'},
                                       {NULL, 0, NULL, 0}};
  while ((c = getopt_long(argc, argv, "d:s:w:k", opts, NULL)) != -1) {
    if (c == 'd')
      dir = optarg;
    else if (c == 's')
      scan_series = strtoull(optarg, NULL, 10);
    else if (c == 'w')
      scan_windows = strtoull(optarg, NULL, 10);
    else if (c == 'k')
      keep = 1;
    else {
      fprintf(stderr, "usage: vigie-bench-vigieq [--dir DIR] [--scan-series N] "
                      "[--scan-windows N] [--keep]\n");
      return 2;
    }
  }
  char tmp[] = "/tmp/vigie-bench-vigieq-XXXXXX";
  if (!dir && !(dir = mkdtemp(tmp)))
    die("mkdtemp", strerror(errno));
  mkdir(dir, 0750); /* --dir may not exist yet */
  char sdir[600];
  snprintf(sdir, sizeof sdir, "%s/store", dir);
  struct stat sb;
  char path[700];
  snprintf(path, sizeof path, "%s/data.mdb", sdir);
  if (stat(path, &sb) != 0) { /* --dir of an earlier --keep run: reused */
    double t0 = now_s();
    struct vg_store_opts so = {.path = sdir, .durability = VG_STORE_NOSYNC};
    struct vg_store *st;
    char err[256];
    if (vg_store_open(&so, &st, err, sizeof err))
      die("open", err);
    uint64_t epoch = 0;
    put_series(st, &epoch, 41, "year{sensor_id=\"41\"}", VG_RES_HOUR, T0, 3600, 8760);
    put_series(st, &epoch, 42, "year{sensor_id=\"42\"}", VG_RES_HOUR, T0, 3600, 8760);
    put_series(st, &epoch, 43, "year{sensor_id=\"43\"}", VG_RES_HOUR, T0, 3600, 8760);
    for (size_t s = 0; s < scan_series; s++) {
      char key[64];
      snprintf(key, sizeof key, "scan{sensor_id=\"%06zu\"}", s);
      put_series(st, &epoch, 1000 + s, key, VG_RES_BASE, T0, 60, scan_windows);
    }
    vg_store_close(st);
    printf("store: %zu x %zu base windows + 3 x 8760 hourly, built in %.1f s\n",
           scan_series, scan_windows, now_s() - t0);
  }
  fflush(stdout);
  int devnull = open("/dev/null", O_WRONLY), saved = dup(STDOUT_FILENO);
  if (devnull < 0 || saved < 0)
    die("/dev/null", strerror(errno));
  FILE *res = fdopen(saved, "w");
  setvbuf(res, NULL, _IOLBF, 0);
  char *year[] = {"vigieq",   "--data-dir", sdir,   "query",   "--resolution",
                  "1h",       "--metric",   "year", "--where", "sensor_id=42",
                  "--format", "csv",        NULL};
  char *scan[] = {"vigieq",       "--data-dir", sdir,       "query",
                  "--resolution", "1m",         "--metric", "scan",
                  "--format",     "csv",        NULL};
  dup2(devnull, STDOUT_FILENO);
  enum { RUNS = 200, CMDS = 50, SCANS = 3 };
  double t[RUNS], ct[RUNS];
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_s(), c0 = proc_cpu_s();
    if (run_inprocess(year))
      die("vigieq", "the year query failed");
    t[r] = now_s() - t0;
    ct[r] = proc_cpu_s() - c0;
  }
  qsort(t, RUNS, sizeof *t, cmp_double);
  qsort(ct, RUNS, sizeof *ct, cmp_double);
  fprintf(res,
          "year of hourly windows (8760 rows), in-process, open to exit: "
          "wall best %.3f ms median %.3f ms; cpu median %.3f ms (target <= 2 ms)\n",
          t[0] * 1e3, t[RUNS / 2] * 1e3, ct[RUNS / 2] * 1e3);
  for (int r = 0; r < CMDS; r++) {
    double t0 = now_s();
    if (run_command(year, devnull))
      die("vigieq", "the year command failed");
    t[r] = now_s() - t0;
  }
  qsort(t, CMDS, sizeof *t, cmp_double);
  fprintf(res,
          "year of hourly windows, whole command (spawn to exit): wall best %.3f ms "
          "median %.3f ms (target <= 20 ms)\n",
          t[0] * 1e3, t[CMDS / 2] * 1e3);
  double best = 1e30, cbest = 1e30;
  for (int r = 0; r < SCANS; r++) {
    double t0 = now_s(), c0 = proc_cpu_s();
    if (run_inprocess(scan))
      die("vigieq", "the scan failed");
    double dt = now_s() - t0, dc = proc_cpu_s() - c0;
    best = dt < best ? dt : best;
    cbest = dc < cbest ? dc : cbest;
  }
  double n = (double)scan_series * (double)scan_windows;
  fprintf(res,
          "full scan of %.0f base windows to CSV, in-process: best %.2f s = %.2f M "
          "windows/s (cpu %.2f s = %.2f M/s; target >= 5 M/s)\n",
          n, best, n / best / 1e6, cbest, n / cbest / 1e6);
  if (!keep && dir == tmp)
    rmtree(dir);
  return 0;
}
