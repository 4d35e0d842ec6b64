/*
 * The open-data HTTP API (api.h): request decoding (a pure function, fuzzed),
 * Opendatasoft Explore v2.1 catalog, dataset, records and exports
 * responses, the DCAT-AP catalog and the changed-since feed.
 *
 * Buffered answers are written to a memory stream; exports stream: each
 * chunk begins a store reader, formats the rows of up to a few hundred
 * series-days from the scan cursor, and ends the reader, so a slow client
 * never pins a snapshot nor the engine. Conditional GETs compare a weak
 * ETag built from the dataset definition and the store state that can
 * change its rows: the emit-log sequence for final-only datasets (rows
 * change only when windows go final or are revised), the committed epoch
 * otherwise, plus the store's retention generation (rows deleted by
 * retention). Last-Modified is when this process first saw that state.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vigie/api.h"
#include "vigie/calendar.h"
#include "vigie/comptage.h"
#include "vigie/dashboard.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/indicator.h"
#include "vigie/jsonw.h"
#include "vigie/odsql.h"
#include "vigie/publish.h"

#include "openapi_json.h" /* vg_openapi_json, generated from openapi.json */

/* ---- request decoding (pure) ------------------------------------------------ */

static int bad(struct vg_api_req *out, const char *code, int status, char *errstr,
               size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static int bad(struct vg_api_req *out, const char *code, int status, char *errstr,
               size_t errstr_size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vg_verrstr(errstr, errstr_size, fmt, ap);
  va_end(ap);
  out->error_code = code;
  return status;
}

/* A strict decimal integer (optional '-'), no overflow. */
static int parse_int(const char *s, int64_t *v) {
  if (!s || !*s)
    return -1;
  int neg = *s == '-';
  const char *p = s + neg;
  if (!*p)
    return -1;
  int64_t x = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9' || x > (INT64_MAX - 9) / 10)
      return -1;
    x = x * 10 + (*p - '0');
  }
  *v = neg ? -x : x;
  return 0;
}

static int valid_id(const char *s, size_t n) {
  if (n == 0 || n >= 128)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!(islower((unsigned char)s[i]) || isdigit((unsigned char)s[i]) || s[i] == '-' ||
          s[i] == '_'))
      return 0;
  return 1;
}

static const char *const fmt_names[] = {"csv", "json", "jsonl", "geojson"};
/* the mobility-count schema's files (comptage.h), beside the exports */
#define CM_EXPORTS "exports/comptage-mobilites/"

int vg_api_parse(const char *path, const struct vg_api_arg *args, size_t nargs,
                 struct vg_api_req *out, char *errstr, size_t errstr_size) {
  static const char cat[] = VG_API_PREFIX "catalog/";
  memset(out, 0, sizeof *out);
  out->limit = -2; /* unset */
  out->delimiter = ';';
  out->with_bom = 1;
  if (errstr_size)
    errstr[0] = 0;
  if (strcmp(path, VG_API_PREFIX "openapi.json") == 0) {
    out->route = VG_API_OPENAPI;
    return 0;
  }
  if (strncmp(path, cat, sizeof cat - 1) != 0)
    return bad(out, "NotFound", 404, errstr, errstr_size, "Unknown path.");
  const char *p = path + sizeof cat - 1;
  if (strcmp(p, "datasets") == 0 || strcmp(p, "datasets/") == 0) {
    out->route = VG_API_CATALOG;
  } else if (strcmp(p, "exports/dcat") == 0) {
    out->route = VG_API_DCAT;
  } else if (strcmp(p, "facets") == 0) {
    out->route = VG_API_CATALOG_FACETS;
  } else if (strncmp(p, "datasets/", 9) == 0) {
    const char *id = p + 9, *slash = strchr(id, '/');
    size_t n = slash ? (size_t)(slash - id) : strlen(id);
    if (!valid_id(id, n))
      return bad(
          out, "NotFound", 404, errstr, errstr_size,
          "Unknown dataset: a dataset id is lower-case letters, digits, '-' and '_'.");
    memcpy(out->id, id, n);
    out->id[n] = 0;
    const char *rest = slash ? slash + 1 : "";
    if (!*rest) {
      out->route = VG_API_DATASET;
    } else if (strcmp(rest, "records") == 0) {
      out->route = VG_API_RECORDS;
    } else if (strcmp(rest, "changes") == 0) {
      out->route = VG_API_CHANGES;
    } else if (strcmp(rest, "facets") == 0) {
      out->route = VG_API_FACETS;
    } else if (strncmp(rest, CM_EXPORTS, sizeof CM_EXPORTS - 1) == 0) {
      out->route = VG_API_COMPTAGE;
      out->format = vg_cm_file_of(rest + sizeof CM_EXPORTS - 1);
      if (out->format < 0)
        return bad(out, "NotFound", 404, errstr, errstr_size,
                   "Unknown file: expected sites.csv, channels.csv, measures.csv or "
                   "datapackage.json.");
    } else if (strncmp(rest, "exports/", 8) == 0) {
      out->route = VG_API_EXPORT;
      out->format = -1;
      for (int i = 0; i < 4; i++)
        if (strcmp(rest + 8, fmt_names[i]) == 0)
          out->format = i;
      if (out->format < 0)
        return bad(out, "NotFound", 404, errstr, errstr_size,
                   "Unknown export format: expected csv, json, jsonl or geojson.");
    } else {
      return bad(out, "NotFound", 404, errstr, errstr_size, "Unknown path.");
    }
  } else {
    return bad(out, "NotFound", 404, errstr, errstr_size, "Unknown path.");
  }
  for (size_t i = 0; i < nargs; i++) {
    const char *k = args[i].key, *v = args[i].value ? args[i].value : "";
    if (!k)
      continue;
    int64_t x;
    if (strcmp(k, "limit") == 0) {
      if (parse_int(v, &x))
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for limit API parameter: \"%.64s\" was found but an "
                   "integer is expected.",
                   v);
      out->limit = x;
    } else if (strcmp(k, "offset") == 0) {
      if (parse_int(v, &x))
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for offset API parameter: \"%.64s\" was found but an "
                   "integer is expected.",
                   v);
      if (x < 0)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for offset API parameter: %" PRId64
                   " was found but offset >= 0 is expected.",
                   x);
      out->offset = x;
    } else if (strcmp(k, "select") == 0 || strcmp(k, "where") == 0 ||
               strcmp(k, "order_by") == 0 || strcmp(k, "group_by") == 0) {
      if (strlen(v) > VG_ODSQL_MAX_LEN)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for %s API parameter: %zu bytes were found but at most "
                   "%d are expected.",
                   k, strlen(v), VG_ODSQL_MAX_LEN);
      *(k[0] == 's'   ? &out->select
        : k[0] == 'w' ? &out->where
        : k[0] == 'g' ? &out->group_by
                      : &out->order_by) = v;
    } else if (strcmp(k, "timezone") == 0) {
      size_t n = strlen(v);
      int ok = n > 0 && n < 64 && v[0] != '/' && !strstr(v, "..");
      for (size_t j = 0; ok && j < n; j++)
        ok = isalnum((unsigned char)v[j]) || strchr("/_+-", v[j]);
      if (!ok)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for timezone API parameter: \"%.64s\" was found but a "
                   "time zone name such as Europe/Paris or UTC is expected.",
                   v);
      out->timezone = v;
    } else if (strcmp(k, "delimiter") == 0) {
      if (strlen(v) != 1 || !strchr(";,\t|", v[0]))
        return bad(
            out, "InvalidRESTParameterError", 400, errstr, errstr_size,
            "Invalid value for delimiter API parameter: \"%.16s\" was found but one "
            "of ';', ',', '\\t', '|' is expected.",
            v);
      out->delimiter = v[0];
    } else if (strcmp(k, "with_bom") == 0) {
      if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
        return bad(
            out, "InvalidRESTParameterError", 400, errstr, errstr_size,
            "Invalid value for with_bom API parameter: \"%.16s\" was found but true "
            "or false is expected.",
            v);
      out->with_bom = v[0] == 't';
    } else if (strcmp(k, "since") == 0) {
      if (parse_int(v, &x) || x < 0)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for since API parameter: \"%.64s\" was found but a "
                   "cursor (an integer >= 0 from next_cursor) is expected.",
                   v);
      out->since = (uint64_t)x;
    } else if (strcmp(k, "refine") == 0 || strcmp(k, "exclude") == 0) {
      const char *colon = strchr(v, ':');
      if (!colon || colon == v || strlen(v) > VG_ODSQL_MAX_LEN)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Invalid value for %s API parameter: \"%.64s\" was found but "
                   "FIELD:VALUE is expected (e.g. %s=counter_id:c1).",
                   k, v, k);
      if (out->nfacet == VG_API_MAX_FACETS)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Too many refine and exclude API parameters: at most %d are "
                   "expected.",
                   VG_API_MAX_FACETS);
      out->facet_exclude[out->nfacet] = k[0] == 'e';
      out->facet[out->nfacet++] = v;
    } else if (strcmp(k, "facet") == 0) {
      if (out->nfacet_name == VG_API_MAX_FACETS || strlen(v) > 256)
        return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                   "Too many or too long facet API parameters: at most %d of at most "
                   "256 bytes are expected.",
                   VG_API_MAX_FACETS);
      out->facet_name[out->nfacet_name++] = v;
    } /* others (lang, include_links, ...) change nothing here */
  }
  if (out->route == VG_API_RECORDS) {
    int grouped = out->group_by && out->group_by[strspn(out->group_by, " \t\r\n")];
    int max_limit = grouped ? VG_API_MAX_GROUP_LIMIT : VG_API_MAX_LIMIT;
    int max_window = grouped ? VG_API_MAX_GROUP_LIMIT : VG_API_MAX_WINDOW;
    if (out->limit == -2)
      out->limit = 10;
    else if (out->limit == -1)
      out->limit = max_limit;
    if (out->limit < 0 || out->limit > max_limit)
      return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                 "Invalid value for limit API parameter: %" PRId64
                 " was found but -1 <= limit <= %d is expected%s.",
                 out->limit, max_limit, grouped ? " with a group_by" : "");
    if (out->offset > max_window - out->limit) /* no overflow: both are checked */
      return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                 "Invalid value for sum of offset + limit API parameter: %" PRIu64
                 " was found but <= %d is expected%s.",
                 (uint64_t)out->offset +
                     (uint64_t)out->limit, /* both >= 0: no overflow */
                 max_window, grouped ? " with a group_by" : "");
  } else if (out->route == VG_API_CHANGES) {
    if (out->limit == -2 || out->limit == -1)
      out->limit = 1000;
    if (out->limit < 1 || out->limit > VG_API_MAX_WINDOW)
      return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                 "Invalid value for limit API parameter: %" PRId64
                 " was found but 1 <= limit <= %d is expected.",
                 out->limit, VG_API_MAX_WINDOW);
  } else {
    if (out->limit == -2)
      out->limit = -1;
    if (out->limit < -1)
      return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
                 "Invalid value for limit API parameter: %" PRId64
                 " was found but limit >= -1 is expected.",
                 out->limit);
  }
  int grouped = out->group_by && out->group_by[strspn(out->group_by, " \t\r\n")];
  if (out->order_by && out->route == VG_API_EXPORT && !grouped)
    return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
               "order_by is not supported on exports without group_by (they stream in "
               "series and time order); use the records endpoint.");
  if (grouped && out->route == VG_API_EXPORT && out->format == VG_DS_GEOJSON)
    return bad(out, "InvalidRESTParameterError", 400, errstr, errstr_size,
               "group_by is not supported on GeoJSON exports (groups have no "
               "geometry); use csv, json or jsonl.");
  return 0;
}

/* ---- the API object ------------------------------------------------------------ */

struct dsinfo {
  struct vg_dataset *ds;
  uint64_t def_hash; /* of the definition: a new definition changes every ETag */
  /* under the API's mutex */
  uint64_t tag;
  int have_tag;
  time_t modified;
  uint64_t counted_tag;
  int counted;
  uint64_t nrows;
  int64_t first_s, last_s; /* earliest start, latest end of its rows */
};

/* One generation of dataset definitions: replaced whole by vg_api_reload,
 * freed when the last request or export using it is over. */
struct gen {
  int refs; /* under the API's mutex */
  struct dsinfo *d;
  size_t n;
  char *public_url;         /* http.public_url without its trailing slashes, or NULL */
  struct vg_indicators *ix; /* NULL: no indicators */
};

struct vg_api {
  struct vg_api_store st;
  struct vg_cache *cache; /* answers by request and ETag; NULL: none */
  struct gen *cur;
  pthread_mutex_t mu;
  time_t catalog_modified;
  uint64_t catalog_tag;
  int have_catalog_tag;
};

static uint64_t def_hash(const struct vg_dataset_def *c) {
  static const uint8_t key[16] = "vigie-dataset-v1";
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return 0;
  fprintf(f, "%s|%s|%s|%s|%s|%d|%" PRId64 "|%d|%s|%" PRId64 "|%s", c->id,
          c->title ? c->title : "", c->description ? c->description : "",
          c->publisher ? c->publisher : "", c->license ? c->license : "",
          c->resolution == VG_RES_DAY, /* 0: 1h, 1: 1d, as hashed before enum vg_res */
          c->suppress_below, c->status, c->timezone ? c->timezone : "",
          c->sensor_period_ns, c->entity_tag ? c->entity_tag : "");
  if (c->hvd_category || c->contact_point) /* (the hash of a dataset without stays) */
    fprintf(f, "|hvd:%s|%s", c->hvd_category ? c->hvd_category : "",
            c->contact_point ? c->contact_point : "");
  if (c->schema) /* (the hash of a dataset without stays) */
    fprintf(f, "|schema:%d|%s", c->schema, c->mobility_type ? c->mobility_type : "");
  const struct vg_strlist *lists[] = {
      &c->keywords,   &c->metrics,     &c->columns, &c->tag_columns, &c->coordinates,
      &c->site_names, &c->insee_codes, &c->merge_by}; /* (a list's index is hashed) */
  for (size_t i = 0; i < sizeof lists / sizeof *lists; i++)
    for (size_t j = 0; j < lists[i]->n; j++)
      fprintf(f, "|%zu:%s", i, lists[i]->v[j]);
  fclose(f);
  uint64_t h = vg_siphash24(key, buf, len);
  free(buf);
  return h;
}

static void gen_free(struct gen *g) {
  if (!g)
    return;
  for (size_t i = 0; i < g->n; i++)
    vg_dataset_free(g->d[i].ds);
  vg_indicators_free(g->ix); /* after the dataset that borrows it */
  free(g->d);
  free(g->public_url);
  free(g);
}

/* The dataset `indicateurs`: described like the first dataset (publisher,
 * licence, zone), over the indicators of o. */
int vg_api_indicators(const struct vg_api_opts *o, struct vg_indicators **out,
                      char *errstr, size_t errstr_size) {
  struct vg_indicators_opts io = {.defs = o->indicators,
                                  .ndefs = o->nindicators,
                                  .datasets = o->datasets,
                                  .ndatasets = o->ndatasets,
                                  .store_timezone = o->env.store_timezone,
                                  .lateness_s = o->lateness_s};
  return vg_indicators_new(&io, out, errstr, errstr_size);
}

static int indicators_dataset(const struct vg_api_opts *o, struct gen *g, char *errstr,
                              size_t errstr_size) {
  int rc = vg_api_indicators(o, &g->ix, errstr, errstr_size);
  if (rc)
    return rc;
  static char *keywords[] = {"indicateurs", "objectifs", "tableau de bord"};
  struct vg_dataset_def def = {
      .id = (char *)VG_INDICATORS_DATASET,
      .title = (char *)"Indicateurs et objectifs",
      .description =
          (char *)"Les indicateurs de la ville et leurs objectifs, calculés sur ses "
                  "données ouvertes : une ligne par indicateur, série et période "
                  "(docs/indicators.md).",
      .keywords = {keywords, 3},
      .publisher = o->ndatasets ? o->datasets[0].publisher : NULL,
      .license = o->ndatasets && o->datasets[0].license ? o->datasets[0].license
                                                        : (char *)"etalab-2.0",
      .resolution = VG_RES_DAY,
      .status = VG_DATASET_ALL};
  rc = vg_dataset_new_indicators(&def, g->ix, &g->d[g->n].ds, errstr, errstr_size);
  if (rc)
    return rc;
  uint64_t h = def_hash(&def);
  for (size_t k = 0; k < o->nindicators; k++) /* a changed definition is a new version */
    h ^= vg_indicators_fingerprint(g->ix, k) + (uint64_t)k;
  g->d[g->n].def_hash = h;
  g->n++;
  return 0;
}

static int gen_new(const struct vg_api_opts *o, struct gen **out, char *errstr,
                   size_t errstr_size) {
  struct gen *g = calloc(1, sizeof *g);
  if (g)
    g->d = calloc(o->ndatasets + 2, sizeof *g->d);
  if (!g || !g->d) {
    free(g);
    return -ENOMEM;
  }
  g->refs = 1;
  if (o->public_url) {
    size_t len = strlen(o->public_url);
    while (len && o->public_url[len - 1] == '/')
      len--;
    g->public_url = strndup(o->public_url, len);
    if (!g->public_url) {
      gen_free(g);
      return -ENOMEM;
    }
  }
  for (size_t i = 0; i < o->ndatasets; i++) {
    int rc = vg_dataset_new(&o->datasets[i], &o->env, &g->d[i].ds, errstr, errstr_size);
    if (rc) {
      gen_free(g);
      return rc;
    }
    g->d[i].def_hash = def_hash(&o->datasets[i]);
    g->n++;
  }
  if (o->nindicators) {
    int rc = indicators_dataset(o, g, errstr, errstr_size);
    if (rc) {
      gen_free(g);
      return rc;
    }
  }
  *out = g;
  return 0;
}

static struct gen *gen_get(struct vg_api *a) {
  pthread_mutex_lock(&a->mu);
  struct gen *g = a->cur;
  g->refs++;
  pthread_mutex_unlock(&a->mu);
  return g;
}

static void gen_put(struct vg_api *a, struct gen *g) {
  pthread_mutex_lock(&a->mu);
  int last = --g->refs == 0;
  pthread_mutex_unlock(&a->mu);
  if (last)
    gen_free(g);
}

int vg_api_new(const struct vg_api_opts *o, const struct vg_api_store *store,
               struct vg_api **out, char *errstr, size_t errstr_size) {
  struct vg_api *a = calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  int rc = gen_new(o, &a->cur, errstr, errstr_size);
  if (rc) {
    free(a);
    return rc;
  }
  a->st = *store;
  if (vg_cache_new(o->cache_bytes, &a->cache) != 0) {
    gen_free(a->cur);
    free(a);
    return -ENOMEM;
  }
  pthread_mutex_init(&a->mu, NULL);
  *out = a;
  return 0;
}

void vg_api_cache_stats(struct vg_api *a, struct vg_cache_stats *out) {
  vg_cache_stats(a->cache, out);
}

int vg_api_reload(struct vg_api *a, const struct vg_api_opts *o, char *errstr,
                  size_t errstr_size) {
  struct gen *g;
  int rc = gen_new(o, &g, errstr, errstr_size);
  if (rc)
    return rc;
  pthread_mutex_lock(&a->mu);
  struct gen *old = a->cur;
  /* an unchanged definition keeps what was learnt about its rows */
  for (size_t i = 0; i < g->n; i++)
    for (size_t j = 0; j < old->n; j++)
      if (old->d[j].def_hash == g->d[i].def_hash) {
        struct vg_dataset *ds = g->d[i].ds;
        g->d[i] = old->d[j];
        g->d[i].ds = ds;
      }
  a->cur = g;
  int last = --old->refs == 0;
  pthread_mutex_unlock(&a->mu);
  if (last)
    gen_free(old);
  return 0;
}

void vg_api_free(struct vg_api *a) {
  if (!a)
    return;
  gen_free(a->cur);
  vg_cache_free(a->cache);
  pthread_mutex_destroy(&a->mu);
  free(a);
}

static void dashboard(void *api, const struct vg_http_request *req,
                      struct vg_http_response *resp);

int vg_api_routes(struct vg_api *a, struct vg_http *h) {
  int rc = vg_http_route(h, VG_API_PREFIX, vg_api_handle, a);
  return rc ? rc : vg_http_route(h, "/dashboard", dashboard, a);
}

/* ---- responses ------------------------------------------------------------------- */

/* Hands a finished writer's text to the response (200), or answers 500. */
static void json_error(struct vg_http_response *resp, int status, const char *code,
                       const char *msg);

static void finish_json(struct vg_http_response *resp, struct vg_jsonw *w, int status) {
  size_t len;
  char *buf = vg_jsonw_take(w, &len);
  if (!buf) {
    if (status == 200) /* an error answer that fails falls back to a fixed one */
      json_error(resp, 500, "InternalError", "out of memory");
    else
      vg_http_reply(resp, 500, "application/json", "{\"error_code\":\"InternalError\"}");
    return;
  }
  free(resp->body);
  resp->status = status;
  resp->content_type = "application/json; charset=utf-8";
  resp->body = buf;
  resp->len = len;
  if (status == 200)
    resp->compress = 1;
}

static void json_error(struct vg_http_response *resp, int status, const char *code,
                       const char *msg) {
  struct vg_jsonw *w = vg_jsonw_new(0);
  if (!w) {
    vg_http_reply(resp, 500, "application/json", "{\"error_code\":\"InternalError\"}");
    return;
  }
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "status_code");
  vg_jsonw_i64(w, status);
  vg_jsonw_kv(w, "error_code", code);
  vg_jsonw_kv(w, "message", msg);
  vg_jsonw_map_end(w);
  vg_jsonw_raw(w, "\n");
  finish_json(resp, w, status);
  vg_jsonw_free(w);
}

static void http_date(time_t t, char *buf, size_t size) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static int parse_http_date(const char *s, time_t *t) {
  struct tm tm = {0};
  const char *end = s ? strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm) : NULL;
  if (!end || *end)
    return -1;
  *t = timegm(&tm);
  return 0;
}

/* The last epoch that changed rows (wrote windows): a store from before
 * the data_epoch key has only the last epoch, which idle epochs move too. */
static uint64_t data_epoch(const struct vg_store_state *m) {
  return m->data_epoch ? m->data_epoch : m->epoch;
}

/* The store state a dataset's rows depend on: the emit-log sequence for
 * final-only datasets, the last epoch that wrote windows otherwise -- plus
 * the retention generation, since retention deletes rows without moving
 * either. Each term only grows, so the sum moves whenever one does and never
 * returns to a value an earlier state had; a store that never deleted keeps
 * the tags it had before the generation existed. */
static uint64_t ds_tag(const struct dsinfo *d, const struct vg_store_state *m) {
  uint64_t base = vg_dataset_definition(d->ds)->status == VG_DATASET_FINAL
                      ? m->emit_seq
                      : data_epoch(m);
  return base + m->retain_gen;
}

/* The state a dataset's rows depend on, and when this process first saw
 * it. Returns 1 when the request's validators match (answer 304). */
static int conditional(struct vg_api *a, struct gen *g, struct dsinfo *d,
                       const struct vg_store_state *m, const struct vg_http_request *req,
                       struct vg_http_response *resp, char etag[64]) {
  uint64_t tag, hash;
  time_t *modified;
  time_t now = time(NULL);
  pthread_mutex_lock(&a->mu);
  if (d) {
    tag = ds_tag(d, m);
    hash = d->def_hash;
    if (!d->have_tag || d->tag != tag) {
      d->tag = tag;
      d->have_tag = 1;
      d->modified = now;
    }
    modified = &d->modified;
  } else { /* the catalog: any dataset's state (its row counts and spans) */
    tag = data_epoch(m) + m->retain_gen;
    hash = 0;
    for (size_t i = 0; i < g->n; i++)
      hash = hash * 31 + g->d[i].def_hash;
    if (!a->have_catalog_tag || a->catalog_tag != tag) {
      a->catalog_tag = tag;
      a->have_catalog_tag = 1;
      a->catalog_modified = now;
    }
    modified = &a->catalog_modified;
  }
  time_t mod = *modified;
  pthread_mutex_unlock(&a->mu);
  char date[64];
  snprintf(etag, 64, "W/\"%016" PRIx64 "-%" PRIu64 "\"", hash, tag);
  http_date(mod, date, sizeof date);
  vg_http_add_header(resp, "ETag", etag);
  vg_http_add_header(resp, "Last-Modified", date);
  vg_http_add_header(resp, "Cache-Control", "no-cache");
  const char *inm = vg_http_header(req, "If-None-Match");
  const char *ims = vg_http_header(req, "If-Modified-Since");
  if (inm) { /* a list of tags, or *; weak comparison */
    if (strcmp(inm, "*") == 0)
      return 1;
    const char *bare = etag + 2; /* without W/ */
    for (const char *p = strstr(inm, bare); p; p = strstr(p + 1, bare))
      return 1;
    return 0;
  }
  time_t t;
  if (ims && parse_http_date(ims, &t) == 0 && mod <= t)
    return 1;
  return 0;
}

static const char *field_type(const struct vg_odsql_field *f) {
  if (f->type == VG_ODSQL_DATETIME)
    return "datetime";
  if (f->type == VG_ODSQL_TEXT)
    return "text";
  if (f->type == VG_ODSQL_BOOLEAN)
    return "boolean";
  return strcmp(f->name, "count") == 0 || strcmp(f->name, "revision") == 0 ? "int"
                                                                           : "double";
}

static const char *field_label(const char *name) {
  static const struct {
    const char *name, *label;
  } labels[] = {{"start_datetime", "Start (inclusive)"},
                {"end_datetime", "End (exclusive)"},
                {"metric", "Metric"},
                {"count", "Readings"},
                {"sum", "Sum"},
                {"min", "Minimum"},
                {"max", "Maximum"},
                {"mean", "Mean"},
                {"stddev", "Standard deviation (sample)"},
                {"p50", "Median (p50)"},
                {"p95", "95th percentile"},
                {"first", "First value"},
                {"last", "Last value"},
                {"distinct", "Distinct count (estimate)"},
                {"coverage", "Coverage (readings received / expected)"},
                {"status", "Status (provisional or final)"},
                {"revision", "Revision"},
                {"suppressed", "Cells suppressed for privacy"}};
  for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
    if (strcmp(labels[i].name, name) == 0)
      return labels[i].label;
  return name;
}

static const char *license_url(const char *id) {
  static const struct {
    const char *id, *url;
  } known[] = {{"etalab-2.0", "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"},
               {"ODbL-1.0", "https://opendatacommons.org/licenses/odbl/1-0/"},
               {"CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/"},
               {"CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/"}};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (id && strcmp(known[i].id, id) == 0)
      return known[i].url;
  return NULL;
}

/* A JSON array of strings. */
static void jlist(struct vg_jsonw *w, const struct vg_strlist *l) {
  vg_jsonw_array(w);
  for (size_t i = 0; i < l->n; i++)
    vg_jsonw_cstr(w, l->v[i]);
  vg_jsonw_array_end(w);
}

/* A key and an ISO 8601 instant of tz. */
static void jiso(struct vg_jsonw *w, const char *key, int64_t t, const struct vg_tz *tz) {
  char buf[VG_FMT_ISO_MAX];
  vg_jsonw_cstr(w, key);
  vg_jsonw_str(w, buf, vg_fmt_iso(t, tz, buf));
}

/* Counts a dataset's rows and their time span (cached per store state). */
static int on_count(const struct vg_dataset_row *row, void *arg) {
  struct dsinfo *d = arg;
  d->nrows++;
  if (row->start < d->first_s)
    d->first_s = row->start;
  if (row->end > d->last_s)
    d->last_s = row->end;
  return 0;
}

static int dataset_stats(struct vg_api *a, struct dsinfo *d, struct vg_store_reader *r,
                         const struct vg_store_state *m, uint64_t *nrows, int64_t *first,
                         int64_t *last) {
  uint64_t tag = ds_tag(d, m);
  pthread_mutex_lock(&a->mu);
  int fresh = d->counted && d->counted_tag == tag;
  *nrows = d->nrows;
  *first = d->first_s;
  *last = d->last_s;
  pthread_mutex_unlock(&a->mu);
  if (fresh)
    return 0;
  struct dsinfo tmp = {.first_s = INT64_MAX, .last_s = INT64_MIN};
  struct vg_dataset_series_list l;
  char err[256];
  int rc = vg_dataset_series(d->ds, r, &l);
  if (rc)
    return rc;
  struct vg_dataset_scan sc = {
      .from_s = INT64_MIN, .to_s = INT64_MAX, .next_s = INT64_MIN};
  rc = vg_dataset_scan(d->ds, r, &l, &sc, on_count, &tmp, err, sizeof err);
  vg_dataset_series_release(&l);
  if (rc)
    return rc;
  pthread_mutex_lock(&a->mu);
  d->counted = 1;
  d->counted_tag = tag;
  d->nrows = *nrows = tmp.nrows;
  d->first_s = *first = tmp.first_s;
  d->last_s = *last = tmp.last_s;
  pthread_mutex_unlock(&a->mu);
  return 0;
}

static int write_dataset(struct vg_jsonw *w, struct vg_api *a, struct dsinfo *d,
                         struct vg_store_reader *r, const struct vg_store_state *m) {
  const struct vg_dataset_def *c = vg_dataset_definition(d->ds);
  uint64_t nrows;
  int64_t first, last;
  int rc = dataset_stats(a, d, r, m, &nrows, &first, &last);
  if (rc)
    return rc;
  size_t nf;
  const struct vg_odsql_field *fl = vg_dataset_fields(d->ds, &nf);
  char uid[32];
  snprintf(uid, sizeof uid, "vg_%016" PRIx64, d->def_hash);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "dataset_id", c->id);
  vg_jsonw_kv(w, "dataset_uid", uid);
  vg_jsonw_cstr(w, "has_records");
  vg_jsonw_bool(w, nrows != 0);
  vg_jsonw_cstr(w, "data_visible");
  vg_jsonw_bool(w, 1);
  vg_jsonw_cstr(w, "features");
  vg_jsonw_array(w);
  vg_jsonw_cstr(w, "timeserie");
  vg_jsonw_array_end(w);
  static const char *const empty[] = {"attachments", "alternative_exports"};
  for (size_t i = 0; i < 2; i++) {
    vg_jsonw_cstr(w, empty[i]);
    vg_jsonw_array(w);
    vg_jsonw_array_end(w);
  }
  vg_jsonw_cstr(w, "fields");
  vg_jsonw_array(w);
  for (size_t i = 0; i < nf; i++) {
    vg_jsonw_map(w);
    vg_jsonw_kv(w, "name", fl[i].name);
    vg_jsonw_kv(w, "label", field_label(fl[i].name));
    vg_jsonw_kv(w, "type", field_type(&fl[i]));
    vg_jsonw_kv(w, "description", NULL);
    vg_jsonw_cstr(w, "annotations");
    vg_jsonw_map(w);
    vg_jsonw_map_end(w);
    vg_jsonw_map_end(w);
  }
  vg_jsonw_array_end(w);
  char mod[VG_FMT_ISO_MAX];
  pthread_mutex_lock(&a->mu);
  vg_fmt_utc(d->modified, mod);
  pthread_mutex_unlock(&a->mu);
  vg_jsonw_cstr(w, "metas");
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "default");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "title", c->title ? c->title : c->id);
  vg_jsonw_kv(w, "description", c->description);
  vg_jsonw_cstr(w, "keyword");
  jlist(w, &c->keywords);
  vg_jsonw_kv(w, "license", c->license);
  vg_jsonw_kv(w, "license_url", license_url(c->license));
  vg_jsonw_kv(w, "publisher", c->publisher);
  vg_jsonw_kv(w, "modified", mod);
  vg_jsonw_kv(w, "data_processed", mod);
  vg_jsonw_cstr(w, "records_count");
  vg_jsonw_u64(w, nrows);
  vg_jsonw_kv(w, "timezone", vg_tz_name(vg_dataset_tz(d->ds)));
  vg_jsonw_kv(w, "resolution",
              vg_dataset_res(d->ds) == VG_STORE_EMIT_IND
                  ? "period"
                  : vg_res_name(vg_dataset_res(d->ds)));
  if (nrows) {
    jiso(w, "temporal_coverage_start", first, vg_dataset_tz(d->ds));
    jiso(w, "temporal_coverage_end", last, vg_dataset_tz(d->ds));
  }
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
  return vg_jsonw_error(w);
}

static struct dsinfo *find_ds(struct gen *g, const char *id) {
  for (size_t i = 0; i < g->n; i++)
    if (strcmp(vg_dataset_id(g->d[i].ds), id) == 0)
      return &g->d[i];
  return NULL;
}

/* ---- records ------------------------------------------------------------------------
 */

/* A refine or exclude filter: a text value, or a local calendar period of
 * a datetime field ([from_s, to_s) UTC). */
struct facet_filter {
  size_t field;
  int exclude;
  const char *text; /* text fields: the value (borrowed from the request) */
  size_t len;
  int64_t from_s, to_s;
};

struct query {
  struct dsinfo *d;
  const struct vg_odsql_field *fields;
  size_t nfields;
  size_t sel[64];
  size_t nsel;
  struct facet_filter facet[VG_API_MAX_FACETS];
  size_t nfacet;
  struct vg_odsql_where *where;
  struct vg_odsql_order order[16];
  size_t norder;
  struct vg_tz *tz; /* owned when the request named one */
  const struct vg_tz *zone;
  struct vg_odsql_analysis *ana;     /* group_by or aggregates: then sel and order
                                        are unused */
  const struct vg_http_request *req; /* while a handler scans: its client */
  uint64_t seen;                     /* rows scanned */
};

/* Every 4096 rows, whether the client is still there to read the answer:
 * -ECANCELED once it left, so that its scan stops (a closed dashboard must
 * not keep a core busy). */
static int query_alive(struct query *q) {
  if ((++q->seen & 4095) || !q->req)
    return 0;
  return vg_http_gone(q->req) ? -ECANCELED : 0;
}

static void query_release(struct query *q) {
  vg_odsql_where_free(q->where);
  vg_odsql_analysis_free(q->ana); /* before the zone it reads */
  vg_tz_free(q->tz);
}

/* The UTC start of local midnight of y-m-d in tz. */
static int64_t local_day_start(const struct vg_tz *tz, int64_t y, unsigned m,
                               unsigned d) {
  return vg_tz_local_to_utc(tz, vg_days_from_civil(y, m, d) * 86400, 0, NULL);
}

/* A date facet's value: YYYY, YYYY/MM or YYYY/MM/DD ('-' also separates),
 * the local year, month or day in tz as [*from_s, *to_s). 0, or -1. */
static int date_facet(const char *v, const struct vg_tz *tz, int64_t *from_s,
                      int64_t *to_s) {
  unsigned y, m = 0, d = 0;
  int n = 0;
  char s1 = 0, s2 = 0;
  if (strspn(v, "0123456789/-") != strlen(v))
    return -1;
  int full = sscanf(v, "%4u%c%2u%c%2u%n", &y, &s1, &m, &s2, &d, &n) == 5 && !v[n] &&
             (s1 == '/' || s1 == '-') && s2 == s1;
  if (!full) {
    d = 0;
    n = 0;
    int month = sscanf(v, "%4u%c%2u%n", &y, &s1, &m, &n) == 3 && !v[n] &&
                (s1 == '/' || s1 == '-');
    if (!month) {
      m = 0;
      n = 0;
      if (sscanf(v, "%4u%n", &y, &n) != 1 || v[n] || n != 4)
        return -1;
    }
  }
  if (y < 1000 || m > 12 || (d && (!m || d > 31)))
    return -1;
  if (d) {
    int64_t z = vg_days_from_civil(y, m, d);
    int64_t yy;
    unsigned mm, dd;
    vg_civil_from_days(z, &yy, &mm, &dd);
    if (mm != m) /* the 31st of a 30-day month */
      return -1;
    *from_s = local_day_start(tz, y, m, d);
    vg_civil_from_days(z + 1, &yy, &mm, &dd);
    *to_s = local_day_start(tz, yy, mm, dd);
  } else if (m) {
    *from_s = local_day_start(tz, y, m, 1);
    *to_s = local_day_start(tz, m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
  } else {
    *from_s = local_day_start(tz, y, 1, 1);
    *to_s = local_day_start(tz, y + 1, 1, 1);
  }
  return 0;
}

/* Resolves the request's refine / exclude arguments against the
 * dataset's fields. 0, or writes the error into err and returns -1. */
static int facet_filters(struct query *q, const struct vg_api_req *rq, char *err,
                         size_t errsize) {
  for (size_t i = 0; i < rq->nfacet; i++) {
    const char *arg = rq->facet[i], *colon = strchr(arg, ':');
    const char *what = rq->facet_exclude[i] ? "exclude" : "refine";
    size_t nlen = (size_t)(colon - arg), f = 0;
    while (f < q->nfields && (strlen(q->fields[f].name) != nlen ||
                              memcmp(q->fields[f].name, arg, nlen) != 0))
      f++;
    if (f == q->nfields || vg_odsql_numeric(q->fields[f].type)) {
      snprintf(err, errsize,
               "Invalid value for %s API parameter: \"%.*s\" is not a facet of this "
               "dataset (its text fields and datetime fields are).",
               what, (int)(nlen > 64 ? 64 : nlen), arg);
      return -1;
    }
    struct facet_filter *ff = &q->facet[q->nfacet++];
    *ff = (struct facet_filter){.field = f, .exclude = rq->facet_exclude[i]};
    if (q->fields[f].type == VG_ODSQL_TEXT) {
      ff->text = colon + 1;
      ff->len = strlen(colon + 1);
    } else if (date_facet(colon + 1, q->zone, &ff->from_s, &ff->to_s) != 0) {
      snprintf(err, errsize,
               "Invalid value for %s API parameter: \"%.64s\" was found but a date "
               "such as 2026, 2026/03 or 2026/03/29 is expected for %s.",
               what, colon + 1, q->fields[f].name);
      return -1;
    }
  }
  return 0;
}

/* Whether row passes every refine and exclude filter (a null cell is never
 * refined in, and never excluded). */
/* Whether a cell is what filter ff names (a null cell never is). */
static int facet_hit(const struct facet_filter *ff, const struct vg_odsql_value *v) {
  if (v->null)
    return 0;
  if (ff->text)
    return v->len == ff->len && (ff->len == 0 || memcmp(v->str, ff->text, ff->len) == 0);
  return v->time_s >= ff->from_s && v->time_s < ff->to_s;
}

/* Whether row passes every refine and exclude filter but the excludes of
 * field but (SIZE_MAX: every filter; a facet's own excludes do not hide its
 * values). */
static int facets_match_but(const struct query *q, const struct vg_odsql_value *row,
                            size_t but) {
  for (size_t i = 0; i < q->nfacet; i++) {
    const struct facet_filter *ff = &q->facet[i];
    if (ff->exclude && ff->field == but)
      continue;
    int in = facet_hit(ff, &row[ff->field]);
    if (ff->exclude ? in : !in)
      return 0;
  }
  return 1;
}

static int facets_match(const struct query *q, const struct vg_odsql_value *row) {
  return facets_match_but(q, row, SIZE_MAX);
}

/* Parses select, where, order_by and timezone against the dataset. 0, or
 * fills an error response and returns -1. */
static int query_init(struct query *q, struct dsinfo *d, const struct vg_api_req *rq,
                      struct vg_http_response *resp) {
  char err[512] = "";
  memset(q, 0, sizeof *q);
  q->d = d;
  q->fields = vg_dataset_fields(d->ds, &q->nfields);
  q->zone = vg_dataset_tz(d->ds);
  if (rq->timezone) {
    if (vg_tz_load(rq->timezone, &q->tz, err, sizeof err) != 0) {
      char msg[256];
      snprintf(msg, sizeof msg,
               "Invalid value for timezone API parameter: \"%s\" is not a "
               "known time zone.",
               rq->timezone);
      json_error(resp, 400, "InvalidRESTParameterError", msg);
      return -1;
    }
    q->zone = q->tz;
  }
  for (size_t i = 0; i < q->nfields && i < 64; i++)
    q->sel[q->nsel++] = i;
  if ((rq->route == VG_API_RECORDS || rq->route == VG_API_EXPORT) &&
      vg_odsql_analysis_parse(rq->select, rq->group_by, rq->order_by, q->fields,
                              q->nfields, q->zone, &q->ana, err, sizeof err) != 0)
    goto odsql;
  if (!q->ana && rq->select &&
      vg_odsql_select_parse(rq->select, strlen(rq->select), q->fields, q->nfields, q->sel,
                            64, &q->nsel, err, sizeof err) != 0)
    goto odsql;
  if (rq->where &&
      vg_odsql_where_parse(rq->where, strlen(rq->where), q->fields, q->nfields, q->zone,
                           &q->where, err, sizeof err) != 0)
    goto odsql;
  if (!q->ana && rq->order_by &&
      vg_odsql_order_parse(rq->order_by, strlen(rq->order_by), q->fields, q->nfields,
                           q->order, 16, &q->norder, err, sizeof err) != 0)
    goto odsql;
  if (facet_filters(q, rq, err, sizeof err) != 0) {
    json_error(resp, 400, "InvalidRESTParameterError", err);
    return -1;
  }
  return 0;
odsql:
  json_error(resp, 400, "ODSQLError", err[0] ? err : "ODSQL query is malformed.");
  return -1;
}

static int query_match(const struct query *q, const struct vg_dataset_row *row) {
  return vg_odsql_where_eval(q->where, row->v) && facets_match(q, row->v);
}

static void query_bounds(const struct query *q, struct vg_dataset_scan *sc) {
  memset(sc, 0, sizeof *sc);
  sc->from_s = INT64_MIN;
  sc->to_s = INT64_MAX;
  sc->next_s = INT64_MIN;
  if (q->where)
    vg_odsql_where_time_bounds(q->where, 0, &sc->from_s, &sc->to_s);
  for (size_t i = 0; i < q->nfacet; i++) /* a refined period of field 0 narrows */
    if (q->facet[i].field == 0 && !q->facet[i].text && !q->facet[i].exclude) {
      if (q->facet[i].from_s > sc->from_s)
        sc->from_s = q->facet[i].from_s;
      if (q->facet[i].to_s < sc->to_s)
        sc->to_s = q->facet[i].to_s;
    }
}

/* A row kept for ordering: values and their text in one block. */
struct kept {
  struct vg_odsql_value *v;
  uint64_t seq;
};

struct records {
  struct query *q;
  int64_t offset, limit;
  uint64_t total;
  struct vg_jsonw *page; /* an array of the page's rows */
  struct kept *k;        /* ordered: the best rows so far */
  size_t nk, capk;
  int oom;
  int stop; /* the count is known: stop once the page is full */
};

static struct vg_odsql_value *copy_values(const struct vg_odsql_value *v, size_t n) {
  size_t bytes = n * sizeof *v;
  for (size_t i = 0; i < n; i++)
    if (v[i].str)
      bytes += v[i].len + 1;
  struct vg_odsql_value *d = malloc(bytes);
  if (!d)
    return NULL;
  memcpy(d, v, n * sizeof *v);
  char *s = (char *)(d + n);
  for (size_t i = 0; i < n; i++)
    if (v[i].str) {
      memcpy(s, v[i].str, v[i].len);
      s[v[i].len] = 0;
      d[i].str = s;
      s += v[i].len + 1;
    }
  return d;
}

static int cmp_kept(const void *x, const void *y, void *arg) {
  const struct kept *a = x, *b = y;
  const struct query *q = arg;
  int c = 0;
  c = vg_odsql_row_cmp(q->order, q->norder, q->fields, a->v, b->v);
  return c ? c : (a->seq > b->seq) - (a->seq < b->seq);
}

static void keep_best(struct records *rc, size_t keep) {
  qsort_r(rc->k, rc->nk, sizeof *rc->k, cmp_kept, rc->q);
  for (size_t i = keep; i < rc->nk; i++)
    free(rc->k[i].v);
  if (rc->nk > keep)
    rc->nk = keep;
}

static void write_record(struct vg_jsonw *w, const struct query *q,
                         const struct vg_odsql_value *v) {
  struct vg_dataset_row row = {v, q->nfields, NULL, 0, 0};
  vg_dataset_json_row(w, q->d->ds, &row, q->sel, q->nsel, q->zone);
}

static int on_record(const struct vg_dataset_row *row, void *arg) {
  struct records *rc = arg;
  int alive = query_alive(rc->q);
  if (alive)
    return alive;
  if (!query_match(rc->q, row))
    return 0;
  uint64_t i = rc->total++;
  if (!rc->q->norder) {
    if ((int64_t)i >= rc->offset && (int64_t)i < rc->offset + rc->limit)
      write_record(rc->page, rc->q, row->v);
    return rc->stop && (int64_t)rc->total >= rc->offset + rc->limit;
  }
  size_t window = (size_t)(rc->offset + rc->limit);
  if (window == 0)
    return 0;
  if (rc->nk == rc->capk) {
    if (rc->nk >= 2 * window + 64) {
      keep_best(rc, window);
    } else {
      size_t cap = rc->capk ? 2 * rc->capk : 256;
      struct kept *k = realloc(rc->k, cap * sizeof *k);
      if (!k)
        return -ENOMEM;
      rc->k = k;
      rc->capk = cap;
    }
  }
  struct vg_odsql_value *v = copy_values(row->v, row->n);
  if (!v)
    return -ENOMEM;
  rc->k[rc->nk++] = (struct kept){v, i};
  return 0;
}

/* ---- analysis: group_by and aggregates ------------------------------------------ */

static int on_group_row(const struct vg_dataset_row *row, void *arg) {
  struct query *q = ((void **)arg)[0];
  struct vg_odsql_groups *gs = ((void **)arg)[1];
  int alive = query_alive(q);
  if (alive)
    return alive;
  return query_match(q, row) ? vg_odsql_groups_add(gs, row->v) : 0;
}

/* The groups of q's analysis over every matching row of the dataset. 0 with
 * *out, or fills an error response and returns -1. */
static int group_rows(struct query *q, struct vg_store_reader *r,
                      struct vg_odsql_groups **out, struct vg_http_response *resp) {
  char err[256] = "";
  struct vg_dataset_series_list l;
  struct vg_dataset_scan sc;
  struct vg_odsql_groups *gs;
  int rc = vg_odsql_groups_new(q->ana, &gs);
  if (rc) {
    json_error(resp, 500, "InternalError", "out of memory");
    return -1;
  }
  query_bounds(q, &sc);
  rc = vg_dataset_series(q->d->ds, r, &l);
  if (!rc) {
    void *arg[2] = {q, gs};
    rc = vg_dataset_scan(q->d->ds, r, &l, &sc, on_group_row, arg, err, sizeof err);
    vg_dataset_series_release(&l);
  }
  if (!rc)
    rc = vg_odsql_groups_finish(gs);
  if (rc == -E2BIG) {
    snprintf(err, sizeof err,
             "The query makes more than %d groups: narrow it with where or refine, or "
             "group by coarser keys.",
             VG_ODSQL_MAX_GROUPS);
    json_error(resp, 400, "ODSQLError", err);
  } else if (rc == -ECANCELED) {
    json_error(resp, 503, "ClientGone", "The client closed the connection.");
  } else if (rc) {
    char msg[400];
    snprintf(msg, sizeof msg, "cannot read the store: %s",
             err[0] ? err : vg_strerror(rc));
    json_error(resp, 500, "InternalError", msg);
  }
  if (rc) {
    vg_odsql_groups_free(gs);
    return -1;
  }
  *out = gs;
  return 0;
}

/* Groups [from, to) of gs as JSON objects into w. */
static void write_groups(struct vg_jsonw *w, const struct query *q,
                         const struct vg_odsql_groups *gs, size_t from, size_t to) {
  size_t ncols, nout;
  const struct vg_odsql_field *cols = vg_odsql_analysis_columns(q->ana, &ncols);
  const size_t *out = vg_odsql_analysis_output(q->ana, &nout);
  for (size_t i = from; i < to; i++)
    vg_rows_json_row(w, cols, vg_odsql_groups_row(gs, i), out, nout, q->zone);
}

/* ---- facets ---------------------------------------------------------------------- */

/* One facet being counted: a text field's values, or one level of a
 * datetime field's calendar (1 year, 2 month, 3 day), as an analysis
 * (count(*) grouped by the value) over the rows that pass every filter but
 * the excludes of its own field (an excluded value is listed, with its
 * count, as "excluded"). */
struct facet_count {
  size_t field;
  int level;
  struct vg_odsql_analysis *a;
  struct vg_odsql_groups *g;
};

struct facets {
  struct query *q;
  struct facet_count c[3 * VG_API_MAX_FACETS + 64];
  size_t n;
};

static void facets_release(struct facets *fs) {
  for (size_t i = 0; i < fs->n; i++) {
    vg_odsql_groups_free(fs->c[i].g);
    vg_odsql_analysis_free(fs->c[i].a);
  }
}

static int on_facet_row(const struct vg_dataset_row *row, void *arg) {
  struct facets *fs = arg;
  int alive = query_alive(fs->q);
  if (alive)
    return alive;
  if (!vg_odsql_where_eval(fs->q->where, row->v))
    return 0;
  for (size_t i = 0; i < fs->n; i++)
    if (facets_match_but(fs->q, row->v, fs->c[i].field)) {
      int rc = vg_odsql_groups_add(fs->c[i].g, row->v);
      if (rc)
        return rc;
    }
  return 0;
}

/* The field a facet argument names: FIELD or facet(name="FIELD"). */
static int facet_arg_field(const struct query *q, const char *arg, size_t *field) {
  const char *name = arg;
  size_t len = strlen(arg);
  if (strncmp(arg, "facet(", 6) == 0) {
    const char *n = strstr(arg, "name=");
    if (!n || (n[5] != '"' && n[5] != '\''))
      return -1;
    name = n + 6;
    const char *end = strchr(name, n[5]);
    if (!end)
      return -1;
    len = (size_t)(end - name);
  }
  for (size_t f = 0; f < q->nfields; f++)
    if (strlen(q->fields[f].name) == len && memcmp(q->fields[f].name, name, len) == 0 &&
        !vg_odsql_numeric(q->fields[f].type)) {
      *field = f;
      return 0;
    }
  return -1;
}

/* How deep the request refines datetime field f: 0, or 1 (a year), 2 (a
 * month), 3 (a day). */
static int refine_depth(const struct vg_api_req *rq, const struct query *q, size_t f) {
  int depth = 0;
  size_t nlen = strlen(q->fields[f].name);
  for (size_t i = 0; i < rq->nfacet; i++) {
    const char *v = rq->facet[i];
    if (rq->facet_exclude[i] || strncmp(v, q->fields[f].name, nlen) != 0 ||
        v[nlen] != ':')
      continue;
    int d = 1;
    for (const char *c = v + nlen + 1; *c; c++)
      d += *c == '/' || *c == '-';
    if (d > depth)
      depth = d;
  }
  return depth;
}

/* Sets up the counts the request asks for (every text and datetime field
 * when it names none). 0, or fills an error response and returns -1. */
static int facets_init(struct facets *fs, struct query *q, const struct vg_api_req *rq,
                       struct vg_http_response *resp) {
  static const char *const pattern[] = {"yyyy", "yyyy/MM", "yyyy/MM/dd"};
  size_t want[VG_API_MAX_FACETS + 64], nwant = 0;
  memset(fs, 0, sizeof *fs);
  fs->q = q;
  for (size_t i = 0; i < rq->nfacet_name; i++) {
    size_t f;
    if (facet_arg_field(q, rq->facet_name[i], &f) != 0) {
      char msg[400];
      snprintf(msg, sizeof msg,
               "Invalid value for facet API parameter: \"%.200s\" is not a facet of this "
               "dataset (its text fields and datetime fields are).",
               rq->facet_name[i]);
      json_error(resp, 400, "InvalidRESTParameterError", msg);
      return -1;
    }
    want[nwant++] = f;
  }
  for (size_t f = 0; !rq->nfacet_name && f < q->nfields && nwant < 64; f++)
    if (!vg_odsql_numeric(q->fields[f].type))
      want[nwant++] = f;
  for (size_t i = 0; i < nwant; i++) {
    size_t f = want[i];
    int levels = q->fields[f].type == VG_ODSQL_TEXT ? 1 : refine_depth(rq, q, f) + 1;
    if (levels > 3)
      levels = 3;
    for (int l = 0; l < levels; l++) {
      char group[160], err[256];
      struct facet_count *c = &fs->c[fs->n];
      if (q->fields[f].type == VG_ODSQL_TEXT)
        snprintf(group, sizeof group, "`%s`", q->fields[f].name);
      else
        snprintf(group, sizeof group, "date_format(`%s`, '%s')", q->fields[f].name,
                 pattern[l]);
      c->field = f;
      c->level = q->fields[f].type == VG_ODSQL_TEXT ? 0 : l + 1;
      if (vg_odsql_analysis_parse(NULL, group, "count(*) desc", q->fields, q->nfields,
                                  q->zone, &c->a, err, sizeof err) != 0 ||
          !c->a || vg_odsql_groups_new(c->a, &c->g) != 0) {
        vg_odsql_analysis_free(c->a);
        json_error(resp, 500, "InternalError", "cannot set up the facets");
        return -1;
      }
      fs->n++;
    }
  }
  return 0;
}

/* The state of a facet value: refined when a refine of the field lies
 * within it, excluded when an exclude of the field is it. */
static const char *facet_state(const struct query *q, size_t field,
                               const struct vg_odsql_value *v) {
  int64_t from = 0, to = 0;
  char buf[64];
  if (q->fields[field].type == VG_ODSQL_DATETIME) {
    snprintf(buf, sizeof buf, "%.*s", (int)(v->len < 32 ? v->len : 32), v->str);
    if (date_facet(buf, q->zone, &from, &to) != 0)
      return "displayed";
  }
  for (size_t i = 0; i < q->nfacet; i++) {
    const struct facet_filter *ff = &q->facet[i];
    if (ff->field != field)
      continue;
    int hit = ff->text      ? facet_hit(ff, v)
              : ff->exclude ? ff->from_s == from && ff->to_s == to
                            : ff->from_s >= from && ff->to_s <= to;
    if (hit)
      return ff->exclude ? "excluded" : "refined";
  }
  return "displayed";
}

/* {"links": [], "facets": [ ... ]} around the facets of an answer. */
static void facets_begin(struct vg_jsonw *w) {
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "links");
  vg_jsonw_array(w);
  vg_jsonw_array_end(w);
  vg_jsonw_cstr(w, "facets");
  vg_jsonw_array(w);
}

static void facets_end(struct vg_jsonw *w) {
  vg_jsonw_array_end(w);
  vg_jsonw_map_end(w);
  vg_jsonw_raw(w, "\n");
}

/* One value of a facet, its object left open (for nested facets). */
static void facet_value(struct vg_jsonw *w, const char *v, size_t len, uint64_t count,
                        const char *state) {
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "name");
  vg_jsonw_str(w, v, len);
  vg_jsonw_cstr(w, "value");
  vg_jsonw_str(w, v, len);
  vg_jsonw_cstr(w, "count");
  vg_jsonw_u64(w, count);
  vg_jsonw_kv(w, "state", state);
}

/* The values of counts c[i..] of one field, nested by calendar level under
 * the refined value of the level above. */
static void write_facet_values(struct vg_jsonw *w, const struct facets *fs, size_t i,
                               const char *parent, size_t plen) {
  const struct facet_count *c = &fs->c[i];
  size_t n = vg_odsql_groups_count(c->g), nout;
  const size_t *out = vg_odsql_analysis_output(c->a, &nout);
  (void)nout;
  vg_jsonw_array(w);
  for (size_t k = 0; k < n; k++) {
    const struct vg_odsql_value *row = vg_odsql_groups_row(c->g, k);
    const struct vg_odsql_value *v = &row[out[0]];
    if (v->null || (parent && (v->len <= plen || memcmp(v->str, parent, plen) != 0 ||
                               v->str[plen] != '/')))
      continue;
    const char *state = facet_state(fs->q, c->field, v);
    facet_value(w, v->str, v->len, (uint64_t)row[1].num, state);
    if (strcmp(state, "refined") == 0 && i + 1 < fs->n &&
        fs->c[i + 1].field == c->field && fs->c[i + 1].level == c->level + 1) {
      vg_jsonw_cstr(w, "facets");
      write_facet_values(w, fs, i + 1, v->str, v->len);
    }
    vg_jsonw_map_end(w);
  }
  vg_jsonw_array_end(w);
}

/* Counts every facet over the dataset and writes {"links", "facets"}. */
static int write_facets(struct vg_jsonw *w, struct facets *fs, struct vg_store_reader *r,
                        char *err, size_t errsize) {
  struct vg_dataset_series_list l;
  struct vg_dataset_scan sc;
  query_bounds(fs->q, &sc);
  int rc = vg_dataset_series(fs->q->d->ds, r, &l);
  if (rc)
    return rc;
  rc = vg_dataset_scan(fs->q->d->ds, r, &l, &sc, on_facet_row, fs, err, errsize);
  vg_dataset_series_release(&l);
  for (size_t i = 0; !rc && i < fs->n; i++)
    rc = vg_odsql_groups_finish(fs->c[i].g);
  if (rc)
    return rc;
  facets_begin(w);
  for (size_t i = 0; i < fs->n; i++) {
    if (fs->c[i].level > 1)
      continue; /* nested under level 1 */
    vg_jsonw_map(w);
    vg_jsonw_kv(w, "name", fs->q->fields[fs->c[i].field].name);
    vg_jsonw_cstr(w, "facets");
    write_facet_values(w, fs, i, NULL, 0);
    vg_jsonw_map_end(w);
  }
  facets_end(w);
  return 0;
}

/* The catalog's facets: how many datasets have each publisher, keyword,
 * license and high-value category. */
static void write_catalog_facets(struct vg_jsonw *w, const struct gen *g) {
  static const char *const names[] = {"publisher", "keyword", "license", "hvd_category"};
  facets_begin(w);
  for (size_t k = 0; k < 4; k++) {
    /* the values, in first-seen order, and their counts */
    const char *vals[256];
    uint64_t counts[256];
    size_t nv = 0;
    for (size_t i = 0; i < g->n; i++) {
      const struct vg_dataset_def *def = vg_dataset_definition(g->d[i].ds);
      const char *one[] = {def->publisher, NULL, def->license, def->hvd_category};
      size_t nvals = k == 1 ? def->keywords.n : one[k] != NULL;
      for (size_t j = 0; j < nvals; j++) {
        const char *v = k == 1 ? def->keywords.v[j] : one[k];
        size_t x = 0;
        while (x < nv && strcmp(vals[x], v) != 0)
          x++;
        if (x == nv && nv < 256) {
          vals[nv] = v;
          counts[nv++] = 0;
        }
        if (x < nv)
          counts[x]++;
      }
    }
    vg_jsonw_map(w);
    vg_jsonw_kv(w, "name", names[k]);
    vg_jsonw_cstr(w, "facets");
    vg_jsonw_array(w);
    for (size_t x = 0; x < nv; x++) {
      facet_value(w, vals[x], strlen(vals[x]), counts[x], "displayed");
      vg_jsonw_map_end(w);
    }
    vg_jsonw_array_end(w);
    vg_jsonw_map_end(w);
  }
  facets_end(w);
}

/* ---- exports (streamed) ----------------------------------------------------------- */

struct export {
  struct vg_api *a;
  struct gen *g; /* keeps q.d alive across a reload */
  struct query q;
  struct vg_dataset_series_list l;
  struct vg_dataset_scan sc;
  int fmt;
  char delim;
  int bom;
  int64_t skip, left; /* offset, limit (-1: all) */
  uint64_t nrows;
  int started, ended, full;
  FILE *f;
  struct vg_jsonw *jw; /* a JSON row, then copied to f */
  char *buf;
  size_t len, pos;
  struct vg_odsql_groups *groups; /* an analysis: its rows, computed first */
  size_t gpos;
};

static int on_export(const struct vg_dataset_row *row, void *arg) {
  struct export *x = arg;
  if (!query_match(&x->q, row))
    return 0;
  if (x->skip > 0) {
    x->skip--;
    return 0;
  }
  if (x->left == 0) {
    x->full = 1;
    return 1;
  }
  if (x->left > 0)
    x->left--;
  switch (x->fmt) {
  case VG_DS_CSV:
    vg_dataset_csv_row(x->f, x->q.d->ds, row, x->q.sel, x->q.nsel, x->q.zone, x->delim);
    break;
  case VG_DS_JSON: /* the array's framing is fixed text around the rows */
    fputs(x->nrows ? ",\n" : "\n", x->f);
    vg_dataset_json_row(x->jw, x->q.d->ds, row, x->q.sel, x->q.nsel, x->q.zone);
    break;
  case VG_DS_JSONL:
    vg_dataset_json_row(x->jw, x->q.d->ds, row, x->q.sel, x->q.nsel, x->q.zone);
    vg_jsonw_raw(x->jw, "\n");
    break;
  case VG_DS_GEOJSON:
    fputs(x->nrows ? ",\n" : "\n", x->f);
    vg_dataset_geojson_row(x->jw, x->q.d->ds, row, x->q.sel, x->q.nsel, x->q.zone);
    break;
  }
  x->nrows++;
  return x->fmt == VG_DS_CSV ? 0 : vg_jsonw_flush(x->jw, x->f);
}

/* The next few thousand rows of an analysis into x->f; sets sc.done after
 * the last. */
static int export_groups(struct export *x) {
  size_t n = vg_odsql_groups_count(x->groups), ncols, nout;
  const struct vg_odsql_field *cols = vg_odsql_analysis_columns(x->q.ana, &ncols);
  const size_t *out = vg_odsql_analysis_output(x->q.ana, &nout);
  if (x->gpos == 0)
    x->gpos = x->skip < 0 ? 0 : (size_t)x->skip;
  for (int k = 0; k < 2000 && x->gpos < n && x->left != 0; k++, x->gpos++) {
    const struct vg_odsql_value *v = vg_odsql_groups_row(x->groups, x->gpos);
    if (x->left > 0)
      x->left--;
    if (x->fmt == VG_DS_CSV) {
      vg_rows_csv_row(x->f, cols, v, out, nout, x->q.zone, x->delim);
    } else {
      if (x->fmt == VG_DS_JSON)
        fputs(x->nrows ? ",\n" : "\n", x->f);
      vg_rows_json_row(x->jw, cols, v, out, nout, x->q.zone);
      if (x->fmt == VG_DS_JSONL)
        vg_jsonw_raw(x->jw, "\n");
      if (vg_jsonw_flush(x->jw, x->f))
        return -1;
    }
    x->nrows++;
  }
  if (x->gpos >= n || x->left == 0)
    x->sc.done = 1;
  return 0;
}

/* Produces the next chunk of text into x->buf. 0 or -1 (abort). */
static int export_chunk(struct export *x) {
  free(x->buf);
  x->buf = NULL;
  x->len = x->pos = 0;
  x->f = open_memstream(&x->buf, &x->len);
  if (!x->f)
    return -1;
  int rc = 0;
  if (!x->started) {
    x->started = 1;
    if (x->fmt == VG_DS_CSV) {
      if (x->bom)
        fputs("\xEF\xBB\xBF", x->f);
      if (x->groups) {
        size_t ncols, nout;
        const struct vg_odsql_field *cols = vg_odsql_analysis_columns(x->q.ana, &ncols);
        const size_t *out = vg_odsql_analysis_output(x->q.ana, &nout);
        vg_rows_csv_header(x->f, cols, out, nout, x->delim);
      } else {
        vg_dataset_csv_header(x->f, x->q.d->ds, x->q.sel, x->q.nsel, x->delim);
      }
    } else if (x->fmt == VG_DS_JSON) {
      putc('[', x->f);
    } else if (x->fmt == VG_DS_GEOJSON) {
      fputs("{\"type\":\"FeatureCollection\",\"features\":[", x->f);
    }
  }
  if (x->groups) {
    rc = export_groups(x);
  } else if (!x->sc.done && !x->full) {
    struct vg_store_reader *r = NULL;
    char err[256];
    if (x->a->st.open(x->a->st.ctx, &r) != 0) {
      rc = -1;
    } else {
      x->sc.max_rows = 2000;
      int s =
          vg_dataset_scan(x->q.d->ds, r, &x->l, &x->sc, on_export, x, err, sizeof err);
      x->a->st.close(x->a->st.ctx, r);
      if (s < 0)
        rc = -1;
    }
  }
  if (!rc && (x->sc.done || x->full) && !x->ended) {
    x->ended = 1;
    if (x->fmt == VG_DS_JSON)
      fputs(x->nrows ? "\n]\n" : "]\n", x->f);
    else if (x->fmt == VG_DS_GEOJSON)
      fputs(x->nrows ? "\n]}\n" : "]}\n", x->f);
  }
  if (fclose(x->f) != 0)
    rc = -1;
  x->f = NULL;
  return rc;
}

static long export_read(void *ctx, char *buf, size_t max) {
  struct export *x = ctx;
  while (x->pos == x->len) {
    if (x->ended)
      return 0;
    if (export_chunk(x) != 0)
      return -1;
  }
  size_t n = x->len - x->pos < max ? x->len - x->pos : max;
  memcpy(buf, x->buf + x->pos, n);
  x->pos += n;
  return (long)n;
}

static void export_free(void *ctx) {
  struct export *x = ctx;
  vg_odsql_groups_free(x->groups);
  query_release(&x->q);
  gen_put(x->a, x->g);
  vg_dataset_series_release(&x->l);
  vg_jsonw_free(x->jw);
  free(x->buf);
  free(x);
}

/* A streamed export of d from the scan's start; takes q (released on
 * failure). NULL when out of memory or the series cannot be listed. */
static struct export *export_new(struct vg_api *a, struct gen *g, struct dsinfo *d,
                                 struct vg_store_reader *r, const struct vg_api_req *rq,
                                 struct query *q, struct vg_odsql_groups *groups) {
  struct export *x = calloc(1, sizeof *x);
  if (x)
    x->jw = vg_jsonw_new(0);
  if (!x || !x->jw || vg_dataset_series(d->ds, r, &x->l) != 0) {
    if (x)
      vg_jsonw_free(x->jw);
    free(x);
    query_release(q);
    vg_odsql_groups_free(groups);
    return NULL;
  }
  x->groups = groups;
  x->a = a;
  pthread_mutex_lock(&a->mu);
  g->refs++; /* the generation q->d belongs to, not a newer one */
  pthread_mutex_unlock(&a->mu);
  x->g = g;
  x->q = *q;
  x->q.req = NULL; /* its chunks are read after the handler returned */
  query_bounds(&x->q, &x->sc);
  x->fmt = rq->format;
  x->delim = rq->delimiter;
  x->bom = rq->with_bom;
  x->skip = rq->offset;
  x->left = rq->limit;
  return x;
}

/* ---- changes -------------------------------------------------------------------------
 */

struct byid {
  uint64_t id;
  size_t idx;
};

static int cmp_byid(const void *a, const void *b) {
  uint64_t x = ((const struct byid *)a)->id, y = ((const struct byid *)b)->id;
  return (x > y) - (x < y);
}

struct changes {
  struct query *q;
  struct vg_store_reader *r;
  const struct vg_dataset_series_list *l;
  struct byid *ids; /* every store series of l (a merge_by group's members) */
  size_t nids;
  uint64_t first_seq;
  int have_first;
  uint64_t scanned, limit, last_seq, nrows;
  struct vg_jsonw *page; /* an array of the rows */
  struct {
    size_t series; /* index in l: a merge_by group's members are one */
    int64_t group;
  } seen[256];
  size_t nseen;
  int err;
};

static int on_first(const struct vg_store_emit *e, void *arg) {
  struct changes *c = arg;
  c->first_seq = e->seq;
  c->have_first = 1;
  return 1;
}

static int on_change_row(const struct vg_dataset_row *row, void *arg) {
  struct changes *c = arg;
  write_record(c->page, c->q, row->v);
  c->nrows++;
  return 0;
}

static int on_change(const struct vg_store_emit *e, void *arg) {
  struct changes *c = arg;
  if (c->scanned == c->limit)
    return 1;
  uint64_t prev_seq = c->last_seq;
  c->scanned++;
  c->last_seq = e->seq;
  if (e->res != vg_dataset_res(c->q->d->ds))
    return 0;
  struct byid key = {e->series, 0};
  const struct byid *hit = bsearch(&key, c->ids, c->nids, sizeof key, cmp_byid);
  if (!hit)
    return 0;
  /* the whole group is re-sent (a revision may move secondary
   * suppression within its day); once per page */
  int64_t group = vg_dataset_group(c->q->d->ds, e->start);
  for (size_t i = 0; i < c->nseen; i++)
    if (c->seen[i].series == hit->idx && c->seen[i].group == group)
      return 0;
  if (c->nseen == sizeof c->seen / sizeof *c->seen) {
    /* the page is full of groups: it ends before this record, which the
     * next page (cursor last_seq + 1) starts with */
    c->scanned--;
    c->last_seq = prev_seq;
    c->limit = c->scanned;
    return 1;
  }
  c->seen[c->nseen].series = hit->idx;
  c->seen[c->nseen++].group = group;
  int cbrc;
  char err[256];
  int rc = vg_dataset_window(c->q->d->ds, c->r, &c->l->v[hit->idx], e->start,
                             on_change_row, c, &cbrc, err, sizeof err);
  if (rc < 0) {
    c->err = rc;
    return rc;
  }
  return 0;
}

/* ---- dispatch ------------------------------------------------------------------------
 */

struct argv {
  struct vg_api_arg v[64];
  size_t n;
};

static void on_arg(const char *key, const char *value, void *ctx) {
  struct argv *a = ctx;
  if (a->n < sizeof a->v / sizeof *a->v)
    a->v[a->n++] = (struct vg_api_arg){key, value};
}

/* What names an answer in the cache: the path and the arguments, in
 * request order, each NUL-terminated. */
struct answer_key {
  char *v;
  size_t n;
};

static int answer_key(const char *path, const struct argv *args, struct answer_key *k) {
  size_t n = strlen(path) + 1;
  for (size_t i = 0; i < args->n; i++)
    n += strlen(args->v[i].key) + 2 + (args->v[i].value ? strlen(args->v[i].value) : 0);
  k->v = malloc(n);
  if (!k->v)
    return -ENOMEM;
  k->n = 0;
  memcpy(k->v, path, strlen(path) + 1);
  k->n += strlen(path) + 1;
  for (size_t i = 0; i < args->n; i++) {
    const char *kv[2] = {args->v[i].key, args->v[i].value ? args->v[i].value : ""};
    for (int j = 0; j < 2; j++) { /* a bare key and key= are the same answer */
      size_t l = strlen(kv[j]) + 1;
      memcpy(k->v + k->n, kv[j], l);
      k->n += l;
    }
  }
  return 0;
}

/* Whether s is printable ASCII without spaces and without any of banned. */
static int plain_ascii(const char *s, const char *banned) {
  for (const char *p = s; *p; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || strchr(banned, *p))
      return 0;
  return 1;
}

int vg_api_public_url_ok(const char *u) {
  const char *host = strncmp(u, "https://", 8) == 0  ? u + 8
                     : strncmp(u, "http://", 7) == 0 ? u + 7
                                                     : NULL;
  return host && *host && *host != '/' && strlen(u) <= 200 &&
         plain_ascii(u, "\"'<>\\?#`{}|^");
}

#define HVD_VOCAB "http://data.europa.eu/bna/"
/* Regulation (EU) 2023/138, the high-value datasets' implementing act */
#define HVD_REGULATION "http://data.europa.eu/eli/reg_impl/2023/138/oj"

int vg_api_hvd_category(const char *v, char *buf, size_t size) {
  const char *code =
      strncmp(v, HVD_VOCAB, strlen(HVD_VOCAB)) == 0 ? v + strlen(HVD_VOCAB) : v;
  if (strncmp(code, "c_", 2) != 0 || strlen(code) != 10)
    return -1;
  for (const char *p = code + 2; *p; p++)
    if (!isxdigit((unsigned char)*p))
      return -1;
  snprintf(buf, size, HVD_VOCAB "%s", code);
  return 0;
}

int vg_api_contact_ok(const char *v) {
  if (strncmp(v, "http://", 7) == 0 || strncmp(v, "https://", 8) == 0)
    return vg_api_public_url_ok(v);
  const char *addr = strncmp(v, "mailto:", 7) == 0 ? v + 7 : v;
  const char *at = strchr(addr, '@');
  return at && at != addr && at[1] && !strchr(at + 1, '@') && strchr(at + 1, '.') &&
         strlen(v) <= 200 && plain_ascii(addr, "\"'<>\\?#`{}|^()[],;:");
}

/* The base of the links printed in answer to req: http.public_url, or
 * http:// and the request's Host header (when it is a plain host[:port]). */
static void base_url(const struct gen *g, const struct vg_http_request *req, char *buf,
                     size_t size) {
  if (g->public_url) {
    snprintf(buf, size, "%s", g->public_url);
    return;
  }
  const char *host = vg_http_header(req, "Host");
  int ok = host && *host && strlen(host) < 200;
  for (const char *p = host; ok && *p; p++)
    ok = isalnum((unsigned char)*p) || strchr(".-:[]", *p);
  snprintf(buf, size, "http://%s", ok ? host : "localhost");
}

/* A key whose value is {"@id": id}. */
static void jid(struct vg_jsonw *w, const char *key, const char *id) {
  vg_jsonw_cstr(w, key);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@id", id);
  vg_jsonw_map_end(w);
}

/* A key whose value is {"@id": id, "@type": type}: DCAT-AP 3.0's range
 * shapes want each referenced resource's class in the published graph. */
static void jtyped(struct vg_jsonw *w, const char *key, const char *id,
                   const char *type) {
  vg_jsonw_cstr(w, key);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@id", id);
  vg_jsonw_kv(w, "@type", type);
  vg_jsonw_map_end(w);
}

/* A key whose value is {"@value": value, "@type": "xsd:dateTime"}. */
static void jdate(struct vg_jsonw *w, const char *key, const char *value) {
  vg_jsonw_cstr(w, key);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@value", value);
  vg_jsonw_kv(w, "@type", "xsd:dateTime");
  vg_jsonw_map_end(w);
}

static void jpublisher(struct vg_jsonw *w, const char *name) {
  vg_jsonw_cstr(w, "dct:publisher");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@type", "foaf:Agent");
  vg_jsonw_kv(w, "foaf:name", name);
  vg_jsonw_map_end(w);
}

/* What flags a high-value dataset and each of its distributions: the
 * regulation (and the category, given as its IRI). */
static void jhvd(struct vg_jsonw *w, const char *category) {
  jtyped(w, "dcatap:applicableLegislation", HVD_REGULATION, "eli:LegalResource");
  if (!category)
    return;
  /* the regulation's six categories by name; a narrower one by its code */
  static const char *const names[][2] = {
      {"c_ac64a52d", "Geospatial"},
      {"c_dd313021", "Earth observation and environment"},
      {"c_164e0bf5", "Meteorological"},
      {"c_e1da4e07", "Statistics"},
      {"c_a9135398", "Companies and company ownership"},
      {"c_b79e35eb", "Mobility"}};
  const char *code = category + strlen(HVD_VOCAB), *label = code;
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (strcmp(names[i][0], code) == 0)
      label = names[i][1];
  vg_jsonw_cstr(w, "dcatap:hvdCategory");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@id", category);
  vg_jsonw_kv(w, "@type", "skos:Concept");
  vg_jsonw_cstr(w, "skos:prefLabel");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@value", label);
  vg_jsonw_kv(w, "@language", "en");
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
}

/* dcat:contactPoint: a vcard:Kind with the address (e-mail or URL). */
static void jcontact(struct vg_jsonw *w, const char *contact) {
  vg_jsonw_cstr(w, "dcat:contactPoint");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@type", "vcard:Kind");
  int web = strncmp(contact, "http://", 7) == 0 || strncmp(contact, "https://", 8) == 0;
  char *mail = NULL;
  if (!web && strncmp(contact, "mailto:", 7) != 0 &&
      asprintf(&mail, "mailto:%s", contact) < 0)
    mail = NULL;
  jid(w, web ? "vcard:hasURL" : "vcard:hasEmail", mail ? mail : contact);
  free(mail);
  vg_jsonw_map_end(w);
}

/* The high-value dataset's Explore API, as the distribution whose access
 * service it is (DCAT-AP HVD: bulk downloads beside an API). */
static void write_api_service(struct vg_jsonw *w, const struct vg_dataset_def *c,
                              const char *dsurl, const char *base, const char *licurl,
                              const char *category) {
  char records[640], endpoint[320];
  snprintf(records, sizeof records, "%s/records", dsurl);
  snprintf(endpoint, sizeof endpoint, "%s" VG_API_PREFIX, base);
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@id", records);
  vg_jsonw_kv(w, "@type", "dcat:Distribution");
  vg_jsonw_kv(w, "dct:title", "Explore API v2.1 (records)");
  jtyped(w, "dcat:accessURL", records, "rdfs:Resource");
  jtyped(w, "dcat:mediaType",
         "http://www.iana.org/assignments/media-types/application/json", "dct:MediaType");
  jtyped(w, "dct:license", licurl, "dct:LicenseDocument");
  jhvd(w, NULL);
  vg_jsonw_cstr(w, "dcat:accessService");
  vg_jsonw_map(w);
  char id[700];
  snprintf(id, sizeof id, "%s#api", dsurl);
  vg_jsonw_kv(w, "@id", id);
  vg_jsonw_kv(w, "@type", "dcat:DataService");
  vg_jsonw_kv(w, "dct:title", "Opendatasoft-compatible Explore API v2.1");
  jtyped(w, "dcat:endpointURL", endpoint, "rdfs:Resource");
  jid(w, "dcat:servesDataset", dsurl);
  jtyped(w, "foaf:page", dsurl, "foaf:Document");
  jcontact(w, c->contact_point);
  jtyped(w, "dct:license", licurl, "dct:LicenseDocument");
  jhvd(w, category);
  vg_jsonw_map_end(w);
  vg_jsonw_map_end(w);
}

/* A mobility-count file of the dataset at url (comptage.h) as a
 * distribution that conforms to its schema's page (the data package: to the
 * schema's home). */
static void write_comptage_distribution(struct vg_jsonw *w, const char *url, int file,
                                        const char *licurl, int hvd) {
  static const char *const part[] = {"site", "channel", "measure"};
  char link[640], std[256], title[96];
  int pkg = file == VG_CM_PACKAGE;
  snprintf(link, sizeof link, "%s/" CM_EXPORTS "%s", url, vg_cm_file_name(file));
  if (pkg)
    snprintf(std, sizeof std, "%s", VG_CM_SCHEMA_HOME);
  else
    snprintf(std, sizeof std,
             "https://schema.data.gouv.fr/etalab/schema-comptage-mobilites-%s/%s/",
             part[file], VG_CM_SCHEMA_VERSION);
  snprintf(title, sizeof title, "Comptage des mobilités %s: %s", VG_CM_SCHEMA_VERSION,
           vg_cm_file_name(file));
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "@id", link);
  vg_jsonw_kv(w, "@type", "dcat:Distribution");
  vg_jsonw_kv(w, "dct:title", title);
  jtyped(w, "dcat:accessURL", link, "rdfs:Resource");
  jid(w, "dcat:downloadURL", link);
  jtyped(w, "dcat:mediaType",
         pkg ? "http://www.iana.org/assignments/media-types/application/json"
             : "http://www.iana.org/assignments/media-types/text/csv",
         "dct:MediaType");
  jtyped(w, "dct:format",
         pkg ? "http://publications.europa.eu/resource/authority/file-type/JSON"
             : "http://publications.europa.eu/resource/authority/file-type/CSV",
         "dct:MediaTypeOrExtent");
  jtyped(w, "dct:conformsTo", std, "dct:Standard");
  jtyped(w, "dct:license", licurl, "dct:LicenseDocument");
  if (hvd)
    jhvd(w, NULL);
  vg_jsonw_map_end(w);
}

static void write_dcat(struct vg_jsonw *w, struct vg_api *a, struct gen *g,
                       struct vg_store_reader *r, const struct vg_store_state *m,
                       const char *base) {
  static const char *const media[] = {"text/csv", "application/json", "application/jsonl",
                                      "application/geo+json"};
  static const char *const fmtlabel[] = {"CSV", "JSON", "JSONL", "GeoJSON"};
  /* the EU file-type vocabulary's entries (JSON Lines has none of its own:
   * JSON, its media type tells them apart) */
  static const char *const filetype[] = {"CSV", "JSON", "JSON", "GEOJSON"};
  char url[512], link[640];
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "@context");
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "dcat", "http://www.w3.org/ns/dcat#");
  vg_jsonw_kv(w, "dct", "http://purl.org/dc/terms/");
  vg_jsonw_kv(w, "foaf", "http://xmlns.com/foaf/0.1/");
  vg_jsonw_kv(w, "xsd", "http://www.w3.org/2001/XMLSchema#");
  vg_jsonw_kv(w, "rdfs", "http://www.w3.org/2000/01/rdf-schema#");
  vg_jsonw_kv(w, "skos", "http://www.w3.org/2004/02/skos/core#");
  vg_jsonw_kv(w, "vcard", "http://www.w3.org/2006/vcard/ns#");
  vg_jsonw_kv(w, "dcatap", "http://data.europa.eu/r5r/");
  vg_jsonw_kv(w, "eli", "http://data.europa.eu/eli/ontology#");
  vg_jsonw_map_end(w);
  snprintf(url, sizeof url, "%s" VG_API_PREFIX "catalog/exports/dcat", base);
  vg_jsonw_kv(w, "@id", url);
  vg_jsonw_kv(w, "@type", "dcat:Catalog");
  vg_jsonw_kv(w, "dct:title", "Vigie open data");
  vg_jsonw_kv(w, "dct:description",
              "Hourly and daily rollups of city sensor streams, published by Vigie.");
  snprintf(url, sizeof url, "%s" VG_API_PREFIX "catalog/datasets", base);
  jtyped(w, "foaf:homepage", url, "foaf:Document");
  const char *pub = NULL;
  for (size_t i = 0; i < g->n && !pub; i++)
    pub = vg_dataset_definition(g->d[i].ds)->publisher;
  jpublisher(w, pub ? pub : "Vigie");
  vg_jsonw_cstr(w, "dcat:dataset");
  vg_jsonw_array(w);
  for (size_t i = 0; i < g->n; i++) {
    struct dsinfo *d = &g->d[i];
    const struct vg_dataset_def *c = vg_dataset_definition(d->ds);
    uint64_t nrows = 0;
    int64_t first = 0, last = 0;
    dataset_stats(a, d, r, m, &nrows, &first, &last);
    snprintf(url, sizeof url, "%s" VG_API_PREFIX "catalog/datasets/%s", base, c->id);
    vg_jsonw_map(w);
    vg_jsonw_kv(w, "@id", url);
    vg_jsonw_kv(w, "@type", "dcat:Dataset");
    vg_jsonw_kv(w, "dct:identifier", c->id);
    vg_jsonw_kv(w, "dct:title", c->title ? c->title : c->id);
    vg_jsonw_kv(w, "dct:description",
                c->description ? c->description
                : c->title     ? c->title
                               : c->id);
    vg_jsonw_cstr(w, "dcat:keyword");
    jlist(w, &c->keywords);
    jpublisher(w, c->publisher ? c->publisher : pub ? pub : "Vigie");
    /* an unknown licence id goes into the URL as it is: the writer escapes
     * whatever it holds (it used to be printed raw, quotes and all) */
    const char *known = license_url(c->license);
    char *lic = NULL;
    if (!known && asprintf(&lic, "https://spdx.org/licenses/%s",
                           c->license ? c->license : "unknown") < 0)
      lic = NULL;
    const char *licurl = known ? known : lic ? lic : "https://spdx.org/licenses/unknown";
    jtyped(w, "dct:license", licurl, "dct:LicenseDocument");
    jtyped(w, "dct:accrualPeriodicity",
           c->resolution == VG_RES_DAY
               ? "http://publications.europa.eu/resource/authority/frequency/DAILY"
               : "http://publications.europa.eu/resource/authority/frequency/HOURLY",
           "dct:Frequency");
    if (nrows) {
      char s1[VG_FMT_ISO_MAX], s2[VG_FMT_ISO_MAX];
      vg_fmt_iso(first, vg_dataset_tz(d->ds), s1);
      vg_fmt_iso(last, vg_dataset_tz(d->ds), s2);
      vg_jsonw_cstr(w, "dct:temporal");
      vg_jsonw_map(w);
      vg_jsonw_kv(w, "@type", "dct:PeriodOfTime");
      jdate(w, "dcat:startDate", s1);
      jdate(w, "dcat:endDate", s2);
      vg_jsonw_map_end(w);
    }
    char mod[VG_FMT_ISO_MAX];
    pthread_mutex_lock(&a->mu);
    vg_fmt_utc(d->have_tag ? d->modified : time(NULL), mod);
    pthread_mutex_unlock(&a->mu);
    jdate(w, "dct:modified", mod);
    jtyped(w, "dcat:landingPage", url, "foaf:Document");
    char cat[128];
    int hvd = c->hvd_category && c->contact_point &&
              vg_api_hvd_category(c->hvd_category, cat, sizeof cat) == 0;
    if (c->contact_point)
      jcontact(w, c->contact_point);
    if (hvd)
      jhvd(w, cat);
    vg_jsonw_cstr(w, "dcat:distribution");
    vg_jsonw_array(w);
    for (int k = 0; k < 4; k++) {
      snprintf(link, sizeof link, "%s/exports/%s", url, fmt_names[k]);
      vg_jsonw_map(w);
      vg_jsonw_kv(w, "@id", link);
      vg_jsonw_kv(w, "@type", "dcat:Distribution");
      vg_jsonw_kv(w, "dct:title", fmtlabel[k]);
      jtyped(w, "dcat:accessURL", link, "rdfs:Resource");
      jid(w, "dcat:downloadURL", link);
      char type[128];
      snprintf(type, sizeof type, "http://www.iana.org/assignments/media-types/%s",
               media[k]);
      jtyped(w, "dcat:mediaType", type, "dct:MediaType");
      snprintf(type, sizeof type,
               "http://publications.europa.eu/resource/authority/file-type/%s",
               filetype[k]);
      jtyped(w, "dct:format", type, "dct:MediaTypeOrExtent");
      jtyped(w, "dct:license", licurl, "dct:LicenseDocument");
      if (hvd)
        jhvd(w, NULL);
      vg_jsonw_map_end(w);
    }
    if (c->schema == VG_DATASET_SCHEMA_COMPTAGE)
      for (int k = 0; k < VG_CM_NFILES; k++)
        write_comptage_distribution(w, url, k, licurl, hvd);
    if (hvd)
      write_api_service(w, c, url, base, licurl, cat);
    vg_jsonw_array_end(w);
    vg_jsonw_map_end(w);
    free(lic);
  }
  vg_jsonw_array_end(w);
  vg_jsonw_map_end(w);
  vg_jsonw_raw(w, "\n");
}

/* The URL of this request's path with its arguments but since, then
 * since=cursor: the changes feed's links. A malloc'd string, or NULL. */
static char *changes_link(const char *base, const struct vg_http_request *req,
                          const struct argv *args, uint64_t cursor) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  fprintf(f, "%s%s?", base, req->path);
  for (size_t i = 0; i < args->n; i++) {
    if (strcmp(args->v[i].key, "since") == 0)
      continue;
    for (int part = 0; part < 2; part++) {
      const char *t = part ? args->v[i].value : args->v[i].key;
      if (part && !t)
        break;
      if (part)
        fputc('=', f);
      for (const unsigned char *c = (const unsigned char *)t; *c; c++) {
        if (isalnum(*c) || strchr("-._~", *c))
          fputc(*c, f);
        else
          fprintf(f, "%%%02X", *c);
      }
    }
    fputc('&', f);
  }
  fprintf(f, "since=%" PRIu64, cursor);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* "links": the feed's self and next URLs (an answer's own pages, as the
 * Explore API's links). */
static int changes_links(struct vg_jsonw *f, const struct gen *g,
                         const struct vg_http_request *req, const struct argv *args,
                         uint64_t since, uint64_t next) {
  char base[256];
  base_url(g, req, base, sizeof base);
  char *self = changes_link(base, req, args, since);
  char *nx = changes_link(base, req, args, next);
  if (self && nx) {
    vg_jsonw_cstr(f, "links");
    vg_jsonw_array(f);
    const char *rel[] = {"self", "next"}, *href[] = {self, nx};
    for (int i = 0; i < 2; i++) {
      vg_jsonw_map(f);
      vg_jsonw_kv(f, "rel", rel[i]);
      vg_jsonw_kv(f, "href", href[i]);
      vg_jsonw_map_end(f);
    }
    vg_jsonw_array_end(f);
  }
  int rc = self && nx ? 0 : -ENOMEM;
  free(self);
  free(nx);
  return rc;
}

/* The OpenAPI description: the compiled-in document with the server's
 * address and the running datasets' ids (an enum, so that clients and
 * test generators know them) in place of its two placeholders. */
static void write_openapi(const struct gen *g, const struct vg_http_request *req,
                          struct vg_http_response *resp) {
  static const char server[] = "__SERVER__", ids[] = "\"__DATASET_IDS__\"";
  char base[256];
  base_url(g, req, base, sizeof base);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) {
    json_error(resp, 500, "InternalError", "out of memory");
    return;
  }
  const char *s = vg_openapi_json;
  for (;;) {
    const char *ps = strstr(s, server), *pi = strstr(s, ids);
    const char *p = ps && (!pi || ps < pi) ? ps : pi;
    if (!p)
      break;
    fwrite(s, 1, (size_t)(p - s), f);
    if (p == ps) {
      fputs(base, f);
      s = p + sizeof server - 1;
    } else {
      for (size_t i = 0; i < g->n; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", vg_dataset_id(g->d[i].ds));
      if (!g->n)
        fputs("\"none\"", f);
      s = p + sizeof ids - 1;
    }
  }
  fputs(s, f);
  if (fclose(f) != 0) {
    free(buf);
    json_error(resp, 500, "InternalError", "out of memory");
    return;
  }
  resp->status = 200;
  resp->content_type = "application/json; charset=utf-8";
  resp->body = buf;
  resp->len = len;
  resp->compress = 1;
}

static int has_comptage(const struct dsinfo *d) {
  return vg_dataset_definition(d->ds)->schema == VG_DATASET_SCHEMA_COMPTAGE;
}

/* A comptage file (comptage.h) streamed as the exports are: each chunk
 * begins a store reader, writes the rows of a few thousand windows, and
 * ends it. */
struct cmstream {
  struct vg_api *a;
  struct gen *g; /* keeps the dataset alive across a reload */
  struct vg_cm_stream *s;
  int done;
  char *buf;
  size_t len, pos;
};

static int cm_chunk(struct cmstream *x) {
  struct vg_store_reader *r = NULL;
  char err[256];
  free(x->buf);
  x->buf = NULL;
  x->len = x->pos = 0;
  FILE *f = open_memstream(&x->buf, &x->len);
  if (!f)
    return -1;
  int rc = x->a->st.open(x->a->st.ctx, &r);
  if (!rc) {
    rc = vg_cm_stream_next(x->s, r, 2000, f, &x->done, err, sizeof err);
    x->a->st.close(x->a->st.ctx, r);
  }
  if (fclose(f) != 0)
    rc = -EIO;
  return rc ? -1 : 0;
}

static long cm_read(void *ctx, char *buf, size_t max) {
  struct cmstream *x = ctx;
  while (x->pos == x->len) {
    if (x->done)
      return 0;
    if (cm_chunk(x) != 0)
      return -1;
  }
  size_t n = x->len - x->pos < max ? x->len - x->pos : max;
  memcpy(buf, x->buf + x->pos, n);
  x->pos += n;
  return (long)n;
}

static void cm_free(void *ctx) {
  struct cmstream *x = ctx;
  vg_cm_stream_free(x->s);
  gen_put(x->a, x->g);
  free(x->buf);
  free(x);
}

/* File `file` of d (generation g) as a stream whose resource paths are
 * under base; its series listed from r. 0, or an error. */
static int cm_open(struct vg_api *a, struct gen *g, struct dsinfo *d,
                   struct vg_store_reader *r, int file, const char *base,
                   struct vg_http_stream *out) {
  char err[256];
  struct cmstream *x = calloc(1, sizeof *x);
  if (!x)
    return -ENOMEM;
  int rc = vg_cm_stream_new(d->ds, r, file, base, &x->s, err, sizeof err);
  if (rc) {
    free(x);
    return rc;
  }
  x->a = a;
  pthread_mutex_lock(&a->mu);
  g->refs++;
  pthread_mutex_unlock(&a->mu);
  x->g = g;
  *out = (struct vg_http_stream){cm_read, cm_free, x};
  return 0;
}

/* GET .../datasets/{id}/exports/comptage-mobilites/{file} (comptage.h),
 * streamed. */
static void comptage_file(struct vg_api *a, struct gen *g, struct dsinfo *d,
                          struct vg_store_reader *r, const struct vg_http_request *req,
                          const struct vg_api_req *rq, struct vg_http_response *resp) {
  char base[512];
  if (!has_comptage(d)) {
    json_error(resp, 404, "NotFound",
               "This dataset is not published with the comptage-mobilites schema.");
    return;
  }
  base_url(g, req, base, 256);
  size_t o = strlen(base);
  snprintf(base + o, sizeof base - o, VG_API_PREFIX "catalog/datasets/%s/" CM_EXPORTS,
           rq->id);
  int rc = cm_open(a, g, d, r, rq->format, base, &resp->stream);
  if (rc) {
    snprintf(base, sizeof base, "cannot list the dataset's series: %s", vg_strerror(rc));
    json_error(resp, 500, "InternalError", base);
    return;
  }
  resp->status = 200;
  resp->content_type = rq->format == VG_CM_PACKAGE ? "application/json; charset=utf-8"
                                                   : "text/csv; charset=utf-8";
  resp->compress = 1;
}

void vg_api_handle(void *api, const struct vg_http_request *req,
                   struct vg_http_response *resp) {
  struct vg_api *a = api;
  struct argv args = {0};
  struct vg_api_req rq;
  struct answer_key key = {0};
  char err[1024];
  vg_http_args(req, on_arg, &args);
  int st = vg_api_parse(req->path, args.v, args.n, &rq, err, sizeof err);
  if (st) {
    json_error(resp, st, rq.error_code, err);
    return;
  }
  struct gen *g = gen_get(a);
  if (rq.route == VG_API_OPENAPI) {
    write_openapi(g, req, resp);
    gen_put(a, g);
    return;
  }
  int per_dataset = rq.route != VG_API_CATALOG && rq.route != VG_API_DCAT &&
                    rq.route != VG_API_CATALOG_FACETS;
  struct dsinfo *d = per_dataset ? find_ds(g, rq.id) : NULL;
  if (per_dataset && !d) {
    snprintf(err, sizeof err, "Unknown dataset: %s", rq.id);
    json_error(resp, 404, "UnknownDatasetError", err);
    gen_put(a, g);
    return;
  }
  struct vg_store_reader *r = NULL;
  if (a->st.open(a->st.ctx, &r) != 0) {
    json_error(resp, 503, "ServiceUnavailable",
               "The store is not open yet; retry shortly.");
    gen_put(a, g);
    return;
  }
  struct vg_store_state m;
  struct vg_jsonw *f = NULL, *page = NULL;
  struct query q;
  int have_q = 0;
  if (vg_store_reader_meta(r, &m) != 0) {
    json_error(resp, 500, "InternalError", "cannot read the store's state");
    goto done;
  }
  char etag[64] = "";
  if (rq.route != VG_API_CHANGES && conditional(a, g, d, &m, req, resp, etag)) {
    resp->status = 304;
    goto done;
  }
  /* answers that depend on nothing but the request and the ETag's state
   * (not DCAT nor the changes feed, whose links follow the Host header) */
  if (rq.route == VG_API_COMPTAGE) {
    comptage_file(a, g, d, r, req, &rq, resp);
    goto done;
  }
  int cacheable =
      rq.route != VG_API_CHANGES && rq.route != VG_API_DCAT && rq.route != VG_API_EXPORT;
  uint64_t tag = vg_fnv1a64(VG_FNV64_OFFSET, etag, strlen(etag));
  if (cacheable && a->cache && answer_key(req->path, &args, &key) == 0) {
    size_t len;
    char *body;
    if (vg_cache_get(a->cache, key.v, key.n, tag, &body, &len) == 1) {
      resp->status = 200;
      resp->content_type = "application/json; charset=utf-8";
      resp->body = body;
      resp->len = len;
      resp->compress = 1;
      vg_http_add_header(resp, "X-Cache", "hit");
      goto done;
    }
  }
  if (rq.route == VG_API_RECORDS || rq.route == VG_API_EXPORT ||
      rq.route == VG_API_CHANGES || rq.route == VG_API_FACETS) {
    if (query_init(&q, d, &rq, resp) != 0)
      goto done;
    have_q = 1;
    q.req = req; /* scans in this handler stop if the client leaves */
  }
  if (rq.route == VG_API_EXPORT) {
    struct vg_odsql_groups *groups = NULL;
    if (q.ana && group_rows(&q, r, &groups, resp) != 0)
      goto done;
    struct export *x = export_new(a, g, d, r, &rq, &q, groups);
    have_q = 0; /* the export owns it, or released it */
    if (!x) {
      json_error(resp, 500, "InternalError", "cannot list the dataset's series");
      goto done;
    }
    static const char *const ctype[] = {
        "text/csv; charset=utf-8", "application/json; charset=utf-8",
        "application/jsonl; charset=utf-8", "application/geo+json; charset=utf-8"};
    resp->status = 200;
    resp->content_type = ctype[rq.format];
    resp->stream = (struct vg_http_stream){export_read, export_free, x};
    resp->compress = 1;
    char disp[sizeof resp->headers[0].value]; /* ids are short enough (config.c) */
    snprintf(disp, sizeof disp, "attachment; filename=\"%s.%s\"", rq.id,
             fmt_names[rq.format]);
    vg_http_add_header(resp, "Content-Disposition", disp);
    goto done;
  }
  /* a page of rows is built before the counts that precede it are known */
  f = vg_jsonw_new(0);
  page = vg_jsonw_new(0);
  if (!f || !page) {
    json_error(resp, 500, "InternalError", "out of memory");
    goto done;
  }
  int rc = 0;
  switch (rq.route) {
  case VG_API_CATALOG:
    vg_jsonw_map(f);
    vg_jsonw_cstr(f, "total_count");
    vg_jsonw_u64(f, g->n);
    vg_jsonw_cstr(f, "results");
    vg_jsonw_array(f);
    for (size_t i = 0; i < g->n && !rc; i++)
      rc = write_dataset(f, a, &g->d[i], r, &m);
    vg_jsonw_array_end(f);
    vg_jsonw_map_end(f);
    vg_jsonw_raw(f, "\n");
    break;
  case VG_API_DATASET:
    rc = write_dataset(f, a, d, r, &m);
    vg_jsonw_raw(f, "\n");
    break;
  case VG_API_RECORDS: {
    if (q.ana) {
      struct vg_odsql_groups *gs;
      if (group_rows(&q, r, &gs, resp) != 0)
        goto done;
      size_t n = vg_odsql_groups_count(gs), from = (size_t)rq.offset;
      size_t to = from + (size_t)rq.limit < n ? from + (size_t)rq.limit : n;
      vg_jsonw_map(f);
      vg_jsonw_cstr(f, "total_count");
      vg_jsonw_u64(f, n);
      vg_jsonw_cstr(f, "results");
      vg_jsonw_array(f);
      write_groups(f, &q, gs, from, to);
      vg_jsonw_array_end(f);
      vg_jsonw_map_end(f);
      vg_jsonw_raw(f, "\n");
      vg_odsql_groups_free(gs);
      break;
    }
    struct records rs = {.q = &q, .offset = rq.offset, .limit = rq.limit, .page = page};
    /* no filter and no order: the count is the dataset's (kept per store
     * state), and the scan stops with the page */
    uint64_t count = 0;
    int64_t first, last;
    rs.stop = !q.where && !q.nfacet && !q.norder &&
              dataset_stats(a, d, r, &m, &count, &first, &last) == 0;
    vg_jsonw_array(page);
    struct vg_dataset_series_list l;
    struct vg_dataset_scan sc;
    query_bounds(&q, &sc);
    rc = vg_dataset_series(d->ds, r, &l);
    if (!rc) {
      rc = vg_dataset_scan(d->ds, r, &l, &sc, on_record, &rs, err, sizeof err);
      vg_dataset_series_release(&l);
      if (rs.stop) {
        rc = rc == 1 ? 0 : rc; /* stopped by on_record */
        rs.total = count;
      }
    }
    if (q.norder) {
      keep_best(&rs, (size_t)(rq.offset + rq.limit));
      for (size_t i = (size_t)rq.offset; i < rs.nk; i++)
        write_record(page, &q, rs.k[i].v);
      for (size_t i = 0; i < rs.nk; i++)
        free(rs.k[i].v);
      free(rs.k);
    }
    vg_jsonw_array_end(page);
    vg_jsonw_map(f);
    vg_jsonw_cstr(f, "total_count");
    vg_jsonw_u64(f, rs.total);
    vg_jsonw_cstr(f, "results");
    vg_jsonw_embed(f, page);
    vg_jsonw_map_end(f);
    vg_jsonw_raw(f, "\n");
    break;
  }
  case VG_API_CHANGES: {
    struct changes c = {.q = &q, .r = r, .limit = (uint64_t)rq.limit};
    struct vg_dataset_series_list l;
    if (vg_store_read_emit(r, 0, on_first, &c) < 0) {
      rc = -EIO;
      break;
    }
    if (rq.since > m.emit_seq) {
      snprintf(err, sizeof err,
               "Invalid value for since API parameter: %" PRIu64
               " was found but a cursor <= %" PRIu64 " (the next sequence) is expected.",
               rq.since, m.emit_seq);
      json_error(resp, 400, "InvalidRESTParameterError", err);
      goto done;
    }
    if ((c.have_first && rq.since < c.first_seq) ||
        (!c.have_first && rq.since < m.emit_seq)) {
      char base[256];
      base_url(g, req, base, sizeof base);
      snprintf(err, sizeof err,
               "Cursor %" PRIu64 " is older than the change log kept "
               "(it starts at %" PRIu64 "): changes in between were trimmed. Take a full "
               "export (%s%scatalog/datasets/%s/exports/jsonl), then follow changes from "
               "cursor %" PRIu64 ".",
               rq.since, c.have_first ? c.first_seq : m.emit_seq, base, VG_API_PREFIX,
               rq.id, m.emit_seq);
      json_error(resp, 410, "GoneError", err);
      goto done;
    }
    rc = vg_dataset_series(d->ds, r, &l);
    if (rc)
      break;
    c.l = &l;
    for (size_t i = 0; i < l.n; i++) {
      size_t n;
      vg_dataset_series_ids(&l.v[i], &n);
      c.nids += n;
    }
    c.ids = calloc(c.nids + 1, sizeof *c.ids);
    c.page = page;
    if (!c.ids) {
      rc = -ENOMEM;
    } else {
      size_t o = 0;
      for (size_t i = 0; i < l.n; i++) {
        size_t n;
        const uint64_t *ids = vg_dataset_series_ids(&l.v[i], &n);
        for (size_t j = 0; j < n; j++)
          c.ids[o++] = (struct byid){ids[j], i};
      }
      qsort(c.ids, c.nids, sizeof *c.ids, cmp_byid);
      vg_jsonw_array(page);
      rc = vg_store_read_emit(r, rq.since, on_change, &c);
      rc = rc < 0 ? rc : c.err;
      vg_jsonw_array_end(page);
    }
    uint64_t next = c.scanned == c.limit ? c.last_seq + 1 : m.emit_seq;
    if (!rc) {
      vg_jsonw_map(f);
      vg_jsonw_cstr(f, "since");
      vg_jsonw_u64(f, rq.since);
      vg_jsonw_cstr(f, "next_cursor");
      vg_jsonw_u64(f, next);
      vg_jsonw_cstr(f, "more");
      vg_jsonw_bool(f, next < m.emit_seq);
      vg_jsonw_cstr(f, "total_count");
      vg_jsonw_u64(f, c.nrows);
      rc = changes_links(f, g, req, &args, rq.since, next);
      vg_jsonw_cstr(f, "results");
      vg_jsonw_embed(f, page);
      vg_jsonw_map_end(f);
      vg_jsonw_raw(f, "\n");
    }
    free(c.ids);
    vg_dataset_series_release(&l);
    break;
  }
  case VG_API_FACETS: {
    struct facets fs;
    if (facets_init(&fs, &q, &rq, resp) != 0) {
      facets_release(&fs);
      goto done;
    }
    rc = write_facets(f, &fs, r, err, sizeof err);
    facets_release(&fs);
    if (rc == -E2BIG) {
      json_error(resp, 400, "ODSQLError", "Too many facet values: narrow the request.");
      goto done;
    }
    break;
  }
  case VG_API_CATALOG_FACETS: write_catalog_facets(f, g); break;
  case VG_API_DCAT: {
    char base[256];
    base_url(g, req, base, sizeof base);
    write_dcat(f, a, g, r, &m, base);
    break;
  }
  }
  if (rc == -ECANCELED) {
    json_error(resp, 503, "ClientGone", "The client closed the connection.");
    goto done;
  }
  if (rc) {
    snprintf(err, sizeof err, "cannot read the store: %s", vg_strerror(rc));
    json_error(resp, 500, "InternalError", err);
    goto done;
  }
  finish_json(resp, f, 200);
  if (rq.route == VG_API_DCAT && resp->status == 200)
    resp->content_type = "application/ld+json; charset=utf-8";
  if (cacheable && key.n && resp->status == 200)
    vg_cache_put(a->cache, key.v, key.n, tag, resp->body, resp->len);
done:
  free(key.v);
  vg_jsonw_free(f);
  vg_jsonw_free(page);
  if (have_q)
    query_release(&q);
  a->st.close(a->st.ctx, r);
  gen_put(a, g);
}

/* ---- the dashboard ----------------------------------------------------------------- */

/* GET /dashboard[?lang=en] (docs/indicators.md "The dashboard"): the
 * indicators' cards from a snapshot, as one HTML page. */
static void dashboard(void *api, const struct vg_http_request *req,
                      struct vg_http_response *resp) {
  struct vg_api *a = api;
  struct argv args = {0};
  vg_http_args(req, on_arg, &args);
  const char *lang = "fr";
  for (size_t i = 0; i < args.n; i++)
    if (args.v[i].key && strcmp(args.v[i].key, "lang") == 0 && args.v[i].value &&
        strcmp(args.v[i].value, "en") == 0)
      lang = "en";
  struct gen *g = gen_get(a);
  struct vg_store_reader *r = NULL;
  struct vg_dash_cards cards = {0};
  char *buf = NULL;
  size_t len = 0;
  if (!g->ix) {
    json_error(resp, 404, "NotFound", "No indicators are configured (indicators:).");
    goto done;
  }
  if (a->st.open(a->st.ctx, &r) != 0) {
    json_error(resp, 503, "ServiceUnavailable",
               "The store is not open yet; retry shortly.");
    goto done;
  }
  int rc = vg_dashboard_cards(g->ix, r, lang, &cards);
  FILE *f = rc ? NULL : open_memstream(&buf, &len);
  struct vg_dash_page page = {.lang = lang,
                              .tz = vg_indicators_tz(g->ix),
                              .path = "/dashboard",
                              .refresh_s = 60,
                              .generated = (int64_t)time(NULL)};
  if (f)
    rc = vg_dashboard_html(f, &page, cards.v, cards.n);
  if (!f || fclose(f) != 0 || rc) {
    free(buf);
    json_error(resp, 500, "InternalError",
               rc ? "cannot read the indicators from the store" : "out of memory");
    goto done;
  }
  resp->status = 200;
  resp->content_type = "text/html; charset=utf-8";
  resp->body = buf;
  resp->len = len;
  resp->compress = 1;
  vg_http_add_header(resp, "Cache-Control", "no-cache");
  vg_http_add_header(resp, "Content-Security-Policy",
                     "default-src 'none'; style-src 'unsafe-inline'; script-src "
                     "'unsafe-inline'; img-src data:; connect-src 'self'");
done:
  vg_dashboard_cards_release(&cards);
  if (r)
    a->st.close(a->st.ctx, r);
  gen_put(a, g);
}

/* ---- export files ------------------------------------------------------------------ */

int vg_api_dataset_id(struct vg_api *a, size_t i, char *buf, size_t size) {
  pthread_mutex_lock(&a->mu);
  int rc = i < a->cur->n ? 0 : VG_ENOTFOUND;
  if (rc == 0)
    snprintf(buf, size, "%s", vg_dataset_id(a->cur->d[i].ds));
  pthread_mutex_unlock(&a->mu);
  return rc;
}

int vg_api_has_dataset(struct vg_api *a, const char *id) {
  pthread_mutex_lock(&a->mu);
  int found = find_ds(a->cur, id) != NULL;
  pthread_mutex_unlock(&a->mu);
  return found;
}

int vg_api_export_open(struct vg_api *a, const char *id, int format, char *etag,
                       size_t etag_size, struct vg_http_stream *out) {
  static const char *const names[] = {"csv", "json", "jsonl", "geojson"};
  char path[300], err[256];
  struct vg_api_req rq;
  if (format < 0 || format > VG_DS_GEOJSON)
    return -EINVAL;
  snprintf(path, sizeof path, VG_API_PREFIX "catalog/datasets/%s/exports/%s", id,
           names[format]);
  if (vg_api_parse(path, NULL, 0, &rq, err, sizeof err) != 0)
    return VG_ENOTFOUND;
  struct gen *g = gen_get(a);
  struct dsinfo *d = find_ds(g, rq.id);
  struct vg_store_reader *r = NULL;
  struct vg_store_state m;
  struct vg_http_response scratch = {0};
  struct query q;
  int rc = d ? a->st.open(a->st.ctx, &r) : VG_ENOTFOUND;
  if (rc)
    goto done;
  rc = vg_store_reader_meta(r, &m);
  if (rc)
    goto done;
  snprintf(etag, etag_size, "W/\"%016" PRIx64 "-%" PRIu64 "\"", d->def_hash,
           ds_tag(d, &m));
  if (query_init(&q, d, &rq, &scratch) != 0) {
    rc = -EINVAL;
    goto done;
  }
  struct export *x = export_new(a, g, d, r, &rq, &q, NULL);
  if (!x) {
    rc = -ENOMEM;
    goto done;
  }
  *out = (struct vg_http_stream){export_read, export_free, x};
done:
  free(scratch.body);
  if (r)
    a->st.close(a->st.ctx, r);
  gen_put(a, g);
  return rc;
}

int vg_api_comptage_open(struct vg_api *a, const char *id, int file, const char *rel,
                         char *etag, size_t etag_size, struct vg_http_stream *out) {
  char base[512];
  struct gen *g = gen_get(a);
  struct dsinfo *d = find_ds(g, id);
  struct vg_store_reader *r = NULL;
  struct vg_store_state m;
  int rc = d && has_comptage(d) ? a->st.open(a->st.ctx, &r) : VG_ENOTFOUND;
  if (!rc)
    rc = vg_store_reader_meta(r, &m);
  if (!rc) {
    snprintf(etag, etag_size, "W/\"%016" PRIx64 "-%" PRIu64 "\"", d->def_hash,
             ds_tag(d, &m));
    if (g->public_url)
      snprintf(base, sizeof base, "%s" VG_API_PREFIX "catalog/datasets/%s/" CM_EXPORTS,
               g->public_url, id);
    else
      snprintf(base, sizeof base, "%s", rel);
    rc = cm_open(a, g, d, r, file, base, out);
  }
  if (r)
    a->st.close(a->st.ctx, r);
  gen_put(a, g);
  return rc;
}
