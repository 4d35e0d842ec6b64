vg_fuzz_target(api_params ${CMAKE_CURRENT_LIST_DIR}/api_params.c)
