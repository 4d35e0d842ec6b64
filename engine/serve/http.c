/*
 * HTTP server over libmicrohttpd: parses "host:port", binds, and dispatches
 * each request to the first matching route. Only GET and HEAD are served;
 * anything else is 405 with an Allow header, unknown paths 404 — both with a
 * JSON error body, like the API's other errors.
 *
 * Streamed bodies go through MHD_create_response_from_callback (chunked
 * transfer encoding), gzip through zlib's deflate with a gzip header
 * (windowBits 16 + 15), buffered or chunk by chunk.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <zlib.h>

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
  struct vg_http_limits lim;
  size_t max_request; /* answered 414 by us past it (MHD's pool is larger) */
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
    snprintf(
        errstr, errstr_size,
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
  r->path = strdup(path);
  if (!r->path)
    return -ENOMEM;
  r->len = strlen(path);
  r->prefix = r->len > 1 && path[r->len - 1] == '/';
  r->fn = fn;
  r->ctx = ctx;
  h->nroutes++;
  return 0;
}

struct args_it {
  void (*cb)(const char *, const char *, void *);
  void *ctx;
};

static enum MHD_Result args_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value) {
  struct args_it *it = cls;
  (void)kind;
  it->cb(key, value, it->ctx);
  return MHD_YES;
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

size_t vg_http_args(const struct vg_http_request *req,
                    void (*cb)(const char *key, const char *value, void *ctx),
                    void *ctx) {
  struct args_it it = {cb, ctx};
  return (size_t)MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, args_each,
                                           &it);
}

void vg_http_add_header(struct vg_http_response *resp, const char *name,
                        const char *value) {
  if (resp->nheaders == VG_HTTP_MAX_HEADERS ||
      strlen(name) >= sizeof resp->headers[0].name ||
      strlen(value) >= sizeof resp->headers[0].value)
    return;
  strcpy(resp->headers[resp->nheaders].name, name);
  strcpy(resp->headers[resp->nheaders].value, value);
  resp->nheaders++;
}

int vg_http_accepts_gzip(const char *ae) {
  if (!ae)
    return 0;
  /* codings separated by commas, each with optional ;q=VALUE */
  for (const char *p = ae; *p;) {
    while (*p == ' ' || *p == ',' || *p == '\t')
      p++;
    const char *name = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ')
      p++;
    size_t nl = (size_t)(p - name);
    double q = 1;
    while (*p && *p != ',') {
      if (*p == ';') {
        p++;
        while (*p == ' ')
          p++;
        if ((p[0] == 'q' || p[0] == 'Q') && p[1] == '=')
          q = strtod(p + 2, NULL);
      } else {
        p++;
      }
    }
    if (((nl == 4 && strncasecmp(name, "gzip", 4) == 0) || (nl == 1 && name[0] == '*')) &&
        q > 0)
      return 1;
  }
  return 0;
}

/* gzip of a whole buffer; NULL when out of memory. */
static char *gzip_buffer(const char *in, size_t len, size_t *out_len) {
  z_stream z = {0};
  if (deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return NULL;
  size_t cap = deflateBound(&z, (uLong)len) + 32;
  char *out = malloc(cap);
  if (!out) {
    deflateEnd(&z);
    return NULL;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  *out_len = cap - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(out);
    return NULL;
  }
  return out;
}

/* A streamed response, gzipped on the way when asked. */
struct stream {
  struct vg_http_stream s;
  int gzip, eof, finished;
  z_stream z;
  char in[16384];
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  struct stream *st = cls;
  (void)pos;
  if (!st->gzip) {
    long n = st->s.read(st->s.ctx, buf, max);
    return n > 0    ? (ssize_t)n
           : n == 0 ? MHD_CONTENT_READER_END_OF_STREAM
                    : MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (st->finished)
    return MHD_CONTENT_READER_END_OF_STREAM;
  st->z.next_out = (Bytef *)buf;
  st->z.avail_out = (uInt)max;
  /* until some compressed bytes are out (deflate buffers small inputs) */
  while (st->z.avail_out == max) {
    if (st->z.avail_in == 0 && !st->eof) {
      long n = st->s.read(st->s.ctx, st->in, sizeof st->in);
      if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
      if (n == 0)
        st->eof = 1;
      st->z.next_in = (Bytef *)st->in;
      st->z.avail_in = (uInt)n;
    }
    int rc = deflate(&st->z, st->eof ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      st->finished = 1;
      break;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  size_t n = max - st->z.avail_out;
  return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
  struct stream *st = cls;
  if (st->gzip)
    deflateEnd(&st->z);
  if (st->s.free)
    st->s.free(st->s.ctx);
  free(st);
}

static void release_body(struct vg_http_response *r) {
  free(r->body);
  r->body = NULL;
  if (r->stream.free)
    r->stream.free(r->stream.ctx);
  r->stream = (struct vg_http_stream){0};
}

static enum MHD_Result respond(struct MHD_Connection *conn, struct vg_http_response *r,
                               const char *allow) {
  struct MHD_Response *mr;
  int bodyless = r->status == 304 || r->status == 204;
  int gzip = r->compress && !bodyless &&
             vg_http_accepts_gzip(
                 MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Accept-Encoding"));
  if (bodyless)
    release_body(r);
  if (r->stream.read) {
    struct stream *st = calloc(1, sizeof *st);
    if (!st || (gzip && deflateInit2(&st->z, 6, Z_DEFLATED, 16 + 15, 8,
                                     Z_DEFAULT_STRATEGY) != Z_OK)) {
      free(st);
      release_body(r);
      return MHD_NO;
    }
    st->s = r->stream;
    st->gzip = gzip;
    r->stream = (struct vg_http_stream){0};
    mr = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, stream_read, st,
                                           stream_free);
    if (!mr) {
      stream_free(st);
      return MHD_NO;
    }
  } else {
    if (gzip && r->body) {
      size_t zl;
      char *z = gzip_buffer(r->body, r->len, &zl);
      if (z) {
        free(r->body);
        r->body = z;
        r->len = zl;
      } else {
        gzip = 0;
      }
    } else {
      gzip = 0;
    }
    mr = MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                         r->body ? MHD_RESPMEM_MUST_FREE
                                                 : MHD_RESPMEM_PERSISTENT);
    if (!mr) {
      free(r->body);
      return MHD_NO;
    }
  }
  if (!bodyless)
    MHD_add_response_header(mr, "Content-Type",
                            r->content_type ? r->content_type
                                            : "text/plain; charset=utf-8");
  if (allow)
    MHD_add_response_header(mr, "Allow", allow);
  if (gzip)
    MHD_add_response_header(mr, "Content-Encoding", "gzip");
  if (r->compress)
    MHD_add_response_header(mr, "Vary", "Accept-Encoding");
  for (size_t i = 0; i < r->nheaders; i++)
    MHD_add_response_header(mr, r->headers[i].name, r->headers[i].value);
  enum MHD_Result rc = MHD_queue_response(conn, (unsigned)r->status, mr);
  MHD_destroy_response(mr);
  return rc;
}

int vg_http_gone(const struct vg_http_request *req) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci)
    return 0;
  struct pollfd p = {.fd = ci->connect_fd, .events = POLLRDHUP};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value) {
  (void)kind;
  *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
  return MHD_YES;
}

/* About the bytes of a request's line and headers (decoded arguments,
 * which are never longer than their encoding). */
static size_t request_size(struct MHD_Connection *conn, const char *url) {
  size_t n = strlen(url) + 16;
  MHD_get_connection_values(conn, MHD_HEADER_KIND | MHD_GET_ARGUMENT_KIND, add_size, &n);
  return n;
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
  size_t size = request_size(conn, url);
  if (size > h->max_request) { /* answered here, in the API's shape */
    char msg[256];
    snprintf(msg, sizeof msg,
             "{\"status_code\":414,\"error_code\":\"RequestTooLarge\",\"message\":"
             "\"The request line and headers are %zu bytes, more than the %zu "
             "allowed (http.max_request).\"}\n",
             size, h->max_request);
    vg_http_reply(&resp, 414, "application/json; charset=utf-8", msg);
    return respond(conn, &resp, NULL);
  }
  if (*upload_size) { /* no route takes a body: discard it */
    *upload_size = 0;
    return MHD_YES;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    vg_http_reply(
        &resp, 405, "application/json",
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

void vg_http_set_limits(struct vg_http *h, const struct vg_http_limits *l) {
  h->lim = *l;
}

int vg_http_start(struct vg_http *h, char *errstr, size_t errstr_size) {
  /* MHD_USE_AUTO picks epoll on Linux; a pool of such threads shares the
   * connections (each connection stays on one thread). A request's line and
   * headers live in the connection's memory pool: its size bounds them. */
  const struct vg_http_limits *l = &h->lim;
  unsigned threads = l->threads ? l->threads : 1;
  /* MHD reads a request into the connection's pool and answers a request
   * that does not fit itself (414/431, or a reset when the client is still
   * sending); the pool holds twice the bound, so that up to there the
   * answer is ours: a JSON 414 */
  h->max_request = l->max_request ? l->max_request : (size_t)256 << 10;
  h->d = MHD_start_daemon(
      MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
      (struct sockaddr *)&h->addr, MHD_OPTION_THREAD_POOL_SIZE, threads,
      MHD_OPTION_CONNECTION_LIMIT, l->max_connections ? l->max_connections : 256u,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, l->per_ip, MHD_OPTION_CONNECTION_TIMEOUT,
      l->timeout_s ? l->timeout_s : 30u, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
      2 * h->max_request + ((size_t)16 << 10), MHD_OPTION_END);
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
