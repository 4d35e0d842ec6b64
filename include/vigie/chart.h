/*
 * SVG line charts of windows and periods: the chart `vigieq plot` writes and
 * the one on each card of the dashboard (dashboard.h).
 *
 * A chart draws series of points, each a time span (a window, a period) with
 * a value: one line per series through the middles of the spans, broken
 * where a point has no value or the next span does not start where the last
 * ended (a lone point is a dot), the min-max band under it where points
 * keep both, an optional dashed target line, a time axis with ticks at
 * local hours, days, months or years of a zone, a value axis with round
 * steps (1, 2 or 5 times a power of ten), a legend and axis labels.
 *
 * What a reader (a test) relies on:
 * - <g class="plot"> holds everything drawn in the plot area and repeats
 *   its mapping as data-x, data-y, data-width, data-height (the area, px),
 *   data-t0, data-t1 (the time axis, UTC s) and data-y0, data-y1 (the value
 *   axis, %.17g): an instant t is at x = data-x + (t - t0) / (t1 - t0) *
 *   data-width, a value v at y = data-y + data-height - (v - y0) / (y1 - y0)
 *   * data-height;
 * - each series is a <path class="line" data-series="KEY"> of "M x y" and
 *   "L x y" commands ("%.2f"), one per point with a value; a band is a
 *   <path class="band" data-series="KEY">;
 * - the target is a <line class="target" data-value="V"> and its
 *   <text class="target-label">;
 * - time tick labels are <text class="tick-label" data-time="T">, T a
 *   local boundary in UTC s; value tick labels have no data-time;
 * - the <svg> has role="img" and aria-labelledby naming its <title> and
 *   <desc> (the text alternative: the caller's, or a summary of the values).
 *
 * Thread-safety: reentrant; everything is borrowed and only read.
 */
#ifndef VIGIE_CHART_H
#define VIGIE_CHART_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/tz.h"

/* One point: a span and its value. */
struct vg_chart_point {
  int64_t start, end; /* UTC seconds, end exclusive (end > start) */
  double value;       /* NAN: none (the line breaks there) */
  double min, max;    /* the band at this point; NAN: none */
};

/* One series: its points in time order. */
struct vg_chart_series {
  const char *key;     /* data-series of its line and band (NULL: "") */
  const char *label;   /* its legend entry; NULL: none */
  const char *tooltip; /* the legend entry's <title>; NULL: none */
  const char *color;   /* "#rrggbb"; NULL: the palette's next */
  const struct vg_chart_point *p;
  size_t n;
};

struct vg_chart {
  int width, height;            /* the image, px */
  int left, right, top, bottom; /* margins of the plot area; the legend goes
                                 * in the right one, the heading in the top */
  int font_size;                /* px; 0: 12 */
  int max_ticks;                /* time ticks at most (labels too close to
                                 * the last are left out); 0: one per 80 px */
  /* 1: a document of its own (XML declaration, xmlns, white background);
   * 0: an <svg> element to embed in HTML (no namespace URL either) */
  int standalone;
  const struct vg_tz *tz; /* the zone of the time ticks (required) */
  /* NULL: numbers as vg_fmt_double writes them and English words; "fr" or
   * "en": numbers as vg_fmt_human writes them and words in that language */
  const char *lang;
  /* prefix of the ids of <title> and <desc> ("ID-title", "ID-desc"), unique
   * in the page when several charts share one; NULL: "chart" */
  const char *id;
  const char *title;   /* <title>, the accessible name; NULL: heading's */
  const char *heading; /* drawn at the top (<text class="title">); NULL: none */
  const char *desc;    /* <desc>; NULL: a summary of the values */
  const char *time_label, *value_label; /* axis labels; NULL: none */
  int dots;                             /* a dot (<circle class="dot">) per value */
  int has_target;                       /* a dashed line at target... */
  double target;
  const char *target_label; /* ...labelled (NULL: the number) */
};

/* Writes the chart of series s[0..ns) to out. Every string is escaped
 * (vg_xml_text). The value axis covers every value, min, max and the
 * target; the time axis the points' spans (with no point at all the chart
 * says there is no data). Returns 0, -EINVAL when c leaves no plot area or
 * has no zone, or -EIO. */
int vg_chart_svg(FILE *out, const struct vg_chart *c, const struct vg_chart_series *s,
                 size_t ns);

#endif
