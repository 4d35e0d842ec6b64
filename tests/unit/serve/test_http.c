/*
 * Unit tests of engine/serve/http.c: routing, errors for unknown paths and
 * methods, query arguments, and clear messages for bad or busy addresses.
 * Requests go over a real loopback socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "testutil.h"
#include "vigie/http.h"

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
  while ((r = read(fd, buf + n, cap - n - 1)) > 0)
    n += (size_t)r;
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

  char *r = ask(port, "GET /healthz?who=ops HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_non_null(strstr(r, "\r\n\r\nexact /healthz for ops"));
  free(r);
  r = ask(port, "GET /api/explore/v2.1/catalog HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "prefix /api/explore/v2.1/catalog for nobody"));
  free(r);
  r = ask(port, "GET /healthzz HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "HTTP/1.1 404"));
  assert_non_null(strstr(r, "\"error_code\":\"NotFound\""));
  free(r);
  r = ask(port, "POST /healthz HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
  assert_non_null(strstr(r, "HTTP/1.1 405"));
  assert_non_null(strstr(r, "Allow: GET, HEAD"));
  free(r);
  r = ask(port, "HEAD /healthz HTTP/1.0\r\n\r\n");
  assert_non_null(strstr(r, "HTTP/1.1 200"));
  assert_null(strstr(r, "exact")); /* no body for HEAD */
  free(r);

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
  static const char *const bad[] = {"8080", "localhost", "127.0.0.1:", "127.0.0.1:99999",
                                    "300.1.1.1:80", "[::1:80", "host:80"};
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

int vg_test_serve_http_thread(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(routes_and_errors),
      cmocka_unit_test(bad_addresses_are_named),
  };
  return cmocka_run_group_tests_name("serve_http_thread", tests, NULL, NULL);
}
