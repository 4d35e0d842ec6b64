/*
 * libFuzzer target for the vigie.rejected header of dead letters
 * (deadletter.h): what parses must be well-formed -- each field inside its
 * item, a reason -- and must survive a round trip: formatted again and
 * parsed again it gives the same entries; and the replay's match of a
 * reading is consistent with them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/deadletter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct vg_rejected a[MAX], b[MAX];
  size_t na, nb;
  if (vg_rejected_parse((const char *)data, size, a, MAX, &na) != 0)
    return 0;
  if (na == 0)
    abort();
  char reasons[MAX][64];
  for (size_t i = 0; i < na; i++) {
    if (a[i].reason_len == 0 || a[i].field_off < a[i].item_off ||
        (uint64_t)a[i].field_off + a[i].field_len >
            (uint64_t)a[i].item_off + a[i].item_len)
      abort();
    if (memchr(a[i].reason, ',', a[i].reason_len))
      abort();
    /* the reading an entry names is named */
    if (!vg_rejected_names(a, na, a[i].item_off, a[i].item_len, a[i].field_off,
                           a[i].field_len))
      abort();
    size_t n =
        a[i].reason_len < sizeof reasons[i] - 1 ? a[i].reason_len : sizeof reasons[i] - 1;
    memcpy(reasons[i], a[i].reason, n);
    reasons[i][n] = '\0';
    a[i].reason = reasons[i];
  }
  size_t need = vg_rejected_format(NULL, 0, a, na);
  char *text = malloc(need + 1);
  if (!text)
    return 0;
  if (vg_rejected_format(text, need + 1, a, na) != need || strlen(text) != need)
    abort();
  if (vg_rejected_parse(text, need, b, MAX, &nb) != 0 || nb != na)
    abort();
  for (size_t i = 0; i < na; i++)
    if (a[i].item_off != b[i].item_off || a[i].item_len != b[i].item_len ||
        a[i].field_off != b[i].field_off || a[i].field_len != b[i].field_len ||
        strlen(reasons[i]) != b[i].reason_len ||
        memcmp(reasons[i], b[i].reason, b[i].reason_len) != 0)
      abort();
  free(text);
  return 0;
}
