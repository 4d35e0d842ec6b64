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
#include "vigie/kafka.h"
#include "vigie/text.h"
#include "vigie/publish.h"
#include "vigie/store.h"
#include "vigie/tz.h"
#include "vigie/wstats.h"

#include "vigieq_sql.h"

enum { EX_OK = 0, EX_RUNTIME = 1, EX_USAGE = 2, EX_STORE = 3 };
enum fmt { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_NDJSON, FMT_PLOT /* plot: SVG */ };
enum kind { CELL_TEXT, CELL_NUM, CELL_NULL };

#define TIME_MIN (-(1LL << 36))
#define TIME_MAX (1LL << 36)

static const char *usage_text =
    "usage: vigieq [--data-dir DIR | --config FILE] COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  query   [--resolution 1m|1h|1d] [--metric NAME]... [--where TAG=VALUE]...\n"
    "          [--from TIME] [--to TIME] [--tz ZONE] [--format table|csv|json|ndjson]\n"
    "          [--stats LIST] [--limit N] [--group-by TAG[,TAG]]\n"
    "          [--fill none|null|previous]\n"
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
    "          --fill null writes a row (status gap, empty statistics) for each\n"
    "          window without data between --from and --to (else between the\n"
    "          first and last stored window); --fill previous carries the last\n"
    "          stored window's values into the gap rows; none (default) omits them.\n"
    "  series  [--metric NAME] [--where TAG=VALUE]... [--match GLOB] [--format F]\n"
    "          the series with their tags and windows per resolution\n"
    "  plot    [the options of query, but --format and --stats] [--output FILE]\n"
    "          [--unit TEXT]  an SVG chart of the query (to FILE, else stdout):\n"
    "          one line of means per series, its min-max band, a local-time\n"
    "          axis in --tz, title and legend\n"
    "  status  [--format F]  per source partition the stored offset, the\n"
    "          broker's end offset and the lag (with --config), the watermark,\n"
    "          the provisional and final windows held, store size and map use\n"
    "  sql     [--tz ZONE] [--format F] \"SELECT ...\"  one read-only SQLite statement\n"
    "          over the tables series, rollup_1m, rollup_1h, rollup_1d (docs/vigieq.md)\n"
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
  char *s; /* in the rows' text blocks; NULL when CELL_NULL */
  uint32_t len;
  int kind;
};

/* The cells' text, in blocks that never move (a cell points into one):
 * one copy per cell and no allocation per cell. */
struct textblock {
  struct textblock *next;
  size_t used, cap;
  char data[];
};

struct rows {
  const char *const *cols;
  size_t ncols;
  struct cell *c;
  size_t n, cap;  /* cells */
  struct textblock *text; /* the block being filled first */
  int started;    /* streamed: the header is out */
  size_t written; /* streamed: rows already out */
};

/* Makes room for one more element in the array whose pointer is at pv (a
 * T **: n used of *cap, each size bytes), doubling from first. 0 or -ENOMEM
 * (the array unchanged). The pointer is moved with memcpy: a T * is read
 * and written as what it is, not through a void ** lvalue. */
static int grow(void *pv, size_t n, size_t *cap, size_t size, size_t first) {
  if (n < *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : first;
  void *old, *p;
  memcpy(&old, pv, sizeof old);
  if (!(p = realloc(old, c * size)))
    return -ENOMEM;
  memcpy(pv, &p, sizeof p);
  *cap = c;
  return 0;
}

/* Appends a cell of len bytes of s (NUL-terminated there). */
static int put_len(struct rows *r, int kind, const char *s, size_t len) {
  if (grow(&r->c, r->n, &r->cap, sizeof *r->c, 1024))
    return -ENOMEM;
  char *d = NULL;
  if (kind != CELL_NULL) {
    struct textblock *b = r->text;
    if (!b || b->cap - b->used < len + 1) {
      size_t cap = len + 1 > 65536 ? len + 1 : 65536;
      if (!(b = malloc(sizeof *b + cap)))
        return -ENOMEM;
      *b = (struct textblock){r->text, 0, cap};
      r->text = b;
    }
    d = memcpy(b->data + b->used, s, len + 1);
    b->used += len + 1;
  } else {
    len = 0;
  }
  r->c[r->n++] = (struct cell){d, (uint32_t)len, kind};
  return 0;
}

static int put(struct rows *r, int kind, const char *s) {
  return put_len(r, kind, s, kind == CELL_NULL ? 0 : strlen(s));
}

/* Drops every cell; keep_one keeps the first block for the next rows. */
static void rows_clear(struct rows *r, int keep_one) {
  struct textblock *b = r->text, *keep = keep_one ? b : NULL;
  if (keep) {
    b = b->next;
    keep->next = NULL;
    keep->used = 0;
  }
  while (b) {
    struct textblock *next = b->next;
    free(b);
    b = next;
  }
  r->text = keep;
  r->n = 0;
}

static int put_double(struct rows *r, double v) {
  if (!isfinite(v))
    return put(r, CELL_NULL, NULL);
  char b[VG_FMT_DOUBLE_MAX];
  return put_len(r, CELL_NUM, b, vg_fmt_double(v, b));
}

static int put_u64(struct rows *r, uint64_t v) {
  char b[24], *p = b + sizeof b - 1; /* no printf: counts are on every row */
  *p = 0;
  do
    *--p = (char)('0' + v % 10);
  while (v /= 10);
  return put_len(r, CELL_NUM, p, (size_t)(b + sizeof b - 1 - p));
}

static void rows_release(struct rows *r) {
  rows_clear(r, 0);
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
      /* a row is gathered in line and written at once; a cell that needs
       * quotes goes through vg_csv_field */
      char line[4096];
      size_t o = 0;
      for (size_t j = 0; j < r->ncols; j++) {
        const struct cell *c = &r->c[i * r->ncols + j];
        int plain = c->kind != CELL_TEXT || !c->len; /* numbers never need quotes */
        if (!plain && c->len < 256 && c->s[0] != ' ' && c->s[c->len - 1] != ' ') {
          plain = 1;
          for (const char *s = c->s; *s && plain; s++)
            plain = *s != ',' && *s != '"' && *s != '\r' && *s != '\n';
        }
        if (o + 260 > sizeof line || !plain) {
          fwrite_unlocked(line, 1, o, out);
          o = 0;
        }
        if (j)
          line[o++] = ',';
        if (plain) {
          memcpy(line + o, c->s ? c->s : "", c->len);
          o += c->len;
        } else {
          fwrite_unlocked(line, 1, o, out);
          o = 0;
          vg_csv_field(out, c->s, c->len);
        }
      }
      line[o++] = '\r';
      line[o++] = '\n';
      fwrite_unlocked(line, 1, o, out);
    } else if (fmt == FMT_JSON) {
      fputs(r->written + i ? ",\n" : "\n", out);
      write_json_row(out, r, i);
    } else {
      write_json_row(out, r, i);
      putc('\n', out);
    }
  }
  r->written += nrows;
  rows_clear(r, 1);
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
  const char *store_zone; /* the zone of the store's hours and days */
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

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --where TAG=VALUE with a plain VALUE (no glob) that no series has: a usage
 * error naming the closest values of TAG. The values are sorted and made
 * unique first, so that a store of many series costs n log n, not n^2. */
static int check_where_value(const struct series_list *l, const char *name,
                             const char *value) {
  if (strpbrk(value, "*?[\\"))
    return EX_OK;
  struct names vals = {0};
  static struct tag tags[MAX_TAGS];
  char metric[512];
  int nt, found = 0, ex = EX_OK;
  for (size_t i = 0; i < l->n && !found; i++) {
    if (parse_key(l->v[i].key, strlen(l->v[i].key), metric, sizeof metric, tags, &nt))
      continue;
    for (int t = 0; t < nt && !found; t++) {
      if (strcmp(tags[t].name, name) != 0)
        continue;
      found = strcmp(tags[t].value, value) == 0;
      if (grow(&vals.v, vals.n, &vals.cap, sizeof *vals.v, 64) ||
          !(vals.v[vals.n] = strdup(tags[t].value)))
        goto oom;
      vals.n++;
    }
  }
  if (!found) {
    qsort(vals.v, vals.n, sizeof *vals.v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < vals.n; i++) {
      if (k && strcmp(vals.v[k - 1], vals.v[i]) == 0)
        free(vals.v[i]);
      else
        vals.v[k++] = vals.v[i];
    }
    vals.n = k;
    char what[160];
    snprintf(what, sizeof what, "--where %s value", name);
    suggest(what, value, &vals);
    ex = EX_USAGE;
  }
  names_release(&vals);
  return ex;
oom:
  names_release(&vals);
  return fail(EX_RUNTIME, "out of memory");
}

/* Loads the dictionary, checks the filter's names and plain tag values
 * against it (usage errors with suggestions) and keeps the matching series,
 * sorted by key. */
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
    int ex = eq[-1] == '!' ? EX_OK : check_where_value(l, name, eq + 1);
    if (ex)
      return ex;
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
    case C_REVISION: rc = q->gap ? put(r, CELL_NULL, NULL) : put_u64(r, w->revision); break;
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
  int64_t from, to;      /* TIME_MIN / TIME_MAX when not given */
  int64_t next;          /* start of the next window; INT64_MIN before the first */
  struct vg_calendar cal;
  struct vg_wentry prev; /* FILL_PREVIOUS: a deep copy of the last stored window */
  int has_prev;
  struct qrow *q;
  char err[512];
};

static int fill_mismatch(struct fill *f, int64_t start) {
  char t[VG_FMT_ISO_MAX];
  vg_fmt_iso(start, f->q->tz, t);
  snprintf(f->err, sizeof f->err,
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
  if ((rc = on_window(w, f->q)))
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

/* --- plot: an SVG chart of a query --------------------------------------- */

/* The chart is drawn from the rows a query made (columns start_datetime,
 * end_datetime, series, metric, mean, min, max): one line of means per
 * series, broken where windows are missing or empty, the min-max band
 * under it where min and max are kept, a time axis with ticks at local
 * hours, days, months or years of --tz, a value axis with round steps, a
 * title and a legend. The plot area's mapping is repeated as data-*
 * attributes so that a reader (a test) can turn points back into values. */

enum { PLOT_W = 1000, PLOT_H = 480, PLOT_L = 72, PLOT_R = 270, PLOT_T = 44, PLOT_B = 56 };

struct ppoint {
  int64_t start, end;
  double mean, min, max;
  size_t series; /* row index of the series' first row (its key cell) */
};

static void xml_text(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&apos;", out); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n')
        putc(*s, out); /* other control bytes are not XML */
    }
  }
}

/* A series' legend: its tags as name=value (the metric too when the chart
 * has several), the whole key as a tooltip. */
static void legend_label(FILE *out, const char *key, int with_metric) {
  static struct tag tags[MAX_TAGS];
  char metric[512];
  int nt;
  fputs("<title>", out);
  xml_text(out, key);
  fputs("</title>", out);
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt) || (!nt && !with_metric)) {
    xml_text(out, key);
    return;
  }
  if (with_metric || !nt)
    xml_text(out, metric);
  for (int t = 0; t < nt; t++) {
    fputs(t || with_metric ? " " : "", out);
    xml_text(out, tags[t].name);
    putc('=', out);
    xml_text(out, tags[t].value);
  }
}

/* "P1, P2 (unit)": the metrics of the chart and the unit when given. */
static void plot_label(FILE *out, const struct names *metrics, const char *unit) {
  for (size_t m = 0; m < metrics->n; m++) {
    fputs(m ? ", " : "", out);
    xml_text(out, metrics->v[m]);
  }
  if (unit) {
    fputs(" (", out);
    xml_text(out, unit);
    fputs(")", out);
  }
}

static double cell_num(const struct cell *c) {
  return c->kind == CELL_NULL ? NAN : strtod(c->s, NULL);
}

/* A round step (1, 2 or 5 times a power of ten) for about n intervals. */
static double nice_step(double range, int n) {
  double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* Time ticks: every `step` local hours, days, months or years. */
enum { TICK_HOUR, TICK_DAY, TICK_MONTH, TICK_YEAR };

static void time_ticks(FILE *out, struct vg_calendar *cal, int64_t t0, int64_t t1, double px0,
                       double pxs) {
  static const struct {
    int kind, step;
    int64_t len;
  } kinds[] = {{TICK_HOUR, 1, 3600},         {TICK_HOUR, 2, 7200},
               {TICK_HOUR, 3, 10800},        {TICK_HOUR, 6, 21600},
               {TICK_HOUR, 12, 43200},       {TICK_DAY, 1, 86400},
               {TICK_DAY, 2, 172800},        {TICK_DAY, 7, 604800},
               {TICK_MONTH, 1, 2629800},     {TICK_MONTH, 3, 7889400},
               {TICK_MONTH, 6, 15778800},    {TICK_YEAR, 1, 31557600},
               {TICK_YEAR, 5, 157788000},    {TICK_YEAR, 10, 315576000},
               {TICK_YEAR, 50, 1577880000},  {TICK_YEAR, 100, 3155760000}};
  size_t k = 0;
  while (k + 1 < sizeof kinds / sizeof *kinds && (t1 - t0) / kinds[k].len > 8)
    k++;
  int kind = kinds[k].kind, step = kinds[k].step;
  struct vg_span s = kind == TICK_HOUR ? vg_calendar_hour(cal, t0) : vg_calendar_day(cal, t0);
  int64_t t = s.start < t0 ? s.end : s.start;
  char iso[VG_FMT_ISO_MAX], label[16];
  double last_x = -1e9;
  for (int n = 0; t <= t1 && n < 100000; n++) {
    vg_fmt_iso(t, cal->tz, iso); /* YYYY-MM-DDTHH:MM:SS+hh:mm, local */
    int y = atoi(iso), mo = atoi(iso + 5), d = atoi(iso + 8), h = atoi(iso + 11), on;
    switch (kind) {
    case TICK_HOUR:
      on = h % step == 0;
      if (h == 0)
        snprintf(label, sizeof label, "%.5s", iso + 5);
      else
        snprintf(label, sizeof label, "%.5s", iso + 11);
      break;
    case TICK_DAY:
      on = (d - 1) % step == 0;
      snprintf(label, sizeof label, "%.10s", iso);
      break;
    case TICK_MONTH:
      on = d == 1 && (mo - 1) % step == 0;
      snprintf(label, sizeof label, "%.7s", iso);
      break;
    default:
      on = d == 1 && mo == 1 && y % step == 0;
      snprintf(label, sizeof label, "%.4s", iso);
    }
    double x = px0 + (double)(t - t0) * pxs;
    if (on && x - last_x >= 64) { /* a label needs room: skip a tick too close */
      last_x = x;
      fprintf(out,
              "<line class=\"tick\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" "
              "stroke=\"#ddd\"/>\n<text class=\"tick-label\" data-time=\"%" PRId64
              "\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
              x, PLOT_T, x, PLOT_H - PLOT_B, t, x, PLOT_H - PLOT_B + 18, label);
    }
    s = kind == TICK_HOUR ? vg_calendar_hour(cal, t) : vg_calendar_day(cal, t);
    t = s.end;
  }
}

static int write_plot(FILE *out, const struct rows *r, const struct vg_tz *tz, const char *res,
                      const char *unit) {
  static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                       "#bcbd22", "#17becf"};
  size_t nrows = r->n / r->ncols, nser = 0, maxleg = (PLOT_H - PLOT_T - PLOT_B) / 18;
  struct ppoint *p = calloc(nrows ? nrows : 1, sizeof *p);
  struct names metrics = {0};
  if (!p)
    return -ENOMEM;
  int64_t t0 = INT64_MAX, t1 = INT64_MIN;
  double y0 = INFINITY, y1 = -INFINITY;
  int rc = 0, band = 0;
  char err[128];
  for (size_t i = 0; i < nrows && !rc; i++) {
    const struct cell *c = &r->c[i * r->ncols];
    /* columns: start, end, series, metric, mean, min, max */
    if (vg_parse_time(c[0].s, tz, 0, &p[i].start, err, sizeof err) ||
        vg_parse_time(c[1].s, tz, 0, &p[i].end, err, sizeof err))
      rc = -EINVAL;
    p[i].series = i && strcmp(c[2].s, r->c[p[i - 1].series * r->ncols + 2].s) == 0
                      ? p[i - 1].series
                      : i;
    nser += p[i].series == i;
    rc = rc ? rc : names_add(&metrics, c[3].s);
    p[i].mean = cell_num(&c[4]);
    p[i].min = cell_num(&c[5]);
    p[i].max = cell_num(&c[6]);
    t0 = p[i].start < t0 ? p[i].start : t0;
    t1 = p[i].end > t1 ? p[i].end : t1;
    for (int k = 0; k < 3; k++) {
      double v = k == 0 ? p[i].mean : k == 1 ? p[i].min : p[i].max;
      if (isfinite(v)) {
        y0 = v < y0 ? v : y0;
        y1 = v > y1 ? v : y1;
      }
    }
    band |= isfinite(p[i].min) && isfinite(p[i].max);
  }
  if (rc)
    goto done;
  if (!nrows) {
    t0 = 0;
    t1 = 1;
  }
  if (!(y0 <= y1)) { /* no value at all */
    y0 = 0;
    y1 = 1;
  }
  if (y0 == y1) {
    double d = y0 ? fabs(y0) / 10 : 1;
    y0 -= d;
    y1 += d;
  }
  double ystep = nice_step(y1 - y0, 5);
  y0 = floor(y0 / ystep) * ystep;
  y1 = ceil(y1 / ystep) * ystep;
  const double pw = PLOT_W - PLOT_L - PLOT_R, ph = PLOT_H - PLOT_T - PLOT_B;
  const double pxs = pw / (double)(t1 - t0), pys = ph / (y1 - y0);
#define PX(t) (PLOT_L + (double)((t) - t0) * pxs)
#define PY(v) (PLOT_T + ph - ((v) - y0) * pys)
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\">",
          PLOT_W, PLOT_H, PLOT_W, PLOT_H, PLOT_L);
  plot_label(out, &metrics, unit);
  fprintf(out, ": %s mean%s</text>\n", res, band ? " and min\xe2\x80\x93max band" : "");
  fprintf(out,
          "<g class=\"plot\" data-x=\"%d\" data-y=\"%d\" data-width=\"%.0f\" "
          "data-height=\"%.0f\" data-t0=\"%" PRId64 "\" data-t1=\"%" PRId64
          "\" data-y0=\"%.17g\" data-y1=\"%.17g\">\n",
          PLOT_L, PLOT_T, pw, ph, t0, t1, y0, y1);
  for (int k = 0; k <= (int)llround((y1 - y0) / ystep); k++) {
    double v = y0 + k * ystep, y = PY(v);
    char b[VG_FMT_DOUBLE_MAX];
    vg_fmt_double(fabs(v) < ystep * 1e-9 ? 0 : v, b);
    fprintf(out,
            "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" "
            "stroke=\"#eee\"/>\n<text class=\"tick-label\" x=\"%d\" y=\"%.2f\" "
            "text-anchor=\"end\">%s</text>\n",
            PLOT_L, y, PLOT_L + pw, y, PLOT_L - 6, y + 4, b);
  }
  struct vg_calendar cal;
  if (vg_calendar_init(&cal, tz, 60) == 0)
    time_ticks(out, &cal, t0, t1, PLOT_L, pxs);
  fprintf(out,
          "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
          "fill=\"none\" stroke=\"#888\"/>\n"
          "<text class=\"axis-label\" x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">local time "
          "(",
          PLOT_L, PLOT_T, pw, ph, PLOT_L + pw / 2, PLOT_H - 12);
  xml_text(out, vg_tz_name(tz));
  fprintf(out, ")</text>\n<text class=\"axis-label\" transform=\"translate(16 %.0f) "
               "rotate(-90)\" text-anchor=\"middle\">",
          PLOT_T + ph / 2);
  plot_label(out, &metrics, unit);
  fputs("</text>\n", out);
  size_t si = 0;
  for (size_t i = 0; i < nrows; si++) {
    size_t j = i;
    while (j < nrows && p[j].series == p[i].series)
      j++;
    const char *color = colors[si % (sizeof colors / sizeof *colors)];
    const char *key = r->c[i * r->ncols + 2].s;
    /* the band: one closed shape per run of adjacent windows with min and max */
    int any = 0;
    for (size_t a = i; a < j;) {
      size_t b = a;
      if (!(isfinite(p[a].min) && isfinite(p[a].max))) {
        a++;
        continue;
      }
      while (b + 1 < j && isfinite(p[b + 1].min) && isfinite(p[b + 1].max) &&
             p[b + 1].start == p[b].end)
        b++;
      if (!any) {
        fprintf(out, "<path class=\"band\" data-series=\"");
        xml_text(out, key);
        fprintf(out, "\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", color);
        any = 1;
      }
      for (size_t k = a; k <= b; k++)
        fprintf(out, "%c%.2f %.2f ", k == a ? 'M' : 'L', PX((p[k].start + p[k].end) / 2),
                PY(p[k].max));
      for (size_t k = b + 1; k-- > a;)
        fprintf(out, "L%.2f %.2f ", PX((p[k].start + p[k].end) / 2), PY(p[k].min));
      fputs("Z ", out);
      a = b + 1;
    }
    if (any)
      fputs("\"/>\n", out);
    /* the line: a point per window with a mean, broken at missing windows */
    fprintf(out, "<path class=\"line\" data-series=\"");
    xml_text(out, key);
    fprintf(out, "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                 "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"", color);
    int open = 0;
    for (size_t k = i; k < j; k++) {
      if (!isfinite(p[k].mean)) {
        open = 0;
        continue;
      }
      int cont = open && p[k].start == p[k - 1].end;
      int next = k + 1 < j && isfinite(p[k + 1].mean) && p[k + 1].start == p[k].end;
      fprintf(out, "%c%.2f %.2f ", cont ? 'L' : 'M', PX((p[k].start + p[k].end) / 2),
              PY(p[k].mean));
      if (!cont && !next)
        fputs("Z ", out); /* a lone window: a dot (round cap) */
      open = 1;
    }
    fputs("\"/>\n", out);
    /* the legend, as many series as fit, then how many more */
    double ly = PLOT_T + 10 + (double)si * 18;
    if (si + 1 == maxleg && nser > maxleg)
      fprintf(out, "<text class=\"legend\" x=\"%.0f\" y=\"%.0f\">and %zu more</text>\n",
              PLOT_L + pw + 38, ly + 4, nser - si);
    if (si + 1 >= maxleg && nser > maxleg) {
      i = j;
      continue;
    }
    fprintf(out,
            "<line class=\"legend-mark\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
            "stroke=\"%s\" stroke-width=\"3\"/>\n<text class=\"legend\" x=\"%.0f\" "
            "y=\"%.0f\">",
            PLOT_L + pw + 12, ly, PLOT_L + pw + 32, ly, color, PLOT_L + pw + 38, ly + 4);
    legend_label(out, key, metrics.n > 1);
    fputs("</text>\n", out);
    i = j;
  }
  if (!nrows)
    fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">no data</text>\n",
            PLOT_L + pw / 2, PLOT_T + ph / 2);
  fputs("</g>\n</svg>\n", out);
#undef PX
#undef PY
done:
  names_release(&metrics);
  free(p);
  if (!rc && (fflush(out) || ferror(out)))
    rc = -EIO;
  return rc;
}

/* --- main ---------------------------------------------------------------- */

struct args {
  const char *data_dir, *config, *resolution, *from, *to, *tz, *format, *match, *stats,
      *limit, *fill, *output, *unit;
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
                         uint8_t res, int64_t from, int64_t to, struct fill *f) {
  struct qrow *q = f->q;
  char metric[512];
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
    static struct tag tags[MAX_TAGS];
    int nt, rc = 0;
    const char *gk = groups.v[m->group];
    if (q->key != gk) { /* a new group: the previous one's trailing gaps first */
      rc = q->key ? fill_end(f) : 0;
      parse_key(gk, strlen(gk), metric, sizeof metric, tags, &nt);
      q->key = gk;
      q->metric = metric;
    }
    rc = rc ? rc : fill_window(&m->w, f);
    if (rc == 0 && j == g.n)
      rc = fill_end(f);
    if (rc < 0) {
      ex = f->err[0] ? fail(EX_USAGE, "%s", f->err)
                     : fail(EX_RUNTIME, "cannot write the rows: %s", vg_strerror(rc));
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
  if (want && !(stats = strdup(want))) {
    ex = fail(EX_RUNTIME, "out of memory");
    goto done;
  }
  ex = colspec_init(&cs, stats);
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
    struct qrow q = {.rows = &rows, .cs = &cs, .tz = c->tz, .left = &left, .fmt = fmt};
    fill.q = &q;
    if ((ex = query_grouped(c, &l, &a->group_by, (uint8_t)res, from, to, &fill)))
      goto done;
  }
  for (size_t i = 0; i < l.n && left && !a->group_by.n; i++) {
    char metric[512];
    static struct tag tags[MAX_TAGS];
    int nt;
    parse_key(l.v[i].key, strlen(l.v[i].key), metric, sizeof metric, tags, &nt);
    struct qrow q = {.rows = &rows, .cs = &cs, .tz = c->tz, .key = l.v[i].key,
                     .metric = metric, .left = &left, .fmt = fmt};
    char e[512] = "";
    fill.q = &q;
    int rc = vg_store_read_range(c->rd, l.v[i].id, (uint8_t)res, from, to, fill_window, &fill,
                                 e, sizeof e);
    if (rc == 0)
      rc = fill_end(&fill);
    if (rc < 0 && fill.err[0]) {
      ex = fail(EX_USAGE, "%s", fill.err);
      goto done;
    }
    if (rc < 0) { /* 1: --limit stopped the walk */
      ex = fail(EX_RUNTIME, "cannot %s series %s: %s", e[0] ? "read" : "write the rows of",
                l.v[i].key, e[0] ? e : vg_strerror(rc));
      goto done;
    }  }
  /* the snapshot is no longer needed: end it before printing */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  if (fmt == FMT_PLOT) {
    FILE *out = a->output ? fopen(a->output, "w") : stdout;
    int rc = out ? write_plot(out, &rows, c->tz, a->resolution ? a->resolution : "1m",
                              a->unit)
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

/* --- status -------------------------------------------------------------- */

struct pos_row {
  char *topic;
  uint32_t partition;
  int64_t next_offset, max_event_ns;
  int64_t end; /* the broker's end offset; -1 when unknown */
  char note[256];
};

struct status_scan {
  struct pos_row *v;
  size_t n, cap;
  uint64_t open[3][2]; /* the writer's windows per resolution: [res][final] */
};

static int scan_add(struct status_scan *s, const char *topic, uint32_t partition,
                    int64_t next_offset, int64_t max_event_ns) {
  if (grow(&s->v, s->n, &s->cap, sizeof *s->v, 16))
    return -ENOMEM;
  char *t = strdup(topic);
  if (!t)
    return -ENOMEM;
  s->v[s->n++] = (struct pos_row){t, partition, next_offset, max_event_ns, -1, ""};
  return 0;
}

static int on_pos(const struct vg_store_pos *p, void *arg) {
  return scan_add(arg, p->topic, p->partition, p->next_offset, p->max_event_ns);
}

/* vg_kafka_list_partitions' callback: a source partition the store has no
 * position for yet (never consumed) gets a row too. */
static void on_source_partition(void *arg, const char *topic, int32_t partition, int32_t n) {
  struct status_scan *s = arg;
  (void)n;
  for (size_t i = 0; i < s->n; i++)
    if (s->v[i].partition == (uint32_t)partition && strcmp(s->v[i].topic, topic) == 0)
      return;
  if (scan_add(s, topic, (uint32_t)partition, -1, INT64_MIN) == 0)
    snprintf(s->v[s->n - 1].note, sizeof s->v[s->n - 1].note, "no position stored yet");
}

static int cmp_pos_row(const void *a, const void *b) {
  const struct pos_row *x = a, *y = b;
  int c = strcmp(x->topic, y->topic);
  return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static int on_open_window(const struct vg_wentry *w, void *arg) {
  struct status_scan *s = arg;
  if (w->res < 3)
    s->open[w->res][w->final ? 1 : 0]++;
  return 0;
}

/* Asks the brokers for each partition's end offset. Failing that, *note
 * says why (and the partitions' end stays -1); a partition the broker does
 * not know gets its own note. */
static void status_ends(const struct vg_config *cfg, struct status_scan *s, char *note,
                        size_t note_size) {
  if (!cfg) {
    snprintf(note, note_size, "no --config: the brokers are not known");
    return;
  }
  if (!cfg->kafka_brokers || strcmp(cfg->kafka_brokers, "embedded") == 0) {
    snprintf(note, note_size, "the embedded broker lives inside vigied: no end offsets");
    return;
  }
  if (!s->n && !cfg->nsources)
    return;
  /* the config's properties (TLS, SASL), then quiet: a broker that does
   * not answer is said once in the note, not logged by librdkafka */
  size_t np = cfg->kafka_properties.n;
  const char **props = calloc(np + 5, sizeof *props);
  if (!props) {
    snprintf(note, note_size, "out of memory");
    return;
  }
  for (size_t i = 0; i < np; i++)
    props[i] = cfg->kafka_properties.v[i];
  props[np] = "log_level";
  props[np + 1] = "0";
  props[np + 2] = "socket.connection.setup.timeout.ms";
  props[np + 3] = "2000";
  struct vg_kafka_conf kc = {.brokers = cfg->kafka_brokers, .client_id = "vigieq",
                             .properties = props};
  struct vg_kafka_consumer *k = NULL;
  char err[512] = "";
  if (vg_kafka_consumer_new(&k, &kc, err, sizeof err)) {
    snprintf(note, note_size, "brokers %s: %s", cfg->kafka_brokers, err);
    free(props);
    return;
  }
  /* the sources' partitions, from one metadata request: it also tells
   * whether the brokers answer at all */
  const char **topics = calloc(cfg->nsources + 1, sizeof *topics);
  int reached = 0;
  for (size_t i = 0; topics && i < cfg->nsources; i++)
    topics[i] = cfg->sources[i].topic;
  int rc = topics && cfg->nsources
               ? vg_kafka_list_partitions(k, topics, cfg->nsources, 2500, on_source_partition,
                                          s, err, sizeof err)
               : VG_ENOTFOUND;
  free(topics);
  if (rc == 0) {
    reached = 1;
    qsort(s->v, s->n, sizeof *s->v, cmp_pos_row);
  } else if (rc == VG_ENOTFOUND && cfg->nsources) { /* they answer; a source topic is gone */
    reached = 1;
    snprintf(note, note_size, "%s", err);
  } else if (rc != VG_ENOTFOUND) { /* the stored positions stay, without lag */
    snprintf(note, note_size, "brokers %s not reachable (%s): no lag", cfg->kafka_brokers,
             err);
    vg_kafka_consumer_free(k);
    free(props);
    return;
  }
  for (size_t i = 0; i < s->n; i++) {
    err[0] = 0;
    /* a short wait: the first answer tells whether the brokers are up */
    if (vg_kafka_end_offset(k, s->v[i].topic, (int32_t)s->v[i].partition,
                            reached ? 5000 : 2500, &s->v[i].end, err, sizeof err) == 0) {
      reached = 1;
      continue;
    }
    s->v[i].end = -1;
    if (!reached) {
      snprintf(note, note_size, "brokers %s not reachable (%s): no lag", cfg->kafka_brokers,
               err);
      break;
    }
    snprintf(s->v[i].note, sizeof s->v[i].note, "%s", err);
  }
  vg_kafka_consumer_free(k);
  free(props);
}

static int put_row(struct rows *r, const char *kind, const char *name, int64_t partition,
                   const char *value, const char *detail) {
  int rc = put(r, CELL_TEXT, kind);
  rc = rc ? rc : put(r, CELL_TEXT, name);
  rc = rc ? rc : partition < 0 ? put(r, CELL_NULL, NULL) : put_u64(r, (uint64_t)partition);
  rc = rc ? rc : put(r, value ? CELL_NUM : CELL_NULL, value);
  rc = rc ? rc : put(r, CELL_NULL, NULL); /* end_offset */
  rc = rc ? rc : put(r, CELL_NULL, NULL); /* lag */
  rc = rc ? rc : put(r, detail ? CELL_TEXT : CELL_NULL, detail);
  return rc;
}

static int cmd_status(struct ctx *c, const struct vg_config *cfg, int fmt) {
  static const char *const cols[] = {"kind",       "name", "partition", "value",
                                     "end_offset", "lag",  "detail"};
  int ex = open_store(c);
  if (ex)
    return ex;
  /* vg_store_load reads one read-only snapshot: positions, the kept
   * windows and the global watermark in one consistent view */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  struct rows rows = {.cols = cols, .ncols = sizeof cols / sizeof *cols};
  struct status_scan scan = {0};
  struct vg_store_state s;
  struct vg_store_stat stt;
  char err[512] = "", b[VG_FMT_ISO_MAX], n[64], v[32], note[1024] = "", d[512];
  int rc = vg_store_load(c->st, on_open_window, on_pos, &scan, &s, err, sizeof err);
  int have_stat = rc == 0 && vg_store_stat(c->st, &stt) == 0;
  if (rc) {
    ex = fail(EX_RUNTIME, "cannot read the store's state: %s", err[0] ? err : vg_strerror(rc));
    goto done;
  }
  status_ends(cfg, &scan, note, sizeof note);
  for (size_t i = 0; i < scan.n && !rc; i++) {
    const struct pos_row *p = &scan.v[i];
    rc = put(&rows, CELL_TEXT, "partition");
    rc = rc ? rc : put(&rows, CELL_TEXT, p->topic);
    rc = rc ? rc : put_u64(&rows, p->partition);
    rc = rc ? rc
            : p->next_offset >= 0 ? put_u64(&rows, (uint64_t)p->next_offset)
                                  : put(&rows, CELL_NULL, NULL);
    rc = rc ? rc : p->end >= 0 ? put_u64(&rows, (uint64_t)p->end) : put(&rows, CELL_NULL, NULL);
    if (p->end >= 0 && p->next_offset >= 0) {
      /* lag: what the broker holds that the store has not counted */
      snprintf(v, sizeof v, "%" PRId64, p->end - p->next_offset);
      rc = rc ? rc : put(&rows, CELL_NUM, v);
    } else {
      rc = rc ? rc : put(&rows, CELL_NULL, NULL);
    }
    d[0] = 0;
    if (p->max_event_ns != INT64_MIN) {
      vg_fmt_iso(vg_floor_div(p->max_event_ns, 1000000000), c->tz, b);
      snprintf(d, sizeof d, "max_event_time=%s", b);
    }
    if (p->note[0])
      snprintf(d + strlen(d), sizeof d - strlen(d), "%s%s", d[0] ? "; " : "", p->note);
    rc = rc ? rc : put(&rows, d[0] ? CELL_TEXT : CELL_NULL, d);
  }
  if (note[0]) {
    fprintf(stderr, "vigieq: note: %s\n", note);
    rc = rc ? rc : put_row(&rows, "broker", cfg && cfg->kafka_brokers ? cfg->kafka_brokers : "",
                           -1, NULL, note);
  }
  if (s.watermark_ns == INT64_MIN) {
    rc = rc ? rc : put_row(&rows, "watermark", "global", -1, NULL, "none committed");
  } else {
    vg_fmt_iso(vg_floor_div(s.watermark_ns, 1000000000), c->tz, b);
    snprintf(n, sizeof n, "%" PRId64, s.watermark_ns);
    rc = rc ? rc : put_row(&rows, "watermark", "global", -1, n, b);
  }
  snprintf(n, sizeof n, "%" PRIu64, s.epoch);
  rc = rc ? rc : put_row(&rows, "epoch", "last_committed", -1, n, NULL);
  /* the windows vigied holds: provisional ones, and final ones kept for
   * late corrections; the rest of the final windows are in segments */
  static const char *const status_names[2] = {"provisional", "final_open"};
  for (int f = 0; f < 2 && !rc; f++) {
    uint64_t (*o)[2] = scan.open;
    snprintf(n, sizeof n, "%" PRIu64, o[0][f] + o[1][f] + o[2][f]);
    snprintf(d, sizeof d, "1m=%" PRIu64 " 1h=%" PRIu64 " 1d=%" PRIu64, o[0][f], o[1][f],
             o[2][f]);
    rc = put_row(&rows, "windows", status_names[f], -1, n, d);
  }
  if (!rc && have_stat) {
    const char *names[] = {"used_bytes", "map_bytes", "series", "open_windows", "segments",
                           "emit_records"};
    uint64_t vals[] = {stt.used_bytes, stt.map_bytes,    stt.series,
                       stt.open_windows, stt.segments, stt.emit_records};
    for (int i = 0; i < 6 && !rc; i++) {
      snprintf(n, sizeof n, "%" PRIu64, vals[i]);
      d[0] = 0;
      if (i == 0 && stt.map_bytes)
        snprintf(d, sizeof d, "%.1f%% of the map",
                 100.0 * (double)stt.used_bytes / (double)stt.map_bytes);
      if (i == 3)
        snprintf(d, sizeof d, "rows of open: kept windows and final ones waiting for "
                              "their segment");
      rc = put_row(&rows, "store", names[i], -1, n, d[0] ? d : NULL);
    }
  }
  if (rc)
    ex = fail(EX_RUNTIME, "out of memory");
  else if (write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  for (size_t i = 0; i < scan.n; i++)
    free(scan.v[i].topic);
  free(scan.v);
  rows_release(&rows);
  return ex;
}

/* --- sql (the tables are vigieq_sql.c's) ---------------------------------- */

static int cmd_sql(struct ctx *c, const char *sql, int fmt) {
  if (!sql)
    return fail(EX_USAGE, "sql needs a statement, like: vigieq sql \"SELECT * FROM series\"");
  int ex = open_store(c);
  if (ex)
    return ex;
  struct vgq_sql *q = NULL;
  struct rows rows = {0};
  char **names = NULL, err[1024] = "";
  int n = 0, rc = vgq_sql_open(&q, c->rd, c->tz, err, sizeof err);
  if (rc) {
    ex = fail(EX_RUNTIME, "sql: %s", err);
    goto done;
  }
  /* the whole statement reads the snapshot open_store began */
  if ((rc = vgq_sql_prepare(q, sql, err, sizeof err))) {
    ex = fail(rc == -EINVAL ? EX_USAGE : EX_RUNTIME, "sql: %s", err);
    goto done;
  }
  n = vgq_sql_ncols(q);
  if (!(names = calloc((size_t)n + 1, sizeof *names)))
    rc = -ENOMEM;
  for (int i = 0; i < n && !rc; i++)
    if (!(names[i] = strdup(vgq_sql_colname(q, i))))
      rc = -ENOMEM;
  rows.cols = (const char *const *)names;
  rows.ncols = (size_t)n;
  while (!rc && (rc = vgq_sql_step(q, err, sizeof err)) == 1) {
    rc = 0;
    for (int i = 0; i < n && !rc; i++) {
      const char *t;
      int kind = vgq_sql_cell(q, i, &t);
      rc = put(&rows, kind == VGQ_TEXT ? CELL_TEXT : kind == VGQ_NUM ? CELL_NUM : CELL_NULL, t);
    }
    if (!rc && fmt != FMT_TABLE && rows.n >= 64 * 1024)
      rc = rows_stream(stdout, &rows, fmt);
  }
  if (rc < 0) {
    ex = err[0] ? fail(rc == -EINVAL ? EX_USAGE : EX_RUNTIME, "sql: %s", err)
                : fail(EX_RUNTIME, "sql: %s", vg_strerror(rc));
    goto done;
  }
  /* the snapshot is no longer needed: end it before printing */
  vg_store_reader_end(c->rd);
  c->rd = NULL;
  if (n && write_rows(stdout, &rows, fmt))
    ex = fail(EX_RUNTIME, "cannot write the output: %s", strerror(errno));
done:
  if (q && getenv("VIGIEQ_SQL_STATS")) {
    const struct vgq_sql_stats *st = vgq_sql_stats(q);
    fprintf(stderr, "vigieq: sql: %" PRIu64 " scans, %" PRIu64 " series visited, %" PRIu64
            " windows read, %" PRIu64 " scans with a time range\n", st->filters,
            st->series_visited, st->windows_read, st->ranges_narrowed);
  }
  vgq_sql_close(q);
  rows_release(&rows);
  for (int i = 0; names && i < n; i++)
    free(names[i]);
  free(names);
  return ex;
}

int main(int argc, char **argv) {
  enum { O_DATA = 1000, O_CONFIG, O_RES, O_METRIC, O_WHERE, O_FROM, O_TO, O_TZ, O_FORMAT,
         O_MATCH, O_STATS, O_LIMIT, O_GROUP, O_FILL, O_OUTPUT, O_UNIT,
         O_HELP };
  static const struct option opts[] = {
      {"data-dir", required_argument, 0, O_DATA}, {"config", required_argument, 0, O_CONFIG},
      {"resolution", required_argument, 0, O_RES}, {"metric", required_argument, 0, O_METRIC},
      {"where", required_argument, 0, O_WHERE},   {"from", required_argument, 0, O_FROM},
      {"to", required_argument, 0, O_TO},         {"tz", required_argument, 0, O_TZ},
      {"format", required_argument, 0, O_FORMAT}, {"match", required_argument, 0, O_MATCH},
      {"stats", required_argument, 0, O_STATS},   {"limit", required_argument, 0, O_LIMIT},
      {"group-by", required_argument, 0, O_GROUP}, {"fill", required_argument, 0, O_FILL},
      {"output", required_argument, 0, O_OUTPUT}, {"unit", required_argument, 0, O_UNIT},
      {"help", no_argument, 0, O_HELP},           {0, 0, 0, 0}};
  struct args a = {0};
  struct ctx c = {0};
  struct vg_config cfg;
  int have_cfg = 0, ex = EX_OK, opt;
  const char *cmd = NULL, *sql = NULL;
  static char buf[1 << 16];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  a.f.where = calloc((size_t)argc, sizeof *a.f.where);
  if (!a.f.where)
    return fail(EX_RUNTIME, "out of memory");
  opterr = 0;
  /* options may come before or after the command (GNU getopt permutes) */
  while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1 || optind < argc) {
    if (opt == -1) {
      if (cmd && !sql && strcmp(cmd, "sql") == 0) {
        sql = argv[optind++];
        continue;
      }
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
    case O_FILL: a.fill = optarg; break;
    case O_OUTPUT: a.output = optarg; break;
    case O_UNIT: a.unit = optarg; break;
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
  /* the store's own zone: the config's; without one, --tz is taken for it */
  c.store_zone = have_cfg && cfg.timezone ? cfg.timezone : zone;
  if (strcmp(cmd, "query") == 0) {
    ex = cmd_query(&c, &a, fmt);
  } else if (strcmp(cmd, "series") == 0) {
    ex = cmd_series(&c, &a, fmt);
  } else if (strcmp(cmd, "status") == 0) {
    ex = cmd_status(&c, have_cfg ? &cfg : NULL, fmt);
  } else if (strcmp(cmd, "plot") == 0) {
    ex = cmd_query(&c, &a, FMT_PLOT);
  } else if (strcmp(cmd, "sql") == 0) {
    ex = cmd_sql(&c, sql, fmt);
  } else {
    ex = fail(EX_USAGE, "unknown command '%s' (query, series, status, plot, sql; see --help)",
              cmd);
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
