/*
 * Small text helpers shared by the parts that talk to humans.
 */
#ifndef VIGIE_TEXT_H
#define VIGIE_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* A NULL-terminated array of strings, and its length (the lists of the
 * config, and of the dataset definitions publication receives). */
struct vg_strlist {
  char **v;
  size_t n;
};

/* Levenshtein distance between two NUL-terminated strings (bytes), for
 * "did you mean" suggestions; SIZE_MAX when out of memory. */
size_t vg_edit_distance(const char *a, const char *b);

#endif
