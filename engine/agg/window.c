/*
 * Open windows with status, revisions and retention (include/vigie/window.h).
 *
 * Every base delta is merged three times -- base, hour, day -- so the coarse
 * windows are exact merges of the base ones. Finalization is a scan of the
 * table when the watermark passes the earliest pending end; eviction is a
 * batch compaction. Both are per epoch, not per event.
 */
#include <errno.h>

#include "vigie/window.h"

static const char *const reject_names[VG_AGG_REJECT_MAX] = {
    [VG_AGG_ACCEPTED] = "accepted",
    [VG_AGG_REJECT_RETENTION] = "older than the retention horizon",
    [VG_AGG_REJECT_NONFINITE] = "value is not a finite number",
    [VG_AGG_REJECT_NOMEM] = "out of memory",
};

const char *vg_agg_reject_name(enum vg_agg_reject r) {
  return (unsigned)r < VG_AGG_REJECT_MAX ? reject_names[r] : "unknown";
}

int vg_windows_init(struct vg_windows *w, const struct vg_tz *tz, int64_t base_s,
                    const struct vg_window_opts *opts) {
  int rc = vg_calendar_init(&w->cal, tz, base_s);
  if (rc)
    return rc;
  w->opts = *opts;
  vg_wtable_init(&w->t);
  w->watermark_ns = INT64_MIN;
  w->c = (struct vg_window_counters){0};
  w->min_open_end = w->min_end = INT64_MAX;
  w->pending_emit = 0;
  return 0;
}

void vg_windows_release(struct vg_windows *w) {
  vg_wtable_release(&w->t);
}

/* The horizon in seconds: windows ending at or before it are out. */
static int64_t horizon_s(const struct vg_windows *w) {
  if (w->watermark_ns == INT64_MIN)
    return INT64_MIN;
  return vg_floor_div(w->watermark_ns, 1000000000) - w->opts.retention_s;
}

int vg_windows_merge(struct vg_windows *w, uint64_t series, int64_t start, int64_t end,
                     const struct vg_acc *delta, int *revised) {
  int rev = 0;
  if (revised)
    *revised = 0;
  if (delta->st.count == 0) /* nothing to merge: no empty windows */
    return VG_AGG_ACCEPTED;
  if (end <= horizon_s(w)) {
    w->c.rejected[VG_AGG_REJECT_RETENTION] += delta->st.count;
    return VG_AGG_REJECT_RETENTION;
  }
  struct vg_span spans[3] = {
      {start, end}, vg_calendar_hour(&w->cal, start), vg_calendar_day(&w->cal, start)};
  for (int r = 0; r < 3; r++) {
    struct vg_wentry *e;
    int rc = vg_wtable_get(&w->t, series, (uint8_t)r, spans[r].start, spans[r].end, &e);
    if (rc == 0)
      rc = vg_acc_merge(&e->acc, delta, &w->opts.acc);
    if (rc) {
      w->c.rejected[VG_AGG_REJECT_NOMEM] += delta->st.count;
      return rc;
    }
    if (e->final) {
      e->revision++;
      e->emit = 1;
      w->c.revisions++;
      w->pending_emit = 1;
      rev = 1;
    } else if (e->end < w->min_open_end) {
      w->min_open_end = e->end;
    }
    if (e->end < w->min_end)
      w->min_end = e->end;
  }
  if (revised)
    *revised = rev;
  return VG_AGG_ACCEPTED;
}

static int past_horizon(const struct vg_wentry *e, void *ctx) {
  return e->end <= *(const int64_t *)ctx;
}

/* watermark > end + lateness, compared in seconds so that no product can
 * overflow: wm > X * 1e9 <=> floor((wm - 1) / 1e9) >= X for an integer X */
static int passed(const struct vg_windows *w, int64_t end) {
  return w->watermark_ns != INT64_MIN && end != INT64_MAX &&
         vg_floor_div(w->watermark_ns - 1, 1000000000) >= end + w->opts.lateness_s;
}

size_t vg_windows_advance(struct vg_windows *w, int64_t watermark_ns,
                          void (*emit)(const struct vg_wentry *, void *), void *ctx) {
  if (watermark_ns > w->watermark_ns)
    w->watermark_ns = watermark_ns;
  size_t emitted = 0;
  if (passed(w, w->min_open_end) || w->pending_emit) {
    int64_t min_open = INT64_MAX;
    for (uint32_t k = 0; k < w->t.n; k++) {
      struct vg_wentry *e = &w->t.e[k];
      if (!e->final) {
        if (passed(w, e->end)) {
          e->final = 1;
          e->emit = 1;
          w->c.finalized++;
        } else if (e->end < min_open) {
          min_open = e->end;
        }
      }
      if (e->emit) {
        e->emit = 0;
        emitted++;
        if (emit)
          emit(e, ctx);
      }
    }
    w->min_open_end = min_open;
    w->pending_emit = 0;
  }
  int64_t h = horizon_s(w);
  if (h != INT64_MIN && w->min_end <= h) {
    uint32_t before = w->t.n;
    vg_wtable_compact(&w->t, past_horizon, &h);
    w->c.evicted += before - w->t.n;
    int64_t min_end = INT64_MAX;
    for (uint32_t k = 0; k < w->t.n; k++)
      if (w->t.e[k].end < min_end)
        min_end = w->t.e[k].end;
    w->min_end = min_end;
  }
  return emitted;
}
