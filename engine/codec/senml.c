/*
 * The SenML codec (RFC 8428, JSON representation): an array of records whose
 * base fields (bn, bt, bu, bv) carry over to the records after them. A
 * record with a numeric value v becomes one event:
 *   - metric: the record name n (when n is empty, the last ':' or '/'
 *     separated segment of the base name);
 *   - tags: device = the base name without its trailing separator (one of
 *     ':', '/', '.', '-', '_'), unit = u, else bu;
 *   - time: bt + t seconds, exact to the nanosecond; a sum below 2^28 s is
 *     relative to the message's arrival time (RFC 8428 section 4.5.3);
 *   - value: bv + v.
 * Records with only vs, vb, vd or s carry no number and are ignored, as
 * the issue asks; a record with no value at all is rejected as no_fields.
 * A single record object outside an array is accepted too.
 */
#include <errno.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "vigie/array.h"
#include "vigie/utf8.h"
#include "vigie/error.h"

struct str {
  const char *p;
  size_t n;
};

/* A string token's bytes, unescaped into the scratch (which the caller sized
 * for the whole message so it never moves); 0, -1 (not a string or bad
 * escape), -ENOMEM. */
static int str_of(struct vg_codec *c, const char *msg, const jsmntok_t *t,
                  struct str *out) {
  if (t->type != JSMN_STRING)
    return -1;
  out->p = msg + t->start;
  out->n = (size_t)(t->end - t->start);
  if (memchr(out->p, '\\', out->n)) {
    size_t off;
    int r = vg__json_unescape(c, out->p, out->n, &off, &out->n);
    if (r != 0)
      return r;
    out->p = c->scratch + off;
  }
  return 0;
}

static int is_num(const char *msg, const jsmntok_t *t) {
  char ch = msg[t->start];
  return t->type == JSMN_PRIMITIVE && (ch == '-' || (ch >= '0' && ch <= '9'));
}

static int key_is(const char *msg, const jsmntok_t *k, const char *lit) {
  size_t n = strlen(lit);
  return (size_t)(k->end - k->start) == n && memcmp(msg + k->start, lit, n) == 0;
}

struct base {
  struct str bn, bu;
  int64_t bt_ns;
  double bv;
};

static int is_sep(char ch) {
  return ch == ':' || ch == '/' || ch == '.' || ch == '-' || ch == '_';
}

/* Decodes record token rec, the current item, updating the base fields. */
static int record(struct vg_codec *c, const char *msg, const jsmntok_t *t, int rec,
                  int64_t now_ns, struct base *base, struct vg_event_batch *b) {
  size_t off = (size_t)t[rec].start;
  struct str n = {"", 0}, u = {"", 0};
  int64_t t_ns = 0;
  double v = 0;
  int has_v = 0, has_other = 0, r;
  int j = rec + 1;
  for (int m = 0; m < t[rec].size; m++, j = vg__json_skip(t, j + 1)) {
    const jsmntok_t *k = &t[j], *val = &t[j + 1];
    size_t vo = vg__tok_off(val);
    if (key_is(msg, k, "bn") || key_is(msg, k, "n") || key_is(msg, k, "bu") ||
        key_is(msg, k, "u")) {
      struct str s;
      r = str_of(c, msg, val, &s);
      if (r == -ENOMEM)
        return r;
      if (r != 0)
        return vg__reject(c, b, VG_REJECT_BAD_SYNTAX, vo);
      if (!vg_utf8_ok(s.p, s.n))
        return vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY, vo);
      if (key_is(msg, k, "bn"))
        base->bn = s;
      else if (key_is(msg, k, "n"))
        n = s;
      else if (key_is(msg, k, "bu"))
        base->bu = s;
      else
        u = s;
    } else if (key_is(msg, k, "bt") || key_is(msg, k, "t")) {
      int64_t ns;
      if (!is_num(msg, val))
        return vg__reject(c, b, VG_REJECT_UNPARSABLE_TIME, vo);
      r = vg__decimal_to_ns(msg + val->start, (size_t)(val->end - val->start), 1000000000,
                            &ns);
      if (r != 0)
        return vg__reject(
            c, b, r == -2 ? VG_REJECT_TIME_OUT_OF_RANGE : VG_REJECT_UNPARSABLE_TIME, vo);
      if (key_is(msg, k, "bt"))
        base->bt_ns = ns;
      else
        t_ns = ns;
    } else if (key_is(msg, k, "bv") || key_is(msg, k, "v")) {
      double d;
      if (!is_num(msg, val))
        return vg__reject(c, b, VG_REJECT_NON_NUMERIC_VALUE, vo);
      r = vg__parse_double(msg + val->start, (size_t)(val->end - val->start), &d);
      if (r != 0)
        return vg__reject(
            c, b, r == -2 ? VG_REJECT_NAN_OR_INF : VG_REJECT_NON_NUMERIC_VALUE, vo);
      if (key_is(msg, k, "bv")) {
        base->bv = d;
      } else {
        v = d;
        has_v = 1;
      }
    } else if (key_is(msg, k, "vs") || key_is(msg, k, "vb") || key_is(msg, k, "vd") ||
               key_is(msg, k, "s")) {
      has_other = 1;
    }
    /* bver, ut and unknown labels: ignored */
  }
  if (!has_v)
    return has_other ? 0 : vg__reject(c, b, VG_REJECT_NO_FIELDS, off);

  /* metric and device */
  struct str metric = n, dev = base->bn;
  if (dev.n > 0 && is_sep(dev.p[dev.n - 1]))
    dev.n--;
  if (metric.n == 0) {
    size_t e = dev.n;
    while (e > 0 && dev.p[e - 1] != ':' && dev.p[e - 1] != '/')
      e--;
    metric.p = dev.p + e;
    metric.n = dev.n - e;
    dev.n = e;
    while (dev.n > 0 && is_sep(dev.p[dev.n - 1]))
      dev.n--;
    if (metric.n == 0)
      return vg__reject(c, b, VG_REJECT_MISSING_NAME, off);
  }
  int64_t tot;
  if (__builtin_add_overflow(base->bt_ns, t_ns, &tot))
    return vg__reject(c, b, VG_REJECT_TIME_OUT_OF_RANGE, off);
  if (tot < (INT64_C(1) << 28) * INT64_C(1000000000) &&
      __builtin_add_overflow(now_ns, tot, &tot))
    return vg__reject(c, b, VG_REJECT_TIME_OUT_OF_RANGE, off);
  double value = base->bv + v;
  if (value - value != 0)
    return vg__reject(c, b, VG_REJECT_NAN_OR_INF, off);
  struct vg_series_tag tags[2];
  size_t nt = 0;
  if (dev.n)
    tags[nt++] = (struct vg_series_tag){"device", dev.p, 6, (uint32_t)dev.n};
  struct str unit = u.n ? u : base->bu;
  if (unit.n)
    tags[nt++] = (struct vg_series_tag){"unit", unit.p, 4, (uint32_t)unit.n};
  r = vg__build_suffix(c, tags, nt);
  if (r != 0)
    return r;
  /* a record is one reading */
  return vg__emit(c, b, c->item_off, c->item_len, metric.p, metric.n, tot, value, NULL,
                  0);
}

/* The records of one message share their base fields. */
struct senml_pack {
  int64_t now_ns;
  struct base base;
};

static int senml_item(struct vg_codec *c, const char *msg, const jsmntok_t *t, int j,
                      struct vg_event_batch *b, void *ctx) {
  struct senml_pack *p = ctx;
  return record(c, msg, t, j, p->now_ns, &p->base, b);
}

int vg__decode_senml(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                     struct vg_event_batch *b) {
  struct senml_pack p = {now_ns, {{"", 0}, {"", 0}, 0, 0}};
  return vg__json_items(c, msg, len, b, senml_item, &p);
}
