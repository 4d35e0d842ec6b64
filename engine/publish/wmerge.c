/*
 * Exact merges of windows across series (include/vigie/wmerge.h): group
 * keys, and the windows of a group's members merged by start.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/array.h"
#include "vigie/serieskey.h"
#include "vigie/wmerge.h"

/* ---- group keys ------------------------------------------------------------- */

struct kept {
  const char *const *by;
  size_t nby;
  struct vg_series_tag *v;
  size_t n, cap;
};

static int keep_tag(const char *name, const char *value, void *arg) {
  struct kept *k = arg;
  int wanted = 0;
  for (size_t i = 0; i < k->nby && !wanted; i++)
    wanted = strcmp(k->by[i], name) == 0;
  if (!wanted || !*value)
    return 0;
  if (VG_GROW(k->v, k->n + 1, k->cap))
    return -ENOMEM;
  char *n = strdup(name), *v = strdup(value);
  if (!n || !v) {
    free(n);
    free(v);
    return -ENOMEM;
  }
  k->v[k->n++] = (struct vg_series_tag){n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
  return 0;
}

int vg_group_key(const char *key, size_t len, const char *const *by, size_t nby,
                 char *out, size_t size) {
  char metric[512];
  struct kept k = {.by = by, .nby = nby};
  int rc = vg_series_key_split(key, len, metric, sizeof metric, keep_tag, &k);
  char *buf = NULL;
  if (!rc) {
    size_t mlen = strlen(metric);
    buf = malloc(vg_series_key_max(mlen, k.v, k.n) + 1);
    if (!buf) {
      rc = -ENOMEM;
    } else {
      size_t n = vg_series_key_build(buf, metric, mlen, k.v, k.n);
      if (n >= size) {
        rc = -ENOSPC;
      } else {
        memcpy(out, buf, n);
        out[n] = '\0';
      }
    }
  }
  for (size_t i = 0; i < k.n; i++) {
    free((char *)k.v[i].name);
    free((char *)k.v[i].value);
  }
  free(k.v);
  free(buf);
  return rc;
}

/* ---- merged windows ------------------------------------------------------------ */

int vg_wmerge_add(const struct vg_wentry *w, void *arg) {
  struct vg_wmerge *m = arg;
  if (VG_GROW(m->v, m->n + 1, m->cap))
    return -ENOMEM;
  struct vg_wmerge_win *d = &m->v[m->n];
  d->group = m->group;
  d->w = *w;
  d->members = 1;
  d->partial_qs = w->acc.st.count && !w->acc.qs;
  d->partial_hll = w->acc.st.count && !w->acc.hll;
  vg_acc_init(&d->w.acc);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  int rc = vg_acc_merge(&d->w.acc, &w->acc, &o); /* a deep copy */
  if (rc) {
    vg_acc_release(&d->w.acc);
    return rc;
  }
  m->n++;
  return 0;
}

static int cmp_win(const void *a, const void *b) {
  const struct vg_wmerge_win *x = a, *y = b;
  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  if (x->w.start != y->w.start)
    return x->w.start < y->w.start ? -1 : 1;
  /* members in series order: the same merge, so the same bits, every time */
  return (x->w.series > y->w.series) - (x->w.series < y->w.series);
}

/* dst (+) src by the rules of wmerge.h; src is left as it was. */
static int merge_into(struct vg_wmerge_win *dst, const struct vg_wmerge_win *src) {
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  int rc = vg_acc_merge(&dst->w.acc, &src->w.acc, &o);
  if (rc)
    return rc;
  dst->w.final &= src->w.final;
  dst->w.revision += src->w.revision + 1; /* one more member, or a revised one */
  dst->members += src->members;
  dst->partial_qs |= src->partial_qs;
  dst->partial_hll |= src->partial_hll;
  return 0;
}

/* A quantile or distinct count of only some members would mislead. */
static void drop_partial(struct vg_wmerge_win *d) {
  if (d->partial_qs && d->w.acc.qs) {
    vg_ddsketch_free(d->w.acc.qs);
    d->w.acc.qs = NULL;
  }
  if (d->partial_hll && d->w.acc.hll) {
    vg_hll_free(d->w.acc.hll);
    d->w.acc.hll = NULL;
  }
}

/* On an error the windows are left releasable (each state held once). */
int vg_wmerge_finish(struct vg_wmerge *m) {
  if (m->n > 1)
    qsort(m->v, m->n, sizeof *m->v, cmp_win);
  size_t o = 0;
  for (size_t i = 0; i < m->n;) {
    size_t j = i + 1;
    for (;
         j < m->n && m->v[j].group == m->v[i].group && m->v[j].w.start == m->v[i].w.start;
         j++) {
      int rc = merge_into(&m->v[i], &m->v[j]);
      if (rc)
        return rc;
    }
    drop_partial(&m->v[i]);
    for (size_t k = i + 1; k < j; k++) /* merged: no longer needed */
      vg_acc_release(&m->v[k].w.acc);
    if (o != i) { /* moved down: the old place holds nothing */
      m->v[o] = m->v[i];
      vg_acc_init(&m->v[i].w.acc);
    }
    o++;
    i = j;
  }
  m->n = o;
  return 0;
}

void vg_wmerge_release(struct vg_wmerge *m) {
  for (size_t i = 0; i < m->n; i++)
    vg_acc_release(&m->v[i].w.acc);
  free(m->v);
  *m = (struct vg_wmerge){0};
}
