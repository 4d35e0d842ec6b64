# vigie-bench-vigieq: vigieq's speed targets of issue 7 (a year of hourly
# windows of one series in-process and as a whole command; a full scan of
# stored windows to CSV). vigieq's own sources are linked in, with the main
# of tools/vigieq.c renamed, so that the in-process figure runs the tool's
# code path; its sources and libraries are read from the vigieq target, so
# a new tools/vigieq_*.c needs no change here.
get_target_property(vg_vigieq_srcs vigieq SOURCES)
list(TRANSFORM vg_vigieq_srcs PREPEND ${PROJECT_SOURCE_DIR}/tools/)
vg_add_executable(vigie-bench-vigieq ${CMAKE_CURRENT_LIST_DIR}/vigieq.c ${vg_vigieq_srcs})
get_target_property(vg_vigieq_libs vigieq LINK_LIBRARIES)
target_link_libraries(vigie-bench-vigieq PRIVATE ${vg_vigieq_libs})
set_source_files_properties(${PROJECT_SOURCE_DIR}/tools/vigieq.c PROPERTIES
  COMPILE_DEFINITIONS main=vg_vigieq_main COMPILE_OPTIONS -Wno-missing-prototypes)
add_dependencies(vigie-bench-vigieq vigieq)
target_compile_definitions(vigie-bench-vigieq PRIVATE
  VIGIEQ_PATH="$<TARGET_FILE:vigieq>")
