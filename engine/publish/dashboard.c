/*
 * The dashboard page (dashboard.h): cards of indicators, a table of the same
 * figures, in French or English, one self-contained HTML document.
 *
 * Everything is written straight to the stream: fixed labels from one table
 * per language, texts through vg_xml_text, numbers twice (the raw value in
 * <data value>, vg_fmt_double's, and the text for people, vg_fmt_human's),
 * dates in words of the page's zone, the trend through chart.h. Colours of
 * text are set only in rules that name their background too (and links,
 * on white or the page's grey), each pair at 4.5:1 or more (WCAG AA; the
 * unit tests compute the ratios from the page itself); the state of an
 * objective is never told by colour alone.
 */
#include "vigie/dashboard.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/calendar.h"
#include "vigie/chart.h"
#include "vigie/publish.h"

/* The fixed labels, French then English. */
enum {
  L_TITLE,
  L_SKIP,
  L_LANGUAGE,
  L_UPDATED,
  L_AT,
  L_CARDS,
  L_NO_CARD,
  L_TABLE,
  L_CAPTION,
  L_COL_INDICATOR,
  L_COL_SERIES,
  L_COL_PERIOD,
  L_COL_VALUE,
  L_COL_OBJECTIVE,
  L_COL_ATTAINED,
  L_COL_PREVIOUS,
  L_COL_COVERAGE,
  L_COL_STATUS,
  L_SERIES,
  L_NO_VALUE,
  L_OBJECTIVE,
  L_TARGET,
  L_PREVIOUS,
  L_COVERAGE,
  L_UNKNOWN,
  L_PROVISIONAL,
  L_FINAL,
  L_REVISION,
  L_TREND,
  L_SEP,
  L_YEAR,
  L_FOOTER,
  NLABELS
};

static const char *const labels[NLABELS][2] = {
    [L_TITLE] = {"Tableau de bord des indicateurs", "Indicators dashboard"},
    [L_SKIP] = {"Aller au contenu", "Skip to content"},
    [L_LANGUAGE] = {"Langue", "Language"},
    [L_UPDATED] = {"Mis à jour le ", "Updated "},
    [L_AT] = {" à ", " at "},
    [L_CARDS] = {"Indicateurs", "Indicators"},
    [L_NO_CARD] = {"Aucun indicateur n’est publié.", "No indicator is published."},
    [L_TABLE] = {"Tableau des indicateurs", "Table of indicators"},
    [L_CAPTION] = {"Dernière période de chaque indicateur et série",
                   "Latest period of each indicator and series"},
    [L_COL_INDICATOR] = {"Indicateur", "Indicator"},
    [L_COL_SERIES] = {"Série", "Series"},
    [L_COL_PERIOD] = {"Période", "Period"},
    [L_COL_VALUE] = {"Valeur", "Value"},
    [L_COL_OBJECTIVE] = {"Objectif", "Objective"},
    [L_COL_ATTAINED] = {"Atteint", "Attained"},
    [L_COL_PREVIOUS] = {"Un an plus tôt", "A year earlier"},
    [L_COL_COVERAGE] = {"Couverture", "Coverage"},
    [L_COL_STATUS] = {"Statut", "Status"},
    [L_SERIES] = {"Série\xc2\xa0: ", "Series: "},
    [L_NO_VALUE] = {"aucune valeur", "no value"},
    [L_OBJECTIVE] = {"Objectif\xc2\xa0: ", "Objective: "},
    [L_TARGET] = {"objectif ", "objective "},
    [L_PREVIOUS] = {"Un an plus tôt", "A year earlier"},
    [L_COVERAGE] = {"Couverture\xc2\xa0: ", "Coverage: "},
    [L_UNKNOWN] = {"inconnue", "unknown"},
    [L_PROVISIONAL] = {"Provisoire", "Provisional"},
    [L_FINAL] = {"Définitif", "Final"},
    [L_REVISION] = {"révision", "revision"},
    [L_TREND] = {"Évolution\xc2\xa0: ", "Trend: "},
    [L_SEP] = {"\xc2\xa0: ", ": "},
    [L_YEAR] = {"année ", "year "},
    [L_FOOTER] = {"Données\xc2\xa0: le jeu de données "
                  "«\xc2\xa0indicateurs\xc2\xa0». Les valeurs provisoires "
                  "peuvent encore changer.",
                  "Data: the “indicateurs” dataset. Provisional "
                  "values may still change."},
};

static const char *const months[2][12] = {
    {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
     "octobre", "novembre", "décembre"},
    {"January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"}};

/* Where a card stands against its objective: a colour class, an icon and
 * words (on the card, and shorter in the table). */
enum { ST_MET, ST_NOT_MET, ST_UNKNOWN, ST_NONE };

static const struct {
  const char *cls, *icon, *card[2], *cell[2];
} states[] = {
    [ST_MET] = {"met", "✓", {"Objectif atteint", "Objective met"}, {"Atteint", "Met"}},
    [ST_NOT_MET] = {"not-met",
                    "✗",
                    {"Objectif non atteint", "Objective not met"},
                    {"Non atteint", "Not met"}},
    [ST_UNKNOWN] = {"unknown",
                    "?",
                    {"Non évalué", "Not assessed"},
                    {"Non évalué", "Not assessed"}},
    [ST_NONE] = {"none",
                 "–",
                 {"Pas d’objectif", "No objective"},
                 {"Sans objectif", "No objective"}},
};

/* The style sheet. Text colours come with their background (see above). */
static const char css[] =
    ":root{color-scheme:light}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:1rem/1.5 system-ui,sans-serif;color:#1a1a1a;background:#f3f4f6}\n"
    "a{color:#0b4fa8}\n"
    "a:focus-visible,[tabindex]:focus-visible{outline:3px solid #0b4fa8;"
    "outline-offset:2px}\n"
    ".skip{position:absolute;left:-100vw;top:.5rem;padding:.5rem 1rem;z-index:1}\n"
    ".skip:focus{left:.5rem}\n"
    ".skip{color:#0b4fa8;background:#ffffff}\n"
    "header,main,footer{max-width:80rem;margin:0 auto;padding:.5rem 1rem}\n"
    "header{display:flex;flex-wrap:wrap;justify-content:space-between;"
    "align-items:center;gap:.5rem 2rem}\n"
    "h1{font-size:1.6rem;margin:.5rem 0}\n"
    "h2{font-size:1.25rem;margin:1.5rem 0 .75rem}\n"
    "nav ul{list-style:none;display:flex;gap:1rem;margin:0;padding:0}\n"
    "nav a[aria-current]{font-weight:700;text-decoration:none}\n"
    ".updated{margin:.25rem 0}\n"
    ".cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(19rem,1fr));"
    "gap:1rem}\n"
    ".card{border:1px solid #c8cdd3;border-left:.5rem solid #4a4f57;border-radius:.4rem;"
    "padding:.75rem 1rem;display:flex;flex-direction:column;gap:.35rem}\n"
    ".card{color:#1a1a1a;background:#ffffff}\n"
    ".card.met{border-left-color:#1b6e34}\n"
    ".card.not-met{border-left-color:#b3261e}\n"
    ".card h3{font-size:1.1rem;margin:0}\n"
    ".card p{margin:0}\n"
    ".series code{font-size:.85rem;overflow-wrap:anywhere}\n"
    ".figure{font-size:2rem;font-weight:700;line-height:1.2}\n"
    ".figure .unit,.figure .novalue{font-size:1rem;font-weight:400}\n"
    ".attain,.status{display:inline-block;width:fit-content;padding:.05rem .5rem;"
    "border-radius:.3rem;font-weight:600}\n"
    "td.attain,td.status{display:table-cell;border-radius:0}\n"
    ".attain.met{color:#1b6e34;background:#e7f4ea}\n"
    ".attain.not-met{color:#b3261e;background:#fdecea}\n"
    ".attain.unknown,.attain.none{color:#4a4f57;background:#eef0f2}\n"
    ".status.provisional{color:#7a4b00;background:#fff4e0}\n"
    ".status.final{color:#2e3a46;background:#e8eef5}\n"
    ".icon{display:inline-block;min-width:1em;text-align:center}\n"
    ".trend{margin:.25rem 0 0}\n"
    ".trend svg{display:block;width:100%;height:auto}\n"
    ".description{font-size:.9rem}\n"
    ".table-wrap{overflow-x:auto}\n"
    "table{border-collapse:collapse;width:100%;font-size:.95rem}\n"
    "table{color:#1a1a1a;background:#ffffff}\n"
    "caption{text-align:left;font-weight:600;padding:.5rem 0}\n"
    "caption{color:#1a1a1a;background:#f3f4f6}\n"
    "th,td{border:1px solid #c8cdd3;padding:.35rem .6rem;text-align:left;"
    "vertical-align:top}\n"
    "td.num,td.attain{white-space:nowrap}\n"
    "td.num{text-align:right}\n"
    "td code{overflow-wrap:anywhere}\n"
    ".sr{position:absolute;width:1px;height:1px;margin:-1px;overflow:hidden;"
    "clip:rect(0 0 0 0);white-space:nowrap}\n"
    "footer{font-size:.9rem}\n";

/* The refresh: the same URL fetched, parsed, and its <main> put in place of
 * this one's -- not while the focus is in <main> (a keyboard user would
 * lose their place) or the page is hidden; any failure leaves the page as
 * it is. Inside a function that sets `every` (ms). */
static const char script[] =
    "function busy() {\n"
    "  var main = document.getElementById(\"main\"), a = document.activeElement;\n"
    "  return document.hidden || !main || (a && a !== main && main.contains(a));\n"
    "}\n"
    "function swap(text) {\n"
    "  var doc = new DOMParser().parseFromString(text, \"text/html\");\n"
    "  var fresh = doc.getElementById(\"main\"), main = "
    "document.getElementById(\"main\");\n"
    "  if (!fresh || !main || busy()) return;\n"
    "  var x = window.scrollX, y = window.scrollY;\n"
    "  while (main.firstChild) main.removeChild(main.firstChild);\n"
    "  while (fresh.firstChild) main.appendChild(document.adoptNode(fresh.firstChild));\n"
    "  window.scrollTo(x, y);\n"
    "}\n"
    "function tick() {\n"
    "  if (busy() || !window.fetch || !window.DOMParser) {\n"
    "    setTimeout(tick, every);\n"
    "    return;\n"
    "  }\n"
    "  fetch(location.href, {credentials: \"same-origin\", cache: \"no-store\"})\n"
    "    .then(function (r) { if (!r.ok) throw new Error(r.status); return r.text(); })\n"
    "    .then(swap)\n"
    "    .catch(function () {})\n"
    "    .then(function () { setTimeout(tick, every); });\n"
    "}\n"
    "setTimeout(tick, every);\n";

/* What the page is being written with. */
struct page {
  FILE *out;
  const struct vg_dash_page *p;
  int en;         /* English: 1, French: 0 */
  const char *lg; /* "en" or "fr" */
};

static const char *T(const struct page *pg, int label) {
  return labels[label][pg->en];
}

static void text(const struct page *pg, const char *s) {
  vg_xml_text(pg->out, s ? s : "");
}

/* A local civil date. */
struct date {
  int64_t y;
  unsigned m, d, hh, mm;
};

static struct date local_date(const struct vg_tz *tz, int64_t t) {
  int64_t local = t + vg_tz_offset_at(tz, t),
          secs = local - vg_floor_div(local, 86400) * 86400;
  struct date d = {.hh = (unsigned)(secs / 3600), .mm = (unsigned)(secs % 3600 / 60)};
  vg_civil_from_days(vg_floor_div(local, 86400), &d.y, &d.m, &d.d);
  return d;
}

/* "1er octobre 2018", "12 October 2018". */
static void day_words(FILE *out, int en, struct date d) {
  fprintf(out, "%u%s %s %" PRId64, d.d, !en && d.d == 1 ? "er" : "", months[en][d.m - 1],
          d.y);
}

static void year_back(struct date *d) {
  d->y--;
  if (d->m == 2 && d->d == 29)
    d->d = 28;
}

/* The period [start, end) in words: "année 2018", "octobre 2018", "1er
 * octobre 2018" (English alike); another kind of period: its first and
 * last local days. back: the same period a year earlier (Feb 29 -> Feb
 * 28). markup: in a <time> element (no markup: for a text alternative). */
static void period_words(FILE *out, int en, const char *period, const struct vg_tz *tz,
                         int64_t start, int64_t end, int back, int markup) {
  struct date d = local_date(tz, start), e = local_date(tz, end - 1);
  if (back) {
    year_back(&d);
    year_back(&e);
  }
  period = period ? period : "";
  enum {
    YEAR,
    MONTH,
    DAY,
    SPAN
  } kind = strcmp(period, "year") == 0    ? YEAR
           : strcmp(period, "month") == 0 ? MONTH
           : strcmp(period, "day") == 0   ? DAY
                                          : SPAN;
  if (markup) {
    fprintf(out, "<time datetime=\"%04" PRId64, d.y);
    if (kind != YEAR)
      fprintf(out, "-%02u", d.m);
    if (kind == DAY || kind == SPAN)
      fprintf(out, "-%02u", d.d);
    fputs("\">", out);
  }
  if (kind == YEAR) {
    fprintf(out, "%s%" PRId64, labels[L_YEAR][en], d.y);
  } else if (kind == MONTH) {
    fprintf(out, "%s %" PRId64, months[en][d.m - 1], d.y);
  } else {
    day_words(out, en, d);
    if (kind == SPAN) {
      fputs(" – ", out);
      day_words(out, en, e);
    }
  }
  if (markup)
    fputs("</time>", out);
}

/* <data class="cls" value="RAW">TEXT</data>, and the unit. */
static void number(const struct page *pg, const char *cls, double v, const char *unit) {
  char raw[VG_FMT_DOUBLE_MAX], human[VG_FMT_HUMAN_MAX];
  vg_fmt_double(v, raw);
  vg_fmt_human(v, -1, pg->lg, human);
  fprintf(pg->out, "<data class=\"%s\" value=\"%s\">%s</data>", cls, raw, human);
  if (unit && *unit) {
    fputs("\xc2\xa0<span class=\"unit\">", pg->out);
    text(pg, unit);
    fputs("</span>", pg->out);
  }
}

/* "— aucune valeur": the dash for the eye, the words for everyone. */
static void no_value(const struct page *pg) {
  fprintf(pg->out,
          "<span aria-hidden=\"true\">—</span> <span class=\"novalue\">%s</span>",
          T(pg, L_NO_VALUE));
}

/* "≤ 35 jours"; escaped for the page, or plain for a text alternative. */
static void objective(FILE *out, const struct page *pg, const struct vg_dash_card *c,
                      int escape) {
  char b[VG_FMT_HUMAN_MAX];
  vg_fmt_human(c->target, -1, pg->lg, b);
  fprintf(out, "%s\xc2\xa0%s", c->at_most ? "≤" : "≥", b);
  if (c->unit && *c->unit) {
    fputs("\xc2\xa0", out);
    if (escape)
      vg_xml_text(out, c->unit);
    else
      fputs(c->unit, out);
  }
}

static int state_of(const struct vg_dash_card *c) {
  if (!c->has_target)
    return ST_NONE;
  return c->attained == 1 ? ST_MET : c->attained == 0 ? ST_NOT_MET : ST_UNKNOWN;
}

/* The icon (hidden from screen readers: the words say it) and the words. */
static void state(const struct page *pg, int st, int cell) {
  fprintf(pg->out, "<span class=\"icon\" aria-hidden=\"true\">%s</span> %s",
          states[st].icon, cell ? states[st].cell[pg->en] : states[st].card[pg->en]);
}

static void coverage(const struct page *pg, double cov) {
  if (!isfinite(cov)) {
    fputs(T(pg, L_UNKNOWN), pg->out);
    return;
  }
  char b[VG_FMT_HUMAN_MAX]; /* floored: 99.96 % is not 100 % */
  vg_fmt_human(floor(cov * 1000 + 1e-9) / 10, 1, pg->lg, b);
  fprintf(pg->out, "%s%s%%", b, pg->en ? "" : "\xe2\x80\xaf");
}

static void status(const struct page *pg, const struct vg_dash_card *c) {
  fputs(T(pg, c->final ? L_FINAL : L_PROVISIONAL), pg->out);
  if (c->revision)
    fprintf(pg->out, " · %s\xc2\xa0%" PRIu32, T(pg, L_REVISION), c->revision);
}

/* The attributes that identify a card (and its table row). */
static void card_attrs(const struct page *pg, const struct vg_dash_card *c) {
  char iso[VG_FMT_ISO_MAX];
  vg_fmt_iso(c->period_start, pg->p->tz, iso);
  fputs(" data-indicator=\"", pg->out);
  text(pg, c->indicator);
  fputs("\" data-series=\"", pg->out);
  text(pg, c->series);
  fprintf(pg->out, "\" data-period-start=\"%s\"", iso);
}

/* The trend's text alternative: every period and its value, then the
 * objective. Returns a string to free, or NULL when out of memory. */
static char *trend_desc(const struct page *pg, const struct vg_dash_card *c) {
  char *s = NULL, b[VG_FMT_HUMAN_MAX];
  size_t size = 0;
  FILE *f = open_memstream(&s, &size);
  if (!f)
    return NULL;
  for (size_t i = 0; i < c->ntrend; i++) {
    const struct vg_dash_point *t = &c->trend[i];
    fputs(i ? (pg->en ? "; " : "\xc2\xa0; ") : "", f);
    period_words(f, pg->en, c->period, pg->p->tz, t->start, t->end, 0, 0);
    fputs(T(pg, L_SEP), f);
    if (t->has_value && isfinite(t->value)) {
      vg_fmt_human(t->value, -1, pg->lg, b);
      fprintf(f, "%s%s%s", b, c->unit && *c->unit ? "\xc2\xa0" : "",
              c->unit ? c->unit : "");
    } else {
      fputs(T(pg, L_NO_VALUE), f);
    }
  }
  fputs(".", f);
  if (c->has_target) {
    fprintf(f, " %s", T(pg, L_OBJECTIVE));
    objective(f, pg, c, 0);
    fputs(".", f);
  }
  if (fclose(f)) {
    free(s);
    return NULL;
  }
  return s;
}

/* The trend chart of card i: its name, its text alternative (every value)
 * and its target's label, then the chart. 0, -EIO or -ENOMEM. */
static int trend(const struct page *pg, const struct vg_dash_card *c, size_t i) {
  int rc = -ENOMEM;
  char id[32], *desc = NULL, *title = NULL, *target = NULL;
  size_t size = 0;
  struct vg_chart_point *pts = calloc(c->ntrend, sizeof *pts);
  FILE *f;
  if (!pts || !(desc = trend_desc(pg, c)))
    goto done;
  if (asprintf(&title, "%s%s", T(pg, L_TREND), c->title ? c->title : "") < 0) {
    title = NULL;
    goto done;
  }
  if (c->has_target) {
    if (!(f = open_memstream(&target, &size)))
      goto done;
    fputs(T(pg, L_TARGET), f);
    objective(f, pg, c, 0);
    if (fclose(f))
      goto done;
  }
  for (size_t k = 0; k < c->ntrend; k++) {
    const struct vg_dash_point *t = &c->trend[k];
    pts[k] = (struct vg_chart_point){t->start, t->end, t->has_value ? t->value : NAN, NAN,
                                     NAN};
  }
  snprintf(id, sizeof id, "card-%zu-trend", i);
  struct vg_chart ch = {.width = 320,
                        .height = 120,
                        .left = 48,
                        .right = 10,
                        .top = 10,
                        .bottom = 22,
                        .font_size = 10,
                        .max_ticks = 8, /* the labels that fit are kept */
                        .tz = pg->p->tz,
                        .lang = pg->lg,
                        .id = id,
                        .title = title,
                        .desc = desc,
                        .dots = 1,
                        .has_target = c->has_target,
                        .target = c->target,
                        .target_label = target};
  struct vg_chart_series s = {
      .key = c->series, .color = "#1d5fa7", .p = pts, .n = c->ntrend};
  fputs("<figure class=\"trend\">\n", pg->out);
  rc = vg_chart_svg(pg->out, &ch, &s, 1);
  fputs("</figure>\n", pg->out);
done:
  free(target);
  free(title);
  free(desc);
  free(pts);
  return rc;
}

/* Card i. 0, -EIO or -ENOMEM. */
static int card(const struct page *pg, const struct vg_dash_card *c, size_t i) {
  FILE *out = pg->out;
  const struct vg_tz *tz = pg->p->tz;
  int st = state_of(c);
  fprintf(out, "<article class=\"card %s\"", states[st].cls);
  card_attrs(pg, c);
  fprintf(out, " aria-labelledby=\"card-%zu\">\n<h3 id=\"card-%zu\">", i, i);
  text(pg, c->title);
  fputs("</h3>\n", out);
  if (c->series && *c->series) {
    fprintf(out, "<p class=\"series\">%s<code>", T(pg, L_SERIES));
    text(pg, c->series);
    fputs("</code></p>\n", out);
  }
  fputs("<p class=\"period\">", out);
  period_words(out, pg->en, c->period, tz, c->period_start, c->period_end, 0, 1);
  fputs("</p>\n<p class=\"figure\">", out);
  if (c->has_value && isfinite(c->value))
    number(pg, "value", c->value, c->unit);
  else
    no_value(pg);
  fputs("</p>\n", out);
  if (c->has_target) {
    fprintf(out, "<p class=\"objective\">%s", T(pg, L_OBJECTIVE));
    objective(out, pg, c, 1);
    fputs("</p>\n", out);
  }
  fprintf(out, "<p class=\"attain %s\">", states[st].cls);
  state(pg, st, 0);
  fprintf(out, "</p>\n<p class=\"status %s\">", c->final ? "final" : "provisional");
  status(pg, c);
  fprintf(out, "</p>\n<p class=\"previous-line\">%s (", T(pg, L_PREVIOUS));
  period_words(out, pg->en, c->period, tz, c->period_start, c->period_end, 1, 1);
  fprintf(out, ")%s", T(pg, L_SEP));
  if (c->has_previous && isfinite(c->previous))
    number(pg, "previous", c->previous, c->unit);
  else
    no_value(pg);
  fprintf(out, "</p>\n<p class=\"coverage\">%s", T(pg, L_COVERAGE));
  coverage(pg, c->coverage);
  fputs("</p>\n", out);
  int rc = c->ntrend ? trend(pg, c, i) : 0;
  if (c->description) {
    fputs("<p class=\"description\">", out);
    text(pg, c->description);
    fputs("</p>\n", out);
  }
  fputs("</article>\n", out);
  return rc;
}

/* The table of the same figures. */
static void table(const struct page *pg, const struct vg_dash_card *cards, size_t n) {
  static const int cols[] = {L_COL_INDICATOR, L_COL_SERIES,    L_COL_PERIOD,
                             L_COL_VALUE,     L_COL_OBJECTIVE, L_COL_ATTAINED,
                             L_COL_PREVIOUS,  L_COL_COVERAGE,  L_COL_STATUS};
  FILE *out = pg->out;
  fprintf(out,
          "<section aria-labelledby=\"table-h\">\n<h2 id=\"table-h\">%s</h2>\n"
          "<div class=\"table-wrap\" role=\"region\" aria-labelledby=\"table-caption\" "
          "tabindex=\"0\">\n<table>\n<caption "
          "id=\"table-caption\">%s</caption>\n<thead>\n<tr>",
          T(pg, L_TABLE), T(pg, L_CAPTION));
  for (size_t k = 0; k < sizeof cols / sizeof *cols; k++)
    fprintf(out, "<th scope=\"col\">%s</th>", T(pg, cols[k]));
  fputs("</tr>\n</thead>\n<tbody>\n", out);
  for (size_t i = 0; i < n; i++) {
    const struct vg_dash_card *c = &cards[i];
    int st = state_of(c);
    fputs("<tr", out);
    card_attrs(pg, c);
    fputs("><th scope=\"row\">", out);
    text(pg, c->title);
    fputs("</th><td><code>", out);
    text(pg, c->series);
    fputs("</code></td><td>", out);
    period_words(out, pg->en, c->period, pg->p->tz, c->period_start, c->period_end, 0, 1);
    fputs("</td><td class=\"num\">", out);
    if (c->has_value && isfinite(c->value))
      number(pg, "value", c->value, c->unit);
    else
      no_value(pg);
    fputs("</td><td>", out);
    if (c->has_target)
      objective(out, pg, c, 1);
    fprintf(out, "</td><td class=\"attain %s\">", states[st].cls);
    state(pg, st, 1);
    fputs("</td><td class=\"num\">", out);
    if (c->has_previous && isfinite(c->previous))
      number(pg, "previous", c->previous, c->unit);
    else
      no_value(pg);
    fputs("</td><td class=\"num\">", out);
    coverage(pg, c->coverage);
    fprintf(out, "</td><td class=\"status %s\">", c->final ? "final" : "provisional");
    status(pg, c);
    fputs("</td></tr>\n", out);
  }
  fputs("</tbody>\n</table>\n</div>\n</section>\n", out);
}

/* A link to the page in language lg ("fr" or "en"). */
static void lang_link(const struct page *pg, const char *lg, const char *name) {
  const char *path = pg->p->path ? pg->p->path : "";
  fputs("<li><a href=\"", pg->out);
  text(pg, path);
  fprintf(pg->out, "%slang=%s\" hreflang=\"%s\" lang=\"%s\"%s>%s</a></li>",
          strchr(path, '?') ? "&amp;" : "?", lg, lg, lg,
          strcmp(lg, pg->lg) == 0 ? " aria-current=\"true\"" : "", name);
}

int vg_dashboard_html(FILE *out, const struct vg_dash_page *p,
                      const struct vg_dash_card *cards, size_t n) {
  struct page pg = {.out = out, .p = p, .en = p->lang && strcmp(p->lang, "en") == 0};
  pg.lg = pg.en ? "en" : "fr";
  const char *title = p->title ? p->title : T(&pg, L_TITLE);
  int rc = 0;
  fprintf(out,
          "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>",
          pg.lg);
  text(&pg, title);
  /* an empty icon: no request for /favicon.ico either */
  fprintf(out,
          "</title>\n<link rel=\"icon\" href=\"data:,\">\n<style>\n%s</style>\n</head>\n",
          css);
  fprintf(out, "<body>\n<a class=\"skip\" href=\"#main\">%s</a>\n<header>\n<h1>",
          T(&pg, L_SKIP));
  text(&pg, title);
  fprintf(out, "</h1>\n<nav aria-label=\"%s\"><ul>", T(&pg, L_LANGUAGE));
  lang_link(&pg, "fr", "Français");
  lang_link(&pg, "en", "English");
  fputs("</ul></nav>\n</header>\n<main id=\"main\" tabindex=\"-1\">\n", out);
  char iso[VG_FMT_ISO_MAX];
  vg_fmt_iso(p->generated, p->tz, iso);
  struct date g = local_date(p->tz, p->generated);
  fprintf(out, "<p class=\"updated\">%s<time datetime=\"%s\">", T(&pg, L_UPDATED), iso);
  day_words(out, pg.en, g);
  fprintf(out, "%s%02u:%02u</time> (", T(&pg, L_AT), g.hh, g.mm);
  text(&pg, vg_tz_name(p->tz));
  fprintf(out,
          ")</p>\n<section aria-labelledby=\"cards-h\">\n<h2 id=\"cards-h\">%s</h2>\n",
          T(&pg, L_CARDS));
  if (!n)
    fprintf(out, "<p>%s</p>\n", T(&pg, L_NO_CARD));
  else
    fputs("<div class=\"cards\">\n", out);
  for (size_t i = 0; i < n && !rc; i++)
    rc = card(&pg, &cards[i], i);
  if (rc)
    return rc;
  fputs(n ? "</div>\n</section>\n" : "</section>\n", out);
  if (n)
    table(&pg, cards, n);
  fprintf(out, "</main>\n<footer>\n<p>%s</p>\n</footer>\n", T(&pg, L_FOOTER));
  if (p->refresh_s > 0) /* setTimeout takes at most 2^31 - 1 ms */
    fprintf(out,
            "<script>\n(function () {\n\"use strict\";\nvar every = %d * 1000;\n%s})();\n"
            "</script>\n",
            p->refresh_s < 86400 ? p->refresh_s : 86400, script);
  fputs("</body>\n</html>\n", out);
  return fflush(out) || ferror(out) ? -EIO : 0;
}
