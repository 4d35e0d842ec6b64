/*
 * libFuzzer target for series keys (serieskey.h). The input is read twice:
 * - as a key: vg_series_key_split must not read past it (the replay driver
 *   and libFuzzer hand over exactly size bytes, so ASan sees any overread)
 *   and hands over NUL-terminated names and values;
 * - as a metric and tags, fields separated by 0xff (metric, name, value,
 *   name, value, ...): the key built from them splits back into exactly the
 *   metric and the tags, sanitised, sorted, deduplicated and without empty
 *   values, as serieskey.h promises (NUL bytes in values become 0x01: split
 *   hands values over NUL-terminated).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/serieskey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TAGS 16

struct expect {
  const struct vg_series_tag *tags;
  size_t n, at;
  char *name; /* room for the longest name: the input's size */
};

static int check_tag(const char *name, const char *value, void *arg) {
  struct expect *e = arg;
  if (e->at == e->n)
    abort();
  const struct vg_series_tag *t = &e->tags[e->at++];
  vg_series_key_name(e->name, t->name, t->name_len);
  if (strlen(name) != t->name_len || memcmp(name, e->name, t->name_len) != 0 ||
      strlen(value) != t->value_len || memcmp(value, t->value, t->value_len) != 0)
    abort();
  return 0;
}

static int touch_tag(const char *name, const char *value, void *arg) {
  size_t *total = arg;
  *total += strlen(name) + strlen(value);
  return 0;
}

static int raw_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen) {
  int r = memcmp(a, b, alen < blen ? alen : blen);
  return r != 0 ? r : (alen > blen) - (alen < blen);
}

static int same_tag(const struct vg_series_tag *a, const struct vg_series_tag *b) {
  return a->name_len == b->name_len && a->value_len == b->value_len &&
         memcmp(a->name, b->name, a->name_len) == 0 &&
         memcmp(a->value, b->value, a->value_len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char metric[64];
  size_t total = 0;
  if (vg_series_key_split((const char *)data, size, metric, sizeof metric, touch_tag,
                          &total) == 0 &&
      total > size)
    abort();
  (void)vg_series_key_split((const char *)data, size, metric, 1, NULL, NULL);

  char *in = malloc(size + 1);
  if (!in)
    return 0;
  memcpy(in, data, size);
  /* fields: metric, then name/value pairs */
  const char *field[1 + 2 * MAX_TAGS];
  size_t flen[1 + 2 * MAX_TAGS], nf = 0, start = 0;
  for (size_t i = 0; i <= size && nf < 1 + 2 * MAX_TAGS; i++)
    if (i == size || (uint8_t)in[i] == 0xff) {
      field[nf] = in + start;
      flen[nf++] = i - start;
      start = i + 1;
    }
  for (size_t i = 0; i < size; i++)
    if (in[i] == '\0')
      in[i] = '\001';
  struct vg_series_tag tags[MAX_TAGS], want[MAX_TAGS];
  size_t nt = 0;
  for (size_t f = 1; f + 1 < nf; f += 2)
    tags[nt++] = (struct vg_series_tag){field[f], field[f + 1], (uint32_t)flen[f],
                                        (uint32_t)flen[f + 1]};

  size_t max = vg_series_key_max(flen[0], tags, nt);
  char *key = malloc(max), *m = malloc(flen[0] + 1), *clean = malloc(size + 1);
  if (!key || !m || !clean)
    abort();
  size_t len = vg_series_key_build(key, field[0], flen[0], tags, nt);
  if (len > max)
    abort();
  /* tags are sorted now: what split must give back */
  size_t nw = 0;
  for (size_t i = 0; i < nt; i++)
    if (tags[i].value_len && !(nw && same_tag(&want[nw - 1], &tags[i])))
      want[nw++] = tags[i];
  for (size_t i = 1; i < nw; i++) { /* sorted by raw name, then value */
    int r =
        raw_cmp(want[i - 1].name, want[i - 1].name_len, want[i].name, want[i].name_len);
    if (r > 0 || (r == 0 && raw_cmp(want[i - 1].value, want[i - 1].value_len,
                                    want[i].value, want[i].value_len) >= 0))
      abort();
  }
  struct expect e = {want, nw, 0, clean};
  if (vg_series_key_split(key, len, m, flen[0] + 1, check_tag, &e) != 0 || e.at != nw)
    abort();
  vg_series_key_name(clean, field[0], flen[0]);
  if (strlen(m) != flen[0] || memcmp(m, clean, flen[0]) != 0)
    abort();
  free(clean);
  free(m);
  free(key);
  free(in);
  return 0;
}
