/*
 * `vigieq sql`: SQLite virtual tables over one read snapshot of the store,
 * so that analysts get joins, window functions and GROUP BY from SQLite
 * without a query language of ours (contract in vigieq_sql.h, user's view
 * in docs/vigieq.md).
 *
 * The series dictionary is read once when the connection opens (it gives
 * the tag columns); windows are read on demand, per series, through
 * vg_store_read_range, in chunks of CHUNK rows so that a long series needs
 * no memory for all its windows (a chunk that stops mid-range resumes one
 * second after the last start it saw: starts are unique within a series).
 *
 * Pushdown (xBestIndex/xFilter). SQLite re-checks every constraint, so a
 * pushed constraint only has to keep a superset of the rows that match:
 * - series, metric, a tag column, series_id: = and IN (all values at once
 *   through sqlite3_vtab_in) select the series. Only values of the
 *   column's own type narrow (a number compared with a text column goes
 *   through SQLite's affinity rules: we let SQLite decide), and only with
 *   the BINARY collation (NOCASE would match more).
 * - start_epoch: =, <, <=, >, >= with an integer or real bound the cursor
 *   range [from, to) exactly.
 * - start_datetime: the same operators with ISO text. The column is local
 *   time with the offset of --tz, and such strings do not sort as time
 *   (in a fall-back hour 01:30+00:00 comes after 01:30+01:00 in time but
 *   before it as text), so the text bound is never turned into an exact
 *   instant. What is safe: if a row's text R >= V then R's first ten
 *   characters (its local date) >= V's, so the row starts at or after V's
 *   date minus the largest offset; symmetrically for <=. With offsets
 *   within +-48 h, the cursor reads V's local date +-2 days, and SQLite
 *   compares the text. Only a V that begins with a valid YYYY-MM-DD
 *   narrows; dates have four-digit years (the store's parsers and vigieq's
 *   time range stay within them).
 * omit is never set: the values are known only in xFilter, too late to
 * promise anything about them.
 *
 * Order: rows come by series key (bytewise, as `vigieq query`) then start,
 * so ORDER BY series[, start_epoch|end_epoch] (ASC) is consumed.
 *
 * Joins: the inner side of a join on start scans one series for one
 * window per outer row; the store decodes a whole segment for it each
 * time, so a cursor keeps the span it read (struct cursor, cache_*).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/acc.h"
#include "vigie/array.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/publish.h"
#include "vigie/text.h"
#include "vigie/wstats.h"

#include "vigieq_sql.h"

#define CHUNK         16384       /* windows buffered per cursor */
#define TEXT_MARGIN_S (2 * 86400) /* widening of a start_datetime text bound */
#define TIME_LO       (-(1LL << 40))
#define TIME_HI       (1LL << 40)

/* rollup columns: the contract of `vigieq query`, then tags, then hidden */
enum {
  R_START,
  R_END,
  R_SERIES,
  R_METRIC,
  R_COUNT,
  R_SUM,
  R_MIN,
  R_MAX,
  R_MEAN,
  R_STDDEV,
  R_P50,
  R_P95,
  R_FIRST,
  R_LAST,
  R_DISTINCT,
  R_STATUS,
  R_REVISION,
  R_NFIXED
};
static const char *const rollup_cols[R_NFIXED] = {
    "start_datetime", "end_datetime", "series",   "metric",
    "count",          "sum",          "min",      "max",
    "mean",           "stddev",       "p50",      "p95",
    "first",          "last",         "distinct", "status",
    "revision"};
static const char *const rollup_types[R_NFIXED] = {
    "TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "REAL", "REAL", "REAL",   "REAL",
    "REAL", "REAL", "REAL", "REAL", "REAL",    "REAL", "TEXT", "INTEGER"};
static const char *const rollup_hidden[] = {"start_epoch", "end_epoch", "series_id"};
enum { H_START_EPOCH, H_END_EPOCH, H_SERIES_ID, H_N };
/* series columns: id, key, metric, tags, first_seen */
enum { S_ID, S_KEY, S_METRIC, S_NFIXED };

static const char *const table_names[] = {"series", "rollup_1m", "rollup_1h",
                                          "rollup_1d"};
#define KIND_SERIES (-1) /* vtab kind; otherwise the resolution */

struct sser {
  uint64_t id;
  char *key;
  char *metric;
  int64_t first_seen_ns;
  char **tagv; /* per tag column: the value, NULL when absent */
};

struct vgq_sql {
  sqlite3 *db;
  sqlite3_stmt *stmt;
  struct vg_store_reader *rd;
  const struct vg_tz *tz;
  struct sser *s;
  size_t ns, caps;
  char **tagname; /* the store's tag names, sorted */
  char **tagcol;  /* their column names */
  size_t ntags, cap_tagname;
  struct vgq_sql_stats stats;
  int store_rc; /* the first store error a table met */
  char store_err[512];
  char *cellbuf; /* vgq_sql_cell's text */
  size_t cellcap;
  struct modaux {
    struct vgq_sql *q;
    int kind;
  } aux[4]; /* the modules' client data */
};

/* --- the dictionary ------------------------------------------------------ */

struct loader {
  struct vgq_sql *q;
  struct tag *tags; /* MAX_TAGS */
  /* per series, its tags as name/value pairs until the columns are known */
  struct pairs {
    char **kv; /* 2 * n: name, value, ... */
    int n;
  } * pairs;
  size_t cap_pairs;
};

static int names_find(char **v, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], name) == 0)
      return (int)i;
  return -1;
}

static int on_series(const struct vg_store_series *s, void *arg) {
  struct loader *ld = arg;
  struct vgq_sql *q = ld->q;
  if (VG_GROW(q->s, q->ns + 1, q->caps) || VG_GROW(ld->pairs, q->ns + 1, ld->cap_pairs))
    return -ENOMEM;
  struct sser *d = &q->s[q->ns];
  char metric[512];
  int nt = 0;
  *d = (struct sser){.id = s->id, .first_seen_ns = s->first_seen_ns};
  ld->pairs[q->ns] = (struct pairs){NULL, 0};
  q->ns++; /* counted now: released on failure */
  d->key = strndup(s->key, s->key_len);
  if (!d->key)
    return -ENOMEM;
  if (parse_key(d->key, s->key_len, metric, sizeof metric, ld->tags, &nt))
    nt = 0; /* a malformed key: the whole key is its metric */
  d->metric = strdup(nt || strchr(d->key, '{') == NULL ? metric : d->key);
  if (!d->metric)
    return -ENOMEM;
  struct pairs *pr = &ld->pairs[q->ns - 1];
  if (nt) {
    pr->kv = calloc(2 * (size_t)nt, sizeof(char *));
    if (!pr->kv)
      return -ENOMEM;
  }
  pr->n = nt;
  for (int i = 0; i < nt; i++) {
    char **p = pr->kv;
    p[2 * i] = strdup(ld->tags[i].name);
    p[2 * i + 1] = strdup(ld->tags[i].value);
    if (!p[2 * i] || !p[2 * i + 1])
      return -ENOMEM;
    if (names_find(q->tagname, q->ntags, ld->tags[i].name) < 0) {
      if (VG_GROW(q->tagname, q->ntags + 1, q->cap_tagname))
        return -ENOMEM;
      q->tagname[q->ntags] = strdup(ld->tags[i].name);
      if (!q->tagname[q->ntags])
        return -ENOMEM;
      q->ntags++;
    }
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int reserved(const struct vgq_sql *q, size_t upto, const char *name) {
  for (size_t i = 0; i < R_NFIXED; i++)
    if (sqlite3_stricmp(rollup_cols[i], name) == 0)
      return 1;
  for (size_t i = 0; i < H_N; i++)
    if (sqlite3_stricmp(rollup_hidden[i], name) == 0)
      return 1;
  static const char *const sfixed[] = {"id", "key", "first_seen"};
  for (size_t i = 0; i < 3; i++)
    if (sqlite3_stricmp(sfixed[i], name) == 0)
      return 1;
  for (size_t i = 0; i < upto; i++)
    if (sqlite3_stricmp(q->tagcol[i], name) == 0)
      return 1;
  return 0;
}

/* Tag columns: the tag's name, or "tag_<name>" (then "_2", "_3"...) when a
 * fixed column or an earlier tag has it already (SQL names ignore case). */
static int name_columns(struct vgq_sql *q) {
  if (q->ntags)
    qsort(q->tagname, q->ntags, sizeof *q->tagname, cmp_str);
  if (q->ntags) {
    q->tagcol = calloc(q->ntags, sizeof *q->tagcol);
    if (!q->tagcol)
      return -ENOMEM;
  }
  for (size_t i = 0; i < q->ntags; i++) {
    char *c = sqlite3_mprintf("%s", q->tagname[i]);
    for (int n = 1; c && reserved(q, i, c); n++) {
      sqlite3_free(c);
      c = n == 1 ? sqlite3_mprintf("tag_%s", q->tagname[i])
                 : sqlite3_mprintf("tag_%s_%d", q->tagname[i], n);
    }
    if (c)
      q->tagcol[i] = strdup(c);
    if (!c || !q->tagcol[i]) {
      sqlite3_free(c);
      return -ENOMEM;
    }
    sqlite3_free(c);
  }
  return 0;
}

static int cmp_sser(const void *a, const void *b) {
  return strcmp(((const struct sser *)a)->key, ((const struct sser *)b)->key);
}

static int load_series(struct vgq_sql *q, char *errstr, size_t errstr_size) {
  struct loader ld = {.q = q};
  int rc = -ENOMEM;
  ld.tags = calloc(MAX_TAGS, sizeof *ld.tags);
  if (!ld.tags)
    goto fail;
  rc = vg_store_series_each(q->rd, on_series, &ld);
  if (rc)
    goto fail;
  rc = name_columns(q);
  if (rc)
    goto fail;
  for (size_t i = 0; i < q->ns; i++) {
    rc = -ENOMEM;
    if (q->ntags) {
      q->s[i].tagv = calloc(q->ntags, sizeof(char *));
      if (!q->s[i].tagv)
        goto fail;
    }
    char **kv = ld.pairs[i].kv;
    for (int k = 0; k < ld.pairs[i].n; k++) {
      int t = names_find(q->tagname, q->ntags, kv[2 * k]);
      assert(t >= 0);
      free(q->s[i].tagv[t]); /* a tag twice in a malformed key: the last wins */
      q->s[i].tagv[t] = kv[2 * k + 1];
      kv[2 * k + 1] = NULL; /* now the series' */
    }
  }
  /* the dictionary is in key order already; sorting says it here */
  if (q->ns)
    qsort(q->s, q->ns, sizeof *q->s, cmp_sser);
  rc = 0;
fail:
  if (rc)
    vg_errstr(errstr, errstr_size, "cannot list the series: %s", vg_strerror(rc));
  for (size_t i = 0; ld.pairs && i < q->ns; i++) {
    for (int k = 0; ld.pairs[i].kv && k < 2 * ld.pairs[i].n; k++)
      free(ld.pairs[i].kv[k]);
    free(ld.pairs[i].kv);
  }
  free(ld.pairs);
  free(ld.tags);
  return rc;
}

/* --- virtual tables ------------------------------------------------------ */

struct vtab {
  sqlite3_vtab base;
  struct vgq_sql *q;
  int kind; /* KIND_SERIES or a resolution */
};

/* One window as the columns show it (computed once when read). */
struct vrow {
  int64_t start, end;
  uint64_t count;
  double st[VG_STAT_N]; /* vg_acc_stats: those the statement uses */
  uint32_t revision;
  uint8_t final;
};

struct cursor {
  sqlite3_vtab_cursor base;
  struct vtab *vt;
  size_t *sel; /* selected series (indexes into q->s), key order */
  size_t nsel, isel;
  int all;          /* every series is selected: sel is not filled (sel_at) */
  int64_t from, to; /* window starts read: [from, to) */
  unsigned want;    /* VG_STAT_BIT of the statistics the statement uses */
  struct vrow *rows;
  size_t nrows, irow, end; /* rows[irow, end) are this scan's */
  /* from its second scan on, a short range (under 1/64 of a span) of one
   * series within one segment span is read as the whole span and kept: the next scans of
   * that span (the inner side of a join) are answered from memory (the
   * store decodes the whole segment for any window of it anyway).
   * cache_series is SIZE_MAX when rows is not such a span. */
  size_t cache_series;
  int64_t cache_from, cache_to;
  uint64_t nfilters; /* scans of this cursor: more than one is a join's inner side */
  int64_t resume;    /* the walk stopped at CHUNK rows: where it goes on */
  int more;
  sqlite3_int64 rowid;
};

static int declare(sqlite3 *db, const struct vgq_sql *q, int kind) {
  sqlite3_str *d = sqlite3_str_new(db);
  sqlite3_str_appendall(d, "CREATE TABLE x(");
  if (kind == KIND_SERIES) {
    sqlite3_str_appendall(d, "id INTEGER, key TEXT, metric TEXT");
  } else {
    for (int i = 0; i < R_NFIXED; i++)
      sqlite3_str_appendf(d, "%s\"%w\" %s", i ? ", " : "", rollup_cols[i],
                          rollup_types[i]);
  }
  for (size_t i = 0; i < q->ntags; i++)
    sqlite3_str_appendf(d, ", \"%w\" TEXT", q->tagcol[i]);
  if (kind == KIND_SERIES)
    sqlite3_str_appendall(d, ", first_seen TEXT)");
  else
    sqlite3_str_appendall(d, ", start_epoch INTEGER HIDDEN, end_epoch INTEGER HIDDEN, "
                             "series_id INTEGER HIDDEN)");
  char *sql = sqlite3_str_finish(d);
  if (!sql)
    return SQLITE_NOMEM;
  int rc = sqlite3_declare_vtab(db, sql);
  sqlite3_free(sql);
  return rc;
}

static int x_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **out, char **err) {
  (void)argc;
  (void)argv;
  const struct modaux *m = aux;
  int rc = declare(db, m->q, m->kind);
  if (rc != SQLITE_OK) {
    *err = sqlite3_mprintf("%s", sqlite3_errmsg(db));
    return rc;
  }
  struct vtab *vt = sqlite3_malloc(sizeof *vt);
  if (!vt)
    return SQLITE_NOMEM;
  memset(vt, 0, sizeof *vt);
  vt->q = m->q;
  vt->kind = m->kind;
  *out = &vt->base;
  return SQLITE_OK;
}

static int x_disconnect(sqlite3_vtab *v) {
  sqlite3_free(v);
  return SQLITE_OK;
}

/* The column a series constraint may use, by table kind: 1 when col picks
 * series (key, metric, a tag, the id). */
static int series_col(const struct vgq_sql *q, int kind, int col) {
  int t0 = kind == KIND_SERIES ? S_NFIXED : R_NFIXED;
  if (col >= t0 && col < t0 + (int)q->ntags)
    return 1;
  if (kind == KIND_SERIES)
    return col == S_ID || col == S_KEY || col == S_METRIC;
  return col == R_SERIES || col == R_METRIC ||
         col == R_NFIXED + (int)q->ntags + H_SERIES_ID;
}

static int is_id_col(const struct vgq_sql *q, int kind, int col) {
  return kind == KIND_SERIES ? col == S_ID
                             : col == R_NFIXED + (int)q->ntags + H_SERIES_ID;
}

static int is_binary(sqlite3_index_info *info, int i) {
  const char *c = sqlite3_vtab_collation(info, i);
  return !c || sqlite3_stricmp(c, "BINARY") == 0;
}

/* idxStr: one "<op><column>," per argv value, op one of
 * e (=, maybe an IN list), g (>=), G (>), l (<=), L (<). */
static int x_best_index(sqlite3_vtab *v, sqlite3_index_info *info) {
  struct vtab *vt = (struct vtab *)v;
  const struct vgq_sql *q = vt->q;
  int kind = vt->kind, argv = 0;
  int c_epoch = R_NFIXED + (int)q->ntags + H_START_EPOCH;
  int c_eepoch = R_NFIXED + (int)q->ntags + H_END_EPOCH;
  double nseries = q->ns ? (double)q->ns : 1, per = kind == KIND_SERIES ? 1 : 2000;
  double series_sel = 1, time_sel = 1;
  sqlite3_str *plan = sqlite3_str_new(NULL);
  for (int i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (!c->usable)
      continue;
    char op = 0;
    if (c->op == SQLITE_INDEX_CONSTRAINT_EQ && series_col(q, kind, c->iColumn) &&
        is_binary(info, i)) {
      op = 'e';
      int unique = kind == KIND_SERIES
                       ? c->iColumn == S_ID || c->iColumn == S_KEY
                       : c->iColumn == R_SERIES || is_id_col(q, kind, c->iColumn);
      series_sel *= unique ? 1 / nseries : 0.2;
      if (sqlite3_vtab_in(info, i, -1))
        sqlite3_vtab_in(info, i, 1);
    } else if (kind != KIND_SERIES &&
               (c->iColumn == c_epoch || (c->iColumn == R_START && is_binary(info, i)))) {
      switch (c->op) {
      case SQLITE_INDEX_CONSTRAINT_EQ: op = 'e'; break;
      case SQLITE_INDEX_CONSTRAINT_GE: op = 'g'; break;
      case SQLITE_INDEX_CONSTRAINT_GT: op = 'G'; break;
      case SQLITE_INDEX_CONSTRAINT_LE: op = 'l'; break;
      case SQLITE_INDEX_CONSTRAINT_LT: op = 'L'; break;
      default: break;
      }
      if (op)
        time_sel *= op == 'e' ? 0.001 : 0.25;
    }
    if (!op)
      continue;
    info->aConstraintUsage[i].argvIndex = ++argv;
    info->aConstraintUsage[i].omit = 0; /* SQLite re-checks: see the top */
    sqlite3_str_appendf(plan, "%c%d,", op, c->iColumn);
  }
  double rows = nseries * series_sel * per * time_sel;
  info->estimatedRows = rows < 1 ? 1 : (sqlite3_int64)rows;
  info->estimatedCost = 10 + rows;
  if (sqlite3_str_errcode(plan)) {
    sqlite3_free(sqlite3_str_finish(plan));
    return SQLITE_NOMEM;
  }
  info->idxStr = sqlite3_str_finish(plan);
  info->needToFreeIdxStr = 1;
  /* rows come by series key, then start */
  int key_col = kind == KIND_SERIES ? S_KEY : R_SERIES, ok = info->nOrderBy > 0;
  for (int i = 0; i < info->nOrderBy && ok; i++) {
    const struct sqlite3_index_orderby *o = &info->aOrderBy[i];
    ok = !o->desc && (i == 0 ? o->iColumn == key_col
                             : i == 1 && kind != KIND_SERIES &&
                                   (o->iColumn == c_epoch || o->iColumn == c_eepoch));
  }
  info->orderByConsumed = ok;
  if (kind != KIND_SERIES) {
    /* the costly statistics only when a column wants them */
    uint64_t used = info->colUsed;
    unsigned want = VG_STAT_ALL & ~(VG_STAT_BIT(VG_STAT_P50) | VG_STAT_BIT(VG_STAT_P95) |
                                    VG_STAT_BIT(VG_STAT_DISTINCT));
    if ((used >> R_P50) & 1 || (used >> R_P95) & 1)
      want |= VG_STAT_BIT(VG_STAT_P50) | VG_STAT_BIT(VG_STAT_P95);
    if ((used >> R_DISTINCT) & 1)
      want |= VG_STAT_BIT(VG_STAT_DISTINCT);
    info->idxNum = (int)want;
  }
  return SQLITE_OK;
}

static int x_open(sqlite3_vtab *v, sqlite3_vtab_cursor **out) {
  struct cursor *c = sqlite3_malloc(sizeof *c);
  if (!c)
    return SQLITE_NOMEM;
  memset(c, 0, sizeof *c);
  c->vt = (struct vtab *)v;
  c->cache_series = SIZE_MAX;
  *out = &c->base;
  return SQLITE_OK;
}

static int x_close(sqlite3_vtab_cursor *cur) {
  struct cursor *c = (struct cursor *)cur;
  free(c->sel);
  free(c->rows);
  sqlite3_free(c);
  return SQLITE_OK;
}

static size_t sel_at(const struct cursor *c, size_t j) {
  return c->all ? j : c->sel[j];
}

static int cmp_key(const void *k, const void *s) {
  return strcmp(k, ((const struct sser *)s)->key);
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return (x > y) - (x < y);
}

/* The text of series i's column col (a series-picking column), or NULL. */
static const char *series_text(const struct vgq_sql *q, int kind, size_t i, int col) {
  const struct sser *s = &q->s[i];
  int t0 = kind == KIND_SERIES ? S_NFIXED : R_NFIXED;
  if (col >= t0 && col < t0 + (int)q->ntags)
    return s->tagv ? s->tagv[col - t0] : NULL;
  if (col == (kind == KIND_SERIES ? S_KEY : R_SERIES))
    return s->key;
  if (col == (kind == KIND_SERIES ? S_METRIC : R_METRIC))
    return s->metric;
  return NULL;
}

/* Keeps the selected series whose column col equals one of the values of
 * v (an IN list handled at once, or one value). A value of another type
 * than the column's leaves the selection as it is (SQLite's affinity
 * decides such comparisons); NULL matches nothing. */
static int narrow_series(struct cursor *c, int col, sqlite3_value *v) {
  const struct vgq_sql *q = c->vt->q;
  int kind = c->vt->kind, id_col = is_id_col(q, kind, col);
  sqlite3_value **all = NULL, *x;
  size_t nv = 0, capv = 0;
  /* an IN list's values live until the next one is asked for: copies */
  int rc = sqlite3_vtab_in_first(v, &x);
  int list = rc == SQLITE_OK;
  if (!list) {
    x = v;
    rc = SQLITE_OK;
  }
  for (; rc == SQLITE_OK && x; rc = list ? sqlite3_vtab_in_next(v, &x) : SQLITE_DONE) {
    if (VG_GROW(all, nv + 1, capv)) {
      rc = SQLITE_NOMEM;
      break;
    }
    all[nv] = sqlite3_value_dup(x);
    if (!all[nv]) {
      rc = SQLITE_NOMEM;
      break;
    }
    nv++;
  }
  if (rc != SQLITE_OK && rc != SQLITE_DONE)
    goto done;
  rc = SQLITE_OK;
  for (size_t k = 0; k < nv; k++) {
    int t = sqlite3_value_type(all[k]);
    if (t != SQLITE_NULL && t != (id_col ? SQLITE_INTEGER : SQLITE_TEXT))
      goto done; /* let SQLite compare */
  }
  size_t kept = 0;
  if (c->all && nv <= q->ns && col == (kind == KIND_SERIES ? S_KEY : R_SERIES)) {
    /* keys: looked up (the inner side of a join does it per outer row) */
    for (size_t k = 0; k < nv; k++) {
      const unsigned char *t =
          sqlite3_value_type(all[k]) == SQLITE_TEXT ? sqlite3_value_text(all[k]) : NULL;
      const struct sser *hit =
          t && strlen((const char *)t) == (size_t)sqlite3_value_bytes(all[k])
              ? bsearch(t, q->s, q->ns, sizeof *q->s, cmp_key)
              : NULL;
      if (hit)
        c->sel[kept++] = (size_t)(hit - q->s);
    }
    qsort(c->sel, kept, sizeof *c->sel, cmp_size);
    size_t u = 0;
    for (size_t k = 0; k < kept; k++)
      if (!u || c->sel[u - 1] != c->sel[k])
        c->sel[u++] = c->sel[k];
    c->nsel = u;
    c->all = 0;
    goto done;
  }
  for (size_t j = 0; j < c->nsel; j++) {
    size_t i = sel_at(c, j);
    const char *s = id_col ? NULL : series_text(q, kind, i, col);
    size_t sl = s ? strlen(s) : 0;
    int hit = 0;
    for (size_t k = 0; k < nv && !hit; k++) {
      if (sqlite3_value_type(all[k]) == SQLITE_NULL)
        continue;
      if (id_col) {
        hit = sqlite3_value_int64(all[k]) == (sqlite3_int64)q->s[i].id;
      } else if (s) {
        const unsigned char *t = sqlite3_value_text(all[k]);
        hit = t && (size_t)sqlite3_value_bytes(all[k]) == sl && memcmp(t, s, sl) == 0;
      }
    }
    if (hit)
      c->sel[kept++] = i;
  }
  c->nsel = kept;
  c->all = 0;
done:
  for (size_t k = 0; k < nv; k++)
    sqlite3_value_free(all[k]);
  free(all);
  return rc;
}

/* Narrows [from, to) by a start_epoch bound: exact for numbers. */
static void narrow_epoch(struct cursor *c, char op, sqlite3_value *v) {
  int t = sqlite3_value_type(v);
  if (t != SQLITE_INTEGER && t != SQLITE_FLOAT)
    return;       /* text or NULL: SQLite decides */
  int64_t lo, hi; /* the integers x with x >= lo satisfy "> or >="; x < hi "< or <=" */
  if (t == SQLITE_INTEGER) {
    int64_t x = sqlite3_value_int64(v);
    x = x < TIME_LO ? TIME_LO : x > TIME_HI ? TIME_HI : x;
    lo = op == 'G' ? x + 1 : x;
    hi = op == 'l' || op == 'e' ? x + 1 : x;
  } else {
    double d = sqlite3_value_double(v);
    d = d < (double)TIME_LO ? (double)TIME_LO : d > (double)TIME_HI ? (double)TIME_HI : d;
    lo = op == 'G' ? (int64_t)floor(d) + 1 : (int64_t)ceil(d);
    hi = op == 'L' ? (int64_t)ceil(d) : (int64_t)floor(d) + 1;
    if (op == 'e' && floor(d) != d)
      lo = hi = 0; /* no integer equals it */
  }
  if ((op == 'g' || op == 'G' || op == 'e') && lo > c->from)
    c->from = lo;
  if ((op == 'l' || op == 'L' || op == 'e') && hi < c->to)
    c->to = hi;
}

/* Narrows by a start_datetime text bound, widened (see the top). */
static void narrow_text(struct cursor *c, char op, sqlite3_value *v) {
  if (sqlite3_value_type(v) != SQLITE_TEXT || sqlite3_value_bytes(v) < 10)
    return;
  const unsigned char *s = sqlite3_value_text(v);
  for (int i = 0; i < 10; i++)
    if (i == 4 || i == 7 ? s[i] != '-' : !(s[i] >= '0' && s[i] <= '9'))
      return;
  int64_t y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
  unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
  if (m < 1 || m > 12 || d < 1 || d > 31)
    return;
  int64_t first = vg_days_from_civil(y, m, 1);
  int64_t dim =
      (m == 12 ? vg_days_from_civil(y + 1, 1, 1) : vg_days_from_civil(y, m + 1, 1)) -
      first;
  /* R >= V: R's date >= the first valid date not before V's (the next
   * month's first when V's day does not exist). R <= V: R's date <= V's
   * (a day past the month's end only widens); R < V with V a bare date:
   * R's date < V's (R cannot hold V as a prefix). */
  int64_t lo_day = d <= dim ? first + d - 1 : first + dim;
  int64_t hi_day = first + d - 1 + (op == 'L' && sqlite3_value_bytes(v) == 10 ? 0 : 1);
  int64_t lo = lo_day * 86400 - TEXT_MARGIN_S, hi = hi_day * 86400 + TEXT_MARGIN_S;
  if ((op == 'g' || op == 'G' || op == 'e') && lo > c->from)
    c->from = lo;
  if ((op == 'l' || op == 'L' || op == 'e') && hi < c->to)
    c->to = hi;
}

enum { STOP_CHUNK = 1 };

static int on_window(const struct vg_wentry *w, void *arg) {
  struct cursor *c = arg;
  if (c->nrows == CHUNK) {
    c->resume = w->start;
    c->more = 1;
    return STOP_CHUNK;
  }
  struct vrow *r = &c->rows[c->nrows++];
  r->start = w->start;
  r->end = w->end;
  r->count = w->acc.st.count;
  r->revision = w->revision;
  r->final = w->final;
  vg_acc_stats(&w->acc, c->want, r->st);
  c->vt->q->stats.windows_read++;
  return 0;
}

static int store_error(struct cursor *c, int rc, const char *msg) {
  struct vgq_sql *q = c->vt->q;
  const struct sser *s = &q->s[sel_at(c, c->isel)];
  if (!q->store_rc) {
    q->store_rc = rc;
    snprintf(q->store_err, sizeof q->store_err, "cannot read series %s: %s", s->key,
             msg[0] ? msg : vg_strerror(rc));
  }
  sqlite3_free(c->vt->base.zErrMsg);
  c->vt->base.zErrMsg = sqlite3_mprintf("%s", q->store_err);
  return rc == -ENOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
}

/* First buffered row starting at or after t. */
static size_t lower_bound(const struct cursor *c, int64_t t) {
  size_t lo = 0, hi = c->nrows;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (c->rows[mid].start < t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* Fills the buffer with the next windows, from series c->isel on (from
 * c->resume when its walk stopped at CHUNK rows), moving to the next
 * selected series until some window is there or none is left. */
static int fill(struct cursor *c) {
  struct vgq_sql *q = c->vt->q;
  uint8_t res = (uint8_t)c->vt->kind;
  int64_t span_len = vg_seg_span_len(res);
  for (; c->isel < c->nsel; c->isel++) {
    size_t si = sel_at(c, c->isel);
    int resuming = c->more;
    int64_t from = resuming ? c->resume : c->from, to = c->to;
    int whole = 0;
    c->more = 0;
    if (!resuming) {
      q->stats.series_visited++;
      whole = c->nfilters > 1 && c->nsel == 1 && to - from < span_len / 64 &&
              vg_seg_span(res, from) == vg_seg_span(res, to - 1);
    }
    if (whole && c->cache_series == si && from >= c->cache_from && to <= c->cache_to) {
      c->irow = lower_bound(c, from);
      c->end = lower_bound(c, to);
      if (c->irow < c->end)
        return SQLITE_OK;
      continue;
    }
    if (whole) {
      from = vg_seg_span(res, from);
      to = from + span_len;
    }
    c->cache_series = SIZE_MAX;
    c->nrows = 0;
    char e[512] = "";
    int rc =
        vg_store_read_range(q->rd, q->s[si].id, res, from, to, on_window, c, e, sizeof e);
    if (rc < 0)
      return store_error(c, rc, e);
    if (whole && !c->more) {
      c->cache_series = si;
      c->cache_from = from;
      c->cache_to = to;
    }
    c->irow = whole ? lower_bound(c, c->from) : 0;
    c->end = whole ? lower_bound(c, c->to) : c->nrows;
    if (c->irow < c->end)
      return SQLITE_OK;
  }
  return SQLITE_OK;
}

static int x_filter(sqlite3_vtab_cursor *cur, int idx_num, const char *idx_str, int argc,
                    sqlite3_value **argv) {
  struct cursor *c = (struct cursor *)cur;
  struct vgq_sql *q = c->vt->q;
  int kind = c->vt->kind;
  if (!c->sel)
    c->sel = malloc((q->ns ? q->ns : 1) * sizeof *c->sel);
  if (!c->sel)
    return SQLITE_NOMEM;
  c->all = 1;
  c->nsel = q->ns;
  c->isel = 0;
  c->from = TIME_LO;
  c->to = TIME_HI;
  c->want = (unsigned)idx_num;
  c->more = 0;
  c->irow = c->end = 0;
  c->rowid = 0;
  const char *p = idx_str ? idx_str : "";
  for (int k = 0; k < argc && *p; k++) {
    char op = *p++;
    char *end;
    int col = (int)strtol(p, &end, 10);
    p = *end == ',' ? end + 1 : end;
    if (series_col(q, kind, col) && op == 'e') {
      int rc = narrow_series(c, col, argv[k]);
      if (rc != SQLITE_OK)
        return rc;
    } else if (col == R_START) {
      narrow_text(c, op, argv[k]);
    } else {
      narrow_epoch(c, op, argv[k]);
    }
  }
  if (kind == KIND_SERIES)
    return SQLITE_OK;
  q->stats.filters++;
  c->nfilters++;
  if (c->from > TIME_LO || c->to < TIME_HI)
    q->stats.ranges_narrowed++;
  if (c->from >= c->to) {
    c->isel = c->nsel = 0;
    return SQLITE_OK;
  }
  if (!c->rows)
    c->rows = malloc(CHUNK * sizeof *c->rows);
  if (!c->rows)
    return SQLITE_NOMEM;
  return fill(c);
}

static int x_next(sqlite3_vtab_cursor *cur) {
  struct cursor *c = (struct cursor *)cur;
  c->rowid++;
  if (c->vt->kind == KIND_SERIES) {
    c->isel++;
    return SQLITE_OK;
  }
  if (++c->irow < c->end)
    return SQLITE_OK;
  if (!c->more)
    c->isel++; /* this series is done */
  return fill(c);
}

static int x_eof(sqlite3_vtab_cursor *cur) {
  const struct cursor *c = (const struct cursor *)cur;
  return c->isel >= c->nsel;
}

static void result_double(sqlite3_context *ctx, double v) {
  if (isfinite(v))
    sqlite3_result_double(ctx, v);
  else
    sqlite3_result_null(ctx);
}

static void result_time(sqlite3_context *ctx, const struct vgq_sql *q, int64_t t) {
  char b[VG_FMT_ISO_MAX];
  size_t n = vg_fmt_iso(t, q->tz, b);
  sqlite3_result_text(ctx, b, (int)n, SQLITE_TRANSIENT);
}

static void result_text(sqlite3_context *ctx, const char *s) {
  if (s)
    sqlite3_result_text(ctx, s, -1, SQLITE_STATIC); /* lives as long as q */
  else
    sqlite3_result_null(ctx);
}

static int x_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col) {
  const struct cursor *c = (const struct cursor *)cur;
  const struct vgq_sql *q = c->vt->q;
  size_t si = sel_at(c, c->isel);
  const struct sser *s = &q->s[si];
  int nt = (int)q->ntags;
  if (c->vt->kind == KIND_SERIES) {
    if (col == S_ID)
      sqlite3_result_int64(ctx, (sqlite3_int64)s->id);
    else if (col == S_NFIXED + nt)
      result_time(ctx, q, vg_floor_div(s->first_seen_ns, 1000000000));
    else
      result_text(ctx, series_text(q, KIND_SERIES, si, col));
    return SQLITE_OK;
  }
  const struct vrow *r = &c->rows[c->irow];
  switch (col) {
  case R_START: result_time(ctx, q, r->start); break;
  case R_END: result_time(ctx, q, r->end); break;
  case R_COUNT: sqlite3_result_int64(ctx, (sqlite3_int64)r->count); break;
  case R_SUM: result_double(ctx, r->st[VG_STAT_SUM]); break;
  case R_MIN: result_double(ctx, r->st[VG_STAT_MIN]); break;
  case R_MAX: result_double(ctx, r->st[VG_STAT_MAX]); break;
  case R_MEAN: result_double(ctx, r->st[VG_STAT_MEAN]); break;
  case R_STDDEV: result_double(ctx, r->st[VG_STAT_STDDEV]); break;
  case R_P50: result_double(ctx, r->st[VG_STAT_P50]); break;
  case R_P95: result_double(ctx, r->st[VG_STAT_P95]); break;
  case R_FIRST: result_double(ctx, r->st[VG_STAT_FIRST]); break;
  case R_LAST: result_double(ctx, r->st[VG_STAT_LAST]); break;
  case R_DISTINCT: result_double(ctx, r->st[VG_STAT_DISTINCT]); break;
  case R_STATUS: result_text(ctx, r->final ? "final" : "provisional"); break;
  case R_REVISION: sqlite3_result_int64(ctx, r->revision); break;
  default:
    if (col == R_NFIXED + nt + H_START_EPOCH)
      sqlite3_result_int64(ctx, r->start);
    else if (col == R_NFIXED + nt + H_END_EPOCH)
      sqlite3_result_int64(ctx, r->end);
    else if (col == R_NFIXED + nt + H_SERIES_ID)
      sqlite3_result_int64(ctx, (sqlite3_int64)s->id);
    else
      result_text(ctx, series_text(q, c->vt->kind, si, col));
  }
  return SQLITE_OK;
}

static int x_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *out) {
  *out = ((const struct cursor *)cur)->rowid;
  return SQLITE_OK;
}

static const sqlite3_module module = {
    .iVersion = 0,
    .xCreate = NULL, /* eponymous-only: the table exists by its name */
    .xConnect = x_connect,
    .xBestIndex = x_best_index,
    .xDisconnect = x_disconnect,
    .xDestroy = x_disconnect,
    .xOpen = x_open,
    .xClose = x_close,
    .xFilter = x_filter,
    .xNext = x_next,
    .xEof = x_eof,
    .xColumn = x_column,
    .xRowid = x_rowid,
};

/* --- the statement ------------------------------------------------------- */

int vgq_sql_open(struct vgq_sql **out, struct vg_store_reader *rd, const struct vg_tz *tz,
                 char *errstr, size_t errstr_size) {
  struct vgq_sql *q = calloc(1, sizeof *q);
  int rc = -ENOMEM;
  *out = NULL;
  if (!q) {
    vg_errstr(errstr, errstr_size, "out of memory");
    return rc;
  }
  q->rd = rd;
  q->tz = tz;
  rc = load_series(q, errstr, errstr_size);
  if (rc)
    goto fail;
  if (sqlite3_open_v2(":memory:", &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY,
                      NULL) != SQLITE_OK) {
    vg_errstr(errstr, errstr_size, "cannot open SQLite: %s",
              q->db ? sqlite3_errmsg(q->db) : "out of memory");
    rc = -ENOMEM;
    goto fail;
  }
  /* a query tool: no file may be attached (and so created) */
  sqlite3_limit(q->db, SQLITE_LIMIT_ATTACHED, 0);
  sqlite3_db_config(q->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
  for (int i = 0; i < 4; i++) {
    q->aux[i] = (struct modaux){q, i == 0 ? KIND_SERIES : i - 1};
    if (sqlite3_create_module(q->db, table_names[i], &module, &q->aux[i]) != SQLITE_OK) {
      vg_errstr(errstr, errstr_size, "cannot register table %s: %s", table_names[i],
                sqlite3_errmsg(q->db));
      rc = -ENOMEM;
      goto fail;
    }
  }
  *out = q;
  return 0;
fail:
  vgq_sql_close(q);
  return rc;
}

void vgq_sql_close(struct vgq_sql *q) {
  if (!q)
    return;
  sqlite3_finalize(q->stmt);
  sqlite3_close(q->db);
  for (size_t i = 0; i < q->ns; i++) {
    for (size_t t = 0; q->s[i].tagv && t < q->ntags; t++)
      free(q->s[i].tagv[t]);
    free(q->s[i].tagv);
    free(q->s[i].key);
    free(q->s[i].metric);
  }
  free(q->s);
  for (size_t i = 0; i < q->ntags; i++) {
    free(q->tagname[i]);
    if (q->tagcol)
      free(q->tagcol[i]);
  }
  free(q->tagname);
  free(q->tagcol);
  free(q->cellbuf);
  free(q);
}

sqlite3 *vgq_sql_db(struct vgq_sql *q) {
  return q->db;
}

/* "no such table: X" / "no such column: X": the closest names. */
static void closest(const struct vgq_sql *q, const char *msg, char *out, size_t size) {
  static const char *const ptab = "no such table: ", *const pcol = "no such column: ";
  int tab = strncmp(msg, ptab, strlen(ptab)) == 0;
  int col = strncmp(msg, pcol, strlen(pcol)) == 0;
  out[0] = 0;
  if (!tab && !col)
    return;
  const char *name = msg + strlen(tab ? ptab : pcol);
  const char *dot = strrchr(name, '.');
  if (dot)
    name = dot + 1;
  const char *best = NULL;
  size_t bd = SIZE_MAX;
  size_t n = tab ? 4 : R_NFIXED + H_N + 3 + q->ntags;
  for (size_t i = 0; i < n; i++) {
    static const char *const sfixed[] = {"id", "key", "first_seen"};
    const char *c = tab                      ? table_names[i]
                    : i < R_NFIXED           ? rollup_cols[i]
                    : i < R_NFIXED + H_N     ? rollup_hidden[i - R_NFIXED]
                    : i < R_NFIXED + H_N + 3 ? sfixed[i - R_NFIXED - H_N]
                                             : q->tagcol[i - R_NFIXED - H_N - 3];
    size_t d = vg_edit_distance(name, c);
    if (d < bd) {
      bd = d;
      best = c;
    }
  }
  if (tab)
    snprintf(out, size,
             " (the tables are series, rollup_1m, rollup_1h, rollup_1d; "
             "closest: %s)",
             best);
  else if (best)
    snprintf(out, size, " (closest column: %s)", best);
}

static int blank(const char *s) {
  for (; *s; s++)
    if (*s != ';' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
      return 0;
  return 1;
}

int vgq_sql_prepare(struct vgq_sql *q, const char *sql, char *errstr,
                    size_t errstr_size) {
  const char *tail = NULL;
  char hint[256];
  sqlite3_finalize(q->stmt);
  q->stmt = NULL;
  int rc = sqlite3_prepare_v2(q->db, sql, -1, &q->stmt, &tail);
  if (rc == SQLITE_NOMEM) {
    vg_errstr(errstr, errstr_size, "out of memory");
    return -ENOMEM;
  }
  if (rc != SQLITE_OK) {
    closest(q, sqlite3_errmsg(q->db), hint, sizeof hint);
    vg_errstr(errstr, errstr_size, "%s%s", sqlite3_errmsg(q->db), hint);
    return -EINVAL;
  }
  if (!q->stmt) {
    vg_errstr(errstr, errstr_size, "no statement (like \"SELECT * FROM series\")");
    return -EINVAL;
  }
  while (tail && !blank(tail)) {
    sqlite3_stmt *next = NULL;
    const char *t2 = NULL;
    rc = sqlite3_prepare_v2(q->db, tail, -1, &next, &t2);
    sqlite3_finalize(next);
    if (rc != SQLITE_OK || next) {
      vg_errstr(errstr, errstr_size, "one statement at a time: '%.60s' follows the first",
                tail);
      return -EINVAL;
    }
    tail = t2; /* only a comment */
  }
  if (!sqlite3_stmt_readonly(q->stmt)) {
    vg_errstr(errstr, errstr_size, "a query reads: '%.60s' would write", sql);
    return -EINVAL;
  }
  return 0;
}

int vgq_sql_ncols(struct vgq_sql *q) {
  return sqlite3_column_count(q->stmt);
}

const char *vgq_sql_colname(struct vgq_sql *q, int i) {
  const char *n = sqlite3_column_name(q->stmt, i);
  return n ? n : "?";
}

int vgq_sql_step(struct vgq_sql *q, char *errstr, size_t errstr_size) {
  int rc = sqlite3_step(q->stmt);
  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE)
    return 0;
  if (q->store_rc) {
    vg_errstr(errstr, errstr_size, "%s", q->store_err);
    return q->store_rc;
  }
  vg_errstr(errstr, errstr_size, "%s", sqlite3_errmsg(q->db));
  return rc == SQLITE_NOMEM ? -ENOMEM : -EINVAL;
}

static char *cell_room(struct vgq_sql *q, size_t n) {
  if (n > q->cellcap) {
    char *b = realloc(q->cellbuf, n);
    if (!b)
      return NULL;
    q->cellbuf = b;
    q->cellcap = n;
  }
  return q->cellbuf;
}

int vgq_sql_cell(struct vgq_sql *q, int i, const char **text) {
  char *b;
  switch (sqlite3_column_type(q->stmt, i)) {
  case SQLITE_INTEGER:
    b = cell_room(q, 24);
    if (!b)
      break;
    snprintf(b, 24, "%lld", (long long)sqlite3_column_int64(q->stmt, i));
    *text = b;
    return VGQ_NUM;
  case SQLITE_FLOAT: {
    double v = sqlite3_column_double(q->stmt, i);
    if (!isfinite(v))
      break;
    b = cell_room(q, VG_FMT_DOUBLE_MAX);
    if (!b)
      break;
    vg_fmt_double(v, b);
    *text = b;
    return VGQ_NUM;
  }
  case SQLITE_TEXT:
    *text = (const char *)sqlite3_column_text(q->stmt, i);
    return *text ? VGQ_TEXT : VGQ_NULL;
  case SQLITE_BLOB: {
    const unsigned char *p = sqlite3_column_blob(q->stmt, i);
    size_t n = (size_t)sqlite3_column_bytes(q->stmt, i);
    b = cell_room(q, 2 * n + 1);
    if (!b)
      break;
    for (size_t k = 0; k < n; k++)
      snprintf(b + 2 * k, 3, "%02x", p[k]);
    b[2 * n] = 0;
    *text = b;
    return VGQ_TEXT;
  }
  default: break;
  }
  *text = NULL;
  return VGQ_NULL;
}

const struct vgq_sql_stats *vgq_sql_stats(const struct vgq_sql *q) {
  return &q->stats;
}
