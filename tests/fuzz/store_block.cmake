vg_fuzz_target(store_block ${CMAKE_CURRENT_LIST_DIR}/store_block.c)
target_include_directories(fuzz-store_block PRIVATE ${PROJECT_SOURCE_DIR}/engine)
