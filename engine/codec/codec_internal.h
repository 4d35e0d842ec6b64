/*
 * Internal: what the three decoders (json.c, influx.c, senml.c) share with
 * codec.c: the codec state, batch appends, canonical series keys, number and
 * time parsing.
 */
#ifndef VIGIE_CODEC_INTERNAL_H
#define VIGIE_CODEC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Only jsmn's token layout (jsmntok_t with parent links): the tokenizer is
 * vg__json_tokenize, stricter than jsmn_parse. */
#define JSMN_HEADER
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "vigie/codec.h"
#include "vigie/serieskey.h"

struct vg__leaf {
  uint32_t name_off, name_len; /* in vg_codec.names */
  int tok;
};

struct vg_codec {
  enum vg_codec_format format;
  size_t max_bytes;
  /* JSON mapping: configured paths, and the names they produce */
  char *time_key;
  enum vg_time_format time_format;
  struct vg_tz *tz; /* NULL: UTC */
  char *entity_key, *entity_name;
  char **tag_keys, **tag_names;
  size_t n_tag_keys;
  char **fields, **field_names;
  size_t n_fields;
  char *count_as; /* sanitised metric name */
  /* lengths of the strings above, for the per-leaf comparisons */
  size_t time_key_len, entity_key_len, entity_name_len, distinct_key_len, count_as_len;
  size_t *tag_key_len, *tag_name_len, *field_len, *field_name_len;
  char *distinct_key;
  int64_t prec_mul; /* line protocol: ns per timestamp unit */

  /* the item being decoded (codec.h, "Items"): vg__emit and vg__reject
   * stamp it on what they append; the whole message until a decoder has
   * delimited an item */
  uint32_t item_off, item_len;

  /* scratch, reused from message to message */
  jsmntok_t *toks;
  size_t cap_toks;
  struct vg_series_tag *tags;
  size_t cap_tags;
  char *scratch; /* unescaped strings */
  size_t n_scratch, cap_scratch;
  char *suffix; /* the canonical {tags} part of the current keys */
  size_t n_suffix, cap_suffix;
  char *name; /* a metric name being assembled */
  size_t cap_name;
  /* json.c: the current object's dotted path and what the walk found */
  char *path;
  size_t cap_path;
  int *field_tok, *tag_tok; /* per configured field / tag: token or -1 */
  struct vg__leaf *leaves;  /* default mode: every numeric leaf */
  size_t n_leaves, cap_leaves;
  char *names; /* their names */
  size_t n_names, cap_names;
};

/* 1 if s[0..n) is plain ASCII without a backslash: nothing to unescape and
 * valid UTF-8, the common case of keys and values, checked in one pass. */
static inline int vg__plain_ascii(const char *s, size_t n) {
  unsigned char acc = 0;
  int bs = 0;
  for (size_t i = 0; i < n; i++) {
    acc |= (unsigned char)s[i];
    bs |= s[i] == '\\';
  }
  return acc < 0x80 && !bs;
}

/* Makes msg[off..off+len) the current item. Messages are at most INT32_MAX
 * bytes once past the oversize check, so the casts are exact. */
static inline void vg__set_item(struct vg_codec *c, size_t off, size_t len) {
  c->item_off = (uint32_t)off;
  c->item_len = (uint32_t)len;
}

/* Appends a rejection at message offset off about one reading of the current
 * item, msg[field_off..field_off+field_len): the range the reading would
 * have as an event, or an empty range for a reading without bytes. */
int vg__reject_reading(struct vg_codec *c, struct vg_event_batch *b,
                       enum vg_reject_reason r, size_t off, size_t field_off,
                       size_t field_len);

/* Appends a rejection at message offset off about the whole current item
 * (its field range is the item's: codec.h, "Fields"). */
static inline int vg__reject(struct vg_codec *c, struct vg_event_batch *b,
                             enum vg_reject_reason r, size_t off) {
  return vg__reject_reading(c, b, r, off, c->item_off, c->item_len);
}

/* Appends an event of the current item, its reading being the message bytes
 * [field_off, field_off + field_len), whose key is metric name (sanitised
 * on the way) followed by the codec's current suffix; distinct may be
 * NULL. */
int vg__emit(struct vg_codec *c, struct vg_event_batch *b, size_t field_off,
             size_t field_len, const char *metric, size_t mlen, int64_t t_ns, double v,
             const char *distinct, size_t dlen);

/* Sorts tags[0..n) and writes c->suffix ("" when n == 0). */
int vg__build_suffix(struct vg_codec *c, struct vg_series_tag *tags, size_t n);

/* Number text to double: 0, -1 (not a number), -2 (NaN or infinite).
 * Accepts [+-]digits[.digits][(e|E)[+-]digits], ".5", "5."; and names NaN
 * and Infinity (any case) only to answer -2. */
int vg__parse_double(const char *s, size_t n, double *out);

/* Decimal text (sign, digits, optional fraction, optional exponent) times
 * unit_ns, exactly when no exponent: 0, -1 not a number, -2 out of range. */
int vg__decimal_to_ns(const char *s, size_t n, int64_t unit_ns, int64_t *out);

/* Unescapes JSON string body s[0..n) into c->scratch; *out points into the
 * scratch (stable until the scratch grows: callers use offsets while
 * collecting and resolve pointers after). Returns 0 or -1 on a bad escape /
 * lone surrogate, -ENOMEM. *off receives the scratch offset. */
int vg__json_unescape(struct vg_codec *c, const char *s, size_t n, size_t *off,
                      size_t *outlen);

int vg__decode_json(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                    struct vg_event_batch *b);
int vg__decode_influx(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                      struct vg_event_batch *b);
int vg__decode_senml(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                     struct vg_event_batch *b);

/* Tokenizes msg into c->toks (growing it), in jsmn's layout: in document
 * order, strings without their quotes, containers from bracket to bracket,
 * size = members / elements / 1 for a key, parent links. msg must be one
 * object or array, blanks around it, in JSON's grammar with codec.h's two
 * leniencies. Returns the token count, -1 with *why (not_json, truncated)
 * and *off (the first byte that breaks the grammar; len when the text ends
 * too early) set, or -ENOMEM. */
int vg__json_tokenize(struct vg_codec *c, const char *msg, size_t len,
                      enum vg_reject_reason *why, size_t *off);

/* Offset of a token in its message: a string's opening quote. */
static inline size_t vg__tok_off(const jsmntok_t *t) {
  return (size_t)(t->type == JSMN_STRING ? t->start - 1 : t->start);
}

/* End of a token in its message, exclusive: past a string's closing quote.
 * [vg__tok_off, vg__tok_end) is the whole value. */
static inline size_t vg__tok_end(const jsmntok_t *t) {
  return (size_t)(t->type == JSMN_STRING ? t->end + 1 : t->end);
}

/* Index of the token after the subtree rooted at token i. */
int vg__json_skip(const jsmntok_t *t, int i);

/* Decodes one JSON item: the object at token j of t (c->toks). */
typedef int (*vg__json_item_fn)(struct vg_codec *c, const char *msg, const jsmntok_t *t,
                                int j, struct vg_event_batch *b, void *ctx);

/* The frame of the JSON formats: tokenizes msg (growing the scratch so that
 * unescaped strings never move it) and hands each item to fn, set as the
 * current item (vg__set_item) -- the message's one object, or each value of
 * its array in order, a value that is not an object being a not_object
 * reject of its own. A message that does not tokenize, or an empty array, is
 * one reject about the whole message. 0, -ENOMEM, or fn's first non-zero. */
int vg__json_items(struct vg_codec *c, const char *msg, size_t len,
                   struct vg_event_batch *b, vg__json_item_fn fn, void *ctx);

#endif
