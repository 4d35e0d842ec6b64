/*
 * Window boundaries in a time zone (include/vigie/calendar.h).
 *
 * The slow path loads one local day: its first instant is the UTC instant of
 * local midnight (moved forward when midnight is skipped, the first one when
 * it is repeated), its end the next day's, and the offset changes inside it
 * come from vg_tz_next_transition. An hour is then computed inside the
 * segment of constant offset that holds the instant: floor the local time to
 * the hour, convert back with the segment's offset and clip to the segment,
 * which makes the two occurrences of a repeated hour two windows and cuts an
 * hour around a sub-hour change.
 */
#include <assert.h>

#include "vigie/calendar.h"
#include "vigie/error.h"

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
