vg_fuzz_target(serieskey ${CMAKE_CURRENT_LIST_DIR}/serieskey.c)
