/*
 * The rollup topic's message (rollup.h): one window as a JSON object and its
 * key. The producing side lives in rollpub.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/dataset.h"
#include "vigie/jsonw.h"
#include "vigie/publish.h"
#include "vigie/indicator.h"
#include "vigie/rollup.h"
#include "vigie/text.h"
#include "vigie/calendar.h"
#include "vigie/wstats.h"

size_t vg_rollup_key(char *buf, size_t size, const char *key, size_t key_len, uint8_t res,
                     int64_t start) {
  int n =
      snprintf(buf, size, "%.*s|%s|%" PRId64, (int)key_len, key, vg_res_name(res), start);
  return n < 0 ? 0 : (size_t)n;
}

static int put_tag(const char *name, const char *value, void *ctx) {
  vg_jsonw_kv(ctx, name, value);
  return 0;
}

/* "state": the accumulator's encoding in base64. 0 or -ENOMEM. */
static int put_state(struct vg_jsonw *w, const struct vg_acc *acc) {
  size_t cap = vg_acc_encoded_size(acc), n = 0;
  uint8_t *bin = malloc(cap);
  char *b64 = malloc(VG_BASE64_LEN(cap) + 1);
  int rc = bin && b64 ? vg_acc_encode(acc, bin, cap, &n) : -ENOMEM;
  if (rc == 0) {
    vg_jsonw_cstr(w, "state");
    vg_jsonw_str(w, b64, vg_base64_encode(bin, n, b64));
  }
  free(bin);
  free(b64);
  return rc;
}

/* The message into w; 0, -EINVAL (a malformed key) or w's error. */
static int rollup_json(struct vg_jsonw *w, const char *key, size_t key_len,
                       const struct vg_wentry *win, const struct vg_tz *tz,
                       const struct vg_rollup_origin *o) {
  char *metric = malloc(key_len + 1), iso[VG_FMT_ISO_MAX];
  if (!metric)
    return -ENOMEM;
  vg_jsonw_map(w);
  vg_jsonw_cstr(w, "series");
  vg_jsonw_str(w, key, key_len);
  vg_jsonw_cstr(w, "tags");
  vg_jsonw_map(w);
  int rc = vg_series_key_split(key, key_len, metric, key_len + 1, put_tag, w);
  vg_jsonw_map_end(w);
  vg_jsonw_cstr(w, "metric");
  vg_jsonw_cstr(w, metric);
  free(metric);
  if (rc)
    return rc;
  vg_jsonw_kv(w, "resolution", vg_res_name(win->res));
  vg_jsonw_cstr(w, "start_datetime");
  vg_jsonw_str(w, iso, vg_fmt_iso(win->start, tz, iso));
  vg_jsonw_cstr(w, "end_datetime");
  vg_jsonw_str(w, iso, vg_fmt_iso(win->end, tz, iso));
  double st[VG_STAT_N];
  vg_window_stats(win, st);
  for (int i = 0; i < VG_STAT_N; i++) {
    if (((i == VG_STAT_P50 || i == VG_STAT_P95) && !win->acc.qs) ||
        (i == VG_STAT_DISTINCT && !win->acc.hll))
      continue; /* not kept for this series */
    vg_jsonw_cstr(w, vg_stat_name(i));
    if (i == VG_STAT_COUNT)
      vg_jsonw_u64(w, (uint64_t)win->acc.st.count);
    else
      vg_jsonw_double(w, st[i]);
  }
  vg_jsonw_kv(w, "status", win->final ? "final" : "provisional");
  vg_jsonw_cstr(w, "revision");
  vg_jsonw_u64(w, win->revision);
  if (o && o->site)
    vg_jsonw_kv(w, "site", o->site);
  if (o && o->timezone)
    vg_jsonw_kv(w, "timezone", o->timezone);
  rc = put_state(w, &win->acc);
  vg_jsonw_map_end(w);
  return rc ? rc : vg_jsonw_error(w);
}

int vg_rollup_json(FILE *out, const char *key, size_t key_len, const struct vg_wentry *w,
                   const struct vg_tz *tz, const struct vg_rollup_origin *o) {
  struct vg_jsonw *jw = vg_jsonw_new(0);
  if (!jw)
    return -ENOMEM;
  int rc = rollup_json(jw, key, key_len, w, tz, o);
  if (!rc)
    rc = vg_jsonw_flush(jw, out);
  vg_jsonw_free(jw);
  return rc ? rc : ferror(out) ? -EIO : 0;
}

size_t vg_rollup_ind_key(char *buf, size_t size, const struct vg_store_ind *row) {
  int n = snprintf(buf, size, "indicator:%s|%s|%" PRId64, row->indicator, row->series,
                   row->start);
  return n < 0 ? 0 : (size_t)n;
}

static void kv_num(struct vg_jsonw *w, const char *k, double v) {
  char b[VG_FMT_DOUBLE_MAX];
  vg_jsonw_cstr(w, k);
  if (!isfinite(v)) {
    vg_jsonw_null(w);
    return;
  }
  size_t n = vg_fmt_double(v, b);
  vg_jsonw_number(w, b, n);
}

int vg_rollup_ind_json(FILE *out, const struct vg_store_ind *row,
                       const struct vg_indicator_def *d, const struct vg_tz *tz) {
  struct vg_jsonw *w = vg_jsonw_new(0);
  if (!w)
    return -ENOMEM;
  char iso[VG_FMT_ISO_MAX];
  vg_jsonw_map(w);
  vg_jsonw_kv(w, "dataset", VG_INDICATORS_DATASET);
  vg_jsonw_kv(w, "indicator", row->indicator);
  vg_jsonw_kv(w, "series", row->series);
  if (d)
    vg_jsonw_kv(w, "period", vg_ind_period_name(d->period));
  vg_fmt_iso(row->start, tz, iso);
  vg_jsonw_kv(w, "period_start", iso);
  vg_fmt_iso(row->end, tz, iso);
  vg_jsonw_kv(w, "period_end", iso);
  kv_num(w, "value", row->value);
  kv_num(w, "target", d ? d->target : NAN);
  vg_jsonw_cstr(w, "attained");
  int att = d ? vg_indicator_attained(d, row->value) : -1;
  if (att < 0)
    vg_jsonw_null(w);
  else
    vg_jsonw_bool(w, att);
  kv_num(w, "previous_value", row->previous);
  kv_num(w, "coverage", row->coverage);
  vg_jsonw_kv(w, "status", row->final ? "final" : "provisional");
  vg_jsonw_cstr(w, "revision");
  vg_jsonw_u64(w, row->revision);
  if (d && d->unit && *d->unit)
    vg_jsonw_kv(w, "unit", d->unit);
  vg_jsonw_map_end(w);
  int rc = vg_jsonw_flush(w, out);
  vg_jsonw_free(w);
  return rc ? rc : ferror(out) ? -EIO : 0;
}
