/*
 * Unit tests of the item ranges of engine/codec (codec.h, "Items"): every
 * event and every rejection names the JSON object, line or SenML record it
 * comes from. Each message is assembled here from its items and the bytes
 * between them, so the expected ranges are known by construction, not read
 * back from the codec; each test then says which item every event and every
 * rejection belongs to (ITEM_MSG: the whole message).
 */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/codec.h"
#include "vigie/error.h"

#define NS 1000000000LL
#define ITEM_MSG (-1)

/* A message under construction: its bytes and where each item lies. */
struct msg {
  char buf[1024];
  size_t len;
  size_t off[16], n[16];
  int items;
};

/* Bytes that belong to no item (separators, brackets, blanks). */
static void gap(struct msg *m, const char *s) {
  size_t n = strlen(s);
  assert_true(m->len + n < sizeof m->buf);
  memcpy(m->buf + m->len, s, n);
  m->len += n;
}

/* The bytes of one item. */
static void item(struct msg *m, const char *s) {
  assert_true(m->items < 16);
  m->off[m->items] = m->len;
  m->n[m->items] = strlen(s);
  m->items++;
  gap(m, s);
}

static struct vg_event_batch B;

static struct vg_codec *mk(const struct vg_codec_config *cfg) {
  struct vg_codec *c = NULL;
  char err[256] = "";
  int rc = vg_codec_new(cfg, &c, err, sizeof err);
  if (rc != 0)
    print_message("vg_codec_new: %s\n", err);
  assert_int_equal(rc, 0);
  return c;
}

static int dec(struct vg_codec *c, const struct msg *m) {
  vg_event_batch_clear(&B);
  return vg_codec_decode(c, m->buf, m->len, 1700000000 * NS, &B);
}

/* Index of the item [off, off+len) of m, ITEM_MSG for [0, m->len), -2 for a
 * range that is neither. */
static int which(const struct msg *m, uint32_t off, uint32_t len) {
  for (int k = 0; k < m->items; k++)
    if (off == m->off[k] && len == m->n[k])
      return k;
  return off == 0 && len == m->len ? ITEM_MSG : -2;
}

/* The events are, in order, of items ev[0..nev); the rejections of items
 * rj[0..nrj) with reasons why[]; each rejection's offset lies in its item or
 * just past it, or on the '\n' of the "\r\n" that ends it. */
static void expect(const struct msg *m, const int *ev, size_t nev,
                   const int *rj, const enum vg_reject_reason *why,
                   size_t nrj) {
  if (B.n_events != nev || B.n_rejects != nrj) {
    print_message("%.*s: %zu events, %zu rejects; want %zu, %zu\n",
                  (int)m->len, m->buf, B.n_events, B.n_rejects, nev, nrj);
    fail();
  }
  for (size_t i = 0; i < nev; i++) {
    const struct vg_event *e = &B.events[i];
    int k = which(m, e->item_off, e->item_len);
    if (k != ev[i]) {
      print_message("event %zu: item [%u,+%u) = #%d, want #%d\n", i,
                    e->item_off, e->item_len, k, ev[i]);
      fail();
    }
  }
  for (size_t i = 0; i < nrj; i++) {
    const struct vg_reject *r = &B.rejects[i];
    int k = which(m, r->item_off, r->item_len);
    if (k != rj[i] || r->reason != why[i]) {
      print_message("reject %zu: %s@%u item [%u,+%u) = #%d, want %s #%d\n", i,
                    vg_reject_name(r->reason), r->offset, r->item_off,
                    r->item_len, k, vg_reject_name(why[i]), rj[i]);
      fail();
    }
    size_t end = (size_t)r->item_off + r->item_len;
    assert_true(r->offset >= r->item_off);
    assert_true(r->offset <= end ||
                (r->offset == end + 1 && m->buf[end] == '\r' &&
                 m->buf[end + 1] == '\n'));
  }
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- JSON --------------------------------------------------------------- */

static void json_array_items(void **state) {
  (void)state;
  const char *fields[] = {"a", "b"};
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON, .fields = fields,
                                .n_fields = 2};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, " [ ");
  item(&m, "{\"time\":1,\"a\":1,\"b\":2}");                  /* 0: good */
  gap(&m, ",\n  ");
  item(&m, "{\"time\":2,\"a\":3,\"b\":\"x\",\"m\":{\"a\":9}}"); /* 1: partly bad */
  gap(&m, " , ");
  item(&m, "5");                                             /* 2..5: not objects */
  gap(&m, ",");
  item(&m, "\"str\"");
  gap(&m, ",");
  item(&m, "[1,{\"time\":1,\"a\":1}]");
  gap(&m, ",");
  item(&m, "null");
  gap(&m, ",");
  item(&m, "{\"a\":1,\"b\":2}");                             /* 6: no time */
  gap(&m, ",");
  item(&m, "{\"time\":7,\"\xff\":1,\"a\":1,\"b\":1}");       /* 7: bad key */
  gap(&m, ",");
  item(&m, "{\"time\":8,\"b\":4}");                          /* 8: a missing */
  gap(&m, "]\r\n");
  assert_int_equal(dec(c, &m), VG_EDECODE);
  static const int ev[] = {0, 0, 1, 8};
  static const int rj[] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const enum vg_reject_reason why[] = {
      VG_REJECT_NON_NUMERIC_VALUE, VG_REJECT_NOT_OBJECT, VG_REJECT_NOT_OBJECT,
      VG_REJECT_NOT_OBJECT,        VG_REJECT_NOT_OBJECT, VG_REJECT_MISSING_TIME,
      VG_REJECT_INVALID_UTF8_KEY,  VG_REJECT_MISSING_FIELD};
  expect(&m, ev, N(ev), rj, why, N(rj));
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
  assert_int_equal(dec(c, &m), 0);
  static const int ev[] = {0, 0, 0};
  expect(&m, ev, N(ev), NULL, NULL, 0);
  /* a bad reading and a good one of the same object */
  struct msg p = {0};
  item(&p, "{\"time\":1,\"a\":1e999,\"b\":2}");
  gap(&p, "\n");
  assert_int_equal(dec(c, &p), VG_EDECODE);
  static const int ev2[] = {0, 0};
  static const int rj2[] = {0};
  static const enum vg_reject_reason why2[] = {VG_REJECT_NAN_OR_INF};
  expect(&p, ev2, N(ev2), rj2, why2, N(rj2));
  vg_codec_free(c);
}

/* Text that is not JSON is one rejection about the whole message, even when
 * some of its objects look whole: jsmn alone used to hang '"k":5' on the
 * object before it, and the items were guesses. */
static void json_malformed_is_message(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON};
  struct vg_codec *c = mk(&cfg);
  static const char *const cases[] = {
      "[{\"time\":1,\"a\":1}:\"k\":5]",
      "[{\"time\":1,\"a\":1}:\"k\":5,\"x\":\"y\",{\"time\":2,\"b\":2}]",
      "[\"x\":\"y\",{\"time\":2,\"b\":2}]",
      "[{\"time\":1,\"a\":1} {\"time\":2,\"b\":2}]",
  };
  static const int rj[] = {ITEM_MSG};
  static const enum vg_reject_reason why[] = {VG_REJECT_NOT_JSON};
  for (size_t i = 0; i < N(cases); i++) {
    struct msg m = {0};
    gap(&m, cases[i]);
    assert_int_equal(dec(c, &m), VG_EDECODE);
    expect(&m, NULL, 0, rj, why, N(rj));
  }
  vg_codec_free(c);
}

static void json_message_level(void **state) {
  (void)state;
  const char *fields[] = {"v"};
  struct vg_codec_config cfg = {.format = VG_FORMAT_JSON, .fields = fields,
                                .n_fields = 1, .max_message_bytes = 64};
  struct vg_codec *c = mk(&cfg);
  static const struct {
    const char *msg;
    enum vg_reject_reason r;
  } cases[] = {
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
  static const int rj[] = {ITEM_MSG};
  for (size_t i = 0; i < N(cases); i++) {
    struct msg m = {0};
    gap(&m, cases[i].msg);
    assert_int_equal(dec(c, &m), VG_EDECODE);
    expect(&m, NULL, 0, rj, &cases[i].r, 1);
  }
  vg_codec_free(c);
}

/* ---- line protocol ------------------------------------------------------ */

static void influx_lines(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX};
  struct vg_codec *c = mk(&cfg);
  struct msg m = {0};
  gap(&m, "# a comment\r\n\r\n  \t\n");
  item(&m, "m v=1,w=2 1");               /* 0: two events */
  gap(&m, "\r\n");
  item(&m, "m v=1,w=nan 2   ");          /* 1: partly bad, trailing blanks */
  gap(&m, "\n");
  item(&m, "  m,t=a v=3 3");             /* 2: leading blanks are its own */
  gap(&m, "\r\n\n# again\n");
  item(&m, "bad line");                  /* 3 */
  gap(&m, "\r\n");
  item(&m, "m v=1 99999999999999999999"); /* 4 */
  gap(&m, "\n");
  item(&m, "m s=\"only text\" 5");       /* 5 */
  gap(&m, "\n");
  item(&m, "m v=4 6\r");                 /* 6: a lone '\r' at the end */
  assert_int_equal(dec(c, &m), VG_EDECODE);
  static const int ev[] = {0, 0, 1, 2, 6};
  static const int rj[] = {1, 3, 4, 5};
  static const enum vg_reject_reason why[] = {
      VG_REJECT_NAN_OR_INF, VG_REJECT_BAD_SYNTAX,
      VG_REJECT_TIME_OUT_OF_RANGE, VG_REJECT_NO_FIELDS};
  expect(&m, ev, N(ev), rj, why, N(rj));
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
  assert_int_equal(dec(c, &m), VG_EDECODE);
  static const int ev[] = {2};
  static const int rj[] = {0, 1, 3};
  static const enum vg_reject_reason why[] = {
      VG_REJECT_BAD_SYNTAX, VG_REJECT_BAD_SYNTAX, VG_REJECT_BAD_SYNTAX};
  assert_int_equal(B.n_rejects, 3);
  expect(&m, ev, N(ev), rj, why, N(rj));
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
  assert_int_equal(dec(c, &s), VG_EDECODE);
  static const int ev2[] = {0, 2};
  static const int rj2[] = {1};
  static const enum vg_reject_reason why2[] = {VG_REJECT_BAD_SYNTAX};
  expect(&s, ev2, N(ev2), rj2, why2, N(rj2));
  vg_codec_free(c);
}

static void influx_message_level(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_INFLUX,
                                .max_message_bytes = 64};
  struct vg_codec *c = mk(&cfg);
  static const struct {
    const char *msg;
    enum vg_reject_reason r;
  } cases[] = {
      {"", VG_REJECT_NO_FIELDS},
      {"\r\n  \n# only a comment\r\n", VG_REJECT_NO_FIELDS},
      {"m v=1 1\nm v=2 2\nm v=3 3\nm v=4 4\nm v=5 5\nm v=6 6\nm v=7 7\n"
       "m v=8 8\nm v=9 9\n",
       VG_REJECT_OVERSIZE},
  };
  static const int rj[] = {ITEM_MSG};
  for (size_t i = 0; i < N(cases); i++) {
    struct msg m = {0};
    gap(&m, cases[i].msg);
    assert_int_equal(dec(c, &m), VG_EDECODE);
    expect(&m, NULL, 0, rj, &cases[i].r, 1);
  }
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
  item(&m, "{\"n\":\"t\",\"v\":\"x\"}");                          /* 1: bad */
  gap(&m, ",");
  item(&m, "7");                                                  /* 2 */
  gap(&m, ", ");
  item(&m, "\"s\"");                                              /* 3 */
  gap(&m, ",");
  item(&m, "{\"n\":\"door\",\"vb\":true}");                       /* 4: ignored */
  gap(&m, ",");
  item(&m, "{\"n\":\"empty\"}");                                  /* 5 */
  gap(&m, ",");
  item(&m, "{\"n\":\"h\",\"t\":2,\"v\":3}");                      /* 6 */
  gap(&m, "\n]\r\n");
  assert_int_equal(dec(c, &m), VG_EDECODE);
  static const int ev[] = {0, 6};
  static const int rj[] = {1, 2, 3, 5};
  static const enum vg_reject_reason why[] = {
      VG_REJECT_NON_NUMERIC_VALUE, VG_REJECT_NOT_OBJECT, VG_REJECT_NOT_OBJECT,
      VG_REJECT_NO_FIELDS};
  expect(&m, ev, N(ev), rj, why, N(rj));
  assert_int_equal(B.events[1].time_ns, 1700000002 * NS);
  /* a single record object */
  struct msg o = {0};
  gap(&o, "  ");
  item(&o, "{\"n\":\"x\",\"v\":1}");
  gap(&o, " \r\n");
  assert_int_equal(dec(c, &o), 0);
  static const int ev2[] = {0};
  expect(&o, ev2, N(ev2), NULL, NULL, 0);
  vg_codec_free(c);
}

static void senml_message_level(void **state) {
  (void)state;
  struct vg_codec_config cfg = {.format = VG_FORMAT_SENML,
                                .max_message_bytes = 32};
  struct vg_codec *c = mk(&cfg);
  static const struct {
    const char *msg;
    enum vg_reject_reason r;
  } cases[] = {
      {"nope", VG_REJECT_NOT_JSON},
      {"3", VG_REJECT_NOT_JSON},
      {"[{\"n\":\"a\",\"v\":1}", VG_REJECT_TRUNCATED},
      {" [] ", VG_REJECT_NO_FIELDS},
      {"[{\"n\":\"a\",\"v\":1},{\"n\":\"b\",\"v\":2}]", VG_REJECT_OVERSIZE},
  };
  static const int rj[] = {ITEM_MSG};
  for (size_t i = 0; i < N(cases); i++) {
    struct msg m = {0};
    gap(&m, cases[i].msg);
    assert_int_equal(dec(c, &m), VG_EDECODE);
    expect(&m, NULL, 0, rj, &cases[i].r, 1);
  }
  vg_codec_free(c);
}

static int setup(void **state) {
  (void)state;
  vg_event_batch_init(&B);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  vg_event_batch_release(&B);
  return 0;
}

int vg_test_codec_items(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(json_array_items),
      cmocka_unit_test(json_single_object),
      cmocka_unit_test(json_malformed_is_message),
      cmocka_unit_test(json_message_level),
      cmocka_unit_test(influx_lines),
      cmocka_unit_test(influx_terminators),
      cmocka_unit_test(influx_message_level),
      cmocka_unit_test(senml_records),
      cmocka_unit_test(senml_message_level),
  };
  return cmocka_run_group_tests_name("codec_items", tests, setup, teardown);
}
