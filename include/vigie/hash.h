/*
 * Small, stable, non-cryptographic hashes. Their values are part of test
 * oracles and stored formats, so they never change: FNV-1a 64 is simple
 * enough for an independent implementation in Python to match it exactly.
 */
#ifndef VIGIE_HASH_H
#define VIGIE_HASH_H

#include <stddef.h>
#include <stdint.h>

#define VG_FNV64_OFFSET 0xcbf29ce484222325ULL
#define VG_FNV64_PRIME  0x100000001b3ULL

/* FNV-1a 64 of len bytes, continuing from h (start with VG_FNV64_OFFSET). */
static inline uint64_t vg_fnv1a64(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;
  for (size_t i = 0; i < len; i++) {
    h ^= p[i];
    h *= VG_FNV64_PRIME;
  }
  return h;
}

/* Order-independent digest of a multiset of byte strings: the wrapping sum of
 * their FNV-1a 64 hashes. Used to compare what was produced with what was
 * consumed whatever the partitioning and order. */
uint64_t vg_multiset_digest_add(uint64_t digest, const void *data, size_t len);

/* SipHash-2-4 (Aumasson and Bernstein, 2012) of len bytes under a 16-byte
 * key: the series ids of canonical keys. A secret key per store keeps
 * crafted sensor names from colliding on purpose, which FNV cannot. */
uint64_t vg_siphash24(const uint8_t key[16], const void *data, size_t len);

#endif
