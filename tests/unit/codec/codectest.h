/*
 * Helpers shared by the codec tests (test_codec.c, test_items.c): the one
 * event batch a group decodes into, set up and released around the group,
 * and a codec built from a configuration that must be valid.
 */
#ifndef VIGIE_CODECTEST_H
#define VIGIE_CODECTEST_H

#include <string.h>

#include "testutil.h"
#include "vigie/codec.h"
#include "vigie/error.h"

#define NS   1000000000LL
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The batch of the group's decodes: events and rejections of the last one. */
static struct vg_event_batch B;

/* The codec of cfg; the test fails, saying why, when cfg is refused. */
static inline struct vg_codec *mk(const struct vg_codec_config *cfg) {
  struct vg_codec *c = NULL;
  char err[256] = "";
  int rc = vg_codec_new(cfg, &c, err, sizeof err);
  if (rc != 0)
    print_message("vg_codec_new: %s\n", err);
  assert_int_equal(rc, 0);
  return c;
}

/* The codec of the configuration whose designated initializers are given,
 * e.g. CODEC(.format = VG_FORMAT_JSON, .fields = f, .n_fields = 1). */
#define CODEC(...) mk(&(struct vg_codec_config){__VA_ARGS__})

static inline int codec_setup(void **state) {
  (void)state;
  vg_event_batch_init(&B);
  return 0;
}

static inline int codec_teardown(void **state) {
  (void)state;
  vg_event_batch_release(&B);
  return 0;
}

/* A message refused as a whole: its one rejection and, where the test says
 * it, the offset that rejection points at. */
struct reject_case {
  const char *msg;
  enum vg_reject_reason r;
  size_t off;
};

#endif
