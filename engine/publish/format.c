/*
 * Row formatting for publication (publish.h): shortest round-trip numbers,
 * RFC 4180 CSV fields (JSON is jsonw.c's), XML/HTML text, numbers for
 * people to read, and the parsing of time arguments.
 * Calendar arithmetic (civil days, ISO 8601 instants) is calendar.h's, so no
 * libc time function and no TZ environment is involved: the zone is always
 * the vg_tz passed in.
 */
#include "vigie/publish.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/error.h"
#include "vigie/utf8.h"

/* The powers of ten a double holds exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* vg_fmt_double's fast path, for a value that is the double nearest to a
 * decimal D of at most 15 significant digits and 3 decimals, with
 * 1e-4 <= |D| < 1e15 (readings and their minima, maxima, firsts, lasts).
 * "%.15g" then prints D in fixed notation (v is within half an ulp of D,
 * far less than half a unit of D's 15th digit) and D reads back as v, so
 * the slow path would stop at 15 digits with the same text. D = m / 10^d
 * with the fewest decimals d; the check is exact: m < 2^53 and
 * 10^d are exact doubles, so m / 10^d is correctly rounded, as strtod is.
 * Returns the length, or 0 when v is not such a value. */
static size_t fmt_short(double v, char buf[VG_FMT_DOUBLE_MAX]) {
  double a = fabs(v);
  if (!(a >= 1e-4 && a < 1e15))
    return 0;
  /* a value of at most 3 decimals is, times 1000, within rounding error of
   * an integer: most long values (means, sums) leave here at once */
  double t = a * 1000;
  if (!(t < 9e15))
    return 0;
  double nt = nearbyint(t);
  if (fabs(t - nt) > t * 0x1p-48)
    return 0;
  /* up to 3 decimals, what sensors report (fmt_digits finds the others,
   * with the same text): D = N / 1000 has as many decimals as N's trailing
   * zeros leave, and one exact division says whether v is D's double */
  uint64_t mi = (uint64_t)nt;
  int d = 3;
  while (d > 0 && mi % 10 == 0) {
    mi /= 10;
    d--;
  }
  double m = (double)mi;
  if (m >= 1e15 || m / pow10_exact[d] != a)
    return 0;
  char dig[24];
  int nd = 0;
  for (uint64_t u = mi; u; u /= 10)
    dig[nd++] = (char)('0' + u % 10); /* reversed */
  while (nd <= d)
    dig[nd++] = '0'; /* 0.000ddd */
  size_t n = 0;
  if (v < 0)
    buf[n++] = '-';
  for (int i = nd - 1; i >= d; i--)
    buf[n++] = dig[i];
  int last = 0; /* the last non-zero decimal (trailing zeros go) */
  while (last < d && dig[last] == '0')
    last++;
  if (last < d) {
    buf[n++] = '.';
    for (int i = d - 1; i >= last; i--)
      buf[n++] = dig[i];
  }
  buf[n] = 0;
  return n;
}

/* Writes P significant digits dig[0..P) with decimal exponent x as "%.Pg"
 * does: fixed notation when -4 <= x < P, else d.ddde+XX; trailing zeros of
 * the fraction and a bare point dropped. */
static size_t put_g(char *buf, int neg, const char *dig, int p, int x) {
  size_t n = 0;
  int last = p; /* digits after the last non-zero one are dropped */
  while (last > 1 && dig[last - 1] == '0')
    last--;
  if (neg)
    buf[n++] = '-';
  if (x >= -4 && x < p) {
    if (x < 0) {
      buf[n++] = '0';
      buf[n++] = '.';
      for (int i = -1; i > x; i--)
        buf[n++] = '0';
      for (int i = 0; i < last; i++)
        buf[n++] = dig[i];
    } else {
      for (int i = 0; i <= x; i++)
        buf[n++] = dig[i];
      if (last > x + 1) {
        buf[n++] = '.';
        for (int i = x + 1; i < last; i++)
          buf[n++] = dig[i];
      }
    }
  } else {
    buf[n++] = dig[0];
    if (last > 1) {
      buf[n++] = '.';
      for (int i = 1; i < last; i++)
        buf[n++] = dig[i];
    }
    n += (size_t)snprintf(buf + n, VG_FMT_DOUBLE_MAX - n, "e%c%02d", x < 0 ? '-' : '+',
                          x < 0 ? -x : x);
  }
  buf[n] = 0;
  return n;
}

/* vg_fmt_double's general path with ONE conversion: the 17 correctly
 * rounded digits of "%.16e" (which are %.17g's), rounded again to 15 and
 * 16 digits -- exact unless the dropped digits are exactly a half (then 0:
 * the caller asks libc) -- and each candidate read back with one exact
 * floating operation (an integer below 2^53 times or over an exact power
 * of ten is correctly rounded, as strtod is). Returns 0 where that does
 * not apply. */
/* The 17 significant digits of a (1e-4 <= a < 1e15) rounded half to even
 * from its exact value, as "%.16e" gives them, in integer arithmetic:
 * a = m * 2^q with m < 2^53 and -70 < q < 0, so m * 10^k (k <= 20) fits
 * in 128 bits and the shift by -q is exact. *x gets the decimal exponent. */
static void exact_digits17(double a, char dig[17], int *x) {
  int e2;
  double f = frexp(a, &e2); /* a = f * 2^e2, 0.5 <= f < 1 */
  uint64_t m = (uint64_t)ldexp(f, 53);
  int q = e2 - 53;
  /* log10(2) ~ 0.30103: within one of the decimal exponent, fixed below */
  int ex = (int)floor((e2 - 1) * 0.30102999566398120);
  for (;;) {
    int k = 16 - ex; /* 2 <= k <= 22 */
    static const uint64_t p10[] = {1ULL,
                                   10ULL,
                                   100ULL,
                                   1000ULL,
                                   10000ULL,
                                   100000ULL,
                                   1000000ULL,
                                   10000000ULL,
                                   100000000ULL,
                                   1000000000ULL,
                                   10000000000ULL,
                                   100000000000ULL,
                                   1000000000000ULL,
                                   10000000000000ULL,
                                   100000000000000ULL,
                                   1000000000000000ULL,
                                   10000000000000000ULL,
                                   100000000000000000ULL,
                                   1000000000000000000ULL,
                                   10000000000000000000ULL};
    unsigned __int128 n = (unsigned __int128)m * p10[k > 19 ? 19 : k];
    for (int i = 19; i < k; i++)
      n *= 10;
    unsigned __int128 half = (unsigned __int128)1 << (-q - 1);
    unsigned __int128 rem = n & ((half << 1) - 1);
    uint64_t d = (uint64_t)(n >> -q);
    if (rem > half || (rem == half && (d & 1)))
      d++;
    if (d < 10000000000000000ULL) { /* log10 said one too many */
      ex--;
      continue;
    }
    if (d >= 100000000000000000ULL) {
      if (d == 100000000000000000ULL) { /* rounded up to a power of ten */
        d /= 10;
        ex++;
      } else {
        ex++;
        continue;
      }
    }
    for (int i = 16; i >= 0; i--, d /= 10)
      dig[i] = (char)('0' + d % 10);
    *x = ex;
    return;
  }
}

static size_t fmt_digits(double v, char buf[VG_FMT_DOUBLE_MAX]) {
  char dig[18];
  int x;
  double a = fabs(v);
  if (a >= 1e-4 && a < 1e15) {
    exact_digits17(a, dig, &x);
  } else {
    char e[40];
    snprintf(e, sizeof e, "%.16e", a); /* d.dddddddddddddddde+XX */
    dig[0] = e[0];
    memcpy(dig + 1, e + 2, 16);
    x = atoi(e + 19);
  }
  for (int p = 15; p <= 16; p++) {
    char r[18];
    int rx = x;
    memcpy(r, dig, (size_t)p);
    /* the dropped digits against a half: 5 then zeros is a tie */
    int cmp = dig[p] > '5' ? 1 : dig[p] < '5' ? -1 : 0;
    for (int i = p + 1; i < 17 && cmp == 0; i++)
      cmp = dig[i] != '0';
    if (cmp == 0)
      return 0;
    if (cmp > 0) { /* round up, carrying */
      int i = p - 1;
      while (i >= 0 && r[i] == '9')
        r[i--] = '0';
      if (i < 0) {
        r[0] = '1';
        rx++;
      } else {
        r[i]++;
      }
    }
    uint64_t m = 0;
    for (int i = 0; i < p; i++)
      m = m * 10 + (uint64_t)(r[i] - '0');
    int k = rx - (p - 1);
    if (m > (1ULL << 53) || k > 22 || k < -22)
      return 0;
    double back = k >= 0 ? (double)m * pow10_exact[k] : (double)m / pow10_exact[-k];
    if (back == fabs(v))
      return put_g(buf, v < 0, r, p, rx);
  }
  return put_g(buf, v < 0, dig, 17, x);
}

size_t vg_fmt_double(double v, char buf[VG_FMT_DOUBLE_MAX]) {
  size_t fast = fmt_short(v, buf);
  if (fast)
    return fast;
  if (isfinite(v) && v != 0)
    fast = fmt_digits(v, buf);
  if (fast)
    return fast;
  if (v == 0)
    return (size_t)snprintf(buf, VG_FMT_DOUBLE_MAX, signbit(v) ? "-0" : "0");
  if (isnan(v))
    return (size_t)snprintf(buf, VG_FMT_DOUBLE_MAX, "nan");
  if (isinf(v))
    return (size_t)snprintf(buf, VG_FMT_DOUBLE_MAX, v < 0 ? "-inf" : "inf");
  int n = 0;
  for (int prec = 15; prec <= 17; prec++) {
    n = snprintf(buf, VG_FMT_DOUBLE_MAX, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  return (size_t)n;
}

int vg_csv_plain(const char *f, size_t len, char delim) {
  if (len && (f[0] == ' ' || f[len - 1] == ' '))
    return 0;
  for (size_t i = 0; i < len; i++)
    if (f[i] == delim || f[i] == '"' || f[i] == '\r' || f[i] == '\n')
      return 0;
  return 1;
}

int vg_csv_field(FILE *out, const char *f, size_t len, char delim) {
  if (vg_csv_plain(f, len, delim))
    return fwrite_unlocked(f, 1, len, out) == len ? 0 : -EIO;
  if (putc_unlocked('"', out) == EOF)
    return -EIO;
  /* runs up to and including each quote, then the quote again */
  for (const char *p = f, *end = f + len; p < end;) {
    const char *q = memchr(p, '"', (size_t)(end - p));
    size_t n = q ? (size_t)(q - p) + 1 : (size_t)(end - p);
    if (fwrite_unlocked(p, 1, n, out) != n || (q && putc_unlocked('"', out) == EOF))
      return -EIO;
    p += n;
  }
  return putc_unlocked('"', out) == EOF ? -EIO : 0;
}

int vg_xml_text(FILE *out, const char *s) {
  size_t n = strlen(s);
  int bad = 0;
  for (size_t i = 0; i < n;) {
    size_t valid = i + vg_utf8_valid_prefix(s + i, n - i);
    for (; i < valid; i++) {
      const char *e = NULL;
      switch (s[i]) {
      case '&': e = "&amp;"; break;
      case '<': e = "&lt;"; break;
      case '>': e = "&gt;"; break;
      case '"': e = "&quot;"; break;
      case '\'': e = "&apos;"; break;
      default:
        if ((unsigned char)s[i] >= 0x20 || s[i] == '\t' || s[i] == '\n')
          bad |= putc(s[i], out) == EOF;
      }
      if (e)
        bad |= fputs(e, out) == EOF;
    }
    if (i < n) { /* an invalid byte */
      bad |= fputs("\xef\xbf\xbd", out) == EOF;
      i++;
    }
  }
  return bad ? -EIO : 0;
}

/* Appends NUL-terminated s at buf + *n. */
static void append(char *buf, size_t *n, const char *s) {
  size_t len = strlen(s);
  memcpy(buf + *n, s, len);
  *n += len;
}

size_t vg_fmt_human(double v, int decimals, const char *lang,
                    char buf[VG_FMT_HUMAN_MAX]) {
  const int fr = lang && strcmp(lang, "fr") == 0;
  const char *mark = fr ? "," : ".", *sep = fr ? "\xe2\x80\xaf" : ",";
  char dig[48];
  size_t n = 0;
  double a = fabs(v);
  if (!isfinite(v)) {
    append(buf, &n, "\xe2\x80\x94");
    buf[n] = 0;
    return n;
  }
  if (a >= 1e15) { /* no grouping: the digits may be an exponent form */
    vg_fmt_double(a, dig);
    if (v < 0)
      append(buf, &n, "\xe2\x88\x92");
    for (const char *p = dig; *p; p++)
      if (*p == '.')
        append(buf, &n, mark);
      else
        buf[n++] = *p;
    buf[n] = 0;
    return n;
  }
  if (decimals < 0) /* three significant digits, the integer part whole */
    decimals = a >= 100 || a == 0 ? 0
               : a >= 10          ? 1
               : a >= 1           ? 2
                                  : 2 - (int)floor(log10(a));
  /* a < 1e15: at most 16 integer digits, the point and 15 decimals */
  snprintf(dig, sizeof dig, "%.*f", decimals > 15 ? 15 : decimals, a);
  if (strchr(dig, '.')) {
    size_t e = strlen(dig);
    while (dig[e - 1] == '0')
      dig[--e] = 0;
    if (dig[e - 1] == '.')
      dig[--e] = 0;
  }
  if (v < 0 && strspn(dig, "0.") != strlen(dig)) /* -0.001 to 2 decimals is 0 */
    append(buf, &n, "\xe2\x88\x92");
  size_t intlen = strcspn(dig, ".");
  for (size_t i = 0; i < intlen; i++) {
    if (i && (intlen - i) % 3 == 0)
      append(buf, &n, sep);
    buf[n++] = dig[i];
  }
  if (dig[intlen]) {
    append(buf, &n, mark);
    append(buf, &n, dig + intlen + 1);
  }
  buf[n] = 0;
  return n;
}

/* Reads exactly n digits at *p. */
static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

static int relative(const char *s, int64_t now_s, int64_t *out, char *errstr,
                    size_t size) {
  char *end;
  errno = 0;
  long long n = strtoll(s + 1, &end, 10);
  if (end == s + 1 || errno || n < 0 || n > 1000000000LL)
    return vg_errstr_rc(-EINVAL, errstr, size, "expected a number after '%c' (like -7d)",
                        s[0]);
  int64_t unit;
  switch (*end) {
  case 's': unit = 1; break;
  case 'm': unit = 60; break;
  case 'h': unit = 3600; break;
  case 'd': unit = 86400; break;
  case 'w': unit = 7 * 86400; break;
  default:
    return vg_errstr_rc(-EINVAL, errstr, size,
                        "unknown unit '%s' (use s, m, h, d or w, like -7d)", end);
  }
  if (end[1])
    return vg_errstr_rc(-EINVAL, errstr, size, "unexpected '%s' after the unit", end + 1);
  int64_t delta = (int64_t)n * unit;
  *out = s[0] == '-' ? now_s - delta : now_s + delta;
  return 0;
}

int vg_parse_time(const char *s, const struct vg_tz *tz, int64_t now_s, int64_t *out,
                  char *errstr, size_t size) {
  if (!*s)
    return vg_errstr_rc(-EINVAL, errstr, size, "empty time");
  if (strcmp(s, "now") == 0) {
    *out = now_s;
    return 0;
  }
  if (s[0] == '-' || s[0] == '+')
    return relative(s, now_s, out, errstr, size);
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, se = 0;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
      digits(&p, 2, &d))
    return vg_errstr_rc(
        -EINVAL, errstr, size,
        "expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM] or a relative "
        "time like -7d");
  if (mo < 1 || mo > 12)
    return vg_errstr_rc(-EINVAL, errstr, size, "month %d is out of range", mo);
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
    return vg_errstr_rc(-EINVAL, errstr, size, "day %d does not exist in %04d-%02d", d, y,
                        mo);
  if (*p == 'T' || *p == 't' || *p == ' ') {
    p++;
    if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
      return vg_errstr_rc(-EINVAL, errstr, size, "expected HH:MM after the date");
    if (*p == ':') {
      p++;
      if (digits(&p, 2, &se))
        return vg_errstr_rc(-EINVAL, errstr, size, "expected two digits of seconds");
      if (*p == '.') /* fractions are accepted and truncated */
        for (p++; isdigit((unsigned char)*p); p++)
          ;
    }
    if (h > 23 || mi > 59 || se > 59)
      return vg_errstr_rc(-EINVAL, errstr, size, "time %02d:%02d:%02d is out of range", h,
                          mi, se);
  }
  int64_t local =
      vg_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se;
  if (!*p) {
    *out = vg_tz_local_to_utc(tz, local, 0, NULL);
    return 0;
  }
  if ((*p == 'Z' || *p == 'z') && !p[1]) {
    *out = local;
    return 0;
  }
  if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh))
      return vg_errstr_rc(-EINVAL, errstr, size, "expected an offset like +01:00");
    if (*p == ':')
      p++;
    if (digits(&p, 2, &om) || *p || oh > 23 || om > 59)
      return vg_errstr_rc(-EINVAL, errstr, size, "expected an offset like +01:00");
    *out = local - sign * (oh * 3600 + om * 60);
    return 0;
  }
  return vg_errstr_rc(-EINVAL, errstr, size,
                      "unexpected '%s' (expected Z or an offset like +01:00)", p);
}
