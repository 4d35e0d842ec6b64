/*
 * Growing arrays: one macro for every dynamic array of the engine.
 *
 *   struct row *v = NULL;
 *   size_t n = 0, alloc = 0;
 *   ...
 *   if (VG_GROW(v, n + 1, alloc))
 *     return -ENOMEM;
 *   v[n++] = row;
 *
 * VG_GROW(ptr, nr, alloc) makes room for nr elements in ptr (a T * from
 * malloc or NULL), whose capacity in elements is alloc (a size_t lvalue).
 * When alloc already covers nr it does nothing; else the capacity doubles
 * from 16 until it covers nr, and the array is realloc'ed. It evaluates to 0,
 * or to -ENOMEM when the size overflows or realloc fails: then ptr and alloc
 * are left as they were (the array and its elements stay valid). ptr, nr and
 * alloc may be evaluated more than once: pass plain lvalues and a value
 * without side effects. Elements past the old capacity are uninitialized.
 */
#ifndef VIGIE_ARRAY_H
#define VIGIE_ARRAY_H

#include <errno.h>
#include <stddef.h>

/* Slow path of VG_GROW: returns the reallocated array and sets *alloc, or
 * returns p unchanged (and leaves *alloc) on failure. */
void *vg__array_grow(void *p, size_t nr, size_t *alloc, size_t elem);

#define VG_GROW(ptr, nr, alloc)                                                          \
  ((size_t)(nr) <= (alloc)                                                               \
       ? 0                                                                               \
       : ((ptr) = vg__array_grow((ptr), (size_t)(nr), &(alloc), sizeof *(ptr)),          \
          (size_t)(nr) <= (alloc) ? 0 : -ENOMEM))

#endif
