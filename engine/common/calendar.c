/*
 * Window boundaries in a time zone, and the calendar helpers every module
 * shares: civil days, ISO 8601 instants, resolution names
 * (include/vigie/calendar.h).
 *
 * The slow path loads one local day: its first instant is the UTC instant of
 * local midnight (moved forward when midnight is skipped, the first one when
 * it is repeated), its end the next day's, and the offset changes inside it
 * come from vg_tz_next_transition. An hour is then computed inside the
 * segment of constant offset that holds the instant: floor the local time to
 * the hour, convert back with the segment's offset and clip to the segment,
 * which makes the two occurrences of a repeated hour two windows and cuts an
 * hour around a sub-hour change.
 *
 * Civil days use the days-from-civil algorithm over the proleptic Gregorian
 * calendar (eras of 400 years, counted from March so the leap day comes
 * last): no libc time function and no TZ environment is involved.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/error.h"

/* ---- resolutions ---------------------------------------------------------- */

static const char *const res_names[] = {
    [VG_RES_BASE] = VG_RES_NAME_BASE,
    [VG_RES_HOUR] = VG_RES_NAME_HOUR,
    [VG_RES_DAY] = VG_RES_NAME_DAY,
};

const char *vg_res_name(enum vg_res res) {
  return (unsigned)res < sizeof res_names / sizeof *res_names ? res_names[res] : "?";
}

int vg_res_from_name(const char *s, size_t len, enum vg_res *out) {
  for (size_t i = 0; i < sizeof res_names / sizeof *res_names; i++)
    if (strlen(res_names[i]) == len && memcmp(res_names[i], s, len) == 0) {
      *out = (enum vg_res)i;
      return 0;
    }
  return -EINVAL;
}

/* ---- civil days and ISO 8601 ---------------------------------------------- */

int64_t vg_days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = vg_floor_div(y, 400);
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

void vg_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = vg_floor_div(z, 146097);
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

/* Writes two digits of v (< 100) at p. */
static void put2(char *p, unsigned v) {
  p[0] = (char)('0' + v / 10);
  p[1] = (char)('0' + v % 10);
}

/* Writes the wall-clock time `local` (seconds since 1970-01-01T00:00:00 of
 * some zone) as "YYYY-MM-DDTHH:MM:SS"; returns the length. */
static size_t fmt_wall(int64_t local, char buf[VG_FMT_ISO_MAX]) {
  int64_t days = vg_floor_div(local, 86400);
  int64_t r = local % 86400; /* not local - days * 86400: it overflows near INT64_MIN */
  unsigned sec = (unsigned)(r < 0 ? r + 86400 : r);
  int64_t y;
  unsigned m, d;
  vg_civil_from_days(days, &y, &m, &d);
  if (y < 0 || y > 9999) /* rare: let printf widen the year */
    return (size_t)snprintf(buf, VG_FMT_ISO_MAX, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u",
                            y, m, d, sec / 3600, sec / 60 % 60, sec % 60);
  /* without printf: it is on every row */
  memcpy(buf, "0000-00-00T00:00:00", 19);
  put2(buf, (unsigned)(y / 100));
  put2(buf + 2, (unsigned)(y % 100));
  put2(buf + 5, m);
  put2(buf + 8, d);
  put2(buf + 11, sec / 3600);
  put2(buf + 14, sec / 60 % 60);
  put2(buf + 17, sec % 60);
  return 19;
}

size_t vg_fmt_iso(int64_t t_s, const struct vg_tz *tz, char buf[VG_FMT_ISO_MAX]) {
  int32_t off = vg_tz_offset_at(tz, t_s);
  int64_t local;
  if (__builtin_add_overflow(t_s, (int64_t)off,
                             &local)) /* an instant at the ends of time */
    local = off < 0 ? INT64_MIN : INT64_MAX;
  size_t n = fmt_wall(local, buf);
  unsigned a = (unsigned)(off < 0 ? -(int64_t)off : off);
  buf[n] = off < 0 ? '-' : '+';
  put2(buf + n + 1, a / 3600);
  buf[n + 3] = ':';
  put2(buf + n + 4, a / 60 % 60);
  buf[n + 6] = '\0';
  return n + 6;
}

size_t vg_fmt_utc(int64_t t_s, char buf[VG_FMT_ISO_MAX]) {
  size_t n = fmt_wall(t_s, buf);
  buf[n] = 'Z';
  buf[n + 1] = '\0';
  return n + 1;
}

size_t vg_fmt_utc_ms(int64_t t_ns, char buf[VG_FMT_ISO_MAX]) {
  int64_t s = vg_floor_div(t_ns, 1000000000);
  unsigned ms = (unsigned)((t_ns - s * 1000000000) / 1000000);
  size_t n = fmt_wall(s, buf);
  buf[n] = '.';
  buf[n + 1] = (char)('0' + ms / 100);
  put2(buf + n + 2, ms % 100);
  buf[n + 4] = 'Z';
  buf[n + 5] = '\0';
  return n + 5;
}

/* ---- windows --------------------------------------------------------------- */

int vg_calendar_init(struct vg_calendar *cal, const struct vg_tz *tz, int64_t base_s) {
  if (base_s <= 0 || 3600 % base_s != 0)
    return VG_ECONFIG;
  *cal = (struct vg_calendar){.tz = tz, .base_s = base_s};
  /* an empty cache: every lookup seeks first */
  cal->day_start = cal->hour_start = INT64_MAX;
  cal->day_end = cal->hour_end = INT64_MIN;
  return 0;
}

static void load_day(struct vg_calendar *cal, int64_t t_s) {
  int64_t local = t_s + vg_tz_offset_at(cal->tz, t_s);
  int64_t midnight = vg_floor_div(local, 86400) * 86400;
  int64_t start = vg_tz_local_to_utc(cal->tz, midnight, 0, NULL);
  int64_t end = vg_tz_local_to_utc(cal->tz, midnight + 86400, 0, NULL);
  /* zones whose changes cross midnight: step to the day that holds t_s */
  for (int guard = 0; guard < 4 && (t_s < start || t_s >= end); guard++) {
    midnight += t_s < start ? -86400 : 86400;
    start = vg_tz_local_to_utc(cal->tz, midnight, 0, NULL);
    end = vg_tz_local_to_utc(cal->tz, midnight + 86400, 0, NULL);
  }
  assert(start <= t_s && t_s < end);
  cal->day_start = start;
  cal->day_end = end;
  cal->nseg = 0;
  int64_t s = start;
  while (cal->nseg < VG_CAL_MAX_CHANGES + 1) {
    cal->seg[cal->nseg] = s;
    cal->off[cal->nseg] = vg_tz_offset_at(cal->tz, s);
    cal->nseg++;
    int64_t next = vg_tz_next_transition(cal->tz, s);
    if (next >= end)
      break;
    s = next;
  }
  cal->seg[cal->nseg] = end;
}

static int find_segment(const struct vg_calendar *cal, int64_t t_s) {
  int k = 0;
  while (k + 1 < cal->nseg && t_s >= cal->seg[k + 1])
    k++;
  return k;
}

void vg__calendar_seek(struct vg_calendar *cal, int64_t t_s) {
  if (t_s < cal->day_start || t_s >= cal->day_end)
    load_day(cal, t_s);
  int k = find_segment(cal, t_s);
  int32_t o = cal->off[k];
  int64_t lh = vg_floor_div(t_s + o, 3600) * 3600;
  int64_t hs = lh - o, he = lh + 3600 - o;
  cal->hour_start = hs < cal->seg[k] ? cal->seg[k] : hs;
  cal->hour_end = he > cal->seg[k + 1] ? cal->seg[k + 1] : he;
}

struct vg_span vg_calendar_window(struct vg_calendar *cal, enum vg_res res, int64_t t_s) {
  switch (res) {
  case VG_RES_BASE: {
    struct vg_span h = vg_calendar_hour(cal, t_s);
    int64_t s = h.start + (t_s - h.start) / cal->base_s * cal->base_s;
    int64_t e = s + cal->base_s;
    return (struct vg_span){s, e < h.end ? e : h.end};
  }
  case VG_RES_HOUR: return vg_calendar_hour(cal, t_s);
  default: return vg_calendar_day(cal, t_s);
  }
}

int32_t vg_calendar_offset(struct vg_calendar *cal, int64_t t_s) {
  if (t_s < cal->day_start || t_s >= cal->day_end)
    vg__calendar_seek(cal, t_s);
  return cal->off[find_segment(cal, t_s)];
}
