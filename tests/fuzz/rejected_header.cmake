vg_fuzz_target(rejected_header ${CMAKE_CURRENT_LIST_DIR}/rejected_header.c)
