/*
 * Time zones: a reader of compiled TZif files (RFC 8536) and an evaluator of
 * the POSIX TZ rule in their footer, so that local days and hours follow the
 * system tz database without any table of our own. A zone is stored as the
 * sorted list of its transition instants, each with the UTC offset in force
 * from it on, plus the footer rule, which governs every instant from the last
 * stored transition onwards (version 1 files have no footer: the last offset
 * then stays in force). Only UTC offsets are kept: abbreviations, the DST flag
 * and the standard/wall indicators do not change what a clock shows.
 */
#include "vigie/tz.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/tzif.h"
#include "vigie/calendar.h"
#include "vigie/error.h"

/* Inputs are clamped to +-2^59 s (about 18 billion years) so that adding an
 * offset or a few days never overflows. */
#define TZ_LIMIT (INT64_C(1) << 59)
/* The largest |UTC offset| RFC 8536 lets a reader expect: 25:59:59. */
#define TZ_MAX_OFF  93599
#define TZ_FILE_MAX (1 << 20)

struct tz_date {
  char kind; /* 'J': Jn, 'D': n, 'M': Mm.w.d */
  int m, w, d, n;
};

struct tz_rule {
  int32_t std_off, dst_off; /* seconds east of UTC */
  int has_dst;
  struct tz_date start, end;
  int32_t start_time, end_time; /* local time of day, may exceed 24 h */
};

struct vg_tz {
  char *name;
  size_t ntrans;
  int64_t *trans;     /* strictly ascending UTC instants */
  int32_t *trans_off; /* offset in force from trans[i] */
  int32_t first_off;  /* before trans[0] (or always, if none and no rule) */
  int has_rule;
  struct tz_rule rule;
};

static int64_t clamp(int64_t t) {
  return t < -TZ_LIMIT ? -TZ_LIMIT : t > TZ_LIMIT ? TZ_LIMIT : t;
}

static int64_t year_from_days(int64_t z) {
  int64_t y;
  unsigned m, d;
  vg_civil_from_days(z, &y, &m, &d);
  return y;
}

static int is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_len(int64_t y, int m) {
  static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return len[m - 1] + (m == 2 && is_leap(y));
}

/* ---- POSIX TZ rule ------------------------------------------------------ */

static int64_t rule_date_days(const struct tz_date *d, int64_t y) {
  int64_t jan1 = vg_days_from_civil(y, 1, 1);
  switch (d->kind) {
  case 'J': /* 1..365, February 29 never counted */
    return jan1 + d->n - 1 + (is_leap(y) && d->n >= 60);
  case 'D': /* 0..365, zero-based, leap day counted */ return jan1 + d->n;
  default: { /* day d of week w (5 = last) of month m */
    int64_t first = vg_days_from_civil(y, (unsigned)d->m, 1);
    int wday1 = (int)(((first + 4) % 7 + 7) % 7); /* 1970-01-01: Thursday */
    int dd = (d->d - wday1 + 7) % 7 + 7 * (d->w - 1);
    while (dd >= month_len(y, d->m))
      dd -= 7;
    return first + dd;
  }
  }
}

/* UTC instants at which DST starts and ends in year y. The start time is
 * written in standard time, the end time in daylight time. */
static void rule_year(const struct tz_rule *r, int64_t y, int64_t *start, int64_t *end) {
  *start = rule_date_days(&r->start, y) * 86400 + r->start_time - r->std_off;
  *end = rule_date_days(&r->end, y) * 86400 + r->end_time - r->dst_off;
}

static int32_t rule_offset(const struct tz_rule *r, int64_t t) {
  if (!r->has_dst)
    return r->std_off;
  int64_t y = year_from_days(vg_floor_div(t + r->std_off, 86400));
  /* the latest rule transition at or before t decides; a start wins a tie
   * with the previous year's end (all-year DST rules such as 0/0,J365/25) */
  int64_t best = INT64_MIN;
  int32_t off = r->std_off;
  for (int64_t yy = y - 1; yy <= y + 1; yy++) {
    int64_t s, e;
    rule_year(r, yy, &s, &e);
    if (e <= t && e > best) {
      best = e;
      off = r->std_off;
    }
    if (s <= t && s >= best) {
      best = s;
      off = r->dst_off;
    }
  }
  return off;
}

/* First rule instant > t at which the offset changes, INT64_MAX if none
 * within a few years (no DST, or DST all year). */
static int64_t rule_next(const struct tz_rule *r, int64_t t) {
  if (!r->has_dst || r->std_off == r->dst_off)
    return INT64_MAX;
  for (int iter = 0; iter < 8 && t < TZ_LIMIT; iter++) {
    int64_t y = year_from_days(vg_floor_div(t + r->std_off, 86400));
    int64_t c = INT64_MAX;
    for (int64_t yy = y - 1; yy <= y + 2; yy++) {
      int64_t s, e;
      rule_year(r, yy, &s, &e);
      if (s > t && s < c)
        c = s;
      if (e > t && e < c)
        c = e;
    }
    if (c == INT64_MAX)
      return INT64_MAX;
    if (rule_offset(r, c) != rule_offset(r, c - 1))
      return c;
    t = c;
  }
  return INT64_MAX;
}

static int parse_num(const char **pp, int maxdigits, int *out) {
  const char *p = *pp;
  int v = 0, n = 0;
  while (n < maxdigits && *p >= '0' && *p <= '9') {
    v = v * 10 + (*p++ - '0');
    n++;
  }
  if (n == 0)
    return -1;
  *pp = p;
  *out = v;
  return 0;
}

/* [+-]hh[:mm[:ss]] with hours up to maxh; returns seconds, sign applied. */
static int parse_hms(const char **pp, int maxh, int32_t *out) {
  const char *p = *pp;
  int sign = 1, h, m = 0, s = 0;
  if (*p == '+' || *p == '-')
    sign = *p++ == '-' ? -1 : 1;
  if (parse_num(&p, 3, &h) != 0 || h > maxh)
    return -1;
  if (*p == ':') {
    p++;
    if (parse_num(&p, 2, &m) != 0 || m > 59)
      return -1;
    if (*p == ':') {
      p++;
      if (parse_num(&p, 2, &s) != 0 || s > 59)
        return -1;
    }
  }
  *pp = p;
  *out = sign * (h * 3600 + m * 60 + s);
  return 0;
}

static int parse_abbr(const char **pp) {
  const char *p = *pp;
  if (*p == '<') {
    p++;
    while (*p && *p != '>')
      p++;
    if (*p != '>' || p - *pp < 2)
      return -1;
    p++;
  } else {
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
      p++;
    if (p == *pp)
      return -1;
  }
  *pp = p;
  return 0;
}

static int parse_date(const char **pp, struct tz_date *d, int32_t *time) {
  const char *p = *pp;
  memset(d, 0, sizeof *d);
  if (*p == 'J') {
    p++;
    d->kind = 'J';
    if (parse_num(&p, 3, &d->n) != 0 || d->n < 1 || d->n > 365)
      return -1;
  } else if (*p == 'M') {
    p++;
    d->kind = 'M';
    if (parse_num(&p, 2, &d->m) != 0 || d->m < 1 || d->m > 12 || *p++ != '.' ||
        parse_num(&p, 1, &d->w) != 0 || d->w < 1 || d->w > 5 || *p++ != '.' ||
        parse_num(&p, 1, &d->d) != 0 || d->d > 6)
      return -1;
  } else {
    d->kind = 'D';
    if (parse_num(&p, 3, &d->n) != 0 || d->n > 365)
      return -1;
  }
  *time = 7200;
  if (*p == '/') {
    p++;
    /* RFC 8536 (version 3) allows -167..167 hours */
    if (parse_hms(&p, 167, time) != 0)
      return -1;
  }
  *pp = p;
  return 0;
}

static int parse_posix(const char *s, struct tz_rule *r) {
  const char *p = s;
  int32_t off;
  memset(r, 0, sizeof *r);
  if (parse_abbr(&p) != 0 || parse_hms(&p, 24, &off) != 0)
    return -1;
  r->std_off = -off; /* POSIX offsets count west */
  if (*p == '\0') {
    r->dst_off = r->std_off;
    return 0;
  }
  if (parse_abbr(&p) != 0)
    return -1;
  r->has_dst = 1;
  r->dst_off = r->std_off + 3600;
  if (*p != ',' && *p != '\0') {
    if (parse_hms(&p, 24, &off) != 0)
      return -1;
    r->dst_off = -off;
  }
  if (*p == '\0') {
    /* no rule: POSIX leaves it to the implementation; use the US rule as
     * glibc and tzcode do */
    r->start = (struct tz_date){.kind = 'M', .m = 3, .w = 2, .d = 0};
    r->end = (struct tz_date){.kind = 'M', .m = 11, .w = 1, .d = 0};
    r->start_time = r->end_time = 7200;
    return 0;
  }
  if (*p++ != ',' || parse_date(&p, &r->start, &r->start_time) != 0 || *p++ != ',' ||
      parse_date(&p, &r->end, &r->end_time) != 0 || *p != '\0')
    return -1;
  return 0;
}

/* ---- zone lookups ------------------------------------------------------- */

/* index of the last transition <= t, or -1 */
static ptrdiff_t find_trans(const struct vg_tz *tz, int64_t t) {
  size_t lo = 0, hi = tz->ntrans; /* first index with trans > t */
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (tz->trans[mid] <= t)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (ptrdiff_t)lo - 1;
}

int32_t vg_tz_offset_at(const struct vg_tz *tz, int64_t utc_s) {
  int64_t t = clamp(utc_s);
  if (tz->ntrans == 0)
    return tz->has_rule ? rule_offset(&tz->rule, t) : tz->first_off;
  if (t < tz->trans[0])
    return tz->first_off;
  if (tz->has_rule && t >= tz->trans[tz->ntrans - 1])
    return rule_offset(&tz->rule, t);
  return tz->trans_off[find_trans(tz, t)];
}

int64_t vg_tz_next_transition(const struct vg_tz *tz, int64_t utc_s) {
  int64_t t = clamp(utc_s);
  for (;;) {
    int64_t c;
    if (tz->ntrans > 0 && t < tz->trans[tz->ntrans - 1])
      c = tz->trans[find_trans(tz, t) + 1];
    else if (tz->has_rule)
      return rule_next(&tz->rule, t);
    else
      return INT64_MAX;
    if (vg_tz_offset_at(tz, c) != vg_tz_offset_at(tz, c - 1))
      return c;
    t = c;
  }
}

int64_t vg_tz_local_to_utc(const struct vg_tz *tz, int64_t local_s, int fold,
                           enum vg_tz_kind *kind) {
  enum vg_tz_kind k = VG_TZ_UNIQUE;
  int64_t local = clamp(local_s);
  /* every UTC instant whose local time is `local` lies within +-2 days */
  const int64_t W = 2 * 86400;
  int64_t start = local - W;
  int64_t next = vg_tz_next_transition(tz, start);
  int64_t res;
  if (next > local + W) { /* constant offset around: the common case */
    res = local - vg_tz_offset_at(tz, start);
    goto done;
  }
  int64_t first = 0, last = 0, skip = 0;
  int found = 0, skipped = 0;
  for (int iter = 0; iter < 64 && start <= local + W; iter++) {
    int32_t off = vg_tz_offset_at(tz, start);
    int64_t cand = local - off;
    if (cand >= start && cand < next) {
      if (!found)
        first = cand;
      last = cand;
      found++;
    }
    if (next == INT64_MAX)
      break;
    int32_t noff = vg_tz_offset_at(tz, next);
    /* a forward jump at `next` skips local times [next+off, next+noff) */
    if (!skipped && noff > off && local >= next + off && local < next + noff) {
      skip = local - off;
      skipped = 1;
    }
    start = next;
    next = vg_tz_next_transition(tz, start);
  }
  if (found >= 2) {
    k = VG_TZ_REPEATED;
    res = fold ? last : first;
  } else if (found == 1) {
    res = first;
  } else if (skipped) {
    k = VG_TZ_SKIPPED;
    res = skip;
  } else { /* only with absurd files: fall back on a plain guess */
    k = VG_TZ_SKIPPED;
    res = local - vg_tz_offset_at(tz, local);
  }
done:
  if (kind)
    *kind = k;
  return res;
}

const char *vg_tz_name(const struct vg_tz *tz) {
  return tz->name;
}

void vg_tz_free(struct vg_tz *tz) {
  if (!tz)
    return;
  free(tz->name);
  free(tz->trans);
  free(tz->trans_off);
  free(tz);
}

static struct vg_tz *tz_new(const char *name) {
  struct vg_tz *tz = calloc(1, sizeof *tz);
  if (!tz)
    return NULL;
  tz->name = strdup(name);
  if (!tz->name) {
    free(tz);
    return NULL;
  }
  return tz;
}

/* ---- TZif parsing ------------------------------------------------------- */

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const uint8_t *p) {
  return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_hdr {
  int version;
  uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
};

static int read_hdr(const uint8_t *p, size_t avail, struct tzif_hdr *h) {
  if (avail < 44 || memcmp(p, "TZif", 4) != 0)
    return -1;
  h->version = p[4];
  if (h->version != 0 && (h->version < '2' || h->version > '9'))
    return -1;
  h->isutcnt = be32(p + 20);
  h->isstdcnt = be32(p + 24);
  h->leapcnt = be32(p + 28);
  h->timecnt = be32(p + 32);
  h->typecnt = be32(p + 36);
  h->charcnt = be32(p + 40);
  return 0;
}

static uint64_t block_size(const struct tzif_hdr *h, int tsize) {
  return (uint64_t)h->timecnt * (uint64_t)tsize + h->timecnt + (uint64_t)h->typecnt * 6 +
         h->charcnt + (uint64_t)h->leapcnt * (uint64_t)(tsize + 4) + h->isstdcnt +
         h->isutcnt;
}

int vg__tz_parse(const uint8_t *buf, size_t len, const char *name, struct vg_tz **out,
                 char *errstr, size_t errstr_size) {
  struct tzif_hdr h;
  const uint8_t *p = buf, *end = buf + len;
  struct vg_tz *tz = NULL;
  int tsize = 4;
  int err = VG_ECORRUPT;
  *out = NULL;
  if (read_hdr(p, len, &h) != 0) {
    vg_errstr(errstr, errstr_size, "time zone \"%s\": not a TZif file", name);
    return VG_ECORRUPT;
  }
  uint64_t bsz = block_size(&h, 4);
  if (bsz > (uint64_t)(len - 44)) {
    vg_errstr(errstr, errstr_size, "time zone \"%s\": truncated TZif data", name);
    return VG_ECORRUPT;
  }
  p += 44;
  if (h.version != 0) { /* skip the 32-bit block: the 64-bit one follows */
    p += bsz;
    if (read_hdr(p, (size_t)(end - p), &h) != 0) {
      vg_errstr(errstr, errstr_size, "time zone \"%s\": bad second TZif header", name);
      return VG_ECORRUPT;
    }
    p += 44;
    tsize = 8;
    bsz = block_size(&h, 8);
    if (bsz > (uint64_t)(end - p)) {
      vg_errstr(errstr, errstr_size, "time zone \"%s\": truncated TZif data", name);
      return VG_ECORRUPT;
    }
  }
  if (h.typecnt == 0 || h.typecnt > 256 || (h.isutcnt != 0 && h.isutcnt != h.typecnt) ||
      (h.isstdcnt != 0 && h.isstdcnt != h.typecnt)) {
    vg_errstr(errstr, errstr_size, "time zone \"%s\": bad TZif counts", name);
    return VG_ECORRUPT;
  }
  tz = tz_new(name);
  if (!tz)
    return -ENOMEM;
  const uint8_t *times = p;
  const uint8_t *idx = times + (size_t)h.timecnt * (size_t)tsize;
  const uint8_t *types = idx + h.timecnt;
  int32_t offs[256];
  for (uint32_t i = 0; i < h.typecnt; i++) {
    int32_t o = (int32_t)be32(types + 6 * i);
    if (o < -TZ_MAX_OFF || o > TZ_MAX_OFF || types[6 * i + 4] > 1) {
      vg_errstr(errstr, errstr_size, "time zone \"%s\": local time type %u out of range",
                name, i);
      goto fail;
    }
    offs[i] = o;
  }
  tz->first_off = offs[0];
  if (h.timecnt > 0) {
    tz->trans = malloc(h.timecnt * sizeof *tz->trans);
    tz->trans_off = malloc(h.timecnt * sizeof *tz->trans_off);
    if (!tz->trans || !tz->trans_off) {
      err = -ENOMEM;
      goto fail;
    }
  }
  for (uint32_t i = 0; i < h.timecnt; i++) {
    int64_t t = tsize == 8 ? be64(times + 8 * (size_t)i)
                           : (int64_t)(int32_t)be32(times + 4 * (size_t)i);
    if (idx[i] >= h.typecnt || (i > 0 && t <= tz->trans[i - 1])) {
      vg_errstr(errstr, errstr_size,
                "time zone \"%s\": transition %u out of order or of bad type", name, i);
      goto fail;
    }
    tz->trans[i] = clamp(t);
    tz->trans_off[i] = offs[idx[i]];
  }
  tz->ntrans = h.timecnt;
  p += bsz;
  if (tsize == 8) { /* footer: "\n" POSIX-TZ "\n" */
    const uint8_t *nl = NULL;
    if (p < end && *p == '\n')
      nl = memchr(p + 1, '\n', (size_t)(end - p - 1));
    if (!nl) {
      vg_errstr(errstr, errstr_size, "time zone \"%s\": missing TZif footer", name);
      goto fail;
    }
    size_t flen = (size_t)(nl - p - 1);
    if (flen > 0) {
      char rule[128];
      if (flen >= sizeof rule || memchr(p + 1, '\0', flen)) {
        vg_errstr(errstr, errstr_size, "time zone \"%s\": bad TZif footer", name);
        goto fail;
      }
      memcpy(rule, p + 1, flen);
      rule[flen] = '\0';
      if (parse_posix(rule, &tz->rule) != 0) {
        vg_errstr(errstr, errstr_size,
                  "time zone \"%s\": bad TZ rule \"%s\" in TZif footer", name, rule);
        goto fail;
      }
      tz->has_rule = 1;
    }
  }
  *out = tz;
  return 0;
fail:
  vg_tz_free(tz);
  return err;
}

int vg__tz_from_posix(const char *tzstr, struct vg_tz **out, char *errstr,
                      size_t errstr_size) {
  struct tz_rule r;
  *out = NULL;
  if (parse_posix(tzstr, &r) != 0) {
    vg_errstr(errstr, errstr_size, "bad TZ rule \"%s\"", tzstr);
    return VG_ECORRUPT;
  }
  struct vg_tz *tz = tz_new(tzstr);
  if (!tz)
    return -ENOMEM;
  tz->rule = r;
  tz->has_rule = 1;
  tz->first_off = r.std_off;
  *out = tz;
  return 0;
}

/* IANA names: letters, digits, '/', '_', '-', '+', '.', no ".." component,
 * not absolute. Anything else never names a zone (and could escape TZDIR). */
static int name_ok(const char *name) {
  size_t n = strlen(name);
  if (n == 0 || n > 255 || name[0] == '/' || strstr(name, ".."))
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
          c == '/' || c == '_' || c == '-' || c == '+' || c == '.'))
      return 0;
  }
  return 1;
}

int vg_tz_load(const char *name, struct vg_tz **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  if (strcmp(name, "UTC") == 0) {
    *out = tz_new(name);
    return *out ? 0 : -ENOMEM;
  }
  if (!name_ok(name)) {
    vg_errstr(errstr, errstr_size, "unknown time zone \"%s\"", name);
    return VG_ENOTFOUND;
  }
  const char *dir = getenv("TZDIR");
  if (!dir || !*dir)
    dir = "/usr/share/zoneinfo";
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
    vg_errstr(errstr, errstr_size, "unknown time zone \"%s\"", name);
    return VG_ENOTFOUND;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR || e == EISDIR) {
      vg_errstr(errstr, errstr_size, "unknown time zone \"%s\" (no %s)", name, path);
      return VG_ENOTFOUND;
    }
    vg_errstr(errstr, errstr_size, "time zone \"%s\": cannot open %s: %s", name, path,
              strerror(e));
    return -e;
  }
  struct stat st;
  uint8_t *buf = NULL;
  int err;
  if (fstat(fd, &st) != 0) {
    err = -errno;
    vg_errstr(errstr, errstr_size, "time zone \"%s\": %s", name, strerror(-err));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    vg_errstr(errstr, errstr_size, "unknown time zone \"%s\" (%s is not a file)", name,
              path);
    err = VG_ENOTFOUND;
    goto out;
  }
  if (st.st_size > TZ_FILE_MAX) {
    vg_errstr(errstr, errstr_size, "time zone \"%s\": %s is too large", name, path);
    err = VG_ECORRUPT;
    goto out;
  }
  size_t size = (size_t)st.st_size, got = 0;
  buf = malloc(size ? size : 1);
  if (!buf) {
    err = -ENOMEM;
    goto out;
  }
  while (got < size) {
    ssize_t r = read(fd, buf + got, size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      err = r < 0 ? -errno : VG_ECORRUPT;
      vg_errstr(errstr, errstr_size, "time zone \"%s\": cannot read %s", name, path);
      goto out;
    }
    got += (size_t)r;
  }
  err = vg__tz_parse(buf, size, name, out, errstr, errstr_size);
out:
  free(buf);
  close(fd);
  return err;
}
