select * from {schema}.fetch_jobs(
    %(worker_id)s, %(max_jobs)s::integer, %(task_identifiers)s::text[],
    %(forbidden_flags)s::text[], %(now)s::timestamptz)
