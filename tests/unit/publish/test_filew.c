/*
 * Atomic file replacement through io_uring and its plain fallback
 * (engine/publish/filew.c), and the export folder (exportdir.c) over the
 * publication store: files complete, replaced only when their content
 * changes, no temporary left behind, the files of a dataset no longer
 * defined removed (and no other file).
 */
#include <dirent.h>
#include <liburing.h>
#include <sys/stat.h>

#include "testutil.h"
#include "pubtest.h"
#include "vigie/api.h"
#include "vigie/exportdir.h"
#include "publish/filew.h"
#include "vigie/publish.h"

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0, r;
  do {
    if (n + 65536 > cap) {
      cap = (n + 65536) * 2;
      buf = realloc(buf, cap);
    }
    r = fread(buf + n, 1, cap - n, f);
    n += r;
  } while (r > 0);
  fclose(f);
  *len = n;
  return buf;
}

/* Entries of dir, "." and ".." excepted. */
static int entries(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)))
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

/* Writes a file of n bytes (pattern seeded by seed) in uneven pieces. */
static void write_file(struct vg_filew *w, const char *dir, size_t n, unsigned seed,
                       char **expect) {
  char err[512];
  char *b = malloc(n);
  for (size_t i = 0; i < n; i++)
    b[i] = (char)((i * 2654435761u + seed) >> 13);
  assert_int_equal(vg_filew_begin(w, dir, "data.csv", err, sizeof err), 0);
  for (size_t off = 0, piece = 1; off < n; piece = piece * 7 + 3) {
    size_t k = piece % 150001 < n - off ? piece % 150001 : n - off;
    assert_int_equal(vg_filew_write(w, b + off, k, err, sizeof err), 0);
    off += k;
  }
  *expect = b;
}

static void replace_cycle(unsigned flags, int expect_uring) {
  char dir[] = "/tmp/vigie-filew-XXXXXX", path[128], err[512];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/data.csv", dir);
  struct vg_filew *w;
  assert_int_equal(vg_filew_new(flags, &w, err, sizeof err), 0);
  if (expect_uring >= 0)
    assert_int_equal(vg_filew_uring(w), expect_uring);
  /* more than the staging buffer, so several submissions */
  char *a, *b;
  size_t len;
  write_file(w, dir, 700001, 1, &a);
  assert_int_equal(vg_filew_commit(w, err, sizeof err), 0);
  char *got = slurp(path, &len);
  assert_int_equal(len, 700001);
  assert_memory_equal(got, a, len);
  free(got);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_mode & 0777, 0644);
  /* replaced whole */
  write_file(w, dir, 1234, 2, &b);
  assert_int_equal(vg_filew_commit(w, err, sizeof err), 0);
  got = slurp(path, &len);
  assert_int_equal(len, 1234);
  assert_memory_equal(got, b, len);
  free(got);
  assert_int_equal(entries(dir), 1);
  /* an abandoned file leaves the old one and no temporary */
  free(a);
  write_file(w, dir, 5000, 3, &a);
  vg_filew_abort(w);
  got = slurp(path, &len);
  assert_int_equal(len, 1234);
  assert_memory_equal(got, b, len);
  free(got);
  assert_int_equal(entries(dir), 1);
  /* an empty file is a file */
  assert_int_equal(vg_filew_begin(w, dir, "data.csv", err, sizeof err), 0);
  assert_int_equal(vg_filew_commit(w, err, sizeof err), 0);
  assert_int_equal(stat(path, &sb), 0);
  assert_int_equal(sb.st_size, 0);
  /* a folder that does not exist is an error naming the file */
  assert_int_equal(vg_filew_begin(w, "/nonexistent/vigie", "x.json", err, sizeof err),
                   -ENOENT);
  assert_non_null(strstr(err, "/nonexistent/vigie/x.json"));
  vg_filew_free(w);
  free(a);
  free(b);
  st_rmtree(dir);
}

static void io_uring_path(void **state) {
  (void)state;
  /* where this kernel grants a ring, the writer must use it */
  struct io_uring ring;
  int granted = io_uring_queue_init(8, &ring, 0) == 0;
  if (granted)
    io_uring_queue_exit(&ring);
  else
    print_message("io_uring refused here: the writer falls back (tested below)\n");
  unsetenv("VIGIE_NO_URING");
  replace_cycle(0, granted);
}

static void plain_fallback_by_option(void **state) {
  (void)state;
  replace_cycle(VG_FILEW_PLAIN, 0);
}

static void plain_fallback_by_env(void **state) {
  (void)state;
  setenv("VIGIE_NO_URING", "1", 1);
  replace_cycle(0, 0);
  unsetenv("VIGIE_NO_URING");
}

/* ---- the export folder ------------------------------------------------------ */

static int st_open(void *ctx, struct vg_store_reader **r) {
  return vg_store_reader_begin(((struct fx *)ctx)->st, r);
}

static void st_close(void *ctx, struct vg_store_reader *r) {
  vg_store_reader_end(r);
}

/* The whole body of an export stream. */
static char *export_body(struct vg_api *api, const char *id, int fmt, size_t *len) {
  struct vg_http_stream s;
  char etag[96], buf[4096];
  assert_int_equal(vg_api_export_open(api, id, fmt, etag, sizeof etag, &s), 0);
  char *out = NULL;
  FILE *f = open_memstream(&out, len);
  long n;
  while ((n = s.read(s.ctx, buf, sizeof buf)) > 0)
    fwrite(buf, 1, (size_t)n, f);
  assert_int_equal(n, 0);
  s.free(s.ctx);
  fclose(f);
  return out;
}

static size_t lines(const char *s, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    n += s[i] == '\n';
  return n;
}

/* The API over the fixture's store, and the export folder's path. */
static struct vg_api *api_over(struct fx *f, char *xdir, size_t size) {
  char err[512];
  struct vg_api *api;
  struct vg_api_store ops = {st_open, st_close, f};
  assert_int_equal(vg_api_new(&f->ao, &ops, &api, err, sizeof err), 0);
  snprintf(xdir, size, "%s/exports", f->dir);
  return api;
}

/* Commits, as epoch, the final hour of series from start with n readings
 * (one a second), to be emitted. */
static void commit_final_hour(struct fx *f, uint64_t series, int64_t start, int n,
                              uint64_t epoch) {
  char err[512];
  struct vg_wentry w = {.series = series,
                        .res = VG_RES_HOUR,
                        .start = start,
                        .end = start + 3600,
                        .final = 1};
  vg_acc_init(&w.acc);
  struct vg_acc_opts ao = VG_ACC_OPTS_DEFAULT;
  for (int i = 0; i < n; i++)
    vg_acc_add(&w.acc, &ao, (start + i) * 1000000000LL, 1.0, 0, 0);
  const struct vg_wentry *open[] = {&w};
  struct vg_store_emit em = {0, series, VG_RES_HOUR, start, 0};
  struct vg_store_epoch ep = {.epoch = epoch,
                              .open = open,
                              .nopen = 1,
                              .emit = &em,
                              .nemit = 1,
                              .watermark_ns = INT64_MIN};
  assert_int_equal(vg_store_commit(f->st, &ep, err, sizeof err), 0);
  vg_acc_release(&w.acc);
}

/* An export folder, made and empty, over the fixture's API; its registry,
 * and the options of an exporter run by hand writing plain files. */
struct xfolder {
  char dir[128];
  struct vg_api *api;
  struct vg_metrics *m;
  struct vg_exportdir_opts o;
};

static void xfolder_start(struct fx *f, struct xfolder *xf) {
  xf->api = api_over(f, xf->dir, sizeof xf->dir);
  assert_int_equal(vg_metrics_new(&xf->m), 0);
  xf->o = (struct vg_exportdir_opts){.api = xf->api,
                                     .dir = xf->dir,
                                     .metrics = xf->m,
                                     .no_thread = 1,
                                     .filew_flags = VG_FILEW_PLAIN};
  assert_int_equal(mkdir(xf->dir, 0755), 0);
}

/* Writes text into the file dir/name. */
static void put_file(const char *dir, const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *w = fopen(path, "w");
  assert_non_null(w);
  fputs(text, w);
  fclose(w);
}

/* The file of dataset id in format fmt in xdir, which holds what the API
 * exports; *flen its length. */
static char *file_as_exported(struct vg_api *api, const char *xdir, const char *id,
                              int fmt, size_t *flen) {
  char path[256];
  size_t blen = 0;
  snprintf(path, sizeof path, "%s/%s.%s", xdir, id, fmt == VG_DS_CSV ? "csv" : "json");
  char *file = slurp(path, flen), *body = export_body(api, id, fmt, &blen);
  assert_non_null(file);
  assert_int_equal(*flen, blen);
  assert_memory_equal(file, body, *flen);
  free(body);
  return file;
}

static void export_folder(void **state) {
  struct fx *f = *state;
  char err[512], path[256];
  struct xfolder xf;
  xfolder_start(f, &xf);
  struct vg_api *api = xf.api;
  struct vg_metrics *m = xf.m;
  const char *xdir = xf.dir;
  /* a temporary file a crash left behind goes at start */
  put_file(xdir, ".passages-jour.csv.tmp.a1b2c3", "half a file");
  struct vg_exportdir *x;
  assert_int_equal(vg_exportdir_new(&xf.o, &x, err, sizeof err), 0);
  size_t written;
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 6); /* three datasets, CSV and JSON each */
  assert_int_equal(entries(xdir), 6);
  static const char *const ids[] = {"passages-heure", "passages-jour", "passages-final"};
  for (int i = 0; i < 3; i++)
    for (int fmt = VG_DS_CSV; fmt <= VG_DS_JSON; fmt++) {
      size_t flen = 0;
      char *file = file_as_exported(api, xdir, ids[i], fmt, &flen);
      if (fmt == VG_DS_CSV)
        assert_memory_equal(file,
                            "\xEF\xBB\xBF"
                            "start_datetime;",
                            18);
      else
        assert_true(file[0] == '[' && flen >= 2 &&
                    memcmp(file + flen - 2, "]\n", 2) == 0);
      free(file);
    }
  /* nothing changed: nothing rewritten */
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 0);
  /* a new final hour of c1 after the last day: the final-only dataset
   * gains a row, and its files are replaced */
  snprintf(path, sizeof path, "%s/passages-final.csv", xdir);
  size_t before_len = 0, after_len = 0;
  char *before = slurp(path, &before_len);
  commit_final_hour(f, 1, T0 + NDAYS * DAY + 3600, 12, 2);
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_true(written >= 2);
  char *after = slurp(path, &after_len);
  assert_int_equal(lines(after, after_len), lines(before, before_len) + 1);
  assert_int_equal(
      atomic_load(
          &vg_metrics_counter(m, "vigie_export_files_written_total", "", NULL)->v),
      6 + written);
  assert_int_equal(entries(xdir), 6);
  free(before);
  free(after);
  vg_exportdir_free(x);
  vg_api_free(api);
  vg_metrics_free(m);
}

static int exists(const char *dir, const char *name) {
  char path[256];
  struct stat sb;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &sb) == 0;
}

/* The fixture's YAML with its datasets from `from` on replaced by tail. */
static void reload_with(struct vg_api *api, const char *from, const char *tail) {
  char err[1024], text[4096];
  const char *cut = strstr(yaml, from);
  assert_non_null(cut);
  snprintf(text, sizeof text, "%.*s%s", (int)(cut - yaml), yaml, tail);
  struct vg_config cfg;
  struct vg_api_opts ao;
  assert_int_equal(vg_config_parse("t.yaml", text, strlen(text), &cfg, err, sizeof err),
                   0);
  assert_int_equal(vg_config_api(&cfg, &ao), 0);
  assert_int_equal(vg_api_reload(api, &ao, err, sizeof err), 0);
  vg_config_api_release(&ao);
  vg_config_release(&cfg);
}

/* SIGHUP drops a dataset and renames another: the next look writes the new
 * name's files and removes the files of the datasets gone, and nothing
 * else of the folder (an operator's files, one named like an export); a
 * dataset defined again gets its files back. */
static void export_folder_follows_the_datasets(void **state) {
  struct fx *f = *state;
  char err[512];
  struct xfolder xf;
  xfolder_start(f, &xf);
  struct vg_api *api = xf.api;
  struct vg_metrics *m = xf.m;
  const char *xdir = xf.dir;
  static const char *const mine[] = {"LISEZMOI.txt", "ancien-jeu.csv", "ancien-jeu.json"};
  for (size_t i = 0; i < 3; i++)
    put_file(xdir, mine[i], "the operator's");
  struct vg_exportdir *x;
  assert_int_equal(vg_exportdir_new(&xf.o, &x, err, sizeof err), 0);
  size_t written;
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 6);
  assert_int_equal(entries(xdir), 9);
  struct vg_counter *removed =
      vg_metrics_counter(m, "vigie_export_files_removed_total", "", NULL);
  assert_int_equal(atomic_load(&removed->v), 0);
  /* passages-jour dropped, passages-final renamed passages-finale */
  reload_with(api, "  - id: passages-jour\n",
              "  - id: passages-finale\n"
              "    resolution: 1h\n"
              "    metrics: [passages]\n"
              "    columns: [count]\n");
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 2);
  assert_int_equal(atomic_load(&removed->v), 4);
  assert_int_equal(entries(xdir), 7);
  static const char *const gone[] = {"passages-jour.csv", "passages-jour.json",
                                     "passages-final.csv", "passages-final.json"};
  for (size_t i = 0; i < 4; i++)
    assert_false(exists(xdir, gone[i]));
  for (size_t i = 0; i < 3; i++)
    assert_true(exists(xdir, mine[i]));
  assert_true(exists(xdir, "passages-heure.csv") && exists(xdir, "passages-heure.json"));
  for (int fmt = VG_DS_CSV; fmt <= VG_DS_JSON; fmt++) {
    size_t flen = 0;
    free(file_as_exported(api, xdir, "passages-finale", fmt, &flen));
  }
  /* a look with nothing new: nothing written, nothing removed */
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 0);
  assert_int_equal(atomic_load(&removed->v), 4);
  /* back to the first definitions: the files come back, the renamed go */
  reload_with(api, "  - id: passages-heure\n", strstr(yaml, "  - id: passages-heure\n"));
  assert_int_equal(vg_exportdir_run_once(x, &written), 0);
  assert_int_equal(written, 4);
  assert_int_equal(atomic_load(&removed->v), 6);
  assert_int_equal(entries(xdir), 9);
  for (size_t i = 0; i < 4; i++)
    assert_true(exists(xdir, gone[i]));
  assert_false(exists(xdir, "passages-finale.csv") ||
               exists(xdir, "passages-finale.json"));
  vg_exportdir_free(x);
  vg_api_free(api);
  vg_metrics_free(m);
}

/* The folder's own thread while the writer commits: the files follow, and
 * the thread stops cleanly (run under TSan by the *_thread groups). */
static void export_thread_follows_commits(void **state) {
  struct fx *f = *state;
  char err[512], xdir[128], path[256];
  struct vg_api *api = api_over(f, xdir, sizeof xdir);
  struct vg_exportdir_opts o = {.api = api, .dir = xdir, .interval_ns = 5000000};
  struct vg_exportdir *x;
  assert_int_equal(vg_exportdir_new(&o, &x, err, sizeof err), 0);
  snprintf(path, sizeof path, "%s/passages-final.csv", xdir);
  size_t len0 = 0, len = 0;
  for (int i = 0; i < 200 && !len0; i++) {
    char *b = slurp(path, &len0);
    free(b);
    usleep(10000);
  }
  assert_true(len0 > 0);
  /* 20 more final hours, committed one by one while the thread exports */
  for (int h = 0; h < 20; h++) {
    commit_final_hour(f, 2, T0 + NDAYS * DAY + h * 3600, 1, 2 + (uint64_t)h);
    usleep(2000);
  }
  /* the file holds the last hour's row */
  char last[64];
  vg_fmt_iso(T0 + NDAYS * DAY + 19 * 3600, vg_dataset_tz(f->final), last);
  /* a pass that starts after the last commit, waited for */
  assert_int_equal(vg_exportdir_sync(x, 30000), 0);
  char *b = slurp(path, &len);
  assert_non_null(memmem(b, len, last, strlen(last)));
  free(b);
  vg_exportdir_free(x);
  vg_api_free(api);
}

int vg_test_publish_filew_thread(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(export_thread_follows_commits, pub_setup,
                                      pub_teardown),
  };
  return cmocka_run_group_tests_name("publish_filew_thread", tests, NULL, NULL);
}

int vg_test_publish_filew(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(io_uring_path),
      cmocka_unit_test(plain_fallback_by_option),
      cmocka_unit_test(plain_fallback_by_env),
      cmocka_unit_test_setup_teardown(export_folder, pub_setup, pub_teardown),
      cmocka_unit_test_setup_teardown(export_folder_follows_the_datasets, pub_setup,
                                      pub_teardown),
  };
  return cmocka_run_group_tests_name("publish_filew", tests, NULL, NULL);
}
