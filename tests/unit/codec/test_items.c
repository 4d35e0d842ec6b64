/*
 * Unit tests of the item and field ranges of engine/codec (codec.h, "Items"
 * and "Fields"): every event and every rejection names the JSON object, line
 * or SenML record it comes from, and the reading inside it. Each message is
 * assembled here from its items, the readings inside them and the bytes
 * between, so the expected ranges are known by construction, not read back
 * from the codec; each test then says which item every event and every
 * rejection belongs to (ITEM_MSG: the whole message), and which reading
 * (FIELD_ITEM: the whole item, FIELD_EMPTY: the empty range at the item's
 * start).
 */
#include <stdlib.h>
#include <string.h>

#include "codectest.h"

#define ITEM_MSG    (-1)
#define FIELD_ITEM  (-1)
#define FIELD_EMPTY (-3)

/* A message under construction: its bytes, where each item lies, and where
 * each reading marked with fld() lies. */
struct msg {
  char buf[1024];
  size_t len;
  size_t off[16], n[16];
  int items;
  size_t foff[32], fn[32];
  int fields;
};

/* Bytes that belong to no item (separators, brackets, blanks), or, between
 * item_begin() and item_end(), to the item but to none of its readings. */
static void gap(struct msg *m, const char *s) {
  size_t n = strlen(s);
  assert_true(m->len + n < sizeof m->buf);
  memcpy(m->buf + m->len, s, n);
  m->len += n;
}

static void item_begin(struct msg *m) {
  assert_true(m->items < 16);
  m->off[m->items] = m->len;
}

static void item_end(struct msg *m) {
  m->n[m->items] = m->len - m->off[m->items];
  m->items++;
}

/* The bytes of one item. */
static void item(struct msg *m, const char *s) {
  item_begin(m);
  gap(m, s);
  item_end(m);
}

/* The bytes of one reading, inside the item begun. */
static void fld(struct msg *m, const char *s) {
  assert_true(m->fields < 32);
  m->foff[m->fields] = m->len;
  m->fn[m->fields] = strlen(s);
  m->fields++;
  gap(m, s);
}

static int dec(struct vg_codec *c, const struct msg *m) {
  vg_event_batch_clear(&B);
  return vg_codec_decode(c, m->buf, m->len, 1700000000 * NS, &B);
}

/* A rejection expected: of which item, and why. */
struct rj {
  int item;
  enum vg_reject_reason why;
};

/* An expected list and its length, written in place: the events' items or
 * readings (INTS), the rejections (RJS), or nothing (NONE). */
#define INTS(...) (const int[]){__VA_ARGS__}, N(((const int[]){__VA_ARGS__}))
#define RJS(...)  (const struct rj[]){__VA_ARGS__}, N(((const struct rj[]){__VA_ARGS__}))
#define NONE      NULL, 0

/* Index of the item [off, off+len) of m, ITEM_MSG for [0, m->len), -2 for a
 * range that is neither. */
static int which(const struct msg *m, uint32_t off, uint32_t len) {
  for (int k = 0; k < m->items; k++)
    if (off == m->off[k] && len == m->n[k])
      return k;
  return off == 0 && len == m->len ? ITEM_MSG : -2;
}

/* The events are, in order, of items ev[0..nev); the rejections of the
 * items and with the reasons of rj[0..nrj); each rejection's offset lies in
 * its item or just past it, or on the '\n' of the "\r\n" that ends it. */
static void expect(const struct msg *m, const int *ev, size_t nev, const struct rj *rj,
                   size_t nrj) {
  if (B.n_events != nev || B.n_rejects != nrj) {
    print_message("%.*s: %zu events, %zu rejects; want %zu, %zu\n", (int)m->len, m->buf,
                  B.n_events, B.n_rejects, nev, nrj);
    fail();
  }
  for (size_t i = 0; i < nev; i++) {
    const struct vg_event *e = &B.events[i];
    int k = which(m, e->item_off, e->item_len);
    if (k != ev[i]) {
      print_message("event %zu: item [%u,+%u) = #%d, want #%d\n", i, e->item_off,
                    e->item_len, k, ev[i]);
      fail();
    }
    assert_true(e->field_len > 0 && e->field_off >= e->item_off &&
                e->field_off + e->field_len <= e->item_off + e->item_len);
  }
  for (size_t i = 0; i < nrj; i++) {
    const struct vg_reject *r = &B.rejects[i];
    int k = which(m, r->item_off, r->item_len);
    if (k != rj[i].item || r->reason != rj[i].why) {
      print_message("reject %zu: %s@%u item [%u,+%u) = #%d, want %s #%d\n", i,
                    vg_reject_name(r->reason), r->offset, r->item_off, r->item_len, k,
                    vg_reject_name(rj[i].why), rj[i].item);
      fail();
    }
    size_t end = (size_t)r->item_off + r->item_len;
    assert_true(r->field_off >= r->item_off && r->field_off + r->field_len <= end);
    assert_true(r->offset >= r->item_off);
    assert_true(r->offset <= end ||
                (r->offset == end + 1 && m->buf[end] == '\r' && m->buf[end + 1] == '\n'));
  }
}

/* The reading [off, off+len) of item [ioff, ioff+ilen): index of a fld() of
 * m, FIELD_ITEM, FIELD_EMPTY, or -2 for a range that is none of them. */
static int which_field(const struct msg *m, uint32_t off, uint32_t len, uint32_t ioff,
                       uint32_t ilen) {
  for (int k = 0; k < m->fields; k++)
    if (off == m->foff[k] && len == m->fn[k])
      return k;
  if (off == ioff && len == ilen)
    return FIELD_ITEM;
  return off == ioff && len == 0 ? FIELD_EMPTY : -2;
}

/* The events' readings are, in order, fev[0..nev); the rejections' frj[]
 * (the counts and items having been checked by expect()). */
static void expect_fields(const struct msg *m, const int *fev, size_t nev, const int *frj,
                          size_t nrj) {
  assert_int_equal(B.n_events, nev);
  assert_int_equal(B.n_rejects, nrj);
  for (size_t i = 0; i < nev; i++) {
    const struct vg_event *e = &B.events[i];
    int k = which_field(m, e->field_off, e->field_len, e->item_off, e->item_len);
    if (k != fev[i]) {
      print_message("event %zu: field [%u,+%u) = #%d, want #%d\n", i, e->field_off,
                    e->field_len, k, fev[i]);
      fail();
    }
  }
  for (size_t i = 0; i < nrj; i++) {
    const struct vg_reject *r = &B.rejects[i];
    int k = which_field(m, r->field_off, r->field_len, r->item_off, r->item_len);
    if (k != frj[i]) {
      print_message("reject %zu (%s): field [%u,+%u) = #%d, want #%d\n", i,
                    vg_reject_name(r->reason), r->field_off, r->field_len, k, frj[i]);
      fail();
    }
    /* a reading's rejection points into it */
    if (k >= 0)
      assert_true(r->offset >= r->field_off && r->offset < r->field_off + r->field_len);
  }
}

/* Decoding m with c returns rc, with the events and rejections expect()
 * checks. */
static void check(struct vg_codec *c, const struct msg *m, int rc, const int *ev,
                  size_t nev, const struct rj *rj, size_t nrj) {
  assert_int_equal(dec(c, m), rc);
  expect(m, ev, nev, rj, nrj);
}

/* A message refused as a whole, and why. */
struct level_case {
  const char *msg;
  enum vg_reject_reason r;
};

/* Each message of cases, decoded under cfg, is one rejection about the
 * whole message and no event. */
static void message_level(const struct vg_codec_config *cfg,
                          const struct level_case *cases, size_t n) {
  struct vg_codec *c = mk(cfg);
  for (size_t i = 0; i < n; i++) {
    struct msg m = {0};
    gap(&m, cases[i].msg);
    check(c, &m, VG_EDECODE, NONE, &(const struct rj){ITEM_MSG, cases[i].r}, 1);
  }
  vg_codec_free(c);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_array_items(void **state) {
  (void)state;
  const char *fields[] = {"a", "b"};
  struct vg_codec_config cfg = {
      .format = VG_FORMAT_JSON, .fields = fields, .n_fields = 2};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, " [ ");
  item(&m, "{\"time\":1,\"a\":1,\"b\":2}"); /* 0: good */
  gap(&m, ",\n  ");
  item(&m, "{\"time\":2,\"a\":3,\"b\":\"x\",\"m\":{\"a\":9}}"); /* 1: partly bad */
  gap(&m, " , ");
  item(&m, "5"); /* 2..5: not objects */
  gap(&m, ",");
  item(&m, "\"str\"");
  gap(&m, ",");
  item(&m, "[1,{\"time\":1,\"a\":1}]");
  gap(&m, ",");
  item(&m, "null");
  gap(&m, ",");
  item(&m, "{\"a\":1,\"b\":2}"); /* 6: no time */
  gap(&m, ",");
  item(&m, "{\"time\":7,\"\xff\":1,\"a\":1,\"b\":1}"); /* 7: bad key */
  gap(&m, ",");
  item(&m, "{\"time\":8,\"b\":4}"); /* 8: a missing */
  gap(&m, "]\r\n");
  check(c, &m, VG_EDECODE, INTS(0, 0, 1, 8),
        RJS({1, VG_REJECT_NON_NUMERIC_VALUE}, {2, VG_REJECT_NOT_OBJECT},
            {3, VG_REJECT_NOT_OBJECT}, {4, VG_REJECT_NOT_OBJECT},
            {5, VG_REJECT_NOT_OBJECT}, {6, VG_REJECT_MISSING_TIME},
            {7, VG_REJECT_INVALID_UTF8_KEY}, {8, VG_REJECT_MISSING_FIELD}));
  /* the good reading of the partly bad object is still decoded */
  assert_true(B.events[2].value == 3 && B.events[2].time_ns == 2 * NS);
  /* a non-object names its own value, quotes of a string included */
  assert_int_equal(B.rejects[2].offset, m.off[3]);
  assert_int_equal(B.rejects[2].item_len, 5);
  vg_codec_free(c);
}

static void json_single_object(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON, .count_as = "n"};
  struct vg_codec *c = mk(&cfg);
  /* blanks around the object are not part of it; nested objects are part
   * of their top-level object */
  struct msg m = {0};
  gap(&m, "\r\n\t ");
  item(&m, "{\"time\":1,\"x\":{\"y\":{\"z\":1}},\"w\":2}");
  gap(&m, "  \n");
  check(c, &m, 0, INTS(0, 0, 0), NONE);
  /* a bad reading and a good one of the same object */
  struct msg p = {0};
  item(&p, "{\"time\":1,\"a\":1e999,\"b\":2}");
  gap(&p, "\n");
  check(c, &p, VG_EDECODE, INTS(0, 0), RJS({0, VG_REJECT_NAN_OR_INF}));
  vg_codec_free(c);
}

/* Default mapping: every number is a reading, from its key's opening quote
 * (the innermost key of a nested path) to its value's last byte. */
static void json_fields_default(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, "[");
  item_begin(&m); /* 0 */
  gap(&m, "{\"time\":1, ");
  fld(&m, "\"a\" :\t1.5"); /* f0 */
  gap(&m, ",\"m\":{\"s\":\"x\",");
  fld(&m, "\"x\\u0041\":2"); /* f1: m_xA */
  gap(&m, "}, ");
  fld(&m, "\"\":3"); /* f2: missing_name */
  gap(&m, ",");
  fld(&m, "\"n\":1e999"); /* f3: nan_or_inf */
  gap(&m, ",");
  fld(&m, "\"b\":-1x"); /* f4: non_numeric_value */
  gap(&m, ",");
  fld(&m, "\"a\":7"); /* f5: the same key again, its own bytes */
  gap(&m, ",\"t\":true}");
  item_end(&m);
  gap(&m, ",\n");
  item(&m, "{\"time\":\"x\",\"a\":1}"); /* 1: about the whole item */
  gap(&m, ",");
  item(&m, "{\"time\":2,\"s\":\"only text\"}"); /* 2: no_fields */
  gap(&m, ",");
  item(&m, "9"); /* 3: not_object */
  gap(&m, "]");
  check(c, &m, VG_EDECODE, INTS(0, 0, 0),
        RJS({0, VG_REJECT_MISSING_NAME}, {0, VG_REJECT_NAN_OR_INF},
            {0, VG_REJECT_NON_NUMERIC_VALUE}, {1, VG_REJECT_UNPARSABLE_TIME},
            {2, VG_REJECT_NO_FIELDS}, {3, VG_REJECT_NOT_OBJECT}));
  expect_fields(&m, INTS(0, 1, 5), INTS(2, 3, 4, FIELD_ITEM, FIELD_ITEM, FIELD_ITEM));
  assert_true(B.events[1].value == 2 && B.events[2].value == 7);
  vg_codec_free(c);
}

/* Listed fields and count_as: a listed field's reading whatever its value
 * (a string holding a number, an object, null); an absent one has no bytes
 * and an empty range; the count_as reading is the object. */
static void json_fields_listed(void **state) {
  (void)state;
  const char *fields[] = {"no2", "pm.p10", "ok", "gone", "v"};
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON,
                                .time_key = "ts",
                                .fields = fields,
                                .n_fields = 5,
                                .count_as = "n",
                                .entity_key = "id"};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  item_begin(&m); /* 0: the message is one object */
  gap(&m, "{\"ts\":1,\"id\":\"s1\",\"pm\":{");
  fld(&m, "\"p10\":{\"x\":1}"); /* f0: non_numeric_value */
  gap(&m, "},");
  fld(&m, "\"no2\" : \"12.5\""); /* f1 */
  gap(&m, ",");
  fld(&m, "\"ok\":true"); /* f2 */
  gap(&m, ",");
  fld(&m, "\"v\":null"); /* f3: missing_field */
  gap(&m, "}");
  item_end(&m);
  gap(&m, "\n");
  /* readings in the order of the listed fields, then count_as */
  check(c, &m, VG_EDECODE, INTS(0, 0, 0),
        RJS({0, VG_REJECT_NON_NUMERIC_VALUE}, {0, VG_REJECT_MISSING_FIELD},
            {0, VG_REJECT_MISSING_FIELD}));
  expect_fields(&m, INTS(1, 2, FIELD_ITEM), INTS(0, FIELD_EMPTY, 3));
  assert_true(B.events[0].value == 12.5 && B.events[2].value == 1);
  /* a rejection of the whole item comes with no event of it, count_as
   * included */
  struct msg w = {0};
  gap(&w, "[");
  item(&w, "{\"id\":\"s1\",\"no2\":1}");
  gap(&w, ",");
  item(&w, "{\"ts\":2,\"id\":\"s\\udc00\",\"no2\":1}");
  gap(&w, "]");
  check(c, &w, VG_EDECODE, NONE,
        RJS({0, VG_REJECT_MISSING_TIME}, {1, VG_REJECT_INVALID_UTF8_KEY}));
  expect_fields(&w, NONE, INTS(FIELD_ITEM, FIELD_ITEM));
  vg_codec_free(c);
}

/* Text that is not JSON is one rejection about the whole message, even when
 * some of its objects look whole: jsmn alone used to hang '"k":5' on the
 * object before it, and the items were guesses. */
static void json_malformed_is_message(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON};
  static const struct level_case cases[] = {
      {"[{\"time\":1,\"a\":1}:\"k\":5]", VG_REJECT_NOT_JSON},
      {"[{\"time\":1,\"a\":1}:\"k\":5,\"x\":\"y\",{\"time\":2,\"b\":2}]",
       VG_REJECT_NOT_JSON},
      {"[\"x\":\"y\",{\"time\":2,\"b\":2}]", VG_REJECT_NOT_JSON},
      {"[{\"time\":1,\"a\":1} {\"time\":2,\"b\":2}]", VG_REJECT_NOT_JSON},
  };
  message_level(&cfg, cases, N(cases));
}

static void json_message_level(void **state) {
  (void)state;
  const char *fields[] = {"v"};
  struct vg_codec_config cfg = {
      .format = VG_FORMAT_JSON, .fields = fields, .n_fields = 1, .max_message_bytes = 64};
  static const struct level_case cases[] = {
      {"hello", VG_REJECT_NOT_JSON},
      {"  42 ", VG_REJECT_NOT_JSON},
      {"\"just a string\"", VG_REJECT_NOT_JSON},
      {"{\"time\":1,\"v\":1} x", VG_REJECT_NOT_JSON},
      {"[{\"time\":1,\"v\":1},{\"time\" 2}]", VG_REJECT_NOT_JSON},
      {"[{\"time\":1,\"v\":1},{\"time\":2", VG_REJECT_TRUNCATED},
      {"", VG_REJECT_TRUNCATED},
      {"  ", VG_REJECT_TRUNCATED},
      {" [ ] ", VG_REJECT_NO_FIELDS},
      {"[{\"time\":1,\"v\":1},{\"time\":2,\"v\":2},{\"time\":3,\"v\":3},"
       "{\"time\":4,\"v\":4}]",
       VG_REJECT_OVERSIZE},
  };
  message_level(&cfg, cases, N(cases));
}

/* ---- line protocol ------------------------------------------------------ */

static void influx_lines(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, "# a comment\r\n\r\n  \t\n");
  item(&m, "m v=1,w=2 1"); /* 0: two events */
  gap(&m, "\r\n");
  item(&m, "m v=1,w=nan 2   "); /* 1: partly bad, trailing blanks */
  gap(&m, "\n");
  item(&m, "  m,t=a v=3 3"); /* 2: leading blanks are its own */
  gap(&m, "\r\n\n# again\n");
  item(&m, "bad line"); /* 3 */
  gap(&m, "\r\n");
  item(&m, "m v=1 99999999999999999999"); /* 4 */
  gap(&m, "\n");
  item(&m, "m s=\"only text\" 5"); /* 5 */
  gap(&m, "\n");
  item(&m, "m v=4 6\r"); /* 6: a lone '\r' at the end */
  check(c, &m, VG_EDECODE, INTS(0, 0, 1, 2, 6),
        RJS({1, VG_REJECT_NAN_OR_INF}, {3, VG_REJECT_BAD_SYNTAX},
            {4, VG_REJECT_TIME_OUT_OF_RANGE}, {5, VG_REJECT_NO_FIELDS}));
  assert_true(B.events[2].value == 1 && B.events[2].time_ns == 2);
  vg_codec_free(c);
}

static void influx_terminators(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX};
  struct vg_codec *c = mk(&cfg);
  /* a line that ends too early points at its terminator: for "\r\n" one
   * byte past the item's end, the item being the line without it */
  struct msg m = {0};
  item(&m, "m");
  gap(&m, "\r\n");
  item(&m, "m,t=1");
  gap(&m, "\n");
  item(&m, "m v=1 1");
  gap(&m, "\r\n");
  item(&m, "m v=");
  check(c, &m, VG_EDECODE, INTS(2),
        RJS({0, VG_REJECT_BAD_SYNTAX}, {1, VG_REJECT_BAD_SYNTAX},
            {3, VG_REJECT_BAD_SYNTAX}));
  assert_int_equal(B.n_rejects, 3);
  assert_int_equal(B.rejects[0].offset, 2); /* the '\n' of "m\r\n" */
  assert_int_equal(B.rejects[1].offset, m.off[1] + m.n[1]);
  assert_int_equal(B.rejects[2].offset, m.len);
  /* a string field that spans a newline keeps its line going */
  struct msg s = {0};
  item(&s, "m s=\"a\nb\",v=1 1");
  gap(&s, "\n");
  item(&s, "m s=\"c\r\nd\" x");
  gap(&s, "\r\n");
  item(&s, "m v=2 2");
  check(c, &s, VG_EDECODE, INTS(0, 2), RJS({1, VG_REJECT_BAD_SYNTAX}));
  vg_codec_free(c);
}

static void influx_message_level(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX, .max_message_bytes = 64};
  static const struct level_case cases[] = {
      {"", VG_REJECT_NO_FIELDS},
      {"\r\n  \n# only a comment\r\n", VG_REJECT_NO_FIELDS},
      {"m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\nm v=6 6\nm v=7 7\n"
       "m v=8 8\nm v=9 9\n",
       VG_REJECT_OVERSIZE},
  };
  message_level(&cfg, cases, N(cases));
}

/* A line's readings are its fields' key=value bytes, escapes and quotes
 * included; string fields are no reading. */
static void influx_fields(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  item_begin(&m); /* 0 */
  gap(&m, "m\\ 1,t=a\\,b  ");
  fld(&m, "v=1i"); /* f0 */
  gap(&m, ",");
  fld(&m, "w\\ x\\=y=NaN"); /* f1: nan_or_inf */
  gap(&m, ",s=\"a, \\\"b\\\"\",");
  fld(&m, "u=2u"); /* f2 */
  gap(&m, ",");
  fld(&m, "v=-1.5e3"); /* f3: the same key again */
  gap(&m, " 5");
  item_end(&m);
  gap(&m, "\r\n");
  item_begin(&m); /* 1: no timestamp, the line ends */
  gap(&m, "m ");
  fld(&m, "b=t"); /* f4 */
  item_end(&m);
  gap(&m, "\n");
  item(&m, "m v=1 x"); /* 2: bad_syntax */
  gap(&m, "\n");
  item(&m, "m s=\"x\" 1"); /* 3: no_fields */
  gap(&m, "\n");
  item(&m, "m v=1 99999999999999999999"); /* 4: time_out_of_range */
  check(c, &m, VG_EDECODE, INTS(0, 0, 0, 1),
        RJS({0, VG_REJECT_NAN_OR_INF}, {2, VG_REJECT_BAD_SYNTAX},
            {3, VG_REJECT_NO_FIELDS}, {4, VG_REJECT_TIME_OUT_OF_RANGE}));
  expect_fields(&m, INTS(0, 2, 3, 4), INTS(1, FIELD_ITEM, FIELD_ITEM, FIELD_ITEM));
  assert_true(B.events[2].value == -1500 && B.events[3].value == 1);
  vg_codec_free(c);
}

/* ---- SenML -------------------------------------------------------------- */

static void senml_records(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_SENML};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, "\n[\n  ");
  item(&m, "{\"bn\":\"dev1/\",\"bt\":1.7e9,\"n\":\"t\",\"v\":1}"); /* 0 */
  gap(&m, ",\n  ");
  item(&m, "{\"n\":\"t\",\"v\":\"x\"}"); /* 1: bad */
  gap(&m, ",");
  item(&m, "7"); /* 2 */
  gap(&m, ", ");
  item(&m, "\"s\""); /* 3 */
  gap(&m, ",");
  item(&m, "{\"n\":\"door\",\"vb\":true}"); /* 4: ignored */
  gap(&m, ",");
  item(&m, "{\"n\":\"empty\"}"); /* 5 */
  gap(&m, ",");
  item(&m, "{\"n\":\"h\",\"t\":2,\"v\":3}"); /* 6 */
  gap(&m, "\n]\r\n");
  check(c, &m, VG_EDECODE, INTS(0, 6),
        RJS({1, VG_REJECT_NON_NUMERIC_VALUE}, {2, VG_REJECT_NOT_OBJECT},
            {3, VG_REJECT_NOT_OBJECT}, {5, VG_REJECT_NO_FIELDS}));
  /* a record is one reading: every range is its item */
  expect_fields(&m, INTS(FIELD_ITEM, FIELD_ITEM),
                INTS(FIELD_ITEM, FIELD_ITEM, FIELD_ITEM, FIELD_ITEM));
  assert_int_equal(B.events[1].time_ns, 1700000002 * NS);
  /* a single record object */
  struct msg o = {0};
  gap(&o, "  ");
  item(&o, "{\"n\":\"x\",\"v\":1}");
  gap(&o, " \r\n");
  check(c, &o, 0, INTS(0), NONE);
  vg_codec_free(c);
}

static void senml_message_level(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_SENML, .max_message_bytes = 32};
  static const struct level_case cases[] = {
      {"nope", VG_REJECT_NOT_JSON},
      {"3", VG_REJECT_NOT_JSON},
      {"[{\"n\":\"a\",\"v\":1}", VG_REJECT_TRUNCATED},
      {" [] ", VG_REJECT_NO_FIELDS},
      {"[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2}]", VG_REJECT_OVERSIZE},
  };
  message_level(&cfg, cases, N(cases));
}

int vg_test_codec_items(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_array_items),
      cmocka_unit_test(json_single_object),
      cmocka_unit_test(json_fields_default),
      cmocka_unit_test(json_fields_listed),
      cmocka_unit_test(json_malformed_is_message),
      cmocka_unit_test(json_message_level),
      cmocka_unit_test(influx_lines),
      cmocka_unit_test(influx_terminators),
      cmocka_unit_test(influx_message_level),
      cmocka_unit_test(influx_fields),
      cmocka_unit_test(senml_records),
      cmocka_unit_test(senml_message_level),
  };
  return cmocka_run_group_tests_name("codec_items", tests, codec_setup, codec_teardown);
}
