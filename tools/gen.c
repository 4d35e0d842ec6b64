/*
 * vigie-gen: realistic city sensor traffic, for the demo, tests and benchmarks.
 *
 * A discrete-event simulation of a town's sensors (air-quality stations,
 * energy meters, road-traffic loops and bike counters emitting one event per
 * passage, car parks, bike-share stations) with diurnal and weekly patterns,
 * seasons, weather, pollution episodes and year-on-year trends (the town's
 * climate, below), noise and outages. Each message is placed on one time line (a min-heap
 * of emission instants); late and out-of-order messages are re-scheduled later on it,
 * duplicates are emitted twice, and malformed ones are corrupted in one of the classes
 * the codecs reject. Every random draw comes from one seeded xoshiro256** stream consumed
 * in a fixed order, and the climate from a hash of the seed and the time, so the output
 * is byte-identical for a given seed and options.
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

static void normal2(struct rng *r, double *a, double *b) { /* Box-Muller, both */
  double u = uniform(r), v = uniform(r), m = sqrt(-2.0 * log(1.0 - u));
  *a = m * cos(2.0 * M_PI * v);
  *b = m * sin(2.0 * M_PI * v);
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

/* Air-quality stations are of three classes, as in a real network: near
 * traffic, urban background and suburban (in turn by index, traffic first). */
enum station { ST_TRAFFIC, ST_URBAN, ST_SUBURBAN };
static const enum station station_cycle[4] = {ST_TRAFFIC, ST_URBAN, ST_SUBURBAN,
                                              ST_URBAN};

struct sensor {
  enum kind kind;
  char id[16];
  const char *district;
  double level;       /* kind-specific scale; air: the station's annual NO2 */
  int capacity;       /* parking, bikeshare */
  int64_t down_until; /* outage end, ns */
  /* air quality */
  enum station station;
  uint32_t index;           /* among the stations: keys its own noise */
  int64_t hour;             /* the hour of the factors below */
  double pm_gain, o3_gain;  /* the station's site: more or less PM10, O3 */
  double f_no2, f_pm, f_o3; /* the station's hourly departures */
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

/* ---- the town's climate --------------------------------------------------- */

/* Weather, seasons, pollution episodes and year-on-year trends are functions
 * of (seed, time) through a hash, not draws from the stream: they are the
 * same whatever --sensors, --start, --duration or --backfill, so two runs over
 * the same days see the same weather. They are evaluated once per simulated
 * hour, the diurnal shapes once per simulated minute, and cost next to nothing
 * per message. Days are local days (UTC+1, as local_clock) counted from
 * 1970-01-01, a January 1st, so day-of-year is fmod(day, YEAR_DAYS).
 *
 * What the air-quality stations show, by design (the EU directive's
 * indicators move on it; docs/indicators.md):
 * - NO2: a regional background (higher in winter, at night and at rush hours
 *   under a low boundary layer) plus the local traffic's share (most of a
 *   traffic station's), both scaled by a day-to-day dispersion that persists
 *   over a few days and worsens in stagnant episodes: annual means of 21-46
 *   by station, rush hours above 200 ug/m3 now and then at a traffic station
 *   during winter episodes.
 * - PM10: a regional background (heating in winter, washed out by rain) plus
 *   episodes of 2-4 days (anticyclonic in winter, ammonium nitrate in early
 *   spring) whose daily mean passes 50 ug/m3, stronger near traffic, plus
 *   resuspension by traffic. PM2.5 is 0.6 x PM10.
 * - O3: a seasonal background plus an afternoon photochemical peak that grows
 *   with sunshine and heat waves (summer: some days' highest 8-hour mean is
 *   over 120), minus the titration by the local traffic's NO2, so it is
 *   anti-correlated with NO2 near traffic and lowest at rush hours.
 * - Activity: car traffic eases 1 %/year and in August, bikes grow 8 %/year,
 *   ride more in summer and less in the rain, electricity use follows the
 *   heating season and falls 2.5 %/year; all three keep their weekday and
 *   weekend shapes, and their level on the default start day. */

#define YEAR_DAYS 365.2425
#define REF_DAY   20540.0 /* 2026-03-28, the default --start: trends are 1 there */

enum {
  H_DISP = 1,
  H_DISP_SLOW,
  H_PM_BG,
  H_TEMP,
  H_SUN,
  H_PM_SPELL,
  H_HEAT_SPELL,
  H_STATION,
  H_SITE
};

static uint64_t climate_seed;

static uint64_t hash_draw(uint64_t tag, int64_t n) {
  uint64_t x = climate_seed ^ (tag * 0xd1b54a32d192ed03ULL) ^
               ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
  return splitmix64(&x);
}

static double hash_uniform(uint64_t tag, int64_t n) {
  return (double)(hash_draw(tag, n) >> 11) * 0x1.0p-53;
}

static double hash_normal(uint64_t tag, int64_t n) {
  double u = hash_uniform(tag, 2 * n), v = hash_uniform(tag, 2 * n + 1);
  return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* a normal value every `step` days, smoothly interpolated between */
static double smooth_noise(uint64_t tag, double day, double step) {
  double x = day / step - 0.5, k = floor(x), f = x - k;
  f = f * f * (3 - 2 * f);
  return (1 - f) * hash_normal(tag, (int64_t)k) + f * hash_normal(tag, (int64_t)k + 1);
}

/* 1 on the peak day of each year, 0 half a year away */
static double season(double day, double peak) {
  return 0.5 + 0.5 * cos(2 * M_PI * (day - peak) / YEAR_DAYS);
}

static double day_of_year(double day) {
  return fmod(day, YEAR_DAYS);
}

/* PM10 episodes: anticyclonic in winter, ammonium nitrate around March */
static double pm_spell_prob(double day) {
  double cold = season(day, 17);
  return 0.05 + 0.5 * cold * cold + 0.3 * bump(day_of_year(day), 80, 18);
}

/* heat waves and sunny spells: ozone */
static double heat_spell_prob(double day) {
  double s = season(day, 190);
  return 0.7 * s * s * s * s;
}

/* A spell (a pollution episode, a heat wave): each block of `block` days
 * holds one or none, with probability prob(the block's middle), lasting
 * lmin..lmax days within the block. Returns its profile at `day` (0 outside,
 * rising to 1 over half a day at each end) and its intensity in [0, 1). */
static double spell(uint64_t tag, double day, double block, double (*prob)(double),
                    double lmin, double lmax, double *intensity) {
  int64_t b = (int64_t)floor(day / block);
  *intensity = 0;
  if (hash_uniform(tag, 4 * b) >= prob(((double)b + 0.5) * block))
    return 0;
  double len = lmin + (lmax - lmin) * hash_uniform(tag, 4 * b + 1);
  double start = (double)b * block + (block - len) * hash_uniform(tag, 4 * b + 2);
  double edge = fmin(day - start, start + len - day) / 0.5;
  if (edge <= 0)
    return 0;
  *intensity = hash_uniform(tag, 4 * b + 3);
  edge = fmin(edge, 1);
  return edge * edge * (3 - 2 * edge);
}

struct climate {
  int64_t hour;                   /* UTC hours since the epoch of what follows */
  double no2, pm_bg, pm_spell;    /* NO2 factor, PM10 background and episode */
  double o3_base, o3_amp;         /* O3 background, afternoon peak */
  double energy, cars, bikes;     /* activity factors */
  int64_t minute;                 /* UTC minutes since the epoch of what follows */
  double traffic, load;           /* traffic_shape, load_shape */
  double no2_day, pm_day, o3_day; /* diurnal shapes of the pollutants */
  double traffic_mean, no2_mean, pm_mean; /* their means over a week */
};

static struct climate clim = {.hour = INT64_MIN, .minute = INT64_MIN};

static double no2_diurnal(double h) { /* low boundary layer: night, morning */
  return 0.8 + 0.3 * bump(h, 8, 2.5) + 0.35 * bump(h, 21, 3);
}

static double pm_diurnal(double h) {
  return 0.85 + 0.2 * bump(h, 9, 2.5) + 0.3 * bump(h, 22, 3.5);
}

static void climate_init(uint64_t seed) {
  uint64_t x = seed ^ 0x636c696d617465ULL; /* "climate" */
  climate_seed = splitmix64(&x);
  double tr = 0, no2 = 0, pm = 0;
  for (int m = 0; m < 7 * 1440; m++) {
    double h = (m % 1440 + 0.5) / 60.0;
    tr += traffic_shape(h, m / 1440);
    no2 += no2_diurnal(h);
    pm += pm_diurnal(h);
  }
  clim.traffic_mean = tr / (7 * 1440);
  clim.no2_mean = no2 / (7 * 1440);
  clim.pm_mean = pm / (7 * 1440);
}

static void climate_hour(int64_t hour) {
  double day = ((double)hour + 1.5) / 24.0; /* the hour's middle, local */
  double cold = season(day, 17), warm = 1 - cold, o3s = season(day, 185);
  double years = (day - REF_DAY) / YEAR_DAYS, doy = day_of_year(day);
  double disp =
      0.7 * smooth_noise(H_DISP, day, 1) + 0.6 * smooth_noise(H_DISP_SLOW, day, 4);
  double pm_i, heat_i, noon_i;
  double pm = spell(H_PM_SPELL, day, 9, pm_spell_prob, 2, 4, &pm_i);
  double heat = spell(H_HEAT_SPELL, day, 10, heat_spell_prob, 3, 6, &heat_i);
  /* a day is rainy or sunny as a whole; no rain in an episode */
  double d = floor(day), sun = hash_uniform(H_SUN, (int64_t)d);
  int rain = sun < 0.33 &&
             spell(H_PM_SPELL, d + 0.5, 9, pm_spell_prob, 2, 4, &noon_i) == 0 &&
             spell(H_HEAT_SPELL, d + 0.5, 10, heat_spell_prob, 3, 6, &noon_i) == 0;
  clim.hour = hour;
  clim.no2 = exp(0.25 * disp - 0.03) * (0.82 + 0.36 * cold) *
             (1 + pm * (0.5 + 1.0 * pm_i)) * (1 + 0.15 * heat) * (rain ? 0.8 : 1);
  clim.pm_bg = 11 * (0.8 + 0.45 * cold) *
                   exp(0.3 * smooth_noise(H_PM_BG, day, 2) - 0.045) * (rain ? 0.7 : 1) +
               6 * heat * heat_i;
  clim.pm_spell = pm * (20 + 50 * pm_i);
  clim.o3_base = (30 + 30 * o3s) * (rain ? 0.85 : 1);
  clim.o3_amp = fmax(0, pow(o3s, 1.5) * (15 + 70 * sun) * (rain ? 0.5 : 1) +
                            heat * (25 + 50 * heat_i) - 10 * pm);
  clim.energy = pow(0.975, years) *
                (0.7 + 0.6 * fmax(0, cold + 0.12 * smooth_noise(H_TEMP, day, 2)));
  double holidays = bump(doy, 222, 10); /* mid-August */
  clim.cars = pow(0.99, years) * (1 - 0.2 * holidays) * (rain ? 1.05 : 1);
  clim.bikes = pow(1.08, years) * (0.65 + 0.55 * warm) /
               (0.65 + 0.55 * (1 - season(REF_DAY, 17))) * (1 - 0.15 * holidays) *
               (rain         ? 0.6
                : sun > 0.75 ? 1.1
                             : 1);
}

static int64_t floor_div(int64_t a, int64_t b) {
  return a / b - (a % b < 0);
}

static const struct climate *climate_at(int64_t t_ns) {
  int64_t minute = floor_div(t_ns, 60000000000LL);
  if (minute == clim.minute)
    return &clim;
  int64_t hour = floor_div(minute, 60);
  if (hour != clim.hour)
    climate_hour(hour);
  double h;
  int wd;
  local_clock(minute * 60000000000LL + 30000000000LL, &h, &wd);
  clim.minute = minute;
  clim.traffic = traffic_shape(h, wd);
  clim.load = load_shape(h, wd);
  clim.no2_day = no2_diurnal(h) / clim.no2_mean;
  clim.pm_day = pm_diurnal(h) / clim.pm_mean;
  clim.o3_day = bump(h, 15.5, 3.2);
  return &clim;
}

/* ---- options ------------------------------------------------------------- */

struct opts {
  const char *brokers, *topic, *output, *format;
  uint64_t seed;
  int sensors;
  int64_t start_ns, duration_ns, backfill_ns;
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

/* Appends strings, up to a NULL: the hot path of formatting, without printf */
static void put_str(struct buf *b, ...) {
  va_list ap;
  va_start(ap, b);
  for (const char *s; (s = va_arg(ap, const char *)) != NULL;) {
    size_t len = strlen(s), room = sizeof b->d - 1 - b->n;
    if (len > room)
      len = room;
    memcpy(b->d + b->n, s, len);
    b->n += len;
  }
  va_end(ap);
  b->d[b->n] = '\0';
}

static void put_int(struct buf *b, int64_t v) {
  char tmp[24];
  size_t i = sizeof tmp;
  uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
  tmp[--i] = '\0';
  do
    tmp[--i] = (char)('0' + u % 10);
  while (u /= 10);
  if (v < 0)
    tmp[--i] = '-';
  put_str(b, tmp + i, NULL);
}

/* v with `decimals` (0 or 2) digits after the point, as "%.0f"/"%.2f" print
 * it but for exact ties (rounded away from zero here) */
static void put_fixed(struct buf *b, double v, int decimals) {
  double scaled = decimals ? v * 100 : v;
  if (!(fabs(scaled) < 1e15)) {
    put(b, "%.*f", decimals, v);
    return;
  }
  int64_t n = llround(scaled);
  if (!decimals) {
    put_int(b, n);
    return;
  }
  char frac[4] = {'.', 0, 0, 0};
  uint64_t u = n < 0 ? -(uint64_t)n : (uint64_t)n;
  frac[1] = (char)('0' + u / 10 % 10), frac[2] = (char)('0' + u % 10);
  if (n < 0)
    put_str(b, "-", NULL);
  put_int(b, (int64_t)(u / 100));
  put_str(b, frac, NULL);
}

/* One reading: up to 4 named values. Mobility passages carry strings too. */
struct reading {
  const char *names[4];
  const char *units[4];
  double values[4];
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
    put_str(b, "{", NULL);
    if (flags & F_BAD_TIME)
      put_str(b, "\"ts\":\"yesterday\",", NULL);
    else if (!omit_time) {
      switch (s->kind) {
      case ENERGY:
        put_str(b, "\"ts\":", NULL);
        put_int(b, t_ns / 1000000000);
        put_str(b, ",", NULL);
        break;
      case TRAFFIC:
      case BIKES:
        put_str(b, "\"ts\":", NULL);
        put_int(b, t_ns / 1000000);
        put_str(b, ",", NULL);
        break;
      default: vg_fmt_utc_ms(t_ns, ts); put_str(b, "\"ts\":\"", ts, "\",", NULL);
      }
    }
    put_str(b,
            s->kind == TRAFFIC || s->kind == BIKES ? "\"counter_id\":\""
                                                   : "\"sensor_id\":\"",
            s->id, "\",\"district\":\"", s->district, "\"", NULL);
    if (r->direction)
      put_str(b, ",\"direction\":\"", r->direction, "\",\"vehicle_class\":\"", r->vclass,
              "\",\"device_hash\":\"", r->device, "\"", NULL);
    for (int i = 0; i < nv; i++) {
      put_str(b, ",\"", r->names[i], "\":", NULL);
      put_fixed(b, r->values[i], r->integer ? 0 : 2);
    }
    if (nv < r->nvalues)
      put_str(b, ",\"", r->names[nv], "\":\"n/a\"", NULL);
    put_str(b, "}", NULL);
  } else if (f == FMT_INFLUX) {
    put(b, "%s,district=%s,%s=%s", kind_name[s->kind], s->district,
        s->kind == TRAFFIC || s->kind == BIKES ? "counter_id" : "sensor_id", s->id);
    if (r->direction)
      put(b, ",direction=%s,vehicle_class=%s passages=1i,device_hash=\"%s\"",
          r->direction, r->vclass, r->device);
    for (int i = 0; i < nv; i++) {
      put_str(b, i ? "," : " ", r->names[i], "=", NULL);
      put_fixed(b, r->values[i], r->integer ? 0 : 2);
      if (r->integer)
        put_str(b, "i", NULL);
    }
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
      else {
        put_str(b, ",\"v\":", NULL);
        put_fixed(b, r->values[i], 2);
        put_str(b, "}", NULL);
      }
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
  const struct climate *c = climate_at(t);
  double per_hour = s->level * c->traffic * (s->kind == BIKES ? c->bikes : c->cars) + 0.5;
  double gap_s = -log(1.0 - uniform(rng)) * 3600.0 / per_hour;
  if (gap_s > 3600)
    gap_s = 3600; /* re-evaluate the rate at least hourly */
  return t + (int64_t)(gap_s * 1e9) + 1;
}

/* What each class of station adds to the town's air: the background's share
 * of its NO2, its PM10 from traffic (resuspension), how much more of a PM10
 * episode it sees, how much of the ozone. */
static const struct station_kind {
  double background, resuspension, spell_gain, o3_gain;
} station_kinds[] = {[ST_TRAFFIC] = {0.45, 10, 1.4, 0.95},
                     [ST_URBAN] = {0.72, 3.5, 1.1, 0.97},
                     [ST_SUBURBAN] = {0.85, 1.5, 1.0, 1.0}};

/* the station's own departures from the town's air, hour by hour, each
 * correlated with the hour before */
static void station_hour(struct sensor *s, int64_t hour) {
  if (s->hour == hour)
    return;
  static const double sigma[3] = {0.15, 0.1, 0.07};
  double f[3];
  for (uint64_t i = 0; i < 3; i++) {
    uint64_t tag = ((uint64_t)H_STATION << 40) | ((uint64_t)s->index << 2) | i;
    double z = (hash_normal(tag, hour) + hash_normal(tag, hour - 1)) * M_SQRT1_2;
    f[i] = exp(sigma[i] * z - 0.5 * sigma[i] * sigma[i]);
  }
  s->hour = hour;
  s->f_no2 = f[0], s->f_pm = f[1], s->f_o3 = f[2];
}

static void make_reading(struct rng *rng, struct sensor *s, int64_t t,
                         struct reading *r) {
  double h;
  int wd;
  local_clock(t, &h, &wd);
  memset(r, 0, sizeof *r);
  switch (s->kind) {
  case AIR: { /* the model: "the town's climate" above */
    const struct climate *c = climate_at(t);
    station_hour(s, c->hour);
    const struct station_kind *k = &station_kinds[s->station];
    double traffic = c->traffic / c->traffic_mean * c->cars;
    double local = s->level * (1 - k->background) * traffic;
    double no2 = c->no2 * s->f_no2 * (s->level * k->background * c->no2_day + local);
    double pm10 =
        s->pm_gain * (s->f_pm * (c->pm_bg + k->spell_gain * c->pm_spell) * c->pm_day +
                      k->resuspension * traffic);
    double o3 = k->o3_gain * s->o3_gain * s->f_o3 * (c->o3_base + c->o3_amp * c->o3_day) -
                0.8 * c->no2 * local;
    double n[4];
    normal2(rng, &n[0], &n[1]);
    normal2(rng, &n[2], &n[3]);
    /* pm25 last: a spoiled value (F_BAD_VALUE) is still one of the three
     * metrics the first configurations listed */
    r->nvalues = 4;
    r->names[0] = "no2", r->names[1] = "o3", r->names[2] = "pm10", r->names[3] = "pm25";
    r->units[0] = r->units[1] = r->units[2] = r->units[3] = "ug/m3";
    r->values[0] = fmax(0.5, no2 + 3 * n[0]);
    r->values[1] = fmax(1, o3 + 3 * n[1]);
    r->values[2] = fmax(0.5, pm10 + 2.5 * n[2]);
    r->values[3] = fmax(0.2, 0.6 * pm10 + 1.2 * n[3]);
    break;
  }
  case ENERGY: {
    const struct climate *c = climate_at(t);
    r->nvalues = 1;
    r->names[0] = "energy_kwh", r->units[0] = "kWh";
    r->values[0] = fmax(0.005, s->level * c->load * c->energy * (1 + 0.15 * normal(rng)));
    break;
  }
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
      "  --backfill DUR              first simulate DUR before --start flat out (at\n"
      "                              most --rate), then go on from --start at --speed\n"
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
                                     {"backfill", required_argument, NULL, 'B'},
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
    case 'B':
    case 'M':
      if (parse_duration_ns(optarg, c == 'D'   ? &o->duration_ns
                                    : c == 'B' ? &o->backfill_ns
                                               : &o->late_max_ns)) {
        fprintf(stderr, "vigie-gen: --%s \"%s\": want a duration like 90s, 15m, 6h, 2d\n",
                c == 'D'   ? "duration"
                : c == 'B' ? "backfill"
                           : "late-max",
                optarg);
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
  climate_init(o.seed);
  struct sensor *sensors = calloc((size_t)o.sensors, sizeof *sensors);
  struct heap h = {0};
  if (!sensors) {
    perror("vigie-gen");
    return 1;
  }
  /* the simulation starts --backfill before --start; pacing starts at --start */
  int64_t sim_start = o.start_ns - o.backfill_ns;
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
      s->level = k == AIR       ? uniform(&rng)
                 : k == ENERGY  ? 0.2 + 0.5 * uniform(&rng)
                 : k == TRAFFIC ? 150 + 650 * uniform(&rng)
                                : 20 + 120 * uniform(&rng);
      if (k == AIR) { /* annual NO2: 36-46 near traffic, 26-35 urban, 23-29 suburban */
        static const double lo[] = {36, 26, 23}, span[] = {10, 9, 6};
        s->station = station_cycle[i % 4];
        s->index = (uint32_t)i;
        s->hour = INT64_MIN;
        s->level = lo[s->station] + span[s->station] * s->level;
        s->pm_gain = 0.85 + 0.3 * hash_uniform(H_SITE, 2 * i);
        s->o3_gain = 0.92 + 0.16 * hash_uniform(H_SITE, 2 * i + 1);
      }
      int64_t first =
          kind_period[k]
              ? sim_start + (int64_t)below(&rng, (uint32_t)kind_period[k]) * 1000000000
              : next_passage(&rng, s, sim_start);
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
  /* pacing runs from the moment the simulation reaches --start: the
   * backfill before it goes flat out, at most at --rate */
  double pace_t0 = t0;
  uint64_t pace_sent0 = 0;
  int live = o.backfill_ns == 0;
  struct buf b;
  int rc = 0;
  while (h.n && !stop_requested && (!o.max_messages || sent < o.max_messages)) {
    struct item it = heap_pop(&h);
    if (it.sensor >= 0 && it.at >= end_ns)
      continue; /* this sensor is done (not worth waiting for) */
    /* pace: simulated time and/or message rate */
    if (!live && it.at >= o.start_ns) {
      live = 1;
      pace_t0 = mono_s();
      pace_sent0 = sent;
    }
    if (o.speed > 0 || o.rate > 0) {
      double due = 0;
      if (o.speed > 0 && live)
        due = (double)(it.at - o.start_ns) / 1e9 / o.speed;
      if (o.rate > 0 && (double)(sent - pace_sent0) / o.rate > due)
        due = (double)(sent - pace_sent0) / o.rate;
      double wait = pace_t0 + due - mono_s();
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
