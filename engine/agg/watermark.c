/*
 * Event-time watermarks (watermark.h): per partition the
 * highest event time minus the out-of-orderness, globally the minimum over
 * the partitions that are not idle, never moving back.
 */
#include <errno.h>
#include <stdlib.h>

#include "agg/watermark.h"

int vg_watermarks_init(struct vg_watermarks *wm, uint32_t nparts, int64_t ooo_ns,
                       int64_t idle_ns, int64_t now_ns) {
  *wm = (struct vg_watermarks){
      .n = nparts, .ooo_ns = ooo_ns, .idle_ns = idle_ns, .global_ns = INT64_MIN};
  wm->parts = calloc(nparts ? nparts : 1, sizeof *wm->parts);
  if (!wm->parts)
    return -ENOMEM;
  for (uint32_t i = 0; i < nparts; i++)
    wm->parts[i] = (struct vg_wm_part){INT64_MIN, now_ns, 0};
  return 0;
}

void vg_watermarks_release(struct vg_watermarks *wm) {
  free(wm->parts);
  wm->parts = NULL;
  wm->n = 0;
}

static int64_t part_wm(const struct vg_watermarks *wm, const struct vg_wm_part *p) {
  if (p->max_event_ns == INT64_MIN)
    return INT64_MIN;
  return p->max_event_ns - wm->ooo_ns; /* event times stay far from INT64_MIN */
}

int64_t vg_watermarks_advance(struct vg_watermarks *wm, int64_t now_ns) {
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  int active = 0;
  for (uint32_t i = 0; i < wm->n; i++) {
    const struct vg_wm_part *p = &wm->parts[i];
    if (p->absent)
      continue;
    int64_t w = part_wm(wm, p);
    if (w > hi)
      hi = w;
    if (now_ns - p->last_active_ns > wm->idle_ns)
      continue; /* idle: does not hold the others back */
    active = 1;
    if (w < lo)
      lo = w;
  }
  int64_t g = active ? lo : hi;
  if (g > wm->global_ns)
    wm->global_ns = g;
  return wm->global_ns;
}
