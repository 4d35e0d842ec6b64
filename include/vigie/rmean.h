/*
 * Running means over hourly windows: the directive's maximum daily 8-hour
 * mean (docs/indicators.md, "Derived days"; Directive 2008/50/EC Annex VII
 * part B note 2 and part A.2).
 *
 * The inputs are hourly values of mergeable hourly windows (a window's mean
 * after any merge of series), so the derived day is as mergeable and as
 * revisable as the hours it reads: merge the hours, or revise one, and
 * compute the day again.
 */
#ifndef VIGIE_RMEAN_H
#define VIGIE_RMEAN_H

#include <stddef.h>

/* Hours an 8-hour mean covers, and how many of them it needs. */
#define VG_RMEAN8_HOURS 8
#define VG_RMEAN8_MIN   6

/* The mean of the values v[i] with valid[i] among n: *mean (NaN when none)
 * and how many there were. A day of hourly values (hours_min) is one. */
unsigned vg_mean_valid(const double *v, const unsigned char *valid, size_t n,
                       double *mean);

/* The 8-hour means of one local day of nday hours (23, 24 or 25): v and
 * valid hold nday + 7 consecutive hourly values, the 7 hours before the
 * day first. The mean ending with hour i of the day covers hours i .. i + 7
 * of the arrays and is valid with at least VG_RMEAN8_MIN valid hours; its
 * value is the mean of those hours' values. *max gets the largest valid
 * mean (NaN when none), *nvalid how many are valid. */
void vg_rmean8_day(const double *v, const unsigned char *valid, size_t nday, double *max,
                   unsigned *nvalid);

/* Valid 8-hour means a day of nday hours needs: three quarters of them,
 * rounded up (18 of 24). */
unsigned vg_rmean8_needed(size_t nday);

#endif
