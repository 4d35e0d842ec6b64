# vigie-bench-dedupe: the memory of the dedupe sets per base window and the
# cost of dedupe on vs off in events/s (sensor and mobility workloads).
vg_add_executable(vigie-bench-dedupe ${CMAKE_CURRENT_LIST_DIR}/dedupe.c)
