/*
 * Event-time watermarks over source partitions.
 *
 * A partition's watermark is the highest event time it delivered minus the
 * allowed out-of-orderness. The global watermark is the minimum over active
 * partitions; a partition that delivered nothing for longer than idle_timeout
 * (wall-clock) stops holding it back, and so does one that never delivered
 * anything once idle_timeout has passed since vg_watermarks_init. When every
 * partition is idle the global watermark is the highest partition watermark
 * (the sources are quiet: everything they sent is in). The global watermark
 * never moves back: an idle partition that wakes up behind it delivers late
 * events, which lateness and revisions handle.
 *
 * Times are nanoseconds: event times since the epoch, `now` from any
 * monotonic or wall clock as long as the caller is consistent. Watermarks
 * start at INT64_MIN (nothing is complete). Not thread-safe: the writer owns
 * it (workers report positions in their epoch hand-off).
 */
#ifndef VIGIE_AGG_WATERMARK_H
#define VIGIE_AGG_WATERMARK_H

#include <stdint.h>

struct vg_wm_part {
  int64_t max_event_ns;   /* INT64_MIN until the first event */
  int64_t last_active_ns; /* `now` of the last event (or of init) */
  int absent;             /* takes no part until observed (vg_watermarks_absent) */
};

struct vg_watermarks {
  struct vg_wm_part *parts;
  uint32_t n;
  int64_t ooo_ns, idle_ns;
  int64_t global_ns;
};

/* nparts partitions numbered 0..nparts-1. 0 or -ENOMEM. */
int vg_watermarks_init(struct vg_watermarks *wm, uint32_t nparts, int64_t ooo_ns,
                       int64_t idle_ns, int64_t now_ns);
void vg_watermarks_release(struct vg_watermarks *wm);

/* Partition `part` delivered events up to max_event_ns, the last at now_ns. */
static inline void vg_watermarks_observe(struct vg_watermarks *wm, uint32_t part,
                                         int64_t max_event_ns, int64_t now_ns) {
  struct vg_wm_part *p = &wm->parts[part];
  p->absent = 0;
  if (max_event_ns > p->max_event_ns)
    p->max_event_ns = max_event_ns;
  if (now_ns > p->last_active_ns)
    p->last_active_ns = now_ns;
}

/* Partition `part` takes no part in the global watermark until it is
 * observed (the store role's slots of source partitions not reported yet,
 * and its delta partitions, which never are). */
static inline void vg_watermarks_absent(struct vg_watermarks *wm, uint32_t part) {
  wm->parts[part].absent = 1;
}

/* Recomputes and returns the global watermark at wall time now_ns. */
int64_t vg_watermarks_advance(struct vg_watermarks *wm, int64_t now_ns);

#endif
