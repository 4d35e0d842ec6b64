/*
 * Window boundaries: the base windows, clock hours and local days of a time
 * zone, in UTC instants.
 *
 * A window is identified by its resolution and its UTC start instant and
 * knows its end (exclusive). Hours are the clock hours of the zone: for
 * Asia/Kolkata (+05:30) an hour starts at :30 UTC, and on a fall-back day the
 * repeated local hour is two distinct hourly windows (same local label, two
 * UTC starts). Days are local days, from local midnight to the next: 23 or 25
 * hours around DST changes. Where a change moves the clock by less than an
 * hour (Australia/Lord_Howe) the hour around it is cut at the change. Base
 * windows (base_s seconds, any divisor of 3600) tile each hour from its start,
 * so they nest in hours and hours in days: rollups are exact merges.
 *
 * Offsets come from the tz module (system tz database); a calendar caches the
 * current day (its bounds and the offset changes inside it) and the current
 * hour, so locating an event costs a few compares and one division, and the
 * tz is consulted once per day touched.
 *
 * Thread-safety: a calendar is owned by one thread (the cache mutates); the
 * struct vg_tz it borrows can be shared. Times: the hot path takes event times
 * in nanoseconds since the epoch; window bounds are in seconds.
 */
#ifndef VIGIE_CALENDAR_H
#define VIGIE_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/tz.h"

enum vg_res { VG_RES_BASE = 0, VG_RES_HOUR = 1, VG_RES_DAY = 2 };

/* The names of the resolutions, as outputs and the configuration spell them
 * (for static tables; code asks vg_res_name). */
#define VG_RES_NAME_BASE "base"
#define VG_RES_NAME_HOUR "1h"
#define VG_RES_NAME_DAY  "1d"

/* The name of a resolution: "base", "1h", "1d"; "?" for a value out of the
 * enum. */
const char *vg_res_name(enum vg_res res);

/* Reads a resolution name s[0..len) ("base", "1h", "1d", as vg_res_name
 * writes them). Returns 0, or -EINVAL for any other name. */
int vg_res_from_name(const char *s, size_t len, enum vg_res *out);

#define VG_CAL_MAX_CHANGES 6 /* offset changes within one local day */

struct vg_calendar {
  const struct vg_tz *tz; /* borrowed; outlives the calendar */
  int64_t base_s;
  /* the cached day: [day_start, day_end) split into segments of constant
   * offset: segment k is [seg[k], seg[k + 1]) with offset off[k] */
  int64_t day_start, day_end;
  int nseg;
  int64_t seg[VG_CAL_MAX_CHANGES + 2];
  int32_t off[VG_CAL_MAX_CHANGES + 1];
  /* the cached hour */
  int64_t hour_start, hour_end;
};

/* The windows of one instant at each resolution, UTC seconds. */
struct vg_span {
  int64_t start, end;
};

/* Initializes a calendar over tz with base windows of base_s seconds.
 * Returns 0, or VG_ECONFIG when base_s does not divide an hour. */
int vg_calendar_init(struct vg_calendar *cal, const struct vg_tz *tz, int64_t base_s);

/* a / b rounded toward minus infinity (b != 0). */
static inline int64_t vg_floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return q - ((a % b != 0) & ((a < 0) != (b < 0)));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31),
 * and back. Exact over the whole int64 range of days that fits a year. */
int64_t vg_days_from_civil(int64_t y, unsigned m, unsigned d);
void vg_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

/* Room for "-YYYYYY-MM-DDTHH:MM:SS+HH:MM" and its NUL. */
#define VG_FMT_ISO_MAX 40

/* Writes UTC instant t_s as local time of tz with its offset,
 * "2026-03-28T01:00:00+01:00" ("+00:00" for UTC, never "Z"). Returns the
 * length written. */
size_t vg_fmt_iso(int64_t t_s, const struct vg_tz *tz, char buf[VG_FMT_ISO_MAX]);

/* Writes UTC instant t_s as "2026-03-28T00:00:00Z". Returns the length
 * written. Years outside 0..9999 print with as many digits as they need. */
size_t vg_fmt_utc(int64_t t_s, char buf[VG_FMT_ISO_MAX]);

/* Writes UTC instant t_ns (nanoseconds) with milliseconds,
 * "2026-03-28T00:00:00.250Z" (the instant floored to the millisecond).
 * Returns the length written. */
size_t vg_fmt_utc_ms(int64_t t_ns, char buf[VG_FMT_ISO_MAX]);

/* Slow path: moves the cache to the hour (and the day) of t_s. */
void vg__calendar_seek(struct vg_calendar *cal, int64_t t_s);

/* The hour window holding UTC instant t_s (seconds). */
static inline struct vg_span vg_calendar_hour(struct vg_calendar *cal, int64_t t_s) {
  if (t_s < cal->hour_start || t_s >= cal->hour_end)
    vg__calendar_seek(cal, t_s);
  return (struct vg_span){cal->hour_start, cal->hour_end};
}

/* The base window holding event time t_ns (nanoseconds). */
static inline struct vg_span vg_calendar_base_ns(struct vg_calendar *cal, int64_t t_ns) {
  int64_t t = vg_floor_div(t_ns, 1000000000);
  struct vg_span h = vg_calendar_hour(cal, t);
  int64_t s = h.start + (t - h.start) / cal->base_s * cal->base_s;
  int64_t e = s + cal->base_s;
  return (struct vg_span){s, e < h.end ? e : h.end};
}

/* The local day holding UTC instant t_s. */
static inline struct vg_span vg_calendar_day(struct vg_calendar *cal, int64_t t_s) {
  if (t_s < cal->day_start || t_s >= cal->day_end)
    vg__calendar_seek(cal, t_s);
  return (struct vg_span){cal->day_start, cal->day_end};
}

/* The window of resolution res holding UTC instant t_s. */
struct vg_span vg_calendar_window(struct vg_calendar *cal, enum vg_res res, int64_t t_s);

/* The UTC offset (seconds east) in force at t_s, from the cached day. */
int32_t vg_calendar_offset(struct vg_calendar *cal, int64_t t_s);

#endif
