/*
 * Atomic file replacement (filew.h): staged writes submitted to an io_uring
 * ring one buffer at a time (the file is written sequentially; the gain is
 * fewer copies and no blocking syscall per chunk for large exports), an
 * fsync through the ring, rename, and the folder's fsync through the ring.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "publish/filew.h"
#include "vigie/log.h"

#define STAGE (256 * 1024)

struct vg_filew {
  struct io_uring ring;
  int uring; /* the ring is set up and in use */
  char *stage;
  size_t staged;
  int fd;
  off_t off;
  char *path, *tmp, *dir;
};

static void refused(struct vg_filew *w, const char *what, int err) {
  VG_LOG_WARN("io_uring refused; export files are written with plain write(2) and "
              "fsync(2)",
              "step=%s error=\"%s\"", what, strerror(err));
  if (w->uring)
    io_uring_queue_exit(&w->ring);
  w->uring = 0;
}

int vg_filew_new(unsigned flags, struct vg_filew **out, char *errstr,
                 size_t errstr_size) {
  struct vg_filew *w = calloc(1, sizeof *w);
  if (w)
    w->stage = malloc(STAGE);
  if (!w || !w->stage) {
    free(w);
    snprintf(errstr, errstr_size, "file writer: out of memory");
    return -ENOMEM;
  }
  w->fd = -1;
  const char *env = getenv("VIGIE_NO_URING");
  if (!(flags & VG_FILEW_PLAIN) && !(env && *env && strcmp(env, "0") != 0)) {
    int rc = io_uring_queue_init(8, &w->ring, 0);
    if (rc == 0)
      w->uring = 1;
    else
      refused(w, "io_uring_setup", -rc);
  }
  *out = w;
  return 0;
}

int vg_filew_uring(const struct vg_filew *w) {
  return w->uring;
}

/* One operation through the ring: 1 with *res its result, or 0 when the
 * ring is not (or no longer) usable, so the caller does it plainly. */
static int ring_op(struct vg_filew *w, int write, const void *buf, size_t len, off_t off,
                   int fd, int *res) {
  if (!w->uring)
    return 0;
  struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
  if (!sqe)
    return 0;
  if (write)
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, (__u64)off);
  else
    io_uring_prep_fsync(sqe, fd, 0);
  int rc = io_uring_submit(&w->ring);
  if (rc < 0) {
    refused(w, "io_uring_enter", -rc);
    return 0;
  }
  struct io_uring_cqe *cqe;
  do
    rc = io_uring_wait_cqe(&w->ring, &cqe);
  while (rc == -EINTR);
  if (rc < 0) {
    refused(w, "io_uring_wait_cqe", -rc);
    return 0;
  }
  *res = cqe->res;
  io_uring_cqe_seen(&w->ring, cqe);
  if (*res == -EINVAL || *res == -EOPNOTSUPP || *res == -ENOSYS || *res == -EPERM) {
    refused(w, write ? "write" : "fsync", -*res);
    return 0;
  }
  return 1;
}

/* Writes the staged bytes at the file's offset. */
static int flush_stage(struct vg_filew *w) {
  size_t done = 0;
  while (done < w->staged) {
    int res;
    if (!ring_op(w, 1, w->stage + done, w->staged - done, w->off, w->fd, &res)) {
      ssize_t n = pwrite(w->fd, w->stage + done, w->staged - done, w->off);
      res = n < 0 ? -errno : (int)n;
      if (res == -EINTR)
        continue;
    }
    if (res < 0)
      return res;
    if (res == 0)
      return -EIO;
    done += (size_t)res; /* a short write: the rest next turn */
    w->off += res;
  }
  w->staged = 0;
  return 0;
}

static int do_fsync(struct vg_filew *w, int fd) {
  int res;
  if (ring_op(w, 0, NULL, 0, 0, fd, &res))
    return res;
  return fsync(fd) == 0 ? 0 : -errno;
}

static char *join(const char *a, const char *b, const char *c) {
  size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s%s%s", a, b, c);
  return s;
}

void vg_filew_abort(struct vg_filew *w) {
  if (w->fd >= 0) {
    close(w->fd);
    unlink(w->tmp);
  }
  w->fd = -1;
  w->staged = 0;
  w->off = 0;
  free(w->path);
  free(w->tmp);
  free(w->dir);
  w->path = w->tmp = w->dir = NULL;
}

int vg_filew_begin(struct vg_filew *w, const char *dir, const char *name, char *errstr,
                   size_t errstr_size) {
  vg_filew_abort(w);
  w->dir = strdup(dir);
  w->path = join(dir, "/", name);
  char *base = w->path ? join(dir, "/.", name) : NULL;
  w->tmp = base ? join(base, ".tmp.", "XXXXXX") : NULL;
  free(base);
  if (!w->dir || !w->path || !w->tmp) {
    vg_filew_abort(w);
    snprintf(errstr, errstr_size, "%s/%s: out of memory", dir, name);
    return -ENOMEM;
  }
  w->fd = mkostemp(w->tmp, O_CLOEXEC);
  if (w->fd < 0) {
    int err = errno;
    snprintf(errstr, errstr_size, "%s: cannot create a temporary file: %s", w->path,
             strerror(err));
    vg_filew_abort(w);
    return -err;
  }
  fchmod(w->fd, 0644); /* published files: readable by the web server */
  return 0;
}

int vg_filew_write(struct vg_filew *w, const void *buf, size_t len, char *errstr,
                   size_t errstr_size) {
  const char *p = buf;
  while (len) {
    size_t n = STAGE - w->staged < len ? STAGE - w->staged : len;
    memcpy(w->stage + w->staged, p, n);
    w->staged += n;
    p += n;
    len -= n;
    if (w->staged == STAGE) {
      int rc = flush_stage(w);
      if (rc) {
        snprintf(errstr, errstr_size, "%s: write: %s", w->tmp, strerror(-rc));
        vg_filew_abort(w);
        return rc;
      }
    }
  }
  return 0;
}

int vg_filew_commit(struct vg_filew *w, char *errstr, size_t errstr_size) {
  const char *step = "write";
  int rc = flush_stage(w);
  if (rc == 0) {
    step = "fsync";
    rc = do_fsync(w, w->fd);
  }
  if (rc == 0) {
    step = "close";
    rc = close(w->fd) == 0 ? 0 : -errno;
    w->fd = -1;
  }
  if (rc == 0) {
    step = "rename";
    rc = rename(w->tmp, w->path) == 0 ? 0 : -errno;
  }
  if (rc) {
    if (w->fd < 0)
      unlink(w->tmp);
    snprintf(errstr, errstr_size, "%s: %s: %s", w->path, step, strerror(-rc));
    vg_filew_abort(w);
    return rc;
  }
  /* the rename is durable once the folder is */
  int dfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rc = dfd < 0 ? -errno : do_fsync(w, dfd);
  if (rc != 0) {
    snprintf(errstr, errstr_size, "%s: fsync of the folder: %s", w->dir, strerror(-rc));
  }
  if (dfd >= 0)
    close(dfd);
  vg_filew_abort(w); /* fd is -1: only frees the names */
  return rc;
}

void vg_filew_free(struct vg_filew *w) {
  if (!w)
    return;
  vg_filew_abort(w);
  if (w->uring)
    io_uring_queue_exit(&w->ring);
  free(w->stage);
  free(w);
}
