/*
 * vigie-bench-codec: decode throughput of the codecs on realistic 80-150 byte
 * messages, single thread, printed side by side with baselines measured in
 * the same run:
 *   - DOM baselines: cJSON and jansson parse each JSON message into a tree,
 *     then the same field extraction (time, entity, tag, three fields) and
 *     the same canonical keys are written into the same event batch;
 *   - raw parsers (no extraction at all), the measurement behind the choice
 *     of the JSON library: jsmn (tokenizer into a reused array), yajl (SAX,
 *     validating, one handle per message as its API requires), cJSON and
 *     jansson parse + free.
 * Usage: vigie-bench-codec [seconds per measurement, default 1]
 * Each figure is the best of 3 runs. Rates are per second of this thread's
 * CPU time (CLOCK_THREAD_CPUTIME_ID), so that a machine shared with other
 * work does not halve them; the share of wall time the thread got is
 * printed with each row (caches are still shared: numbers on a busy machine
 * stay pessimistic).
 */
#ifdef VG_HAVE_CJSON
#include <cjson/cJSON.h>
#endif
#ifdef VG_HAVE_JANSSON
#include <jansson.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef VG_HAVE_YAJL
#include <yajl/yajl_parse.h>
#endif

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>

#include "vigie/codec.h"

#define NMSG 4096

struct msgs {
  char *buf[NMSG];
  size_t len[NMSG];
  size_t bytes;
};

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)rng;
}

static const char *const districts[] = {"Centre", "Port",    "Gare",
                                        "Nord",   "Sud-Est", "Vieux-Lyon"};

static void add(struct msgs *m, int i, const char *s) {
  m->len[i] = strlen(s);
  m->buf[i] = strdup(s);
  m->bytes += m->len[i];
}

static void gen(struct msgs *json, struct msgs *lp, struct msgs *senml) {
  char s[256];
  for (int i = 0; i < NMSG; i++) {
    unsigned sensor = rnd() % 500;
    const char *d = districts[rnd() % 6];
    long long ms = 1700000000000LL + i * 1000LL + rnd() % 1000;
    double no2 = (rnd() % 2000) / 10.0, pm10 = (rnd() % 1500) / 10.0,
           pm25 = (rnd() % 900) / 10.0;
    snprintf(s, sizeof s,
             "{\"ts\":%lld,\"sensor_id\":\"aq-%04u\",\"district\":\"%s\","
             "\"no2\":%.1f,\"pm10\":%.1f,\"pm25\":%.1f}",
             ms, sensor, d, no2, pm10, pm25);
    add(json, i, s);
    snprintf(s, sizeof s,
             "air,district=%s,sensor_id=aq-%04u no2=%.1f,pm10=%.1f,pm25=%.1f "
             "%lld000000\n",
             d, sensor, no2, pm10, pm25, ms);
    add(lp, i, s);
    snprintf(s, sizeof s,
             "[{\"bn\":\"urn:dev:aq-%04u:\",\"bt\":%lld.%03lld,\"bu\":\"ug/m3\","
             "\"n\":\"no2\",\"v\":%.1f},{\"n\":\"pm10\",\"v\":%.1f}]",
             sensor, ms / 1000, ms % 1000, no2, pm10);
    add(senml, i, s);
  }
}

static double clock_s(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
static double now(void) {
  return clock_s(CLOCK_THREAD_CPUTIME_ID);
}

typedef size_t (*decode_fn)(void *ctx, const char *msg, size_t len,
                            struct vg_event_batch *b);

struct result {
  double msgs, events, mb, share;
};

static double seconds = 1.0;
static volatile size_t sink;

static struct result run(decode_fn fn, void *ctx, const struct msgs *m) {
  struct result best = {0, 0, 0, 0};
  struct vg_event_batch b;
  vg_event_batch_init(&b);
  for (int rep = 0; rep < 3; rep++) {
    size_t nmsg = 0, nev = 0, bytes = 0;
    double t0 = now(), w0 = clock_s(CLOCK_MONOTONIC), t;
    do {
      for (int i = 0; i < NMSG; i++) {
        vg_event_batch_clear(&b);
        nev += fn(ctx, m->buf[i], m->len[i], &b);
        bytes += m->len[i];
      }
      nmsg += NMSG;
      t = now() - t0;
    } while (t < seconds / 3);
    struct result r = {nmsg / t, nev / t, bytes / t / 1e6,
                       t / (clock_s(CLOCK_MONOTONIC) - w0)};
    if (r.msgs > best.msgs)
      best = r;
  }
  vg_event_batch_release(&b);
  return best;
}

/* ---- Vigie codecs ------------------------------------------------------- */

static size_t vigie_decode(void *ctx, const char *msg, size_t len,
                           struct vg_event_batch *b) {
  if (vg_codec_decode(ctx, msg, len, 1700000000000000000LL, b) != 0)
    abort();
  return b->n_events;
}

/* ---- DOM baselines: same extraction, same keys, same batch -------------- */

struct dom_event {
  const char *metric;
  double v;
};

#if defined VG_HAVE_CJSON || defined VG_HAVE_JANSSON
static char keybuf[512];

static void dom_emit(struct vg_event_batch *b, const char *metric, const char *sensor,
                     const char *district, long long ts, double v) {
  /* the canonical key, tags sorted by construction */
  size_t n =
      (size_t)snprintf(keybuf, sizeof keybuf, "%s{district=\"%s\",sensor_id=\"%s\"}",
                       metric, district, sensor);
  if (b->n_bytes + n > b->cap_bytes) {
    b->cap_bytes = (b->n_bytes + n) * 2;
    b->bytes = realloc(b->bytes, b->cap_bytes);
  }
  if (b->n_events == b->cap_events) {
    b->cap_events = b->cap_events ? b->cap_events * 2 : 16;
    b->events = realloc(b->events, b->cap_events * sizeof *b->events);
  }
  struct vg_event *e = &b->events[b->n_events++];
  memcpy(b->bytes + b->n_bytes, keybuf, n);
  e->key_off = (uint32_t)b->n_bytes;
  e->key_len = (uint32_t)n;
  b->n_bytes += n;
  e->time_ns = ts * 1000000;
  e->value = v;
  e->has_distinct = 0;
}

static const char *const fields[] = {"no2", "pm10", "pm25"};

#endif

#ifdef VG_HAVE_CJSON
static size_t cjson_decode(void *ctx, const char *msg, size_t len,
                           struct vg_event_batch *b) {
  (void)ctx;
  cJSON *root = cJSON_ParseWithLength(msg, len);
  if (!root)
    abort();
  cJSON *ts = cJSON_GetObjectItemCaseSensitive(root, "ts");
  cJSON *sensor = cJSON_GetObjectItemCaseSensitive(root, "sensor_id");
  cJSON *district = cJSON_GetObjectItemCaseSensitive(root, "district");
  if (!cJSON_IsNumber(ts) || !cJSON_IsString(sensor) || !cJSON_IsString(district))
    abort();
  for (int f = 0; f < 3; f++) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(root, fields[f]);
    if (cJSON_IsNumber(v))
      dom_emit(b, fields[f], sensor->valuestring, district->valuestring,
               (long long)ts->valuedouble, v->valuedouble);
  }
  cJSON_Delete(root);
  return b->n_events;
}

#endif

#ifdef VG_HAVE_JANSSON
static size_t jansson_decode(void *ctx, const char *msg, size_t len,
                             struct vg_event_batch *b) {
  (void)ctx;
  json_error_t err;
  json_t *root = json_loadb(msg, len, 0, &err);
  if (!root)
    abort();
  json_t *ts = json_object_get(root, "ts");
  json_t *sensor = json_object_get(root, "sensor_id");
  json_t *district = json_object_get(root, "district");
  if (!json_is_integer(ts) || !json_is_string(sensor) || !json_is_string(district))
    abort();
  for (int f = 0; f < 3; f++) {
    json_t *v = json_object_get(root, fields[f]);
    if (json_is_number(v))
      dom_emit(b, fields[f], json_string_value(sensor), json_string_value(district),
               (long long)json_integer_value(ts), json_number_value(v));
  }
  json_decref(root);
  return b->n_events;
}

#endif

/* ---- raw parsers, no extraction (the library choice) -------------------- */

static jsmntok_t toks[256];

static size_t jsmn_raw(void *ctx, const char *msg, size_t len, struct vg_event_batch *b) {
  (void)ctx;
  (void)b;
  jsmn_parser p;
  jsmn_init(&p);
  int r = jsmn_parse(&p, msg, len, toks, 256);
  if (r <= 0)
    abort();
  sink += (size_t)r;
  return 0;
}

#ifdef VG_HAVE_YAJL
static int y_any(void *ctx) {
  (void)ctx;
  return 1;
}
static int y_num(void *ctx, const char *s, size_t n) {
  (void)s;
  (void)n;
  (void)ctx;
  return 1;
}
static int y_str(void *ctx, const unsigned char *s, size_t n) {
  (void)s;
  (void)n;
  (void)ctx;
  return 1;
}
static int y_bool(void *ctx, int v) {
  (void)ctx;
  (void)v;
  return 1;
}

static const yajl_callbacks ycb = {.yajl_null = y_any,
                                   .yajl_boolean = y_bool,
                                   .yajl_number = y_num,
                                   .yajl_string = y_str,
                                   .yajl_start_map = y_any,
                                   .yajl_map_key = y_str,
                                   .yajl_end_map = y_any,
                                   .yajl_start_array = y_any,
                                   .yajl_end_array = y_any};

static size_t yajl_raw(void *ctx, const char *msg, size_t len, struct vg_event_batch *b) {
  (void)ctx;
  (void)b;
  yajl_handle h = yajl_alloc(&ycb, NULL, NULL);
  if (yajl_parse(h, (const unsigned char *)msg, len) != yajl_status_ok ||
      yajl_complete_parse(h) != yajl_status_ok)
    abort();
  yajl_free(h);
  return 0;
}

#endif

#ifdef VG_HAVE_CJSON
static size_t cjson_raw(void *ctx, const char *msg, size_t len,
                        struct vg_event_batch *b) {
  (void)ctx;
  (void)b;
  cJSON *root = cJSON_ParseWithLength(msg, len);
  if (!root)
    abort();
  cJSON_Delete(root);
  return 0;
}

#endif

#ifdef VG_HAVE_JANSSON
static size_t jansson_raw(void *ctx, const char *msg, size_t len,
                          struct vg_event_batch *b) {
  (void)ctx;
  (void)b;
  json_error_t err;
  json_t *root = json_loadb(msg, len, 0, &err);
  if (!root)
    abort();
  json_decref(root);
  return 0;
}
#endif

static void row(const char *name, const struct msgs *m, struct result r, double base) {
  printf("%-36s %5.0f B %8.2f M %8.2f M %7.1f %5.0f%%", name, (double)m->bytes / NMSG,
         r.msgs / 1e6, r.events / 1e6, r.mb, 100 * r.share);
  if (base > 0)
    printf(" %7.2fx", r.msgs / base);
  printf("\n");
}

int main(int argc, char **argv) {
  if (argc > 1)
    seconds = atof(argv[1]);
  static struct msgs json, lp, senml;
  gen(&json, &lp, &senml);
  const char *tags[] = {"district"};
  const char *flds[] = {"no2", "pm10", "pm25"};
  struct vg_codec_config jc = {.format = VG_FORMAT_JSON,
                               .time_key = "ts",
                               .time_format = VG_TIME_UNIX_MS,
                               .entity_key = "sensor_id",
                               .tag_keys = tags,
                               .n_tag_keys = 1,
                               .fields = flds,
                               .n_fields = 3};
  struct vg_codec_config jauto = jc;
  jauto.time_format = VG_TIME_AUTO;
  jauto.fields = NULL;
  jauto.n_fields = 0;
  struct vg_codec_config ic = {.format = VG_FORMAT_INFLUX};
  struct vg_codec_config sc = {.format = VG_FORMAT_SENML};
  struct vg_codec *cj, *cja, *ci, *cs;
  char err[256];
  if (vg_codec_new(&jc, &cj, err, sizeof err) ||
      vg_codec_new(&jauto, &cja, err, sizeof err) ||
      vg_codec_new(&ic, &ci, err, sizeof err) ||
      vg_codec_new(&sc, &cs, err, sizeof err)) {
    fprintf(stderr, "vigie-bench-codec: %s\n", err);
    return 1;
  }
  printf("vigie-bench-codec: %d distinct messages per format, single thread, "
         "best of 3 x %.1f s\n\n",
         NMSG, seconds / 3 * 3);
  printf("%-36s %7s %10s %10s %7s %6s %8s\n", "decoder (per CPU-second)", "size",
         "msgs/s", "events/s", "MB/s", "cpu", "vs cJSON");
  /* the baselines that are installed (bench/codec.cmake); "vs cJSON" needs it */
  struct result dom_c = {0};
#ifdef VG_HAVE_CJSON
  dom_c = run(cjson_decode, NULL, &json);
#endif
  struct result vj = run(vigie_decode, cj, &json);
  struct result vja = run(vigie_decode, cja, &json);
  row("json: vigie (fields listed)", &json, vj, dom_c.msgs);
  row("json: vigie (auto time, all fields)", &json, vja, dom_c.msgs);
#ifdef VG_HAVE_CJSON
  row("json: DOM cJSON + extraction", &json, dom_c, dom_c.msgs);
#endif
#ifdef VG_HAVE_JANSSON
  row("json: DOM jansson + extraction", &json, run(jansson_decode, NULL, &json),
      dom_c.msgs);
#endif
  row("influx line protocol: vigie", &lp, run(vigie_decode, ci, &lp), 0);
  row("senml: vigie", &senml, run(vigie_decode, cs, &senml), 0);
  printf("\nraw JSON parsers, no extraction (library choice):\n");
  row("jsmn tokenize", &json, run(jsmn_raw, NULL, &json), dom_c.msgs);
#ifdef VG_HAVE_YAJL
  row("yajl parse (validating SAX)", &json, run(yajl_raw, NULL, &json), dom_c.msgs);
#endif
#ifdef VG_HAVE_CJSON
  row("cJSON parse + delete", &json, run(cjson_raw, NULL, &json), dom_c.msgs);
#endif
#ifdef VG_HAVE_JANSSON
  row("jansson parse + decref", &json, run(jansson_raw, NULL, &json), dom_c.msgs);
#endif
  printf("\n(events/s: readings; line protocol and JSON messages carry 3, "
         "SenML 2; the raw parsers make none)\n");
  vg_codec_free(cj);
  vg_codec_free(cja);
  vg_codec_free(ci);
  vg_codec_free(cs);
  return 0;
}
