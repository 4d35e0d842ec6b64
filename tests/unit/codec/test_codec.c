/*
 * Unit tests of engine/codec: every mapping rule and every rejection reason
 * of the three formats, canonical series keys, and the real data sets
 * (Seattle bike counts as JSON with naive local times; Aberdeen PM CSV rows
 * turned into JSON and into line protocol here), whose expected sums are
 * computed in the test straight from the raw files.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codectest.h"
#include "vigie/tz.h"

static int dec(struct vg_codec *c, const char *msg) {
  vg_event_batch_clear(&B);
  return vg_codec_decode(c, msg, strlen(msg), 1700000000 * NS, &B);
}

static void key_is(size_t i, const char *want) {
  assert_true(i < B.n_events);
  const struct vg_event *e = &B.events[i];
  if (e->key_len != strlen(want) || memcmp(vg_event_key(&B, e), want, e->key_len) != 0) {
    print_message("event %zu key: got \"%.*s\", want \"%s\"\n", i, (int)e->key_len,
                  vg_event_key(&B, e), want);
    fail();
  }
}

static void ev(size_t i, const char *key, int64_t t, double v) {
  key_is(i, key);
  assert_int_equal(B.events[i].time_ns, t);
  assert_true(B.events[i].value == v);
}

static void rej(size_t i, enum vg_reject_reason r, size_t off) {
  assert_true(i < B.n_rejects);
  if (B.rejects[i].reason != r || B.rejects[i].offset != off) {
    print_message("reject %zu: got %s@%u, want %s@%zu\n", i,
                  vg_reject_name(B.rejects[i].reason), B.rejects[i].offset,
                  vg_reject_name(r), off);
    fail();
  }
}

/* Each message of cases, decoded with c, is one rejection and no event:
 * with the reason and offset of its case, and, when whole, about the whole
 * message. */
static void expect_rejected(struct vg_codec *c, const struct reject_case *cases, size_t n,
                            int whole) {
  for (size_t i = 0; i < n; i++) {
    int rc = dec(c, cases[i].msg);
    if (rc != VG_EDECODE || B.n_rejects != 1 || B.n_events != 0 ||
        B.rejects[0].reason != cases[i].r || B.rejects[0].offset != cases[i].off ||
        (whole &&
         (B.rejects[0].item_off != 0 || B.rejects[0].item_len != strlen(cases[i].msg)))) {
      print_message("%s: rc %d, %zu events, %zu rejects, first %s@%u; want %s@%zu%s\n",
                    cases[i].msg, rc, B.n_events, B.n_rejects,
                    B.n_rejects ? vg_reject_name(B.rejects[0].reason) : "-",
                    B.n_rejects ? B.rejects[0].offset : 0, vg_reject_name(cases[i].r),
                    cases[i].off, whole ? " about the message" : "");
      fail();
    }
  }
}

/* ---- JSON --------------------------------------------------------------- */

static void json_mapping(void **state) {
  (void)state;
  const char *tags[] = {"district"};
  const char *fields[] = {"no2", "pm10"};
  struct vg_codec *c =
      CODEC(.format = VG_FORMAT_JSON, .time_key = "ts", .entity_key = "sensor_id",
            .tag_keys = tags, .n_tag_keys = 1, .fields = fields, .n_fields = 2);
  assert_int_equal(dec(c, "{\"ts\":1700000000,\"sensor_id\":\"aq-12\","
                          "\"district\":\"Centre\",\"no2\":41.5,\"pm10\":18,"
                          "\"other\":3}"),
                   0);
  assert_int_equal(B.n_events, 2);
  ev(0, "no2{district=\"Centre\",sensor_id=\"aq-12\"}", 1700000000 * NS, 41.5);
  ev(1, "pm10{district=\"Centre\",sensor_id=\"aq-12\"}", 1700000000 * NS, 18);
  assert_false(B.events[0].has_distinct);
  /* the series-key rule (docs/architecture.md, "Decode"): a numeric entity is
   * written as its text */
  assert_int_equal(dec(c, "{\"sensor_id\":5331,\"pm10\":3,\"no2\":\"1\",\"ts\":1}"), 0);
  ev(1, "pm10{sensor_id=\"5331\"}", NS, 3);
  vg_codec_free(c);
}

static void json_keys_canonical(void **state) {
  (void)state;
  const char *tags[] = {"b", "a", "c"};
  const char *fields[] = {"v"};
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .time_key = "t", .tag_keys = tags,
                             .n_tag_keys = 3, .fields = fields, .n_fields = 1);
  const char *want = "v{a=\"x\\\"y\",b=\"back\\\\slash\",c=\"line\\nfeed\"}";
  assert_int_equal(dec(c, "{\"t\":1,\"v\":1,\"a\":\"x\\\"y\","
                          "\"b\":\"back\\\\slash\",\"c\":\"line\\nfeed\"}"),
                   0);
  key_is(0, want);
  assert_int_equal(dec(c, "{\"c\":\"line\\u000afeed\",\"b\":\"back\\\\slash\","
                          "\"v\":1,\"a\":\"x\\u0022y\",\"t\":1}"),
                   0);
  key_is(0, want);
  /* \u escapes become UTF-8, surrogate pairs included; empty tags vanish */
  assert_int_equal(dec(c, "{\"t\":1,\"v\":1,\"a\":\"caf\\u00e9\","
                          "\"b\":\"\\ud83d\\udeb2\",\"c\":\"\"}"),
                   0);
  key_is(0, "v{a=\"caf\xc3\xa9\",b=\"\xf0\x9f\x9a\xb2\"}");
  vg_codec_free(c);
  /* names: '.' of paths -> '_', structural bytes -> '_' */
  const char *f2[] = {"a b{c}", "m.x"};
  c = CODEC(.format = VG_FORMAT_JSON, .fields = f2, .n_fields = 2);
  assert_int_equal(dec(c, "{\"time\":1,\"a b{c}\":1,\"m\":{\"x\":2}}"), 0);
  key_is(0, "a_b_c_");
  key_is(1, "m_x");
  vg_codec_free(c);
}

static void json_dotted_paths(void **state) {
  (void)state;
  const char *tags[] = {"meta.site.name"};
  const char *fields[] = {"data.pm.p10"};
  struct vg_codec *c =
      CODEC(.format = VG_FORMAT_JSON, .time_key = "meta.time", .entity_key = "meta.id",
            .tag_keys = tags, .n_tag_keys = 1, .fields = fields, .n_fields = 1);
  assert_int_equal(dec(c, "{\"meta\":{\"id\":\"s1\",\"time\":\"2024-01-01T00:00:00Z\","
                          "\"site\":{\"name\":\"Port\"}},\"data\":{\"pm\":{\"p10\":7.25},"
                          "\"list\":[1,2,{\"p10\":9}]}}"),
                   0);
  assert_int_equal(B.n_events, 1);
  ev(0, "data_pm_p10{meta_id=\"s1\",meta_site_name=\"Port\"}", 1704067200 * NS, 7.25);
  vg_codec_free(c);
  /* paths deeper than 32 objects are not looked at: a field there is
   * missing, and the walk neither recurses without bound nor crashes */
  const char *deep_f[] = {"a"};
  c = CODEC(.format = VG_FORMAT_JSON, .fields = deep_f, .n_fields = 1);
  char deep[8192];
  size_t n = 0;
  n += (size_t)sprintf(deep + n, "{\"time\":1,\"a\":2,\"x\":");
  for (int i = 0; i < 1000; i++)
    deep[n++] = '[';
  for (int i = 0; i < 1000; i++)
    deep[n++] = ']';
  deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(dec(c, deep), 0);
  ev(0, "a", NS, 2);
  n = (size_t)sprintf(deep, "{\"time\":1,\"a\":3");
  for (int i = 0; i < 500; i++)
    n += (size_t)sprintf(deep + n, ",\"o\":{\"a\":1");
  for (int i = 0; i < 501; i++)
    deep[n++] = '}';
  deep[n] = '\0';
  assert_int_equal(dec(c, deep), 0);
  assert_int_equal(B.n_events, 1);
  ev(0, "a", NS, 3);
  vg_codec_free(c);
}

static void json_default_fields(void **state) {
  (void)state;
  const char *tags[] = {"kind"};
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .time_key = "ts",
                             .entity_key = "id", .tag_keys = tags, .n_tag_keys = 1);
  /* numbers become metrics, nested objects flattened; strings ("12.5"),
   * booleans, nulls, arrays and the mapped keys do not */
  assert_int_equal(dec(c, "{\"ts\":5,\"id\":7,\"kind\":3,\"temp\":-1.5e1,"
                          "\"s\":\"12.5\",\"ok\":true,\"n\":null,\"arr\":[1],"
                          "\"sub\":{\"x\":1,\"y\":{\"z\":2}}}"),
                   0);
  assert_int_equal(B.n_events, 3);
  ev(0, "temp{id=\"7\",kind=\"3\"}", 5 * NS, -15);
  ev(1, "sub_x{id=\"7\",kind=\"3\"}", 5 * NS, 1);
  ev(2, "sub_y_z{id=\"7\",kind=\"3\"}", 5 * NS, 2);
  vg_codec_free(c);
}

static void json_strings_and_booleans(void **state) {
  (void)state;
  const char *fields[] = {"a", "b", "on", "off"};
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .fields = fields, .n_fields = 4);
  assert_int_equal(dec(c, "{\"time\":1,\"a\":\"12.5\",\"b\":\" -3 \",\"on\":true,"
                          "\"off\":false}"),
                   0);
  ev(0, "a", NS, 12.5);
  ev(1, "b", NS, -3);
  ev(2, "on", NS, 1);
  ev(3, "off", NS, 0);
  vg_codec_free(c);
}

static void json_count_as_and_distinct(void **state) {
  (void)state;
  const char *tags[] = {"direction"};
  struct vg_codec *c =
      CODEC(.format = VG_FORMAT_JSON, .time_key = "ts", .entity_key = "counter_id",
            .tag_keys = tags, .n_tag_keys = 1, .count_as = "passages",
            .distinct_key = "device_hash", .fields = (const char *[]){"speed"},
            .n_fields = 1);
  assert_int_equal(dec(c, "[{\"ts\":10,\"counter_id\":\"c1\",\"direction\":\"in\","
                          "\"device_hash\":\"ab\\u0063\",\"speed\":12},"
                          "{\"ts\":11,\"counter_id\":\"c1\",\"direction\":\"out\","
                          "\"speed\":3}]"),
                   0);
  assert_int_equal(B.n_events, 4);
  ev(0, "speed{counter_id=\"c1\",direction=\"in\"}", 10 * NS, 12);
  ev(1, "passages{counter_id=\"c1\",direction=\"in\"}", 10 * NS, 1);
  assert_true(B.events[1].has_distinct);
  assert_int_equal(B.events[1].distinct_len, 3);
  assert_memory_equal(vg_event_distinct(&B, &B.events[1]), "abc", 3);
  ev(3, "passages{counter_id=\"c1\",direction=\"out\"}", 11 * NS, 1);
  assert_false(B.events[3].has_distinct);
  vg_codec_free(c);
}

static void json_time_formats(void **state) {
  (void)state;
  static const struct {
    enum vg_time_format f;
    const char *ts;
    int64_t want;
  } cases[] = {
      {VG_TIME_UNIX, "1700000000", 1700000000 * NS},
      {VG_TIME_UNIX, "1700000000.123456789", 1700000000 * NS + 123456789},
      {VG_TIME_UNIX, "\"1700000000.5\"", 1700000000 * NS + 500000000},
      {VG_TIME_UNIX, "-1.5", -1500000000},
      {VG_TIME_UNIX, "1.7e9", 1700000000 * NS},
      {VG_TIME_UNIX_MS, "1700000000123", 1700000000123000000},
      {VG_TIME_UNIX_US, "1700000000123456", 1700000000123456000},
      {VG_TIME_UNIX_NS, "1700000000123456789", 1700000000123456789},
      {VG_TIME_RFC3339, "\"2023-11-14T22:13:20Z\"", 1700000000 * NS},
      {VG_TIME_RFC3339, "\"2023-11-14t22:13:20.123456789z\"", 1700000000123456789},
      {VG_TIME_RFC3339, "\"2023-11-14T23:13:20.5+01:00\"", 1700000000500000000},
      {VG_TIME_RFC3339, "\"2023-11-14T16:43:20-0530\"", 1700000000 * NS},
      {VG_TIME_RFC3339, "\"2023-11-14 22:13Z\"", 1699999980 * NS},
      {VG_TIME_RFC3339, "\"1969-12-31T23:59:59.9999999999Z\"", -1},
      {VG_TIME_AUTO, "1700000000", 1700000000 * NS},
      {VG_TIME_AUTO, "1700000000.25", 1700000000250000000},
      {VG_TIME_AUTO, "1700000000123", 1700000000123000000},
      {VG_TIME_AUTO, "\"1700000000123456\"", 1700000000123456000},
      {VG_TIME_AUTO, "1700000000123456789", 1700000000123456789},
      {VG_TIME_AUTO, "\"2023-11-14T22:13:20Z\"", 1700000000 * NS},
  };
  char msg[200];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .time_format = cases[i].f);
    snprintf(msg, sizeof msg, "{\"time\":%s,\"v\":1}", cases[i].ts);
    int rc = dec(c, msg);
    if (rc != 0 || B.events[0].time_ns != cases[i].want) {
      print_message("%s: rc %d, got %lld want %lld\n", msg, rc,
                    rc == 0 ? (long long)B.events[0].time_ns : 0LL,
                    (long long)cases[i].want);
      fail();
    }
    vg_codec_free(c);
  }
}

static void json_local_times(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON,
                                .time_format = VG_TIME_RFC3339,
                                .time_zone = "Europe/Paris"};
  struct vg_codec *c = NULL;
  char err[256];
  if (vg_codec_new(&cfg, &c, err, sizeof err) != 0) {
    print_message("skipping: %s\n", err);
    skip();
  }
  /* winter +01:00, summer +02:00; an explicit offset wins over the zone */
  assert_int_equal(dec(c, "{\"time\":\"2024-01-15T12:00:00\",\"v\":1}"), 0);
  assert_int_equal(B.events[0].time_ns, 1705316400 * NS);
  assert_int_equal(dec(c, "{\"time\":\"2024-07-15T12:00:00\",\"v\":1}"), 0);
  assert_int_equal(B.events[0].time_ns, 1721037600 * NS);
  assert_int_equal(dec(c, "{\"time\":\"2024-07-15T12:00:00Z\",\"v\":1}"), 0);
  assert_int_equal(B.events[0].time_ns, 1721044800 * NS);
  /* skipped hour: 02:30 -> 03:30 CEST = 01:30Z; repeated: first (CEST) */
  assert_int_equal(dec(c, "{\"time\":\"2024-03-31T02:30:00\",\"v\":1}"), 0);
  assert_int_equal(B.events[0].time_ns, 1711848600 * NS);
  assert_int_equal(dec(c, "{\"time\":\"2024-10-27T02:30:00\",\"v\":1}"), 0);
  assert_int_equal(B.events[0].time_ns, 1729989000 * NS);
  vg_codec_free(c);
  struct vg_codec_config bad = {.format = VG_FORMAT_JSON,
                                .time_zone = "Nowhere/Atlantis"};
  assert_int_equal(vg_codec_new(&bad, &c, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "Nowhere/Atlantis"));
}

static void json_array_partial(void **state) {
  (void)state;
  const char *fields[] = {"a", "b"};
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .fields = fields, .n_fields = 2);
  const char *m = "[{\"time\":1,\"a\":1,\"b\":2},{\"a\":1},5,"
                  "{\"time\":2,\"a\":\"x\",\"b\":3},{\"time\":3,\"b\":4}]";
  assert_int_equal(dec(c, m), VG_EDECODE);
  assert_int_equal(B.n_events, 4);
  ev(0, "a", NS, 1);
  ev(1, "b", NS, 2);
  ev(2, "b", 2 * NS, 3); /* a bad reading keeps its neighbour */
  ev(3, "b", 3 * NS, 4);
  assert_int_equal(B.n_rejects, 4);
  rej(0, VG_REJECT_MISSING_TIME, strstr(m, "{\"a\":1}") - m);
  rej(1, VG_REJECT_NOT_OBJECT, strstr(m, "5,") - m);
  rej(2, VG_REJECT_NON_NUMERIC_VALUE, strstr(m, "\"x\"") - m);
  rej(3, VG_REJECT_MISSING_FIELD, strstr(m, "{\"time\":3") - m);
  vg_codec_free(c);
}

static void json_rejections(void **state) {
  (void)state;
  const char *fields[] = {"v"};
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON, .fields = fields, .n_fields = 1,
                             .max_message_bytes = 200);
  static const struct reject_case cases[] = {
      {"hello", VG_REJECT_NOT_JSON, 0},
      {"  42", VG_REJECT_NOT_JSON, 2},
      {"{\"time\":1,\"v\":1} x", VG_REJECT_NOT_JSON, 17},
      {"{\"time\":1,\"v\":1}{}", VG_REJECT_NOT_JSON, 16},
      {"{\"time\" 1}", VG_REJECT_NOT_JSON, 8},
      {"{\"time\":1,\"v\":1", VG_REJECT_TRUNCATED, 15},
      {"[{\"time\":1,\"v\":1},", VG_REJECT_TRUNCATED, 18},
      {"{\"time\":\"2024-01-01T00:0", VG_REJECT_TRUNCATED, 24},
      {"", VG_REJECT_TRUNCATED, 0},
      {"{\"v\":1}", VG_REJECT_MISSING_TIME, 0},
      {"{\"time\":null,\"v\":1}", VG_REJECT_MISSING_TIME, 8},
      {"{\"time\":\"yesterday\",\"v\":1}", VG_REJECT_UNPARSABLE_TIME, 8},
      {"{\"time\":\"2024-02-30T00:00:00Z\",\"v\":1}", VG_REJECT_UNPARSABLE_TIME, 8},
      {"{\"time\":true,\"v\":1}", VG_REJECT_UNPARSABLE_TIME, 8},
      {"{\"time\":\"2300-01-01T00:00:00Z\",\"v\":1}", VG_REJECT_TIME_OUT_OF_RANGE, 8},
      {"{\"time\":99999999999,\"v\":1}", VG_REJECT_TIME_OUT_OF_RANGE, 8},
      {"{\"time\":1,\"v\":\"twelve\"}", VG_REJECT_NON_NUMERIC_VALUE, 14},
      {"{\"time\":1,\"v\":[1]}", VG_REJECT_NON_NUMERIC_VALUE, 14},
      {"{\"time\":1,\"v\":\"NaN\"}", VG_REJECT_NAN_OR_INF, 14},
      {"{\"time\":1,\"v\":\"-Infinity\"}", VG_REJECT_NAN_OR_INF, 14},
      {"{\"time\":1,\"v\":1e999}", VG_REJECT_NAN_OR_INF, 14},
      {"{\"time\":1,\"\xff\":1,\"v\":1}", VG_REJECT_INVALID_UTF8_KEY, 10},
      {"{\"time\":1,\"\\udc00\":1,\"v\":1}", VG_REJECT_INVALID_UTF8_KEY, 10},
      {"{\"time\":1}", VG_REJECT_MISSING_FIELD, 0},
      {"{\"time\":1,\"v\":null}", VG_REJECT_MISSING_FIELD, 14},
      {"[]", VG_REJECT_NO_FIELDS, 0},
      {"[1]", VG_REJECT_NOT_OBJECT, 1},
  };
  expect_rejected(c, cases, N(cases), 0);
  char big[300];
  memset(big, ' ', sizeof big);
  memcpy(big, "{\"time\":1,\"v\":1}", 16);
  vg_event_batch_clear(&B);
  assert_int_equal(vg_codec_decode(c, big, sizeof big, 0, &B), VG_EDECODE);
  rej(0, VG_REJECT_OVERSIZE, 200);
  vg_codec_free(c);
  /* default mode: an object with nothing numeric is said, not dropped */
  c = CODEC(.format = VG_FORMAT_JSON);
  assert_int_equal(dec(c, "{\"time\":1,\"name\":\"x\"}"), VG_EDECODE);
  rej(0, VG_REJECT_NO_FIELDS, 0);
  assert_int_equal(dec(c, "{\"time\":1,\"\":2,\"a\":3}"), VG_EDECODE);
  rej(0, VG_REJECT_MISSING_NAME, 13);
  ev(0, "a", NS, 3);
  vg_codec_free(c);
}

/* jsmn alone lets through text that is not JSON, and hangs what it cannot
 * place on the token before it: '"k":5' after an object's '}' became a
 * member of its last value and vanished, the object after it too. Such a
 * message is not_json as a whole, at the first byte that breaks it. */
static void json_strict_text(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_JSON);
  static const struct reject_case cases[] = {
      {"[{\"time\":1,\"a\":1}:\"k\":5]", VG_REJECT_NOT_JSON, 17},
      {"[{\"time\":1,\"a\":1}:\"k\":5,\"x\":\"y\",{\"time\":2,\"b\":2}]",
       VG_REJECT_NOT_JSON, 17},
      {"[1 2]", VG_REJECT_NOT_JSON, 3},
      {"1{", VG_REJECT_NOT_JSON, 0},
      {"[1{]", VG_REJECT_NOT_JSON, 2},
      {"[{\"time\":1,\"a\":1{}]", VG_REJECT_NOT_JSON, 16},
      {"[{\"time\":1,\"a\":1} {\"time\":2,\"b\":2}]", VG_REJECT_NOT_JSON, 18},
      {"{\"time\":1 \"a\":1}", VG_REJECT_NOT_JSON, 10},
      {"[{\"time\":1,\"a\":1},]", VG_REJECT_NOT_JSON, 18},
      {"{\"time\":1,\"a\":1,}", VG_REJECT_NOT_JSON, 16},
      {"[,{\"time\":1,\"a\":1}]", VG_REJECT_NOT_JSON, 1},
      {"[{\"time\":1,\"a\":1},,{\"time\":2,\"b\":2}]", VG_REJECT_NOT_JSON, 18},
      {"{\"time\":1,\"a\"}", VG_REJECT_NOT_JSON, 13},
      {"{\"time\":1,\"a\":\"b\":2}", VG_REJECT_NOT_JSON, 17},
      {"[\"a\":1]", VG_REJECT_NOT_JSON, 4},
      {"{\"time\":1,\"a\":1,\"b\":tru}", VG_REJECT_NOT_JSON, 23},
      {"{\"time\":1,\"a\":1,\"b\":nulll}", VG_REJECT_NOT_JSON, 24},
      {"{\"time\":1,\"a\":1,\"b\":1\"x\"}", VG_REJECT_NOT_JSON, 21},
  };
  expect_rejected(c, cases, N(cases), 1);
  /* the same shapes written as JSON decode, blanks anywhere between tokens */
  assert_int_equal(dec(c, "\t[ {\"time\" : 1 , \"a\" : 1 } ,\r\n{\"time\":2,"
                          "\"b\":true,\"c\":null,\"d\":false,\"e\":{},"
                          "\"f\":[],\"g\":2} ]\n"),
                   0);
  assert_int_equal(B.n_events, 2);
  ev(0, "a", 1 * NS, 1);
  ev(1, "g", 2 * NS, 2);
  /* a number the value parser judges costs its reading only */
  assert_int_equal(dec(c, "{\"time\":1,\"a\":1x,\"b\":-Infinity,\"c\":3}"), VG_EDECODE);
  assert_int_equal(B.n_events, 1);
  ev(0, "c", 1 * NS, 3);
  assert_int_equal(B.n_rejects, 2);
  rej(0, VG_REJECT_NON_NUMERIC_VALUE, 14);
  rej(1, VG_REJECT_NAN_OR_INF, 21);
  vg_codec_free(c);
  /* SenML shares the tokenizer */
  c = CODEC(.format = VG_FORMAT_SENML);
  assert_int_equal(dec(c, "[{\"n\":\"a\",\"v\":1} {\"n\":\"b\",\"v\":2}]"), VG_EDECODE);
  assert_int_equal(B.n_events, 0);
  assert_int_equal(B.n_rejects, 1);
  rej(0, VG_REJECT_NOT_JSON, 17);
  vg_codec_free(c);
}

static void reject_names_stable(void **state) {
  (void)state;
  static const char *const want[] = {
      "not_json",        "truncated",         "not_object",        "missing_time",
      "unparsable_time", "time_out_of_range", "non_numeric_value", "nan_or_inf",
      "oversize",        "invalid_utf8_key",  "missing_field",     "no_fields",
      "bad_syntax",      "missing_name"};
  assert_int_equal(sizeof want / sizeof want[0], VG_REJECT_REASON_COUNT);
  for (int i = 0; i < VG_REJECT_REASON_COUNT; i++)
    assert_string_equal(vg_reject_name((enum vg_reject_reason)i), want[i]);
  assert_string_equal(vg_reject_name(VG_REJECT_REASON_COUNT), "unknown");
}

static void config_errors(void **state) {
  (void)state;
  struct vg_codec *c = NULL;
  char err[256];
  const char *badf[] = {"a..b"};
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON, .fields = badf, .n_fields = 1};
  assert_int_equal(vg_codec_new(&cfg, &c, err, sizeof err), VG_ECONFIG);
  assert_non_null(strstr(err, "a..b"));
  struct vg_codec_config cfg2 = {.format = (enum vg_codec_format)9};
  assert_int_equal(vg_codec_new(&cfg2, &c, err, sizeof err), VG_ECONFIG);
  assert_null(c);
}

/* ---- line protocol ------------------------------------------------------ */

static void influx_basic(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_INFLUX);
  assert_int_equal(dec(c, "air,sensor=aq-12,district=Centre no2=41.5,pm10=18i,"
                          "n=7u,ok=t,bad=F,label=\"hi, there\" 1700000000000000001\n"),
                   0);
  assert_int_equal(B.n_events, 5);
  const char *tags = "{district=\"Centre\",sensor=\"aq-12\"}";
  char k[128];
  snprintf(k, sizeof k, "air_no2%s", tags);
  ev(0, k, 1700000000000000001, 41.5);
  snprintf(k, sizeof k, "air_pm10%s", tags);
  ev(1, k, 1700000000000000001, 18);
  snprintf(k, sizeof k, "air_n%s", tags);
  ev(2, k, 1700000000000000001, 7);
  snprintf(k, sizeof k, "air_ok%s", tags);
  ev(3, k, 1700000000000000001, 1);
  snprintf(k, sizeof k, "air_bad%s", tags);
  ev(4, k, 1700000000000000001, 0);
  /* no timestamp: the arrival time; no tags: bare name */
  assert_int_equal(dec(c, "cpu value=-1.5e3"), 0);
  ev(0, "cpu_value", 1700000000 * NS, -1500);
  vg_codec_free(c);

  c = CODEC(.format = VG_FORMAT_INFLUX, .precision = VG_PRECISION_S);
  assert_int_equal(dec(c, "m v=1 1700000000\nm v=2 -1\n"), 0);
  ev(0, "m_v", 1700000000 * NS, 1);
  ev(1, "m_v", -NS, 2);
  vg_codec_free(c);
  c = CODEC(.format = VG_FORMAT_INFLUX, .precision = VG_PRECISION_MS);
  assert_int_equal(dec(c, "m v=1 1700000000123"), 0);
  ev(0, "m_v", 1700000000123000000, 1);
  vg_codec_free(c);
  c = CODEC(.format = VG_FORMAT_INFLUX, .precision = VG_PRECISION_US);
  assert_int_equal(dec(c, "m v=1 1700000000123456"), 0);
  ev(0, "m_v", 1700000000123456000, 1);
  vg_codec_free(c);
}

static void influx_escapes_and_order(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_INFLUX);
  assert_int_equal(
      dec(c, "my\\ meas\\,x,t\\ k=v\\,1\\=2,a=\"q\" f\\=x=1,s=\"a \\\"b\\\" c=d,e\" 5"),
      0);
  assert_int_equal(B.n_events, 1);
  ev(0, "my_meas_x_f_x{a=\"\\\"q\\\"\",t_k=\"v,1=2\"}", 5, 1);
  /* tag order does not matter */
  assert_int_equal(dec(c, "m,b=2,a=1,c=3 v=1 1\nm,c=3,a=1,b=2 v=1 1\n"), 0);
  key_is(0, "m_v{a=\"1\",b=\"2\",c=\"3\"}");
  key_is(1, "m_v{a=\"1\",b=\"2\",c=\"3\"}");
  vg_codec_free(c);
}

static void influx_lines_and_rejections(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_INFLUX, .max_message_bytes = 4096);
  const char *m = "# comment\r\n\nm v=1 1\r\n"
                  "bad line\n"
                  "m v=abc 2\n"
                  "m v=2 3x\n"
                  "m v=3 4\n"
                  "m v=1,w=nan 5\n"
                  "m v=1 99999999999999999999\n"
                  "m,\xff=1 v=1 6\n"
                  "m s=\"only a string\" 7\n"
                  ",t=1 v=1 8\n"
                  "m,t v=1 9\n"
                  "m v=\"open 10\n";
  assert_int_equal(dec(c, m), VG_EDECODE);
  assert_int_equal(B.n_events, 3);
  ev(0, "m_v", 1, 1);
  ev(1, "m_v", 4, 3);
  ev(2, "m_v", 5, 1);
  assert_int_equal(B.n_rejects, 10);
  rej(0, VG_REJECT_BAD_SYNTAX, strstr(m, "bad line") - m + 8);
  rej(1, VG_REJECT_BAD_SYNTAX, strstr(m, "abc") - m);
  rej(2, VG_REJECT_BAD_SYNTAX, strstr(m, "3x") - m);
  rej(3, VG_REJECT_NAN_OR_INF, strstr(m, "nan") - m);
  rej(4, VG_REJECT_TIME_OUT_OF_RANGE, strstr(m, "9999") - m);
  rej(5, VG_REJECT_INVALID_UTF8_KEY, strstr(m, "\xff") - m);
  rej(6, VG_REJECT_NO_FIELDS, strstr(m, "m s=") - m);
  rej(7, VG_REJECT_BAD_SYNTAX, strstr(m, ",t=1") - m);
  rej(8, VG_REJECT_BAD_SYNTAX, strstr(m, ",t v") - m + 2);
  rej(9, VG_REJECT_BAD_SYNTAX, strstr(m, "\"open") - m);
  /* precision overflow: ns fits, seconds do not */
  struct vg_codec *cs = CODEC(.format = VG_FORMAT_INFLUX, .precision = VG_PRECISION_S);
  assert_int_equal(dec(cs, "m v=1 9223372036854775"), VG_EDECODE);
  rej(0, VG_REJECT_TIME_OUT_OF_RANGE, 6);
  vg_codec_free(cs);
  assert_int_equal(dec(c, "\n# nothing\n"), VG_EDECODE);
  rej(0, VG_REJECT_NO_FIELDS, 0);
  vg_codec_free(c);
}

/* ---- SenML -------------------------------------------------------------- */

static void senml_records(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_SENML);
  /* RFC 8428 section 5.1.2-like pack: base name, time, unit; relative t */
  const char *m = "[{\"bn\":\"urn:dev:ow:10e2073a01080063:\",\"bt\":1.320067464e9,"
                  "\"bu\":\"%RH\",\"v\":21.2},"
                  "{\"t\":10,\"v\":21.3},"
                  "{\"n\":\"temp\",\"u\":\"Cel\",\"t\":20.5,\"v\":23.1},"
                  "{\"n\":\"door\",\"vb\":true},{\"n\":\"label\",\"vs\":\"x\"},"
                  "{\"bn\":\"room/\",\"bv\":100,\"n\":\"level\",\"v\":-1}]";
  assert_int_equal(dec(c, m), 0);
  assert_int_equal(B.n_events, 4);
  ev(0, "10e2073a01080063{device=\"urn:dev:ow\",unit=\"%RH\"}", 1320067464 * NS, 21.2);
  ev(1, "10e2073a01080063{device=\"urn:dev:ow\",unit=\"%RH\"}", 1320067474 * NS, 21.3);
  ev(2, "temp{device=\"urn:dev:ow:10e2073a01080063\",unit=\"Cel\"}",
     1320067484 * NS + 500000000, 23.1);
  ev(3, "level{device=\"room\",unit=\"%RH\"}", 1320067464 * NS, 99);
  /* relative times: bt absent, t small -> arrival time + t */
  assert_int_equal(dec(c, "[{\"n\":\"x\",\"v\":1},{\"n\":\"x\",\"t\":-5,\"v\":2}]"), 0);
  ev(0, "x", 1700000000 * NS, 1);
  ev(1, "x", 1699999995 * NS, 2);
  /* a bare record object is accepted */
  assert_int_equal(dec(c, "{\"bn\":\"d1-\",\"n\":\"x\",\"t\":1.7e9,\"v\":1}"), 0);
  ev(0, "x{device=\"d1\"}", 1700000000 * NS, 1);
  vg_codec_free(c);
}

static void senml_rejections(void **state) {
  (void)state;
  struct vg_codec *c = CODEC(.format = VG_FORMAT_SENML);
  static const struct reject_case cases[] = {
      {"nope", VG_REJECT_NOT_JSON, 0},
      {"[{\"n\":\"a\",\"v\":1}", VG_REJECT_TRUNCATED, 16},
      {"[{\"n\":\"a\",\"v\":\"1\"}]", VG_REJECT_NON_NUMERIC_VALUE, 14},
      {"[{\"n\":\"a\",\"v\":1e400}]", VG_REJECT_NAN_OR_INF, 14},
      {"[{\"v\":1}]", VG_REJECT_MISSING_NAME, 1},
      {"[{\"n\":\"a\"}]", VG_REJECT_NO_FIELDS, 1},
      {"[{\"n\":\"a\",\"t\":\"now\",\"v\":1}]", VG_REJECT_UNPARSABLE_TIME, 14},
      {"[{\"n\":\"a\",\"t\":1e12,\"v\":1}]", VG_REJECT_TIME_OUT_OF_RANGE, 14},
      {"[{\"n\":\"\\udfff\",\"v\":1}]", VG_REJECT_BAD_SYNTAX, 6},
      {"[{\"n\":\"\xc3\x28\",\"v\":1}]", VG_REJECT_INVALID_UTF8_KEY, 6},
      {"[{\"n\":5,\"v\":1}]", VG_REJECT_BAD_SYNTAX, 6},
      {"[7]", VG_REJECT_NOT_OBJECT, 1},
      {"[]", VG_REJECT_NO_FIELDS, 0},
  };
  expect_rejected(c, cases, N(cases), 0);
  /* one bad record keeps the good ones */
  assert_int_equal(
      dec(c, "[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":\"x\"},{\"n\":\"c\",\"v\":3}]"),
      VG_EDECODE);
  assert_int_equal(B.n_events, 2);
  key_is(0, "a");
  key_is(1, "c");
  vg_codec_free(c);
}

/* ---- real data ---------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  assert_non_null(buf);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  buf[n] = '\0';
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* The number at the start of s, read from a short copy: the C library's
 * parsers under ASan's strict_string_checks (as CI runs them) measure the
 * whole rest of a multi-megabyte buffer on every call. */
static double number_at(const char *s) {
  char tmp[40];
  size_t n = 0;
  while (n < sizeof tmp - 1 && s[n] && strchr("+-.0123456789eE", s[n]))
    n++;
  memcpy(tmp, s, n);
  tmp[n] = '\0';
  return strtod(tmp, NULL);
}

/* day index of "YYYY-MM-DD" (days since 1970) */
static long day_of(const char *s) {
  struct tm tm = {0};
  tm.tm_year = (int)number_at(s) - 1900;
  tm.tm_mon = (int)number_at(s + 5) - 1;
  tm.tm_mday = (int)number_at(s + 8);
  return (long)(timegm(&tm) / 86400);
}

#define NDAYS 40000

/* Seattle, Spokane St. bridge: hourly counts as strings, naive local times
 * in America/Los_Angeles. Per-day sums from the raw text (the date prefix of
 * each record) must equal per-day sums of the events, their day taken by
 * glibc's localtime_r in that zone. */
static void real_seattle_json(void **state) {
  (void)state;
  char path[512];
  if (!vg_test_shared_data(path, sizeof path, "seattle-spokane-bike/spokane-st.json"))
    skip();
  size_t len;
  char *buf = slurp(path, &len);
  static const char *const names[3] = {"east", "west", "spokane_st_bridge_total"};
  double *want = calloc(3 * NDAYS, sizeof *want);
  double *got = calloc(3 * NDAYS, sizeof *got);
  long records = 0, missing = 0;
  /* one record per line; bounded searches (memmem), as ASan's strstr
   * would measure the whole 3.4 MB text at every call */
  for (char *line = buf; line < buf + len;) {
    char *nl = memchr(line, '\n', (size_t)(buf + len - line));
    size_t ll = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
    char *p = memmem(line, ll, "{\"date\":\"", 9);
    if (p) {
      records++;
      long d = day_of(p + 9) - 10000;
      assert_true(d >= 0 && d < NDAYS);
      for (int f = 0; f < 3; f++) {
        char pat[64];
        int pl = snprintf(pat, sizeof pat, "\"%s\":\"", names[f]);
        char *q = memmem(line, ll, pat, (size_t)pl);
        if (!q) {
          missing++;
          continue;
        }
        want[f * NDAYS + d] += number_at(q + pl);
      }
    }
    line += ll + 1;
  }
  assert_true(records > 38000);

  struct vg_codec *c =
      CODEC(.format = VG_FORMAT_JSON, .time_key = "date", .time_format = VG_TIME_AUTO,
            .time_zone = "America/Los_Angeles", .fields = names, .n_fields = 3,
            .max_message_bytes = 8 << 20);
  vg_event_batch_clear(&B);
  assert_int_equal(vg_codec_decode(c, buf, len, 0, &B), missing ? VG_EDECODE : 0);
  assert_int_equal(B.n_events + B.n_rejects, 3 * records);
  assert_int_equal(B.n_rejects, missing);
  for (size_t i = 0; i < B.n_rejects; i++)
    assert_int_equal(B.rejects[i].reason, VG_REJECT_MISSING_FIELD);
  setenv("TZ", ":America/Los_Angeles", 1);
  tzset();
  for (size_t i = 0; i < B.n_events; i++) {
    const struct vg_event *e = &B.events[i];
    time_t t = (time_t)(e->time_ns / NS);
    assert_int_equal(e->time_ns % (3600 * NS), 0);
    struct tm tm;
    localtime_r(&t, &tm);
    char ds[16];
    strftime(ds, sizeof ds, "%Y-%m-%d", &tm);
    int f = -1;
    for (int k = 0; k < 3; k++)
      if (e->key_len == strlen(names[k]) &&
          memcmp(vg_event_key(&B, e), names[k], e->key_len) == 0)
        f = k;
    assert_true(f >= 0);
    got[f * NDAYS + day_of(ds) - 10000] += e->value;
  }
  unsetenv("TZ");
  tzset();
  long days = 0;
  for (long i = 0; i < 3 * NDAYS; i++) {
    if (want[i] != got[i]) {
      print_message("field %s day %ld: want %g got %g\n", names[i / NDAYS],
                    i % NDAYS + 10000, want[i], got[i]);
      fail();
    }
    days += want[i] != 0;
  }
  assert_true(days > 1000);
  vg_codec_free(c);
  free(want);
  free(got);
  free(buf);
}

/* Aberdeen sensor.community SDS011 rows (UTC times, P1 = PM10, P2 = PM2.5):
 * each CSV row becomes a JSON message and a line-protocol line; count, sum
 * and min per metric and day must equal those computed from the CSV. */
static void real_aberdeen_json_and_influx(void **state) {
  (void)state;
  char path[512];
  if (!vg_test_shared_data(path, sizeof path,
                           "aberdeen-sensorcommunity-pm/daily_files/"
                           "2018-10-01_sds011_sensor_5331.csv"))
    skip();
  const char *fields[] = {"P1", "P2"};
  struct vg_codec_config jc = {.format = VG_FORMAT_JSON,
                               .time_key = "timestamp",
                               .time_format = VG_TIME_RFC3339,
                               .entity_key = "sensor_id",
                               .tag_keys = (const char *[]){"location"},
                               .n_tag_keys = 1,
                               .fields = fields,
                               .n_fields = 2};
  struct vg_codec_config ic = {.format = VG_FORMAT_INFLUX, .precision = VG_PRECISION_S};
  struct vg_codec *cj = mk(&jc), *ci = mk(&ic);
  struct vg_event_batch bj, bi;
  vg_event_batch_init(&bj);
  vg_event_batch_init(&bi);
  long rows = 0;
  for (int day = 1; day <= 31; day++) {
    snprintf(
        path, sizeof path,
        "%s/aberdeen-sensorcommunity-pm/daily_files/2018-10-%02d_sds011_sensor_5331.csv",
        getenv("VIGIE_SHARED_DATA") ? getenv("VIGIE_SHARED_DATA") : VG_SHARED_DATA_DIR,
        day);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    double want_sum[2] = {0, 0}, want_n[2] = {0, 0};
    vg_event_batch_clear(&bj);
    vg_event_batch_clear(&bi);
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    while (fgets(line, sizeof line, f)) {
      char *col[12];
      int n = 0;
      char *p = line;
      line[strcspn(line, "\r\n")] = '\0';
      while (n < 12) {
        col[n++] = p;
        char *semi = strchr(p, ';');
        if (!semi)
          break;
        *semi = '\0';
        p = semi + 1;
      }
      assert_int_equal(n, 12);
      rows++;
      char msg[512], lp[512];
      snprintf(msg, sizeof msg,
               "{\"sensor_id\":\"%s\",\"sensor_type\":\"%s\",\"location\":%s,"
               "\"lat\":%s,\"lon\":%s,\"timestamp\":\"%sZ\",\"P1\":%s,\"P2\":\"%s\"}",
               col[0], col[1], col[2], col[3], col[4], col[5], col[6], col[9]);
      assert_int_equal(vg_codec_decode(cj, msg, strlen(msg), 0, &bj), 0);
      struct tm tm = {0};
      assert_non_null(strptime(col[5], "%Y-%m-%dT%H:%M:%S", &tm));
      snprintf(lp, sizeof lp, "sds011,sensor_id=%s,location=%s P1=%s,P2=%s %lld\n",
               col[0], col[2], col[6], col[9], (long long)timegm(&tm));
      assert_int_equal(vg_codec_decode(ci, lp, strlen(lp), 0, &bi), 0);
      for (int k = 0; k < 2; k++) {
        want_sum[k] += strtod(col[k ? 9 : 6], NULL);
        want_n[k]++;
      }
    }
    fclose(f);
    double js[2] = {0, 0}, is[2] = {0, 0}, jn[2] = {0, 0}, in[2] = {0, 0};
    for (size_t i = 0; i < bj.n_events; i++) {
      const struct vg_event *e = &bj.events[i];
      int k = memcmp(vg_event_key(&bj, e), "P2", 2) == 0;
      const char *want = k ? "P2{location=\"3121\",sensor_id=\"5331\"}"
                           : "P1{location=\"3121\",sensor_id=\"5331\"}";
      assert_int_equal(e->key_len, strlen(want));
      assert_memory_equal(vg_event_key(&bj, e), want, e->key_len);
      assert_true(e->time_ns / NS / 86400 == day_of("2018-10-01") + day - 1);
      js[k] += e->value;
      jn[k]++;
      /* the same reading through line protocol: same time and value */
      const struct vg_event *l = &bi.events[i];
      const char *lwant = k ? "sds011_P2{location=\"3121\",sensor_id=\"5331\"}"
                            : "sds011_P1{location=\"3121\",sensor_id=\"5331\"}";
      assert_int_equal(l->key_len, strlen(lwant));
      assert_memory_equal(vg_event_key(&bi, l), lwant, l->key_len);
      assert_int_equal(l->time_ns, e->time_ns);
      assert_true(l->value == e->value);
      is[k] += l->value;
      in[k]++;
    }
    assert_int_equal(bj.n_events, bi.n_events);
    for (int k = 0; k < 2; k++) {
      assert_true(jn[k] == want_n[k] && in[k] == want_n[k]);
      assert_true(fabs(js[k] - want_sum[k]) < 1e-6);
      assert_true(js[k] == is[k]);
    }
  }
  assert_true(rows > 10000);
  vg_event_batch_release(&bj);
  vg_event_batch_release(&bi);
  vg_codec_free(cj);
  vg_codec_free(ci);
}

int vg_test_codec(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_mapping),
      cmocka_unit_test(json_keys_canonical),
      cmocka_unit_test(json_dotted_paths),
      cmocka_unit_test(json_default_fields),
      cmocka_unit_test(json_strings_and_booleans),
      cmocka_unit_test(json_count_as_and_distinct),
      cmocka_unit_test(json_time_formats),
      cmocka_unit_test(json_local_times),
      cmocka_unit_test(json_array_partial),
      cmocka_unit_test(json_rejections),
      cmocka_unit_test(json_strict_text),
      cmocka_unit_test(reject_names_stable),
      cmocka_unit_test(config_errors),
      cmocka_unit_test(influx_basic),
      cmocka_unit_test(influx_escapes_and_order),
      cmocka_unit_test(influx_lines_and_rejections),
      cmocka_unit_test(senml_records),
      cmocka_unit_test(senml_rejections),
      cmocka_unit_test(real_seattle_json),
      cmocka_unit_test(real_aberdeen_json_and_influx),
  };
  return cmocka_run_group_tests_name("codec", tests, codec_setup, codec_teardown);
}
