/*
 * The dashboard's cards from the store (dashboard.h, vg_dashboard_cards):
 * for each (indicator, series) row key, its latest period and the periods
 * before it, as the dataset `indicateurs` holds them, with the objective of
 * the configuration.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/dashboard.h"
#include "vigie/indicator.h"

struct key_rows {
  uint64_t key;
  int k;
  char *series;
  struct vg_dash_point
      *pts; /* the last `trend` rows, oldest first (a ring until sorted) */
  size_t npts, cap, next;
  struct vg_store_ind last; /* strings NULL */
};

struct collect {
  const struct vg_indicators *ix;
  struct key_rows *v;
  size_t n, cap;
  int rc;
};

static int on_row(const struct vg_store_ind *row, void *ctx) {
  struct collect *c = ctx;
  struct key_rows *kr = c->n ? &c->v[c->n - 1] : NULL;
  if (!kr || kr->key != row->key) {
    int k = vg_indicators_find(c->ix, row->indicator);
    if (k < 0)
      return 0; /* no longer configured */
    if (VG_GROW(c->v, c->n + 1, c->cap))
      return c->rc = -ENOMEM;
    kr = &c->v[c->n];
    memset(kr, 0, sizeof *kr);
    kr->key = row->key;
    kr->k = k;
    kr->cap = (size_t)vg_indicators_def(c->ix, (size_t)k)->trend;
    kr->series = strdup(row->series);
    kr->pts = calloc(kr->cap, sizeof *kr->pts);
    if (!kr->series || !kr->pts) {
      free(kr->series);
      free(kr->pts);
      return c->rc = -ENOMEM;
    }
    c->n++;
  }
  kr->pts[kr->next] = (struct vg_dash_point){.start = row->start,
                                             .end = row->end,
                                             .value = row->value,
                                             .has_value = isfinite(row->value)};
  kr->next = (kr->next + 1) % kr->cap;
  if (kr->npts < kr->cap)
    kr->npts++;
  kr->last = *row;
  kr->last.indicator = kr->last.series = NULL;
  return 0;
}

static int cmp_cards(const void *a, const void *b) {
  const struct key_rows *x = a, *y = b;
  if (x->k != y->k)
    return x->k < y->k ? -1 : 1;
  return strcmp(x->series, y->series);
}

void vg_dashboard_cards_release(struct vg_dash_cards *cs) {
  for (size_t i = 0; i < cs->n; i++) {
    free((char *)cs->v[i].series);
    free((void *)cs->v[i].trend);
  }
  free(cs->v);
  memset(cs, 0, sizeof *cs);
}

int vg_dashboard_cards(const struct vg_indicators *ix, struct vg_store_reader *r,
                       const char *lang, struct vg_dash_cards *out) {
  memset(out, 0, sizeof *out);
  struct collect c = {.ix = ix};
  int rc = vg_store_read_ind(r, 0, INT64_MIN, INT64_MAX, on_row, &c);
  if (c.rc)
    rc = c.rc;
  if (!rc && c.n > 1)
    qsort(c.v, c.n, sizeof *c.v, cmp_cards);
  if (!rc && c.n && !(out->v = calloc(c.n, sizeof *out->v)))
    rc = -ENOMEM;
  int en = lang && strcmp(lang, "en") == 0;
  for (size_t i = 0; i < c.n; i++) {
    struct key_rows *kr = &c.v[i];
    if (rc) {
      free(kr->series);
      free(kr->pts);
      continue;
    }
    /* the ring in time order */
    struct vg_dash_point *pts = malloc((kr->npts ? kr->npts : 1) * sizeof *pts);
    if (!pts) {
      rc = -ENOMEM;
      free(kr->series);
      free(kr->pts);
      continue;
    }
    size_t first = kr->npts < kr->cap ? 0 : kr->next;
    for (size_t j = 0; j < kr->npts; j++)
      pts[j] = kr->pts[(first + j) % kr->cap];
    free(kr->pts);
    const struct vg_indicator_def *d = vg_indicators_def(ix, (size_t)kr->k);
    const struct vg_store_ind *row = &kr->last;
    out->v[out->n++] = (struct vg_dash_card){
        .indicator = d->id,
        .title = en ? d->title_en : d->title,
        .description = en ? d->description_en : d->description,
        .unit = (en ? d->unit_en : d->unit) ? (en ? d->unit_en : d->unit) : "",
        .series = kr->series,
        .period = vg_ind_period_name(d->period),
        .period_start = row->start,
        .period_end = row->end,
        .has_value = isfinite(row->value),
        .value = row->value,
        .has_target = !isnan(d->target),
        .target = d->target,
        .at_most = d->direction != VG_IND_AT_LEAST,
        .attained = vg_indicator_attained(d, row->value),
        .has_previous = isfinite(row->previous),
        .previous = row->previous,
        .coverage = row->coverage,
        .final = row->final,
        .revision = row->revision,
        .trend = pts,
        .ntrend = kr->npts};
  }
  free(c.v);
  if (rc)
    vg_dashboard_cards_release(out);
  return rc;
}
