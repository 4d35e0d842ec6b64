/*
 * Dead-letter producer (deadletter.h): an idempotent librdkafka producer
 * writing rejected messages with their provenance in headers, a journal of
 * the current epoch's dead letters for recovery from fatal producer errors,
 * and the read-back of the topic's tail that makes them exactly once across
 * crashes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "vigie/array.h"
#include "vigie/deadletter.h"
#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/log.h"
#include "ingest/kafka_internal.h"

/* ---- the seen set: source coordinates found in the tail ---------------------- */

struct seen_slot {
  int64_t offset;
  int32_t partition;
  uint32_t topic; /* index + 1 in topics; 0 = empty slot */
};

struct vg_deadletter_seen {
  char **topics;
  uint32_t ntopics;
  size_t atopics; /* capacity of topics */
  struct seen_slot *slots;
  size_t n, mask;
};

static uint64_t coord_hash(const char *topic, int32_t partition, int64_t offset) {
  uint64_t h = vg_fnv1a64(VG_FNV64_OFFSET, topic, strlen(topic));
  h ^= (uint64_t)(uint32_t)partition * 0x9e3779b97f4a7c15ULL;
  h ^= (uint64_t)offset * 0xc2b2ae3d27d4eb4fULL;
  return h ^ (h >> 29);
}

static char *dup_bytes(const void *p, size_t n) {
  char *q = malloc(n + 1);
  if (q) {
    if (n)
      memcpy(q, p, n);
    q[n] = '\0';
  }
  return q;
}

static int seen_topic(struct vg_deadletter_seen *s, const char *topic, size_t len,
                      uint32_t *idx) {
  for (uint32_t i = 0; i < s->ntopics; i++)
    if (strlen(s->topics[i]) == len && memcmp(s->topics[i], topic, len) == 0) {
      *idx = i + 1;
      return 0;
    }
  if (VG_GROW(s->topics, (size_t)s->ntopics + 1, s->atopics))
    return -ENOMEM;
  s->topics[s->ntopics] = dup_bytes(topic, len); /* not a string: len bytes */
  if (!s->topics[s->ntopics])
    return -ENOMEM;
  *idx = ++s->ntopics;
  return 0;
}

static struct seen_slot *seen_find(const struct vg_deadletter_seen *s, const char *topic,
                                   uint32_t tidx, int32_t partition, int64_t offset) {
  if (!s->slots)
    return NULL;
  for (size_t i = coord_hash(topic, partition, offset) & s->mask;;
       i = (i + 1) & s->mask) {
    struct seen_slot *q = &s->slots[i];
    if (!q->topic ||
        (q->topic == tidx && q->partition == partition && q->offset == offset))
      return q;
  }
}

static int seen_add(struct vg_deadletter_seen *s, const char *topic, size_t tlen,
                    int32_t partition, int64_t offset) {
  uint32_t tidx;
  int rc = seen_topic(s, topic, tlen, &tidx);
  if (rc)
    return rc;
  if (!s->slots || (s->n + 1) * 2 > s->mask + 1) {
    size_t nm = s->slots ? s->mask * 2 + 1 : 255;
    struct seen_slot *ns = calloc(nm + 1, sizeof *ns), *old = s->slots;
    size_t om = s->mask;
    if (!ns)
      return -ENOMEM;
    s->slots = ns;
    s->mask = nm;
    for (size_t i = 0; old && i <= om; i++)
      if (old[i].topic)
        *seen_find(s, s->topics[old[i].topic - 1], old[i].topic, old[i].partition,
                   old[i].offset) = old[i];
    free(old);
  }
  const char *name = s->topics[tidx - 1];
  struct seen_slot *q = seen_find(s, name, tidx, partition, offset);
  if (!q->topic) {
    *q = (struct seen_slot){offset, partition, tidx};
    s->n++;
  }
  return 0;
}

int vg_deadletter_seen_has(const struct vg_deadletter_seen *s, const char *topic,
                           int32_t partition, int64_t offset) {
  if (!s || !s->n)
    return 0;
  uint32_t tidx = 0;
  for (uint32_t i = 0; i < s->ntopics && !tidx; i++)
    if (strcmp(s->topics[i], topic) == 0)
      tidx = i + 1;
  if (!tidx)
    return 0;
  return seen_find(s, topic, tidx, partition, offset)->topic != 0;
}

void vg_deadletter_seen_each(const struct vg_deadletter_seen *s,
                             void (*fn)(void *ctx, const char *topic, int32_t partition,
                                        int64_t offset),
                             void *ctx) {
  for (size_t i = 0; s && s->slots && i <= s->mask; i++)
    if (s->slots[i].topic)
      fn(ctx, s->topics[s->slots[i].topic - 1], s->slots[i].partition,
         s->slots[i].offset);
}

size_t vg_deadletter_seen_count(const struct vg_deadletter_seen *s) {
  return s ? s->n : 0;
}

void vg_deadletter_seen_free(struct vg_deadletter_seen *s) {
  if (!s)
    return;
  for (uint32_t i = 0; i < s->ntopics; i++)
    free(s->topics[i]);
  free(s->topics);
  free(s->slots);
  free(s);
}

/* A decimal header value; 0 or -1 when absent or malformed. */
static int header_i64(const struct vg_kafka_msg *m, const char *name, int64_t *v) {
  const char *p;
  size_t n;
  char buf[24];
  if (vg_kafka_msg_header(m, name, &p, &n) || n == 0 || n >= sizeof buf)
    return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  char *end;
  errno = 0;
  long long x = strtoll(buf, &end, 10);
  if (errno || *end)
    return -1;
  *v = x;
  return 0;
}

static int on_tail(const struct vg_kafka_msg *m, void *ctx) {
  struct vg_deadletter_seen *s = ctx;
  const char *topic;
  size_t tlen;
  int64_t part, off;
  if (vg_kafka_msg_header(m, "vigie.topic", &topic, &tlen) ||
      header_i64(m, "vigie.partition", &part) || header_i64(m, "vigie.offset", &off) ||
      part < 0 || part > INT32_MAX)
    return 0; /* not one of ours (someone else writes to the topic) */
  return seen_add(s, topic, tlen, (int32_t)part, off);
}

int vg_deadletter_scan(const struct vg_kafka_conf *kc, const char *topic,
                       const struct vg_kafka_positions *from, int timeout_ms,
                       struct vg_deadletter_seen **seen, struct vg_kafka_positions *end,
                       char *errstr, size_t errstr_size) {
  struct vg_deadletter_seen *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(errstr, errstr_size, "out of memory reading back the dead letters");
    return -ENOMEM;
  }
  int rc = vg_kafka_read_tail(kc, topic, from, timeout_ms, on_tail, s, end, errstr,
                              errstr_size);
  if (rc) {
    vg_deadletter_seen_free(s);
    return rc;
  }
  *seen = s;
  return 0;
}

/* ---- the vigie.rejected header ------------------------------------------------ */

static int whole_item(const struct vg_rejected *r) {
  return r->field_off == r->item_off && r->field_len == r->item_len;
}

size_t vg_rejected_format(char *buf, size_t size, const struct vg_rejected *r, size_t n) {
  size_t at = 0;
  if (size)
    buf[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    char one[128];
    int k;
    if (whole_item(&r[i]))
      k = snprintf(one, sizeof one, "%s%" PRIu32 "-%" PRIu64 "=%s", i ? "," : "",
                   r[i].item_off, (uint64_t)r[i].item_off + r[i].item_len, r[i].reason);
    else
      k = snprintf(one, sizeof one,
                   "%s%" PRIu32 "-%" PRIu64 ":%" PRIu32 "-%" PRIu64 "=%s", i ? "," : "",
                   r[i].item_off, (uint64_t)r[i].item_off + r[i].item_len, r[i].field_off,
                   (uint64_t)r[i].field_off + r[i].field_len, r[i].reason);
    if (k < 0)
      continue;
    if (at + (size_t)k < size)
      memcpy(buf + at, one, (size_t)k + 1);
    at += (size_t)k;
  }
  return at;
}

/* A decimal uint32 at *p (digits only). 0 or -1. */
static int parse_u32(const char **p, const char *end, uint32_t *v) {
  uint64_t x = 0;
  const char *q = *p;
  if (q == end || *q < '0' || *q > '9')
    return -1;
  for (; q < end && *q >= '0' && *q <= '9'; q++) {
    x = x * 10 + (uint64_t)(*q - '0');
    if (x > UINT32_MAX)
      return -1;
  }
  *p = q;
  *v = (uint32_t)x;
  return 0;
}

/* "A-B" at *p into (off, len), B >= A. 0 or -1. */
static int parse_range(const char **p, const char *end, uint32_t *off, uint32_t *len) {
  uint32_t a, b;
  if (parse_u32(p, end, &a) || *p == end || **p != '-')
    return -1;
  (*p)++;
  if (parse_u32(p, end, &b) || b < a)
    return -1;
  *off = a;
  *len = b - a;
  return 0;
}

int vg_rejected_parse(const char *text, size_t len, struct vg_rejected *out, size_t max,
                      size_t *n) {
  const char *p = text, *end = text + len;
  *n = 0;
  if (len == 0)
    return VG_EDECODE;
  for (;;) {
    struct vg_rejected r;
    if (*n == max || parse_range(&p, end, &r.item_off, &r.item_len))
      return VG_EDECODE;
    r.field_off = r.item_off;
    r.field_len = r.item_len;
    if (p < end && *p == ':') {
      p++;
      if (parse_range(&p, end, &r.field_off, &r.field_len) || r.field_off < r.item_off ||
          (uint64_t)r.field_off + r.field_len > (uint64_t)r.item_off + r.item_len)
        return VG_EDECODE;
    }
    if (p == end || *p != '=')
      return VG_EDECODE;
    /* a reason is a snake_case name (codec.h, window.h) */
    r.reason = ++p;
    while (p < end && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                       (*p >= '0' && *p <= '9') || *p == '_'))
      p++;
    r.reason_len = (size_t)(p - r.reason);
    if (r.reason_len == 0 || (p < end && *p != ','))
      return VG_EDECODE;
    out[(*n)++] = r;
    if (p == end)
      return 0;
    p++; /* the comma: another entry must follow */
  }
}

int vg_rejected_names(const struct vg_rejected *r, size_t n, uint32_t item_off,
                      uint32_t item_len, uint32_t field_off, uint32_t field_len) {
  for (size_t i = 0; i < n; i++)
    if (r[i].item_off == item_off && r[i].item_len == item_len &&
        (whole_item(&r[i]) ||
         (r[i].field_off == field_off && r[i].field_len == field_len)))
      return 1;
  return 0;
}

/* ---- the producer --------------------------------------------------------------- */

/* A dead letter of the current epoch, kept until a flush acknowledged it:
 * what a fatal producer error may have lost is produced again from it. */
struct jentry {
  char *topic; /* the source's */
  int32_t partition;
  int64_t offset;
  size_t byte_offset;
  char *reason, *rejected; /* rejected may be NULL */
  void *key, *payload;
  size_t key_len, len;
};

struct vg_deadletter {
  rd_kafka_t *rk;
  struct vg_kafka_conf kc; /* the caller's, borrowed for the producer's life */
  char *topic;
  const struct vg_deadletter_seen *seen;
  uint64_t sent, delivered, failed, skipped, recovered;
  rd_kafka_resp_err_t last_err;
  int fatal;    /* the client hit a fatal error: replace it in the next flush */
  int readback; /* after a replacement: read back and produce what is missing */
  /* positions: acked (moved by delivery reports) and as of the last
   * successful flush */
  struct vg_kafka_positions acked, flushed;
  struct jentry *journal;
  size_t njournal, capjournal;
  uint64_t fatal_at; /* test hook: the send that raises a fatal error (0: never) */
  int borrowed;      /* rk is a transaction's (vg_deadletter_new_txn) */
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
  struct vg_deadletter *d = opaque;
  (void)rk;
  if (m->err) {
    if (m->err == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(d->rk, NULL, 0)) {
      d->fatal = 1; /* recovered by the next flush: not a failure */
      return;
    }
    d->failed++;
    d->last_err = m->err;
    return;
  }
  d->delivered++;
  if (m->partition < 0)
    return;
  if (m->partition >= d->acked.n) {
    int32_t n = m->partition + 1;
    int64_t *no = realloc(d->acked.off, (size_t)n * sizeof *no);
    if (!no)
      return; /* positions stay behind: a later read-back reads more */
    for (int32_t p = d->acked.n; p < n; p++)
      no[p] = 0; /* a partition added since: from its beginning */
    d->acked.off = no;
    d->acked.n = n;
  }
  if (m->offset + 1 > d->acked.off[m->partition])
    d->acked.off[m->partition] = m->offset + 1;
}

static int new_client(struct vg_deadletter *d, char *errstr, size_t errstr_size) {
  return vg_kafka_producer_new(&d->kc, "dead-letter producer", on_delivery, d, &d->rk,
                               errstr, errstr_size);
}

int vg_deadletter_new(const struct vg_kafka_conf *kc, const char *topic,
                      const struct vg_kafka_positions *start,
                      const struct vg_deadletter_seen *seen, struct vg_deadletter **out,
                      char *errstr, size_t errstr_size) {
  struct vg_deadletter *d = calloc(1, sizeof *d);
  if (d)
    d->topic = strdup(topic);
  if (!d || !d->topic ||
      (start && (vg_kafka_positions_copy(&d->acked, start) ||
                 vg_kafka_positions_copy(&d->flushed, start)))) {
    snprintf(errstr, errstr_size, "dead-letter producer: out of memory");
    vg_deadletter_free(d);
    return -ENOMEM;
  }
  d->kc = *kc;
  d->seen = seen;
  const char *hook = getenv("VIGIE_TEST_FATAL_DEADLETTER");
  if (hook && *hook)
    d->fatal_at = strtoull(hook, NULL, 10);
  int rc = new_client(d, errstr, errstr_size);
  if (rc) {
    vg_deadletter_free(d);
    return rc;
  }
  *out = d;
  return 0;
}

static void jentry_release(struct jentry *j) {
  free(j->topic);
  free(j->reason);
  free(j->rejected);
  free(j->key);
  free(j->payload);
}

static void journal_clear(struct vg_deadletter *d) {
  for (size_t i = 0; i < d->njournal; i++)
    jentry_release(&d->journal[i]);
  d->njournal = 0;
}

/* Produces one journal entry. 0, or the client's error. */
static rd_kafka_resp_err_t produce(struct vg_deadletter *d, const struct jentry *j) {
  char part[16], off[24], at[24];
  snprintf(part, sizeof part, "%" PRId32, j->partition);
  snprintf(off, sizeof off, "%" PRId64, j->offset);
  snprintf(at, sizeof at, "%zu", j->byte_offset);
  for (;;) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    rd_kafka_header_add(h, "vigie.reason", -1, j->reason, -1);
    rd_kafka_header_add(h, "vigie.topic", -1, j->topic, -1);
    rd_kafka_header_add(h, "vigie.partition", -1, part, -1);
    rd_kafka_header_add(h, "vigie.offset", -1, off, -1);
    rd_kafka_header_add(h, "vigie.byte_offset", -1, at, -1);
    if (j->rejected)
      rd_kafka_header_add(h, "vigie.rejected", -1, j->rejected, -1);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_VALUE(j->payload, j->len),
        RD_KAFKA_V_KEY(j->key, j->key_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
      return e; /* the headers are the client's now */
    rd_kafka_headers_destroy(h);
    if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
      return e;
    rd_kafka_poll(d->rk, 100); /* back-pressure: let deliveries drain */
  }
}

int vg_deadletter_new_txn(rd_kafka_t *rk, const char *topic, struct vg_deadletter **out) {
  struct vg_deadletter *d = calloc(1, sizeof *d);
  if (!d || !(d->topic = strdup(topic))) {
    free(d);
    return -ENOMEM;
  }
  d->rk = rk;
  d->borrowed = 1;
  *out = d;
  return 0;
}

/* A dead letter into the transaction (vg_deadletter_new_txn): the
 * transaction's commit delivers it, its abort drops it. */
static int send_txn(struct vg_deadletter *d, const struct vg_kafka_msg *src,
                    const char *reason, size_t byte_offset, const char *rejected) {
  struct jentry j = {.topic = (char *)src->topic,
                     .partition = src->partition,
                     .offset = src->offset,
                     .byte_offset = byte_offset,
                     .reason = (char *)reason,
                     .rejected = (char *)rejected,
                     .key = (void *)src->key,
                     .key_len = src->key ? src->key_len : 0,
                     .payload = (void *)src->payload,
                     .len = src->len};
  rd_kafka_resp_err_t e = produce(d, &j);
  d->sent++;
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
    return 0;
  d->failed++;
  d->last_err = e;
  return VG_EKAFKA;
}

int vg_deadletter_send(struct vg_deadletter *d, const struct vg_kafka_msg *src,
                       const char *reason, size_t byte_offset, const char *rejected) {
  if (d->borrowed)
    return send_txn(d, src, reason, byte_offset, rejected);
  if (vg_deadletter_seen_has(d->seen, src->topic, src->partition, src->offset)) {
    d->skipped++;
    return 1;
  }
  if (VG_GROW(d->journal, d->njournal + 1, d->capjournal))
    return -ENOMEM;
  struct jentry *j = &d->journal[d->njournal];
  *j = (struct jentry){.partition = src->partition,
                       .offset = src->offset,
                       .byte_offset = byte_offset,
                       .key_len = src->key ? src->key_len : 0,
                       .len = src->len};
  j->topic = strdup(src->topic);
  j->reason = strdup(reason);
  j->rejected = rejected ? strdup(rejected) : NULL;
  j->key = src->key ? dup_bytes(src->key, src->key_len) : NULL;
  j->payload = dup_bytes(src->payload, src->len);
  if (!j->topic || !j->reason || (rejected && !j->rejected) || (src->key && !j->key) ||
      !j->payload) {
    jentry_release(j);
    return -ENOMEM;
  }
  d->njournal++;
  d->sent++;
  if (d->fatal || d->readback || !d->rk)
    return 0; /* the next flush recovers and produces it */
  rd_kafka_resp_err_t e = produce(d, j);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
    if (d->fatal_at && d->sent == d->fatal_at)
      rd_kafka_test_fatal_error(d->rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                "VIGIE_TEST_FATAL_DEADLETTER");
    rd_kafka_poll(d->rk, 0);
    return 0;
  }
  if (e == RD_KAFKA_RESP_ERR__FATAL || rd_kafka_fatal_error(d->rk, NULL, 0)) {
    d->fatal = 1;
    return 0;
  }
  d->njournal--;
  jentry_release(j);
  d->failed++;
  d->last_err = e;
  return VG_EKAFKA;
}

/* The coordinates of the journal entries found in the tail. */
struct found {
  const struct vg_deadletter *d;
  uint8_t *in_topic; /* per journal entry */
};

static int on_recovery_tail(const struct vg_kafka_msg *m, void *ctx) {
  struct found *f = ctx;
  const char *topic;
  size_t tlen;
  int64_t part, off;
  if (vg_kafka_msg_header(m, "vigie.topic", &topic, &tlen) ||
      header_i64(m, "vigie.partition", &part) || header_i64(m, "vigie.offset", &off))
    return 0;
  for (size_t i = 0; i < f->d->njournal; i++) {
    const struct jentry *j = &f->d->journal[i];
    if (j->offset == off && j->partition == part && strlen(j->topic) == tlen &&
        memcmp(j->topic, topic, tlen) == 0)
      f->in_topic[i] = 1;
  }
  return 0;
}

/* After a fatal error: the failed client drained and replaced. 0 or an
 * error with errstr (retried at the next flush). */
static int replace_client(struct vg_deadletter *d, char *errstr, size_t errstr_size) {
  if (d->rk) {
    char reason[256] = "";
    rd_kafka_fatal_error(d->rk, reason, sizeof reason);
    VG_LOG_WARN("dead-letter producer: fatal error, recovering with a new producer",
                "topic=%s error=\"%s\" journal=%zu", d->topic, reason, d->njournal);
    /* what is in flight is answered before the client goes: after that, no
     * request of the old producer id can still append to the topic behind
     * the read-back */
    rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE);
    for (int i = 0; i < 100 && rd_kafka_outq_len(d->rk) > 0; i++)
      rd_kafka_poll(d->rk, 100);
    if (rd_kafka_outq_len(d->rk) > 0)
      VG_LOG_WARN("dead-letter producer: requests still in flight after 10 s; the "
                  "read-back may miss them",
                  "topic=%s count=%d", d->topic, rd_kafka_outq_len(d->rk));
    rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_destroy(d->rk);
    d->rk = NULL;
  }
  int rc = new_client(d, errstr, errstr_size);
  if (rc)
    return rc;
  d->fatal = 0;
  d->fatal_at = 0; /* the test hook fires once */
  d->readback = 1;
  return 0;
}

/* The journal's entries that the tail after the last flush does not hold,
 * produced again. 0 or an error with errstr (retried at the next flush). */
static int produce_missing(struct vg_deadletter *d, char *errstr, size_t errstr_size) {
  struct found f = {d, calloc(d->njournal ? d->njournal : 1, 1)};
  struct vg_kafka_positions end;
  if (!f.in_topic)
    return -ENOMEM;
  int rc = vg_kafka_read_tail(&d->kc, d->topic, &d->flushed, 30000, on_recovery_tail, &f,
                              &end, errstr, errstr_size);
  if (rc) {
    free(f.in_topic);
    return rc;
  }
  vg_kafka_positions_release(&end);
  size_t again = 0;
  for (size_t i = 0; i < d->njournal && rc == 0; i++) {
    if (f.in_topic[i])
      continue;
    rd_kafka_resp_err_t e = produce(d, &d->journal[i]);
    if (e) {
      snprintf(errstr, errstr_size, "dead letters to topic \"%s\": %s", d->topic,
               rd_kafka_err2str(e));
      rc = VG_EKAFKA;
      break;
    }
    again++;
  }
  free(f.in_topic);
  if (rc)
    return rc;
  d->readback = 0;
  d->recovered++;
  VG_LOG_INFO("dead-letter producer recovered",
              "topic=%s journal=%zu already_written=%zu produced_again=%zu", d->topic,
              d->njournal, d->njournal - again, again);
  return 0;
}

int vg_deadletter_flush(struct vg_deadletter *d, int timeout_ms, char *errstr,
                        size_t errstr_size) {
  int rc = 0;
  if (d->borrowed)
    return 0; /* the transaction's commit delivers them */
  if (d->fatal || !d->rk || rd_kafka_fatal_error(d->rk, NULL, 0))
    rc = replace_client(d, errstr, errstr_size);
  if (rc == 0 && d->readback)
    rc = produce_missing(d, errstr, errstr_size);
  if (rc) /* not lost: the journal is kept, the epoch waits and this retries */
    return rc == -ENOMEM ? rc : VG_ETIMEOUT;
  rd_kafka_resp_err_t e = rd_kafka_flush(d->rk, timeout_ms);
  if (d->fatal || rd_kafka_fatal_error(d->rk, NULL, 0)) {
    d->fatal = 1;
    snprintf(errstr, errstr_size,
             "the dead-letter producer hit a fatal error; recovering");
    return VG_ETIMEOUT;
  }
  if (d->failed) {
    snprintf(errstr, errstr_size,
             "%" PRIu64 " dead letters could not be written to topic \"%s\": %s",
             d->failed, d->topic, rd_kafka_err2str(d->last_err));
    return VG_EKAFKA;
  }
  if (e == RD_KAFKA_RESP_ERR__TIMED_OUT) {
    snprintf(errstr, errstr_size, "%d dead letters to topic \"%s\" not yet acknowledged",
             rd_kafka_outq_len(d->rk), d->topic);
    return VG_ETIMEOUT;
  }
  /* everything sent is acknowledged: the journal is no longer needed, and
   * the positions are where this producer's next records will land */
  journal_clear(d);
  if (d->acked.n > d->flushed.n) {
    int64_t *no = realloc(d->flushed.off, (size_t)d->acked.n * sizeof *no);
    if (!no)
      return 0; /* positions stay behind: safe */
    d->flushed.off = no;
    d->flushed.n = d->acked.n;
  }
  for (int32_t p = 0; p < d->acked.n; p++)
    d->flushed.off[p] = d->acked.off[p];
  return 0;
}

int vg_deadletter_positions(const struct vg_deadletter *d,
                            struct vg_kafka_positions *out) {
  return vg_kafka_positions_copy(out, &d->flushed);
}

uint64_t vg_deadletter_delivered(const struct vg_deadletter *d) {
  return d->delivered;
}

uint64_t vg_deadletter_failed(const struct vg_deadletter *d) {
  return d->failed;
}

uint64_t vg_deadletter_skipped(const struct vg_deadletter *d) {
  return d->skipped;
}

uint64_t vg_deadletter_recovered(const struct vg_deadletter *d) {
  return d->recovered;
}

void vg_deadletter_free(struct vg_deadletter *d) {
  if (!d)
    return;
  if (d->rk && !d->borrowed) {
    rd_kafka_flush(d->rk, 5000);
    if (rd_kafka_outq_len(d->rk) > 0)
      VG_LOG_WARN("dead letters still in flight at shutdown", "topic=%s count=%d",
                  d->topic, rd_kafka_outq_len(d->rk));
    rd_kafka_destroy(d->rk);
  }
  journal_clear(d);
  free(d->journal);
  vg_kafka_positions_release(&d->acked);
  vg_kafka_positions_release(&d->flushed);
  free(d->topic);
  free(d);
}
