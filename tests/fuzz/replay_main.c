/*
 * Replay driver for libFuzzer targets in ordinary builds: feeds every file of
 * the given directories (or the files themselves) to LLVMFuzzerTestOneInput,
 * so each seed corpus is a regression test under CTest and the targets keep
 * compiling with gcc. Exit 0 when every input ran; the target aborts on a bug.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  /* a private copy of exactly n bytes so ASan sees reads past the end */
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    fprintf(stderr, "%s: read failed\n", path);
    return -1;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int ran = 0;
  for (int a = 1; a < argc; a++) {
    struct stat st;
    if (stat(argv[a], &st) != 0) {
      perror(argv[a]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (run_file(argv[a]) != 0)
        return 1;
      ran++;
      continue;
    }
    DIR *d = opendir(argv[a]);
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] == '.')
        continue;
      char p[4096];
      snprintf(p, sizeof p, "%s/%s", argv[a], e->d_name);
      struct stat es;
      if (stat(p, &es) != 0 || !S_ISREG(es.st_mode))
        continue; /* libFuzzer leaves no subdirectories; skip anything else */
      if (run_file(p) != 0)
        return 1;
      ran++;
    }
    if (d)
      closedir(d);
  }
  printf("replayed %d inputs\n", ran);
  return ran > 0 ? 0 : 1; /* an empty corpus is a mistake, not a pass */
}
