/*
 * vigieq query and plot (vigieq.h): the columns --stats chooses, one row
 * per window read from the store (the statistics are agg's, wstats.h),
 * the rows --fill makes up for the calendar's windows without data, and
 * --group-by's exact merges of series. plot draws the same rows
 * (vigieq_plot.c).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/publish.h"
#include "vigie/store.h"
#include "vigie/tz.h"
#include "vigie/wmerge.h"
#include "vigie/wstats.h"

#include "vigieq.h"

/* --- query --------------------------------------------------------------- */

enum col_id {
  C_START,
  C_END,
  C_SERIES,
  C_METRIC,
  C_COUNT,
  C_SUM,
  C_MIN,
  C_MAX,
  C_MEAN,
  C_STDDEV,
  C_STDDEV_POP,
  C_VAR,
  C_VAR_POP,
  C_QUANT,
  C_FIRST,
  C_LAST,
  C_FIRST_TIME,
  C_LAST_TIME,
  C_DISTINCT,
  C_STATUS,
  C_REVISION
};

/* Every column --stats may name (pNN aside), contract columns first. */
static const struct {
  const char *name;
  int id;
} known_cols[] = {{"start_datetime", C_START},
                  {"end_datetime", C_END},
                  {"series", C_SERIES},
                  {"metric", C_METRIC},
                  {"count", C_COUNT},
                  {"sum", C_SUM},
                  {"min", C_MIN},
                  {"max", C_MAX},
                  {"mean", C_MEAN},
                  {"stddev", C_STDDEV},
                  {"p50", C_QUANT},
                  {"p95", C_QUANT},
                  {"first", C_FIRST},
                  {"last", C_LAST},
                  {"distinct", C_DISTINCT},
                  {"status", C_STATUS},
                  {"revision", C_REVISION},
                  {"stddev_pop", C_STDDEV_POP},
                  {"variance", C_VAR},
                  {"variance_pop", C_VAR_POP},
                  {"first_time", C_FIRST_TIME},
                  {"last_time", C_LAST_TIME}};
#define N_CONTRACT_COLS 17

struct col {
  int id;
  double q; /* C_QUANT: the quantile in [0, 1] */
};

struct colspec {
  const char **names;
  struct col *c;
  size_t n;
  unsigned want; /* VG_STAT_BIT of the window statistics the columns show */
};

/* The statistic (wstats.h) a column shows, or -1. */
static int col_stat(int id) {
  switch (id) {
  case C_SUM: return VG_STAT_SUM;
  case C_MIN: return VG_STAT_MIN;
  case C_MAX: return VG_STAT_MAX;
  case C_MEAN: return VG_STAT_MEAN;
  case C_STDDEV: return VG_STAT_STDDEV;
  case C_FIRST: return VG_STAT_FIRST;
  case C_LAST: return VG_STAT_LAST;
  case C_DISTINCT: return VG_STAT_DISTINCT;
  default: return -1;
  }
}

/* "p95" or "p99.9" -> 0.95, 0.999; -1 when not a quantile name. */
static double quantile_of(const char *name) {
  if (name[0] != 'p' || !name[1])
    return -1;
  char *end;
  double v = strtod(name + 1, &end);
  if (*end || !(v >= 0 && v <= 100) || !strchr("0123456789", name[1]))
    return -1;
  return v / 100;
}

static int col_add(struct colspec *cs, const char *name, size_t cap) {
  if (cs->n == cap)
    return fail(EX_USAGE, "--stats: too many columns");
  double q = quantile_of(name);
  int id = -1;
  for (size_t k = 0; k < sizeof known_cols / sizeof *known_cols && id < 0; k++)
    if (strcmp(known_cols[k].name, name) == 0)
      id = known_cols[k].id;
  if (id < 0 && q < 0) {
    struct names all = {0};
    for (size_t k = 0; k < sizeof known_cols / sizeof *known_cols; k++)
      names_add(&all, known_cols[k].name);
    suggest("statistic (--stats)", name, &all);
    names_release(&all);
    return EX_USAGE;
  }
  cs->names[cs->n] = name;
  cs->c[cs->n++] = (struct col){id < 0 ? C_QUANT : id, q};
  if (col_stat(id) >= 0)
    cs->want |= VG_STAT_BIT(col_stat(id));
  return EX_OK;
}

/* The columns: the contract's by default; with --stats LIST, the window and
 * series columns, then the listed statistics in their order. list is
 * modified (split at commas) and must outlive the spec. */
static int colspec_init(struct colspec *cs, char *list) {
  size_t cap = sizeof known_cols / sizeof *known_cols + 64;
  cs->n = 0;
  cs->want = 0;
  cs->names = calloc(cap, sizeof *cs->names);
  cs->c = calloc(cap, sizeof *cs->c);
  if (!cs->names || !cs->c)
    return fail(EX_RUNTIME, "out of memory");
  size_t fixed = list ? 4 : N_CONTRACT_COLS;
  for (size_t k = 0; k < fixed; k++) {
    int ex = col_add(cs, known_cols[k].name, cap);
    if (ex)
      return ex;
  }
  if (!list)
    return EX_OK;
  char *save = NULL;
  for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    while (*t == ' ')
      t++;
    if (!*t)
      continue;
    int ex = col_add(cs, t, cap);
    if (ex)
      return ex;
  }
  if (cs->n == 4)
    return fail(EX_USAGE, "--stats: no statistic named (like --stats count,mean,p95)");
  return EX_OK;
}

static void colspec_release(struct colspec *cs) {
  free(cs->names);
  free(cs->c);
}

struct qrow {
  struct rows *rows;
  const struct colspec *cs;
  const struct vg_tz *tz;
  const char *key;
  const char *metric;
  uint64_t *left; /* rows still allowed by --limit */
  int fmt;
  int gap; /* a window --fill made up: GAP_NULL or GAP_PREVIOUS, else 0 */
  /* the last instant formatted: a window's end is the next one's start */
  int64_t iso_t;
  size_t iso_len; /* 0: none yet */
  char iso[VG_FMT_ISO_MAX];
};

enum { GAP_NULL = 1, GAP_PREVIOUS = 2 };

static int put_time_ns(struct rows *r, int64_t ns, const struct vg_tz *tz) {
  char t[VG_FMT_ISO_MAX];
  vg_fmt_iso(vg_floor_div(ns, 1000000000), tz, t);
  return put(r, CELL_TEXT, t);
}

static int on_window(const struct vg_wentry *w, void *arg) {
  struct qrow *q = arg;
  struct rows *r = q->rows;
  const struct vg_stats *s = &w->acc.st;
  const struct vg_firstlast *fl = &w->acc.fl;
  int has_fl = !vg_firstlast_empty(fl);
  int rc = 0;
  if (*q->left == 0)
    return 1; /* --limit reached: stop the walk */
  (*q->left)--;
  double st[VG_STAT_N];
  vg_acc_stats(&w->acc, q->gap == GAP_NULL ? 0 : q->cs->want, st);
  for (size_t k = 0; k < q->cs->n && !rc; k++) {
    const struct col *c = &q->cs->c[k];
    if (q->gap == GAP_NULL && c->id != C_START && c->id != C_END && c->id != C_SERIES &&
        c->id != C_METRIC && c->id != C_STATUS) {
      rc = put(r, CELL_NULL, NULL);
      continue;
    }
    switch (c->id) {
    case C_START:
    case C_END: {
      int64_t at = c->id == C_START ? w->start : w->end;
      if (!q->iso_len || q->iso_t != at) {
        q->iso_t = at;
        q->iso_len = vg_fmt_iso(at, q->tz, q->iso);
      }
      rc = put_len(r, CELL_TEXT, q->iso, q->iso_len);
      break;
    }
    case C_SERIES: rc = put(r, CELL_TEXT, q->key); break;
    case C_METRIC: rc = put(r, CELL_TEXT, q->metric); break;
    case C_COUNT: rc = put_u64(r, s->count); break;
    case C_STDDEV_POP: rc = put_double(r, vg_stats_stddev_pop(s)); break;
    case C_VAR: rc = put_double(r, vg_stats_var_sample(s)); break;
    case C_VAR_POP: rc = put_double(r, vg_stats_var_pop(s)); break;
    case C_QUANT: rc = put_double(r, vg_acc_quantile(&w->acc, c->q)); break;
    case C_SUM:
    case C_MIN:
    case C_MAX:
    case C_MEAN:
    case C_STDDEV:
    case C_FIRST:
    case C_LAST:
    case C_DISTINCT: rc = put_double(r, st[col_stat(c->id)]); break;
    case C_FIRST_TIME:
      rc = has_fl ? put_time_ns(r, fl->first_t, q->tz) : put(r, CELL_NULL, NULL);
      break;
    case C_LAST_TIME:
      rc = has_fl ? put_time_ns(r, fl->last_t, q->tz) : put(r, CELL_NULL, NULL);
      break;
    case C_STATUS:
      rc = put(r, CELL_TEXT, q->gap ? "gap" : w->final ? "final" : "provisional");
      break;
    case C_REVISION:
      rc = q->gap ? put(r, CELL_NULL, NULL) : put_u64(r, w->revision);
      break;
    default: assert(0);
    }
  }
  /* CSV/JSON stream as they go (the snapshot stays open meanwhile); a
   * table must see every row to measure its columns */
  if (!rc && q->fmt != FMT_TABLE && q->fmt != FMT_PLOT && r->n >= 64 * 1024)
    rc = rows_stream(stdout, r, q->fmt);
  return rc;
}

/* --- --fill: the calendar's windows between the stored ones ------------- */

enum { FILL_NONE, FILL_NULL, FILL_PREVIOUS };

/* Walks one series' (or group's) windows in time order and, unless mode is
 * FILL_NONE, writes a row for each window of the calendar that has no data:
 * between --from and --to when given, else between the first and the last
 * stored window. The calendar is the store's (its zone, its base windows),
 * so a made-up day lasts 23 or 25 hours where the store's days do; a stored
 * window the calendar does not predict (another zone or base resolution)
 * stops the walk with a message in err. */
struct fill {
  int mode;
  uint8_t res;
  int64_t from, to; /* TIME_MIN / TIME_MAX when not given */
  int64_t next;     /* start of the next window; INT64_MIN before the first */
  struct vg_calendar cal;
  struct vg_wentry prev; /* FILL_PREVIOUS: a deep copy of the last stored window */
  int has_prev;
  struct qrow *q;
  char err[512];
};

static int fill_mismatch(struct fill *f, int64_t start) {
  char t[VG_FMT_ISO_MAX];
  vg_fmt_iso(start, f->q->tz, t);
  snprintf(
      f->err, sizeof f->err,
      "--fill: the stored windows of %s do not follow the calendar of zone '%s' with "
      "%" PRId64 " s base windows (at %s); give the store's --config",
      f->q->key, vg_tz_name(f->cal.tz), f->cal.base_s, t);
  return VG_ECONFIG;
}

/* The start of the first window that starts at or after t. */
static int64_t fill_first(struct fill *f, int64_t t) {
  struct vg_span s = vg_calendar_window(&f->cal, (enum vg_res)f->res, t);
  return s.start < t ? s.end : s.start;
}

/* Writes the missing windows from f->next up to (not including) until. */
static int fill_gaps(struct fill *f, int64_t until) {
  int rc = 0;
  while (f->next < until && !rc) {
    struct vg_span s = vg_calendar_window(&f->cal, (enum vg_res)f->res, f->next);
    if (s.start != f->next)
      return fill_mismatch(f, f->next);
    struct vg_wentry g;
    if (f->mode == FILL_PREVIOUS && f->has_prev) {
      g = f->prev;
      f->q->gap = GAP_PREVIOUS;
    } else {
      memset(&g, 0, sizeof g);
      vg_acc_init(&g.acc);
      f->q->gap = GAP_NULL;
    }
    g.start = s.start;
    g.end = s.end;
    g.res = f->res;
    rc = on_window(&g, f->q);
    f->q->gap = 0;
    f->next = s.end;
  }
  return rc;
}

/* vg_store_read_range's callback: the gaps before w, then w. */
static int fill_window(const struct vg_wentry *w, void *arg) {
  struct fill *f = arg;
  if (f->mode == FILL_NONE)
    return on_window(w, f->q);
  if (f->next == INT64_MIN)
    f->next = f->from != TIME_MIN ? fill_first(f, f->from) : w->start;
  int rc = fill_gaps(f, w->start);
  if (rc)
    return rc;
  if (f->next != w->start)
    return fill_mismatch(f, w->start);
  rc = on_window(w, f->q);
  if (rc)
    return rc;
  f->next = w->end;
  if (f->mode == FILL_PREVIOUS) {
    struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
    vg_acc_release(&f->prev.acc);
    f->prev = *w;
    vg_acc_init(&f->prev.acc);
    f->has_prev = 1;
    rc = vg_acc_merge(&f->prev.acc, &w->acc, &o); /* a deep copy */
  }
  return rc;
}

/* After the last window of a series or group: the gaps up to --to, and a
 * fresh start for the next one. */
static int fill_end(struct fill *f) {
  int rc = 0;
  if (f->mode != FILL_NONE && f->to != TIME_MAX) {
    if (f->next == INT64_MIN && f->from != TIME_MIN)
      f->next = fill_first(f, f->from);
    if (f->next != INT64_MIN)
      rc = fill_gaps(f, f->to);
  }
  vg_acc_release(&f->prev.acc);
  vg_acc_init(&f->prev.acc);
  f->has_prev = 0;
  f->next = INT64_MIN;
  return rc;
}

/* --- --group-by: exact merges of series ---------------------------------- */

static const struct names *sort_groups; /* qsort has no context argument */

static int cmp_group(const void *a, const void *b) {
  return strcmp(sort_groups->v[*(const size_t *)a], sort_groups->v[*(const size_t *)b]);
}

/* The group of each series of l (*gi, indexes into *groups, whose names are
 * the group keys, wmerge.h), numbered in key order (*rank: group index ->
 * its place). EX_OK or an exit code. */
static int group_series(const struct series_list *l, const struct names *by,
                        struct names *groups, size_t **gi, size_t **rank) {
  size_t *order = NULL;
  *gi = calloc(l->n + 1, sizeof **gi);
  for (size_t i = 0; *gi && i < l->n; i++) {
    char gk[1024];
    const char *key = l->v[i].key;
    if (vg_group_key(key, strlen(key), (const char *const *)by->v, by->n, gk,
                     sizeof gk) ||
        names_add(groups, gk))
      return fail(EX_RUNTIME, "cannot group series %s", key);
    (*gi)[i] = names_index(groups, gk);
  }
  order = calloc(groups->n + 1, sizeof *order);
  *rank = calloc(groups->n + 1, sizeof **rank);
  if (!*gi || !order || !*rank) {
    free(order);
    return fail(EX_RUNTIME, "out of memory");
  }
  for (size_t g = 0; g < groups->n; g++)
    order[g] = g;
  sort_groups = groups;
  qsort(order, groups->n, sizeof *order, cmp_group);
  for (size_t k = 0; k < groups->n; k++)
    (*rank)[order[k]] = k;
  free(order);
  return EX_OK;
}

/* Writes merged window w of group key gk through --fill and on_window. */
static int grouped_row(struct fill *f, const char *gk, const struct vg_wentry *w,
                       char *metric, size_t msize) {
  struct qrow *q = f->q;
  int rc = 0;
  if (!q->key || strcmp(q->key, gk) != 0) { /* a new group: the last one's gaps */
    static struct tag tags[MAX_TAGS];
    int nt;
    rc = q->key ? fill_end(f) : 0;
    parse_key(gk, strlen(gk), metric, msize, tags, &nt);
    q->key = gk;
    q->metric = metric;
  }
  return rc ? rc : fill_window(w, f);
}

/* Reads every selected series, merges the windows of each group and start
 * exactly (wmerge.h: sums, M2 by Chan's formula, sketches merged, not
 * averaged; final when all parts are; the revision of its rule), and
 * prints them through on_window, groups in key order. */
static int query_grouped(struct ctx *c, const struct series_list *l,
                         const struct names *by, uint8_t res, int64_t from, int64_t to,
                         struct fill *f) {
  char metric[512];
  struct vg_wmerge m = {0};
  struct names groups = {0};
  size_t *gi = NULL, *rank = NULL;
  int ex = group_series(l, by, &groups, &gi, &rank);
  for (size_t i = 0; ex == EX_OK && i < l->n; i++) {
    char e[512] = "";
    m.group = rank[gi[i]];
    int rc = vg_store_read_range(c->rd, l->v[i].id, res, from, to, vg_wmerge_add, &m, e,
                                 sizeof e);
    if (rc)
      ex = fail(EX_RUNTIME, "cannot read series %s: %s", l->v[i].key,
                e[0] ? e : vg_strerror(rc));
  }
  if (ex == EX_OK && vg_wmerge_finish(&m))
    ex = fail(EX_RUNTIME, "out of memory");
  const char **names = ex == EX_OK ? calloc(groups.n + 1, sizeof *names) : NULL;
  if (ex == EX_OK && !names)
    ex = fail(EX_RUNTIME, "out of memory");
  for (size_t g = 0; names && g < groups.n; g++)
    names[rank[g]] = groups.v[g];
  for (size_t i = 0; ex == EX_OK && i < m.n; i++) {
    int rc = grouped_row(f, names[m.v[i].group], &m.v[i].w, metric, sizeof metric);
    if (rc == 0 && i + 1 == m.n)
      rc = fill_end(f);
    if (rc < 0)
      ex = f->err[0] ? fail(EX_USAGE, "%s", f->err)
                     : fail(EX_RUNTIME, "cannot write the rows: %s", vg_strerror(rc));
    if (rc > 0)
      break; /* --limit */
  }
  free(names);
  free(gi);
  free(rank);
  vg_wmerge_release(&m);
  names_release(&groups);
  return ex;
}

/* --resolution: a name of vg_res_name's, or "1m", vigieq's other name for
 * the base resolution (the default). 0 or -EINVAL. */
static int parse_resolution(const char *name, enum vg_res *res) {
  if (!name || strcmp(name, "1m") == 0) {
    *res = VG_RES_BASE;
    return 0;
  }
  return vg_res_from_name(name, strlen(name), res);
}

int cmd_query(struct ctx *c, struct args *a, int fmt) {
  enum vg_res res;
  if (parse_resolution(a->resolution, &res))
    return fail(EX_USAGE,
                "--resolution '%s': expected 1m (the base resolution), 1h or 1d",
                a->resolution);
  int64_t now = (int64_t)time(NULL), from = TIME_MIN, to = TIME_MAX;
  char err[256];
  if (a->from && vg_parse_time(a->from, c->tz, now, &from, err, sizeof err))
    return fail(EX_USAGE, "--from '%s': %s", a->from, err);
  if (a->to && vg_parse_time(a->to, c->tz, now, &to, err, sizeof err))
    return fail(EX_USAGE, "--to '%s': %s", a->to, err);
  if (from >= to)
    return fail(EX_USAGE, "--from '%s' is not before --to '%s'", a->from ? a->from : "",
                a->to ? a->to : "");
  uint64_t left = UINT64_MAX;
  if (a->limit) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(a->limit, &end, 10);
    if (end == a->limit || *end || errno || a->limit[0] == '-')
      return fail(EX_USAGE, "--limit '%s': expected a number of rows", a->limit);
    left = v;
  }
  struct fill fill = {.res = (uint8_t)res, .from = from, .to = to, .next = INT64_MIN};
  vg_acc_init(&fill.prev.acc);
  if (!a->fill || strcmp(a->fill, "none") == 0)
    fill.mode = FILL_NONE;
  else if (strcmp(a->fill, "null") == 0)
    fill.mode = FILL_NULL;
  else if (strcmp(a->fill, "previous") == 0)
    fill.mode = FILL_PREVIOUS;
  else
    return fail(EX_USAGE, "--fill '%s': expected none, null or previous", a->fill);
  struct vg_tz *store_tz = NULL;
  if (fill.mode != FILL_NONE) {
    if (vg_tz_load(c->store_zone, &store_tz, err, sizeof err))
      return fail(EX_USAGE, "timezone '%s': %s", c->store_zone, err);
    if (vg_calendar_init(&fill.cal, store_tz, c->base_s)) {
      vg_tz_free(store_tz);
      return fail(EX_USAGE, "the base resolution (%" PRId64 " s) does not divide an hour",
                  c->base_s);
    }
  }
  struct colspec cs = {0};
  struct series_list l = {0};
  struct rows rows = {0};
  char *stats = NULL;
  int ex = EX_OK;
  /* a plot draws the mean, and the min-max band */
  const char *want = fmt == FMT_PLOT ? "mean,min,max" : a->stats;
  if (want) {
    stats = strdup(want);
    if (!stats) {
      ex = fail(EX_RUNTIME, "out of memory");
      goto done;
    }
  }
  ex = colspec_init(&cs, stats);
  if (ex)
    goto done;
  rows.cols = cs.names;
  rows.ncols = cs.n;
  ex = open_store(c);
  if (ex)
    goto done;
  ex = select_series(c, &a->f, &l);
  if (ex)
    goto done;
  if (a->group_by.n) {
    for (size_t i = 0; i < a->group_by.n; i++)
      if (!names_has(&l.tagnames, a->group_by.v[i])) {
        suggest("tag (--group-by)", a->group_by.v[i], &l.tagnames);
        ex = EX_USAGE;
        goto done;
      }
    struct qrow q = {.rows = &rows, .cs = &cs, .tz = c->tz, .left = &left, .fmt = fmt};
    fill.q = &q;
    ex = query_grouped(c, &l, &a->group_by, (uint8_t)res, from, to, &fill);
    if (ex)
      goto done;
  }
  for (size_t i = 0; i < l.n && left && !a->group_by.n; i++) {
    char metric[512];
    static struct tag tags[MAX_TAGS];
    int nt;
    parse_key(l.v[i].key, strlen(l.v[i].key), metric, sizeof metric, tags, &nt);
    struct qrow q = {.rows = &rows,
                     .cs = &cs,
                     .tz = c->tz,
                     .key = l.v[i].key,
                     .metric = metric,
                     .left = &left,
                     .fmt = fmt};
    char e[512] = "";
    fill.q = &q;
    int rc = vg_store_read_range(c->rd, l.v[i].id, (uint8_t)res, from, to, fill_window,
                                 &fill, e, sizeof e);
    if (rc == 0)
      rc = fill_end(&fill);
    if (rc < 0 && fill.err[0]) {
      ex = fail(EX_USAGE, "%s", fill.err);
      goto done;
    }
    if (rc < 0) { /* 1: --limit stopped the walk */
      ex =
          fail(EX_RUNTIME, "cannot %s series %s: %s", e[0] ? "read" : "write the rows of",
               l.v[i].key, e[0] ? e : vg_strerror(rc));
      goto done;
    }
  }
  /* the snapshot is no longer needed: end it before printing */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  if (fmt == FMT_PLOT) {
    FILE *out = a->output ? fopen(a->output, "w") : stdout;
    int rc =
        out ? write_plot(out, &rows, c->tz, a->resolution ? a->resolution : "1m", a->unit)
            : -errno;
    if (out && out != stdout && fclose(out) && !rc)
      rc = -errno;
    if (rc)
      ex = fail(EX_RUNTIME, "cannot write the plot to %s: %s",
                a->output ? a->output : "stdout", vg_strerror(rc));
  } else if (write_rows(stdout, &rows, fmt)) {
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
  }
done:
  rows_release(&rows);
  series_release(&l);
  colspec_release(&cs);
  free(stats);
  vg_acc_release(&fill.prev.acc);
  vg_tz_free(store_tz);
  return ex;
}
