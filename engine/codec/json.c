/*
 * The JSON codec: one object per message, or an array of objects, mapped to
 * events the way Telegraf's JSON parser maps them (time_key, time_format,
 * time_zone, entity_key, tag_keys, fields, count_as, distinct_key, dotted
 * paths into nested objects). vg__json_tokenize turns the message into the
 * codec's reusable token array; each object is then walked once, its leaves
 * matched against the configured paths, and its events written with one
 * canonical tag suffix shared by all of them. Arrays inside objects are not
 * descended.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec_internal.h"
#include "vigie/array.h"
#include "vigie/utf8.h"
#include "vigie/error.h"

#define MAX_DEPTH 32

struct walk {
  const char *msg;
  const jsmntok_t *t;
  int time_tok, entity_tok, distinct_tok;
  int bad_key; /* offset of a key that is not UTF-8, or -1 */
};

static inline int path_eq(const char *path, size_t n, const char *cfg, size_t cfglen) {
  return cfg && cfglen == n && memcmp(path, cfg, n) == 0;
}

static int is_number_start(char ch) {
  return ch == '-' || (ch >= '0' && ch <= '9');
}

static int leaf(struct vg_codec *c, struct walk *w, const char *path, size_t plen,
                int tok) {
  if (path_eq(path, plen, c->time_key, c->time_key_len)) {
    w->time_tok = tok;
    return 0;
  }
  if (path_eq(path, plen, c->entity_key, c->entity_key_len)) {
    w->entity_tok = tok;
    return 0;
  }
  if (path_eq(path, plen, c->distinct_key, c->distinct_key_len)) {
    w->distinct_tok = tok;
    return 0;
  }
  for (size_t i = 0; i < c->n_tag_keys; i++)
    if (path_eq(path, plen, c->tag_keys[i], c->tag_key_len[i])) {
      c->tag_tok[i] = tok;
      return 0;
    }
  if (c->n_fields) {
    for (size_t i = 0; i < c->n_fields; i++)
      if (path_eq(path, plen, c->fields[i], c->field_len[i])) {
        c->field_tok[i] = tok;
        return 0;
      }
    return 0;
  }
  /* default: every JSON number is a field */
  if (w->t[tok].type != JSMN_PRIMITIVE || !is_number_start(w->msg[w->t[tok].start]))
    return 0;
  if (VG_GROW(c->leaves, c->n_leaves + 1, c->cap_leaves) != 0 ||
      VG_GROW(c->names, c->n_names + plen, c->cap_names) != 0)
    return -ENOMEM;
  struct vg__leaf *l = &c->leaves[c->n_leaves++];
  l->name_off = (uint32_t)c->n_names;
  l->name_len = (uint32_t)plen;
  l->tok = tok;
  for (size_t i = 0; i < plen; i++)
    c->names[c->n_names++] = path[i] == '.' ? '_' : path[i];
  return 0;
}

/* Walks object token i whose path so far is c->path[0..plen); returns 0 or
 * -ENOMEM. */
static int walk_object(struct vg_codec *c, struct walk *w, int i, size_t plen,
                       int depth) {
  const jsmntok_t *t = w->t;
  int j = i + 1;
  for (int m = 0; m < t[i].size; m++) {
    const jsmntok_t *k = &t[j];
    int val = j + 1;
    const char *key = w->msg + k->start;
    size_t klen = (size_t)(k->end - k->start);
    int plain = vg__plain_ascii(key, klen);
    if (!plain && memchr(key, '\\', klen)) {
      size_t off, n;
      int r = vg__json_unescape(c, key, klen, &off, &n);
      if (r == -ENOMEM)
        return r;
      if (r != 0) {
        if (w->bad_key < 0)
          w->bad_key = (int)vg__tok_off(k);
        j = vg__json_skip(t, val);
        continue;
      }
      key = c->scratch + off;
      klen = n;
    }
    if (!plain && !vg_utf8_ok(key, klen)) {
      if (w->bad_key < 0)
        w->bad_key = (int)vg__tok_off(k);
      j = vg__json_skip(t, val);
      continue;
    }
    size_t np = plen + (plen ? 1 : 0) + klen;
    const char *path = key; /* a top-level key is its own path */
    if (plen || t[val].type == JSMN_OBJECT) {
      if (VG_GROW(c->path, np + 1, c->cap_path) != 0)
        return -ENOMEM;
      if (plen)
        c->path[plen] = '.';
      memcpy(c->path + np - klen, key, klen);
      path = c->path;
    }
    /* containers are leaves too, so that a mapped key holding one is
     * reported (non_numeric_value, unparsable_time) rather than missing */
    int r = leaf(c, w, path, np, val);
    if (r == 0 && t[val].type == JSMN_OBJECT && depth < MAX_DEPTH)
      r = walk_object(c, w, val, np, depth + 1);
    if (r != 0)
      return r;
    j = vg__json_skip(t, val);
  }
  return 0;
}

/* A token's text; strings are unescaped into the scratch. Returns 0, -1 (bad
 * escape), -ENOMEM. */
static int tok_text(struct vg_codec *c, const char *msg, const jsmntok_t *t,
                    const char **s, size_t *n, size_t *scratch_off) {
  *s = msg + t->start;
  *n = (size_t)(t->end - t->start);
  *scratch_off = SIZE_MAX;
  if (t->type == JSMN_STRING && !vg__plain_ascii(*s, *n) && memchr(*s, '\\', *n)) {
    size_t off;
    int r = vg__json_unescape(c, *s, *n, &off, n);
    if (r != 0)
      return r;
    *s = c->scratch + off;
    *scratch_off = off;
  }
  return 0;
}

/* The text of a scalar token (unescaped): 0, -1 for an object or an array
 * or a string that does not unescape, -ENOMEM. */
static int scalar_text(struct vg_codec *c, const char *msg, const jsmntok_t *t,
                       const char **s, size_t *n) {
  size_t so;
  if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)
    return -1;
  int r = tok_text(c, msg, t, s, n, &so);
  return r == 0 || r == -ENOMEM ? r : -1;
}

static int json_time(struct vg_codec *c, const char *msg, const jsmntok_t *t, int64_t *ns,
                     enum vg_reject_reason *why) {
  const char *s;
  size_t n;
  *why = VG_REJECT_UNPARSABLE_TIME;
  int r = scalar_text(c, msg, t, &s, &n);
  if (r != 0)
    return r;
  if (t->type == JSMN_PRIMITIVE && (s[0] == 'n' || s[0] == 't' || s[0] == 'f')) {
    *why = s[0] == 'n' ? VG_REJECT_MISSING_TIME : VG_REJECT_UNPARSABLE_TIME;
    return -1;
  }
  int64_t unit;
  switch (c->time_format) {
  case VG_TIME_UNIX: unit = 1000000000; break;
  case VG_TIME_UNIX_MS: unit = 1000000; break;
  case VG_TIME_UNIX_US: unit = 1000; break;
  case VG_TIME_UNIX_NS: unit = 1; break;
  case VG_TIME_RFC3339:
    if (t->type != JSMN_STRING)
      return -1;
    return vg_codec_parse_rfc3339(s, n, c->tz, ns, why) == 0 ? 0 : -1;
  default: { /* auto */
    size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0, d = 0;
    while (i + d < n && s[i + d] >= '0' && s[i + d] <= '9')
      d++;
    /* digit strings count as numbers; "2024-..." does not */
    int numeric = t->type == JSMN_PRIMITIVE || (d > 0 && (i + d == n || s[i + d] == '.'));
    if (!numeric)
      return vg_codec_parse_rfc3339(s, n, c->tz, ns, why) == 0 ? 0 : -1;
    unit = d <= 11 ? 1000000000 : d <= 14 ? 1000000 : d <= 17 ? 1000 : 1;
  }
  }
  r = vg__decimal_to_ns(s, n, unit, ns);
  if (r == -2)
    *why = VG_REJECT_TIME_OUT_OF_RANGE;
  return r == 0 ? 0 : -1;
}

/* A field's value; 0 or -1 with *why. */
static int json_value(struct vg_codec *c, const char *msg, const jsmntok_t *t, double *v,
                      enum vg_reject_reason *why) {
  const char *s;
  size_t n;
  *why = VG_REJECT_NON_NUMERIC_VALUE;
  int r = scalar_text(c, msg, t, &s, &n);
  if (r != 0)
    return r;
  if (t->type == JSMN_PRIMITIVE) {
    if (n == 4 && memcmp(s, "true", 4) == 0) {
      *v = 1;
      return 0;
    }
    if (n == 5 && memcmp(s, "false", 5) == 0) {
      *v = 0;
      return 0;
    }
    if (n == 4 && memcmp(s, "null", 4) == 0) {
      *why = VG_REJECT_MISSING_FIELD;
      return -1;
    }
  } else {
    while (n > 0 && (s[0] == ' ' || s[0] == '\t'))
      s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
  }
  r = vg__parse_double(s, n, v);
  if (r == -2)
    *why = VG_REJECT_NAN_OR_INF;
  return r == 0 ? 0 : -1;
}

struct tagref {
  size_t off; /* in msg, or in scratch when in_scratch */
  size_t len;
  int in_scratch;
};

/* The text of a tag-like token (tag, entity, distinct key): strings
 * unescaped, other primitives literally; null and containers -> absent. */
static int tag_ref(struct vg_codec *c, const char *msg, const jsmntok_t *t,
                   struct tagref *ref) {
  ref->len = 0;
  ref->in_scratch = 0;
  if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)
    return 0;
  const char *s;
  size_t n, so;
  int r = tok_text(c, msg, t, &s, &n, &so);
  if (r != 0)
    return r == -ENOMEM ? r : 1;
  if (t->type == JSMN_PRIMITIVE && n == 4 && memcmp(s, "null", 4) == 0)
    return 0;
  if (!vg__plain_ascii(s, n) && !vg_utf8_ok(s, n))
    return 1;
  ref->in_scratch = so != SIZE_MAX;
  ref->off = ref->in_scratch ? so : (size_t)t->start;
  ref->len = n;
  return 0;
}

static const char *ref_ptr(struct vg_codec *c, const char *msg, const struct tagref *r) {
  return r->in_scratch ? c->scratch + r->off : msg + r->off;
}

/* The reading of value token val (codec.h, "Fields"): from its key's
 * opening quote (the key token comes right before its value) to the end of
 * the value. */
static inline void reading(const jsmntok_t *t, int val, size_t *off, size_t *len) {
  *off = vg__tok_off(&t[val - 1]);
  *len = vg__tok_end(&t[val]) - *off;
}

/* Decodes object token obj, the current item. */
static int decode_object(struct vg_codec *c, const char *msg, const jsmntok_t *t, int obj,
                         struct vg_event_batch *b) {
  struct walk w = {.msg = msg,
                   .t = t,
                   .time_tok = -1,
                   .entity_tok = -1,
                   .distinct_tok = -1,
                   .bad_key = -1};
  for (size_t i = 0; i < c->n_fields; i++)
    c->field_tok[i] = -1;
  for (size_t i = 0; i < c->n_tag_keys; i++)
    c->tag_tok[i] = -1;
  c->n_leaves = c->n_names = 0;
  size_t obj_off = (size_t)t[obj].start;
  int r = walk_object(c, &w, obj, 0, 0);
  if (r != 0)
    return r;
  if (w.bad_key >= 0)
    return vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY, (size_t)w.bad_key);
  if (w.time_tok < 0)
    return vg__reject(c, b, VG_REJECT_MISSING_TIME, obj_off);
  int64_t ns;
  enum vg_reject_reason why;
  r = json_time(c, msg, &t[w.time_tok], &ns, &why);
  if (r == -ENOMEM)
    return r;
  if (r != 0)
    return vg__reject(c, b, why, vg__tok_off(&t[w.time_tok]));

  /* tags: collect as offsets (the scratch may move), then resolve */
  size_t ntags = c->n_tag_keys + 1;
  if (VG_GROW(c->tags, ntags, c->cap_tags) != 0)
    return -ENOMEM;
  struct tagref refs[64], dref = {0, 0, 0};
  struct tagref *rp = ntags <= 64 ? refs : malloc(ntags * sizeof *rp);
  if (!rp)
    return -ENOMEM;
  size_t nt = 0;
  for (size_t i = 0; i <= c->n_tag_keys; i++) {
    int tok = i < c->n_tag_keys ? c->tag_tok[i] : w.entity_tok;
    rp[i].len = 0;
    if (tok < 0)
      continue;
    r = tag_ref(c, msg, &t[tok], &rp[i]);
    if (r != 0) {
      if (rp != refs)
        free(rp);
      return r < 0 ? r
                   : vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY, vg__tok_off(&t[tok]));
    }
  }
  if (w.distinct_tok >= 0) {
    r = tag_ref(c, msg, &t[w.distinct_tok], &dref);
    if (r != 0) {
      if (rp != refs)
        free(rp);
      return r < 0 ? r
                   : vg__reject(c, b, VG_REJECT_INVALID_UTF8_KEY,
                                vg__tok_off(&t[w.distinct_tok]));
    }
  }
  for (size_t i = 0; i <= c->n_tag_keys; i++) {
    if (rp[i].len == 0)
      continue;
    int ent = i == c->n_tag_keys;
    c->tags[nt].name = ent ? c->entity_name : c->tag_names[i];
    c->tags[nt].name_len = (uint32_t)(ent ? c->entity_name_len : c->tag_name_len[i]);
    c->tags[nt].value = ref_ptr(c, msg, &rp[i]);
    c->tags[nt].value_len = (uint32_t)rp[i].len;
    nt++;
  }
  if (rp != refs)
    free(rp);
  r = vg__build_suffix(c, c->tags, nt);
  if (r != 0)
    return r;
  const char *dist = w.distinct_tok >= 0 && dref.len ? ref_ptr(c, msg, &dref) : NULL;
  size_t dlen = dref.len;
  /* json_value() may unescape into the scratch and move it: copy the
   * distinct key out of the way first when it lives there */
  char dbuf[256];
  char *dheap = NULL;
  if (dist && dref.in_scratch) {
    char *d = dlen <= sizeof dbuf ? dbuf : (dheap = malloc(dlen));
    if (!d)
      return -ENOMEM;
    memcpy(d, dist, dlen);
    dist = d;
  }

  size_t events0 = b->n_events, rejects0 = b->n_rejects;
  double v;
  size_t fo, fl;
  r = 0;
  if (c->n_fields) {
    for (size_t i = 0; i < c->n_fields && r == 0; i++) {
      int tok = c->field_tok[i];
      if (tok < 0) { /* no bytes: an empty reading, the others still count */
        r = vg__reject_reading(c, b, VG_REJECT_MISSING_FIELD, obj_off, c->item_off, 0);
        continue;
      }
      reading(t, tok, &fo, &fl);
      int vr = json_value(c, msg, &t[tok], &v, &why);
      if (vr == -ENOMEM)
        r = vr;
      else if (vr != 0)
        r = vg__reject_reading(c, b, why, vg__tok_off(&t[tok]), fo, fl);
      else
        r = vg__emit(c, b, fo, fl, c->field_names[i], c->field_name_len[i], ns, v, dist,
                     dlen);
    }
  } else {
    for (size_t i = 0; i < c->n_leaves && r == 0; i++) {
      int tok = c->leaves[i].tok;
      const jsmntok_t *tk = &t[tok];
      int pr = vg__parse_double(msg + tk->start, (size_t)(tk->end - tk->start), &v);
      reading(t, tok, &fo, &fl);
      if (c->leaves[i].name_len == 0) /* the key "" */
        r = vg__reject_reading(c, b, VG_REJECT_MISSING_NAME, vg__tok_off(tk), fo, fl);
      else if (pr != 0)
        r = vg__reject_reading(
            c, b, pr == -2 ? VG_REJECT_NAN_OR_INF : VG_REJECT_NON_NUMERIC_VALUE,
            vg__tok_off(tk), fo, fl);
      else
        r = vg__emit(c, b, fo, fl, c->names + c->leaves[i].name_off,
                     c->leaves[i].name_len, ns, v, dist, dlen);
    }
  }
  if (r == 0 && c->count_as) /* the object is the reading */
    r = vg__emit(c, b, c->item_off, c->item_len, c->count_as, c->count_as_len, ns, 1.0,
                 dist, dlen);
  free(dheap);
  if (r == 0 && b->n_events == events0 && b->n_rejects == rejects0)
    r = vg__reject(c, b, VG_REJECT_NO_FIELDS, obj_off);
  return r;
}

static int json_item(struct vg_codec *c, const char *msg, const jsmntok_t *t, int j,
                     struct vg_event_batch *b, void *ctx) {
  (void)ctx;
  return decode_object(c, msg, t, j, b);
}

int vg__decode_json(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                    struct vg_event_batch *b) {
  (void)now_ns;
  return vg__json_items(c, msg, len, b, json_item, NULL);
}
