/*
 * vigieq's reading of canonical series keys (codec.h): `metric{a="x",b="y"}`
 * with tags sorted by name, values quoted, `\\`, `\"` and `\n` escaped --
 * through vg_series_key_split, the parser the HTTP API uses (serieskey.h).
 * Shared by the commands of vigieq.c and the SQL tables of vigieq_sql.c.
 */
#include <stdio.h>
#include <string.h>

#include "vigie/serieskey.h"
#include "vigieq_sql.h"

struct tagfill {
  struct tag *tags;
  int *ntags;
};

static int fill_tag(const char *name, const char *value, void *arg) {
  struct tagfill *f = arg;
  if (*f->ntags == MAX_TAGS)
    return -1;
  struct tag *t = &f->tags[(*f->ntags)++];
  snprintf(t->name, sizeof t->name, "%s", name);
  snprintf(t->value, sizeof t->value, "%s", value);
  return 0;
}

int parse_key(const char *k, size_t len, char *metric, size_t msize, struct tag *tags,
              int *ntags) {
  struct tagfill f = {tags, ntags};
  *ntags = 0;
  return vg_series_key_split(k, len, metric, msize, fill_tag, &f) ? -1 : 0;
}
