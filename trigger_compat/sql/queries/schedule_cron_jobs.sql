select * from {schema}.schedule_cron_jobs(
    %(ts)s::timestamptz, %(payload)s::jsonb, %(identifiers)s::text[], %(queue_names)s::text[],
    %(max_attempts)s::integer[], %(priorities)s::integer[], %(job_keys)s::text[],
    %(job_key_modes)s::text[])
