/* Unit tests of the dashboard page (dashboard.h): a page of cards met, not
 * met, unknown, without value, without objective, provisional, in French and
 * in English, read back as a browser and a screen reader would need it --
 * tags that balance (and no block inside a <p>, which a parser would cut),
 * every text escaped, the raw and the localised numbers, the words of each
 * state, dates in words and ISO 8601 in the zone, no resource from another
 * origin, colour pairs of 4.5:1 or more computed from the page's own style,
 * headings in order, and the refresh script only when asked. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "vigie/calendar.h"
#include "vigie/dashboard.h"
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

/* UTC instant of local midnight of y-m-d in Paris. */
static int64_t ymd(int y, int m, int d) {
  return vg_tz_local_to_utc(
      paris, vg_days_from_civil(y, (unsigned)m, (unsigned)d) * 86400, 0, NULL);
}

#define NBSP    "\xc2\xa0"
#define NNBSP   "\xe2\x80\xaf"
#define MINUS   "\xe2\x88\x92"
#define HOSTILE "Jours \"PM10\" <50> & co 'x' \xc2\xb5g/m\xc2\xb3"
#define ESCAPED                                                                          \
  "Jours &quot;PM10&quot; &lt;50&gt; &amp; co &apos;x&apos; \xc2\xb5g/m\xc2\xb3"

static struct vg_dash_point years[8], months12[12];

/* The cards: met (final, a trend with a gap), not met (provisional),
 * unknown without a value (Feb 29), no objective (no coverage), met and
 * provisional on the first of a month with a description. */
static void make_cards(struct vg_dash_card *c) {
  for (int k = 0; k < 8; k++)
    years[k] =
        (struct vg_dash_point){ymd(2011 + k, 1, 1), ymd(2012 + k, 1, 1), 48 - 4 * k, 1};
  years[3].has_value = 0;
  for (int k = 0; k < 12; k++)
    months12[k] = (struct vg_dash_point){ymd(2017 + (k + 10) / 12, (k + 10) % 12 + 1, 1),
                                         ymd(2017 + (k + 11) / 12, (k + 11) % 12 + 1, 1),
                                         26000 + 500 * k, 1};
  c[0] = (struct vg_dash_card){.indicator = "pm10-jours",
                               .title = HOSTILE,
                               .unit = "jours",
                               .series = "pm10{station=\"Centre <&> 'gare'\"}",
                               .period = "year",
                               .period_start = ymd(2018, 1, 1),
                               .period_end = ymd(2019, 1, 1),
                               .has_value = 1,
                               .value = 12,
                               .has_target = 1,
                               .target = 35,
                               .at_most = 1,
                               .attained = 1,
                               .has_previous = 1,
                               .previous = 19,
                               .coverage = 0.9731,
                               .final = 1,
                               .revision = 2,
                               .trend = years,
                               .ntrend = 8};
  c[1] = (struct vg_dash_card){.indicator = "velo",
                               .title = "Passages v\xc3\xa9lo",
                               .unit = "passages",
                               .series = "east{*}",
                               .period = "month",
                               .period_start = ymd(2018, 9, 1),
                               .period_end = ymd(2018, 10, 1),
                               .has_value = 1,
                               .value = 28912.25,
                               .has_target = 1,
                               .target = 30000,
                               .at_most = 0,
                               .attained = 0,
                               .has_previous = 1,
                               .previous = 31234.4,
                               .coverage = 0.41,
                               .trend = months12,
                               .ntrend = 12};
  c[2] = (struct vg_dash_card){.indicator = "o3",
                               .title = "Ozone",
                               .unit = "jours",
                               .series = "o3{site=\"nord\"}",
                               .period = "day",
                               .period_start = ymd(2016, 2, 29),
                               .period_end = ymd(2016, 3, 1),
                               .has_target = 1,
                               .target = 25,
                               .at_most = 1,
                               .attained = -1,
                               .coverage = 0};
  c[3] = (struct vg_dash_card){.indicator = "bruit",
                               .title = "Bruit",
                               .unit = "",
                               .series = "noise{site=\"parc\"}",
                               .period = "month",
                               .period_start = ymd(2018, 10, 1),
                               .period_end = ymd(2018, 11, 1),
                               .has_value = 1,
                               .value = -2.5,
                               .attained = -1,
                               .has_previous = 1,
                               .previous = 1234567.891,
                               .coverage = NAN,
                               .final = 1};
  c[4] = (struct vg_dash_card){.indicator = "no2",
                               .title = "Qualit\xc3\xa9 de l'air",
                               .description = "Qualit\xc3\xa9 <sonore> & \"calme\"",
                               .unit = "\xc2\xb5g/m\xc2\xb3",
                               .series = "no2{*}",
                               .period = "day",
                               .period_start = ymd(2018, 10, 1),
                               .period_end = ymd(2018, 10, 2),
                               .has_value = 1,
                               .value = 43.256,
                               .has_target = 1,
                               .target = 50,
                               .at_most = 1,
                               .attained = 1,
                               .coverage = 0.99996,
                               .revision = 7};
}

#define NCARDS 5

static char *render_page(const struct vg_dash_page *p, const struct vg_dash_card *c,
                         size_t n) {
  char *out = NULL;
  size_t size = 0;
  FILE *f = open_memstream(&out, &size);
  assert_non_null(f);
  assert_int_equal(vg_dashboard_html(f, p, c, n), 0);
  assert_int_equal(fclose(f), 0);
  return out;
}

static char *render(const char *lang, int refresh) {
  struct vg_dash_card c[NCARDS];
  make_cards(c);
  struct vg_dash_page p = {.lang = lang,
                           .tz = paris,
                           .path = "/dashboard",
                           .refresh_s = refresh,
                           .generated = ymd(2018, 10, 31) + 14 * 3600 + 5 * 60};
  return render_page(&p, c, NCARDS);
}

static size_t count(const char *s, const char *what) {
  size_t n = 0;
  for (const char *p = s; (p = strstr(p, what)); p += strlen(what))
    n++;
  return n;
}

static void has(const char *page, const char *what) {
  if (!strstr(page, what))
    fail_msg("the page lacks \"%s\"", what);
}

static void lacks(const char *page, const char *what) {
  const char *p = strstr(page, what);
  if (p)
    fail_msg("the page has \"%s\": ...%.60s", what, p);
}

/* HTML elements without an end tag. */
static int is_void(const char *name) {
  static const char *const v[] = {"meta", "link", "br",   "hr",  "img",    "input",
                                  "wbr",  "area", "base", "col", "source", "track"};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    if (strcmp(name, v[i]) == 0)
      return 1;
  return 0;
}

/* Elements that a parser would not leave inside a <p> (it closes the <p>). */
static int closes_p(const char *name) {
  static const char *const v[] = {
      "p",  "div", "figure", "table", "section", "article", "ul",   "ol", "h1",
      "h2", "h3",  "h4",     "nav",   "header",  "footer",  "main", "dl"};
  for (size_t i = 0; i < sizeof v / sizeof *v; i++)
    if (strcmp(name, v[i]) == 0)
      return 1;
  return 0;
}

/* Walks the page's tags: every element closed in order, none left open, no
 * block inside a <p>, attribute quotes paired, no '>' in text (every text
 * escaped), the script skipped. Counts the headings' levels in order into
 * levels (a string of '1'..'6'). */
static void assert_well_formed(const char *page, char *levels, size_t nlevels) {
  char stack[64][16];
  int depth = 0;
  size_t nl = 0;
  const char *p = page;
  assert_memory_equal(p, "<!DOCTYPE html>\n", 16);
  p += 16;
  while (*p) {
    if (*p == '>')
      fail_msg("a '>' in text: ...%.60s", p > page + 30 ? p - 30 : page);
    if (*p != '<') {
      p++;
      continue;
    }
    const char *e = strchr(p, '>');
    assert_non_null(e);
    size_t quotes = 0;
    for (const char *q = p + 1; q < e; q++) {
      if (*q == '<')
        fail_msg("a '<' inside a tag: ...%.60s", p);
      quotes += *q == '"';
    }
    assert_int_equal(quotes % 2, 0);
    int end = p[1] == '/';
    char name[16];
    size_t len = strcspn(p + 1 + end, " >/\n");
    assert_true(len > 0 && len < sizeof name);
    memcpy(name, p + 1 + end, len);
    name[len] = 0;
    if (end) {
      if (depth == 0 || strcmp(stack[depth - 1], name) != 0)
        fail_msg("</%s> closes <%s>", name, depth ? stack[depth - 1] : "nothing");
      depth--;
    } else if (e[-1] != '/' && !is_void(name)) {
      if (depth && strcmp(stack[depth - 1], "p") == 0 && closes_p(name))
        fail_msg("<%s> inside a <p>", name);
      assert_true(depth < 64);
      strcpy(stack[depth++], name);
      if (name[0] == 'h' && name[1] >= '1' && name[1] <= '6' && !name[2]) {
        assert_true(nl + 1 < nlevels);
        levels[nl++] = name[1];
      }
      if (strcmp(name, "script") == 0) {
        e = strstr(e, "</script>");
        assert_non_null(e);
        p = e;
        continue;
      }
    }
    p = e + 1;
  }
  levels[nl] = 0;
  if (depth)
    fail_msg("<%s> is never closed", stack[depth - 1]);
}

/* Relative luminance of "#rrggbb" (WCAG 2). */
static double luminance(const char *hex) {
  double c[3];
  for (int i = 0; i < 3; i++) {
    char b[3] = {hex[1 + 2 * i], hex[2 + 2 * i], 0};
    double v = strtol(b, NULL, 16) / 255.0;
    c[i] = v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
  }
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}

static double contrast(const char *a, const char *b) {
  double la = luminance(a), lb = luminance(b);
  return la > lb ? (la + 0.05) / (lb + 0.05) : (lb + 0.05) / (la + 0.05);
}

/* The colour of rule sel in the style ("#rrggbb", after "color:#"). */
static const char *rule_color(const char *page, const char *sel, const char *prop,
                              char out[8]) {
  const char *r = strstr(page, sel);
  assert_non_null(r);
  const char *c = strstr(r, prop);
  assert_true(c && c < strchr(r, '}'));
  memcpy(out, c + strlen(prop) - 1, 7);
  out[7] = 0;
  return out;
}

/* The French page: structure, numbers, words, dates, escaping. */
static void french_page(void **state) {
  (void)state;
  char *page = render("fr", 0);
  char levels[64];
  assert_well_formed(page, levels, sizeof levels);
  /* h1, then h2 and the cards' h3, then the table's h2: never a jump */
  assert_int_equal(levels[0], '1');
  for (size_t i = 1; levels[i]; i++)
    assert_true(levels[i] <= levels[i - 1] + 1);
  assert_int_equal(count(levels, "3"), NCARDS);
  has(page, "<html lang=\"fr\">");
  has(page, "<meta charset=\"utf-8\">");
  has(page, "<meta name=\"viewport\"");
  assert_int_equal(count(page, "<header>"), 1);
  assert_int_equal(count(page, "<main id=\"main\""), 1);
  assert_int_equal(count(page, "<footer>"), 1);
  has(page, "<a class=\"skip\" href=\"#main\">");
  has(page, "<title>Tableau de bord des indicateurs</title>");
  has(page, "focus-visible{outline:");
  /* one card each, identified, period start in ISO 8601 with Paris' offset */
  assert_int_equal(count(page, "<article class=\"card "), NCARDS);
  has(page,
      "<article class=\"card met\" data-indicator=\"pm10-jours\" "
      "data-series=\"pm10{station=&quot;Centre &lt;&amp;&gt; &apos;gare&apos;&quot;}\" "
      "data-period-start=\"2018-01-01T00:00:00+01:00\"");
  has(page, "<article class=\"card not-met\" data-indicator=\"velo\"");
  has(page, "data-period-start=\"2018-09-01T00:00:00+02:00\"");
  has(page, "<article class=\"card unknown\" data-indicator=\"o3\"");
  has(page, "<article class=\"card none\" data-indicator=\"bruit\"");
  has(page, "<article class=\"card met\" data-indicator=\"no2\"");
  /* values: raw in value="", French text; each in its card and the table */
  const char *const values[] = {
      "<data class=\"value\" value=\"12\">12</data>",
      "<data class=\"value\" value=\"28912.25\">28" NNBSP "912</data>",
      "<data class=\"value\" value=\"-2.5\">" MINUS "2,5</data>",
      "<data class=\"value\" value=\"43.256\">43,3</data>" NBSP
      "<span class=\"unit\">\xc2\xb5g/m\xc2\xb3</span>",
      "<data class=\"previous\" value=\"19\">19</data>",
      "<data class=\"previous\" value=\"31234.4\">31" NNBSP "234</data>",
      "<data class=\"previous\" value=\"1234567.891\">1" NNBSP "234" NNBSP "568</data>"};
  for (size_t i = 0; i < sizeof values / sizeof *values; i++)
    if (count(page, values[i]) != 2)
      fail_msg("\"%s\" %zu times, not in its card and its row", values[i],
               count(page, values[i]));
  assert_int_equal(count(page, "<data class=\"value\""), 2 * 4); /* o3 has none */
  lacks(page, "43.3");
  lacks(page, "28,912");
  /* no value, in words */
  has(page, "<span aria-hidden=\"true\">\xe2\x80\x94</span> <span "
            "class=\"novalue\">aucune valeur</span>");
  /* periods in words, a year earlier too (Feb 29 -> Feb 28) */
  has(page, "<p class=\"period\"><time datetime=\"2018\">ann\xc3\xa9"
            "e 2018</time></p>");
  has(page, "<time datetime=\"2018-09\">septembre 2018</time>");
  has(page, "<time datetime=\"2016-02-29\">29 f\xc3\xa9vrier 2016</time>");
  has(page, "Un an plus t\xc3\xb4t (<time datetime=\"2015-02-28\">28 f\xc3\xa9vrier "
            "2015</time>)");
  has(page, "<time datetime=\"2018-10-01\">1er octobre 2018</time>");
  has(page, "Un an plus t\xc3\xb4t (<time datetime=\"2017\">ann\xc3\xa9"
            "e 2017</time>)");
  /* objectives, states in words with an icon, status */
  has(page,
      "<p class=\"objective\">Objectif" NBSP ": \xe2\x89\xa4" NBSP "35" NBSP "jours</p>");
  has(page, "Objectif" NBSP ": \xe2\x89\xa5" NBSP "30" NNBSP "000" NBSP "passages");
  has(page,
      "<p class=\"attain met\"><span class=\"icon\" aria-hidden=\"true\">\xe2\x9c\x93"
      "</span> Objectif atteint</p>");
  has(page, "<p class=\"attain not-met\"><span class=\"icon\" "
            "aria-hidden=\"true\">\xe2\x9c\x97</span> Objectif non atteint</p>");
  has(page,
      "<p class=\"attain unknown\"><span class=\"icon\" aria-hidden=\"true\">?</span> "
      "Non \xc3\xa9valu\xc3\xa9</p>");
  has(page,
      "<p class=\"attain none\"><span class=\"icon\" aria-hidden=\"true\">\xe2\x80\x93"
      "</span> Pas d\xe2\x80\x99objectif</p>");
  has(page, "<p class=\"status final\">D\xc3\xa9"
            "finitif \xc2\xb7 r\xc3\xa9vision" NBSP "2</p>");
  has(page, "<p class=\"status provisional\">Provisoire</p>");
  has(page,
      "<p class=\"status provisional\">Provisoire \xc2\xb7 r\xc3\xa9vision" NBSP "7</p>");
  /* coverage: floored, a percentage; unknown in words */
  has(page, "Couverture" NBSP ": 97,3" NNBSP "%");
  has(page, "Couverture" NBSP ": 99,9" NNBSP "%");
  has(page, "Couverture" NBSP ": 0" NNBSP "%");
  has(page, "Couverture" NBSP ": inconnue");
  /* escaping: titles, series, descriptions; UTF-8 kept */
  lacks(page, "<50>");
  lacks(page, "<sonore>");
  assert_int_equal(count(page, "<h3 id=\"card-0\">" ESCAPED "</h3>"), 1);
  assert_int_equal(count(page, "<th scope=\"row\">" ESCAPED "</th>"), 1);
  has(page,
      "<title id=\"card-0-trend-title\">\xc3\x89volution" NBSP ": " ESCAPED "</title>");
  has(page, "<p class=\"description\">Qualit\xc3\xa9 &lt;sonore&gt; &amp; "
            "&quot;calme&quot;</p>");
  /* the table: caption, headers with scope, a row per card */
  has(page, "<caption id=\"table-caption\">");
  assert_int_equal(count(page, "<th scope=\"col\">"), 9);
  assert_int_equal(count(page, "<th scope=\"row\">"), NCARDS);
  assert_int_equal(count(page, "<tr data-indicator="), NCARDS);
  has(page, "<td class=\"attain not-met\"><span class=\"icon\" "
            "aria-hidden=\"true\">\xe2\x9c\x97</span> Non atteint</td>");
  /* the trends: a chart per card that has one, with every value in words */
  assert_int_equal(count(page, "<svg "), 2);
  assert_int_equal(count(page, "role=\"img\""), 2);
  has(page, "<desc id=\"card-0-trend-desc\">ann\xc3\xa9"
            "e 2011" NBSP ": 48" NBSP "jours" NBSP "; ann\xc3\xa9"
            "e 2012" NBSP ": 44" NBSP "jours" NBSP "; ann\xc3\xa9"
            "e 2013" NBSP ": 40" NBSP "jours" NBSP "; ann\xc3\xa9"
            "e 2014" NBSP ": aucune valeur");
  has(page, "ann\xc3\xa9"
            "e 2018" NBSP ": 20" NBSP "jours. Objectif" NBSP ": \xe2\x89\xa4" NBSP
            "35" NBSP "jours.</desc>");
  has(page, "<line class=\"target\" data-value=\"35\"");
  has(page, ">objectif \xe2\x89\xa4" NBSP "35" NBSP "jours</text>");
  /* updated at, in the zone */
  has(page,
      "Mis \xc3\xa0 jour le <time datetime=\"2018-10-31T14:05:00+01:00\">31 octobre "
      "2018 \xc3\xa0 14:05</time> (Europe/Paris)");
  free(page);
}

/* The English page: every fixed label and every number in English. */
static void english_page(void **state) {
  (void)state;
  char *page = render("en", 0);
  char levels[64];
  assert_well_formed(page, levels, sizeof levels);
  has(page, "<html lang=\"en\">");
  has(page, "<title>Indicators dashboard</title>");
  has(page, "<data class=\"value\" value=\"28912.25\">28,912</data>");
  has(page, "<data class=\"value\" value=\"43.256\">43.3</data>");
  has(page, "<data class=\"value\" value=\"-2.5\">" MINUS "2.5</data>");
  has(page, "<data class=\"previous\" value=\"1234567.891\">1,234,568</data>");
  lacks(page, "43,3");
  lacks(page, NNBSP);
  has(page, "<time datetime=\"2018\">year 2018</time>");
  has(page, "<time datetime=\"2018-09\">September 2018</time>");
  has(page, "<time datetime=\"2018-10-01\">1 October 2018</time>");
  has(page, "Objective: \xe2\x89\xa4" NBSP "35" NBSP "jours");
  has(page, "Objective: \xe2\x89\xa5" NBSP "30,000" NBSP "passages");
  has(page, "</span> Objective met</p>");
  has(page, "</span> Objective not met</p>");
  has(page, "</span> Not assessed</p>");
  has(page, "</span> No objective</p>");
  has(page, "<p class=\"status final\">Final \xc2\xb7 revision" NBSP "2</p>");
  has(page, "<p class=\"status provisional\">Provisional</p>");
  has(page, "Coverage: 97.3%");
  has(page, "Coverage: unknown");
  has(page, "<span class=\"novalue\">no value</span>");
  has(page, "A year earlier (<time datetime=\"2017\">year 2017</time>): ");
  has(page, "Updated <time datetime=\"2018-10-31T14:05:00+01:00\">31 October 2018 at "
            "14:05</time>");
  const char *french[] = {"Objectif",   "aucune",     "Provisoire",
                          "Couverture", "ann\u00e9e", "atteint"};
  for (size_t i = 0; i < sizeof french / sizeof *french; i++)
    lacks(page, french[i]);
  free(page);
}

/* Nothing from another origin: no src at all, no URL but the page's own
 * (the language links), #main and the empty icon; the SVG names no
 * namespace URL. */
static void no_external_resource(void **state) {
  (void)state;
  const char *langs[] = {"fr", "en"};
  for (int l = 0; l < 2; l++) {
    char *page = render(langs[l], 60);
    lacks(page, "http:");
    lacks(page, "https:");
    lacks(page, "//");
    lacks(page, " src=");
    lacks(page, "url(");
    lacks(page, "@import");
    size_t nhref = 0;
    for (const char *h = page; (h = strstr(h, " href=\"")); h++) {
      h += 7;
      if (strncmp(h, "/dashboard?lang=", 16) && strncmp(h, "#main\"", 6) &&
          strncmp(h, "data:,\"", 7))
        fail_msg("a link elsewhere: %.40s", h);
      nhref++;
    }
    assert_int_equal(nhref, 4);
    has(page, "<a href=\"/dashboard?lang=fr\" hreflang=\"fr\" lang=\"fr\"");
    has(page, "<a href=\"/dashboard?lang=en\" hreflang=\"en\" lang=\"en\"");
    has(page, l ? "lang=\"en\" aria-current=\"true\">English</a>"
                : "lang=\"fr\" aria-current=\"true\">Fran\xc3\xa7"
                  "ais</a>");
    assert_int_equal(count(page, "aria-current=\"true\""), 1);
    free(page);
  }
  /* a path with a query: the language is one more parameter, escaped */
  struct vg_dash_page p = {.lang = "fr", .tz = paris, .path = "/dashboard?period=month"};
  char *page = render_page(&p, NULL, 0);
  has(page, "href=\"/dashboard?period=month&amp;lang=en\"");
  has(page, "<p>Aucun indicateur n\xe2\x80\x99"
            "est publi\xc3\xa9.</p>");
  lacks(page, "<table");
  char levels[64];
  assert_well_formed(page, levels, sizeof levels);
  free(page);
}

/* Every rule of the style that sets a text colour names its background,
 * at 4.5:1 or more; links read on the page and on the cards; each state
 * has its colours. */
static void colours_pass_wcag_aa(void **state) {
  (void)state;
  char *page = render("fr", 0);
  const char *style = strstr(page, "<style>"), *end = strstr(page, "</style>");
  assert_true(style && end);
  size_t pairs = 0;
  for (const char *r = style; (r = strstr(r, "color:#")) && r < end; r++) {
    if (r > style && (r[-1] == '-' || r[-1] == 'd')) /* border-color, background-color */
      continue;
    const char *close = strchr(r, '}'), *bg = strstr(r, "background:#");
    char fg[8];
    memcpy(fg, r + 6, 7);
    fg[7] = 0;
    if (!bg || bg > close) { /* only links may omit it */
      const char *open = r;
      while (open > style && open[-1] != '\n')
        open--;
      assert_memory_equal(open, "a{", 2);
      assert_true(contrast(fg, "#ffffff") >= 4.5);
      char body[8];
      assert_true(contrast(fg, rule_color(page, "body{", "background:#", body)) >= 4.5);
      continue;
    }
    char b[8];
    memcpy(b, bg + 11, 7);
    b[7] = 0;
    if (contrast(fg, b) < 4.5)
      fail_msg("%s on %s: %.2f:1", fg, b, contrast(fg, b));
    pairs++;
  }
  assert_true(pairs >= 8);
  const char *const sels[] = {".attain.met{", ".attain.not-met{", ".attain.unknown,",
                              ".status.provisional{", ".status.final{"};
  for (size_t i = 0; i < sizeof sels / sizeof *sels; i++) {
    char fg[8], bg[8];
    rule_color(page, sels[i], "color:#", fg);
    rule_color(page, sels[i], "background:#", bg);
    assert_true(contrast(fg, bg) >= 4.5 && contrast(fg, "#ffffff") >= 4.5);
  }
  free(page);
}

/* The refresh: one small script when asked, fetching the page's own URL,
 * replacing <main>'s content, doing nothing on failure; none otherwise. */
static void refresh_script_only_when_asked(void **state) {
  (void)state;
  char *page = render("fr", 0);
  lacks(page, "<script");
  free(page);
  page = render("en", 60);
  assert_int_equal(count(page, "<script>"), 1);
  const char *s = strstr(page, "<script>"), *e = strstr(page, "</script>");
  assert_true(s && e && e > s && e - s < 2000);
  assert_true(s > strstr(page, "</main>")); /* it stays when <main> is replaced */
  has(s, "var every = 60 * 1000;");
  has(s, "fetch(location.href, {credentials: \"same-origin\"");
  has(s, "new DOMParser().parseFromString(text, \"text/html\")");
  has(s, "getElementById(\"main\")");
  has(s, "window.scrollTo(x, y)");
  has(s, ".catch(function () {})");
  has(s, "if (!r.ok) throw");
  free(page);
}

/* A stream that fails is -EIO. */
static void write_errors(void **state) {
  (void)state;
  struct vg_dash_card c[NCARDS];
  make_cards(c);
  struct vg_dash_page p = {.lang = "fr", .tz = paris, .path = "/dashboard"};
  FILE *f = fopen("/dev/full", "w");
  if (!f)
    skip();
  assert_int_equal(vg_dashboard_html(f, &p, c, NCARDS), -EIO);
  fclose(f);
}

int vg_test_publish_dashboard(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(french_page),
      cmocka_unit_test(english_page),
      cmocka_unit_test(no_external_resource),
      cmocka_unit_test(colours_pass_wcag_aa),
      cmocka_unit_test(refresh_script_only_when_asked),
      cmocka_unit_test(write_errors),
  };
  return cmocka_run_group_tests_name("publish_dashboard", tests, setup, teardown);
}
