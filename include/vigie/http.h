/*
 * The daemon's HTTP server (libmicrohttpd, a pool of polling threads, each
 * serving its share of the connections with epoll): /metrics, /healthz,
 * /readyz and the open-data API.
 *
 * Responses are buffered (body) or streamed (a read callback, for exports
 * with no size limit), optionally gzip-compressed (zlib) when the client
 * accepts it.
 *
 * Routes are registered between vg_http_new and vg_http_start and never
 * change afterwards, so dispatch takes no lock. Handlers run on the server's
 * threads, several at once: they must be thread-safe with respect to each
 * other and to the rest of the daemon (read atomics, render the metrics
 * registry, open read-only transactions).
 */
#ifndef VIGIE_HTTP_H
#define VIGIE_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct vg_http;

struct vg_http_request {
  const char *method; /* "GET", "HEAD", ... */
  const char *path;   /* without the query string */
  void *conn;         /* for vg_http_arg / vg_http_header */
};

/* A query argument or request header, or NULL; valid during the handler. */
const char *vg_http_arg(const struct vg_http_request *req, const char *key);
const char *vg_http_header(const struct vg_http_request *req, const char *key);

/* 1 when the client has closed its connection (hung up, reset, or shut
 * down its sending side), so that a long handler can give up a request
 * nobody will read; 0 while it is open. A non-blocking poll of the socket:
 * call it every few thousand rows, not per row. */
int vg_http_gone(const struct vg_http_request *req);

/* Calls cb(key, value, ctx) for each query argument (URL-decoded; value
 * NULL for a bare key) in request order; returns how many there were. */
size_t vg_http_args(const struct vg_http_request *req,
                    void (*cb)(const char *key, const char *value, void *ctx), void *ctx);

#define VG_HTTP_MAX_HEADERS 8

/* A streamed body: read fills buf with at most max bytes and returns how
 * many (> 0), 0 at the end, or < 0 to abort the response (the client sees
 * a cut connection: a body already started cannot become an error). It is
 * called on the server's thread, as often as the client takes data, and
 * should not block for long. free releases the stream once the response
 * is over (or was never sent). */
struct vg_http_stream {
  long (*read)(void *ctx, char *buf, size_t max);
  void (*free)(void *ctx);
  void *ctx;
};

struct vg_http_response {
  int status;               /* default 200 */
  const char *content_type; /* static string; default text/plain */
  char *body;               /* malloc'd; the server frees it */
  size_t len;
  struct vg_http_stream stream; /* when stream.read is set, body is ignored */
  int compress; /* gzip the body when the request's Accept-Encoding allows */
  struct {
    char name[32];
    char value[256];              /* Content-Disposition of a 127-byte dataset id fits */
  } headers[VG_HTTP_MAX_HEADERS]; /* extra headers (vg_http_add_header) */
  size_t nheaders;
};

/* Adds a response header (copied; silently dropped beyond
 * VG_HTTP_MAX_HEADERS or when too long). */
void vg_http_add_header(struct vg_http_response *resp, const char *name,
                        const char *value);

/* 1 when an Accept-Encoding value allows gzip (a "gzip" or "*" coding
 * without q=0). Pure; NULL gives 0. */
int vg_http_accepts_gzip(const char *accept_encoding);

typedef void (*vg_http_handler)(void *ctx, const struct vg_http_request *req,
                                struct vg_http_response *resp);

/* listen: "host:port" (IPv4 or [IPv6]; port 0 picks a free one). */
int vg_http_new(const char *listen, struct vg_http **out, char *errstr,
                size_t errstr_size);
/* path matches exactly, or as a prefix when it ends with '/'. First match
 * wins. 0 or -ENOMEM. */
int vg_http_route(struct vg_http *h, const char *path, vg_http_handler fn, void *ctx);
/* How the server shares out its work and bounds its clients (before
 * start; every field 0 takes its default). */
struct vg_http_limits {
  unsigned threads;         /* polling threads sharing the connections (1) */
  unsigned max_connections; /* open at once (256) */
  unsigned per_ip;          /* open at once from one address (no bound) */
  unsigned timeout_s;       /* an idle connection is closed after (30) */
  size_t max_request;       /* request line + headers, bytes (256 KiB): a larger
                               one gets a JSON 414; past twice that, the
                               server library's own 414 or 431 */
};
void vg_http_set_limits(struct vg_http *h, const struct vg_http_limits *l);

/* Binds and starts serving. 0, or a negative errno with errstr saying why
 * (address in use, ...). */
int vg_http_start(struct vg_http *h, char *errstr, size_t errstr_size);
/* The port actually bound (after start). */
uint16_t vg_http_port(const struct vg_http *h);
/* Stops serving (waits for handlers in progress) and frees. NULL is a no-op. */
void vg_http_free(struct vg_http *h);

/* Sets resp to a copy of text with a status and content type. */
void vg_http_reply(struct vg_http_response *resp, int status, const char *content_type,
                   const char *text);

#endif
