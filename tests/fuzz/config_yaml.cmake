vg_fuzz_target(config_yaml ${CMAKE_CURRENT_LIST_DIR}/config_yaml.c)
