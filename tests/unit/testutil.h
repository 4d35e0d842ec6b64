/*
 * Helpers shared by the unit tests: cmocka with the headers it needs, and
 * access to the real data sets in ../shared/data (skipped with a clear
 * message when that folder is absent, e.g. in a clone outside the workspace).
 */
#ifndef VIGIE_TESTUTIL_H
#define VIGIE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

/* Path of a file under ../shared/data, or NULL (and the test is skipped)
 * when the data set is absent. Writes into buf. */
static inline const char *vg_test_shared_data(char *buf, size_t size, const char *rel) {
  const char *dir = getenv("VIGIE_SHARED_DATA");
  snprintf(buf, size, "%s/%s", dir ? dir : VG_SHARED_DATA_DIR, rel);
  if (access(buf, R_OK) != 0) {
    print_message("skipping: shared data set %s is absent\n", buf);
    return NULL;
  }
  return buf;
}

#endif
