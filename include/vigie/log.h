/*
 * Logging: one line per event in logfmt (ts=… level=… msg="…" key=value …),
 * written to stderr with a single write(2) so lines never interleave.
 *
 * The macros test the level before formatting anything; VG_LOG_DEBUG compiles
 * out unless VG_DEBUG_LOG is defined. VG_LOG_RATELIMITED keeps a hot-path error
 * to one line per interval per call site and reports how many were skipped.
 * All functions are thread-safe.
 */
#ifndef VIGIE_LOG_H
#define VIGIE_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum vg_log_level { VG_LOG_ERROR, VG_LOG_WARN, VG_LOG_INFO, VG_LOG_DEBUG };

/* The current threshold; messages above it are not formatted. */
extern _Atomic int vg_log_threshold;

void vg_log_set_level(enum vg_log_level level);
/* Parses "error", "warn", "info" or "debug"; returns 0 or -EINVAL. */
int vg_log_parse_level(const char *name, enum vg_log_level *out);

/* msg is a plain text; fmt formats the remaining logfmt pairs ("k=%d k2=%s"),
 * may be NULL. Values with spaces must be quoted by the caller. */
void vg_log_write(enum vg_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define VG_LOG(level, msg, ...)                                                          \
  do {                                                                                   \
    if ((int)(level) <= atomic_load_explicit(&vg_log_threshold, memory_order_relaxed))   \
      vg_log_write((level), (msg), __VA_ARGS__);                                         \
  } while (0)

#define VG_LOG_ERROR(msg, ...) VG_LOG(VG_LOG_ERROR, msg, __VA_ARGS__)
#define VG_LOG_WARN(msg, ...)  VG_LOG(VG_LOG_WARN, msg, __VA_ARGS__)
#define VG_LOG_INFO(msg, ...)  VG_LOG(VG_LOG_INFO, msg, __VA_ARGS__)
#ifdef VG_DEBUG_LOG
#define VG_LOG_DEBUG(msg, ...) VG_LOG(VG_LOG_DEBUG, msg, __VA_ARGS__)
#else
#define VG_LOG_DEBUG(msg, ...) ((void)0)
#endif

/* Per-call-site rate limit: at most one line per interval_ms; the next line
 * that passes carries suppressed=N for the ones dropped in between. */
struct vg_log_ratelimit {
  _Atomic int64_t next_ms;
  _Atomic uint64_t suppressed;
};
/* Returns the number suppressed since the last pass (>= 0) when this call may
 * log, or -1 when it must stay quiet. */
int64_t vg_log_ratelimit_pass(struct vg_log_ratelimit *rl, int64_t interval_ms);

#define VG_LOG_RATELIMITED(level, interval_ms, msg, fmt, ...)                            \
  do {                                                                                   \
    static struct vg_log_ratelimit vg__rl_;                                              \
    if ((int)(level) <= atomic_load_explicit(&vg_log_threshold, memory_order_relaxed)) { \
      int64_t vg__n_ = vg_log_ratelimit_pass(&vg__rl_, (interval_ms));                   \
      if (vg__n_ >= 0)                                                                   \
        vg_log_write((level), (msg), fmt " suppressed=%lld", __VA_ARGS__,                \
                     (long long)vg__n_);                                                 \
    }                                                                                    \
  } while (0)

#endif
