/*
 * vigie-unit: the one runner of Vigie's C unit tests.
 *
 *   vigie-unit            run every group
 *   vigie-unit GROUP...   run the named groups (CTest runs one per entry)
 *   vigie-unit --list     list the groups
 *
 * Groups register from tests/unit/<stage>/CMakeLists.txt via vg_unit_group();
 * the table below is generated. Exit status: 0 when every test passed.
 */
#include <stdio.h>
#include <string.h>

struct vg_test_group {
  const char *name;
  int (*run)(void);
};

#include "unit_decls.h"
#include "unit_groups.h"

#define NGROUPS (sizeof vg_test_groups / sizeof vg_test_groups[0])

int main(int argc, char **argv) {
  int failed = 0;
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < NGROUPS; i++)
      puts(vg_test_groups[i].name);
    return 0;
  }
  if (argc == 1) {
    for (size_t i = 0; i < NGROUPS; i++)
      failed += vg_test_groups[i].run();
    return failed != 0;
  }
  for (int a = 1; a < argc; a++) {
    size_t i = 0;
    while (i < NGROUPS && strcmp(vg_test_groups[i].name, argv[a]) != 0)
      i++;
    if (i == NGROUPS) {
      fprintf(stderr, "vigie-unit: no test group \"%s\" (see --list)\n", argv[a]);
      return 2;
    }
    failed += vg_test_groups[i].run();
  }
  return failed != 0;
}
