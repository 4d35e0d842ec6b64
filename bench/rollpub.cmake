# vigie-bench-rollpub: rollups/s of the rollup publisher after a backfill,
# against librdkafka's mock cluster (issue 22). It wires the publisher with
# the daemon's Kafka client, as vigied does: the internal daemon/engine.h.
vg_add_executable(vigie-bench-rollpub ${CMAKE_CURRENT_LIST_DIR}/rollpub.c)
target_include_directories(vigie-bench-rollpub PRIVATE ${PROJECT_SOURCE_DIR}/engine)
