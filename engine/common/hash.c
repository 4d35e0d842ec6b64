/*
 * Out-of-line helpers over include/vigie/hash.h.
 */
#include "vigie/hash.h"

uint64_t vg_multiset_digest_add(uint64_t digest, const void *data, size_t len) {
  return digest + vg_fnv1a64(VG_FNV64_OFFSET, data, len);
}
