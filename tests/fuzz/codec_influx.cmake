vg_fuzz_target(codec_influx ${CMAKE_CURRENT_LIST_DIR}/codec_influx.c)
