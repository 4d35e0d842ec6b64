/*
 * Series keys (include/vigie/serieskey.h): the one writer of the canonical
 * form and the one reader of it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/serieskey.h"

/* Which ASCII bytes a metric or tag name keeps (others become '_'); bytes
 * >= 0x80 are kept (names are valid UTF-8 by then). */
static const uint8_t name_keep[128] = {
    ['-'] = 1, ['.'] = 1, ['/'] = 1, [':'] = 1, ['_'] = 1, ['0'] = 1, ['1'] = 1,
    ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,
    ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1,
    ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1,
    ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

size_t vg_series_key_name(char *out, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    out[i] = (ch >= 0x80 || name_keep[ch]) ? (char)ch : '_';
  }
  return n;
}

size_t vg_series_key_max(size_t metric_len, const struct vg_series_tag *tags, size_t n) {
  size_t need = metric_len + 2;
  for (size_t i = 0; i < n; i++)
    need += tags[i].name_len + 2 * (size_t)tags[i].value_len + 4;
  return need;
}

static int bytes_cmp(const char *a, uint32_t alen, const char *b, uint32_t blen) {
  int r = memcmp(a, b, alen < blen ? alen : blen);
  return r != 0 ? r : alen == blen ? 0 : alen < blen ? -1 : 1;
}

static int tag_cmp(const struct vg_series_tag *a, const struct vg_series_tag *b) {
  int r = bytes_cmp(a->name, a->name_len, b->name, b->name_len);
  return r != 0 ? r : bytes_cmp(a->value, a->value_len, b->value, b->value_len);
}

size_t vg_series_key_build(char *out, const char *metric, size_t metric_len,
                           struct vg_series_tag *tags, size_t n) {
  /* insertion sort: tag sets are small and usually sorted already */
  for (size_t i = 1; i < n; i++) {
    struct vg_series_tag t = tags[i];
    size_t j = i;
    while (j > 0 && tag_cmp(&tags[j - 1], &t) > 0) {
      tags[j] = tags[j - 1];
      j--;
    }
    tags[j] = t;
  }
  char *p = out + vg_series_key_name(out, metric, metric_len);
  size_t written = 0;
  for (size_t i = 0; i < n; i++) {
    if (tags[i].value_len == 0)
      continue;
    if (i > 0 && tag_cmp(&tags[i - 1], &tags[i]) == 0)
      continue; /* the same tag twice */
    *p++ = written++ ? ',' : '{';
    p += vg_series_key_name(p, tags[i].name, tags[i].name_len);
    *p++ = '=';
    *p++ = '"';
    for (uint32_t k = 0; k < tags[i].value_len; k++) {
      char ch = tags[i].value[k];
      if (ch == '\\' || ch == '"' || ch == '\n')
        *p++ = '\\';
      *p++ = ch == '\n' ? 'n' : ch;
    }
    *p++ = '"';
  }
  if (written)
    *p++ = '}';
  return (size_t)(p - out);
}

int vg_series_key_split(const char *k, size_t len, char *metric, size_t msize,
                        int (*cb)(const char *name, const char *value, void *ctx),
                        void *ctx) {
  size_t i = 0;
  while (i < len && k[i] != '{')
    i++;
  size_t m = i < msize ? i : msize - 1;
  memcpy(metric, k, m);
  metric[m] = '\0';
  if (i == len)
    return 0;
  /* one tag's name and value, unescaped, with their NULs: never longer
   * than the key */
  char stack[512], *scratch = stack;
  if (len + 2 > sizeof stack) {
    scratch = malloc(len + 2);
    if (!scratch)
      return -ENOMEM;
  }
  int rc = 0;
  i++;
  while (i < len && k[i] != '}') {
    size_t s = i;
    while (i < len && k[i] != '=')
      i++;
    if (i + 1 >= len || k[i + 1] != '"') {
      rc = -EINVAL;
      goto done;
    }
    char *name = scratch, *value = scratch + (i - s) + 1, *o = value;
    memcpy(name, k + s, i - s);
    name[i - s] = '\0';
    i += 2;
    while (i < len && k[i] != '"') {
      char c = k[i++];
      if (c == '\\' && i < len) {
        c = k[i++];
        if (c == 'n')
          c = '\n';
      }
      *o++ = c;
    }
    *o = '\0';
    if (i >= len) {
      rc = -EINVAL;
      goto done;
    }
    i++;
    if (i < len && k[i] == ',')
      i++;
    rc = cb ? cb(name, value, ctx) : 0;
    if (rc)
      goto done;
  }
  rc = i < len ? 0 : -EINVAL;
done:
  if (scratch != stack)
    free(scratch);
  return rc;
}
