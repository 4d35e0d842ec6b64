/*
 * Internal: the in-memory TZif parser behind vg_tz_load(), exposed for the
 * unit tests and the tz_tzif fuzz target.
 */
#ifndef VIGIE_ENGINE_TZIF_H
#define VIGIE_ENGINE_TZIF_H

#include <stddef.h>
#include <stdint.h>

struct vg_tz;

/* Parses the TZif image buf[0..len) into a new zone named `name` (copied).
 * Same errors as vg_tz_load() minus VG_ENOTFOUND: VG_ECORRUPT with a message
 * for any framing, count, index, offset or footer problem; -ENOMEM. */
int vg__tz_parse(const uint8_t *buf, size_t len, const char *name, struct vg_tz **out,
                 char *errstr, size_t errstr_size);

/* Parses a POSIX TZ string ("CET-1CEST,M3.5.0,M10.5.0/3") into a zone with
 * no transitions; 0 or VG_ECORRUPT / -ENOMEM. For tests. */
int vg__tz_from_posix(const char *tzstr, struct vg_tz **out, char *errstr,
                      size_t errstr_size);

#endif
