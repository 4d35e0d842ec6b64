vg_fuzz_target(odsql ${CMAKE_CURRENT_LIST_DIR}/odsql.c)
