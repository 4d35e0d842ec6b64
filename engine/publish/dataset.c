/*
 * Dataset rows: a config dataset compiled into a schema, its series picked
 * from the store's dictionary, and its rows streamed from a reader snapshot
 * with the status filter and the privacy rule (dataset.h) applied.
 *
 * A series is read one store day at a time (hourly datasets) or one window
 * at a time (daily ones): every hour of a day must be known before any of
 * them is published, because secondary suppression looks at the whole day.
 * Windows are copied out of the store callback as plain numbers, so no
 * accumulator outlives its callback.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/jsonw.h"
#include "vigie/publish.h"
#include "vigie/wmerge.h"
#include "vigie/wstats.h"

#include "publish/indset.h"

/* The names of the statistics a dataset may publish (config.c stat_columns),
 * indexed by enum vg_stat. */
static const char *const stat_names[VG_STAT_N] = {
    [VG_STAT_COUNT] = "count",      [VG_STAT_SUM] = "sum",
    [VG_STAT_MIN] = "min",          [VG_STAT_MAX] = "max",
    [VG_STAT_MEAN] = "mean",        [VG_STAT_STDDEV] = "stddev",
    [VG_STAT_P50] = "p50",          [VG_STAT_P95] = "p95",
    [VG_STAT_FIRST] = "first",      [VG_STAT_LAST] = "last",
    [VG_STAT_DISTINCT] = "distinct"};

enum kind {
  K_START,
  K_END,
  K_METRIC,
  K_TAG,
  K_STAT,
  K_COVERAGE,
  K_STATUS,
  K_REVISION,
  K_SUPPRESSED
};

struct col {
  int kind;
  int arg; /* K_TAG: tag column index; K_STAT: enum vg_stat */
};

struct vg_dataset {
  struct vg_dataset_def c; /* deep copy */
  struct vg_strlist count_as;
  struct vg_tz *tz, *store_tz;
  uint8_t res;
  struct vg_odsql_field *fields;
  struct col *cols;
  size_t nfields;
  double *lat, *lon;              /* per coordinates pair */
  const struct vg_indicators *ix; /* the dataset `indicateurs` (indset.h), or NULL */
};

/* ---- copies -------------------------------------------------------------- */

static int sdup(char **dst, const char *s) {
  *dst = s ? strdup(s) : NULL;
  return s && !*dst ? -ENOMEM : 0;
}

static void list_release(struct vg_strlist *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

static int list_dup(struct vg_strlist *dst, const struct vg_strlist *src) {
  dst->n = 0;
  dst->v = calloc(src->n + 1, sizeof *dst->v);
  if (!dst->v)
    return -ENOMEM;
  for (size_t i = 0; i < src->n; i++) {
    dst->v[i] = strdup(src->v[i]);
    if (!dst->v[i])
      return -ENOMEM;
    dst->n++;
  }
  return 0;
}

static int list_has(const struct vg_strlist *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0)
      return 1;
  return 0;
}

static int add_field(struct vg_dataset *ds, const char *name, int type, int kind,
                     int arg) {
  ds->fields[ds->nfields] = (struct vg_odsql_field){name, type};
  ds->cols[ds->nfields] = (struct col){kind, arg};
  ds->nfields++;
  return 0;
}

/* With merge_by, a row is a group: the tags it shows must be grouping tags
 * (config.c says the same with the file's lines). */
static int check_merge_by(const struct vg_dataset_def *c, char *errstr,
                          size_t errstr_size) {
  if (!c->merge_by.n)
    return 0;
  for (size_t i = 0; i < c->tag_columns.n; i++)
    if (!list_has(&c->merge_by, c->tag_columns.v[i])) {
      vg_errstr(errstr, errstr_size,
                "dataset %s: tag column \"%s\" is not one of merge_by (a merged row "
                "has no single value of it)",
                c->id, c->tag_columns.v[i]);
      return VG_ECONFIG;
    }
  if (c->entity_tag && !list_has(&c->merge_by, c->entity_tag)) {
    vg_errstr(errstr, errstr_size, "dataset %s: entity_tag \"%s\" is not one of merge_by",
              c->id, c->entity_tag);
    return VG_ECONFIG;
  }
  return 0;
}

int vg_dataset_new(const struct vg_dataset_def *dc, const struct vg_dataset_env *env,
                   struct vg_dataset **out, char *errstr, size_t errstr_size) {
  struct vg_dataset *ds = calloc(1, sizeof *ds);
  int rc = -ENOMEM;
  if (!ds)
    return -ENOMEM;
  ds->c = *dc;
  if (sdup(&ds->c.id, dc->id) || sdup(&ds->c.title, dc->title) ||
      sdup(&ds->c.description, dc->description) ||
      sdup(&ds->c.publisher, dc->publisher) || sdup(&ds->c.license, dc->license) ||
      sdup(&ds->c.timezone, dc->timezone) || sdup(&ds->c.entity_tag, dc->entity_tag) ||
      sdup(&ds->c.hvd_category, dc->hvd_category) ||
      sdup(&ds->c.contact_point, dc->contact_point) ||
      sdup(&ds->c.mobility_type, dc->mobility_type) ||
      list_dup(&ds->c.site_names, &dc->site_names) ||
      list_dup(&ds->c.insee_codes, &dc->insee_codes) ||
      list_dup(&ds->c.keywords, &dc->keywords) ||
      list_dup(&ds->c.metrics, &dc->metrics) || list_dup(&ds->c.columns, &dc->columns) ||
      list_dup(&ds->c.tag_columns, &dc->tag_columns) ||
      list_dup(&ds->c.merge_by, &dc->merge_by) ||
      list_dup(&ds->c.coordinates, &dc->coordinates))
    goto fail;
  ds->count_as.v = calloc(env->ncount_as + 1, sizeof *ds->count_as.v);
  if (!ds->count_as.v)
    goto fail;
  for (size_t i = 0; i < env->ncount_as; i++)
    if (!list_has(&ds->count_as, env->count_as[i])) {
      ds->count_as.v[ds->count_as.n] = strdup(env->count_as[i]);
      if (!ds->count_as.v[ds->count_as.n])
        goto fail;
      ds->count_as.n++;
    }
  const char *store_zone = env->store_timezone ? env->store_timezone : "UTC";
  const char *zone = dc->timezone ? dc->timezone : store_zone;
  rc = vg_tz_load(zone, &ds->tz, errstr, errstr_size);
  if (rc)
    goto fail;
  rc = vg_tz_load(store_zone, &ds->store_tz, errstr, errstr_size);
  if (rc)
    goto fail;
  rc = -ENOMEM;
  ds->res = dc->resolution == VG_RES_DAY ? VG_RES_DAY : VG_RES_HOUR;
  size_t cap = IS_NFIELDS + ds->c.tag_columns.n + ds->c.columns.n;
  ds->fields = calloc(cap, sizeof *ds->fields);
  ds->cols = calloc(cap, sizeof *ds->cols);
  if (!ds->fields || !ds->cols)
    goto fail;
  add_field(ds, "start_datetime", VG_ODSQL_DATETIME, K_START, 0);
  add_field(ds, "end_datetime", VG_ODSQL_DATETIME, K_END, 0);
  add_field(ds, "metric", VG_ODSQL_TEXT, K_METRIC, 0);
  for (size_t i = 0; i < ds->c.tag_columns.n; i++)
    add_field(ds, ds->c.tag_columns.v[i], VG_ODSQL_TEXT, K_TAG, (int)i);
  for (size_t i = 0; i < ds->c.columns.n; i++) {
    int st = -1;
    for (int k = 0; k < VG_STAT_N; k++)
      if (strcmp(stat_names[k], ds->c.columns.v[i]) == 0)
        st = k;
    if (st < 0) {
      vg_errstr(errstr, errstr_size, "dataset %s: unknown column \"%s\"", ds->c.id,
                ds->c.columns.v[i]);
      rc = VG_ECONFIG;
      goto fail;
    }
    add_field(ds, stat_names[st], VG_ODSQL_NUMBER, K_STAT, st);
  }
  if (ds->c.sensor_period_ns > 0)
    add_field(ds, "coverage", VG_ODSQL_NUMBER, K_COVERAGE, 0);
  add_field(ds, "status", VG_ODSQL_TEXT, K_STATUS, 0);
  add_field(ds, "revision", VG_ODSQL_NUMBER, K_REVISION, 0);
  if (ds->c.suppress_below > 0)
    add_field(ds, "suppressed", VG_ODSQL_TEXT, K_SUPPRESSED, 0);
  for (size_t i = 0; i < ds->nfields; i++) /* a tag named like a column */
    for (size_t j = 0; j < i; j++)
      if (strcmp(ds->fields[i].name, ds->fields[j].name) == 0) {
        vg_errstr(errstr, errstr_size, "dataset %s: column \"%s\" appears twice",
                  ds->c.id, ds->fields[i].name);
        rc = VG_ECONFIG;
        goto fail;
      }
  rc = check_merge_by(&ds->c, errstr, errstr_size);
  if (rc)
    goto fail;
  rc = -ENOMEM;
  size_t npairs = ds->c.coordinates.n / 2;
  if (npairs) {
    ds->lat = calloc(npairs, sizeof *ds->lat);
    ds->lon = calloc(npairs, sizeof *ds->lon);
    if (!ds->lat || !ds->lon)
      goto fail;
    for (size_t i = 0; i < npairs; i++)
      if (sscanf(ds->c.coordinates.v[2 * i + 1], "%lf ,%lf", &ds->lat[i], &ds->lon[i]) !=
          2) {
        vg_errstr(errstr, errstr_size, "dataset %s: coordinates of %s: expected lat,lon",
                  ds->c.id, ds->c.coordinates.v[2 * i]);
        rc = VG_ECONFIG;
        goto fail;
      }
  }
  *out = ds;
  return 0;
fail:
  vg_dataset_free(ds);
  return rc;
}

int vg_dataset_new_indicators(const struct vg_dataset_def *dc,
                              const struct vg_indicators *ix, struct vg_dataset **out,
                              char *errstr, size_t errstr_size) {
  struct vg_dataset_def def = *dc;
  def.metrics = (struct vg_strlist){0};
  def.columns = (struct vg_strlist){0};
  def.tag_columns = (struct vg_strlist){0};
  def.coordinates = (struct vg_strlist){0};
  def.suppress_below = 0;
  def.sensor_period_ns = 0;
  def.entity_tag = NULL;
  def.schema = VG_DATASET_SCHEMA_NONE;
  struct vg_dataset_env env = {.store_timezone = vg_tz_name(vg_indicators_tz(ix))};
  struct vg_dataset *ds;
  int rc = vg_dataset_new(&def, &env, &ds, errstr, errstr_size);
  if (rc)
    return rc;
  ds->ix = ix;
  ds->res = VG_STORE_EMIT_IND; /* what its emit-log records carry */
  ds->nfields = 0;
  for (size_t i = 0; i < IS_NFIELDS; i++) {
    ds->fields[i] = vg__indset_fields[i];
    ds->nfields++;
  }
  *out = ds;
  return 0;
}

void vg_dataset_free(struct vg_dataset *ds) {
  if (!ds)
    return;
  free(ds->c.id);
  free(ds->c.title);
  free(ds->c.description);
  free(ds->c.publisher);
  free(ds->c.license);
  free(ds->c.timezone);
  free(ds->c.entity_tag);
  free(ds->c.hvd_category);
  free(ds->c.contact_point);
  free(ds->c.mobility_type);
  list_release(&ds->c.site_names);
  list_release(&ds->c.insee_codes);
  list_release(&ds->c.keywords);
  list_release(&ds->c.metrics);
  list_release(&ds->c.columns);
  list_release(&ds->c.tag_columns);
  list_release(&ds->c.merge_by);
  list_release(&ds->c.coordinates);
  list_release(&ds->count_as);
  vg_tz_free(ds->tz);
  vg_tz_free(ds->store_tz);
  free(ds->fields);
  free(ds->cols);
  free(ds->lat);
  free(ds->lon);
  free(ds);
}

const char *vg_dataset_id(const struct vg_dataset *ds) {
  return ds->c.id;
}

const struct vg_dataset_def *vg_dataset_definition(const struct vg_dataset *ds) {
  return &ds->c;
}

const struct vg_tz *vg_dataset_tz(const struct vg_dataset *ds) {
  return ds->tz;
}

uint8_t vg_dataset_res(const struct vg_dataset *ds) {
  return ds->res;
}

const struct vg_odsql_field *vg_dataset_fields(const struct vg_dataset *ds, size_t *n) {
  *n = ds->nfields;
  return ds->fields;
}

int vg_dataset_field(const struct vg_dataset *ds, const char *name) {
  for (size_t i = 0; i < ds->nfields; i++)
    if (strcmp(ds->fields[i].name, name) == 0)
      return (int)i;
  return -1;
}

int vg_dataset_coords(const struct vg_dataset *ds, const char *entity, double *lat,
                      double *lon) {
  if (!entity)
    return 0;
  for (size_t i = 0; i + 1 < ds->c.coordinates.n; i += 2)
    if (strcmp(ds->c.coordinates.v[i], entity) == 0) {
      *lat = ds->lat[i / 2];
      *lon = ds->lon[i / 2];
      return 1;
    }
  return 0;
}

/* ---- series ---------------------------------------------------------------- */

struct pick {
  const struct vg_dataset *ds;
  struct vg_dataset_series_list *l;
  size_t cap;
  struct vg_dataset_series *cur;
};

static int on_tag(const char *name, const char *value, void *arg) {
  struct pick *p = arg;
  const struct vg_dataset *ds = p->ds;
  for (size_t i = 0; i < ds->c.tag_columns.n; i++) {
    if (strcmp(ds->c.tag_columns.v[i], name) != 0 || p->cur->tags[i])
      continue;
    p->cur->tags[i] = strdup(value);
    if (!p->cur->tags[i])
      return -ENOMEM;
  }
  if (ds->c.entity_tag && strcmp(ds->c.entity_tag, name) == 0 && !p->cur->entity) {
    p->cur->entity = strdup(value);
    if (!p->cur->entity)
      return -ENOMEM;
  }
  return 0;
}

static void series_release_one(struct vg_dataset_series *s, size_t ntags) {
  free(s->members);
  free(s->key);
  free(s->metric);
  for (size_t i = 0; s->tags && i < ntags; i++)
    free(s->tags[i]);
  free(s->tags);
  free(s->entity);
}

/* The key a series is listed under: its own, or its group's (merge_by). */
static char *group_key(const struct vg_dataset *ds, const struct vg_store_series *s) {
  if (!ds->c.merge_by.n)
    return strndup(s->key, s->key_len);
  char *out = malloc(s->key_len + 1); /* a group key is never longer */
  if (out && vg_group_key(s->key, s->key_len, (const char *const *)ds->c.merge_by.v,
                          ds->c.merge_by.n, out, s->key_len + 1) != 0) {
    free(out);
    out = NULL;
  }
  return out;
}

static int on_series(const struct vg_store_series *s, void *arg) {
  struct pick *p = arg;
  const struct vg_dataset *ds = p->ds;
  char metric[512];
  if (vg_series_key_split(s->key, s->key_len, metric, sizeof metric, NULL, NULL) != 0 ||
      !list_has(&ds->c.metrics, metric))
    return 0;
  if (VG_GROW(p->l->v, p->l->n + 1, p->cap))
    return -ENOMEM;
  struct vg_dataset_series *d = &p->l->v[p->l->n];
  memset(d, 0, sizeof *d);
  d->id = s->id;
  d->count_as = list_has(&ds->count_as, metric);
  p->cur = d;
  int rc = -ENOMEM;
  d->key = group_key(ds, s);
  d->metric = strdup(metric);
  d->tags = calloc(ds->c.tag_columns.n + 1, sizeof *d->tags);
  if (d->key && d->metric && d->tags)
    rc = vg_series_key_split(s->key, s->key_len, metric, sizeof metric, on_tag, p);
  if (rc) {
    series_release_one(d, ds->c.tag_columns.n);
    return rc;
  }
  p->l->n++;
  return 0;
}

static int cmp_series(const void *a, const void *b) {
  const struct vg_dataset_series *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  return c ? c : (x->id > y->id) - (x->id < y->id);
}

/* merge_by: the series listed under one group key (adjacent once sorted)
 * become one entry, the first's (smallest id), with every id as members. */
static int coalesce(struct vg_dataset_series_list *l) {
  size_t o = 0;
  for (size_t i = 0; i < l->n;) {
    size_t j = i + 1;
    while (j < l->n && strcmp(l->v[j].key, l->v[i].key) == 0)
      j++;
    uint64_t *ids = malloc((j - i) * sizeof *ids);
    if (!ids) { /* [0, o) and [i, n) hold series; the rest is moved or freed */
      for (size_t k = i; k < l->n; k++)
        series_release_one(&l->v[k], l->ntags);
      l->n = o;
      return -ENOMEM;
    }
    for (size_t k = i; k < j; k++) {
      ids[k - i] = l->v[k].id;
      if (k > i)
        series_release_one(&l->v[k], l->ntags);
    }
    l->v[o] = l->v[i];
    l->v[o].members = ids;
    l->v[o++].nmembers = j - i;
    i = j;
  }
  l->n = o;
  return 0;
}

const uint64_t *vg_dataset_series_ids(const struct vg_dataset_series *s, size_t *n) {
  *n = s->members ? s->nmembers : 1;
  return s->members ? s->members : &s->id;
}

int vg_dataset_series(const struct vg_dataset *ds, struct vg_store_reader *r,
                      struct vg_dataset_series_list *out) {
  if (ds->ix)
    return vg__indset_series(ds, ds->ix, r, out);
  struct pick p = {.ds = ds, .l = out};
  out->v = NULL;
  out->n = 0;
  out->ntags = ds->c.tag_columns.n;
  int rc = vg_store_series_each(r, on_series, &p);
  if (!rc && out->n)
    qsort(out->v, out->n, sizeof *out->v, cmp_series);
  if (!rc && ds->c.merge_by.n)
    rc = coalesce(out);
  if (rc) {
    for (size_t i = 0; i < out->n; i++)
      series_release_one(&out->v[i], ds->c.tag_columns.n);
    free(out->v);
    out->v = NULL;
    out->n = 0;
    return rc;
  }
  return 0;
}

void vg_dataset_series_release(struct vg_dataset_series_list *l) {
  for (size_t i = 0; i < l->n; i++)
    series_release_one(&l->v[i], l->ntags);
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

/* ---- windows and privacy ----------------------------------------------------- */

/* A window copied out of the store as published numbers (NAN: empty). */
struct win {
  int64_t start, end;
  uint32_t revision;
  uint8_t final;
  uint64_t count;
  double stat[VG_STAT_N];
  unsigned supp; /* bit per enum vg_stat suppressed; bit VG_STAT_N: coverage */
};

#define SUPP_COVERAGE VG_STAT_BIT(VG_STAT_N)
#define SUPP_PRIMARY                                                                     \
  (VG_STAT_BIT(VG_STAT_COUNT) | VG_STAT_BIT(VG_STAT_SUM) | SUPP_COVERAGE)

const char *vg_stat_name(int stat) {
  return stat >= 0 && stat < VG_STAT_N ? stat_names[stat] : NULL;
}

static void win_from(struct win *d, const struct vg_wentry *w) {
  memset(d, 0, sizeof *d);
  d->start = w->start;
  d->end = w->end;
  d->revision = w->revision;
  d->final = w->final;
  d->count = w->acc.st.count;
  vg_window_stats(w, d->stat);
}

/* Primary and secondary suppression over the windows of one group (the
 * hours of one store day of one series, or one day). Exposed to the unit
 * tests through the .c include. */
static void suppress_group(struct win *w, size_t n, uint64_t k) {
  if (k == 0)
    return;
  size_t nsupp = 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (w[i].count < k) {
      w[i].supp |= SUPP_PRIMARY;
      nsupp++;
      sum += w[i].count;
    }
    if (!isnan(w[i].stat[VG_STAT_DISTINCT]) && w[i].stat[VG_STAT_DISTINCT] < (double)k)
      w[i].supp |= VG_STAT_BIT(VG_STAT_DISTINCT);
  }
  /* secondary: the day's total minus the published hours must reveal
   * neither a single hour nor a sum under k */
  while (nsupp > 0 && nsupp < n && (nsupp < 2 || sum < k)) {
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < n; i++) /* smallest published count; earliest on ties */
      if (!(w[i].supp & VG_STAT_BIT(VG_STAT_COUNT)) &&
          (best == SIZE_MAX || w[i].count < w[best].count))
        best = i;
    w[best].supp |= SUPP_PRIMARY;
    nsupp++;
    sum += w[best].count;
  }
}

/* ---- scanning ------------------------------------------------------------------ */

struct scanner {
  const struct vg_dataset *ds;
  const struct vg_dataset_series *s;
  struct vg_dataset_scan *sc;
  struct vg_calendar cal;
  int (*cb)(const struct vg_dataset_row *row, void *ctx);
  void *ctx;
  struct win *buf;
  size_t n, cap;
  int64_t group_end;  /* end of the store day the buffered windows belong to */
  int64_t only_start; /* vg_dataset_window: the one start wanted, else INT64_MIN */
  int cbrc;
  int stopped; /* max_rows reached: next_s set */
  struct vg_odsql_value *vals;
  char supp_text[64];
};

static void fill_row(struct scanner *x, const struct win *w, struct vg_dataset_row *row) {
  const struct vg_dataset *ds = x->ds;
  struct vg_odsql_value *v = x->vals;
  x->supp_text[0] = 0;
  size_t o = 0;
  for (size_t i = 0; i < ds->nfields; i++) {
    const struct col *c = &ds->cols[i];
    struct vg_odsql_value *d = &v[i];
    memset(d, 0, sizeof *d);
    switch (c->kind) {
    case K_START: d->time_s = w->start; break;
    case K_END: d->time_s = w->end; break;
    case K_METRIC:
      d->str = x->s->metric;
      d->len = strlen(d->str);
      break;
    case K_TAG:
      d->str = x->s->tags[c->arg];
      d->null = !d->str;
      d->len = d->str ? strlen(d->str) : 0;
      break;
    case K_STAT: {
      unsigned bit = VG_STAT_BIT(c->arg);
      /* sum is count-derived for a count_as metric, and for any metric
       * sum / mean gives the count back: blanked with it */
      if (w->supp & bit) {
        d->null = 1;
        o += (size_t)snprintf(x->supp_text + o, sizeof x->supp_text - o, "%s%s",
                              o ? "," : "", stat_names[c->arg]);
        if (o >= sizeof x->supp_text) /* truncated: never past the end */
          o = sizeof x->supp_text - 1;
      } else {
        d->num = w->stat[c->arg];
        d->null = !isfinite(d->num);
      }
      break;
    }
    case K_COVERAGE:
      if (w->supp & SUPP_COVERAGE) {
        d->null = 1;
        o += (size_t)snprintf(x->supp_text + o, sizeof x->supp_text - o, "%scoverage",
                              o ? "," : "");
        if (o >= sizeof x->supp_text) /* truncated: never past the end */
          o = sizeof x->supp_text - 1;
      } else {
        size_t nids; /* a group expects the readings of every member */
        vg_dataset_series_ids(x->s, &nids);
        double expected = (double)(w->end - w->start) * 1e9 /
                          (double)ds->c.sensor_period_ns * (double)nids;
        d->num = expected > 0 ? (double)w->count / expected : NAN;
        d->null = !isfinite(d->num);
      }
      break;
    case K_STATUS:
      d->str = w->final ? "final" : "provisional";
      d->len = strlen(d->str);
      break;
    case K_REVISION: d->num = w->revision; break;
    case K_SUPPRESSED: break; /* below, once every cell is known */
    }
  }
  for (size_t i = 0; i < ds->nfields; i++)
    if (ds->cols[i].kind == K_SUPPRESSED) {
      v[i].str = x->supp_text;
      v[i].len = strlen(x->supp_text);
      v[i].null = v[i].len == 0;
    }
  *row = (struct vg_dataset_row){v, ds->nfields, x->s, w->start, w->end};
}

/* Publishes the buffered group: privacy, status filter, the requested
 * range. Returns cb's non-zero value. */
static int flush_group(struct scanner *x) {
  const struct vg_dataset *ds = x->ds;
  suppress_group(x->buf, x->n, (uint64_t)ds->c.suppress_below);
  for (size_t i = 0; i < x->n; i++) {
    const struct win *w = &x->buf[i];
    if (!w->final && ds->c.status == VG_DATASET_FINAL)
      continue;
    if (w->start < x->sc->from_s || w->start >= x->sc->to_s)
      continue;
    if (x->only_start != INT64_MIN && w->start != x->only_start)
      continue;
    struct vg_dataset_row row;
    fill_row(x, w, &row);
    x->sc->rows++;
    int rc = x->cb(&row, x->ctx);
    if (rc) {
      x->cbrc = rc;
      x->n = 0;
      return rc;
    }
  }
  x->n = 0;
  return 0;
}

static int on_window(const struct vg_wentry *w, void *arg) {
  struct scanner *x = arg;
  int64_t gend =
      x->ds->res == VG_RES_HOUR ? vg_calendar_day(&x->cal, w->start).end : w->end;
  if (x->n && gend != x->group_end) {
    int rc = flush_group(x);
    if (rc)
      return rc;
    if (x->sc->max_rows && x->sc->rows >= (uint64_t)x->sc->max_rows) {
      /* stop at this day boundary: the window at hand starts the next one */
      x->stopped = 1;
      x->sc->next_s =
          x->ds->res == VG_RES_HOUR ? vg_calendar_day(&x->cal, w->start).start : w->start;
      return 1;
    }
  }
  x->group_end = gend;
  if (VG_GROW(x->buf, x->n + 1, x->cap))
    return -ENOMEM;
  win_from(&x->buf[x->n++], w);
  return 0;
}

#define FAR_TIME (1LL << 35) /* beyond any stored window; no day math there */

/* The read range of [from, to): widened to whole store days (hourly), so a
 * group is always complete. */
static void widen(struct scanner *x, int64_t from, int64_t to, int64_t *lo, int64_t *hi) {
  *lo = from;
  *hi = to;
  if (x->ds->res != VG_RES_HOUR)
    return;
  if (from > -FAR_TIME && from < FAR_TIME)
    *lo = vg_calendar_day(&x->cal, from).start;
  if (to > -FAR_TIME && to < FAR_TIME)
    *hi = vg_calendar_day(&x->cal, to - 1).end;
}

/* vg_store_read_range's callback of first_start: the first start, then stop. */
static int on_first(const struct vg_wentry *w, void *arg) {
  int64_t *first = arg;
  if (w->start < *first)
    *first = w->start;
  return 1;
}

/* The first window start in [t, hi) of any of s's members; INT64_MAX when
 * there is none. */
static int first_start(struct vg_store_reader *r, const struct vg_dataset_series *s,
                       uint8_t res, int64_t t, int64_t hi, int64_t *out, char *errstr,
                       size_t errstr_size) {
  *out = INT64_MAX;
  for (size_t i = 0; i < s->nmembers; i++) {
    int rc = vg_store_read_range(r, s->members[i], res, t, hi, on_first, out, errstr,
                                 errstr_size);
    if (rc < 0)
      return rc;
  }
  return 0;
}

/* A group's windows are merged a slice of time at a time, so that memory
 * holds a month of its members' windows (a year for a daily dataset), not
 * its whole history. */
#define SLICE_S(res) ((res) == VG_RES_HOUR ? 32 * 86400LL : 400 * 86400LL)

/* The windows of group s with a start in [lo, hi), merged by start, through
 * on_window; stops with its non-zero value. */
static int read_group(struct scanner *x, struct vg_store_reader *r,
                      const struct vg_dataset_series *s, int64_t lo, int64_t hi,
                      char *errstr, size_t errstr_size) {
  uint8_t res = x->ds->res;
  int rc = 0;
  for (int64_t t = lo; !rc && t < hi;) {
    rc = first_start(r, s, res, t, hi, &t, errstr, errstr_size);
    if (rc || t == INT64_MAX)
      break;
    int64_t end = hi > t + SLICE_S(res) ? t + SLICE_S(res) : hi; /* t is a window's */
    struct vg_wmerge m = {0};
    for (size_t i = 0; !rc && i < s->nmembers; i++)
      rc = vg_store_read_range(r, s->members[i], res, t, end, vg_wmerge_add, &m, errstr,
                               errstr_size);
    rc = rc ? rc : vg_wmerge_finish(&m);
    for (size_t i = 0; !rc && i < m.n; i++)
      rc = on_window(&m.v[i].w, x);
    vg_wmerge_release(&m);
    t = end;
  }
  return rc;
}

/* The windows of s (a series, or a merge_by group) with a start in
 * [lo, hi), in time order, through on_window. */
static int read_series(struct scanner *x, struct vg_store_reader *r,
                       const struct vg_dataset_series *s, int64_t lo, int64_t hi,
                       char *errstr, size_t errstr_size) {
  if (s->members)
    return read_group(x, r, s, lo, hi, errstr, errstr_size);
  return vg_store_read_range(r, s->id, x->ds->res, lo, hi, on_window, x, errstr,
                             errstr_size);
}

static int scanner_init(struct scanner *x, const struct vg_dataset *ds,
                        struct vg_dataset_scan *sc,
                        int (*cb)(const struct vg_dataset_row *, void *), void *ctx) {
  *x =
      (struct scanner){.ds = ds, .sc = sc, .cb = cb, .ctx = ctx, .only_start = INT64_MIN};
  vg_calendar_init(&x->cal, ds->store_tz, 60);
  return (x->vals = calloc(ds->nfields, sizeof *x->vals)) ? 0 : -ENOMEM;
}

static void scanner_release(struct scanner *x) {
  free(x->buf);
  free(x->vals);
}

int vg_dataset_scan(const struct vg_dataset *ds, struct vg_store_reader *r,
                    const struct vg_dataset_series_list *l, struct vg_dataset_scan *sc,
                    int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                    char *errstr, size_t errstr_size) {
  if (ds->ix)
    return vg__indset_scan(ds, ds->ix, r, l, sc, cb, ctx);
  struct scanner x;
  int rc = scanner_init(&x, ds, sc, cb, ctx);
  sc->done = 0;
  sc->rows = 0;
  for (; !rc && sc->series_idx < l->n; sc->series_idx++, sc->next_s = INT64_MIN) {
    x.s = &l->v[sc->series_idx];
    x.n = 0;
    x.stopped = 0;
    int64_t from = sc->from_s > sc->next_s ? sc->from_s : sc->next_s, lo, hi;
    widen(&x, from, sc->to_s, &lo, &hi);
    if (sc->next_s > lo) /* resuming: the cursor is a group start */
      lo = sc->next_s;
    rc = read_series(&x, r, x.s, lo, hi, errstr, errstr_size);
    if (rc == 1 && x.stopped) {
      rc = 0;
      break; /* resumable at (series_idx, next_s) */
    }
    if (!rc && x.n)
      rc = flush_group(&x);
    if (!rc && sc->max_rows && sc->rows >= (uint64_t)sc->max_rows &&
        sc->series_idx + 1 < l->n) {
      sc->series_idx++;
      sc->next_s = INT64_MIN;
      break;
    }
  }
  if (!rc && sc->series_idx >= l->n)
    sc->done = 1;
  if (x.cbrc && rc == x.cbrc)
    rc = x.cbrc;
  scanner_release(&x);
  return rc;
}

int vg_dataset_window(const struct vg_dataset *ds, struct vg_store_reader *r,
                      const struct vg_dataset_series *s, int64_t start,
                      int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                      int *cbrc, char *errstr, size_t errstr_size) {
  if (ds->ix)
    return vg__indset_window(ds, ds->ix, r, s, start, cb, ctx, cbrc);
  struct vg_dataset_scan sc = {.from_s = start, .to_s = start + 1};
  struct scanner x;
  int rc = scanner_init(&x, ds, &sc, cb, ctx);
  if (rc)
    return rc;
  x.s = s;
  int64_t lo, hi;
  widen(&x, start, start + 1, &lo, &hi);
  if (ds->res == VG_RES_HOUR && ds->c.suppress_below > 0) {
    sc.from_s = lo; /* the whole day: secondary suppression may have moved */
    sc.to_s = hi;
  } else {
    x.only_start = start;
  }
  rc = read_series(&x, r, s, lo, hi, errstr, errstr_size);
  if (!rc && x.n)
    rc = flush_group(&x);
  *cbrc = x.cbrc;
  if (x.cbrc && rc == x.cbrc)
    rc = 0;
  scanner_release(&x);
  return rc < 0 ? rc : sc.rows > 0;
}

int64_t vg_dataset_slot_end(const struct vg_dataset *ds, int64_t start) {
  if (ds->res == VG_RES_HOUR)
    return start + 3600;
  struct vg_calendar cal;
  vg_calendar_init(&cal, ds->store_tz, 60);
  return vg_calendar_day(&cal, start).end;
}

int64_t vg_dataset_group(const struct vg_dataset *ds, int64_t start) {
  if (ds->res != VG_RES_HOUR || ds->c.suppress_below <= 0)
    return start; /* vg_dataset_window re-sends that window alone */
  struct vg_calendar cal;
  vg_calendar_init(&cal, ds->store_tz, 60);
  return vg_calendar_day(&cal, start).start;
}

/* ---- formats --------------------------------------------------------------------- */

int vg_rows_csv_header(FILE *out, const struct vg_odsql_field *fields, const size_t *sel,
                       size_t nsel, char delim) {
  for (size_t j = 0; j < nsel; j++) {
    if (j)
      putc(delim, out);
    const char *name = fields[sel[j]].name; /* a dataset's are plain identifiers */
    vg_csv_field(out, name, strlen(name), delim);
  }
  fputs("\r\n", out);
  return ferror(out) ? -EIO : 0;
}

int vg_dataset_csv_header(FILE *out, const struct vg_dataset *ds, const size_t *sel,
                          size_t nsel, char delim) {
  return vg_rows_csv_header(out, ds->fields, sel, nsel, delim);
}

static size_t cell_text(const struct vg_odsql_field *f, const struct vg_odsql_value *v,
                        const struct vg_tz *tz, char *buf, const char **s) {
  if (f->type == VG_ODSQL_DATETIME) {
    *s = buf;
    return vg_fmt_iso(v->time_s, tz, buf);
  }
  if (f->type == VG_ODSQL_NUMBER) {
    *s = buf;
    return vg_fmt_double(v->num, buf);
  }
  if (f->type == VG_ODSQL_BOOLEAN) {
    *s = v->num != 0 ? "true" : "false";
    return strlen(*s);
  }
  *s = v->str;
  return v->len;
}

int vg_rows_csv_row(FILE *out, const struct vg_odsql_field *fields,
                    const struct vg_odsql_value *row, const size_t *sel, size_t nsel,
                    const struct vg_tz *tz, char delim) {
  char buf[VG_FMT_ISO_MAX > VG_FMT_DOUBLE_MAX ? VG_FMT_ISO_MAX : VG_FMT_DOUBLE_MAX];
  for (size_t j = 0; j < nsel; j++) {
    const struct vg_odsql_value *v = &row[sel[j]];
    if (j)
      putc(delim, out);
    if (v->null)
      continue;
    const char *s;
    size_t len = cell_text(&fields[sel[j]], v, tz, buf, &s);
    vg_csv_field(out, s, len, delim);
  }
  fputs("\r\n", out);
  return ferror(out) ? -EIO : 0;
}

int vg_dataset_csv_row(FILE *out, const struct vg_dataset *ds,
                       const struct vg_dataset_row *row, const size_t *sel, size_t nsel,
                       const struct vg_tz *tz, char delim) {
  return vg_rows_csv_row(out, ds->fields, row->v, sel, nsel, tz, delim);
}

int vg_rows_json_row(struct vg_jsonw *w, const struct vg_odsql_field *fields,
                     const struct vg_odsql_value *row, const size_t *sel, size_t nsel,
                     const struct vg_tz *tz) {
  char buf[VG_FMT_ISO_MAX > VG_FMT_DOUBLE_MAX ? VG_FMT_ISO_MAX : VG_FMT_DOUBLE_MAX];
  vg_jsonw_map(w);
  for (size_t j = 0; j < nsel; j++) {
    const struct vg_odsql_field *f = &fields[sel[j]];
    const struct vg_odsql_value *v = &row[sel[j]];
    vg_jsonw_cstr(w, f->name);
    if (v->null) {
      vg_jsonw_null(w);
      continue;
    }
    if (f->type == VG_ODSQL_BOOLEAN) {
      vg_jsonw_bool(w, v->num != 0);
      continue;
    }
    const char *s;
    size_t len = cell_text(f, v, tz, buf, &s);
    if (f->type == VG_ODSQL_NUMBER)
      vg_jsonw_number(w, s, len); /* finite: a non-finite number is null */
    else
      vg_jsonw_str(w, s, len);
  }
  vg_jsonw_map_end(w);
  return vg_jsonw_error(w);
}

int vg_dataset_json_row(struct vg_jsonw *w, const struct vg_dataset *ds,
                        const struct vg_dataset_row *row, const size_t *sel, size_t nsel,
                        const struct vg_tz *tz) {
  return vg_rows_json_row(w, ds->fields, row->v, sel, nsel, tz);
}

int vg_dataset_geojson_row(struct vg_jsonw *w, const struct vg_dataset *ds,
                           const struct vg_dataset_row *row, const size_t *sel,
                           size_t nsel, const struct vg_tz *tz) {
  double lat, lon;
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "type", "Feature");
  vg_jsonw_cstr(w, "geometry");
  if (vg_dataset_coords(ds, row->series->entity, &lat, &lon)) {
    vg_jsonw_map(w);
    vg_jsonw_kv(w, "type", "Point");
    vg_jsonw_cstr(w, "coordinates");
    vg_jsonw_array(w);
    vg_jsonw_double(w, lon);
    vg_jsonw_double(w, lat);
    vg_jsonw_array_end(w);
    vg_jsonw_map_end(w);
  } else {
    vg_jsonw_null(w);
  }
  vg_jsonw_cstr(w, "properties");
  vg_rows_json_row(w, ds->fields, row->v, sel, nsel, tz);
  vg_jsonw_map_end(w);
  return vg_jsonw_error(w);
}
