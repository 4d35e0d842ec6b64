/*
 * The InfluxDB line-protocol codec, as Telegraf writes it to Kafka:
 *
 *   measurement[,tag=value...] field=value[,field=value...] [timestamp]
 *
 * one line per reading group, any number of lines per message, '#' comment
 * lines and blank lines skipped. Escapes: '\,' and '\ ' in the measurement;
 * '\,', '\=', '\ ' in tag keys, tag values and field keys; '\"' and '\\' in
 * string field values. Field values: float, integer (12i), unsigned (12u),
 * boolean (t, true, f, false in any of the documented cases; 1/0), string
 * (ignored). The timestamp, optional, is an integer in the codec's precision;
 * a line without one takes the message's arrival time. The series of field f
 * of measurement m is m_f{tags}.
 *
 * A line that does not parse is rejected as bad_syntax (offset of the
 * problem) and decoding goes on at the next line; a NaN/Inf field value
 * rejects only that field.
 */
#include <errno.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "vigie/array.h"
#include "vigie/utf8.h"
#include "vigie/error.h"

struct field {
  const char *name;
  uint32_t nlen;
  uint32_t off;      /* where its value starts */
  uint32_t key, end; /* its key=value bytes, the reading [key, end) */
  double v;
  int nan;
};

/* Reads an escapable token s[*i..) up to one of the stop bytes (unescaped),
 * end of line or end of input. Backslash escapes of the stop bytes (and of
 * '\\' where allowed) are removed into the scratch, which has room for the
 * whole message. */
static inline int in_set(char ch, const char *set) {
  /* sets are ", " or ",= ": cheaper than strchr in the per-byte loop */
  return ch == set[0] || ch == set[1] || (set[1] && set[2] && ch == set[2]);
}

static void token(struct vg_codec *c, const char *s, size_t len, size_t *i,
                  const char *stops, const char *escapable, const char **out,
                  size_t *outlen) {
  size_t p = *i, start = p;
  int esc = 0;
  while (p < len && s[p] != '\n') {
    if (s[p] == '\\' && p + 1 < len && s[p + 1] != '\n') {
      esc = 1;
      p += 2;
      continue;
    }
    if (in_set(s[p], stops))
      break;
    p++;
  }
  *i = p;
  if (!esc) {
    *out = s + start;
    *outlen = p - start;
    return;
  }
  char *d = c->scratch + c->n_scratch, *d0 = d;
  for (size_t k = start; k < p; k++) {
    if (s[k] == '\\' && k + 1 < p && (in_set(s[k + 1], escapable) || s[k + 1] == '\\'))
      k++;
    *d++ = s[k];
  }
  *out = d0;
  *outlen = (size_t)(d - d0);
  c->n_scratch += *outlen;
}

static int parse_i64(const char *s, size_t n, int64_t *out) {
  size_t i = 0;
  int neg = 0;
  if (n > 0 && (s[0] == '-' || s[0] == '+'))
    neg = s[i++] == '-';
  if (i == n)
    return -1;
  uint64_t v = 0;
  for (; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v > (UINT64_MAX - 9) / 10)
      return -2;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  if (neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX)
    return -2;
  *out = neg ? (int64_t)(0 - v) : (int64_t)v;
  return 0;
}

/* A field value s[0..n): 0 with *v, 1 for a string (ignored), -1 bad syntax,
 * -2 NaN/Inf. */
static int field_value(const char *s, size_t n, double *v) {
  if (n == 0)
    return -1;
  switch (s[0]) {
  case 't':
  case 'T':
    if ((n == 1) || (n == 4 && (memcmp(s, "true", 4) == 0 || memcmp(s, "True", 4) == 0 ||
                                memcmp(s, "TRUE", 4) == 0))) {
      *v = 1;
      return 0;
    }
    return -1;
  case 'f':
  case 'F':
    if ((n == 1) ||
        (n == 5 && (memcmp(s, "false", 5) == 0 || memcmp(s, "False", 5) == 0 ||
                    memcmp(s, "FALSE", 5) == 0))) {
      *v = 0;
      return 0;
    }
    return -1;
  default: break;
  }
  char last = s[n - 1];
  if (last == 'i' || last == 'u') {
    int64_t iv;
    if (last == 'u') {
      uint64_t u = 0;
      if (n < 2)
        return -1;
      for (size_t k = 0; k + 1 < n; k++) {
        if (s[k] < '0' || s[k] > '9' || u > (UINT64_MAX - 9) / 10)
          return -1;
        u = u * 10 + (uint64_t)(s[k] - '0');
      }
      *v = (double)u;
      return 0;
    }
    if (parse_i64(s, n - 1, &iv) != 0)
      return -1;
    *v = (double)iv;
    return 0;
  }
  return vg__parse_double(s, n, v);
}

static size_t next_line(const char *s, size_t len, size_t i) {
  const char *nl = memchr(s + i, '\n', len - i);
  return nl ? (size_t)(nl - s) + 1 : len;
}

/* Makes the line that starts at bol and whose decoding resumes at next (past
 * its '\n', or the end of the message) the current item: s[bol..next)
 * without its "\n" or "\r\n". */
static void line_item(struct vg_codec *c, const char *s, size_t bol, size_t next) {
  size_t e = next;
  if (e > bol && s[e - 1] == '\n') {
    e--;
    if (e > bol && s[e - 1] == '\r')
      e--;
  }
  vg__set_item(c, bol, e - bol);
}

int vg__decode_influx(struct vg_codec *c, const char *s, size_t len, int64_t now_ns,
                      struct vg_event_batch *b) {
  struct field fields[64];
  if (VG_GROW(c->scratch, len + 1, c->cap_scratch) != 0)
    return -ENOMEM;
  size_t i = 0, lines = 0;
  int r = 0;
  while (i < len && r == 0) {
    size_t bol = i; /* the line's first byte: its item starts here */
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
      i++;
    if (i >= len)
      break;
    if (s[i] == '\n' || s[i] == '#') {
      i = next_line(s, len, i);
      continue;
    }
    lines++;
    size_t line0 = i, bad = SIZE_MAX;
    const char *meas;
    size_t mlen;
    token(c, s, len, &i, ", ", ", ", &meas, &mlen);
    if (mlen == 0 || !vg_utf8_ok(meas, mlen)) {
      if (mlen != 0) {
        i = next_line(s, len, i);
        line_item(c, s, bol, i);
        r = vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY, line0);
        continue;
      }
      bad = i;
      goto syntax;
    }
    size_t nt = 0;
    while (i < len && s[i] == ',') {
      i++;
      const char *k, *v;
      size_t kl, vl;
      size_t k0 = i;
      token(c, s, len, &i, ",= ", ",= ", &k, &kl);
      if (kl == 0 || i >= len || s[i] != '=') {
        bad = i;
        goto syntax;
      }
      i++;
      token(c, s, len, &i, ", ", ",= ", &v, &vl);
      if (vl == 0) {
        bad = i;
        goto syntax;
      }
      if (!vg_utf8_ok(k, kl) || !vg_utf8_ok(v, vl)) {
        bad = k0;
        goto badutf8;
      }
      if (VG_GROW(c->tags, nt + 1, c->cap_tags)) {
        r = -ENOMEM;
        break;
      }
      c->tags[nt++] = (struct vg_series_tag){k, v, (uint32_t)kl, (uint32_t)vl};
    }
    if (r != 0)
      break;
    if (i >= len || s[i] != ' ') {
      bad = i;
      goto syntax;
    }
    while (i < len && s[i] == ' ')
      i++;
    size_t nf = 0, nstr = 0;
    for (;;) {
      const char *k;
      size_t kl, k0 = i;
      token(c, s, len, &i, ",= ", ",= ", &k, &kl);
      if (kl == 0 || i >= len || s[i] != '=') {
        bad = i;
        goto syntax;
      }
      if (!vg_utf8_ok(k, kl)) {
        bad = k0;
        goto badutf8;
      }
      i++;
      size_t v0 = i;
      if (i < len && s[i] == '"') { /* string field: skipped */
        i++;
        while (i < len && s[i] != '"')
          i += (s[i] == '\\' && i + 1 < len) ? 2 : 1;
        if (i >= len) {
          bad = v0;
          goto syntax;
        }
        i++;
        nstr++;
      } else {
        while (i < len && s[i] != ',' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r')
          i++;
        double v = 0;
        int fr = field_value(s + v0, i - v0, &v);
        if (fr == -1) {
          bad = v0;
          goto syntax;
        }
        if (nf == sizeof fields / sizeof fields[0]) {
          bad = k0; /* more numeric fields than a reading should carry */
          goto syntax;
        }
        fields[nf++] = (struct field){
            k, (uint32_t)kl, (uint32_t)v0, (uint32_t)k0, (uint32_t)i, v, fr == -2};
      }
      if (i < len && s[i] == ',') {
        i++;
        continue;
      }
      break;
    }
    int64_t ts = now_ns;
    while (i < len && s[i] == ' ')
      i++;
    if (i < len && s[i] != '\n' && s[i] != '\r') {
      size_t t0 = i;
      while (i < len && s[i] != ' ' && s[i] != '\n' && s[i] != '\r')
        i++;
      int64_t raw;
      int pr = parse_i64(s + t0, i - t0, &raw);
      if (pr == -1) {
        bad = t0;
        goto syntax;
      }
      if (pr == -2 || __builtin_mul_overflow(raw, c->prec_mul, &ts)) {
        i = next_line(s, len, i);
        line_item(c, s, bol, i);
        r = vg__reject(c, b, VG_REJECT_TIME_OUT_OF_RANGE, t0);
        continue;
      }
    }
    while (i < len && (s[i] == ' ' || s[i] == '\r' || s[i] == '\t'))
      i++;
    if (i < len && s[i] != '\n') {
      bad = i;
      goto syntax;
    }
    if (i < len)
      i++;
    line_item(c, s, bol, i);
    /* the line parsed: its events */
    r = vg__build_suffix(c, c->tags, nt);
    for (size_t f = 0; f < nf && r == 0; f++) {
      size_t fo = fields[f].key, fl = fields[f].end - fields[f].key;
      if (fields[f].nan) {
        r = vg__reject_reading(c, b, VG_REJECT_NAN_OR_INF, fields[f].off, fo, fl);
        continue;
      }
      size_t n = mlen + 1 + fields[f].nlen;
      if (VG_GROW(c->name, n, c->cap_name) != 0) {
        r = -ENOMEM;
        break;
      }
      memcpy(c->name, meas, mlen);
      c->name[mlen] = '_';
      memcpy(c->name + mlen + 1, fields[f].name, fields[f].nlen);
      r = vg__emit(c, b, fo, fl, c->name, n, ts, fields[f].v, NULL, 0);
    }
    if (r == 0 && nf == 0 && nstr > 0)
      r = vg__reject(c, b, VG_REJECT_NO_FIELDS, line0);
    c->n_scratch = 0;
    continue;
  syntax:
    i = next_line(s, len, i < len ? i : len);
    line_item(c, s, bol, i);
    r = vg__reject(c, b, VG_REJECT_BAD_SYNTAX, bad);
    c->n_scratch = 0;
    continue;
  badutf8:
    i = next_line(s, len, i < len ? i : len);
    line_item(c, s, bol, i);
    r = vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY, bad);
    c->n_scratch = 0;
  }
  if (r == 0 && lines == 0) { /* no line at all: the message */
    vg__set_item(c, 0, len);
    r = vg__reject(c, b, VG_REJECT_NO_FIELDS, 0);
  }
  return r;
}
