-- Only a keyed job comes back whole (full); for an unkeyed one the client needs only what
-- the server chose (see trigger_compat.core.jobs.batch_result).
select j.id, j.run_at, j.created_at, j.updated_at,
       case when j.key is not null then to_jsonb(j) end as "full"
  from {schema}.add_job(
    %(identifier)s, %(payload)s::jsonb, %(queue_name)s, %(run_at)s::timestamptz,
    %(max_attempts)s::integer, %(job_key)s, %(priority)s::integer, %(flags)s::text[],
    %(job_key_mode)s, %(now)s::timestamptz) as j
