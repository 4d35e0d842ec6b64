/*
 * Indicators and objectives (indicator.h, docs/indicators.md): the
 * definitions and their presets, a row computed from a store snapshot, and
 * the writer's step that follows the emit log.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/ddsketch.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/indicator.h"
#include "vigie/rmean.h"
#include "vigie/serieskey.h"
#include "vigie/stats.h"

#define HOUR 3600

/* ---- definitions ------------------------------------------------------------ */

void vg_indicator_def_init(struct vg_indicator_def *d) {
  *d = (struct vg_indicator_def){0};
  d->statistic = d->over = d->of = d->period = d->direction = -1;
  d->merge = 0;
  d->threshold = d->coverage_min = d->capture_min = d->target = NAN;
  d->hours_min = d->trend = -1;
}

struct preset {
  const char *name;
  int statistic, over, period;
  double threshold, coverage_min, capture_min, target;
  int64_t hours_min;
  const char *title, *title_en, *unit, *unit_en, *description, *description_en;
};

/* Directive 2008/50/EC: Annex XI (limit values; section A, validity) and
 * Annex VII (ozone; A.2 validity, B note 2 the daily 8-hour maximum). */
static const struct preset presets[] = {
    {"eu-pm10-daily-exceedances", VG_IND_EXCEEDANCES, VG_IND_OVER_1D, VG_IND_YEAR, 50,
     0.75, 0, 35, 18, "Jours de dépassement PM10 (moyenne journalière > 50 µg/m³)",
     "PM10 days above 50 µg/m³ (daily mean)", "jours", "days",
     "Jours de l'année civile dont la moyenne journalière de PM10 dépasse 50 µg/m³ "
     "(directive 2008/50/CE, annexe XI : au plus 35 par an ; une moyenne "
     "journalière demande 18 heures valides, une heure 45 minutes de mesure).",
     "Days of the calendar year whose PM10 daily mean exceeds 50 µg/m³ (Directive "
     "2008/50/EC, Annex XI: at most 35 a year; a daily mean needs 18 valid hours, an "
     "hour 45 minutes of measurement)."},
    {"eu-no2-hourly-exceedances", VG_IND_EXCEEDANCES, VG_IND_OVER_1H, VG_IND_YEAR, 200,
     0.75, 0, 18, 0, "Heures de dépassement NO2 (> 200 µg/m³)",
     "NO2 hours above 200 µg/m³", "heures", "hours",
     "Heures de l'année civile dont la moyenne horaire de NO2 dépasse 200 µg/m³ "
     "(directive 2008/50/CE, annexe XI : au plus 18 par an).",
     "Hours of the calendar year whose NO2 hourly mean exceeds 200 µg/m³ (Directive "
     "2008/50/EC, Annex XI: at most 18 a year)."},
    {"eu-no2-annual-mean", VG_IND_MEAN, VG_IND_OVER_1H, VG_IND_YEAR, NAN, 0.75, 0.9, 40,
     0, "Moyenne annuelle NO2", "NO2 annual mean", "µg/m³", "µg/m³",
     "Moyenne des valeurs horaires valides de l'année civile (directive 2008/50/CE, "
     "annexe XI : valeur limite 40 µg/m³, 90 % des heures valides).",
     "Mean of the valid hourly values of the calendar year (Directive 2008/50/EC, "
     "Annex XI: limit value 40 µg/m³, 90% of the hours valid)."},
    {"eu-pm25-annual-mean", VG_IND_MEAN, VG_IND_OVER_1H, VG_IND_YEAR, NAN, 0.75, 0.9, 25,
     0, "Moyenne annuelle PM2,5", "PM2.5 annual mean", "µg/m³", "µg/m³",
     "Moyenne des valeurs horaires valides de l'année civile (directive 2008/50/CE, "
     "annexe XIV : valeur limite 25 µg/m³, 90 % des heures valides).",
     "Mean of the valid hourly values of the calendar year (Directive 2008/50/EC, "
     "Annex XIV: limit value 25 µg/m³, 90% of the hours valid)."},
    {"eu-o3-8h-exceedances", VG_IND_EXCEEDANCES, VG_IND_OVER_MAX8H, VG_IND_YEAR, 120,
     0.75, 0, 25, 0,
     "Jours de dépassement O3 (maximum journalier de la moyenne sur 8 h > 120 µg/m³)",
     "O3 days above 120 µg/m³ (maximum daily 8-hour mean)", "jours", "days",
     "Jours dont le maximum journalier des moyennes glissantes sur 8 heures dépasse "
     "120 µg/m³ (directive 2008/50/CE, annexe VII : valeur cible, au plus 25 jours "
     "par an ; 18 moyennes sur 8 h valides par jour).",
     "Days whose maximum of the 8-hour running means exceeds 120 µg/m³ (Directive "
     "2008/50/EC, Annex VII: target value, at most 25 days a year; 18 valid 8-hour "
     "means a day)."},
};

const char *const vg_indicator_presets[] = {
    "eu-pm10-daily-exceedances", "eu-no2-hourly-exceedances", "eu-no2-annual-mean",
    "eu-pm25-annual-mean",       "eu-o3-8h-exceedances",      NULL};

static const char *const stat_names[] = {"mean", "sum",   "min",        "max",
                                         "p95",  "count", "exceedances"};
static const char *const period_names[] = {"day", "month", "year"};

const char *vg_ind_stat_name(int stat) {
  return stat >= 0 && stat <= VG_IND_EXCEEDANCES ? stat_names[stat] : NULL;
}

const char *vg_ind_period_name(int period) {
  return period >= 0 && period <= VG_IND_YEAR ? period_names[period] : NULL;
}

__attribute__((format(printf, 3, 4))) static int bad(char *errstr, size_t size,
                                                     const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(errstr, size, fmt, ap);
  va_end(ap);
  return VG_ECONFIG;
}

/* Sets *s to a copy of v when unset. */
static int fill_str(char **s, const char *v) {
  if (*s || !v)
    return 0;
  *s = strdup(v);
  return *s ? 0 : -ENOMEM;
}

static int apply_preset(struct vg_indicator_def *d, char *errstr, size_t size) {
  const struct preset *p = NULL;
  for (size_t i = 0; i < sizeof presets / sizeof *presets; i++)
    if (strcmp(presets[i].name, d->preset) == 0)
      p = &presets[i];
  if (!p) {
    char all[256] = "";
    for (size_t i = 0; vg_indicator_presets[i]; i++)
      snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", i ? ", " : "",
               vg_indicator_presets[i]);
    return bad(errstr, size, "preset: unknown preset \"%s\" (one of %s)", d->preset, all);
  }
  static const char *const own[] = {"statistic",   "over",         "of",
                                    "threshold",   "coverage_min", "hours_min",
                                    "capture_min", "period"};
  int given[] = {d->statistic >= 0,
                 d->over >= 0,
                 d->of >= 0,
                 !isnan(d->threshold),
                 !isnan(d->coverage_min),
                 d->hours_min >= 0,
                 !isnan(d->capture_min),
                 d->period >= 0};
  for (size_t i = 0; i < sizeof own / sizeof *own; i++)
    if (given[i])
      return bad(errstr, size,
                 "%s: preset %s defines it (a preset's definition is the directive's; "
                 "declare the indicator without preset to change it)",
                 own[i], p->name);
  if (d->statistic < 0)
    d->statistic = p->statistic;
  if (d->over < 0)
    d->over = p->over;
  if (d->period < 0)
    d->period = p->period;
  if (isnan(d->threshold))
    d->threshold = p->threshold;
  if (isnan(d->coverage_min))
    d->coverage_min = p->coverage_min;
  if (isnan(d->capture_min))
    d->capture_min = p->capture_min;
  if (isnan(d->target)) {
    d->target = p->target;
    if (d->direction < 0)
      d->direction = VG_IND_AT_MOST;
  }
  if (d->hours_min < 0)
    d->hours_min = p->hours_min;
  /* the English title of a preset goes with its own French one only */
  int own_title = d->title != NULL;
  if (fill_str(&d->title, p->title) ||
      (!own_title && fill_str(&d->title_en, p->title_en)) ||
      fill_str(&d->unit, p->unit) || fill_str(&d->unit_en, p->unit_en) ||
      (!own_title && fill_str(&d->description, p->description)) ||
      (!own_title && fill_str(&d->description_en, p->description_en)))
    return -ENOMEM;
  return 0;
}

int vg_indicator_finish(struct vg_indicator_def *d, const struct vg_dataset_def *ds,
                        char *errstr, size_t size) {
  int rc;
  if (d->preset && (rc = apply_preset(d, errstr, size)) != 0)
    return rc;
  if (d->statistic < 0)
    return bad(errstr, size,
               "statistic: required (mean, sum, min, max, p95, count or exceedances), "
               "unless a preset gives it");
  if (d->over < 0)
    d->over = VG_IND_OVER_1D;
  if (d->of < 0)
    d->of = VG_IND_OF_MEAN;
  if (d->period < 0)
    d->period = VG_IND_YEAR;
  if (isnan(d->coverage_min))
    d->coverage_min = 0;
  if (isnan(d->capture_min))
    d->capture_min = 0;
  if (d->hours_min < 0)
    d->hours_min = 0;
  if (d->trend < 0)
    d->trend = 12;
  if (!isnan(d->target) && d->direction < 0)
    d->direction = VG_IND_AT_MOST;
  if (fill_str(&d->title, d->id) || fill_str(&d->title_en, d->title) ||
      fill_str(&d->unit, "") || fill_str(&d->unit_en, d->unit) ||
      fill_str(&d->description_en, d->description))
    return -ENOMEM;
  if (!ds)
    return bad(errstr, size, "dataset: \"%s\" is not the id of a dataset of datasets:",
               d->dataset ? d->dataset : "");
  int has_metric = 0;
  for (size_t i = 0; i < ds->metrics.n && !has_metric; i++)
    has_metric = strcmp(ds->metrics.v[i], d->metric) == 0;
  if (!has_metric)
    return bad(errstr, size, "metric: \"%s\" is not one of the metrics of dataset \"%s\"",
               d->metric, ds->id);
  if (d->where.n % 2)
    return bad(errstr, size, "where: expected tag: value pairs");
  if (d->statistic == VG_IND_EXCEEDANCES && isnan(d->threshold))
    return bad(errstr, size, "threshold: required with statistic exceedances");
  if (d->statistic != VG_IND_EXCEEDANCES && !isnan(d->threshold))
    return bad(errstr, size, "threshold: only statistic exceedances uses it");
  if (!(d->coverage_min >= 0 && d->coverage_min <= 1))
    return bad(errstr, size, "coverage_min: expected a share in [0, 1], got %g",
               d->coverage_min);
  if (!(d->capture_min >= 0 && d->capture_min <= 1))
    return bad(errstr, size, "capture_min: expected a share in [0, 1], got %g",
               d->capture_min);
  if (d->hours_min > 25)
    return bad(errstr, size, "hours_min: %lld is more hours than a day has",
               (long long)d->hours_min);
  if (d->hours_min > 0 && d->over != VG_IND_OVER_1D)
    return bad(errstr, size, "hours_min: only with over: 1d (a day made of its hours)");
  int derived = d->hours_min > 0 || d->over == VG_IND_OVER_MAX8H;
  if (derived && !(d->statistic == VG_IND_MEAN || d->statistic == VG_IND_MIN ||
                   d->statistic == VG_IND_MAX || d->statistic == VG_IND_EXCEEDANCES))
    return bad(errstr, size,
               "statistic: %s does not apply to days made of hourly means (%s); use "
               "mean, min, max or exceedances",
               stat_names[d->statistic], d->hours_min > 0 ? "hours_min" : "over: max8h");
  if (!isnan(d->target) && !isfinite(d->target))
    return bad(errstr, size, "objective.target: expected a finite number");
  if (d->direction >= 0 && isnan(d->target))
    return bad(errstr, size, "objective.direction: objective.target is required with it");
  if (d->trend < 1 || d->trend > 120)
    return bad(errstr, size, "trend: expected 1 to 120 periods, got %lld",
               (long long)d->trend);
  return 0;
}

int vg_indicator_attained(const struct vg_indicator_def *d, double value) {
  if (isnan(value) || isnan(d->target))
    return -1;
  return d->direction == VG_IND_AT_LEAST ? value >= d->target : value <= d->target;
}

/* ---- the compiled set -------------------------------------------------------- */

/* A pending recomputation: indicator k, series (0: the merged row), period. */
struct dirty {
  uint32_t k;
  uint64_t series;
  int64_t start;
};

struct ind {
  const struct vg_indicator_def *d; /* &own */
  struct vg_indicator_def own;      /* a deep copy of the caller's */
  int64_t sensor_period_s;          /* 0: unknown */
  double sensor_period;             /* seconds */
  char merged[512];                 /* the merged row's label */
};

/* A series the writer has seen, and the indicators it feeds (bit k). */
struct known {
  uint64_t id;
  char *key;
  uint64_t mask; /* up to 64 indicators match by bit; more are checked one by one */
};

/* A provisional row: recomputed when the watermark closes its period. */
struct open_row {
  uint64_t key;
  int64_t start, end;
  uint32_t k;
  uint64_t series;
};

struct vg_indicators {
  struct ind *v;
  size_t n;
  struct vg_tz *tz;
  int64_t lateness_s;
  /* the writer's state (vg_indicators_step) */
  struct known *known;
  size_t nknown, capknown;
  int known_loaded;
  struct dirty *dirty;
  size_t ndirty, capdirty;
  struct vg_store_ind *out;
  size_t nout, capout;
  char *strs; /* the rows' strings, out's indicator/series point into it */
  size_t lstrs, capstrs;
  struct open_row *open; /* provisional rows */
  size_t nopen, capopen;
  int open_loaded;
};

static const uint8_t ind_hash_key[16] = {'v', 'i', 'g', 'i', 'e', '.', 'i', 'n',
                                         'd', 'i', 'c', 'a', 't', 'o', 'r', 1};

uint64_t vg_indicator_key(const char *indicator, const char *series) {
  size_t a = strlen(indicator), b = strlen(series);
  char buf[1024];
  if (a + b + 1 > sizeof buf) {
    uint64_t h1 = vg_siphash24(ind_hash_key, indicator, a);
    return h1 ^ vg_siphash24(ind_hash_key, series, b) * 0x9e3779b97f4a7c15ULL;
  }
  memcpy(buf, indicator, a);
  buf[a] = 0;
  memcpy(buf + a + 1, series, b);
  uint64_t h = vg_siphash24(ind_hash_key, buf, a + 1 + b);
  return h ? h : 1; /* 0 means "every key" to vg_store_read_ind */
}

void vg_indicators_merged_label(const struct vg_indicators *ix, size_t k, char *buf,
                                size_t size) {
  snprintf(buf, size, "%s", ix->v[k].merged);
}

static void build_merged(struct ind *in) {
  const struct vg_indicator_def *d = in->d;
  size_t o = (size_t)snprintf(in->merged, sizeof in->merged, "%s{", d->metric);
  /* the filter's tags by name, as in a canonical key */
  size_t idx[32], n = 0;
  for (size_t i = 0; i + 1 < d->where.n && n < 32; i += 2)
    idx[n++] = i;
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(d->where.v[idx[j - 1]], d->where.v[idx[j]]) > 0;
         j--) {
      size_t t = idx[j];
      idx[j] = idx[j - 1];
      idx[j - 1] = t;
    }
  for (size_t i = 0; i < n && o < sizeof in->merged; i++)
    o += (size_t)snprintf(in->merged + o, sizeof in->merged - o, "%s=\"%s\",",
                          d->where.v[idx[i]], d->where.v[idx[i] + 1]);
  if (o < sizeof in->merged)
    snprintf(in->merged + o, sizeof in->merged - o, "*}");
}

static char *dup_or_null(const char *s, int *oom) {
  char *d = s ? strdup(s) : NULL;
  if (s && !d)
    *oom = 1;
  return d;
}

static void def_release(struct vg_indicator_def *d) {
  char **strs[] = {&d->id,          &d->preset,         &d->title, &d->title_en,
                   &d->description, &d->description_en, &d->unit,  &d->unit_en,
                   &d->dataset,     &d->metric};
  for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
    free(*strs[i]);
  for (size_t i = 0; i < d->where.n; i++)
    free(d->where.v[i]);
  free(d->where.v);
}

static int def_copy(struct vg_indicator_def *dst, const struct vg_indicator_def *src) {
  int oom = 0;
  *dst = *src;
  dst->id = dup_or_null(src->id, &oom);
  dst->preset = dup_or_null(src->preset, &oom);
  dst->title = dup_or_null(src->title, &oom);
  dst->title_en = dup_or_null(src->title_en, &oom);
  dst->description = dup_or_null(src->description, &oom);
  dst->description_en = dup_or_null(src->description_en, &oom);
  dst->unit = dup_or_null(src->unit, &oom);
  dst->unit_en = dup_or_null(src->unit_en, &oom);
  dst->dataset = dup_or_null(src->dataset, &oom);
  dst->metric = dup_or_null(src->metric, &oom);
  dst->where.n = 0;
  dst->where.v = calloc(src->where.n + 1, sizeof *dst->where.v);
  if (!dst->where.v)
    oom = 1;
  for (size_t i = 0; !oom && i < src->where.n; i++) {
    dst->where.v[i] = dup_or_null(src->where.v[i], &oom);
    dst->where.n += !oom;
  }
  return oom ? -ENOMEM : 0;
}

int vg_indicators_new(const struct vg_indicators_opts *o, struct vg_indicators **out,
                      char *errstr, size_t size) {
  *out = NULL;
  struct vg_indicators *ix = calloc(1, sizeof *ix);
  if (!ix || !(ix->v = calloc(o->ndefs ? o->ndefs : 1, sizeof *ix->v))) {
    free(ix);
    return -ENOMEM;
  }
  ix->n = o->ndefs;
  ix->lateness_s = o->lateness_s;
  int rc =
      vg_tz_load(o->store_timezone ? o->store_timezone : "UTC", &ix->tz, errstr, size);
  if (rc) {
    vg_indicators_free(ix);
    return rc;
  }
  for (size_t k = 0; k < o->ndefs; k++) {
    struct ind *in = &ix->v[k];
    int crc = def_copy(&in->own, &o->defs[k]);
    in->d = &in->own;
    if (crc) {
      ix->n = k + 1;
      vg_indicators_free(ix);
      return crc;
    }
    for (size_t j = 0; j < o->ndatasets; j++)
      if (in->d->dataset && strcmp(o->datasets[j].id, in->d->dataset) == 0)
        in->sensor_period = (double)o->datasets[j].sensor_period_ns / 1e9;
    build_merged(in);
  }
  *out = ix;
  return 0;
}

void vg_indicators_free(struct vg_indicators *ix) {
  if (!ix)
    return;
  for (size_t i = 0; i < ix->nknown; i++)
    free(ix->known[i].key);
  free(ix->known);
  free(ix->dirty);
  for (size_t i = 0; i < ix->nout; i++)
    free((char *)ix->out[i].series); /* a row's two strings: one allocation */
  free(ix->out);
  free(ix->strs);
  free(ix->open);
  vg_tz_free(ix->tz);
  for (size_t k = 0; k < ix->n; k++)
    def_release(&ix->v[k].own);
  free(ix->v);
  free(ix);
}

size_t vg_indicators_count(const struct vg_indicators *ix) {
  return ix->n;
}

const struct vg_indicator_def *vg_indicators_def(const struct vg_indicators *ix,
                                                 size_t k) {
  return ix->v[k].d;
}

int vg_indicators_find(const struct vg_indicators *ix, const char *id) {
  for (size_t k = 0; k < ix->n; k++)
    if (strcmp(ix->v[k].d->id, id) == 0)
      return (int)k;
  return -1;
}

const struct vg_tz *vg_indicators_tz(const struct vg_indicators *ix) {
  return ix->tz;
}

/* ---- the local calendar ------------------------------------------------------ */

static int64_t midnight(const struct vg_tz *tz, int64_t y, unsigned m, unsigned d) {
  return vg_tz_local_to_utc(tz, vg_days_from_civil(y, m, d) * 86400, 0, NULL);
}

static void local_date(const struct vg_tz *tz, int64_t t, int64_t *y, unsigned *m,
                       unsigned *d) {
  int64_t local = t + vg_tz_offset_at(tz, t);
  vg_civil_from_days(vg_floor_div(local, 86400), y, m, d);
}

static void period_of(const struct vg_tz *tz, int period, int64_t t, int64_t *start,
                      int64_t *end) {
  int64_t y;
  unsigned m, d;
  local_date(tz, t, &y, &m, &d);
  switch (period) {
  case VG_IND_DAY: {
    int64_t days = vg_days_from_civil(y, m, d);
    vg_civil_from_days(days + 1, &y, &m, &d);
    *end = midnight(tz, y, m, d);
    vg_civil_from_days(days, &y, &m, &d);
    *start = midnight(tz, y, m, d);
    break;
  }
  case VG_IND_MONTH:
    *start = midnight(tz, y, m, 1);
    *end = m == 12 ? midnight(tz, y + 1, 1, 1) : midnight(tz, y, m + 1, 1);
    break;
  default: *start = midnight(tz, y, 1, 1); *end = midnight(tz, y + 1, 1, 1);
  }
  if (t < *start) /* a midnight the clock skipped: the day began at the gap's end */
    *start = t;
}

void vg_indicators_period(const struct vg_indicators *ix, size_t k, int64_t t,
                          int64_t *start, int64_t *end) {
  period_of(ix->tz, ix->v[k].d->period, t, start, end);
}

int64_t vg_indicators_year_before(const struct vg_indicators *ix, size_t k,
                                  int64_t start) {
  int64_t y;
  unsigned m, d;
  local_date(ix->tz, start, &y, &m, &d);
  if (m == 2 && d == 29)
    d = 28;
  return midnight(ix->tz, y - 1, m, d);
}

/* The local days of [start, end): their starts in days[0..n], n <= cap. */
static size_t local_days(const struct vg_tz *tz, int64_t start, int64_t end,
                         int64_t *days, size_t cap) {
  size_t n = 0;
  int64_t t = start;
  while (t < end && n < cap) {
    int64_t s, e;
    period_of(tz, VG_IND_DAY, t, &s, &e);
    days[n++] = t;
    t = e;
  }
  days[n] = end;
  return n;
}

/* ---- matching series --------------------------------------------------------- */

struct match_ctx {
  const struct vg_indicator_def *d;
  int ok;
};

static int on_tag(const char *name, const char *value, void *ctx) {
  struct match_ctx *m = ctx;
  for (size_t i = 0; i + 1 < m->d->where.n; i += 2)
    if (strcmp(m->d->where.v[i], name) == 0 && strcmp(m->d->where.v[i + 1], value) == 0)
      m->ok++;
  return 0;
}

int vg_indicators_matches(const struct vg_indicators *ix, size_t k, const char *key,
                          size_t len) {
  const struct vg_indicator_def *d = ix->v[k].d;
  char metric[256];
  struct match_ctx m = {d, 0};
  if (vg_series_key_split(key, len, metric, sizeof metric, on_tag, &m) != 0)
    return 0;
  return strcmp(metric, d->metric) == 0 && (size_t)m.ok == d->where.n / 2;
}

/* ---- one row ------------------------------------------------------------------ */

/* One unit of the period (an hour or a day) merged over the series. */
struct slot {
  struct vg_stats st;
  struct vg_ddsketch *qs;
  unsigned n; /* windows merged */
};

struct gather {
  struct slot *slots;
  size_t nslots;
  const int64_t *days; /* day units: their starts (NULL: hours from base) */
  int64_t base;
  int sketches;
  int rc;
};

static long unit_of(const struct gather *g, int64_t start) {
  if (!g->days) {
    if (start < g->base || (start - g->base) % HOUR)
      return -1;
    int64_t i = (start - g->base) / HOUR;
    return i < (int64_t)g->nslots ? (long)i : -1;
  }
  size_t lo = 0, hi = g->nslots;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (g->days[mid] < start)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < g->nslots && g->days[lo] == start ? (long)lo : -1;
}

static int on_window(const struct vg_wentry *w, void *ctx) {
  struct gather *g = ctx;
  if (!w->final || w->acc.st.count == 0)
    return 0;
  long i = unit_of(g, w->start);
  if (i < 0)
    return 0;
  struct slot *s = &g->slots[i];
  vg_stats_merge(&s->st, &w->acc.st);
  s->n++;
  if (g->sketches && w->acc.qs) {
    if (!s->qs && !(s->qs = vg_ddsketch_new(w->acc.qs->alpha, w->acc.qs->max_bins)))
      return g->rc = -ENOMEM;
    if (vg_ddsketch_merge(s->qs, w->acc.qs) != 0)
      return g->rc = -ENOMEM;
  }
  return 0;
}

static double slot_value(const struct slot *s, int of) {
  switch (of) {
  case VG_IND_OF_SUM: return vg_stats_sum(&s->st);
  case VG_IND_OF_MAX: return s->st.max;
  case VG_IND_OF_MIN: return s->st.min;
  default: return vg_stats_mean(&s->st);
  }
}

/* Whether a unit of len seconds counts. A merged unit's coverage is
 * against one sensor's expected readings, like any window's. */
static int slot_valid(const struct ind *in, const struct slot *s, int64_t len,
                      size_t nseries) {
  (void)nseries;
  if (s->st.count == 0)
    return 0;
  if (in->d->coverage_min <= 0 || in->sensor_period <= 0)
    return 1;
  double expected = (double)len / in->sensor_period;
  return (double)s->st.count / expected >= in->d->coverage_min;
}

/* What the statistic folds. */
struct fold {
  double sum, comp; /* Neumaier */
  uint64_t n, count, exceed;
  double min, max;
  struct vg_ddsketch *qs;
  int rc;
};

static void fold_value(struct fold *f, const struct ind *in, double v) {
  vg__neumaier_add(&f->sum, &f->comp, v);
  if (f->n == 0 || v < f->min)
    f->min = v;
  if (f->n == 0 || v > f->max)
    f->max = v;
  if (in->d->statistic == VG_IND_EXCEEDANCES && v > in->d->threshold)
    f->exceed++;
  f->n++;
}

/* A valid window of a plain (not derived) indicator: mean and exceedances
 * take its value, sum its sum, min and max its readings', count its
 * readings, p95 its sketch. */
static void fold_slot(struct fold *f, const struct ind *in, const struct slot *s) {
  switch (in->d->statistic) {
  case VG_IND_SUM: fold_value(f, in, vg_stats_sum(&s->st)); break;
  case VG_IND_MIN: fold_value(f, in, s->st.min); break;
  case VG_IND_MAX: fold_value(f, in, s->st.max); break;
  default: fold_value(f, in, slot_value(s, in->d->of));
  }
  f->count += s->st.count;
  if (in->d->statistic == VG_IND_P95 && s->qs && f->rc == 0) {
    if (!f->qs && !(f->qs = vg_ddsketch_new(s->qs->alpha, s->qs->max_bins)))
      f->rc = -ENOMEM;
    else if (vg_ddsketch_merge(f->qs, s->qs) != 0)
      f->rc = -ENOMEM;
  }
}

static double fold_result(const struct fold *f, const struct ind *in) {
  if (f->n == 0)
    return NAN;
  switch (in->d->statistic) {
  case VG_IND_MEAN: return (f->sum + f->comp) / (double)f->n;
  case VG_IND_SUM: return f->sum + f->comp;
  case VG_IND_MIN: return f->min;
  case VG_IND_MAX: return f->max;
  case VG_IND_COUNT: return (double)f->count;
  case VG_IND_EXCEEDANCES: return (double)f->exceed;
  case VG_IND_P95: return f->qs ? vg_ddsketch_quantile(f->qs, 0.95) : NAN;
  default: return NAN;
  }
}

int vg_indicators_compute(const struct vg_indicators *ix, size_t k,
                          struct vg_store_reader *r, const uint64_t *series, size_t n,
                          int64_t start, int64_t watermark_s, struct vg_store_ind *row,
                          int *found, char *errstr, size_t size) {
  const struct ind *in = &ix->v[k];
  const struct vg_indicator_def *d = in->d;
  int64_t ps, pe;
  period_of(ix->tz, d->period, start, &ps, &pe);
  *found = 0;
  *row = (struct vg_store_ind){
      .start = ps, .end = pe, .value = NAN, .coverage = NAN, .previous = NAN};
  int64_t days[400];
  size_t ndays = local_days(ix->tz, ps, pe, days, 399);
  int hourly = d->over != VG_IND_OVER_1D || d->hours_min > 0;
  int64_t lead = d->over == VG_IND_OVER_MAX8H ? 7 * HOUR : 0;
  struct gather g = {.base = ps - lead,
                     .sketches = d->statistic == VG_IND_P95,
                     .days = hourly ? NULL : days,
                     .nslots = hourly ? (size_t)((pe - ps + lead) / HOUR) : ndays};
  g.slots = calloc(g.nslots ? g.nslots : 1, sizeof *g.slots);
  if (!g.slots)
    return -ENOMEM;
  for (size_t i = 0; i < g.nslots; i++)
    vg_stats_init(&g.slots[i].st);
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    rc = vg_store_read_range(r, series[i], hourly ? VG_RES_HOUR : VG_RES_DAY, g.base, pe,
                             on_window, &g, errstr, size);
    if (rc == 0 && g.rc)
      rc = g.rc;
  }
  struct fold f = {0};
  size_t units = 0, valid = 0;
  int any = 0;
  if (rc == 0 && !hourly) { /* stored days */
    for (size_t i = 0; i < g.nslots; i++) {
      any |= g.slots[i].n > 0;
      if (slot_valid(in, &g.slots[i], days[i + 1] - days[i], n)) {
        valid++;
        fold_slot(&f, in, &g.slots[i]);
      }
    }
    units = ndays;
  } else if (rc == 0 && d->over == VG_IND_OVER_1H) {
    for (size_t i = 0; i < g.nslots; i++) {
      any |= g.slots[i].n > 0;
      if (slot_valid(in, &g.slots[i], HOUR, n)) {
        valid++;
        fold_slot(&f, in, &g.slots[i]);
      }
    }
    units = g.nslots;
  } else if (rc == 0) { /* days made of hours */
    size_t nh = g.nslots;
    double *v = malloc((nh ? nh : 1) * sizeof *v);
    unsigned char *ok = malloc(nh ? nh : 1);
    if (!v || !ok)
      rc = -ENOMEM;
    for (size_t i = 0; rc == 0 && i < nh; i++) {
      ok[i] = (unsigned char)slot_valid(in, &g.slots[i], HOUR, n);
      v[i] = ok[i] ? slot_value(&g.slots[i], d->of) : 0;
    }
    for (size_t day = 0; rc == 0 && day < ndays; day++) {
      size_t h0 = (size_t)((days[day] - ps) / HOUR),
             nday = (size_t)((days[day + 1] - days[day]) / HOUR);
      double dv = NAN;
      int dvalid = 0;
      if (d->over == VG_IND_OVER_MAX8H) {
        unsigned n8;
        vg_rmean8_day(v + h0, ok + h0, nday, &dv, &n8);
        dvalid = n8 > 0 && n8 >= vg_rmean8_needed(nday);
      } else {
        unsigned nv = vg_mean_valid(v + h0, ok + h0, nday, &dv);
        dvalid = nv > 0 && nv >= (unsigned)d->hours_min;
      }
      /* a day is read once all its hours are final, never in part */
      int dfinal =
          watermark_s != INT64_MIN && watermark_s >= days[day + 1] + ix->lateness_s;
      for (size_t h = h0 + lead / HOUR; dfinal && h < h0 + lead / HOUR + nday; h++)
        any |= g.slots[h].n > 0;
      if (dvalid && dfinal) {
        valid++;
        fold_value(&f, in, dv);
      }
    }
    units = ndays;
    free(v);
    free(ok);
  }
  if (rc == 0 && f.rc)
    rc = f.rc;
  if (rc == 0 && any) {
    *found = 1;
    row->final = watermark_s != INT64_MIN && watermark_s >= pe + ix->lateness_s;
    row->coverage = units ? (double)valid / (double)units : NAN;
    row->value = fold_result(&f, in);
    if (row->final && row->coverage < d->capture_min)
      row->value = NAN;
  }
  for (size_t i = 0; i < g.nslots; i++)
    vg_ddsketch_free(g.slots[i].qs);
  free(g.slots);
  vg_ddsketch_free(f.qs);
  return rc;
}

/* ---- the writer's step --------------------------------------------------------- */

static int known_cmp(const void *a, const void *b) {
  uint64_t x = ((const struct known *)a)->id, y = ((const struct known *)b)->id;
  return x < y ? -1 : x > y;
}

static struct known *known_find(struct vg_indicators *ix, uint64_t id) {
  struct known key = {.id = id};
  return ix->nknown ? bsearch(&key, ix->known, ix->nknown, sizeof key, known_cmp) : NULL;
}

/* Adds series (id, key) unless known; keeps the array sorted. */
static int known_add(struct vg_indicators *ix, uint64_t id, const char *key, size_t len) {
  if (known_find(ix, id))
    return 0;
  uint64_t mask = 0;
  for (size_t k = 0; k < ix->n && k < 64; k++)
    if (vg_indicators_matches(ix, k, key, len))
      mask |= 1ULL << k;
  if (!mask)
    return 0; /* no indicator reads it: not kept */
  if (VG_GROW(ix->known, ix->nknown + 1, ix->capknown))
    return -ENOMEM;
  char *copy = strndup(key, len);
  if (!copy)
    return -ENOMEM;
  size_t i = ix->nknown;
  while (i > 0 && ix->known[i - 1].id > id) {
    ix->known[i] = ix->known[i - 1];
    i--;
  }
  ix->known[i] = (struct known){.id = id, .key = copy, .mask = mask};
  ix->nknown++;
  return 0;
}

static int on_series(const struct vg_store_series *s, void *ctx) {
  return known_add(ctx, s->id, s->key, s->key_len);
}

static int dirty_add(struct vg_indicators *ix, uint32_t k, uint64_t series,
                     int64_t start) {
  if (VG_GROW(ix->dirty, ix->ndirty + 1, ix->capdirty))
    return -ENOMEM;
  ix->dirty[ix->ndirty++] = (struct dirty){k, series, start};
  return 0;
}

static int dirty_cmp(const void *a, const void *b) {
  const struct dirty *x = a, *y = b;
  if (x->k != y->k)
    return x->k < y->k ? -1 : 1;
  if (x->series != y->series)
    return x->series < y->series ? -1 : 1;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* The periods an emitted window (series s, resolution res, start) changes. */
static int dirty_window(struct vg_indicators *ix, const struct known *s, uint8_t res,
                        int64_t start) {
  for (size_t k = 0; k < ix->n && k < 64; k++) {
    if (!(s->mask & (1ULL << k)))
      continue;
    const struct vg_indicator_def *d = ix->v[k].d;
    int hourly = d->over != VG_IND_OVER_1D || d->hours_min > 0;
    if (res != (hourly ? VG_RES_HOUR : VG_RES_DAY))
      continue;
    uint64_t series = d->merge ? 0 : s->id;
    int64_t ps, pe;
    period_of(ix->tz, d->period, start, &ps, &pe);
    int rc = dirty_add(ix, (uint32_t)k, series, ps);
    /* an hour enters the 8-hour means of the next 7 hours, maybe of the next day */
    if (rc == 0 && d->over == VG_IND_OVER_MAX8H) {
      int64_t ps2, pe2;
      period_of(ix->tz, d->period, start + 7 * HOUR, &ps2, &pe2);
      if (ps2 != ps)
        rc = dirty_add(ix, (uint32_t)k, series, ps2);
    }
    if (rc)
      return rc;
  }
  return 0;
}

struct emit_ctx {
  struct vg_indicators *ix;
  struct vg_store_reader *r;
  uint64_t next;
  int rc;
};

static int on_emit(const struct vg_store_emit *e, void *ctx) {
  struct emit_ctx *x = ctx;
  x->next = e->seq + 1;
  if (e->res != VG_RES_HOUR && e->res != VG_RES_DAY)
    return 0; /* our own rows, and anything else */
  struct known *s = known_find(x->ix, e->series);
  if (!s) {
    char key[4096];
    size_t len;
    if (vg_store_series_key(x->r, e->series, key, sizeof key, &len) != 0 ||
        len >= sizeof key)
      return 0;
    if ((x->rc = known_add(x->ix, e->series, key, len)) != 0)
      return 1;
    if (!(s = known_find(x->ix, e->series)))
      return 0;
  }
  if ((x->rc = dirty_window(x->ix, s, e->res, e->start)) != 0)
    return 1;
  return 0;
}

/* Provisional rows, so that a period the watermark closes is finalised even
 * when no window of it changes. */
static int open_set(struct vg_indicators *ix, const struct vg_store_ind *row, uint32_t k,
                    uint64_t series, int keep) {
  for (size_t i = 0; i < ix->nopen; i++)
    if (ix->open[i].key == row->key && ix->open[i].start == row->start) {
      if (!keep)
        ix->open[i] = ix->open[--ix->nopen];
      return 0;
    }
  if (!keep)
    return 0;
  if (VG_GROW(ix->open, ix->nopen + 1, ix->capopen))
    return -ENOMEM;
  ix->open[ix->nopen++] = (struct open_row){
      .key = row->key, .start = row->start, .end = row->end, .k = k, .series = series};
  return 0;
}

struct load_ctx {
  struct vg_indicators *ix;
  struct vg_store_reader *r;
  int rc;
};

static int on_stored_row(const struct vg_store_ind *row, void *ctx) {
  struct load_ctx *x = ctx;
  if (row->final)
    return 0;
  int k = vg_indicators_find(x->ix, row->indicator);
  if (k < 0)
    return 0; /* an indicator no longer configured */
  uint64_t series = 0;
  if (!x->ix->v[k].d->merge &&
      vg_store_series_id(x->r, row->series, strlen(row->series), &series) != 0)
    return 0;
  if ((x->rc = open_set(x->ix, row, (uint32_t)k, series, 1)) != 0)
    return 1;
  return 0;
}

struct get_ctx {
  struct vg_store_ind row;
  int found;
};

static int on_get(const struct vg_store_ind *row, void *ctx) {
  struct get_ctx *g = ctx;
  g->row = *row;
  g->row.indicator = g->row.series = NULL; /* valid during the call only */
  g->found = 1;
  return 1;
}

static int same(double a, double b) {
  return (isnan(a) && isnan(b)) || a == b;
}

/* The value of the row (key, start): changed this step, or stored. */
static int value_at(struct vg_indicators *ix, struct vg_store_reader *r, uint64_t key,
                    int64_t start, double *value) {
  for (size_t i = ix->nout; i-- > 0;)
    if (ix->out[i].key == key && ix->out[i].start == start) {
      *value = ix->out[i].value;
      return 0;
    }
  struct get_ctx g = {.found = 0};
  int rc = vg_store_read_ind(r, key, start, start + 1, on_get, &g);
  if (rc < 0)
    return rc;
  *value = g.found ? g.row.value : NAN;
  return 0;
}

static void out_release(struct vg_indicators *ix) {
  for (size_t i = 0; i < ix->nout; i++)
    free((char *)ix->out[i].series); /* indicator and series: one allocation */
  ix->nout = 0;
}

/* Recomputes one dirty row; appends it to out when it changed. */
static int refresh(struct vg_indicators *ix, struct vg_store_reader *r,
                   const struct dirty *dt, int64_t watermark_s, uint64_t **ids,
                   size_t *capids, char *errstr, size_t size) {
  const struct ind *in = &ix->v[dt->k];
  const char *label = in->merged;
  size_t nids = 0;
  if (dt->series) {
    struct known *s = known_find(ix, dt->series);
    if (!s)
      return 0;
    label = s->key;
    (*ids)[nids++] = dt->series;
  } else {
    for (size_t i = 0; i < ix->nknown; i++) {
      if (!(ix->known[i].mask & (1ULL << dt->k)))
        continue;
      if (VG_GROW(*ids, nids + 1, *capids))
        return -ENOMEM;
      (*ids)[nids++] = ix->known[i].id;
    }
  }
  struct vg_store_ind row;
  int found;
  int rc = vg_indicators_compute(ix, dt->k, r, *ids, nids, dt->start, watermark_s, &row,
                                 &found, errstr, size);
  if (rc || !found)
    return rc;
  row.key = vg_indicator_key(in->d->id, label);
  int64_t before = vg_indicators_year_before(ix, dt->k, row.start);
  if ((rc = value_at(ix, r, row.key, before, &row.previous)) != 0)
    return rc;
  struct get_ctx old = {.found = 0};
  if ((rc = vg_store_read_ind(r, row.key, row.start, row.start + 1, on_get, &old)) < 0)
    return rc;
  for (size_t i = 0; i < ix->nout; i++) /* changed earlier in this step */
    if (ix->out[i].key == row.key && ix->out[i].start == row.start) {
      old.row = ix->out[i];
      old.found = 1;
    }
  if (old.found && same(old.row.value, row.value) &&
      same(old.row.coverage, row.coverage) && same(old.row.previous, row.previous) &&
      old.row.final == row.final && old.row.end == row.end)
    return open_set(ix, &row, dt->k, dt->series, !row.final);
  row.revision = old.found ? old.row.revision + 1 : 0;
  size_t li = strlen(in->d->id), ls = strlen(label);
  char *strs = malloc(li + ls + 2);
  if (!strs)
    return -ENOMEM;
  memcpy(strs, label, ls + 1);
  memcpy(strs + ls + 1, in->d->id, li + 1);
  row.series = strs;
  row.indicator = strs + ls + 1;
  size_t i;
  for (i = 0; i < ix->nout; i++)
    if (ix->out[i].key == row.key && ix->out[i].start == row.start)
      break;
  if (i < ix->nout) {
    row.revision = ix->out[i].revision; /* one change per step */
    free((char *)ix->out[i].series);
    ix->out[i] = row;
  } else {
    if (VG_GROW(ix->out, ix->nout + 1, ix->capout)) {
      free(strs);
      return -ENOMEM;
    }
    ix->out[ix->nout++] = row;
  }
  if ((rc = open_set(ix, &row, dt->k, dt->series, !row.final)) != 0)
    return rc;
  /* the same period a year later shows this value as its previous one */
  int64_t y, ps, pe;
  unsigned m, d;
  local_date(ix->tz, row.start, &y, &m, &d);
  period_of(ix->tz, in->d->period, midnight(ix->tz, y + 1, m, d == 29 && m == 2 ? 28 : d),
            &ps, &pe);
  struct get_ctx later = {.found = 0};
  if ((rc = vg_store_read_ind(r, row.key, ps, ps + 1, on_get, &later)) < 0)
    return rc;
  return later.found ? dirty_add(ix, dt->k, dt->series, ps) : 0;
}

int vg_indicators_step(struct vg_indicators *ix, struct vg_store_reader *r,
                       uint64_t *cursor, const struct vg_store_ind **rows, size_t *nrows,
                       char *errstr, size_t size) {
  out_release(ix);
  *rows = NULL;
  *nrows = 0;
  if (ix->n == 0)
    return 0;
  int rc;
  if (!ix->known_loaded) {
    if ((rc = vg_store_series_each(r, on_series, ix)) != 0)
      return rc;
    ix->known_loaded = 1;
  }
  if (!ix->open_loaded) {
    struct load_ctx lc = {ix, r, 0};
    rc = vg_store_read_ind(r, 0, INT64_MIN, INT64_MAX, on_stored_row, &lc);
    if (rc < 0 || lc.rc)
      return rc < 0 ? rc : lc.rc;
    ix->open_loaded = 1;
  }
  struct vg_store_state st;
  if ((rc = vg_store_reader_meta(r, &st)) != 0)
    return rc;
  /* "past" as windows are final (window.c): wm_ns > X s <=> wm >= X */
  int64_t wm = st.watermark_ns == INT64_MIN
                   ? INT64_MIN
                   : vg_floor_div(st.watermark_ns - 1, 1000000000);
  struct emit_ctx ec = {ix, r, *cursor, 0};
  rc = vg_store_read_emit(r, *cursor, on_emit, &ec);
  if (ec.rc)
    return ec.rc;
  if (rc < 0)
    return rc;
  /* provisional rows the watermark has closed */
  for (size_t i = 0; i < ix->nopen; i++)
    if (wm != INT64_MIN && wm >= ix->open[i].end + ix->lateness_s &&
        (rc = dirty_add(ix, ix->open[i].k, ix->open[i].series, ix->open[i].start)) != 0)
      return rc;
  if (ix->ndirty > 1)
    qsort(ix->dirty, ix->ndirty, sizeof *ix->dirty, dirty_cmp);
  size_t capids = 64;
  uint64_t *ids = malloc(capids * sizeof *ids);
  if (!ids)
    return -ENOMEM;
  /* refresh may add the rows a year later: the loop takes them too */
  for (size_t i = 0; i < ix->ndirty && rc == 0; i++) {
    if (i > 0 && dirty_cmp(&ix->dirty[i - 1], &ix->dirty[i]) == 0)
      continue;
    struct dirty dt = ix->dirty[i];
    rc = refresh(ix, r, &dt, wm, &ids, &capids, errstr, size);
  }
  free(ids);
  if (rc)
    return rc;
  ix->ndirty = 0;
  *cursor = ec.next > *cursor ? ec.next : *cursor;
  if (st.emit_seq > *cursor)
    *cursor = st.emit_seq;
  *rows = ix->out;
  *nrows = ix->nout;
  return 0;
}

void vg_indicators_forget(struct vg_indicators *ix) {
  out_release(ix);
  ix->nopen = 0;
  ix->open_loaded = 0;
}

uint64_t vg_indicators_fingerprint(const struct vg_indicators *ix, size_t k) {
  const struct vg_indicator_def *d = ix->v[k].d;
  char buf[2048];
  size_t o = (size_t)snprintf(
      buf, sizeof buf, "1|%s|%s|%s|%d|%d|%d|%d|%d|%.17g|%.17g|%.17g|%lld", d->id,
      d->dataset, d->metric, d->statistic, d->over, d->of, d->period, d->merge,
      d->threshold, d->coverage_min, d->capture_min, (long long)d->hours_min);
  for (size_t i = 0; i < d->where.n && o < sizeof buf; i++)
    o += (size_t)snprintf(buf + o, sizeof buf - o, "|%s", d->where.v[i]);
  if (o >= sizeof buf)
    o = sizeof buf - 1;
  return vg_siphash24(ind_hash_key, buf, o);
}

struct rebuild_ctx {
  struct vg_indicators *ix;
  uint32_t k;
  uint64_t series;
  int64_t last_start, last_end;
  int rc;
};

static int on_rebuild_window(const struct vg_wentry *w, void *ctx) {
  struct rebuild_ctx *x = ctx;
  const struct vg_indicator_def *d = x->ix->v[x->k].d;
  if (w->start >= x->last_start && w->start < x->last_end)
    return 0;
  period_of(x->ix->tz, d->period, w->start, &x->last_start, &x->last_end);
  if ((x->rc = dirty_add(x->ix, x->k, d->merge ? 0 : x->series, x->last_start)) != 0)
    return 1;
  if (d->over == VG_IND_OVER_MAX8H) { /* the evening hours enter the next day */
    int64_t s2, e2;
    period_of(x->ix->tz, d->period, w->start + 7 * HOUR, &s2, &e2);
    if (s2 != x->last_start &&
        (x->rc = dirty_add(x->ix, x->k, d->merge ? 0 : x->series, s2)))
      return 1;
  }
  return 0;
}

int vg_indicators_rebuild(struct vg_indicators *ix, struct vg_store_reader *r,
                          const uint64_t *built, size_t nbuilt) {
  int rc;
  if (!ix->known_loaded) {
    if ((rc = vg_store_series_each(r, on_series, ix)) != 0)
      return rc;
    ix->known_loaded = 1;
  }
  for (size_t k = 0; k < ix->n && k < 64; k++) {
    uint64_t fp = vg_indicators_fingerprint(ix, k);
    int done = 0;
    for (size_t i = 0; i < nbuilt && !done; i++)
      done = built[i] == fp;
    if (done)
      continue;
    const struct vg_indicator_def *d = ix->v[k].d;
    int hourly = d->over != VG_IND_OVER_1D || d->hours_min > 0;
    for (size_t i = 0; i < ix->nknown; i++) {
      if (!(ix->known[i].mask & (1ULL << k)))
        continue;
      struct rebuild_ctx x = {ix, (uint32_t)k, ix->known[i].id, 0, 0, 0};
      char err[256];
      rc = vg_store_read_range(r, ix->known[i].id, hourly ? VG_RES_HOUR : VG_RES_DAY,
                               INT64_MIN / 2, INT64_MAX / 2, on_rebuild_window, &x, err,
                               sizeof err);
      if (x.rc)
        return x.rc;
      if (rc < 0)
        return rc;
    }
  }
  return 0;
}
