/*
 * vigie-gen: realistic city sensor traffic, for the demo, tests and benchmarks.
 *
 * A discrete-event simulation of a town's sensors (air-quality stations,
 * energy meters, road-traffic loops and bike counters emitting one event per
 * passage, car parks, bike-share stations) with diurnal and weekly patterns,
 * noise and outages. Each message is placed on one time line (a min-heap of
 * emission instants); late and out-of-order messages are re-scheduled later on
 * it, duplicates are emitted twice, and malformed ones are corrupted in one of
 * the classes the codecs reject. Every random draw comes from one seeded
 * xoshiro256** stream consumed in a fixed order, so the output is
 * byte-identical for a given seed and options.
 *
 * Output: Kafka (--brokers, --topic PATTERN) or files (--output PATTERN, "-"
 * for stdout), where "{kind}" in PATTERN becomes the sensor kind. One message
 * per reading or passage, one per line in files.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/hash.h"

/* ---- random numbers ------------------------------------------------------ */

struct rng {
  uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r) { /* xoshiro256** */
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

static double uniform(struct rng *r) { /* [0, 1) */
  return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double normal(struct rng *r) { /* Box-Muller, one of the pair */
  double u = uniform(r), v = uniform(r);
  return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

static uint32_t below(struct rng *r, uint32_t n) {
  return (uint32_t)(uniform(r) * n);
}

/* ---- the town ------------------------------------------------------------ */

enum kind { AIR, ENERGY, TRAFFIC, BIKES, PARKING, BIKESHARE, NKINDS };
static const char *const kind_name[NKINDS] = {"air-quality", "energy",  "traffic",
                                              "bikes",       "parking", "bikeshare"};
static const char *const kind_prefix[NKINDS] = {"aq", "em", "tl", "bc", "pk", "bs"};
/* share of the sensors of each kind (per mille) and reading period (s);
 * traffic and bikes emit one event per passage instead */
static const int kind_share[NKINDS] = {70, 450, 100, 80, 50, 250};
static const int kind_period[NKINDS] = {60, 900, 0, 0, 300, 300};
static const char *const districts[] = {"Centre", "Gare",       "Nord",
                                        "Port",   "Université", "Vieux-Bourg"};

struct sensor {
  enum kind kind;
  char id[16];
  const char *district;
  double level;       /* kind-specific scale */
  int capacity;       /* parking, bikeshare */
  int64_t down_until; /* outage end, ns */
};

/* Hour of day and day of week in the town's local time. The generator uses a
 * fixed UTC+1 for its patterns: the shapes only need to look like a day. */
static void local_clock(int64_t t_ns, double *hour, int *weekday) {
  int64_t s = t_ns / 1000000000 + 3600;
  *hour = (double)(s % 86400) / 3600.0;
  *weekday = (int)((s / 86400 + 3) % 7); /* 1970-01-01 was a Thursday: 0=Mon */
}

static double bump(double h, double centre, double width) {
  double d = (h - centre) / width;
  return exp(-0.5 * d * d);
}

/* relative traffic intensity: rush hours on weekdays, a midday hump at weekends */
static double traffic_shape(double h, int wd) {
  if (wd >= 5)
    return 0.08 + 0.55 * bump(h, 14, 3.5);
  return 0.05 + bump(h, 8.0, 1.2) + 0.9 * bump(h, 17.8, 1.6) + 0.35 * bump(h, 12.5, 2.5);
}

static double load_shape(double h, int wd) { /* household electricity */
  double s = 0.25 + 0.35 * bump(h, 7.5, 1.0) + 0.8 * bump(h, 20.0, 2.0);
  return wd >= 5 ? s + 0.25 * bump(h, 13, 3) : s;
}

/* ---- options ------------------------------------------------------------- */

struct opts {
  const char *brokers, *topic, *output, *format;
  uint64_t seed;
  int sensors;
  int64_t start_ns, duration_ns;
  double speed, rate;
  double p_late, p_ooo, p_dup, p_bad;
  int64_t late_max_ns;
  int keyed, progress;
  uint64_t max_messages;
  const char *props[2 * 32 + 1];
};

/* ---- the time line -------------------------------------------------------- */

struct item {
  int64_t at;     /* emission instant, ns */
  uint64_t seq;   /* insertion order: ties broken deterministically */
  int32_t sensor; /* >= 0: the sensor's next tick; -1: a held-back message */
  enum kind kind;
  char *msg; /* held-back message (owned) */
  size_t len;
  char key[16];
};

struct heap {
  struct item *v;
  size_t n, cap;
  uint64_t seq;
};

static int item_less(const struct item *a, const struct item *b) {
  return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct heap *h, struct item it) {
  if (VG_GROW(h->v, h->n + 1, h->cap)) {
    perror("vigie-gen");
    exit(1);
  }
  it.seq = h->seq++;
  size_t i = h->n++;
  while (i > 0 && item_less(&it, &h->v[(i - 1) / 2])) {
    h->v[i] = h->v[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->v[i] = it;
}

static struct item heap_pop(struct heap *h) {
  struct item top = h->v[0], last = h->v[--h->n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n)
      break;
    if (c + 1 < h->n && item_less(&h->v[c + 1], &h->v[c]))
      c++;
    if (!item_less(&h->v[c], &last))
      break;
    h->v[i] = h->v[c];
    i = c;
  }
  if (h->n)
    h->v[i] = last;
  return top;
}

/* ---- message formatting --------------------------------------------------- */

enum fmt { FMT_JSON, FMT_INFLUX, FMT_SENML };

struct buf {
  char d[1024];
  size_t n;
};

__attribute__((format(printf, 2, 3))) static void put(struct buf *b, const char *fmt,
                                                      ...) {
  va_list ap;
  va_start(ap, fmt);
  int w = vsnprintf(b->d + b->n, sizeof b->d - b->n, fmt, ap);
  va_end(ap);
  if (w > 0)
    b->n += (size_t)w < sizeof b->d - b->n ? (size_t)w : sizeof b->d - b->n - 1;
}

/* One reading: up to 3 named values. Mobility passages carry strings too. */
struct reading {
  const char *names[3];
  const char *units[3];
  double values[3];
  int nvalues;
  int integer; /* values are counts/occupancies */
  const char *direction, *vclass;
  char device[20];
};

/* The JSON timestamp form differs by kind, as it does between real vendors:
 * RFC 3339 for air quality and car parks, unix seconds for meters, unix
 * milliseconds for counters. */
enum { F_OMIT_TIME = 1, F_BAD_TIME = 2, F_BAD_VALUE = 4 };

static void format_msg(struct buf *b, enum fmt f, const struct sensor *s, int64_t t_ns,
                       const struct reading *r, int flags) {
  b->n = 0;
  char ts[VG_FMT_ISO_MAX];
  int omit_time = flags & F_OMIT_TIME;
  int nv = r->nvalues - ((flags & F_BAD_VALUE) && r->nvalues ? 1 : 0);
  if (f == FMT_JSON) {
    put(b, "{");
    if (flags & F_BAD_TIME)
      put(b, "\"ts\":\"yesterday\",");
    else if (!omit_time) {
      switch (s->kind) {
      case ENERGY: put(b, "\"ts\":%" PRId64 ",", t_ns / 1000000000); break;
      case TRAFFIC:
      case BIKES: put(b, "\"ts\":%" PRId64 ",", t_ns / 1000000); break;
      default: vg_fmt_utc_ms(t_ns, ts); put(b, "\"ts\":\"%s\",", ts);
      }
    }
    put(b, "\"%s\":\"%s\",\"district\":\"%s\"",
        s->kind == TRAFFIC || s->kind == BIKES ? "counter_id" : "sensor_id", s->id,
        s->district);
    if (r->direction)
      put(b, ",\"direction\":\"%s\",\"vehicle_class\":\"%s\",\"device_hash\":\"%s\"",
          r->direction, r->vclass, r->device);
    for (int i = 0; i < nv; i++)
      put(b, r->integer ? ",\"%s\":%.0f" : ",\"%s\":%.2f", r->names[i], r->values[i]);
    if (nv < r->nvalues)
      put(b, ",\"%s\":\"n/a\"", r->names[nv]);
    put(b, "}");
  } else if (f == FMT_INFLUX) {
    put(b, "%s,district=%s,%s=%s", kind_name[s->kind], s->district,
        s->kind == TRAFFIC || s->kind == BIKES ? "counter_id" : "sensor_id", s->id);
    if (r->direction)
      put(b, ",direction=%s,vehicle_class=%s passages=1i,device_hash=\"%s\"",
          r->direction, r->vclass, r->device);
    for (int i = 0; i < nv; i++)
      put(b, r->integer ? "%c%s=%.0fi" : "%c%s=%.2f", i ? ',' : ' ', r->names[i],
          r->values[i]);
    if (nv < r->nvalues) /* a string where a number belongs: T is a boolean */
      put(b, "%c%s=%s", nv ? ',' : ' ', r->names[nv], "n/a");
    if (flags & F_BAD_TIME)
      put(b, " 12:00");
    else if (!omit_time)
      put(b, " %" PRId64, t_ns);
  } else {
    put(b, "[{\"bn\":\"urn:dev:%s:\"", s->id);
    if (flags & F_BAD_TIME)
      put(b, ",\"bt\":\"noon\"");
    else if (!omit_time)
      put(b, ",\"bt\":%.3f", (double)(t_ns / 1000000) / 1000.0);
    if (r->direction) {
      put(b, ",\"n\":\"passages\",\"v\":1},{\"n\":\"direction\",\"vs\":\"%s\"}]",
          r->direction);
      return;
    }
    for (int i = 0; i < r->nvalues; i++) {
      put(b, "%s\"n\":\"%s\"", i ? ",{" : ",", r->names[i]);
      if (r->units[i])
        put(b, ",\"u\":\"%s\"", r->units[i]);
      if (i >= nv)
        put(b, ",\"v\":\"n/a\"}");
      else
        put(b, ",\"v\":%.2f}", r->values[i]);
    }
    put(b, "]");
  }
}

/* Malformed classes, each one a codec must reject with its own reason:
 * truncated, not JSON at all, a value that is not a number, an unparsable
 * time, a missing time, invalid UTF-8. */
static void malformed(struct buf *b, struct rng *rng, enum fmt f, const struct sensor *s,
                      int64_t t, const struct reading *r) {
  switch (below(rng, 6)) {
  case 0: b->n /= 2; break;
  case 1:
    b->n = 0;
    put(b, "<html><body>502 Bad Gateway</body></html>");
    break;
  case 2: /* passages carry no value to spoil: spoil their time instead */
    format_msg(b, f, s, t, r, r->nvalues ? F_BAD_VALUE : F_BAD_TIME);
    break;
  case 3: format_msg(b, f, s, t, r, F_BAD_TIME); break;
  case 4: format_msg(b, f, s, t, r, F_OMIT_TIME); break;
  default: b->n = 0; put(b, "{\"\xc3\x28\":1,\"ts\":1}");
  }
  b->d[b->n] = '\0';
}

/* ---- sinks ---------------------------------------------------------------- */

struct sink {
  rd_kafka_t *rk;
  rd_kafka_topic_t *topics[NKINDS];
  FILE *files[NKINDS];
  uint64_t delivered_fail;
};

static void expand(char *out, size_t size, const char *pattern, enum kind k) {
  const char *p = strstr(pattern, "{kind}");
  if (!p)
    snprintf(out, size, "%s", pattern);
  else
    snprintf(out, size, "%.*s%s%s", (int)(p - pattern), pattern, kind_name[k], p + 6);
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  struct sink *s = opaque;
  if (m->err) {
    if (s->delivered_fail++ < 5)
      fprintf(stderr, "vigie-gen: delivery failed: %s\n", rd_kafka_err2str(m->err));
  }
}

static int sink_open(struct sink *s, const struct opts *o) {
  char name[512], err[512];
  if (o->brokers) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    static const char *const defaults[] = {"linger.ms",
                                           "20",
                                           "batch.num.messages",
                                           "10000",
                                           "enable.idempotence",
                                           "true",
                                           "queue.buffering.max.messages",
                                           "1000000",
                                           "queue.buffering.max.kbytes",
                                           "1048576",
                                           NULL};
    for (const char *const *p = defaults; *p; p += 2)
      rd_kafka_conf_set(conf, p[0], p[1], err, sizeof err);
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err, sizeof err) ||
        rd_kafka_conf_set(conf, "client.id", "vigie-gen", err, sizeof err)) {
      fprintf(stderr, "vigie-gen: %s\n", err);
      return -1;
    }
    for (const char *const *p = o->props; p[0]; p += 2)
      if (rd_kafka_conf_set(conf, p[0], p[1], err, sizeof err)) {
        fprintf(stderr, "vigie-gen: -X %s: %s\n", p[0], err);
        return -1;
      }
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!s->rk) {
      fprintf(stderr, "vigie-gen: %s\n", err);
      return -1;
    }
    for (int k = 0; k < NKINDS; k++) {
      expand(name, sizeof name, o->topic, (enum kind)k);
      s->topics[k] = rd_kafka_topic_new(s->rk, name, NULL);
    }
    return 0;
  }
  for (int k = 0; k < NKINDS; k++) {
    expand(name, sizeof name, o->output, (enum kind)k);
    for (int j = 0; j < k && !s->files[k]; j++) { /* same file for several kinds */
      char other[512];
      expand(other, sizeof other, o->output, (enum kind)j);
      if (strcmp(other, name) == 0)
        s->files[k] = s->files[j];
    }
    if (s->files[k])
      continue;
    s->files[k] = strcmp(name, "-") == 0 ? stdout : fopen(name, "w");
    if (!s->files[k]) {
      fprintf(stderr, "vigie-gen: %s: %s\n", name, strerror(errno));
      return -1;
    }
  }
  return 0;
}

static int sink_put(struct sink *s, enum kind k, const char *key, const char *msg,
                    size_t len) {
  if (s->rk) {
    for (;;) {
      int r = rd_kafka_produce(s->topics[k], RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY,
                               (void *)msg, len, key, key ? strlen(key) : 0, NULL);
      if (r == 0)
        break;
      if (rd_kafka_last_error() != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        fprintf(stderr, "vigie-gen: produce: %s\n",
                rd_kafka_err2str(rd_kafka_last_error()));
        return -1;
      }
      rd_kafka_poll(s->rk, 10);
    }
    rd_kafka_poll(s->rk, 0);
    return 0;
  }
  if (fwrite(msg, 1, len, s->files[k]) != len || fputc('\n', s->files[k]) == EOF) {
    perror("vigie-gen: write");
    return -1;
  }
  return 0;
}

static int sink_close(struct sink *s) {
  int rc = 0;
  if (s->rk) {
    if (rd_kafka_flush(s->rk, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "vigie-gen: %d messages still undelivered\n",
              rd_kafka_outq_len(s->rk));
      rc = -1;
    }
    if (s->delivered_fail) {
      fprintf(stderr, "vigie-gen: %" PRIu64 " messages failed delivery\n",
              s->delivered_fail);
      rc = -1;
    }
    for (int k = 0; k < NKINDS; k++)
      rd_kafka_topic_destroy(s->topics[k]);
    rd_kafka_destroy(s->rk);
    return rc;
  }
  for (int k = 0; k < NKINDS; k++) {
    int shared = 0;
    for (int j = 0; j < k; j++)
      shared |= s->files[j] == s->files[k];
    if (!shared && s->files[k] && fclose(s->files[k]) != 0) {
      perror("vigie-gen: close");
      rc = -1;
    }
  }
  return rc;
}

/* ---- simulation ----------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

static double mono_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Next passage of a counter after t: exponential gap at the current rate. */
static int64_t next_passage(struct rng *rng, const struct sensor *s, int64_t t) {
  double h;
  int wd;
  local_clock(t, &h, &wd);
  double per_hour = s->level * traffic_shape(h, wd) + 0.5;
  double gap_s = -log(1.0 - uniform(rng)) * 3600.0 / per_hour;
  if (gap_s > 3600)
    gap_s = 3600; /* re-evaluate the rate at least hourly */
  return t + (int64_t)(gap_s * 1e9) + 1;
}

static void make_reading(struct rng *rng, const struct sensor *s, int64_t t,
                         struct reading *r) {
  double h;
  int wd;
  local_clock(t, &h, &wd);
  memset(r, 0, sizeof *r);
  switch (s->kind) {
  case AIR: {
    double tr = traffic_shape(h, wd);
    r->nvalues = 3;
    r->names[0] = "no2", r->names[1] = "pm10", r->names[2] = "pm25";
    r->units[0] = r->units[1] = r->units[2] = "ug/m3";
    r->values[0] = fmax(0.5, s->level * (0.4 + tr) + 4 * normal(rng));
    r->values[1] = fmax(0.5, 0.6 * s->level * (0.6 + 0.5 * tr) + 3 * normal(rng));
    r->values[2] = fmax(0.2, 0.6 * r->values[1] + 1.5 * normal(rng));
    break;
  }
  case ENERGY:
    r->nvalues = 1;
    r->names[0] = "energy_kwh", r->units[0] = "kWh";
    r->values[0] = fmax(0.005, s->level * load_shape(h, wd) * (1 + 0.15 * normal(rng)));
    break;
  case PARKING: {
    double busy = wd == 6 ? 0.2 : 0.15 + 0.75 * bump(h, 14, 4);
    double occ = s->capacity * busy + 0.04 * s->capacity * normal(rng);
    r->nvalues = 2, r->integer = 1;
    r->names[0] = "occupied", r->names[1] = "capacity";
    r->values[0] = fmin(s->capacity, fmax(0, round(occ)));
    r->values[1] = s->capacity;
    break;
  }
  case BIKESHARE: {
    double out = traffic_shape(h, wd) / 1.6;
    double bikes = s->capacity * (0.7 - 0.5 * out) + 2 * normal(rng);
    r->nvalues = 2, r->integer = 1;
    r->names[0] = "bikes_available", r->names[1] = "docks_available";
    r->values[0] = fmin(s->capacity, fmax(0, round(bikes)));
    r->values[1] = s->capacity - r->values[0];
    break;
  }
  case TRAFFIC:
  case BIKES: {
    static const char *const cars[] = {"car", "car", "car",   "car", "car", "car",
                                       "van", "van", "truck", "bus", "moto"};
    static const char *const bikes[] = {"bike", "bike", "bike", "ebike", "cargo"};
    int morning = h < 12.5;
    r->direction = (uniform(rng) < (morning ? 0.65 : 0.35)) ? "in" : "out";
    r->vclass = s->kind == TRAFFIC ? cars[below(rng, 11)] : bikes[below(rng, 5)];
    /* a population of 40,000 devices, skewed: commuters pass often */
    double u = uniform(rng);
    uint32_t dev = (uint32_t)(40000.0 * u * u * u);
    char devname[32];
    int n = snprintf(devname, sizeof devname, "dev-%u", dev);
    snprintf(r->device, sizeof r->device, "%016" PRIx64,
             vg_fnv1a64(VG_FNV64_OFFSET, devname, (size_t)n));
    break;
  }
  default: break;
  }
}

static int parse_duration_ns(const char *s, int64_t *out) {
  char *end;
  double v = strtod(s, &end);
  double mult = 1e9;
  if (end == s || v < 0)
    return -1;
  if (strcmp(end, "ms") == 0)
    mult = 1e6;
  else if (strcmp(end, "s") == 0 || *end == '\0')
    mult = 1e9;
  else if (strcmp(end, "m") == 0)
    mult = 60e9;
  else if (strcmp(end, "h") == 0)
    mult = 3600e9;
  else if (strcmp(end, "d") == 0)
    mult = 86400e9;
  else
    return -1;
  *out = (int64_t)(v * mult);
  return 0;
}

static int parse_time_ns(const char *s, int64_t *out) {
  struct tm tm = {0};
  const char *end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end) {
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%d", &tm);
  }
  if (!end || (*end && strcmp(end, "Z") != 0))
    return -1;
  *out = (int64_t)timegm(&tm) * 1000000000;
  return 0;
}

static void usage(FILE *f) {
  fputs(
      "usage: vigie-gen [--brokers HOST:PORT [--topic PATTERN] | --output PATTERN]\n"
      "                 [options]\n"
      "Simulates a town's sensors and writes their messages to Kafka or files.\n"
      "PATTERN may contain {kind}: air-quality, energy, traffic, bikes, parking,\n"
      "bikeshare (default topic \"{kind}\"; \"-\" as output is stdout).\n\n"
      "  --format json|influx|senml  message format (json)\n"
      "  --sensors N                 sensors in town (300)\n"
      "  --seed N                    random seed; same seed, same bytes (1)\n"
      "  --start TIME                simulated start, UTC (2026-03-28T00:00:00Z)\n"
      "  --duration DUR              simulated span: 90s, 15m, 6h, 2d (1d)\n"
      "  --speed X                   simulated seconds per real second (0: flat out)\n"
      "  --rate N                    at most N messages per second (0: no limit)\n"
      "  --late P                    share of messages delayed by 1 min..--late-max\n"
      "  --late-max DUR              longest delay of a late message (2h)\n"
      "  --out-of-order P            share delayed by 1..30 s\n"
      "  --duplicate P               share emitted twice\n"
      "  --malformed P               share corrupted (truncated, not JSON, bad value,\n"
      "                              bad time, invalid UTF-8)\n"
      "  --max-messages N            stop after N messages\n"
      "  --no-key                    Kafka messages without a key (default: sensor id)\n"
      "  --progress                  a progress line on stderr every second\n"
      "  -X key=value                librdkafka producer property\n",
      f);
}

static int parse_opts(int argc, char **argv, struct opts *o) {
  static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                     {"topic", required_argument, NULL, 't'},
                                     {"output", required_argument, NULL, 'o'},
                                     {"format", required_argument, NULL, 'f'},
                                     {"sensors", required_argument, NULL, 'n'},
                                     {"seed", required_argument, NULL, 's'},
                                     {"start", required_argument, NULL, 'S'},
                                     {"duration", required_argument, NULL, 'D'},
                                     {"speed", required_argument, NULL, 'x'},
                                     {"rate", required_argument, NULL, 'r'},
                                     {"late", required_argument, NULL, 'L'},
                                     {"late-max", required_argument, NULL, 'M'},
                                     {"out-of-order", required_argument, NULL, 'O'},
                                     {"duplicate", required_argument, NULL, 'd'},
                                     {"malformed", required_argument, NULL, 'm'},
                                     {"max-messages", required_argument, NULL, 'N'},
                                     {"no-key", no_argument, NULL, 'k'},
                                     {"progress", no_argument, NULL, 'p'},
                                     {"help", no_argument, NULL, 'h'},
                                     {0}};
  size_t nprops = 0;
  int c;
  while ((c = getopt_long(argc, argv, "X:", lo, NULL)) != -1) {
    char *end = NULL;
    switch (c) {
    case 'b': o->brokers = optarg; break;
    case 't': o->topic = optarg; break;
    case 'o': o->output = optarg; break;
    case 'f': o->format = optarg; break;
    case 'n': o->sensors = (int)strtol(optarg, &end, 10); break;
    case 's': o->seed = strtoull(optarg, &end, 10); break;
    case 'S':
      if (parse_time_ns(optarg, &o->start_ns)) {
        fprintf(stderr,
                "vigie-gen: --start \"%s\": want 2026-03-28 or "
                "2026-03-28T00:00:00Z\n",
                optarg);
        return -1;
      }
      break;
    case 'D':
    case 'M':
      if (parse_duration_ns(optarg, c == 'D' ? &o->duration_ns : &o->late_max_ns)) {
        fprintf(stderr, "vigie-gen: --%s \"%s\": want a duration like 90s, 15m, 6h, 2d\n",
                c == 'D' ? "duration" : "late-max", optarg);
        return -1;
      }
      break;
    case 'x': o->speed = strtod(optarg, &end); break;
    case 'r': o->rate = strtod(optarg, &end); break;
    case 'L': o->p_late = strtod(optarg, &end); break;
    case 'O': o->p_ooo = strtod(optarg, &end); break;
    case 'd': o->p_dup = strtod(optarg, &end); break;
    case 'm': o->p_bad = strtod(optarg, &end); break;
    case 'N': o->max_messages = strtoull(optarg, &end, 10); break;
    case 'k': o->keyed = 0; break;
    case 'p': o->progress = 1; break;
    case 'X': {
      char *eq = strchr(optarg, '=');
      if (!eq || nprops == 32) {
        fprintf(stderr, "vigie-gen: -X wants key=value (at most 32)\n");
        return -1;
      }
      *eq = '\0';
      o->props[2 * nprops] = optarg;
      o->props[2 * nprops + 1] = eq + 1;
      nprops++;
      break;
    }
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return -1;
    }
    if (end && *end) {
      fprintf(stderr, "vigie-gen: option value \"%s\" is not a number\n", optarg);
      return -1;
    }
  }
  o->props[2 * nprops] = NULL;
  if (optind < argc) {
    fprintf(stderr, "vigie-gen: unexpected argument \"%s\"\n", argv[optind]);
    return -1;
  }
  if (!o->brokers == !o->output) {
    fprintf(stderr, "vigie-gen: give either --brokers or --output\n");
    return -1;
  }
  if (o->sensors < NKINDS) {
    fprintf(stderr, "vigie-gen: --sensors must be at least %d\n", NKINDS);
    return -1;
  }
  double ps[] = {o->p_late, o->p_ooo, o->p_dup, o->p_bad};
  for (int i = 0; i < 4; i++)
    if (ps[i] < 0 || ps[i] > 1) {
      fprintf(stderr, "vigie-gen: proportions are between 0 and 1\n");
      return -1;
    }
  return 0;
}

int main(int argc, char **argv) {
  struct opts o = {.topic = "{kind}",
                   .format = "json",
                   .seed = 1,
                   .sensors = 300,
                   .duration_ns = 86400LL * 1000000000,
                   .late_max_ns = 7200LL * 1000000000,
                   .keyed = 1};
  parse_time_ns("2026-03-28T00:00:00Z", &o.start_ns);
  if (parse_opts(argc, argv, &o) != 0)
    return 2;
  enum fmt f = strcmp(o.format, "json") == 0     ? FMT_JSON
               : strcmp(o.format, "influx") == 0 ? FMT_INFLUX
               : strcmp(o.format, "senml") == 0  ? FMT_SENML
                                                 : (enum fmt) - 1;
  if ((int)f < 0) {
    fprintf(stderr, "vigie-gen: --format \"%s\": want json, influx or senml\n", o.format);
    return 2;
  }

  struct rng rng;
  rng_seed(&rng, o.seed);
  struct sensor *sensors = calloc((size_t)o.sensors, sizeof *sensors);
  struct heap h = {0};
  if (!sensors) {
    perror("vigie-gen");
    return 1;
  }
  /* the town: kinds by share, every kind at least one sensor */
  int n = 0, per_kind[NKINDS];
  for (int k = 0; k < NKINDS; k++) {
    per_kind[k] = o.sensors * kind_share[k] / 1000;
    if (per_kind[k] < 1)
      per_kind[k] = 1;
  }
  per_kind[ENERGY] += o.sensors - (per_kind[0] + per_kind[1] + per_kind[2] + per_kind[3] +
                                   per_kind[4] + per_kind[5]);
  for (int k = 0; k < NKINDS; k++)
    for (int i = 0; i < per_kind[k]; i++, n++) {
      struct sensor *s = &sensors[n];
      s->kind = (enum kind)k;
      snprintf(s->id, sizeof s->id, "%s-%04d", kind_prefix[k], i + 1);
      s->district = districts[below(&rng, 6)];
      s->capacity =
          k == PARKING ? 100 + 50 * (int)below(&rng, 20) : 10 + (int)below(&rng, 30);
      s->level = k == AIR       ? 18 + 20 * uniform(&rng)
                 : k == ENERGY  ? 0.2 + 0.5 * uniform(&rng)
                 : k == TRAFFIC ? 150 + 650 * uniform(&rng)
                                : 20 + 120 * uniform(&rng);
      int64_t first =
          kind_period[k]
              ? o.start_ns + (int64_t)below(&rng, (uint32_t)kind_period[k]) * 1000000000
              : next_passage(&rng, s, o.start_ns);
      heap_push(&h, (struct item){.at = first, .sensor = n, .kind = (enum kind)k});
    }

  struct sink sink = {0};
  if (sink_open(&sink, &o) != 0)
    return 1;
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  int64_t end_ns = o.start_ns + o.duration_ns;
  uint64_t sent = 0, readings = 0, late = 0, dups = 0, bad = 0;
  double t0 = mono_s(), last_progress = t0;
  struct buf b;
  int rc = 0;
  while (h.n && !stop_requested && (!o.max_messages || sent < o.max_messages)) {
    struct item it = heap_pop(&h);
    /* pace: simulated time and/or message rate */
    if (o.speed > 0 || o.rate > 0) {
      double due = 0;
      if (o.speed > 0)
        due = (double)(it.at - o.start_ns) / 1e9 / o.speed;
      if (o.rate > 0 && (double)sent / o.rate > due)
        due = (double)sent / o.rate;
      double wait = t0 + due - mono_s();
      if (wait > 0) {
        if (sink.rk)
          rd_kafka_poll(sink.rk, 0);
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
      }
    }
    if (o.progress && mono_s() - last_progress >= 1.0) {
      char ts[VG_FMT_ISO_MAX];
      vg_fmt_utc_ms(it.at, ts);
      last_progress = mono_s();
      fprintf(stderr, "vigie-gen: simulated %s  messages %" PRIu64 "  %.0f msg/s\n", ts,
              sent, (double)sent / (last_progress - t0));
    }
    if (it.sensor < 0) { /* a held-back message's turn */
      rc = sink_put(&sink, it.kind, it.key[0] ? it.key : NULL, it.msg, it.len);
      free(it.msg);
      sent++;
      if (rc)
        break;
      continue;
    }
    if (it.at >= end_ns)
      continue; /* this sensor is done */
    struct sensor *s = &sensors[it.sensor];
    int64_t next = kind_period[s->kind]
                       ? it.at + (int64_t)kind_period[s->kind] * 1000000000
                       : next_passage(&rng, s, it.at);
    heap_push(&h, (struct item){.at = next, .sensor = it.sensor, .kind = s->kind});
    /* outages: about one a week per sensor, lasting ~3 h on average */
    if (it.at < s->down_until)
      continue;
    double period_s = kind_period[s->kind] ? kind_period[s->kind] : 60;
    if (uniform(&rng) < period_s / (7 * 86400.0)) {
      s->down_until = it.at + (int64_t)(-log(1.0 - uniform(&rng)) * 3 * 3600e9);
      continue;
    }
    struct reading r;
    make_reading(&rng, s, it.at, &r);
    readings++;
    format_msg(&b, f, s, it.at, &r, 0);
    if (uniform(&rng) < o.p_bad) {
      bad++;
      malformed(&b, &rng, f, s, it.at, &r);
    }
    const char *key = o.keyed ? s->id : NULL;
    double d = uniform(&rng);
    int64_t delay = 0;
    if (d < o.p_late)
      delay = 60000000000LL +
              (int64_t)(uniform(&rng) * (double)(o.late_max_ns - 60000000000LL));
    else if (d < o.p_late + o.p_ooo)
      delay = 1000000000LL + (int64_t)(uniform(&rng) * 29e9);
    int copies = uniform(&rng) < o.p_dup ? 2 : 1;
    dups += (uint64_t)(copies - 1);
    for (int c = 0; c < copies; c++) {
      if (delay > 0) {
        late++;
        struct item held = {.at = it.at + delay,
                            .sensor = -1,
                            .kind = s->kind,
                            .len = b.n,
                            .msg = malloc(b.n + 1)};
        if (!held.msg) {
          perror("vigie-gen");
          return 1;
        }
        memcpy(held.msg, b.d, b.n);
        snprintf(held.key, sizeof held.key, "%s", key ? key : "");
        heap_push(&h, held);
        continue;
      }
      rc = sink_put(&sink, s->kind, key, b.d, b.n);
      if (rc != 0)
        break;
      sent++;
    }
    if (rc)
      break;
  }
  while (h.n) { /* stopped early: free what is still held back */
    struct item it = heap_pop(&h);
    free(it.msg);
  }
  free(h.v);
  free(sensors);
  if (sink_close(&sink) != 0)
    rc = -1;
  double secs = mono_s() - t0;
  fprintf(stderr,
          "vigie-gen: %" PRIu64 " messages (%" PRIu64 " readings, %" PRIu64
          " delayed, %" PRIu64 " duplicates, %" PRIu64 " malformed) in %.1f s\n",
          sent, readings, late, dups, bad, secs);
  return rc == 0 ? 0 : 1;
}
