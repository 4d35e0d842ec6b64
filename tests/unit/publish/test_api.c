/* Unit tests of the open-data API: request decoding (vg_api_parse) -- every
 * route, the defaults, the documented limits with Opendatasoft's messages,
 * the refusals of malformed parameters (400) and paths (404) -- and the
 * handlers served over loopback from the publication test store: record
 * counts, the changed-since feed (pages, whole days re-sent, and 410 once
 * the emit log is trimmed past the cursor), ETags that move when retention
 * deletes rows. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "hostile.h"
#include "testutil.h"
#include "pubtest.h"
#include "vigie/api.h"
#include "vigie/http.h"

#define P VG_API_PREFIX "catalog/"

static int parse(const char *path, struct vg_api_req *rq, char *err, size_t n, ...) {
  struct vg_api_arg args[16];
  size_t nargs = 0;
  va_list ap;
  va_start(ap, n);
  for (const char *k; (k = va_arg(ap, const char *));)
    args[nargs++] = (struct vg_api_arg){k, va_arg(ap, const char *)};
  va_end(ap);
  return vg_api_parse(path, args, nargs, rq, err, n);
}

static void routes_and_defaults(void **state) {
  (void)state;
  struct vg_api_req rq;
  char err[512];
  assert_int_equal(parse(P "datasets", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_CATALOG);
  assert_int_equal(parse(P "exports/dcat", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_DCAT);
  assert_int_equal(parse(P "datasets/qualite-air_1", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_DATASET);
  assert_string_equal(rq.id, "qualite-air_1");
  assert_int_equal(parse(P "datasets/x/records", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_RECORDS);
  assert_int_equal(rq.limit, 10);
  assert_int_equal(rq.offset, 0);
  assert_int_equal(
      parse(P "datasets/x/records", &rq, err, sizeof err, "limit", "-1", NULL), 0);
  assert_int_equal(rq.limit, 100);
  const char *fmts[] = {"csv", "json", "jsonl", "geojson"};
  for (int i = 0; i < 4; i++) {
    char path[128];
    snprintf(path, sizeof path, P "datasets/x/exports/%s", fmts[i]);
    assert_int_equal(parse(path, &rq, err, sizeof err, NULL), 0);
    assert_int_equal(rq.route, VG_API_EXPORT);
    assert_int_equal(rq.format, i);
    assert_int_equal(rq.limit, -1);
    assert_int_equal(rq.delimiter, ';');
    assert_int_equal(rq.with_bom, 1);
  }
  assert_int_equal(parse(P "datasets/x/exports/csv", &rq, err, sizeof err, "delimiter",
                         ",", "with_bom", "false", "where", "count > 3", "select",
                         "count", "timezone", "America/New_York", NULL),
                   0);
  assert_int_equal(rq.delimiter, ',');
  assert_int_equal(rq.with_bom, 0);
  assert_string_equal(rq.where, "count > 3");
  assert_string_equal(rq.select, "count");
  assert_string_equal(rq.timezone, "America/New_York");
  assert_int_equal(
      parse(P "datasets/x/changes", &rq, err, sizeof err, "since", "42", NULL), 0);
  assert_int_equal(rq.route, VG_API_CHANGES);
  assert_true(rq.since == 42);
  assert_int_equal(rq.limit, 1000);
  assert_int_equal(parse(VG_API_PREFIX "openapi.json", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_OPENAPI);
  assert_int_equal(parse(P "facets", &rq, err, sizeof err, NULL), 0);
  assert_int_equal(rq.route, VG_API_CATALOG_FACETS);
  assert_int_equal(parse(P "datasets/x/facets", &rq, err, sizeof err, "facet", "metric",
                         "facet", "facet(name=\"day\")", "refine", "metric:no2", NULL),
                   0);
  assert_int_equal(rq.route, VG_API_FACETS);
  assert_string_equal(rq.id, "x");
  assert_int_equal(rq.nfacet_name, 2);
  assert_string_equal(rq.facet_name[1], "facet(name=\"day\")");
  assert_int_equal(rq.nfacet, 1);
  /* parameters with no effect here are accepted */
  assert_int_equal(parse(P "datasets/x/records", &rq, err, sizeof err, "lang", "fr",
                         "include_links", "true", NULL),
                   0);
}

static void limits_in_opendatasoft_words(void **state) {
  (void)state;
  struct vg_api_req rq;
  char err[512];
  const char *rec = P "datasets/x/records";
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "101", NULL), 400);
  assert_string_equal(rq.error_code, "InvalidRESTParameterError");
  assert_string_equal(err,
                      "Invalid value for limit API parameter: 101 was found but -1 <= "
                      "limit <= 100 is expected.");
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "limit", "100", "offset", "9900", NULL), 0);
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "limit", "10", "offset", "9991", NULL), 400);
  assert_string_equal(err,
                      "Invalid value for sum of offset + limit API parameter: 10001 was "
                      "found but <= 10000 is expected.");
  /* an offset near INT64_MAX: no signed overflow passes the check (UBSan) */
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "100", "offset",
                         "9223372036854775790", NULL),
                   400);
  assert_string_equal(err, "Invalid value for sum of offset + limit API parameter: "
                           "9223372036854775890 was found but <= 10000 is expected.");
  assert_int_equal(parse(rec, &rq, err, sizeof err, "offset", "-1", NULL), 400);
  assert_non_null(strstr(err, "offset API parameter: -1 was found but offset >= 0"));
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "ten", NULL), 400);
  assert_non_null(strstr(err, "\"ten\" was found but an integer is expected"));
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "limit", "99999999999999999999999", NULL), 400);
  /* group_by: Opendatasoft's larger limits for groups */
  assert_int_equal(parse(rec, &rq, err, sizeof err, "group_by", "metric", NULL), 0);
  assert_string_equal(rq.group_by, "metric");
  assert_int_equal(rq.limit, 10);
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "group_by", "metric", "limit", "20000", NULL), 0);
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "group_by", "metric", "limit", "-1", NULL), 0);
  assert_int_equal(rq.limit, VG_API_MAX_GROUP_LIMIT);
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "group_by", "metric", "limit", "20001", NULL),
      400);
  assert_non_null(strstr(err, "limit <= 20000 is expected with a group_by"));
  assert_int_equal(parse(rec, &rq, err, sizeof err, "group_by", "metric", "limit", "100",
                         "offset", "19901", NULL),
                   400);
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "group_by", " ", "limit", "101", NULL),
      400); /* a blank group_by is none */
  assert_int_equal(
      parse(rec, &rq, err, sizeof err, "refine", "a:b", "exclude", "c:", NULL), 0);
  assert_int_equal(rq.nfacet, 2);
  assert_true(!rq.facet_exclude[0] && rq.facet_exclude[1]);
  assert_int_equal(parse(rec, &rq, err, sizeof err, "refine", ":b", NULL), 400);
  /* exports have no row limit, and no order_by (they stream) */
  const char *csv = P "datasets/x/exports/csv";
  assert_int_equal(
      parse(csv, &rq, err, sizeof err, "limit", "50000", "offset", "20000", NULL), 0);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "order_by", "count", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "delimiter", "x", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "delimiter", ";;", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "with_bom", "yes", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "timezone", "../../etc/passwd", NULL),
                   400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "timezone", "", NULL), 400);
  char big[VG_ODSQL_MAX_LEN + 2];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  assert_int_equal(parse(csv, &rq, err, sizeof err, "where", big, NULL), 400);
  const char *ch = P "datasets/x/changes";
  assert_int_equal(parse(ch, &rq, err, sizeof err, "since", "-1", NULL), 400);
  assert_int_equal(parse(ch, &rq, err, sizeof err, "since", "x", NULL), 400);
  assert_int_equal(parse(ch, &rq, err, sizeof err, "limit", "0", NULL), 400);
  assert_int_equal(parse(ch, &rq, err, sizeof err, "limit", "10001", NULL), 400);
}

static void unknown_paths(void **state) {
  (void)state;
  struct vg_api_req rq;
  char err[512];
  const char *bad[] = {"/api/explore/v2.0/catalog/datasets",
                       P,
                       P "datasets/X/records",
                       P "datasets//records",
                       P "datasets/x/exports/xml",
                       P "datasets/x/exports/",
                       P "datasets/x/recordsz",
                       P "datasets/x/records/1",
                       P "exports/dcat2",
                       ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(parse(bad[i], &rq, err, sizeof err, NULL), 404);
    assert_non_null(rq.error_code);
    assert_true(err[0] != 0);
  }
  char longid[300] = P "datasets/";
  memset(longid + strlen(longid), 'a', 200);
  assert_int_equal(parse(longid, &rq, err, sizeof err, NULL), 404);
}

/* ---- served ---------------------------------------------------------------- */

struct srv {
  struct fx *f;
  struct vg_api *api;
  struct vg_http *http;
  uint16_t port;
};

static int st_open(void *ctx, struct vg_store_reader **r) {
  return vg_store_reader_begin(((struct fx *)ctx)->st, r);
}

static void st_close(void *ctx, struct vg_store_reader *r) {
  vg_store_reader_end(r);
}

static int srv_setup(void **state) {
  struct srv *s = calloc(1, sizeof *s);
  char err[512];
  if (pub_setup(state))
    return -1;
  s->f = *state;
  struct vg_api_store ops = {st_open, st_close, s->f};
  assert_int_equal(vg_api_new(&s->f->ao, &ops, &s->api, err, sizeof err), 0);
  assert_int_equal(vg_http_new("127.0.0.1:0", &s->http, err, sizeof err), 0);
  assert_int_equal(vg_api_routes(s->api, s->http), 0);
  assert_int_equal(vg_http_start(s->http, err, sizeof err), 0);
  s->port = vg_http_port(s->http);
  *state = s;
  return 0;
}

static int srv_teardown(void **state) {
  struct srv *s = *state;
  vg_http_free(s->http);
  vg_api_free(s->api);
  *state = s->f;
  free(s);
  return pub_teardown(state);
}

/* GET path over HTTP/1.0 with one more request header (NULL: none);
 * returns the status, the body in *body (free), the ETag in etag (empty
 * when none). */
static int get_h(uint16_t port, const char *path, const char *header, char **body,
                 char *etag, size_t etag_size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  char req[1024];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n%s%s\r\n", path,
                   header ? header : "", header ? "\r\n" : "");
  assert_int_equal(write(fd, req, (size_t)n), n);
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  ssize_t r;
  while ((r = read(fd, buf + len, cap - len - 1)) > 0)
    if ((len += (size_t)r) + 4096 > cap)
      buf = realloc(buf, cap *= 2);
  buf[len] = 0;
  close(fd);
  int status = 0;
  sscanf(buf, "HTTP/1.1 %d", &status);
  char *b = strstr(buf, "\r\n\r\n");
  if (etag) {
    etag[0] = 0;
    const char *e = strcasestr(buf, "\r\nETag: ");
    if (e && (!b || e < b))
      snprintf(etag, etag_size, "%.*s", (int)strcspn(e + 8, "\r\n"), e + 8);
  }
  *body = strdup(b ? b + 4 : "");
  free(buf);
  return status;
}

static int get(uint16_t port, const char *path, char **body) {
  return get_h(port, path, NULL, body, NULL, 0);
}

static long long json_int(const char *body, const char *key) {
  char k[64];
  snprintf(k, sizeof k, "\"%s\":", key);
  const char *p = strstr(body, k);
  assert_non_null(p);
  return strtoll(p + strlen(k), NULL, 10);
}

static size_t count_of(const char *body, const char *needle) {
  size_t n = 0;
  for (const char *p = strstr(body, needle); p; p = strstr(p + 1, needle))
    n++;
  return n;
}

static void served_counts(void **state) {
  struct srv *s = *state;
  char *body;
  size_t hours = 0, final_hours = 0;
  for (int k = 0; k < NSERIES; k++)
    for (int i = 0; i < NDAYS * 24; i++) {
      hours += s->f->count[k][i] > 0;
      final_hours += s->f->count[k][i] > 0 && i < (NDAYS - 1) * 24 + 12;
    }
  assert_int_equal(get(s->port,
                       VG_API_PREFIX "catalog/datasets/passages-heure/records?limit=0",
                       &body),
                   200);
  assert_int_equal(json_int(body, "total_count"), (long long)hours);
  free(body);
  assert_int_equal(get(s->port,
                       VG_API_PREFIX "catalog/datasets/passages-final/records?limit=3",
                       &body),
                   200);
  assert_int_equal(json_int(body, "total_count"), (long long)final_hours);
  assert_int_equal(count_of(body, "\"start_datetime\""), 3);
  free(body);
  /* a where clause over suppressed cells never matches them (null) */
  assert_int_equal(get(s->port,
                       VG_API_PREFIX "catalog/datasets/passages-heure/records?"
                                     "where=count%20%3C%2010",
                       &body),
                   200);
  assert_int_equal(json_int(body, "total_count"), 0);
  free(body);
  assert_int_equal(get(s->port,
                       VG_API_PREFIX "catalog/datasets/passages-heure/records?"
                                     "where=count%20is%20null&limit=1",
                       &body),
                   200);
  assert_true(json_int(body, "total_count") > 50);
  assert_non_null(strstr(body, "\"suppressed\":\"count,sum,coverage\""));
  free(body);
}

static void changes_pages_and_gone(void **state) {
  struct srv *s = *state;
  struct fx *f = s->f;
  char *body, path[256], err[256];
  const char *ch = VG_API_PREFIX "catalog/datasets/passages-jour/changes";
  snprintf(path, sizeof path, "%s?since=0&limit=10000", ch);
  assert_int_equal(get(s->port, path, &body), 200);
  assert_int_equal(json_int(body, "next_cursor"), (long long)f->nemit);
  assert_non_null(strstr(body, "\"more\":false"));
  assert_int_equal(json_int(body, "total_count"), NSERIES * (NDAYS - 1));
  free(body);
  /* a page of the hourly dataset re-sends the whole day of the first hour */
  const char *chh = VG_API_PREFIX "catalog/datasets/passages-heure/changes";
  snprintf(path, sizeof path, "%s?since=0&limit=1", chh);
  assert_int_equal(get(s->port, path, &body), 200);
  size_t day0 = 0;
  for (int h = 0; h < 24; h++)
    day0 += f->count[0][h] > 0;
  assert_int_equal(json_int(body, "total_count"), (long long)day0);
  assert_int_equal(json_int(body, "next_cursor"), 1);
  assert_non_null(strstr(body, "\"more\":true"));
  free(body);
  /* without suppress_below, a change re-sends its hour alone: every other
   * hour of that day in the page comes too */
  const char *chf = VG_API_PREFIX "catalog/datasets/passages-final/changes";
  snprintf(path, sizeof path, "%s?since=0&limit=40", chf);
  assert_int_equal(get(s->port, path, &body), 200);
  assert_int_equal(json_int(body, "next_cursor"), 40);
  size_t first40 = 0; /* the hourly records among the first 40 emitted */
  for (size_t i = 0, seen = 0; i < f->nw && seen < 40; i++)
    if (f->w[i].final) {
      seen++;
      first40 += f->w[i].res == VG_RES_HOUR;
    }
  assert_int_equal(json_int(body, "total_count"), (long long)first40);
  free(body);
  /* beyond the end: 400 */
  snprintf(path, sizeof path, "%s?since=%zu", ch, f->nemit + 1);
  assert_int_equal(get(s->port, path, &body), 400);
  free(body);
  /* trimmed: a cursor before the log kept is gone, with what to do */
  size_t trimmed;
  assert_int_equal(vg_store_trim_emit(f->st, 100, 1000, &trimmed, err, sizeof err), 0);
  assert_int_equal(trimmed, 100);
  snprintf(path, sizeof path, "%s?since=99", ch);
  assert_int_equal(get(s->port, path, &body), 410);
  assert_non_null(strstr(body, "\"error_code\":\"GoneError\""));
  assert_non_null(strstr(body, "starts at 100"));
  assert_non_null(strstr(body, "exports/jsonl"));
  free(body);
  snprintf(path, sizeof path, "%s?since=100", ch);
  assert_int_equal(get(s->port, path, &body), 200);
  free(body);
  /* everything trimmed: only the current cursor is still valid */
  assert_int_equal(vg_store_trim_emit(f->st, f->nemit, 100000, &trimmed, err, sizeof err),
                   0);
  snprintf(path, sizeof path, "%s?since=%zu", ch, f->nemit - 1);
  assert_int_equal(get(s->port, path, &body), 410);
  free(body);
  snprintf(path, sizeof path, "%s?since=%zu", ch, f->nemit);
  assert_int_equal(get(s->port, path, &body), 200);
  assert_int_equal(json_int(body, "total_count"), 0);
  free(body);
}

/* Rows that retention deletes change the ETag: the hours of the fixture's
 * first ten days are moved into their (30-day) hourly segments, which
 * changes no row and no final-only ETag; retention then deletes those
 * segments: a conditional GET with the old ETag is a 200 with the rows
 * left (counted from the fixture's truth), the export folder's ETag moved
 * too, and a retention pass that deletes nothing keeps the new one. */
static void retention_moves_the_etag(void **state) {
  struct srv *s = *state;
  struct fx *f = s->f;
  char *body, err[512], inm[160], e1[128], e2[128], h1[128], h2[128], x1[96], x2[96];
  const char *fin = VG_API_PREFIX "catalog/datasets/passages-final/records?limit=0";
  const char *all = VG_API_PREFIX "catalog/datasets/passages-heure/records?limit=0";
  const int64_t cut = T0 + 10 * DAY; /* the end of the first hourly span */
  assert_int_equal(vg_seg_span(VG_RES_HOUR, T0) + vg_seg_span_len(VG_RES_HOUR), cut);
  /* the truth: rows of each dataset, and those before cut */
  long long final_hours = 0, hours = 0, final_gone = 0, gone = 0, series_gone = 0;
  for (int k = 0; k < NSERIES; k++) {
    int any = 0;
    for (int i = 0; i < NDAYS * 24; i++) {
      int c = f->count[k][i] > 0, fl = c && i < (NDAYS - 1) * 24 + 12;
      int early = T0 + i * 3600LL < cut;
      hours += c;
      final_hours += fl;
      gone += c && early;
      final_gone += fl && early;
      any |= c && early;
    }
    series_gone += any;
  }
  assert_true(final_gone > 0 && final_gone < final_hours);
  /* the early hours go into their segments (sealed, evicted, flushed) */
  size_t n = 0;
  const struct vg_wentry **sealed = calloc(f->nw, sizeof *sealed);
  struct vg_store_wkey *evict = calloc(f->nw, sizeof *evict);
  for (size_t i = 0; i < f->nw; i++)
    if (f->w[i].res == VG_RES_HOUR && f->w[i].start < cut) {
      sealed[n] = &f->w[i];
      evict[n++] = (struct vg_store_wkey){f->w[i].series, f->w[i].res, f->w[i].start};
    }
  assert_int_equal(n, gone);
  assert_int_equal(get_h(s->port, fin, NULL, &body, e1, sizeof e1), 200);
  free(body);
  struct vg_store_epoch ep = {.epoch = 2,
                              .sealed = sealed,
                              .nsealed = n,
                              .evict = evict,
                              .nevict = n,
                              .flush = 1,
                              .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  free(sealed);
  free(evict);
  struct vg_store_stat ss;
  assert_int_equal(vg_store_stat(f->st, &ss), 0);
  assert_int_equal(ss.segments, series_gone);
  /* the same rows, the same final-only ETag: 304 */
  snprintf(inm, sizeof inm, "If-None-Match: %s", e1);
  assert_int_equal(get_h(s->port, fin, inm, &body, NULL, 0), 304);
  free(body);
  assert_int_equal(get_h(s->port, fin, NULL, &body, e2, sizeof e2), 200);
  assert_string_equal(e2, e1);
  assert_int_equal(json_int(body, "total_count"), final_hours);
  free(body);
  assert_int_equal(get_h(s->port, all, NULL, &body, h1, sizeof h1), 200);
  assert_int_equal(json_int(body, "total_count"), hours);
  free(body);
  assert_int_equal(get(s->port, VG_API_PREFIX "catalog/datasets/passages-final", &body),
                   200);
  assert_int_equal(json_int(body, "records_count"), final_hours);
  free(body);
  struct vg_http_stream xs;
  assert_int_equal(
      vg_api_export_open(s->api, "passages-final", VG_DS_CSV, x1, sizeof x1, &xs), 0);
  xs.free(xs.ctx);
  /* retention of hours: 10 days behind a watermark at day 25 ends at the
   * cut: the first span goes, the next one (open rows) stays */
  vg_store_close(f->st);
  struct vg_store_opts o = {
      .path = f->dir, .durability = VG_STORE_NOSYNC, .retention_s = {0, 10 * DAY, 0}};
  assert_int_equal(vg_store_open(&o, &f->st, err, sizeof err), 0);
  size_t deleted;
  int more;
  int64_t wm = (cut + 10 * DAY) * 1000000000LL;
  assert_int_equal(vg_store_retain(f->st, wm, 1000, 10, &deleted, &more, err, sizeof err),
                   0);
  assert_int_equal(deleted, series_gone);
  assert_int_equal(more, 0);
  /* the old ETag no longer matches: 200, with the rows left */
  assert_int_equal(get_h(s->port, fin, inm, &body, e2, sizeof e2), 200);
  assert_string_not_equal(e2, e1);
  assert_int_equal(json_int(body, "total_count"), final_hours - final_gone);
  free(body);
  snprintf(inm, sizeof inm, "If-None-Match: %s", h1);
  assert_int_equal(get_h(s->port, all, inm, &body, h2, sizeof h2), 200);
  assert_string_not_equal(h2, h1);
  assert_int_equal(json_int(body, "total_count"), hours - gone);
  free(body);
  /* the dataset's counted rows are not the cached ones */
  assert_int_equal(get(s->port, VG_API_PREFIX "catalog/datasets/passages-final", &body),
                   200);
  assert_int_equal(json_int(body, "records_count"), final_hours - final_gone);
  free(body);
  /* the export folder's ETag moved as well (it rewrites its files) */
  assert_int_equal(
      vg_api_export_open(s->api, "passages-final", VG_DS_CSV, x2, sizeof x2, &xs), 0);
  xs.free(xs.ctx);
  assert_string_not_equal(x2, x1);
  /* a pass that deletes nothing: the new ETag still matches */
  assert_int_equal(vg_store_retain(f->st, wm, 1000, 10, &deleted, &more, err, sizeof err),
                   0);
  assert_int_equal(deleted, 0);
  snprintf(inm, sizeof inm, "If-None-Match: %s", e2);
  assert_int_equal(get_h(s->port, fin, inm, &body, NULL, 0), 304);
  free(body);
}

/* SIGHUP's reload: new definitions are served, a bad file changes nothing. */
static void reload(void **state) {
  struct srv *s = *state;
  char *body, err[1024];
  const char *cat = VG_API_PREFIX "catalog/datasets";
  assert_int_equal(get(s->port, cat, &body), 200);
  assert_int_equal(json_int(body, "total_count"), 3);
  free(body);
  static const char more[] = "  - id: passages-semaine\n"
                             "    resolution: 1d\n"
                             "    metrics: [passages]\n"
                             "    columns: [sum]\n";
  size_t cap = sizeof yaml + 512;
  char *text = malloc(cap);
  snprintf(text, cap, "%s%s", yaml, more);
  struct vg_config cfg;
  struct vg_api_opts ao;
  assert_int_equal(vg_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err),
                   0);
  assert_int_equal(vg_config_api(&cfg, &ao), 0);
  assert_int_equal(vg_api_reload(s->api, &ao, err, sizeof err), 0);
  vg_config_api_release(&ao);
  vg_config_release(&cfg); /* the API keeps its own copies */
  assert_int_equal(get(s->port, cat, &body), 200);
  assert_int_equal(json_int(body, "total_count"), 4);
  assert_non_null(strstr(body, "\"dataset_id\":\"passages-semaine\""));
  free(body);
  assert_int_equal(
      get(s->port, VG_API_PREFIX "catalog/datasets/passages-semaine/records", &body),
      200);
  assert_int_equal(json_int(body, "total_count"), NSERIES * (NDAYS - 1));
  free(body);
  /* a dataset that does not compile (a zone the system lacks is caught by
   * the config; a column twice is not): nothing changes */
  snprintf(text, cap, "%s%s", yaml,
           "  - id: bad\n    resolution: 1h\n    metrics: [passages]\n"
           "    columns: [count]\n    tag_columns: [count]\n");
  assert_int_equal(vg_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err),
                   0);
  assert_int_equal(vg_config_api(&cfg, &ao), 0);
  assert_int_equal(vg_api_reload(s->api, &ao, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "column \"count\" appears twice"));
  vg_config_api_release(&ao);
  vg_config_release(&cfg);
  assert_int_equal(get(s->port, cat, &body), 200);
  assert_int_equal(json_int(body, "total_count"), 4);
  free(body);
  free(text);
}

static void set_str(char **dst, const char *s) {
  free(*dst);
  *dst = strdup(s);
}

/* Parses body and checks the string at path. */
#define CHECK(body, want, wlen, ...)                                                     \
  hostile_check(body, (const char *[]){__VA_ARGS__, NULL}, want, wlen)

/* Hostile title, description, keyword, publisher and licence through every
 * JSON answer: each parses, and each value comes back exactly (invalid
 * UTF-8 as U+FFFD). */
static void hostile_metadata(void **state) {
  struct srv *s = *state;
  struct vg_dataset_def *dc = &s->f->cfg.datasets[0].def;
  const char *id = dc->id;
  char path[256], err[512], *body;
  size_t nlong;
  const char *lng = hostile_long(&nlong);
  for (size_t i = 0; i <= NHOSTILE_C; i++) {
    struct hostile h =
        i < NHOSTILE_C ? hostile_c[i] : (struct hostile){lng, lng, nlong, nlong};
    set_str(&dc->title, h.s);
    set_str(&dc->description, h.s);
    set_str(&dc->publisher, h.s);
    set_str(&dc->license, h.s);
    if (dc->keywords.n == 0) {
      dc->keywords.v = calloc(2, sizeof *dc->keywords.v);
      dc->keywords.n = 1;
    }
    set_str(&dc->keywords.v[0], h.s);
    struct vg_api_opts ao;
    assert_int_equal(vg_config_api(&s->f->cfg, &ao), 0);
    assert_int_equal(vg_api_reload(s->api, &ao, err, sizeof err), 0);
    vg_config_api_release(&ao);
    const char *w = h.want;
    size_t wl = h.want_len;

    assert_int_equal(get(s->port, VG_API_PREFIX "catalog/datasets", &body), 200);
    CHECK(body, w, wl, "results", "#0", "metas", "default", "title");
    CHECK(body, w, wl, "results", "#0", "metas", "default", "description");
    CHECK(body, w, wl, "results", "#0", "metas", "default", "license");
    CHECK(body, w, wl, "results", "#0", "metas", "default", "publisher");
    CHECK(body, w, wl, "results", "#0", "metas", "default", "keyword", "#0");
    free(body);

    snprintf(path, sizeof path, VG_API_PREFIX "catalog/datasets/%s", id);
    assert_int_equal(get(s->port, path, &body), 200);
    CHECK(body, w, wl, "metas", "default", "title");
    CHECK(body, w, wl, "metas", "default", "keyword", "#0");
    free(body);

    assert_int_equal(get(s->port, VG_API_PREFIX "catalog/exports/dcat", &body), 200);
    CHECK(body, w, wl, "dct:publisher", "foaf:name");
    CHECK(body, w, wl, "dcat:dataset", "#0", "dct:title");
    CHECK(body, w, wl, "dcat:dataset", "#0", "dct:description");
    CHECK(body, w, wl, "dcat:dataset", "#0", "dcat:keyword", "#0");
    CHECK(body, w, wl, "dcat:dataset", "#0", "dct:publisher", "foaf:name");
    char *lic = malloc(wl + 64);
    int n = sprintf(lic, "https://spdx.org/licenses/%.*s", (int)wl, w);
    memcpy(lic + n - wl, w, wl); /* a NUL-free copy of any length */
    CHECK(body, lic, (size_t)n, "dcat:dataset", "#0", "dct:license", "@id");
    CHECK(body, lic, (size_t)n, "dcat:dataset", "#0", "dcat:distribution", "#3",
          "dct:license", "@id");
    free(lic);
    free(body);

    /* rows: valid JSON with the dataset's values (a JSON lines body is
     * checked on its first line) */
    static const struct {
      const char *route, *want, *path[5];
    } rows[] = {
        {"records?limit=3", "passages", {"results", "#2", "metric"}},
        {"exports/json?limit=2", "passages", {"#1", "metric"}},
        {"exports/geojson?limit=2", "Feature", {"features", "#1", "type"}},
        {"exports/jsonl?limit=2", "passages", {"metric"}},
        {"changes?since=0&limit=3", "passages", {"results", "#0", "metric"}},
    };
    for (size_t k = 0; k < sizeof rows / sizeof *rows; k++) {
      snprintf(path, sizeof path, VG_API_PREFIX "catalog/datasets/%s/%s", id,
               rows[k].route);
      assert_int_equal(get(s->port, path, &body), 200);
      if (strstr(rows[k].route, "jsonl"))
        body[strcspn(body, "\n")] = 0;
      hostile_check(body, rows[k].path, rows[k].want, strlen(rows[k].want));
      free(body);
    }
  }
  /* an error message quoting the request parses too */
  assert_int_equal(get(s->port, VG_API_PREFIX "catalog/datasets/nope", &body), 404);
  CHECK(body, "Unknown dataset: nope", 21, "message");
  free(body);
}

/* refine / exclude (facet filters) on records and exports: a text field's
 * value, a datetime field's local year, month or day; several AND-ed; a
 * number field, an unknown field or a bad date is a 400 that says why. */
static void refine_and_exclude(void **state) {
  struct srv *s = *state;
  char *body, path[512];
  long long per[NSERIES] = {0}, month = 0, c1_day = 0;
  int64_t y;
  unsigned m, d;
  vg_civil_from_days(T0 / DAY, &y, &m, &d);
  int64_t m0 = vg_days_from_civil(y, m, 1) * DAY,
          m1 = vg_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) * DAY;
  for (int k = 0; k < NSERIES; k++)
    for (int i = 0; i < NDAYS * 24; i++) {
      if (!s->f->count[k][i])
        continue;
      int64_t t = T0 + (int64_t)i * 3600;
      per[k]++;
      month += t >= m0 && t < m1;
      c1_day += k == 0 && t >= T0 + DAY && t < T0 + 2 * DAY;
    }
  const char *rec = VG_API_PREFIX "catalog/datasets/passages-heure/records?limit=0&";
  static const struct {
    const char *args;
    int which; /* 0..2: per[which]; 3: per[0] + per[2]; 4: month; 5: c1's day 2 */
  } cases[] = {{"refine=counter_id:c2", 1},
               {"exclude=counter_id:c2", 3},
               {"refine=counter_id:c%3B3", 2},
               {"refine=start_datetime:", 4},
               {"refine=counter_id:c1&refine=start_datetime:", 5}};
  char month_s[16], day_s[16];
  snprintf(month_s, sizeof month_s, "%04lld/%02u", (long long)y, m);
  {
    int64_t yy;
    unsigned mm, dd;
    vg_civil_from_days(T0 / DAY + 1, &yy, &mm, &dd);
    snprintf(day_s, sizeof day_s, "%04lld-%02u-%02u", (long long)yy, mm, dd);
  }
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char args[128];
    snprintf(args, sizeof args, "%s%s", cases[i].args,
             cases[i].which == 4   ? month_s
             : cases[i].which == 5 ? day_s
                                   : "");
    snprintf(path, sizeof path, "%s%s", rec, args);
    assert_int_equal(get(s->port, path, &body), 200);
    long long want = cases[i].which < 3    ? per[cases[i].which]
                     : cases[i].which == 3 ? per[0] + per[2]
                     : cases[i].which == 4 ? month
                                           : c1_day;
    if (json_int(body, "total_count") != want)
      fail_msg("%s: total_count %lld, want %lld", args, json_int(body, "total_count"),
               want);
    free(body);
  }
  assert_true(month > 0 && c1_day > 0 && month < per[0] + per[1] + per[2]);
  /* exports take them too */
  snprintf(path, sizeof path,
           VG_API_PREFIX
           "catalog/datasets/passages-heure/exports/jsonl?refine=counter_id:c2");
  assert_int_equal(get(s->port, path, &body), 200);
  assert_int_equal(count_of(body, "\n"), (size_t)per[1]);
  assert_null(strstr(body, "\"c1\""));
  free(body);
  static const struct {
    const char *args, *says;
  } bad[] = {{"refine=count:3", "count\\\" is not a facet"},
             {"exclude=nope:x", "exclude API parameter: \\\"nope\\\" is not a facet"},
             {"refine=start_datetime:2024/13", "a date such as 2026"},
             {"refine=start_datetime:2024/02/30", "a date such as 2026"},
             {"refine=start_datetime:+2024", "a date such as 2026"},
             {"refine=counter_id", "FIELD:VALUE is expected"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(path, sizeof path, "%s%s", rec, bad[i].args);
    assert_int_equal(get(s->port, path, &body), 400);
    if (!strstr(body, bad[i].says))
      fail_msg("%s: %s", bad[i].args, body);
    assert_non_null(strstr(body, "InvalidRESTParameterError"));
    free(body);
  }
}

/* Every link the API prints -- DCAT's identifiers and download URLs, the
 * changes feed's self and next links and its 410 message -- starts with
 * http.public_url when it is set (trailing slashes dropped), and with
 * http://<Host> otherwise; a bad public_url is refused. */
static void links_follow_public_url(void **state) {
  struct srv *s = *state;
  char *body, path[256], err[512], want[256];
  size_t len;
  const char *dcat = VG_API_PREFIX "catalog/exports/dcat";
  const char *ch = VG_API_PREFIX "catalog/datasets/passages-jour/changes";

  assert_int_equal(get_h(s->port, dcat, "Host: city.example:8080", &body, NULL, 0), 200);
  snprintf(want, sizeof want, "http://city.example:8080%s", dcat);
  CHECK(body, want, strlen(want), "@id");
  free(body);

  s->f->cfg.http_public_url = "https://data.example.org/portal//";
  struct vg_api_opts ao;
  assert_int_equal(vg_config_api(&s->f->cfg, &ao), 0);
  s->f->cfg.http_public_url = NULL; /* not the config's to free */
  assert_int_equal(vg_api_reload(s->api, &ao, err, sizeof err), 0);
  vg_config_api_release(&ao);
  const char *pub = "https://data.example.org/portal";

  assert_int_equal(get_h(s->port, dcat, "Host: city.example:8080", &body, NULL, 0), 200);
  snprintf(want, sizeof want, "%s%s", pub, dcat);
  CHECK(body, want, strlen(want), "@id");
  snprintf(want, sizeof want, "%s" VG_API_PREFIX "catalog/datasets/passages-jour", pub);
  char *id = hostile_get(body, (const char *[]){"dcat:dataset", "#1", "@id", NULL}, &len);
  char *dl = hostile_get(body,
                         (const char *[]){"dcat:dataset", "#1", "dcat:distribution", "#0",
                                          "dcat:downloadURL", "@id", NULL},
                         &len);
  assert_string_equal(id, want);
  assert_true(strncmp(dl, want, strlen(want)) == 0);
  assert_non_null(strstr(dl, "/exports/"));
  free(id);
  free(dl);
  free(body);

  snprintf(path, sizeof path, "%s?limit=1&where=metric%%3D%%22passages%%22&since=0", ch);
  assert_int_equal(get(s->port, path, &body), 200);
  long long next = json_int(body, "next_cursor");
  snprintf(want, sizeof want, "%s%s?limit=1&where=metric%%3D%%22passages%%22&since=0",
           pub, ch);
  CHECK(body, want, strlen(want), "links", "#0", "href");
  CHECK(body, "self", 4, "links", "#0", "rel");
  snprintf(want, sizeof want, "%s%s?limit=1&where=metric%%3D%%22passages%%22&since=%lld",
           pub, ch, next);
  CHECK(body, want, strlen(want), "links", "#1", "href");
  CHECK(body, "next", 4, "links", "#1", "rel");
  free(body);

  size_t trimmed;
  assert_int_equal(vg_store_trim_emit(s->f->st, 10, 1000, &trimmed, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s?since=1", ch);
  assert_int_equal(get(s->port, path, &body), 410);
  snprintf(want, sizeof want,
           "(%s" VG_API_PREFIX "catalog/datasets/passages-jour/exports/jsonl)", pub);
  assert_non_null(strstr(body, want));
  free(body);

  static const struct {
    const char *url;
    int ok;
  } cases[] = {{"https://data.example.org", 1},
               {"http://127.0.0.1:8080/x/", 1},
               {"data.example.org", 0},
               {"https://", 0},
               {"https:///path", 0},
               {"ftp://data.example.org", 0},
               {"https://a.org/?q=1", 0},
               {"https://a.org/#x", 0},
               {"https://a b.org", 0},
               {"https://a.org/\"", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    if (vg_api_public_url_ok(cases[i].url) != cases[i].ok)
      fail_msg("vg_api_public_url_ok(\"%s\") is not %d", cases[i].url, cases[i].ok);
  char iri[128];
  assert_int_equal(vg_api_hvd_category("c_b79e35eb", iri, sizeof iri), 0);
  assert_string_equal(iri, "http://data.europa.eu/bna/c_b79e35eb");
  assert_int_equal(
      vg_api_hvd_category("http://data.europa.eu/bna/c_dd313021", iri, sizeof iri), 0);
  assert_string_equal(iri, "http://data.europa.eu/bna/c_dd313021");
  static const char *const bad_cat[] = {"mobility", "c_b79e35e", "c_b79e35ebb",
                                        "c_b79e35eg",
                                        "https://data.europa.eu/bna/c_b79e35eb"};
  for (size_t i = 0; i < sizeof bad_cat / sizeof *bad_cat; i++)
    if (vg_api_hvd_category(bad_cat[i], iri, sizeof iri) == 0)
      fail_msg("vg_api_hvd_category accepted \"%s\"", bad_cat[i]);
  static const struct {
    const char *v;
    int ok;
  } contacts[] = {{"opendata@ville.fr", 1},
                  {"mailto:opendata@ville.fr", 1},
                  {"https://ville.fr/contact", 1},
                  {"opendata", 0},
                  {"@ville.fr", 0},
                  {"a@b", 0},
                  {"x <a@b.org>", 0},
                  {"a@b.org\"", 0},
                  {"ftp://ville.fr", 0}};
  for (size_t i = 0; i < sizeof contacts / sizeof *contacts; i++)
    if (vg_api_contact_ok(contacts[i].v) != contacts[i].ok)
      fail_msg("vg_api_contact_ok(\"%s\") is not %d", contacts[i].v, contacts[i].ok);
}

int vg_test_publish_api(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(routes_and_defaults),
      cmocka_unit_test(limits_in_opendatasoft_words),
      cmocka_unit_test(unknown_paths),
      cmocka_unit_test_setup_teardown(served_counts, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(changes_pages_and_gone, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(reload, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(retention_moves_the_etag, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(hostile_metadata, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(links_follow_public_url, srv_setup, srv_teardown),
      cmocka_unit_test_setup_teardown(refine_and_exclude, srv_setup, srv_teardown),
  };
  return cmocka_run_group_tests_name("publish_api", tests, NULL, NULL);
}
