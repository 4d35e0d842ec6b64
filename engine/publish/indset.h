/*
 * The dataset `indicateurs` (docs/indicators.md "Rows"): a struct
 * vg_dataset whose rows are the store's indicator rows rather than windows.
 * dataset.c hands its calls here when the dataset was made by
 * vg_dataset_new_indicators; a "series" of it is one (indicator, series)
 * pair, its id the row key.
 */
#ifndef VIGIE_PUBLISH_INDSET_H
#define VIGIE_PUBLISH_INDSET_H

#include "vigie/dataset.h"
#include "vigie/indicator.h"

/* The schema's columns, in order. */
enum {
  IS_INDICATOR,
  IS_SERIES,
  IS_PERIOD_START,
  IS_PERIOD_END,
  IS_VALUE,
  IS_TARGET,
  IS_ATTAINED,
  IS_PREVIOUS,
  IS_COVERAGE,
  IS_STATUS,
  IS_REVISION,
  IS_PERIOD,
  IS_UNIT,
  IS_NFIELDS
};

extern const struct vg_odsql_field vg__indset_fields[IS_NFIELDS];

int vg__indset_series(const struct vg_dataset *ds, const struct vg_indicators *ix,
                      struct vg_store_reader *r, struct vg_dataset_series_list *out);
int vg__indset_scan(const struct vg_dataset *ds, const struct vg_indicators *ix,
                    struct vg_store_reader *r, const struct vg_dataset_series_list *l,
                    struct vg_dataset_scan *sc,
                    int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx);
int vg__indset_window(const struct vg_dataset *ds, const struct vg_indicators *ix,
                      struct vg_store_reader *r, const struct vg_dataset_series *s,
                      int64_t start,
                      int (*cb)(const struct vg_dataset_row *row, void *ctx), void *ctx,
                      int *cbrc);

#endif
