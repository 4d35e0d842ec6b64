/*
 * logfmt logger. Each call formats its whole line into a stack buffer and
 * emits it with one write(2) to stderr, which POSIX keeps atomic for pipes up
 * to PIPE_BUF bytes, so concurrent threads never interleave within a line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/atomic.h"
#include "vigie/log.h"

#include "vigie/calendar.h"

_Atomic int vg_log_threshold = VG_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void vg_log_set_level(enum vg_log_level level) {
  vg_atomic_store_relaxed_int(&vg_log_threshold, (int)level);
}

int vg_log_parse_level(const char *name, enum vg_log_level *out) {
  for (int i = 0; i <= VG_LOG_DEBUG; i++) {
    if (strcmp(name, level_names[i]) == 0) {
      *out = (enum vg_log_level)i;
      return 0;
    }
  }
  return -EINVAL;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t vg_log_ratelimit_pass(struct vg_log_ratelimit *rl, int64_t interval_ms) {
  int64_t now = now_ms();
  int64_t next = vg_atomic_load_relaxed_i64(&rl->next_ms);
  /* one thread wins the slot; the others count themselves suppressed */
  if (now >= next &&
      vg_atomic_cas_strong_relaxed_i64(&rl->next_ms, &next, now + interval_ms))
    return (int64_t)vg_atomic_exchange_relaxed_u64(&rl->suppressed, 0);
  vg_atomic_fetch_add_relaxed_u64(&rl->suppressed, 1);
  return -1;
}

void vg_log_write(enum vg_log_level level, const char *msg, const char *fmt, ...) {
  char line[2048];
  char when[VG_FMT_ISO_MAX];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  vg_fmt_utc_ms((int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, when);
  size_t n = (size_t)snprintf(line, sizeof line, "ts=%s level=%s msg=\"", when,
                              level_names[level]);
  /* msg is quoted: escape what would break the quoting */
  for (const char *p = msg; *p && n < sizeof line - 64; p++) {
    if (*p == '"' || *p == '\\')
      line[n++] = '\\';
    line[n++] = (*p == '\n') ? ' ' : *p;
  }
  line[n++] = '"';
  if (fmt && *fmt) {
    line[n++] = ' ';
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
    va_end(ap);
    if (w > 0)
      n += (size_t)w < sizeof line - n - 1 ? (size_t)w : sizeof line - n - 2;
  }
  line[n++] = '\n';
  ssize_t r;
  do
    r = write(STDERR_FILENO, line, n);
  while (r < 0 && errno == EINTR);
}
