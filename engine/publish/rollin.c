/*
 * Rollup records read back (rollup.h, vg_rollin_decode): what a serve
 * instance consumes from a city's rollup topic. The Kafka key names the
 * window (`<series>|<resolution>|<start>`, as vg_rollup_key writes it); the
 * JSON value gives its revision, zone and state (the accumulator's
 * encoding in base64). The statistics in the value are not read: the state
 * holds them, and more.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_tree.h>

#include "vigie/acc.h"
#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/rollup.h"
#include "vigie/serieskey.h"
#include "vigie/text.h"

#define ROLLIN_MAX_TAGS  64
#define ROLLIN_MIN_START (-2208988800LL) /* 1900-01-01T00:00:00Z */
#define ROLLIN_MAX_START 253402300800LL  /* 10000-01-01T00:00:00Z */

/* The key's three parts: series, resolution, start. */
static int split_key(const char *key, size_t len, size_t *slen, enum vg_res *res,
                     int64_t *start) {
  const char *bar2 = NULL, *bar1 = NULL;
  for (size_t i = len; i-- > 0 && !bar1;)
    if (key[i] == '|') {
      if (!bar2)
        bar2 = key + i;
      else
        bar1 = key + i;
    }
  if (!bar1 || bar1 == key || vg_res_from_name(bar1 + 1, (size_t)(bar2 - bar1 - 1), res))
    return -1;
  char num[24];
  size_t n = (size_t)(key + len - bar2 - 1);
  if (n == 0 || n >= sizeof num)
    return -1;
  memcpy(num, bar2 + 1, n);
  num[n] = '\0';
  char *end;
  errno = 0;
  long long v = strtoll(num, &end, 10);
  /* from 1900 to 9999: the calendar's domain, with room (found by fuzzing) */
  if (*end || errno || (*res != VG_RES_HOUR && *res != VG_RES_DAY) ||
      v < ROLLIN_MIN_START || v >= ROLLIN_MAX_START)
    return -1;
  *slen = (size_t)(bar1 - key);
  *start = v;
  return 0;
}

struct tags {
  struct vg_series_tag t[ROLLIN_MAX_TAGS + 1];
  char *own[2 * ROLLIN_MAX_TAGS];
  size_t n, nown;
  int has_site;
};

static char *keep(struct tags *g, const char *s) {
  char *c = strdup(s);
  if (c)
    g->own[g->nown++] = c;
  return c;
}

static int take_tag(const char *name, const char *value, void *ctx) {
  struct tags *g = ctx;
  if (g->n == ROLLIN_MAX_TAGS)
    return -E2BIG;
  g->has_site |= strcmp(name, "site") == 0;
  const char *n = keep(g, name), *v = keep(g, value);
  if (!n || !v)
    return -ENOMEM;
  g->t[g->n++] = (struct vg_series_tag){n, v, (uint32_t)strlen(n), (uint32_t)strlen(v)};
  return 0;
}

/* The series key with the tag site=<site> added, canonical, into out. */
static int site_key(const char *key, size_t len, const char *site, struct vg_rollin *out,
                    char *errstr, size_t errstr_size) {
  struct tags g = {.n = 0};
  char *metric = malloc(len + 1);
  int rc =
      metric ? vg_series_key_split(key, len, metric, len + 1, take_tag, &g) : -ENOMEM;
  if (rc == 0 && g.has_site)
    rc = vg_errstr_rc(VG_EDECODE, errstr, errstr_size,
                      "series %.*s has a tag site already (a territory's own rollups?)",
                      (int)len, key);
  else if (rc == -EINVAL || rc == -E2BIG)
    rc = vg_errstr_rc(VG_EDECODE, errstr, errstr_size, "not a series key: %.*s", (int)len,
                      key);
  if (rc == 0) {
    g.t[g.n++] = (struct vg_series_tag){"site", site, 4, (uint32_t)strlen(site)};
    size_t mlen = strlen(metric);
    out->key = malloc(vg_series_key_max(mlen, g.t, g.n));
    if (!out->key)
      rc = -ENOMEM;
    else
      out->key_len = vg_series_key_build(out->key, metric, mlen, g.t, g.n);
  }
  for (size_t i = 0; i < g.nown; i++)
    free(g.own[i]);
  free(metric);
  return rc;
}

/* The member name of object doc when it has that type, else NULL. */
static yajl_val member(yajl_val doc, const char *name, yajl_type type) {
  const char *path[] = {name, NULL};
  return yajl_tree_get(doc, path, type);
}

static const char *str_of(yajl_val v) {
  const char *s = YAJL_GET_STRING(v);
  return s ? s : "";
}

/* The value's revision, zone and state. */
static int read_value(const char *msg, size_t len, const char *tzname,
                      struct vg_rollin *out, char *errstr, size_t errstr_size) {
  char *text = malloc(len + 1), why[256] = "";
  if (!text)
    return -ENOMEM;
  memcpy(text, msg, len);
  text[len] = '\0';
  yajl_val doc = yajl_tree_parse(text, why, sizeof why);
  free(text);
  if (!doc || !YAJL_IS_OBJECT(doc)) {
    yajl_tree_free(doc);
    return vg_errstr_rc(VG_EDECODE, errstr, errstr_size, "not a JSON object%s%s",
                        why[0] ? ": " : "", why);
  }
  yajl_val rev = member(doc, "revision", yajl_t_number),
           tz = member(doc, "timezone", yajl_t_string),
           state = member(doc, "state", yajl_t_string);
  int rc = 0;
  if (!rev || !YAJL_IS_INTEGER(rev) || YAJL_GET_INTEGER(rev) < 0 ||
      YAJL_GET_INTEGER(rev) > UINT32_MAX)
    rc = vg_errstr_rc(VG_EDECODE, errstr, errstr_size, "no revision (a whole number)");
  else if (!state)
    rc = vg_errstr_rc(VG_EDECODE, errstr, errstr_size,
                      "no state: written by a Vigie before its rollups carried it");
  else if (!tz || strcmp(str_of(tz), tzname) != 0)
    rc = vg_errstr_rc(VG_ECONFIG, errstr, errstr_size,
                      "its hours and days are of the zone %s, this store's of %s: days "
                      "of different zones are different windows, never merged",
                      tz ? str_of(tz) : "(not said)", tzname);
  if (rc == 0) {
    out->revision = (uint32_t)YAJL_GET_INTEGER(rev);
    const char *b64 = str_of(state);
    size_t n = strlen(b64), blen = 0, used = 0;
    uint8_t *bin = malloc(n / 4 * 3 + 1);
    if (!bin)
      rc = -ENOMEM;
    else if (vg_base64_decode(b64, n, bin, &blen) != 0)
      rc = vg_errstr_rc(VG_EDECODE, errstr, errstr_size, "state: not base64");
    else if ((rc = vg_acc_decode(&out->acc, bin, blen, &used)) != 0 || used != blen ||
             out->acc.st.count == 0) {
      if (rc == 0)
        vg_acc_release(&out->acc);
      rc = vg_errstr_rc(rc == VG_EVERSION ? VG_EVERSION
                        : rc == -ENOMEM   ? -ENOMEM
                                          : VG_EDECODE,
                        errstr, errstr_size, "state: %s",
                        rc == VG_EVERSION ? "an encoding version this Vigie does not know"
                                          : "not a window's accumulator");
    }
    free(bin);
  }
  yajl_tree_free(doc);
  return rc;
}

int vg_rollin_decode(const char *key, size_t klen, const char *msg, size_t len,
                     const char *site, const char *tzname, struct vg_calendar *cal,
                     struct vg_rollin *out, char *errstr, size_t errstr_size) {
  memset(out, 0, sizeof *out);
  vg_acc_init(&out->acc);
  static const char ind[] = "indicator:";
  if (key && klen >= sizeof ind - 1 && memcmp(key, ind, sizeof ind - 1) == 0)
    return 1; /* an indicator row: a territory computes its own */
  size_t slen;
  enum vg_res res;
  int64_t start;
  if (!key || split_key(key, klen, &slen, &res, &start) != 0)
    return vg_errstr_rc(VG_EDECODE, errstr, errstr_size,
                        "the message key is not <series>|<1h|1d>|<start>");
  struct vg_span w = vg_calendar_window(cal, res, start);
  if (w.start != start)
    return vg_errstr_rc(VG_ECONFIG, errstr, errstr_size,
                        "window %" PRId64 " is not a %s window of this store's clock",
                        start, vg_res_name(res));
  out->res = (uint8_t)res;
  out->start = w.start;
  out->end = w.end;
  int rc = read_value(msg, len, tzname, out, errstr, errstr_size);
  if (rc == 0)
    rc = site_key(key, slen, site, out, errstr, errstr_size);
  if (rc)
    vg_rollin_release(out);
  return rc;
}

void vg_rollin_release(struct vg_rollin *r) {
  vg_acc_release(&r->acc);
  free(r->key);
  r->key = NULL;
}
