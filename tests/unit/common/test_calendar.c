/* Tests of window boundaries (calendar.h): local days and clock hours around
 * both DST changes of Europe/Paris, America/Los_Angeles, Australia/Sydney,
 * Asia/Kolkata (its 1942 war-time changes and its :30 hours today), the 30-minute
 * changes of Australia/Lord_Howe and Asia/Kathmandu's +05:45, against
 * expectations computed with Python's zoneinfo (dst_cases.txt); and tiling and
 * nesting properties over whole years. Then the helpers calendar.h shares:
 * resolution names, floor division, civil days, ISO 8601 instants (with an
 * offset and in UTC). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "testutil.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/tz.h"

/* one line of dst_cases.txt */
struct dst_case {
  char zone[64], date[16];
  int64_t day_start, day_end;
  int nhours;
  int64_t hours[26];
};

/* reads the next case of f; 0 at the end of the file */
static int next_case(FILE *f, struct dst_case *dc) {
  char line[1024];
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n')
      continue;
    int used = 0;
    long long s, e;
    if (sscanf(line, "%63s %15s %lld %lld%n", dc->zone, dc->date, &s, &e, &used) != 4)
      fail_msg("dst_cases.txt: bad line: %s", line);
    dc->day_start = s, dc->day_end = e, dc->nhours = 0;
    for (const char *p = line + used;; dc->nhours++) {
      long long h;
      int n = 0;
      if (sscanf(p, "%lld%n", &h, &n) != 1)
        break;
      assert_true(dc->nhours < 26);
      dc->hours[dc->nhours] = h, p += n;
    }
    return 1;
  }
  return 0;
}

static struct vg_tz *load(const char *name) {
  struct vg_tz *tz = NULL;
  char err[256];
  int rc = vg_tz_load(name, &tz, err, sizeof err);
  if (rc)
    fail_msg("vg_tz_load(%s): %s", name, err);
  return tz;
}

static void dst_days_and_hours_match_zoneinfo(void **state) {
  (void)state;
  FILE *f = fopen(VG_SOURCE_DIR "/tests/unit/common/dst_cases.txt", "r");
  assert_non_null(f);
  struct dst_case one, *dc = &one;
  int ncases = 0;
  for (; next_case(f, dc); ncases++) {
    struct vg_tz *tz = load(dc->zone);
    struct vg_calendar cal;
    assert_int_equal(vg_calendar_init(&cal, tz, 60), 0);
    /* from the middle of the day, the first and the last second */
    const int64_t probes[] = {(dc->day_start + dc->day_end) / 2, dc->day_start,
                              dc->day_end - 1};
    for (int p = 0; p < 3; p++) {
      struct vg_span d = vg_calendar_day(&cal, probes[p]);
      if (d.start != dc->day_start || d.end != dc->day_end)
        fail_msg("%s %s: day [%lld, %lld), expected [%lld, %lld)", dc->zone, dc->date,
                 (long long)d.start, (long long)d.end, (long long)dc->day_start,
                 (long long)dc->day_end);
    }
    /* walk the hours of the day: they tile it and match the oracle */
    int n = 0;
    for (int64_t t = dc->day_start; t < dc->day_end; n++) {
      struct vg_span h = vg_calendar_hour(&cal, t);
      assert_true(n < dc->nhours);
      if (h.start != dc->hours[n])
        fail_msg("%s %s: hour %d starts %lld, expected %lld", dc->zone, dc->date, n,
                 (long long)h.start, (long long)dc->hours[n]);
      int64_t expect_end = n + 1 < dc->nhours ? dc->hours[n + 1] : dc->day_end;
      assert_int_equal(h.end, expect_end);
      /* every second of it maps to it (sampled), also from a cold cache */
      struct vg_calendar cold;
      vg_calendar_init(&cold, tz, 60);
      struct vg_span h2 = vg_calendar_hour(&cold, h.end - 1);
      assert_true(h2.start == h.start && h2.end == h.end);
      t = h.end;
    }
    assert_int_equal(n, dc->nhours);
    print_message("%s %s: %lld s day, %d hour windows\n", dc->zone, dc->date,
                  (long long)(dc->day_end - dc->day_start), n);
    vg_tz_free(tz);
  }
  fclose(f);
  assert_int_equal(ncases, 12); /* every line of the file was a case */
}

static void repeated_hour_is_two_windows(void **state) {
  (void)state;
  struct vg_tz *tz = load("Europe/Paris");
  struct vg_calendar cal;
  vg_calendar_init(&cal, tz, 60);
  /* 2024-10-27 02:30 local happens at 00:30Z (CEST) and 01:30Z (CET) */
  struct vg_span a = vg_calendar_hour(&cal, 1729989000);
  struct vg_span b = vg_calendar_hour(&cal, 1729992600);
  assert_int_equal(a.start, 1729987200);
  assert_int_equal(a.end, 1729990800);
  assert_int_equal(b.start, 1729990800);
  assert_int_equal(b.end, 1729994400);
  assert_int_equal(vg_calendar_offset(&cal, 1729989000), 7200);
  assert_int_equal(vg_calendar_offset(&cal, 1729992600), 3600);
  vg_tz_free(tz);
}

static void kolkata_hours_start_at_half_past(void **state) {
  (void)state;
  struct vg_tz *tz = load("Asia/Kolkata");
  struct vg_calendar cal;
  vg_calendar_init(&cal, tz, 900);
  for (int64_t t = 1704067200; t < 1704067200 + 3 * 86400; t += 37) {
    struct vg_span h = vg_calendar_hour(&cal, t);
    assert_int_equal(((h.start % 3600) + 3600) % 3600, 1800);
    assert_int_equal(h.end - h.start, 3600);
    struct vg_span b = vg_calendar_base_ns(&cal, t * 1000000000LL + 999);
    assert_true(b.start <= t && t < b.end && b.end - b.start == 900);
  }
  vg_tz_free(tz);
}

/* Over two years, in several zones and base resolutions: base windows tile
 * hours, hours tile days, days tile time; day starts are local midnights. */
static void windows_tile_and_nest(void **state) {
  (void)state;
  const char *zones[] = {"UTC",
                         "Europe/Paris",
                         "America/Los_Angeles",
                         "Australia/Sydney",
                         "Asia/Kolkata",
                         "Australia/Lord_Howe",
                         "Asia/Kathmandu",
                         "America/St_Johns",
                         "Pacific/Chatham"};
  const int64_t bases[] = {60, 300, 900, 1800, 3600, 45, 1};
  for (size_t z = 0; z < sizeof zones / sizeof *zones; z++) {
    struct vg_tz *tz = load(zones[z]);
    struct vg_calendar cal;
    int64_t base = bases[z % 7];
    assert_int_equal(vg_calendar_init(&cal, tz, base), 0);
    int64_t t = 1704067200 - 7 * 86400; /* late 2023 .. 2025 */
    struct vg_span day = vg_calendar_day(&cal, t);
    t = day.start;
    int days = 0;
    while (t < 1767225600) {
      day = vg_calendar_day(&cal, t);
      assert_int_equal(day.start, t);
      int32_t off = vg_calendar_offset(&cal, day.start);
      /* local midnight, unless midnight was skipped */
      if (((day.start + off) % 86400 + 86400) % 86400 != 0) {
        int32_t before = vg_calendar_offset(&cal, day.start - 1);
        assert_true(before != off);
      }
      int64_t h = day.start;
      while (h < day.end) {
        struct vg_span hw = vg_calendar_hour(&cal, h);
        assert_int_equal(hw.start, h);
        assert_true(hw.end > hw.start && hw.end - hw.start <= 3600 && hw.end <= day.end);
        if (base >= 60) { /* walk the base windows of some hours */
          for (int64_t b = h; b < hw.end;) {
            struct vg_span bw = vg_calendar_window(&cal, VG_RES_BASE, b);
            assert_int_equal(bw.start, b);
            assert_true(bw.end <= hw.end && bw.end - bw.start <= base);
            b = bw.end;
          }
        }
        h = hw.end;
      }
      t = day.end;
      days++;
    }
    assert_true(days > 700);
    vg_tz_free(tz);
  }
}

static void base_must_divide_an_hour(void **state) {
  (void)state;
  struct vg_calendar cal;
  assert_int_equal(vg_calendar_init(&cal, NULL, 0), VG_ECONFIG);
  assert_int_equal(vg_calendar_init(&cal, NULL, 7), VG_ECONFIG);
  assert_int_equal(vg_calendar_init(&cal, NULL, 7200), VG_ECONFIG);
  assert_int_equal(vg_calendar_init(&cal, NULL, 120), 0);
}

static void negative_event_times_floor(void **state) {
  (void)state;
  struct vg_tz *tz = load("UTC");
  struct vg_calendar cal;
  vg_calendar_init(&cal, tz, 60);
  struct vg_span b = vg_calendar_base_ns(&cal, -1);
  assert_int_equal(b.start, -60);
  assert_int_equal(b.end, 0);
  vg_tz_free(tz);
}

static void resolution_names(void **state) {
  (void)state;
  assert_string_equal(vg_res_name(VG_RES_BASE), "base");
  assert_string_equal(vg_res_name(VG_RES_HOUR), "1h");
  assert_string_equal(vg_res_name(VG_RES_DAY), "1d");
  assert_string_equal(vg_res_name((enum vg_res)7), "?");
  enum vg_res r = VG_RES_BASE;
  assert_int_equal(vg_res_from_name("1d", 2, &r), 0);
  assert_int_equal(r, VG_RES_DAY);
  assert_int_equal(vg_res_from_name("1hx", 2, &r), 0); /* by length */
  assert_int_equal(r, VG_RES_HOUR);
  assert_int_equal(vg_res_from_name("base", 4, &r), 0);
  assert_int_equal(r, VG_RES_BASE);
  assert_int_equal(vg_res_from_name("1h", 1, &r), -EINVAL);
  assert_int_equal(vg_res_from_name("hour", 4, &r), -EINVAL);
  assert_int_equal(vg_res_from_name("", 0, &r), -EINVAL);
}

static void floor_div_rounds_down(void **state) {
  (void)state;
  assert_int_equal(vg_floor_div(7, 2), 3);
  assert_int_equal(vg_floor_div(-7, 2), -4);
  assert_int_equal(vg_floor_div(-8, 2), -4);
  assert_int_equal(vg_floor_div(7, -2), -4);
  assert_int_equal(vg_floor_div(-1, 1000000000), -1);
  assert_int_equal(vg_floor_div(INT64_MIN, 1), INT64_MIN);
}

static void civil_days(void **state) {
  (void)state;
  for (int64_t z = -800000; z <= 800000; z += 37) {
    int64_t y;
    unsigned m, d;
    vg_civil_from_days(z, &y, &m, &d);
    assert_true(m >= 1 && m <= 12 && d >= 1 && d <= 31);
    assert_true(vg_days_from_civil(y, m, d) == z);
  }
  assert_true(vg_days_from_civil(1970, 1, 1) == 0);
  assert_true(vg_days_from_civil(2018, 10, 28) == 17832);
  assert_true(vg_days_from_civil(2000, 3, 1) == 11017);
  assert_true(vg_days_from_civil(1969, 12, 31) == -1);
}

/* vg_fmt_iso and vg_fmt_utc write their digits themselves: the same text as
 * gmtime_r and printf in UTC, over years 1 to 9999 and the ends of that
 * range. */
static void iso_digits_are_gmtime(void **state) {
  (void)state;
  struct vg_tz *utc;
  char err[128], got[VG_FMT_ISO_MAX], want[64];
  assert_int_equal(vg_tz_load("UTC", &utc, err, sizeof err), 0);
  uint64_t x = 99991ULL;
  for (int i = 0; i < 100000; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    int64_t t = (int64_t)(x % 315537897600ULL) - 62135596800LL; /* 0001 to 9999 */
    if (i == 0)
      t = -62135596800LL; /* 0001-01-01T00:00:00 */
    if (i == 1)
      t = 253402300799LL; /* 9999-12-31T23:59:59 */
    time_t tt = (time_t)t;
    struct tm tm;
    assert_non_null(gmtime_r(&tt, &tm));
    snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    assert_int_equal(vg_fmt_iso(t, utc, got), strlen(want));
    assert_string_equal(got, want);
    memcpy(want + 19, "Z", 2); /* the same instant, "Z" for "+00:00" */
    assert_int_equal(vg_fmt_utc(t, got), strlen(want));
    assert_string_equal(got, want);
  }
  vg_tz_free(utc);
}

static void iso_with_offsets_across_dst(void **state) {
  (void)state;
  struct vg_tz *paris = NULL, *utc = NULL;
  char err[256], b[VG_FMT_ISO_MAX];
  assert_int_equal(vg_tz_load("Europe/Paris", &paris, err, sizeof err), 0);
  assert_int_equal(vg_tz_load("UTC", &utc, err, sizeof err), 0);
  struct {
    int64_t t;
    const char *paris, *utc;
  } cases[] = {
      /* 2026-03-29 spring forward at 01:00Z: 02:00 CET -> 03:00 CEST */
      {1774746000 - 1, "2026-03-29T01:59:59+01:00", "2026-03-29T00:59:59+00:00"},
      {1774746000, "2026-03-29T03:00:00+02:00", "2026-03-29T01:00:00+00:00"},
      {1774656000, "2026-03-28T01:00:00+01:00", "2026-03-28T00:00:00+00:00"},
      /* 2026-10-25 fall back at 01:00Z: 03:00 CEST -> 02:00 CET, 02:30 twice */
      {1792888200, "2026-10-25T02:30:00+02:00", "2026-10-25T00:30:00+00:00"},
      {1792891800, "2026-10-25T02:30:00+01:00", "2026-10-25T01:30:00+00:00"},
      {0, "1970-01-01T01:00:00+01:00", "1970-01-01T00:00:00+00:00"},
      {-1, "1970-01-01T00:59:59+01:00", "1969-12-31T23:59:59+00:00"},
      {951782400, "2000-02-29T01:00:00+01:00", "2000-02-29T00:00:00+00:00"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    vg_fmt_iso(cases[i].t, paris, b);
    assert_string_equal(b, cases[i].paris);
    vg_fmt_iso(cases[i].t, utc, b);
    assert_string_equal(b, cases[i].utc);
  }
  vg_tz_free(paris);
  vg_tz_free(utc);
}

static void utc_formats(void **state) {
  (void)state;
  char b[VG_FMT_ISO_MAX];
  assert_int_equal(vg_fmt_utc(0, b), 20);
  assert_string_equal(b, "1970-01-01T00:00:00Z");
  vg_fmt_utc(1774656000 + 3661, b);
  assert_string_equal(b, "2026-03-28T01:01:01Z");
  vg_fmt_utc(-1, b);
  assert_string_equal(b, "1969-12-31T23:59:59Z");
  vg_fmt_utc(-62167219200 - 86400, b); /* 0000-01-01 minus a day */
  assert_string_equal(b, "-001-12-31T00:00:00Z");
  assert_int_equal(vg_fmt_utc_ms(1774656000250999999, b), 24);
  assert_string_equal(b, "2026-03-28T00:00:00.250Z");
  vg_fmt_utc_ms(-1, b); /* floored to the millisecond */
  assert_string_equal(b, "1969-12-31T23:59:59.999Z");
  vg_fmt_utc_ms(5000000, b);
  assert_string_equal(b, "1970-01-01T00:00:00.005Z");
}

/* The ends of int64 time print (the store formats whatever a corrupt key
 * holds) without overflowing: UBSan checks the arithmetic. */
static void ends_of_time(void **state) {
  (void)state;
  char b[VG_FMT_ISO_MAX], err[128];
  size_t n = vg_fmt_utc(INT64_MAX, b);
  assert_true(n < VG_FMT_ISO_MAX && strlen(b) == n);
  assert_string_equal(b + n - 10, "T15:30:07Z");
  n = vg_fmt_utc(INT64_MIN, b);
  assert_true(n < VG_FMT_ISO_MAX && strlen(b) == n);
  assert_string_equal(b + n - 10, "T08:29:52Z");
  struct vg_tz *paris;
  assert_int_equal(vg_tz_load("Europe/Paris", &paris, err, sizeof err), 0);
  n = vg_fmt_iso(INT64_MAX, paris, b);
  assert_true(n < VG_FMT_ISO_MAX && strlen(b) == n);
  n = vg_fmt_iso(INT64_MIN, paris, b);
  assert_true(n < VG_FMT_ISO_MAX && strlen(b) == n);
  vg_tz_free(paris);
}

int vg_test_common_calendar(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(resolution_names),
      cmocka_unit_test(floor_div_rounds_down),
      cmocka_unit_test(civil_days),
      cmocka_unit_test(iso_digits_are_gmtime),
      cmocka_unit_test(iso_with_offsets_across_dst),
      cmocka_unit_test(utc_formats),
      cmocka_unit_test(ends_of_time),
      cmocka_unit_test(dst_days_and_hours_match_zoneinfo),
      cmocka_unit_test(repeated_hour_is_two_windows),
      cmocka_unit_test(kolkata_hours_start_at_half_past),
      cmocka_unit_test(windows_tile_and_nest),
      cmocka_unit_test(base_must_divide_an_hour),
      cmocka_unit_test(negative_event_times_floor),
  };
  return cmocka_run_group_tests_name("common_calendar", tests, NULL, NULL);
}
