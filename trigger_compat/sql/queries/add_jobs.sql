-- The payloads travel as one JSON array (null for "no payload"): one parameter the server
-- splits, rather than a jsonb[] literal that the client would quote and escape element by
-- element; the other arrays travel in binary format (b placeholders), which needs no quoting.
-- Only keyed jobs come back whole (full); for the others the client needs only what the
-- server chose (see trigger_compat.core.jobs.batch_result).
select j.id, j.run_at, j.created_at, j.updated_at,
       case when j.key is not null then to_jsonb(j) end as "full"
  from {schema}.add_jobs(
    %(identifiers)b::text[],
    array(select case when jsonb_typeof(p.payload) = 'null' then null else p.payload end
            from jsonb_array_elements(%(payloads)s::jsonb) with ordinality as p(payload, ord)
           order by p.ord),
    %(queue_names)b::text[],
    %(run_ats)b::timestamptz[], %(max_attempts)b::integer[], %(job_keys)b::text[],
    %(priorities)b::integer[], %(flags)s::jsonb[], %(modes)b::text[],
    %(job_key_preserve_run_at)s::boolean, %(now)s::timestamptz) as j
