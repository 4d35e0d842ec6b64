/*
 * Error codes shared by every Vigie module.
 *
 * Functions return 0 on success and a negative number on failure: either a
 * negated errno value (-ENOMEM, -EIO, ...) or one of the project codes below,
 * which live in a range of their own so that they never collide with errno.
 * vg_strerror() names both kinds. Results travel through out-parameters.
 */
#ifndef VIGIE_ERROR_H
#define VIGIE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

enum vg_error {
  VG_OK = 0,
  VG_ERR_BASE = -30000,    /* below every errno value */
  VG_EKAFKA = VG_ERR_BASE, /* a Kafka client call failed (details in errstr) */
  VG_ECONFIG,              /* invalid configuration (details in errstr) */
  VG_ECORRUPT,             /* stored data failed its checksum or framing */
  VG_EVERSION,             /* stored data has a format version we do not know */
  VG_ENOTFOUND,            /* no such key, series, topic or partition */
  VG_EDECODE,              /* input bytes were rejected by a codec */
  VG_ETIMEOUT,             /* an operation did not finish in its time */
  VG_EFULL,                /* a bounded structure or the disk is full */
  VG_ERESTART,             /* the input changed shape (partitions added): the
                              caller rebuilds and resumes from the store */
  VG_EABORTED,             /* a Kafka transaction was aborted: what it held is
                              read again from the committed offsets */
  VG_EFENCED,              /* a newer instance with the same transactional id
                              took over: this one must stop */
  VG_ERR_LAST              /* keep last */
};

/* A static, human-readable description of err (never NULL). Thread-safe. */
const char *vg_strerror(int err);

/* Formats a message into errstr (size bytes, always NUL-terminated); does
 * nothing when errstr is NULL or size is 0. */
void vg_errstr(char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* vg_errstr that returns rc, for `return vg_errstr_rc(-EINVAL, errstr, size,
 * "month %d is out of range", m);`. */
int vg_errstr_rc(int rc, char *errstr, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* vg_errstr over a va_list, for helpers that add their own bookkeeping. */
void vg_verrstr(char *errstr, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
