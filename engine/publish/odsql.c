/*
 * ODSQL subset (odsql.h): a hand-written recursive-descent parser for the
 * `where`, `select` and `order_by` parameters of the Explore v2.1 records
 * endpoint, type-checked against the dataset's fields, and an evaluator with
 * SQL's three-valued logic over rows of struct vg_odsql_value.
 *
 * A where clause becomes a small tree stored in one array of nodes: `and` and
 * `or` are n-ary (chains are flattened, so `a and b and c ...` stays one level
 * deep whatever its length), `not` applies to one child, leaves are
 * comparisons of one field with literals. A `not` over a leaf is folded into
 * the leaf (`not x < 3` is `x >= 3`, which is exact in three-valued logic: both
 * are unknown when x is null), so the pushdown helpers see simple conjuncts.
 * The tree's depth is bounded by the parenthesis nesting, which the parser
 * caps at VG_ODSQL_MAX_DEPTH, so neither parsing nor evaluation recurses on
 * an unbounded depth.
 *
 * Literals live in the where object: unescaped strings in one arena sized
 * from the input (a string never grows when unescaped), numbers as doubles,
 * dates as UTC seconds read by vg_parse_time in the request's zone.
 */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vigie/array.h"
#include "vigie/error.h"
#include "vigie/odsql.h"
#include "vigie/publish.h"
#include "vigie/text.h"

#include "odsql_internal.h"

#define MALFORMED "ODSQL query is malformed: "

/* ---- the where tree ---------------------------------------------------- */

enum kind { K_AND, K_OR, K_NOT, K_CMP, K_IN, K_ISNULL, K_CONST };
enum cmp_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };
enum tri { T_FALSE = 0, T_TRUE = 1, T_UNKNOWN = 2 };

struct lit {
  double num;
  int64_t t;
  const char *s;
  size_t len;
};

struct node {
  uint8_t kind; /* enum kind */
  uint8_t op;   /* K_CMP: enum cmp_op; K_IN, K_ISNULL: negated; K_CONST: value */
  uint8_t type; /* K_CMP, K_IN: the field's enum vg_odsql_type */
  size_t field; /* K_CMP, K_IN, K_ISNULL */
  size_t lit;   /* K_CMP: its literal; K_IN: the first of nlit */
  size_t nlit;  /* K_IN */
  int32_t kid;  /* K_AND, K_OR, K_NOT: first child, -1 when none */
  int32_t next; /* next sibling, -1 at the end */
};

/* What the clause requires of one text field (pushdown), when it does. */
struct text_set {
  int n; /* -1: unconstrained */
  const char **vals;
  size_t *lens;
};

struct vg_odsql_where {
  struct node *nodes;
  size_t nnodes, capnodes;
  struct lit *lits;
  size_t nlits, caplits;
  char *arena; /* unescaped strings; len + 1 bytes */
  size_t arena_used;
  int32_t root;
  size_t nfields;
  struct text_set *text; /* nfields entries */
};

/* ---- lexer ------------------------------------------------------------- */

enum tok_type {
  TK_END,
  TK_IDENT,  /* bare name or keyword */
  TK_QIDENT, /* `back-quoted` name, unescaped into name/name_len */
  TK_STRING, /* 'x' or "x", unescaped into the arena */
  TK_NUMBER,
  TK_DATE, /* date'...' */
  TK_LPAREN,
  TK_RPAREN,
  TK_COMMA,
  TK_STAR,
  TK_OP,  /* a comparison operator, in op */
  TK_BAD, /* what the lexer refused (an error is set) */
};

struct tok {
  int type;
  size_t start, end; /* byte range in the source */
  int op;
  double num;
  int64_t t;
  const char *s; /* TK_STRING, TK_QIDENT: unescaped text; TK_IDENT: the source */
  size_t len;
};

struct parser {
  const char *src;
  size_t len, pos;
  struct tok tok;
  const struct vg_odsql_field *fields;
  size_t nfields;
  const struct vg_tz *tz;
  struct vg_odsql_where *w; /* NULL for select / order_by */
  char *qbuf;               /* back-quoted names (select / order_by) */
  int strings;              /* list clauses: strings unescape into qbuf too */
  int depth;
  int err; /* first error, 0 while none */
  char *errstr;
  size_t errstr_size;
};

/* A parser at the start of clause src[0..len); tz for where clauses. */
static struct parser parser_over(const char *src, size_t len,
                                 const struct vg_odsql_field *fields, size_t nfields,
                                 const struct vg_tz *tz, char *errstr,
                                 size_t errstr_size) {
  return (struct parser){.src = src,
                         .len = len,
                         .fields = fields,
                         .nfields = nfields,
                         .tz = tz,
                         .errstr = errstr,
                         .errstr_size = errstr_size};
}

/* A short quotation of the source for messages: at most 24 bytes, bytes
 * that are not printable ASCII shown as \xNN. */
static void quote(const char *s, size_t n, char *buf, size_t size) {
  size_t o = 0;
  size_t max = n > 24 ? 24 : n;
  for (size_t i = 0; i < max && o + 5 < size; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c >= 0x20 && c < 0x7f)
      buf[o++] = (char)c;
    else
      o += (size_t)snprintf(buf + o, size - o, "\\x%02x", c);
  }
  if (max < n && o + 4 < size) {
    memcpy(buf + o, "...", 3);
    o += 3;
  }
  buf[o < size ? o : size - 1] = '\0';
}

static int fail(struct parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int fail(struct parser *p, const char *fmt, ...) {
  if (p->err)
    return p->err;
  p->err = -EINVAL;
  va_list ap;
  va_start(ap, fmt);
  vg_verrstr(p->errstr, p->errstr_size, fmt, ap);
  va_end(ap);
  return p->err;
}

static int oom(struct parser *p) {
  if (!p->err) {
    p->err = -ENOMEM;
    vg_errstr(p->errstr, p->errstr_size, "out of memory parsing an ODSQL clause");
  }
  return p->err;
}

/* "unexpected 'x' at position 3, expected ..." for the current token. */
static int unexpected(struct parser *p, const char *expected) {
  char q[128];
  if (p->tok.type == TK_END)
    return fail(p, MALFORMED "unexpected end of the clause, expected %s", expected);
  quote(p->src + p->tok.start, p->tok.end - p->tok.start, q, sizeof q);
  return fail(p, MALFORMED "unexpected '%s' at position %zu, expected %s", q,
              p->tok.start + 1, expected);
}

/* ASCII only, whatever the locale */
static int is_ident_start(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_ident_char(int c) {
  return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Unescapes a quoted run starting at p->pos (the opening quote) into dst:
 * backslash escapes the next byte, a doubled quote is one quote. Returns the
 * unescaped length, or -1 (error set) when the quote is not closed. */
static long unquote(struct parser *p, char *dst, const char *what) {
  size_t open = p->pos;
  char q = p->src[p->pos++];
  size_t n = 0;
  while (p->pos < p->len) {
    char c = p->src[p->pos++];
    if (c == '\\' && p->pos < p->len) {
      dst[n++] = p->src[p->pos++];
    } else if (c == q) {
      if (p->pos < p->len && p->src[p->pos] == q) {
        dst[n++] = q;
        p->pos++;
      } else {
        return (long)n;
      }
    } else {
      dst[n++] = c;
    }
  }
  fail(p, MALFORMED "unterminated %s starting at position %zu", what, open + 1);
  return -1;
}

static int is_keyword(const struct tok *t, const char *kw) {
  size_t n = strlen(kw);
  return t->type == TK_IDENT && t->len == n && strncasecmp(t->s, kw, n) == 0;
}

/* A date or datetime (date'...' or a string compared to a datetime field):
 * ISO 8601 as vg_parse_time reads it, but never a relative time or "now". */
static int read_date(struct parser *p, const char *s, size_t n, size_t at, int64_t *out) {
  char buf[64], why[128], q[128];
  quote(s, n, q, sizeof q);
  if (n == 0 || n >= sizeof buf || !isdigit((unsigned char)s[0]) || memchr(s, '\0', n))
    return fail(p,
                MALFORMED "invalid date '%s' at position %zu, expected YYYY-MM-DD or "
                          "YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]",
                q, at + 1);
  memcpy(buf, s, n);
  buf[n] = '\0';
  if (vg_parse_time(buf, p->tz, 0, out, why, sizeof why) != 0)
    return fail(p, MALFORMED "invalid date '%s' at position %zu: %s", q, at + 1, why);
  return 0;
}

static int lex(struct parser *p) {
  struct tok *t = &p->tok;
  const char *s = p->src;
  while (p->pos < p->len && (s[p->pos] == ' ' || s[p->pos] == '\t' || s[p->pos] == '\n' ||
                             s[p->pos] == '\r'))
    p->pos++;
  memset(t, 0, sizeof *t);
  t->start = p->pos;
  if (p->pos >= p->len) {
    t->type = TK_END;
    t->end = p->pos;
    return 0;
  }
  t->type = TK_BAD;
  unsigned char c = (unsigned char)s[p->pos];
  unsigned char c1 = p->pos + 1 < p->len ? (unsigned char)s[p->pos + 1] : 0;
  if (is_ident_start(c)) {
    size_t b = p->pos;
    while (p->pos < p->len && is_ident_char((unsigned char)s[p->pos]))
      p->pos++;
    t->type = TK_IDENT;
    t->s = s + b;
    t->len = p->pos - b;
    if (p->w && is_keyword(t, "date")) { /* select / order_by have no literals */
      size_t q = p->pos;
      while (q < p->len && (s[q] == ' ' || s[q] == '\t'))
        q++;
      if (q < p->len && (s[q] == '\'' || s[q] == '"')) {
        /* the raw literal: ISO 8601 has no quotes to escape */
        size_t e = q + 1;
        while (e < p->len && s[e] != s[q])
          e++;
        if (e >= p->len)
          return fail(p, MALFORMED "unterminated date literal starting at position %zu",
                      t->start + 1);
        p->pos = e + 1;
        t->type = TK_DATE;
        t->end = p->pos;
        return read_date(p, s + q + 1, e - q - 1, t->start, &t->t);
      }
    }
    t->end = p->pos;
    return 0;
  }
  if (isdigit(c) ||
      ((c == '-' || c == '.') && (isdigit(c1) || (c1 == '.' && c == '-')))) {
    size_t b = p->pos;
    if (s[p->pos] == '-')
      p->pos++;
    size_t nd = 0;
    while (p->pos < p->len && isdigit((unsigned char)s[p->pos]))
      p->pos++, nd++;
    if (p->pos < p->len && s[p->pos] == '.') {
      p->pos++;
      while (p->pos < p->len && isdigit((unsigned char)s[p->pos]))
        p->pos++, nd++;
    }
    if (nd == 0) {
      t->end = p->pos;
      return unexpected(p, "a number");
    }
    if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
      size_t e = p->pos + 1;
      if (e < p->len && (s[e] == '+' || s[e] == '-'))
        e++;
      if (e < p->len && isdigit((unsigned char)s[e])) {
        while (e < p->len && isdigit((unsigned char)s[e]))
          e++;
        p->pos = e;
      }
    }
    t->end = p->pos;
    if (p->pos < p->len && is_ident_char((unsigned char)s[p->pos])) {
      char q[128];
      quote(s + b, p->pos + 1 - b, q, sizeof q);
      return fail(p, MALFORMED "invalid number '%s' at position %zu", q, b + 1);
    }
    char buf[128];
    size_t n = p->pos - b;
    if (n >= sizeof buf)
      return fail(p, MALFORMED "number at position %zu is too long", b + 1);
    memcpy(buf, s + b, n);
    buf[n] = '\0';
    errno = 0;
    t->num = strtod(buf, NULL);
    if (!isfinite(t->num))
      return fail(p, MALFORMED "number '%s' at position %zu is out of range", buf, b + 1);
    t->type = TK_NUMBER;
    return 0;
  }
  if (c == '\'' || c == '"' || c == '`') {
    char *dst = p->w ? p->w->arena + p->w->arena_used : p->qbuf;
    if (!dst || (c != '`' && !p->w && !p->strings)) {
      t->end = p->pos + 1;
      return unexpected(p, "a field name");
    }
    long n = unquote(p, dst, c == '`' ? "field name" : "string");
    if (n < 0)
      return p->err;
    t->type = c == '`' ? TK_QIDENT : TK_STRING;
    t->s = dst;
    t->len = (size_t)n;
    t->end = p->pos;
    if (p->w)
      p->w->arena_used += (size_t)n;
    return 0;
  }
  p->pos++;
  switch (c) {
  case '(': t->type = TK_LPAREN; break;
  case ')': t->type = TK_RPAREN; break;
  case ',': t->type = TK_COMMA; break;
  case '*': t->type = TK_STAR; break;
  case '=':
    t->type = TK_OP;
    t->op = OP_EQ;
    if (c1 == '=') /* "==" reads as "=" */
      p->pos++;
    break;
  case '!':
    if (c1 != '=') {
      t->end = p->pos;
      return unexpected(p, "'!='");
    }
    p->pos++;
    t->type = TK_OP;
    t->op = OP_NE;
    break;
  case '<':
    t->type = TK_OP;
    t->op = OP_LT;
    if (c1 == '=') {
      t->op = OP_LE;
      p->pos++;
    } else if (c1 == '>') {
      t->op = OP_NE;
      p->pos++;
    }
    break;
  case '>':
    t->type = TK_OP;
    t->op = OP_GT;
    if (c1 == '=') {
      t->op = OP_GE;
      p->pos++;
    }
    break;
  default: {
    char q[16];
    quote(s + t->start, 1, q, sizeof q);
    t->end = p->pos;
    return fail(p, MALFORMED "unexpected character '%s' at position %zu", q,
                t->start + 1);
  }
  }
  t->end = p->pos;
  return 0;
}

/* ---- fields ------------------------------------------------------------ */

static const char *const keywords[] = {"and",  "or",    "not",  "in",  "is",  "null",
                                       "true", "false", "date", "asc", "desc"};

static int is_any_keyword(const struct tok *t) {
  for (size_t i = 0; i < sizeof keywords / sizeof *keywords; i++)
    if (is_keyword(t, keywords[i]))
      return 1;
  return 0;
}

static const char *const type_names[] = {"text", "number", "datetime", "boolean"};

static const char *type_name(int type) {
  return type >= 0 && type <= VG_ODSQL_BOOLEAN ? type_names[type] : "unknown";
}

/* Looks the current token up as a field name: 0 with *idx, or an error
 * ("Unknown field: x", with the nearest name when one is close). */
static int field_of(struct parser *p, size_t *idx) {
  const struct tok *t = &p->tok;
  for (size_t i = 0; i < p->nfields; i++) {
    const char *name = p->fields[i].name;
    if (strlen(name) == t->len && memcmp(name, t->s, t->len) == 0) {
      *idx = i;
      return 0;
    }
  }
  char q[128], key[80];
  quote(t->s, t->len, q, sizeof q);
  size_t kn = t->len < sizeof key - 1 ? t->len : sizeof key - 1;
  memcpy(key, t->s, kn);
  key[kn] = '\0';
  size_t best = SIZE_MAX, bi = 0;
  for (size_t i = 0; i < p->nfields && !memchr(t->s, '\0', t->len); i++) {
    size_t d = vg_edit_distance(key, p->fields[i].name);
    if (d < best) {
      best = d;
      bi = i;
    }
  }
  if (best != SIZE_MAX && best <= 2 && best < t->len)
    return fail(p, "Unknown field: %s (did you mean %s?)", q, p->fields[bi].name);
  return fail(p, "Unknown field: %s", q);
}

static int is_field_token(const struct tok *t) {
  return t->type == TK_QIDENT || (t->type == TK_IDENT && !is_any_keyword(t));
}

/* ---- where: building -------------------------------------------------- */

static int32_t new_node(struct parser *p, int kind) {
  struct vg_odsql_where *w = p->w;
  if (VG_GROW(w->nodes, w->nnodes + 1, w->capnodes))
    return oom(p), -1;
  if (w->nnodes >= INT32_MAX)
    return oom(p), -1;
  struct node *n = &w->nodes[w->nnodes];
  memset(n, 0, sizeof *n);
  n->kind = (uint8_t)kind;
  n->kid = n->next = -1;
  return (int32_t)w->nnodes++;
}

static int push_lit(struct parser *p, const struct lit *l) {
  struct vg_odsql_where *w = p->w;
  if (VG_GROW(w->lits, w->nlits + 1, w->caplits))
    return oom(p);
  w->lits[w->nlits++] = *l;
  return 0;
}

static int is_literal_token(const struct tok *t) {
  return t->type == TK_STRING || t->type == TK_NUMBER || t->type == TK_DATE ||
         is_keyword(t, "true") || is_keyword(t, "false") || is_keyword(t, "null");
}

static const char *literal_kind(const struct tok *t) {
  switch (t->type) {
  case TK_STRING: return "a string";
  case TK_NUMBER: return "a number";
  case TK_DATE: return "a date";
  default: return is_keyword(t, "null") ? "null" : "a boolean";
  }
}

/* Appends literal token t to the where object's literals, converted for a
 * comparison with field f (type checking). */
static int push_literal(struct parser *p, size_t f, const struct tok *t) {
  int type = p->fields[f].type;
  struct lit l;
  memset(&l, 0, sizeof l);
  if (is_keyword(t, "null"))
    return fail(p,
                MALFORMED "comparison with null at position %zu: use `%s is null` or "
                          "`%s is not null`",
                t->start + 1, p->fields[f].name, p->fields[f].name);
  if (type == VG_ODSQL_NUMBER && t->type == TK_NUMBER) {
    l.num = t->num;
  } else if (type == VG_ODSQL_BOOLEAN &&
             (is_keyword(t, "true") || is_keyword(t, "false"))) {
    l.num = is_keyword(t, "true");
  } else if (type == VG_ODSQL_TEXT && t->type == TK_STRING) {
    l.s = t->s;
    l.len = t->len;
  } else if (type == VG_ODSQL_DATETIME && t->type == TK_DATE) {
    l.t = t->t;
  } else if (type == VG_ODSQL_DATETIME && t->type == TK_STRING) {
    if (read_date(p, t->s, t->len, t->start, &l.t) != 0)
      return p->err;
  } else {
    char q[128];
    quote(p->src + t->start, t->end - t->start, q, sizeof q);
    return fail(p,
                MALFORMED "field `%s` is of type %s and cannot be compared with %s (%s) "
                          "at position %zu",
                p->fields[f].name, type_name(type), literal_kind(t), q, t->start + 1);
  }
  return push_lit(p, &l);
}

/* A leaf on field f: a comparison with literal lit, or an `in` over nlit
 * literals from lit, or `is null`. */
static int32_t leaf(struct parser *p, int kind, int op, size_t f, size_t lit,
                    size_t nlit) {
  int32_t n = new_node(p, kind);
  if (n < 0)
    return -1;
  struct node *nd = &p->w->nodes[n];
  nd->op = (uint8_t)op;
  nd->type = (uint8_t)p->fields[f].type;
  nd->field = f;
  nd->lit = lit;
  nd->nlit = nlit;
  return n;
}

static int negate_op(int op) {
  static const int inv[] = {[OP_EQ] = OP_NE, [OP_NE] = OP_EQ, [OP_LT] = OP_GE,
                            [OP_LE] = OP_GT, [OP_GT] = OP_LE, [OP_GE] = OP_LT};
  return inv[op];
}

static int flip_op(int op) { /* 3 < x is x > 3 */
  static const int fl[] = {[OP_EQ] = OP_EQ, [OP_NE] = OP_NE, [OP_LT] = OP_GT,
                           [OP_LE] = OP_GE, [OP_GT] = OP_LT, [OP_GE] = OP_LE};
  return fl[op];
}

/* field (cmp literal | [not] in (...) | is [not] null), the field already
 * consumed. */
static int32_t field_predicate(struct parser *p, size_t f) {
  struct tok *t = &p->tok;
  if (t->type == TK_OP) {
    int op = t->op;
    if (lex(p))
      return -1;
    if (is_field_token(t))
      return fail(p, MALFORMED "comparing two fields (position %zu) is not supported",
                  t->start + 1),
             -1;
    if (!is_literal_token(t))
      return unexpected(p, "a literal (number, 'string', date'...')"), -1;
    size_t li = p->w->nlits;
    if (push_literal(p, f, t) || lex(p))
      return -1;
    return leaf(p, K_CMP, op, f, li, 1);
  }
  int neg = 0;
  if (is_keyword(t, "is")) {
    if (lex(p))
      return -1;
    if (is_keyword(t, "not")) {
      neg = 1;
      if (lex(p))
        return -1;
    }
    if (!is_keyword(t, "null"))
      return unexpected(p, "null"), -1;
    if (lex(p))
      return -1;
    return leaf(p, K_ISNULL, neg, f, 0, 0);
  }
  if (is_keyword(t, "not")) {
    neg = 1;
    if (lex(p))
      return -1;
    if (!is_keyword(t, "in"))
      return unexpected(p, "in after not"), -1;
  }
  if (is_keyword(t, "in")) {
    if (lex(p))
      return -1;
    if (t->type != TK_LPAREN)
      return unexpected(p, "'(' after in"), -1;
    if (lex(p))
      return -1;
    size_t first = p->w->nlits, count = 0;
    for (;;) {
      if (!is_literal_token(t))
        return unexpected(p, "a literal in the list"), -1;
      if (push_literal(p, f, t) || lex(p))
        return -1;
      count++;
      if (t->type == TK_RPAREN)
        break;
      if (t->type != TK_COMMA)
        return unexpected(p, "',' or ')' in the list"), -1;
      if (lex(p))
        return -1;
    }
    if (lex(p))
      return -1;
    return leaf(p, K_IN, neg, f, first, count);
  }
  char what[160];
  snprintf(what, sizeof what,
           "an operator (=, !=, <, <=, >, >=, in, is null) after field `%s`",
           p->fields[f].name);
  return unexpected(p, what), -1;
}

static int32_t parse_or(struct parser *p);

static int32_t parse_primary(struct parser *p) {
  struct tok *t = &p->tok;
  if (t->type == TK_LPAREN) {
    if (++p->depth > VG_ODSQL_MAX_DEPTH)
      return fail(p, MALFORMED "expression nested deeper than %d levels at position %zu",
                  VG_ODSQL_MAX_DEPTH, t->start + 1),
             -1;
    if (lex(p))
      return -1;
    int32_t n = parse_or(p);
    if (n < 0)
      return -1;
    if (t->type != TK_RPAREN)
      return unexpected(p, "')'"), -1;
    p->depth--;
    return lex(p) ? -1 : n;
  }
  if (is_keyword(t, "true") || is_keyword(t, "false")) {
    int v = is_keyword(t, "true");
    if (lex(p))
      return -1;
    if (t->type == TK_OP)
      return fail(p, MALFORMED "a boolean cannot be compared (position %zu)",
                  t->start + 1),
             -1;
    int32_t n = new_node(p, K_CONST);
    if (n >= 0)
      p->w->nodes[n].op = (uint8_t)v;
    return n;
  }
  if (is_field_token(t)) {
    size_t f;
    if (field_of(p, &f) || lex(p))
      return -1;
    return field_predicate(p, f);
  }
  if (t->type == TK_STRING || t->type == TK_NUMBER || t->type == TK_DATE) {
    /* literal op field */
    struct tok lt = *t;
    if (lex(p))
      return -1;
    if (t->type != TK_OP)
      return unexpected(p, "a comparison operator after the literal"), -1;
    int op = flip_op(t->op);
    if (lex(p))
      return -1;
    if (!is_field_token(t))
      return unexpected(p, "a field after the comparison operator"), -1;
    size_t f;
    if (field_of(p, &f))
      return -1;
    size_t li = p->w->nlits;
    if (push_literal(p, f, &lt) || lex(p))
      return -1;
    return leaf(p, K_CMP, op, f, li, 1);
  }
  return unexpected(p, "a field, a literal, not or '('"), -1;
}

/* not* primary: nots are counted in a loop (no recursion); an even number
 * cancels out, since negation in three-valued logic is an involution. A not
 * over a leaf is folded into the leaf. */
static int32_t parse_not(struct parser *p) {
  int nots = 0;
  while (is_keyword(&p->tok, "not")) {
    nots ^= 1;
    if (lex(p))
      return -1;
  }
  int32_t n = parse_primary(p);
  if (n < 0 || !nots)
    return n;
  struct node *nd = &p->w->nodes[n];
  switch (nd->kind) {
  case K_CMP: nd->op = (uint8_t)negate_op(nd->op); return n;
  case K_IN:
  case K_ISNULL:
  case K_CONST: nd->op ^= 1; return n;
  default: break;
  }
  int32_t m = new_node(p, K_NOT);
  if (m >= 0)
    p->w->nodes[m].kid = n;
  return m;
}

/* A chain of `kind` (K_AND or K_OR): children are linked as siblings, and a
 * child of the same kind (parenthesised) is spliced in. */
static int32_t chain(struct parser *p, int kind, const char *kw,
                     int32_t (*sub)(struct parser *)) {
  int32_t first = sub(p);
  if (first < 0 || !is_keyword(&p->tok, kw))
    return first;
  int32_t n = new_node(p, kind);
  if (n < 0)
    return -1;
  int32_t last = -1;
  int32_t kid = first;
  for (;;) {
    struct vg_odsql_where *w = p->w;
    /* append kid (or its children when it has our kind) */
    int32_t head = kid, tail = kid;
    if (w->nodes[kid].kind == kind) {
      head = w->nodes[kid].kid;
      tail = head;
      while (w->nodes[tail].next >= 0)
        tail = w->nodes[tail].next;
    }
    if (last < 0)
      w->nodes[n].kid = head;
    else
      w->nodes[last].next = head;
    last = tail;
    if (!is_keyword(&p->tok, kw))
      break;
    if (lex(p))
      return -1;
    kid = sub(p);
    if (kid < 0)
      return -1;
  }
  return n;
}

static int32_t parse_and(struct parser *p) {
  return chain(p, K_AND, "and", parse_not);
}

static int32_t parse_or(struct parser *p) {
  return chain(p, K_OR, "or", parse_and);
}

/* ---- where: pushdown ---------------------------------------------------- */

static int lit_eq(const struct lit *a, const char *s, size_t n) {
  return a->len == n && (n == 0 || memcmp(a->s, s, n) == 0);
}

/* The values one top-level conjunct allows for text field f, into set (the
 * first constraint) or intersected with it. */
static int text_constrain(struct vg_odsql_where *w, const struct node *nd, size_t f,
                          struct text_set *set) {
  const struct lit *l;
  size_t nl;
  if (nd->kind == K_CMP && nd->op == OP_EQ && nd->field == f) {
    l = &w->lits[nd->lit];
    nl = 1;
  } else if (nd->kind == K_IN && !nd->op && nd->field == f) {
    l = &w->lits[nd->lit];
    nl = nd->nlit;
  } else {
    return 0;
  }
  if (set->n < 0) {
    set->vals = malloc(nl * sizeof *set->vals);
    set->lens = malloc(nl * sizeof *set->lens);
    if (!set->vals || !set->lens)
      return -ENOMEM;
    set->n = 0;
    for (size_t i = 0; i < nl; i++) {
      int dup = 0;
      for (int j = 0; j < set->n && !dup; j++)
        dup = lit_eq(&l[i], set->vals[j], set->lens[j]);
      if (!dup) {
        set->vals[set->n] = l[i].s ? l[i].s : "";
        set->lens[set->n++] = l[i].len;
      }
    }
    return 0;
  }
  int kept = 0;
  for (int j = 0; j < set->n; j++) {
    int in = 0;
    for (size_t i = 0; i < nl && !in; i++)
      in = lit_eq(&l[i], set->vals[j], set->lens[j]);
    if (in) {
      set->vals[kept] = set->vals[j];
      set->lens[kept++] = set->lens[j];
    }
  }
  set->n = kept;
  return 0;
}

static int compute_text_sets(struct vg_odsql_where *w,
                             const struct vg_odsql_field *fields) {
  w->text = calloc(w->nfields ? w->nfields : 1, sizeof *w->text);
  if (!w->text)
    return -ENOMEM;
  for (size_t f = 0; f < w->nfields; f++) {
    struct text_set *set = &w->text[f];
    set->n = -1;
    if (fields[f].type != VG_ODSQL_TEXT)
      continue;
    const struct node *root = &w->nodes[w->root];
    if (root->kind != K_AND) {
      if (text_constrain(w, root, f, set))
        return -ENOMEM;
      continue;
    }
    for (int32_t k = root->kid; k >= 0; k = w->nodes[k].next)
      if (text_constrain(w, &w->nodes[k], f, set))
        return -ENOMEM;
  }
  return 0;
}

/* ---- where: public ----------------------------------------------------- */

void vg_odsql_where_free(struct vg_odsql_where *w) {
  if (!w)
    return;
  if (w->text)
    for (size_t f = 0; f < w->nfields; f++) {
      free(w->text[f].vals);
      free(w->text[f].lens);
    }
  free(w->text);
  free(w->nodes);
  free(w->lits);
  free(w->arena);
  free(w);
}

static int check_len(size_t len, char *errstr, size_t errstr_size) {
  if (len > VG_ODSQL_MAX_LEN) {
    vg_errstr(errstr, errstr_size,
              MALFORMED "the clause is %zu bytes long, more than the %d allowed", len,
              VG_ODSQL_MAX_LEN);
    return -EINVAL;
  }
  return 0;
}

int vg_odsql_where_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, const struct vg_tz *tz,
                         struct vg_odsql_where **out, char *errstr, size_t errstr_size) {
  *out = NULL;
  if (check_len(len, errstr, errstr_size))
    return -EINVAL;
  struct parser p = parser_over(src, len, fields, nfields, tz, errstr, errstr_size);
  struct vg_odsql_where *w = calloc(1, sizeof *w);
  if (w)
    w->arena = malloc(len + 1);
  if (!w || !w->arena) {
    free(w);
    vg_errstr(errstr, errstr_size, "out of memory parsing an ODSQL clause");
    return -ENOMEM;
  }
  w->nfields = nfields;
  p.w = w;
  if (lex(&p))
    goto fail;
  if (p.tok.type == TK_END) { /* blank: matches everything */
    vg_odsql_where_free(w);
    return 0;
  }
  w->root = parse_or(&p);
  if (w->root < 0)
    goto fail;
  if (p.tok.type != TK_END) {
    unexpected(&p, p.tok.type == TK_RPAREN ? "the end of the clause (unbalanced ')')"
                                           : "and, or or the end of the clause");
    goto fail;
  }
  if (compute_text_sets(w, fields)) {
    oom(&p);
    goto fail;
  }
  *out = w;
  return 0;
fail:
  assert(p.err);
  vg_odsql_where_free(w);
  return p.err ? p.err : -EINVAL;
}

int vg_odsql_cell_null(const struct vg_odsql_value *v, int type) {
  return v->null || (vg_odsql_numeric(type) && isnan(v->num));
}

static int cmp_cell(const struct vg_odsql_value *v, int type, const char *s, size_t len,
                    double num, int64_t t) {
  switch (type) {
  case VG_ODSQL_NUMBER:
  case VG_ODSQL_BOOLEAN: return (v->num > num) - (v->num < num);
  case VG_ODSQL_DATETIME: return (v->time_s > t) - (v->time_s < t);
  default: {
    size_t n = v->len < len ? v->len : len;
    int c = n ? memcmp(v->str, s, n) : 0;
    if (c)
      return c < 0 ? -1 : 1;
    return (v->len > len) - (v->len < len);
  }
  }
}

static int eval(const struct vg_odsql_where *w, int32_t i,
                const struct vg_odsql_value *row) {
  const struct node *nd = &w->nodes[i];
  switch (nd->kind) {
  case K_AND:
  case K_OR: {
    /* false decides an and, true an or; else unknown wins over the other */
    int decides = nd->kind == K_AND ? T_FALSE : T_TRUE;
    int r = !decides;
    for (int32_t k = nd->kid; k >= 0; k = w->nodes[k].next) {
      int v = eval(w, k, row);
      if (v == decides)
        return v;
      if (v == T_UNKNOWN)
        r = T_UNKNOWN;
    }
    return r;
  }
  case K_NOT: {
    int v = eval(w, nd->kid, row);
    return v == T_UNKNOWN ? T_UNKNOWN : !v;
  }
  case K_CONST: return nd->op ? T_TRUE : T_FALSE;
  case K_ISNULL: return vg_odsql_cell_null(&row[nd->field], nd->type) ^ nd->op;
  case K_CMP: {
    const struct vg_odsql_value *v = &row[nd->field];
    if (vg_odsql_cell_null(v, nd->type))
      return T_UNKNOWN;
    const struct lit *l = &w->lits[nd->lit];
    int c = cmp_cell(v, nd->type, l->s, l->len, l->num, l->t);
    switch (nd->op) {
    case OP_EQ: return c == 0;
    case OP_NE: return c != 0;
    case OP_LT: return c < 0;
    case OP_LE: return c <= 0;
    case OP_GT: return c > 0;
    default: return c >= 0;
    }
  }
  default: { /* K_IN */
    const struct vg_odsql_value *v = &row[nd->field];
    if (vg_odsql_cell_null(v, nd->type))
      return T_UNKNOWN;
    for (size_t k = 0; k < nd->nlit; k++) {
      const struct lit *l = &w->lits[nd->lit + k];
      if (cmp_cell(v, nd->type, l->s, l->len, l->num, l->t) == 0)
        return nd->op ? T_FALSE : T_TRUE;
    }
    return nd->op ? T_TRUE : T_FALSE;
  }
  }
}

int vg_odsql_where_eval(const struct vg_odsql_where *w,
                        const struct vg_odsql_value *row) {
  if (!w)
    return 1;
  return eval(w, w->root, row) == T_TRUE;
}

static void time_constrain(const struct vg_odsql_where *w, const struct node *nd,
                           size_t f, int64_t *from, int64_t *to) {
  if (nd->field != f || nd->type != VG_ODSQL_DATETIME)
    return;
  if (nd->kind == K_IN && !nd->op) {
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t k = 0; k < nd->nlit; k++) {
      int64_t t = w->lits[nd->lit + k].t;
      lo = t < lo ? t : lo;
      hi = t > hi ? t : hi;
    }
    *from = lo > *from ? lo : *from;
    if (hi < INT64_MAX && hi + 1 < *to)
      *to = hi + 1;
    return;
  }
  if (nd->kind != K_CMP)
    return;
  int64_t t = w->lits[nd->lit].t;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  switch (nd->op) {
  case OP_EQ:
    lo = t;
    hi = t < INT64_MAX ? t + 1 : t;
    break;
  case OP_LT: hi = t; break;
  case OP_LE: hi = t < INT64_MAX ? t + 1 : t; break;
  case OP_GT: lo = t < INT64_MAX ? t + 1 : t; break;
  case OP_GE: lo = t; break;
  default: break;
  }
  if (lo > *from)
    *from = lo;
  if (hi < *to)
    *to = hi;
}

void vg_odsql_where_time_bounds(const struct vg_odsql_where *w, size_t field,
                                int64_t *from_s, int64_t *to_s) {
  *from_s = INT64_MIN;
  *to_s = INT64_MAX;
  if (!w || field >= w->nfields)
    return;
  const struct node *root = &w->nodes[w->root];
  if (root->kind != K_AND) {
    time_constrain(w, root, field, from_s, to_s);
    return;
  }
  for (int32_t k = root->kid; k >= 0; k = w->nodes[k].next)
    time_constrain(w, &w->nodes[k], field, from_s, to_s);
}

int vg_odsql_where_text_values(const struct vg_odsql_where *w, size_t field,
                               const char *const **values, const size_t **lens) {
  if (!w || field >= w->nfields || w->text[field].n < 0)
    return -1;
  *values = w->text[field].vals;
  *lens = w->text[field].lens;
  return w->text[field].n;
}

/* ---- select and order_by ----------------------------------------------- */

/* Sets up a parser over a list clause; back-quoted names unescape into a
 * buffer of the clause's size. */
static int list_begin(struct parser *p, const char *src, size_t len,
                      const struct vg_odsql_field *fields, size_t nfields, int strings,
                      char *errstr, size_t errstr_size) {
  *p = parser_over(src, len, fields, nfields, NULL, errstr, errstr_size);
  p->strings = strings;
  if (check_len(len, errstr, errstr_size))
    return -EINVAL;
  p->qbuf = malloc(len + 1);
  if (!p->qbuf) {
    vg_errstr(errstr, errstr_size, "out of memory parsing an ODSQL clause");
    return -ENOMEM;
  }
  return lex(p);
}

/* After an item: 1 at the end of the list, 0 past a comma (the next item is
 * the current token), or an error. */
static int list_next(struct parser *p, const char *expected) {
  if (p->tok.type == TK_END)
    return 1;
  if (p->tok.type != TK_COMMA)
    return unexpected(p, expected);
  return lex(p);
}

static int list_end(struct parser *p, int rc, size_t *n) {
  free(p->qbuf);
  if (rc)
    *n = 0;
  return rc;
}

int vg_odsql_select_parse(const char *src, size_t len,
                          const struct vg_odsql_field *fields, size_t nfields,
                          size_t *idx, size_t cap, size_t *n, char *errstr,
                          size_t errstr_size) {
  struct parser p;
  *n = 0;
  int rc = list_begin(&p, src, len, fields, nfields, 0, errstr, errstr_size);
  if (rc)
    goto out;
  if (p.tok.type == TK_END) { /* no select: every field */
    if (nfields > cap) {
      rc = fail(&p, MALFORMED "select lists more than %zu fields", cap);
      goto out;
    }
    for (size_t i = 0; i < nfields; i++)
      idx[(*n)++] = i;
    goto out;
  }
  for (;;) {
    if (p.tok.type == TK_STAR) {
      if (*n + nfields > cap) {
        rc = fail(&p, MALFORMED "select lists more than %zu fields", cap);
        goto out;
      }
      for (size_t i = 0; i < nfields; i++)
        idx[(*n)++] = i;
    } else if (is_field_token(&p.tok)) {
      size_t f;
      rc = field_of(&p, &f);
      if (rc)
        goto out;
      if (*n == cap) {
        rc = fail(&p, MALFORMED "select lists more than %zu fields", cap);
        goto out;
      }
      idx[(*n)++] = f;
    } else {
      rc = unexpected(&p, "a field name or *");
      goto out;
    }
    rc = lex(&p);
    if (rc)
      break;
    rc = list_next(&p, "',' or the end of the select list");
    if (rc)
      break;
  }
out:
  return list_end(&p, rc < 0 ? rc : 0, n);
}

int vg_odsql_order_parse(const char *src, size_t len, const struct vg_odsql_field *fields,
                         size_t nfields, struct vg_odsql_order *keys, size_t cap,
                         size_t *n, char *errstr, size_t errstr_size) {
  struct parser p;
  *n = 0;
  int rc = list_begin(&p, src, len, fields, nfields, 0, errstr, errstr_size);
  if (rc || p.tok.type == TK_END)
    goto out;
  for (;;) {
    size_t f;
    if (!is_field_token(&p.tok)) {
      rc = unexpected(&p, "a field name");
      goto out;
    }
    rc = field_of(&p, &f);
    if (rc)
      goto out;
    rc = lex(&p);
    if (rc)
      goto out;
    int desc = 0;
    if (is_keyword(&p.tok, "asc") || is_keyword(&p.tok, "desc")) {
      desc = is_keyword(&p.tok, "desc");
      rc = lex(&p);
      if (rc)
        goto out;
    }
    if (*n == cap) {
      rc = fail(&p, MALFORMED "order_by lists more than %zu fields", cap);
      goto out;
    }
    keys[*n].field = f;
    keys[*n].desc = desc;
    (*n)++;
    rc = list_next(&p, "asc, desc, ',' or the end of the order_by list");
    if (rc)
      break;
  }
out:
  return list_end(&p, rc < 0 ? rc : 0, n);
}

int vg_odsql_row_cmp(const struct vg_odsql_order *keys, size_t nkeys,
                     const struct vg_odsql_field *fields, const struct vg_odsql_value *a,
                     const struct vg_odsql_value *b) {
  for (size_t k = 0; k < nkeys; k++) {
    size_t f = keys[k].field;
    int type = fields[f].type;
    const struct vg_odsql_value *x = &a[f], *y = &b[f];
    int nx = vg_odsql_cell_null(x, type), ny = vg_odsql_cell_null(y, type);
    int c;
    if (nx || ny)
      c = ny - nx; /* null first */
    else
      c = cmp_cell(x, type, y->str, y->len, y->num, y->time_s);
    if (c)
      return keys[k].desc ? -c : c;
  }
  return 0;
}

/* ---- analysis: group_by, aggregates ------------------------------------- */

/* One parsed item of a select, group_by or order_by list. */
struct item {
  struct vg_odsql_col c; /* fmt and canon owned until moved into a column */
  int type;              /* the value's type */
  int star;              /* `*` */
  long colref;           /* a column named by its alias, -1 when not */
  size_t start, end;     /* the expression's bytes in the source */
  char *alias;
};

/* n bytes of s (which need not be NUL-terminated) as a C string. */
static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static void item_release(struct item *it) {
  free(it->c.fmt);
  free(it->c.canon);
  free(it->alias);
  memset(it, 0, sizeof *it);
}

static const struct {
  const char *name;
  int fn;
} functions[] = {
    {"year", KEY_YEAR},     {"month", KEY_MONTH},
    {"day", KEY_DAY},       {"hour", KEY_HOUR},
    {"minute", KEY_MINUTE}, {"date_format", KEY_DATE_FORMAT},
    {"range", KEY_RANGE},   {"count", AGG_COUNT},
    {"sum", AGG_SUM},       {"avg", AGG_AVG},
    {"min", AGG_MIN},       {"max", AGG_MAX},
    {"median", AGG_MEDIAN}, {"percentile", AGG_PERCENTILE},
};

static const char *fn_name(int fn) {
  if (fn == AGG_COUNT_ALL || fn == AGG_COUNT_DISTINCT)
    return "count";
  for (size_t i = 0; i < sizeof functions / sizeof *functions; i++)
    if (functions[i].fn == fn)
      return functions[i].name;
  return "?";
}

/* A field argument: the current token, then the next. */
static int field_arg(struct parser *p, size_t *f) {
  if (!is_field_token(&p->tok))
    return unexpected(p, "a field name");
  int rc = field_of(p, f);
  return rc ? rc : lex(p);
}

static int expect(struct parser *p, int type, const char *what) {
  return p->tok.type == type ? lex(p) : unexpected(p, what);
}

/* The argument types a function takes: 1 << enum vg_odsql_type. */
static int fn_takes(int fn) {
  switch (fn) {
  case AGG_COUNT:
  case AGG_COUNT_DISTINCT: return 7;
  case AGG_MIN:
  case AGG_MAX: return 1 << VG_ODSQL_NUMBER | 1 << VG_ODSQL_DATETIME;
  case AGG_SUM:
  case AGG_AVG:
  case AGG_MEDIAN:
  case AGG_PERCENTILE:
  case KEY_RANGE: return 1 << VG_ODSQL_NUMBER;
  default: return 1 << VG_ODSQL_DATETIME;
  }
}

static int fn_type(const struct vg_odsql_col *c) {
  switch (c->fn) {
  case KEY_FIELD:
  case AGG_MIN:
  case AGG_MAX: return c->in_type;
  case KEY_DATE_FORMAT:
  case KEY_RANGE: return VG_ODSQL_TEXT;
  default: return VG_ODSQL_NUMBER;
  }
}

/* fn(...) after its name; the current token is the '('. */
static int parse_call(struct parser *p, struct item *it, int fn) {
  struct vg_odsql_col *c = &it->c;
  char canon[192];
  int rc = lex(p);
  if (rc)
    return rc;
  c->fn = fn;
  if (fn == AGG_COUNT && p->tok.type == TK_STAR) {
    c->fn = AGG_COUNT_ALL;
    rc = lex(p);
  } else {
    if (fn == AGG_COUNT && is_keyword(&p->tok, "distinct")) {
      c->fn = AGG_COUNT_DISTINCT;
      if ((rc = lex(p)))
        return rc;
    }
    size_t at = p->tok.start;
    rc = field_arg(p, &c->field);
    if (rc)
      return rc;
    c->in_type = p->fields[c->field].type;
    if (!(fn_takes(c->fn) & 1 << c->in_type))
      return fail(p, MALFORMED "%s() takes a %s field, but %s at position %zu is %s",
                  fn_name(c->fn),
                  fn_takes(c->fn) == 1 << VG_ODSQL_DATETIME ? "datetime"
                  : fn_takes(c->fn) == 1 << VG_ODSQL_NUMBER ? "number"
                                                            : "number or datetime",
                  p->fields[c->field].name, at + 1, type_name(c->in_type));
  }
  if (rc)
    return rc;
  if (fn == AGG_PERCENTILE || fn == KEY_RANGE || fn == KEY_DATE_FORMAT) {
    if ((rc = expect(p, TK_COMMA, "','")))
      return rc;
    if (fn == KEY_DATE_FORMAT) {
      if (p->tok.type != TK_STRING)
        return unexpected(p, "a quoted date pattern such as 'yyyy-MM'");
      char probe[256];
      c->fmt = dup_n(p->tok.s, p->tok.len);
      if (!c->fmt)
        return oom(p);
      if (memchr(p->tok.s, '\0', p->tok.len) ||
          vg_odsql_date_format(c->fmt, 2026, 3, 29, 2, 30, 0, probe, sizeof probe) < 0)
        return fail(p,
                    MALFORMED
                    "invalid date pattern at position %zu: use yyyy, yy, MM, M, "
                    "dd, d, HH, H, mm, ss, 'quoted text' and punctuation",
                    p->tok.start + 1);
    } else {
      if (p->tok.type != TK_NUMBER)
        return unexpected(p, fn == KEY_RANGE ? "a step (a number > 0)"
                                             : "a percentile (a number from 0 to 100)");
      c->arg = p->tok.num;
      if (fn == KEY_RANGE ? !(c->arg > 0) : !(c->arg >= 0 && c->arg <= 100))
        return fail(p, MALFORMED "%s at position %zu is out of range, expected %s",
                    fn == KEY_RANGE ? "the step" : "the percentile", p->tok.start + 1,
                    fn == KEY_RANGE ? "a number > 0" : "0 to 100");
    }
    if ((rc = lex(p)))
      return rc;
  }
  if (p->tok.type != TK_RPAREN)
    return unexpected(p, "')'");
  it->end = p->tok.end;
  if ((rc = lex(p)))
    return rc;
  if (c->fn == AGG_COUNT_ALL)
    snprintf(canon, sizeof canon, "count(*)");
  else if (c->fmt)
    snprintf(canon, sizeof canon, "date_format(#%zu)", c->field);
  else if (fn == AGG_PERCENTILE || fn == KEY_RANGE)
    snprintf(canon, sizeof canon, "%s(#%zu,%.17g)", fn_name(c->fn), c->field, c->arg);
  else
    snprintf(canon, sizeof canon, "%s%s(#%zu)", fn_name(c->fn),
             c->fn == AGG_COUNT_DISTINCT ? "-distinct" : "", c->field);
  if (c->fmt) { /* the pattern, unbounded, follows */
    size_t n = strlen(canon) + strlen(c->fmt) + 2;
    c->canon = malloc(n);
    if (c->canon)
      snprintf(c->canon, n, "%s'%s", canon, c->fmt);
  } else {
    c->canon = strdup(canon);
  }
  return c->canon ? 0 : oom(p);
}

/* The column of a, if any, named as the current identifier token. */
static long column_named(const struct vg_odsql_analysis *a, const struct tok *t) {
  for (size_t i = 0; a && i < a->ncols; i++)
    if (strlen(a->schema[i].name) == t->len &&
        memcmp(a->schema[i].name, t->s, t->len) == 0)
      return (long)i;
  return -1;
}

/* One item: `*` (when star_ok), an alias of a column of a (when a is
 * given), a field, or a function call; then `as alias` (when alias_ok). */
static int parse_item(struct parser *p, struct item *it,
                      const struct vg_odsql_analysis *a, int star_ok, int alias_ok) {
  memset(it, 0, sizeof *it);
  it->colref = -1;
  it->start = p->tok.start;
  int rc;
  if (star_ok && p->tok.type == TK_STAR) {
    it->star = 1;
    it->end = p->tok.end;
    return lex(p);
  }
  if (!is_field_token(&p->tok))
    return unexpected(p, "a field name or a function");
  struct tok name = p->tok;
  it->end = name.end;
  long col = column_named(a, &name);
  if (name.type == TK_QIDENT) { /* never a function */
    if (col < 0 && (rc = field_of(p, &it->c.field)))
      return rc;
    if ((rc = lex(p)))
      return rc;
  } else {
    if ((rc = lex(p)))
      return rc;
    if (p->tok.type == TK_LPAREN) {
      for (size_t i = 0; i < sizeof functions / sizeof *functions; i++)
        if (is_keyword(&name, functions[i].name)) {
          rc = parse_call(p, it, functions[i].fn);
          goto alias;
        }
      char q[128];
      quote(name.s, name.len, q, sizeof q);
      return fail(p, MALFORMED "unknown function '%s' at position %zu", q,
                  name.start + 1);
    }
    if (col < 0) {
      struct tok cur = p->tok;
      p->tok = name;
      rc = field_of(p, &it->c.field);
      p->tok = cur;
      if (rc)
        return rc;
    }
  }
  if (col >= 0) {
    it->colref = col;
    it->type = a->schema[col].type;
    goto alias;
  }
  it->c.fn = KEY_FIELD;
  it->c.in_type = p->fields[it->c.field].type;
  char canon[32];
  snprintf(canon, sizeof canon, "#%zu", it->c.field);
  if (!(it->c.canon = strdup(canon)))
    return oom(p);
alias:
  if (rc)
    return rc;
  if (it->colref < 0)
    it->type = fn_type(&it->c);
  if (alias_ok && is_keyword(&p->tok, "as")) {
    if ((rc = lex(p)))
      return rc;
    if (!is_field_token(&p->tok))
      return unexpected(p, "an alias (a name)");
    if (!(it->alias = dup_n(p->tok.s, p->tok.len)))
      return oom(p);
    if (memchr(p->tok.s, '\0', p->tok.len) || !p->tok.len)
      return fail(p, MALFORMED "invalid alias at position %zu", p->tok.start + 1);
    return lex(p);
  }
  return 0;
}

/* Appends the item as a column named by its alias, else by its source text
 * (a field: its name). Takes the item's strings. */
static int add_column(struct parser *p, struct vg_odsql_analysis *a, struct item *it) {
  if (a->ncols == VG_ODSQL_MAX_COLUMNS)
    return fail(p, MALFORMED "the query has more than %d columns", VG_ODSQL_MAX_COLUMNS);
  char *name = it->alias;
  if (!name && it->c.fn == KEY_FIELD)
    name = strdup(p->fields[it->c.field].name);
  else if (!name)
    name = dup_n(p->src + it->start, it->end - it->start);
  if (!name)
    return oom(p);
  it->alias = NULL;
  a->col[a->ncols] = it->c;
  a->schema[a->ncols] = (struct vg_odsql_field){name, it->type};
  memset(&it->c, 0, sizeof it->c);
  a->ncols++;
  return 0;
}

/* The column that computes what the item does, or -1. */
static long column_like(const struct vg_odsql_analysis *a, const struct item *it) {
  if (it->colref >= 0)
    return it->colref;
  for (size_t i = 0; i < a->ncols; i++)
    if (strcmp(a->col[i].canon, it->c.canon) == 0)
      return (long)i;
  return -1;
}

static int blank(const char *s) {
  return !s || s[strspn(s, " \t\r\n")] == '\0';
}

void vg_odsql_analysis_free(struct vg_odsql_analysis *a) {
  if (!a)
    return;
  for (size_t i = 0; i < a->ncols; i++) {
    free(a->col[i].fmt);
    free(a->col[i].canon);
    free((char *)a->schema[i].name);
  }
  free(a);
}

/* group_by: the keys, first columns of a. */
static int parse_group_by(struct parser *p, struct vg_odsql_analysis *a) {
  int rc;
  for (;;) {
    struct item it;
    size_t at = p->tok.start;
    rc = parse_item(p, &it, NULL, 0, 1);
    if (!rc && VG_ODSQL_IS_AGG(it.c.fn))
      rc = fail(p,
                MALFORMED "group_by takes fields, date functions and range(), not the "
                          "aggregate at position %zu",
                at + 1);
    if (!rc)
      rc = add_column(p, a, &it);
    item_release(&it);
    if (rc || (rc = list_next(p, "',', as or the end of the group_by list")))
      return rc < 0 ? rc : 0;
  }
}

/* select: the output columns; *agg set when one is an aggregate. Items
 * are kept in its[] (at most cap) for a second pass. */
static int parse_select_items(struct parser *p, const struct vg_odsql_analysis *a,
                              struct item *its, size_t cap, size_t *n, int *agg) {
  int rc;
  for (;;) {
    if (*n == cap)
      return fail(p, MALFORMED "select lists more than %zu columns", cap);
    struct item *it = &its[(*n)++];
    if ((rc = parse_item(p, it, a, 1, 1)))
      return rc;
    if (VG_ODSQL_IS_AGG(it->c.fn) && it->colref < 0 && !it->star)
      *agg = 1;
    if ((rc = list_next(p, "',', as or the end of the select list")))
      return rc < 0 ? rc : 0;
  }
}

static int select_columns(struct parser *p, struct vg_odsql_analysis *a, struct item *its,
                          size_t n) {
  for (size_t i = 0; i < n; i++) {
    struct item *it = &its[i];
    int rc;
    if (it->star)
      return fail(p,
                  MALFORMED "select * cannot be combined with group_by or aggregates "
                            "(position %zu)",
                  it->start + 1);
    long col = VG_ODSQL_IS_AGG(it->c.fn) && it->colref < 0 ? -1 : column_like(a, it);
    if (col < 0 && !VG_ODSQL_IS_AGG(it->c.fn)) {
      char q[128];
      quote(p->src + it->start, it->end - it->start, q, sizeof q);
      return fail(p,
                  MALFORMED "'%s' in select is neither an aggregate nor a group_by "
                            "expression",
                  q);
    }
    if (col >= 0 && !it->alias && it->colref < 0) { /* named as written here */
      it->alias = it->c.fn == KEY_FIELD ? strdup(p->fields[it->c.field].name)
                                        : dup_n(p->src + it->start, it->end - it->start);
      if (!it->alias)
        return oom(p);
    }
    if (col >= 0 && (!it->alias || strcmp(it->alias, a->schema[col].name) == 0)) {
      a->out[a->nout++] = (size_t)col;
      continue;
    }
    if (col >= 0) { /* a key under another name: the same key again */
      free(it->c.fmt);
      free(it->c.canon);
      it->c = a->col[col];
      it->c.fmt = a->col[col].fmt ? strdup(a->col[col].fmt) : NULL;
      it->c.canon = strdup(a->col[col].canon);
      it->type = a->schema[col].type;
      if (!it->c.canon || (a->col[col].fmt && !it->c.fmt))
        return oom(p);
    }
    size_t at = a->ncols;
    if ((rc = add_column(p, a, it)))
      return rc;
    a->out[a->nout++] = at;
  }
  return 0;
}

static int parse_order(struct parser *p, struct vg_odsql_analysis *a) {
  int rc;
  for (;;) {
    struct item it;
    if ((rc = parse_item(p, &it, a, 0, 0)))
      goto out;
    int desc = 0;
    if (is_keyword(&p->tok, "asc") || is_keyword(&p->tok, "desc")) {
      desc = is_keyword(&p->tok, "desc");
      if ((rc = lex(p)))
        goto out;
    }
    long col = column_like(a, &it);
    if (col < 0 && !VG_ODSQL_IS_AGG(it.c.fn)) {
      char q[128];
      quote(p->src + it.start, it.end - it.start, q, sizeof q);
      rc = fail(p,
                MALFORMED "'%s' in order_by is neither an aggregate nor a group_by "
                          "expression",
                q);
      goto out;
    }
    if (col < 0) { /* an aggregate computed for the order only */
      col = (long)a->ncols;
      if ((rc = add_column(p, a, &it)))
        goto out;
    }
    if (a->norder == VG_ODSQL_MAX_COLUMNS) {
      rc = fail(p, MALFORMED "order_by lists more than %d columns", VG_ODSQL_MAX_COLUMNS);
      goto out;
    }
    a->order[a->norder++] = (struct vg_odsql_order_key){(size_t)col, desc};
    rc = list_next(p, "asc, desc, ',' or the end of the order_by list");
  out:
    item_release(&it);
    if (rc)
      return rc < 0 ? rc : 0;
  }
}

int vg_odsql_analysis_parse(const char *select, const char *group_by,
                            const char *order_by, const struct vg_odsql_field *fields,
                            size_t nfields, const struct vg_tz *tz,
                            struct vg_odsql_analysis **out, char *errstr,
                            size_t errstr_size) {
  *out = NULL;
  struct vg_odsql_analysis *a = calloc(1, sizeof *a);
  struct item its[VG_ODSQL_MAX_COLUMNS];
  size_t nits = 0;
  struct parser p;
  int rc = 0, agg = 0;
  memset(&p, 0, sizeof p);
  if (!a) {
    vg_errstr(errstr, errstr_size, "out of memory parsing an ODSQL clause");
    return -ENOMEM;
  }
  a->tz = tz;
  if (!blank(group_by)) {
    a->grouped = 1;
    rc = list_begin(&p, group_by, strlen(group_by), fields, nfields, 1, errstr,
                    errstr_size);
    if (!rc)
      rc = parse_group_by(&p, a);
    free(p.qbuf);
    if (rc)
      goto fail;
  }
  size_t nkeys = a->ncols;
  if (!blank(select)) {
    rc = list_begin(&p, select, strlen(select), fields, nfields, 1, errstr, errstr_size);
    if (!rc)
      rc = parse_select_items(&p, a, its, VG_ODSQL_MAX_COLUMNS, &nits, &agg);
    if (!rc && (a->grouped || agg))
      rc = select_columns(&p, a, its, nits);
    free(p.qbuf);
    if (rc)
      goto fail;
  } else {
    for (size_t i = 0; i < nkeys; i++)
      a->out[a->nout++] = i;
  }
  if (!a->grouped && !agg) { /* a records query */
    rc = 0;
    goto fail;
  }
  if (!blank(order_by)) {
    rc = list_begin(&p, order_by, strlen(order_by), fields, nfields, 1, errstr,
                    errstr_size);
    if (!rc)
      rc = parse_order(&p, a);
    free(p.qbuf);
    if (rc)
      goto fail;
  }
  for (size_t i = 0; i < nkeys && a->norder < VG_ODSQL_MAX_COLUMNS; i++)
    a->order[a->norder++] = (struct vg_odsql_order_key){i, 0};
  for (size_t i = 0; i < nits; i++)
    item_release(&its[i]);
  *out = a;
  return 0;
fail:
  for (size_t i = 0; i < nits; i++)
    item_release(&its[i]);
  vg_odsql_analysis_free(a);
  return rc;
}

const struct vg_odsql_field *vg_odsql_analysis_columns(const struct vg_odsql_analysis *a,
                                                       size_t *n) {
  *n = a->ncols;
  return a->schema;
}

const size_t *vg_odsql_analysis_output(const struct vg_odsql_analysis *a, size_t *n) {
  *n = a->nout;
  return a->out;
}

int vg_odsql_analysis_grouped(const struct vg_odsql_analysis *a) {
  return a->grouped;
}
