/*
 * Re-sharding (include/vigie/store.h, vg_store_reshard): a store written
 * with one shard count rewritten for another, row by row. Every table but
 * `meta` and `pos` is keyed or valued by series, and a row means the same in
 * any shard, so a row is copied as it is into the shard of its series; the
 * positions and meta (blobs included) of the old shards -- all at the same
 * epoch, so alike -- go to every new shard. The new store is written beside
 * the old one and renamed into its place only when complete.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/store_internal.h"

#define RESHARD_BATCH 50000 /* rows per write transaction of each new shard */

/* Where a row of a table goes: the series it belongs to (by key or value),
 * or ALL (every shard). */
enum route { BY_KEY0, BY_KEY8, BY_VAL1LE, ALL, SHARD0 };

struct table {
  const char *name;
  size_t off; /* offsetof the dbi in struct vg_store */
  enum route how;
};

static const struct table tables[] = {
    {"series", offsetof(struct vg_store, series), BY_VAL1LE},
    {"series_id", offsetof(struct vg_store, series_id), BY_KEY0},
    {"open", offsetof(struct vg_store, open), BY_KEY0},
    {"blk", offsetof(struct vg_store, blk), BY_KEY0},
    {"seg", offsetof(struct vg_store, seg), BY_KEY0},
    {"dup", offsetof(struct vg_store, dup), BY_KEY8},
    {"emit", offsetof(struct vg_store, emit), BY_VAL1LE},
    {"ind", offsetof(struct vg_store, ind), SHARD0},
    {"pos", offsetof(struct vg_store, pos), ALL},
    {"meta", offsetof(struct vg_store, meta), ALL},
};

static MDB_dbi dbi_of(const struct vg_store *st, const struct table *t) {
  return *(const MDB_dbi *)((const char *)st + t->off);
}

struct copy {
  struct vg_store *to;
  MDB_txn *txn[VG_STORE_MAX_SHARDS];
  unsigned n;
  uint64_t done, total, batch;
  void (*progress)(uint64_t done, uint64_t total, void *ctx);
  void *ctx;
};

static int begin_all(struct copy *c) {
  for (unsigned k = 0; k < c->n; k++) {
    int rc =
        vg__store_err(mdb_txn_begin(vg_store_shard(c->to, k)->env, NULL, 0, &c->txn[k]));
    if (rc)
      return rc;
  }
  return 0;
}

static int commit_all(struct copy *c) {
  int rc = 0;
  for (unsigned k = 0; k < c->n; k++) {
    if (!c->txn[k])
      continue;
    int r = rc ? (mdb_txn_abort(c->txn[k]), 0) : vg__store_err(mdb_txn_commit(c->txn[k]));
    c->txn[k] = NULL;
    if (r)
      rc = r;
  }
  return rc;
}

static int put_row(struct copy *c, unsigned k, const struct table *t, MDB_val *key,
                   MDB_val *val) {
  MDB_dbi dbi = dbi_of(vg_store_shard(c->to, k), t);
  int rc = vg__store_err(mdb_put(c->txn[k], dbi, key, val, 0));
  if (rc)
    return rc;
  if (++c->batch >= RESHARD_BATCH) {
    c->batch = 0;
    rc = commit_all(c);
    if (!rc)
      rc = begin_all(c);
  }
  return rc;
}

/* Copies table t of old shard `from` (its snapshot txn) into the new
 * shards. `all`: rows for every shard are copied (the lowest old shard). */
static int copy_table(struct copy *c, const struct vg_store *from, MDB_txn *txn,
                      const struct table *t, int all) {
  if ((t->off == offsetof(struct vg_store, blk) && !from->has_blk) ||
      (t->off == offsetof(struct vg_store, dup) && !from->has_dup) ||
      (t->off == offsetof(struct vg_store, ind) && !from->has_ind))
    return 0;
  if (t->how == ALL && !all)
    return 0;
  MDB_cursor *cur;
  MDB_val key, val;
  int rc = vg__store_err(mdb_cursor_open(txn, dbi_of(from, t), &cur));
  if (rc)
    return rc;
  for (rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_FIRST)); rc == 0;
       rc = vg__store_err(mdb_cursor_get(cur, &key, &val, MDB_NEXT))) {
    const uint8_t *kb = key.mv_data, *vb = val.mv_data;
    uint64_t series = 0;
    switch (t->how) {
    case BY_KEY0:
      if (key.mv_size < 8)
        rc = VG_ECORRUPT;
      else
        series = be64_get(kb);
      break;
    case BY_KEY8:
      if (key.mv_size < 16)
        rc = VG_ECORRUPT;
      else
        series = be64_get(kb + 8);
      break;
    case BY_VAL1LE:
      if (val.mv_size < 9)
        rc = VG_ECORRUPT;
      else
        for (int b = 0; b < 8; b++)
          series |= (uint64_t)vb[1 + b] << (8 * b);
      break;
    case ALL:
    case SHARD0: break;
    }
    if (rc)
      break;
    if (t->how == SHARD0) { /* indicator rows live in shard 0 */
      rc = put_row(c, 0, t, &key, &val);
    } else if (t->how != ALL) {
      rc = put_row(c, vg_store_shard_of(series, c->n), t, &key, &val);
    } else {
      /* meta: the shard count is the new store's (written by its open),
       * the retention generation is summed over the shards: shard 0 takes
       * the old total (the caller's), and so is the last epoch that wrote
       * windows, taken as the epoch itself (rows may have moved) */
      int skip = t->off == offsetof(struct vg_store, meta) &&
                 ((key.mv_size == 6 && memcmp(kb, "shards", 6) == 0) ||
                  (key.mv_size == 10 && memcmp(kb, "retain_gen", 10) == 0) ||
                  (key.mv_size == 10 && memcmp(kb, "data_epoch", 10) == 0));
      for (unsigned k = 0; k < c->n && !rc && !skip; k++)
        rc = put_row(c, k, t, &key, &val);
    }
    if (rc)
      break;
    if (++c->done % 100000 == 0 && c->progress)
      c->progress(c->done, c->total, c->ctx);
  }
  mdb_cursor_close(cur);
  return rc == VG_ENOTFOUND ? 0 : rc;
}

static uint64_t rows_of(const struct vg_store *st, MDB_txn *txn) {
  uint64_t n = 0;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
    MDB_stat s;
    if ((tables[i].off == offsetof(struct vg_store, blk) && !st->has_blk) ||
        (tables[i].off == offsetof(struct vg_store, dup) && !st->has_dup) ||
        (tables[i].off == offsetof(struct vg_store, ind) && !st->has_ind))
      continue;
    if (mdb_stat(txn, dbi_of(st, &tables[i]), &s) == 0)
      n += s.ms_entries;
  }
  return n;
}

/* The other files of the store's directory (the daemon's series-id key)
 * copied into the new one: a regular file, not LMDB's. 0 or -errno. */
static int copy_files(const char *from, const char *to) {
  DIR *d = opendir(from);
  if (!d)
    return -errno;
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(d))) {
    char src[4096], dst[4096];
    struct stat sb;
    if (strcmp(de->d_name, "data.mdb") == 0 || strcmp(de->d_name, "lock.mdb") == 0)
      continue;
    int a = snprintf(src, sizeof src, "%s/%s", from, de->d_name);
    int b = snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
    if (a < 0 || (size_t)a >= sizeof src || b < 0 || (size_t)b >= sizeof dst) {
      rc = -ENAMETOOLONG;
      break;
    }
    if (stat(src, &sb) != 0 || !S_ISREG(sb.st_mode))
      continue;
    FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wbx") : NULL;
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
      if (fwrite(buf, 1, n, out) != n)
        break;
    if (!in || !out || ferror(in) || ferror(out))
      rc = errno ? -errno : -EIO;
    if (in)
      fclose(in);
    if (out && fclose(out) != 0 && rc == 0)
      rc = -errno;
  }
  closedir(d);
  return rc;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

int vg_store_reshard(const char *path, unsigned n, size_t map_max,
                     void (*progress)(uint64_t done, uint64_t total, void *ctx),
                     void *ctx, char *errstr, size_t errstr_size) {
  struct vg_store *old = NULL;
  struct vg_store_reader *r = NULL;
  struct copy c = {.n = n, .progress = progress, .ctx = ctx};
  char tmp[4096], keep[4096];
  int rc;
  if (n == 0 || n > VG_STORE_MAX_SHARDS)
    return vg__store_fail(VG_ECONFIG, errstr, errstr_size,
                          "a store has 1 to %d shards, not %u", VG_STORE_MAX_SHARDS, n);
  struct vg_store_opts oo = {.path = path, .readonly = 1};
  rc = vg_store_open(&oo, &old, errstr, errstr_size);
  if (rc)
    return rc;
  unsigned was = vg_store_shards(old);
  snprintf(tmp, sizeof tmp, "%s.reshard", path);
  snprintf(keep, sizeof keep, "%s.pre-reshard-%u", path, was);
  rc = vg_store_reader_begin(old, &r);
  if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size, "cannot read the store '%s': %s", path,
                        vg_strerror(rc));
    goto done;
  }
  /* every shard at the same epoch, or the positions would not say what
   * each new shard holds */
  struct vg_store_state m0, m;
  uint64_t retain = 0, used = 0;
  rc = vg__meta_state(old, r->txn, &m0);
  for (unsigned k = 0; k < was && !rc; k++) {
    struct vg_store_reader *s = r->n > 1 ? r->sub[k] : r;
    rc = vg__meta_state(s->st, s->txn, &m);
    if (!rc && m.epoch != m0.epoch) {
      rc = vg__store_fail(VG_ECONFIG, errstr, errstr_size,
                          "store '%s': shard %u is at epoch %" PRIu64
                          ", shard 0 at %" PRIu64
                          " (a crash left them apart): start vigied once and stop it "
                          "cleanly, then re-shard",
                          path, k, m.epoch, m0.epoch);
      goto done;
    }
    retain += m.retain_gen;
    c.total += rows_of(s->st, s->txn);
    MDB_envinfo info;
    MDB_stat ms;
    if (!rc && mdb_env_info(s->st->env, &info) == 0 && mdb_env_stat(s->st->env, &ms) == 0)
      used += (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
  }
  if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size, "cannot read the store '%s': %s", path,
                        vg_strerror(rc));
    goto done;
  }
  if (was == n) {
    rc = vg__store_fail(VG_ECONFIG, errstr, errstr_size,
                        "store '%s' already has %u shard%s", path, n, n == 1 ? "" : "s");
    goto done;
  }
  if (exists(tmp) || exists(keep)) {
    rc = vg__store_fail(VG_ECONFIG, errstr, errstr_size,
                        "'%s' or '%s' exists (an earlier re-shard?): move it away first",
                        tmp, keep);
    goto done;
  }
  /* each new shard gets room for everything: rows inserted out of order
   * fill pages less than the old ones */
  struct vg_store_opts no = {.path = tmp,
                             .shards = n,
                             .map_size = (size_t)(used * 2 + (64u << 20)),
                             .map_max = map_max};
  rc = vg_store_open(&no, &c.to, errstr, errstr_size);
  if (rc)
    goto done;
  rc = begin_all(&c);
  for (unsigned k = 0; k < was && !rc; k++) {
    struct vg_store_reader *s = r->n > 1 ? r->sub[k] : r;
    for (size_t i = 0; i < sizeof tables / sizeof tables[0] && !rc; i++)
      rc = copy_table(&c, s->st, s->txn, &tables[i], k == 0);
  }
  if (!rc && c.txn[0])
    rc = vg__meta_put(c.txn[0], c.to->meta, "retain_gen", retain);
  if (!rc && c.txn[0])
    rc = vg__meta_put(c.txn[0], c.to->meta, "data_epoch", m0.epoch);
  int crc = commit_all(&c);
  rc = rc ? rc : crc;
  if (progress)
    progress(c.done, c.total, ctx);
  if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size,
                        "cannot write the re-sharded store '%s': %s (the old store is "
                        "untouched; remove '%s')",
                        tmp, vg_strerror(rc), tmp);
    goto done;
  }
  vg_store_reader_end(r);
  r = NULL;
  vg_store_close(old);
  old = NULL;
  vg_store_close(c.to);
  c.to = NULL;
  rc = copy_files(path, tmp);
  if (rc) {
    rc = vg__store_fail(rc, errstr, errstr_size,
                        "cannot copy the files of '%s' into '%s': %s (the old store is "
                        "untouched; remove '%s')",
                        path, tmp, strerror(-rc), tmp);
    goto done;
  }
  if (rename(path, keep) != 0 || rename(tmp, path) != 0)
    rc = vg__store_fail(-errno, errstr, errstr_size,
                        "cannot move the re-sharded store '%s' to '%s' (the old one is "
                        "'%s' if it moved): %s",
                        tmp, path, keep, strerror(errno));
done:
  for (unsigned k = 0; k < c.n; k++)
    if (c.txn[k])
      mdb_txn_abort(c.txn[k]);
  vg_store_reader_end(r);
  vg_store_close(old);
  vg_store_close(c.to);
  return rc;
}
