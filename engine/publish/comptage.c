/*
 * The mobility-count schema's files of a dataset (comptage.h): sites,
 * channels and measures as CSV (comma, no BOM, CRLF, RFC 4180 quoting, UTC
 * datetimes written with Z), and the Frictionless data package that
 * describes them. Every file is one pass over the dataset's rows (status
 * filter and privacy applied), series by series and in time order, resumable
 * like the exports' scans: between two rows only the scan's cursor, the end
 * of the series' last window and the sites written are kept, so a file of
 * any length streams in bounded memory.
 *
 * The Table Schemas below restate, field by field, the columns of the
 * etalab schemas (site, channel, measure) of version VG_CM_SCHEMA_VERSION:
 * names and order, types, required fields, and the enums and patterns of the
 * columns Vigie fills.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigie/array.h"
#include "vigie/comptage.h"
#include "vigie/error.h"
#include "vigie/jsonw.h"
#include "vigie/publish.h"

static const char *const file_names[VG_CM_NFILES] = {"sites.csv", "channels.csv",
                                                     "measures.csv", "datapackage.json"};

const char *vg_cm_file_name(int file) {
  return file >= 0 && file < VG_CM_NFILES ? file_names[file] : NULL;
}

int vg_cm_file_of(const char *name) {
  for (int i = 0; i < VG_CM_NFILES; i++)
    if (strcmp(file_names[i], name) == 0)
      return i;
  return -1;
}

/* ---- the schemas ------------------------------------------------------------ */

static const char *const mobility_types[] = {"BIKE",        "TWO WHEELS MOTORIZED",
                                             "PEDESTRIAN",  "E-SCOOTER",
                                             "HORSE-RIDER", "CAR",
                                             "BUS",         "MINIBUS",
                                             "TRUCK",       "VAN",
                                             "TRAMWAY",     "CANOE",
                                             "UNDEFINED",   NULL};
static const char *const directions[] = {"N", "NW", "NE", "W", "SW",
                                         "S", "SE", "E",  NULL};
static const char *const temporalities[] = {"TEMPORARY", "PERMANENT", NULL};
static const char *const counter_transmissions[] = {"REMOTE TRANSMISSION", "MANUAL",
                                                    NULL};
static const char *const publication_transmissions[] = {"API", "MANUAL", NULL};

/* A comma-separated list of mobility types (the schema's pattern). */
#define MOBILITY_PATTERN                                                                 \
  "(?:(?:^|,)(BIKE|TWO WHEELS MOTORIZED|PEDESTRIAN|E\\-SCOOTER|HORSE\\-RIDER|CAR|BUS|"   \
  "MINIBUS|TRUCK|VAN|TRAMWAY|CANOE|UNDEFINED))+$"
#define INSEE_PATTERN "^([013-9]\\d|2[AB1-9])\\d{3}$"

struct cfield {
  const char *name, *type;
  int required;
  const char *const *choices; /* enum, or NULL */
  const char *pattern;        /* or NULL */
  double min, max;            /* a range when min < max */
};

static const struct cfield site_fields[] = {
    {"site_id", "string", 1, NULL, NULL, 0, 0},
    {"parent_site_id", "string", 0, NULL, NULL, 0, 0},
    {"site_name", "string", 1, NULL, NULL, 0, 0},
    {"fr_insee_code", "string", 0, NULL, INSEE_PATTERN, 0, 0},
    {"xlong", "number", 1, NULL, NULL, -180, 180},
    {"ylat", "number", 1, NULL, NULL, -90, 90},
    {"external_ids", "string", 0, NULL, NULL, 0, 0},
    {"infrastructure_type", "string", 0, NULL, NULL, 0, 0},
    {0}};

static const struct cfield channel_fields[] = {
    {"channel_id", "string", 1, NULL, NULL, 0, 0},
    {"channel_provider_id", "string", 0, NULL, NULL, 0, 0},
    {"site_provider_id", "string", 0, NULL, NULL, 0, 0},
    {"site_id", "string", 1, NULL, NULL, 0, 0},
    {"mobility_type", "string", 0, NULL, MOBILITY_PATTERN, 0, 0},
    {"comment", "string", 0, NULL, NULL, 0, 0},
    {"counter_transmission_type", "string", 0, counter_transmissions, NULL, 0, 0},
    {"publication_transmission_type", "string", 0, publication_transmissions, NULL, 0, 0},
    {"counter_type", "string", 0, NULL, NULL, 0, 0},
    {"direction", "string", 0, directions, NULL, 0, 0},
    {"provider_direction_code", "string", 0, NULL, NULL, 0, 0},
    {"provider_direction_name", "string", 0, NULL, NULL, 0, 0},
    {"data_provider_name", "string", 0, NULL, NULL, 0, 0},
    {"temporality", "string", 0, temporalities, NULL, 0, 0},
    {"started_at", "datetime", 1, NULL, NULL, 0, 0},
    {"ended_at", "datetime", 0, NULL, NULL, 0, 0},
    {"last_updated_at", "datetime", 0, NULL, NULL, 0, 0},
    {"time_step", "number", 0, NULL, NULL, 0, 0},
    {"provider_portal_url", "string", 0, NULL, NULL, 0, 0},
    {0}};

static const struct cfield measure_fields[] = {
    {"channel_id", "string", 1, NULL, NULL, 0, 0},
    {"counter_id", "string", 0, NULL, NULL, 0, 0},
    {"start_datetime", "datetime", 1, NULL, NULL, 0, 0},
    {"end_datetime", "datetime", 0, NULL, NULL, 0, 0},
    {"count", "number", 0, NULL, NULL, 0, 0},
    {0}};

static const struct cfield *const file_fields[] = {site_fields, channel_fields,
                                                   measure_fields};

static int in_list(const char *const *l, const char *v) {
  for (; *l; l++)
    if (strcmp(*l, v) == 0)
      return 1;
  return 0;
}

int vg_cm_mobility_ok(const char *v) {
  return v && in_list(mobility_types, v);
}

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* The schema's pattern: ([013-9]digit | 2[AB1-9]) then three digits. */
int vg_cm_insee_ok(const char *v) {
  if (!v || strlen(v) != 5 || !is_digit(v[2]) || !is_digit(v[3]) || !is_digit(v[4]))
    return 0;
  if (v[0] == '2')
    return v[1] == 'A' || v[1] == 'B' || (is_digit(v[1]) && v[1] != '0');
  return is_digit(v[0]) && is_digit(v[1]);
}

/* ---- rows of one channel (pure) ------------------------------------------------ */

/* The slots of [from, to) as rows of count gap. */
static int fill_gap(int64_t from, int64_t to, double gap,
                    int64_t (*next)(int64_t t, void *nctx), void *nctx, vg_cm_row_fn cb,
                    void *ctx) {
  for (int64_t t = from; t < to;) {
    int64_t e = next(t, nctx);
    if (e <= t || e > to)
      e = to; /* never past the next window */
    int rc = cb(t, e, gap, ctx);
    if (rc)
      return rc;
    t = e;
  }
  return 0;
}

int vg_cm_fill(const struct vg_cm_win *w, size_t n, double gap,
               int64_t (*next)(int64_t t, void *nctx), void *nctx, vg_cm_row_fn cb,
               void *ctx) {
  for (size_t i = 0; i < n; i++) {
    int rc = i ? fill_gap(w[i - 1].end, w[i].start, gap, next, nctx, cb, ctx) : 0;
    if (!rc)
      rc = cb(w[i].start, w[i].end, w[i].count, ctx);
    if (rc)
      return rc;
  }
  return 0;
}

/* ---- ids ---------------------------------------------------------------------- */

static size_t append(char *buf, size_t size, size_t o, const char *s) {
  int k = snprintf(buf + o, o < size ? size - o : 0, "%s%s", o ? "-" : "", s);
  return o + (k > 0 ? (size_t)k : 0);
}

int vg_cm_channel_id(const struct vg_dataset *ds, const struct vg_dataset_series *s,
                     char *buf, size_t size) {
  const struct vg_dataset_def *c = vg_dataset_definition(ds);
  if (!s->entity || !size)
    return -1;
  size_t o = append(buf, size, 0, s->entity);
  for (size_t i = 0; i < c->tag_columns.n; i++)
    if (s->tags[i] && strcmp(c->tag_columns.v[i], c->entity_tag) != 0)
      o = append(buf, size, o, s->tags[i]);
  if (c->metrics.n > 1)
    o = append(buf, size, o, s->metric);
  return o < size ? 0 : -1;
}

/* ---- the files, streamed ----------------------------------------------------------- */

#define ID_MAX 512

struct chan {
  char id[ID_MAX]; /* "" when the series is not published (no site) */
};

/* One file being written: the scan's cursor and, for the series at hand,
 * the end of its last window -- nothing else is kept between rows, so a
 * file of any length streams in chunks, each from its own reader. */
struct vg_cm_stream {
  const struct vg_dataset *ds;
  struct vg_dataset_series_list l;
  struct vg_dataset_scan sc;
  struct chan *ch;
  int file;
  FILE *out;
  int sum_field;
  int suppress;    /* suppress_below is set: a 0 would be a count under k */
  size_t cur;      /* the series of the last row; SIZE_MAX: none yet */
  int64_t cur_end; /* the end of its last window */
  char **sites;    /* sites.csv: the sites written */
  size_t nsites, capsites;
  char *pkg; /* the data package: written whole by the first chunk */
  int started;
};

static void fmt_utc(int64_t t, char buf[32]) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void cell(FILE *out, const char *s, int first) {
  if (!first)
    putc(',', out);
  if (s)
    vg_csv_field(out, s, strlen(s), ',');
}

static void cell_num(FILE *out, double v) {
  char buf[VG_FMT_DOUBLE_MAX];
  putc(',', out);
  if (isfinite(v))
    fwrite(buf, 1, vg_fmt_double(v, buf), out);
}

static void header(FILE *out, const struct cfield *f) {
  for (size_t i = 0; f[i].name; i++)
    cell(out, f[i].name, i == 0);
  fputs("\r\n", out);
}

static const char *lookup(const struct vg_strlist *l, const char *key) {
  for (size_t i = 0; i + 1 < l->n; i += 2)
    if (strcmp(l->v[i], key) == 0)
      return l->v[i + 1];
  return NULL;
}

static void site_row(struct vg_cm_stream *p, const struct vg_dataset_series *s) {
  const struct vg_dataset_def *c = vg_dataset_definition(p->ds);
  const char *name = lookup(&c->site_names, s->entity);
  double lat = 0, lon = 0;
  char x[32], y[32];
  vg_dataset_coords(p->ds, s->entity, &lat, &lon);
  snprintf(x, sizeof x, "%.6f", lon);
  snprintf(y, sizeof y, "%.6f", lat);
  const char *v[] = {
      s->entity, NULL, name ? name : s->entity, lookup(&c->insee_codes, s->entity), x, y,
      NULL,      NULL};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    cell(p->out, v[i], i == 0);
  fputs("\r\n", p->out);
}

static void channel_row(struct vg_cm_stream *p, const struct vg_dataset_series *s,
                        const struct chan *ch, int64_t first) {
  const struct vg_dataset_def *c = vg_dataset_definition(p->ds);
  char started[32], step[32];
  fmt_utc(first, started);
  snprintf(step, sizeof step, "%d", vg_dataset_res(p->ds) == VG_RES_HOUR ? 3600 : 86400);
  const char *v[] = {ch->id, NULL, NULL, s->entity, c->mobility_type, NULL, NULL,    NULL,
                     NULL,   NULL, NULL, NULL,      c->publisher,     NULL, started, NULL,
                     NULL,   step, NULL};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    cell(p->out, v[i], i == 0);
  fputs("\r\n", p->out);
}

static int64_t next_slot(int64_t t, void *arg) {
  return vg_dataset_slot_end(arg, t);
}

static int measure_row(int64_t start, int64_t end, double count, void *arg) {
  struct vg_cm_stream *p = arg;
  char a[32], b[32];
  fmt_utc(start, a);
  fmt_utc(end, b);
  cell(p->out, p->ch[p->cur].id, 1);
  cell(p->out, NULL, 0); /* counter_id */
  cell(p->out, a, 0);
  cell(p->out, b, 0);
  cell_num(p->out, count);
  fputs("\r\n", p->out);
  return ferror(p->out) ? -EIO : 0;
}

/* The count of a slot without a window between two windows of s: 0 for a
 * count_as metric, whose windows exist only where passages were (empty
 * under suppression: 0 is under k); empty otherwise, since a counter whose
 * readings carry counts sends one per slot, zeros included, and a missing
 * reading is a slot without a measurement. */
static double gap_count(const struct vg_cm_stream *p, const struct vg_dataset_series *s) {
  return s->count_as && !p->suppress ? 0 : NAN;
}

/* sites.csv: a site's row at the first row of any of its series. */
static int site_once(struct vg_cm_stream *p, const struct vg_dataset_series *s) {
  for (size_t i = 0; i < p->nsites; i++)
    if (strcmp(p->sites[i], s->entity) == 0)
      return 0;
  if (VG_GROW(p->sites, p->nsites + 1, p->capsites))
    return -ENOMEM;
  p->sites[p->nsites++] = s->entity; /* the series list outlives it */
  site_row(p, s);
  return 0;
}

static int on_row(const struct vg_dataset_row *row, void *arg) {
  struct vg_cm_stream *p = arg;
  size_t idx = (size_t)(row->series - p->l.v);
  const struct vg_dataset_series *s = row->series;
  if (!p->ch[idx].id[0])
    return 0;
  int first = idx != p->cur, rc = 0;
  p->cur = idx;
  if (p->file == VG_CM_SITES && first)
    rc = site_once(p, s);
  else if (p->file == VG_CM_CHANNELS && first)
    channel_row(p, s, &p->ch[idx], row->start);
  else if (p->file == VG_CM_MEASURES) {
    const struct vg_odsql_value *v = &row->v[p->sum_field];
    if (!first) /* the slots since its previous window */
      rc = fill_gap(p->cur_end, row->start, gap_count(p, s), next_slot, (void *)p->ds,
                    measure_row, p);
    if (!rc)
      rc = measure_row(row->start, row->end, v->null ? NAN : v->num, p);
  }
  p->cur_end = row->end;
  return rc ? rc : (ferror(p->out) ? -EIO : 0);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Channel ids of the series; "" for a series without a site with
 * coordinates. Two series with the same id both get their store id
 * appended. */
static int channel_ids(struct vg_cm_stream *p) {
  double lat, lon;
  size_t n = p->l.n;
  char **sorted = calloc(n + 1, sizeof *sorted);
  if (!sorted)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const struct vg_dataset_series *s = &p->l.v[i];
    struct chan *ch = &p->ch[i];
    if (!vg_dataset_coords(p->ds, s->entity, &lat, &lon) ||
        vg_cm_channel_id(p->ds, s, ch->id, sizeof ch->id - 24) != 0)
      ch->id[0] = 0;
    sorted[i] = ch->id;
  }
  qsort(sorted, n, sizeof *sorted, cmp_str);
  for (size_t i = 0; i < n; i++) {
    struct chan *ch = &p->ch[i];
    if (!ch->id[0])
      continue;
    char **hit = bsearch(&(const char *){ch->id}, sorted, n, sizeof *sorted, cmp_str);
    int dup = (hit > sorted && strcmp(hit[-1], ch->id) == 0) ||
              (hit + 1 < sorted + n && strcmp(hit[1], ch->id) == 0);
    if (dup)
      snprintf(ch->id + strlen(ch->id), 24, "-%llu", (unsigned long long)p->l.v[i].id);
  }
  free(sorted);
  return 0;
}

/* ---- the data package ---------------------------------------------------------- */

static void jfield(struct vg_jsonw *w, const struct cfield *f) {
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "name", f->name);
  vg_jsonw_kv(w, "type", f->type);
  vg_jsonw_cstr(w, "constraints");
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "required");
  vg_jsonw_bool(w, f->required);
  if (f->choices) {
    vg_jsonw_cstr(w, "enum");
    vg_jsonw_array(w);
    for (const char *const *c = f->choices; *c; c++)
      vg_jsonw_cstr(w, *c);
    vg_jsonw_array_end(w);
  }
  if (f->pattern)
    vg_jsonw_kv(w, "pattern", f->pattern);
  if (f->min < f->max) {
    vg_jsonw_cstr(w, "minimum");
    vg_jsonw_double(w, f->min);
    vg_jsonw_cstr(w, "maximum");
    vg_jsonw_double(w, f->max);
  }
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
}

/* "fields": value, or ["a", "b"] */
static void jkey(struct vg_jsonw *w, const char *key, const char *a, const char *b) {
  vg_jsonw_cstr(w, key);
  if (!b) {
    vg_jsonw_cstr(w, a);
    return;
  }
  vg_jsonw_array(w);
  vg_jsonw_cstr(w, a);
  vg_jsonw_cstr(w, b);
  vg_jsonw_array_end(w);
}

/* A foreign key: field of this resource -> the same field of resource. */
static void jforeign(struct vg_jsonw *w, const char *field, const char *resource) {
  vg_jsonw_cstr(w, "foreignKeys");
  vg_jsonw_array(w);
  vg_jsonw_map(w);
  jkey(w, "fields", field, NULL);
  vg_jsonw_cstr(w, "reference");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "resource", resource);
  jkey(w, "fields", field, NULL);
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
  vg_jsonw_array_end(w);
}

static void jresource(struct vg_jsonw *w, int file, const char *base) {
  static const char *const names[] = {"sites", "channels", "measures"};
  static const char *const schemas[] = {"site", "channel", "measure"};
  char path[1024], src[256], title[128];
  snprintf(path, sizeof path, "%s%s", base, file_names[file]);
  snprintf(src, sizeof src,
           "https://schema.data.gouv.fr/etalab/schema-comptage-mobilites-%s/%s/",
           schemas[file], VG_CM_SCHEMA_VERSION);
  snprintf(title, sizeof title, "etalab/schema-comptage-mobilites-%s %s", schemas[file],
           VG_CM_SCHEMA_VERSION);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "name", names[file]);
  vg_jsonw_kv(w, "path", path);
  vg_jsonw_kv(w, "profile", "tabular-data-resource");
  vg_jsonw_kv(w, "format", "csv");
  vg_jsonw_kv(w, "mediatype", "text/csv");
  vg_jsonw_kv(w, "encoding", "utf-8");
  vg_jsonw_cstr(w, "sources");
  vg_jsonw_array(w);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "title", title);
  vg_jsonw_kv(w, "path", src);
  vg_jsonw_map_end(w);
  vg_jsonw_array_end(w);
  vg_jsonw_cstr(w, "schema");
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "fields");
  vg_jsonw_array(w);
  for (const struct cfield *f = file_fields[file]; f->name; f++)
    jfield(w, f);
  vg_jsonw_array_end(w);
  if (file == VG_CM_SITES)
    jkey(w, "primaryKey", "site_id", NULL);
  if (file == VG_CM_CHANNELS) {
    jkey(w, "primaryKey", "channel_id", NULL);
    jforeign(w, "site_id", "sites");
  }
  if (file == VG_CM_MEASURES) {
    jkey(w, "primaryKey", "channel_id", "start_datetime");
    jforeign(w, "channel_id", "channels");
  }
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
}

static int write_package(const struct vg_dataset *ds, const char *base, char **out) {
  const struct vg_dataset_def *c = vg_dataset_definition(ds);
  struct vg_jsonw *w = vg_jsonw_new(0);
  char name[160];
  if (!w)
    return -ENOMEM;
  snprintf(name, sizeof name, "%s-comptage-mobilites", c->id);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "profile", "tabular-data-package");
  vg_jsonw_kv(w, "name", name);
  vg_jsonw_kv(w, "title", c->title ? c->title : c->id);
  vg_jsonw_kv(w, "homepage", VG_CM_SCHEMA_HOME);
  vg_jsonw_cstr(w, "licenses");
  vg_jsonw_array(w);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "name", c->license ? c->license : "etalab-2.0");
  vg_jsonw_map_end(w);
  vg_jsonw_array_end(w);
  vg_jsonw_cstr(w, "resources");
  vg_jsonw_array(w);
  for (int f = VG_CM_SITES; f <= VG_CM_MEASURES; f++)
    jresource(w, f, base);
  vg_jsonw_array_end(w);
  vg_jsonw_map_end(w);
  vg_jsonw_raw(w, "\n");
  size_t len;
  *out = vg_jsonw_take(w, &len);
  vg_jsonw_free(w);
  return *out ? 0 : -ENOMEM;
}

int vg_cm_stream_new(const struct vg_dataset *ds, struct vg_store_reader *r, int file,
                     const char *base, struct vg_cm_stream **out, char *errstr,
                     size_t errstr_size) {
  const struct vg_dataset_def *c = vg_dataset_definition(ds);
  if (c->schema != VG_DATASET_SCHEMA_COMPTAGE || file < 0 || file >= VG_CM_NFILES)
    return vg_errstr_rc(VG_ECONFIG, errstr, errstr_size,
                        "dataset %s is not declared with schema comptage-mobilites",
                        c->id);
  int sum_field = vg_dataset_field(ds, "sum");
  if (sum_field < 0)
    return vg_errstr_rc(VG_ECONFIG, errstr, errstr_size,
                        "dataset %s: comptage-mobilites needs the sum column", c->id);
  struct vg_cm_stream *p = calloc(1, sizeof *p);
  if (!p)
    return -ENOMEM;
  *p = (struct vg_cm_stream){
      .ds = ds,
      .sc = {.from_s = INT64_MIN, .to_s = INT64_MAX, .next_s = INT64_MIN},
      .file = file,
      .sum_field = sum_field,
      .suppress = c->suppress_below > 0,
      .cur = SIZE_MAX};
  int rc = file == VG_CM_PACKAGE ? write_package(ds, base, &p->pkg)
                                 : vg_dataset_series(ds, r, &p->l);
  if (!rc && file != VG_CM_PACKAGE) {
    p->ch = calloc(p->l.n + 1, sizeof *p->ch);
    rc = p->ch ? channel_ids(p) : -ENOMEM;
  }
  if (rc) {
    vg_cm_stream_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

int vg_cm_stream_next(struct vg_cm_stream *p, struct vg_store_reader *r, int64_t max_rows,
                      FILE *out, int *done, char *errstr, size_t errstr_size) {
  p->out = out;
  *done = 0;
  if (p->file == VG_CM_PACKAGE) {
    fputs(p->pkg, out);
    *done = 1;
    return ferror(out) ? -EIO : 0;
  }
  if (!p->started)
    header(out, file_fields[p->file]);
  p->started = 1;
  p->sc.max_rows = max_rows;
  int rc = vg_dataset_scan(p->ds, r, &p->l, &p->sc, on_row, p, errstr, errstr_size);
  *done = !rc && p->sc.done;
  return rc ? rc : (ferror(out) ? -EIO : 0);
}

void vg_cm_stream_free(struct vg_cm_stream *p) {
  if (!p)
    return;
  vg_dataset_series_release(&p->l);
  free(p->ch);
  free(p->sites);
  free(p->pkg);
  free(p);
}

int vg_cm_write(const struct vg_dataset *ds, struct vg_store_reader *r, int file,
                const char *base, FILE *out, char *errstr, size_t errstr_size) {
  struct vg_cm_stream *p = NULL;
  int done = 0, rc = vg_cm_stream_new(ds, r, file, base, &p, errstr, errstr_size);
  while (!rc && !done)
    rc = vg_cm_stream_next(p, r, 0, out, &done, errstr, errstr_size);
  vg_cm_stream_free(p);
  return rc;
}
