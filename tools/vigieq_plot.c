/*
 * vigieq plot (vigieq.h): an SVG chart of a query's rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/publish.h"
#include "vigie/tz.h"

#include "vigieq.h"

/* The chart is drawn from the rows a query made (columns start_datetime,
 * end_datetime, series, metric, mean, min, max): one line of means per
 * series, broken where windows are missing or empty, the min-max band
 * under it where min and max are kept, a time axis with ticks at local
 * hours, days, months or years of --tz, a value axis with round steps, a
 * title and a legend. The plot area's mapping is repeated as data-*
 * attributes so that a reader (a test) can turn points back into values. */

enum { PLOT_W = 1000, PLOT_H = 480, PLOT_L = 72, PLOT_R = 270, PLOT_T = 44, PLOT_B = 56 };

struct ppoint {
  int64_t start, end;
  double mean, min, max;
  size_t series; /* row index of the series' first row (its key cell) */
};

static void xml_text(FILE *out, const char *s) {
  for (; *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", out); break;
    case '<': fputs("&lt;", out); break;
    case '>': fputs("&gt;", out); break;
    case '"': fputs("&quot;", out); break;
    case '\'': fputs("&apos;", out); break;
    default:
      if ((unsigned char)*s >= 0x20 || *s == '\t' || *s == '\n')
        putc(*s, out); /* other control bytes are not XML */
    }
  }
}

/* A series' legend: its tags as name=value (the metric too when the chart
 * has several), the whole key as a tooltip. */
static void legend_label(FILE *out, const char *key, int with_metric) {
  static struct tag tags[MAX_TAGS];
  char metric[512];
  int nt;
  fputs("<title>", out);
  xml_text(out, key);
  fputs("</title>", out);
  if (parse_key(key, strlen(key), metric, sizeof metric, tags, &nt) ||
      (!nt && !with_metric)) {
    xml_text(out, key);
    return;
  }
  if (with_metric || !nt)
    xml_text(out, metric);
  for (int t = 0; t < nt; t++) {
    fputs(t || with_metric ? " " : "", out);
    xml_text(out, tags[t].name);
    putc('=', out);
    xml_text(out, tags[t].value);
  }
}

/* "P1, P2 (unit)": the metrics of the chart and the unit when given. */
static void plot_label(FILE *out, const struct names *metrics, const char *unit) {
  for (size_t m = 0; m < metrics->n; m++) {
    fputs(m ? ", " : "", out);
    xml_text(out, metrics->v[m]);
  }
  if (unit) {
    fputs(" (", out);
    xml_text(out, unit);
    fputs(")", out);
  }
}

static double cell_num(const struct cell *c) {
  return c->kind == CELL_NULL ? NAN : strtod(c->s, NULL);
}

/* A round step (1, 2 or 5 times a power of ten) for about n intervals. */
static double nice_step(double range, int n) {
  double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/* Time ticks: every `step` local hours, days, months or years. */
enum { TICK_HOUR, TICK_DAY, TICK_MONTH, TICK_YEAR };

static void time_ticks(FILE *out, struct vg_calendar *cal, int64_t t0, int64_t t1,
                       double px0, double pxs) {
  static const struct {
    int kind, step;
    int64_t len;
  } kinds[] = {{TICK_HOUR, 1, 3600},        {TICK_HOUR, 2, 7200},
               {TICK_HOUR, 3, 10800},       {TICK_HOUR, 6, 21600},
               {TICK_HOUR, 12, 43200},      {TICK_DAY, 1, 86400},
               {TICK_DAY, 2, 172800},       {TICK_DAY, 7, 604800},
               {TICK_MONTH, 1, 2629800},    {TICK_MONTH, 3, 7889400},
               {TICK_MONTH, 6, 15778800},   {TICK_YEAR, 1, 31557600},
               {TICK_YEAR, 5, 157788000},   {TICK_YEAR, 10, 315576000},
               {TICK_YEAR, 50, 1577880000}, {TICK_YEAR, 100, 3155760000}};
  size_t k = 0;
  while (k + 1 < sizeof kinds / sizeof *kinds && (t1 - t0) / kinds[k].len > 8)
    k++;
  int kind = kinds[k].kind, step = kinds[k].step;
  struct vg_span s =
      kind == TICK_HOUR ? vg_calendar_hour(cal, t0) : vg_calendar_day(cal, t0);
  int64_t t = s.start < t0 ? s.end : s.start;
  char iso[VG_FMT_ISO_MAX], label[16];
  double last_x = -1e9;
  for (int n = 0; t <= t1 && n < 100000; n++) {
    vg_fmt_iso(t, cal->tz, iso); /* YYYY-MM-DDTHH:MM:SS+hh:mm, local */
    int y = atoi(iso), mo = atoi(iso + 5), d = atoi(iso + 8), h = atoi(iso + 11), on;
    switch (kind) {
    case TICK_HOUR:
      on = h % step == 0;
      if (h == 0)
        snprintf(label, sizeof label, "%.5s", iso + 5);
      else
        snprintf(label, sizeof label, "%.5s", iso + 11);
      break;
    case TICK_DAY:
      on = (d - 1) % step == 0;
      snprintf(label, sizeof label, "%.10s", iso);
      break;
    case TICK_MONTH:
      on = d == 1 && (mo - 1) % step == 0;
      snprintf(label, sizeof label, "%.7s", iso);
      break;
    default:
      on = d == 1 && mo == 1 && y % step == 0;
      snprintf(label, sizeof label, "%.4s", iso);
    }
    double x = px0 + (double)(t - t0) * pxs;
    if (on && x - last_x >= 64) { /* a label needs room: skip a tick too close */
      last_x = x;
      fprintf(out,
              "<line class=\"tick\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" "
              "stroke=\"#ddd\"/>\n<text class=\"tick-label\" data-time=\"%" PRId64
              "\" x=\"%.2f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
              x, PLOT_T, x, PLOT_H - PLOT_B, t, x, PLOT_H - PLOT_B + 18, label);
    }
    s = kind == TICK_HOUR ? vg_calendar_hour(cal, t) : vg_calendar_day(cal, t);
    t = s.end;
  }
}

/* The chart being drawn: its points (a row each), what they span and the
 * plot area's mapping of time and value to pixels. */
struct chart {
  FILE *out;
  struct ppoint *p;
  size_t n, nser;       /* points; series (runs of points of one key) */
  struct names metrics; /* of the rows, in order */
  int band;             /* some point has min and max */
  int64_t t0, t1;       /* the time axis (UTC s) */
  double y0, y1, ystep; /* the value axis and its step */
  double pw, ph;        /* plot area size */
  double pxs, pys;      /* pixels per second, per unit of value */
};

/* x of instant t, y of value v. */
static double chart_x(const struct chart *ch, int64_t t) {
  return PLOT_L + (double)(t - ch->t0) * ch->pxs;
}

static double chart_y(const struct chart *ch, double v) {
  return PLOT_T + ch->ph - (v - ch->y0) * ch->pys;
}

/* A point at the middle of window k, at value v; cmd 'M' or 'L'. */
static void path_point(const struct chart *ch, char cmd, size_t k, double v) {
  const struct ppoint *p = &ch->p[k];
  fprintf(ch->out, "%c%.2f %.2f ", cmd, chart_x(ch, (p->start + p->end) / 2),
          chart_y(ch, v));
}

/* Reads the rows into points, and the axes' ranges: the time the windows
 * cover, the values rounded out to a step of about five intervals. 0,
 * -EINVAL (a time cell that does not parse) or -ENOMEM. */
static int chart_init(struct chart *ch, const struct rows *r, const struct vg_tz *tz) {
  size_t nrows = r->n / r->ncols;
  ch->p = calloc(nrows ? nrows : 1, sizeof *ch->p);
  if (!ch->p)
    return -ENOMEM;
  ch->n = nrows;
  int64_t t0 = INT64_MAX, t1 = INT64_MIN;
  double y0 = INFINITY, y1 = -INFINITY;
  int rc = 0;
  char err[128];
  struct ppoint *p = ch->p;
  for (size_t i = 0; i < nrows && !rc; i++) {
    const struct cell *c = &r->c[i * r->ncols];
    /* columns: start, end, series, metric, mean, min, max */
    if (vg_parse_time(c[0].s, tz, 0, &p[i].start, err, sizeof err) ||
        vg_parse_time(c[1].s, tz, 0, &p[i].end, err, sizeof err))
      rc = -EINVAL;
    p[i].series = i && strcmp(c[2].s, r->c[p[i - 1].series * r->ncols + 2].s) == 0
                      ? p[i - 1].series
                      : i;
    ch->nser += p[i].series == i;
    rc = rc ? rc : names_add(&ch->metrics, c[3].s);
    p[i].mean = cell_num(&c[4]);
    p[i].min = cell_num(&c[5]);
    p[i].max = cell_num(&c[6]);
    t0 = p[i].start < t0 ? p[i].start : t0;
    t1 = p[i].end > t1 ? p[i].end : t1;
    for (int k = 0; k < 3; k++) {
      double v = k == 0 ? p[i].mean : k == 1 ? p[i].min : p[i].max;
      if (isfinite(v)) {
        y0 = v < y0 ? v : y0;
        y1 = v > y1 ? v : y1;
      }
    }
    ch->band |= isfinite(p[i].min) && isfinite(p[i].max);
  }
  if (rc)
    return rc;
  if (!nrows) {
    t0 = 0;
    t1 = 1;
  }
  if (!(y0 <= y1)) { /* no value at all */
    y0 = 0;
    y1 = 1;
  }
  if (y0 == y1) {
    double d = y0 ? fabs(y0) / 10 : 1;
    y0 -= d;
    y1 += d;
  }
  ch->ystep = nice_step(y1 - y0, 5);
  ch->y0 = floor(y0 / ch->ystep) * ch->ystep;
  ch->y1 = ceil(y1 / ch->ystep) * ch->ystep;
  ch->t0 = t0;
  ch->t1 = t1;
  ch->pw = PLOT_W - PLOT_L - PLOT_R;
  ch->ph = PLOT_H - PLOT_T - PLOT_B;
  ch->pxs = ch->pw / (double)(t1 - t0);
  ch->pys = ch->ph / (ch->y1 - ch->y0);
  return 0;
}

/* The document's head, the title, the plot area's mapping (data-*), the
 * value grid, the time ticks, the frame and the axis labels. */
static void chart_axes(const struct chart *ch, const struct vg_tz *tz, const char *res,
                       const char *unit) {
  FILE *out = ch->out;
  const double pw = ch->pw, ph = ch->ph;
  fprintf(out,
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
          "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
          "<text class=\"title\" x=\"%d\" y=\"24\" font-size=\"16\">",
          PLOT_W, PLOT_H, PLOT_W, PLOT_H, PLOT_L);
  plot_label(out, &ch->metrics, unit);
  fprintf(out, ": %s mean%s</text>\n", res,
          ch->band ? " and min\xe2\x80\x93max band" : "");
  fprintf(out,
          "<g class=\"plot\" data-x=\"%d\" data-y=\"%d\" data-width=\"%.0f\" "
          "data-height=\"%.0f\" data-t0=\"%" PRId64 "\" data-t1=\"%" PRId64
          "\" data-y0=\"%.17g\" data-y1=\"%.17g\">\n",
          PLOT_L, PLOT_T, pw, ph, ch->t0, ch->t1, ch->y0, ch->y1);
  for (int k = 0; k <= (int)llround((ch->y1 - ch->y0) / ch->ystep); k++) {
    double v = ch->y0 + k * ch->ystep, y = chart_y(ch, v);
    char b[VG_FMT_DOUBLE_MAX];
    vg_fmt_double(fabs(v) < ch->ystep * 1e-9 ? 0 : v, b);
    fprintf(out,
            "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" "
            "stroke=\"#eee\"/>\n<text class=\"tick-label\" x=\"%d\" y=\"%.2f\" "
            "text-anchor=\"end\">%s</text>\n",
            PLOT_L, y, PLOT_L + pw, y, PLOT_L - 6, y + 4, b);
  }
  struct vg_calendar cal;
  if (vg_calendar_init(&cal, tz, 60) == 0)
    time_ticks(out, &cal, ch->t0, ch->t1, PLOT_L, ch->pxs);
  fprintf(
      out,
      "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
      "fill=\"none\" stroke=\"#888\"/>\n"
      "<text class=\"axis-label\" x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">local time "
      "(",
      PLOT_L, PLOT_T, pw, ph, PLOT_L + pw / 2, PLOT_H - 12);
  xml_text(out, vg_tz_name(tz));
  fprintf(out,
          ")</text>\n<text class=\"axis-label\" transform=\"translate(16 %.0f) "
          "rotate(-90)\" text-anchor=\"middle\">",
          PLOT_T + ph / 2);
  plot_label(out, &ch->metrics, unit);
  fputs("</text>\n", out);
}

/* The min-max band of points [i, j) (one series): one closed shape per run
 * of adjacent windows with min and max. */
static void chart_band(const struct chart *ch, size_t i, size_t j, const char *key,
                       const char *color) {
  const struct ppoint *p = ch->p;
  int any = 0;
  for (size_t a = i; a < j;) {
    size_t b = a;
    if (!(isfinite(p[a].min) && isfinite(p[a].max))) {
      a++;
      continue;
    }
    while (b + 1 < j && isfinite(p[b + 1].min) && isfinite(p[b + 1].max) &&
           p[b + 1].start == p[b].end)
      b++;
    if (!any) {
      fprintf(ch->out, "<path class=\"band\" data-series=\"");
      xml_text(ch->out, key);
      fprintf(ch->out, "\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"",
              color);
      any = 1;
    }
    for (size_t k = a; k <= b; k++)
      path_point(ch, k == a ? 'M' : 'L', k, p[k].max);
    for (size_t k = b + 1; k-- > a;)
      path_point(ch, 'L', k, p[k].min);
    fputs("Z ", ch->out);
    a = b + 1;
  }
  if (any)
    fputs("\"/>\n", ch->out);
}

/* The line of means of points [i, j): a point per window with a mean,
 * broken at missing windows. */
static void chart_line(const struct chart *ch, size_t i, size_t j, const char *key,
                       const char *color) {
  const struct ppoint *p = ch->p;
  fprintf(ch->out, "<path class=\"line\" data-series=\"");
  xml_text(ch->out, key);
  fprintf(ch->out,
          "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
          "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"",
          color);
  int open = 0;
  for (size_t k = i; k < j; k++) {
    if (!isfinite(p[k].mean)) {
      open = 0;
      continue;
    }
    int cont = open && p[k].start == p[k - 1].end;
    int next = k + 1 < j && isfinite(p[k + 1].mean) && p[k + 1].start == p[k].end;
    path_point(ch, cont ? 'L' : 'M', k, p[k].mean);
    if (!cont && !next)
      fputs("Z ", ch->out); /* a lone window: a dot (round cap) */
    open = 1;
  }
  fputs("\"/>\n", ch->out);
}

/* The legend entry of series si: as many series as fit, then how many
 * more. */
static void chart_legend(const struct chart *ch, size_t si, const char *key,
                         const char *color) {
  const size_t maxleg = (PLOT_H - PLOT_T - PLOT_B) / 18;
  const double lx = PLOT_L + ch->pw, ly = PLOT_T + 10 + (double)si * 18;
  if (si + 1 == maxleg && ch->nser > maxleg)
    fprintf(ch->out, "<text class=\"legend\" x=\"%.0f\" y=\"%.0f\">and %zu more</text>\n",
            lx + 38, ly + 4, ch->nser - si);
  if (si + 1 >= maxleg && ch->nser > maxleg)
    return;
  fprintf(ch->out,
          "<line class=\"legend-mark\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
          "stroke=\"%s\" stroke-width=\"3\"/>\n<text class=\"legend\" x=\"%.0f\" "
          "y=\"%.0f\">",
          lx + 12, ly, lx + 32, ly, color, lx + 38, ly + 4);
  legend_label(ch->out, key, ch->metrics.n > 1);
  fputs("</text>\n", ch->out);
}

int write_plot(FILE *out, const struct rows *r, const struct vg_tz *tz, const char *res,
               const char *unit) {
  static const char *const colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                       "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                       "#bcbd22", "#17becf"};
  struct chart ch = {.out = out};
  int rc = chart_init(&ch, r, tz);
  if (rc)
    goto done;
  chart_axes(&ch, tz, res, unit);
  size_t si = 0;
  for (size_t i = 0, j; i < ch.n; i = j, si++) {
    for (j = i; j < ch.n && ch.p[j].series == ch.p[i].series; j++)
      ;
    const char *color = colors[si % (sizeof colors / sizeof *colors)];
    const char *key = r->c[i * r->ncols + 2].s;
    chart_band(&ch, i, j, key, color);
    chart_line(&ch, i, j, key, color);
    chart_legend(&ch, si, key, color);
  }
  if (!ch.n)
    fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">no data</text>\n",
            PLOT_L + ch.pw / 2, PLOT_T + ch.ph / 2);
  fputs("</g>\n</svg>\n", out);
done:
  names_release(&ch.metrics);
  free(ch.p);
  if (!rc && (fflush(out) || ferror(out)))
    rc = -EIO;
  return rc;
}
