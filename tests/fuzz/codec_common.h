/*
 * Shared by the codec fuzz targets: decode one input with a codec and check
 * what every decoder promises (finite values, keys and distinct keys inside
 * the batch, rejection offsets inside the message, known reasons), what
 * codec.h's "Items" and "Fields" promise about the item and field ranges,
 * and that JSON text is rejected exactly when an independent check finds it
 * is not JSON.
 */
#ifndef VIGIE_FUZZ_CODEC_COMMON_H
#define VIGIE_FUZZ_CODEC_COMMON_H

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/codec.h"
#include "vigie/error.h"

struct fuzz_range {
  size_t off, end;
};

/* The input under check: its bytes, and [a, z) without the blanks around. */
struct fuzz_msg {
  enum vg_codec_format f;
  const uint8_t *d;
  size_t size, a, z;
};

static int fuzz_blank(uint8_t ch) {
  return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Two ranges of a batch are equal or disjoint (an item range is never empty
 * in a message that is not). */
static void fuzz_same_or_apart(struct fuzz_range a, struct fuzz_range b) {
  assert((a.off == b.off && a.end == b.end) || a.end <= b.off || b.end <= a.off);
}

/* The item of a JSON or SenML reading: the top-level object, or a value
 * inside the top-level array, between the '[' or ',' before it and the ','
 * or ']' after it (blanks aside). */
static void fuzz_json_element(const struct fuzz_msg *m, struct fuzz_range r) {
  const uint8_t *d = m->d;
  assert(m->a < m->z);
  if (d[m->a] == '{') {
    assert(r.off == m->a && r.end == m->z);
    return;
  }
  assert(d[m->a] == '[' && d[m->z - 1] == ']');
  assert(r.off > m->a && r.end < m->z);
  size_t i = r.off, j = r.end;
  while (fuzz_blank(d[i - 1]))
    i--;
  while (fuzz_blank(d[j]))
    j++;
  assert(d[i - 1] == '[' || d[i - 1] == ',');
  assert(d[j] == ']' || d[j] == ',');
}

/* Independent of the codec: 1 if d[0..n) is a JSON object or array with
 * only blanks around it, under codec.h's two leniencies (a number is any run
 * of letters, digits, '+', '-', '.' from a digit or '-'; strings may hold
 * raw control bytes) and without NUL bytes. Iterative: one byte of stack
 * per open container. */
static int fuzz_json_valid(const uint8_t *d, size_t n) {
  char *stack = malloc(n + 1);
  size_t depth = 0, i = 0;
  int ok = 0;
  /* what may come next: a value, a key, ':' , or ',' / a closing bracket */
  enum { VALUE, KEY, COLON, NEXT } want = VALUE;
  if (!stack)
    abort();
  while (i < n && fuzz_blank(d[i]))
    i++;
  if (i == n || (d[i] != '{' && d[i] != '['))
    goto done;
  for (; i < n; i++) {
    uint8_t ch = d[i];
    if (ch == 0)
      goto done;
    if (fuzz_blank(ch))
      continue;
    if (depth == 0 && want == NEXT)
      goto done; /* something after the top-level value */
    if (want == COLON) {
      if (ch != ':')
        goto done;
      want = VALUE;
      continue;
    }
    if (want == NEXT) {
      if (ch == ',') {
        want = stack[depth - 1] == '{' ? KEY : VALUE;
        continue;
      }
      if (ch != (stack[depth - 1] == '{' ? '}' : ']'))
        goto done;
      depth--;
      continue;
    }
    /* a value, or a key; an empty container may close right away */
    if ((ch == '}' || ch == ']') && depth > 0 && i > 0) {
      size_t k = i - 1;
      while (fuzz_blank(d[k]))
        k--;
      if (d[k] == stack[depth - 1] && ch == (d[k] == '{' ? '}' : ']')) {
        depth--;
        want = NEXT;
        continue;
      }
      goto done;
    }
    if (ch == '"') {
      for (i++; i < n && d[i] != '"'; i++) {
        if (d[i] == 0)
          goto done;
        if (d[i] != '\\')
          continue;
        if (++i == n)
          goto done;
        if (d[i] == 'u') {
          for (int h = 0; h < 4; h++) {
            uint8_t x = ++i < n ? d[i] : 0;
            if (!((x >= '0' && x <= '9') || (x >= 'a' && x <= 'f') ||
                  (x >= 'A' && x <= 'F')))
              goto done;
          }
        } else if (!strchr("\"\\/bfnrt", d[i]) || d[i] == 0) {
          goto done;
        }
      }
      if (i == n)
        goto done;
      want = want == KEY ? COLON : NEXT;
      continue;
    }
    if (want == KEY)
      goto done;
    if (ch == '{' || ch == '[') {
      stack[depth++] = (char)ch;
      want = ch == '{' ? KEY : VALUE;
      continue;
    }
    size_t e = i;
    if (ch == '-' || (ch >= '0' && ch <= '9')) {
      while (e < n && (isalnum(d[e]) || d[e] == '+' || d[e] == '-' || d[e] == '.'))
        e++;
    } else {
      static const char *const lit[] = {"true", "false", "null"};
      for (int k = 0; k < 3 && e == i; k++)
        if (n - i >= strlen(lit[k]) && !memcmp(d + i, lit[k], strlen(lit[k])))
          e = i + strlen(lit[k]);
      if (e == i)
        goto done;
    }
    i = e - 1;
    want = NEXT;
  }
  ok = depth == 0 && want == NEXT;
done:
  free(stack);
  return ok;
}

/* The item of a line: a whole line, without its "\n" or "\r\n". */
static void fuzz_line(const struct fuzz_msg *m, struct fuzz_range r) {
  const uint8_t *d = m->d;
  assert(r.off == 0 || d[r.off - 1] == '\n');
  assert(r.end == m->size || d[r.end] == '\n' ||
         (d[r.end] == '\r' && r.end + 1 < m->size && d[r.end + 1] == '\n'));
  /* the '\r' of a "\r\n" terminator is not the line's */
  assert(r.end == m->size || d[r.end] != '\n' || d[r.end - 1] != '\r');
}

/* An item that carries readings: a line, or an object. */
static void fuzz_item_shape(const struct fuzz_msg *m, struct fuzz_range r) {
  if (m->f == VG_FORMAT_INFLUX) {
    fuzz_line(m, r);
    return;
  }
  fuzz_json_element(m, r);
  assert(m->d[r.off] == '{');
}

static struct fuzz_range fuzz_ev_range(const struct vg_event *e) {
  return (struct fuzz_range){e->item_off, (size_t)e->item_off + e->item_len};
}

static struct fuzz_range fuzz_rj_range(const struct vg_reject *x) {
  return (struct fuzz_range){x->item_off, (size_t)x->item_off + x->item_len};
}

static struct fuzz_range fuzz_ev_field(const struct vg_event *e) {
  return (struct fuzz_range){e->field_off, (size_t)e->field_off + e->field_len};
}

static struct fuzz_range fuzz_rj_field(const struct vg_reject *x) {
  return (struct fuzz_range){x->field_off, (size_t)x->field_off + x->field_len};
}

static int fuzz_range_eq(struct fuzz_range a, struct fuzz_range b) {
  return a.off == b.off && a.end == b.end;
}

static int fuzz_range_cmp(const void *a, const void *b) {
  const struct fuzz_range *x = a, *y = b;
  if (x->off != y->off)
    return x->off < y->off ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* The rejections codec.h's "Fields" table says are about one reading. */
static int fuzz_reading_reason(enum vg_codec_format f, enum vg_reject_reason r) {
  if (f == VG_FORMAT_SENML)
    return 0;
  if (f == VG_FORMAT_INFLUX)
    return r == VG_REJECT_NAN_OR_INF;
  return r == VG_REJECT_NON_NUMERIC_VALUE || r == VG_REJECT_NAN_OR_INF ||
         r == VG_REJECT_MISSING_NAME || r == VG_REJECT_MISSING_FIELD;
}

/* The bytes of one reading, strictly inside item it: a JSON field from its
 * key's opening quote to its value's last byte, with ':' after the key; a
 * line-protocol key=value after the ' ' or ',' before it. */
static void fuzz_reading_shape(const struct fuzz_msg *m, struct fuzz_range it,
                               struct fuzz_range fr) {
  const uint8_t *d = m->d;
  assert(fr.off > it.off && fr.end <= it.end && fr.end > fr.off);
  if (m->f == VG_FORMAT_INFLUX) {
    assert(d[fr.off - 1] == ' ' || d[fr.off - 1] == ',');
    assert(memchr(d + fr.off, '=', fr.end - fr.off) != NULL);
    assert(fr.end == it.end || d[fr.end] == ',' || d[fr.end] == ' ' || d[fr.end] == '\r');
    return;
  }
  assert(m->f == VG_FORMAT_JSON && fr.end < it.end);
  size_t i = fr.off + 1;
  assert(d[fr.off] == '"');
  while (d[i] != '"')
    i += d[i] == '\\' ? 2 : 1;
  for (i++; fuzz_blank(d[i]); i++)
    ;
  assert(d[i] == ':' && i + 1 < fr.end);
  uint8_t last = d[fr.end - 1];
  assert(last == '"' || last == '}' || last == ']' || isalnum(last) || last == '.' ||
         last == '+' || last == '-');
}

static void fuzz_check_reject(const struct fuzz_msg *m, const struct vg_reject *x,
                              size_t n_events) {
  struct fuzz_range r = fuzz_rj_range(x);
  int whole = r.off == 0 && r.end == m->size;
  if (x->reason == VG_REJECT_NOT_JSON || x->reason == VG_REJECT_TRUNCATED ||
      x->reason == VG_REJECT_OVERSIZE) {
    assert(whole && n_events == 0); /* found before items are delimited */
    return;
  }
  /* the item that holds the offset; a problem at its end points just past
   * it, a line that ends too early at the '\n' of its "\r\n" */
  assert(x->offset >= r.off);
  assert(x->offset <= r.end ||
         (m->f == VG_FORMAT_INFLUX && x->offset == r.end + 1 && m->d[r.end] == '\r'));
  if (whole && x->reason == VG_REJECT_NO_FIELDS)
    return; /* an empty array, a message without a line, or an item that
               is the whole message */
  if (x->reason == VG_REJECT_NOT_OBJECT) {
    assert(m->f != VG_FORMAT_INFLUX);
    assert(x->offset == r.off && m->d[r.off] != '{');
    fuzz_json_element(m, r);
    return;
  }
  fuzz_item_shape(m, r);
}

/* codec.h's "Fields": a field range inside its item; events' ranges
 * pairwise different and never empty, the whole item only for JSON's
 * count_as; a rejection about one reading as the table says, about a range
 * no event has, holding its offset; a rejection about the whole item with
 * no event of that item. */
static void fuzz_check_fields(const struct fuzz_msg *m, const struct vg_event_batch *b) {
  static struct fuzz_range *fields, *items;
  static size_t cap;
  if (cap == 0 || b->n_events > cap) { /* never NULL for qsort, bsearch */
    cap = b->n_events * 2 + 16;
    fields = realloc(fields, cap * sizeof *fields);
    items = realloc(items, cap * sizeof *items);
    if (!fields || !items)
      abort();
  }
  for (size_t i = 0; i < b->n_events; i++) {
    struct fuzz_range it = fuzz_ev_range(&b->events[i]);
    struct fuzz_range fr = fuzz_ev_field(&b->events[i]);
    assert(fr.off >= it.off && fr.end <= it.end && fr.end > fr.off);
    if (fuzz_range_eq(fr, it))
      assert(m->f != VG_FORMAT_INFLUX); /* count_as, or a SenML record */
    else
      fuzz_reading_shape(m, it, fr);
    if (m->f == VG_FORMAT_SENML)
      assert(fuzz_range_eq(fr, it));
    fields[i] = fr;
    items[i] = it;
  }
  /* items come in order: already sorted; any two fields of a batch differ
   * (those of two items are apart, items being equal or apart) */
  qsort(fields, b->n_events, sizeof *fields, fuzz_range_cmp);
  for (size_t i = 1; i < b->n_events; i++)
    assert(!fuzz_range_eq(fields[i - 1], fields[i]));
  for (size_t j = 0; j < b->n_rejects; j++) {
    const struct vg_reject *x = &b->rejects[j];
    struct fuzz_range it = fuzz_rj_range(x), fr = fuzz_rj_field(x);
    assert(fr.off >= it.off && fr.end <= it.end);
    if (!fuzz_reading_reason(m->f, x->reason)) {
      assert(fuzz_range_eq(fr, it));
      assert(!bsearch(&it, items, b->n_events, sizeof *items, fuzz_range_cmp));
      continue;
    }
    assert(!fuzz_range_eq(fr, it));
    assert(!bsearch(&fr, fields, b->n_events, sizeof *fields, fuzz_range_cmp));
    if (fr.end == fr.off) { /* a listed JSON field that is absent */
      assert(x->reason == VG_REJECT_MISSING_FIELD && fr.off == it.off);
      continue;
    }
    assert(x->offset >= fr.off && x->offset < fr.end);
    fuzz_reading_shape(m, it, fr);
    if (x->reason == VG_REJECT_MISSING_FIELD) /* a null value */
      assert(fr.end - fr.off >= 4 && !memcmp(m->d + fr.end - 4, "null", 4));
  }
}

static void fuzz_check_items(enum vg_codec_format f, const struct vg_event_batch *b,
                             const uint8_t *d, size_t size) {
  struct fuzz_msg m = {f, d, size, 0, size};
  while (m.a < m.z && fuzz_blank(d[m.a]))
    m.a++;
  while (m.z > m.a && fuzz_blank(d[m.z - 1]))
    m.z--;
  for (size_t i = 0; i < b->n_events; i++) {
    struct fuzz_range r = fuzz_ev_range(&b->events[i]);
    assert(r.end <= size && r.end > r.off);
    fuzz_item_shape(&m, r);
    if (i > 0) /* in item order */
      assert(r.off >= b->events[i - 1].item_off);
  }
  for (size_t j = 0; j < b->n_rejects; j++) {
    struct fuzz_range r = fuzz_rj_range(&b->rejects[j]);
    assert(r.end <= size && (r.end > r.off || size == 0));
    fuzz_check_reject(&m, &b->rejects[j], b->n_events);
    if (j > 0)
      assert(r.off >= b->rejects[j - 1].item_off);
  }
  fuzz_check_fields(&m, b);
  /* JSON text is read strictly (codec.h): not_json or truncated exactly
   * when the independent check above says the text is not JSON */
  if (f != VG_FORMAT_INFLUX &&
      !(b->n_rejects == 1 && b->rejects[0].reason == VG_REJECT_OVERSIZE)) {
    int broken = 0;
    for (size_t j = 0; j < b->n_rejects; j++)
      broken |= b->rejects[j].reason == VG_REJECT_NOT_JSON ||
                b->rejects[j].reason == VG_REJECT_TRUNCATED;
    assert(broken == !fuzz_json_valid(d, size));
    assert(!broken || b->n_rejects == 1);
  }
  /* events and rejections merged by offset: each range equal to or apart
   * from the one before it makes any two ranges equal or apart, so an event
   * lies in a rejection's item only when it is of that same item */
  size_t i = 0, j = 0;
  struct fuzz_range last = {0, 0};
  while (i < b->n_events || j < b->n_rejects) {
    int ev = j == b->n_rejects ||
             (i < b->n_events && b->events[i].item_off <= b->rejects[j].item_off);
    struct fuzz_range r =
        ev ? fuzz_ev_range(&b->events[i++]) : fuzz_rj_range(&b->rejects[j++]);
    if (i + j > 1)
      fuzz_same_or_apart(last, r);
    last = r;
  }
}

/* Decodes data[0..size) with c (of format f) into b and checks the batch. */
static void fuzz_decode(struct vg_codec *c, enum vg_codec_format f,
                        struct vg_event_batch *b, const uint8_t *data, size_t size) {
  vg_event_batch_clear(b);
  int rc = vg_codec_decode(c, (const char *)data, size, 1700000000000000000, b);
  assert(rc == 0 || rc == VG_EDECODE);
  assert((rc == 0) == (b->n_rejects == 0));
  for (size_t i = 0; i < b->n_events; i++) {
    const struct vg_event *e = &b->events[i];
    assert(isfinite(e->value));
    assert(e->key_len > 0);
    assert((size_t)e->key_off + e->key_len <= b->n_bytes);
    assert((size_t)e->distinct_off + e->distinct_len <= b->n_bytes);
  }
  for (size_t i = 0; i < b->n_rejects; i++) {
    assert(b->rejects[i].reason < VG_REJECT_REASON_COUNT);
    assert(b->rejects[i].offset <= size);
  }
  fuzz_check_items(f, b, data, size);
}

#endif
