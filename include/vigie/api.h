/*
 * The open-data HTTP API (docs/publication.md): an Opendatasoft Explore
 * v2.1 compatible subset over the configured datasets, a DCAT-AP catalog in
 * JSON-LD and a changed-since feed, served by the daemon's HTTP server.
 *
 *   /api/explore/v2.1/catalog/datasets                       catalog
 *   /api/explore/v2.1/catalog/datasets/{id}                  one dataset
 *   /api/explore/v2.1/catalog/datasets/{id}/records          select, where,
 *       order_by, group_by, refine, exclude, limit (<= 100; 20000 with a
 *       group_by), offset (offset + limit <= 10000; 20000), timezone
 *   /api/explore/v2.1/catalog/datasets/{id}/exports/{csv,json,jsonl,geojson}
 *       streamed; select, where, group_by (then order_by too), refine,
 *       exclude, limit, offset, timezone, delimiter, with_bom
 *   /api/explore/v2.1/catalog/datasets/{id}/exports/comptage-mobilites/
 *       {sites.csv,channels.csv,measures.csv,datapackage.json}: a dataset
 *       declared with schema comptage-mobilites (comptage.h)
 *   /api/explore/v2.1/catalog/datasets/{id}/facets           facet, where,
 *       refine, exclude, timezone: value counts of text and datetime fields
 *   /api/explore/v2.1/catalog/facets                         the catalog's
 *       facets (publisher, keyword, license, hvd_category): dataset counts
 *   /api/explore/v2.1/catalog/datasets/{id}/changes?since=CURSOR
 *   /api/explore/v2.1/catalog/exports/dcat                   DCAT-AP JSON-LD
 *   /api/explore/v2.1/openapi.json                           the OpenAPI 3
 *       description of all of the above (engine/publish/openapi.json)
 *
 * Errors are JSON in Opendatasoft's shape {"status_code", "error_code",
 * "message"}: 400 for an invalid parameter, 404 for an unknown dataset or
 * path, 410 for a change cursor older than the kept emit log, 503 while
 * the store is not open.
 *
 * Store access goes through the caller's open/close pair (the daemon takes
 * its engine lock and begins a reader), held for one request or for one
 * chunk of a streamed export, never across a slow client's pauses.
 *
 * Thread-safety: handlers may run on any thread; the API's own state (the
 * per-dataset modification times and counts) is under a mutex.
 */
#ifndef VIGIE_API_H
#define VIGIE_API_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/cache.h"
#include "vigie/dataset.h"
#include "vigie/http.h"
#include "vigie/store.h"

#define VG_API_PREFIX     "/api/explore/v2.1/"
#define VG_API_MAX_LIMIT  100
#define VG_API_MAX_WINDOW 10000 /* offset + limit */
#define VG_API_MAX_FACETS 16    /* refine + exclude arguments of one request */
/* records with a group_by: limit and offset + limit (Opendatasoft's) */
#define VG_API_MAX_GROUP_LIMIT 20000

enum vg_api_route {
  VG_API_CATALOG,
  VG_API_DATASET,
  VG_API_RECORDS,
  VG_API_EXPORT,
  VG_API_CHANGES,
  VG_API_DCAT,
  VG_API_FACETS,         /* datasets/{id}/facets */
  VG_API_CATALOG_FACETS, /* catalog/facets */
  VG_API_OPENAPI,        /* openapi.json */
  VG_API_COMPTAGE,       /* datasets/{id}/exports/comptage-mobilites/{file} */
};

/* A decoded and validated request (vg_api_parse). Strings point into the
 * path and arguments given. */
struct vg_api_req {
  int route;      /* enum vg_api_route */
  char id[128];   /* the dataset id (routes under datasets/{id}) */
  int format;     /* exports: enum vg_dataset_fmt; comptage: enum vg_cm_file */
  int64_t limit;  /* records: 1..100 (default 10); exports: -1 = all */
  int64_t offset; /* >= 0 */
  const char *select, *where, *order_by, *timezone; /* NULL when absent */
  const char *group_by;                             /* NULL when absent */
  char delimiter;                                   /* CSV: ';' by default */
  int with_bom;                                     /* CSV: 1 by default */
  uint64_t since; /* changes: the cursor (0 by default) */
  /* refine / exclude facet filters, "FIELD:VALUE", in request order */
  const char *facet[VG_API_MAX_FACETS];
  unsigned char facet_exclude[VG_API_MAX_FACETS];
  size_t nfacet;
  /* facets: the facet arguments, "FIELD" or facet(name="FIELD") */
  const char *facet_name[VG_API_MAX_FACETS];
  size_t nfacet_name;
  const char *error_code; /* on error: Opendatasoft's error_code */
};

struct vg_api_arg {
  const char *key, *value; /* value NULL for a bare key */
};

/* Decodes a path (without the query string) and its URL-decoded query
 * arguments into *out. Pure: no I/O, no allocation, any bytes accepted.
 * Returns 0, or the HTTP status of the error (400, 404) with errstr the
 * message (Opendatasoft's wording for the limits) and out->error_code. */
int vg_api_parse(const char *path, const struct vg_api_arg *args, size_t nargs,
                 struct vg_api_req *out, char *errstr, size_t errstr_size);

/* How the API reaches the store: open begins a reader (0, or a negative
 * error: the API answers 503), close ends it. */
struct vg_api_store {
  int (*open)(void *ctx, struct vg_store_reader **r);
  void (*close)(void *ctx, struct vg_store_reader *r);
  void *ctx;
};

/* What the API publishes: the dataset definitions, in catalog order, and
 * what they share. Borrowed: the API copies what it keeps. */
struct vg_indicator_def;

struct vg_api_opts {
  const struct vg_dataset_def *datasets;
  size_t ndatasets;
  struct vg_dataset_env env;
  /* the address users see (http.public_url): the base of every link the
   * API prints; NULL: http:// and the request's Host header */
  const char *public_url;
  /* bytes of the answer cache (http.cache; vg_api_new only: a reload keeps
   * the cache it has); 0: none */
  size_t cache_bytes;
  /* indicators (docs/indicators.md), finished definitions: published as
   * the dataset `indicateurs` and on /dashboard; lateness_s as the store's */
  const struct vg_indicator_def *indicators;
  size_t nindicators;
  int64_t lateness_s;
};

/* Whether u can be http.public_url: http:// or https://, a host, an
 * optional path; no query, fragment, whitespace, quotes or backslashes. */
int vg_api_public_url_ok(const char *u);
/* The IRI of high-value category v (a code of the EU vocabulary such as
 * c_b79e35eb, or its IRI http://data.europa.eu/bna/c_b79e35eb) into buf:
 * 0, or -1 when v is neither. */
int vg_api_hvd_category(const char *v, char *buf, size_t size);
/* Whether v can be a dataset's contact_point: an e-mail address (with or
 * without mailto:) or an http(s) URL, without spaces, quotes or
 * backslashes. */
int vg_api_contact_ok(const char *v);

struct vg_api;

/* The indicators of o compiled (indicator.h; they copy what they keep): the
 * API's, and the writer's that keeps their rows. 0, VG_ECONFIG /
 * VG_ENOTFOUND with errstr, or -ENOMEM. */
struct vg_indicators;
int vg_api_indicators(const struct vg_api_opts *o, struct vg_indicators **out,
                      char *errstr, size_t errstr_size);

/* Compiles every dataset of o (which may be released afterwards). 0, or an
 * error with errstr (a dataset that does not compile). */
int vg_api_new(const struct vg_api_opts *o, const struct vg_api_store *store,
               struct vg_api **out, char *errstr, size_t errstr_size);
/* Replaces the datasets with those of o (SIGHUP): requests and exports in
 * progress finish with the definitions they started with. 0, or an error
 * with errstr, and the running datasets stay. */
int vg_api_reload(struct vg_api *a, const struct vg_api_opts *o, char *errstr,
                  size_t errstr_size);
/* Registers the routes (VG_API_PREFIX, a prefix route). */
int vg_api_routes(struct vg_api *a, struct vg_http *h);
/* The handler itself (what vg_api_routes registers), for tests. */
void vg_api_handle(void *api, const struct vg_http_request *req,
                   struct vg_http_response *resp);
/* The id of the i-th dataset of the running definitions into buf; 0, or
 * VG_ENOTFOUND past the last one. */
int vg_api_dataset_id(struct vg_api *a, size_t i, char *buf, size_t size);
/* 1 when the running definitions hold a dataset of this id, else 0 (the
 * export folder asks it of each file it wrote: a SIGHUP between two calls
 * of vg_api_dataset_id may show it a mix of two generations, this answer is
 * one generation's). */
int vg_api_has_dataset(struct vg_api *a, const char *id);
/* The export folder's source: the body of GET .../datasets/{id}/exports/
 * {csv|json|...} without parameters (format: enum vg_dataset_fmt), as a
 * stream to read until it returns 0 and then free, and the ETag that GET
 * would carry (a stream whose ETag is unchanged has unchanged content,
 * unless a scan meets later commits; the stream's chunks read successive
 * snapshots, as the HTTP export's do). 0, VG_ENOTFOUND (no such dataset),
 * or the store's error (not open). */
int vg_api_export_open(struct vg_api *a, const char *id, int format, char *etag,
                       size_t etag_size, struct vg_http_stream *out);
/* The export folder's source of the mobility-count files (comptage.h):
 * the body of GET .../datasets/{id}/exports/comptage-mobilites/{file} as a
 * stream, and its ETag, except that without http.public_url the data
 * package's resource paths are rel (a prefix of the folder's file names)
 * instead of URLs. 0, VG_ENOTFOUND (no such dataset, or not declared with
 * the schema), or the store's error. */
int vg_api_comptage_open(struct vg_api *a, const char *id, int file, const char *rel,
                         char *etag, size_t etag_size, struct vg_http_stream *out);
/* The answer cache's counters (all 0 without a cache). */
void vg_api_cache_stats(struct vg_api *a, struct vg_cache_stats *out);
/* No request may be in progress (stop the HTTP server first). */
void vg_api_free(struct vg_api *a);

#endif
