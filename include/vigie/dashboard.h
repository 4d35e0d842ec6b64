/*
 * The dashboard of indicators (docs/indicators.md, "The dashboard"): one
 * HTML page, in French or English, with no external resource at all (CSS
 * inline, charts inline SVG from chart.h, no font, image or script from
 * elsewhere), that works without JavaScript.
 *
 * The page: a header (heading, language switch), then <main id="main">
 * with the time of the figures, one <article class="card"> per card and a
 * table of the same figures, then a footer. A card shows its latest
 * period's value (<data class="value" value="RAW">, RAW as vg_fmt_double
 * writes it, the text as vg_fmt_human in the page's language) and unit,
 * the period in words, the objective, whether it is met in words, by an
 * icon and by a colour class (met, not-met, unknown, none) whose colours
 * pass WCAG AA (4.5:1), provisional or final in words, the value of the
 * same period a year earlier (<data class="previous">), the coverage, and
 * a chart of its trend with a text alternative listing every value.
 * Articles carry data-indicator, data-series and data-period-start (ISO
 * 8601 with the offset of the page's zone); so do the table's rows.
 *
 * With refresh_s > 0 one inline script fetches the page's own URL every
 * refresh_s seconds and replaces the content of <main> with the new one
 * (keeping the scroll position; not while the keyboard focus is inside
 * <main> or the page is hidden; a failed fetch changes nothing). A server
 * with a Content-Security-Policy must allow that inline script (or the
 * page simply stays as it is).
 *
 * Thread-safety: reentrant; everything is borrowed and only read.
 */
#ifndef VIGIE_DASHBOARD_H
#define VIGIE_DASHBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vigie/tz.h"

/* A period of a card's trend. */
struct vg_dash_point {
  int64_t start, end; /* UTC seconds: the period */
  double value;
  int has_value;
};

/* One indicator and series: its latest period. */
struct vg_dash_card {
  const char *indicator;            /* id */
  const char *title;                /* in the page's language */
  const char *description;          /* NULL: none */
  const char *unit;                 /* "" when none */
  const char *series;               /* series key, or the merged label like pm10{*} */
  const char *period;               /* "day" | "month" | "year" */
  int64_t period_start, period_end; /* the latest period (UTC s) */
  int has_value;
  double value;
  int has_target;
  double target;
  int at_most;  /* 1: at_most, 0: at_least */
  int attained; /* -1 unknown, 0 not met, 1 met */
  int has_previous;
  double previous; /* same period a year earlier */
  double coverage; /* NAN when unknown */
  int final;       /* status: 1 final, 0 provisional */
  uint32_t revision;
  const struct vg_dash_point *trend; /* oldest first */
  size_t ntrend;
};

/* The page. */
struct vg_dash_page {
  const char *lang;       /* "fr" or "en": every fixed label in that language
                           * (anything but "en" is French) */
  const char *title;      /* page heading; NULL: a default per language */
  const struct vg_tz *tz; /* zone of the dates shown */
  /* the page's path, e.g. "/dashboard", for the language switch links
   * (path?lang=en; path&lang=en when it has a query already: give it
   * without a lang parameter); NULL: "" (links relative to the page) */
  const char *path;
  int refresh_s;     /* JS refresh period; 0: no script */
  int64_t generated; /* UTC seconds, shown as "updated at" */
};

/* Writes the whole HTML page (UTF-8) to out; 0, -EIO (a write failed) or
 * -ENOMEM. Every text of p and cards is escaped. */
int vg_dashboard_html(FILE *out, const struct vg_dash_page *p,
                      const struct vg_dash_card *cards, size_t n);

/* The cards of every configured indicator from a store snapshot: one per
 * (indicator, series) pair with rows, in the configuration's order and then
 * by series, its latest period and up to `trend` periods before it; texts
 * in lang ("en" or French). Strings point into ix (which must outlive the
 * cards) or are the cards' own. 0, -ENOMEM or a store error. */
struct vg_indicators;
struct vg_store_reader;
struct vg_dash_cards {
  struct vg_dash_card *v;
  size_t n;
};
int vg_dashboard_cards(const struct vg_indicators *ix, struct vg_store_reader *r,
                       const char *lang, struct vg_dash_cards *out);
void vg_dashboard_cards_release(struct vg_dash_cards *cs);

#endif
