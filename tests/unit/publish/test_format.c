/* Unit tests of publication formatting (publish.h): numbers that round-trip
 * with the shortest of 15-17 digits, RFC 4180 CSV quoting, JSON strings,
 * XML text, numbers for people in French and English, and the parsing of
 * time arguments (dates, datetimes with and without offsets, relative
 * times, and the errors that say why). ISO 8601 instants and civil days
 * are calendar.h's: tests/unit/common/test_calendar.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vigie/publish.h"
#include "vigie/tz.h"

static void doubles_round_trip(void **state) {
  (void)state;
  char b[VG_FMT_DOUBLE_MAX];
  struct {
    double v;
    const char *s;
  } cases[] = {{0.1, "0.1"},
               {12.57, "12.57"},
               {0, "0"},
               {-2.5, "-2.5"},
               {1e300, "1e+300"},
               {0.1 + 0.2, "0.30000000000000004"},
               {1.0 / 3, "0.3333333333333333"},
               {123456789012345678.0, "1.2345678901234568e+17"},
               {5e-324, "4.94065645841247e-324"} /* 15 digits read back */};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    vg_fmt_double(cases[i].v, b);
    assert_string_equal(b, cases[i].s);
  }
  /* every value of a pseudo-random walk over bit patterns reads back equal */
  uint64_t x = 88172645463325252ULL;
  for (int i = 0; i < 200000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    double v;
    memcpy(&v, &x, sizeof v);
    if (!isfinite(v))
      continue;
    size_t n = vg_fmt_double(v, b);
    assert_true(n < VG_FMT_DOUBLE_MAX);
    assert_true(strtod(b, NULL) == v);
  }
  vg_fmt_double(NAN, b);
  assert_string_equal(b, "nan");
  vg_fmt_double(-INFINITY, b);
  assert_string_equal(b, "-inf");
}

/* The definition of vg_fmt_double's text, written plainly: the first of
 * %.15g, %.16g, %.17g that reads back as v (its fast path must agree). */
static void reference_double(double v, char b[VG_FMT_DOUBLE_MAX]) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(b, VG_FMT_DOUBLE_MAX, "%.*g", prec, v);
    if (strtod(b, NULL) == v)
      return;
  }
}

static void check_same(double v) {
  char got[VG_FMT_DOUBLE_MAX], want[VG_FMT_DOUBLE_MAX];
  size_t n = vg_fmt_double(v, got);
  reference_double(v, want);
  if (strcmp(got, want) != 0)
    fail_msg("vg_fmt_double(%.17g) = \"%s\", the reference says \"%s\"", v, got, want);
  assert_int_equal(n, strlen(got));
}

/* Both fast paths (short decimals; one conversion for the rest) give the
 * reference's text exactly:
 * readings of 0-9 decimals over the whole fixed-notation range, values
 * near its bounds, sums that picked up rounding, zeros and negatives. */
static void doubles_fast_path_is_the_reference(void **state) {
  (void)state;
  static const double edges[] = {0.0,
                                 -0.0,
                                 1e-4,
                                 -1e-4,
                                 9.99e-5,
                                 1.0001e-4,
                                 1e15,
                                 -1e15,
                                 999999999999999.0,
                                 99999999999999.9,
                                 1e14,
                                 0.5,
                                 100.0,
                                 1e-9,
                                 123456.789012345,
                                 0.000123456789,
                                 4503599627370496.0,
                                 0.1 + 0.7};
  for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
    check_same(edges[i]);
  uint64_t x = 2463534242ULL;
  double sum = 0;
  for (int i = 0; i < 300000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int d = (int)(x % 11); /* decimals */
    double k = (double)((x >> 8) % 2000000000000ULL) * ((x >> 60) & 1 ? -1 : 1);
    double v = k / pow(10, d); /* short decimals */
    check_same(v);
    check_same(v * 1e-3);
    sum += round(v) / 10; /* a running sum of one-decimal readings */
    check_same(sum);
    check_same(sum / (i + 1));
    /* and any bit pattern: exponents far out, subnormals, 16-17 digits */
    double any;
    memcpy(&any, &x, sizeof any);
    if (isfinite(any))
      check_same(any);
    check_same(ldexp((double)(x >> 11), (int)(x % 200) - 100));
  }
}

static char *capture(const char *s, char delim) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  assert_non_null(f);
  assert_int_equal(vg_csv_field(f, s, strlen(s), delim), 0);
  fclose(f);
  return out;
}

static void csv_quoting(void **state) {
  (void)state;
  struct {
    const char *in, *out;
    char delim;
  } cases[] = {{"plain", "plain", ','},
               {"", "", ','},
               {"a,b", "\"a,b\"", ','},
               {"a,b", "a,b", ';'}, /* the delimiter decides */
               {"a;b", "\"a;b\"", ';'},
               {"a\tb", "\"a\tb\"", '\t'},
               {"a|b", "\"a|b\"", '|'},
               {"pm10{sensor_id=\"5331\"}", "\"pm10{sensor_id=\"\"5331\"\"}\"", ','},
               {"\"", "\"\"\"\"", ';'},
               {"two\nlines", "\"two\nlines\"", ','},
               {"cr\r", "\"cr\r\"", ';'},
               {" padded", "\" padded\"", ','},
               {"padded ", "\"padded \"", ';'},
               {"in side", "in side", ';'},
               {"2026-03-28T01:00:00+01:00", "2026-03-28T01:00:00+01:00", ','}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = capture(cases[i].in, cases[i].delim);
    assert_string_equal(got, cases[i].out);
    assert_int_equal(vg_csv_plain(cases[i].in, strlen(cases[i].in), cases[i].delim),
                     strcmp(got, cases[i].in) == 0);
    free(got);
  }
}

static void time_arguments(void **state) {
  (void)state;
  struct vg_tz *paris = NULL;
  char err[256];
  assert_int_equal(vg_tz_load("Europe/Paris", &paris, err, sizeof err), 0);
  int64_t now = 1800000000, t;
  struct {
    const char *in;
    int64_t want;
  } ok[] = {
      {"2026-03-28", 1774652400}, /* local midnight, +01:00 */
      {"2026-03-30", 1774821600}, /* local midnight, +02:00 */
      {"2026-03-28T01:00:00", 1774656000},
      {"2026-03-28T01:00", 1774656000},
      {"2026-03-28 01:00:00", 1774656000},
      {"2026-03-28T01:00:00Z", 1774659600},
      {"2026-03-28T01:00:00+01:00", 1774656000},
      {"2026-03-28T01:00:00-0130", 1774665000},
      {"2026-03-28T01:00:00.250+01:00", 1774656000},
      {"2026-10-25T02:30:00", 1792888200}, /* repeated: first occurrence */
      {"2026-03-29T02:30:00", 1774747800}, /* skipped: moved forward */
      {"-7d", now - 7 * 86400},
      {"-12h", now - 12 * 3600},
      {"-30m", now - 1800},
      {"+1w", now + 7 * 86400},
      {"now", now},
  };
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
    err[0] = 0;
    int rc = vg_parse_time(ok[i].in, paris, now, &t, err, sizeof err);
    if (rc || t != ok[i].want)
      fail_msg("%s: rc %d t %lld want %lld (%s)", ok[i].in, rc, (long long)t,
               (long long)ok[i].want, err);
  }
  struct {
    const char *in, *why;
  } bad[] = {
      {"", "empty"},
      {"yesterday", "expected YYYY-MM-DD"},
      {"2026-13-01", "month 13"},
      {"2026-02-29", "day 29 does not exist in 2026-02"},
      {"2026-03-28T25:00", "out of range"},
      {"2026-03-28T01", "expected HH:MM"},
      {"2026-03-28T01:00:00+1", "offset"},
      {"2026-03-28junk", "unexpected 'junk'"},
      {"-7x", "unknown unit"},
      {"-d", "expected a number"},
      {"-7dd", "unexpected"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = 0;
    assert_int_equal(vg_parse_time(bad[i].in, paris, now, &t, err, sizeof err), -EINVAL);
    if (!strstr(err, bad[i].why))
      fail_msg("%s: message '%s' lacks '%s'", bad[i].in, err, bad[i].why);
  }
  vg_tz_free(paris);
}

static char *xml_capture(const char *s) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  assert_non_null(f);
  assert_int_equal(vg_xml_text(f, s), 0);
  fclose(f);
  return out;
}

/* What an XML reader makes of vg_xml_text's entities. */
static void xml_unescape(const char *s, char *out) {
  static const char *const ent[][2] = {
      {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
  while (*s) {
    size_t k = 0;
    while (k < 5 && strncmp(s, ent[k][0], strlen(ent[k][0])) != 0)
      k++;
    assert_true(*s != '&' || k < 5); /* a bare & is not XML */
    if (k < 5) {
      *out++ = ent[k][1][0];
      s += strlen(ent[k][0]);
    } else {
      *out++ = *s++;
    }
  }
  *out = 0;
}

/* Markup characters become entities, text reads back exactly (UTF-8
 * included), control bytes go and invalid UTF-8 becomes U+FFFD. */
static void xml_text_escapes(void **state) {
  (void)state;
  char *x = xml_capture("a<b>&\"c\" 'd'");
  assert_string_equal(x, "a&lt;b&gt;&amp;&quot;c&quot; &apos;d&apos;");
  free(x);
  x = xml_capture("Qualit\xc3\xa9 de l'air, \xc2\xb5g/m\xc2\xb3");
  assert_string_equal(x, "Qualit\xc3\xa9 de l&apos;air, \xc2\xb5g/m\xc2\xb3");
  free(x);
  x = xml_capture("\x01x\ty\nz\x1b");
  assert_string_equal(x, "x\ty\nz");
  free(x);
  x = xml_capture("a\xff"
                  "b\xc3");
  assert_string_equal(x, "a\xef\xbf\xbd"
                         "b\xef\xbf\xbd");
  free(x);
  /* random texts of markup, entities and UTF-8 read back as themselves */
  static const char *const pieces[] = {"<",
                                       ">",
                                       "&",
                                       "\"",
                                       "'",
                                       "&amp;",
                                       "a",
                                       " ",
                                       "\n",
                                       "é",
                                       "\xe2\x80\xaf",
                                       "]]>",
                                       "&#",
                                       "<svg>",
                                       "µ",
                                       "=",
                                       "\xf0\x9f\x8c\xb3"};
  uint64_t r = 12345;
  for (int i = 0; i < 2000; i++) {
    char in[256] = "", back[256];
    for (int k = 0; k < 12; k++) {
      r = r * 6364136223846793005ULL + 1442695040888963407ULL;
      strcat(in, pieces[(r >> 33) % (sizeof pieces / sizeof *pieces)]);
    }
    x = xml_capture(in);
    assert_null(strpbrk(x, "<>\"'"));
    xml_unescape(x, back);
    assert_string_equal(back, in);
    free(x);
  }
}

/* Numbers for people: the language's decimal mark and thousands separator,
 * three significant digits unless the integer part has more, U+2212. */
static void human_numbers(void **state) {
  (void)state;
  char b[VG_FMT_HUMAN_MAX];
  struct {
    double v;
    int dec;
    const char *fr, *en;
  } cases[] = {
      {30000, -1,
       "30\xe2\x80\xaf"
       "000",
       "30,000"},
      {30000.5, 1,
       "30\xe2\x80\xaf"
       "000,5",
       "30,000.5"},
      {1234567.4, -1,
       "1\xe2\x80\xaf"
       "234\xe2\x80\xaf"
       "567",
       "1,234,567"},
      {-1234.6, -1,
       "\xe2\x88\x92"
       "1\xe2\x80\xaf"
       "235",
       "\xe2\x88\x92"
       "1,235"},
      {999, -1, "999", "999"},
      {1000, -1,
       "1\xe2\x80\xaf"
       "000",
       "1,000"},
      {999.96, -1,
       "1\xe2\x80\xaf"
       "000",
       "1,000"},
      {23.456, -1, "23,5", "23.5"},
      {2.345678, -1, "2,35", "2.35"},
      {0.01234, -1, "0,0123", "0.0123"},
      {0.5, -1, "0,5", "0.5"},
      {-2.5, -1,
       "\xe2\x88\x92"
       "2,5",
       "\xe2\x88\x92"
       "2.5"},
      {0, -1, "0", "0"},
      {-0.0, -1, "0", "0"},
      {-0.0001, 2, "0", "0"},
      {97.0, 1, "97", "97"},
      {12.25, 3, "12,25", "12.25"},
      {36, 0, "36", "36"},
      {1e20, -1, "1e+20", "1e+20"},
      {-1.5e300, -1,
       "\xe2\x88\x92"
       "1,5e+300",
       "\xe2\x88\x92"
       "1.5e+300"},
      {NAN, -1, "\xe2\x80\x94", "\xe2\x80\x94"},
      {1e-300, -1, "0", "0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    size_t n = vg_fmt_human(cases[i].v, cases[i].dec, "fr", b);
    if (strcmp(b, cases[i].fr) != 0)
      fail_msg("fr %.17g (%d): \"%s\", want \"%s\"", cases[i].v, cases[i].dec, b,
               cases[i].fr);
    assert_int_equal(n, strlen(b));
    vg_fmt_human(cases[i].v, cases[i].dec, "en", b);
    if (strcmp(b, cases[i].en) != 0)
      fail_msg("en %.17g (%d): \"%s\", want \"%s\"", cases[i].v, cases[i].dec, b,
               cases[i].en);
  }
  /* the longest texts fit */
  assert_true(vg_fmt_human(-999999999999999.9, 15, "fr", b) < VG_FMT_HUMAN_MAX);
  assert_true(vg_fmt_human(-0.000000000000001, 99, "fr", b) < VG_FMT_HUMAN_MAX);
}

int vg_test_publish_format(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(doubles_round_trip),
      cmocka_unit_test(doubles_fast_path_is_the_reference),
      cmocka_unit_test(csv_quoting),
      cmocka_unit_test(time_arguments),
      cmocka_unit_test(xml_text_escapes),
      cmocka_unit_test(human_numbers),
  };
  return cmocka_run_group_tests_name("publish_format", tests, NULL, NULL);
}
