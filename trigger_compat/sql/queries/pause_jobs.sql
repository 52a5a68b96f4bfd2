select p as name from {schema}.pause_jobs(%(kind)s, %(names)s::text[], %(pause)s::boolean) as p
 order by 1
