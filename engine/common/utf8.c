/*
 * Strict UTF-8 validation (RFC 3629): the shortest form only, no UTF-16
 * surrogates, nothing above U+10FFFF.
 */
#include <stdint.h>

#include "vigie/utf8.h"

size_t vg_utf8_valid_prefix(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  while (i < n) {
    unsigned char ch = s[i];
    if (ch < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp, min;
    if (ch >= 0xc2 && ch <= 0xdf)
      len = 2, cp = ch & 0x1f, min = 0x80;
    else if (ch >= 0xe0 && ch <= 0xef)
      len = 3, cp = ch & 0x0f, min = 0x800;
    else if (ch >= 0xf0 && ch <= 0xf4)
      len = 4, cp = ch & 0x07, min = 0x10000;
    else
      return i;
    if (i + len > n)
      return i;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80)
        return i;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return i;
    i += len;
  }
  return n;
}
