/*
 * Time zones from the system tz database.
 *
 * vg_tz_load() reads a compiled TZif file (RFC 8536, versions 1 to 4) from
 * $TZDIR, or /usr/share/zoneinfo when TZDIR is unset, and keeps its
 * transitions plus the POSIX TZ rule of its footer, which gives the offset for
 * instants past the last stored transition (Debian's "slim" files stop early,
 * "fat" ones in 2037; either way the rule takes over). There are no offset
 * tables in Vigie itself. Leap-second records ("right/" zones) are ignored.
 *
 * Times are int64 seconds. "UTC instant" means seconds since
 * 1970-01-01T00:00:00Z; "local wall-clock time" means the same count as if the
 * local date and time were read as UTC (local = utc + offset).
 *
 * Thread-safety: a loaded struct vg_tz is immutable; every function taking a
 * const struct vg_tz * may be called from any number of threads at once.
 * vg_tz_load() itself reads only its arguments and the environment.
 */
#ifndef VIGIE_TZ_H
#define VIGIE_TZ_H

#include <stddef.h>
#include <stdint.h>

struct vg_tz; /* immutable after load; safe to share between threads */

/* Loads zone `name`: "UTC" (always available, even without a tz database)
 * or an IANA name such as "Europe/Paris". On success *out owns the zone; free
 * it with vg_tz_free(). Errors: VG_ENOTFOUND when no such zone exists (the
 * message names it; names with "..", a leading '/' or odd characters are
 * refused the same way), VG_ECORRUPT when the file is not valid TZif or its
 * footer rule does not parse, -ENOMEM, or another -errno from reading the
 * file. The message goes to errstr (may be NULL when errstr_size is 0). */
int vg_tz_load(const char *name, struct vg_tz **out, char *errstr, size_t errstr_size);

/* Frees a zone from vg_tz_load(); NULL is accepted. */
void vg_tz_free(struct vg_tz *tz);

/* The name the zone was loaded with; valid until vg_tz_free(). */
const char *vg_tz_name(const struct vg_tz *tz);

/* Offset from UTC, in seconds east of Greenwich, in force at UTC instant
 * utc_s. Before the first transition the zone's first local time type
 * applies (local mean time for most zones). */
int32_t vg_tz_offset_at(const struct vg_tz *tz, int64_t utc_s);

/* How a local wall-clock time maps to UTC. */
enum vg_tz_kind {
  VG_TZ_UNIQUE,   /* exactly one UTC instant has that local time */
  VG_TZ_REPEATED, /* two: the repeated hour of a fall-back change */
  VG_TZ_SKIPPED   /* none: the skipped hour of a spring-forward change */
};

/* Converts local wall-clock time local_s to a UTC instant.
 *
 * The rule for the two ambiguous cases:
 * - a time in the repeated hour of a fall-back change resolves to its FIRST
 *   occurrence (the earlier instant, still on the pre-change offset, daylight
 *   time) when fold is 0, and to its second occurrence when fold is 1
 *   (02:30 on the last Sunday of October in Europe/Paris is 00:30Z with
 *   fold 0, 01:30Z with fold 1);
 * - a time in the skipped hour of a spring-forward change does not exist; it
 *   is read with the offset in force before the change, which moves it
 *   forward by the gap length (02:30 on the last Sunday of March in
 *   Europe/Paris becomes 01:30Z, that is 03:30 local).
 * *kind (may be NULL) says which case happened. fold is ignored unless the
 * time is repeated. */
int64_t vg_tz_local_to_utc(const struct vg_tz *tz, int64_t local_s, int fold,
                           enum vg_tz_kind *kind);

/* The first instant strictly after utc_s at which the zone's UTC offset
 * changes (transitions that only rename the zone or flip the DST flag without
 * moving the clock are skipped), or INT64_MAX if there is none. */
int64_t vg_tz_next_transition(const struct vg_tz *tz, int64_t utc_s);

#endif
