/*
 * The codec interface: configuration, the reusable event batch, and the
 * pieces every format shares — canonical series keys (written by serieskey.h:
 * metric{tag="value",...}, tags sorted, values escaped), exact decimal and RFC 3339 time
 * parsing, number parsing with a fast exact path, UTF-8 checks, JSON string unescaping
 * and a strict one-pass JSON tokenizer (into jsmn's token layout; see vg__json_tokenize
 * for why not jsmn itself). The formats themselves live in json.c, influx.c, senml.c.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "vigie/array.h"
#include "vigie/serieskey.h"
#include "vigie/utf8.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/tz.h"

static const char *const reject_names[VG_REJECT_REASON_COUNT] = {
    [VG_REJECT_NOT_JSON] = "not_json",
    [VG_REJECT_TRUNCATED] = "truncated",
    [VG_REJECT_NOT_OBJECT] = "not_object",
    [VG_REJECT_MISSING_TIME] = "missing_time",
    [VG_REJECT_UNPARSABLE_TIME] = "unparsable_time",
    [VG_REJECT_TIME_OUT_OF_RANGE] = "time_out_of_range",
    [VG_REJECT_NON_NUMERIC_VALUE] = "non_numeric_value",
    [VG_REJECT_NAN_OR_INF] = "nan_or_inf",
    [VG_REJECT_OVERSIZE] = "oversize",
    [VG_REJECT_INVALID_UTF8_KEY] = "invalid_utf8_key",
    [VG_REJECT_MISSING_FIELD] = "missing_field",
    [VG_REJECT_NO_FIELDS] = "no_fields",
    [VG_REJECT_BAD_SYNTAX] = "bad_syntax",
    [VG_REJECT_MISSING_NAME] = "missing_name",
};

const char *vg_reject_name(enum vg_reject_reason r) {
  if ((unsigned)r >= VG_REJECT_REASON_COUNT)
    return "unknown";
  return reject_names[r];
}

/* ---- batch -------------------------------------------------------------- */

void vg_event_batch_init(struct vg_event_batch *b) {
  memset(b, 0, sizeof *b);
}

void vg_event_batch_release(struct vg_event_batch *b) {
  free(b->events);
  free(b->bytes);
  free(b->rejects);
  memset(b, 0, sizeof *b);
}

int vg__reject_reading(struct vg_codec *c, struct vg_event_batch *b,
                       enum vg_reject_reason r, size_t off, size_t field_off,
                       size_t field_len) {
  if (VG_GROW(b->rejects, b->n_rejects + 1, b->cap_rejects) != 0)
    return -ENOMEM;
  struct vg_reject *j = &b->rejects[b->n_rejects++];
  j->reason = r;
  j->offset = off > UINT32_MAX ? UINT32_MAX : (uint32_t)off;
  j->item_off = c->item_off;
  j->item_len = c->item_len;
  /* within the item, hence exact (the item is clamped for oversize) */
  j->field_off = (uint32_t)field_off;
  j->field_len = (uint32_t)field_len;
  return 0;
}

int vg__emit(struct vg_codec *c, struct vg_event_batch *b, size_t field_off,
             size_t field_len, const char *metric, size_t mlen, int64_t t_ns, double v,
             const char *distinct, size_t dlen) {
  size_t need = mlen + c->n_suffix + (distinct ? dlen : 0);
  if (b->n_bytes + need > UINT32_MAX)
    return -ENOMEM; /* offsets are 32-bit: a batch holds at most 4 GiB */
  if (VG_GROW(b->bytes, b->n_bytes + need, b->cap_bytes) != 0 ||
      VG_GROW(b->events, b->n_events + 1, b->cap_events) != 0)
    return -ENOMEM;
  struct vg_event *e = &b->events[b->n_events++];
  char *p = b->bytes + b->n_bytes;
  e->key_off = (uint32_t)b->n_bytes;
  vg_series_key_name(p, metric, mlen);
  memcpy(p + mlen, c->suffix, c->n_suffix);
  e->key_len = (uint32_t)(mlen + c->n_suffix);
  b->n_bytes += e->key_len;
  e->has_distinct = distinct != NULL;
  e->distinct_off = (uint32_t)b->n_bytes;
  e->distinct_len = distinct ? (uint32_t)dlen : 0;
  if (distinct) {
    memcpy(b->bytes + b->n_bytes, distinct, dlen);
    b->n_bytes += dlen;
  }
  e->time_ns = t_ns;
  e->value = v;
  e->item_off = c->item_off;
  e->item_len = c->item_len;
  e->field_off = (uint32_t)field_off;
  e->field_len = (uint32_t)field_len;
  return 0;
}

int vg__build_suffix(struct vg_codec *c, struct vg_series_tag *tags, size_t n) {
  if (VG_GROW(c->suffix, vg_series_key_max(0, tags, n), c->cap_suffix) != 0)
    return -ENOMEM;
  c->n_suffix = vg_series_key_build(c->suffix, "", 0, tags, n);
  return 0;
}

/* ---- numbers ------------------------------------------------------------ */

static const double pow10_exact[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int ieq(const char *s, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (ch >= 'A' && ch <= 'Z')
      ch = (char)(ch - 'A' + 'a');
    if (ch != lit[i])
      return 0;
  }
  return 1;
}

int vg__parse_double(const char *s, size_t n, double *out) {
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+'))
    neg = s[i++] == '-';
  if (i < n && (s[i] < '0' || s[i] > '9') && s[i] != '.') {
    const char *w = s + i;
    size_t wn = n - i;
    if (ieq(w, wn, "nan") || ieq(w, wn, "inf") || ieq(w, wn, "infinity"))
      return -2;
    return -1;
  }
  uint64_t mant = 0;
  int ndig = 0, nfrac = 0, digits = 0, exact = 1;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    if (ndig < 19) {
      mant = mant * 10 + (uint64_t)(s[i] - '0');
      if (mant)
        ndig++;
    } else {
      exact = 0;
    }
    digits++;
    i++;
  }
  if (i < n && s[i] == '.') {
    i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (ndig < 19) {
        mant = mant * 10 + (uint64_t)(s[i] - '0');
        if (mant)
          ndig++;
        nfrac++;
      } else {
        exact = 0;
      }
      digits++;
      i++;
    }
  }
  if (digits == 0)
    return -1;
  long e10 = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    i++;
    int eneg = 0;
    if (i < n && (s[i] == '-' || s[i] == '+'))
      eneg = s[i++] == '-';
    if (i >= n || s[i] < '0' || s[i] > '9')
      return -1;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (e10 < 100000)
        e10 = e10 * 10 + (s[i] - '0');
      i++;
    }
    if (eneg)
      e10 = -e10;
  }
  if (i != n)
    return -1;
  long e = e10 - nfrac;
  double v;
  if (exact && mant <= (UINT64_C(1) << 53) && e >= -22 && e <= 22) {
    /* both operands exact: one correctly rounded operation (Clinger) */
    v = (double)mant;
    v = e < 0 ? v / pow10_exact[-e] : v * pow10_exact[e];
  } else {
    char buf[512];
    if (n >= sizeof buf)
      return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    v = strtod(buf, NULL);
    neg = 0; /* strtod saw the sign */
  }
  if (neg)
    v = -v;
  if (!isfinite(v))
    return -2;
  *out = v;
  return 0;
}

int vg__decimal_to_ns(const char *s, size_t n, int64_t unit_ns, int64_t *out) {
  size_t i = 0;
  int neg = 0;
  if (i < n && (s[i] == '-' || s[i] == '+'))
    neg = s[i++] == '-';
  int64_t ip = 0;
  size_t d0 = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') {
    if (__builtin_mul_overflow(ip, 10, &ip) ||
        __builtin_add_overflow(ip, s[i] - '0', &ip))
      return -2;
    i++;
  }
  int64_t frac = 0; /* fraction of a unit, in ns */
  int any = i > d0;
  if (i < n && s[i] == '.') {
    i++;
    int64_t scale = unit_ns;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      any = 1;
      if (scale >= 10) {
        scale /= 10;
        frac += (s[i] - '0') * scale;
      }
      i++;
    }
  }
  if (!any)
    return -1;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    /* exponent notation (1.7e9): through a double, exact enough for times
     * written that way */
    double d;
    int r = vg__parse_double(s, n, &d);
    if (r != 0)
      return r;
    d *= (double)unit_ns;
    if (!(d >= -9.2e18 && d <= 9.2e18))
      return -2;
    *out = (int64_t)d;
    return 0;
  }
  if (i != n)
    return -1;
  int64_t v;
  if (__builtin_mul_overflow(ip, unit_ns, &v) || __builtin_add_overflow(v, frac, &v))
    return -2;
  *out = neg ? -v : v;
  return 0;
}

/* ---- UTF-8 and JSON strings --------------------------------------------- */

static int hex4(const char *s, uint32_t *out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    char ch = s[i];
    v <<= 4;
    if (ch >= '0' && ch <= '9')
      v |= (uint32_t)(ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      v |= (uint32_t)(ch - 'a' + 10);
    else if (ch >= 'A' && ch <= 'F')
      v |= (uint32_t)(ch - 'A' + 10);
    else
      return -1;
  }
  *out = v;
  return 0;
}

int vg__json_unescape(struct vg_codec *c, const char *s, size_t n, size_t *off,
                      size_t *outlen) {
  if (VG_GROW(c->scratch, c->n_scratch + n + 1, c->cap_scratch) != 0)
    return -ENOMEM;
  char *d = c->scratch + c->n_scratch;
  char *d0 = d;
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\') {
      *d++ = s[i];
      continue;
    }
    if (++i >= n)
      return -1;
    switch (s[i]) {
    case '"': *d++ = '"'; break;
    case '\\': *d++ = '\\'; break;
    case '/': *d++ = '/'; break;
    case 'b': *d++ = '\b'; break;
    case 'f': *d++ = '\f'; break;
    case 'n': *d++ = '\n'; break;
    case 'r': *d++ = '\r'; break;
    case 't': *d++ = '\t'; break;
    case 'u': {
      uint32_t cp, lo;
      if (n - i < 5 || hex4(s + i + 1, &cp) != 0)
        return -1;
      i += 4;
      if (cp >= 0xdc00 && cp <= 0xdfff)
        return -1;
      if (cp >= 0xd800 && cp <= 0xdbff) {
        if (n - i < 7 || s[i + 1] != '\\' || s[i + 2] != 'u' ||
            hex4(s + i + 3, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
          return -1;
        i += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
      }
      /* 6 escaped bytes always cover the at most 4 bytes written */
      if (cp < 0x80) {
        *d++ = (char)cp;
      } else if (cp < 0x800) {
        *d++ = (char)(0xc0 | cp >> 6);
        *d++ = (char)(0x80 | (cp & 0x3f));
      } else if (cp < 0x10000) {
        *d++ = (char)(0xe0 | cp >> 12);
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
      } else {
        *d++ = (char)(0xf0 | cp >> 18);
        *d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *d++ = (char)(0x80 | (cp & 0x3f));
      }
      break;
    }
    default: return -1;
    }
  }
  *off = c->n_scratch;
  *outlen = (size_t)(d - d0);
  c->n_scratch += *outlen;
  return 0;
}

int vg__json_skip(const jsmntok_t *t, int i) {
  int pending = 1;
  while (pending > 0) {
    pending += t[i].size - 1;
    i++;
  }
  return i;
}

int vg__json_items(struct vg_codec *c, const char *msg, size_t len,
                   struct vg_event_batch *b, vg__json_item_fn fn, void *ctx) {
  enum vg_reject_reason why;
  size_t off;
  if (VG_GROW(c->scratch, len + 1, c->cap_scratch) != 0)
    return -ENOMEM;
  int n = vg__json_tokenize(c, msg, len, &why, &off);
  if (n == -ENOMEM)
    return n;
  if (n < 0)
    return vg__reject(c, b, why, off); /* about the whole message */
  const jsmntok_t *t = c->toks;
  if (t[0].type == JSMN_OBJECT) {
    /* nothing but blanks follows it (vg__json_tokenize) */
    vg__set_item(c, (size_t)t[0].start, (size_t)(t[0].end - t[0].start));
    return fn(c, msg, t, 0, b, ctx);
  }
  if (t[0].size == 0) /* no item at all: the message */
    return vg__reject(c, b, VG_REJECT_NO_FIELDS, (size_t)t[0].start);
  int j = 1;
  for (int m = 0; m < t[0].size; m++) {
    size_t o = vg__tok_off(&t[j]);
    int next = vg__json_skip(t, j);
    vg__set_item(c, o, vg__tok_end(&t[j]) - o);
    /* a value that is not an object is an item of its own */
    int r = t[j].type == JSMN_OBJECT ? fn(c, msg, t, j, b, ctx)
                                     : vg__reject(c, b, VG_REJECT_NOT_OBJECT, o);
    if (r != 0)
      return r;
    j = next;
  }
  return 0;
}

static inline int json_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

static inline size_t skip_blanks(const char *msg, size_t len, size_t i) {
  while (i < len && json_blank(msg[i]))
    i++;
  return i;
}

/* Bytes of a number token. Letters are in: the field's value parser judges
 * the token ("1e5", "-Infinity", "1x"), so that a malformed number costs its
 * reading, not the message. */
static const uint8_t number_byte[128] = {
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['A'] = 1,
    ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,
    ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1,
    ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static inline int is_hex(char ch) {
  return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

/* Where a token ends (exclusive) when its text starts at msg[i], a value's
 * first byte; 0 or, when the bytes are not that token, -1 with *bad at the
 * first wrong byte (len: the input ended inside it). A string's end is past
 * its closing quote; its escapes are checked, its other bytes are not. */
static int scan_value(const char *msg, size_t len, size_t i, size_t *end, size_t *bad) {
  char ch = msg[i];
  size_t j = i + 1;
  if (ch == '"') {
    for (;;) {
      while (j < len && msg[j] != '"' && msg[j] != '\\')
        j++;
      if (j >= len)
        break;
      if (msg[j] == '"') {
        *end = j + 1;
        return 0;
      }
      if (++j >= len) /* a backslash, then */
        break;
      ch = msg[j];
      if (ch == 'u') {
        for (int h = 0; h < 4; h++)
          if (++j >= len || !is_hex(msg[j]))
            goto bad;
      } else if (ch != '"' && ch != '\\' && ch != '/' && ch != 'b' && ch != 'f' &&
                 ch != 'n' && ch != 'r' && ch != 't') {
        goto bad;
      }
      j++;
    }
    j = len;
    goto bad;
  }
  if (ch == 't' || ch == 'f' || ch == 'n') {
    const char *lit = ch == 't' ? "true" : ch == 'f' ? "false" : "null";
    for (; lit[j - i]; j++)
      if (j >= len || msg[j] != lit[j - i])
        goto bad;
  } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
    while (j < len && (unsigned char)msg[j] < 0x80 && number_byte[(unsigned char)msg[j]])
      j++;
  } else {
    j = i;
    goto bad;
  }
  /* a number or literal runs to a blank, ',', ']' or '}' */
  if (j < len && !json_blank(msg[j]) && msg[j] != ',' && msg[j] != ']' && msg[j] != '}')
    goto bad;
  *end = j;
  return 0;
bad:
  *bad = j < len ? j : len;
  return -1;
}

/* One pass over the text, strict JSON grammar (RFC 8259, but for the two
 * leniencies of codec.h), into tokens laid out as jsmn's: strings without
 * their quotes, containers from bracket to bracket, size = members of an
 * object / elements of an array / 1 for a key, parent = the container or
 * the key a token is the value of. jsmn itself, the fastest tokenizer that
 * bench/codec.c measured, checks no separator and lets '[1 2]' or
 * '[{"a":1}:"k":5]' through (it hung "k":5 on the 1, and the decoder never
 * saw it); validating its tokens afterwards cost 15% of a JSON decode. */
int vg__json_tokenize(struct vg_codec *c, const char *msg, size_t len,
                      enum vg_reject_reason *why, size_t *off) {
  size_t i = skip_blanks(msg, len, 0);
  if (i == len || (msg[i] != '{' && msg[i] != '[')) {
    *why = i == len ? VG_REJECT_TRUNCATED : VG_REJECT_NOT_JSON;
    *off = i;
    return -1;
  }
  /* JSON text never holds a raw NUL */
  const char *nul = memchr(msg, '\0', len);
  if (nul) {
    *why = VG_REJECT_NOT_JSON;
    *off = (size_t)(nul - msg);
    return -1;
  }
  /* what the grammar takes next, inside the innermost open container sup */
  enum { VALUE, FIRST_VALUE, KEY, FIRST_KEY, COLON, NEXT } want = VALUE;
  int n = 0, sup = -1, key = -1;
  jsmntok_t *t = c->toks;
  for (;;) {
    i = skip_blanks(msg, len, i);
    if (i == len) {
      if (sup >= 0 || n == 0)
        goto truncated;
      return n;
    }
    if (sup < 0 && n > 0)
      goto bad; /* a second top-level value */
    char ch = msg[i];
    if (want == NEXT || want == FIRST_VALUE || want == FIRST_KEY) {
      char close = t[sup].type == JSMN_OBJECT ? '}' : ']';
      if (ch == close) {
        t[sup].end = (int)i + 1;
        i++;
        /* back to the container that holds this one (past its key) */
        int p = t[sup].parent;
        if (p >= 0 && t[p].type == JSMN_STRING)
          p = t[p].parent;
        sup = p;
        want = NEXT;
        continue;
      }
      if (want == NEXT) {
        if (ch != ',')
          goto bad;
        want = t[sup].type == JSMN_OBJECT ? KEY : VALUE;
        i++;
        continue;
      }
      want = want == FIRST_KEY ? KEY : VALUE;
    }
    if (want == COLON) {
      if (ch != ':')
        goto bad;
      want = VALUE;
      i++;
      continue;
    }
    if (want == KEY && ch != '"')
      goto bad;
    /* a token: a key, or a value of sup or of the key */
    if ((size_t)n == c->cap_toks) {
      if (VG_GROW(c->toks, (size_t)n + 1, c->cap_toks) != 0)
        return -ENOMEM;
      t = c->toks;
    }
    jsmntok_t *k = &t[n];
    k->parent = key >= 0 ? key : sup;
    k->size = 0;
    if (k->parent >= 0)
      t[k->parent].size++;
    if (ch == '{' || ch == '[') {
      k->type = ch == '{' ? JSMN_OBJECT : JSMN_ARRAY;
      k->start = (int)i;
      k->end = -1;
      want = ch == '{' ? FIRST_KEY : FIRST_VALUE;
      sup = n++;
      key = -1;
      i++;
      continue;
    }
    size_t end;
    if (scan_value(msg, len, i, &end, off) != 0) {
      if (*off == len)
        goto truncated;
      *why = VG_REJECT_NOT_JSON;
      return -1;
    }
    if (ch == '"') {
      k->type = JSMN_STRING;
      k->start = (int)i + 1;
      k->end = (int)end - 1;
    } else {
      k->type = JSMN_PRIMITIVE;
      k->start = (int)i;
      k->end = (int)end;
    }
    i = end;
    if (want == KEY) {
      key = n;
      want = COLON;
    } else {
      key = -1;
      want = NEXT;
    }
    n++;
  }
truncated:
  *why = VG_REJECT_TRUNCATED;
  *off = len;
  return -1;
bad:
  *why = VG_REJECT_NOT_JSON;
  *off = i;
  return -1;
}

/* ---- RFC 3339 ----------------------------------------------------------- */

static int digits(const char *s, size_t n, size_t at, int count, int *out) {
  if (at + (size_t)count > n)
    return -1;
  int v = 0;
  for (int i = 0; i < count; i++) {
    char ch = s[at + (size_t)i];
    if (ch < '0' || ch > '9')
      return -1;
    v = v * 10 + (ch - '0');
  }
  *out = v;
  return 0;
}

int vg_codec_parse_rfc3339(const char *s, size_t n, const struct vg_tz *tz,
                           int64_t *out_ns, enum vg_reject_reason *why) {
  static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, sec = 0;
  size_t i = 0;
  *why = VG_REJECT_UNPARSABLE_TIME;
  if (digits(s, n, 0, 4, &y) || n < 16 || s[4] != '-' || digits(s, n, 5, 2, &mo) ||
      s[7] != '-' || digits(s, n, 8, 2, &d) ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || digits(s, n, 11, 2, &h) ||
      s[13] != ':' || digits(s, n, 14, 2, &mi))
    return VG_EDECODE;
  i = 16;
  if (i < n && s[i] == ':') {
    if (digits(s, n, i + 1, 2, &sec))
      return VG_EDECODE;
    i += 3;
  }
  int64_t frac = 0;
  if (i < n && (s[i] == '.' || s[i] == ',')) {
    int64_t scale = 1000000000;
    size_t f0 = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (scale >= 10) {
        scale /= 10;
        frac += (s[i] - '0') * scale;
      }
      i++;
    }
    if (i == f0)
      return VG_EDECODE;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
    return VG_EDECODE;
  if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    return VG_EDECODE;
  int has_off = 0;
  int32_t off = 0;
  if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
    has_off = 1;
    i++;
  } else if (i < n && (s[i] == '+' || s[i] == '-')) {
    int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
    if (digits(s, n, i + 1, 2, &oh))
      return VG_EDECODE;
    i += 3;
    if (i < n && s[i] == ':') {
      if (digits(s, n, i + 1, 2, &om))
        return VG_EDECODE;
      i += 3;
    } else if (i < n) {
      if (digits(s, n, i, 2, &om))
        return VG_EDECODE;
      i += 2;
    }
    if (oh > 23 || om > 59)
      return VG_EDECODE;
    off = sign * (oh * 3600 + om * 60);
    has_off = 1;
  }
  if (i != n)
    return VG_EDECODE;
  int64_t local =
      vg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
  int64_t t;
  if (has_off)
    t = local - off;
  else if (tz)
    t = vg_tz_local_to_utc(tz, local, 0, NULL);
  else
    t = local;
  int64_t ns;
  if (__builtin_mul_overflow(t, INT64_C(1000000000), &ns) ||
      __builtin_add_overflow(ns, frac, &ns)) {
    *why = VG_REJECT_TIME_OUT_OF_RANGE;
    return VG_EDECODE;
  }
  *out_ns = ns;
  return 0;
}

/* ---- configuration ------------------------------------------------------ */

/* a path's name: '.' -> '_' (the rest is sanitised when keys are written) */
static char *path_name(const char *path) {
  char *s = strdup(path);
  if (s)
    for (char *p = s; *p; p++)
      if (*p == '.')
        *p = '_';
  return s;
}

static int dup_list(const char *const *src, size_t n, char ***keys, char ***names) {
  if (n == 0)
    return 0;
  *keys = calloc(n, sizeof **keys);
  *names = calloc(n, sizeof **names);
  if (!*keys || !*names)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    (*keys)[i] = strdup(src[i]);
    (*names)[i] = path_name(src[i]);
    if (!(*keys)[i] || !(*names)[i])
      return -ENOMEM;
  }
  return 0;
}

static int path_ok(const char *p) {
  size_t n = strlen(p);
  return n > 0 && p[0] != '.' && p[n - 1] != '.' && !strstr(p, "..") && vg_utf8_ok(p, n);
}

int vg_codec_new(const struct vg_codec_config *cfg, struct vg_codec **out, char *errstr,
                 size_t errstr_size) {
  *out = NULL;
  struct vg_codec *c = calloc(1, sizeof *c);
  int err = -ENOMEM;
  if (!c)
    return -ENOMEM;
  c->format = cfg->format;
  c->max_bytes = cfg->max_message_bytes ? cfg->max_message_bytes : 1 << 20;
  if (c->max_bytes > INT32_MAX)
    c->max_bytes = INT32_MAX; /* token offsets are int */
  if (cfg->format != VG_FORMAT_JSON && cfg->format != VG_FORMAT_INFLUX &&
      cfg->format != VG_FORMAT_SENML) {
    vg_errstr(errstr, errstr_size, "codec: unknown format %d", (int)cfg->format);
    err = VG_ECONFIG;
    goto fail;
  }
  if ((unsigned)cfg->time_format > VG_TIME_RFC3339) {
    vg_errstr(errstr, errstr_size, "codec: unknown time_format %d",
              (int)cfg->time_format);
    err = VG_ECONFIG;
    goto fail;
  }
  c->time_format = cfg->time_format;
  static const int64_t prec[] = {1, 1000, 1000000, 1000000000};
  if ((unsigned)cfg->precision > VG_PRECISION_S) {
    vg_errstr(errstr, errstr_size, "codec: unknown precision %d", (int)cfg->precision);
    err = VG_ECONFIG;
    goto fail;
  }
  c->prec_mul = prec[cfg->precision];
  const char *paths[4] = {cfg->time_key, cfg->entity_key, cfg->distinct_key, NULL};
  for (int i = 0; i < 3; i++)
    if (paths[i] && !path_ok(paths[i])) {
      vg_errstr(errstr, errstr_size, "codec: bad key path \"%s\"", paths[i]);
      err = VG_ECONFIG;
      goto fail;
    }
  for (size_t i = 0; i < cfg->n_tag_keys; i++)
    if (!cfg->tag_keys[i] || !path_ok(cfg->tag_keys[i])) {
      vg_errstr(errstr, errstr_size, "codec: bad tag key \"%s\"",
                cfg->tag_keys[i] ? cfg->tag_keys[i] : "(null)");
      err = VG_ECONFIG;
      goto fail;
    }
  for (size_t i = 0; i < cfg->n_fields; i++)
    if (!cfg->fields[i] || !path_ok(cfg->fields[i])) {
      vg_errstr(errstr, errstr_size, "codec: bad field \"%s\"",
                cfg->fields[i] ? cfg->fields[i] : "(null)");
      err = VG_ECONFIG;
      goto fail;
    }
  if (cfg->count_as && !path_ok(cfg->count_as)) {
    vg_errstr(errstr, errstr_size, "codec: bad count_as metric \"%s\"", cfg->count_as);
    err = VG_ECONFIG;
    goto fail;
  }
  c->time_key = strdup(cfg->time_key ? cfg->time_key : "time");
  if (!c->time_key)
    goto fail;
  if (cfg->entity_key) {
    c->entity_key = strdup(cfg->entity_key);
    c->entity_name = path_name(cfg->entity_key);
    if (!c->entity_key || !c->entity_name)
      goto fail;
  }
  if (cfg->distinct_key) {
    c->distinct_key = strdup(cfg->distinct_key);
    if (!c->distinct_key)
      goto fail;
  }
  if (cfg->count_as) {
    c->count_as = path_name(cfg->count_as);
    if (!c->count_as)
      goto fail;
  }
  c->n_tag_keys = cfg->n_tag_keys;
  c->n_fields = cfg->n_fields;
  if (dup_list(cfg->tag_keys, cfg->n_tag_keys, &c->tag_keys, &c->tag_names) ||
      dup_list(cfg->fields, cfg->n_fields, &c->fields, &c->field_names))
    goto fail;
  if (cfg->time_zone && strcmp(cfg->time_zone, "UTC") != 0) {
    char tzerr[256];
    err = vg_tz_load(cfg->time_zone, &c->tz, tzerr, sizeof tzerr);
    if (err != 0) {
      vg_errstr(errstr, errstr_size, "codec: time_zone: %s", tzerr);
      if (err != -ENOMEM)
        err = VG_ECONFIG;
      goto fail;
    }
  }
  c->time_key_len = strlen(c->time_key);
  c->entity_key_len = c->entity_key ? strlen(c->entity_key) : 0;
  c->entity_name_len = c->entity_name ? strlen(c->entity_name) : 0;
  c->distinct_key_len = c->distinct_key ? strlen(c->distinct_key) : 0;
  c->count_as_len = c->count_as ? strlen(c->count_as) : 0;
  c->tag_key_len = calloc(c->n_tag_keys + 1, sizeof(size_t));
  c->tag_name_len = calloc(c->n_tag_keys + 1, sizeof(size_t));
  c->field_len = calloc(c->n_fields + 1, sizeof(size_t));
  c->field_name_len = calloc(c->n_fields + 1, sizeof(size_t));
  if (!c->tag_key_len || !c->tag_name_len || !c->field_len || !c->field_name_len) {
    err = -ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < c->n_tag_keys; i++) {
    c->tag_key_len[i] = strlen(c->tag_keys[i]);
    c->tag_name_len[i] = strlen(c->tag_names[i]);
  }
  for (size_t i = 0; i < c->n_fields; i++) {
    c->field_len[i] = strlen(c->fields[i]);
    c->field_name_len[i] = strlen(c->field_names[i]);
  }
  c->field_tok = malloc((c->n_fields + 1) * sizeof *c->field_tok);
  c->tag_tok = malloc((c->n_tag_keys + 1) * sizeof *c->tag_tok);
  if (!c->field_tok || !c->tag_tok) {
    err = -ENOMEM;
    goto fail;
  }
  c->cap_toks = 256;
  c->toks = malloc(c->cap_toks * sizeof *c->toks);
  if (!c->toks) {
    err = -ENOMEM;
    goto fail;
  }
  *out = c;
  return 0;
fail:
  if (err == -ENOMEM)
    vg_errstr(errstr, errstr_size, "codec: out of memory");
  vg_codec_free(c);
  return err;
}

static void free_list(char **l, size_t n) {
  if (!l)
    return;
  for (size_t i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

void vg_codec_free(struct vg_codec *c) {
  if (!c)
    return;
  free(c->time_key);
  free(c->entity_key);
  free(c->entity_name);
  free(c->distinct_key);
  free(c->count_as);
  free_list(c->tag_keys, c->n_tag_keys);
  free_list(c->tag_names, c->n_tag_keys);
  free_list(c->fields, c->n_fields);
  free_list(c->field_names, c->n_fields);
  vg_tz_free(c->tz);
  free(c->toks);
  free(c->tags);
  free(c->scratch);
  free(c->suffix);
  free(c->name);
  free(c->path);
  free(c->field_tok);
  free(c->tag_key_len);
  free(c->tag_name_len);
  free(c->field_len);
  free(c->field_name_len);
  free(c->tag_tok);
  free(c->leaves);
  free(c->names);
  free(c);
}

int vg_codec_decode(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                    struct vg_event_batch *out) {
  size_t rejects0 = out->n_rejects;
  int rc;
  /* until a decoder delimits an item, a rejection is about the message */
  vg__set_item(c, 0, len > UINT32_MAX ? UINT32_MAX : len);
  if (len > c->max_bytes) {
    rc = vg__reject(c, out, VG_REJECT_OVERSIZE, c->max_bytes);
  } else {
    c->n_scratch = 0;
    switch (c->format) {
    case VG_FORMAT_JSON: rc = vg__decode_json(c, msg, len, now_ns, out); break;
    case VG_FORMAT_INFLUX: rc = vg__decode_influx(c, msg, len, now_ns, out); break;
    default: rc = vg__decode_senml(c, msg, len, now_ns, out); break;
    }
  }
  if (rc != 0)
    return rc;
  return out->n_rejects > rejects0 ? VG_EDECODE : 0;
}
