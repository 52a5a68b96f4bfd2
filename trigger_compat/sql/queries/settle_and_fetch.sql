select * from {schema}.settle_and_fetch(
    %(worker_id)s, %(job_ids)s::bigint[], %(outcomes)s::text[], %(errors)s::text[],
    %(run_ats)s::timestamptz[], %(max_jobs)s::integer, %(task_identifiers)s::text[],
    %(forbidden_flags)s::text[], %(now)s::timestamptz)
