/*
 * Exact merges of windows across series (docs/territory.md "Merging across
 * sites", docs/publication.md "Datasets", merge_by): the one place that
 * says what a group of series is and what its window of one start is.
 *
 * - A group key is a series key with only some of its tags: the metric and
 *   the grouping tags, in canonical form (serieskey.h; a tag the series
 *   lacks, or has empty, is left out).
 * - A merged window is the accumulators (acc.h) of the members' windows of
 *   one start merged with vg_acc_merge: counts and sums add, extremes
 *   compare, mean and M2 by Chan's formula, first/last by time, DDSketch
 *   buckets add, HLL registers by maximum -- so its p95 or distinct count is
 *   that of the union of the readings, not an average. When a member with
 *   readings lacks a sketch, the merged window has none (a quantile of only
 *   some members would mislead).
 * - It is final when every member window of that start is; its revision is
 *   the sum of the members' revisions plus one per member window beyond the
 *   first: it grows whenever a member window is revised or a new one joins,
 *   so "highest revision wins" still holds for a merged row.
 *
 * Thread-safety: a struct vg_wmerge has one owner; functions are reentrant.
 */
#ifndef VIGIE_WMERGE_H
#define VIGIE_WMERGE_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/wtable.h"

/* Writes the group key of canonical series key[0..len) over the tags named
 * by[0..nby) into out (size bytes, NUL-terminated). 0, -EINVAL (a malformed
 * key), -ENOSPC (out too small) or -ENOMEM. */
int vg_group_key(const char *key, size_t len, const char *const *by, size_t nby,
                 char *out, size_t size);

/* One merged window: its group (the caller's number), state and members. */
struct vg_wmerge_win {
  size_t group;
  struct vg_wentry w; /* owns its accumulator */
  uint32_t members;   /* windows merged into it */
  uint8_t partial_qs, partial_hll;
};

/* Windows gathered, then merged by (group, start). */
struct vg_wmerge {
  struct vg_wmerge_win *v;
  size_t n, cap;
  size_t group; /* the group of the windows vg_wmerge_add adds next */
};

/* A vg_store_read_range callback (ctx: the struct vg_wmerge): keeps a deep
 * copy of w in group m->group. 0 or -ENOMEM. */
int vg_wmerge_add(const struct vg_wentry *w, void *m);
/* Sorts the windows by group then start and merges those of equal group
 * and start (the rules above); m->v[0 .. m->n) are then the merged
 * windows, in that order. 0 or -ENOMEM. */
int vg_wmerge_finish(struct vg_wmerge *m);
/* Releases the windows (m may be reused, empty). */
void vg_wmerge_release(struct vg_wmerge *m);

#endif
