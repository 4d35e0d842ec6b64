/*
 * vigieq: the analysts' query tool. It opens the LMDB store read-only (a
 * reader process: safe while vigied writes, every command reads one
 * snapshot) and prints rollup windows, the series dictionary or the
 * ingestion status as a table, RFC 4180 CSV, JSON or NDJSON.
 *
 * Rows are built as cells first (text, number or empty) and printed by one
 * writer per format, so every command shares the formats, and the table
 * can measure its columns. Formatting itself lives in engine/publish
 * (publish.h), which the HTTP API reuses.
 *
 * Exit codes: 0 ok; 1 runtime error (a damaged store, an I/O error);
 * 2 usage error (bad option, bad time, unknown metric or tag -- with the
 * closest existing names); 3 no usable store (missing, locked, or written
 * in a newer format).
 */
#include <assert.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigie/calendar.h"
#include "vigie/config.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/text.h"
#include "vigie/publish.h"
#include "vigie/store.h"
#include "vigie/tz.h"

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2, EX_STORE = 3 };
enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_NDJSON };
enum kind { CELL_TEXT, CELL_NUM, CELL_NULL };

#define TIME_MIN (-(1LL << 36))
#define TIME_MAX (1LL << 36)
#define MAX_TAGS 128 /* a key holds at most 511 bytes: fewer tags than that */

static const char *usage_text =
    "usage: vigieq [--data-dir DIR | --config FILE] COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  query   [--resolution 1m|1h|1d] [--metric NAME]... [--where TAG=VALUE]...\n"
    "          [--from TIME] [--to TIME] [--tz ZONE] [--format table|csv|json|ndjson]\n"
    "          [--stats LIST] [--limit N] [--group-by TAG[,TAG]]\n"
    "          rollup windows, one row per series and window, sorted by series\n"
    "          then start; columns start_datetime (inclusive), end_datetime\n"
    "          (exclusive), series, metric, count, sum, min, max, mean, stddev\n"
    "          (sample standard deviation, n - 1), p50, p95, first, last,\n"
    "          distinct, status (provisional|final), revision; an empty cell\n"
    "          (JSON null) where the statistic is not kept.\n"
    "          --stats count,mean,p95,... keeps start_datetime, end_datetime,\n"
    "          series, metric and then the listed columns: any of the above, and\n"
    "          stddev_pop, variance, variance_pop, first_time, last_time, pNN\n"
    "          (a quantile, like p99 or p99.9). --limit N prints N rows at most.\n"
    "          --group-by TAG merges, per metric and value of TAG, the windows\n"
    "          of all matching series exactly (sketches merged, not averaged).\n"
    "  series  [--metric NAME] [--where TAG=VALUE]... [--match GLOB] [--format F]\n"
    "          the series with their tags and windows per resolution\n"
    "  status  [--format F]  partition positions, watermark, store size\n"
    "\n"
    "  --where TAG=VALUE matches a tag (VALUE may be a glob); TAG!=VALUE excludes.\n"
    "  TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (in --tz), with Z or +HH:MM,\n"
    "  a relative time like -7d, -12h, -30m, or now. --to is exclusive.\n"
    "  --tz defaults to the config's timezone, else UTC. --format defaults to\n"
    "  table on a terminal, csv otherwise. 1m means the base resolution.\n"
    "\n"
    "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 store missing, locked\n"
    "or of a newer format.\n";

__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vigieq: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

/* --- cells and output ---------------------------------------------------- */

struct cell {
  char *s; /* NULL when CELL_NULL */
  int kind;
};

struct rows {
  const char *const *cols;
  size_t ncols;
  struct cell *c;
  size_t n, cap;  /* cells */
  int started;    /* streamed: the header is out */
  size_t written; /* streamed: rows already out */
};

static int put(struct rows *r, int kind, const char *s) {
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 1024;
    struct cell *c = realloc(r->c, cap * sizeof *c);
    if (!c)
      return -ENOMEM;
    r->c = c;
    r->cap = cap;
  }
  char *d = NULL;
  if (kind != CELL_NULL && !(d = strdup(s)))
    return -ENOMEM;
  r->c[r->n++] = (struct cell){d, kind};
  return 0;
}

static int put_double(struct rows *r, double v) {
  if (!isfinite(v))
    return put(r, CELL_NULL, NULL);
  char b[VG_FMT_DOUBLE_MAX];
  vg_fmt_double(v, b);
  return put(r, CELL_NUM, b);
}

static int put_u64(struct rows *r, uint64_t v) {
  char b[24];
  snprintf(b, sizeof b, "%" PRIu64, v);
  return put(r, CELL_NUM, b);
}

static void rows_release(struct rows *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->c[i].s);
  free(r->c);
}

static void write_json_row(FILE *out, const struct rows *r, size_t row) {
  putc('{', out);
  for (size_t j = 0; j < r->ncols; j++) {
    const struct cell *c = &r->c[row * r->ncols + j];
    if (j)
      putc(',', out);
    vg_json_string(out, r->cols[j], strlen(r->cols[j]));
    putc(':', out);
    if (c->kind == CELL_NULL)
      fputs("null", out);
    else if (c->kind == CELL_NUM)
      fputs(c->s, out);
    else
      vg_json_string(out, c->s, strlen(c->s));
  }
  putc('}', out);
}

/* CSV, JSON and NDJSON stream: writes the rows held (the header first)
 * and drops them, so a long query needs no memory for all its rows. */
static int rows_stream(FILE *out, struct rows *r, int fmt) {
  assert(fmt != FMT_TABLE);
  size_t nrows = r->n / r->ncols;
  if (!r->started && fmt == FMT_CSV) {
    for (size_t j = 0; j < r->ncols; j++) {
      if (j)
        putc(',', out);
      vg_csv_field(out, r->cols[j], strlen(r->cols[j]));
    }
    fputs("\r\n", out);
  } else if (!r->started && fmt == FMT_JSON) {
    fputs("[", out);
  }
  r->started = 1;
  for (size_t i = 0; i < nrows; i++) {
    if (fmt == FMT_CSV) {
      for (size_t j = 0; j < r->ncols; j++) {
        const struct cell *c = &r->c[i * r->ncols + j];
        if (j)
          putc(',', out);
        if (c->s)
          vg_csv_field(out, c->s, strlen(c->s));
      }
      fputs("\r\n", out);
    } else if (fmt == FMT_JSON) {
      fputs(r->written + i ? ",\n" : "\n", out);
      write_json_row(out, r, i);
    } else {
      write_json_row(out, r, i);
      putc('\n', out);
    }
  }
  r->written += nrows;
  for (size_t i = 0; i < r->n; i++)
    free(r->c[i].s);
  r->n = 0;
  return ferror(out) ? -EIO : 0;
}

/* Writes what is left, and the end (table: everything, aligned). */
static int write_rows(FILE *out, struct rows *r, int fmt) {
  if (fmt != FMT_TABLE) {
    if (rows_stream(out, r, fmt))
      return -EIO;
    if (fmt == FMT_JSON)
      fputs(r->written ? "\n]\n" : "]\n", out);
  } else {
    size_t nrows = r->n / r->ncols;
    size_t *w = calloc(r->ncols, sizeof *w);
    char *num = calloc(r->ncols, 1); /* numeric columns align right */
    if (!w || !num) {
      free(w);
      free(num);
      return -ENOMEM;
    }
    for (size_t j = 0; j < r->ncols; j++)
      w[j] = strlen(r->cols[j]);
    for (size_t i = 0; i < r->n; i++) {
      size_t l = r->c[i].s ? strlen(r->c[i].s) : 0;
      if (l > w[i % r->ncols])
        w[i % r->ncols] = l;
      if (r->c[i].kind == CELL_NUM)
        num[i % r->ncols] = 1;
    }
    for (size_t j = 0; j < r->ncols; j++)
      fprintf(out, num[j] ? "%s%*s" : "%s%-*s", j ? "  " : "",
              j + 1 == r->ncols && !num[j] ? 0 : (int)w[j], r->cols[j]);
    putc('\n', out);
    for (size_t i = 0; i < nrows; i++) {
      for (size_t j = 0; j < r->ncols; j++) {
        const struct cell *c = &r->c[i * r->ncols + j];
        const char *s = c->s ? c->s : "";
        int width = j + 1 == r->ncols && c->kind != CELL_NUM ? 0 : (int)w[j];
        fprintf(out, c->kind == CELL_NUM ? "%s%*s" : "%s%-*s", j ? "  " : "", width, s);
      }
      putc('\n', out);
    }
    free(w);
    free(num);
  }
  if (fflush(out) != 0 || ferror(out))
    return -EIO;
  return 0;
}

/* --- series keys --------------------------------------------------------- */

struct tag {
  char name[128];
  char value[512];
};

struct tagfill {
  struct tag *tags;
  int *ntags;
};

static int fill_tag(const char *name, const char *value, void *arg) {
  struct tagfill *f = arg;
  if (*f->ntags == MAX_TAGS)
    return -1;
  struct tag *t = &f->tags[(*f->ntags)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->value, sizeof t->value, "%s", value);
  return 0;
}

/* Splits a canonical key (codec.h) into metric and unescaped tags, with the
 * parser the HTTP API uses (dataset.h). */
static int parse_key(const char *k, size_t len, char *metric, size_t msize,
                     struct tag *tags, int *ntags) {
  struct tagfill f = {tags, ntags};
  *ntags = 0;
  return vg_series_key_split(k, len, metric, msize, fill_tag, &f) ? -1 : 0;
}

/* --- suggestions --------------------------------------------------------- */

struct names {
  char **v;
  size_t n, cap;
};

static int names_add(struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    char **v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  if (!(s->v[s->n] = strdup(name)))
    return -ENOMEM;
  s->n++;
  return 0;
}

static int names_has(const struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return 1;
  return 0;
}

static void names_release(struct names *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

/* "did you mean" the three closest names, or the list when short. */
static void suggest(const char *what, const char *name, const struct names *known) {
  fprintf(stderr, "vigieq: unknown %s '%s'", what, name);
  if (!known->n) {
    fputs(" (the store has none)\n", stderr);
    return;
  }
  const char *best[3] = {0};
  size_t bd[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
  for (size_t i = 0; i < known->n; i++) {
    size_t d = vg_edit_distance(name, known->v[i]);
    for (int k = 0; k < 3; k++)
      if (d < bd[k]) {
        for (int m = 2; m > k; m--) {
          bd[m] = bd[m - 1];
          best[m] = best[m - 1];
        }
        bd[k] = d;
        best[k] = known->v[i];
        break;
      }
  }
  fputs("; closest: ", stderr);
  for (int k = 0; k < 3 && best[k]; k++)
    fprintf(stderr, "%s'%s'", k ? ", " : "", best[k]);
  fputc('\n', stderr);
}

/* --- store --------------------------------------------------------------- */

struct ctx {
  const char *dir;
  struct vg_store *st;
  struct vg_store_reader *rd;
  struct vg_tz *tz;
  int64_t base_s;
};

static int open_store(struct ctx *c) {
  struct stat sb;
  char path[4096];
  if (stat(c->dir, &sb) != 0)
    return fail(EX_STORE, "no store at '%s': %s", c->dir, strerror(errno));
  snprintf(path, sizeof path, "%s/data.mdb", c->dir);
  if (stat(path, &sb) != 0)
    return fail(EX_STORE, "no store at '%s': data.mdb is missing (has vigied run with this "
                          "data_dir?)",
                c->dir);
  struct vg_store_opts o = {.path = c->dir, .readonly = 1};
  char err[512] = "";
  int rc = vg_store_open(&o, &c->st, err, sizeof err);
  if (rc == VG_EVERSION)
    return fail(EX_STORE, "the store at '%s' has a format this vigieq does not know (a newer "
                          "vigied?): %s",
                c->dir, err);
  if (rc == -EAGAIN || rc == -EBUSY || rc == -EACCES || rc == -EPERM)
    return fail(EX_STORE, "the store at '%s' is locked or not readable: %s", c->dir,
                err[0] ? err : vg_strerror(rc));
  if (rc)
    return fail(EX_STORE, "cannot open the store at '%s': %s", c->dir,
                err[0] ? err : vg_strerror(rc));
  if ((rc = vg_store_reader_begin(c->st, &c->rd)))
    return fail(EX_STORE, "cannot read the store at '%s': %s", c->dir, vg_strerror(rc));
  return EX_OK;
}

struct series {
  char *key;
  uint64_t id;
  int64_t first_seen_ns;
};

struct series_list {
  struct series *v;
  size_t n, cap;
  struct names metrics, tagnames;
};

static int on_series(const struct vg_store_series *s, void *arg) {
  struct series_list *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    struct series *v = realloc(l->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    l->v = v;
    l->cap = cap;
  }
  char *k = strndup(s->key, s->key_len);
  if (!k)
    return -ENOMEM;
  l->v[l->n++] = (struct series){k, s->id, s->first_seen_ns};
  char metric[512];
  static struct tag tags[MAX_TAGS];
  int nt;
  if (parse_key(k, s->key_len, metric, sizeof metric, tags, &nt) == 0) {
    int rc = names_add(&l->metrics, metric);
    for (int i = 0; i < nt && !rc; i++)
      rc = names_add(&l->tagnames, tags[i].name);
    if (rc)
      return rc;
  }
  return 0;
}

static void series_release(struct series_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].key);
  free(l->v);
  names_release(&l->metrics);
  names_release(&l->tagnames);
}

static int cmp_series(const void *a, const void *b) {
  return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

struct filter {
  struct names metrics;
  char **where; /* "tag=glob" or "tag!=glob" */
  size_t nwhere;
  const char *match;
};

static int filter_ok(const struct filter *f, const char *key) {
  char metric[512];
  static struct tag tags[MAX_TAGS];
  int nt;
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt))
    return 0;
  if (f->metrics.n && !names_has(&f->metrics, metric))
    return 0;
  if (f->match && fnmatch(f->match, key, 0) != 0)
    return 0;
  for (size_t i = 0; i < f->nwhere; i++) {
    const char *w = f->where[i];
    const char *eq = strchr(w, '=');
    int neg = eq > w && eq[-1] == '!';
    size_t nl = (size_t)(eq - w) - (size_t)neg;
    const char *val = NULL;
    for (int t = 0; t < nt; t++)
      if (strlen(tags[t].name) == nl && memcmp(tags[t].name, w, nl) == 0)
        val = tags[t].value;
    int hit = val && fnmatch(eq + 1, val, 0) == 0;
    if (hit == neg)
      return 0;
  }
  return 1;
}

/* Loads the dictionary, checks the filter's names against it (usage errors
 * with suggestions) and keeps the matching series, sorted by key. */
static int select_series(struct ctx *c, const struct filter *f, struct series_list *l) {
  int rc = vg_store_series_each(c->rd, on_series, l);
  if (rc)
    return fail(EX_RUNTIME, "cannot list the series: %s", vg_strerror(rc));
  for (size_t i = 0; i < f->metrics.n; i++)
    if (!names_has(&l->metrics, f->metrics.v[i])) {
      suggest("metric", f->metrics.v[i], &l->metrics);
      return EX_USAGE;
    }
  for (size_t i = 0; i < f->nwhere; i++) {
    char name[128];
    const char *eq = strchr(f->where[i], '=');
    size_t nl = (size_t)(eq - f->where[i]) - (eq > f->where[i] && eq[-1] == '!');
    snprintf(name, sizeof name, "%.*s", (int)nl, f->where[i]);
    if (!names_has(&l->tagnames, name)) {
      suggest("tag", name, &l->tagnames);
      return EX_USAGE;
    }
  }
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (filter_ok(f, l->v[i].key))
      l->v[k++] = l->v[i];
    else
      free(l->v[i].key);
  }
  l->n = k;
  if (l->n > 1) /* l->v is NULL for a store without series */
    qsort(l->v, l->n, sizeof *l->v, cmp_series);
  return EX_OK;
}

/* --- query --------------------------------------------------------------- */

enum col_id {
  C_START, C_END, C_SERIES, C_METRIC, C_COUNT, C_SUM, C_MIN, C_MAX, C_MEAN, C_STDDEV,
  C_STDDEV_POP, C_VAR, C_VAR_POP, C_QUANT, C_FIRST, C_LAST, C_FIRST_TIME, C_LAST_TIME,
  C_DISTINCT, C_STATUS, C_REVISION
};

/* Every column --stats may name (pNN aside), contract columns first. */
static const struct {
  const char *name;
  int id;
} known_cols[] = {
    {"start_datetime", C_START}, {"end_datetime", C_END},   {"series", C_SERIES},
    {"metric", C_METRIC},        {"count", C_COUNT},        {"sum", C_SUM},
    {"min", C_MIN},              {"max", C_MAX},            {"mean", C_MEAN},
    {"stddev", C_STDDEV},        {"p50", C_QUANT},          {"p95", C_QUANT},
    {"first", C_FIRST},          {"last", C_LAST},          {"distinct", C_DISTINCT},
    {"status", C_STATUS},        {"revision", C_REVISION},  {"stddev_pop", C_STDDEV_POP},
    {"variance", C_VAR},         {"variance_pop", C_VAR_POP}, {"first_time", C_FIRST_TIME},
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
};

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
  return EX_OK;
}

/* The columns: the contract's by default; with --stats LIST, the window and
 * series columns, then the listed statistics in their order. list is
 * modified (split at commas) and must outlive the spec. */
static int colspec_init(struct colspec *cs, char *list) {
  size_t cap = sizeof known_cols / sizeof *known_cols + 64;
  cs->n = 0;
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
};

static int put_distinct(struct rows *r, const struct vg_acc *acc) {
  if (!acc->hll)
    return put(r, CELL_NULL, NULL);
  /* the estimate is not const (it may compact the sparse list): a copy */
  struct vg_acc a;
  vg_acc_init(&a);
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.distinct = 1;
  int rc = vg_acc_merge(&a, acc, &o);
  rc = rc ? rc : put_double(r, a.hll ? round(vg_hll_estimate(a.hll)) : NAN);
  vg_acc_release(&a);
  return rc;
}

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
  char t[VG_FMT_ISO_MAX];
  int rc = 0;
  if (*q->left == 0)
    return 1; /* --limit reached: stop the walk */
  (*q->left)--;
  for (size_t k = 0; k < q->cs->n && !rc; k++) {
    const struct col *c = &q->cs->c[k];
    switch (c->id) {
    case C_START:
    case C_END:
      vg_fmt_iso(c->id == C_START ? w->start : w->end, q->tz, t);
      rc = put(r, CELL_TEXT, t);
      break;
    case C_SERIES: rc = put(r, CELL_TEXT, q->key); break;
    case C_METRIC: rc = put(r, CELL_TEXT, q->metric); break;
    case C_COUNT: rc = put_u64(r, s->count); break;
    case C_SUM: rc = put_double(r, s->count ? vg_stats_sum(s) : NAN); break;
    case C_MIN: rc = put_double(r, s->count ? s->min : NAN); break;
    case C_MAX: rc = put_double(r, s->count ? s->max : NAN); break;
    case C_MEAN: rc = put_double(r, vg_stats_mean(s)); break;
    case C_STDDEV: rc = put_double(r, vg_stats_stddev_sample(s)); break;
    case C_STDDEV_POP: rc = put_double(r, vg_stats_stddev_pop(s)); break;
    case C_VAR: rc = put_double(r, vg_stats_var_sample(s)); break;
    case C_VAR_POP: rc = put_double(r, vg_stats_var_pop(s)); break;
    case C_QUANT:
      rc = put_double(r, w->acc.qs ? vg_ddsketch_quantile(w->acc.qs, c->q) : NAN);
      break;
    case C_FIRST: rc = put_double(r, has_fl ? fl->first_v : NAN); break;
    case C_LAST: rc = put_double(r, has_fl ? fl->last_v : NAN); break;
    case C_FIRST_TIME:
      rc = has_fl ? put_time_ns(r, fl->first_t, q->tz) : put(r, CELL_NULL, NULL);
      break;
    case C_LAST_TIME:
      rc = has_fl ? put_time_ns(r, fl->last_t, q->tz) : put(r, CELL_NULL, NULL);
      break;
    case C_DISTINCT: rc = put_distinct(r, &w->acc); break;
    case C_STATUS: rc = put(r, CELL_TEXT, w->final ? "final" : "provisional"); break;
    case C_REVISION: rc = put_u64(r, w->revision); break;
    default: assert(0);
    }
  }
  /* CSV/JSON stream as they go (the snapshot stays open meanwhile); a
   * table must see every row to measure its columns */
  if (!rc && q->fmt != FMT_TABLE && r->n >= 64 * 1024)
    rc = rows_stream(stdout, r, q->fmt);
  return rc;
}

/* --- main ---------------------------------------------------------------- */

struct args {
  const char *data_dir, *config, *resolution, *from, *to, *tz, *format, *match, *stats,
      *limit;
  struct names group_by;
  struct filter f;
};

static int parse_format(const char *s, int *fmt) {
  if (!s)
    *fmt = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_CSV;
  else if (strcmp(s, "table") == 0)
    *fmt = FMT_TABLE;
  else if (strcmp(s, "csv") == 0)
    *fmt = FMT_CSV;
  else if (strcmp(s, "json") == 0)
    *fmt = FMT_JSON;
  else if (strcmp(s, "ndjson") == 0)
    *fmt = FMT_NDJSON;
  else
    return fail(EX_USAGE, "--format '%s': expected table, csv, json or ndjson", s);
  return EX_OK;
}

/* --- --group-by: exact merges of series ---------------------------------- */

struct gwin {
  size_t group; /* index into the group names */
  struct vg_wentry w;
  int partial_qs, partial_hll; /* a member lacked the sketch */
};

struct gather {
  struct gwin *v;
  size_t n, cap;
  size_t group;
};

/* The group key of a series: its metric with only the grouping tags, in
 * canonical form (tags sorted by name, as codec.h; a missing tag is left
 * out, like an empty one). */
static int group_key(const char *key, const struct names *by, char *out, size_t size) {
  char metric[512];
  static struct tag tags[MAX_TAGS];
  int nt;
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt))
    return -1;
  size_t o = (size_t)snprintf(out, size, "%s", metric);
  int first = 1;
  for (int t = 0; t < nt && o < size; t++) { /* tags are sorted in the key */
    if (!names_has(by, tags[t].name) || !tags[t].value[0])
      continue;
    o += (size_t)snprintf(out + o, size - o, "%s%s=\"", first ? "{" : ",", tags[t].name);
    for (const char *v = tags[t].value; *v && o + 3 < size; v++) {
      if (*v == '\\' || *v == '"' || *v == '\n')
        out[o++] = '\\';
      out[o++] = *v == '\n' ? 'n' : *v;
    }
    o += (size_t)snprintf(out + o, o < size ? size - o : 0, "\"");
    first = 0;
  }
  if (!first && o < size)
    o += (size_t)snprintf(out + o, size - o, "}");
  return o < size ? 0 : -1;
}

static int on_gather(const struct vg_wentry *w, void *arg) {
  struct gather *g = arg;
  if (g->n == g->cap) {
    size_t cap = g->cap ? g->cap * 2 : 1024;
    struct gwin *v = realloc(g->v, cap * sizeof *v);
    if (!v)
      return -ENOMEM;
    g->v = v;
    g->cap = cap;
  }
  struct gwin *d = &g->v[g->n];
  d->group = g->group;
  d->w = *w;
  vg_acc_init(&d->w.acc);
  d->partial_qs = w->acc.st.count && !w->acc.qs;
  d->partial_hll = w->acc.st.count && !w->acc.hll;
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  int rc = vg_acc_merge(&d->w.acc, &w->acc, &o); /* a deep copy */
  if (rc) {
    vg_acc_release(&d->w.acc);
    return rc;
  }
  g->n++;
  return 0;
}

static const struct names *sort_groups; /* qsort has no context argument */

static int cmp_gwin(const void *a, const void *b) {
  const struct gwin *x = a, *y = b;
  int c = strcmp(sort_groups->v[x->group], sort_groups->v[y->group]);
  if (c)
    return c;
  return (x->w.start > y->w.start) - (x->w.start < y->w.start);
}

static size_t names_index(const struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return i;
  return SIZE_MAX;
}

/* Reads every selected series, merges the windows of each group and start
 * (vg_acc_merge: sums, M2 by Chan's formula, sketches merged, not
 * averaged), and prints them through on_window. A merged window is final
 * when all its parts are; its revision is the highest. */
static int query_grouped(struct ctx *c, const struct series_list *l, const struct names *by,
                         uint8_t res, int64_t from, int64_t to, struct qrow *q) {
  struct gather g = {0};
  struct names groups = {0};
  int ex = EX_OK;
  for (size_t i = 0; i < l->n; i++) {
    char gk[1024];
    if (group_key(l->v[i].key, by, gk, sizeof gk) || names_add(&groups, gk)) {
      ex = fail(EX_RUNTIME, "cannot group series %s", l->v[i].key);
      goto done;
    }
    g.group = names_index(&groups, gk);
    char e[512] = "";
    int rc = vg_store_read_range(c->rd, l->v[i].id, res, from, to, on_gather, &g, e, sizeof e);
    if (rc) {
      ex = fail(EX_RUNTIME, "cannot read series %s: %s", l->v[i].key,
                e[0] ? e : vg_strerror(rc));
      goto done;
    }
  }
  sort_groups = &groups;
  if (g.n > 1) /* g.v is NULL when no window matched */
    qsort(g.v, g.n, sizeof *g.v, cmp_gwin);
  for (size_t i = 0; i < g.n;) {
    struct gwin *m = &g.v[i];
    size_t j = i + 1;
    for (; j < g.n && g.v[j].group == m->group && g.v[j].w.start == m->w.start; j++) {
      struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
      if (vg_acc_merge(&m->w.acc, &g.v[j].w.acc, &o)) {
        ex = fail(EX_RUNTIME, "out of memory");
        goto done;
      }
      m->w.final &= g.v[j].w.final;
      if (g.v[j].w.revision > m->w.revision)
        m->w.revision = g.v[j].w.revision;
      m->partial_qs |= g.v[j].partial_qs;
      m->partial_hll |= g.v[j].partial_hll;
    }
    /* a quantile or distinct count of only some members would mislead */
    if (m->partial_qs && m->w.acc.qs) {
      vg_ddsketch_free(m->w.acc.qs);
      m->w.acc.qs = NULL;
    }
    if (m->partial_hll && m->w.acc.hll) {
      vg_hll_free(m->w.acc.hll);
      m->w.acc.hll = NULL;
    }
    char metric[512];
    static struct tag tags[MAX_TAGS];
    int nt;
    const char *gk = groups.v[m->group];
    parse_key(gk, strlen(gk), metric, sizeof metric, tags, &nt);
    q->key = gk;
    q->metric = metric;
    int rc = on_window(&m->w, q);
    if (rc < 0) {
      ex = fail(EX_RUNTIME, "cannot write the rows: %s", vg_strerror(rc));
      goto done;
    }
    if (rc > 0)
      break; /* --limit */
    i = j;
  }
done:
  for (size_t i = 0; i < g.n; i++)
    vg_acc_release(&g.v[i].w.acc);
  free(g.v);
  names_release(&groups);
  return ex;
}

static int cmd_query(struct ctx *c, struct args *a, int fmt) {
  int res = VG_RES_BASE;
  if (!a->resolution || strcmp(a->resolution, "1m") == 0 || strcmp(a->resolution, "base") == 0)
    res = VG_RES_BASE;
  else if (strcmp(a->resolution, "1h") == 0)
    res = VG_RES_HOUR;
  else if (strcmp(a->resolution, "1d") == 0)
    res = VG_RES_DAY;
  else
    return fail(EX_USAGE, "--resolution '%s': expected 1m (the base resolution), 1h or 1d",
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
  struct colspec cs = {0};
  struct series_list l = {0};
  struct rows rows = {0};
  char *stats = NULL;
  if (a->stats && !(stats = strdup(a->stats)))
    return fail(EX_RUNTIME, "out of memory");
  int ex = colspec_init(&cs, stats);
  if (ex)
    goto done;
  rows.cols = cs.names;
  rows.ncols = cs.n;
  if ((ex = open_store(c)))
    goto done;
  if ((ex = select_series(c, &a->f, &l)))
    goto done;
  if (a->group_by.n) {
    for (size_t i = 0; i < a->group_by.n; i++)
      if (!names_has(&l.tagnames, a->group_by.v[i])) {
        suggest("tag (--group-by)", a->group_by.v[i], &l.tagnames);
        ex = EX_USAGE;
        goto done;
      }
    struct qrow q = {&rows, &cs, c->tz, NULL, NULL, &left, fmt};
    if ((ex = query_grouped(c, &l, &a->group_by, (uint8_t)res, from, to, &q)))
      goto done;
  }
  for (size_t i = 0; i < l.n && left && !a->group_by.n; i++) {
    char metric[512];
    static struct tag tags[MAX_TAGS];
    int nt;
    parse_key(l.v[i].key, strlen(l.v[i].key), metric, sizeof metric, tags, &nt);
    struct qrow q = {&rows, &cs, c->tz, l.v[i].key, metric, &left, fmt};
    char e[512] = "";
    int rc = vg_store_read_range(c->rd, l.v[i].id, (uint8_t)res, from, to, on_window, &q, e,
                                 sizeof e);
    if (rc < 0) { /* 1: --limit stopped the walk */
      ex = fail(EX_RUNTIME, "cannot %s series %s: %s", e[0] ? "read" : "write the rows of",
                l.v[i].key, e[0] ? e : vg_strerror(rc));
      goto done;
    }  }
  /* the snapshot is no longer needed: end it before printing */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  if (write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  rows_release(&rows);
  series_release(&l);
  colspec_release(&cs);
  free(stats);
  return ex;
}

struct wcount {
  uint64_t n;
  int64_t first, last; /* earliest start, latest end (UTC s) */
};

static int count_window(const struct vg_wentry *w, void *arg) {
  struct wcount *k = arg;
  k->n++;
  if (w->start < k->first)
    k->first = w->start;
  if (w->end > k->last)
    k->last = w->end;
  return 0;
}

static int cmd_series(struct ctx *c, struct args *a, int fmt) {
  static const char *const cols[] = {"series",     "metric",     "tags",      "first_seen",
                                     "windows_1m", "windows_1h", "windows_1d",
                                     "data_from",  "data_to"};
  int ex = open_store(c);
  if (ex)
    return ex;
  struct series_list l = {0};
  struct rows rows = {.cols = cols, .ncols = sizeof cols / sizeof *cols};
  a->f.match = a->match;
  if ((ex = select_series(c, &a->f, &l)))
    goto done;
  for (size_t i = 0; i < l.n && !ex; i++) {
    char metric[512], t[VG_FMT_ISO_MAX], tagtext[4096];
    static struct tag tags[MAX_TAGS];
    int nt, rc;
    parse_key(l.v[i].key, strlen(l.v[i].key), metric, sizeof metric, tags, &nt);
    size_t o = 0;
    tagtext[0] = 0;
    for (int k = 0; k < nt && o < sizeof tagtext; k++)
      o += (size_t)snprintf(tagtext + o, sizeof tagtext - o, "%s%s=%s", k ? " " : "",
                            tags[k].name, tags[k].value);
    vg_fmt_iso(vg_floor_div(l.v[i].first_seen_ns, 1000000000), c->tz, t);
    rc = put(&rows, CELL_TEXT, l.v[i].key);
    rc = rc ? rc : put(&rows, CELL_TEXT, metric);
    rc = rc ? rc : put(&rows, CELL_TEXT, tagtext);
    rc = rc ? rc : put(&rows, CELL_TEXT, t);
    struct wcount k = {0, INT64_MAX, INT64_MIN};
    for (uint8_t res = 0; res < 3 && !rc; res++) {
      char e[512] = "";
      k.n = 0;
      rc = vg_store_read_range(c->rd, l.v[i].id, res, TIME_MIN, TIME_MAX, count_window, &k, e,
                               sizeof e);
      if (rc)
        ex = fail(EX_RUNTIME, "cannot read series %s: %s", l.v[i].key,
                  e[0] ? e : vg_strerror(rc));
      else
        rc = put_u64(&rows, k.n);
    }
    for (int b = 0; b < 2 && !rc; b++) { /* the span its stored windows cover */
      if (k.first == INT64_MAX) {
        rc = put(&rows, CELL_NULL, NULL);
        continue;
      }
      vg_fmt_iso(b ? k.last : k.first, c->tz, t);
      rc = put(&rows, CELL_TEXT, t);
    }
    if (rc && !ex)
      ex = fail(EX_RUNTIME, "out of memory");
  }
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  if (!ex && write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  rows_release(&rows);
  series_release(&l);
  return ex;
}

static int on_pos(const struct vg_store_pos *p, void *arg) {
  struct rows *r = arg;
  char b[VG_FMT_ISO_MAX];
  int rc = put(r, CELL_TEXT, "partition");
  rc = rc ? rc : put(r, CELL_TEXT, p->topic);
  rc = rc ? rc : put_u64(r, p->partition);
  rc = rc ? rc : put_u64(r, (uint64_t)p->next_offset);
  snprintf(b, sizeof b, "%" PRId64, p->max_event_ns);
  rc = rc ? rc : put(r, CELL_NUM, b);
  return rc;
}

static int cmd_status(struct ctx *c, int fmt) {
  static const char *const cols[] = {"kind", "name", "partition", "value", "detail"};
  int ex = open_store(c);
  if (ex)
    return ex;
  /* vg_store_load reads one read-only snapshot: positions and the global
   * watermark in one consistent view, without knowing the topics */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  struct rows rows = {.cols = cols, .ncols = sizeof cols / sizeof *cols};
  struct vg_store_state s;
  char err[512] = "", b[VG_FMT_ISO_MAX], n[64];
  int rc = vg_store_load(c->st, NULL, on_pos, &rows, &s, err, sizeof err);
  if (rc) {
    ex = fail(EX_RUNTIME, "cannot read the store's state: %s", err[0] ? err : vg_strerror(rc));
    goto done;
  }
  /* max event time of partitions as ISO instants */
  for (size_t i = 0; i < rows.n; i += rows.ncols) {
    struct cell *cell = &rows.c[i + 4];
    int64_t ns = strtoll(cell->s, NULL, 10);
    free(cell->s);
    if (ns == INT64_MIN) {
      *cell = (struct cell){NULL, CELL_NULL};
      continue;
    }
    vg_fmt_iso(vg_floor_div(ns, 1000000000), c->tz, b);
    snprintf(n, sizeof n, "max_event_time=%s", b);
    cell->s = strdup(n);
    cell->kind = CELL_TEXT;
    if (!cell->s) {
      ex = fail(EX_RUNTIME, "out of memory");
      goto done;
    }
  }
  struct vg_store_stat stt;
  rc = put(&rows, CELL_TEXT, "watermark");
  rc = rc ? rc : put(&rows, CELL_TEXT, "global");
  rc = rc ? rc : put(&rows, CELL_NULL, NULL);
  if (s.watermark_ns == INT64_MIN) {
    rc = rc ? rc : put(&rows, CELL_NULL, NULL);
    rc = rc ? rc : put(&rows, CELL_TEXT, "none committed");
  } else {
    vg_fmt_iso(vg_floor_div(s.watermark_ns, 1000000000), c->tz, b);
    snprintf(n, sizeof n, "%" PRId64, s.watermark_ns);
    rc = rc ? rc : put(&rows, CELL_NUM, n);
    rc = rc ? rc : put(&rows, CELL_TEXT, b);
  }
  rc = rc ? rc : put(&rows, CELL_TEXT, "epoch");
  rc = rc ? rc : put(&rows, CELL_TEXT, "last_committed");
  rc = rc ? rc : put(&rows, CELL_NULL, NULL);
  rc = rc ? rc : put_u64(&rows, s.epoch);
  rc = rc ? rc : put(&rows, CELL_NULL, NULL);
  if (!rc && vg_store_stat(c->st, &stt) == 0) {
    const char *names[] = {"used_bytes", "map_bytes", "series", "open_windows", "segments",
                           "emit_records"};
    uint64_t vals[] = {stt.used_bytes, stt.map_bytes,    stt.series,
                       stt.open_windows, stt.segments, stt.emit_records};
    for (int i = 0; i < 6 && !rc; i++) {
      rc = put(&rows, CELL_TEXT, "store");
      rc = rc ? rc : put(&rows, CELL_TEXT, names[i]);
      rc = rc ? rc : put(&rows, CELL_NULL, NULL);
      rc = rc ? rc : put_u64(&rows, vals[i]);
      if (i == 0 && stt.map_bytes) {
        snprintf(n, sizeof n, "%.1f%% of the map", 100.0 * (double)stt.used_bytes /
                                                      (double)stt.map_bytes);
        rc = rc ? rc : put(&rows, CELL_TEXT, n);
      } else {
        rc = rc ? rc : put(&rows, CELL_NULL, NULL);
      }
    }
  }
  if (rc)
    ex = fail(EX_RUNTIME, "out of memory");
  else if (write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  rows_release(&rows);
  return ex;
}

int main(int argc, char **argv) {
  enum { O_DATA = 1000, O_CONFIG, O_RES, O_METRIC, O_WHERE, O_FROM, O_TO, O_TZ, O_FORMAT,
         O_MATCH, O_STATS, O_LIMIT, O_GROUP, O_HELP };
  static const struct option opts[] = {
      {"data-dir", required_argument, 0, O_DATA}, {"config", required_argument, 0, O_CONFIG},
      {"resolution", required_argument, 0, O_RES}, {"metric", required_argument, 0, O_METRIC},
      {"where", required_argument, 0, O_WHERE},   {"from", required_argument, 0, O_FROM},
      {"to", required_argument, 0, O_TO},         {"tz", required_argument, 0, O_TZ},
      {"format", required_argument, 0, O_FORMAT}, {"match", required_argument, 0, O_MATCH},
      {"stats", required_argument, 0, O_STATS},   {"limit", required_argument, 0, O_LIMIT},
      {"group-by", required_argument, 0, O_GROUP},
      {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
  struct args a = {0};
  struct ctx c = {0};
  struct vg_config cfg;
  int have_cfg = 0, ex = EX_OK, opt;
  const char *cmd = NULL;
  static char buf[1 << 16];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  a.f.where = calloc((size_t)argc, sizeof *a.f.where);
  if (!a.f.where)
    return fail(EX_RUNTIME, "out of memory");
  opterr = 0;
  /* options may come before or after the command (GNU getopt permutes) */
  while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1 || optind < argc) {
    if (opt == -1) {
      if (cmd) {
        ex = fail(EX_USAGE, "unexpected argument '%s' (see --help)", argv[optind]);
        goto done;
      }
      cmd = argv[optind++];
      continue;
    }
    switch (opt) {
    case O_DATA: a.data_dir = optarg; break;
    case O_CONFIG: a.config = optarg; break;
    case O_RES: a.resolution = optarg; break;
    case O_METRIC:
      if (names_add(&a.f.metrics, optarg)) {
        ex = fail(EX_RUNTIME, "out of memory");
        goto done;
      }
      break;
    case O_WHERE:
      if (!strchr(optarg, '=') || optarg[0] == '=' || (optarg[0] == '!' && optarg[1] == '=')) {
        ex = fail(EX_USAGE, "--where '%s': expected TAG=VALUE or TAG!=VALUE", optarg);
        goto done;
      }
      a.f.where[a.f.nwhere++] = optarg;
      break;
    case O_FROM: a.from = optarg; break;
    case O_TO: a.to = optarg; break;
    case O_TZ: a.tz = optarg; break;
    case O_FORMAT: a.format = optarg; break;
    case O_MATCH: a.match = optarg; break;
    case O_STATS: a.stats = optarg; break;
    case O_LIMIT: a.limit = optarg; break;
    case O_GROUP: {
      char *save = NULL, *list = strdup(optarg);
      int rc = list ? 0 : -ENOMEM;
      for (char *t = list ? strtok_r(list, ",", &save) : NULL; t && !rc;
           t = strtok_r(NULL, ",", &save))
        rc = names_add(&a.group_by, t);
      free(list);
      if (rc) {
        ex = fail(EX_RUNTIME, "out of memory");
        goto done;
      }
      break;
    }
    case 'h':
    case O_HELP: fputs(usage_text, stdout); goto done;
    case ':':
      ex = fail(EX_USAGE, "%s needs a value (see --help)", argv[optind - 1]);
      goto done;
    default:
      ex = fail(EX_USAGE, "unknown option '%s' (see --help)", argv[optind - 1]);
      goto done;
    }
  }
  if (!cmd) {
    fputs(usage_text, stderr);
    ex = EX_USAGE;
    goto done;
  }
  int fmt = FMT_CSV;
  if ((ex = parse_format(a.format, &fmt)))
    goto done;
  char err[4096] = "";
  if (a.config) {
    int rc = vg_config_load(a.config, &cfg, err, sizeof err);
    if (rc) {
      ex = fail(rc == -ENOMEM ? EX_RUNTIME : EX_USAGE, "%s", err[0] ? err : vg_strerror(rc));
      goto done;
    }
    have_cfg = 1;
  }
  c.dir = a.data_dir ? a.data_dir : have_cfg ? cfg.data_dir : NULL;
  if (!c.dir) {
    ex = fail(EX_USAGE, "give the store with --data-dir DIR or --config FILE");
    goto done;
  }
  const char *zone = a.tz ? a.tz : have_cfg && cfg.timezone ? cfg.timezone : "UTC";
  if (vg_tz_load(zone, &c.tz, err, sizeof err)) {
    ex = fail(EX_USAGE, "%s '%s': %s", a.tz ? "--tz" : "timezone", zone, err);
    goto done;
  }
  c.base_s = have_cfg ? cfg.base_ns / 1000000000 : 60;
  if (strcmp(cmd, "query") == 0) {
    ex = cmd_query(&c, &a, fmt);
  } else if (strcmp(cmd, "series") == 0) {
    ex = cmd_series(&c, &a, fmt);
  } else if (strcmp(cmd, "status") == 0) {
    ex = cmd_status(&c, fmt);
  } else if (strcmp(cmd, "sql") == 0 || strcmp(cmd, "plot") == 0) {
    ex = fail(EX_USAGE, "'%s' is not implemented yet (issue 7)", cmd);
  } else {
    ex = fail(EX_USAGE, "unknown command '%s' (query, series, status; see --help)", cmd);
  }
done:
  vg_store_reader_end(c.rd);
  vg_store_close(c.st);
  vg_tz_free(c.tz);
  if (have_cfg)
    vg_config_release(&cfg);
  names_release(&a.f.metrics);
  names_release(&a.group_by);
  free(a.f.where);
  if (fflush(stdout) != 0 && ex == EX_OK)
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
  return ex;
}
