/*
 * Hot copies (include/vigie/store.h, vg_store_copy): a store copied while
 * vigied writes it, shard by shard with LMDB's own copy (mdb_env_copy2,
 * compacting: free pages are left out), each from one read snapshot.
 *
 * Shards are copied one after the other, so they may be epochs apart: the
 * state a crash between the shards' commits leaves (store.md, "Shards"),
 * from which a start resumes each shard at its own offsets. The copy is
 * written beside the destination (DEST.partial) and renamed to it only when
 * complete, with the series-id key, so a copy that fails leaves no store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_internal.h"

/* dir/name into buf; -ENAMETOOLONG when it does not fit. */
static int join(char *buf, size_t size, const char *dir, const char *name) {
  int n = snprintf(buf, size, "%s/%s", dir, name);
  return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Copies the small file name of dir `from` into dir `to` (fsynced); a
 * missing one is not an error (a store without it). */
static int copy_file(const char *from, const char *to, const char *name, char *errstr,
                     size_t errstr_size) {
  char src[4096], dst[4096], buf[4096];
  if (join(src, sizeof src, from, name) || join(dst, sizeof dst, to, name))
    return vg__store_fail(-ENAMETOOLONG, errstr, errstr_size, "%s: path too long", to);
  int in = open(src, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return errno == ENOENT ? 0
                           : vg__store_fail(-EIO, errstr, errstr_size, "%s: %s", src,
                                            strerror(errno));
  int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int rc = out < 0 ? -1 : 0;
  ssize_t n = 0;
  while (rc == 0 && (n = read(in, buf, sizeof buf)) > 0)
    rc = write(out, buf, (size_t)n) == n ? 0 : -1;
  if (rc == 0 && (n < 0 || fsync(out) != 0))
    rc = -1;
  int e = errno;
  close(in);
  if (out >= 0)
    close(out);
  return rc ? vg__store_fail(-EIO, errstr, errstr_size, "copying %s: %s", src,
                             strerror(e))
            : 0;
}

/* One shard's environment into the directory dst (created). */
static int copy_shard(struct vg_store *sh, const char *dst, char *errstr,
                      size_t errstr_size) {
  if (mkdir(dst, 0750) != 0 && errno != EEXIST)
    return vg__store_fail(-EIO, errstr, errstr_size, "cannot create %s: %s", dst,
                          strerror(errno));
  int mrc = mdb_env_copy2(sh->env, dst, MDB_CP_COMPACT);
  if (mrc == MDB_MAP_RESIZED) { /* the writer grew the map: take its size, again */
    mrc = mdb_env_set_mapsize(sh->env, 0);
    if (!mrc)
      mrc = mdb_env_copy2(sh->env, dst, MDB_CP_COMPACT);
  }
  if (mrc)
    return vg__store_fail(vg__store_err(mrc), errstr, errstr_size,
                          "cannot copy the store '%s' to %s: %s", sh->path, dst,
                          mdb_strerror(mrc));
  char file[4096];
  if (join(file, sizeof file, dst, "data.mdb") == 0)
    (void)chmod(file, 0640); /* as the store's own (LMDB's copy makes it 0644) */
  return 0;
}

int vg_store_copy(struct vg_store *st, const char *dest, struct vg_store_copy_stat *out,
                  char *errstr, size_t errstr_size) {
  char part[4096], dir[4096];
  struct stat sb;
  if (stat(dest, &sb) == 0)
    return vg__store_fail(-EEXIST, errstr, errstr_size,
                          "%s exists: a copy goes to a new directory", dest);
  int pn = snprintf(part, sizeof part, "%s.partial", dest);
  if (pn < 0 || (size_t)pn >= sizeof part)
    return vg__store_fail(-ENAMETOOLONG, errstr, errstr_size, "%s: path too long", dest);
  if (stat(part, &sb) == 0)
    return vg__store_fail(-EEXIST, errstr, errstr_size,
                          "%s exists (an earlier copy that failed?): delete it first",
                          part);
  int rc = 0;
  unsigned n = vg_store_shards(st);
  memset(out, 0, sizeof *out);
  for (unsigned k = 0; k < n && rc == 0; k++) {
    char shard[32], file[4096];
    snprintf(shard, sizeof shard, "shard-%u", k);
    if (k == 0)
      memcpy(dir, part, (size_t)pn + 1);
    else
      rc = join(dir, sizeof dir, part, shard);
    if (rc == 0)
      rc = join(file, sizeof file, dir, "data.mdb");
    if (rc)
      rc = vg__store_fail(rc, errstr, errstr_size, "%s: path too long", part);
    else
      rc = copy_shard(vg_store_shard(st, k), dir, errstr, errstr_size);
    if (rc == 0 && stat(file, &sb) == 0)
      out->bytes += (uint64_t)sb.st_size;
  }
  if (rc == 0)
    rc = copy_file(st->path, part, "series.key", errstr, errstr_size);
  if (rc == 0 && rename(part, dest) != 0)
    rc = vg__store_fail(-EIO, errstr, errstr_size, "cannot rename %s to %s: %s", part,
                        dest, strerror(errno));
  out->shards = n;
  return rc;
}
