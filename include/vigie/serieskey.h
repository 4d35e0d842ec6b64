/*
 * Series keys: the canonical text that names a series, built by the codecs
 * and read back by publication and vigieq (codec.h, "Events and series").
 *
 *   metric{name="value",name="value"}
 *
 * - the metric and tag names keep letters, digits, '_', ':', '.', '-', '/'
 *   and bytes >= 0x80; any other byte becomes '_' (so a name never holds
 *   '{', '=', '"', ',' or '}');
 * - tags come sorted by their raw name, then raw value (bytewise, a prefix
 *   first); a tag equal to the one before it is written once, a tag with an
 *   empty value not at all; without tags the key is the bare metric;
 * - values are written between double quotes with '\\', '"' and newline
 *   escaped as \\, \" and \n; other bytes as they are.
 *
 * Thread-safety: every function is reentrant; buffers are the caller's.
 */
#ifndef VIGIE_SERIESKEY_H
#define VIGIE_SERIESKEY_H

#include <stddef.h>
#include <stdint.h>

/* A tag before canonicalisation: raw name and value bytes (unescaped). */
struct vg_series_tag {
  const char *name, *value;
  uint32_t name_len, value_len;
};

/* Writes name s[0..n) with the bytes a name does not keep replaced by '_'
 * (n bytes, no NUL). Returns n. */
size_t vg_series_key_name(char *out, const char *s, size_t n);

/* The most bytes vg_series_key_build writes for these arguments. */
size_t vg_series_key_max(size_t metric_len, const struct vg_series_tag *tags, size_t n);

/* Writes the canonical key of metric[0..metric_len) and tags[0..n) into out
 * (room for vg_series_key_max bytes; no NUL) and returns its length. Sorts
 * tags in place. With metric_len 0 it writes the tag part alone, which the
 * codecs append to each metric of a reading. */
size_t vg_series_key_build(char *out, const char *metric, size_t metric_len,
                           struct vg_series_tag *tags, size_t n);

/* Splits canonical key[0..len) into its metric and its unescaped tag names
 * and values, in key order, calling cb for each tag (name and value
 * NUL-terminated, valid during the call; a value holding a NUL byte is seen
 * up to it). metric gets at most msize - 1 bytes and a NUL (msize > 0).
 * Reads nothing past key[len - 1]. Returns 0, -EINVAL for a malformed key
 * (an unterminated tag list or value, a name without ="), -ENOMEM, or cb's
 * non-zero value (which stops the split). */
int vg_series_key_split(const char *key, size_t len, char *metric, size_t msize,
                        int (*cb)(const char *name, const char *value, void *ctx),
                        void *ctx);

#endif
