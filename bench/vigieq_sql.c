/*
 * vigie-bench-vigieq-sql: `vigieq sql` over the virtual tables (tools/
 * vigieq_sql.c, the code vigieq runs) against the same queries on a native
 * SQLite table holding the same rows, side by side in one run (issue 7:
 * the virtual tables within 3x of native).
 *
 * The store: --sensors N sensors (default 50) at 10 locations, two metrics
 * each (pm25 with a quantile sketch, no2 without), a year of hourly windows
 * (12 readings each), sealed into segments as vigied leaves them: 2 N
 * series, 17 520 N windows. The native table is filled from rollup_1h (so
 * the rows are the same, every column materialized) with the primary key
 * (series, start_epoch): the index a native table for this would have.
 *
 * Each query runs --repeat R times (default 5) on each side, in the same
 * connection and snapshot, stepping through every row and reading every
 * result column; printed: best and median wall-clock and thread CPU, and
 * the ratio of the medians (virtual / native).
 *
 *   vigie-bench-vigieq-sql [--dir DIR] [--sensors N] [--repeat R]
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ftw.h>

#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/store.h"
#include "vigie/tz.h"

#include "vigieq_sql.h"

#include "bench.h"

#define Y0    1735689600LL /* 2025-01-01T00:00:00Z */
#define HOURS (365 * 24)

static void die(const char *what, const char *msg) {
  fprintf(stderr, "vigie-bench-vigieq-sql: %s: %s\n", what, msg);
  exit(1);
}

/* One series' year of hourly windows, committed in one epoch and sealed. */
static void write_series(struct vg_store *st, uint64_t id, const char *key, int quantiles,
                         uint64_t seed) {
  struct vg_wentry *w = calloc(HOURS, sizeof *w);
  const struct vg_wentry **p = calloc(HOURS, sizeof *p);
  if (!w || !p)
    die("store", "out of memory");
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = quantiles;
  uint64_t rng = seed;
  for (size_t i = 0; i < HOURS; i++) {
    int64_t s = Y0 + (int64_t)i * 3600;
    w[i] = (struct vg_wentry){
        .series = id, .res = VG_RES_HOUR, .start = s, .end = s + 3600, .final = 1};
    vg_acc_init(&w[i].acc);
    for (int64_t t = s; t < s + 3600; t += 300) {
      double v = 20 + 10 * sin((double)(t % 86400) / 86400 * 2 * M_PI) + 4 * unit(&rng);
      vg_acc_add(&w[i].acc, &o, t * 1000000000LL, round(v * 10) / 10, 0, 0);
    }
    p[i] = &w[i];
  }
  struct vg_store_series ser = {id, key, strlen(key), Y0 * 1000000000LL};
  struct vg_store_epoch ep = {.epoch = id,
                              .sealed = p,
                              .nsealed = HOURS,
                              .series = &ser,
                              .nseries = 1,
                              .watermark_ns = (Y0 + 366 * 86400LL) * 1000000000LL,
                              .flush = 1};
  char err[256];
  if (vg_store_commit(st, &ep, err, sizeof err))
    die("commit", err);
  for (size_t i = 0; i < HOURS; i++)
    vg_acc_release(&w[i].acc);
  free(w);
  free(p);
}

struct timing {
  double wall_best, wall_med, cpu_best, cpu_med;
  long rows;
  uint64_t hash; /* FNV-1a of every cell's text: both sides must agree */
};

/* Runs sql R times: every row stepped, every column read. */
static struct timing run(sqlite3 *db, const char *sql, int repeat) {
  double *t = calloc((size_t)repeat, sizeof *t), *c = calloc((size_t)repeat, sizeof *c);
  struct timing r = {0};
  if (!t || !c)
    die("run", "out of memory");
  for (int k = 0; k < repeat; k++) {
    sqlite3_stmt *st;
    double t0 = now_s(), c0 = cpu_s();
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
      die(sql, sqlite3_errmsg(db));
    long rows = 0;
    uint64_t h = 1469598103934665603ULL;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(st); i++) {
        const unsigned char *v = sqlite3_column_text(st, i);
        for (; v && *v; v++)
          h = (h ^ *v) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
      }
      rows++;
    }
    r.hash = h;
    if (rc != SQLITE_DONE)
      die(sql, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    t[k] = now_s() - t0;
    c[k] = cpu_s() - c0;
    r.rows = rows;
  }
  qsort(t, (size_t)repeat, sizeof *t, cmp_double);
  qsort(c, (size_t)repeat, sizeof *c, cmp_double);
  r.wall_best = t[0];
  r.wall_med = t[repeat / 2];
  r.cpu_best = c[0];
  r.cpu_med = c[repeat / 2];
  free(t);
  free(c);
  return r;
}

/* Query i on table t (one, two: series keys). */
static void make_sql(char *sql, size_t size, size_t i, const char *t, const char *one,
                     const char *two) {
  switch (i) {
  case 0:
    snprintf(sql, size, "SELECT count(*), sum(count), avg(mean), max(max) FROM %s", t);
    break;
  case 1:
    snprintf(
        sql, size,
        "SELECT start_datetime, count, mean, min, max FROM %s WHERE series = '%s' AND "
        "start_epoch >= %lld AND start_epoch < %lld ORDER BY start_epoch",
        t, one, Y0, Y0 + 365 * 86400LL);
    break;
  case 2:
    snprintf(
        sql, size,
        "SELECT location, metric, substr(start_datetime, 1, 7) AS month, sum(count), "
        "avg(mean), max(max) FROM %s GROUP BY location, metric, month",
        t);
    break;
  case 3:
    snprintf(sql, size,
             "SELECT location, avg(p95) FROM %s WHERE metric = 'pm25' GROUP BY location",
             t);
    break;
  default:
    snprintf(
        sql, size,
        "SELECT a.start_datetime, a.mean - b.mean FROM %s a JOIN %s b ON b.series = '%s' "
        "AND b.start_epoch = a.start_epoch WHERE a.series = '%s' ORDER BY a.start_epoch",
        t, t, two, one);
  }
}

static void exec_or_die(sqlite3 *db, const char *sql) {
  char *err = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
    die(sql, err ? err : "?");
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  int sensors = 50, repeat = 5, c;
  static const struct option opts[] = {{"dir", required_argument, NULL, 'd'},
                                       {"sensors", required_argument, NULL, 's'},
                                       {"repeat", required_argument, NULL, 'r'},
                                       {NULL, 0, NULL, 0}};
  while ((c = getopt_long(argc, argv, "d:s:r:", opts, NULL)) != -1) {
    if (c == 'd')
      dir = optarg;
    else if (c == 's')
      sensors = atoi(optarg);
    else if (c == 'r')
      repeat = atoi(optarg);
    else
      return 2;
  }
  if (sensors < 2 || repeat < 1) {
    fprintf(stderr,
            "usage: vigie-bench-vigieq-sql [--dir DIR] [--sensors N>=2] [--repeat R]\n");
    return 2;
  }
  char tmpl[] = "/tmp/vigie-bench-sql-XXXXXX";
  if (!dir && !(dir = mkdtemp(tmpl)))
    die("mkdtemp", "failed");
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/store", dir);
  struct vg_store_opts so = {.path = path, .durability = VG_STORE_NOSYNC};
  struct vg_store *st;
  if (vg_store_open(&so, &st, err, sizeof err))
    die("open", err);

  double t0 = now_s();
  uint64_t id = 1;
  for (int s = 0; s < sensors; s++)
    for (int m = 0; m < 2; m++) {
      char key[128];
      snprintf(key, sizeof key, "%s{location=\"L%02d\",sensor_id=\"S%04d\"}",
               m ? "no2" : "pm25", s % 10, s);
      write_series(st, id++, key, !m, (uint64_t)s * 2 + (uint64_t)m);
    }
  struct vg_store_stat ss;
  vg_store_stat(st, &ss);
  printf("store: %d series x %d hourly windows = %ld windows, %.1f MiB used, built in "
         "%.1f s\n",
         2 * sensors, HOURS, (long)2 * sensors * HOURS, (double)ss.used_bytes / 1048576.0,
         now_s() - t0);

  struct vg_tz *tz;
  if (vg_tz_load("Europe/London", &tz, err, sizeof err))
    die("tz", err);
  struct vg_store_reader *rd;
  int rc = vg_store_reader_begin(st, &rd);
  if (rc)
    die("reader", vg_strerror(rc));
  struct vgq_sql *q;
  if (vgq_sql_open(&q, rd, tz, err, sizeof err))
    die("sql", err);
  sqlite3 *db = vgq_sql_db(q);
  t0 = now_s();
  exec_or_die(
      db, "CREATE TABLE native(start_datetime TEXT, end_datetime TEXT, series TEXT, "
          "metric TEXT, count INTEGER, sum REAL, min REAL, max REAL, mean REAL, "
          "stddev REAL, p50 REAL, p95 REAL, first REAL, last REAL, \"distinct\" REAL, "
          "status TEXT, revision INTEGER, location TEXT, sensor_id TEXT, "
          "start_epoch INTEGER, end_epoch INTEGER, series_id INTEGER, "
          "PRIMARY KEY (series, start_epoch)) WITHOUT ROWID");
  exec_or_die(db, "INSERT INTO native SELECT *, start_epoch, end_epoch, series_id "
                  "FROM rollup_1h ORDER BY series, start_epoch");
  printf("native table filled from rollup_1h in %.1f s\n\n", now_s() - t0);

  char one[256], two[256];
  snprintf(one, sizeof one, "no2{location=\"L%02d\",sensor_id=\"S%04d\"}", 7 % 10, 7);
  snprintf(two, sizeof two, "no2{location=\"L%02d\",sensor_id=\"S%04d\"}", 8 % 10, 8);
  static const char *const names[] = {"full scan, aggregate", "one series, a year of 1h",
                                      "GROUP BY location, metric, month",
                                      "GROUP BY with p95 (sketches)",
                                      "JOIN two series on start"};
  printf("%-34s %9s  %21s  %21s  %s\n", "query", "rows", "virtual ms (med/best)",
         "native ms (med/best)", "ratio wall (cpu)");
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    struct timing r[2];
    for (int side = 0; side < 2; side++) {
      const char *t = side ? "native" : "rollup_1h";
      char sql[1024];
      make_sql(sql, sizeof sql, i, t, one, two);
      r[side] = run(db, sql, repeat);
    }
    if (r[0].rows != r[1].rows || r[0].hash != r[1].hash)
      die(names[i], "the two sides gave different answers");
    printf("%-34s %9ld  %9.2f / %9.2f  %9.2f / %9.2f  %5.2fx (%.2fx)\n", names[i],
           r[0].rows, r[0].wall_med * 1e3, r[0].wall_best * 1e3, r[1].wall_med * 1e3,
           r[1].wall_best * 1e3, r[0].wall_med / r[1].wall_med,
           r[0].cpu_med / r[1].cpu_med);
  }
  printf("\n(target: virtual within 3x of native; %d runs per side)\n", repeat);
  vgq_sql_close(q);
  vg_store_reader_end(rd);
  vg_store_close(st);
  vg_tz_free(tz);
  if (strncmp(dir, "/tmp/vigie-bench-sql-", 21) == 0)
    rmtree(dir);
  return 0;
}
