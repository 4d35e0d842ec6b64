vg_fuzz_target(agg_decode ${CMAKE_CURRENT_LIST_DIR}/agg_decode.c)
