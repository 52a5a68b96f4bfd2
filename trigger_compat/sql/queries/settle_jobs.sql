select * from {schema}.settle_jobs(
    %(worker_id)s, %(job_ids)s::bigint[], %(outcomes)s::text[], %(errors)s::text[],
    %(run_ats)s::timestamptz[], %(now)s::timestamptz)
