/*
 * vigieq: the analysts' query tool. It opens the LMDB store read-only (a
 * reader process: safe while vigied writes, every command reads one
 * snapshot) and prints rollup windows, the series dictionary or the
 * ingestion status as a table, RFC 4180 CSV, JSON or NDJSON.
 *
 * Rows are built as cells first (text, number or empty) and printed by one
 * writer per format (vigieq_out.c), so every command shares the formats,
 * and the table can measure its columns. Formatting itself lives in
 * engine/publish (publish.h), which the HTTP API reuses. This file holds
 * the command line, the opening of the store and the series and sql
 * commands; vigieq.h lists the others.
 *
 * Exit codes: 0 ok; 1 runtime error (a damaged store, an I/O error);
 * 2 usage error (bad option, bad time, unknown metric or tag -- with the
 * closest existing names); 3 no usable store (missing, locked, or written
 * in a newer format).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigie/calendar.h"
#include "vigie/config.h"
#include "vigie/error.h"
#include "vigie/publish.h"
#include "vigie/store.h"
#include "vigie/tz.h"

#include "vigieq.h"

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
    "  reshard --shards N  rewrites the store (vigied stopped) split into N shards\n"
    "          (store.shards); the old one is kept beside it as DIR.pre-reshard-M\n"
    "  copy    DEST  a hot copy of the store into the new directory DEST, while\n"
    "          vigied runs or not (LMDB's compacting copy, shard by shard): a\n"
    "          vigied started on it resumes at its stored offsets (docs/store.md)\n"
    "\n"
    "  --where TAG=VALUE matches a tag (VALUE may be a glob); TAG!=VALUE excludes.\n"
    "  TIME: YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (in --tz), with Z or +HH:MM,\n"
    "  a relative time like -7d, -12h, -30m, or now. --to is exclusive.\n"
    "  --tz defaults to the config's timezone, else UTC. --format defaults to\n"
    "  table on a terminal, csv otherwise. 1m means the base resolution.\n"
    "\n"
    "exit codes: 0 ok, 1 runtime error, 2 usage error, 3 store missing, locked\n"
    "or of a newer format.\n";

__attribute__((format(printf, 2, 3))) int fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("vigieq: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

static void reshard_progress(uint64_t done, uint64_t total, void *ctx) {
  const int *tty = ctx;
  if (*tty)
    fprintf(stderr, "\rvigieq: re-sharding: %" PRIu64 " of %" PRIu64 " rows (%.0f%%)",
            done, total, total ? 100.0 * (double)done / (double)total : 100.0);
}

/* reshard --shards N: the store rewritten with N shards (vigied stopped). */
static int cmd_reshard(struct ctx *c, struct args *a) {
  char *end;
  long n = a->shards ? strtol(a->shards, &end, 10) : 0;
  if (!a->shards || *end || n < 1 || n > VG_STORE_MAX_SHARDS)
    return fail(EX_USAGE, "reshard needs --shards N, 1 to %d", VG_STORE_MAX_SHARDS);
  int tty = isatty(STDERR_FILENO);
  char err[1024] = "";
  int rc =
      vg_store_reshard(c->dir, (unsigned)n, 0, reshard_progress, &tty, err, sizeof err);
  if (tty)
    fputc('\n', stderr);
  if (rc)
    return fail(rc == VG_ECONFIG ? EX_USAGE : EX_RUNTIME, "%s",
                err[0] ? err : vg_strerror(rc));
  fprintf(stderr, "vigieq: %s now has %ld shard%s (store.shards: %ld)\n", c->dir, n,
          n == 1 ? "" : "s", n);
  return EX_OK;
}

/* copy DEST: a hot copy of the store (vg_store_copy). */
static int cmd_copy(struct ctx *c, const char *dest) {
  if (!dest)
    return fail(EX_USAGE, "copy needs the new directory: vigieq copy DEST");
  int ex = open_store(c);
  if (ex)
    return ex;
  struct vg_store_copy_stat st;
  char err[1024] = "";
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int rc = vg_store_copy(c->st, dest, &st, err, sizeof err);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  if (rc)
    return fail(rc == -EEXIST ? EX_USAGE : EX_RUNTIME, "%s",
                err[0] ? err : vg_strerror(rc));
  fprintf(stderr,
          "vigieq: copied %s to %s (%u shard%s, %.1f MiB) in %.1f s; a vigied with "
          "data_dir: %s resumes at its stored offsets\n",
          c->dir, dest, st.shards, st.shards == 1 ? "" : "s",
          (double)st.bytes / (1024.0 * 1024.0),
          (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
          dest);
  return EX_OK;
}

int open_store(struct ctx *c) {
  struct stat sb;
  char path[4096];
  if (stat(c->dir, &sb) != 0)
    return fail(EX_STORE, "no store at '%s': %s", c->dir, strerror(errno));
  snprintf(path, sizeof path, "%s/data.mdb", c->dir);
  if (stat(path, &sb) != 0)
    return fail(EX_STORE,
                "no store at '%s': data.mdb is missing (has vigied run with this "
                "data_dir?)",
                c->dir);
  struct vg_store_opts o = {.path = c->dir, .readonly = 1};
  char err[512] = "";
  int rc = vg_store_open(&o, &c->st, err, sizeof err);
  if (rc == VG_EVERSION)
    return fail(EX_STORE,
                "the store at '%s' has a format this vigieq does not know (a newer "
                "vigied?): %s",
                c->dir, err);
  if (rc == -EAGAIN || rc == -EBUSY || rc == -EACCES || rc == -EPERM)
    return fail(EX_STORE, "the store at '%s' is locked or not readable: %s", c->dir,
                err[0] ? err : vg_strerror(rc));
  if (rc)
    return fail(EX_STORE, "cannot open the store at '%s': %s", c->dir,
                err[0] ? err : vg_strerror(rc));
  rc = vg_store_reader_begin(c->st, &c->rd);
  if (rc)
    return fail(EX_STORE, "cannot read the store at '%s': %s", c->dir, vg_strerror(rc));
  return EX_OK;
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
  static const char *const cols[] = {"series",     "metric",     "tags",
                                     "first_seen", "windows_1m", "windows_1h",
                                     "windows_1d", "data_from",  "data_to"};
  int ex = open_store(c);
  if (ex)
    return ex;
  struct series_list l = {0};
  struct rows rows = {.cols = cols, .ncols = sizeof cols / sizeof *cols};
  a->f.match = a->match;
  ex = select_series(c, &a->f, &l);
  if (ex)
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
      rc = vg_store_read_range(c->rd, l.v[i].id, res, TIME_MIN, TIME_MAX, count_window,
                               &k, e, sizeof e);
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

/* --- sql (the tables are vigieq_sql.c's) ---------------------------------- */

static int cmd_sql(struct ctx *c, const char *sql, int fmt) {
  if (!sql)
    return fail(EX_USAGE,
                "sql needs a statement, like: vigieq sql \"SELECT * FROM series\"");
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
  rc = vgq_sql_prepare(q, sql, err, sizeof err);
  if (rc) {
    ex = fail(rc == -EINVAL ? EX_USAGE : EX_RUNTIME, "sql: %s", err);
    goto done;
  }
  n = vgq_sql_ncols(q);
  names = calloc((size_t)n + 1, sizeof *names);
  if (!names)
    rc = -ENOMEM;
  for (int i = 0; i < n && !rc; i++) {
    names[i] = strdup(vgq_sql_colname(q, i));
    if (!names[i])
      rc = -ENOMEM;
  }
  rows.cols = (const char *const *)names;
  rows.ncols = (size_t)n;
  while (!rc && (rc = vgq_sql_step(q, err, sizeof err)) == 1) {
    rc = 0;
    for (int i = 0; i < n && !rc; i++) {
      const char *t;
      int kind = vgq_sql_cell(q, i, &t);
      rc = put(&rows,
               kind == VGQ_TEXT  ? CELL_TEXT
               : kind == VGQ_NUM ? CELL_NUM
                                 : CELL_NULL,
               t);
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
    fprintf(stderr,
            "vigieq: sql: %" PRIu64 " scans, %" PRIu64 " series visited, %" PRIu64
            " windows read, %" PRIu64 " scans with a time range\n",
            st->filters, st->series_visited, st->windows_read, st->ranges_narrowed);
  }
  vgq_sql_close(q);
  rows_release(&rows);
  for (int i = 0; names && i < n; i++)
    free(names[i]);
  free(names);
  return ex;
}

int main(int argc, char **argv) {
  enum {
    O_DATA = 1000,
    O_CONFIG,
    O_RES,
    O_METRIC,
    O_WHERE,
    O_FROM,
    O_TO,
    O_TZ,
    O_FORMAT,
    O_MATCH,
    O_STATS,
    O_LIMIT,
    O_GROUP,
    O_FILL,
    O_OUTPUT,
    O_UNIT,
    O_SHARDS,
    O_HELP
  };
  static const struct option opts[] = {{"data-dir", required_argument, 0, O_DATA},
                                       {"config", required_argument, 0, O_CONFIG},
                                       {"resolution", required_argument, 0, O_RES},
                                       {"metric", required_argument, 0, O_METRIC},
                                       {"where", required_argument, 0, O_WHERE},
                                       {"from", required_argument, 0, O_FROM},
                                       {"to", required_argument, 0, O_TO},
                                       {"tz", required_argument, 0, O_TZ},
                                       {"format", required_argument, 0, O_FORMAT},
                                       {"match", required_argument, 0, O_MATCH},
                                       {"stats", required_argument, 0, O_STATS},
                                       {"limit", required_argument, 0, O_LIMIT},
                                       {"group-by", required_argument, 0, O_GROUP},
                                       {"fill", required_argument, 0, O_FILL},
                                       {"output", required_argument, 0, O_OUTPUT},
                                       {"unit", required_argument, 0, O_UNIT},
                                       {"shards", required_argument, 0, O_SHARDS},
                                       {"help", no_argument, 0, O_HELP},
                                       {0, 0, 0, 0}};
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
      if (cmd && !sql && (strcmp(cmd, "sql") == 0 || strcmp(cmd, "copy") == 0)) {
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
      if (!strchr(optarg, '=') || optarg[0] == '=' ||
          (optarg[0] == '!' && optarg[1] == '=')) {
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
    case O_SHARDS: a.shards = optarg; break;
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
  ex = parse_format(a.format, &fmt);
  if (ex)
    goto done;
  char err[4096] = "";
  if (a.config) {
    int rc = vg_config_load(a.config, &cfg, err, sizeof err);
    if (rc) {
      ex = fail(rc == -ENOMEM ? EX_RUNTIME : EX_USAGE, "%s",
                err[0] ? err : vg_strerror(rc));
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
  } else if (strcmp(cmd, "reshard") == 0) {
    ex = cmd_reshard(&c, &a);
  } else if (strcmp(cmd, "copy") == 0) {
    ex = cmd_copy(&c, sql);
  } else {
    ex =
        fail(EX_USAGE,
             "unknown command '%s' (query, series, status, plot, sql, reshard, copy; see "
             "--help)",
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
