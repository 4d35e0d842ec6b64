# vigie-bench-codec: codec decode throughput against DOM baselines (cJSON,
# jansson) and raw JSON parsers (jsmn, yajl), measured in the same run.
pkg_check_modules(CJSON   REQUIRED IMPORTED_TARGET libcjson)
pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
pkg_check_modules(YAJL    REQUIRED IMPORTED_TARGET yajl)
vg_add_executable(vigie-bench-codec ${CMAKE_CURRENT_LIST_DIR}/codec.c)
target_include_directories(vigie-bench-codec PRIVATE ${JSMN_INCLUDE_DIR})
target_link_libraries(vigie-bench-codec PRIVATE
  PkgConfig::CJSON PkgConfig::JANSSON PkgConfig::YAJL)
