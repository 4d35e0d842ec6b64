/*
 * Small text helpers shared by the parts that talk to humans.
 */
#ifndef VIGIE_TEXT_H
#define VIGIE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A NULL-terminated array of strings, and its length (the lists of the
 * config, and of the dataset definitions publication receives). */
struct vg_strlist {
  char **v;
  size_t n;
};

/* The standard base64 (RFC 4648, with '=' padding) of n bytes into out,
 * which holds VG_BASE64_LEN(n) + 1 bytes; NUL-terminated. Returns the
 * length written. */
#define VG_BASE64_LEN(n) (((n) + 2) / 3 * 4)
size_t vg_base64_encode(const uint8_t *in, size_t n, char *out);
/* Decodes the standard base64 text in[0..n) (padded, no whitespace) into
 * out (room for n / 4 * 3 bytes); *len gets the bytes written. 0, or -1
 * for text that is not canonical base64. */
int vg_base64_decode(const char *in, size_t n, uint8_t *out, size_t *len);

/* Levenshtein distance between two NUL-terminated strings (bytes), for
 * "did you mean" suggestions; SIZE_MAX when out of memory. */
size_t vg_edit_distance(const char *a, const char *b);

#endif
