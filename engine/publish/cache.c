/*
 * The answer cache (cache.h): a chained hash table of entries that are also
 * on a doubly linked LRU list, under one mutex. An entry is one allocation:
 * the struct, its key, then its value.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/cache.h"
#include "vigie/hash.h"

#define NBUCKET 4096 /* answers are large: a few thousand fit most bounds */

struct entry {
  struct entry *chain, *prev, *next; /* bucket chain; LRU: prev is newer */
  uint64_t h, tag;
  size_t klen, len;
  char data[]; /* key, value, NUL */
};

struct vg_cache {
  pthread_mutex_t mu;
  struct entry *bucket[NBUCKET];
  struct entry *newest, *oldest;
  size_t bytes, max;
  struct vg_cache_stats st;
};

int vg_cache_new(size_t max_bytes, struct vg_cache **out) {
  *out = NULL;
  if (!max_bytes)
    return 0;
  struct vg_cache *c = calloc(1, sizeof *c);
  if (!c)
    return -ENOMEM;
  pthread_mutex_init(&c->mu, NULL);
  c->max = max_bytes;
  *out = c;
  return 0;
}

void vg_cache_free(struct vg_cache *c) {
  if (!c)
    return;
  for (struct entry *e = c->newest, *next; e; e = next) {
    next = e->next;
    free(e);
  }
  pthread_mutex_destroy(&c->mu);
  free(c);
}

static size_t entry_bytes(const struct entry *e) {
  return sizeof *e + e->klen + e->len + 1;
}

static void lru_unlink(struct vg_cache *c, struct entry *e) {
  if (e->prev)
    e->prev->next = e->next;
  else
    c->newest = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    c->oldest = e->prev;
  e->prev = e->next = NULL;
}

static void lru_push(struct vg_cache *c, struct entry *e) {
  e->prev = NULL;
  e->next = c->newest;
  if (c->newest)
    c->newest->prev = e;
  c->newest = e;
  if (!c->oldest)
    c->oldest = e;
}

/* Unlinks e from its chain and the list and frees it. */
static void drop(struct vg_cache *c, struct entry *e) {
  struct entry **p = &c->bucket[e->h % NBUCKET];
  while (*p != e)
    p = &(*p)->chain;
  *p = e->chain;
  lru_unlink(c, e);
  c->bytes -= entry_bytes(e);
  c->st.entries--;
  free(e);
}

static struct entry *find(struct vg_cache *c, uint64_t h, const void *key, size_t klen) {
  for (struct entry *e = c->bucket[h % NBUCKET]; e; e = e->chain)
    if (e->h == h && e->klen == klen && memcmp(e->data, key, klen) == 0)
      return e;
  return NULL;
}

int vg_cache_get(struct vg_cache *c, const void *key, size_t klen, uint64_t tag,
                 char **val, size_t *len) {
  if (!c)
    return 0;
  uint64_t h = vg_fnv1a64(VG_FNV64_OFFSET, key, klen);
  int rc = 0;
  pthread_mutex_lock(&c->mu);
  struct entry *e = find(c, h, key, klen);
  if (e && e->tag != tag) {
    drop(c, e);
    c->st.stale++;
    e = NULL;
  }
  if (e) {
    *val = malloc(e->len + 1);
    if (*val) {
      memcpy(*val, e->data + e->klen, e->len + 1);
      *len = e->len;
      lru_unlink(c, e);
      lru_push(c, e);
      rc = 1;
    } else {
      rc = -ENOMEM;
    }
  }
  if (rc == 1)
    c->st.hits++;
  else
    c->st.misses++;
  pthread_mutex_unlock(&c->mu);
  return rc;
}

void vg_cache_put(struct vg_cache *c, const void *key, size_t klen, uint64_t tag,
                  const char *val, size_t len) {
  if (!c || sizeof(struct entry) + klen + len + 1 > c->max / 8)
    return;
  struct entry *n = malloc(sizeof *n + klen + len + 1);
  if (!n)
    return;
  n->h = vg_fnv1a64(VG_FNV64_OFFSET, key, klen);
  n->tag = tag;
  n->klen = klen;
  n->len = len;
  memcpy(n->data, key, klen);
  memcpy(n->data + klen, val, len);
  n->data[klen + len] = '\0';
  pthread_mutex_lock(&c->mu);
  struct entry *old = find(c, n->h, key, klen);
  if (old)
    drop(c, old);
  while (c->oldest && c->bytes + entry_bytes(n) > c->max)
    drop(c, c->oldest);
  n->chain = c->bucket[n->h % NBUCKET];
  c->bucket[n->h % NBUCKET] = n;
  lru_push(c, n);
  c->bytes += entry_bytes(n);
  c->st.entries++;
  pthread_mutex_unlock(&c->mu);
}

void vg_cache_stats(struct vg_cache *c, struct vg_cache_stats *out) {
  memset(out, 0, sizeof *out);
  if (!c)
    return;
  pthread_mutex_lock(&c->mu);
  *out = c->st;
  out->bytes = c->bytes;
  pthread_mutex_unlock(&c->mu);
}
