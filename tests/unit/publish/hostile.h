/*
 * Hostile strings for every JSON output (issue 16): quote, backslash, every
 * control character, U+2028/U+2029, markup, invalid UTF-8, a 10 kB string,
 * emoji -- each with the value it must parse back to (invalid bytes become
 * U+FFFD, jsonw.h), and a check that parses a document with yajl's tree
 * parser and compares a string at a path.
 */
#ifndef VIGIE_TEST_HOSTILE_H
#define VIGIE_TEST_HOSTILE_H

#include <string.h>

#include <yajl/yajl_tree.h>

#include "testutil.h"

struct hostile {
  const char *s, *want; /* sent, and parsed back */
  size_t len, want_len;
};

#define H_SAME(lit)                                                                      \
  { lit, lit, sizeof lit - 1, sizeof lit - 1 }
#define H_TO(lit, back)                                                                  \
  { lit, back, sizeof lit - 1, sizeof back - 1 }

/* Without NUL bytes: usable as C strings (config values, tag values). */
static const struct hostile hostile_c[] = {
    H_SAME("say \"hi\""),
    H_SAME("back\\slash \\\" \\u0041 \\n"),
    H_SAME("\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13"
           "\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"),
    H_SAME("line\xe2\x80\xa8sep\xe2\x80\xa9para"),
    H_SAME("</script><script>alert(1)</script><!-- -->"),
    H_SAME("emoji \xf0\x9f\x98\x80 \xf0\x9f\x87\xab\xf0\x9f\x87\xb7 caf\xc3\xa9"),
    H_TO("bad a\xff\xc3(b\xed\xa0\x80"
         "c\xf0\x9f\x98",
         "bad a\xef\xbf\xbd\xef\xbf\xbd(b\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
         "c\xef\xbf\xbd"),
    H_TO("\xc0\xaf overlong, \xf4\x90\x80\x80 too high, \x80 lone",
         "\xef\xbf\xbd\xef\xbf\xbd overlong, \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
         "\xef\xbf\xbd too high, \xef\xbf\xbd lone"),
    H_SAME("{\"a\":[1,2]}, ; \t|"),
};
#define NHOSTILE_C (sizeof hostile_c / sizeof *hostile_c)

/* A 10 kB string of every printable ASCII byte and quotes (static, built
 * once; NUL-terminated). */
static const char *hostile_long(size_t *len) {
  static char s[10241];
  if (!s[0]) {
    for (size_t i = 0; i < sizeof s - 1; i++)
      s[i] = i % 97 == 0 ? '"' : i % 89 == 0 ? '\\' : (char)(' ' + i % 95);
  }
  *len = sizeof s - 1;
  return s;
}

/* The string at path (NULL-terminated keys; an array index as "#N") of the
 * JSON text doc, which must parse; copied into a malloc'd buffer. */
static char *hostile_get(const char *doc, const char *const *path, size_t *len) {
  char err[256];
  yajl_val root = yajl_tree_parse(doc, err, sizeof err);
  if (!root)
    fail_msg("not valid JSON (%s): %.300s", err, doc);
  yajl_val v = root;
  for (size_t i = 0; path[i] && v; i++) {
    if (path[i][0] == '#') {
      size_t k = (size_t)atoi(path[i] + 1);
      v = YAJL_IS_ARRAY(v) && k < v->u.array.len ? v->u.array.values[k] : NULL;
    } else {
      const char *one[] = {path[i], NULL};
      v = yajl_tree_get(v, one, yajl_t_any);
    }
  }
  if (!v || !YAJL_IS_STRING(v))
    fail_msg("no string at %s...: %.300s", path[0], doc);
  /* yajl_tree strings are NUL-terminated: a \u0000 inside cuts them */
  const char *str = v->u.string;
  *len = strlen(str);
  char *s = strdup(str);
  yajl_tree_free(root);
  return s;
}

/* Asserts that doc holds want (want_len bytes) at path. */
static void hostile_check(const char *doc, const char *const *path, const char *want,
                          size_t want_len) {
  size_t len;
  char *got = hostile_get(doc, path, &len);
  if (len != want_len || memcmp(got, want, len) != 0)
    fail_msg("%s: got %zu bytes \"%.80s\", want %zu bytes \"%.80s\"", path[0], len, got,
             want_len, want);
  free(got);
}

#endif
