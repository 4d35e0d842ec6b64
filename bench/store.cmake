# vigie-bench-store: epoch commit rate, bytes per stored window per codec,
# range read of a year of hourly windows (issue 5).
vg_add_executable(vigie-bench-store ${CMAKE_CURRENT_LIST_DIR}/store.c)
