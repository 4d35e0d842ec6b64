/* Unit tests of the SVG chart (chart.h), read back the way a reader of the
 * image would: the line's points turned back into instants and values
 * through the plot area's data-* mapping, the target line's position, the
 * breaks at gaps, the time ticks at local boundaries of the zone, the text
 * alternative and the escaping of every text. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/calendar.h"
#include "vigie/chart.h"
#include "vigie/publish.h"
#include "vigie/tz.h"

static struct vg_tz *paris;

static int setup(void **state) {
  (void)state;
  char err[256];
  return vg_tz_load("Europe/Paris", &paris, err, sizeof err);
}

static int teardown(void **state) {
  (void)state;
  vg_tz_free(paris);
  return 0;
}

static char *render(const struct vg_chart *c, const struct vg_chart_series *s,
                    size_t ns) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  assert_non_null(f);
  assert_int_equal(vg_chart_svg(f, c, s, ns), 0);
  assert_int_equal(fclose(f), 0);
  return out;
}

/* The value of attribute name in the tag that starts at tag; NULL when the
 * tag has none. Copied into buf. */
static const char *attr(const char *tag, const char *name, char *buf, size_t size) {
  const char *end = strchr(tag, '>');
  char pat[64];
  snprintf(pat, sizeof pat, " %s=\"", name);
  const char *a = strstr(tag, pat);
  if (!a || a > end)
    return NULL;
  a += strlen(pat);
  size_t n = strcspn(a, "\"");
  assert_true(n < size);
  memcpy(buf, a, n);
  buf[n] = 0;
  return buf;
}

static double attr_num(const char *tag, const char *name) {
  char b[64];
  assert_non_null(attr(tag, name, b, sizeof b));
  return strtod(b, NULL);
}

/* The plot area's mapping. */
struct map {
  double x, y, w, h, t0, t1, y0, y1;
};

static struct map plot_map(const char *svg) {
  const char *g = strstr(svg, "<g class=\"plot\"");
  assert_non_null(g);
  return (struct map){attr_num(g, "data-x"),     attr_num(g, "data-y"),
                      attr_num(g, "data-width"), attr_num(g, "data-height"),
                      attr_num(g, "data-t0"),    attr_num(g, "data-t1"),
                      attr_num(g, "data-y0"),    attr_num(g, "data-y1")};
}

static double t_of(const struct map *m, double x) {
  return m->t0 + (x - m->x) / m->w * (m->t1 - m->t0);
}

static double v_of(const struct map *m, double y) {
  return m->y0 + (m->y + m->h - y) / m->h * (m->y1 - m->y0);
}

/* The commands of the line of series key (at most 64), its points turned
 * back into instants and values; the number of points. "Z" counts as a
 * command of its own (t, v unset). */
static size_t line_points(const char *svg, const char *key, char *cmd, double *t,
                          double *v) {
  char pat[256], d[8192];
  snprintf(pat, sizeof pat, "<path class=\"line\" data-series=\"%s\"", key);
  const char *p = strstr(svg, pat);
  assert_non_null(p);
  assert_non_null(attr(p, "d", d, sizeof d));
  struct map m = plot_map(svg);
  size_t n = 0;
  for (const char *s = d; *s;) {
    if (*s == ' ') {
      s++;
      continue;
    }
    assert_true(n < 64);
    cmd[n] = *s;
    if (*s == 'Z') {
      s++;
      n++;
      continue;
    }
    char *e;
    double x = strtod(s + 1, &e), y = strtod(e, &e);
    t[n] = t_of(&m, x);
    v[n] = v_of(&m, y);
    n++;
    s = e;
  }
  return n;
}

static size_t count(const char *s, const char *what) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
    n++;
  return n;
}

/* UTC start of local midnight, day 1 of month mo (1-based, may pass 12) of y
 * in Paris. */
static int64_t month_start(int y, int mo) {
  y += (mo - 1) / 12;
  mo = (mo - 1) % 12 + 1;
  return vg_tz_local_to_utc(paris, vg_days_from_civil(y, (unsigned)mo, 1) * 86400, 0,
                            NULL);
}

/* The dashboard's card chart: 12 months of Paris (two DST changes). */
static struct vg_chart card_chart(void) {
  return (struct vg_chart){.width = 320,
                           .height = 120,
                           .left = 44,
                           .right = 10,
                           .top = 8,
                           .bottom = 22,
                           .font_size = 10,
                           .tz = paris,
                           .lang = "fr",
                           .id = "c1",
                           .title = "Passages",
                           .dots = 1};
}

static void months(struct vg_chart_point *p, size_t n, double base, double step) {
  for (size_t k = 0; k < n; k++)
    p[k] = (struct vg_chart_point){month_start(2018, (int)k + 1),
                                   month_start(2018, (int)k + 2), base + step * (double)k,
                                   NAN, NAN};
}

/* Each point is at the middle of its period and at its value, within a
 * pixel; the dots too; the time ticks fall on local first days of months,
 * the value ticks read as French numbers. */
static void points_map_back_to_values(void **state) {
  (void)state;
  struct vg_chart_point p[12];
  months(p, 12, 28000, 450.5);
  struct vg_chart c = card_chart();
  struct vg_chart_series s = {.key = "velo", .p = p, .n = 12};
  char *svg = render(&c, &s, 1);
  struct map m = plot_map(svg);
  assert_true(m.t0 == (double)p[0].start && m.t1 == (double)p[11].end);
  assert_true(m.y0 <= 28000 && m.y1 >= 28000 + 11 * 450.5);
  char cmd[64];
  double t[64], v[64];
  size_t n = line_points(svg, "velo", cmd, t, v);
  assert_int_equal(n, 12);
  const double px_t = (m.t1 - m.t0) / m.w, px_v = (m.y1 - m.y0) / m.h;
  for (size_t k = 0; k < n; k++) {
    assert_int_equal(cmd[k], k ? 'L' : 'M');
    assert_true(fabs(t[k] - (double)(p[k].start + p[k].end) / 2) <= px_t);
    assert_true(fabs(v[k] - p[k].value) <= px_v);
  }
  /* a dot per value, where the line's point is */
  assert_int_equal(count(svg, "<circle class=\"dot\""), 12);
  const char *dot = strstr(svg, "<circle class=\"dot\"");
  assert_true(fabs(v_of(&m, attr_num(dot, "cy")) - p[0].value) <= px_v);
  /* ticks: local midnights of first days, inside the axis, labelled */
  size_t nticks = 0;
  for (const char *q = svg; (q = strstr(q, "<text class=\"tick-label\" data-time=\""));
       q++) {
    int64_t tt = (int64_t)attr_num(q, "data-time");
    char iso[VG_FMT_ISO_MAX];
    vg_fmt_iso(tt, paris, iso);
    assert_true(tt >= p[0].start && tt <= p[11].end);
    assert_memory_equal(iso + 7, "-01T00:00:00", 12);
    char label[16];
    snprintf(label, sizeof label, ">%.7s<", iso);
    assert_non_null(strstr(q, label));
    nticks++;
  }
  assert_true(nticks >= 2 && nticks <= 4);
  /* value ticks: "28 000" with a narrow no-break space, no raw 28000 */
  assert_non_null(strstr(svg, "\xe2\x80\xaf"
                              "000</text>"));
  assert_null(strstr(svg, ">28000<"));
  free(svg);
}

/* The target line is at the target's value, dashed, labelled, inside the
 * value axis even when every value is on one side of it. */
static void target_line_at_its_value(void **state) {
  (void)state;
  struct vg_chart_point p[12];
  months(p, 12, 10, 1);
  const double targets[] = {35, 2.5, 15};
  for (size_t i = 0; i < 3; i++) {
    struct vg_chart c = card_chart();
    c.has_target = 1;
    c.target = targets[i];
    c.target_label = "objectif \xe2\x89\xa4 35";
    struct vg_chart_series s = {.key = "k", .p = p, .n = 12};
    char *svg = render(&c, &s, 1);
    struct map m = plot_map(svg);
    assert_true(m.y0 <= targets[i] && targets[i] <= m.y1);
    assert_true(m.y0 <= 10 && 21 <= m.y1);
    const char *l = strstr(svg, "<line class=\"target\"");
    assert_non_null(l);
    assert_true(attr_num(l, "data-value") == targets[i]);
    double y = attr_num(l, "y1");
    assert_true(y == attr_num(l, "y2"));
    assert_true(fabs(v_of(&m, y) - targets[i]) <= (m.y1 - m.y0) / m.h / 2);
    assert_true(attr_num(l, "x1") == m.x && attr_num(l, "x2") == m.x + m.w);
    assert_non_null(strstr(l, "stroke-dasharray=\""));
    const char *lab = strstr(l, "<text class=\"target-label\"");
    assert_non_null(lab);
    assert_non_null(strstr(lab, ">objectif \xe2\x89\xa4 35</text>"));
    double ly = attr_num(lab, "y"); /* inside the plot area, near the line */
    assert_true(ly >= m.y && ly <= m.y + m.h + 12 && fabs(ly - y) <= 14);
    free(svg);
  }
  /* no target: no line; a target without a label shows its number */
  struct vg_chart c = card_chart();
  struct vg_chart_series s = {.key = "k", .p = p, .n = 12};
  char *svg = render(&c, &s, 1);
  assert_null(strstr(svg, "class=\"target"));
  free(svg);
  c.has_target = 1;
  c.target = 12.5;
  svg = render(&c, &s, 1);
  assert_non_null(strstr(svg, ">12,5</text>"));
  free(svg);
}

/* Eight years on a card: one per 80 px leaves a single tick (every 5
 * years); max_ticks 8 asks for every year and keeps the labels that fit,
 * apart from each other and inside the image. */
static void ticks_thin_out_to_fit(void **state) {
  (void)state;
  struct vg_chart_point p[8];
  for (int k = 0; k < 8; k++)
    p[k] = (struct vg_chart_point){month_start(2011 + k, 1), month_start(2012 + k, 1), k,
                                   NAN, NAN};
  struct vg_chart c = card_chart();
  struct vg_chart_series s = {.key = "y", .p = p, .n = 8};
  for (int max = 0; max <= 8; max += 8) {
    c.max_ticks = max;
    char *svg = render(&c, &s, 1);
    double last = -1e9;
    size_t n = 0;
    for (const char *q = svg; (q = strstr(q, "<text class=\"tick-label\" data-time=\""));
         q++) {
      char iso[VG_FMT_ISO_MAX];
      vg_fmt_iso((int64_t)attr_num(q, "data-time"), paris, iso);
      assert_memory_equal(iso + 4, "-01-01T00:00:00", 15);
      double x = attr_num(q, "x");
      assert_true(x - last >= 64.0 * 10 / 12 && x - 12 >= 0 && x + 12 <= c.width);
      last = x;
      n++;
    }
    assert_int_equal(n, max ? 4 : 1); /* 2011, 2013, 2015, 2017 | 2015 */
    free(svg);
  }
}

/* A missing value or a span that does not follow the last starts a new
 * piece of line ("M"); a lone point is a dot ("Z"); the band covers the
 * runs that keep min and max. */
static void gaps_break_the_line(void **state) {
  (void)state;
  struct vg_chart_point p[10];
  months(p, 10, 5, 1);
  p[3].value = NAN;             /* a gap */
  p[6].start += 86400;          /* a span that does not follow p[5] */
  p[8].value = NAN;             /* p[9] alone */
  for (int k = 0; k < 3; k++) { /* the band of the first run */
    p[k].min = p[k].value - 1;
    p[k].max = p[k].value + 1;
  }
  struct vg_chart c = card_chart();
  c.lang = NULL;
  struct vg_chart_series s = {.key = "g", .p = p, .n = 10};
  char *svg = render(&c, &s, 1);
  char cmd[64];
  double t[64], v[64];
  size_t n = line_points(svg, "g", cmd, t, v);
  cmd[n] = 0;
  /* values at 0 1 2 | 4 5 | 6 7 | 9 (alone) */
  assert_string_equal(cmd, "MLLMLMLMZ");
  struct map m = plot_map(svg);
  const double px_v = (m.y1 - m.y0) / m.h;
  const size_t at[] = {0, 1, 2, 4, 5, 6, 7, 9};
  for (size_t i = 0, k = 0; i < n; i++)
    if (cmd[i] != 'Z')
      assert_true(fabs(v[i] - p[at[k++]].value) <= px_v);
  assert_int_equal(count(svg, "<circle class=\"dot\""), 8);
  const char *b = strstr(svg, "<path class=\"band\" data-series=\"g\"");
  assert_non_null(b);
  char d[4096];
  attr(b, "d", d, sizeof d);
  assert_int_equal(count(d, "Z"), 1);
  assert_int_equal(count(d, "M"), 1);
  assert_int_equal(count(d, "L"), 5); /* 3 maxima, 3 minima */
  free(svg);
}

/* No raw markup character outside tags, and attribute quotes paired: a
 * reader's first checks of well-formed XML. */
static void assert_markup_sane(const char *svg) {
  for (const char *p = svg; *p; p++) {
    if (*p == '>')
      fail_msg("a '>' outside a tag: ...%.40s", p > svg + 20 ? p - 20 : svg);
    if (*p != '<')
      continue;
    assert_true(p[1] == '/' || p[1] == '?' || (p[1] >= 'a' && p[1] <= 'z'));
    const char *e = strchr(p, '>');
    assert_non_null(e);
    size_t quotes = 0;
    for (const char *q = p; q < e; q++) {
      assert_true(*q != '<' || q == p);
      quotes += *q == '"';
    }
    assert_int_equal(quotes % 2, 0);
    p = e;
  }
}

/* Titles, labels, keys and the description from configs and keys are
 * escaped wherever they land; the tags balance. */
static void titles_are_escaped(void **state) {
  (void)state;
  struct vg_chart_point p[3];
  months(p, 3, 1, 1);
  const char *hostile = "Qualit\xc3\xa9 <b>&amp; \"\xc2\xb5g/m\xc2\xb3\" 'x'";
  const char *escaped =
      "Qualit\xc3\xa9 &lt;b&gt;&amp;amp; &quot;\xc2\xb5g/m\xc2\xb3&quot; &apos;x&apos;";
  struct vg_chart c = {.width = 1000,
                       .height = 480,
                       .left = 72,
                       .right = 270,
                       .top = 44,
                       .bottom = 56,
                       .standalone = 1,
                       .tz = paris,
                       .id = "a\"b",
                       .title = hostile,
                       .heading = hostile,
                       .desc = hostile,
                       .time_label = hostile,
                       .value_label = hostile,
                       .has_target = 1,
                       .target = 2,
                       .target_label = hostile};
  struct vg_chart_series s = {
      .key = "no2{site=\"<&>\"}", .label = hostile, .tooltip = hostile, .p = p, .n = 3};
  char *svg = render(&c, &s, 1);
  assert_null(strstr(svg, "<b>"));
  assert_int_equal(count(svg, escaped), 8); /* title, heading, desc, 2 axes,
                                             * target, legend and its title */
  assert_non_null(strstr(svg, "<title id=\"a&quot;b-title\">"));
  assert_non_null(strstr(
      svg, "<path class=\"line\" data-series=\"no2{site=&quot;&lt;&amp;&gt;&quot;}\""));
  assert_markup_sane(svg);
  assert_int_equal(count(svg, "<svg "), 1);
  assert_int_equal(count(svg, "</svg>"), 1);
  assert_int_equal(count(svg, "<g "), count(svg, "</g>"));
  assert_int_equal(count(svg, "<text "), count(svg, "</text>"));
  free(svg);
}

/* role="img" named by its <title> and described by its <desc>; without a
 * description the chart summarises its values in the chart's language. */
static void accessible_name_and_summary(void **state) {
  (void)state;
  struct vg_chart_point p[12];
  months(p, 12, 1000, 250);
  p[4].value = NAN;
  struct vg_chart c = card_chart();
  struct vg_chart_series s = {.key = "k", .p = p, .n = 12};
  char *svg = render(&c, &s, 1);
  assert_non_null(strstr(svg, "role=\"img\" aria-labelledby=\"c1-title c1-desc\""));
  assert_non_null(strstr(svg, "<title id=\"c1-title\">Passages</title>"));
  const char *d = strstr(svg, "<desc id=\"c1-desc\">");
  assert_non_null(d);
  /* 11 values (one missing), from 1 000 to 3 750, from January to December */
  assert_non_null(strstr(d, "11 valeurs de 1\xe2\x80\xaf"
                            "000 \xc3\xa0 3\xe2\x80\xaf"
                            "750"));
  assert_non_null(strstr(d, "du 2018-01-01 au 2018-12-31 (Europe/Paris)"));
  free(svg);
  c.lang = "en";
  c.title = NULL; /* nothing to name it: described only */
  c.has_target = 1;
  c.target = 3000;
  svg = render(&c, &s, 1);
  assert_non_null(strstr(svg, "aria-labelledby=\"c1-desc\""));
  assert_null(strstr(svg, "<title"));
  assert_non_null(strstr(svg, "11 values from 1,000 to 3,750; target 3,000."));
  free(svg);
  /* the caller's description replaces the summary */
  c.desc = "janvier : 1 000";
  svg = render(&c, &s, 1);
  assert_non_null(strstr(svg, "<desc id=\"c1-desc\">janvier : 1 000</desc>"));
  free(svg);
}

/* A document of its own has the XML declaration and the namespace; the
 * chart embedded in HTML names no URL at all. No point: the chart says so.
 * No plot area: -EINVAL. */
static void standalone_inline_and_empty(void **state) {
  (void)state;
  struct vg_chart_point p[2];
  months(p, 2, 1, 1);
  struct vg_chart c = card_chart();
  struct vg_chart_series s = {.key = "k", .p = p, .n = 2};
  char *svg = render(&c, &s, 1);
  assert_memory_equal(svg, "<svg ", 5);
  assert_null(strstr(svg, "http"));
  assert_null(strstr(svg, "<?xml"));
  assert_null(strstr(svg, "<rect width=\"100%\""));
  free(svg);
  c.standalone = 1;
  svg = render(&c, &s, 1);
  assert_memory_equal(svg,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg "
                      "xmlns=\"http://www.w3.org/2000/svg\" ",
                      63);
  free(svg);
  c.standalone = 0;
  svg = render(&c, NULL, 0);
  assert_non_null(strstr(svg, ">aucune donn\xc3\xa9"
                              "e</text>"));
  assert_non_null(strstr(svg, "<desc id=\"c1-desc\">Aucune donn\xc3\xa9"
                              "e.</desc>"));
  free(svg);
  c.left = 200;
  c.right = 120;
  FILE *f = fopen("/dev/null", "w");
  assert_int_equal(vg_chart_svg(f, &c, &s, 1), -EINVAL);
  c = card_chart();
  c.tz = NULL;
  assert_int_equal(vg_chart_svg(f, &c, &s, 1), -EINVAL);
  fclose(f);
}

int vg_test_publish_chart(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(points_map_back_to_values),
      cmocka_unit_test(target_line_at_its_value),
      cmocka_unit_test(ticks_thin_out_to_fit),
      cmocka_unit_test(gaps_break_the_line),
      cmocka_unit_test(titles_are_escaped),
      cmocka_unit_test(accessible_name_and_summary),
      cmocka_unit_test(standalone_inline_and_empty),
  };
  return cmocka_run_group_tests_name("publish_chart", tests, setup, teardown);
}
