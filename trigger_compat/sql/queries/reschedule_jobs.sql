select * from {schema}.reschedule_jobs(
    %(job_ids)s::bigint[], %(run_at)s::timestamptz, %(priority)s::integer,
    %(attempts)s::integer, %(max_attempts)s::integer)
