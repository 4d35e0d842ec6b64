vg_fuzz_target(delta_read ${CMAKE_CURRENT_LIST_DIR}/delta_read.c)
