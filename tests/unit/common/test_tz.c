/*
 * Unit tests of engine/common/tz.c. The oracle is glibc: localtime_r() with
 * TZ set reads the same tz database through independent code, footer rule
 * included, so offsets and transitions are compared with it over wide ranges
 * of instants; the repeated/skipped hour rules are checked by hand.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/tzif.h"
#include "testutil.h"
#include "vigie/error.h"
#include "vigie/tz.h"

static const char *const zones[] = {
    "Europe/Paris", "America/Los_Angeles", "Australia/Sydney",
    "Asia/Kolkata", "Europe/London",       "Europe/Copenhagen",
};

static char *saved_tz;

static void glibc_zone(const char *name) {
  char buf[300];
  snprintf(buf, sizeof buf, ":%s", name);
  setenv("TZ", buf, 1);
  tzset();
}

static void glibc_restore(void) {
  if (saved_tz)
    setenv("TZ", saved_tz, 1);
  else
    unsetenv("TZ");
  tzset();
}

static long glibc_off(int64_t t) {
  time_t tt = (time_t)t;
  struct tm tm;
  assert_non_null(localtime_r(&tt, &tm));
  return tm.tm_gmtoff;
}

/* seconds since the epoch of a UTC calendar time */
static int64_t utc(int y, int mo, int d, int h, int mi) {
  struct tm tm = {
      .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi};
  return (int64_t)timegm(&tm);
}

static struct vg_tz *load(const char *name) {
  struct vg_tz *tz = NULL;
  char err[256] = "";
  int rc = vg_tz_load(name, &tz, err, sizeof err);
  if (rc != 0)
    print_message("vg_tz_load(%s): %s\n", name, err);
  assert_int_equal(rc, 0);
  assert_string_equal(vg_tz_name(tz), name);
  return tz;
}

static int have_zoneinfo(void) {
  struct stat st;
  const char *dir = getenv("TZDIR");
  char path[512];
  snprintf(path, sizeof path, "%s/Europe/Paris",
           dir && *dir ? dir : "/usr/share/zoneinfo");
  if (stat(path, &st) != 0) {
    print_message("skipping: no tz database at %s\n", path);
    return 0;
  }
  return 1;
}

/* Runs check(tz, name) over every zone of zones[], with glibc set to the
 * same zone (skipped without a tz database). */
static void each_zone(void (*check)(struct vg_tz *tz, const char *name)) {
  if (!have_zoneinfo())
    skip();
  for (size_t z = 0; z < sizeof zones / sizeof zones[0]; z++) {
    struct vg_tz *tz = load(zones[z]);
    glibc_zone(zones[z]);
    check(tz, zones[z]);
    vg_tz_free(tz);
  }
  glibc_restore();
}

/* Offsets every 3h07 from 1900 to 2100 (footer rule past 2037), equal
 * to glibc's. */
static void offsets_in_zone(struct vg_tz *tz, const char *name) {
  long n = 0;
  for (int64_t t = utc(1900, 1, 1, 0, 0); t < utc(2100, 1, 1, 0, 0); t += 187 * 60, n++) {
    long want = glibc_off(t);
    int32_t got = vg_tz_offset_at(tz, t);
    if (got != want) {
      print_message("%s at %lld: got %d, glibc %ld\n", name, (long long)t, got, want);
      fail();
    }
  }
  assert_true(n > 500000);
}

static void offsets_match_glibc(void **state) {
  (void)state;
  each_zone(offsets_in_zone);
}

/* Every transition we report from 1970 to 2100 is a change for glibc too, and
 * glibc's offset is constant between two of ours (sampled every 30 min). */
static void transitions_in_zone(struct vg_tz *tz, const char *name) {
  int64_t t = utc(1970, 1, 1, 0, 0), end = utc(2100, 1, 1, 0, 0);
  int after2037 = 0;
  while (t < end) {
    int64_t nt = vg_tz_next_transition(tz, t);
    assert_true(nt > t);
    int64_t stop = nt < end ? nt : end;
    long off = glibc_off(t);
    for (int64_t s = t; s < stop; s += 1777)
      if (glibc_off(s) != off) {
        print_message("%s: glibc changes at %lld, we say next is %lld\n", name,
                      (long long)s, (long long)nt);
        fail();
      }
    if (nt >= end)
      break;
    assert_int_not_equal(glibc_off(nt - 1), glibc_off(nt));
    assert_int_equal(vg_tz_offset_at(tz, nt), glibc_off(nt));
    assert_int_equal(vg_tz_offset_at(tz, nt - 1), glibc_off(nt - 1));
    if (nt > utc(2038, 1, 1, 0, 0))
      after2037++;
    t = nt;
  }
  /* zones with DST keep changing twice a year after 2037 */
  if (strcmp(name, "Asia/Kolkata") == 0)
    assert_int_equal(after2037, 0);
  else
    assert_int_equal(after2037, 2 * 62);
}

static void transitions_match_glibc(void **state) {
  (void)state;
  each_zone(transitions_in_zone);
}

/* Transitions and offsets read off the rules by hand. */
struct known_case {
  const char *zone;
  int64_t at;
  int64_t next; /* vg_tz_next_transition(at), or NO_CHECK */
  int64_t off;  /* vg_tz_offset_at(at), or NO_CHECK */
};

#define NO_CHECK INT64_MIN

static void known_transitions(void **state) {
  (void)state;
  if (!have_zoneinfo())
    skip();
  const struct known_case cases[] = {
      /* Paris 2024: 31 March 01:00Z (+1 -> +2), 27 October 01:00Z (+2 -> +1) */
      {"Europe/Paris", utc(2024, 1, 1, 0, 0), utc(2024, 3, 31, 1, 0), NO_CHECK},
      {"Europe/Paris", utc(2024, 3, 31, 1, 0), utc(2024, 10, 27, 1, 0), NO_CHECK},
      {"Europe/Paris", utc(2024, 3, 31, 1, 0) - 1, NO_CHECK, 3600},
      {"Europe/Paris", utc(2024, 3, 31, 1, 0), NO_CHECK, 7200},
      /* past the file's last transition: footer rule, last Sundays of 2050 */
      {"Europe/Paris", utc(2050, 1, 1, 0, 0), utc(2050, 3, 27, 1, 0), NO_CHECK},
      {"Europe/Paris", utc(2050, 6, 1, 0, 0), utc(2050, 10, 30, 1, 0), NO_CHECK},
      {"Europe/Paris", utc(2050, 7, 1, 0, 0), NO_CHECK, 7200},
      /* southern hemisphere: DST ends first Sunday of April 03:00 local
       * (16:00Z the day before), starts first Sunday of October 02:00 local */
      {"Australia/Sydney", utc(2024, 1, 1, 0, 0), utc(2024, 4, 6, 16, 0), NO_CHECK},
      {"Australia/Sydney", utc(2024, 4, 6, 16, 0), utc(2024, 10, 5, 16, 0), NO_CHECK},
      {"Australia/Sydney", utc(2060, 1, 15, 0, 0), NO_CHECK, 11 * 3600},
      {"Australia/Sydney", utc(2060, 7, 15, 0, 0), NO_CHECK, 10 * 3600},
      {"Asia/Kolkata", utc(2024, 6, 1, 0, 0), NO_CHECK, 19800},
      {"Asia/Kolkata", utc(2200, 6, 1, 0, 0), NO_CHECK, 19800},
      {"Asia/Kolkata", utc(2000, 1, 1, 0, 0), INT64_MAX, NO_CHECK},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct vg_tz *tz = load(cases[i].zone);
    if (cases[i].next != NO_CHECK)
      assert_int_equal(vg_tz_next_transition(tz, cases[i].at), cases[i].next);
    if (cases[i].off != NO_CHECK)
      assert_int_equal(vg_tz_offset_at(tz, cases[i].at), cases[i].off);
    vg_tz_free(tz);
  }
}

/* A local time, the UTC offsets its earlier and later folds resolve with
 * (local - offset is the instant; NO_CHECK: that fold is not asked), and
 * the kind of local time it is. */
struct local_case {
  const char *zone;
  int64_t local;
  int64_t earlier, later;
  enum vg_tz_kind kind;
};

#define PARIS "Europe/Paris"
#define LA    "America/Los_Angeles"

static void repeated_and_skipped_hours(void **state) {
  (void)state;
  if (!have_zoneinfo())
    skip();
  const struct local_case cases[] = {
      /* spring forward: 02:30 does not exist, moves to 03:30 CEST = 01:30Z */
      {PARIS, utc(2024, 3, 31, 2, 30), 3600, 3600, VG_TZ_SKIPPED},
      /* the edges of the gap: 01:59:59 and 03:00 exist */
      {PARIS, utc(2024, 3, 31, 1, 59) + 59, 3600, NO_CHECK, VG_TZ_UNIQUE},
      {PARIS, utc(2024, 3, 31, 3, 0), 7200, NO_CHECK, VG_TZ_UNIQUE},
      {PARIS, utc(2024, 3, 31, 2, 0), 3600, NO_CHECK, VG_TZ_SKIPPED},
      /* fall back: 02:30 happens twice, first CEST (00:30Z) then CET (01:30Z) */
      {PARIS, utc(2024, 10, 27, 2, 30), 7200, 3600, VG_TZ_REPEATED},
      {PARIS, utc(2024, 10, 27, 3, 0), 3600, NO_CHECK, VG_TZ_UNIQUE},
      /* same rules after 2037, from the footer */
      {PARIS, utc(2050, 3, 27, 2, 15), 3600, NO_CHECK, VG_TZ_SKIPPED},
      {PARIS, utc(2050, 10, 30, 2, 15), NO_CHECK, 3600, VG_TZ_REPEATED},
      /* 2024-03-10 02:30 PST does not exist -> 03:30 PDT = 10:30Z */
      {LA, utc(2024, 3, 10, 2, 30), -8 * 3600, NO_CHECK, VG_TZ_SKIPPED},
      /* 2024-11-03 01:30 twice: PDT 08:30Z, PST 09:30Z */
      {LA, utc(2024, 11, 3, 1, 30), -7 * 3600, -8 * 3600, VG_TZ_REPEATED},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const struct local_case *c = &cases[i];
    struct vg_tz *tz = load(c->zone);
    enum vg_tz_kind k;
    if (c->earlier != NO_CHECK) {
      assert_int_equal(vg_tz_local_to_utc(tz, c->local, 0, &k), c->local - c->earlier);
      assert_int_equal(k, c->kind);
    }
    if (c->later != NO_CHECK) {
      assert_int_equal(vg_tz_local_to_utc(tz, c->local, 1, &k), c->local - c->later);
      assert_int_equal(k, c->kind);
    }
    vg_tz_free(tz);
  }
}

/* local_to_utc inverts offset_at: for every sampled instant u, its local time
 * maps back to u (or, when repeated, u is one of the two folds); unique local
 * times agree with glibc's mktime. */
static void roundtrip_in_zone(struct vg_tz *tz, const char *name) {
  int repeated = 0;
  for (int64_t u = utc(1990, 1, 1, 0, 0); u < utc(2080, 1, 1, 0, 0);
       u += 3571) { /* < 1 h: every repeated hour is sampled */
    int64_t local = u + vg_tz_offset_at(tz, u);
    enum vg_tz_kind k;
    int64_t r0 = vg_tz_local_to_utc(tz, local, 0, &k);
    if (k == VG_TZ_UNIQUE) {
      assert_int_equal(r0, u);
      if ((u / 3571) % 64 == 0) {
        time_t lt = (time_t)local;
        struct tm tm;
        gmtime_r(&lt, &tm);
        tm.tm_isdst = -1;
        assert_int_equal((int64_t)mktime(&tm), u);
      }
    } else {
      assert_int_equal(k, VG_TZ_REPEATED);
      int64_t r1 = vg_tz_local_to_utc(tz, local, 1, NULL);
      assert_true(r0 < r1);
      assert_true(u == r0 || u == r1);
      repeated++;
    }
  }
  if (strcmp(name, "Asia/Kolkata") != 0)
    assert_true(repeated > 0);
}

static void local_to_utc_roundtrip(void **state) {
  (void)state;
  each_zone(roundtrip_in_zone);
}

static void utc_and_errors(void **state) {
  (void)state;
  struct vg_tz *tz = NULL;
  char err[256] = "";
  /* UTC needs no database */
  setenv("TZDIR", "/nonexistent-tzdir", 1);
  assert_int_equal(vg_tz_load("UTC", &tz, err, sizeof err), 0);
  assert_int_equal(vg_tz_offset_at(tz, 1700000000), 0);
  assert_int_equal(vg_tz_next_transition(tz, 0), INT64_MAX);
  enum vg_tz_kind k;
  assert_int_equal(vg_tz_local_to_utc(tz, 1700000000, 0, &k), 1700000000);
  assert_int_equal(k, VG_TZ_UNIQUE);
  vg_tz_free(tz);
  unsetenv("TZDIR");

  assert_int_equal(vg_tz_load("Mars/Olympus_Mons", &tz, err, sizeof err), VG_ENOTFOUND);
  assert_null(tz);
  assert_non_null(strstr(err, "\"Mars/Olympus_Mons\""));
  assert_int_equal(vg_tz_load("../../etc/passwd", &tz, err, sizeof err), VG_ENOTFOUND);
  assert_int_equal(vg_tz_load("/etc/passwd", &tz, err, sizeof err), VG_ENOTFOUND);
  assert_int_equal(vg_tz_load("", &tz, err, sizeof err), VG_ENOTFOUND);
  assert_int_equal(vg_tz_load("Europe", &tz, NULL, 0), VG_ENOTFOUND);

  /* a malformed file in a private TZDIR */
  char dir[] = "/tmp/vigie-tz-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[512];
  snprintf(path, sizeof path, "%s/Bad", dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  fputs("TZif2 this is not a zone", f);
  fclose(f);
  setenv("TZDIR", dir, 1);
  assert_int_equal(vg_tz_load("Bad", &tz, err, sizeof err), VG_ECORRUPT);
  assert_non_null(strstr(err, "\"Bad\""));
  unsetenv("TZDIR");
  unlink(path);
  rmdir(dir);
}

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  uint8_t *buf = malloc(1 << 16);
  assert_non_null(buf);
  *len = fread(buf, 1, 1 << 16, f);
  fclose(f);
  return buf;
}

/* Every truncation and a few corruptions of a real file are rejected with
 * VG_ECORRUPT (or, for cuts inside the footer-less v1 part, parsed) without
 * a crash; the whole file parses. */
static void parse_rejects_damage(void **state) {
  (void)state;
  if (!have_zoneinfo())
    skip();
  size_t len = 0;
  uint8_t *buf = slurp("/usr/share/zoneinfo/Europe/Paris", &len);
  if (!buf)
    skip();
  struct vg_tz *tz = NULL;
  char err[256];
  assert_int_equal(vg__tz_parse(buf, len, "p", &tz, err, sizeof err), 0);
  vg_tz_free(tz);
  for (size_t n = 0; n < len; n++) {
    uint8_t *cut = malloc(n ? n : 1);
    memcpy(cut, buf, n);
    int rc = vg__tz_parse(cut, n, "p", &tz, err, sizeof err);
    assert_int_equal(rc, VG_ECORRUPT);
    assert_null(tz);
    free(cut);
  }
  /* a bad footer rule */
  uint8_t *bad = malloc(len);
  memcpy(bad, buf, len);
  for (size_t i = len - 2; i > 0 && bad[i] != '\n'; i--)
    if (bad[i] == ',')
      bad[i] = ';';
  assert_int_equal(vg__tz_parse(bad, len, "p", &tz, err, sizeof err), VG_ECORRUPT);
  assert_non_null(strstr(err, "footer"));
  free(bad);
  free(buf);
}

/* POSIX TZ strings on their own, against glibc reading the same string. */
static void posix_rules_match_glibc(void **state) {
  (void)state;
  static const char *const rules[] = {
      "EST5EDT,M3.2.0,M11.1.0",
      "CET-1CEST,M3.5.0,M10.5.0/3",
      "AEST-10AEDT,M10.1.0,M4.1.0/3",
      "<+0330>-3:30",
      "IST-5:30",
      "GMT0BST,M3.5.0/1,M10.5.0",
      "NZST-12NZDT,M9.5.0,M4.1.0/3",
      "<-03>3<-02>,M3.5.0/-2,M10.5.0/-1",
      "XXX3EDT4,J60/2,J300/2",
      "ABC-2DEF,100/1,250/26",
  };
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
    struct vg_tz *tz = NULL;
    char err[256];
    assert_int_equal(vg__tz_from_posix(rules[i], &tz, err, sizeof err), 0);
    setenv("TZ", rules[i], 1);
    tzset();
    for (int64_t t = utc(2020, 1, 1, 0, 0); t < utc(2030, 1, 1, 0, 0); t += 3571) {
      if (vg_tz_offset_at(tz, t) != glibc_off(t)) {
        print_message("%s at %lld: got %d glibc %ld\n", rules[i], (long long)t,
                      vg_tz_offset_at(tz, t), glibc_off(t));
        fail();
      }
    }
    vg_tz_free(tz);
  }
  glibc_restore();
  struct vg_tz *tz = NULL;
  assert_int_equal(vg__tz_from_posix("CET-1CEST,M13.5.0,M10.5.0", &tz, NULL, 0),
                   VG_ECORRUPT);
  assert_int_equal(vg__tz_from_posix("", &tz, NULL, 0), VG_ECORRUPT);
  assert_int_equal(vg__tz_from_posix("CET", &tz, NULL, 0), VG_ECORRUPT);
}

static int setup(void **state) {
  (void)state;
  const char *t = getenv("TZ");
  saved_tz = t ? strdup(t) : NULL;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  glibc_restore();
  free(saved_tz);
  saved_tz = NULL;
  return 0;
}

int vg_test_tz(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(offsets_match_glibc),
      cmocka_unit_test(transitions_match_glibc),
      cmocka_unit_test(known_transitions),
      cmocka_unit_test(repeated_and_skipped_hours),
      cmocka_unit_test(local_to_utc_roundtrip),
      cmocka_unit_test(utc_and_errors),
      cmocka_unit_test(parse_rejects_damage),
      cmocka_unit_test(posix_rules_match_glibc),
  };
  return cmocka_run_group_tests_name("tz", tests, setup, teardown);
}
