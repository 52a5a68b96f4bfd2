-- Jobs some of which are unique (see functions/add_unique_jobs.sql): the payloads travel as
-- one JSON array, as in add_jobs.sql. One row per spec, in spec order, with the two instants a
-- new job got (see trigger_compat.core.jobs.batch_result).
select u.spec, u.job_id, u.deduplicated, u.job,
       pg_catalog.now() as created_at,
       coalesce(%(now)s::timestamptz, pg_catalog.now()) as default_run_at
  from {schema}.add_unique_jobs(
    %(identifiers)b::text[],
    array(select case when jsonb_typeof(p.payload) = 'null' then null else p.payload end
            from jsonb_array_elements(%(payloads)s::jsonb) with ordinality as p(payload, ord)
           order by p.ord),
    %(queue_names)b::text[],
    %(run_ats)b::timestamptz[], %(max_attempts)b::integer[], %(priorities)b::integer[],
    %(flags)s::jsonb[], %(unique_keys)b::text[], %(unique_periods)b::integer[],
    %(unique_states)b::text[], %(now)s::timestamptz) as u
 order by u.spec
