/*
 * The rollup topic's message (rollup.h): one window as a JSON object and its
 * key. The producing side lives in engine/ingest/rollpub.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/dataset.h"
#include "vigie/publish.h"
#include "vigie/rollup.h"
#include "vigie/calendar.h"
#include "vigie/wstats.h"

const char *vg_rollup_res_name(uint8_t res) {
  return res == VG_RES_HOUR ? "1h" : res == VG_RES_DAY ? "1d" : "base";
}

size_t vg_rollup_key(char *buf, size_t size, const char *key, size_t key_len, uint8_t res,
                     int64_t start) {
  int n = snprintf(buf, size, "%.*s|%s|%" PRId64, (int)key_len, key, vg_rollup_res_name(res),
                   start);
  return n < 0 ? 0 : (size_t)n;
}

struct tagw {
  FILE *out;
  int n;
};

static int put_tag(const char *name, const char *value, void *ctx) {
  struct tagw *t = ctx;
  if (t->n++)
    putc(',', t->out);
  vg_json_string(t->out, name, strlen(name));
  putc(':', t->out);
  vg_json_string(t->out, value, strlen(value));
  return 0;
}

static void put_num(FILE *out, double v) {
  char b[VG_FMT_DOUBLE_MAX];
  if (isfinite(v))
    fwrite(b, 1, vg_fmt_double(v, b), out);
  else
    fputs("null", out);
}

int vg_rollup_json(FILE *out, const char *key, size_t key_len, const struct vg_wentry *w,
                   const struct vg_tz *tz) {
  char *metric = malloc(key_len + 1), iso[VG_FMT_ISO_MAX];
  if (!metric)
    return -ENOMEM;
  fputs("{\"series\":", out);
  vg_json_string(out, key, key_len);
  fputs(",\"tags\":{", out);
  struct tagw t = {out, 0};
  int rc = vg_series_key_split(key, key_len, metric, key_len + 1, put_tag, &t);
  if (rc) {
    free(metric);
    return rc;
  }
  fputs("},\"metric\":", out);
  vg_json_string(out, metric, strlen(metric));
  free(metric);
  fprintf(out, ",\"resolution\":\"%s\",\"start_datetime\":\"", vg_rollup_res_name(w->res));
  fwrite(iso, 1, vg_fmt_iso(w->start, tz, iso), out);
  fputs("\",\"end_datetime\":\"", out);
  fwrite(iso, 1, vg_fmt_iso(w->end, tz, iso), out);
  putc('"', out);
  double st[VG_STAT_N];
  vg_window_stats(w, st);
  for (int i = 0; i < VG_STAT_N; i++) {
    if (((i == VG_STAT_P50 || i == VG_STAT_P95) && !w->acc.qs) ||
        (i == VG_STAT_DISTINCT && !w->acc.hll))
      continue; /* not kept for this series */
    fprintf(out, ",\"%s\":", vg_stat_name(i));
    if (i == VG_STAT_COUNT)
      fprintf(out, "%" PRIu64, (uint64_t)w->acc.st.count);
    else
      put_num(out, st[i]);
  }
  fprintf(out, ",\"status\":\"%s\",\"revision\":%" PRIu32 "}",
          w->final ? "final" : "provisional", w->revision);
  return ferror(out) ? -EIO : 0;
}
