/*
 * The JSON writer (jsonw.h): a yajl_gen whose print callback appends to one
 * growable buffer with a cap. yajl escapes strings and checks the structure
 * (keys in maps, balanced containers); what it leaves to us is UTF-8: a
 * string that is not valid UTF-8 is copied with U+FFFD in place of each
 * maximal ill-formed subsequence before yajl sees it, and numbers, which
 * are printed here (vg_fmt_double) and passed to yajl as text.
 */
#include "vigie/jsonw.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_gen.h>

#include "vigie/publish.h"
#include "vigie/utf8.h"

struct vg_jsonw {
  yajl_gen g;
  char *p; /* the text: len bytes of cap */
  size_t len, cap, max;
  int err;       /* sticky: 0 or a negative errno */
  char *scratch; /* a string with U+FFFD for its invalid bytes */
  size_t scratch_cap;
};

/* Grows the buffer to hold more bytes; 0 or the (sticky) error. */
static int reserve(struct vg_jsonw *w, size_t more) {
  if (w->err)
    return w->err;
  if (more > w->max - w->len)
    return w->err = -EMSGSIZE;
  if (w->cap - w->len >= more)
    return 0;
  size_t cap = w->cap ? w->cap : 256;
  while (cap - w->len < more)
    cap = cap > w->max / 2 ? w->max : cap * 2;
  char *p = realloc(w->p, cap + 1); /* + 1: room for vg_jsonw_take's NUL */
  if (!p)
    return w->err = -ENOMEM;
  w->p = p;
  w->cap = cap;
  return 0;
}

static void append(struct vg_jsonw *w, const char *s, size_t n) {
  if (n && reserve(w, n) == 0) {
    memcpy(w->p + w->len, s, n);
    w->len += n;
  }
}

static void print(void *ctx, const char *s, size_t n) {
  append(ctx, s, n);
}

struct vg_jsonw *vg_jsonw_new(size_t max) {
  struct vg_jsonw *w = calloc(1, sizeof *w);
  if (w)
    w->g = yajl_gen_alloc(NULL);
  if (!w || !w->g) {
    free(w);
    return NULL;
  }
  yajl_gen_config(w->g, yajl_gen_print_callback, print, w);
  w->max = max ? max : VG_JSONW_MAX_DEFAULT;
  return w;
}

void vg_jsonw_free(struct vg_jsonw *w) {
  if (!w)
    return;
  yajl_gen_free(w->g);
  free(w->p);
  free(w->scratch);
  free(w);
}

/* A generator status into the sticky error: anything but ok is misuse
 * (the buffer's own failures are already in w->err). */
static void check(struct vg_jsonw *w, yajl_gen_status st) {
  if (st != yajl_gen_status_ok && !w->err)
    w->err = -EINVAL;
}

void vg_jsonw_map(struct vg_jsonw *w) {
  if (!w->err)
    check(w, yajl_gen_map_open(w->g));
}

void vg_jsonw_map_end(struct vg_jsonw *w) {
  if (!w->err)
    check(w, yajl_gen_map_close(w->g));
}

void vg_jsonw_array(struct vg_jsonw *w) {
  if (!w->err)
    check(w, yajl_gen_array_open(w->g));
}

void vg_jsonw_array_end(struct vg_jsonw *w) {
  if (!w->err)
    check(w, yajl_gen_array_close(w->g));
}

/* The length of the maximal ill-formed subsequence at s (n > 0 bytes, not
 * a valid character): the longest prefix of a well-formed sequence, at
 * least one byte. The second byte's range excludes overlong forms,
 * surrogates and code points above U+10FFFF, as vg_utf8_valid_prefix. */
static size_t ill_formed(const unsigned char *s, size_t n) {
  unsigned char c = s[0], lo = 0x80, hi = 0xbf;
  size_t need;
  if (c >= 0xc2 && c <= 0xdf)
    need = 2;
  else if (c >= 0xe0 && c <= 0xef)
    need = 3, lo = c == 0xe0 ? 0xa0 : lo, hi = c == 0xed ? 0x9f : hi;
  else if (c >= 0xf0 && c <= 0xf4)
    need = 4, lo = c == 0xf0 ? 0x90 : lo, hi = c == 0xf4 ? 0x8f : hi;
  else
    return 1;
  size_t i = 1;
  if (i < n && s[i] >= lo && s[i] <= hi)
    for (i++; i < need && i < n && (s[i] & 0xc0) == 0x80; i++)
      ;
  return i;
}

/* s itself when it is valid UTF-8, else a copy in w->scratch with U+FFFD
 * for each ill-formed subsequence (*len updated); NULL when out of memory. */
static const char *valid_utf8(struct vg_jsonw *w, const char *s, size_t *len) {
  size_t n = *len, ok = vg_utf8_valid_prefix(s, n);
  if (ok == n)
    return s;
  if (n > SIZE_MAX / 3) /* each bad byte may become 3 */
    return NULL;
  if (w->scratch_cap < 3 * n) {
    char *p = realloc(w->scratch, 3 * n);
    if (!p)
      return NULL;
    w->scratch = p;
    w->scratch_cap = 3 * n;
  }
  size_t o = 0;
  for (;;) {
    memcpy(w->scratch + o, s, ok);
    o += ok;
    s += ok;
    n -= ok;
    if (!n)
      break;
    size_t bad = ill_formed((const unsigned char *)s, n);
    memcpy(w->scratch + o, "\xef\xbf\xbd", 3);
    o += 3;
    s += bad;
    n -= bad;
    ok = vg_utf8_valid_prefix(s, n);
  }
  *len = o;
  return w->scratch;
}

void vg_jsonw_str(struct vg_jsonw *w, const char *s, size_t len) {
  if (w->err)
    return;
  const char *v = len ? valid_utf8(w, s, &len) : "";
  if (!v) {
    w->err = -ENOMEM;
    return;
  }
  check(w, yajl_gen_string(w->g, (const unsigned char *)v, len));
}

void vg_jsonw_cstr(struct vg_jsonw *w, const char *s) {
  if (s)
    vg_jsonw_str(w, s, strlen(s));
  else
    vg_jsonw_null(w);
}

void vg_jsonw_kv(struct vg_jsonw *w, const char *key, const char *value) {
  vg_jsonw_cstr(w, key);
  vg_jsonw_cstr(w, value);
}

void vg_jsonw_null(struct vg_jsonw *w) {
  if (!w->err)
    check(w, yajl_gen_null(w->g));
}

void vg_jsonw_bool(struct vg_jsonw *w, int v) {
  if (!w->err)
    check(w, yajl_gen_bool(w->g, v != 0));
}

void vg_jsonw_number(struct vg_jsonw *w, const char *text, size_t len) {
  if (!w->err)
    check(w, yajl_gen_number(w->g, text, len));
}

void vg_jsonw_u64(struct vg_jsonw *w, uint64_t v) {
  char b[24], *p = b + sizeof b; /* no printf: counts are on every row */
  do
    *--p = (char)('0' + v % 10);
  while (v /= 10);
  vg_jsonw_number(w, p, (size_t)(b + sizeof b - p));
}

void vg_jsonw_i64(struct vg_jsonw *w, int64_t v) {
  if (v >= 0) {
    vg_jsonw_u64(w, (uint64_t)v);
    return;
  }
  char b[24], *p = b + sizeof b;
  uint64_t u = 0 - (uint64_t)v;
  do
    *--p = (char)('0' + u % 10);
  while (u /= 10);
  *--p = '-';
  vg_jsonw_number(w, p, (size_t)(b + sizeof b - p));
}

void vg_jsonw_double(struct vg_jsonw *w, double v) {
  if (!isfinite(v)) {
    vg_jsonw_null(w);
    return;
  }
  char b[VG_FMT_DOUBLE_MAX];
  vg_jsonw_number(w, b, vg_fmt_double(v, b));
}

void vg_jsonw_embed(struct vg_jsonw *w, const struct vg_jsonw *inner) {
  if (!w->err && (inner->err || !inner->len)) /* an error, or no value */
    w->err = inner->err ? inner->err : -EINVAL;
  /* yajl_gen_number places raw text as one value: inner's text is one
   * complete value that a writer made */
  vg_jsonw_number(w, inner->p, inner->len);
}

void vg_jsonw_next(struct vg_jsonw *w) {
  yajl_gen_reset(w->g, NULL);
}

void vg_jsonw_raw(struct vg_jsonw *w, const char *text) {
  append(w, text, strlen(text));
}

int vg_jsonw_error(const struct vg_jsonw *w) {
  return w->err;
}

const char *vg_jsonw_text(const struct vg_jsonw *w, size_t *len) {
  *len = w->len;
  return w->p ? w->p : "";
}

char *vg_jsonw_take(struct vg_jsonw *w, size_t *len) {
  if (w->err || (!w->p && reserve(w, 1)))
    return NULL;
  char *p = w->p;
  p[w->len] = 0; /* reserve keeps a byte past cap */
  *len = w->len;
  w->p = NULL;
  w->len = w->cap = 0;
  vg_jsonw_clear(w);
  return p;
}

int vg_jsonw_flush(struct vg_jsonw *w, FILE *out) {
  int rc = w->err;
  if (!rc && w->len && fwrite(w->p, 1, w->len, out) != w->len)
    rc = -EIO;
  vg_jsonw_clear(w);
  return rc;
}

void vg_jsonw_clear(struct vg_jsonw *w) {
  w->len = 0;
  w->err = 0;
  yajl_gen_reset(w->g, NULL);
}
