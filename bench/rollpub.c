/*
 * vigie-bench-rollpub: rollups per second of the rollup publisher
 * (engine/publish/rollpub.c) after a backfill (issue 22).
 *
 * For each size N, a store is built through the store API as the daemon's
 * writer builds it during a backfill: N / 1000 air-quality series, 40 UTC
 * days, one epoch per hour of event time committing that hour's window of
 * every series as final (sealed, with its emit-log record), and the daily
 * windows at each day's end -- 960 hourly and 40 daily windows per series,
 * each of 6 readings (quantiles kept, as the example configuration's
 * sensors do). The emit log is thus in event-time order across series, as
 * a backfill leaves it, and the windows are where the store put them
 * (segments of 30 days of hours, 360 days of days; the last days pending).
 *
 * Then, R times, a publisher (the daemon's Kafka client) starts from
 * cursor 0 against a fresh librdkafka mock cluster (one broker, the rollup
 * topic with 4 partitions). Its read-back of the topic is done before the
 * clock starts (keep_positions: it produces nothing until told the
 * positions were kept); the clock stops when the cursor reached the end of
 * the emit log, every rollup acknowledged. Printed per size: wall seconds
 * and rollups/s of the best run, the publisher thread's CPU seconds in
 * that run, and every run's wall seconds. The mock broker and librdkafka's
 * threads run in this process too: on a machine of few cores they share
 * it with the publisher.
 *
 *   vigie-bench-rollpub [--rollups N[,N...]] [--repeats R] [--batch B]
 *                       [--dir DIR]
 *
 * Defaults: --rollups 100000,1000000 --repeats 3 --batch 0 (the
 * publisher's default, 5000). The store lives in DIR (default a new
 * directory under /tmp), removed at the end. Wall-clock timings on a
 * shared machine move from run to run.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "daemon/engine.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/kafka.h"
#include "vigie/rollup.h"
#include "vigie/store.h"
#include "vigie/tz.h"

#include "bench.h"

#define T0       (20000LL * 86400) /* 2024-10-04T00:00:00Z */
#define DAYS     40
#define PER_HOUR 6 /* readings: one every 10 minutes */
#define TOPIC    "vigie.rollups"

static void die(const char *what, const char *err) {
  fprintf(stderr, "vigie-bench-rollpub: %s: %s\n", what, err);
  exit(1);
}

/* The canonical key of series s into buf. */
static size_t series_key(char *buf, size_t size, size_t s) {
  int n =
      snprintf(buf, size, "no2{district=\"d%02zu\",sensor_id=\"aq-%06zu\"}", s % 20, s);
  return n < 0 ? 0 : (size_t)n;
}

static void window_init(struct vg_wentry *w, uint64_t series, uint8_t res, int64_t start,
                        int64_t len) {
  memset(w, 0, sizeof *w);
  w->series = series;
  w->res = res;
  w->start = start;
  w->end = start + len;
  w->final = 1;
  vg_acc_init(&w->acc);
}

/* The writer's side of a backfill: one epoch per hour of event time. */
struct build {
  struct vg_store *st;
  size_t nseries;
  uint64_t *ids;
  char (*keys)[64];
  struct vg_wentry *hours, *days;
  const struct vg_wentry **sealed;
  struct vg_store_emit *emit;
  uint64_t rng, epoch, nemit;
};

static void build_add_readings(struct build *b, size_t s, int64_t hour) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  for (int i = 0; i < PER_HOUR; i++) {
    int64_t t = (hour + i * 600) * 1000000000LL;
    double v = 20 + 30 * unit(&b->rng);
    if (vg_acc_add(&b->hours[s].acc, &o, t, v, 0, 0) ||
        vg_acc_add(&b->days[s].acc, &o, t, v, 0, 0))
      die("aggregate", "out of memory");
  }
}

/* Commits hour h of day d: every series' hourly window, and its daily
 * window after the day's last hour, final, with their emit records. */
static void build_epoch(struct build *b, int d, int h) {
  char err[512];
  int64_t day = T0 + (int64_t)d * 86400, hour = day + (int64_t)h * 3600;
  size_t n = 0;
  for (size_t s = 0; s < b->nseries; s++) {
    if (h == 0)
      window_init(&b->days[s], b->ids[s], VG_RES_DAY, day, 86400);
    window_init(&b->hours[s], b->ids[s], VG_RES_HOUR, hour, 3600);
    build_add_readings(b, s, hour);
    b->sealed[n++] = &b->hours[s];
    if (h == 23)
      b->sealed[n++] = &b->days[s];
  }
  for (size_t i = 0; i < n; i++)
    b->emit[i] = (struct vg_store_emit){0, b->sealed[i]->series, b->sealed[i]->res,
                                        b->sealed[i]->start, 0};
  struct vg_store_series *ser = NULL;
  if (b->epoch == 0) {
    ser = calloc(b->nseries, sizeof *ser);
    if (!ser)
      die("build", "out of memory");
    for (size_t s = 0; s < b->nseries; s++)
      ser[s] = (struct vg_store_series){b->ids[s], b->keys[s], strlen(b->keys[s]),
                                        T0 * 1000000000LL};
  }
  struct vg_store_epoch ep = {.epoch = ++b->epoch,
                              .sealed = b->sealed,
                              .nsealed = n,
                              .series = ser,
                              .nseries = ser ? b->nseries : 0,
                              .emit = b->emit,
                              .nemit = n,
                              .watermark_ns = (hour + 3600) * 1000000000LL};
  if (vg_store_commit(b->st, &ep, err, sizeof err))
    die("commit", err);
  free(ser);
  b->nemit += n;
  for (size_t i = 0; i < n; i++)
    vg_acc_release(&((struct vg_wentry *)b->sealed[i])->acc);
}

/* A store of nseries series over DAYS days in dir; returns its emit-log
 * records. */
static uint64_t build_store(struct vg_store *st, size_t nseries) {
  struct build b = {.st = st, .nseries = nseries, .rng = 22};
  b.ids = calloc(nseries, sizeof *b.ids);
  b.keys = calloc(nseries, sizeof *b.keys);
  b.hours = calloc(nseries, sizeof *b.hours);
  b.days = calloc(nseries, sizeof *b.days);
  b.sealed = calloc(2 * nseries, sizeof *b.sealed);
  b.emit = calloc(2 * nseries, sizeof *b.emit);
  if (!b.ids || !b.keys || !b.hours || !b.days || !b.sealed || !b.emit)
    die("build", "out of memory");
  static const uint8_t sipkey[16] = "vigie-bench-22..";
  for (size_t s = 0; s < nseries; s++) {
    size_t len = series_key(b.keys[s], sizeof b.keys[s], s);
    b.ids[s] = vg_siphash24(sipkey, b.keys[s], len);
  }
  for (int d = 0; d < DAYS; d++)
    for (int h = 0; h < 24; h++)
      build_epoch(&b, d, h);
  free(b.ids);
  free(b.keys);
  free(b.hours);
  free(b.days);
  free(b.sealed);
  free(b.emit);
  return b.nemit;
}

/* One publisher run from cursor 0 against a new mock cluster: wall
 * seconds from the go to the last acknowledgement; *cpu gets the
 * publisher thread's CPU seconds over the same stretch. */
static double publish_once(struct vg_store *st, const struct vg_tz *tz, uint64_t nemit,
                           size_t batch, double *cpu) {
  char err[512];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "2", err, sizeof err);
  rd_kafka_t *owner = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!owner)
    die("mock cluster", err);
  rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(owner, 1);
  if (!mc || rd_kafka_mock_topic_create(mc, TOPIC, 4, 1) != 0)
    die("mock cluster", "cannot create it");
  struct vg_kafka_conf kc = {.brokers = rd_kafka_mock_cluster_bootstraps(mc)};
  struct vg_rollup_opts o = {.client = vg_engine_rollup_client(&kc),
                             .topic = TOPIC,
                             .store = st,
                             .tz = tz,
                             .batch = batch,
                             .keep_positions = 1};
  struct vg_rollup *p;
  if (vg_rollup_new(&o, &p, err, sizeof err))
    die("publisher", err);
  /* its read-back done (a first generation of positions), nothing produced */
  uint64_t cursor, gen = 0;
  struct vg_kafka_positions pos;
  for (int i = 0; gen == 0 && i < 600; i++) {
    if (vg_rollup_state(p, &cursor, &pos, &gen))
      die("publisher", "out of memory");
    vg_kafka_positions_release(&pos);
    if (gen == 0)
      usleep(50000);
  }
  if (gen == 0)
    die("publisher", "no read-back of the topic in 30 s");
  double c0 = vg_rollup_cpu_s(p), t0 = now_s();
  vg_rollup_kept(p, gen);
  int rc = vg_rollup_wait(p, nemit, 3600 * 1000);
  double wall = now_s() - t0;
  *cpu = vg_rollup_cpu_s(p) - c0;
  if (rc)
    die("publisher", vg_strerror(rc));
  vg_rollup_free(p);
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(owner);
  return wall;
}

static void run_size(const char *dir, size_t rollups, int repeats, size_t batch,
                     const struct vg_tz *tz) {
  char err[512];
  size_t nseries = rollups / (DAYS * 25);
  if (nseries == 0)
    nseries = 1;
  rmtree(dir);
  struct vg_store_opts so = {.path = dir, .durability = VG_STORE_NOSYNC};
  struct vg_store *st;
  if (vg_store_open(&so, &st, err, sizeof err))
    die("store", err);
  double b0 = now_s();
  uint64_t nemit = build_store(st, nseries);
  double built = now_s() - b0;
  double best = 0, best_cpu = 0, walls[16];
  for (int r = 0; r < repeats; r++) {
    double cpu;
    walls[r] = publish_once(st, tz, nemit, batch, &cpu);
    if (r == 0 || walls[r] < best) {
      best = walls[r];
      best_cpu = cpu;
    }
  }
  printf("%9" PRIu64 " %7zu %9.2f %10.0f %9.2f %12.0f  ", nemit, nseries, best,
         (double)nemit / best, best_cpu, (double)nemit / best_cpu);
  for (int r = 0; r < repeats; r++)
    printf("%s%.2f", r ? "," : "", walls[r]);
  printf("   (store built in %.1f s)\n", built);
  fflush(stdout);
  vg_store_close(st);
  rmtree(dir);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"rollups", required_argument, NULL, 'n'},
                                       {"repeats", required_argument, NULL, 'r'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"dir", required_argument, NULL, 'd'},
                                       {NULL, 0, NULL, 0}};
  const char *sizes = "100000,1000000";
  char tmp[] = "/tmp/vigie-bench-rollpub-XXXXXX", err[256];
  const char *dir = NULL;
  int repeats = 3, c;
  size_t batch = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'n')
      sizes = optarg;
    else if (c == 'r')
      repeats = atoi(optarg);
    else if (c == 'b')
      batch = (size_t)strtoull(optarg, NULL, 10);
    else if (c == 'd')
      dir = optarg;
    else
      return 2;
  }
  if (repeats < 1 || repeats > 16) {
    fprintf(stderr, "vigie-bench-rollpub: --repeats is 1 to 16\n");
    return 2;
  }
  if (!dir) {
    if (!mkdtemp(tmp))
      die("mkdtemp", "cannot create a directory under /tmp");
    dir = tmp;
  }
  struct vg_tz *tz;
  if (vg_tz_load("UTC", &tz, err, sizeof err))
    die("zone", err);
  printf("vigie-bench-rollpub: rollup publisher from cursor 0 after a backfill "
         "(40 days x series, 1h + 1d windows of 6 readings, quantiles; one epoch per "
         "hour), mock cluster (1 broker, 4 partitions), batch %zu, best of %d by wall\n",
         batch ? batch : (size_t)5000, repeats);
  printf(
      "  rollups  series    wall s  rollups/s     cpu s  rollups/cpu-s  runs (wall s)\n");
  fflush(stdout);
  for (const char *s = sizes; *s;) {
    char *end;
    size_t n = (size_t)strtoull(s, &end, 10);
    if (end == s)
      break;
    run_size(dir, n, repeats, batch, tz);
    s = *end == ',' ? end + 1 : end;
  }
  vg_tz_free(tz);
  return 0;
}
