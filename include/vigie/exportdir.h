/*
 * The export folder (config export_dir; docs/publication.md "Export
 * folder"): per dataset, `{id}.csv` and `{id}.json`, the bodies of the HTTP
 * API's exports/csv and exports/json without parameters (same writers, same
 * privacy), and for a dataset declared with the mobility-count schema
 * `{id}.comptage-mobilites.{sites.csv,channels.csv,measures.csv,
 * datapackage.json}` (comptage.h; vg_api_comptage_open), replaced
 * atomically (filew.h: temporary file, fsync, rename, fsync of the folder,
 * through io_uring where the kernel allows it) when their content changes.
 *
 * A background thread looks every interval: a file whose dataset's ETag did
 * not move is left alone; otherwise the export is streamed to a temporary
 * file and renamed over the old one -- unless its content is byte for byte
 * what was written last (a hash), in which case it is dropped.
 *
 * The datasets are the API's running ones: after a SIGHUP (vg_api_reload)
 * the next look writes the files of a new or renamed dataset, then removes
 * the files of a dataset no longer defined -- only files this process
 * wrote: any other file of the folder, and a file written before a restart
 * for a dataset the new configuration lacks, are left alone.
 *
 * Metrics: vigie_export_files_written_total, vigie_export_files_removed_total,
 * vigie_export_errors_total.
 *
 * Thread-safety: new, run_once and free from one thread; sync from any; the API must
 * outlive the folder writer.
 */
#ifndef VIGIE_EXPORTDIR_H
#define VIGIE_EXPORTDIR_H

#include <stddef.h>
#include <stdint.h>

#include "vigie/api.h"
#include "vigie/metrics.h"

struct vg_exportdir_opts {
  struct vg_api *api;         /* borrowed */
  const char *dir;            /* copied; created when missing */
  int64_t interval_ns;        /* between looks (0: 5 s) */
  struct vg_metrics *metrics; /* borrowed; NULL: none */
  unsigned filew_flags;       /* filew.h flags (VG_FILEW_PLAIN) */
  int no_thread;              /* tests: no thread, call vg_exportdir_run_once */
};

struct vg_exportdir;

int vg_exportdir_new(const struct vg_exportdir_opts *o, struct vg_exportdir **out,
                     char *errstr, size_t errstr_size);
/* One look at every dataset, then at the files of datasets no longer
 * defined (removed); *written (may be NULL) gets the files replaced. 0, or
 * the first error (logged; the other files were tried). */
int vg_exportdir_run_once(struct vg_exportdir *x, size_t *written);
/* Another thread: asks for a pass that starts after this call and waits
 * up to timeout_ms for it to end (vigied --drain, before it exits). 0 or
 * VG_ETIMEOUT. Without a thread, runs the pass itself. */
int vg_exportdir_sync(struct vg_exportdir *x, int timeout_ms);
/* 1 when the folder's files go through io_uring. */
int vg_exportdir_uring(const struct vg_exportdir *x);
/* Stops the thread (after the file in progress) and frees. NULL is fine. */
void vg_exportdir_free(struct vg_exportdir *x);

#endif
