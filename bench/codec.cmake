# vigie-bench-codec: codec decode throughput against DOM baselines (cJSON,
# jansson) and raw JSON parsers (jsmn, yajl), measured in the same run. The
# baselines are optional: a library that is not installed is left out of the
# table (no shipped binary uses cJSON or jansson).
pkg_check_modules(CJSON   IMPORTED_TARGET libcjson)
pkg_check_modules(JANSSON IMPORTED_TARGET jansson)
pkg_check_modules(YAJL    IMPORTED_TARGET yajl)
vg_add_executable(vigie-bench-codec ${CMAKE_CURRENT_LIST_DIR}/codec.c)
target_include_directories(vigie-bench-codec PRIVATE ${JSMN_INCLUDE_DIR})
foreach(lib CJSON JANSSON YAJL)
  if(${lib}_FOUND)
    target_compile_definitions(vigie-bench-codec PRIVATE VG_HAVE_${lib}=1)
    target_link_libraries(vigie-bench-codec PRIVATE PkgConfig::${lib})
  endif()
endforeach()
