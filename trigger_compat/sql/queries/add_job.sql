-- The same one-row shape as add_jobs.sql (see trigger_compat.core.jobs.batch_result): a keyed
-- job comes back whole; for an unkeyed one the client needs only what the server chose.
select array_agg(j.id) filter (where j.key is null) as ids,
       jsonb_agg(j) filter (where j.key is not null) as "full",
       pg_catalog.now() as created_at,
       coalesce(%(run_at)s::timestamptz, %(now)s::timestamptz, pg_catalog.now()) as default_run_at
  from {schema}.add_job(
    %(identifier)s, %(payload)s::jsonb, %(queue_name)s, %(run_at)s::timestamptz,
    %(max_attempts)s::integer, %(job_key)s, %(priority)s::integer, %(flags)s::text[],
    %(job_key_mode)s, %(now)s::timestamptz) as j
