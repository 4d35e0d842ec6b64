/*
 * Prometheus metrics registry: families in registration order, each with its
 * series; rendering walks them under the registry mutex and reads the atomics
 * with relaxed loads (a scrape is a snapshot of each value, not of all at
 * once, which is what Prometheus expects).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/atomic.h"
#include "vigie/metrics.h"

enum kind { K_COUNTER, K_GAUGE, K_HISTOGRAM };

struct series {
  struct series *next;
  char *labels; /* may be NULL */
  union {
    struct vg_counter c;
    struct vg_gauge g;
    struct vg_histogram h;
  } u;
  double (*fn)(void *ctx);
  void *ctx;
};

struct family {
  struct family *next;
  char *name, *help;
  enum kind kind;
  struct series *series, **tail;
};

struct vg_metrics {
  pthread_mutex_t mu;
  struct family *families, **tail;
};

int vg_metrics_new(struct vg_metrics **out) {
  struct vg_metrics *m = calloc(1, sizeof *m);
  if (!m)
    return -ENOMEM;
  pthread_mutex_init(&m->mu, NULL);
  m->tail = &m->families;
  *out = m;
  return 0;
}

void vg_metrics_free(struct vg_metrics *m) {
  if (!m)
    return;
  for (struct family *f = m->families, *fn; f; f = fn) {
    fn = f->next;
    for (struct series *s = f->series, *sn; s; s = sn) {
      sn = s->next;
      if (f->kind == K_HISTOGRAM)
        free(s->u.h.counts);
      free(s->labels);
      free(s);
    }
    free(f->name);
    free(f->help);
    free(f);
  }
  pthread_mutex_destroy(&m->mu);
  free(m);
}

static int same(const char *a, const char *b) {
  return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Finds or creates the series; called with the mutex held. */
static struct series *get(struct vg_metrics *m, const char *name, const char *help,
                          const char *labels, enum kind kind, int *created) {
  struct family *f = m->families;
  while (f && strcmp(f->name, name) != 0)
    f = f->next;
  if (f && f->kind != kind)
    return NULL;
  if (!f) {
    f = calloc(1, sizeof *f);
    if (!f)
      return NULL;
    f->name = strdup(name);
    f->help = strdup(help ? help : "");
    if (!f->name || !f->help) {
      free(f->name);
      free(f->help);
      free(f);
      return NULL;
    }
    f->kind = kind;
    f->tail = &f->series;
    *m->tail = f;
    m->tail = &f->next;
  }
  if (labels && !*labels)
    labels = NULL;
  for (struct series *s = f->series; s; s = s->next)
    if (same(s->labels, labels)) {
      *created = 0;
      return s;
    }
  struct series *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->labels = labels ? strdup(labels) : NULL;
  if (labels && !s->labels) {
    free(s);
    return NULL;
  }
  *f->tail = s;
  f->tail = &s->next;
  *created = 1;
  return s;
}

struct vg_counter *vg_metrics_counter(struct vg_metrics *m, const char *name,
                                      const char *help, const char *labels) {
  int created;
  pthread_mutex_lock(&m->mu);
  struct series *s = get(m, name, help, labels, K_COUNTER, &created);
  pthread_mutex_unlock(&m->mu);
  return s ? &s->u.c : NULL;
}

struct vg_gauge *vg_metrics_gauge(struct vg_metrics *m, const char *name,
                                  const char *help, const char *labels) {
  int created;
  pthread_mutex_lock(&m->mu);
  struct series *s = get(m, name, help, labels, K_GAUGE, &created);
  pthread_mutex_unlock(&m->mu);
  return s ? &s->u.g : NULL;
}

int vg_metrics_gauge_fn(struct vg_metrics *m, const char *name, const char *help,
                        const char *labels, double (*fn)(void *ctx), void *ctx) {
  int created;
  pthread_mutex_lock(&m->mu);
  struct series *s = get(m, name, help, labels, K_GAUGE, &created);
  if (s) {
    s->fn = fn;
    s->ctx = ctx;
  }
  pthread_mutex_unlock(&m->mu);
  return s ? 0 : -ENOMEM;
}

struct vg_histogram *vg_metrics_histogram(struct vg_metrics *m, const char *name,
                                          const char *help, const char *labels,
                                          const double *bounds, size_t nbounds) {
  int created;
  pthread_mutex_lock(&m->mu);
  struct series *s = get(m, name, help, labels, K_HISTOGRAM, &created);
  if (s && created) {
    s->u.h.bounds = bounds;
    s->u.h.nbounds = nbounds;
    s->u.h.counts = calloc(nbounds + 1, sizeof *s->u.h.counts);
    if (!s->u.h.counts)
      s = NULL; /* the empty series stays; rendering skips it */
  }
  pthread_mutex_unlock(&m->mu);
  return s ? &s->u.h : NULL;
}

void vg_histogram_observe(struct vg_histogram *h, double v) {
  size_t i = 0;
  while (i < h->nbounds && v > h->bounds[i])
    i++;
  vg_atomic_fetch_add_relaxed_u64(&h->counts[i], 1);
  uint64_t old = vg_atomic_load_relaxed_u64(&h->sum_bits), nw;
  do {
    double sum;
    memcpy(&sum, &old, sizeof sum);
    sum += v;
    memcpy(&nw, &sum, sizeof nw);
  } while (!vg_atomic_cas_weak_relaxed_u64(&h->sum_bits, &old, nw));
}

char *vg_metrics_labels(char *buf, size_t size, ...) {
  va_list ap;
  size_t n = 0;
  buf[0] = '\0';
  va_start(ap, size);
  for (const char *k; (k = va_arg(ap, const char *));) {
    const char *v = va_arg(ap, const char *);
    n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%s%s=\"", n ? "," : "", k);
    for (; v && *v && n + 3 < size; v++) {
      if (*v == '\\' || *v == '"' || *v == '\n') {
        buf[n++] = '\\';
        buf[n++] = *v == '\n' ? 'n' : *v;
      } else {
        buf[n++] = *v;
      }
    }
    if (n + 1 < size)
      buf[n++] = '"';
    buf[n < size ? n : size - 1] = '\0';
  }
  va_end(ap);
  return buf;
}

static void num(FILE *f, double v) {
  if (isnan(v))
    fputs("NaN", f);
  else if (isinf(v))
    fputs(v > 0 ? "+Inf" : "-Inf", f);
  else if (v == (double)(int64_t)v && fabs(v) < 9e15)
    fprintf(f, "%lld", (long long)v);
  else
    fprintf(f, "%.17g", v);
}

static void with_labels(FILE *f, const char *name, const char *suffix, const char *labels,
                        const char *extra) {
  fprintf(f, "%s%s", name, suffix);
  if (labels || extra)
    fprintf(f, "{%s%s%s}", labels ? labels : "", labels && extra ? "," : "",
            extra ? extra : "");
  fputc(' ', f);
}

int vg_metrics_render(struct vg_metrics *m, char **out, size_t *len) {
  FILE *f = open_memstream(out, len);
  if (!f)
    return -ENOMEM;
  static const char *const types[] = {"counter", "gauge", "histogram"};
  pthread_mutex_lock(&m->mu);
  for (struct family *fa = m->families; fa; fa = fa->next) {
    fprintf(f, "# HELP %s ", fa->name);
    for (const char *p = fa->help; *p; p++) /* help escapes \ and newline */
      fputs(*p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : (char[]){*p, 0}, f);
    fprintf(f, "\n# TYPE %s %s\n", fa->name, types[fa->kind]);
    for (struct series *s = fa->series; s; s = s->next) {
      if (fa->kind == K_COUNTER) {
        with_labels(f, fa->name, "", s->labels, NULL);
        fprintf(f, "%llu\n", (unsigned long long)vg_atomic_load_relaxed_u64(&s->u.c.v));
      } else if (fa->kind == K_GAUGE) {
        with_labels(f, fa->name, "", s->labels, NULL);
        if (s->fn)
          num(f, s->fn(s->ctx));
        else
          fprintf(f, "%lld", (long long)vg_atomic_load_relaxed_i64(&s->u.g.v));
        fputc('\n', f);
      } else if (s->u.h.counts) {
        uint64_t cum = 0;
        char le[64];
        for (size_t i = 0; i <= s->u.h.nbounds; i++) {
          cum += vg_atomic_load_relaxed_u64(&s->u.h.counts[i]);
          if (i < s->u.h.nbounds)
            snprintf(le, sizeof le, "le=\"%.6g\"", s->u.h.bounds[i]);
          else
            snprintf(le, sizeof le, "le=\"+Inf\"");
          with_labels(f, fa->name, "_bucket", s->labels, le);
          fprintf(f, "%llu\n", (unsigned long long)cum);
        }
        uint64_t bits = vg_atomic_load_relaxed_u64(&s->u.h.sum_bits);
        double sum;
        memcpy(&sum, &bits, sizeof sum);
        with_labels(f, fa->name, "_sum", s->labels, NULL);
        num(f, sum);
        fputc('\n', f);
        with_labels(f, fa->name, "_count", s->labels, NULL);
        fprintf(f, "%llu\n", (unsigned long long)cum);
      }
    }
  }
  pthread_mutex_unlock(&m->mu);
  return fclose(f) == 0 ? 0 : -ENOMEM;
}
