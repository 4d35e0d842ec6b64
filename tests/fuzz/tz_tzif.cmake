vg_fuzz_target(tz_tzif ${CMAKE_CURRENT_LIST_DIR}/tz_tzif.c)
