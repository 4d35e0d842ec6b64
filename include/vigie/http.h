/*
 * The daemon's HTTP server (libmicrohttpd, one internal polling thread):
 * /metrics, /healthz and /readyz now, the open-data API (issue 8) later.
 *
 * Routes are registered between vg_http_new and vg_http_start and never
 * change afterwards, so dispatch takes no lock. Handlers run on the server's
 * thread: they must be thread-safe with respect to the rest of the daemon
 * (read atomics, render the metrics registry, open read-only transactions).
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

struct vg_http_response {
  int status;               /* default 200 */
  const char *content_type; /* static string; default text/plain */
  char *body;               /* malloc'd; the server frees it */
  size_t len;
};

typedef void (*vg_http_handler)(void *ctx, const struct vg_http_request *req,
                                struct vg_http_response *resp);

/* listen: "host:port" (IPv4 or [IPv6]; port 0 picks a free one). */
int vg_http_new(const char *listen, struct vg_http **out, char *errstr,
                size_t errstr_size);
/* path matches exactly, or as a prefix when it ends with '/'. First match
 * wins. 0 or -ENOMEM. */
int vg_http_route(struct vg_http *h, const char *path, vg_http_handler fn, void *ctx);
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
