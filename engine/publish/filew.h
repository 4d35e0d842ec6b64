/*
 * Atomic file replacement through io_uring (liburing), for the export
 * folder: a file is written to a temporary name in its folder, fsynced,
 * renamed over the old one, and the folder is fsynced, so a reader sees the
 * old file or the new one, complete, and a crash leaves one of them.
 *
 * Writes and fsyncs go through an io_uring ring when the kernel grants one.
 * Where it is refused -- io_uring_setup failing with ENOSYS, EPERM (a
 * container's seccomp profile, kernel.io_uring_disabled) or any other
 * error, or an operation answered with EINVAL/EOPNOTSUPP -- the writer logs
 * it once and continues with plain write(2)/fsync(2). VIGIE_NO_URING=1 in
 * the environment, or VG_FILEW_PLAIN, forces the plain path (tests).
 *
 * Usage: begin, write any number of times, then commit (or abort). One
 * file at a time per writer. Data is staged in a buffer of the writer, so
 * the caller's buffer may be reused as soon as write returns.
 *
 * Thread-safety: a writer is used by one thread at a time. Errors: 0 or a
 * negative errno, with errstr naming the file and the step.
 */
#ifndef VIGIE_PUBLISH_FILEW_H
#define VIGIE_PUBLISH_FILEW_H

#include <stddef.h>

#define VG_FILEW_PLAIN 1u /* never use io_uring */

struct vg_filew;

int vg_filew_new(unsigned flags, struct vg_filew **out, char *errstr, size_t errstr_size);
/* 1 while io_uring does the writes, 0 on the plain path. */
int vg_filew_uring(const struct vg_filew *w);
/* Starts dir/name: creates a temporary file beside it (mode 0644). */
int vg_filew_begin(struct vg_filew *w, const char *dir, const char *name, char *errstr,
                   size_t errstr_size);
int vg_filew_write(struct vg_filew *w, const void *buf, size_t len, char *errstr,
                   size_t errstr_size);
/* Flushes, fsyncs, renames over dir/name, fsyncs dir. On error the
 * temporary file is removed and dir/name is untouched. */
int vg_filew_commit(struct vg_filew *w, char *errstr, size_t errstr_size);
/* Drops the file in progress (no-op when none). */
void vg_filew_abort(struct vg_filew *w);
void vg_filew_free(struct vg_filew *w);

#endif
