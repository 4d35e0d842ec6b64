/*
 * A bounded cache of byte strings (the API's answers), each stored with the
 * tag of the state it was computed from (a hash of its ETag): a lookup hits
 * only while the tag still holds, so an answer is never served past a change
 * of what it depends on. Least recently used entries go first when the bytes
 * pass the bound; one entry may take at most an eighth of it.
 *
 * Thread-safety: every call may come from any thread (one mutex; a lookup
 * copies the value out under it).
 */
#ifndef VIGIE_CACHE_H
#define VIGIE_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct vg_cache;

struct vg_cache_stats {
  uint64_t hits, misses, stale; /* stale: found with another tag (dropped) */
  uint64_t entries, bytes;
};

/* A cache of at most max_bytes (keys, values and bookkeeping); max_bytes 0
 * gives *out = NULL, which every call below takes as an empty cache. 0 or
 * -ENOMEM. */
int vg_cache_new(size_t max_bytes, struct vg_cache **out);
void vg_cache_free(struct vg_cache *c);

/* The value stored under key with this tag: 1 with a malloc'd copy in *val
 * (*len bytes, NUL-terminated beyond), 0 when absent or stale, -ENOMEM. */
int vg_cache_get(struct vg_cache *c, const void *key, size_t klen, uint64_t tag,
                 char **val, size_t *len);
/* Stores a copy of val under key with tag, replacing what was there; a
 * value over an eighth of the bound, or no memory, stores nothing. */
void vg_cache_put(struct vg_cache *c, const void *key, size_t klen, uint64_t tag,
                  const char *val, size_t len);
void vg_cache_stats(struct vg_cache *c, struct vg_cache_stats *out);

#endif
