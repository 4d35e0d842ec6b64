/*
 * vg_strerror: one place that names every error code, ours and errno's.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vigie/error.h"

static const char *const names[] = {
    [VG_EKAFKA - VG_ERR_BASE] = "Kafka client error",
    [VG_ECONFIG - VG_ERR_BASE] = "invalid configuration",
    [VG_ECORRUPT - VG_ERR_BASE] = "corrupt data",
    [VG_EVERSION - VG_ERR_BASE] = "unsupported format version",
    [VG_ENOTFOUND - VG_ERR_BASE] = "not found",
    [VG_EDECODE - VG_ERR_BASE] = "input rejected by decoder",
    [VG_ETIMEOUT - VG_ERR_BASE] = "timed out",
    [VG_EFULL - VG_ERR_BASE] = "full",
    [VG_ERESTART - VG_ERR_BASE] = "restart needed to take new partitions",
    [VG_EABORTED - VG_ERR_BASE] = "Kafka transaction aborted",
    [VG_EFENCED - VG_ERR_BASE] = "fenced by a newer instance",
};

const char *vg_strerror(int err) {
  if (err == 0)
    return "success";
  if (err >= VG_ERR_BASE && err < VG_ERR_LAST)
    return names[err - VG_ERR_BASE];
  if (err < 0 && err > -4096) /* the kernel's errno range */
    return strerror(-err);    /* glibc's strerror is thread-safe for known codes */
  return "unknown error";
}

void vg_verrstr(char *errstr, size_t size, const char *fmt, va_list ap) {
  if (errstr && size)
    vsnprintf(errstr, size, fmt, ap);
}

void vg_errstr(char *errstr, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vg_verrstr(errstr, size, fmt, ap);
  va_end(ap);
}

int vg_errstr_rc(int rc, char *errstr, size_t size, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vg_verrstr(errstr, size, fmt, ap);
  va_end(ap);
  return rc;
}
