/*
 * The rollup topic's message (engine/publish/rollup.c): a window as JSON
 * with times in the config's zone, statistics computed by hand from the
 * readings, keys that keep a window's revisions together.
 */
#include <math.h>
#include <string.h>

#include "hostile.h"
#include "testutil.h"
#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/publish.h"
#include "vigie/rollup.h"
#include "vigie/tz.h"

/* not inlined: gcc -O3 then takes the returned buffer for the address of
 * open_memstream's local pointer (-Wdangling-pointer) */
__attribute__((noinline)) static char *
to_json_from(const char *key, const struct vg_wentry *w, const struct vg_tz *tz,
             const struct vg_rollup_origin *o, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  *rc = vg_rollup_json(f, key, strlen(key), w, tz, o);
  fclose(f);
  return buf;
}

static char *to_json(const char *key, const struct vg_wentry *w, const struct vg_tz *tz,
                     int *rc) {
  return to_json_from(key, w, tz, NULL, rc);
}

/* The bytes of the base64 text b (RFC 4648, padded) into out; their count. */
static size_t unbase64(const char *b, size_t n, uint8_t *out) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n && b[i] != '='; i++) {
    const char *c = strchr(abc, b[i]);
    assert_non_null(c);
    acc = acc << 6 | (uint32_t)(c - abc);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return o;
}

/* The "state" of message j decodes to the accumulator a, exactly. */
static void state_is(const char *j, const struct vg_acc *a) {
  const char *s = strstr(j, "\"state\":\"");
  assert_non_null(s);
  s += strlen("\"state\":\"");
  const char *end = strchr(s, '"');
  assert_non_null(end);
  uint8_t bin[4096];
  assert_true((size_t)(end - s) / 4 * 3 <= sizeof bin);
  size_t n = unbase64(s, (size_t)(end - s), bin), used = 0;
  struct vg_acc got;
  assert_int_equal(vg_acc_decode(&got, bin, n, &used), 0);
  assert_int_equal(used, n);
  assert_true(vg_acc_equal(&got, a, 0));
  vg_acc_release(&got);
}

static void window(struct vg_wentry *w, int64_t start, int64_t len, const double *v,
                   size_t n, const struct vg_acc_opts *o) {
  memset(w, 0, sizeof *w);
  w->series = 7;
  w->res = len == 3600 ? VG_RES_HOUR : VG_RES_DAY;
  w->start = start;
  w->end = start + len;
  vg_acc_init(&w->acc);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(
        vg_acc_add(&w->acc, o, (start + (int64_t)i) * 1000000000LL, v[i], 0, 0), 0);
}

static void message_of_a_final_hour(void **state) {
  (void)state;
  struct vg_tz *tz;
  char err[256];
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, err, sizeof err), 0);
  /* 2026-07-01 10:00 UTC is noon in Paris (summer time, +02:00) */
  int64_t start = vg_days_from_civil(2026, 7, 1) * 86400 + 10 * 3600;
  const double v[] = {1, 2, 3, 4};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w;
  window(&w, start, 3600, v, 4, &o);
  w.final = 1;
  w.revision = 2;
  int rc;
  const struct vg_rollup_origin origin = {"issy", "Europe/Paris"};
  char *j =
      to_json_from("no2{district=\"Centre\",sensor_id=\"aq-12\"}", &w, tz, &origin, &rc);
  assert_int_equal(rc, 0);
  /* mean 2.5; sample variance ((1.5^2 + 0.5^2) * 2) / 3 = 5/3 */
  char sd[VG_FMT_DOUBLE_MAX], want[1024];
  sd[vg_fmt_double(sqrt(5.0 / 3.0), sd)] = 0;
  snprintf(
      want, sizeof want,
      "{\"series\":\"no2{district=\\\"Centre\\\",sensor_id=\\\"aq-12\\\"}\","
      "\"tags\":{\"district\":\"Centre\",\"sensor_id\":\"aq-12\"},\"metric\":\"no2\","
      "\"resolution\":\"1h\",\"start_datetime\":\"2026-07-01T12:00:00+02:00\","
      "\"end_datetime\":\"2026-07-01T13:00:00+02:00\",\"count\":4,\"sum\":10,"
      "\"min\":1,\"max\":4,\"mean\":2.5,\"stddev\":%s,\"first\":1,\"last\":4,"
      "\"status\":\"final\",\"revision\":2,\"site\":\"issy\","
      "\"timezone\":\"Europe/Paris\",\"state\":\"",
      sd);
  assert_int_equal(strncmp(j, want, strlen(want)), 0);
  assert_string_equal(j + strlen(j) - 2, "\"}");
  state_is(j, &w.acc);
  free(j);
  vg_acc_release(&w.acc);
  vg_tz_free(tz);
}

static void quantiles_when_kept_and_nulls(void **state) {
  (void)state;
  struct vg_tz *tz;
  char err[256];
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, err, sizeof err), 0);
  /* a winter day: local midnight is 23:00 UTC the day before */
  int64_t start = vg_days_from_civil(2026, 1, 14) * 86400 - 3600;
  const double v[] = {42.5};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  struct vg_wentry w;
  window(&w, start, 86400, v, 1, &o);
  int rc;
  char *j = to_json("passages{counter_id=\"c;3\"}", &w, tz, &rc);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(j, "\"resolution\":\"1d\",\"start_datetime\":"
                            "\"2026-01-14T00:00:00+01:00\",\"end_datetime\":"
                            "\"2026-01-15T00:00:00+01:00\""));
  assert_non_null(strstr(j, "\"tags\":{\"counter_id\":\"c;3\"},\"metric\":\"passages\""));
  /* one reading: no sample stddev; the quantile sketch is kept: p50 within
   * its 1 % relative error of the reading */
  assert_non_null(strstr(j, "\"stddev\":null"));
  const char *p = strstr(j, "\"p50\":");
  assert_non_null(p);
  double p50 = strtod(p + 6, NULL);
  assert_true(fabs(p50 - 42.5) <= 42.5 * 0.011);
  assert_non_null(strstr(j, "\"p95\":"));
  assert_null(strstr(j, "\"distinct\""));
  assert_non_null(strstr(j, "\"status\":\"provisional\",\"revision\":0,\"state\":\""));
  assert_null(strstr(j, "\"site\"")); /* none configured */
  state_is(j, &w.acc);                /* the sketch with it */
  free(j);
  /* a key that is not canonical is refused */
  j = to_json("no2{broken", &w, tz, &rc);
  assert_int_equal(rc, -EINVAL);
  free(j);
  vg_acc_release(&w.acc);
  vg_tz_free(tz);
}

static void keys_name_series_resolution_and_start(void **state) {
  (void)state;
  char k[64];
  const char *s = "no2{a=\"b\"}";
  assert_int_equal(vg_rollup_key(k, sizeof k, s, strlen(s), VG_RES_HOUR, 1782900000),
                   strlen("no2{a=\"b\"}|1h|1782900000"));
  assert_string_equal(k, "no2{a=\"b\"}|1h|1782900000");
  vg_rollup_key(k, sizeof k, s, strlen(s), VG_RES_DAY, -86400);
  assert_string_equal(k, "no2{a=\"b\"}|1d|-86400");
  /* truncated, NUL-terminated, full length returned */
  char small[8];
  assert_int_equal(vg_rollup_key(small, sizeof small, s, strlen(s), VG_RES_DAY, 0),
                   strlen("no2{a=\"b\"}|1d|0"));
  assert_string_equal(small, "no2{a=\"");
}

/* A canonical key m{t="v",u="v"} of a hostile tag value (codec.h's
 * escapes: backslash, quote, newline). */
static char *hostile_key(const struct hostile *h) {
  char *k = malloc(2 * 2 * h->len + 32), *o = k;
  o += sprintf(o, "m{");
  for (int t = 0; t < 2; t++) {
    o += sprintf(o, t ? ",u=\"" : "t=\"");
    for (size_t i = 0; i < h->len; i++) {
      char c = h->s[i];
      if (c == '\\' || c == '"' || c == '\n')
        *o++ = '\\';
      *o++ = c == '\n' ? 'n' : c;
    }
    *o++ = '"';
  }
  strcpy(o, "}");
  return k;
}

/* Hostile tag values: the message parses back with the series key and
 * each tag exact (invalid UTF-8 as U+FFFD). */
static void hostile_tags(void **state) {
  (void)state;
  struct vg_tz *tz;
  char err[256];
  assert_int_equal(vg_tz_load("UTC", &tz, err, sizeof err), 0);
  const double v[] = {1};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  struct vg_wentry w;
  window(&w, 0, 3600, v, 1, &o);
  for (size_t i = 0; i < NHOSTILE_C; i++) {
    const struct hostile *h = &hostile_c[i];
    char *key = hostile_key(h);
    int rc;
    char *j = to_json(key, &w, tz, &rc);
    assert_int_equal(rc, 0);
    hostile_check(j, (const char *[]){"tags", "t", NULL}, h->want, h->want_len);
    hostile_check(j, (const char *[]){"tags", "u", NULL}, h->want, h->want_len);
    hostile_check(j, (const char *[]){"metric", NULL}, "m", 1);
    if (h->len == h->want_len && memcmp(h->s, h->want, h->len) == 0) /* valid UTF-8 */
      hostile_check(j, (const char *[]){"series", NULL}, key, strlen(key));
    free(j);
    free(key);
  }
  /* a 10 kB key: the series comes back whole */
  size_t n;
  const char *lng = hostile_long(&n);
  struct hostile h = {lng, lng, n, n};
  char *key = hostile_key(&h);
  int rc;
  char *j = to_json(key, &w, tz, &rc);
  assert_int_equal(rc, 0);
  hostile_check(j, (const char *[]){"series", NULL}, key, strlen(key));
  free(j);
  free(key);
  vg_acc_release(&w.acc);
  vg_tz_free(tz);
}

/* A record written by vg_rollup_json reads back (vg_rollin_decode) into
 * the same window and state, its series tagged with the site; records of
 * another zone or clock, of a series with a site already, or broken, are
 * refused with a reason; an indicator row is skipped. */
static void records_read_back(void **state) {
  (void)state;
  struct vg_tz *tz;
  char err[256];
  assert_int_equal(vg_tz_load("Europe/Paris", &tz, err, sizeof err), 0);
  struct vg_calendar cal;
  assert_int_equal(vg_calendar_init(&cal, tz, 60), 0);
  int64_t day = vg_days_from_civil(2026, 3, 29) * 86400 - 3600; /* 23 hours: DST */
  const double v[] = {3, 1, 4, 1, 5};
  struct vg_acc_opts o = VG_ACC_OPTS_DEFAULT;
  o.quantiles = 1;
  struct vg_wentry w;
  window(&w, day, 86400, v, 5, &o);
  w.end = day + 23 * 3600;
  w.final = 1;
  w.revision = 3;
  const char *series = "no2{sensor_id=\"aq-12\",zone=\"nord\"}";
  const struct vg_rollup_origin paris = {"issy", "Europe/Paris"};
  int rc;
  char *j = to_json_from(series, &w, tz, &paris, &rc), key[256];
  assert_int_equal(rc, 0);
  size_t klen = vg_rollup_key(key, sizeof key, series, strlen(series), VG_RES_DAY, day);
  struct vg_rollin r;
  assert_int_equal(vg_rollin_decode(key, klen, j, strlen(j), "boulogne", "Europe/Paris",
                                    &cal, &r, err, sizeof err),
                   0);
  const char *want = "no2{sensor_id=\"aq-12\",site=\"boulogne\",zone=\"nord\"}";
  assert_int_equal(r.key_len, strlen(want));
  assert_memory_equal(r.key, want, r.key_len);
  assert_int_equal(r.res, VG_RES_DAY);
  assert_int_equal(r.start, day);
  assert_int_equal(r.end, day + 23 * 3600);
  assert_int_equal(r.revision, 3);
  assert_true(vg_acc_equal(&r.acc, &w.acc, 0));
  vg_rollin_release(&r);
  /* another zone: refused, never merged */
  assert_int_equal(vg_rollin_decode(key, klen, j, strlen(j), "b", "Europe/London", &cal,
                                    &r, err, sizeof err),
                   VG_ECONFIG);
  assert_non_null(strstr(err, "Europe/Paris"));
  /* a start that is not a local day's start on this calendar */
  klen = vg_rollup_key(key, sizeof key, series, strlen(series), VG_RES_DAY, day + 3600);
  assert_int_equal(vg_rollin_decode(key, klen, j, strlen(j), "b", "Europe/Paris", &cal,
                                    &r, err, sizeof err),
                   VG_ECONFIG);
  free(j);
  /* a series tagged with a site already */
  const char *sited = "no2{site=\"x\"}";
  j = to_json_from(sited, &w, tz, &paris, &rc);
  klen = vg_rollup_key(key, sizeof key, sited, strlen(sited), VG_RES_DAY, day);
  assert_int_equal(vg_rollin_decode(key, klen, j, strlen(j), "b", "Europe/Paris", &cal,
                                    &r, err, sizeof err),
                   VG_EDECODE);
  assert_non_null(strstr(err, "site"));
  free(j);
  /* broken records, and an indicator row */
  static const char *const bad[][2] = {
      {"no2|1h", "{}"},
      {"no2{a=\"b\"}|1w|0", "{}"},
      {"no2{a=\"b\"}|1h|1782900000", "not json"},
      {"no2{a=\"b\"}|1h|1782900000", "{\"revision\":1,\"timezone\":\"Europe/Paris\"}"},
      {"no2{a=\"b\"}|1h|1782900000",
       "{\"revision\":1,\"timezone\":\"Europe/Paris\",\"state\":\"QQ=\"}"},
      {"no2{a=\"b\"}|1h|1782900000",
       "{\"revision\":-1,\"timezone\":\"Europe/Paris\",\"state\":\"\"}"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = 0;
    rc = vg_rollin_decode(bad[i][0], strlen(bad[i][0]), bad[i][1], strlen(bad[i][1]), "b",
                          "Europe/Paris", &cal, &r, err, sizeof err);
    if (rc != VG_EDECODE || !err[0])
      fail_msg("case %zu: %d (%s)", i, rc, err);
  }
  assert_int_equal(vg_rollin_decode("indicator:x|y|0", 15, "{}", 2, "b", "Europe/Paris",
                                    &cal, &r, err, sizeof err),
                   1);
  vg_acc_release(&w.acc);
  vg_tz_free(tz);
}

int vg_test_publish_rollup(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(message_of_a_final_hour),
      cmocka_unit_test(quantiles_when_kept_and_nulls),
      cmocka_unit_test(keys_name_series_resolution_and_start),
      cmocka_unit_test(hostile_tags),
      cmocka_unit_test(records_read_back),
  };
  return cmocka_run_group_tests_name("publish_rollup", tests, NULL, NULL);
}
