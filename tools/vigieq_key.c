/*
 * vigieq's reading of canonical series keys (codec.h): `metric{a="x",b="y"}`
 * with tags sorted by name, values quoted, `\\`, `\"` and `\n` escaped.
 * Shared by the commands of vigieq.c and the SQL tables of vigieq_sql.c.
 */
#include <stdio.h>
#include <string.h>

#include "vigieq_sql.h"

int parse_key(const char *k, size_t len, char *metric, size_t msize, struct tag *tags,
              int *ntags) {
  size_t i = 0;
  while (i < len && k[i] != '{')
    i++;
  snprintf(metric, msize, "%.*s", (int)i, k);
  *ntags = 0;
  if (i == len)
    return 0;
  i++;
  while (i < len && k[i] != '}') {
    if (*ntags == MAX_TAGS)
      return -1;
    struct tag *t = &tags[(*ntags)++];
    size_t s = i;
    while (i < len && k[i] != '=')
      i++;
    snprintf(t->name, sizeof t->name, "%.*s", (int)(i - s), k + s);
    if (i + 1 >= len || k[i + 1] != '"')
      return -1;
    i += 2;
    size_t o = 0;
    while (i < len && k[i] != '"') {
      char c = k[i++];
      if (c == '\\' && i < len) {
        c = k[i++];
        if (c == 'n')
          c = '\n';
      }
      if (o + 1 < sizeof t->value)
        t->value[o++] = c;
    }
    t->value[o] = 0;
    if (i >= len)
      return -1;
    i++;
    if (i < len && k[i] == ',')
      i++;
  }
  return 0;
}
