-- Statistics for the temporary table, so that the joins that follow are planned on its size.
analyze pg_temp.graphile_transfer
