# vigie-bench-vigieq-sql: vigieq sql's virtual tables against a native SQLite
# table holding the same rows, side by side (issue 7).
vg_add_executable(vigie-bench-vigieq-sql ${CMAKE_CURRENT_LIST_DIR}/vigieq_sql.c)
target_link_libraries(vigie-bench-vigieq-sql PRIVATE vigieq_sql)
