/*
 * vigieq plot (vigieq.h): an SVG chart of a query's rows.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/chart.h"
#include "vigie/publish.h"
#include "vigie/tz.h"

#include "vigieq.h"

/* The chart is drawn from the rows a query made (columns start_datetime,
 * end_datetime, series, metric, mean, min, max) by the chart module
 * (chart.h): one line of means per series, broken where windows are
 * missing or empty, the min-max band under it where min and max are kept,
 * a time axis with ticks at local hours, days, months or years of --tz, a
 * value axis with round steps, a title and a legend. The plot area's
 * mapping is repeated as data-* attributes so that a reader (a test) can
 * turn points back into values. Here: the rows turned into the chart's
 * series, and the texts. */

enum { PLOT_W = 1000, PLOT_H = 480, PLOT_L = 72, PLOT_R = 270, PLOT_T = 44, PLOT_B = 56 };

/* A series' legend: its tags as name=value (the metric too when the chart
 * has several). */
static void legend_label(FILE *out, const char *key, int with_metric) {
  static struct tag tags[MAX_TAGS];
  char metric[512];
  int nt;
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt) ||
      (!nt && !with_metric)) {
    fputs(key, out);
    return;
  }
  if (with_metric || !nt)
    fputs(metric, out);
  for (int t = 0; t < nt; t++)
    fprintf(out, "%s%s=%s", t || with_metric ? " " : "", tags[t].name, tags[t].value);
}

/* "P1, P2 (unit)": the metrics of the chart and the unit when given. */
static void plot_label(FILE *out, const struct names *metrics, const char *unit) {
  for (size_t m = 0; m < metrics->n; m++)
    fprintf(out, "%s%s", m ? ", " : "", metrics->v[m]);
  if (unit)
    fprintf(out, " (%s)", unit);
}

static double cell_num(const struct cell *c) {
  return c->kind == CELL_NULL ? NAN : strtod(c->s, NULL);
}

/* The texts of a chart, each written into a string of its own. */
enum { TXT_HEADING, TXT_VALUE, TXT_TIME, NTXT };

struct plot {
  struct vg_chart_point *p; /* a row each */
  size_t n;
  struct vg_chart_series *s; /* runs of rows of one key */
  size_t ns;
  struct names metrics; /* of the rows, in order */
  char **legend;        /* a label per series */
  char *txt[NTXT];
};

/* Opens a string to write into; NULL when out of memory. */
static FILE *text_open(char **s) {
  size_t size;
  return open_memstream(s, &size);
}

/* Reads the rows into series of points. 0, -EINVAL (a time cell that does
 * not parse) or -ENOMEM. */
static int plot_init(struct plot *pl, const struct rows *r, const struct vg_tz *tz) {
  size_t nrows = r->n / r->ncols;
  pl->p = calloc(nrows ? nrows : 1, sizeof *pl->p);
  pl->s = calloc(nrows ? nrows : 1, sizeof *pl->s);
  pl->legend = calloc(nrows ? nrows : 1, sizeof *pl->legend);
  if (!pl->p || !pl->s || !pl->legend)
    return -ENOMEM;
  pl->n = nrows;
  char err[128];
  for (size_t i = 0; i < nrows; i++) {
    const struct cell *c = &r->c[i * r->ncols];
    struct vg_chart_point *p = &pl->p[i];
    /* columns: start, end, series, metric, mean, min, max */
    if (vg_parse_time(c[0].s, tz, 0, &p->start, err, sizeof err) ||
        vg_parse_time(c[1].s, tz, 0, &p->end, err, sizeof err))
      return -EINVAL;
    if (!pl->ns || strcmp(c[2].s, pl->s[pl->ns - 1].key) != 0)
      pl->s[pl->ns++] = (struct vg_chart_series){.key = c[2].s, .p = p};
    pl->s[pl->ns - 1].n++;
    if (names_add(&pl->metrics, c[3].s))
      return -ENOMEM;
    p->value = cell_num(&c[4]);
    p->min = cell_num(&c[5]);
    p->max = cell_num(&c[6]);
  }
  return 0;
}

/* The legends, the heading and the axis labels. 0 or -ENOMEM. */
static int plot_texts(struct plot *pl, const struct vg_tz *tz, const char *res,
                      const char *unit) {
  int band = 0;
  for (size_t i = 0; i < pl->n; i++)
    band |= isfinite(pl->p[i].min) && isfinite(pl->p[i].max);
  for (size_t i = 0; i < pl->ns; i++) {
    FILE *f = text_open(&pl->legend[i]);
    if (!f)
      return -ENOMEM;
    legend_label(f, pl->s[i].key, pl->metrics.n > 1);
    if (fclose(f))
      return -ENOMEM;
    pl->s[i].label = pl->legend[i];
    pl->s[i].tooltip = pl->s[i].key;
  }
  for (int k = 0; k < NTXT; k++) {
    FILE *f = text_open(&pl->txt[k]);
    if (!f)
      return -ENOMEM;
    if (k == TXT_TIME)
      fprintf(f, "local time (%s)", vg_tz_name(tz));
    else
      plot_label(f, &pl->metrics, unit);
    if (k == TXT_HEADING)
      fprintf(f, ": %s mean%s", res, band ? " and min\xe2\x80\x93max band" : "");
    if (fclose(f))
      return -ENOMEM;
  }
  return 0;
}

int write_plot(FILE *out, const struct rows *r, const struct vg_tz *tz, const char *res,
               const char *unit) {
  struct plot pl = {0};
  int rc = plot_init(&pl, r, tz);
  if (!rc)
    rc = plot_texts(&pl, tz, res, unit);
  if (!rc) {
    struct vg_chart c = {.width = PLOT_W,
                         .height = PLOT_H,
                         .left = PLOT_L,
                         .right = PLOT_R,
                         .top = PLOT_T,
                         .bottom = PLOT_B,
                         .standalone = 1,
                         .tz = tz,
                         .heading = pl.txt[TXT_HEADING],
                         .time_label = pl.txt[TXT_TIME],
                         .value_label = pl.txt[TXT_VALUE]};
    rc = vg_chart_svg(out, &c, pl.s, pl.ns);
  }
  for (size_t i = 0; pl.legend && i < pl.ns; i++)
    free(pl.legend[i]);
  for (int k = 0; k < NTXT; k++)
    free(pl.txt[k]);
  free(pl.legend);
  names_release(&pl.metrics);
  free(pl.s);
  free(pl.p);
  if (!rc && (fflush(out) || ferror(out)))
    rc = -EIO;
  return rc;
}
