/*
 * Shared-nothing workers and the collecting writer (include/vigie/worker.h).
 *
 * Per worker: the epoch being filled (delta table, positions, counters), a
 * calendar cache, and two SPSC rings shared with the writer only: `full`
 * (worker -> writer: finished epochs) and `empty` (writer -> worker: recycled
 * epochs). An epoch object is always in exactly one place -- the worker's
 * hands, a ring, or the writer's hands -- so at most VG_AGG_MAX_PENDING + 2
 * exist per worker and both rings (VG_SPSC_CAP slots) can always take them.
 *
 * Late readings: the worker decides which resolutions a reading goes into
 * from the positions of its own partitions only (worker.h), and keys the
 * delta by that decision: a delta entry's res field holds the set of
 * resolutions its readings skip (VG_INTO_ALL ^ into), so the usual delta --
 * into every resolution -- is keyed (series, 0, base start) as a base window
 * is, and a late reading whose base window is retired gets an entry of its
 * own beside it. merge_epoch hands the set to vg_windows_merge.
 *
 * Duplicates (worker.h): readings of dedupe sources go into a delta table
 * of their own (struct dd_epoch) that also keeps each reading, chained per
 * entry in arrival order, and indexes them by identity, so that a copy
 * within the epoch is found in one probe. The writer checks each entry's
 * readings against its base window's fingerprint set and rebuilds the
 * entry's accumulator without the copies it finds (merge_dedupe).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/delta.h"
#include "vigie/error.h"
#include "agg/watermark.h"
#include "vigie/worker.h"
#include "agg/spsc.h"
#include "common/atomic.h"

_Static_assert(VG_SPSC_CAP >= VG_AGG_MAX_PENDING + 2, "rings must hold every epoch");

#define DD_NONE    UINT32_MAX
#define DD_HAS_KEY (1u << 31) /* in dd_reading.part */

/* A reading of a dedupe source, kept with its epoch. */
struct dd_reading {
  int64_t t; /* event time, ns */
  double v;
  uint64_t key;   /* distinct-key hash, 0 without one */
  uint32_t part;  /* its partition, | DD_HAS_KEY when it has a distinct key */
  uint32_t delta; /* its entry in dd_epoch.deltas */
  uint32_t next;  /* the entry's next reading, DD_NONE after the last */
  uint32_t dup;   /* the writer found it counted before */
};

/* An entry's readings (head .. tail by next) and its dedupe_max. */
struct dd_delta {
  uint32_t head, tail, max;
};

/* The epoch's readings of dedupe sources (worker.h "Duplicates"). */
struct dd_epoch {
  struct vg_wtable deltas; /* keyed as epoch.deltas */
  struct dd_delta *info;   /* per entry of deltas */
  uint32_t capinfo;
  struct dd_reading *r;
  uint32_t nr, capr;
  uint32_t *slots; /* readings by identity: index + 1, 0 = empty */
  uint32_t mask;
  int used; /* anything to merge or count (ddc) */
};

struct epoch {
  uint32_t worker;
  uint64_t seq;
  struct vg_wtable deltas;
  uint64_t aggregated; /* readings accepted */
  uint64_t rejected[VG_AGG_REJECT_MAX];
  struct dd_epoch dd;
  struct vg_dedupe_counts *ddc; /* nparts entries, counted by the worker */
  struct vg_part_pos pos[];     /* nparts entries; only the worker's are used */
};

struct vg_worker {
  struct vg_spsc full;  /* to the writer */
  struct vg_spsc empty; /* back from the writer */
  struct vg_agg *agg;
  uint32_t id;
  uint64_t seq;
  struct epoch *cur;
  struct vg_calendar cal;
  struct vg_acc_opts acc;
  int64_t ooo_ns;
  int64_t keep_s[3];       /* retention per resolution, 0 = forever */
  int64_t keep_min_s;      /* the shortest non-zero one (0: all forever) */
  int64_t dedupe_s;        /* dedupe horizon, 0: as long as base windows */
  int failed;              /* ran out of memory: the epoch is incomplete */
  struct vg_part_pos *pos; /* running positions of every partition (own ones used) */
};

struct vg_agg {
  struct vg_agg_opts o;
  uint8_t *no_wm;  /* per partition: never takes part in the watermark (store role) */
  uint32_t *owner; /* partition -> worker */
  struct vg_worker **workers;
  struct vg_windows win;
  struct vg_watermarks wm;
  struct vg_part_pos *committed;
  uint64_t *merged;            /* per worker: epochs merged (the last one's seq + 1) */
  struct vg_dedupe_counts *dd; /* per partition, collected */
};

static void epoch_free(struct epoch *e);

static struct epoch *epoch_new(uint32_t nparts, uint32_t worker) {
  struct epoch *e = calloc(1, sizeof *e + (size_t)nparts * sizeof e->pos[0]);
  if (!e)
    return NULL;
  e->worker = worker;
  vg_wtable_init(&e->deltas);
  vg_wtable_init(&e->dd.deltas);
  e->ddc = calloc(nparts, sizeof *e->ddc);
  if (!e->ddc) {
    epoch_free(e);
    return NULL;
  }
  return e;
}

static void epoch_free(struct epoch *e) {
  if (!e)
    return;
  vg_wtable_release(&e->deltas);
  vg_wtable_release(&e->dd.deltas);
  free(e->dd.info);
  free(e->dd.r);
  free(e->dd.slots);
  free(e->ddc);
  free(e);
}

int vg_agg_new(const struct vg_tz *tz, const struct vg_agg_opts *opts, int64_t now_ns,
               struct vg_agg **out, char *errstr, size_t errstr_size) {
  int keep_ok = 1;
  for (int r = 0; r < 3; r++)
    keep_ok &= opts->win.retention_s[r] == 0 ||
               (opts->win.retention_s[r] > 0 &&
                opts->win.retention_s[r] >= opts->win.lateness_s);
  if (opts->nworkers == 0 || opts->nparts == 0 || opts->base_s <= 0 ||
      3600 % opts->base_s != 0 || !keep_ok || opts->win.lateness_s < 0 ||
      opts->ooo_ns < 0 || opts->idle_ns < 0 || opts->dedupe_s < 0) {
    if (errstr_size)
      snprintf(errstr, errstr_size,
               "invalid aggregation options: need workers >= 1, partitions >= 1, a base "
               "window dividing an hour (got %lld s), each retention 0 (forever) or >= "
               "lateness",
               (long long)opts->base_s);
    return VG_ECONFIG;
  }
  struct vg_agg *a = calloc(1, sizeof *a);
  if (!a)
    return -ENOMEM;
  a->o = *opts;
  a->owner = calloc(opts->nparts, sizeof *a->owner);
  a->workers = calloc(opts->nworkers, sizeof *a->workers);
  a->committed = calloc(opts->nparts, sizeof *a->committed);
  a->merged = calloc(opts->nworkers, sizeof *a->merged);
  a->dd = calloc(opts->nparts, sizeof *a->dd);
  a->no_wm = calloc(opts->nparts, 1);
  if (!a->no_wm || !a->owner || !a->workers || !a->committed || !a->merged || !a->dd)
    goto fail;
  if (vg_windows_init(&a->win, tz, opts->base_s, &opts->win) != 0)
    goto fail;
  if (vg_watermarks_init(&a->wm, opts->nparts, opts->ooo_ns, opts->idle_ns, now_ns) < 0)
    goto fail;
  for (uint32_t p = 0; p < opts->nparts; p++) {
    a->owner[p] = p % opts->nworkers;
    a->committed[p] = (struct vg_part_pos){-1, INT64_MIN, now_ns};
  }
  for (uint32_t i = 0; i < opts->nworkers; i++) {
    size_t wsize =
        (sizeof(struct vg_worker) + VG_CACHE_LINE - 1) / VG_CACHE_LINE * VG_CACHE_LINE;
    struct vg_worker *w = aligned_alloc(VG_CACHE_LINE, wsize);
    if (!w)
      goto fail;
    memset(w, 0, sizeof *w);
    a->workers[i] = w;
    vg_spsc_init(&w->full);
    vg_spsc_init(&w->empty);
    w->agg = a;
    w->id = i;
    w->acc = opts->win.acc;
    w->ooo_ns = opts->ooo_ns;
    w->dedupe_s = opts->dedupe_s;
    for (int r = 0; r < 3; r++) {
      int64_t k = opts->win.retention_s[r];
      w->keep_s[r] = k;
      if (k && (!w->keep_min_s || k < w->keep_min_s))
        w->keep_min_s = k;
    }
    vg_calendar_init(&w->cal, tz, opts->base_s);
    w->pos = calloc(opts->nparts, sizeof *w->pos);
    w->cur = epoch_new(opts->nparts, i);
    struct epoch *spare = epoch_new(opts->nparts, i); /* the second buffer */
    if (!w->pos || !w->cur || !spare) {
      epoch_free(spare);
      goto fail;
    }
    vg_spsc_push(&w->empty, spare);
    for (uint32_t p = 0; p < opts->nparts; p++)
      w->pos[p] = a->committed[p];
  }
  *out = a;
  return 0;
fail:
  vg_agg_free(a);
  return -ENOMEM;
}

void vg_agg_free(struct vg_agg *a) {
  if (!a)
    return;
  for (uint32_t i = 0; a->workers && i < a->o.nworkers; i++) {
    struct vg_worker *w = a->workers[i];
    if (!w)
      continue;
    struct epoch *e;
    while ((e = vg_spsc_pop(&w->full)))
      epoch_free(e);
    while ((e = vg_spsc_pop(&w->empty)))
      epoch_free(e);
    epoch_free(w->cur);
    free(w->pos);
    free(w);
  }
  if (a->wm.parts)
    vg_watermarks_release(&a->wm);
  vg_windows_release(&a->win);
  free(a->workers);
  free(a->owner);
  free(a->committed);
  free(a->merged);
  free(a->dd);
  free(a->no_wm);
  free(a);
}

void vg_agg_assign(struct vg_agg *a, uint32_t part, uint32_t worker) {
  assert(part < a->o.nparts && worker < a->o.nworkers);
  a->owner[part] = worker;
}

struct vg_worker *vg_agg_worker(struct vg_agg *a, uint32_t i) {
  assert(i < a->o.nworkers);
  return a->workers[i];
}

/* The resolutions that still retain a reading in base window b, by its
 * partition's watermark (worker.h, "Late readings"). */
static unsigned retained_by(struct vg_worker *w, const struct vg_part_pos *pos,
                            struct vg_span b) {
  if (w->keep_min_s == 0)
    return VG_INTO_ALL;
  /* the partition watermark in seconds; event times stay far from
   * INT64_MIN, and max_event_ns includes this reading */
  int64_t wm_s = vg_floor_div(pos->max_event_ns - w->ooo_ns, 1000000000);
  /* the usual case: the base window, which ends first, is newer than the
   * shortest horizon, so every resolution keeps it */
  if (b.end > wm_s - w->keep_min_s)
    return VG_INTO_ALL;
  int64_t end[3] = {b.end, vg_calendar_hour(&w->cal, b.start).end,
                    vg_calendar_day(&w->cal, b.start).end};
  unsigned into = 0;
  for (int r = 0; r < 3; r++)
    if (w->keep_s[r] == 0 || end[r] > wm_s - w->keep_s[r])
      into |= 1u << r;
  return into;
}

/* A reading of a source without dedupe, or past the dedupe horizon, into
 * its delta. */
static inline int add_plain(struct vg_worker *w, struct epoch *e,
                            const struct vg_agg_event *ev, struct vg_span s,
                            unsigned into) {
  struct vg_wentry *d;
  uint8_t key = (uint8_t)(VG_INTO_ALL ^ into);
  if (vg_wtable_get(&e->deltas, ev->series, key, s.start, s.end, &d) != 0 ||
      vg_acc_add(&d->acc, &w->acc, ev->time_ns, ev->value, ev->has_distinct,
                 ev->distinct) != 0) {
    w->failed = 1; /* the epoch may hold part of the reading: never hand it */
    return -ENOMEM;
  }
  e->aggregated++;
  return VG_AGG_ACCEPTED;
}

static inline uint32_t dd_hash(uint32_t delta, int64_t t, uint64_t key) {
  return vg_hmix32((uint64_t)t * 0x9e3779b97f4a7c15ULL ^ key ^ ((uint64_t)delta << 40));
}

static void dd_index_put(struct dd_epoch *dd, uint32_t idx) {
  const struct dd_reading *r = &dd->r[idx];
  uint32_t i = dd_hash(r->delta, r->t, r->key) & dd->mask;
  while (dd->slots[i])
    i = (i + 1) & dd->mask;
  dd->slots[i] = idx + 1;
}

/* Room for one more reading (and its index slot) and for the info of
 * every entry of the table. 0 or -ENOMEM. */
static int dd_reserve(struct dd_epoch *dd) {
  if (dd->capinfo < dd->deltas.cap) {
    struct dd_delta *in = realloc(dd->info, (size_t)dd->deltas.cap * sizeof *in);
    if (!in)
      return -ENOMEM;
    dd->info = in;
    dd->capinfo = dd->deltas.cap;
  }
  if (dd->nr == dd->capr) {
    if (dd->capr >= UINT32_MAX / 4)
      return -ENOMEM;
    uint32_t cap = dd->capr ? dd->capr * 2 : 256;
    struct dd_reading *r = realloc(dd->r, (size_t)cap * sizeof *r);
    if (!r)
      return -ENOMEM;
    dd->r = r;
    dd->capr = cap;
  }
  if (!dd->slots || (uint64_t)(dd->nr + 1) * 2 > (uint64_t)dd->mask + 1) {
    uint32_t nslots = dd->slots ? (dd->mask + 1) * 2 : 512;
    uint32_t *sl = calloc(nslots, sizeof *sl);
    if (!sl)
      return -ENOMEM;
    free(dd->slots);
    dd->slots = sl;
    dd->mask = nslots - 1;
    for (uint32_t i = 0; i < dd->nr; i++)
      dd_index_put(dd, i);
  }
  return 0;
}

/* A reading of a dedupe source within the horizon: a copy of a reading
 * of its entry is dropped, a new one is kept and aggregated. */
static int add_kept(struct vg_worker *w, struct epoch *e, uint32_t part,
                    const struct vg_agg_event *ev, struct vg_span s, unsigned into) {
  struct dd_epoch *dd = &e->dd;
  dd->used = 1;
  struct vg_wentry *d;
  uint32_t before = dd->deltas.n;
  if (vg_wtable_get(&dd->deltas, ev->series, (uint8_t)(VG_INTO_ALL ^ into), s.start,
                    s.end, &d) != 0)
    goto oom;
  uint32_t di = (uint32_t)(d - dd->deltas.e);
  if (dd_reserve(dd) != 0)
    goto oom;
  if (dd->deltas.n != before)
    dd->info[di] = (struct dd_delta){DD_NONE, DD_NONE, ev->dedupe};
  uint64_t key = ev->has_distinct ? ev->distinct : 0;
  uint32_t i = dd_hash(di, ev->time_ns, key) & dd->mask;
  for (uint32_t k; (k = dd->slots[i]) != 0; i = (i + 1) & dd->mask) {
    const struct dd_reading *o = &dd->r[k - 1];
    if (o->delta == di && o->t == ev->time_ns && o->key == key) {
      e->ddc[part].duplicates++; /* a copy within the epoch */
      return VG_AGG_ACCEPTED;
    }
  }
  if (vg_acc_add(&d->acc, &w->acc, ev->time_ns, ev->value, ev->has_distinct,
                 ev->distinct) != 0)
    goto oom;
  uint32_t idx = dd->nr++;
  dd->r[idx] = (struct dd_reading){
      ev->time_ns, ev->value, key, part | (ev->has_distinct ? DD_HAS_KEY : 0),
      di,          DD_NONE,   0};
  dd->slots[i] = idx + 1; /* the empty slot the probe ended on */
  struct dd_delta *in = &dd->info[di];
  if (in->tail == DD_NONE)
    in->head = idx;
  else
    dd->r[in->tail].next = idx;
  in->tail = idx;
  if (ev->dedupe > in->max)
    in->max = ev->dedupe;
  e->aggregated++;
  return VG_AGG_ACCEPTED;
oom:
  w->failed = 1; /* the epoch may hold part of the reading: never hand it */
  return -ENOMEM;
}

/* Slow path of vg_worker_add for a reading of a dedupe source: past the
 * horizon it goes the plain way, counted unchecked; else add_kept. */
static __attribute__((noinline)) int add_dedupe(struct vg_worker *w, struct epoch *e,
                                                uint32_t part,
                                                const struct vg_part_pos *pos,
                                                const struct vg_agg_event *ev,
                                                struct vg_span s, unsigned into) {
  if (!(into & VG_INTO_BASE) ||
      (w->dedupe_s &&
       s.end <= vg_floor_div(pos->max_event_ns - w->ooo_ns, 1000000000) - w->dedupe_s)) {
    e->dd.used = 1;
    e->ddc[part].past++;
    return add_plain(w, e, ev, s, into);
  }
  return add_kept(w, e, part, ev, s, into);
}

int vg_worker_add(struct vg_worker *w, uint32_t part, int64_t offset,
                  const struct vg_agg_event *ev, int64_t now_ns) {
  assert(part < w->agg->o.nparts && w->agg->owner[part] == w->id);
  struct epoch *e = w->cur;
  struct vg_part_pos *pos = &w->pos[part];
  /* the event is consumed whatever happens to it: its offset moves on */
  pos->next_offset = offset + 1;
  pos->last_active_ns = now_ns;
  if (!isfinite(ev->value)) {
    e->rejected[VG_AGG_REJECT_NONFINITE]++;
    return VG_AGG_REJECT_NONFINITE;
  }
  if (ev->time_ns > pos->max_event_ns)
    pos->max_event_ns = ev->time_ns;
  struct vg_span s = vg_calendar_base_ns(&w->cal, ev->time_ns);
  unsigned into = retained_by(w, pos, s);
  if (into == 0) {
    e->rejected[VG_AGG_REJECT_RETENTION]++;
    return VG_AGG_REJECT_RETENTION;
  }
  if (__builtin_expect(ev->dedupe != 0, 0))
    return add_dedupe(w, e, part, pos, ev, s, into);
  return add_plain(w, e, ev, s, into);
}

void vg_worker_skip(struct vg_worker *w, uint32_t part, int64_t offset, int64_t now_ns) {
  assert(part < w->agg->o.nparts && w->agg->owner[part] == w->id);
  w->pos[part].next_offset = offset + 1;
  w->pos[part].last_active_ns = now_ns;
}

int vg_worker_flush(struct vg_worker *w, int64_t now_ns) {
  struct vg_agg *a = w->agg;
  if (w->failed)
    return -ENOMEM;
  if (vg_spsc_size_producer(&w->full) >= VG_AGG_MAX_PENDING)
    return VG_EFULL;
  struct epoch *next = vg_spsc_pop(&w->empty);
  if (!next)
    next = epoch_new(a->o.nparts, w->id);
  if (!next)
    return -ENOMEM; /* the epoch continues */
  struct epoch *e = w->cur;
  e->seq = w->seq++;
  for (uint32_t p = 0; p < a->o.nparts; p++)
    if (a->owner[p] == w->id)
      e->pos[p] = w->pos[p];
  int rc = vg_spsc_push(&w->full, e);
  assert(rc == 0); /* size checked above; only this thread pushes */
  (void)rc;
  w->cur = next;
  return 0;
}

uint64_t vg_worker_epochs(const struct vg_worker *w) {
  return w->seq;
}

size_t vg_worker_bytes(const struct vg_worker *w, int with_sketches, size_t *n) {
  const struct vg_wtable *t = &w->cur->deltas;
  const struct dd_epoch *dd = &w->cur->dd;
  size_t b = vg_wtable_bytes(t);
  if (with_sketches)
    for (uint32_t k = 0; k < t->n; k++)
      b += vg_acc_bytes(&t->e[k].acc) - sizeof(struct vg_acc);
  *n = t->n;
  if (dd->deltas.cap) {
    b += vg_wtable_bytes(&dd->deltas) + (size_t)dd->capinfo * sizeof *dd->info +
         (size_t)dd->capr * sizeof *dd->r +
         (dd->slots ? ((size_t)dd->mask + 1) * sizeof *dd->slots : 0);
    if (with_sketches)
      for (uint32_t k = 0; k < dd->deltas.n; k++)
        b += vg_acc_bytes(&dd->deltas.e[k].acc) - sizeof(struct vg_acc);
    *n += dd->deltas.n;
  }
  return b;
}

/* Merges the entries of the epoch's dedupe table: each entry's readings
 * checked against its base window's fingerprints (worker.h "Duplicates"),
 * the new ones recorded, the entry rebuilt without its copies when it had
 * some. *dups counts the copies found. */
static int merge_dedupe(struct vg_agg *a, struct epoch *e, uint64_t *dups) {
  struct dd_epoch *dd = &e->dd;
  struct vg_window_counters *c = &a->win.c;
  for (uint32_t k = 0; k < dd->deltas.n; k++) {
    struct vg_wentry *d = &dd->deltas.e[k];
    const struct dd_delta *in = &dd->info[k];
    unsigned into = VG_INTO_ALL ^ d->res;
    assert(into & VG_INTO_BASE); /* the worker checks only those */
    struct vg_fpset *set;
    int rc = vg_windows_fpset(&a->win, d->series, d->start, d->end, &set);
    if (rc < 0)
      return rc;
    uint32_t ndup = 0;
    for (uint32_t i = in->head; i != DD_NONE; i = dd->r[i].next) {
      struct dd_reading *r = &dd->r[i];
      struct vg_fp fp = {r->t, r->key};
      uint32_t part = r->part & ~DD_HAS_KEY;
      if (vg_fpset_has(set, fp)) {
        r->dup = 1;
        ndup++;
        a->dd[part].duplicates++;
        c->duplicates++;
      } else if (set->n < in->max) {
        rc = vg_fpset_add(set, fp);
        if (rc < 0)
          return rc;
      } else {
        a->dd[part].full++;
        c->dedupe_full++;
      }
    }
    if (ndup) {
      /* the entry as if the copies had never come: its other readings, in
       * their order */
      vg_acc_release(&d->acc);
      vg_acc_init(&d->acc);
      for (uint32_t i = in->head; i != DD_NONE; i = dd->r[i].next) {
        const struct dd_reading *r = &dd->r[i];
        if (r->dup)
          continue;
        rc = vg_acc_add(&d->acc, &a->o.win.acc, r->t, r->v, (r->part & DD_HAS_KEY) != 0,
                        r->key);
        if (rc)
          return rc;
      }
      *dups += ndup;
    }
    if ((rc =
             vg_windows_merge(&a->win, d->series, d->start, d->end, into, &d->acc, NULL)))
      return rc;
    vg_acc_release(&d->acc);
  }
  return 0;
}

/* Merges the epoch's deltas, releasing each once merged (while it is in
 * the cache: a clear afterwards would walk the whole table again). */
static int merge_epoch(struct vg_agg *a, struct epoch *e) {
  const struct vg_wtable *t = &a->win.t;
  for (uint32_t k = 0; k < e->deltas.n; k++) {
    struct vg_wentry *d = &e->deltas.e[k];
    if (k + 16 < e->deltas.n && t->ix.slots) {
      /* the table is far bigger than the cache: fetch the index slot of a
       * base window some deltas ahead (the merge waits on that miss) */
      const struct vg_wentry *f = &e->deltas.e[k + 16];
      __builtin_prefetch(
          &t->ix.slots[vg__wtable_hash(f->series, 0, f->start) & t->ix.mask]);
    }
    /* the worker's decision (the key's skipped resolutions), obeyed */
    unsigned into = VG_INTO_ALL ^ d->res;
    int rc = vg_windows_merge(&a->win, d->series, d->start, d->end, into, &d->acc, NULL);
    if (rc < 0)
      return rc;
    if (d->acc.qs || d->acc.hll)
      vg_acc_release(&d->acc);
  }
  uint64_t dups = 0;
  if (e->dd.used) {
    int rc = merge_dedupe(a, e, &dups);
    if (rc < 0)
      return rc;
    for (uint32_t p = 0; p < a->o.nparts; p++) {
      const struct vg_dedupe_counts *x = &e->ddc[p];
      a->dd[p].duplicates += x->duplicates;
      a->dd[p].past += x->past;
      a->win.c.duplicates += x->duplicates;
      a->win.c.dedupe_past += x->past;
    }
  }
  a->win.c.aggregated += e->aggregated - dups;
  for (int r = 1; r < VG_AGG_REJECT_MAX; r++)
    a->win.c.rejected[r] += e->rejected[r];
  a->merged[e->worker] = e->seq + 1;
  for (uint32_t p = 0; p < a->o.nparts; p++) {
    if (a->owner[p] != e->worker || e->pos[p].next_offset < 0)
      continue;
    a->committed[p] = e->pos[p];
    if (!a->no_wm[p])
      vg_watermarks_observe(&a->wm, p, e->pos[p].max_event_ns, e->pos[p].last_active_ns);
  }
  return 0;
}

/* ---- scale-out (worker.h) ------------------------------------------------------ */

struct vg_part_pos vg_worker_position(const struct vg_worker *w, uint32_t part) {
  assert(part < w->agg->o.nparts);
  return w->pos[part];
}

int vg_worker_merge(struct vg_worker *w, uint32_t part, int64_t offset, uint64_t series,
                    int64_t start, int64_t end, unsigned skipped,
                    const struct vg_acc *delta, int64_t now_ns) {
  assert(part < w->agg->o.nparts && w->agg->owner[part] == w->id);
  assert(skipped != VG_INTO_ALL && !(skipped & ~(unsigned)VG_INTO_ALL));
  struct epoch *e = w->cur;
  w->pos[part].next_offset = offset + 1;
  w->pos[part].last_active_ns = now_ns;
  struct vg_wentry *d;
  if (vg_wtable_get(&e->deltas, series, (uint8_t)skipped, start, end, &d) != 0 ||
      vg_acc_merge(&d->acc, delta, &w->acc) != 0) {
    w->failed = 1;
    return -ENOMEM;
  }
  e->aggregated += delta->st.count;
  return 0;
}

int vg_worker_add_kept(struct vg_worker *w, uint32_t part, int64_t offset,
                       uint64_t series, int64_t start, int64_t end, unsigned skipped,
                       uint32_t dedupe_max, const struct vg_delta_reading *r,
                       int64_t now_ns) {
  assert(part < w->agg->o.nparts && w->agg->owner[part] == w->id);
  assert(!(skipped & VG_INTO_BASE) && !(skipped & ~(unsigned)VG_INTO_ALL));
  w->pos[part].next_offset = offset + 1;
  w->pos[part].last_active_ns = now_ns;
  struct vg_agg_event ev = {.series = series,
                            .time_ns = r->t,
                            .value = r->v,
                            .distinct = r->key,
                            .has_distinct = r->has_key,
                            .dedupe = dedupe_max};
  int rc =
      add_kept(w, w->cur, part, &ev, (struct vg_span){start, end}, VG_INTO_ALL ^ skipped);
  return rc < 0 ? rc : 0;
}

void vg_agg_no_watermark(struct vg_agg *a, uint32_t part, int ever) {
  assert(part < a->o.nparts);
  a->no_wm[part] = (uint8_t)(ever != 0);
  vg_watermarks_absent(&a->wm, part);
}

void vg_worker_mark(struct vg_worker *w, uint32_t part, int64_t offset,
                    int64_t max_event_ns, int64_t now_ns) {
  assert(part < w->agg->o.nparts && w->agg->owner[part] == w->id);
  struct vg_part_pos *p = &w->pos[part];
  p->next_offset = offset + 1;
  p->last_active_ns = now_ns;
  if (max_event_ns > p->max_event_ns)
    p->max_event_ns = max_event_ns;
}

/* The readings of dedupe entry k of an epoch, in arrival order, into *r
 * (grown as needed). Their number, or -ENOMEM. */
static ssize_t kept_readings(const struct dd_epoch *dd, uint32_t k,
                             struct vg_delta_reading **r, size_t *cap) {
  size_t n = 0;
  for (uint32_t i = dd->info[k].head; i != DD_NONE; i = dd->r[i].next) {
    if (n == *cap) {
      size_t nc = *cap ? *cap * 2 : 64;
      struct vg_delta_reading *nr = realloc(*r, nc * sizeof *nr);
      if (!nr)
        return -ENOMEM;
      *r = nr;
      *cap = nc;
    }
    const struct dd_reading *x = &dd->r[i];
    (*r)[n++] =
        (struct vg_delta_reading){x->t, x->v, x->key, (x->part & DD_HAS_KEY) != 0};
  }
  return (ssize_t)n;
}

/* Gives one epoch to the visitor. */
static int visit_epoch(struct vg_agg *a, struct epoch *e, const struct vg_agg_visitor *v,
                       void *ctx, struct vg_delta_reading **r, size_t *cap) {
  int rc = 0;
  for (uint32_t k = 0; k < e->deltas.n && rc == 0; k++)
    rc = v->entry(ctx, &e->deltas.e[k], e->deltas.e[k].res);
  for (uint32_t k = 0; e->dd.used && k < e->dd.deltas.n && rc == 0; k++) {
    ssize_t n = kept_readings(&e->dd, k, r, cap);
    if (n < 0)
      return (int)n;
    rc = v->kept(ctx, &e->dd.deltas.e[k], e->dd.deltas.e[k].res, e->dd.info[k].max, *r,
                 (size_t)n);
  }
  for (uint32_t p = 0; p < a->o.nparts && rc == 0; p++)
    if (a->owner[p] == e->worker && e->pos[p].next_offset >= 0)
      rc = v->position(ctx, p, &e->pos[p]);
  return rc;
}

/* Empties an epoch for the worker's next use: its accumulators released
 * here, or already (released: merge_epoch released each as it merged). */
static void epoch_reset(struct vg_agg *a, struct epoch *e, int released) {
  (released ? vg_wtable_forget : vg_wtable_clear)(&e->deltas);
  if (e->dd.used) {
    (released ? vg_wtable_forget : vg_wtable_clear)(&e->dd.deltas);
    if (e->dd.nr)
      memset(e->dd.slots, 0, ((size_t)e->dd.mask + 1) * sizeof *e->dd.slots);
    e->dd.nr = 0;
    e->dd.used = 0;
    memset(e->ddc, 0, a->o.nparts * sizeof *e->ddc);
  }
  e->aggregated = 0;
  memset(e->rejected, 0, sizeof e->rejected);
}

int vg_agg_take(struct vg_agg *a, uint32_t i, const struct vg_agg_visitor *v, void *ctx) {
  struct vg_worker *w = a->workers[i];
  struct vg_delta_reading *r = NULL;
  size_t cap = 0;
  int rc = 0;
  struct epoch *e;
  while ((e = vg_spsc_pop(&w->full))) {
    if (rc == 0)
      rc = visit_epoch(a, e, v, ctx, &r, &cap);
    if (rc == 0) {
      a->win.c.aggregated += e->aggregated;
      for (int k = 1; k < VG_AGG_REJECT_MAX; k++)
        a->win.c.rejected[k] += e->rejected[k];
      for (uint32_t p = 0; e->dd.used && p < a->o.nparts; p++) {
        /* the copies found within the epoch (the store finds the others) */
        a->dd[p].duplicates += e->ddc[p].duplicates;
        a->dd[p].past += e->ddc[p].past;
        a->win.c.duplicates += e->ddc[p].duplicates;
        a->win.c.dedupe_past += e->ddc[p].past;
      }
      a->merged[i] = e->seq + 1;
    }
    epoch_reset(a, e, 0);
    int pushed = vg_spsc_push(&w->empty, e);
    assert(pushed == 0);
    (void)pushed;
  }
  free(r);
  return rc;
}

unsigned vg_agg_backlog(const struct vg_agg *a) {
  size_t most = 0;
  for (uint32_t i = 0; i < a->o.nworkers; i++) {
    size_t n = vg_spsc_size_consumer(&a->workers[i]->full);
    if (n > most)
      most = n;
  }
  return (unsigned)most;
}

int vg_agg_collect(struct vg_agg *a, int64_t now_ns,
                   void (*emit)(const struct vg_wentry *, void *), void *ctx) {
  int merged = 0;
  for (uint32_t i = 0; i < a->o.nworkers; i++) {
    struct vg_worker *w = a->workers[i];
    struct epoch *e;
    /* at most what a worker can have queued: workers keep handing epochs
     * while this merges, and an unbounded loop would never return to let
     * the caller commit */
    for (int k = 0; k < VG_AGG_MAX_PENDING && (e = vg_spsc_pop(&w->full)); k++) {
      int rc = merge_epoch(a, e);
      if (rc < 0) {
        /* fatal for this process: the windows hold part of the epoch, which
         * is not committed; the caller restarts from the store */
        epoch_free(e);
        return rc;
      }
      epoch_reset(a, e, 1); /* merge_epoch released the deltas */
      rc = vg_spsc_push(&w->empty, e);
      assert(rc == 0); /* at most VG_AGG_MAX_PENDING + 2 epochs exist */
      (void)rc;
      merged++;
    }
  }
  int64_t wm = vg_watermarks_advance(&a->wm, now_ns);
  vg_windows_advance(&a->win, wm, emit, ctx);
  return merged;
}

uint64_t vg_agg_merged(const struct vg_agg *a, uint32_t worker) {
  assert(worker < a->o.nworkers);
  return a->merged[worker];
}

const struct vg_windows *vg_agg_windows(const struct vg_agg *a) {
  return &a->win;
}

struct vg_part_pos vg_agg_position(const struct vg_agg *a, uint32_t part) {
  assert(part < a->o.nparts);
  return a->committed[part];
}

int64_t vg_agg_watermark(const struct vg_agg *a) {
  return a->win.watermark_ns;
}

struct vg_dedupe_counts vg_agg_dedupe(const struct vg_agg *a, uint32_t part) {
  assert(part < a->o.nparts);
  return a->dd[part];
}

void vg_agg_restore_position(struct vg_agg *a, uint32_t part, struct vg_part_pos pos) {
  assert(part < a->o.nparts);
  a->committed[part] = pos;
  for (uint32_t i = 0; i < a->o.nworkers; i++)
    a->workers[i]->pos[part] = pos;
  if (!a->no_wm[part])
    vg_watermarks_observe(&a->wm, part, pos.max_event_ns, pos.last_active_ns);
}

void vg_agg_restore_watermark(struct vg_agg *a, int64_t watermark_ns) {
  if (watermark_ns > a->win.watermark_ns)
    a->win.watermark_ns = watermark_ns;
  if (watermark_ns > a->wm.global_ns)
    a->wm.global_ns = watermark_ns;
}

int vg_agg_restore_window(struct vg_agg *a, const struct vg_wentry *w) {
  return vg_windows_restore(&a->win, w);
}

struct vg_windows *vg_agg_writer_windows(struct vg_agg *a) {
  return &a->win;
}
