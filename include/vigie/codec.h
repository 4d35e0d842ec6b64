/*
 * Codecs: raw message bytes -> events.
 *
 * One interface for the three input formats of a source (docs/architecture.md,
 * "Data flow"): JSON with a Telegraf-style field mapping, InfluxDB line
 * protocol, and SenML JSON (RFC 8428). A codec is built once per source from a
 * struct vg_codec_config and then decodes messages into a caller-owned, reusable
 * struct vg_event_batch: after the batch has grown to its working size the hot
 * path allocates nothing.
 *
 * An event is (series key, event time, value, optional distinct key):
 * - the series key is canonical: `metric{tag="value",...}` with the tags
 *   sorted by name (then value, bytewise), so the same reading gives
 *   byte-identical keys whatever the order of its input. Metric and tag names
 *   keep letters, digits, '_', ':', '.', '-', '/' and UTF-8 bytes >= 0x80;
 *   any other ASCII byte becomes '_'. Tag values are written between double
 *   quotes with '\\', '"' and newline escaped as \\, \" and \n. Without tags
 *   the key is the bare metric name. A tag with an empty value is left out.
 * - the event time is int64 NANOSECONDS since 1970-01-01T00:00:00Z (the
 *   representable range, 1677-09-21 to 2262-04-11, bounds every input: times
 *   outside it are rejected as time_out_of_range).
 * - the value is a finite double.
 *
 * Bad input is never dropped in silence: every message, line, object or
 * reading that cannot become events appends a struct vg_reject (a reason from
 * the fixed list below and the byte offset where the problem is) to the
 * batch, and good readings of the same message are still decoded.
 *
 * JSON (and SenML) messages are read strictly: one object or array with only
 * blanks around it, members and elements separated by ',', each key followed
 * by ':' and one value, true, false and null spelled out. Anything else
 * rejects the whole message, its well-formed objects included (once the
 * text is broken, where its objects begin and end is a guess): not_json at
 * the first byte that breaks the grammar, or truncated at offset len when
 * none does but the text ends too early. Two leniencies remain, and neither
 * drops a reading: a number is any run of letters, digits, '+', '-' and '.'
 * that starts with a digit or '-' (the value parser rejects the reading when
 * it is no number: non_numeric_value, or nan_or_inf for "-Infinity"), and
 * strings may hold raw control bytes other than NUL.
 *
 * Items. A message is made of items, the units that carry one event time:
 * - JSON: an object, i.e. the message itself when it is one object, else
 *   each element of the top-level array, from its '{' to its '}' inclusive;
 * - line protocol: a line, from its first byte (leading blanks included) to
 *   its last, without its "\n" or "\r\n" terminator (a trailing blank or a
 *   '\r' that does not precede "\n" is part of the line; a string field
 *   that spans a newline keeps its line going);
 * - SenML: a record (an element of the array, or the single record object),
 *   from its '{' to its '}'.
 * Every event and every rejection names its item as a byte range
 * [item_off, item_off + item_len) of the message, so that a consumer can set
 * aside whole items (a dead-letter topic that a replay reads back item by
 * item). Guarantees, for any input of len bytes:
 * - ranges lie within [0, len); an item range is never empty unless the
 *   message is;
 * - the events of one item all carry the same range, and the ranges of two
 *   items never overlap: two ranges in a batch are equal or disjoint, so an
 *   event lies inside a rejection's range only when both are about the same
 *   item (a partly bad item keeps its good readings: the consumer decides
 *   whether to drop them with the item);
 * - events, and rejections, come in the order of their items in the message;
 * - a rejection's range is the item that holds its offset: item_off <=
 *   offset <= item_off + item_len (a problem at an item's end points just
 *   past it; a line that ends too early points at its terminator, which for
 *   "\r\n" is offset == item_off + item_len + 1);
 * - a rejection found before items can be delimited names the whole message
 *   [0, len): not_json, truncated, oversize (len clamped to UINT32_MAX),
 *   an empty JSON or SenML array, a line-protocol message without a line;
 * - a JSON or SenML array element that is not an object (not_object) is an
 *   item of its own: the range of its value, quotes of a string included;
 *   its offset is the item's first byte.
 *
 * Fields. Inside its item, every event also names the bytes of its reading,
 * [field_off, field_off + field_len):
 * - JSON: from the opening quote of the field's key (for a path a.b.c, the
 *   innermost key "c") to the last byte of its value (a string's closing
 *   quote included); the count_as event: the whole item (the object is the
 *   reading);
 * - line protocol: the field's key=value, escapes and quotes included;
 * - SenML: the whole record (a record is one reading).
 * A rejection names either the one reading of its item it is about, with
 * the range that reading would have as an event, or the whole item
 * (field == item):
 *
 *   reason             JSON                          line protocol  SenML
 *   non_numeric_value  the reading                   -              item
 *   nan_or_inf         the reading                   the reading    item
 *   missing_name       the reading (key "")          -              item
 *   missing_field      the reading when its value    -              -
 *                      is null; empty when absent
 *   any other reason   item                          item           item
 *
 * (the other reasons: not_json, truncated, oversize, not_object,
 * missing_time, unparsable_time, time_out_of_range, invalid_utf8_key,
 * no_fields, bad_syntax; SenML's bad_syntax and missing_name too). A listed
 * JSON field that is absent has no bytes: its missing_field has the empty
 * range [item_off, item_off) and leaves the item's other readings decoded.
 * Guarantees, for any input:
 * - a field range lies inside its item range;
 * - the field ranges of a batch's events are pairwise different and never
 *   empty; within an item only the count_as event's is the whole item.
 *   They may nest (a listed field "m" holding an object is a reading,
 *   rejected, around the reading "m.x") and need not come in message order
 *   (listed fields come in the order of the list);
 * - a rejection about one reading has a field range that is not its item's
 *   and that no event of the message has (the reading made no event), and
 *   holds the rejection's offset unless empty;
 * - a rejection whose field range is its item comes with no event of that
 *   item: the item made nothing, and replaying it whole counts nothing
 *   twice (in SenML a record's one reading is the record).
 * Caveats for a consumer that replays items alone: a SenML record may depend
 * on the base fields (bn, bt, bu, bv) of records before it, and a line
 * without a timestamp takes the arrival time passed to vg_codec_decode().
 *
 * Thread-safety: a struct vg_codec holds scratch space; use one per thread.
 * Batches belong to their caller.
 */
#ifndef VIGIE_CODEC_H
#define VIGIE_CODEC_H

#include <stddef.h>
#include <stdint.h>

enum vg_codec_format {
  VG_FORMAT_JSON,
  VG_FORMAT_INFLUX,
  VG_FORMAT_SENML,
  VG_FORMAT_VIGIE, /* another Vigie's rollup records: the serve role reads them, no codec
                    */
};

/* How the JSON time_key is read. */
enum vg_time_format {
  VG_TIME_AUTO, /* number or digit string: unit from its magnitude (below
                   1e11 s, 1e14 ms, 1e17 us, else ns); other strings RFC 3339 */
  VG_TIME_UNIX, /* seconds, fractions allowed, number or digit string */
  VG_TIME_UNIX_MS,
  VG_TIME_UNIX_US,
  VG_TIME_UNIX_NS,
  VG_TIME_RFC3339, /* see vg_codec_parse_rfc3339() */
};

/* Unit of line-protocol timestamps. */
enum vg_precision { VG_PRECISION_NS, VG_PRECISION_US, VG_PRECISION_MS, VG_PRECISION_S };

/* Per-source configuration. The codec copies what it needs: strings and arrays
 * may be freed after vg_codec_new(). NULL / 0 means the default. Paths are
 * dotted ("meta.sensor.id" reaches {"meta":{"sensor":{"id":...}}}); the tag or
 * metric named after a path is the path with '.' replaced by '_'. Arrays
 * inside objects are not descended, nor objects nested deeper than 32. */
struct vg_codec_config {
  enum vg_codec_format format;

  /* JSON */
  const char *time_key;            /* default "time" */
  enum vg_time_format time_format; /* default auto */
  const char *time_zone;           /* for times without an offset; default UTC */
  const char *entity_key;          /* its value becomes a tag of that name */
  const char *const *tag_keys;     /* values become tags; absent ones omitted */
  size_t n_tag_keys;
  /* Fields that become metrics. A listed field must be present (else
   * missing_field) and be a number, a string holding a number ("12.5") or a
   * boolean (0/1). With none listed, every JSON number outside the keys above
   * becomes a metric (nested objects flattened, strings and booleans not). */
  const char *const *fields;
  size_t n_fields;
  const char *count_as;     /* each object adds 1 to this metric */
  const char *distinct_key; /* its value is the events' distinct key */

  /* InfluxDB line protocol */
  enum vg_precision precision; /* default ns */

  size_t max_message_bytes; /* larger messages: oversize; default 1 MiB */
};

/* The fixed list of rejection reasons. Their names (vg_reject_name) are stable:
 * counters and dead-letter headers use them. */
enum vg_reject_reason {
  VG_REJECT_NOT_JSON,          /* not JSON, or not an object/array of objects */
  VG_REJECT_TRUNCATED,         /* JSON that ends before it is complete */
  VG_REJECT_NOT_OBJECT,        /* an array element that is not an object */
  VG_REJECT_MISSING_TIME,      /* no time_key / no time */
  VG_REJECT_UNPARSABLE_TIME,   /* a time that does not parse */
  VG_REJECT_TIME_OUT_OF_RANGE, /* a time outside 1677..2262 */
  VG_REJECT_NON_NUMERIC_VALUE, /* a field that is not a number */
  VG_REJECT_NAN_OR_INF,        /* a value that is NaN or infinite */
  VG_REJECT_OVERSIZE,          /* message larger than max_message_bytes */
  VG_REJECT_INVALID_UTF8_KEY,  /* invalid UTF-8 in a key, name or tag */
  VG_REJECT_MISSING_FIELD,     /* a listed field is absent or null */
  VG_REJECT_NO_FIELDS,         /* an object/line/record with no value at all */
  VG_REJECT_BAD_SYNTAX,        /* line protocol that does not parse */
  VG_REJECT_MISSING_NAME,      /* a reading without a metric name (SenML
                                  record without n/bn, JSON key "") */
  VG_REJECT_REASON_COUNT       /* keep last */
};

/* Stable snake_case name of a reason ("not_json", "truncated", ...). */
const char *vg_reject_name(enum vg_reject_reason reason);

struct vg_reject {
  enum vg_reject_reason reason;
  uint32_t offset;               /* byte offset in the message where the problem is */
  uint32_t item_off, item_len;   /* the item it is about, in the message (above) */
  uint32_t field_off, field_len; /* the reading it is about, or the item
                                    (above, "Fields") */
};

/* Key and distinct key are byte ranges of batch->bytes (not NUL-terminated;
 * offsets rather than pointers so the buffer may grow). */
struct vg_event {
  int64_t time_ns;
  double value;
  uint32_t key_off, key_len;
  uint32_t distinct_off, distinct_len; /* has_distinct says if present */
  int has_distinct;
  uint32_t item_off, item_len;   /* its item, a byte range of the message */
  uint32_t field_off, field_len; /* its reading inside the item ("Fields") */
};

/* Reusable output of vg_codec_decode(); appended to, never shrunk. */
struct vg_event_batch {
  struct vg_event *events;
  size_t n_events, cap_events;
  char *bytes;
  size_t n_bytes, cap_bytes;
  struct vg_reject *rejects;
  size_t n_rejects, cap_rejects;
};

/* Empty batch, no allocation. */
void vg_event_batch_init(struct vg_event_batch *b);
/* Forget the contents, keep the memory. */
static inline void vg_event_batch_clear(struct vg_event_batch *b) {
  b->n_events = b->n_bytes = b->n_rejects = 0;
}
/* Free the contents (the struct itself is the caller's). */
void vg_event_batch_release(struct vg_event_batch *b);

static inline const char *vg_event_key(const struct vg_event_batch *b,
                                       const struct vg_event *e) {
  return b->bytes + e->key_off;
}
static inline const char *vg_event_distinct(const struct vg_event_batch *b,
                                            const struct vg_event *e) {
  return b->bytes + e->distinct_off;
}

struct vg_codec;

/* Builds a codec. Errors: VG_ECONFIG (message in errstr, e.g. an unknown time
 * zone or a count_as without a name), -ENOMEM. */
int vg_codec_new(const struct vg_codec_config *cfg, struct vg_codec **out, char *errstr,
                 size_t errstr_size);
void vg_codec_free(struct vg_codec *c);

/* Decodes one message msg[0..len) and appends its events and rejections to
 * *out. now_ns is the message's arrival time: the time of line-protocol lines
 * without a timestamp, and the origin of SenML relative times. Returns 0 when
 * nothing was rejected, VG_EDECODE when at least one rejection was appended
 * (events of the good readings are appended all the same), -ENOMEM (the
 * batch then holds what was decoded before). msg need not be NUL-terminated. */
int vg_codec_decode(struct vg_codec *c, const char *msg, size_t len, int64_t now_ns,
                    struct vg_event_batch *out);

/* RFC 3339 / ISO 8601 date-time to ns since the epoch: "2024-03-31T02:30:00Z",
 * "...+05:30", "t" or ' ' as separator, 'z', up to 9 fraction digits (more
 * are truncated), seconds optional. A time without offset is local time in
 * `tz` (NULL = UTC), resolved by vg_tz_local_to_utc() with fold 0: the first
 * occurrence of a repeated hour, a skipped hour moved forward by the gap.
 * Returns 0, or VG_EDECODE with *why set to unparsable_time or
 * time_out_of_range. */
struct vg_tz;
int vg_codec_parse_rfc3339(const char *s, size_t len, const struct vg_tz *tz,
                           int64_t *out_ns, enum vg_reject_reason *why);

#endif
