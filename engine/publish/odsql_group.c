/*
 * Analysis queries (odsql.h, "analysis"): the groups of a group_by and
 * their aggregates, computed in one pass over the input rows.
 *
 * A row's group keys are encoded into one byte string (a tag byte, then a
 * double, an int64 or a length-prefixed text per key), looked up in a hash
 * map of byte strings that also numbers the groups densely. Each group has
 * one accumulator per aggregate: counts, a compensated (Neumaier) sum, the
 * minimum and maximum. count(distinct x) keeps the (aggregate, group,
 * value) triples seen in a second map; median and percentile keep every
 * (group, value) pair and sort them at the end: exact answers, at 16 bytes
 * of memory per input value, bounded by the input (the API's datasets).
 *
 * finish() turns the groups into rows of struct vg_odsql_value (texts point
 * into the maps' bytes, which no longer move) and orders them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/hash.h"
#include "vigie/odsql.h"
#include "vigie/publish.h"
#include "vigie/tz.h"

#include "odsql_internal.h"

/* ---- date_format --------------------------------------------------------- */

static int put_num(char *buf, size_t size, size_t *o, int width, long long v) {
  int n = snprintf(buf + *o, size - *o, "%0*lld", width, v);
  if (n < 0 || (size_t)n >= size - *o)
    return -1;
  *o += (size_t)n;
  return 0;
}

int vg_odsql_date_format(const char *pat, int64_t y, unsigned mo, unsigned d, unsigned h,
                         unsigned mi, unsigned s, char *buf, size_t size) {
  size_t o = 0;
  for (const char *c = pat; *c;) {
    if (size - o < 2)
      return -1;
    if (*c == '\'' && c[1] == '\'') { /* '' is a quote */
      buf[o++] = '\'';
      c += 2;
    } else if (*c == '\'') { /* 'quoted text', where '' is a quote */
      for (c++;; c++) {
        if (!*c)
          return -1;
        if (*c == '\'' && c[1] != '\'')
          break;
        if (*c == '\'')
          c++;
        if (size - o < 2)
          return -1;
        buf[o++] = *c;
      }
      c++;
    } else if (isalpha((unsigned char)*c)) {
      size_t n = 1;
      while (c[n] == *c)
        n++;
      long long v;
      switch (*c) {
      case 'y': v = n == 2 ? (long long)((y % 100 + 100) % 100) : (long long)y; break;
      case 'M': v = mo; break;
      case 'd': v = d; break;
      case 'H': v = h; break;
      case 'm': v = mi; break;
      case 's': v = s; break;
      default: return -1;
      }
      if (n > 2 && !(*c == 'y' && n == 4))
        return -1;
      if (*c == 'y' && n == 1)
        return -1;
      if (put_num(buf, size, &o, (int)(*c == 'y' && n == 4 ? 4 : n), v))
        return -1;
      c += n;
    } else {
      buf[o++] = *c++;
    }
  }
  buf[o] = '\0';
  return (int)o;
}

/* ---- a map of byte strings to dense indexes ------------------------------ */

struct bkey {
  size_t off;
  uint32_t len;
  uint64_t h;
};

struct bmap {
  uint32_t *slot; /* index + 1; 0: empty */
  size_t nslot;   /* a power of two */
  struct bkey *key;
  size_t n, cap;
  char *bytes;
  size_t blen, bcap;
};

static void bmap_free(struct bmap *m) {
  free(m->slot);
  free(m->key);
  free(m->bytes);
}

static int bmap_grow(struct bmap *m) {
  size_t ns = m->nslot ? 2 * m->nslot : 1024;
  uint32_t *s = calloc(ns, sizeof *s);
  if (!s)
    return -ENOMEM;
  for (size_t i = 0; i < m->n; i++) {
    size_t j = m->key[i].h & (ns - 1);
    while (s[j])
      j = (j + 1) & (ns - 1);
    s[j] = (uint32_t)i + 1;
  }
  free(m->slot);
  m->slot = s;
  m->nslot = ns;
  return 0;
}

/* Finds or adds key k: 0 with *idx and *created, -E2BIG when adding would
 * pass max entries, -ENOMEM. */
static int bmap_put(struct bmap *m, const void *k, size_t len, size_t max, size_t *idx,
                    int *created) {
  uint64_t h = vg_fnv1a64(VG_FNV64_OFFSET, k, len);
  *created = 0;
  if (len > UINT32_MAX)
    return -E2BIG;
  if (m->nslot) {
    for (size_t j = h & (m->nslot - 1); m->slot[j]; j = (j + 1) & (m->nslot - 1)) {
      const struct bkey *e = &m->key[m->slot[j] - 1];
      if (e->h == h && e->len == len && memcmp(m->bytes + e->off, k, len) == 0) {
        *idx = m->slot[j] - 1;
        return 0;
      }
    }
  }
  if (m->n >= max)
    return -E2BIG;
  if ((m->n + 1) * 2 > m->nslot && bmap_grow(m))
    return -ENOMEM;
  /* one byte more: bytes is never NULL, even for an empty first key */
  if (VG_GROW(m->key, m->n + 1, m->cap) || VG_GROW(m->bytes, m->blen + len + 1, m->bcap))
    return -ENOMEM;
  memcpy(m->bytes + m->blen, k, len);
  m->key[m->n] = (struct bkey){m->blen, (uint32_t)len, h};
  m->blen += len;
  size_t j = h & (m->nslot - 1);
  while (m->slot[j])
    j = (j + 1) & (m->nslot - 1);
  m->slot[j] = (uint32_t)m->n + 1;
  *idx = m->n++;
  *created = 1;
  return 0;
}

/* ---- groups -------------------------------------------------------------- */

struct accum {
  uint64_t n;
  double sum, comp, lo, hi;
};

struct sample {
  uint32_t group;
  double v;
};

struct samples {
  struct sample *v;
  size_t n, cap;
};

/* A date key's last value, kept while the rows' local times stay in one
 * bucket of its finest unit (a scan goes series by series in time order, so
 * an hourly dataset grouped by day reuses one value for 24 rows), and the
 * zone's offset while no transition is passed. */
struct date_memo {
  int64_t unit;             /* seconds of the finest unit the key shows */
  int64_t off_from, off_to; /* UTC range where off holds; empty at first */
  int32_t off;
  int64_t bucket; /* floor(local / unit) of the value kept */
  int valid;
  size_t len; /* the key's encoded bytes */
  char enc[1 + 4 + 256];
};

struct vg_odsql_groups {
  const struct vg_odsql_analysis *a;
  struct date_memo memo[VG_ODSQL_MAX_COLUMNS]; /* per key */
  size_t key[VG_ODSQL_MAX_COLUMNS], nkey;      /* key columns */
  size_t agg[VG_ODSQL_MAX_COLUMNS], nagg;      /* aggregate columns */
  struct bmap groups;                          /* encoded keys -> group */
  struct bmap distinct;                        /* count(distinct): seen triples */
  struct accum *acc;                           /* groups x nagg */
  size_t capacc;
  struct samples *samples; /* per aggregate (median, percentile) */
  char *kb;                /* the key being built */
  size_t kcap;
  /* after finish */
  struct vg_odsql_value *rows; /* groups x ncols */
  char *labels;                /* range() labels */
  size_t *order;
  int finished;
};

/* The seconds of the finest calendar unit a date key shows (a day at most:
 * months and years hold whole local days), 0 for other keys. */
static int64_t date_unit(const struct vg_odsql_col *c) {
  switch (c->fn) {
  case KEY_YEAR:
  case KEY_MONTH:
  case KEY_DAY: return 86400;
  case KEY_HOUR: return 3600;
  case KEY_MINUTE: return 60;
  case KEY_DATE_FORMAT:
    return strchr(c->fmt, 's')   ? 1
           : strchr(c->fmt, 'm') ? 60
           : strchr(c->fmt, 'H') ? 3600
                                 : 86400;
  default: return 0;
  }
}

int vg_odsql_groups_new(const struct vg_odsql_analysis *a, struct vg_odsql_groups **out) {
  struct vg_odsql_groups *g = calloc(1, sizeof *g);
  *out = NULL;
  if (!g)
    return -ENOMEM;
  g->a = a;
  for (size_t i = 0; i < a->ncols; i++) {
    if (VG_ODSQL_IS_AGG(a->col[i].fn))
      g->agg[g->nagg++] = i;
    else
      g->memo[g->nkey].unit = date_unit(&a->col[i]), g->key[g->nkey++] = i;
  }
  g->samples = calloc(g->nagg ? g->nagg : 1, sizeof *g->samples);
  if (!g->samples) {
    free(g);
    return -ENOMEM;
  }
  if (!a->grouped) { /* one group, even over no row */
    size_t idx;
    int created;
    if (bmap_put(&g->groups, "", 0, 1, &idx, &created) ||
        VG_GROW(g->acc, g->nagg ? g->nagg : 1, g->capacc)) {
      vg_odsql_groups_free(g);
      return -ENOMEM;
    }
    memset(g->acc, 0, g->nagg * sizeof *g->acc);
  }
  *out = g;
  return 0;
}

void vg_odsql_groups_free(struct vg_odsql_groups *g) {
  if (!g)
    return;
  bmap_free(&g->groups);
  bmap_free(&g->distinct);
  for (size_t i = 0; i < g->nagg && g->samples; i++)
    free(g->samples[i].v);
  free(g->samples);
  free(g->acc);
  free(g->kb);
  free(g->rows);
  free(g->labels);
  free(g->order);
  free(g);
}

/* The local calendar fields of UTC instant t in tz. */
static void local_parts(const struct vg_tz *tz, int64_t t, int64_t *y, unsigned *mo,
                        unsigned *d, unsigned *h, unsigned *mi, unsigned *s) {
  int64_t l = t + (tz ? vg_tz_offset_at(tz, t) : 0);
  int64_t days = l >= 0 ? l / 86400 : -((-l + 86399) / 86400);
  int64_t sec = l - days * 86400;
  vg_civil_from_days(days, y, mo, d);
  *h = (unsigned)(sec / 3600);
  *mi = (unsigned)(sec / 60 % 60);
  *s = (unsigned)(sec % 60);
}

static int kb_put(struct vg_odsql_groups *g, size_t *o, const void *p, size_t n) {
  if (VG_GROW(g->kb, *o + n, g->kcap))
    return -ENOMEM;
  memcpy(g->kb + *o, p, n);
  *o += n;
  return 0;
}

static int kb_number(struct vg_odsql_groups *g, size_t *o, double v) {
  unsigned char tag = 1;
  if (v == 0)
    v = 0; /* -0 and 0 are one group */
  return kb_put(g, o, &tag, 1) || kb_put(g, o, &v, sizeof v) ? -ENOMEM : 0;
}

static int key_value(struct vg_odsql_groups *g, const struct vg_odsql_col *c,
                     const struct vg_odsql_value *v, size_t *o);

/* Appends the value of key k for row to the key being built: a date key
 * from its memo while the row's local time stays in the memo's bucket. */
static int key_of(struct vg_odsql_groups *g, size_t k, const struct vg_odsql_value *row,
                  size_t *o) {
  const struct vg_odsql_col *c = &g->a->col[g->key[k]];
  const struct vg_odsql_value *v = &row[c->field];
  struct date_memo *m = &g->memo[k];
  if (!m->unit || vg_odsql_cell_null(v, c->in_type))
    return key_value(g, c, v, o);
  int64_t t = v->time_s;
  if (t < m->off_from || t >= m->off_to) {
    m->off = g->a->tz ? vg_tz_offset_at(g->a->tz, t) : 0;
    m->off_from = t;
    m->off_to = g->a->tz ? vg_tz_next_transition(g->a->tz, t) : INT64_MAX;
    m->valid = 0; /* a new offset: buckets move */
  }
  int64_t local = t + m->off;
  int64_t bucket = local >= 0 ? local / m->unit : -((-local + m->unit - 1) / m->unit);
  if (!m->valid || bucket != m->bucket) {
    size_t start = *o;
    int rc = key_value(g, c, v, o);
    if (rc)
      return rc;
    m->len = *o - start;
    m->valid = m->len <= sizeof m->enc;
    if (m->valid)
      memcpy(m->enc, g->kb + start, m->len);
    m->bucket = bucket;
    return 0;
  }
  return kb_put(g, o, m->enc, m->len);
}

/* Appends the value of key column c for a row's value v. */
static int key_value(struct vg_odsql_groups *g, const struct vg_odsql_col *c,
                     const struct vg_odsql_value *v, size_t *o) {
  unsigned char tag = 0;
  if (vg_odsql_cell_null(v, c->in_type))
    return kb_put(g, o, &tag, 1);
  tag = 1;
  int64_t y = 0;
  unsigned mo = 0, d = 0, h = 0, mi = 0, s = 0;
  if (c->fn >= KEY_YEAR && c->fn <= KEY_DATE_FORMAT)
    local_parts(g->a->tz, v->time_s, &y, &mo, &d, &h, &mi, &s);
  switch (c->fn) {
  case KEY_FIELD:
    if (vg_odsql_numeric(c->in_type))
      return kb_number(g, o, v->num);
    if (c->in_type == VG_ODSQL_DATETIME)
      return kb_put(g, o, &tag, 1) || kb_put(g, o, &v->time_s, sizeof v->time_s) ? -ENOMEM
                                                                                 : 0;
    {
      uint32_t n = (uint32_t)v->len;
      return kb_put(g, o, &tag, 1) || kb_put(g, o, &n, sizeof n) ||
                     kb_put(g, o, v->str ? v->str : "", v->len)
                 ? -ENOMEM
                 : 0;
    }
  case KEY_YEAR: return kb_number(g, o, (double)y);
  case KEY_MONTH: return kb_number(g, o, mo);
  case KEY_DAY: return kb_number(g, o, d);
  case KEY_HOUR: return kb_number(g, o, h);
  case KEY_MINUTE: return kb_number(g, o, mi);
  case KEY_DATE_FORMAT: {
    char buf[256];
    int n = vg_odsql_date_format(c->fmt, y, mo, d, h, mi, s, buf, sizeof buf);
    uint32_t len = n < 0 ? 0 : (uint32_t)n;
    return kb_put(g, o, &tag, 1) || kb_put(g, o, &len, sizeof len) ||
                   kb_put(g, o, buf, len)
               ? -ENOMEM
               : 0;
  }
  case KEY_RANGE: return kb_number(g, o, floor(v->num / c->arg) * c->arg);
  }
  return -EINVAL;
}

static void neumaier(struct accum *a, double v) {
  double t = a->sum + v;
  if (fabs(a->sum) >= fabs(v))
    a->comp += (a->sum - t) + v;
  else
    a->comp += (v - t) + a->sum;
  a->sum = t;
}

/* Folds one value into aggregate k of group gi. */
static int agg_add(struct vg_odsql_groups *g, size_t k, size_t gi,
                   const struct vg_odsql_value *row) {
  const struct vg_odsql_col *c = &g->a->col[g->agg[k]];
  struct accum *a = &g->acc[gi * g->nagg + k];
  if (c->fn == AGG_COUNT_ALL) {
    a->n++;
    return 0;
  }
  const struct vg_odsql_value *v = &row[c->field];
  if (vg_odsql_cell_null(v, c->in_type))
    return 0;
  double x = c->in_type == VG_ODSQL_DATETIME ? (double)v->time_s : v->num;
  if (x == 0)
    x = 0; /* -0 is 0 */
  switch (c->fn) {
  case AGG_COUNT: a->n++; break;
  case AGG_COUNT_DISTINCT: {
    size_t o = 0, idx;
    uint32_t gk[2] = {(uint32_t)k, (uint32_t)gi};
    int created, rc = kb_put(g, &o, gk, sizeof gk);
    if (!rc && c->in_type == VG_ODSQL_TEXT)
      rc = kb_put(g, &o, v->str ? v->str : "", v->len);
    else if (!rc)
      rc = kb_put(g, &o, &x, sizeof x);
    if (!rc)
      rc = bmap_put(&g->distinct, g->kb, o, SIZE_MAX, &idx, &created);
    if (rc)
      return rc == -E2BIG ? -ENOMEM : rc;
    a->n += (uint64_t)created;
    break;
  }
  case AGG_SUM:
  case AGG_AVG:
    neumaier(a, x);
    a->n++;
    break;
  case AGG_MIN:
  case AGG_MAX:
    if (!a->n || x < a->lo)
      a->lo = x;
    if (!a->n || x > a->hi)
      a->hi = x;
    a->n++;
    break;
  case AGG_MEDIAN:
  case AGG_PERCENTILE: {
    struct samples *s = &g->samples[k];
    if (VG_GROW(s->v, s->n + 1, s->cap))
      return -ENOMEM;
    s->v[s->n++] = (struct sample){(uint32_t)gi, x};
    a->n++;
    break;
  }
  }
  return 0;
}

int vg_odsql_groups_add(struct vg_odsql_groups *g, const struct vg_odsql_value *row) {
  size_t o = 0, gi;
  int created, rc;
  for (size_t i = 0; i < g->nkey; i++)
    if ((rc = key_of(g, i, row, &o)))
      return rc;
  rc = bmap_put(&g->groups, o ? g->kb : "", o, VG_ODSQL_MAX_GROUPS, &gi, &created);
  if (rc)
    return rc;
  if (created) {
    if (VG_GROW(g->acc, (gi + 1) * (g->nagg ? g->nagg : 1), g->capacc))
      return -ENOMEM;
    memset(&g->acc[gi * g->nagg], 0, g->nagg * sizeof *g->acc);
  }
  for (size_t k = 0; k < g->nagg; k++)
    if ((rc = agg_add(g, k, gi, row)))
      return rc;
  return 0;
}

static int cmp_sample(const void *x, const void *y) {
  const struct sample *a = x, *b = y;
  if (a->group != b->group)
    return a->group < b->group ? -1 : 1;
  return (a->v > b->v) - (a->v < b->v);
}

/* Median and percentiles: each group's run of sorted samples. */
static void quantiles(struct vg_odsql_groups *g, size_t k, size_t col) {
  struct samples *s = &g->samples[k];
  double p = g->a->col[col].fn == AGG_MEDIAN ? 50 : g->a->col[col].arg;
  size_t ncols = g->a->ncols;
  qsort(s->v, s->n, sizeof *s->v, cmp_sample);
  for (size_t i = 0; i < s->n;) {
    size_t j = i;
    while (j < s->n && s->v[j].group == s->v[i].group)
      j++;
    double pos = p / 100 * (double)(j - i - 1);
    size_t lo = (size_t)floor(pos);
    double frac = pos - (double)lo, v = s->v[i + lo].v;
    if (frac > 0 && i + lo + 1 < j)
      v += (s->v[i + lo + 1].v - v) * frac;
    struct vg_odsql_value *out = &g->rows[s->v[i].group * ncols + col];
    out->null = 0;
    out->num = v;
    i = j;
  }
}

/* Decodes the keys of group gi into its row. */
static void decode_keys(struct vg_odsql_groups *g, size_t gi, char *label) {
  const struct bkey *e = &g->groups.key[gi];
  const char *p = g->groups.bytes + e->off;
  struct vg_odsql_value *row = &g->rows[gi * g->a->ncols];
  for (size_t i = 0; i < g->nkey; i++) {
    size_t col = g->key[i];
    const struct vg_odsql_col *c = &g->a->col[col];
    struct vg_odsql_value *v = &row[col];
    memset(v, 0, sizeof *v);
    if (*p++ == 0) {
      v->null = 1;
      v->num = NAN;
      continue;
    }
    int type = g->a->schema[col].type;
    if (c->fn == KEY_RANGE) {
      memcpy(&v->num, p, sizeof v->num);
      p += sizeof v->num;
      char lo[VG_FMT_DOUBLE_MAX], hi[VG_FMT_DOUBLE_MAX];
      vg_fmt_double(v->num, lo);
      vg_fmt_double(v->num + c->arg, hi);
      int n = snprintf(label, 80, "[%s, %s[", lo, hi);
      v->str = label;
      v->len = n < 0 ? 0 : (size_t)n;
      label += 80;
    } else if (vg_odsql_numeric(type)) {
      memcpy(&v->num, p, sizeof v->num);
      p += sizeof v->num;
    } else if (type == VG_ODSQL_DATETIME) {
      memcpy(&v->time_s, p, sizeof v->time_s);
      p += sizeof v->time_s;
    } else {
      uint32_t n;
      memcpy(&n, p, sizeof n);
      p += sizeof n;
      v->str = p;
      v->len = n;
      p += n;
    }
  }
}

static int cmp_value(const struct vg_odsql_col *c, int type,
                     const struct vg_odsql_value *x, const struct vg_odsql_value *y) {
  if (x->null || y->null)
    return y->null - x->null;
  if (vg_odsql_numeric(type) || c->fn == KEY_RANGE)
    return (x->num > y->num) - (x->num < y->num);
  if (type == VG_ODSQL_DATETIME)
    return (x->time_s > y->time_s) - (x->time_s < y->time_s);
  size_t n = x->len < y->len ? x->len : y->len;
  int r = n ? memcmp(x->str, y->str, n) : 0;
  return r ? r : (x->len > y->len) - (x->len < y->len);
}

static int cmp_groups(const void *x, const void *y, void *arg) {
  const struct vg_odsql_groups *g = arg;
  size_t i = *(const size_t *)x, j = *(const size_t *)y, ncols = g->a->ncols;
  for (size_t k = 0; k < g->a->norder; k++) {
    size_t col = g->a->order[k].col;
    int c = cmp_value(&g->a->col[col], g->a->schema[col].type, &g->rows[i * ncols + col],
                      &g->rows[j * ncols + col]);
    if (c)
      return g->a->order[k].desc ? -c : c;
  }
  return (i > j) - (i < j);
}

int vg_odsql_groups_finish(struct vg_odsql_groups *g) {
  const struct vg_odsql_analysis *a = g->a;
  size_t n = g->groups.n, nranges = 0;
  for (size_t i = 0; i < g->nkey; i++)
    nranges += a->col[g->key[i]].fn == KEY_RANGE;
  g->rows = calloc(n ? n * a->ncols : 1, sizeof *g->rows);
  g->order = malloc((n ? n : 1) * sizeof *g->order);
  g->labels = malloc(n * nranges * 80 + 1);
  if (!g->rows || !g->order || !g->labels)
    return -ENOMEM;
  for (size_t gi = 0; gi < n; gi++) {
    decode_keys(g, gi, g->labels + gi * nranges * 80);
    for (size_t k = 0; k < g->nagg; k++) {
      size_t col = g->agg[k];
      const struct vg_odsql_col *c = &a->col[col];
      const struct accum *ac = &g->acc[gi * g->nagg + k];
      struct vg_odsql_value *v = &g->rows[gi * a->ncols + col];
      v->null = ac->n == 0 && c->fn != AGG_COUNT_ALL && c->fn != AGG_COUNT &&
                c->fn != AGG_COUNT_DISTINCT;
      v->num = NAN;
      switch (c->fn) {
      case AGG_COUNT_ALL:
      case AGG_COUNT:
      case AGG_COUNT_DISTINCT: v->num = (double)ac->n; break;
      case AGG_SUM: v->num = ac->sum + ac->comp; break;
      case AGG_AVG: v->num = (ac->sum + ac->comp) / (double)ac->n; break;
      case AGG_MIN:
      case AGG_MAX:
        v->num = c->fn == AGG_MIN ? ac->lo : ac->hi;
        if (c->in_type == VG_ODSQL_DATETIME && ac->n) /* a time_s, exact in a double */
          v->time_s = (int64_t)v->num;
        break;
      }
      if (v->null)
        v->num = NAN;
    }
    g->order[gi] = gi;
  }
  for (size_t k = 0; k < g->nagg; k++) {
    int fn = a->col[g->agg[k]].fn;
    if (fn == AGG_MEDIAN || fn == AGG_PERCENTILE)
      quantiles(g, k, g->agg[k]);
  }
  qsort_r(g->order, n, sizeof *g->order, cmp_groups, g);
  g->finished = 1;
  return 0;
}

size_t vg_odsql_groups_count(const struct vg_odsql_groups *g) {
  return g->finished ? g->groups.n : 0;
}

const struct vg_odsql_value *vg_odsql_groups_row(const struct vg_odsql_groups *g,
                                                 size_t i) {
  return &g->rows[g->order[i] * g->a->ncols];
}
