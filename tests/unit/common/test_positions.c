/*
 * Unit tests of engine/common/positions.c: the persisted form of a topic's
 * positions round-trips, a short buffer gets nothing written, and a damaged
 * blob is refused without leaking.
 */
#include <string.h>

#include "testutil.h"
#include "vigie/error.h"
#include "vigie/positions.h"

static void encode_decode_roundtrip(void **state) {
  (void)state;
  int64_t off[3] = {0, -1, INT64_MAX};
  struct vg_kafka_positions p = {3, off}, q;
  uint8_t buf[64];
  size_t need = vg_kafka_positions_encode("vigie.rollups", &p, NULL, 0);
  assert_int_equal(need, 1 + 2 + 13 + 4 + 3 * 8);
  memset(buf, 0xaa, sizeof buf);
  assert_int_equal(vg_kafka_positions_encode("vigie.rollups", &p, buf, need - 1), need);
  assert_int_equal(buf[0], 0xaa); /* too short: nothing written */
  assert_int_equal(vg_kafka_positions_encode("vigie.rollups", &p, buf, sizeof buf), need);
  const char *topic;
  size_t tlen;
  assert_int_equal(vg_kafka_positions_decode(buf, need, &topic, &tlen, &q), 0);
  assert_int_equal(tlen, 13);
  assert_memory_equal(topic, "vigie.rollups", 13);
  assert_int_equal(q.n, 3);
  assert_memory_equal(q.off, off, sizeof off);
  struct vg_kafka_positions c;
  assert_int_equal(vg_kafka_positions_copy(&c, &q), 0);
  assert_int_equal(c.n, 3);
  assert_memory_equal(c.off, off, sizeof off);
  vg_kafka_positions_release(&q);
  assert_int_equal(q.n, 0);
  assert_null(q.off);
  vg_kafka_positions_release(&c);
  /* no partitions */
  struct vg_kafka_positions none = {0, NULL};
  need = vg_kafka_positions_encode("t", &none, buf, sizeof buf);
  assert_int_equal(vg_kafka_positions_decode(buf, need, &topic, &tlen, &q), 0);
  assert_int_equal(q.n, 0);
  assert_null(q.off);
  assert_int_equal(vg_kafka_positions_copy(&c, &none), 0);
  assert_int_equal(c.n, 0);
}

static void decode_refuses_damage(void **state) {
  (void)state;
  int64_t off[2] = {5, 7};
  struct vg_kafka_positions p = {2, off}, q;
  uint8_t buf[64];
  const char *topic;
  size_t tlen;
  size_t need = vg_kafka_positions_encode("dl", &p, buf, sizeof buf);
  for (size_t len = 0; len < need; len++) /* every truncation */
    assert_int_equal(vg_kafka_positions_decode(buf, len, &topic, &tlen, &q), VG_EDECODE);
  assert_int_equal(vg_kafka_positions_decode(buf, need + 1, &topic, &tlen, &q),
                   VG_EDECODE);
  buf[0] = 2; /* an unknown version */
  assert_int_equal(vg_kafka_positions_decode(buf, need, &topic, &tlen, &q), VG_EDECODE);
  buf[0] = 1;
  buf[1 + 2 + 2] = 3; /* three partitions announced, two present */
  assert_int_equal(vg_kafka_positions_decode(buf, need, &topic, &tlen, &q), VG_EDECODE);
  assert_int_equal(q.n, 0);
  assert_null(q.off);
}

int vg_test_common_positions(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(encode_decode_roundtrip),
      cmocka_unit_test(decode_refuses_damage),
  };
  return cmocka_run_group_tests_name("common_positions", tests, NULL, NULL);
}
