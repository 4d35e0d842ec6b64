/*
 * HTTP server over libmicrohttpd: parses "host:port", binds, and dispatches
 * each request to the first matching route. Only GET and HEAD are served;
 * anything else is 405 with an Allow header, unknown paths 404 — both with a
 * JSON error body, like the API's other errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "vigie/http.h"

struct route {
  char *path;
  size_t len;
  int prefix;
  vg_http_handler fn;
  void *ctx;
};

struct vg_http {
  struct sockaddr_storage addr;
  struct MHD_Daemon *d;
  struct route *routes;
  size_t nroutes;
  uint16_t port;
};

static int parse_listen(const char *s, struct sockaddr_storage *ss) {
  char host[128];
  const char *colon = strrchr(s, ':');
  if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
    return -EINVAL;
  memcpy(host, s, (size_t)(colon - s));
  host[colon - s] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end || end == colon + 1 || port < 0 || port > 65535)
    return -EINVAL;
  memset(ss, 0, sizeof *ss);
  if (host[0] == '[' && host[strlen(host) - 1] == ']') {
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    host[strlen(host) - 1] = '\0';
    if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
      return -EINVAL;
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    return 0;
  }
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  if (strcmp(host, "localhost") == 0)
    strcpy(host, "127.0.0.1");
  if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
    return -EINVAL;
  a4->sin_family = AF_INET;
  a4->sin_port = htons((uint16_t)port);
  return 0;
}

int vg_http_new(const char *listen, struct vg_http **out, char *errstr,
                size_t errstr_size) {
  struct vg_http *h = calloc(1, sizeof *h);
  if (!h)
    return -ENOMEM;
  if (parse_listen(listen, &h->addr) != 0) {
    snprintf(errstr, errstr_size,
             "http.listen \"%s\": expected host:port such as 127.0.0.1:8080 or [::1]:8080",
             listen);
    free(h);
    return -EINVAL;
  }
  *out = h;
  return 0;
}

int vg_http_route(struct vg_http *h, const char *path, vg_http_handler fn, void *ctx) {
  struct route *r = realloc(h->routes, (h->nroutes + 1) * sizeof *r);
  if (!r)
    return -ENOMEM;
  h->routes = r;
  r = &h->routes[h->nroutes];
  if (!(r->path = strdup(path)))
    return -ENOMEM;
  r->len = strlen(path);
  r->prefix = r->len > 1 && path[r->len - 1] == '/';
  r->fn = fn;
  r->ctx = ctx;
  h->nroutes++;
  return 0;
}

const char *vg_http_arg(const struct vg_http_request *req, const char *key) {
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *vg_http_header(const struct vg_http_request *req, const char *key) {
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, key);
}

void vg_http_reply(struct vg_http_response *resp, int status, const char *content_type,
                   const char *text) {
  free(resp->body);
  resp->status = status;
  resp->content_type = content_type;
  resp->len = strlen(text);
  resp->body = malloc(resp->len + 1);
  if (resp->body)
    memcpy(resp->body, text, resp->len + 1);
  else
    resp->len = 0, resp->status = 500;
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct vg_http_response *r,
                            const char *allow) {
  struct MHD_Response *mr =
      MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                      r->body ? MHD_RESPMEM_MUST_FREE
                                              : MHD_RESPMEM_PERSISTENT);
  if (!mr) {
    free(r->body);
    return MHD_NO;
  }
  MHD_add_response_header(mr, "Content-Type",
                          r->content_type ? r->content_type : "text/plain; charset=utf-8");
  if (allow)
    MHD_add_response_header(mr, "Allow", allow);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, mr);
  MHD_destroy_response(mr);
  return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload, size_t *upload_size, void **state) {
  struct vg_http *h = cls;
  struct vg_http_response resp = {.status = 200};
  if (!*state) { /* first call: headers only; answer on the next one */
    *state = h;
    return MHD_YES;
  }
  if (*upload_size) { /* no route takes a body: discard it */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    vg_http_reply(&resp, 405, "application/json",
                  "{\"error_code\":\"MethodNotAllowed\",\"message\":\"only GET and HEAD\"}");
    return respond(conn, &resp, "GET, HEAD");
  }
  for (size_t i = 0; i < h->nroutes; i++) {
    struct route *r = &h->routes[i];
    if (r->prefix ? strncmp(url, r->path, r->len) == 0 : strcmp(url, r->path) == 0) {
      struct vg_http_request req = {.method = method, .path = url, .conn = conn};
      r->fn(r->ctx, &req, &resp);
      return respond(conn, &resp, NULL);
    }
  }
  vg_http_reply(&resp, 404, "application/json",
                "{\"error_code\":\"NotFound\",\"message\":\"no such path\"}");
  return respond(conn, &resp, NULL);
}

int vg_http_start(struct vg_http *h, char *errstr, size_t errstr_size) {
  /* MHD_USE_AUTO picks epoll on Linux; one polling thread is plenty for
   * scrapes and portal pulls, and keeps handlers serialized. */
  h->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, h,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&h->addr,
                          MHD_OPTION_CONNECTION_LIMIT, 256u,
                          MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (!h->d) {
    int e = errno ? errno : EADDRINUSE;
    char a[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (h->addr.ss_family == AF_INET6) {
      inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&h->addr)->sin6_addr, a, sizeof a);
      port = ntohs(((struct sockaddr_in6 *)&h->addr)->sin6_port);
    } else {
      inet_ntop(AF_INET, &((struct sockaddr_in *)&h->addr)->sin_addr, a, sizeof a);
      port = ntohs(((struct sockaddr_in *)&h->addr)->sin_port);
    }
    snprintf(errstr, errstr_size, "http: cannot listen on %s port %d: %s", a, port,
             strerror(e));
    return -e;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
  h->port = info ? info->port : 0;
  return 0;
}

uint16_t vg_http_port(const struct vg_http *h) {
  return h->port;
}

void vg_http_free(struct vg_http *h) {
  if (!h)
    return;
  if (h->d)
    MHD_stop_daemon(h->d);
  for (size_t i = 0; i < h->nroutes; i++)
    free(h->routes[i].path);
  free(h->routes);
  free(h);
}
