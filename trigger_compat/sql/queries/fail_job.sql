select * from {schema}.fail_job(
    %(job_id)s::bigint, %(error_message)s::text, %(worker_id)s::text, %(run_at)s::timestamptz,
    %(now)s::timestamptz)
