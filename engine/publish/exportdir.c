/*
 * The export folder (exportdir.h): a thread that re-exports each dataset
 * when its ETag moved, streaming the API's export into an atomically
 * replaced file, and removes the files it wrote for a dataset that is no
 * longer defined (SIGHUP).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "vigie/array.h"
#include "vigie/comptage.h"
#include "vigie/dataset.h"
#include "vigie/error.h"
#include "vigie/exportdir.h"
#include "publish/filew.h"
#include "vigie/hash.h"
#include "vigie/log.h"

/* What was last written for one (dataset, format). */
struct filestate {
  char id[128];   /* the dataset */
  char name[192]; /* file name: id.csv, id.json, id.comptage-mobilites.FILE */
  char etag[96];
  uint64_t hash;
  int written; /* this process put the file in place (and did not remove it) */
};

struct vg_exportdir {
  struct vg_api *api;
  char *dir;
  int64_t interval_ns;
  struct vg_filew *fw;
  struct filestate *files;
  size_t nfiles, capfiles;
  struct vg_counter *written, *removed, *errors;
  pthread_t th;
  int started, stop;
  uint64_t asked, done; /* passes requested by vg_exportdir_sync, and answered */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char buf[64 * 1024];
};

static struct filestate *state_of(struct vg_exportdir *x, const char *id,
                                  const char *name) {
  for (size_t i = 0; i < x->nfiles; i++)
    if (strcmp(x->files[i].name, name) == 0)
      return &x->files[i];
  if (VG_GROW(x->files, x->nfiles + 1, x->capfiles))
    return NULL;
  struct filestate *f = &x->files[x->nfiles++];
  memset(f, 0, sizeof *f);
  snprintf(f->id, sizeof f->id, "%s", id);
  snprintf(f->name, sizeof f->name, "%s", name);
  return f;
}

/* The files of a dataset: {id}.csv, {id}.json, then, when it is declared
 * with the mobility-count schema, {id}.comptage-mobilites.{file} (its data
 * package names the others by these names, or by their URLs with
 * http.public_url). */
#define NKINDS (2 + VG_CM_NFILES)

static int open_kind(struct vg_exportdir *x, const char *id, int k, char *name,
                     size_t size, char *etag, size_t etag_size,
                     struct vg_http_stream *s) {
  if (k < 2) {
    snprintf(name, size, "%s.%s", id, k == 0 ? "csv" : "json");
    return vg_api_export_open(x->api, id, k == 0 ? VG_DS_CSV : VG_DS_JSON, etag,
                              etag_size, s);
  }
  char rel[160];
  snprintf(rel, sizeof rel, "%s.comptage-mobilites.", id);
  snprintf(name, size, "%s%s", rel, vg_cm_file_name(k - 2));
  return vg_api_comptage_open(x->api, id, k - 2, rel, etag, etag_size, s);
}

/* Exports one file when its ETag moved. 1 when replaced, 0 when unchanged
 * (or not a file of this dataset), or a negative error (logged). */
static int export_one(struct vg_exportdir *x, const char *id, int kind) {
  char name[192], etag[96], err[512];
  struct vg_http_stream s;
  int rc = open_kind(x, id, kind, name, sizeof name, etag, sizeof etag, &s);
  if (rc)
    return rc == VG_ENOTFOUND ? 0 : rc; /* no dataset (or file), or no store yet */
  struct filestate *st = state_of(x, id, name);
  if (!st) {
    s.free(s.ctx);
    return -ENOMEM;
  }
  if (st->etag[0] && strcmp(st->etag, etag) == 0) {
    s.free(s.ctx);
    return 0;
  }
  uint64_t h = VG_FNV64_OFFSET;
  rc = vg_filew_begin(x->fw, x->dir, name, err, sizeof err);
  for (long n = 1; rc == 0 && n > 0;) {
    n = s.read(s.ctx, x->buf, sizeof x->buf);
    if (n < 0) {
      rc = -EIO;
      snprintf(err, sizeof err, "%s: the export stopped (store unavailable)", name);
    } else if (n > 0) {
      h = vg_fnv1a64(h, x->buf, (size_t)n);
      rc = vg_filew_write(x->fw, x->buf, (size_t)n, err, sizeof err);
    }
  }
  s.free(s.ctx);
  if (rc == 0 && st->etag[0] && h == st->hash) {
    vg_filew_abort(x->fw); /* same bytes as the file in place */
    snprintf(st->etag, sizeof st->etag, "%s", etag);
    return 0;
  }
  if (rc == 0)
    rc = vg_filew_commit(x->fw, err, sizeof err);
  else
    vg_filew_abort(x->fw);
  if (rc) {
    VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "cannot write an export file", "error=\"%s\"",
                       err);
    if (x->errors)
      vg_counter_add(x->errors, 1);
    return rc;
  }
  snprintf(st->etag, sizeof st->etag, "%s", etag);
  st->hash = h;
  st->written = 1;
  if (x->written)
    vg_counter_add(x->written, 1);
  VG_LOG_DEBUG("export file replaced", "file=%s/%s etag=%s", x->dir, name, etag);
  return 1;
}

/* Forgets the files of datasets that are no longer defined, removing those
 * this process wrote -- never another file of the folder: a name it did not
 * put in place is left to whoever did. Runs after the exports of the pass,
 * so a renamed dataset has its new files before it loses the old ones.
 * Returns 0 or the first error (logged; the file stays known and the next
 * pass retries). */
static int prune(struct vg_exportdir *x) {
  int first = 0, removed = 0;
  for (size_t i = 0; i < x->nfiles;) {
    struct filestate *f = &x->files[i];
    if (vg_api_has_dataset(x->api, f->id)) {
      i++;
      continue;
    }
    if (f->written) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", x->dir, f->name);
      if (unlink(path) != 0 && errno != ENOENT) {
        int rc = -errno;
        VG_LOG_RATELIMITED(VG_LOG_WARN, 60000, "cannot remove an export file",
                           "file=%s error=\"%s\"", path, strerror(-rc));
        if (x->errors)
          vg_counter_add(x->errors, 1);
        if (!first)
          first = rc;
        i++;
        continue;
      }
      removed++;
      if (x->removed)
        vg_counter_add(x->removed, 1);
      VG_LOG_INFO("export file removed: its dataset is no longer defined", "file=%s",
                  path);
    }
    x->files[i] = x->files[--x->nfiles]; /* order does not matter */
  }
  if (removed) { /* the removals survive a crash, as a replacement does */
    int fd = open(x->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
      fsync(fd);
      close(fd);
    }
  }
  return first;
}

int vg_exportdir_run_once(struct vg_exportdir *x, size_t *written) {
  char id[128];
  int first = 0;
  size_t n = 0;
  for (size_t i = 0; vg_api_dataset_id(x->api, i, id, sizeof id) == 0; i++) {
    for (int k = 0; k < NKINDS; k++) {
      int rc = export_one(x, id, k);
      if (rc > 0)
        n++;
      else if (rc < 0 && !first)
        first = rc;
    }
  }
  int rc = prune(x);
  if (rc && !first)
    first = rc;
  if (written)
    *written = n;
  return first;
}

int vg_exportdir_uring(const struct vg_exportdir *x) {
  return vg_filew_uring(x->fw);
}

static void *exportdir_main(void *arg) {
  struct vg_exportdir *x = arg;
  pthread_mutex_lock(&x->mu);
  while (!x->stop) {
    uint64_t asked = x->asked; /* this pass answers the requests made before it */
    pthread_mutex_unlock(&x->mu);
    vg_exportdir_run_once(x, NULL);
    pthread_mutex_lock(&x->mu);
    x->done = asked;
    pthread_cond_broadcast(&x->cv);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_nsec + x->interval_ns;
    ts.tv_sec += (time_t)(t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    while (!x->stop && x->asked == x->done &&
           pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0)
      ;
  }
  pthread_mutex_unlock(&x->mu);
  return NULL;
}

int vg_exportdir_sync(struct vg_exportdir *x, int timeout_ms) {
  if (!x->started)
    return vg_exportdir_run_once(x, NULL);
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  int64_t t = (int64_t)until.tv_nsec + (int64_t)timeout_ms * 1000000LL;
  until.tv_sec += (time_t)(t / 1000000000LL);
  until.tv_nsec = (long)(t % 1000000000LL);
  pthread_mutex_lock(&x->mu);
  uint64_t want = ++x->asked;
  pthread_cond_broadcast(&x->cv);
  int rc = 0;
  while (x->done < want && rc == 0)
    rc = pthread_cond_timedwait(&x->cv, &x->mu, &until);
  int ok = x->done >= want;
  pthread_mutex_unlock(&x->mu);
  return ok ? 0 : VG_ETIMEOUT;
}

/* Temporary files a crash left behind (".{name}.tmp.XXXXXX", filew.c). */
static void remove_leftovers(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  if (!d)
    return;
  while ((e = readdir(d)))
    if (e->d_name[0] == '.' && strstr(e->d_name, ".tmp.") &&
        unlinkat(dirfd(d), e->d_name, 0) == 0)
      VG_LOG_INFO("removed a temporary export file left by a crash", "file=%s/%s", dir,
                  e->d_name);
  closedir(d);
}

int vg_exportdir_new(const struct vg_exportdir_opts *o, struct vg_exportdir **out,
                     char *errstr, size_t errstr_size) {
  struct vg_exportdir *x = calloc(1, sizeof *x);
  if (x)
    x->dir = strdup(o->dir);
  if (!x || !x->dir) {
    free(x);
    snprintf(errstr, errstr_size, "export folder: out of memory");
    return -ENOMEM;
  }
  x->api = o->api;
  x->interval_ns = o->interval_ns > 0 ? o->interval_ns : 5000000000LL;
  pthread_mutex_init(&x->mu, NULL);
  pthread_cond_init(&x->cv, NULL);
  int rc;
  if (mkdir(x->dir, 0755) != 0 && errno != EEXIST) {
    rc = -errno;
    snprintf(errstr, errstr_size, "export_dir %s: %s", x->dir, strerror(errno));
    goto fail;
  }
  remove_leftovers(x->dir);
  rc = vg_filew_new(o->filew_flags, &x->fw, errstr, errstr_size);
  if (rc)
    goto fail;
  if (o->metrics) {
    x->written = vg_metrics_counter(o->metrics, "vigie_export_files_written_total",
                                    "Export-folder files replaced.", NULL);
    x->removed =
        vg_metrics_counter(o->metrics, "vigie_export_files_removed_total",
                           "Export-folder files removed with their dataset.", NULL);
    x->errors = vg_metrics_counter(o->metrics, "vigie_export_errors_total",
                                   "Export-folder files that could not be written "
                                   "or removed.",
                                   NULL);
  }
  if (!o->no_thread) {
    if (pthread_create(&x->th, NULL, exportdir_main, x) != 0) {
      rc = -EAGAIN;
      snprintf(errstr, errstr_size, "export folder: cannot start its thread");
      goto fail;
    }
    x->started = 1;
  }
  *out = x;
  return 0;
fail:
  vg_exportdir_free(x);
  return rc;
}

void vg_exportdir_free(struct vg_exportdir *x) {
  if (!x)
    return;
  if (x->started) {
    pthread_mutex_lock(&x->mu);
    x->stop = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    pthread_join(x->th, NULL);
  }
  vg_filew_free(x->fw);
  pthread_cond_destroy(&x->cv);
  pthread_mutex_destroy(&x->mu);
  free(x->files);
  free(x->dir);
  free(x);
}
