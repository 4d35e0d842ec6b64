/*
 * SVG line charts (chart.h): the one drawing of `vigieq plot` and of the
 * dashboard's cards.
 *
 * The chart is written in one pass over borrowed points, with no
 * allocation: a first walk finds the axes' ranges (and what the text
 * alternative summarises), then the frame, the grid and the ticks, then
 * each series' band, line, dots and legend entry. Pixel positions are
 * printed "%.2f" and the plot area's mapping repeated as data-* attributes,
 * so that a reader turns points back into instants and values.
 */
#include "vigie/chart.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/publish.h"

static const char *const palette[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                      "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                                      "#bcbd22", "#17becf"};

/* The chart being drawn: what c asks, the ranges its points span and the
 * plot area's mapping of time and value to pixels. */
struct draw {
  FILE *out;
  const struct vg_chart *c;
  const char *id;
  int fs;                 /* font size */
  int64_t t0, t1;         /* the time axis (UTC s) */
  double y0, y1, ystep;   /* the value axis and its step */
  double pw, ph;          /* plot area size */
  double pxs, pys;        /* pixels per second, per unit of value */
  size_t npoints, nvalue; /* points; points with a value */
  double vmin, vmax;      /* of the values (not of the bands) */
  int en;                 /* English words */
};

/* v as the chart prints it: raw without a language, else for people, with
 * at most `decimals` decimals (< 0: vg_fmt_human's choice). */
static const char *num(const struct draw *d, double v, int decimals,
                       char buf[VG_FMT_HUMAN_MAX]) {
  if (d->c->lang)
    vg_fmt_human(v, decimals, d->c->lang, buf);
  else
    vg_fmt_double(v, buf);
  return buf;
}

static const char *human(const struct draw *d, double v, char buf[VG_FMT_HUMAN_MAX]) {
  vg_fmt_human(v, -1, d->en ? "en" : "fr", buf);
  return buf;
}

/* A round step (1, 2 or 5 times a power of ten) for about n intervals. */
static double nice_step(double range, int n) {
  double raw = range / n, p = pow(10, floor(log10(raw))), f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

static double x_of(const struct draw *d, int64_t t) {
  return d->c->left + (double)(t - d->t0) * d->pxs;
}

static double y_of(const struct draw *d, double v) {
  return d->c->top + d->ph - (v - d->y0) * d->pys;
}

/* The ranges of the axes: the time the points span, the values (with the
 * bands and the target) rounded out to a step of about one per 40 px. */
static void measure(struct draw *d, const struct vg_chart_series *s, size_t ns) {
  const struct vg_chart *c = d->c;
  int64_t t0 = INT64_MAX, t1 = INT64_MIN;
  double y0 = INFINITY, y1 = -INFINITY;
  d->vmin = INFINITY;
  d->vmax = -INFINITY;
  for (size_t i = 0; i < ns; i++)
    for (size_t k = 0; k < s[i].n; k++) {
      const struct vg_chart_point *p = &s[i].p[k];
      d->npoints++;
      t0 = p->start < t0 ? p->start : t0;
      t1 = p->end > t1 ? p->end : t1;
      for (int j = 0; j < 3; j++) {
        double v = j == 0 ? p->value : j == 1 ? p->min : p->max;
        if (isfinite(v)) {
          y0 = v < y0 ? v : y0;
          y1 = v > y1 ? v : y1;
        }
      }
      if (isfinite(p->value)) {
        d->nvalue++;
        d->vmin = p->value < d->vmin ? p->value : d->vmin;
        d->vmax = p->value > d->vmax ? p->value : d->vmax;
      }
    }
  if (c->has_target && isfinite(c->target)) {
    y0 = c->target < y0 ? c->target : y0;
    y1 = c->target > y1 ? c->target : y1;
  }
  if (!d->npoints) {
    t0 = 0;
    t1 = 1;
  }
  if (t1 <= t0)
    t1 = t0 + 1;
  if (!(y0 <= y1)) { /* no value at all */
    y0 = 0;
    y1 = 1;
  }
  if (y0 == y1) {
    double dy = y0 ? fabs(y0) / 10 : 1;
    y0 -= dy;
    y1 += dy;
  }
  d->pw = c->width - c->left - c->right;
  d->ph = c->height - c->top - c->bottom;
  int steps = (int)(d->ph / 40);
  d->ystep = nice_step(y1 - y0, steps < 2 ? 2 : steps > 5 ? 5 : steps);
  d->y0 = floor(y0 / d->ystep) * d->ystep;
  d->y1 = ceil(y1 / d->ystep) * d->ystep;
  d->t0 = t0;
  d->t1 = t1;
  d->pxs = d->pw / (double)(t1 - t0);
  d->pys = d->ph / (d->y1 - d->y0);
}

/* The local date of t, "YYYY-MM-DD". */
static const char *local_date(const struct draw *d, int64_t t, char buf[VG_FMT_ISO_MAX]) {
  vg_fmt_iso(t, d->c->tz, buf);
  buf[10] = 0;
  return buf;
}

/* The text alternative when the caller gives none: the series, the span,
 * the values' range and the target -- for people, so its numbers are
 * vg_fmt_human's (in English without a language). */
static void summary(const struct draw *d, size_t ns) {
  FILE *out = d->out;
  const struct vg_chart *c = d->c;
  char a[VG_FMT_ISO_MAX], b[VG_FMT_ISO_MAX], lo[VG_FMT_HUMAN_MAX], hi[VG_FMT_HUMAN_MAX];
  if (!d->npoints) {
    fputs(d->en ? "No data." : "Aucune donnée.", out);
    return;
  }
  local_date(d, d->t0, a);
  local_date(d, d->t1 - 1, b);
  if (d->en)
    fprintf(out, "%zu series, %s to %s (", ns, a, b);
  else
    fprintf(out, "%zu série%s, du %s au %s (", ns, ns > 1 ? "s" : "", a, b);
  vg_xml_text(out, vg_tz_name(c->tz));
  if (!d->nvalue)
    fputs(d->en ? "): no value" : ")\xc2\xa0: aucune valeur", out);
  else
    fprintf(out,
            d->en ? "): %zu values from %s to %s" : ")\xc2\xa0: %zu valeurs de %s à %s",
            d->nvalue, human(d, d->vmin, lo), human(d, d->vmax, hi));
  if (c->has_target)
    fprintf(out, d->en ? "; target %s" : "\xc2\xa0; objectif %s",
            human(d, c->target, lo));
  fputc('.', out);
}

/* The opening tag, the accessible name and description, the heading. */
static void head(const struct draw *d, size_t ns) {
  FILE *out = d->out;
  const struct vg_chart *c = d->c;
  const char *title = c->title ? c->title : c->heading;
  if (c->standalone)
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" ",
          out);
  else
    fputs("<svg ", out);
  fprintf(
      out,
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" aria-labelledby=\"",
      c->width, c->height, c->width, c->height);
  if (title) {
    vg_xml_text(out, d->id);
    fputs("-title ", out);
  }
  vg_xml_text(out, d->id);
  fprintf(out, "-desc\" font-family=\"sans-serif\" font-size=\"%d\">\n", d->fs);
  if (title) {
    fputs("<title id=\"", out);
    vg_xml_text(out, d->id);
    fputs("-title\">", out);
    vg_xml_text(out, title);
    fputs("</title>\n", out);
  }
  fputs("<desc id=\"", out);
  vg_xml_text(out, d->id);
  fputs("-desc\">", out);
  if (c->desc)
    vg_xml_text(out, c->desc);
  else
    summary(d, ns);
  fputs("</desc>\n", out);
  if (c->standalone)
    fputs("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n", out);
  if (c->heading) {
    fprintf(out, "<text class=\"title\" x=\"%d\" y=\"%d\" font-size=\"%d\">", c->left,
            2 * d->fs, d->fs * 4 / 3);
    vg_xml_text(out, c->heading);
    fputs("</text>\n", out);
  }
}

/* Time ticks: every `step` local hours, days, months or years, at most
 * max_ticks (one per 80 px); a label needs room, so a tick too close to the
 * last one, or whose label would stick out of the image, is left out. */
enum { TICK_HOUR, TICK_DAY, TICK_MONTH, TICK_YEAR };

static void time_ticks(const struct draw *d, struct vg_calendar *cal) {
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
  const struct vg_chart *c = d->c;
  const int64_t t0 = d->t0, t1 = d->t1,
                most = c->max_ticks > 0 ? c->max_ticks
                       : d->pw >= 160   ? (int64_t)(d->pw / 80)
                                        : 2;
  const double gap = 64.0 * d->fs / 12;
  const double ybot = c->top + d->ph;
  size_t k = 0;
  while (k + 1 < sizeof kinds / sizeof *kinds && (t1 - t0) / kinds[k].len > most)
    k++;
  int kind = kinds[k].kind, step = kinds[k].step;
  struct vg_span s =
      kind == TICK_HOUR ? vg_calendar_hour(cal, t0) : vg_calendar_day(cal, t0);
  int64_t t = s.start < t0 ? s.end : s.start;
  char iso[VG_FMT_ISO_MAX], label[16];
  double last_x = -1e9;
  for (int n = 0; t <= t1 && n < 100000; n++) {
    vg_fmt_iso(t, c->tz, iso); /* YYYY-MM-DDTHH:MM:SS+hh:mm, local */
    int y = atoi(iso), mo = atoi(iso + 5), day = atoi(iso + 8), h = atoi(iso + 11), on;
    switch (kind) {
    case TICK_HOUR:
      on = h % step == 0;
      snprintf(label, sizeof label, "%.5s", h == 0 ? iso + 5 : iso + 11);
      break;
    case TICK_DAY:
      on = (day - 1) % step == 0;
      snprintf(label, sizeof label, "%.10s", iso);
      break;
    case TICK_MONTH:
      on = day == 1 && (mo - 1) % step == 0;
      snprintf(label, sizeof label, "%.7s", iso);
      break;
    default:
      on = day == 1 && mo == 1 && y % step == 0;
      snprintf(label, sizeof label, "%.4s", iso);
    }
    double x = x_of(d, t), half = 0.3 * d->fs * (double)strlen(label);
    if (on && x - last_x >= gap && x - half >= 0 && x + half <= c->width) {
      last_x = x;
      fprintf(d->out,
              "<line class=\"tick\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%.0f\" "
              "stroke=\"#ddd\"/>\n<text class=\"tick-label\" data-time=\"%" PRId64
              "\" x=\"%.2f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
              x, c->top, x, ybot, t, x, ybot + d->fs + 6, label);
    }
    s = kind == TICK_HOUR ? vg_calendar_hour(cal, t) : vg_calendar_day(cal, t);
    t = s.end;
  }
}

/* The plot area's mapping (data-*), the value grid, the time ticks, the
 * frame and the axis labels. */
static void axes(const struct draw *d) {
  FILE *out = d->out;
  const struct vg_chart *c = d->c;
  fprintf(out,
          "<g class=\"plot\" data-x=\"%d\" data-y=\"%d\" data-width=\"%.0f\" "
          "data-height=\"%.0f\" data-t0=\"%" PRId64 "\" data-t1=\"%" PRId64
          "\" data-y0=\"%.17g\" data-y1=\"%.17g\">\n",
          c->left, c->top, d->pw, d->ph, d->t0, d->t1, d->y0, d->y1);
  /* decimals of the step: 0.5 -> 1, 0.05 -> 2 (ticks are its multiples) */
  int dec = (int)ceil(-log10(d->ystep) - 1e-9);
  for (int k = 0; k <= (int)llround((d->y1 - d->y0) / d->ystep); k++) {
    double v = d->y0 + k * d->ystep, y = y_of(d, v);
    char b[VG_FMT_HUMAN_MAX];
    num(d, fabs(v) < d->ystep * 1e-9 ? 0 : v, dec < 0 ? 0 : dec, b);
    fprintf(out,
            "<line class=\"grid\" x1=\"%d\" y1=\"%.2f\" x2=\"%.0f\" y2=\"%.2f\" "
            "stroke=\"#eee\"/>\n<text class=\"tick-label\" x=\"%d\" y=\"%.2f\" "
            "text-anchor=\"end\">%s</text>\n",
            c->left, y, c->left + d->pw, y, c->left - 6, y + d->fs / 3, b);
  }
  struct vg_calendar cal;
  if (vg_calendar_init(&cal, c->tz, 60) == 0)
    time_ticks(d, &cal);
  fprintf(out,
          "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" "
          "fill=\"none\" stroke=\"#888\"/>\n",
          c->left, c->top, d->pw, d->ph);
  if (c->time_label) {
    fprintf(out, "<text class=\"axis-label\" x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">",
            c->left + d->pw / 2, c->height - d->fs);
    vg_xml_text(out, c->time_label);
    fputs("</text>\n", out);
  }
  if (c->value_label) {
    fprintf(out,
            "<text class=\"axis-label\" transform=\"translate(%d %.0f) rotate(-90)\" "
            "text-anchor=\"middle\">",
            d->fs + 4, c->top + d->ph / 2);
    vg_xml_text(out, c->value_label);
    fputs("</text>\n", out);
  }
}

/* The dashed target line, its label above it (below when there is no room
 * above). */
static void target(const struct draw *d) {
  const struct vg_chart *c = d->c;
  if (!c->has_target || !isfinite(c->target))
    return;
  double y = y_of(d, c->target), x1 = c->left + d->pw;
  char b[VG_FMT_HUMAN_MAX];
  fprintf(d->out,
          "<line class=\"target\" data-value=\"%.17g\" x1=\"%d\" y1=\"%.2f\" x2=\"%.0f\" "
          "y2=\"%.2f\" stroke=\"#444\" stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\n"
          "<text class=\"target-label\" x=\"%.0f\" y=\"%.2f\" text-anchor=\"end\" "
          "fill=\"#333\" stroke=\"#fff\" stroke-width=\"3\" paint-order=\"stroke\">",
          c->target, c->left, y, x1, y, x1 - 4,
          y - d->fs - 2 >= c->top ? y - 4 : y + d->fs + 2);
  vg_xml_text(d->out, c->target_label ? c->target_label : num(d, c->target, -1, b));
  fputs("</text>\n", d->out);
}

/* A point at the middle of span p, at value v; cmd 'M' or 'L'. */
static void path_point(const struct draw *d, char cmd, const struct vg_chart_point *p,
                       double v) {
  fprintf(d->out, "%c%.2f %.2f ", cmd, x_of(d, (p->start + p->end) / 2), y_of(d, v));
}

static int has_band(const struct vg_chart_point *p) {
  return isfinite(p->min) && isfinite(p->max);
}

/* The min-max band of a series: one closed shape per run of adjacent
 * points with min and max. */
static void band(const struct draw *d, const struct vg_chart_series *s,
                 const char *color) {
  const struct vg_chart_point *p = s->p;
  int any = 0;
  for (size_t a = 0; a < s->n;) {
    size_t b = a;
    if (!has_band(&p[a])) {
      a++;
      continue;
    }
    while (b + 1 < s->n && has_band(&p[b + 1]) && p[b + 1].start == p[b].end)
      b++;
    if (!any) {
      fputs("<path class=\"band\" data-series=\"", d->out);
      vg_xml_text(d->out, s->key ? s->key : "");
      fprintf(d->out, "\" fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", color);
      any = 1;
    }
    for (size_t k = a; k <= b; k++)
      path_point(d, k == a ? 'M' : 'L', &p[k], p[k].max);
    for (size_t k = b + 1; k-- > a;)
      path_point(d, 'L', &p[k], p[k].min);
    fputs("Z ", d->out);
    a = b + 1;
  }
  if (any)
    fputs("\"/>\n", d->out);
}

/* The line of a series: a point per value, broken where a value is missing
 * or a span does not follow the last; then its dots. */
static void line(const struct draw *d, const struct vg_chart_series *s,
                 const char *color) {
  const struct vg_chart_point *p = s->p;
  fputs("<path class=\"line\" data-series=\"", d->out);
  vg_xml_text(d->out, s->key ? s->key : "");
  fprintf(d->out,
          "\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
          "stroke-linejoin=\"round\" stroke-linecap=\"round\" d=\"",
          color);
  int open = 0;
  for (size_t k = 0; k < s->n; k++) {
    if (!isfinite(p[k].value)) {
      open = 0;
      continue;
    }
    int cont = open && p[k].start == p[k - 1].end;
    int next = k + 1 < s->n && isfinite(p[k + 1].value) && p[k + 1].start == p[k].end;
    path_point(d, cont ? 'L' : 'M', &p[k], p[k].value);
    if (!cont && !next)
      fputs("Z ", d->out); /* a lone point: a dot (round cap) */
    open = 1;
  }
  fputs("\"/>\n", d->out);
  for (size_t k = 0; d->c->dots && k < s->n; k++)
    if (isfinite(p[k].value))
      fprintf(d->out,
              "<circle class=\"dot\" cx=\"%.2f\" cy=\"%.2f\" r=\"%.1f\" fill=\"%s\"/>\n",
              x_of(d, (p[k].start + p[k].end) / 2), y_of(d, p[k].value), d->fs / 4.0,
              color);
}

/* The legend entry of series si: as many as fit, then how many more. */
static void legend(const struct draw *d, size_t si, size_t ns,
                   const struct vg_chart_series *s, const char *color) {
  const size_t maxleg = (size_t)(d->ph / 18);
  const double lx = d->c->left + d->pw, ly = d->c->top + 10 + (double)si * 18;
  if (si + 1 == maxleg && ns > maxleg)
    fprintf(d->out,
            d->en ? "<text class=\"legend\" x=\"%.0f\" y=\"%.0f\">and %zu more</text>\n"
                  : "<text class=\"legend\" x=\"%.0f\" y=\"%.0f\">et %zu autres</text>\n",
            lx + 38, ly + 4, ns - si);
  if (si + 1 >= maxleg && ns > maxleg)
    return;
  fprintf(d->out,
          "<line class=\"legend-mark\" x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
          "stroke=\"%s\" stroke-width=\"3\"/>\n<text class=\"legend\" x=\"%.0f\" "
          "y=\"%.0f\">",
          lx + 12, ly, lx + 32, ly, color, lx + 38, ly + 4);
  if (s->tooltip) {
    fputs("<title>", d->out);
    vg_xml_text(d->out, s->tooltip);
    fputs("</title>", d->out);
  }
  vg_xml_text(d->out, s->label);
  fputs("</text>\n", d->out);
}

int vg_chart_svg(FILE *out, const struct vg_chart *c, const struct vg_chart_series *s,
                 size_t ns) {
  if (!c->tz || c->width - c->left - c->right <= 0 || c->height - c->top - c->bottom <= 0)
    return -EINVAL;
  struct draw d = {.out = out,
                   .c = c,
                   .id = c->id ? c->id : "chart",
                   .fs = c->font_size > 0 ? c->font_size : 12,
                   .en = !c->lang || strcmp(c->lang, "fr") != 0};
  measure(&d, s, ns);
  head(&d, ns);
  axes(&d);
  target(&d);
  for (size_t i = 0; i < ns; i++) {
    const char *color =
        s[i].color ? s[i].color : palette[i % (sizeof palette / sizeof *palette)];
    band(&d, &s[i], color);
    line(&d, &s[i], color);
    if (s[i].label)
      legend(&d, i, ns, &s[i], color);
  }
  if (!d.npoints)
    fprintf(out, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%s</text>\n",
            c->left + d.pw / 2, c->top + d.ph / 2, d.en ? "no data" : "aucune donnée");
  fputs("</g>\n</svg>\n", out);
  return ferror(out) ? -EIO : 0;
}
