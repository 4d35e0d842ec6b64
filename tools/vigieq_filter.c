/*
 * vigieq's series selection (vigieq.h): the names it knows (metrics, tag
 * names, tag values) with "did you mean" suggestions for a name it does
 * not, and the series of the store that --metric, --where and --match keep.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/error.h"
#include "vigie/text.h"

#include "vigieq.h"

int names_add(struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return 0;
  if (VG_GROW(s->v, s->n + 1, s->cap))
    return -ENOMEM;
  s->v[s->n] = strdup(name);
  if (!s->v[s->n])
    return -ENOMEM;
  s->n++;
  return 0;
}

int names_has(const struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return 1;
  return 0;
}

void names_release(struct names *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
}

/* "did you mean" the three closest names, or the list when short. */
void suggest(const char *what, const char *name, const struct names *known) {
  fprintf(stderr, "vigieq: unknown %s '%s'", what, name);
  if (!known->n) {
    fputs(" (the store has none)\n", stderr);
    return;
  }
  const char *best[3] = {0};
  size_t bd[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
  for (size_t i = 0; i < known->n; i++) {
    size_t d = vg_edit_distance(name, known->v[i]);
    for (int k = 0; k < 3; k++)
      if (d < bd[k]) {
        for (int m = 2; m > k; m--) {
          bd[m] = bd[m - 1];
          best[m] = best[m - 1];
        }
        bd[k] = d;
        best[k] = known->v[i];
        break;
      }
  }
  fputs("; closest: ", stderr);
  for (int k = 0; k < 3 && best[k]; k++)
    fprintf(stderr, "%s'%s'", k ? ", " : "", best[k]);
  fputc('\n', stderr);
}

size_t names_index(const struct names *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0)
      return i;
  return SIZE_MAX;
}

static int on_series(const struct vg_store_series *s, void *arg) {
  struct series_list *l = arg;
  if (VG_GROW(l->v, l->n + 1, l->cap))
    return -ENOMEM;
  char *k = strndup(s->key, s->key_len);
  if (!k)
    return -ENOMEM;
  l->v[l->n++] = (struct series){k, s->id, s->first_seen_ns};
  char metric[512];
  static struct tag tags[MAX_TAGS];
  int nt;
  if (parse_key(k, s->key_len, metric, sizeof metric, tags, &nt) == 0) {
    int rc = names_add(&l->metrics, metric);
    for (int i = 0; i < nt && !rc; i++)
      rc = names_add(&l->tagnames, tags[i].name);
    if (rc)
      return rc;
  }
  return 0;
}

void series_release(struct series_list *l) {
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i].key);
  free(l->v);
  names_release(&l->metrics);
  names_release(&l->tagnames);
}

static int cmp_series(const void *a, const void *b) {
  return strcmp(((const struct series *)a)->key, ((const struct series *)b)->key);
}

static int filter_ok(const struct filter *f, const char *key) {
  char metric[512];
  static struct tag tags[MAX_TAGS];
  int nt;
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt))
    return 0;
  if (f->metrics.n && !names_has(&f->metrics, metric))
    return 0;
  if (f->match && fnmatch(f->match, key, 0) != 0)
    return 0;
  for (size_t i = 0; i < f->nwhere; i++) {
    const char *w = f->where[i];
    const char *eq = strchr(w, '=');
    int neg = eq > w && eq[-1] == '!';
    size_t nl = (size_t)(eq - w) - (size_t)neg;
    const char *val = NULL;
    for (int t = 0; t < nt; t++)
      if (strlen(tags[t].name) == nl && memcmp(tags[t].name, w, nl) == 0)
        val = tags[t].value;
    int hit = val && fnmatch(eq + 1, val, 0) == 0;
    if (hit == neg)
      return 0;
  }
  return 1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* --where TAG=VALUE with a plain VALUE (no glob) that no series has: a usage
 * error naming the closest values of TAG. The values are sorted and made
 * unique first, so that a store of many series costs n log n, not n^2. */
static int check_where_value(const struct series_list *l, const char *name,
                             const char *value) {
  if (strpbrk(value, "*?[\\"))
    return EX_OK;
  struct names vals = {0};
  static struct tag tags[MAX_TAGS];
  char metric[512];
  int nt, found = 0, ex = EX_OK;
  for (size_t i = 0; i < l->n && !found; i++) {
    if (parse_key(l->v[i].key, strlen(l->v[i].key), metric, sizeof metric, tags, &nt))
      continue;
    for (int t = 0; t < nt && !found; t++) {
      if (strcmp(tags[t].name, name) != 0)
        continue;
      found = strcmp(tags[t].value, value) == 0;
      if (VG_GROW(vals.v, vals.n + 1, vals.cap))
        goto oom;
      vals.v[vals.n] = strdup(tags[t].value);
      if (!vals.v[vals.n])
        goto oom;
      vals.n++;
    }
  }
  if (!found) {
    qsort(vals.v, vals.n, sizeof *vals.v, cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < vals.n; i++) {
      if (k && strcmp(vals.v[k - 1], vals.v[i]) == 0)
        free(vals.v[i]);
      else
        vals.v[k++] = vals.v[i];
    }
    vals.n = k;
    char what[160];
    snprintf(what, sizeof what, "--where %s value", name);
    suggest(what, value, &vals);
    ex = EX_USAGE;
  }
  names_release(&vals);
  return ex;
oom:
  names_release(&vals);
  return fail(EX_RUNTIME, "out of memory");
}

/* Loads the dictionary, checks the filter's names and plain tag values
 * against it (usage errors with suggestions) and keeps the matching series,
 * sorted by key. */
int select_series(struct ctx *c, const struct filter *f, struct series_list *l) {
  int rc = vg_store_series_each(c->rd, on_series, l);
  if (rc)
    return fail(EX_RUNTIME, "cannot list the series: %s", vg_strerror(rc));
  for (size_t i = 0; i < f->metrics.n; i++)
    if (!names_has(&l->metrics, f->metrics.v[i])) {
      suggest("metric", f->metrics.v[i], &l->metrics);
      return EX_USAGE;
    }
  for (size_t i = 0; i < f->nwhere; i++) {
    char name[128];
    const char *eq = strchr(f->where[i], '=');
    size_t nl = (size_t)(eq - f->where[i]) - (eq > f->where[i] && eq[-1] == '!');
    snprintf(name, sizeof name, "%.*s", (int)nl, f->where[i]);
    if (!names_has(&l->tagnames, name)) {
      suggest("tag", name, &l->tagnames);
      return EX_USAGE;
    }
    int ex = eq[-1] == '!' ? EX_OK : check_where_value(l, name, eq + 1);
    if (ex)
      return ex;
  }
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (filter_ok(f, l->v[i].key))
      l->v[k++] = l->v[i];
    else
      free(l->v[i].key);
  }
  l->n = k;
  if (l->n > 1) /* l->v is NULL for a store without series */
    qsort(l->v, l->n, sizeof *l->v, cmp_series);
  return EX_OK;
}
