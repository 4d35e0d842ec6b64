/*
 * Row formatting for publication: what vigieq prints and what the HTTP API
 * and the export files will print -- numbers that read back exactly, RFC 4180
 * CSV fields (JSON goes through jsonw.h), XML/HTML text (the SVG chart and
 * the dashboard), numbers as people read them in French or English, ISO 8601
 * instants with the offset of a zone, and the time arguments analysts type
 * (ISO 8601 dates and datetimes, relative "-7d").
 *
 * Thread-safety: every function is reentrant (no hidden state); zones are
 * borrowed and only read. Buffers are the caller's.
 */
#ifndef VIGIE_PUBLISH_H
#define VIGIE_PUBLISH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/calendar.h" /* vg_fmt_iso, vg_days_from_civil */
#include "vigie/tz.h"

/* Room for any double printed by vg_fmt_double, with its NUL. */
#define VG_FMT_DOUBLE_MAX 32

/* Writes the shortest of %.15g, %.16g, %.17g that strtod() reads back as the
 * same double (so 0.1 prints "0.1", and every value round-trips exactly).
 * NaN and infinities print "nan", "inf", "-inf" (callers that publish them
 * print an empty cell instead). Returns the length written. */
size_t vg_fmt_double(double v, char buf[VG_FMT_DOUBLE_MAX]);

/* CSV, RFC 4180 -- the one rule of every CSV output (vigieq, the API's
 * exports, the export folder): a field is quoted, its quotes doubled, when
 * it holds the delimiter, a quote, CR or LF, or starts or ends with a space
 * (which some readers trim); otherwise it is written as it is. Bytes are
 * written as they are (no UTF-8 check: CSV has no escapes to break). */
/* 1 when field needs no quotes with this delimiter. */
int vg_csv_plain(const char *field, size_t len, char delim);
/* Writes field as one CSV field. Returns 0 or -EIO. The stream is written
 * without its lock (it is on every cell): one thread writes out at a time. */
int vg_csv_field(FILE *out, const char *field, size_t len, char delim);

/* XML and HTML -- the one rule of every SVG and HTML output (chart.h,
 * dashboard.h): writes s (NUL-terminated) as text that reads back as s in
 * element content and in a quoted attribute value: & < > " ' as entities;
 * control bytes other than tab and newline dropped (XML 1.0 has no way to
 * write them); bytes that are not valid UTF-8 replaced by U+FFFD, one per
 * byte. Returns 0 or -EIO. */
int vg_xml_text(FILE *out, const char *s);

/* Room for any number vg_fmt_human writes, with its NUL. */
#define VG_FMT_HUMAN_MAX 64

/* Writes v for people to read in language lang ("fr"; anything else is
 * English): fr "30\u202f000,5" (narrow no-break space between thousands,
 * decimal comma), en "30,000.5"; negative numbers with U+2212 (minus).
 * At most `decimals` digits after the mark, rounded, trailing zeros
 * dropped; decimals < 0 chooses them: three significant digits but never
 * fewer than the integer part (1234.5 -> 1235, 23.456 -> 23.5, 0.01234 ->
 * 0.0123). |v| >= 1e15 keeps vg_fmt_double's digits (with the language's
 * mark); NaN and infinities write U+2014 (em dash). The text is not exact:
 * publish the raw value beside it. Returns the length written. */
size_t vg_fmt_human(double v, int decimals, const char *lang, char buf[VG_FMT_HUMAN_MAX]);

/* Parses a time argument into UTC seconds:
 * - "YYYY-MM-DD" (local midnight of tz),
 * - "YYYY-MM-DDTHH:MM[:SS]" (also with ' ' for 'T'), local time of tz
 *   (a repeated hour takes its first occurrence, a skipped one moves
 *   forward, as vg_tz_local_to_utc), or with "Z" or "+HH:MM" / "-HH:MM" /
 *   "+HHMM" that fix the offset,
 * - relative to now_s: "-7d", "-12h", "-30m", "-90s", "-2w" (and "+..."),
 * - "now".
 * Returns 0, or -EINVAL with errstr saying why ("expected YYYY-MM-DD...",
 * "month 13 is out of range"). */
int vg_parse_time(const char *s, const struct vg_tz *tz, int64_t now_s, int64_t *out,
                  char *errstr, size_t errstr_size);

#endif
