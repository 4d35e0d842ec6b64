/*
 * The dataset `indicateurs` (indset.h): indicator rows as published rows,
 * with the objective of the configuration applied when read.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "publish/indset.h"
#include "vigie/array.h"

const struct vg_odsql_field vg__indset_fields[IS_NFIELDS] = {
    [IS_INDICATOR] = {"indicator", VG_ODSQL_TEXT},
    [IS_SERIES] = {"series", VG_ODSQL_TEXT},
    [IS_PERIOD_START] = {"period_start", VG_ODSQL_DATETIME},
    [IS_PERIOD_END] = {"period_end", VG_ODSQL_DATETIME},
    [IS_VALUE] = {"value", VG_ODSQL_NUMBER},
    [IS_TARGET] = {"target", VG_ODSQL_NUMBER},
    [IS_ATTAINED] = {"attained", VG_ODSQL_BOOLEAN},
    [IS_PREVIOUS] = {"previous_value", VG_ODSQL_NUMBER},
    [IS_COVERAGE] = {"coverage", VG_ODSQL_NUMBER},
    [IS_STATUS] = {"status", VG_ODSQL_TEXT},
    [IS_REVISION] = {"revision", VG_ODSQL_NUMBER},
    [IS_PERIOD] = {"period", VG_ODSQL_TEXT},
    [IS_UNIT] = {"unit", VG_ODSQL_TEXT},
};

/* ---- the pairs ------------------------------------------------------------------- */

struct pairs {
  const struct vg_indicators *ix;
  struct vg_dataset_series_list *l;
  size_t cap;
  int rc;
};

static int on_pair_row(const struct vg_store_ind *row, void *ctx) {
  struct pairs *p = ctx;
  struct vg_dataset_series_list *l = p->l;
  if (l->n && l->v[l->n - 1].id == row->key)
    return 0; /* rows of one key follow each other */
  int k = vg_indicators_find(p->ix, row->indicator);
  if (k < 0)
    return 0; /* an indicator no longer configured */
  if (VG_GROW(l->v, l->n + 1, p->cap))
    return p->rc = -ENOMEM;
  struct vg_dataset_series *s = &l->v[l->n];
  memset(s, 0, sizeof *s);
  s->id = row->key;
  s->key = strdup(row->series);
  s->metric = strdup(row->indicator);
  s->count_as = k; /* the indicator's index: the order of the list */
  if (!s->key || !s->metric) {
    free(s->key);
    free(s->metric);
    return p->rc = -ENOMEM;
  }
  l->n++;
  return 0;
}

static int cmp_pair(const void *a, const void *b) {
  const struct vg_dataset_series *x = a, *y = b;
  if (x->count_as != y->count_as)
    return x->count_as < y->count_as ? -1 : 1;
  return strcmp(x->key, y->key);
}

int vg__indset_series(const struct vg_dataset *ds, const struct vg_indicators *ix,
                      struct vg_store_reader *r, struct vg_dataset_series_list *out) {
  (void)ds;
  struct pairs p = {ix, out, 0, 0};
  out->v = NULL;
  out->n = out->ntags = 0;
  int rc = vg_store_read_ind(r, 0, INT64_MIN, INT64_MAX, on_pair_row, &p);
  if (p.rc)
    rc = p.rc;
  if (rc) {
    vg_dataset_series_release(out);
    return rc;
  }
  if (out->n > 1)
    qsort(out->v, out->n, sizeof *out->v, cmp_pair);
  return 0;
}

/* ---- rows -------------------------------------------------------------------------- */

struct rows {
  const struct vg_indicators *ix;
  const struct vg_dataset_series *s;
  const struct vg_indicator_def *d;
  struct vg_dataset_scan *sc;
  int (*cb)(const struct vg_dataset_row *row, void *ctx);
  void *ctx;
  int cbrc, stopped;
  int64_t last_start;
};

static void num(struct vg_odsql_value *v, double x) {
  v->num = x;
  v->null = !isfinite(x);
}

static void text(struct vg_odsql_value *v, const char *s) {
  v->str = s;
  v->len = s ? strlen(s) : 0;
  v->null = s == NULL;
}

static int on_row(const struct vg_store_ind *row, void *ctx) {
  struct rows *x = ctx;
  if (x->stopped)
    return 1;
  struct vg_odsql_value v[IS_NFIELDS];
  memset(v, 0, sizeof v);
  text(&v[IS_INDICATOR], row->indicator);
  text(&v[IS_SERIES], row->series);
  v[IS_PERIOD_START].time_s = row->start;
  v[IS_PERIOD_END].time_s = row->end;
  num(&v[IS_VALUE], row->value);
  num(&v[IS_TARGET], x->d->target);
  int att = vg_indicator_attained(x->d, row->value);
  v[IS_ATTAINED].num = att > 0;
  v[IS_ATTAINED].null = att < 0;
  num(&v[IS_PREVIOUS], row->previous);
  num(&v[IS_COVERAGE], row->coverage);
  text(&v[IS_STATUS], row->final ? "final" : "provisional");
  num(&v[IS_REVISION], (double)row->revision);
  text(&v[IS_PERIOD], vg_ind_period_name(x->d->period));
  text(&v[IS_UNIT], x->d->unit && *x->d->unit ? x->d->unit : NULL);
  struct vg_dataset_row out = {
      .v = v, .n = IS_NFIELDS, .series = x->s, .start = row->start, .end = row->end};
  x->last_start = row->start;
  if ((x->cbrc = x->cb(&out, x->ctx)) != 0)
    return x->cbrc;
  if (x->sc) {
    x->sc->rows++;
    if (x->sc->max_rows && x->sc->rows >= (uint64_t)x->sc->max_rows) {
      x->stopped = 1;
      return 1;
    }
  }
  return 0;
}

int vg__indset_scan(const struct vg_dataset *ds, const struct vg_indicators *ix,
                    struct vg_store_reader *r, const struct vg_dataset_series_list *l,
                    struct vg_dataset_scan *sc,
                    int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx) {
  (void)ds;
  sc->done = 0;
  sc->rows = 0;
  int rc = 0;
  for (; sc->series_idx < l->n; sc->series_idx++, sc->next_s = INT64_MIN) {
    const struct vg_dataset_series *s = &l->v[sc->series_idx];
    int k = vg_indicators_find(ix, s->metric);
    if (k < 0)
      continue;
    struct rows x = {.ix = ix,
                     .s = s,
                     .d = vg_indicators_def(ix, (size_t)k),
                     .sc = sc,
                     .cb = cb,
                     .ctx = ctx};
    int64_t from = sc->from_s > sc->next_s ? sc->from_s : sc->next_s;
    rc = vg_store_read_ind(r, s->id, from, sc->to_s, on_row, &x);
    if (x.cbrc)
      return x.cbrc;
    if (x.stopped) {
      sc->next_s = x.last_start + 1; /* resumable after that row */
      return 0;
    }
    if (rc)
      return rc;
  }
  sc->done = 1;
  return 0;
}

int vg__indset_window(const struct vg_dataset *ds, const struct vg_indicators *ix,
                      struct vg_store_reader *r, const struct vg_dataset_series *s,
                      int64_t start,
                      int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                      int *cbrc) {
  (void)ds;
  int k = vg_indicators_find(ix, s->metric);
  *cbrc = 0;
  if (k < 0)
    return 0;
  struct vg_dataset_scan sc = {.from_s = start, .to_s = start + 1};
  struct rows x = {.ix = ix,
                   .s = s,
                   .d = vg_indicators_def(ix, (size_t)k),
                   .sc = &sc,
                   .cb = cb,
                   .ctx = ctx};
  int rc = vg_store_read_ind(r, s->id, start, start + 1, on_row, &x);
  *cbrc = x.cbrc;
  if (x.cbrc)
    return 1;
  return rc < 0 ? rc : sc.rows > 0;
}
