/*
 * vigieq's rows (vigieq.h): cells of text, numbers or nothing, kept in text
 * blocks that never move, and one writer per output format -- a table
 * measured over every row, RFC 4180 CSV, JSON and NDJSON streamed as the
 * rows come. Value formatting is engine/publish's (publish.h), shared with
 * the HTTP API.
 */
#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigie/jsonw.h"
#include "vigie/publish.h"

#include "vigieq.h"

int rows_reserve(struct rows *r, size_t text) {
  if (VG_GROW(r->c, r->n + 1, r->cap))
    return -ENOMEM;
  struct textblock *b = r->text;
  if (text && (!b || b->cap - b->used < text)) {
    size_t cap = text > 65536 ? text : 65536;
    b = malloc(sizeof *b + cap);
    if (!b)
      return -ENOMEM;
    *b = (struct textblock){r->text, 0, cap};
    r->text = b;
  }
  return 0;
}

/* Drops every cell; keep_one keeps the first block for the next rows. */
static void rows_clear(struct rows *r, int keep_one) {
  struct textblock *b = r->text, *keep = keep_one ? b : NULL;
  if (keep) {
    b = b->next;
    keep->next = NULL;
    keep->used = 0;
  }
  while (b) {
    struct textblock *next = b->next;
    free(b);
    b = next;
  }
  r->text = keep;
  r->n = 0;
}

void rows_release(struct rows *r) {
  rows_clear(r, 0);
  free(r->c);
}

/* One row as a JSON object into w, then out. */
static int write_json_row(FILE *out, struct vg_jsonw *w, const struct rows *r,
                          size_t row) {
  vg_jsonw_map(w);
  for (size_t j = 0; j < r->ncols; j++) {
    const struct cell *c = &r->c[row * r->ncols + j];
    vg_jsonw_cstr(w, r->cols[j]);
    if (c->kind == CELL_NULL)
      vg_jsonw_null(w);
    else if (c->kind == CELL_NUM)
      vg_jsonw_number(w, c->s, c->len);
    else
      vg_jsonw_str(w, c->s, c->len);
  }
  vg_jsonw_map_end(w);
  return vg_jsonw_flush(w, out);
}

/* CSV, JSON and NDJSON stream: writes the rows held (the header first)
 * and drops them, so a long query needs no memory for all its rows. */
int rows_stream(FILE *out, struct rows *r, int fmt) {
  assert(fmt != FMT_TABLE);
  size_t nrows = r->n / r->ncols;
  struct vg_jsonw *w = NULL;
  if (fmt != FMT_CSV) {
    w = vg_jsonw_new(0);
    if (!w)
      return -ENOMEM;
  }
  int rc = 0;
  if (!r->started && fmt == FMT_CSV) {
    for (size_t j = 0; j < r->ncols; j++) {
      if (j)
        putc(',', out);
      vg_csv_field(out, r->cols[j], strlen(r->cols[j]), ',');
    }
    fputs("\r\n", out);
  } else if (!r->started && fmt == FMT_JSON) {
    fputs("[", out);
  }
  r->started = 1;
  for (size_t i = 0; i < nrows; i++) {
    if (fmt == FMT_CSV) {
      /* a row is gathered in line and written at once; a cell that needs
       * quotes goes through vg_csv_field */
      char line[4096];
      size_t o = 0;
      for (size_t j = 0; j < r->ncols; j++) {
        const struct cell *c = &r->c[i * r->ncols + j];
        int plain = c->kind != CELL_TEXT || !c->len; /* numbers never need quotes */
        if (!plain && c->len < 256)
          plain = vg_csv_plain(c->s, c->len, ',');
        if (o + 260 > sizeof line || !plain) {
          fwrite_unlocked(line, 1, o, out);
          o = 0;
        }
        if (j)
          line[o++] = ',';
        if (plain) {
          memcpy(line + o, c->s ? c->s : "", c->len);
          o += c->len;
        } else {
          fwrite_unlocked(line, 1, o, out);
          o = 0;
          vg_csv_field(out, c->s, c->len, ',');
        }
      }
      line[o++] = '\r';
      line[o++] = '\n';
      fwrite_unlocked(line, 1, o, out);
    } else if (fmt == FMT_JSON) { /* the array's framing is fixed text */
      fputs(r->written + i ? ",\n" : "\n", out);
      rc = rc ? rc : write_json_row(out, w, r, i);
    } else {
      rc = rc ? rc : write_json_row(out, w, r, i);
      putc('\n', out);
    }
  }
  vg_jsonw_free(w);
  r->written += nrows;
  rows_clear(r, 1);
  return rc ? rc : ferror(out) ? -EIO : 0;
}

/* Writes what is left, and the end (table: everything, aligned). */
int write_rows(FILE *out, struct rows *r, int fmt) {
  if (fmt != FMT_TABLE) {
    if (rows_stream(out, r, fmt))
      return -EIO;
    if (fmt == FMT_JSON)
      fputs(r->written ? "\n]\n" : "]\n", out);
  } else {
    size_t nrows = r->n / r->ncols;
    size_t *w = calloc(r->ncols, sizeof *w);
    char *num = calloc(r->ncols, 1); /* numeric columns align right */
    if (!w || !num) {
      free(w);
      free(num);
      return -ENOMEM;
    }
    for (size_t j = 0; j < r->ncols; j++)
      w[j] = strlen(r->cols[j]);
    for (size_t i = 0; i < r->n; i++) {
      size_t l = r->c[i].s ? strlen(r->c[i].s) : 0;
      if (l > w[i % r->ncols])
        w[i % r->ncols] = l;
      if (r->c[i].kind == CELL_NUM)
        num[i % r->ncols] = 1;
    }
    for (size_t j = 0; j < r->ncols; j++)
      fprintf(out, num[j] ? "%s%*s" : "%s%-*s", j ? "  " : "",
              j + 1 == r->ncols && !num[j] ? 0 : (int)w[j], r->cols[j]);
    putc('\n', out);
    for (size_t i = 0; i < nrows; i++) {
      for (size_t j = 0; j < r->ncols; j++) {
        const struct cell *c = &r->c[i * r->ncols + j];
        const char *s = c->s ? c->s : "";
        int width = j + 1 == r->ncols && c->kind != CELL_NUM ? 0 : (int)w[j];
        fprintf(out, c->kind == CELL_NUM ? "%s%*s" : "%s%-*s", j ? "  " : "", width, s);
      }
      putc('\n', out);
    }
    free(w);
    free(num);
  }
  if (fflush(out) != 0 || ferror(out))
    return -EIO;
  return 0;
}

int parse_format(const char *s, int *fmt) {
  if (!s)
    *fmt = isatty(STDOUT_FILENO) ? FMT_TABLE : FMT_CSV;
  else if (strcmp(s, "table") == 0)
    *fmt = FMT_TABLE;
  else if (strcmp(s, "csv") == 0)
    *fmt = FMT_CSV;
  else if (strcmp(s, "json") == 0)
    *fmt = FMT_JSON;
  else if (strcmp(s, "ndjson") == 0)
    *fmt = FMT_NDJSON;
  else
    return fail(EX_USAGE, "--format '%s': expected table, csv, json or ndjson", s);
  return EX_OK;
}
