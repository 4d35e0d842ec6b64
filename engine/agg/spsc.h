/*
 * A bounded single-producer single-consumer ring of pointers, lock-free and
 * wait-free: the producer owns `tail`, the consumer owns `head`, each reads
 * the other's index with acquire and publishes its own with release, so a
 * slot's pointer (and everything it points to) written before the release of
 * `tail` is visible to the consumer that acquires it; symmetrically the
 * producer reuses a slot only after acquiring the consumer's release of
 * `head`. Indices grow without wrapping in practice (64 bits) and are masked.
 *
 * Exactly one producer thread and one consumer thread per ring.
 */
#ifndef VIGIE_AGG_SPSC_H
#define VIGIE_AGG_SPSC_H

#include <assert.h>
#include <stddef.h>

#include "common/atomic.h"

#define VG_SPSC_CAP 16 /* a power of two */

struct vg_spsc {
  _Alignas(VG_CACHE_LINE) vg_atomic_u64 head; /* next slot to pop (consumer) */
  _Alignas(VG_CACHE_LINE) vg_atomic_u64 tail; /* next slot to push (producer) */
  _Alignas(VG_CACHE_LINE) void *slot[VG_SPSC_CAP];
};

static inline void vg_spsc_init(struct vg_spsc *q) {
  vg_atomic_store_relaxed_u64(&q->head, 0);
  vg_atomic_store_relaxed_u64(&q->tail, 0);
}

/* Producer: number of items pushed and not yet popped (an upper bound). */
static inline size_t vg_spsc_size_producer(const struct vg_spsc *q) {
  return (size_t)(vg_atomic_load_relaxed_u64(&q->tail) -
                  vg_atomic_load_acquire_u64(&q->head));
}

/* Consumer: number of items it can pop now (a lower bound). */
static inline size_t vg_spsc_size_consumer(const struct vg_spsc *q) {
  return (size_t)(vg_atomic_load_acquire_u64(&q->tail) -
                  vg_atomic_load_relaxed_u64(&q->head));
}

/* Producer: 0, or -1 when full. */
static inline int vg_spsc_push(struct vg_spsc *q, void *p) {
  uint64_t t = vg_atomic_load_relaxed_u64(&q->tail); /* our own index */
  if (t - vg_atomic_load_acquire_u64(&q->head) == VG_SPSC_CAP)
    return -1;
  q->slot[t & (VG_SPSC_CAP - 1)] = p;
  vg_atomic_store_release_u64(&q->tail, t + 1);
  return 0;
}

/* Consumer: the oldest item, or NULL when empty. */
static inline void *vg_spsc_pop(struct vg_spsc *q) {
  uint64_t h = vg_atomic_load_relaxed_u64(&q->head); /* our own index */
  if (h == vg_atomic_load_acquire_u64(&q->tail))
    return NULL;
  void *p = q->slot[h & (VG_SPSC_CAP - 1)];
  vg_atomic_store_release_u64(&q->head, h + 1);
  return p;
}

#endif
