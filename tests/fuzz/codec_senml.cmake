vg_fuzz_target(codec_senml ${CMAKE_CURRENT_LIST_DIR}/codec_senml.c)
