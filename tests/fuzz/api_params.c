/*
 * Fuzz target: the open-data API's request decoding (vg_api_parse), the
 * pure function between the HTTP server and the handlers. Input: the path
 * on the first line, then one query argument per line as key=value (a line
 * without '=' is a bare key), as libmicrohttpd hands them over, already
 * URL-decoded. Asserted: the answer is 0, 400 or 404; an error has an
 * error_code and a message; an accepted request keeps every documented
 * limit (records: 0 <= limit <= 100, offset + limit <= 10000; with a
 * group_by 20000 for both), a geojson export has no group_by, at most 16
 * refine/exclude and 16 facet arguments are kept, a comptage-mobilites
 * file is one of the four.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/api.h"
#include "vigie/comptage.h"
#include "vigie/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = malloc(size + 1);
  if (!text)
    return 0;
  memcpy(text, data, size);
  text[size] = 0;
  struct vg_api_arg args[32];
  size_t nargs = 0;
  char *save = NULL;
  char *path = strtok_r(text, "\n", &save);
  for (char *line = path ? strtok_r(NULL, "\n", &save) : NULL; line && nargs < 32;
       line = strtok_r(NULL, "\n", &save)) {
    char *eq = strchr(line, '=');
    if (eq)
      *eq = 0;
    args[nargs++] = (struct vg_api_arg){line, eq ? eq + 1 : NULL};
  }
  struct vg_api_req rq;
  char err[512];
  int st = vg_api_parse(path ? path : "", args, nargs, &rq, err, sizeof err);
  assert(st == 0 || st == 400 || st == 404);
  if (st) {
    assert(rq.error_code && rq.error_code[0]);
    assert(err[0] && strlen(err) < sizeof err);
  } else {
    assert(rq.route >= VG_API_CATALOG && rq.route <= VG_API_COMPTAGE);
    assert(rq.offset >= 0);
    assert(rq.delimiter == ';' || rq.delimiter == ',' || rq.delimiter == '\t' ||
           rq.delimiter == '|');
    int grouped = rq.group_by && rq.group_by[strspn(rq.group_by, " \t\r\n")];
    int max = grouped ? VG_API_MAX_GROUP_LIMIT : VG_API_MAX_LIMIT;
    int window = grouped ? VG_API_MAX_GROUP_LIMIT : VG_API_MAX_WINDOW;
    if (rq.route == VG_API_RECORDS)
      assert(rq.limit >= 0 && rq.limit <= max && rq.offset + rq.limit <= window);
    if (rq.route == VG_API_EXPORT)
      assert(rq.format >= VG_DS_CSV && rq.format <= VG_DS_GEOJSON && rq.limit >= -1 &&
             !(grouped && rq.format == VG_DS_GEOJSON) && (!rq.order_by || grouped));
    if (rq.route == VG_API_COMPTAGE)
      assert(rq.format >= 0 && rq.format < VG_CM_NFILES);
    if ((rq.route >= VG_API_DATASET && rq.route <= VG_API_CHANGES) ||
        rq.route == VG_API_FACETS || rq.route == VG_API_COMPTAGE)
      assert(rq.id[0] && strlen(rq.id) < sizeof rq.id);
    assert(rq.nfacet <= VG_API_MAX_FACETS && rq.nfacet_name <= VG_API_MAX_FACETS);
  }
  free(text);
  return 0;
}
