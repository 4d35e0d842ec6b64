/*
 * vigie-rawconsume: read every partition of the given topics from the
 * beginning up to the end offsets they had at start, counting messages and
 * bytes and folding the payloads into an order-independent digest; nothing
 * else. It is the ceiling any consumer of those topics can reach (the "raw
 * consume" line of the benchmarks) and, in the tests, the minimal consumer
 * built on the engine's Kafka wrapper.
 *
 *   vigie-rawconsume --brokers HOST:PORT --topic T [--topic T2 ...]
 *   vigie-rawconsume --embedded [--messages N]   quick start on the mock cluster
 *
 * Prints one JSON object: messages, bytes, digest (hex of the wrapping sum of
 * FNV-1a 64 of every payload), partitions, seconds, messages_per_s.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "vigie/error.h"
#include "vigie/hash.h"
#include "vigie/kafka.h"

#define MAX_TOPICS 64
#define BATCH      4096

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f) {
  fputs("usage: vigie-rawconsume --brokers HOST:PORT --topic T [--topic T...]\n"
        "                        [--timeout SECONDS] [-X key=value]...\n"
        "       vigie-rawconsume --embedded [--messages N]\n",
        f);
}

/* Fills an embedded (mock) cluster's topic with n JSON sensor readings through
 * a plain librdkafka producer; returns their digest in *digest. */
static int fill_embedded(const char *bootstrap, const char *topic, long n,
                         uint64_t *digest) {
  char err[256];
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!p) {
    fprintf(stderr, "vigie-rawconsume: producer: %s\n", err);
    return 1;
  }
  *digest = 0;
  for (long i = 0; i < n; i++) {
    char msg[160], key[32];
    int kl = snprintf(key, sizeof key, "aq-%ld", i % 300);
    int ml = snprintf(msg, sizeof msg,
                      "{\"ts\":%ld,\"sensor_id\":\"aq-%ld\",\"district\":\"Centre\","
                      "\"no2\":%.1f,\"pm10\":%.1f}",
                      1767225600L + i, i % 300, 20.0 + (double)(i % 37),
                      12.0 + (double)(i % 11));
    *digest = vg_multiset_digest_add(*digest, msg, (size_t)ml);
    rd_kafka_resp_err_t e;
    while ((e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic),
                                  RD_KAFKA_V_KEY(key, (size_t)kl),
                                  RD_KAFKA_V_VALUE(msg, (size_t)ml),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
      rd_kafka_poll(p, 10);
    if (e) {
      fprintf(stderr, "vigie-rawconsume: produce: %s\n", rd_kafka_err2str(e));
      rd_kafka_destroy(p);
      return 1;
    }
  }
  rd_kafka_resp_err_t fe = rd_kafka_flush(p, 30000);
  rd_kafka_destroy(p);
  if (fe) {
    fprintf(stderr, "vigie-rawconsume: flush: %s\n", rd_kafka_err2str(fe));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  const char *brokers = NULL;
  const char *topics[MAX_TOPICS];
  const char *props[2 * 32 + 1];
  size_t ntopics = 0, nprops = 0;
  int embedded = 0;
  long nmsg = 100000;
  double timeout = 600;
  static const struct option opts[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"topic", required_argument, NULL, 't'},
                                       {"embedded", no_argument, NULL, 'e'},
                                       {"messages", required_argument, NULL, 'n'},
                                       {"timeout", required_argument, NULL, 'T'},
                                       {"help", no_argument, NULL, 'h'},
                                       {0}};
  int o;
  while ((o = getopt_long(argc, argv, "b:t:X:", opts, NULL)) != -1) {
    switch (o) {
    case 'b': brokers = optarg; break;
    case 't':
      if (ntopics == MAX_TOPICS) {
        fprintf(stderr, "vigie-rawconsume: at most %d topics\n", MAX_TOPICS);
        return 2;
      }
      topics[ntopics++] = optarg;
      break;
    case 'X': {
      char *eq = strchr(optarg, '=');
      if (!eq || nprops == 32) {
        fprintf(stderr, "vigie-rawconsume: -X wants key=value (at most 32)\n");
        return 2;
      }
      *eq = '\0';
      props[2 * nprops] = optarg;
      props[2 * nprops + 1] = eq + 1;
      nprops++;
      break;
    }
    case 'e': embedded = 1; break;
    case 'n': nmsg = strtol(optarg, NULL, 10); break;
    case 'T': timeout = strtod(optarg, NULL); break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  props[2 * nprops] = NULL;

  char errstr[512];
  struct vg_kafka_mock *mock = NULL;
  uint64_t expect_digest = 0;
  if (embedded) {
    const char *topic = "air-quality";
    if (vg_kafka_mock_new(&mock, 1, &brokers, errstr, sizeof errstr) != 0 ||
        vg_kafka_mock_create_topic(mock, topic, 4) != 0) {
      fprintf(stderr, "vigie-rawconsume: %s\n", errstr);
      return 1;
    }
    fprintf(stderr, "embedded broker at %s, producing %ld readings to %s\n", brokers,
            nmsg, topic);
    if (fill_embedded(brokers, topic, nmsg, &expect_digest) != 0)
      return 1;
    topics[ntopics++] = topic;
  }
  if (!brokers || ntopics == 0) {
    usage(stderr);
    return 2;
  }

  struct vg_kafka_consumer *c = NULL;
  struct vg_kafka_conf conf = {
      .brokers = brokers, .client_id = "vigie-rawconsume", .properties = props};
  int rc;
  if ((rc = vg_kafka_consumer_new(&c, &conf, errstr, sizeof errstr)) != 0 ||
      (rc = vg_kafka_assign_all(c, topics, ntopics, NULL, NULL, 30000, errstr,
                                sizeof errstr)) != 0 ||
      (rc = vg_kafka_mark_end(c, 30000, errstr, sizeof errstr)) != 0) {
    fprintf(stderr, "vigie-rawconsume: %s\n", errstr);
    vg_kafka_consumer_free(c);
    vg_kafka_mock_free(mock);
    return 1;
  }

  static struct vg_kafka_msg batch[BATCH];
  uint64_t count = 0, bytes = 0, digest = 0;
  double t0 = now_s(), deadline = t0 + timeout;
  while (!vg_kafka_drained(c)) {
    if (now_s() > deadline) {
      fprintf(stderr, "vigie-rawconsume: not drained after %.0f s\n", timeout);
      rc = VG_ETIMEOUT;
      break;
    }
    ssize_t n = vg_kafka_consume(c, batch, BATCH, 200);
    if (n < 0) {
      fprintf(stderr, "vigie-rawconsume: consume: %s\n", vg_strerror((int)n));
      rc = (int)n;
      break;
    }
    for (ssize_t i = 0; i < n; i++) {
      bytes += batch[i].len;
      digest = vg_multiset_digest_add(digest, batch[i].payload, batch[i].len);
    }
    count += (uint64_t)n;
  }
  double secs = now_s() - t0;
  printf("{\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"digest\":\"%016" PRIx64
         "\",\"partitions\":%zu,\"seconds\":%.6f,\"messages_per_s\":%.0f}\n",
         count, bytes, digest, vg_kafka_assignment_count(c), secs,
         secs > 0 ? (double)count / secs : 0.0);
  fflush(stdout);
  if (rc == 0 && embedded) {
    int same = count == (uint64_t)nmsg && digest == expect_digest;
    fprintf(stderr,
            "read back %" PRIu64 " of %ld messages from %zu partitions, "
            "digest %s: %s\n",
            count, nmsg, vg_kafka_assignment_count(c),
            digest == expect_digest ? "equal" : "DIFFERS",
            same ? "every message arrived exactly once" : "MISMATCH");
    if (!same)
      rc = VG_ECORRUPT;
  }
  vg_kafka_consumer_free(c);
  vg_kafka_mock_free(mock);
  return rc == 0 ? 0 : 1;
}
