/*
 * Unit tests of engine/serve/http.c: routing, errors for unknown paths and
 * methods, query arguments, and clear messages for bad or busy addresses;
 * streamed bodies, gzip (buffered and streamed, decompressed here with
 * zlib's inflate), extra headers, 304 without a body, Accept-Encoding;
 * vg_http_gone while a client waits and after it left. Requests go over a
 * real loopback socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <zlib.h>

#include "testutil.h"
#include "vigie/http.h"

static size_t last_len; /* bytes of the last answer (bodies may hold NULs) */

/* Sends raw request text to 127.0.0.1:port and returns the whole answer. */
static char *ask(uint16_t port, const char *request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(write(fd, request, strlen(request)), (ssize_t)strlen(request));
  size_t cap = 65536, n = 0;
  char *buf = malloc(cap);
  ssize_t r;
  while ((r = read(fd, buf + n, cap - n - 1)) > 0) {
    n += (size_t)r;
    if (cap - n < 4096)
      buf = realloc(buf, cap *= 2);
  }
  last_len = n;
  buf[n] = '\0';
  close(fd);
  return buf;
}

static void hello(void *ctx, const struct vg_http_request *req,
                  struct vg_http_response *resp) {
  const char *who = vg_http_arg(req, "who");
  char text[128];
  snprintf(text, sizeof text, "%s %s for %s", (const char *)ctx, req->path,
           who ? who : "nobody");
  vg_http_reply(resp, 200, "text/plain", text);
}

static void routes_and_errors(void **state) {
  (void)state;
  struct vg_http *h;
  char err[256];
  assert_int_equal(vg_http_new("127.0.0.1:0", &h, err, sizeof err), 0);
  assert_int_equal(vg_http_route(h, "/healthz", hello, "exact"), 0);
  assert_int_equal(vg_http_route(h, "/api/", hello, "prefix"), 0);
  assert_int_equal(vg_http_start(h, err, sizeof err), 0);
  uint16_t port = vg_http_port(h);
  assert_true(port > 0);

  /* each request, what its answer holds and what it does not */
  static const struct {
    const char *request, *has[2], *lacks;
  } cases[] = {
      {"GET /healthz?who=ops HTTP/1.0\r\n\r\n",
       {"HTTP/1.1 200", "\r\n\r\nexact /healthz for ops"},
       NULL},
      {"GET /api/explore/v2.1/catalog HTTP/1.0\r\n\r\n",
       {"prefix /api/explore/v2.1/catalog for nobody", NULL},
       NULL},
      {"GET /healthzz HTTP/1.0\r\n\r\n",
       {"HTTP/1.1 404", "\"error_code\":\"NotFound\""},
       NULL},
      {"POST /healthz HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
       {"HTTP/1.1 405", "Allow: GET, HEAD"},
       NULL},
      {"HEAD /healthz HTTP/1.0\r\n\r\n", {"HTTP/1.1 200", NULL}, "exact"}, /* no body */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *r = ask(port, cases[i].request);
    for (int k = 0; k < 2; k++)
      if (cases[i].has[k])
        assert_non_null(strstr(r, cases[i].has[k]));
    if (cases[i].lacks)
      assert_null(strstr(r, cases[i].lacks));
    free(r);
  }

  /* the same port again: a clear error naming the address */
  char busy[64];
  snprintf(busy, sizeof busy, "127.0.0.1:%u", port);
  struct vg_http *h2;
  assert_int_equal(vg_http_new(busy, &h2, err, sizeof err), 0);
  assert_true(vg_http_start(h2, err, sizeof err) < 0);
  assert_non_null(strstr(err, "cannot listen on 127.0.0.1 port"));
  vg_http_free(h2);
  vg_http_free(h);
}

static void bad_addresses_are_named(void **state) {
  (void)state;
  static const char *const bad[] = {
      "8080",         "localhost", "127.0.0.1:", "127.0.0.1:99999",
      "300.1.1.1:80", "[::1:80",   "host:80"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct vg_http *h = NULL;
    char err[256] = "";
    assert_int_equal(vg_http_new(bad[i], &h, err, sizeof err), -EINVAL);
    assert_null(h);
    assert_non_null(strstr(err, bad[i]));
  }
  struct vg_http *h;
  char err[256];
  assert_int_equal(vg_http_new("[::1]:0", &h, err, sizeof err), 0);
  vg_http_free(h);
}

/* A stream of "line N\n" for N in [0, 50000), handed out in odd sizes. */
struct lines {
  int next;
  char pending[32];
  size_t plen, ppos;
  int *freed;
};

static long lines_read(void *ctx, char *buf, size_t max) {
  struct lines *l = ctx;
  size_t n = 0;
  while (n < max && n < 777) {
    if (l->ppos == l->plen) {
      if (l->next == 50000)
        break;
      l->plen = (size_t)snprintf(l->pending, sizeof l->pending, "line %d\n", l->next++);
      l->ppos = 0;
    }
    buf[n++] = l->pending[l->ppos++];
  }
  return (long)n;
}

static void lines_free(void *ctx) {
  struct lines *l = ctx;
  (*l->freed)++;
  free(l);
}

static int freed;

static void streamer(void *ctx, const struct vg_http_request *req,
                     struct vg_http_response *resp) {
  struct lines *l = calloc(1, sizeof *l);
  l->freed = &freed;
  resp->content_type = "text/plain";
  resp->stream = (struct vg_http_stream){lines_read, lines_free, l};
  resp->compress = 1;
  vg_http_add_header(resp, "ETag", "W/\"x-1\"");
}

static void buffered(void *ctx, const struct vg_http_request *req,
                     struct vg_http_response *resp) {
  const char *inm = vg_http_header(req, "If-None-Match");
  if (inm) {
    resp->status = 304;
    return;
  }
  char text[4096];
  memset(text, 'a', sizeof text - 1);
  text[sizeof text - 1] = 0;
  vg_http_reply(resp, 200, "text/plain", text);
  resp->compress = 1;
}

static char *body_of(char *r, size_t len, size_t *blen) {
  char *b = strstr(r, "\r\n\r\n");
  assert_non_null(b);
  *blen = len - (size_t)(b + 4 - r);
  return b + 4;
}

static char *gunzip(const char *in, size_t len, size_t *out_len) {
  size_t cap = 1 << 22;
  char *out = malloc(cap);
  z_stream z = {0};
  assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  *out_len = cap - z.avail_out;
  inflateEnd(&z);
  return out;
}

static void streams_and_gzip(void **state) {
  (void)state;
  struct vg_http *h;
  char err[256];
  assert_int_equal(vg_http_new("127.0.0.1:0", &h, err, sizeof err), 0);
  assert_int_equal(vg_http_route(h, "/stream", streamer, NULL), 0);
  assert_int_equal(vg_http_route(h, "/buf", buffered, NULL), 0);
  assert_int_equal(vg_http_start(h, err, sizeof err), 0);
  uint16_t port = vg_http_port(h);
  /* the expected text */
  size_t wcap = 1 << 20, wlen = 0;
  char *want = malloc(wcap);
  for (int i = 0; i < 50000; i++)
    wlen += (size_t)snprintf(want + wlen, wcap - wlen, "line %d\n", i);

  char *r = ask(port, "GET /stream HTTP/1.0\r\n\r\n");
  size_t blen;
  char *b = body_of(r, last_len, &blen);
  assert_non_null(strstr(r, "ETag: W/\"x-1\""));
  assert_non_null(strstr(r, "Vary: Accept-Encoding"));
  assert_null(strstr(r, "Content-Encoding"));
  assert_int_equal(blen, wlen);
  assert_memory_equal(b, want, wlen);
  free(r);

  r = ask(port, "GET /stream HTTP/1.0\r\nAccept-Encoding: br, gzip;q=0.5\r\n\r\n");
  assert_non_null(strstr(r, "Content-Encoding: gzip"));
  b = body_of(r, last_len, &blen);
  assert_true(blen < wlen / 3); /* it did compress */
  size_t ulen;
  char *u = gunzip(b, blen, &ulen);
  assert_int_equal(ulen, wlen);
  assert_memory_equal(u, want, wlen);
  free(u);
  free(r);

  r = ask(port, "GET /buf HTTP/1.0\r\nAccept-Encoding: gzip\r\n\r\n");
  assert_non_null(strstr(r, "Content-Encoding: gzip"));
  b = body_of(r, last_len, &blen);
  u = gunzip(b, blen, &ulen);
  assert_int_equal(ulen, 4095);
  assert_true(u[0] == 'a' && u[4094] == 'a');
  free(u);
  free(r);

  r = ask(port, "GET /buf HTTP/1.0\r\nIf-None-Match: x\r\nAccept-Encoding: gzip\r\n\r\n");
  assert_non_null(strstr(r, "HTTP/1.1 304"));
  b = body_of(r, last_len, &blen);
  assert_int_equal(blen, 0);
  assert_null(strstr(r, "Content-Encoding"));
  free(r);

  r = ask(port, "HEAD /stream HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_null(strstr(r, "line 0"));
  free(r);
  vg_http_free(h);
  assert_int_equal(freed, 3); /* every stream released, HEAD's too */
  free(want);
}

static void accept_encoding(void **state) {
  (void)state;
  assert_int_equal(vg_http_accepts_gzip(NULL), 0);
  assert_int_equal(vg_http_accepts_gzip(""), 0);
  assert_int_equal(vg_http_accepts_gzip("gzip"), 1);
  assert_int_equal(vg_http_accepts_gzip("deflate, GZIP"), 1);
  assert_int_equal(vg_http_accepts_gzip("gzip;q=0"), 0);
  assert_int_equal(vg_http_accepts_gzip("gzip; q=0.0, br"), 0);
  assert_int_equal(vg_http_accepts_gzip("br;q=1, *;q=0.1"), 1);
  assert_int_equal(vg_http_accepts_gzip("x-gzip2"), 0);
}

/* A handler that waits, up to its context's milliseconds, for its client to
 * leave, and says what it saw. */
static _Atomic int saw_gone = -1;

static void patient(void *ctx, const struct vg_http_request *req,
                    struct vg_http_response *resp) {
  int ms = *(const int *)ctx, gone = 0;
  for (int waited = 0; waited < ms && !gone; waited += 10) {
    gone = vg_http_gone(req);
    if (!gone)
      usleep(10000);
  }
  atomic_store(&saw_gone, gone);
  vg_http_reply(resp, 200, "text/plain", gone ? "gone\n" : "still there\n");
}

/* vg_http_gone: 0 while the client waits for its answer, 1 soon after it
 * closed its connection (a long scan stops instead of computing an answer
 * nobody reads). */
static void client_gone(void **state) {
  (void)state;
  struct vg_http *h;
  char err[256];
  static const int short_wait = 300, long_wait = 5000;
  assert_int_equal(vg_http_new("127.0.0.1:0", &h, err, sizeof err), 0);
  assert_int_equal(vg_http_route(h, "/short", patient, (void *)&short_wait), 0);
  assert_int_equal(vg_http_route(h, "/long", patient, (void *)&long_wait), 0);
  assert_int_equal(vg_http_start(h, err, sizeof err), 0);
  uint16_t port = vg_http_port(h);
  /* a client that stays: never seen gone, and gets its answer */
  char *r = ask(port, "GET /short HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "still there"));
  assert_int_equal(atomic_load(&saw_gone), 0);
  free(r);
  /* a client that leaves: seen gone long before the 5 s are up */
  atomic_store(&saw_gone, -1);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  const char *q = "GET /long HTTP/1.1\r\nHost: x\r\n\r\n";
  assert_int_equal(write(fd, q, strlen(q)), (ssize_t)strlen(q));
  usleep(200000); /* the handler is waiting */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  close(fd);
  while (atomic_load(&saw_gone) < 0) {
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 4);
    usleep(10000);
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  assert_int_equal(atomic_load(&saw_gone), 1);
  assert_true(t1.tv_sec - t0.tv_sec < 2);
  vg_http_free(h);
}

int vg_test_serve_http_thread(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(routes_and_errors), cmocka_unit_test(bad_addresses_are_named),
      cmocka_unit_test(streams_and_gzip),  cmocka_unit_test(accept_encoding),
      cmocka_unit_test(client_gone),
  };
  return cmocka_run_group_tests_name("serve_http_thread", tests, NULL, NULL);
}
