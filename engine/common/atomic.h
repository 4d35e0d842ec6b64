/*
 * Every atomic operation of Vigie's engine goes through this header, over
 * C11 <stdatomic.h>, so the memory order of each is named at the call site
 * and reviewable in one place (redis atomicvar.h, h2o multithread.h).
 *
 * Orders used:
 * - relaxed: counters and hints whose readers need no other data with them;
 * - release (store) / acquire (load): publishing data -- every write before
 *   the release store is visible to the thread whose acquire load reads it
 *   (the hand-off queues).
 * Threads talk through queues (engine/agg/spsc.h), not shared state.
 */
#ifndef VIGIE_COMMON_ATOMIC_H
#define VIGIE_COMMON_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t vg_atomic_u64;
typedef _Atomic int64_t vg_atomic_i64;

/* A cache line, to keep a producer's and a consumer's indices apart. */
#define VG_CACHE_LINE 64

static inline uint64_t vg_atomic_load_relaxed_u64(const vg_atomic_u64 *p) {
  return atomic_load_explicit((vg_atomic_u64 *)p, memory_order_relaxed);
}
static inline uint64_t vg_atomic_load_acquire_u64(const vg_atomic_u64 *p) {
  return atomic_load_explicit((vg_atomic_u64 *)p, memory_order_acquire);
}
static inline void vg_atomic_store_relaxed_u64(vg_atomic_u64 *p, uint64_t v) {
  atomic_store_explicit(p, v, memory_order_relaxed);
}
static inline void vg_atomic_store_release_u64(vg_atomic_u64 *p, uint64_t v) {
  atomic_store_explicit(p, v, memory_order_release);
}
static inline uint64_t vg_atomic_fetch_add_relaxed_u64(vg_atomic_u64 *p, uint64_t v) {
  return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

static inline int64_t vg_atomic_load_relaxed_i64(const vg_atomic_i64 *p) {
  return atomic_load_explicit((vg_atomic_i64 *)p, memory_order_relaxed);
}
static inline void vg_atomic_store_relaxed_i64(vg_atomic_i64 *p, int64_t v) {
  atomic_store_explicit(p, v, memory_order_relaxed);
}

#endif
