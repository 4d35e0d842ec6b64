/*
 * Indicators and objectives (docs/indicators.md): a statistic per local
 * period of the final windows of a dataset's metric, with an objective,
 * kept in the store as rows of the dataset `indicateurs`.
 *
 * - struct vg_indicator_def is what the configuration declares;
 *   vg_indicator_def_init marks every key unset, vg_indicator_finish fills
 *   a preset's keys and the defaults and checks the whole.
 * - struct vg_indicators compiles the definitions against their datasets
 *   and the store's zone; it computes a row from a store snapshot
 *   (vg_indicators_compute) and, on the writer's thread, follows the emit
 *   log to find which rows the last epochs changed (vg_indicators_step).
 *
 * Threads: a struct vg_indicators is immutable after vg_indicators_new
 * except for the state vg_indicators_step keeps, which only the writer
 * touches; readers (the API, the dashboard) call the const functions from
 * any thread.
 */
#ifndef VIGIE_INDICATOR_H
#define VIGIE_INDICATOR_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/dataset.h"
#include "vigie/store.h"
#include "vigie/text.h"
#include "vigie/tz.h"

/* The id of the dataset of indicator rows. */
#define VG_INDICATORS_DATASET "indicateurs"

enum vg_ind_stat {
  VG_IND_MEAN,
  VG_IND_SUM,
  VG_IND_MIN,
  VG_IND_MAX,
  VG_IND_P95,
  VG_IND_COUNT,
  VG_IND_EXCEEDANCES,
};
enum vg_ind_over { VG_IND_OVER_1H, VG_IND_OVER_1D, VG_IND_OVER_MAX8H };
enum vg_ind_of { VG_IND_OF_MEAN, VG_IND_OF_SUM, VG_IND_OF_MAX, VG_IND_OF_MIN };
enum vg_ind_period { VG_IND_DAY, VG_IND_MONTH, VG_IND_YEAR };
enum vg_ind_direction { VG_IND_AT_MOST, VG_IND_AT_LEAST };

/* An indicators[] entry. Strings and lists are the owner's; unset keys are
 * NULL strings, -1 integers and enums, NaN numbers (vg_indicator_def_init). */
struct vg_indicator_def {
  char *id;
  char *preset;
  char *title, *title_en;
  char *description, *description_en;
  char *unit, *unit_en;
  char *dataset;
  char *metric;
  struct vg_strlist where; /* tag, value, tag, value, ... */
  int statistic;           /* enum vg_ind_stat */
  int over;                /* enum vg_ind_over */
  int of;                  /* enum vg_ind_of */
  int period;              /* enum vg_ind_period */
  int merge;               /* 0/1 */
  int direction;           /* enum vg_ind_direction */
  double threshold;
  double coverage_min;
  double capture_min;
  double target; /* NaN: no objective */
  int64_t hours_min;
  int64_t trend;
};

void vg_indicator_def_init(struct vg_indicator_def *d);

/* The names of the presets, NULL-terminated. */
extern const char *const vg_indicator_presets[];

/* Completes d: the preset's keys where d leaves them unset (the preset
 * name must be known), then the defaults, then the checks -- d's dataset
 * is ds (NULL: not found). 0, or VG_ECONFIG with the first problem in
 * errstr as "key: message". Strings the preset supplies are strdup'd into
 * d (the owner releases them as its own). */
int vg_indicator_finish(struct vg_indicator_def *d, const struct vg_dataset_def *ds,
                        char *errstr, size_t errstr_size);

/* Names of the enums' values, as the configuration spells them. */
const char *vg_ind_stat_name(int stat);
const char *vg_ind_period_name(int period);

struct vg_indicators;

struct vg_indicators_opts {
  const struct vg_indicator_def *defs; /* finished (vg_indicator_finish); copied */
  size_t ndefs;
  const struct vg_dataset_def *datasets; /* where defs[i].dataset is found */
  size_t ndatasets;
  const char *store_timezone; /* the local calendar of periods (NULL: UTC) */
  int64_t lateness_s;         /* a window is final past its end + lateness */
};

/* 0, VG_ECONFIG / VG_ENOTFOUND (a zone) with errstr, or -ENOMEM. */
int vg_indicators_new(const struct vg_indicators_opts *o, struct vg_indicators **out,
                      char *errstr, size_t errstr_size);
void vg_indicators_free(struct vg_indicators *ix);

size_t vg_indicators_count(const struct vg_indicators *ix);
const struct vg_indicator_def *vg_indicators_def(const struct vg_indicators *ix,
                                                 size_t k);
/* The index of an indicator id, or -1. */
int vg_indicators_find(const struct vg_indicators *ix, const char *id);
const struct vg_tz *vg_indicators_tz(const struct vg_indicators *ix);

/* The row key of (indicator id, series label). */
uint64_t vg_indicator_key(const char *indicator, const char *series);
/* The merged label of indicator k: "metric{tag=\"v\",*}" into buf. */
void vg_indicators_merged_label(const struct vg_indicators *ix, size_t k, char *buf,
                                size_t size);
/* The local period of indicator k holding instant t: [*start, *end). */
void vg_indicators_period(const struct vg_indicators *ix, size_t k, int64_t t,
                          int64_t *start, int64_t *end);
/* The period that starts one year before the one starting at start. */
int64_t vg_indicators_year_before(const struct vg_indicators *ix, size_t k,
                                  int64_t start);
/* The objective of a value: 1 met, 0 not, -1 unknown (no value or target). */
int vg_indicator_attained(const struct vg_indicator_def *d, double value);

/* Whether canonical series key (key_len bytes) is one indicator k reads. */
int vg_indicators_matches(const struct vg_indicators *ix, size_t k, const char *key,
                          size_t key_len);

/* Computes the row of indicator k over series (n ids; several when merged)
 * for the period starting at start, from snapshot r, as of watermark_s
 * (INT64_MIN: none): floor((watermark ns - 1) / 1e9), so that "watermark_s
 * >= end + lateness" is the windows' own test of being final (strictly
 * past). *found is 0 when the period has no
 * final window (no row). row->indicator and row->series are left to the
 * caller; row->revision is 0 and row->previous NaN. 0 or a store error. */
int vg_indicators_compute(const struct vg_indicators *ix, size_t k,
                          struct vg_store_reader *r, const uint64_t *series, size_t n,
                          int64_t start, int64_t watermark_s, struct vg_store_ind *row,
                          int *found, char *errstr, size_t errstr_size);

/* The writer's side: from emit-log sequence *cursor up to the snapshot's
 * emit sequence, the windows that went final or were revised; the rows
 * of the periods they fall in (and of provisional periods the watermark
 * has closed) recomputed from r and compared with the stored ones. The
 * rows that changed -- revision bumped, previous value filled -- are
 * returned in *rows (*nrows; owned by ix until the next call), to be
 * committed with an emit-log record each (res VG_STORE_EMIT_IND) and the
 * new *cursor. 0, -ENOMEM or a store error. */
int vg_indicators_step(struct vg_indicators *ix, struct vg_store_reader *r,
                       uint64_t *cursor, const struct vg_store_ind **rows, size_t *nrows,
                       char *errstr, size_t errstr_size);

/* After a step whose rows were not committed: forget what it decided (the
 * next step reads the emit log again from the committed cursor). */
void vg_indicators_forget(struct vg_indicators *ix);

/* What the rows of indicator k depend on (id, series, computation; not the
 * labels or the objective), to tell a new or changed definition. */
uint64_t vg_indicators_fingerprint(const struct vg_indicators *ix, size_t k);

/* At start: every period with windows of each indicator whose fingerprint
 * is not among built[0..nbuilt) is queued for the next step (a new or
 * changed definition over windows already stored). 0 or a store error. */
int vg_indicators_rebuild(struct vg_indicators *ix, struct vg_store_reader *r,
                          const uint64_t *built, size_t nbuilt);

#endif
