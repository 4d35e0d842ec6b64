/*
 * The slow path of VG_GROW (include/vigie/array.h): the new capacity and the
 * realloc, with every size checked for overflow.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>

#include "vigie/array.h"

void *vg__array_grow(void *p, size_t nr, size_t *alloc, size_t elem) {
  assert(elem > 0 && nr > *alloc);
  size_t n = *alloc ? *alloc : 16;
  while (n < nr)
    n = n > SIZE_MAX / 2 ? nr : n * 2;
  if (n > SIZE_MAX / elem)
    return p;
  void *q = realloc(p, n * elem);
  if (!q)
    return p;
  *alloc = n;
  return q;
}
