/*
 * Every atomic operation of Vigie's engine goes through this header, over
 * C11 <stdatomic.h>, so the memory order of each is named at the call site
 * and reviewable in one place (redis atomicvar.h, h2o multithread.h).
 *
 * Orders used:
 * - relaxed: counters and hints whose readers need no other data with them;
 * - release (store) / acquire (load): publishing data -- every write before
 *   the release store is visible to the thread whose acquire load reads it
 *   (the hand-off queues, the engine's stop and failure flags);
 * - acq_rel (exchange): both, for a read-modify-write that hands a state
 *   over in either direction.
 * A compare-and-swap names its success and failure orders together.
 * Threads talk through queues (engine/agg/spsc.h), not shared state.
 */
#ifndef VIGIE_COMMON_ATOMIC_H
#define VIGIE_COMMON_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

typedef _Atomic uint64_t vg_atomic_u64;
typedef _Atomic int64_t vg_atomic_i64;
typedef _Atomic int vg_atomic_int; /* flags and small states */

/* VG_TSAN: built with ThreadSanitizer, which sees only the synchronization
 * of instrumented code (not LMDB's, for one). */
#if defined(__SANITIZE_THREAD__)
#define VG_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VG_TSAN 1
#endif
#endif

/* A cache line, to keep a producer's and a consumer's indices apart. */
#define VG_CACHE_LINE 64

/* Loads and stores, one function for each (type, order) in use, named
 * vg_atomic_load_<order>_<type> and vg_atomic_store_<order>_<type>:
 *   vg_atomic_load_relaxed_u64  vg_atomic_load_acquire_u64
 *   vg_atomic_store_relaxed_u64 vg_atomic_store_release_u64
 *   vg_atomic_load_relaxed_i64  vg_atomic_store_relaxed_i64
 *   vg_atomic_load_relaxed_int  vg_atomic_load_acquire_int
 *   vg_atomic_store_relaxed_int vg_atomic_store_release_int */
#define VG__ATOMIC_LOAD(T, type, order)                                                  \
  static inline T vg_atomic_load_##order##_##type(const vg_atomic_##type *p) {           \
    return atomic_load_explicit((vg_atomic_##type *)p, memory_order_##order);            \
  }
#define VG__ATOMIC_STORE(T, type, order)                                                 \
  static inline void vg_atomic_store_##order##_##type(vg_atomic_##type *p, T v) {        \
    atomic_store_explicit(p, v, memory_order_##order);                                   \
  }
VG__ATOMIC_LOAD(uint64_t, u64, relaxed)
VG__ATOMIC_LOAD(uint64_t, u64, acquire)
VG__ATOMIC_STORE(uint64_t, u64, relaxed)
VG__ATOMIC_STORE(uint64_t, u64, release)
VG__ATOMIC_LOAD(int64_t, i64, relaxed)
VG__ATOMIC_STORE(int64_t, i64, relaxed)
VG__ATOMIC_LOAD(int, int, relaxed)
VG__ATOMIC_LOAD(int, int, acquire)
VG__ATOMIC_STORE(int, int, relaxed)
VG__ATOMIC_STORE(int, int, release)

static inline uint64_t vg_atomic_fetch_add_relaxed_u64(vg_atomic_u64 *p, uint64_t v) {
  return atomic_fetch_add_explicit(p, v, memory_order_relaxed);
}

/* A ticket taken after publishing something: whoever acquires the count
 * sees what came before it. */
static inline uint64_t vg_atomic_fetch_add_release_u64(vg_atomic_u64 *p, uint64_t v) {
  return atomic_fetch_add_explicit(p, v, memory_order_release);
}

static inline uint64_t vg_atomic_exchange_relaxed_u64(vg_atomic_u64 *p, uint64_t v) {
  return atomic_exchange_explicit(p, v, memory_order_relaxed);
}
/* Replaces *p by v when it holds *expected (1), else loads it into
 * *expected (0); may fail spuriously: for loops. */
static inline int vg_atomic_cas_weak_relaxed_u64(vg_atomic_u64 *p, uint64_t *expected,
                                                 uint64_t v) {
  return atomic_compare_exchange_weak_explicit(p, expected, v, memory_order_relaxed,
                                               memory_order_relaxed);
}

/* As vg_atomic_cas_weak_relaxed_u64, without spurious failures. */
static inline int vg_atomic_cas_strong_relaxed_i64(vg_atomic_i64 *p, int64_t *expected,
                                                   int64_t v) {
  return atomic_compare_exchange_strong_explicit(p, expected, v, memory_order_relaxed,
                                                 memory_order_relaxed);
}

static inline int vg_atomic_exchange_acq_rel_int(vg_atomic_int *p, int v) {
  return atomic_exchange_explicit(p, v, memory_order_acq_rel);
}

#endif
