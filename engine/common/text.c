/*
 * Text helpers (include/vigie/text.h): the edit distance behind the
 * suggestions of vigied's configuration errors and vigieq's unknown names.
 */
#include <stdlib.h>
#include <string.h>

#include "vigie/text.h"

size_t vg_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), small[64];
  /* one row of the dynamic-programming table; on the stack when short */
  size_t *row = lb < 64 ? small : malloc((lb + 1) * sizeof *row);
  if (!row)
    return SIZE_MAX;
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t sub = diag + (a[i - 1] != b[j - 1]);
      size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
      row[j] = sub < best ? sub : best;
      diag = up;
    }
  }
  size_t d = row[lb];
  if (row != small)
    free(row);
  return d;
}

size_t vg_base64_encode(const uint8_t *in, size_t n, char *out) {
  static const char abc[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t o = 0, i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = abc[v >> 18];
    out[o++] = abc[(v >> 12) & 63];
    out[o++] = abc[(v >> 6) & 63];
    out[o++] = abc[v & 63];
  }
  if (i < n) {
    uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
    out[o++] = abc[v >> 18];
    out[o++] = abc[(v >> 12) & 63];
    out[o++] = i + 1 < n ? abc[(v >> 6) & 63] : '=';
    out[o++] = '=';
  }
  out[o] = '\0';
  return o;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int vg_base64_decode(const char *in, size_t n, uint8_t *out, size_t *len) {
  if (n % 4)
    return -1;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int pad = (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=');
    if (pad && i + 4 != n)
      return -1; /* padding only at the end */
    int v[4];
    for (int k = 0; k < 4 - pad; k++)
      if ((v[k] = b64_value(in[i + k])) < 0)
        return -1;
    for (int k = 4 - pad; k < 4; k++)
      v[k] = 0;
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
                 (uint32_t)v[3];
    if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff)))
      return -1; /* bits past the data must be zero (canonical) */
    out[o++] = (uint8_t)(x >> 16);
    if (pad < 2)
      out[o++] = (uint8_t)(x >> 8);
    if (pad < 1)
      out[o++] = (uint8_t)x;
  }
  *len = o;
  return 0;
}
