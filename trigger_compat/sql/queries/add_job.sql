select * from {schema}.add_job(
    %(identifier)s, %(payload)s::jsonb, %(queue_name)s, %(run_at)s::timestamptz,
    %(max_attempts)s::integer, %(job_key)s, %(priority)s::integer, %(flags)s::text[],
    %(job_key_mode)s, %(now)s::timestamptz)
