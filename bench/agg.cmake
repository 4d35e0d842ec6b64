vg_add_executable(vigie-bench-agg ${CMAKE_CURRENT_LIST_DIR}/agg.c)
