# vigie-bench-vigieq: vigieq's speed targets of issue 7 (a year of hourly
# windows of one series in-process and as a whole command; a full scan of
# stored windows to CSV). vigieq.c is linked in with its main renamed so that
# the in-process figure runs the tool's own code path.
set(vg_vigieq_src ${PROJECT_SOURCE_DIR}/tools/vigieq.c)
vg_add_executable(vigie-bench-vigieq ${CMAKE_CURRENT_LIST_DIR}/vigieq.c ${vg_vigieq_src})
set_source_files_properties(${vg_vigieq_src} PROPERTIES
  COMPILE_DEFINITIONS main=vg_vigieq_main COMPILE_OPTIONS -Wno-missing-prototypes)
add_dependencies(vigie-bench-vigieq vigieq)
target_compile_definitions(vigie-bench-vigieq PRIVATE
  VIGIEQ_PATH="$<TARGET_FILE:vigieq>")
