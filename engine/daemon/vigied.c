/*
 * vigied, the service operations deploy (README.md "Running vigied"):
 *
 *   vigied --config FILE [--data-dir DIR] [--drain] [--check-config] [--version]
 *
 * Loads the configuration (errors name file, line and key, and nothing is
 * touched before it is valid), serves /metrics, /healthz and /readyz, and
 * runs the engine until SIGTERM/SIGINT (the epoch in progress is finished and
 * committed) or, with --drain, until every partition is read up to the end
 * it had at start. Signals are taken by one thread with sigwait, which also
 * tells systemd READY, WATCHDOG and STOPPING.
 *
 * Exit codes: 0 success; 1 runtime failure; 2 usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#ifdef VG_HAVE_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#include "common/atomic.h"
#include "vigie/config.h"
#include "daemon/engine.h"
#include "vigie/error.h"
#include "vigie/exportdir.h"
#include "vigie/api.h"
#include "vigie/http.h"
#include "vigie/log.h"
#include "vigie/metrics.h"
#include "vigie/store.h"

#ifndef VG_VERSION
#define VG_VERSION "0.1.0"
#endif

static void usage(FILE *f) {
  fputs("usage: vigied --config FILE [--data-dir DIR] [--drain] [--check-config]\n"
        "       vigied --version | --help | --config-reference\n\n"
        "  --config FILE       YAML configuration (keys below)\n"
        "  --data-dir DIR      store directory, overrides data_dir\n"
        "  --drain             consume every partition up to its end at start, commit, "
        "exit 0\n"
        "  --check-config      validate the configuration and exit (0 when valid)\n"
        "  --config-reference  print the configuration reference as markdown\n"
        "  --version           print the version\n\n"
        "Signals: SIGTERM/SIGINT finish and commit the epoch, then exit 0; SIGHUP\n"
        "re-reads the configuration's datasets (sources need a restart).\n\n"
        "Configuration keys:\n",
        f);
  vg_config_write_reference(f, 0);
}

struct daemon {
  const char *config_path;
  /* the engine, used by the HTTP and signal threads under the read lock;
   * the main thread takes the write lock to replace or free it */
  pthread_rwlock_t lock;
  struct vg_engine *engine;
  struct vg_metrics *metrics;
  struct vg_api *api; /* set before the signal thread starts, freed after it ends */
  _Atomic int done;
  _Atomic int stopping; /* SIGTERM/SIGINT was received */
};

/* ---- HTTP: metrics and health ------------------------------------------------ */

static void h_metrics(void *ctx, const struct vg_http_request *req,
                      struct vg_http_response *resp) {
  struct daemon *d = ctx;
  char *body;
  size_t len;
  if (vg_metrics_render(d->metrics, &body, &len) != 0) {
    vg_http_reply(resp, 500, "text/plain", "out of memory\n");
    return;
  }
  resp->status = 200;
  resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
  resp->body = body;
  resp->len = len;
}

static void h_healthz(void *ctx, const struct vg_http_request *req,
                      struct vg_http_response *resp) {
  vg_http_reply(resp, 200, "text/plain", "ok\n");
}

/* Ready when ingesting; the body says what is not (the store is served
 * whatever this says: /healthz is the liveness probe). */
static void h_readyz(void *ctx, const struct vg_http_request *req,
                     struct vg_http_response *resp) {
  struct daemon *d = ctx;
  char status[1024] = "", body[1200];
  int ready = 0;
  pthread_rwlock_rdlock(&d->lock);
  if (d->engine)
    ready = vg_engine_status(d->engine, status, sizeof status);
  else
    snprintf(status, sizeof status, "store: not open");
  pthread_rwlock_unlock(&d->lock);
  if (ready && !status[0]) {
    vg_http_reply(resp, 200, "text/plain", "ready\n");
    return;
  }
  snprintf(body, sizeof body, "%s\n%s%s", ready ? "ready" : "not ready", status,
           status[0] ? "\n" : "");
  char *copy = strdup(body);
  if (!copy) {
    vg_http_reply(resp, 503, "text/plain", "not ready\n");
    return;
  }
  resp->status = ready ? 200 : 503;
  resp->content_type = "text/plain; charset=utf-8";
  resp->body = copy;
  resp->len = strlen(copy);
}

/* The API's store access: under the daemon's read lock, so the engine (and
 * its store) cannot be freed while a reader is open; the lock is held from
 * open to close, one request or one export chunk at a time. */
static int api_open(void *ctx, struct vg_store_reader **r) {
  struct daemon *d = ctx;
  pthread_rwlock_rdlock(&d->lock);
  int rc = d->engine ? vg_engine_reader_begin(d->engine, r) : VG_ENOTFOUND;
  if (rc)
    pthread_rwlock_unlock(&d->lock);
  return rc;
}

static void api_close(void *ctx, struct vg_store_reader *r) {
  struct daemon *d = ctx;
  if (!r)
    return;
  vg_store_reader_end(r);
  pthread_rwlock_unlock(&d->lock);
}

/* The answer cache's counters: which one a gauge reads is its context. */
static struct vg_api *api_for_stats;
static char api_cache_hits, api_cache_misses, api_cache_bytes;

static double api_cache_stat(void *ctx) {
  struct vg_cache_stats s;
  if (!api_for_stats)
    return 0;
  vg_api_cache_stats(api_for_stats, &s);
  return (double)(ctx == &api_cache_hits     ? s.hits
                  : ctx == &api_cache_misses ? s.misses
                                             : s.bytes);
}

/* Store gauges: through the daemon, under its lock, because the engine (and
 * its store) may be rebuilt or freed while the registry lives on. */
static double store_gauge(struct daemon *d, int map) {
  struct vg_store_stat s;
  double v = 0;
  pthread_rwlock_rdlock(&d->lock);
  if (d->engine && vg_engine_store_stat(d->engine, &s) == 0)
    v = (double)(map ? s.map_bytes : s.used_bytes);
  pthread_rwlock_unlock(&d->lock);
  return v;
}

static double store_used(void *ctx) {
  return store_gauge(ctx, 0);
}

static double store_map(void *ctx) {
  return store_gauge(ctx, 1);
}

#ifdef VG_HAVE_JEMALLOC
static double je_stat(void *ctx) {
  uint64_t epoch = 1;
  size_t v = 0, sz = sizeof v;
  mallctl("epoch", NULL, NULL, &epoch, sizeof epoch);
  if (mallctl(ctx, &v, &sz, NULL, 0) != 0)
    return 0;
  return (double)v;
}

/* Gives every arena's freed pages back to the system at once, instead of
 * after jemalloc's decay time (10 s): the engine's memory gate asks. */
static void je_purge(void) {
  char name[64];
  snprintf(name, sizeof name, "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
  mallctl(name, NULL, NULL, NULL, 0);
}
#endif

/* ---- signals -------------------------------------------------------------------- */

/* The signals the signal thread takes (every other thread blocks them):
 * SIGTERM and SIGINT stop, SIGHUP re-reads the datasets, and SIGUSR1 only
 * wakes the thread, which main sends when it is done so that exiting does
 * not wait for the thread's one-second timeout (every drain lasted up to a
 * second longer than its work). */
static void daemon_signals(sigset_t *set) {
  sigemptyset(set);
  sigaddset(set, SIGTERM);
  sigaddset(set, SIGINT);
  sigaddset(set, SIGHUP);
  sigaddset(set, SIGUSR1);
}

static void *signal_main(void *arg) {
  struct daemon *d = arg;
  sigset_t set;
  daemon_signals(&set);
  uint64_t wd_usec = 0;
  int watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
  int told_ready = 0, was_ingesting = -1;
  char said[1024] = "";
  while (!vg_atomic_load_acquire_int(&d->done)) {
    struct timespec ts = {1, 0};
    int sig = sigtimedwait(&set, NULL, &ts);
    char status[1024] = "", line[1100];
    int serving = 0, ingesting = 0;
    pthread_rwlock_rdlock(&d->lock);
    if (d->engine) {
      serving = 1;
      ingesting = vg_engine_status(d->engine, status, sizeof status);
    }
    pthread_rwlock_unlock(&d->lock);
    /* ready for systemd once the store is served, with or without Kafka;
     * the status line says what is missing */
    if (!told_ready && serving) {
      sd_notify(0, "READY=1");
      told_ready = 1;
    }
    if (serving && (ingesting != was_ingesting || strcmp(status, said) != 0)) {
      snprintf(line, sizeof line, "STATUS=%s%s%s", ingesting ? "consuming" : "serving",
               status[0] ? "; " : "", status);
      sd_notify(0, line);
      was_ingesting = ingesting;
      snprintf(said, sizeof said, "%s", status);
    }
    if (watchdog && serving)
      sd_notify(0, "WATCHDOG=1");
    if (sig == SIGTERM || sig == SIGINT) {
      VG_LOG_INFO("stopping: finishing and committing the epoch", "signal=%s",
                  sig == SIGTERM ? "SIGTERM" : "SIGINT");
      sd_notify(0, "STOPPING=1");
      vg_atomic_store_release_int(&d->stopping, 1);
      pthread_rwlock_rdlock(&d->lock);
      if (d->engine)
        vg_engine_stop(d->engine);
      pthread_rwlock_unlock(&d->lock);
    } else if (sig == SIGHUP) {
      struct vg_config cfg;
      static char err[16384];
      if (vg_config_load(d->config_path, &cfg, err, sizeof err) != 0) {
        VG_LOG_ERROR("SIGHUP: the configuration is invalid, keeping the running one",
                     "errors=\"%s\"", err);
        continue;
      }
      struct vg_api_opts ao;
      if (vg_config_api(&cfg, &ao) != 0)
        VG_LOG_ERROR("SIGHUP: out of memory, keeping the running datasets", NULL);
      else if (vg_api_reload(d->api, &ao, err, sizeof err) != 0)
        VG_LOG_ERROR("SIGHUP: the datasets do not compile, keeping the running ones",
                     "error=\"%s\"", err);
      else
        VG_LOG_INFO("SIGHUP: configuration re-read; the datasets are served as defined "
                    "now, changes to sources need a restart",
                    "datasets=%zu", cfg.ndatasets);
      vg_config_api_release(&ao);
      vg_config_release(&cfg);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *config = NULL, *data_dir = NULL;
  int check = 0, drain = 0;
  static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                       {"data-dir", required_argument, NULL, 'd'},
                                       {"drain", no_argument, NULL, 'D'},
                                       {"check-config", no_argument, NULL, 'C'},
                                       {"version", no_argument, NULL, 'V'},
                                       {"help", no_argument, NULL, 'h'},
                                       {"config-reference", no_argument, NULL, 'R'},
                                       {0}};
  int o;
  while ((o = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
    switch (o) {
    case 'c': config = optarg; break;
    case 'd': data_dir = optarg; break;
    case 'D': drain = 1; break;
    case 'C': check = 1; break;
    case 'V': printf("vigied %s\n", VG_VERSION); return 0;
    case 'h': usage(stdout); return 0;
    case 'R': vg_config_write_reference(stdout, 1); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "vigied: unexpected argument \"%s\" (see --help)\n", argv[optind]);
    return 2;
  }
  if (!config) {
    fprintf(stderr, "vigied: --config FILE is required (see --help)\n");
    return 2;
  }
  struct vg_config cfg;
  static char err[16384];
  int rc = vg_config_load(config, &cfg, err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "%s\n", err[0] ? err : vg_strerror(rc));
    return 2;
  }
  if (check) {
    printf("%s: configuration valid (%zu sources, %zu datasets, data_dir %s)\n", config,
           cfg.nsources, cfg.ndatasets, data_dir ? data_dir : cfg.data_dir);
    vg_config_release(&cfg);
    return 0;
  }
  vg_log_set_level((enum vg_log_level)cfg.log_level);

  /* every thread created from here on inherits the blocked signals; the
   * signal thread takes them */
  sigset_t set;
  daemon_signals(&set);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  struct daemon d = {.config_path = config};
  pthread_rwlock_init(&d.lock, NULL);
  struct vg_http *http = NULL;
  struct vg_api *api = NULL;
  struct vg_exportdir *xdir = NULL;
  pthread_t sig_thread;
  int exit_code = 1;
  if (vg_metrics_new(&d.metrics) != 0) {
    fprintf(stderr, "vigied: out of memory\n");
    goto out;
  }
  vg_metrics_gauge_fn(d.metrics, "vigie_store_used_bytes",
                      "Bytes of the LMDB map in use.", NULL, store_used, &d);
  vg_metrics_gauge_fn(d.metrics, "vigie_store_map_bytes", "Size of the LMDB map.", NULL,
                      store_map, &d);
#ifdef VG_HAVE_JEMALLOC
  vg_metrics_gauge_fn(d.metrics, "vigie_jemalloc_allocated_bytes",
                      "Bytes allocated by the process (jemalloc stats.allocated).", NULL,
                      je_stat, "stats.allocated");
  vg_metrics_gauge_fn(d.metrics, "vigie_jemalloc_resident_bytes",
                      "Bytes of physically resident allocator pages (stats.resident).",
                      NULL, je_stat, "stats.resident");
#endif
  struct vg_api_store as = {api_open, api_close, &d};
  struct vg_api_opts ao;
  if (vg_config_api(&cfg, &ao) != 0) {
    VG_LOG_ERROR("cannot publish the datasets", "error=\"out of memory\"");
    goto out;
  }
  rc = vg_api_new(&ao, &as, &api, err, sizeof err);
  vg_config_api_release(&ao);
  if (rc != 0) {
    VG_LOG_ERROR("cannot publish the datasets", "error=\"%s\"", err);
    goto out;
  }
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  struct vg_http_limits lim = {
      .threads = cfg.http_threads ? (unsigned)cfg.http_threads
                                  : (unsigned)(ncpu > 0 ? (ncpu < 64 ? ncpu : 64) : 1),
      .max_connections = (unsigned)cfg.http_max_connections,
      .per_ip = (unsigned)cfg.http_per_ip_connections,
      .timeout_s = (unsigned)((cfg.http_timeout_ns + 999999999) / 1000000000),
      .max_request = (size_t)cfg.http_max_request};
  if (vg_http_new(cfg.http_listen, &http, err, sizeof err) == 0)
    vg_http_set_limits(http, &lim);
  vg_metrics_gauge_fn(d.metrics, "vigie_api_cache_hits",
                      "API answers served from the cache since the start.", NULL,
                      api_cache_stat, &api_cache_hits);
  vg_metrics_gauge_fn(
      d.metrics, "vigie_api_cache_misses",
      "API answers computed (not in the cache, or stale) since the start.", NULL,
      api_cache_stat, &api_cache_misses);
  vg_metrics_gauge_fn(d.metrics, "vigie_api_cache_bytes",
                      "Bytes held by the API's answer cache.", NULL, api_cache_stat,
                      &api_cache_bytes);
  api_for_stats = api;
  if (!http || vg_http_route(http, "/metrics", h_metrics, &d) != 0 ||
      vg_http_route(http, "/healthz", h_healthz, &d) != 0 ||
      vg_http_route(http, "/readyz", h_readyz, &d) != 0 ||
      vg_api_routes(api, http) != 0 || vg_http_start(http, err, sizeof err) != 0) {
    VG_LOG_ERROR("cannot start the HTTP server", "error=\"%s\"", err);
    goto out;
  }
  VG_LOG_INFO("http listening", "address=%s port=%u threads=%u", cfg.http_listen,
              (unsigned)vg_http_port(http), lim.threads);
  d.api = api;
  if (cfg.export_dir) {
    /* the export folder follows the API's datasets across engine restarts
     * and SIGHUP; it reads the store through api_open like a request */
    struct vg_exportdir_opts xo = {.api = api,
                                   .dir = cfg.export_dir,
                                   .interval_ns = cfg.publish_export_interval_ns,
                                   .metrics = d.metrics};
    if (vg_exportdir_new(&xo, &xdir, err, sizeof err) != 0) {
      VG_LOG_ERROR("cannot start the export folder", "error=\"%s\"", err);
      goto out;
    }
    VG_LOG_INFO("export folder", "dir=%s io_uring=%d", cfg.export_dir,
                vg_exportdir_uring(xdir));
  }
  pthread_create(&sig_thread, NULL, signal_main, &d);

  struct vg_engine_opts eo = {
      .cfg = &cfg, .data_dir = data_dir, .drain = drain, .metrics = d.metrics};
#ifdef VG_HAVE_JEMALLOC
  eo.release_memory = je_purge;
#endif
  struct vg_engine *engine = NULL;
  rc = vg_engine_new(&eo, &engine, err, sizeof err);
  if (rc != 0) {
    VG_LOG_ERROR("cannot open the store", "error=\"%s\"", err);
  } else {
    pthread_rwlock_wrlock(&d.lock);
    d.engine = engine;
    pthread_rwlock_unlock(&d.lock);
    if (vg_atomic_load_acquire_int(&d.stopping)) /* the signal came before the engine */
      vg_engine_stop(engine);
    VG_LOG_INFO("vigied running", "version=%s brokers=%s drain=%d", VG_VERSION,
                vg_engine_brokers(engine), drain);
    rc = vg_engine_run(engine, err, sizeof err);
    if (rc == 0 && drain && xdir && vg_exportdir_sync(xdir, 120000) != 0)
      VG_LOG_WARN("the export folder was not brought up to date before exiting", NULL);
    /* the HTTP and signal threads see the engine: take it back first */
    pthread_rwlock_wrlock(&d.lock);
    d.engine = NULL;
    pthread_rwlock_unlock(&d.lock);
    vg_engine_free(engine);
    if (rc != 0)
      VG_LOG_ERROR("stopped on an error", "error=\"%s\"", err);
    else
      exit_code = 0;
  }
  vg_atomic_store_release_int(&d.done, 1);
  pthread_kill(sig_thread, SIGUSR1);
  pthread_join(sig_thread, NULL);
  vg_http_free(http);
  http = NULL;
out:
  vg_http_free(http); /* stops serving first: no request uses the API after */
  vg_exportdir_free(xdir);
  vg_api_free(api);
  vg_metrics_free(d.metrics);
  vg_config_release(&cfg);
  return exit_code;
}
