/*
 * UTF-8 validation shared by every parser of text (codecs, configuration).
 */
#ifndef VIGIE_UTF8_H
#define VIGIE_UTF8_H

#include <stddef.h>

/* Length of the longest valid UTF-8 prefix of s[0..n): n when all of it is
 * valid (no overlong forms, no surrogates, nothing above U+10FFFF). */
size_t vg_utf8_valid_prefix(const char *s, size_t n);

static inline int vg_utf8_ok(const char *s, size_t n) {
  return vg_utf8_valid_prefix(s, n) == n;
}

#endif
