/*
 * The JSON writer of every output (catalog, dataset, DCAT, records, exports,
 * changes feed, rollup topic, vigieq): yajl's generator printing into one
 * growable buffer with a size cap. Not to be confused with codec.h's JSON
 * decoder of readings.
 *
 * Strings: every string it is handed comes out as a valid JSON string that
 * parses back to the same text -- quote, backslash and control characters
 * escaped (\" \\ \b \f \n \r \t, others \u00XX), everything else as it is
 * (U+2028, U+2029, '<' and '/' included: the outputs are served as JSON,
 * not embedded in HTML). Bytes that are not valid UTF-8 (RFC 3629: no
 * overlong forms, no surrogates) are replaced by U+FFFD, one per maximal
 * ill-formed subsequence (Unicode's "substitution of maximal subparts",
 * which is what Python's bytes.decode("utf-8", "replace") does), so an
 * output is always valid JSON; valid UTF-8 round-trips exactly.
 *
 * Numbers: doubles as vg_fmt_double prints them (shortest round-trip form),
 * null when not finite; integers in decimal.
 *
 * Errors are sticky: a call after a failure does nothing, and the caller
 * checks vg_jsonw_error once at the end. Misuse (a value where a key is
 * expected, a close that matches no open, a second top-level value without
 * vg_jsonw_next) is an error too, never malformed text.
 *
 * Thread-safety: a writer belongs to one thread at a time.
 */
#ifndef VIGIE_JSONW_H
#define VIGIE_JSONW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The cap of a writer made with max 0. */
#define VG_JSONW_MAX_DEFAULT ((size_t)256 << 20)

struct vg_jsonw;

/* A writer whose text may grow to max bytes (0: VG_JSONW_MAX_DEFAULT).
 * NULL when out of memory. */
struct vg_jsonw *vg_jsonw_new(size_t max);
/* NULL is a no-op. */
void vg_jsonw_free(struct vg_jsonw *w);

/* Containers. In a map, keys and values alternate; keys are strings. */
void vg_jsonw_map(struct vg_jsonw *w);
void vg_jsonw_map_end(struct vg_jsonw *w);
void vg_jsonw_array(struct vg_jsonw *w);
void vg_jsonw_array_end(struct vg_jsonw *w);

/* A string (key or value) of len bytes, any bytes (see above). */
void vg_jsonw_str(struct vg_jsonw *w, const char *s, size_t len);
/* A NUL-terminated string; NULL writes null (a value) . */
void vg_jsonw_cstr(struct vg_jsonw *w, const char *s);
/* A key and its string value (NULL: null). */
void vg_jsonw_kv(struct vg_jsonw *w, const char *key, const char *value);

void vg_jsonw_null(struct vg_jsonw *w);
void vg_jsonw_bool(struct vg_jsonw *w, int v);
void vg_jsonw_u64(struct vg_jsonw *w, uint64_t v);
void vg_jsonw_i64(struct vg_jsonw *w, int64_t v);
/* vg_fmt_double's text; null when v is NaN or infinite. */
void vg_jsonw_double(struct vg_jsonw *w, double v);
/* A number already printed (by vg_fmt_double or as an integer): the caller
 * vouches that it is JSON number syntax. */
void vg_jsonw_number(struct vg_jsonw *w, const char *text, size_t len);
/* The complete value that another writer holds, as one value here (a page
 * of rows built before the counts that precede it are known). */
void vg_jsonw_embed(struct vg_jsonw *w, const struct vg_jsonw *inner);

/* After a complete top-level value: another may follow (streams of rows:
 * JSON lines, the elements of an export array). Nothing is written. */
void vg_jsonw_next(struct vg_jsonw *w);
/* Fixed text between top-level values (a stream's framing: "[", ",\n",
 * a final newline). Never data: strings go through vg_jsonw_str. */
void vg_jsonw_raw(struct vg_jsonw *w, const char *text);

/* 0, -ENOMEM, -EMSGSIZE (the text would pass the cap) or -EINVAL
 * (misuse). */
int vg_jsonw_error(const struct vg_jsonw *w);
/* The text so far (not NUL-terminated; valid until the next call). */
const char *vg_jsonw_text(const struct vg_jsonw *w, size_t *len);
/* Hands the text over (malloc'd, NUL-terminated, the caller frees) and
 * empties the writer; NULL when it is in error (or out of memory). */
char *vg_jsonw_take(struct vg_jsonw *w, size_t *len);
/* Writes the text to out and empties the writer: 0, its error, or -EIO. */
int vg_jsonw_flush(struct vg_jsonw *w, FILE *out);
/* Empties the writer: no text, no error, a fresh top level. */
void vg_jsonw_clear(struct vg_jsonw *w);

#endif
