/* Unit tests of the open-data API's request decoding (vg_api_parse): every
 * route, the defaults, the documented limits with Opendatasoft's messages,
 * and the refusals of malformed parameters (400) and paths (404). */
#include <string.h>

#include "testutil.h"
#include "vigie/api.h"
#include "vigie/dataset.h"

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
  assert_int_equal(parse(P "datasets/x/records", &rq, err, sizeof err, "limit", "-1", NULL), 0);
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
  assert_int_equal(parse(P "datasets/x/exports/csv", &rq, err, sizeof err, "delimiter", ",",
                         "with_bom", "false", "where", "count > 3", "select", "count",
                         "timezone", "America/New_York", NULL), 0);
  assert_int_equal(rq.delimiter, ',');
  assert_int_equal(rq.with_bom, 0);
  assert_string_equal(rq.where, "count > 3");
  assert_string_equal(rq.select, "count");
  assert_string_equal(rq.timezone, "America/New_York");
  assert_int_equal(parse(P "datasets/x/changes", &rq, err, sizeof err, "since", "42", NULL), 0);
  assert_int_equal(rq.route, VG_API_CHANGES);
  assert_true(rq.since == 42);
  assert_int_equal(rq.limit, 1000);
  /* parameters with no effect here are accepted */
  assert_int_equal(parse(P "datasets/x/records", &rq, err, sizeof err, "lang", "fr",
                         "include_links", "true", NULL), 0);
}

static void limits_in_opendatasoft_words(void **state) {
  (void)state;
  struct vg_api_req rq;
  char err[512];
  const char *rec = P "datasets/x/records";
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "101", NULL), 400);
  assert_string_equal(rq.error_code, "InvalidRESTParameterError");
  assert_string_equal(err, "Invalid value for limit API parameter: 101 was found but -1 <= "
                           "limit <= 100 is expected.");
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "100", "offset", "9900", NULL), 0);
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "10", "offset", "9991", NULL), 400);
  assert_string_equal(err, "Invalid value for sum of offset + limit API parameter: 10001 was "
                           "found but <= 10000 is expected.");
  assert_int_equal(parse(rec, &rq, err, sizeof err, "offset", "-1", NULL), 400);
  assert_non_null(strstr(err, "offset API parameter: -1 was found but offset >= 0"));
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "ten", NULL), 400);
  assert_non_null(strstr(err, "\"ten\" was found but an integer is expected"));
  assert_int_equal(parse(rec, &rq, err, sizeof err, "limit", "99999999999999999999999", NULL),
                   400);
  assert_int_equal(parse(rec, &rq, err, sizeof err, "group_by", "metric", NULL), 400);
  assert_non_null(strstr(err, "group_by"));
  /* exports have no row limit, and no order_by (they stream) */
  const char *csv = P "datasets/x/exports/csv";
  assert_int_equal(parse(csv, &rq, err, sizeof err, "limit", "50000", "offset", "20000", NULL),
                   0);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "order_by", "count", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "delimiter", "x", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "delimiter", ";;", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "with_bom", "yes", NULL), 400);
  assert_int_equal(parse(csv, &rq, err, sizeof err, "timezone", "../../etc/passwd", NULL), 400);
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
  const char *bad[] = {"/api/explore/v2.0/catalog/datasets", P, P "datasets/X/records",
                       P "datasets//records", P "datasets/x/exports/xml",
                       P "datasets/x/exports/", P "datasets/x/recordsz",
                       P "datasets/x/records/1", P "exports/dcat2", ""};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(parse(bad[i], &rq, err, sizeof err, NULL), 404);
    assert_non_null(rq.error_code);
    assert_true(err[0] != 0);
  }
  char longid[300] = P "datasets/";
  memset(longid + strlen(longid), 'a', 200);
  assert_int_equal(parse(longid, &rq, err, sizeof err, NULL), 404);
}

int vg_test_publish_api(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(routes_and_defaults),
      cmocka_unit_test(limits_in_opendatasoft_words),
      cmocka_unit_test(unknown_paths),
  };
  return cmocka_run_group_tests_name("publish_api", tests, NULL, NULL);
}
