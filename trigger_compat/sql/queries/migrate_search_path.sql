set local search_path to {schema}, pg_temp
