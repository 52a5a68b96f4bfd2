select * from {schema}.add_jobs(
    %(identifiers)s::text[], %(payloads)s::jsonb[], %(queue_names)s::text[],
    %(run_ats)s::timestamptz[], %(max_attempts)s::integer[], %(job_keys)s::text[],
    %(priorities)s::integer[], %(flags)s::jsonb[], %(modes)s::text[],
    %(job_key_preserve_run_at)s::boolean, %(now)s::timestamptz)
