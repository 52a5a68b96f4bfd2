-- The payloads travel as one JSON array (null for "no payload"): one parameter the server
-- splits, rather than a jsonb[] literal that the client would quote and escape element by
-- element; the other arrays travel in binary format (b placeholders), which needs no quoting.
-- One row comes back (see trigger_compat.core.jobs.batch_result): the ids of the unkeyed
-- jobs in insertion order; the keys and ids of the keyed jobs inserted new (revision 0: the
-- function inserted them as specified, as it does the unkeyed ones); the other keyed jobs
-- whole ("full": an existing job updated or kept, whose stored values may differ from the
-- specs); the trace context the column default gave the new rows; and the two instants the
-- function gave the new rows: now() (created_at and updated_at, the column defaults) and the
-- default run_at (the now argument, else now()).
select array_agg(j.id order by j.id) filter (where j.key is null) as ids,
       array_agg(j.key order by j.id) filter (where j.key is not null and j.revision = 0)
           as new_keys,
       array_agg(j.id order by j.id) filter (where j.key is not null and j.revision = 0)
           as new_key_ids,
       jsonb_agg(j) filter (where j.key is not null and j.revision <> 0) as "full",
       nullif(pg_catalog.current_setting('trigger_compat.trace_context', true), '')::jsonb
           as trace_context,
       pg_catalog.now() as created_at,
       coalesce(%(now)s::timestamptz, pg_catalog.now()) as default_run_at
  from {schema}.add_jobs(
    %(identifiers)b::text[],
    array(select case when jsonb_typeof(p.payload) = 'null' then null else p.payload end
            from jsonb_array_elements(%(payloads)s::jsonb) with ordinality as p(payload, ord)
           order by p.ord),
    %(queue_names)b::text[],
    %(run_ats)b::timestamptz[], %(max_attempts)b::integer[], %(job_keys)b::text[],
    %(priorities)b::integer[], %(flags)s::jsonb[], %(modes)b::text[],
    %(job_key_preserve_run_at)s::boolean, %(now)s::timestamptz) as j
