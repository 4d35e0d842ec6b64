vg_fuzz_target(codec_json ${CMAKE_CURRENT_LIST_DIR}/codec_json.c)
