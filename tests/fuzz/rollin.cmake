vg_fuzz_target(rollin ${CMAKE_CURRENT_LIST_DIR}/rollin.c)
