/*
 * Metrics in the Prometheus text exposition format (version 0.0.4).
 *
 * A registry holds named metric families; each family has one type and help
 * text and any number of series told apart by their labels. Series are
 * registered once (at start, or when a partition or reject reason first
 * appears) and the pointer returned stays valid until vg_metrics_free, so the
 * hot path only does a relaxed atomic add, with no lookup and no lock.
 *
 * Thread-safety: registration and rendering take the registry's mutex;
 * updating a counter, gauge or histogram is lock-free from any thread.
 * Counters are monotonic; a gauge may go both ways; gauge functions are
 * called while rendering, from the thread that renders.
 */
#ifndef VIGIE_METRICS_H
#define VIGIE_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct vg_metrics;

struct vg_counter {
  _Atomic uint64_t v;
};
struct vg_gauge {
  _Atomic int64_t v;
};
struct vg_histogram {
  size_t nbounds;
  const double *bounds;      /* upper bounds, increasing; +Inf is implicit */
  _Atomic uint64_t *counts;  /* nbounds + 1, not cumulative */
  _Atomic uint64_t sum_bits; /* a double, updated by compare-and-swap */
};

int vg_metrics_new(struct vg_metrics **out);
void vg_metrics_free(struct vg_metrics *m);

/* labels: the inside of the braces, already escaped (vg_metrics_labels
 * builds it), or NULL. Registering the same name and labels again returns the
 * same series. NULL on allocation failure or when name is already a family
 * of another type. */
struct vg_counter *vg_metrics_counter(struct vg_metrics *m, const char *name,
                                      const char *help, const char *labels);
struct vg_gauge *vg_metrics_gauge(struct vg_metrics *m, const char *name,
                                  const char *help, const char *labels);
/* bounds is borrowed and must outlive the registry. */
struct vg_histogram *vg_metrics_histogram(struct vg_metrics *m, const char *name,
                                          const char *help, const char *labels,
                                          const double *bounds, size_t nbounds);
/* A gauge whose value fn(ctx) computes at each rendering. 0 or -ENOMEM. */
int vg_metrics_gauge_fn(struct vg_metrics *m, const char *name, const char *help,
                        const char *labels, double (*fn)(void *ctx), void *ctx);

static inline void vg_counter_add(struct vg_counter *c, uint64_t n) {
  atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline void vg_gauge_set(struct vg_gauge *g, int64_t v) {
  atomic_store_explicit(&g->v, v, memory_order_relaxed);
}
static inline void vg_gauge_add(struct vg_gauge *g, int64_t d) {
  atomic_fetch_add_explicit(&g->v, d, memory_order_relaxed);
}
void vg_histogram_observe(struct vg_histogram *h, double v);

/* Writes `k1="v1",k2="v2"` for NULL-terminated key, value pairs into buf,
 * escaping backslash, double quote and newline in values. Returns buf. */
char *vg_metrics_labels(char *buf, size_t size, ...);

/* Renders every family into *out (malloc'd, caller frees), *len bytes.
 * 0 or -ENOMEM. */
int vg_metrics_render(struct vg_metrics *m, char **out, size_t *len);

#endif
