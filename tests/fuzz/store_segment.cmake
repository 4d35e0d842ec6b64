vg_fuzz_target(store_segment ${CMAKE_CURRENT_LIST_DIR}/store_segment.c)
